//! Stratos' JSON shapes (4.0 and 4.1 REST beans) converted to the equivalent XML documents, so
//! that one parser (`alto-config`) and one deploy path validate every definition.
//!
//! Jettison-style leniency of Stratos' REST layer is kept: numbers and booleans may be given as
//! strings, and a single object is accepted where an array is expected. Fields Stratos had but
//! the XML documents do not describe (persistence, network interfaces, load balancer settings,
//! credentials inside a cartridge, ...) are not carried over. Validation (unknown partitions,
//! missing ids, bad numbers, ...) is left to the XML parser, which reports positions in the
//! generated document: one element per line, so the line numbers stay readable.

use serde_json::{Map, Value};

/// A JSON document that cannot be expressed as XML; the message names the offending field.
pub type ConvertError = String;

/// A cartridge definition (4.0 `CartridgeDefinitionBean` or 4.1 `CartridgeBean`), an array of
/// them, or either wrapped as `{"cartridge": ...}`: `<cartridge>` or `<cartridges>` XML.
pub fn cartridges_to_xml(doc: &Value) -> Result<String, ConvertError> {
    let doc = bean(doc, CARTRIDGE_ROOT);
    let mut xml = XmlWriter::new();
    match doc {
        Value::Array(items) => {
            xml.open("cartridges", &[])?;
            for (i, item) in items.iter().enumerate() {
                cartridge(&mut xml, item, &format!("[{i}]"))?;
            }
            xml.close("cartridges");
        }
        Value::Object(_) => cartridge(&mut xml, doc, "cartridge")?,
        other => {
            return Err(format!(
                "expected a cartridge object or an array of them, found {}",
                kind(other)
            ))
        }
    }
    Ok(xml.finish())
}

fn cartridge(xml: &mut XmlWriter, v: &Value, path: &str) -> Result<(), ConvertError> {
    let o = object(v, path)?;
    xml.open(
        "cartridge",
        &[
            ("type", field(o, "type", path)?),
            ("host", field(o, "host", path)?),
            ("provider", field(o, "provider", path)?),
            ("version", field(o, "version", path)?),
            ("multiTenant", field(o, "multiTenant", path)?),
        ],
    )?;
    text_field(xml, o, "displayName", path)?;
    text_field(xml, o, "description", path)?;
    properties(
        xml,
        o.get("property").or_else(|| o.get("properties")),
        &format!("{path}.property"),
    )?;
    for (i, p) in list(o.get("iaasProvider").or_else(|| o.get("iaasProviders")))
        .into_iter()
        .enumerate()
    {
        let ppath = format!("{path}.iaasProvider[{i}]");
        let po = object(p, &ppath)?;
        xml.open("iaasProvider", &[("type", field(po, "type", &ppath)?)])?;
        text_field(xml, po, "imageId", &ppath)?;
        text_field(xml, po, "maxInstanceLimit", &ppath)?;
        properties(
            xml,
            po.get("property").or_else(|| po.get("properties")),
            &format!("{ppath}.property"),
        )?;
        xml.close("iaasProvider");
    }
    if let Some(d) = o.get("deployment").filter(|d| !d.is_null()) {
        let dpath = format!("{path}.deployment");
        let d = object(d, &dpath)?;
        let dirs = list(d.get("dir").or_else(|| d.get("dirs")));
        let base_dir = field(d, "baseDir", &dpath)?;
        if base_dir.is_some() || !dirs.is_empty() {
            xml.open("deployment", &[("baseDir", base_dir)])?;
            for (i, dir) in dirs.into_iter().enumerate() {
                if let Some(text) = scalar(dir, &format!("{dpath}.dir[{i}]"))? {
                    xml.text_element("dir", &[], &text)?;
                }
            }
            xml.close("deployment");
        }
    }
    let ports = list(o.get("portMapping").or_else(|| o.get("portMappings")));
    if !ports.is_empty() {
        xml.open("portMapping", &[])?;
        for (i, p) in ports.into_iter().enumerate() {
            let ppath = format!("{path}.portMapping[{i}]");
            let po = object(p, &ppath)?;
            let protocol = field(po, "protocol", &ppath)?
                .ok_or_else(|| {
                    format!("{ppath}: a port mapping needs a protocol (http, https, ...)")
                })?
                .to_ascii_lowercase();
            if !is_xml_name(&protocol) {
                return Err(format!(
                    "{ppath}.protocol: {protocol:?} is not a protocol name"
                ));
            }
            xml.empty(
                &protocol,
                &[
                    ("port", field(po, "port", &ppath)?),
                    ("proxyPort", field(po, "proxyPort", &ppath)?),
                ],
            )?;
        }
        xml.close("portMapping");
    }
    xml.close("cartridge");
    Ok(())
}

