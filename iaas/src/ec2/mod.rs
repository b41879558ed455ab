//! The `aws-ec2` provider: Amazon EC2 (or anything speaking its Query API, such as moto)
//! through signed HTTP calls.
//!
//! * [`api`]: HTTP client, SigV4 signing (`aws-sigv4`), retries (`backon`).
//! * [`parse`]: XML responses → values, by local element name (namespaces ignored).
//! * [`errors`]: EC2 error codes → [`ErrorClass`].
//!
//! Instances are found again by tag ([`TAG_MANAGED_BY`], [`TAG_MEMBER_ID`],
//! [`TAG_CLUSTER_ID`]), so the driver keeps no state of its own and a restarted controller sees
//! what it started. A start first looks for a live instance of the member and sends a
//! `ClientToken` derived from the member id, so a retried start never creates a second instance.
//! Elastic IPs, volumes and key pairs are handled here too; see docs/CLOUDS.md for every
//! property this driver reads.

pub mod api;
pub mod errors;
pub mod parse;
mod volumes;

use crate::error::{ErrorClass, IaasError};
use crate::registry::DriverContext;
use crate::types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, InstanceState, Properties,
    ProviderSpec, VolumeSpec, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use api::{Ec2Client, Idempotency, Params, RetryConfig};
use async_trait::async_trait;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest user data EC2 accepts, raw bytes before base64.
pub const MAX_USER_DATA_BYTES: usize = 16 * 1024;

/// What EC2 offers.
pub const CAPABILITIES: Capabilities = Capabilities {
    floating_ips: true,
    key_pairs: true,
    volumes: true,
    security_groups: true,
    max_payload_bytes: Some(MAX_USER_DATA_BYTES),
};

/// Tag on a volume: the cartridge's volume id.
pub const TAG_VOLUME_ID: &str = "altostratus:volume-id";
/// Tag on a volume: `true` when terminating the member deletes it.
pub const TAG_REMOVE_ON_TERMINATION: &str = "altostratus:remove-on-termination";

/// Device EC2 volumes attach as when the cartridge names none (Stratos' default).
pub const DEFAULT_DEVICE: &str = "/dev/sdh";

/// Where DescribeRegions goes when the provider names no region of its own.
const DEFAULT_HOME_REGION: &str = "us-east-1";

/// Instance states that count as "the member has an instance".
const LIVE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// Property names (see docs/CLOUDS.md).
pub mod props {
    pub const ENDPOINT: [&str; 2] = ["jclouds.endpoint", "endpoint"];
    pub const REGION: &str = "region";
    /// Extra regions `describe`/`terminate` look in (comma separated).
    pub const REGIONS: &str = "regions";
    pub const ZONE: [&str; 2] = ["availabilityZone", "zone"];
    pub const IMAGE_ID: &str = "imageId";
    pub const INSTANCE_TYPE: &str = "instanceType";
    pub const KEY_PAIR: &str = "keyPair";
    pub const PUBLIC_KEY: &str = "publicKey";
    pub const SECURITY_GROUPS: &str = "securityGroups";
    pub const SECURITY_GROUP_IDS: &str = "securityGroupIds";
    pub const SUBNET_ID: &str = "subnetId";
    pub const AUTO_ASSIGN_IP: &str = "autoAssignIp";
    pub const VOLUME_TYPE: &str = "volumeType";
    pub const RETRY_MAX: &str = "ec2.retry.max";
    pub const RETRY_MIN_DELAY_MS: &str = "ec2.retry.min.delay.ms";
    pub const RETRY_MAX_DELAY_MS: &str = "ec2.retry.max.delay.ms";
    pub const HTTP_TIMEOUT_SECS: &str = "ec2.http.timeout.secs";
    pub const WAIT_TIMEOUT_SECS: &str = "ec2.wait.timeout.secs";
    pub const POLL_INTERVAL_MS: &str = "ec2.poll.interval.ms";
}

