//! The REST API's writes of definitions, as Stratos 4.1 answers them: a create of an id that
//! exists is 409 (never a silent replacement), an update of one that does not is 404, a removal
//! of one still in use (by a subscription, or a network partition by a deployment policy) is
//! 409. The registry decides create-versus-exists in one statement, so two racing creators
//! cannot both win. Running clusters read their policies from [`Definitions`] on every
//! evaluation, so an update applies from the next one.
//!
//! [`Definitions`]: super::definitions::Definitions

use super::definitions::body_text;
use super::Controller;
use crate::auth::Principal;
use crate::convert;
use crate::error::{ControllerError, Result};
use alto_config::{
    AutoscalePolicy, Cartridge, ConfigSet, DeploymentPolicy, NetworkPartitionConfig,
};
use alto_registry::DefinitionKind;
use serde_json::Value;
use std::path::Path;

/// Whether a write makes a new definition or replaces an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// POST: the id must be new (409 otherwise).
    Create,
    /// PUT: the id must exist (404 otherwise).
    Update,
}

/// A definition as submitted: the XML document the parser reads and, when it came as JSON,
/// the JSON document (an object, or an array of them) it was converted from.
pub struct Submitted {
    pub xml: Vec<u8>,
    pub json: Option<Value>,
}

impl Submitted {
    /// The JSON document of the definition `id` (its id in the field `key`): the posted object,
    /// or the element of a posted array with that id.
    fn json_for(&self, key: &str, id: &str) -> Option<Value> {
        let matches = |v: &Value| match v.get(key) {
            Some(Value::String(s)) => s.trim() == id,
            Some(Value::Number(n)) => id.parse::<f64>().ok() == n.as_f64(),
            _ => false,
        };
        match self.json.as_ref()? {
            Value::Array(items) => items.iter().find(|v| matches(v)).cloned(),
            single @ Value::Object(_) => Some(single.clone()),
            _ => None,
        }
    }

    /// What the registry stores for `id`: its JSON document when it came as JSON (it is
    /// converted again at startup), the XML otherwise.
    fn stored(&self, key: &str, id: &str) -> (String, Option<Value>) {
        match self.json_for(key, id) {
            Some(json) => (json.to_string(), Some(json)),
            None => (body_text(&self.xml), None),
        }
    }
}

fn kind_name(kind: DefinitionKind) -> &'static str {
    match kind {
        DefinitionKind::Cartridge => "cartridge",
        DefinitionKind::AutoscalePolicy => "autoscaling policy",
        DefinitionKind::DeploymentPolicy => "deployment policy",
        DefinitionKind::NetworkPartition | DefinitionKind::Partition => "network partition",
    }
}

/// A PUT to `/{id}` must carry that id.
fn check_path_id(kind: DefinitionKind, path_id: Option<&str>, id: &str) -> Result<()> {
    match path_id {
        Some(expected) if expected != id => Err(ControllerError::invalid(format!(
            "the body defines {} {id:?}, the path names {expected:?}",
            kind_name(kind)
        ))),
        _ => Ok(()),
    }
}

fn problems_of(problems: Vec<alto_config::Problem>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ControllerError::from_problems(&problems))
    }
}

impl Controller {
    /// Store `writes` (id, body) of one kind: all new (Create) or all existing (Update).
    async fn store_definitions(
        &self,
        kind: DefinitionKind,
        writes: Vec<(String, String)>,
        mode: WriteMode,
    ) -> Result<()> {
        let what = kind_name(kind);
        self.store
            .run(move |r| -> Result<Result<(), ControllerError>, _> {
                if mode == WriteMode::Create {
                    // Checked for all first, so a list with one existing id writes nothing.
                    for (id, _) in &writes {
                        if r.get_definition(kind, id)?.is_some() {
                            return Ok(Err(ControllerError::Conflict(format!(
                                "{what} {id} exists; update it with PUT"
                            ))));
                        }
                    }
                }
                for (id, body) in &writes {
                    let done = match mode {
                        WriteMode::Create => r.create_definition(kind, id, body)?,
                        WriteMode::Update => r.update_definition(kind, id, body)?,
                    };
                    if !done {
                        return Ok(Err(match mode {
                            WriteMode::Create => ControllerError::Conflict(format!(
                                "{what} {id} exists; update it with PUT"
                            )),
                            WriteMode::Update => ControllerError::NotFound(format!(
                                "{what} {id} (create it with POST)"
                            )),
                        }));
                    }
                }
                Ok(Ok(()))
            })
            .await?
    }