/// An autoscaling policy: 4.1 (`threshold`; milestones' `upperLimit`) or 4.0 (`average`,
/// `gradient`, ...), optionally wrapped as `{"autoscalePolicy": ...}`.
pub fn autoscale_policy_to_xml(doc: &Value) -> Result<String, ConvertError> {
    let doc = bean(doc, AUTOSCALE_ROOT);
    let path = "autoscalePolicy";
    let o = object(doc, path)?;
    let mut xml = XmlWriter::new();
    xml.open("autoscalePolicy", &[("id", field(o, "id", path)?)])?;
    text_field(&mut xml, o, "displayName", path)?;
    text_field(&mut xml, o, "description", path)?;
    if let Some(t) = o.get("loadThresholds").filter(|t| !t.is_null()) {
        let tpath = format!("{path}.loadThresholds");
        let t = object(t, &tpath)?;
        xml.open("loadThresholds", &[])?;
        for metric in ["requestsInFlight", "memoryConsumption", "loadAverage"] {
            let Some(m) = t.get(metric).filter(|m| !m.is_null()) else {
                continue;
            };
            let mpath = format!("{tpath}.{metric}");
            let m = object(m, &mpath)?;
            xml.open(metric, &[])?;
            // (JSON name, XML element): 4.1 milestones called the threshold `upperLimit`.
            for (json, element) in [
                ("threshold", "threshold"),
                ("upperLimit", "threshold"),
                ("average", "average"),
                ("gradient", "gradient"),
                ("secondDerivative", "secondDerivative"),
                ("scaleDownMarginOfGradient", "scaleDownMarginOfGradient"),
                (
                    "scaleDownMarginOfSecondDerivative",
                    "scaleDownMarginOfSecondDerivative",
                ),
            ] {
                if let Some(value) = field(m, json, &mpath)? {
                    xml.empty(element, &[("value", Some(value))])?;
                }
            }
            xml.close(metric);
        }
        xml.close("loadThresholds");
    }
    // Our extensions: `dryRun` and `scaling` (every key passed on as an element, so an
    // unknown one is reported by the policy's validation with the others).
    text_field(&mut xml, o, "dryRun", path)?;
    if let Some(scaling) = o.get("scaling").filter(|v| !v.is_null()) {
        let spath = format!("{path}.scaling");
        let scaling = object(scaling, &spath)?;
        xml.open("scaling", &[])?;
        for key in scaling.keys() {
            if !is_xml_name(key) {
                return Err(format!("{spath}: {key:?} is not a setting name"));
            }
            text_field(&mut xml, scaling, key, &spath)?;
        }
        xml.close("scaling");
    }
    xml.close("autoscalePolicy");
    Ok(xml.finish())
}

