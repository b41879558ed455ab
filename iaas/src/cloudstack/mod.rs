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
use std::sync::Arc;
use std::time::Duration;

/// Rows of a page of `listVirtualMachines`.
const PAGE_SIZE: usize = 500;

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

    /// Best-effort cleanup of a VM we could not finish starting (an untagged VM would leak).
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
        let mut params = vec![
            pair("zoneid", zone),
            pair("serviceofferingid", offering),
            pair("templateid", template),
            pair("userdata", userdata),
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

        // Tag before waiting: from now on describe_instances finds the VM even if we stop here.
        let mut tag_params = vec![
            pair("resourceids", id.as_str()),
            pair("resourcetype", "UserVm"),
        ];
        for (i, (k, v)) in spec.tags.iter().enumerate() {
            tag_params.push(pair(format!("tags[{i}].key"), k.as_str()));
            tag_params.push(pair(format!("tags[{i}].value"), v.as_str()));
        }
        let tagged = async {
            let r = self
                .api
                .call(OP, CallKind::Create, "createTags", &tag_params)
                .await?;
            if let Some(job) = r.get("jobid").and_then(id_string) {
                self.api.wait_job(OP, CallKind::Create, &job).await?;
            }
            Ok::<(), IaasError>(())
        }
        .await;
        if let Err(e) = tagged {
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
        const OP: &str = "describe_instances";
        let mut tags = vec![(TAG_MANAGED_BY, MANAGED_BY_VALUE)];
        if let Some(c) = &filter.cluster_id {
            tags.push((TAG_CLUSTER_ID, c));
        }
        if let Some(m) = &filter.member_id {
            tags.push((TAG_MEMBER_ID, m));
        }
        let mut base = vec![
            pair("listall", "true"),
            pair("pagesize", PAGE_SIZE.to_string()),
        ];
        for (i, (k, v)) in tags.iter().enumerate() {
            base.push(pair(format!("tags[{i}].key"), *k));
            base.push(pair(format!("tags[{i}].value"), *v));
        }
        let mut found = Vec::new();
        for page in 1.. {
            let mut params = base.clone();
            params.push(pair("page", page.to_string()));
            let response = self
                .api
                .call_retrying(OP, CallKind::Read, "listVirtualMachines", &params)
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
        // The tag filter runs in the cloud; check it here too, so nothing untagged is ever ours.
        found.retain(|i| filter.matches(&i.tags));
        Ok(found)
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
