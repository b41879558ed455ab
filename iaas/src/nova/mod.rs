//! The `openstack-nova` provider: Keystone v3, Nova servers, Nova floating IPs, Cinder volumes.
//!
//! identity = `project:user` (Stratos' `tenant:user`) or `user` with the `project` property;
//! credential = password. Properties:
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `jclouds.endpoint` / `endpoint` | required | Keystone URL (`…:5000/`, `…/v2.0` and `…/v3` all mean its v3 API) |
//! | `project` | from identity | project (tenant) name when identity is only the user |
//! | `openstack.domain` | `default` | domain id of the user and the project |
//! | `region` | prefix of imageId before `/`, else any | catalog region |
//! | `openstack.interface` | `public` | catalog interface (`public`, `internal`, `admin`) |
//! | `instanceType` | required | flavor id (`RegionOne/<id>` accepted) |
//! | imageId | required | image id (`RegionOne/<id>` accepted) |
//! | `keyPair` | - | key pair name |
//! | `securityGroups` | - | comma list of security group names |
//! | `networkIds` | - | comma list of network UUIDs (`networks`) |
//! | `availabilityZone` | - | availability zone |
//! | `autoAssignIp` | `false` | `false`: associate a floating IP (as Stratos) |
//! | `floatingIp` | - | this floating IP, never released |
//! | `defaultFloatingIpPool` | cloud default | pool to allocate from when no free IP exists |
//! | `blockUntilRunning` | `true` | wait for ACTIVE before returning |
//! | `volume.required` | `false` | create and attach a Cinder volume |
//! | `volume.size.gb` | `10` | its size |
//! | `volume.device.name` | cloud picks | device (e.g. `/dev/vdc`) |
//! | `volume.type` | - | Cinder volume type |
//! | `volume.delete.on.unsubscription` | `true` | delete it when the instance terminates |
//! | `openstack.poll.ms` | `2000` | delay between status polls |
//! | `openstack.boot.timeout.secs` | `600` | give up waiting for ACTIVE / available |
//! | `openstack.http.timeout.secs` | `60` | per request |
//! | `openstack.retry.min.ms` | `500` | first backoff delay of retried reads/deletes (3 tries) |
//!
//! Starts are idempotent: before creating a server, `start_instance` looks for a live server
//! of the member (`servers/detail?name=` the derived [`server_name`], kept only when its
//! metadata carries our marker and the member's id; metadata is set in the create call itself,
//! so a server that exists is always findable). If there is one (a retried start, or one after
//! a controller restart) it is returned, after finishing what the first attempt may not have
//! done: the floating IP (one already associated is kept) and the volume (one recorded in the
//! server's metadata, or a volume `alto-<member id>` carrying the member's metadata, is reused
//! and attached if it is not).

pub mod api;
pub mod errors;
pub mod parse;

use crate::error::{ErrorClass, IaasError};
use crate::props::{flag, number, prop};
use crate::registry::DriverContext;
use crate::types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, InstanceState, Properties,
    ProviderSpec, MANAGED_BY_VALUE, TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use api::{Credentials, NovaApi, Service};
use async_trait::async_trait;
use base64::Engine;
use errors::CallKind;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Nova's limit on `user_data`, which applies to the base64 text.
pub const MAX_USER_DATA_BASE64: usize = 65535;
/// Metadata key: floating IPs of this server are ours to release.
pub const META_RELEASE_FLOATING_IP: &str = "altostratus:release-floating-ip";
/// Metadata key: volumes (comma list) to delete when this server terminates.
pub const META_VOLUMES: &str = "altostratus:delete-volumes";

pub struct NovaIaas {
    provider_type: String,
    defaults: Properties,
    image_id: Option<String>,
    api: NovaApi,
    poll: Duration,
    boot_timeout: Duration,
}

fn list(value: Option<&str>) -> Vec<String> {
    value
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `RegionOne/abc` → `abc`.
fn strip_region(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(_, id)| id)
}