/// A deployment policy: 4.0 (`partitionGroup[].partition[]` with `partitionMin`/`partitionMax`,
/// `provider`, `property`) or 4.1 (`networkPartitions[].partitions[]` referencing partitions
/// defined elsewhere), optionally wrapped as `{"deploymentPolicy": ...}`.
pub fn deployment_policy_to_xml(doc: &Value) -> Result<String, ConvertError> {
    let doc = bean(doc, DEPLOYMENT_ROOT);
    let path = "deploymentPolicy";
    let o = object(doc, path)?;
    let mut xml = XmlWriter::new();
    xml.open("deploymentPolicy", &[("id", field(o, "id", path)?)])?;
    let (groups_key, groups) = first_present(
        o,
        &[
            "partitionGroup",
            "partitionGroups",
            "networkPartitions",
            "networkPartition",
        ],
    );
    for (i, g) in list(groups).into_iter().enumerate() {
        let gpath = format!("{path}.{groups_key}[{i}]");
        let go = object(g, &gpath)?;
        xml.open("partitionGroup", &[("id", field(go, "id", &gpath)?)])?;
        text_field(&mut xml, go, "partitionAlgo", &gpath)?;
        let (parts_key, parts) = first_present(go, &["partition", "partitions"]);
        for (j, p) in list(parts).into_iter().enumerate() {
            let ppath = format!("{gpath}.{parts_key}[{j}]");
            let po = object(p, &ppath)?;
            xml.open("partition", &[("id", field(po, "id", &ppath)?)])?;
            text_field(&mut xml, po, "provider", &ppath)?;
            properties(
                &mut xml,
                po.get("property").or_else(|| po.get("properties")),
                &format!("{ppath}.property"),
            )?;
            if let Some(max) = field(po, "partitionMax", &ppath)?.or(field(po, "max", &ppath)?) {
                xml.text_element("max", &[], &max)?;
            }
            if let Some(min) = field(po, "partitionMin", &ppath)?.or(field(po, "min", &ppath)?) {
                xml.text_element("min", &[], &min)?;
            }
            xml.close("partition");
        }
        xml.close("partitionGroup");
    }
    xml.close("deploymentPolicy");
    Ok(xml.finish())
}

/// A network partition (4.1 `NetworkPartitionBean`: `id`, `provider`, `partitions[]` with
/// `id` and `property`, the network partition's own `properties`), optionally wrapped as
/// `{"networkPartition": ...}`: a `<networkPartition>` document.
pub fn network_partition_to_xml(doc: &Value) -> Result<String, ConvertError> {
    let doc = bean(doc, NETWORK_PARTITION_ROOT);
    let path = "networkPartition";
    let o = object(doc, path)?;
    let mut xml = XmlWriter::new();
    xml.open(
        "networkPartition",
        &[
            ("id", field(o, "id", path)?),
            ("provider", field(o, "provider", path)?),
        ],
    )?;
    properties(
        &mut xml,
        o.get("properties").or_else(|| o.get("property")),
        &format!("{path}.properties"),
    )?;
    let (parts_key, parts) = first_present(o, &["partitions", "partition"]);
    for (i, p) in list(parts).into_iter().enumerate() {
        let ppath = format!("{path}.{parts_key}[{i}]");
        let po = object(p, &ppath)?;
        xml.open("partition", &[("id", field(po, "id", &ppath)?)])?;
        text_field(&mut xml, po, "provider", &ppath)?;
        text_field(&mut xml, po, "description", &ppath)?;
        properties(
            &mut xml,
            po.get("property").or_else(|| po.get("properties")),
            &format!("{ppath}.property"),
        )?;
        xml.close("partition");
    }
    xml.close("networkPartition");
    Ok(xml.finish())
}

/// The wrappers a Stratos client may put around each kind of bean, and the bean's id field.
pub const CARTRIDGE_ROOT: (&[&str], &str) = (
    &[
        "cartridge",
        "cartridges",
        "cartridgeDefinitionBean",
        "cartridgeBean",
    ],
    "type",
);
pub const AUTOSCALE_ROOT: (&[&str], &str) = (&["autoscalePolicy", "autoscalingPolicy"], "id");
pub const DEPLOYMENT_ROOT: (&[&str], &str) = (&["deploymentPolicy"], "id");
pub const NETWORK_PARTITION_ROOT: (&[&str], &str) =
    (&["networkPartition", "networkPartitionBean"], "id");

/// The bean inside a document that may be wrapped (`root` is one of the `*_ROOT` above).
pub fn bean<'a>(doc: &'a Value, root: (&[&str], &str)) -> &'a Value {
    unwrap_root(doc, root.0, root.1)
}

