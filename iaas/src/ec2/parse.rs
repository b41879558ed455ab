//! EC2 Query API responses: XML into a small element tree, then into provider-neutral values.
//!
//! Elements are matched by their *local* name only. AWS answers with
//! `xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"`, moto with older namespace dates, and some
//! proxies strip it; none of that may change what we read.

use crate::types::{Instance, InstanceState};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::BTreeMap;

/// One element: local name, its text (trimmed, unescaped) and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Text of the child `name`, when present and not empty.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }

    /// Follow a path of child names (`["instanceState", "name"]`).
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |node, name| node.child(name))
    }

    /// The `item` children of the child list `set` (EC2's way of writing arrays).
    pub fn items<'a>(&'a self, set: &'a str) -> impl Iterator<Item = &'a Element> {
        self.child(set)
            .into_iter()
            .flat_map(|s| s.children_named("item"))
    }

    /// Depth-first: every descendant (self included) with this local name.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        if self.name == name {
            out.push(self);
        }
        for child in &self.children {
            child.descendants(name, out);
        }
    }

    fn first_descendant(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.first_descendant(name))
    }
}

/// Parse a document into its root element. Errors are short descriptions (never the body).
pub fn parse_document(xml: &str) -> Result<Element, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(format!(
                    "malformed XML at byte {}: {e}",
                    reader.buffer_position()
                ))
            }
            Ok(Event::Start(start)) => stack.push(Element {
                name: local_name(start.local_name().as_ref()),
                ..Element::default()
            }),
            Ok(Event::Empty(empty)) => {
                let element = Element {
                    name: local_name(empty.local_name().as_ref()),
                    ..Element::default()
                };
                attach(&mut stack, &mut root, element)?;
            }
            Ok(Event::End(_)) => {
                let element = stack.pop().ok_or("unbalanced end tag")?;
                attach(&mut stack, &mut root, element)?;
            }
            Ok(Event::Text(text)) => {
                if let Some(top) = stack.last_mut() {
                    let text = text.unescape().map_err(|e| format!("bad XML text: {e}"))?;
                    top.text.push_str(&text);
                }
            }
            Ok(Event::CData(data)) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("truncated XML document".into());
    }
    root.ok_or_else(|| "no XML element in the response".into())
}

fn local_name(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn attach(
    stack: &mut [Element],
    root: &mut Option<Element>,
    element: Element,
) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None if root.is_none() => *root = Some(element),
        None => return Err("more than one root element".into()),
    }
    Ok(())
}

/// An EC2 error document: `<Response><Errors><Error><Code>..</Code><Message>..`
/// (also accepts `<ErrorResponse><Error>` as other AWS query services write it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// The first `Error` element with a `Code`, when the document is an error response.
pub fn parse_error(root: &Element) -> Option<ApiError> {
    let mut errors = Vec::new();
    root.descendants("Error", &mut errors);
    let error = errors
        .into_iter()
        .find(|e| e.child_text("Code").is_some())?;
    Some(ApiError {
        code: error.child_text("Code")?.to_string(),
        message: error.child_text("Message").unwrap_or_default().to_string(),
        request_id: root
            .first_descendant("RequestID")
            .or_else(|| root.first_descendant("RequestId"))
            .or_else(|| root.first_descendant("requestId"))
            .map(|e| e.text.clone()),
    })
}

/// `tagSet` → map.
pub fn tags(node: &Element) -> BTreeMap<String, String> {
    node.items("tagSet")
        .filter_map(|item| {
            Some((
                item.child_text("key")?.to_string(),
                item.child("value")
                    .map(|v| v.text.clone())
                    .unwrap_or_default(),
            ))
        })
        .collect()
}

pub fn instance_state(name: &str) -> InstanceState {
    match name {
        "pending" => InstanceState::Pending,
        "running" => InstanceState::Running,
        "stopping" | "shutting-down" => InstanceState::Stopping,
        "stopped" => InstanceState::Stopped,
        "terminated" => InstanceState::Terminated,
        _ => InstanceState::Unknown,
    }
}

/// Every instance of a RunInstances or DescribeInstances response (`instancesSet/item`,
/// directly or under `reservationSet/item`).
pub fn instances(root: &Element) -> Vec<Instance> {
    let mut sets = Vec::new();
    root.descendants("instancesSet", &mut sets);
    sets.into_iter()
        .flat_map(|set| set.children_named("item"))
        .filter_map(instance)
        .collect()
}

fn instance(item: &Element) -> Option<Instance> {
    let instance_id = item.child_text("instanceId")?.to_string();
    let state = item
        .path(&["instanceState", "name"])
        .map(|n| instance_state(&n.text))
        .unwrap_or(InstanceState::Unknown);
    let mut extra = BTreeMap::new();
    for (key, value) in [
        (
            "availabilityZone",
            item.path(&["placement", "availabilityZone"]),
        ),
        ("instanceType", item.child("instanceType")),
        ("imageId", item.child("imageId")),
        ("keyName", item.child("keyName")),
        ("subnetId", item.child("subnetId")),
        ("vpcId", item.child("vpcId")),
    ] {
        if let Some(v) = value.filter(|v| !v.text.is_empty()) {
            extra.insert(key.to_string(), v.text.clone());
        }
    }
    Some(Instance {
        instance_id,
        state,
        private_ips: item
            .child_text("privateIpAddress")
            .map(|ip| vec![ip.to_string()])
            .unwrap_or_default(),
        public_ips: item
            .child_text("ipAddress")
            .map(|ip| vec![ip.to_string()])
            .unwrap_or_default(),
        tags: tags(item),
        extra,
    })
}

