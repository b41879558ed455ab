//! The `cloudstack` provider: Apache CloudStack's signed query API.
//!
//! identity = API key, credential = secret key. Properties (iaasProvider, cartridge or
//! partition; names follow Stratos 4.1's `CloudStackIaas` where it had one):
//!
//! | property | default | meaning |
//! | --- | --- | --- |
//! | `endpoint` / `jclouds.endpoint` | required | API URL, e.g. `https://cs.example.com/client/api` (a bare host gets `/client/api`) |
//! | `availabilityZone` / `zoneId` | required | zone id (`zoneid`) |
//! | `instanceType` / `serviceOfferingId` | required to start | service offering id |
//! | imageId / `templateId` | required to start | template id (`imageId` of the cartridge or provider) |
//! | `keyPair` | - | SSH key pair name (`keypair`) |
//! | `securityGroupIds` | - | comma list (`securitygroupids`) |
//! | `securityGroups` | - | comma list of names (`securitygroupnames`) |
//! | `networkIds` | - | comma list (`networkids`) |
//! | `diskOffering` | - | data disk offering id (`diskofferingid`) |
//! | `username`, `domainId` | - | deploy for this account in this domain (`account`, `domainid`) |
//! | `blockUntilRunning` | `true` | wait for the deploy job before returning |
//! | `cloudstack.expunge` | `true` | destroy with `expunge=true` (users need `allow.user.expunge.recover.vm`) |
//! | `cloudstack.job.poll.ms` | `1000` | first delay between `queryAsyncJobResult` polls (doubles, max 10 s) |
//! | `cloudstack.job.timeout.secs` | `600` | give up waiting for an async job |
//! | `cloudstack.userdata.max.bytes` | `2048` | largest base64 user data sent (GET limit of older clouds; 4096 since 4.18) |
//! | `cloudstack.http.timeout.secs` | `60` | per request |
//! | `cloudstack.retry.min.ms` | `500` | first backoff delay of retried lists/deletes (3 tries) |
//!
//! No floating IPs (`associateIpAddress` is not used: basic zones give public addresses and
//! advanced zones use static NAT set up outside Altostratus) and no volumes (use `diskOffering`
//! for a data disk created with the VM).
//!
//! ## Finding a VM again
//!
//! CloudStack cannot tag a VM in the deploy call, and has no idempotency token. So the member id
//! travels in `deployVirtualMachine` itself: `displayname` = the member id and `name` (the
//! host name) = [`vm_name`] of it (`alto-` + 16 hex digits of its SHA-256). A VM whose name is
//! the `vm_name` of its display name is ours from the moment CloudStack knows it. Then
//! `createTags` adds our tags (marker, member, cluster and the spec's others) and the deploy job
//! is awaited.
//!
//! - `describe_instances` lists VMs by our tags (`tags[n].key/value`), and also (without a
//!   cluster filter) the VMs named as ours that carry no marker tag yet (`name=vm_name(member)`
//!   for a member filter, else `keyword=alto-`), their tags filled in from the display name
//!   (`altostratus:managed-by`, `altostratus:member-id`): the controller sees them as it sees
//!   tagged ones.
//! - `start_instance` first looks for a VM of the member (by tag, then by name), ignoring
//!   destroyed/expunging ones. If one exists (a retried start, or one after a controller
//!   restart) it is returned instead of deploying another: tagged first if the earlier start did
//!   not get to it, and, with `blockUntilRunning`, polled (`listVirtualMachines id=`) while it
//!   is starting, within `cloudstack.job.timeout.secs`. A VM in `Error` is destroyed and the
//!   start fails, as does a fresh deploy whose job fails.
//!
//! What remains:
//! - An untagged VM's cluster is not known (the display name carries only the member id): a
//!   describe filtered by cluster does not return it until a retried start has tagged it;
//!   filtered by member, or unfiltered, it does. Its other spec tags are missing until then.
//! - Recognition of an untagged VM relies on its display name: renamed (`updateVirtualMachine
//!   displayname=`) before it was tagged, it is no longer recognised. Once tagged, tags decide.
//! - Two starts of one member racing each other (not one after the other) can both miss and both
//!   deploy; CloudStack refuses the second only where it enforces unique host names in the
//!   network.
//! - With `cloudstack.expunge=false` a destroyed VM keeps its host name until CloudStack
//!   expunges it; a new start of the same member may be refused for that name meanwhile.
//! - The display name is limited by CloudStack (255 characters in its database); longer member
//!   ids cannot be carried.
//! - VMs deployed before names were sent (older versions of this driver) are found by tag only.