/// `{"wrapper": X}` (Stratos 4.0 root-wrapped JSON) → X, when the object has exactly that one key
/// and does not look like the bean itself (no `own_key`).
fn unwrap_root<'a>(doc: &'a Value, wrappers: &[&str], own_key: &str) -> &'a Value {
    if let Value::Object(o) = doc {
        if o.len() == 1 && !o.contains_key(own_key) {
            for w in wrappers {
                if let Some(inner) = o.get(*w) {
                    return inner;
                }
            }
        }
    }
    doc
}

fn first_present<'a>(
    o: &'a Map<String, Value>,
    keys: &[&'static str],
) -> (&'static str, Option<&'a Value>) {
    for key in keys {
        if let Some(v) = o.get(*key) {
            return (key, Some(v));
        }
    }
    (keys[0], None)
}

fn properties(xml: &mut XmlWriter, v: Option<&Value>, path: &str) -> Result<(), ConvertError> {
    for (i, p) in list(v).into_iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        let po = object(p, &ppath)?;
        xml.empty(
            "property",
            &[
                ("name", field(po, "name", &ppath)?),
                ("value", field(po, "value", &ppath)?),
            ],
        )?;
    }
    Ok(())
}

fn text_field(
    xml: &mut XmlWriter,
    o: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<(), ConvertError> {
    if let Some(text) = field(o, key, path)? {
        xml.text_element(key, &[], &text)?;
    }
    Ok(())
}

fn field(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, ConvertError> {
    match o.get(key) {
        None => Ok(None),
        Some(v) => scalar(v, &format!("{path}.{key}")),
    }
}

/// A JSON scalar as text: strings as they are, numbers and booleans in their JSON spelling.
fn scalar(v: &Value, path: &str) -> Result<Option<String>, ConvertError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(format!(
            "{path}: expected a string, number or boolean, found {}",
            kind(other)
        )),
    }
}