/// An elastic IP (`DescribeAddresses` `addressesSet/item`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub public_ip: String,
    pub allocation_id: Option<String>,
    pub association_id: Option<String>,
    pub instance_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

pub fn addresses(root: &Element) -> Vec<Address> {
    root.items("addressesSet")
        .filter_map(|item| {
            Some(Address {
                public_ip: item.child_text("publicIp")?.to_string(),
                allocation_id: item.child_text("allocationId").map(str::to_string),
                association_id: item.child_text("associationId").map(str::to_string),
                instance_id: item.child_text("instanceId").map(str::to_string),
                tags: tags(item),
            })
        })
        .collect()
}

/// An EBS volume (`DescribeVolumes` `volumeSet/item`, or a `CreateVolume` response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volume_id: String,
    pub status: String,
    pub availability_zone: Option<String>,
    /// Instances it is attached to.
    pub attached_to: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

pub fn volumes(root: &Element) -> Vec<Volume> {
    root.items("volumeSet").filter_map(volume).collect()
}

/// The volume a `CreateVolume` response describes (its fields sit on the root).
pub fn created_volume(root: &Element) -> Option<Volume> {
    volume(root)
}

fn volume(item: &Element) -> Option<Volume> {
    Some(Volume {
        volume_id: item.child_text("volumeId")?.to_string(),
        status: item.child_text("status").unwrap_or_default().to_string(),
        availability_zone: item.child_text("availabilityZone").map(str::to_string),
        attached_to: item
            .items("attachmentSet")
            .filter_map(|a| a.child_text("instanceId").map(str::to_string))
            .collect(),
        tags: tags(item),
    })
}

/// Names from `DescribeAvailabilityZones` (`availabilityZoneInfo/item/zoneName`) or
/// `DescribeRegions` (`regionInfo/item/regionName`).
pub fn names(root: &Element, set: &str, field: &str) -> Vec<String> {
    root.items(set)
        .filter_map(|item| item.child_text(field).map(str::to_string))
        .collect()
}