pub mod api;
pub mod errors;
pub mod parse;

use crate::error::{ErrorClass, IaasError};
use crate::props::{flag, number, prop};
use crate::registry::DriverContext;
use crate::types::{
    Capabilities, Iaas, Instance, InstanceFilter, InstanceSpec, InstanceState, Properties,
    ProviderSpec, MANAGED_BY_VALUE, TAG_CLUSTER_ID, TAG_MANAGED_BY, TAG_MEMBER_ID,
};
use api::{id_string, CloudStackApi};
use async_trait::async_trait;
use base64::Engine;
use errors::CallKind;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows of a page of `listVirtualMachines`.
const PAGE_SIZE: usize = 500;

/// The prefix of [`vm_name`]: what `describe_instances` looks for among untagged VMs.
const VM_NAME_PREFIX: &str = "alto-";

/// The host name (`name`) of a member's VM: `alto-` + the first 16 hex digits of SHA-256(member
/// id). It satisfies CloudStack's host name rules (at most 63 letters, digits and hyphens,
/// starting with a letter) whatever the member id is, and ties the VM to the member id sent as
/// its `displayname`: a VM whose name is the `vm_name` of its display name is ours.
pub fn vm_name(member_id: &str) -> String {
    let digest = Sha256::digest(member_id.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{VM_NAME_PREFIX}{hex}")
}

/// One of our VMs as listed, and whether it carries our tags in the cloud (or was recognised by
/// its name and display name, its tags filled in here).
struct Found {
    instance: Instance,
    tagged: bool,
}

/// A listed VM that carries no marker tag but is named as ours: its tags completed from its
/// display name (the member id); `None` when it is not ours.
fn recognised(mut vm: Instance) -> Option<Instance> {
    if vm.tags.contains_key(TAG_MANAGED_BY) {
        return None;
    }
    let member = vm.extra.get("display_name")?.clone();
    if member.is_empty() || vm.extra.get("name") != Some(&vm_name(&member)) {
        return None;
    }
    vm.tags
        .insert(TAG_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
    vm.tags.insert(TAG_MEMBER_ID.to_string(), member);
    Some(vm)
}

/// Rank of a VM among several of one member: the one furthest along wins.
fn progress(state: InstanceState) -> u8 {
    match state {
        InstanceState::Running => 0,
        InstanceState::Pending => 1,
        InstanceState::Stopping | InstanceState::Stopped => 2,
        InstanceState::Unknown => 3,
        InstanceState::Terminated => 4,
    }
}

/// The CloudStack driver.
pub struct CloudStackIaas {
    provider_type: String,
    defaults: Properties,
    image_id: Option<String>,
    api: CloudStackApi,
    max_userdata_base64: usize,
}

fn pair(k: impl Into<String>, v: impl Into<String>) -> (String, String) {
    (k.into(), v.into())
}

impl CloudStackIaas {
    pub fn new(spec: &ProviderSpec) -> Result<Self, IaasError> {
        let props = &spec.properties;
        let endpoint =
            prop(props, &["endpoint", "jclouds.endpoint", "api.endpoint"]).ok_or_else(|| {
                IaasError::new(
                    &spec.provider_type,
                    "initialize",
                    ErrorClass::InvalidRequest,
                    "property `endpoint` (the CloudStack API URL) is required",
                )
            })?;
        let endpoint = if endpoint.trim_end_matches('/').ends_with("/api") {
            endpoint.trim_end_matches('/').to_string()
        } else {
            format!("{}/client/api", endpoint.trim_end_matches('/'))
        };
        let mut api = CloudStackApi::new(
            &spec.provider_type,
            &endpoint,
            spec.identity.clone(),
            spec.credential.clone(),
            Duration::from_secs(number(props, "cloudstack.http.timeout.secs", 60)),
        )?;
        api.polling.first_delay =
            Duration::from_millis(number(props, "cloudstack.job.poll.ms", 1000));
        api.polling.timeout =
            Duration::from_secs(number(props, "cloudstack.job.timeout.secs", 600));
        api.retry.min_delay = Duration::from_millis(number(props, "cloudstack.retry.min.ms", 500));
        Ok(CloudStackIaas {
            provider_type: spec.provider_type.clone(),
            defaults: props.clone(),
            image_id: spec.image_id.clone(),
            api,
            max_userdata_base64: number(props, "cloudstack.userdata.max.bytes", 2048) as usize,
        })
    }

    pub fn factory(spec: &ProviderSpec, _ctx: &DriverContext) -> Result<Arc<dyn Iaas>, IaasError> {
        Ok(Arc::new(CloudStackIaas::new(spec)?))
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

    /// Largest payload (before base64) that fits the user data limit.
    fn max_payload(&self) -> usize {
        self.max_userdata_base64 / 4 * 3
    }

    /// Check that `id` is among the ids a list call returns (the filter is also sent, but the
    /// answer is checked, not trusted).
    async fn check_exists(
        &self,
        command: &str,
        field: &str,
        what: &str,
        id: &str,
        mut params: Vec<(String, String)>,
    ) -> Result<(), IaasError> {
        params.push(pair("id", id));
        let response = self
            .api
            .call_retrying("validate_partition", CallKind::Read, command, &params)
            .await?;
        if parse::listed_ids(&response, field).iter().any(|i| i == id) {
            Ok(())
        } else {
            Err(self.error(
                "validate_partition",
                ErrorClass::InvalidRequest,
                format!("{what} {id:?} does not exist"),
            ))
        }
    }

    /// Every VM `listVirtualMachines` returns with `filter` (`listall`, paged).
    async fn list_vms(
        &self,
        operation: &'static str,
        filter: &[(String, String)],
    ) -> Result<Vec<Instance>, IaasError> {
        let mut base = vec![
            pair("listall", "true"),
            pair("pagesize", PAGE_SIZE.to_string()),
        ];
        base.extend(filter.iter().cloned());
        let mut found = Vec::new();
        for page in 1.. {
            let mut params = base.clone();
            params.push(pair("page", page.to_string()));
            let response = self
                .api
                .call_retrying(operation, CallKind::Read, "listVirtualMachines", &params)
                .await?;
            let rows = response
                .get("virtualmachine")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            found.extend(parse::virtual_machines(&response));
            if rows < PAGE_SIZE || page >= 100 {
                break;
            }
        }
        Ok(found)
    }

    /// Our VMs matching `filter`: those carrying our tags, and those a start deployed but did
    /// not get to tag (named [`vm_name`] of their display name), their tags completed here. An
    /// untagged VM's cluster is not known, so a filter by cluster finds tagged VMs only.
    async fn list_ours(
        &self,
        operation: &'static str,
        filter: &InstanceFilter,
    ) -> Result<Vec<Found>, IaasError> {
        let mut tags = vec![(TAG_MANAGED_BY, MANAGED_BY_VALUE)];
        if let Some(c) = &filter.cluster_id {
            tags.push((TAG_CLUSTER_ID, c));
        }
        if let Some(m) = &filter.member_id {
            tags.push((TAG_MEMBER_ID, m));
        }
        let by_tag: Vec<(String, String)> = tags
            .iter()
            .enumerate()
            .flat_map(|(i, (k, v))| {
                [
                    pair(format!("tags[{i}].key"), *k),
                    pair(format!("tags[{i}].value"), *v),
                ]
            })
            .collect();
        let mut found: Vec<Found> = self
            .list_vms(operation, &by_tag)
            .await?
            .into_iter()
            // The tag filter runs in the cloud; check it here too, so nothing untagged is ever
            // taken for ours.
            .filter(|vm| filter.matches(&vm.tags))
            .map(|instance| Found {
                instance,
                tagged: true,
            })
            .collect();
        if filter.cluster_id.is_none() {
            // `name` and `keyword` are substring matches; `recognised` checks exactly.
            let by_name = match &filter.member_id {
                Some(m) => pair("name", vm_name(m)),
                None => pair("keyword", VM_NAME_PREFIX),
            };
            for vm in self.list_vms(operation, &[by_name]).await? {
                if found
                    .iter()
                    .any(|f| f.instance.instance_id == vm.instance_id)
                {
                    continue;
                }
                if let Some(instance) = recognised(vm).filter(|i| filter.matches(&i.tags)) {
                    found.push(Found {
                        instance,
                        tagged: false,
                    });
                }
            }
        }
        Ok(found)
    }

    /// Set `tags` on VM `id` and wait for the tagging job.
    async fn tag(
        &self,
        id: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), IaasError> {
        const OP: &str = "start_instance";
        let mut params = vec![pair("resourceids", id), pair("resourcetype", "UserVm")];
        for (i, (k, v)) in tags.iter().enumerate() {
            params.push(pair(format!("tags[{i}].key"), k.as_str()));
            params.push(pair(format!("tags[{i}].value"), v.as_str()));
        }
        let r = self
            .api
            .call(OP, CallKind::Create, "createTags", &params)
            .await?;
        if let Some(job) = r.get("jobid").and_then(id_string) {
            self.api.wait_job(OP, CallKind::Create, &job).await?;
        }
        Ok(())
    }

    /// Poll VM `id` (a deploy whose job id was lost with the controller that started it) while
    /// it is starting, within the job timeout. A VM in `Error` fails the start; one still
    /// starting at the timeout is returned as pending.
    async fn wait_vm(&self, vm: Instance) -> Result<Instance, IaasError> {
        const OP: &str = "start_instance";
        let started = Instant::now();
        let mut delay = self.api.polling.first_delay;
        let mut current = vm;
        loop {
            match current.state {
                InstanceState::Pending => {}
                InstanceState::Unknown
                    if current
                        .extra
                        .get("state")
                        .is_some_and(|s| s.eq_ignore_ascii_case("error")) =>
                {
                    return Err(self
                        .error(
                            OP,
                            ErrorClass::Transient,
                            format!(
                                "VM {} went to Error while it was deployed",
                                current.instance_id
                            ),
                        )
                        .with_code("Error"));
                }
                _ => return Ok(current),
            }
            if started.elapsed() + delay > self.api.polling.timeout {
                tracing::warn!(provider = %self.provider_type, instance = %current.instance_id, "VM still starting; returning it as pending");
                return Ok(current);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.api.polling.max_delay);
            let listed = self
                .list_vms(OP, &[pair("id", current.instance_id.as_str())])
                .await?;
            match listed
                .into_iter()
                .find(|v| v.instance_id == current.instance_id)
            {
                Some(vm) => {
                    let tags = current.tags.clone();
                    current = vm;
                    for (k, v) in tags {
                        current.tags.entry(k).or_insert(v);
                    }
                }
                None => {
                    return Err(self.error(
                        OP,
                        ErrorClass::Transient,
                        format!(
                            "VM {} disappeared while it was deployed",
                            current.instance_id
                        ),
                    ))
                }
            }
        }
    }

    /// Finish a start that found the member's VM already deployed (a retried start, or one
    /// after a controller restart): tag it if the first attempt did not get to, wait while it
    /// is starting. On failure the VM is destroyed, as for a fresh deploy.
    async fn adopt(
        &self,
        found: Found,
        spec: &InstanceSpec,
        props: &Properties,
    ) -> Result<Instance, IaasError> {
        let Found {
            mut instance,
            tagged,
        } = found;
        let id = instance.instance_id.clone();
        let expunge = flag(props, "cloudstack.expunge", true);
        tracing::info!(provider = %self.provider_type, member = %spec.member_id, instance = %id, tagged, "member already has a VM");
        let finish = async {
            if !tagged {
                self.tag(&id, &spec.tags).await?;
            }
            for (k, v) in &spec.tags {
                instance.tags.entry(k.clone()).or_insert_with(|| v.clone());
            }
            if flag(props, "blockUntilRunning", true) {
                instance = self.wait_vm(instance).await?;
            }
            Ok::<Instance, IaasError>(instance)
        };
        match finish.await {
            Ok(instance) => Ok(instance),
            Err(e) => {
                self.discard(&id, expunge).await;
                Err(e)
            }
        }
    }

    async fn destroy(
        &self,
        operation: &'static str,
        id: &str,
        expunge: bool,
    ) -> Result<(), IaasError> {
        let mut params = vec![pair("id", id)];
        if expunge {
            params.push(pair("expunge", "true"));
        }
        let response = self
            .api
            .call_retrying(
                operation,
                CallKind::Delete,
                "destroyVirtualMachine",
                &params,
            )
            .await?;
        if let Some(job) = response.get("jobid").and_then(id_string) {
            self.api.wait_job(operation, CallKind::Delete, &job).await?;
        }
        Ok(())
    }

    /// Best-effort cleanup of a VM we could not finish starting.
    async fn discard(&self, id: &str, expunge: bool) {
        if let Err(e) = self.destroy("start_instance", id, expunge).await {
            tracing::warn!(provider = %self.provider_type, instance = id, error = %e,
                "could not destroy a half-started VM");
        }
    }
}

#[async_trait]
impl Iaas for CloudStackIaas {
    fn provider_type(&self) -> &str {
        &self.provider_type
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            floating_ips: false,
            key_pairs: true,
            volumes: false,
            security_groups: true,
            max_payload_bytes: Some(self.max_payload()),
        }
    }

    async fn validate_partition(
        &self,
        partition_id: &str,
        properties: &Properties,
    ) -> Result<(), IaasError> {
        let props = self.merged(properties);
        let zone = prop(&props, &["availabilityZone", "zoneId", "zone"]).ok_or_else(|| {
            self.error(
                "validate_partition",
                ErrorClass::InvalidRequest,
                format!(
                    "partition {partition_id}: property `availabilityZone` (zone id) is required"
                ),
            )
        })?;
        self.check_exists("listZones", "zone", "zone", zone, vec![])
            .await?;
        if let Some(offering) = prop(&props, &["instanceType", "serviceOfferingId"]) {
            self.check_exists(
                "listServiceOfferings",
                "serviceoffering",
                "service offering",
                offering,
                vec![],
            )
            .await?;
        }
        if let Some(template) = prop(&props, &["templateId"]).or(self.image_id.as_deref()) {
            self.check_exists(
                "listTemplates",
                "template",
                "template",
                template,
                vec![pair("templatefilter", "executable"), pair("zoneid", zone)],
            )
            .await?;
        }
        Ok(())
    }

    async fn start_instance(&self, spec: &InstanceSpec) -> Result<Instance, IaasError> {
        const OP: &str = "start_instance";
        let props = self.merged(&spec.properties);
        let missing = |name: &str| {
            self.error(
                OP,
                ErrorClass::InvalidRequest,
                format!("property `{name}` is required"),
            )
        };
        let zone = prop(&props, &["availabilityZone", "zoneId", "zone"])
            .ok_or_else(|| missing("availabilityZone"))?;
        let offering = prop(&props, &["instanceType", "serviceOfferingId"])
            .ok_or_else(|| missing("instanceType"))?;
        let template = spec
            .image_id
            .as_deref()
            .or(prop(&props, &["templateId"]))
            .or(self.image_id.as_deref())
            .ok_or_else(|| missing("imageId"))?;
        let userdata = base64::engine::general_purpose::STANDARD.encode(spec.payload.as_bytes());
        if userdata.len() > self.max_userdata_base64 {
            return Err(self.error(
                OP,
                ErrorClass::InvalidRequest,
                format!(
                    "payload is {} bytes ({} in base64); this cloud takes at most {} base64 bytes (cloudstack.userdata.max.bytes)",
                    spec.payload.len(),
                    userdata.len(),
                    self.max_userdata_base64
                ),
            ));
        }
        // A retried start (or one after a controller restart) finishes the member's VM.
        let existing = self
            .list_ours(
                OP,
                &InstanceFilter {
                    cluster_id: None,
                    member_id: Some(spec.member_id.clone()),
                },
            )
            .await?
            .into_iter()
            .filter(|f| f.instance.state != InstanceState::Terminated)
            .min_by_key(|f| progress(f.instance.state));
        if let Some(found) = existing {
            return self.adopt(found, spec, &props).await;
        }
        let mut params = vec![
            pair("zoneid", zone),
            pair("serviceofferingid", offering),
            pair("templateid", template),
            pair("userdata", userdata),
            // The member id travels with the deploy itself, so the VM is ours from the moment
            // CloudStack knows it, before createTags.
            pair("name", vm_name(&spec.member_id)),
            pair("displayname", spec.member_id.as_str()),
        ];
        for (property, param) in [
            ("keyPair", "keypair"),
            ("securityGroupIds", "securitygroupids"),
            ("securityGroups", "securitygroupnames"),
            ("networkIds", "networkids"),
            ("diskOffering", "diskofferingid"),
            ("username", "account"),
            ("domainId", "domainid"),
        ] {
            if let Some(v) = prop(&props, &[property]) {
                params.push(pair(param, v));
            }
        }
        let response = self
            .api
            .call(OP, CallKind::Create, "deployVirtualMachine", &params)
            .await?;
        let id = response.get("id").and_then(id_string).ok_or_else(|| {
            self.error(
                OP,
                ErrorClass::Transient,
                "deployVirtualMachine returned no VM id",
            )
        })?;
        let job = response.get("jobid").and_then(id_string);
        let expunge = flag(&props, "cloudstack.expunge", true);

        // Tag before waiting. describe_instances finds the VM by its name and display name
        // already; the tags add the cluster and the spec's other tags.
        if let Err(e) = self.tag(&id, &spec.tags).await {
            self.discard(&id, expunge).await;
            return Err(e);
        }

        let mut instance = Instance {
            instance_id: id.clone(),
            state: InstanceState::Pending,
            private_ips: vec![],
            public_ips: vec![],
            tags: spec.tags.clone(),
            extra: Default::default(),
        };
        if let (Some(job), true) = (job, flag(&props, "blockUntilRunning", true)) {
            match self.api.wait_job(OP, CallKind::Create, &job).await {
                Ok(result) => {
                    if let Some(vm) = result
                        .get("virtualmachine")
                        .and_then(parse::virtual_machine)
                    {
                        let mut tags = spec.tags.clone();
                        tags.extend(vm.tags.clone());
                        instance = Instance { tags, ..vm };
                    }
                }
                Err(e)
                    if e.class == ErrorClass::Transient && e.message.contains("still running") =>
                {
                    // Not failed, only slow: the VM is tagged, describe_instances will see it.
                    tracing::warn!(provider = %self.provider_type, instance = %id, "deploy job still running; returning the VM as pending");
                }
                Err(e) => {
                    self.discard(&id, expunge).await;
                    return Err(e);
                }
            }
        }
        Ok(instance)
    }

    async fn describe_instances(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, IaasError> {
        Ok(self
            .list_ours("describe_instances", filter)
            .await?
            .into_iter()
            .map(|f| f.instance)
            .collect())
    }

    async fn terminate_instance(&self, instance_id: &str) -> Result<(), IaasError> {
        self.destroy(
            "terminate_instance",
            instance_id,
            flag(&self.defaults, "cloudstack.expunge", true),
        )
        .await
    }
}