/// Jettison leniency: an array, a single value standing for a one-element array, or nothing.
fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ConvertError> {
    v.as_object()
        .ok_or_else(|| format!("{path}: expected an object, found {}", kind(v)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Characters XML 1.0 cannot carry at all, not even as character references.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

fn escape(s: &str, attribute: bool) -> Result<String, ConvertError> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            // Attribute-value normalisation would turn these into spaces; `\r` is dropped in text.
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => {
                return Err(format!(
                    "character U+{:04X} cannot be represented in XML",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A tiny indenting writer: one element per line.
struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    fn new() -> Self {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            depth: 0,
        }
    }

    fn start_tag(
        &mut self,
        name: &str,
        attrs: &[(&str, Option<String>)],
    ) -> Result<(), ConvertError> {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.out.push(' ');
                self.out.push_str(key);
                self.out.push_str("=\"");
                let escaped = escape(value, true).map_err(|e| format!("{name}@{key}: {e}"))?;
                self.out.push_str(&escaped);
                self.out.push('"');
            }
        }
        Ok(())
    }

    fn open(&mut self, name: &str, attrs: &[(&str, Option<String>)]) -> Result<(), ConvertError> {
        self.start_tag(name, attrs)?;
        self.out.push_str(">\n");
        self.depth += 1;
        Ok(())
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<String>)]) -> Result<(), ConvertError> {
        self.start_tag(name, attrs)?;
        self.out.push_str("/>\n");
        Ok(())
    }

    fn text_element(
        &mut self,
        name: &str,
        attrs: &[(&str, Option<String>)],
        text: &str,
    ) -> Result<(), ConvertError> {
        self.start_tag(name, attrs)?;
        self.out.push('>');
        let escaped = escape(text, false).map_err(|e| format!("{name}: {e}"))?;
        self.out.push_str(&escaped);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        Ok(())
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn samples_dir() -> Option<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/stratos-samples");
        if dir.is_dir() {
            Some(dir)
        } else {
            println!("skipped: {} does not exist", dir.display());
            None
        }
    }

    fn sample(dir: &Path, name: &str) -> Value {
        let text =
            std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn cartridge_4_0_json_with_strings_and_single_objects() {
        // The cwiki 4.0 sample: numbers and booleans as strings, `property` as a single object.
        let doc = json!({
            "type": "php", "provider": "apache", "host": "stratos.org", "displayName": "PHP", "version": "7",
            "multiTenant": "false", "defaultAutoscalingPolicy": "economyPolicy",
            "portMapping": [{"protocol": "http", "port": "80", "proxyPort": "8280"}, {"protocol": "HTTPS", "port": 443, "proxyPort": 8243}],
            "iaasProvider": {"type": "ec2", "imageId": "ap-southeast-1/ami-2e0d5a7c", "maxInstanceLimit": "4",
                              "property": {"name": "instanceType", "value": "m1.medium"}},
            "property": [{"name": "payload_parameter.X", "value": 1}],
            "deployment": {"baseDir": "/var/www", "dir": "www=copy#app"},
            "persistence": {"isRequired": "true", "volume": []}
        });
        let xml = cartridges_to_xml(&doc).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<cartridge type="php" host="stratos.org" provider="apache" version="7" multiTenant="false">
    <displayName>PHP</displayName>
    <property name="payload_parameter.X" value="1"/>
    <iaasProvider type="ec2">
        <imageId>ap-southeast-1/ami-2e0d5a7c</imageId>
        <maxInstanceLimit>4</maxInstanceLimit>
        <property name="instanceType" value="m1.medium"/>
    </iaasProvider>
    <deployment baseDir="/var/www">
        <dir>www=copy#app</dir>
    </deployment>
    <portMapping>
        <http port="80" proxyPort="8280"/>
        <https port="443" proxyPort="8243"/>
    </portMapping>
</cartridge>
"#;
        assert_eq!(xml, expected);
    }

    #[test]
    fn cartridge_arrays_and_wrappers() {
        let xml =
            cartridges_to_xml(&json!([{"type": "a"}, {"type": "b", "multiTenant": true}])).unwrap();
        assert!(
            xml.contains("<cartridges>\n    <cartridge type=\"a\">\n    </cartridge>\n"),
            "{xml}"
        );
        assert!(
            xml.contains("<cartridge type=\"b\" multiTenant=\"true\">"),
            "{xml}"
        );
        assert!(xml.trim_end().ends_with("</cartridges>"), "{xml}");
        let wrapped = cartridges_to_xml(&json!({"cartridge": {"type": "a"}})).unwrap();
        assert!(wrapped.contains("<cartridge type=\"a\">"), "{wrapped}");
        // An empty deployment object adds nothing.
        let xml = cartridges_to_xml(&json!({"type": "a", "deployment": {}})).unwrap();
        assert!(!xml.contains("deployment"), "{xml}");
    }

    #[test]
    fn special_characters_are_escaped() {
        let doc = json!({"type": "t\"<&>'", "description": "a < b && c > d \"q\" 'a'\r\nnext",
                         "property": [{"name": "multi", "value": "line1\nline2\ttab"}]});
        let xml = cartridges_to_xml(&doc).unwrap();
        assert!(
            xml.contains(r#"type="t&quot;&lt;&amp;&gt;&apos;""#),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<description>a &lt; b &amp;&amp; c &gt; d \"q\" 'a'&#13;\nnext</description>"
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"value="line1&#10;line2&#9;tab""#), "{xml}");
        let err = cartridges_to_xml(&json!({"type": "bad\u{1}char"})).unwrap_err();
        assert!(err.contains("U+0001"), "{err}");
    }

    #[test]
    fn shape_errors_name_the_field() {
        let err = cartridges_to_xml(&json!("php")).unwrap_err();
        assert!(err.contains("found a string"), "{err}");
        let err = cartridges_to_xml(&json!({"type": ["a", "b"]})).unwrap_err();
        assert!(err.contains("cartridge.type"), "{err}");
        let err = cartridges_to_xml(&json!({"type": "a", "iaasProvider": ["ec2"]})).unwrap_err();
        assert!(
            err.contains("cartridge.iaasProvider[0]: expected an object"),
            "{err}"
        );
        let err =
            cartridges_to_xml(&json!({"type": "a", "portMapping": {"port": 80}})).unwrap_err();
        assert!(err.contains("protocol"), "{err}");
        let err = cartridges_to_xml(
            &json!({"type": "a", "portMapping": {"protocol": "<x>", "port": 80}}),
        )
        .unwrap_err();
        assert!(err.contains("not a protocol name"), "{err}");
        let err = deployment_policy_to_xml(
            &json!({"id": "d", "partitionGroup": [{"id": "g", "partition": [5]}]}),
        )
        .unwrap_err();
        assert!(
            err.contains("deploymentPolicy.partitionGroup[0].partition[0]"),
            "{err}"
        );
        assert!(autoscale_policy_to_xml(&json!([1])).is_err());
    }

    #[test]
    fn autoscale_policy_extensions_dry_run_and_scaling() {
        let xml = autoscale_policy_to_xml(&json!({
            "id": "quick", "dryRun": true,
            "scaling": {"scaleDownCooldownSeconds": 60, "maxScaleUpStep": 2}
        }))
        .unwrap();
        let policy =
            alto_config::parse_autoscale_policy(Path::new("body"), xml.as_bytes()).unwrap();
        assert!(policy.dry_run);
        assert_eq!(policy.scaling.scale_down_cooldown_seconds, Some(60.0));
        assert_eq!(policy.scaling.max_scale_up_step, Some(2));
        assert!(autoscale_policy_to_xml(&json!({"id": "x", "scaling": {"a b": 1}})).is_err());
        assert!(autoscale_policy_to_xml(&json!({"id": "x", "scaling": [1]})).is_err());
    }

    #[test]
    fn autoscale_policy_4_0_and_4_1() {
        let v41 = json!({"id": "p41", "loadThresholds": {"requestsInFlight": {"threshold": 20}, "memoryConsumption": {"threshold": "70.5"}}});
        let xml = autoscale_policy_to_xml(&v41).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<autoscalePolicy id="p41">
    <loadThresholds>
        <requestsInFlight>
            <threshold value="20"/>
        </requestsInFlight>
        <memoryConsumption>
            <threshold value="70.5"/>
        </memoryConsumption>
    </loadThresholds>
</autoscalePolicy>
"#;
        assert_eq!(xml, expected);
        let v40 = json!({"autoscalePolicy": {"id": "economy", "loadThresholds": {"loadAverage": {"average": 6000, "gradient": 0, "secondDerivative": "0",
            "scaleDownMarginOfGradient": 1.0, "scaleDownMarginOfSecondDerivative": 0.2}}}});
        let xml = autoscale_policy_to_xml(&v40).unwrap();
        for line in [
            "<autoscalePolicy id=\"economy\">",
            "<loadAverage>",
            "<average value=\"6000\"/>",
            "<gradient value=\"0\"/>",
            "<secondDerivative value=\"0\"/>",
            "<scaleDownMarginOfGradient value=\"1.0\"/>",
            "<scaleDownMarginOfSecondDerivative value=\"0.2\"/>",
        ] {
            assert!(xml.contains(line), "{line} missing:\n{xml}");
        }
        let upper = autoscale_policy_to_xml(
            &json!({"id": "m", "loadThresholds": {"loadAverage": {"upperLimit": 80}}}),
        )
        .unwrap();
        assert!(upper.contains("<threshold value=\"80\"/>"), "{upper}");
    }

    #[test]
    fn deployment_policy_4_0() {
        let doc = json!({"id": "economy-deployment", "partitionGroup": {"id": "group1", "partitionAlgo": "round-robin",
            "partition": [{"id": "P1", "provider": "mock", "partitionMin": "1", "partitionMax": 3,
                           "property": {"name": "zone", "value": "z-1"}}]}});
        let xml = deployment_policy_to_xml(&doc).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<deploymentPolicy id="economy-deployment">
    <partitionGroup id="group1">
        <partitionAlgo>round-robin</partitionAlgo>
        <partition id="P1">
            <provider>mock</provider>
            <property name="zone" value="z-1"/>
            <max>3</max>
            <min>1</min>
        </partition>
    </partitionGroup>
</deploymentPolicy>
"#;
        assert_eq!(xml, expected);
    }

    #[test]
    fn network_partition_4_1() {
        let doc = json!({"id": "np1", "provider": "mock", "properties": [{"name": "a", "value": 1}],
            "partitions": [{"id": "P1", "description": "zone a", "property": [{"name": "zone", "value": "z-1"}]}, {"id": "P2"}]});
        let xml = network_partition_to_xml(&doc).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<networkPartition id="np1" provider="mock">
    <property name="a" value="1"/>
    <partition id="P1">
        <description>zone a</description>
        <property name="zone" value="z-1"/>
    </partition>
    <partition id="P2">
    </partition>
</networkPartition>
"#;
        assert_eq!(xml, expected);
        let parsed =
            alto_config::parse_network_partitions(Path::new("body"), xml.as_bytes()).unwrap();
        assert_eq!(parsed[0].partitions[0].provider.as_deref(), Some("mock"));
        assert_eq!(parsed[0].partitions[1].id, "P2");
        let err = network_partition_to_xml(&json!({"id": "np", "partitions": ["P1"]})).unwrap_err();
        assert!(err.contains("networkPartition.partitions[0]"), "{err}");
    }

    #[test]
    fn stratos_4_1_samples_convert() {
        let Some(dir) = samples_dir() else { return };
        let xml = autoscale_policy_to_xml(&sample(&dir, "416-autoscaling-policy-1.json")).unwrap();
        assert!(
            xml.contains("<autoscalePolicy id=\"autoscaling-policy-1\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<requestsInFlight>\n            <threshold value=\"20\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<memoryConsumption>\n            <threshold value=\"70\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<loadAverage>\n            <threshold value=\"70\"/>"),
            "{xml}"
        );

        let xml = deployment_policy_to_xml(&sample(&dir, "416-deployment-policy-1.json")).unwrap();
        let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<deploymentPolicy id="deployment-policy-1">
    <partitionGroup id="network-partition-1">
        <partitionAlgo>one-after-another</partitionAlgo>
        <partition id="partition-1">
            <max>20</max>
        </partition>
    </partitionGroup>
</deploymentPolicy>
"#;
        assert_eq!(xml, expected);

        for name in [
            "416-cartridge-openstack-php.json",
            "416-cartridge-kubernetes-php.json",
        ] {
            let xml = cartridges_to_xml(&sample(&dir, name)).unwrap();
            assert!(xml.contains(r#"<cartridge type="php" host="php.stratos.org" provider="apache" version="7" multiTenant="false">"#), "{name}:\n{xml}");
            assert!(
                xml.contains("<displayName>php</displayName>"),
                "{name}:\n{xml}"
            );
            assert!(
                xml.contains("<description>php Cartridge</description>"),
                "{name}:\n{xml}"
            );
        }
        let xml = cartridges_to_xml(&sample(&dir, "416-cartridge-openstack-php.json")).unwrap();
        assert!(xml.contains("<iaasProvider type=\"openstack\">\n        <imageId>RegionOne/b4ca55e3-58ab-4937-82ce-817ebd10240e</imageId>"), "{xml}");
        assert!(
            xml.contains(r#"<property name="keyPair" value="vishanth-key"/>"#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<http port="80" proxyPort="8280"/>"#),
            "{xml}"
        );
        let xml = cartridges_to_xml(&sample(&dir, "416-cartridge-kubernetes-php.json")).unwrap();
        assert!(xml.contains(r#"<deployment baseDir="/var/www">"#), "{xml}");
        assert!(
            xml.contains(
                r#"<property name="KUBERNETES_SERVICE_SESSION_AFFINITY" value="ClientIP"/>"#
            ),
            "{xml}"
        );
    }
}