/// The server name of a member: `<cluster id>-<member id>` with every character other than a
/// letter, digit or `-` replaced by `-`, at most 63 characters (a host name label).
pub fn server_name(cluster_id: &str, member_id: &str) -> String {
    format!("{cluster_id}-{member_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect()
}

/// The Cinder volume name of a member.
fn volume_name(member_id: &str) -> String {
    format!("alto-{member_id}")
}

/// What a query value keeps as is: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `name=<value>`, the value percent-encoded.
fn name_query(name: &str) -> String {
    format!("name={}", utf8_percent_encode(name, QUERY_VALUE))
}

fn is_ours(tags: &std::collections::BTreeMap<String, String>, member_id: &str) -> bool {
    tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        && tags.get(TAG_MEMBER_ID).map(String::as_str) == Some(member_id)
}

fn region_of(id: &str) -> Option<&str> {
    id.split_once('/').map(|(r, _)| r).filter(|r| !r.is_empty())
}

impl NovaIaas {
    pub fn new(spec: &ProviderSpec) -> Result<Self, IaasError> {
        let props = &spec.properties;
        let invalid = |m: &str| {
            IaasError::new(
                &spec.provider_type,
                "initialize",
                ErrorClass::InvalidRequest,
                m,
            )
        };
        let endpoint = prop(props, &["jclouds.endpoint", "endpoint"])
            .ok_or_else(|| invalid("property `jclouds.endpoint` (the Keystone URL) is required"))?;
        let identity = spec.identity.expose();
        let (project, user) = match identity.split_once(':') {
            Some((p, u)) => (p.to_string(), u.to_string()),
            None => (
                prop(props, &["project", "tenantName"])
                    .ok_or_else(|| {
                        invalid("identity is `project:user`, or set the `project` property")
                    })?
                    .to_string(),
                identity.to_string(),
            ),
        };
        let region = prop(props, &["region"]).map(str::to_string).or_else(|| {
            spec.image_id
                .as_deref()
                .and_then(region_of)
                .map(str::to_string)
        });
        let creds = Credentials {
            keystone: api::keystone_v3(endpoint),
            user,
            project,
            domain: prop(props, &["openstack.domain"])
                .unwrap_or("default")
                .to_string(),
            password: spec.credential.clone(),
            region,
            interface: prop(props, &["openstack.interface"])
                .unwrap_or("public")
                .to_string(),
        };
        let mut api = NovaApi::new(
            &spec.provider_type,
            creds,
            Duration::from_secs(number(props, "openstack.http.timeout.secs", 60)),
        )?;
        api.retry_min_delay = Duration::from_millis(number(props, "openstack.retry.min.ms", 500));
        Ok(NovaIaas {
            provider_type: spec.provider_type.clone(),
            defaults: props.clone(),
            image_id: spec.image_id.clone(),
            api,
            poll: Duration::from_millis(number(props, "openstack.poll.ms", 2000)),
            boot_timeout: Duration::from_secs(number(props, "openstack.boot.timeout.secs", 600)),
        })
    }

    pub fn factory(spec: &ProviderSpec, _ctx: &DriverContext) -> Result<Arc<dyn Iaas>, IaasError> {
        Ok(Arc::new(NovaIaas::new(spec)?))
    }

    fn merged(&self, over: &Properties) -> Properties {
        crate::props::merged(&self.defaults, over)
    }

    fn error(
        &self,
        operation: &'static str,
        class: ErrorClass,
        msg: impl Into<String>,
    ) -> IaasError {
        IaasError::new(&self.provider_type, operation, class, msg)
    }

    async fn get_server(&self, operation: &'static str, id: &str) -> Result<Instance, IaasError> {
        let body = self
            .api
            .call_retrying(
                operation,
                CallKind::Read,
                Method::GET,
                Service::Compute,
                &format!("/servers/{id}"),
            )
            .await?;
        body.get("server").and_then(parse::server).ok_or_else(|| {
            self.error(
                operation,
                ErrorClass::Transient,
                "server response without a server",
            )
        })
    }

    /// Every server of `servers/detail` (with `query`, e.g. `name=…`), page by page.
    async fn list_servers(
        &self,
        operation: &'static str,
        query: Option<&str>,
    ) -> Result<Vec<Instance>, IaasError> {
        const LIMIT: usize = 1000;
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/servers/detail?limit={LIMIT}");
            if let Some(q) = query {
                path.push('&');
                path.push_str(q);
            }
            if let Some(m) = &marker {
                path.push_str(&format!("&marker={m}"));
            }
            let body = self
                .api
                .call_retrying(
                    operation,
                    CallKind::Read,
                    Method::GET,
                    Service::Compute,
                    &path,
                )
                .await?;
            let page = parse::servers(&body);
            let last = page.last().map(|s| s.instance_id.clone());
            let full = page.len() >= LIMIT;
            found.extend(page);
            if !full || last.is_none() || last == marker {
                break;
            }
            marker = last;
        }
        Ok(found)
    }

    /// The member's live server, if one exists (a retried start, or one after a restart).
    async fn member_server(&self, spec: &InstanceSpec) -> Result<Option<Instance>, IaasError> {
        let name = server_name(&spec.cluster_id, &spec.member_id);
        // Nova matches `name` as a regular expression (ours has no special characters, and a
        // truncated name matches more servers); the metadata decides. Should there be several,
        // the one furthest along wins.
        Ok(self
            .list_servers("start_instance", Some(&name_query(&name)))
            .await?
            .into_iter()
            .filter(|s| s.state != InstanceState::Terminated && is_ours(&s.tags, &spec.member_id))
            .min_by_key(|s| match s.state {
                InstanceState::Running => 0,
                InstanceState::Pending => 1,
                InstanceState::Stopping | InstanceState::Stopped => 2,
                _ => 3,
            }))
    }

    /// The member's volume made by an earlier attempt, if any (not in error, not going away).
    async fn member_volume(&self, spec: &InstanceSpec) -> Result<Option<parse::Volume>, IaasError> {
        let body = self
            .api
            .call_retrying(
                "start_instance",
                CallKind::Read,
                Method::GET,
                Service::Volume,
                &format!(
                    "/volumes/detail?{}",
                    name_query(&volume_name(&spec.member_id))
                ),
            )
            .await?;
        Ok(parse::volumes(&body).into_iter().find(|v| {
            is_ours(&v.metadata, &spec.member_id)
                && !v.status.starts_with("error")
                && !matches!(v.status.as_str(), "deleting" | "deleted")
        }))
    }

    /// Poll until ACTIVE; ERROR gives the fault's class (No valid host → Capacity).
    async fn wait_active(&self, id: &str) -> Result<Instance, IaasError> {
        let started = Instant::now();
        loop {
            let server = self.get_server("start_instance", id).await?;
            match server.state {
                InstanceState::Running => return Ok(server),
                InstanceState::Unknown
                    if server.extra.get("status").map(String::as_str) == Some("ERROR") =>
                {
                    let fault = server
                        .extra
                        .get("fault")
                        .cloned()
                        .unwrap_or_else(|| "server went to ERROR".into());
                    return Err(self
                        .error(
                            "start_instance",
                            errors::server_fault_class(&fault),
                            errors::truncate(&fault),
                        )
                        .with_code("ERROR"));
                }
                _ => {}
            }
            if started.elapsed() + self.poll > self.boot_timeout {
                return Err(self.error(
                    "start_instance",
                    ErrorClass::Transient,
                    format!(
                        "server {id} not ACTIVE after {}s",
                        started.elapsed().as_secs()
                    ),
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Keep a floating IP the server already has (a retried start); else reuse an unassociated
    /// one (of `pool` when set) or allocate one, and associate it. Returns the address and the
    /// id of the floating IP when we allocated it.
    async fn associate_floating_ip(
        &self,
        server: &Instance,
        props: &Properties,
    ) -> Result<(String, Option<String>), IaasError> {
        const OP: &str = "start_instance";
        let id = server.instance_id.as_str();
        let pool = prop(props, &["defaultFloatingIpPool"]);
        let (address, allocated) = if let Some(ip) = prop(props, &["floatingIp"]) {
            if server.public_ips.iter().any(|p| p == ip) {
                return Ok((ip.to_string(), None));
            }
            (ip.to_string(), None)
        } else {
            let body = self
                .api
                .call_retrying(
                    OP,
                    CallKind::Read,
                    Method::GET,
                    Service::Compute,
                    "/os-floating-ips",
                )
                .await?;
            let listed = parse::floating_ips(&body);
            if let Some(mine) = listed.iter().find(|f| f.instance_id.as_deref() == Some(id)) {
                return Ok((mine.ip.clone(), None));
            }
            let free = listed.into_iter().find(|f| {
                f.instance_id.is_none() && pool.is_none_or(|p| f.pool.as_deref() == Some(p))
            });
            match free {
                Some(f) => (f.ip, None),
                None => {
                    let request = match pool {
                        Some(p) => json!({"pool": p}),
                        None => json!({}),
                    };
                    let body = self
                        .api
                        .call(
                            OP,
                            CallKind::Create,
                            Method::POST,
                            Service::Compute,
                            "/os-floating-ips",
                            Some(&request),
                        )
                        .await?;
                    let f = parse::single_floating_ip(&body).ok_or_else(|| {
                        self.error(
                            OP,
                            ErrorClass::Transient,
                            "floating IP allocation returned no address",
                        )
                    })?;
                    (f.ip, Some(f.id))
                }
            }
        };
        let action = json!({"addFloatingIp": {"address": address}});
        let mut last = None;
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(self.poll).await;
            }
            match self
                .api
                .call(
                    OP,
                    CallKind::Create,
                    Method::POST,
                    Service::Compute,
                    &format!("/servers/{id}/action"),
                    Some(&action),
                )
                .await
            {
                Ok(_) => return Ok((address, allocated)),
                Err(e)
                    if matches!(
                        e.class,
                        ErrorClass::Transient
                            | ErrorClass::RateLimited { .. }
                            | ErrorClass::InvalidRequest
                    ) =>
                {
                    last = Some(e)
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        if let Some(fid) = &allocated {
            let _ = self
                .api
                .call_retrying(
                    OP,
                    CallKind::Delete,
                    Method::DELETE,
                    Service::Compute,
                    &format!("/os-floating-ips/{fid}"),
                )
                .await;
        }
        Err(last.unwrap_or_else(|| {
            self.error(OP, ErrorClass::Transient, "floating IP was not associated")
        }))
    }

    /// The member's volume, attached to `server`: the one an earlier attempt made (recorded in
    /// the server's metadata, or found by name and metadata) or a new one. Returns its id.
    async fn ensure_volume(
        &self,
        server: &Instance,
        spec: &InstanceSpec,
        props: &Properties,
        retried: bool,
    ) -> Result<String, IaasError> {
        const OP: &str = "start_instance";
        let id = server.instance_id.as_str();
        if retried {
            // Recorded after the attach: nothing left to do.
            if let Some(recorded) = list(server.tags.get(META_VOLUMES).map(String::as_str))
                .into_iter()
                .next()
            {
                return Ok(recorded);
            }
            if let Some(volume) = self.member_volume(spec).await? {
                if !volume.attached_to.iter().any(|s| s == id) {
                    self.wait_volume(OP, &volume.id, "available").await?;
                    self.attach_volume(id, &volume.id, props).await?;
                }
                return Ok(volume.id);
            }
        }
        let volume_id = self.create_volume(spec, props).await?;
        self.wait_volume(OP, &volume_id, "available").await?;
        self.attach_volume(id, &volume_id, props).await?;
        Ok(volume_id)
    }

    /// Create a Cinder volume for the member, named and tagged as its. Returns its id.
    async fn create_volume(
        &self,
        spec: &InstanceSpec,
        props: &Properties,
    ) -> Result<String, IaasError> {
        const OP: &str = "start_instance";
        let mut volume = Map::new();
        volume.insert("size".into(), json!(number(props, "volume.size.gb", 10)));
        volume.insert("name".into(), json!(volume_name(&spec.member_id)));
        volume.insert("metadata".into(), json!(spec.tags));
        if let Some(az) = prop(props, &["availabilityZone"]) {
            volume.insert("availability_zone".into(), json!(az));
        }
        if let Some(t) = prop(props, &["volume.type"]) {
            volume.insert("volume_type".into(), json!(t));
        }
        let body = self
            .api
            .call(
                OP,
                CallKind::Create,
                Method::POST,
                Service::Volume,
                "/volumes",
                Some(&json!({"volume": volume})),
            )
            .await?;
        Ok(body
            .get("volume")
            .and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| self.error(OP, ErrorClass::Transient, "volume create returned no id"))?
            .to_string())
    }

    async fn attach_volume(
        &self,
        id: &str,
        volume_id: &str,
        props: &Properties,
    ) -> Result<(), IaasError> {
        let mut attachment = Map::new();
        attachment.insert("volumeId".into(), json!(volume_id));
        if let Some(device) = prop(props, &["volume.device.name"]) {
            attachment.insert("device".into(), json!(device));
        }
        self.api
            .call(
                "start_instance",
                CallKind::Create,
                Method::POST,
                Service::Compute,
                &format!("/servers/{id}/os-volume_attachments"),
                Some(&json!({"volumeAttachment": attachment})),
            )
            .await
            .map(|_| ())
    }

    /// Poll a volume until `wanted`; `Ok(false)` when it no longer exists.
    async fn wait_volume(
        &self,
        operation: &'static str,
        volume_id: &str,
        wanted: &str,
    ) -> Result<bool, IaasError> {
        let started = Instant::now();
        loop {
            let status = match self
                .api
                .call_retrying(
                    operation,
                    CallKind::Read,
                    Method::GET,
                    Service::Volume,
                    &format!("/volumes/{volume_id}"),
                )
                .await
            {
                Ok(body) => body
                    .get("volume")
                    .and_then(|v| v.get("status"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                Err(e) if e.class == ErrorClass::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            if status == wanted {
                return Ok(true);
            }
            if status.starts_with("error") {
                return Err(self.error(
                    operation,
                    ErrorClass::Transient,
                    format!("volume {volume_id} is {status}"),
                ));
            }
            if started.elapsed() + self.poll > self.boot_timeout {
                return Err(self.error(
                    operation,
                    ErrorClass::Transient,
                    format!("volume {volume_id} still {status}"),
                ));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// What a start does once the server exists (just created, or found by a retried start):
    /// wait for ACTIVE, floating IP, volume. On failure the server is deleted.
    async fn finish_start(
        &self,
        server: Instance,
        retried: bool,
        spec: &InstanceSpec,
        props: &Properties,
        floating: bool,
        want_volume: bool,
    ) -> Result<Instance, IaasError> {
        let id = server.instance_id.clone();
        let with_our_tags = |found: Instance| {
            let mut tags = spec.tags.clone();
            tags.extend(found.tags.clone());
            Instance { tags, ..found }
        };
        if !(flag(props, "blockUntilRunning", true) || floating || want_volume) {
            return Ok(with_our_tags(server));
        }
        let finish = async {
            let mut active = Instance {
                instance_id: id.clone(),
                ..self.wait_active(&id).await?
            };
            if floating {
                let (address, _) = self.associate_floating_ip(&active, props).await?;
                if !active.public_ips.contains(&address) {
                    active.public_ips.insert(0, address);
                }
            }
            if want_volume {
                let volume_id = self.ensure_volume(&active, spec, props, retried).await?;
                active.extra.insert("volume_id".into(), volume_id.clone());
                let recorded =
                    active.tags.get(META_VOLUMES).map(String::as_str) == Some(volume_id.as_str());
                if flag(props, "volume.delete.on.unsubscription", true) && !recorded {
                    self.api
                        .call(
                            "start_instance",
                            CallKind::Create,
                            Method::POST,
                            Service::Compute,
                            &format!("/servers/{id}/metadata"),
                            Some(&json!({"metadata": {META_VOLUMES: volume_id}})),
                        )
                        .await?;
                }
            }
            Ok::<Instance, IaasError>(active)
        };
        match finish.await {
            Ok(active) => Ok(with_our_tags(active)),
            Err(e) => {
                self.discard(&id).await;
                Err(e)
            }
        }
    }

    /// Best-effort removal of a server we could not finish starting.
    async fn discard(&self, id: &str) {
        if let Err(e) = self
            .api
            .call_retrying(
                "start_instance",
                CallKind::Delete,
                Method::DELETE,
                Service::Compute,
                &format!("/servers/{id}"),
            )
            .await
        {
            tracing::warn!(provider = %self.provider_type, instance = id, error = %e, "could not delete a half-started server");
        }
    }
}

#[async_trait]
impl Iaas for NovaIaas {
    fn provider_type(&self) -> &str {
        &self.provider_type
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            floating_ips: true,
            key_pairs: true,
            volumes: true,
            security_groups: true,
            // Nova limits the base64 text to 65535 bytes: 49149 bytes of payload.
            max_payload_bytes: Some(MAX_USER_DATA_BASE64 / 4 * 3),
        }
    }

    async fn initialize(&self) -> Result<(), IaasError> {
        self.api
            .endpoint("initialize", Service::Compute, None)
            .await
            .map(|_| ())
    }

    async fn validate_partition(
        &self,
        partition_id: &str,
        properties: &Properties,
    ) -> Result<(), IaasError> {
        const OP: &str = "validate_partition";
        let props = self.merged(properties);
        let region = prop(&props, &["region"]);
        self.api
            .endpoint(OP, Service::Compute, region)
            .await
            .map_err(|mut e| {
                e.message = format!("partition {partition_id}: {}", e.message);
                e
            })?;
        if let Some(zone) = prop(properties, &["availabilityZone", "zone"]) {
            let body = self
                .api
                .call_retrying(
                    OP,
                    CallKind::Read,
                    Method::GET,
                    Service::Compute,
                    "/os-availability-zone",
                )
                .await?;
            let known = body
                .get("availabilityZoneInfo")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|z| z.get("zoneName").and_then(Value::as_str) == Some(zone));
            if !known {
                return Err(self.error(
                    OP,
                    ErrorClass::InvalidRequest,
                    format!("partition {partition_id}: availability zone {zone:?} does not exist"),
                ));
            }
        }
        Ok(())
    }

    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError> {
        const OP: &str = "start_instance";
        let props = self.merged(&spec.properties);
        let missing = |n: &str| {
            self.error(
                OP,
                ErrorClass::InvalidRequest,
                format!("property `{n}` is required"),
            )
        };
        let image = spec
            .image_id
            .as_deref()
            .or(self.image_id.as_deref())
            .ok_or_else(|| missing("imageId"))?;
        let flavor = prop(&props, &["instanceType"]).ok_or_else(|| missing("instanceType"))?;
        let user_data = base64::engine::general_purpose::STANDARD.encode(spec.payload.as_bytes());
        if user_data.len() > MAX_USER_DATA_BASE64 {
            return Err(self.error(
                OP,
                ErrorClass::InvalidRequest,
                format!(
                    "payload is {} bytes; Nova takes at most {} bytes of base64 user data",
                    spec.payload.len(),
                    MAX_USER_DATA_BASE64
                ),
            ));
        }
        let floating = !flag(&props, "autoAssignIp", false);
        let want_volume = flag(&props, "volume.required", false);
        // A retried start (or one after a controller restart) finishes the member's server.
        if let Some(existing) = self.member_server(spec).await? {
            tracing::info!(provider = %self.provider_type, member = %spec.member_id, instance = %existing.instance_id, "member already has a server");
            return self
                .finish_start(existing, true, spec, &props, floating, want_volume)
                .await;
        }
        let mut metadata: Map<String, Value> = spec
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        if floating && prop(&props, &["floatingIp"]).is_none() {
            metadata.insert(META_RELEASE_FLOATING_IP.into(), json!("true"));
        }
        let mut server = Map::new();
        server.insert(
            "name".into(),
            json!(server_name(&spec.cluster_id, &spec.member_id)),
        );
        server.insert("imageRef".into(), json!(strip_region(image)));
        server.insert("flavorRef".into(), json!(strip_region(flavor)));
        server.insert("user_data".into(), json!(user_data));
        server.insert("metadata".into(), Value::Object(metadata));
        if let Some(key) = prop(&props, &["keyPair"]) {
            server.insert("key_name".into(), json!(key));
        }
        let groups = list(prop(&props, &["securityGroups"]));
        if !groups.is_empty() {
            server.insert(
                "security_groups".into(),
                json!(groups
                    .iter()
                    .map(|g| json!({"name": g}))
                    .collect::<Vec<_>>()),
            );
        }
        let networks = list(prop(&props, &["networkIds"]));
        if !networks.is_empty() {
            server.insert(
                "networks".into(),
                json!(networks
                    .iter()
                    .map(|n| json!({"uuid": n}))
                    .collect::<Vec<_>>()),
            );
        }
        if let Some(az) = prop(&props, &["availabilityZone"]) {
            server.insert("availability_zone".into(), json!(az));
        }
        let body = self
            .api
            .call(
                OP,
                CallKind::Create,
                Method::POST,
                Service::Compute,
                "/servers",
                Some(&json!({"server": server})),
            )
            .await?;
        let id = body
            .get("server")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            .ok_or_else(|| self.error(OP, ErrorClass::Transient, "server create returned no id"))?
            .to_string();

        let created = Instance {
            instance_id: id,
            state: InstanceState::Pending,
            private_ips: vec![],
            public_ips: vec![],
            tags: spec.tags.clone(),
            extra: Default::default(),
        };
        self.finish_start(created, false, spec, &props, floating, want_volume)
            .await
    }

    async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, IaasError> {
        let mut found = self.list_servers("describe_instances", None).await?;
        found.retain(|s| filter.matches(&s.tags));
        Ok(found)
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError> {
        const OP: &str = "terminate_instance";
        let server = match self.get_server(OP, instance_id).await {
            Ok(s) => s,
            Err(mut e) => {
                if e.class == ErrorClass::NotFound {
                    e.operation = OP;
                }
                return Err(e);
            }
        };
        let release = server
            .tags
            .get(META_RELEASE_FLOATING_IP)
            .map(String::as_str)
            == Some("true");
        let floating: Vec<parse::FloatingIp> = if release {
            match self
                .api
                .call_retrying(
                    OP,
                    CallKind::Read,
                    Method::GET,
                    Service::Compute,
                    "/os-floating-ips",
                )
                .await
            {
                Ok(body) => parse::floating_ips(&body)
                    .into_iter()
                    .filter(|f| f.instance_id.as_deref() == Some(instance_id))
                    .collect(),
                Err(e) => {
                    tracing::warn!(provider = %self.provider_type, instance = instance_id, error = %e, "could not list floating IPs");
                    vec![]
                }
            }
        } else {
            vec![]
        };
        self.api
            .call_retrying(
                OP,
                CallKind::Delete,
                Method::DELETE,
                Service::Compute,
                &format!("/servers/{instance_id}"),
            )
            .await?;
        for f in floating {
            match self
                .api
                .call_retrying(
                    OP,
                    CallKind::Delete,
                    Method::DELETE,
                    Service::Compute,
                    &format!("/os-floating-ips/{}", f.id),
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.class == ErrorClass::NotFound => {}
                Err(e) => {
                    tracing::warn!(provider = %self.provider_type, ip = %f.ip, error = %e, "could not release a floating IP")
                }
            }
        }
        for volume_id in list(server.tags.get(META_VOLUMES).map(String::as_str)) {
            // Deleting the server detaches the volume; wait for that, then delete it.
            let result = async {
                if self.wait_volume(OP, &volume_id, "available").await? {
                    self.api
                        .call_retrying(
                            OP,
                            CallKind::Delete,
                            Method::DELETE,
                            Service::Volume,
                            &format!("/volumes/{volume_id}"),
                        )
                        .await?;
                }
                Ok::<(), IaasError>(())
            }
            .await;
            if let Err(e) = result {
                if e.class != ErrorClass::NotFound {
                    tracing::warn!(provider = %self.provider_type, volume = %volume_id, error = %e, "could not delete a volume");
                }
            }
        }
        Ok(())
    }
}