/// `DescribeInstanceAttribute` value (`<userData><value>..</value></userData>`).
pub fn attribute_value(root: &Element, attribute: &str) -> Option<String> {
    root.path(&[attribute, "value"]).map(|v| v.text.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESCRIBE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="NS">
  <requestId>r-1</requestId>
  <reservationSet>
    <item>
      <reservationId>r-123</reservationId>
      <instancesSet>
        <item>
          <instanceId>i-0abc</instanceId>
          <imageId>ami-1</imageId>
          <instanceState><code>16</code><name>running</name></instanceState>
          <privateIpAddress>10.0.0.5</privateIpAddress>
          <ipAddress>54.1.2.3</ipAddress>
          <placement><availabilityZone>us-east-1a</availabilityZone></placement>
          <tagSet>
            <item><key>altostratus:member-id</key><value>m&amp;1</value></item>
            <item><key>empty</key><value/></item>
          </tagSet>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
</DescribeInstancesResponse>"#;

    fn check_describe(xml: &str) {
        let root = parse_document(xml).unwrap();
        assert_eq!(root.name, "DescribeInstancesResponse");
        let found = instances(&root);
        assert_eq!(found.len(), 1, "{xml}");
        let i = &found[0];
        assert_eq!(i.instance_id, "i-0abc");
        assert_eq!(i.state, InstanceState::Running);
        assert_eq!(i.private_ips, vec!["10.0.0.5"]);
        assert_eq!(i.public_ips, vec!["54.1.2.3"]);
        assert_eq!(i.member_id(), Some("m&1"));
        assert_eq!(i.tags.get("empty").map(String::as_str), Some(""));
        assert_eq!(i.extra["availabilityZone"], "us-east-1a");
        assert_eq!(i.extra["imageId"], "ami-1");
    }

    #[test]
    fn instances_parse_with_aws_namespace_without_one_and_with_a_prefix() {
        check_describe(&DESCRIBE.replace("NS", "http://ec2.amazonaws.com/doc/2016-11-15/"));
        check_describe(&DESCRIBE.replace(r#" xmlns="NS""#, ""));
        // moto's templates carry older namespace dates; prefixed names must work too.
        check_describe(&DESCRIBE.replace("NS", "http://ec2.amazonaws.com/doc/2013-10-15/"));
        let prefixed = DESCRIBE
            .replace(r#"xmlns="NS""#, r#"xmlns:ec2="urn:other""#)
            .replace("<instanceId>", "<ec2:instanceId>")
            .replace("</instanceId>", "</ec2:instanceId>");
        check_describe(&prefixed);
    }

    #[test]
    fn run_instances_response_has_instances_at_top_level() {
        let xml = r#"<RunInstancesResponse xmlns="x"><reservationId>r-1</reservationId>
            <instancesSet><item><instanceId>i-1</instanceId>
            <instanceState><code>0</code><name>pending</name></instanceState></item>
            <item><instanceId>i-2</instanceId></item></instancesSet></RunInstancesResponse>"#;
        let found = instances(&parse_document(xml).unwrap());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].state, InstanceState::Pending);
        assert_eq!(found[1].state, InstanceState::Unknown);
        assert!(found[1].private_ips.is_empty());
    }

    #[test]
    fn error_documents_parse_in_both_shapes() {
        let ec2 = r#"<?xml version="1.0"?><Response><Errors><Error><Code>InstanceLimitExceeded</Code>
            <Message>You have requested more instances (21) than your current instance limit of 20 allows</Message>
            </Error></Errors><RequestID>req-9</RequestID></Response>"#;
        let e = parse_error(&parse_document(ec2).unwrap()).unwrap();
        assert_eq!(e.code, "InstanceLimitExceeded");
        assert!(e.message.starts_with("You have requested more instances"));
        assert_eq!(e.request_id.as_deref(), Some("req-9"));

        let other = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>
            <Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>bad</Message></Error>
            <RequestId>x</RequestId></ErrorResponse>"#;
        let e = parse_error(&parse_document(other).unwrap()).unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(e.request_id.as_deref(), Some("x"));

        assert_eq!(parse_error(&parse_document(DESCRIBE).unwrap()), None);
    }

    #[test]
    fn non_xml_and_broken_xml_are_errors_not_panics() {
        assert!(parse_document("").is_err());
        assert!(parse_document("Internal Server Error").is_err());
        assert!(parse_document("<a><b></a>").is_err());
        assert!(parse_document("<a><b>").is_err());
        assert!(parse_document("<a/><b/>").is_err());
        // An HTML error page may even be well-formed; it is simply not an EC2 document.
        let html = parse_document("<html><body><h1>500</h1></body></html>").unwrap();
        assert_eq!(parse_error(&html), None);
        assert!(instances(&html).is_empty());
    }

    #[test]
    fn addresses_volumes_zones_and_attributes() {
        let xml = r#"<DescribeAddressesResponse xmlns="y"><addressesSet>
            <item><publicIp>1.1.1.1</publicIp><allocationId>eipalloc-1</allocationId>
              <domain>vpc</domain></item>
            <item><publicIp>2.2.2.2</publicIp><allocationId>eipalloc-2</allocationId>
              <associationId>eipassoc-2</associationId><instanceId>i-2</instanceId>
              <tagSet><item><key>k</key><value>v</value></item></tagSet></item>
            </addressesSet></DescribeAddressesResponse>"#;
        let found = addresses(&parse_document(xml).unwrap());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].association_id, None);
        assert_eq!(found[1].instance_id.as_deref(), Some("i-2"));
        assert_eq!(found[1].tags["k"], "v");

        let xml = r#"<DescribeVolumesResponse><volumeSet><item><volumeId>vol-1</volumeId>
            <status>in-use</status><availabilityZone>us-east-1a</availabilityZone>
            <attachmentSet><item><instanceId>i-1</instanceId><device>/dev/sdh</device></item></attachmentSet>
            </item></volumeSet></DescribeVolumesResponse>"#;
        let v = &volumes(&parse_document(xml).unwrap())[0];
        assert_eq!(
            (v.volume_id.as_str(), v.status.as_str()),
            ("vol-1", "in-use")
        );
        assert_eq!(v.attached_to, vec!["i-1"]);

        let xml = r#"<CreateVolumeResponse><volumeId>vol-9</volumeId><size>1</size>
            <status>creating</status></CreateVolumeResponse>"#;
        let v = created_volume(&parse_document(xml).unwrap()).unwrap();
        assert_eq!(v.volume_id, "vol-9");
        assert_eq!(v.status, "creating");

        let xml = r#"<DescribeAvailabilityZonesResponse xmlns="z"><availabilityZoneInfo>
            <item><zoneName>us-east-1a</zoneName><zoneState>available</zoneState></item>
            <item><zoneName>us-east-1b</zoneName></item></availabilityZoneInfo>
            </DescribeAvailabilityZonesResponse>"#;
        assert_eq!(
            names(
                &parse_document(xml).unwrap(),
                "availabilityZoneInfo",
                "zoneName"
            ),
            vec!["us-east-1a", "us-east-1b"]
        );

        let xml = r#"<DescribeInstanceAttributeResponse xmlns="q"><instanceId>i-1</instanceId>
            <userData><value>SGVsbG8=</value></userData></DescribeInstanceAttributeResponse>"#;
        assert_eq!(
            attribute_value(&parse_document(xml).unwrap(), "userData").as_deref(),
            Some("SGVsbG8=")
        );
    }
}