/// The `aws-ec2` driver.
pub struct Ec2Iaas {
    provider_type: String,
    client: Ec2Client,
    /// Provider-level properties; a spec's properties override them.
    defaults: Properties,
    image_id: Option<String>,
    /// Regions we know of (configured, seen in partitions and starts): where describe and
    /// terminate look.
    regions: Mutex<BTreeSet<String>>,
    wait_timeout: Duration,
    poll_interval: Duration,
}

fn prop<'a>(properties: &'a Properties, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| properties.get(*n))
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn list_prop(properties: &Properties, name: &str) -> Vec<String> {
    prop(properties, &[name])
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn sha256_hex(input: &str) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The RunInstances `ClientToken` of a member: the same member id always gives the same token
/// (at most 64 ASCII characters, as EC2 requires).
pub fn client_token(member_id: &str) -> String {
    format!("alto-{}", &sha256_hex(member_id)[..48])
}

/// Split a Stratos image id `region/ami-id` into its region and image.
pub fn split_image_id(image_id: &str) -> (Option<&str>, &str) {
    match image_id.trim().split_once('/') {
        Some((region, image)) if !region.is_empty() => (Some(region), image),
        Some((_, image)) => (None, image),
        None => (None, image_id.trim()),
    }
}

impl Ec2Iaas {
    /// [`crate::DriverFactory`] for `aws-ec2`.
    pub fn factory(spec: &ProviderSpec, _ctx: &DriverContext) -> Result<Arc<dyn Iaas>, IaasError> {
        Ok(Arc::new(Ec2Iaas::new(spec)?))
    }

    pub fn new(spec: &ProviderSpec) -> Result<Ec2Iaas, IaasError> {
        let t = &spec.provider_type;
        let p = &spec.properties;
        let number = |name: &str, default: u64| -> Result<u64, IaasError> {
            match prop(p, &[name]) {
                None => Ok(default),
                Some(raw) => raw.parse().map_err(|_| {
                    IaasError::new(
                        t,
                        "read properties",
                        ErrorClass::InvalidRequest,
                        format!("property {name} must be a whole number, not {raw:?}"),
                    )
                }),
            }
        };
        if spec.identity.expose().is_empty() || spec.credential.expose().is_empty() {
            return Err(IaasError::new(
                t,
                "read properties",
                ErrorClass::Auth,
                "aws-ec2 needs identity (access key id) and credential (secret access key)",
            ));
        }
        let retry = RetryConfig {
            max_retries: number(props::RETRY_MAX, 4)? as usize,
            min_delay: Duration::from_millis(number(props::RETRY_MIN_DELAY_MS, 500)?),
            max_delay: Duration::from_millis(number(props::RETRY_MAX_DELAY_MS, 20_000)?),
        };
        let endpoint = prop(p, &props::ENDPOINT).map(str::to_string);
        if let Some(e) = &endpoint {
            if !(e.starts_with("https://") || e.starts_with("http://")) {
                return Err(IaasError::new(
                    t,
                    "read properties",
                    ErrorClass::InvalidRequest,
                    format!("endpoint {e:?} must start with https:// or http://"),
                ));
            }
        }
        let client = Ec2Client::new(
            t,
            spec.identity.clone(),
            spec.credential.clone(),
            endpoint,
            retry,
            Duration::from_secs(number(props::HTTP_TIMEOUT_SECS, 60)?),
        )?;
        let mut regions: BTreeSet<String> = list_prop(p, props::REGIONS).into_iter().collect();
        regions.extend(prop(p, &[props::REGION]).map(str::to_string));
        let image_id = spec
            .image_id
            .clone()
            .or_else(|| prop(p, &[props::IMAGE_ID]).map(str::to_string));
        if let Some((Some(region), _)) = image_id.as_deref().map(split_image_id) {
            regions.insert(region.to_string());
        }
        Ok(Ec2Iaas {
            provider_type: t.clone(),
            client,
            defaults: p.clone(),
            image_id,
            regions: Mutex::new(regions),
            wait_timeout: Duration::from_secs(number(props::WAIT_TIMEOUT_SECS, 300)?),
            poll_interval: Duration::from_millis(number(props::POLL_INTERVAL_MS, 2_000)?),
        })
    }

    /// The HTTP client (for tools and tests that need a raw call).
    pub fn client(&self) -> &Ec2Client {
        &self.client
    }

    fn error(
        &self,
        operation: &'static str,
        class: ErrorClass,
        message: impl Into<String>,
    ) -> IaasError {
        IaasError::new(&self.provider_type, operation, class, message)
    }

    fn merged(&self, overrides: &Properties) -> Properties {
        crate::props::merged(&self.defaults, overrides)
    }

    fn remember_region(&self, region: &str) {
        if let Ok(mut regions) = self.regions.lock() {
            regions.insert(region.to_string());
        }
    }

    fn known_regions(&self, operation: &'static str) -> Result<Vec<String>, IaasError> {
        let regions: Vec<String> = self
            .regions
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        if regions.is_empty() {
            return Err(self.error(
                operation,
                ErrorClass::InvalidRequest,
                "no region known: set property region (or regions), or use an imageId of the \
                 form region/ami-id",
            ));
        }
        Ok(regions)
    }

    /// Region and bare image id of a start.
    fn region_and_image(
        &self,
        spec: &InstanceSpec,
        properties: &Properties,
    ) -> Result<(String, String), IaasError> {
        let op = "start_instance";
        let image = spec
            .image_id
            .as_deref()
            .or(self.image_id.as_deref())
            .or_else(|| prop(properties, &[props::IMAGE_ID]))
            .ok_or_else(|| {
                self.error(
                    op,
                    ErrorClass::InvalidRequest,
                    "no imageId for this cartridge and provider (expected region/ami-id or ami-id)",
                )
            })?;
        let (image_region, ami) = split_image_id(image);
        let region = prop(properties, &[props::REGION]);
        let region =
            match (region, image_region) {
                (Some(r), Some(i)) if r != i => {
                    return Err(self.error(
                        op,
                        ErrorClass::InvalidRequest,
                        format!("region {r:?} does not match the region of imageId {image:?}"),
                    ))
                }
                (Some(r), _) => r,
                (None, Some(i)) => i,
                (None, None) => return Err(self.error(
                    op,
                    ErrorClass::InvalidRequest,
                    "no region: set property region or use an imageId of the form region/ami-id",
                )),
            };
        if ami.is_empty() {
            return Err(self.error(
                op,
                ErrorClass::InvalidRequest,
                format!("imageId {image:?} has no image part"),
            ));
        }
        Ok((region.to_string(), ami.to_string()))
    }

    async fn describe_in_region(
        &self,
        region: &str,
        params: Params,
    ) -> Result<Vec<Instance>, IaasError> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut page = params.clone();
            if let Some(t) = &token {
                page.set("NextToken", t.clone());
            }
            let root = self
                .client
                .call(region, "DescribeInstances", page.pairs(), Idempotency::Safe)
                .await?;
            found.extend(parse::instances(&root).into_iter().map(|mut i| {
                i.extra.insert("region".to_string(), region.to_string());
                i
            }));
            token = root.child_text("nextToken").map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// Our live instance of `member_id` in `region`, if any.
    async fn member_instance(
        &self,
        region: &str,
        member_id: &str,
    ) -> Result<Option<Instance>, IaasError> {
        let mut params = Params::new();
        params
            .filter(&format!("tag:{TAG_MANAGED_BY}"), &[MANAGED_BY_VALUE])
            .filter(&format!("tag:{TAG_MEMBER_ID}"), &[member_id])
            .filter("instance-state-name", &LIVE_STATES);
        Ok(self
            .describe_in_region(region, params)
            .await?
            .into_iter()
            .find(|i| i.member_id() == Some(member_id)))
    }

    /// One instance by id, `NotFound` when EC2 does not know it.
    async fn instance_by_id(&self, region: &str, instance_id: &str) -> Result<Instance, IaasError> {
        let mut params = Params::new();
        params.set("InstanceId.1", instance_id);
        self.describe_in_region(region, params)
            .await?
            .into_iter()
            .find(|i| i.instance_id == instance_id)
            .ok_or_else(|| {
                self.error(
                    "describe_instances",
                    ErrorClass::NotFound,
                    format!("instance {instance_id} not found in {region}"),
                )
                .with_code("InvalidInstanceID.NotFound")
            })
    }

    /// Poll until the instance runs (elastic IPs and volumes need that).
    async fn wait_running(&self, region: &str, instance: Instance) -> Result<Instance, IaasError> {
        let deadline = Instant::now() + self.wait_timeout;
        let mut current = instance;
        loop {
            match current.state {
                InstanceState::Running => return Ok(current),
                InstanceState::Pending | InstanceState::Unknown => {}
                other => {
                    return Err(self.error(
                        "start_instance",
                        ErrorClass::Transient,
                        format!(
                            "instance {} went {other:?} before it ran",
                            current.instance_id
                        ),
                    ))
                }
            }
            if Instant::now() >= deadline {
                return Err(self.error(
                    "start_instance",
                    ErrorClass::Transient,
                    format!(
                        "instance {} not running after {}s",
                        current.instance_id,
                        self.wait_timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(self.poll_interval).await;
            current = self.instance_by_id(region, &current.instance_id).await?;
        }
    }

    /// Import the key pair when a public key is configured; an existing pair of that name is
    /// fine (imports are idempotent by name).
    async fn ensure_key_pair(
        &self,
        region: &str,
        properties: &Properties,
    ) -> Result<(), IaasError> {
        let Some(public_key) = prop(properties, &[props::PUBLIC_KEY]) else {
            return Ok(());
        };
        let Some(name) = prop(properties, &[props::KEY_PAIR]) else {
            return Err(self.error(
                "start_instance",
                ErrorClass::InvalidRequest,
                "property publicKey needs property keyPair (the name to import it as)",
            ));
        };
        let mut params = Params::new();
        params.set("KeyName", name).set(
            "PublicKeyMaterial",
            base64::engine::general_purpose::STANDARD.encode(public_key.as_bytes()),
        );
        match self
            .client
            .call(region, "ImportKeyPair", params.pairs(), Idempotency::Safe)
            .await
        {
            Ok(_) => {
                tracing::info!(provider = %self.provider_type, region, key_pair = name, "imported key pair");
                Ok(())
            }
            Err(e) if e.code.as_deref() == Some("InvalidKeyPair.Duplicate") => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn run_params(
        &self,
        spec: &InstanceSpec,
        properties: &Properties,
        image: &str,
        tags: &BTreeMap<String, String>,
    ) -> Params {
        let mut params = Params::new();
        params
            .set("ImageId", image)
            .set("MinCount", "1")
            .set("MaxCount", "1")
            .set("ClientToken", client_token(&spec.member_id))
            .set(
                "UserData",
                base64::engine::general_purpose::STANDARD.encode(spec.payload.as_bytes()),
            );
        if let Some(v) = prop(properties, &[props::INSTANCE_TYPE]) {
            params.set("InstanceType", v);
        }
        if let Some(v) = prop(properties, &[props::KEY_PAIR]) {
            params.set("KeyName", v);
        }
        params.list(
            "SecurityGroup",
            &list_prop(properties, props::SECURITY_GROUPS),
        );
        params.list(
            "SecurityGroupId",
            &list_prop(properties, props::SECURITY_GROUP_IDS),
        );
        if let Some(v) = prop(properties, &[props::SUBNET_ID]) {
            params.set("SubnetId", v);
        }
        if let Some(v) = prop(properties, &props::ZONE) {
            params.set("Placement.AvailabilityZone", v);
        }
        params.tag_specification(1, "instance", tags);
        params
    }

    fn auto_assign_ip(&self, properties: &Properties) -> Result<bool, IaasError> {
        match prop(properties, &[props::AUTO_ASSIGN_IP]).map(str::to_ascii_lowercase) {
            None => Ok(true),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(self.error(
                "start_instance",
                ErrorClass::InvalidRequest,
                format!("property autoAssignIp must be true or false, not {v:?}"),
            )),
        }
    }

    /// Associate an elastic IP: one already on the instance (a retried start), else an
    /// unassociated one carrying our managed-by tag (one a failed release left behind), else a
    /// new one (tagged as ours, so terminate releases it). An address of the account without
    /// our tag is someone else's — another system may be about to associate it — and is never
    /// taken. Returns the public IP.
    async fn ensure_elastic_ip(
        &self,
        region: &str,
        instance: &Instance,
        member_id: &str,
    ) -> Result<String, IaasError> {
        let root = self
            .client
            .call(region, "DescribeAddresses", &[], Idempotency::Safe)
            .await?;
        let addresses = parse::addresses(&root);
        if let Some(a) = addresses
            .iter()
            .find(|a| a.instance_id.as_deref() == Some(instance.instance_id.as_str()))
        {
            return Ok(a.public_ip.clone());
        }
        let free = addresses.into_iter().find(|a| {
            a.association_id.is_none()
                && a.instance_id.is_none()
                && a.tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
        });
        let (address, allocated) = match free {
            Some(a) => (a, false),
            None => {
                let mut tags = BTreeMap::new();
                tags.insert(TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
                tags.insert(TAG_MEMBER_ID.to_string(), member_id.to_string());
                let mut params = Params::new();
                params
                    .set("Domain", "vpc")
                    .tag_specification(1, "elastic-ip", &tags);
                let root = self
                    .client
                    .call(region, "AllocateAddress", params.pairs(), Idempotency::Once)
                    .await?;
                let address = parse::Address {
                    public_ip: root.child_text("publicIp").unwrap_or_default().to_string(),
                    allocation_id: root.child_text("allocationId").map(str::to_string),
                    association_id: None,
                    instance_id: None,
                    tags,
                };
                if address.public_ip.is_empty() {
                    return Err(self.error(
                        "start_instance",
                        ErrorClass::Transient,
                        "AllocateAddress answered without a publicIp",
                    ));
                }
                (address, true)
            }
        };
        let mut params = Params::new();
        params.set("InstanceId", instance.instance_id.as_str());
        match &address.allocation_id {
            Some(id) => params.set("AllocationId", id.as_str()),
            None => params.set("PublicIp", address.public_ip.as_str()),
        };
        if let Err(e) = self
            .client
            .call(
                region,
                "AssociateAddress",
                params.pairs(),
                Idempotency::Safe,
            )
            .await
        {
            if allocated {
                self.release_address(region, &address).await.ok();
            }
            return Err(e);
        }
        tracing::info!(provider = %self.provider_type, instance = %instance.instance_id, ip = %address.public_ip, reused = !allocated, "associated elastic IP");
        Ok(address.public_ip)
    }

    async fn release_address(
        &self,
        region: &str,
        address: &parse::Address,
    ) -> Result<(), IaasError> {
        let mut params = Params::new();
        match &address.allocation_id {
            Some(id) => params.set("AllocationId", id.as_str()),
            None => params.set("PublicIp", address.public_ip.as_str()),
        };
        match self
            .client
            .call(region, "ReleaseAddress", params.pairs(), Idempotency::Safe)
            .await
        {
            Err(e) if e.class != ErrorClass::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Elastic IP, volumes: what a start does after RunInstances. Idempotent.
    async fn finish_start(
        &self,
        region: &str,
        instance: Instance,
        spec: &InstanceSpec,
        properties: &Properties,
    ) -> Result<Instance, IaasError> {
        let elastic_ip = !self.auto_assign_ip(properties)?;
        if !elastic_ip && spec.volumes.is_empty() {
            return Ok(instance);
        }
        let mut instance = self.wait_running(region, instance).await?;
        if elastic_ip {
            let ip = self
                .ensure_elastic_ip(region, &instance, &spec.member_id)
                .await?;
            instance.public_ips = vec![ip];
        }
        if !spec.volumes.is_empty() {
            self.ensure_volumes(region, &instance, spec, properties)
                .await?;
        }
        Ok(instance)
    }

    /// Find which known region holds `instance_id`.
    async fn locate(&self, instance_id: &str) -> Result<(String, Instance), IaasError> {
        let mut last = None;
        for region in self.known_regions("terminate_instance")? {
            match self.instance_by_id(&region, instance_id).await {
                Ok(instance) => return Ok((region, instance)),
                Err(e) if e.class == ErrorClass::NotFound => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            self.error(
                "terminate_instance",
                ErrorClass::NotFound,
                format!("instance {instance_id} not found"),
            )
        }))
    }
}

#[async_trait]
impl Iaas for Ec2Iaas {
    fn provider_type(&self) -> &str {
        &self.provider_type
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn validate_partition(
        &self,
        partition_id: &str,
        properties: &Properties,
    ) -> Result<(), IaasError> {
        let op = "validate_partition";
        let merged = self.merged(properties);
        let image_region = self
            .image_id
            .as_deref()
            .and_then(|i| split_image_id(i).0)
            .map(str::to_string);
        let region = prop(&merged, &[props::REGION])
            .map(str::to_string)
            .or(image_region)
            .ok_or_else(|| {
                self.error(
                    op,
                    ErrorClass::InvalidRequest,
                    format!("partition {partition_id}: no region property"),
                )
            })?;
        // Any region lists all regions; ask one known to exist (the provider's own), not the
        // one in question: a region that does not exist has no endpoint to answer.
        let home = prop(&self.defaults, &[props::REGION])
            .map(str::to_string)
            .or_else(|| {
                self.image_id
                    .as_deref()
                    .and_then(|i| split_image_id(i).0)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| DEFAULT_HOME_REGION.to_string());
        let root = self
            .client
            .call(&home, "DescribeRegions", &[], Idempotency::Safe)
            .await?;
        let regions = parse::names(&root, "regionInfo", "regionName");
        if !regions.iter().any(|r| r == &region) {
            return Err(self.error(
                op,
                ErrorClass::InvalidRequest,
                format!(
                    "partition {partition_id}: region {region:?} does not exist; known regions: {}",
                    regions.join(", ")
                ),
            ));
        }
        self.remember_region(&region);
        if let Some(zone) = prop(&merged, &props::ZONE) {
            let root = self
                .client
                .call(&region, "DescribeAvailabilityZones", &[], Idempotency::Safe)
                .await?;
            let zones = parse::names(&root, "availabilityZoneInfo", "zoneName");
            if !zones.iter().any(|z| z == zone) {
                return Err(self.error(
                    op,
                    ErrorClass::InvalidRequest,
                    format!(
                        "partition {partition_id}: zone {zone:?} is not in region {region}; zones there: {}",
                        zones.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError> {
        let op = "start_instance";
        if spec.payload.len() > MAX_USER_DATA_BYTES {
            return Err(self.error(
                op,
                ErrorClass::InvalidRequest,
                format!(
                    "member {}: the payload is {} bytes, EC2 accepts at most {MAX_USER_DATA_BYTES} \
                     bytes of user data",
                    spec.member_id,
                    spec.payload.len()
                ),
            ));
        }
        let properties = self.merged(&spec.properties);
        let (region, image) = self.region_and_image(spec, &properties)?;
        self.remember_region(&region);
        // A retried start (or one after a controller restart) finds the member's instance.
        if let Some(existing) = self.member_instance(&region, &spec.member_id).await? {
            tracing::info!(provider = %self.provider_type, member = %spec.member_id, instance = %existing.instance_id, "member already has an instance");
            return self
                .finish_start(&region, existing, spec, &properties)
                .await;
        }
        self.ensure_key_pair(&region, &properties).await?;
        let mut tags = spec.tags.clone();
        tags.insert(TAG_MEMBER_ID.to_string(), spec.member_id.clone());
        tags.insert(TAG_CLUSTER_ID.to_string(), spec.cluster_id.clone());
        tags.insert(TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
        let params = self.run_params(spec, &properties, &image, &tags);
        let root = self
            .client
            .call(&region, "RunInstances", params.pairs(), Idempotency::Safe)
            .await?;
        let mut instance = parse::instances(&root).into_iter().next().ok_or_else(|| {
            self.error(
                op,
                ErrorClass::Transient,
                "RunInstances answered without an instance",
            )
        })?;
        instance.extra.insert("region".to_string(), region.clone());
        if instance.tags.is_empty() {
            instance.tags = tags;
        }
        tracing::info!(provider = %self.provider_type, member = %spec.member_id, instance = %instance.instance_id, region, "started instance");
        let instance_id = instance.instance_id.clone();
        match self
            .finish_start(&region, instance, spec, &properties)
            .await
        {
            Ok(instance) => Ok(instance),
            Err(e) => {
                // Do not leave a half-set-up instance running (and costing money).
                tracing::warn!(provider = %self.provider_type, member = %spec.member_id, instance = %instance_id, error = %e, "start failed after RunInstances; terminating");
                if let Err(cleanup) = self.terminate_instance(&instance_id).await {
                    tracing::warn!(instance = %instance_id, error = %cleanup, "cleanup after failed start failed");
                }
                Err(e)
            }
        }
    }

    async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, IaasError> {
        let mut found = Vec::new();
        for region in self.known_regions("describe_instances")? {
            let mut params = Params::new();
            params.filter(&format!("tag:{TAG_MANAGED_BY}"), &[MANAGED_BY_VALUE]);
            if let Some(cluster) = &filter.cluster_id {
                params.filter(&format!("tag:{TAG_CLUSTER_ID}"), &[cluster]);
            }
            if let Some(member) = &filter.member_id {
                params.filter(&format!("tag:{TAG_MEMBER_ID}"), &[member]);
            }
            params.filter("instance-state-name", &LIVE_STATES);
            found.extend(
                self.describe_in_region(&region, params)
                    .await?
                    .into_iter()
                    .filter(|i| filter.matches(&i.tags) && i.state != InstanceState::Terminated),
            );
        }
        Ok(found)
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError> {
        let op = "terminate_instance";
        let (region, instance) = self.locate(instance_id).await?;
        if instance.tags.get(TAG_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
            return Err(self.error(
                op,
                ErrorClass::InvalidRequest,
                format!("instance {instance_id} does not carry {TAG_MANAGED_BY}={MANAGED_BY_VALUE}: not ours to terminate"),
            ));
        }
        let member_id = instance.member_id().map(str::to_string);
        // Elastic IPs on the instance: disassociate; release the ones we allocated.
        let mut params = Params::new();
        params.filter("instance-id", &[instance_id]);
        let root = self
            .client
            .call(
                &region,
                "DescribeAddresses",
                params.pairs(),
                Idempotency::Safe,
            )
            .await?;
        let addresses: Vec<parse::Address> = parse::addresses(&root)
            .into_iter()
            .filter(|a| a.instance_id.as_deref() == Some(instance_id))
            .collect();
        for address in &addresses {
            let mut params = Params::new();
            match &address.association_id {
                Some(id) => params.set("AssociationId", id.as_str()),
                None => params.set("PublicIp", address.public_ip.as_str()),
            };
            match self
                .client
                .call(
                    &region,
                    "DisassociateAddress",
                    params.pairs(),
                    Idempotency::Safe,
                )
                .await
            {
                Err(e) if e.class != ErrorClass::NotFound => return Err(e),
                _ => {}
            }
        }
        let volumes = self
            .cleanup_volumes_before(&region, instance_id, member_id.as_deref())
            .await?;
        let already_gone = instance.state == InstanceState::Terminated;
        if !already_gone {
            let mut params = Params::new();
            params.set("InstanceId.1", instance_id);
            self.client
                .call(
                    &region,
                    "TerminateInstances",
                    params.pairs(),
                    Idempotency::Safe,
                )
                .await?;
            tracing::info!(provider = %self.provider_type, instance = instance_id, region, "terminated instance");
        }
        for address in addresses
            .iter()
            .filter(|a| a.tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE))
        {
            self.release_address(&region, address).await?;
        }
        for volume in &volumes {
            self.wait_volume_available(&region, &volume.volume_id)
                .await?;
            let mut params = Params::new();
            params.set("VolumeId", volume.volume_id.as_str());
            match self
                .client
                .call(&region, "DeleteVolume", params.pairs(), Idempotency::Safe)
                .await
            {
                Err(e) if e.class != ErrorClass::NotFound => return Err(e),
                _ => {}
            }
        }
        if already_gone {
            return Err(self
                .error(
                    op,
                    ErrorClass::NotFound,
                    format!("instance {instance_id} is already terminated"),
                )
                .with_code("InvalidInstanceID.NotFound"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