    pub async fn write_cartridges(
        &self,
        p: &Principal,
        doc: Submitted,
        mode: WriteMode,
        path_id: Option<&str>,
    ) -> Result<Vec<Cartridge>> {
        p.require_admin("deploying a cartridge")?;
        let cartridges = alto_config::parse_cartridges(Path::new("request body"), &doc.xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        if path_id.is_some() && cartridges.len() != 1 {
            return Err(ControllerError::invalid(
                "a PUT to /api/cartridges/{type} takes one cartridge",
            ));
        }
        {
            let config = self.definitions.read()?;
            for c in &cartridges {
                check_path_id(DefinitionKind::Cartridge, path_id, &c.cartridge_type)?;
                problems_of(config.validate_cartridge(c))?;
            }
        }
        let mut writes = Vec::new();
        let mut posted = Vec::new();
        for c in &cartridges {
            let (body, json) = doc.stored("type", &c.cartridge_type);
            writes.push((c.cartridge_type.clone(), body));
            posted.push((c.cartridge_type.clone(), json));
        }
        self.store_definitions(DefinitionKind::Cartridge, writes, mode)
            .await?;
        {
            let mut config = self.definitions.write()?;
            for c in &cartridges {
                config
                    .cartridges
                    .retain(|old| old.cartridge_type != c.cartridge_type);
                config.cartridges.push(c.clone());
            }
        }
        for (id, json) in posted {
            self.definitions
                .set_posted(DefinitionKind::Cartridge, &id, json)?;
        }
        Ok(cartridges)
    }

    pub async fn write_autoscaling_policy(
        &self,
        p: &Principal,
        doc: Submitted,
        mode: WriteMode,
        path_id: Option<&str>,
    ) -> Result<AutoscalePolicy> {
        p.require_admin("deploying an autoscaling policy")?;
        let policy = alto_config::parse_autoscale_policy(Path::new("request body"), &doc.xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        check_path_id(DefinitionKind::AutoscalePolicy, path_id, &policy.id)?;
        problems_of(self.definitions.read()?.validate_autoscale_policy(&policy))?;
        let (body, json) = doc.stored("id", &policy.id);
        self.store_definitions(
            DefinitionKind::AutoscalePolicy,
            vec![(policy.id.clone(), body)],
            mode,
        )
        .await?;
        {
            let mut config = self.definitions.write()?;
            config.autoscale_policies.retain(|old| old.id != policy.id);
            config.autoscale_policies.push(policy.clone());
        }
        self.definitions
            .set_posted(DefinitionKind::AutoscalePolicy, &policy.id, json)?;
        Ok(policy)
    }

    /// Every partition must resolve (inline, through its network partition, or standalone), land
    /// on a cloud we can drive, and stay within the member limits.
    fn check_deployment_policy(&self, config: &ConfigSet, policy: &DeploymentPolicy) -> Result<()> {
        problems_of(config.validate_deployment_policy(policy))?;
        let resolved =
            convert::deployment_policy(config, policy).map_err(ControllerError::invalid)?;
        self.clouds.check(&resolved)?;
        self.limits.check_policy(&resolved)?;
        Ok(())
    }

    pub async fn write_deployment_policy(
        &self,
        p: &Principal,
        doc: Submitted,
        mode: WriteMode,
        path_id: Option<&str>,
    ) -> Result<DeploymentPolicy> {
        p.require_admin("deploying a deployment policy")?;
        let policy = alto_config::parse_deployment_policy(Path::new("request body"), &doc.xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        check_path_id(DefinitionKind::DeploymentPolicy, path_id, &policy.id)?;
        self.check_deployment_policy(&*self.definitions.read()?, &policy)?;
        let (body, json) = doc.stored("id", &policy.id);
        self.store_definitions(
            DefinitionKind::DeploymentPolicy,
            vec![(policy.id.clone(), body)],
            mode,
        )
        .await?;
        {
            let mut config = self.definitions.write()?;
            config.deployment_policies.retain(|old| old.id != policy.id);
            config.deployment_policies.push(policy.clone());
        }
        self.definitions
            .set_posted(DefinitionKind::DeploymentPolicy, &policy.id, json)?;
        Ok(policy)
    }

    pub async fn write_network_partition(
        &self,
        p: &Principal,
        doc: Submitted,
        mode: WriteMode,
        path_id: Option<&str>,
    ) -> Result<NetworkPartitionConfig> {
        p.require_admin("deploying a network partition")?;
        let list = alto_config::parse_network_partitions(Path::new("request body"), &doc.xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        let [np] = <[NetworkPartitionConfig; 1]>::try_from(list).map_err(|list| {
            ControllerError::invalid(format!(
                "one network partition per request, found {}",
                list.len()
            ))
        })?;
        check_path_id(DefinitionKind::NetworkPartition, path_id, &np.id)?;
        {
            let config = self.definitions.read()?;
            problems_of(config.validate_network_partition(&np))?;
            // The deployment policies that resolve through it must still do so.
            let mut trial = config.clone();
            trial.network_partitions.retain(|old| old.id != np.id);
            trial.network_partitions.push(np.clone());
            for policy in users_of_network_partition(&config, &np.id) {
                self.check_deployment_policy(&trial, policy).map_err(|e| {
                    ControllerError::Conflict(format!(
                        "network partition {}: deployment policy {} uses it and would break: {e}",
                        np.id, policy.id
                    ))
                })?;
            }
        }
        let (body, json) = doc.stored("id", &np.id);
        self.store_definitions(
            DefinitionKind::NetworkPartition,
            vec![(np.id.clone(), body)],
            mode,
        )
        .await?;
        {
            let mut config = self.definitions.write()?;
            config.network_partitions.retain(|old| old.id != np.id);
            config.network_partitions.push(np.clone());
        }
        self.definitions
            .set_posted(DefinitionKind::NetworkPartition, &np.id, json)?;
        Ok(np)
    }

    /// Remove a definition `in_use` does not veto: from the registry, the live set and the
    /// posted documents.
    async fn remove_definition(
        &self,
        kind: DefinitionKind,
        id: &str,
        in_use: Option<String>,
    ) -> Result<()> {
        if let Some(why) = in_use {
            return Err(ControllerError::Conflict(format!(
                "{} {id} is in use: {why}",
                kind_name(kind)
            )));
        }
        let key = id.to_string();
        let deleted = self
            .store
            .run(move |r| r.delete_definition(kind, &key))
            .await?;
        let removed = {
            let mut config = self.definitions.write()?;
            let before = config.document_count();
            match kind {
                DefinitionKind::Cartridge => config.cartridges.retain(|c| c.cartridge_type != id),
                DefinitionKind::AutoscalePolicy => config.autoscale_policies.retain(|p| p.id != id),
                DefinitionKind::DeploymentPolicy => {
                    config.deployment_policies.retain(|p| p.id != id)
                }
                DefinitionKind::NetworkPartition | DefinitionKind::Partition => {
                    config.network_partitions.retain(|p| p.id != id)
                }
            }
            before != config.document_count()
        };
        self.definitions.set_posted(kind, id, None)?;
        if !deleted && !removed {
            return Err(ControllerError::NotFound(format!(
                "{} {id}",
                kind_name(kind)
            )));
        }
        Ok(())
    }

    /// Which subscriptions `uses` picks out, as a reason to refuse a removal.
    async fn subscriptions_using(
        &self,
        uses: impl Fn(&alto_registry::Subscription) -> bool + Send + 'static,
    ) -> Result<Option<String>> {
        let users: Vec<String> = self
            .store
            .run(move |r| r.list_subscriptions(None))
            .await?
            .into_iter()
            .filter(|s| uses(s))
            .map(|s| s.alias)
            .collect();
        Ok((!users.is_empty()).then(|| {
            format!(
                "{} subscription(s) use it ({}); unsubscribe them first",
                users.len(),
                users.join(", ")
            )
        }))
    }

    pub async fn undeploy_cartridge(&self, p: &Principal, cartridge_type: &str) -> Result<()> {
        p.require_admin("undeploying a cartridge")?;
        let t = cartridge_type.to_string();
        let in_use = self
            .subscriptions_using(move |s| s.cartridge_type == t)
            .await?;
        self.remove_definition(DefinitionKind::Cartridge, cartridge_type, in_use)
            .await
    }

    pub async fn remove_autoscaling_policy(&self, p: &Principal, id: &str) -> Result<()> {
        p.require_admin("removing an autoscaling policy")?;
        let key = id.to_string();
        let in_use = self
            .subscriptions_using(move |s| s.autoscale_policy == key)
            .await?;
        self.remove_definition(DefinitionKind::AutoscalePolicy, id, in_use)
            .await
    }

    pub async fn remove_deployment_policy(&self, p: &Principal, id: &str) -> Result<()> {
        p.require_admin("removing a deployment policy")?;
        let key = id.to_string();
        let in_use = self
            .subscriptions_using(move |s| s.deployment_policy == key)
            .await?;
        self.remove_definition(DefinitionKind::DeploymentPolicy, id, in_use)
            .await
    }

    pub async fn remove_network_partition(&self, p: &Principal, id: &str) -> Result<()> {
        p.require_admin("removing a network partition")?;
        let in_use = {
            let config = self.definitions.read()?;
            let users: Vec<&str> = users_of_network_partition(&config, id)
                .map(|d| d.id.as_str())
                .collect();
            (!users.is_empty()).then(|| {
                format!(
                    "deployment policy(ies) {} place partitions in it; remove them first",
                    users.join(", ")
                )
            })
        };
        self.remove_definition(DefinitionKind::NetworkPartition, id, in_use)
            .await
    }

    pub async fn get_autoscaling_policy(
        &self,
        _p: &Principal,
        id: &str,
    ) -> Result<AutoscalePolicy> {
        self.definitions
            .read()?
            .autoscale_policies
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| ControllerError::NotFound(format!("autoscaling policy {id}")))
    }

    pub async fn get_deployment_policy(
        &self,
        _p: &Principal,
        id: &str,
    ) -> Result<DeploymentPolicy> {
        self.definitions
            .read()?
            .deployment_policies
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| ControllerError::NotFound(format!("deployment policy {id}")))
    }

    pub async fn get_network_partition(
        &self,
        _p: &Principal,
        id: &str,
    ) -> Result<NetworkPartitionConfig> {
        self.definitions
            .read()?
            .network_partition(id)
            .cloned()
            .ok_or_else(|| ControllerError::NotFound(format!("network partition {id}")))
    }

    pub async fn list_network_partitions(
        &self,
        _p: &Principal,
    ) -> Result<Vec<NetworkPartitionConfig>> {
        let mut list = self.definitions.read()?.network_partitions.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    /// A copy of the live definitions (conf/ and deployed), as the scaling loop sees them now.
    #[cfg(test)]
    pub(crate) fn definitions_snapshot(&self) -> Result<ConfigSet> {
        Ok(self.definitions.read()?.clone())
    }

    /// The JSON document a definition was posted as (none for XML and conf/ documents).
    pub fn posted_definition(&self, kind: DefinitionKind, id: &str) -> Option<Value> {
        self.definitions.posted(kind, id)
    }
}

/// The deployment policies with a network partition (partition group) of that id.
fn users_of_network_partition<'a>(
    config: &'a ConfigSet,
    id: &'a str,
) -> impl Iterator<Item = &'a DeploymentPolicy> + 'a {
    config
        .deployment_policies
        .iter()
        .filter(move |d| d.partition_groups.iter().any(|g| g.id == id))
}
