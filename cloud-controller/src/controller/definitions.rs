//! Cartridges and policies: the configuration documents of conf/ plus everything deployed over
//! the API. The document text is stored in the registry and re-parsed at startup, so the XML is
//! the source of truth and one parser validates it everywhere.

use super::store::{internal, Store};
use super::Controller;
use crate::auth::Principal;
use crate::convert;
use crate::error::{ControllerError, Result};
use alto_config::{Cartridge, ConfigSet};
use alto_registry::{DefinitionKind, RegistryError};
use messaging::events::Port;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The live set of definitions (conf/ and deployed), owned here and read by every other part.
/// What an autoscale policy sets for its clusters.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicySettings {
    pub thresholds: autoscaler::LoadThresholds,
    pub dry_run: bool,
    pub scaling: alto_config::ScalingOverrides,
}

/// The cartridge property that lets its agents use the anonymous MQTT virtual host.
pub(crate) const ANONYMOUS_MQTT_PROPERTY: &str = "bus.anonymous.mqtt";

pub(crate) struct Definitions {
    config: RwLock<ConfigSet>,
}

/// Registry bodies are text; a Latin-1 document is stored re-encoded as UTF-8.
fn body_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            let text: String = bytes.iter().map(|&b| b as char).collect();
            text.replacen("encoding=\"ISO-8859-1\"", "encoding=\"UTF-8\"", 1)
                .replacen("encoding='ISO-8859-1'", "encoding='UTF-8'", 1)
        }
    }
}

/// What a partition of a deployment policy resolves to for one cartridge on one cloud.
pub(crate) struct PartitionLaunch {
    pub image_id: Option<String>,
    pub properties: BTreeMap<String, String>,
}

impl Definitions {
    /// Load conf/ (refusing a configuration with problems), deploy its documents into the
    /// registry (conf wins for the ids it defines), then add every document deployed earlier.
    pub(crate) async fn load(store: &Store, conf_dir: Option<&Path>) -> Result<Definitions> {
        let conf = match conf_dir {
            Some(dir) => {
                let (set, problems) = alto_config::load_path(dir);
                if !problems.is_empty() {
                    return Err(ControllerError::from_problems(&problems));
                }
                set
            }
            None => ConfigSet::default(),
        };
        let conf_files = conf_sources(&conf);
        store
            .run(move |r| {
                for (kind, id, body) in conf_files {
                    r.put_definition(kind, &id, &body)?;
                }
                Ok(())
            })
            .await?;
        let config = merge_deployed(store, conf).await?;
        Ok(Definitions {
            config: RwLock::new(config),
        })
    }

    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, ConfigSet>> {
        self.config
            .read()
            .map_err(|_| internal("configuration lock poisoned"))
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, ConfigSet>> {
        self.config
            .write()
            .map_err(|_| internal("configuration lock poisoned"))
    }

    /// Whether the cartridge's agents may talk over the broker's anonymous MQTT virtual host
    /// (`bus.anonymous.mqtt` = `true`: the unmodified Stratos 4.1.0 agent gives no
    /// credentials; docs/SECURITY.md says what that costs).
    pub(crate) fn anonymous_mqtt(&self, cartridge_type: &str) -> bool {
        self.read().is_ok_and(|config| {
            config
                .cartridges
                .iter()
                .find(|c| c.cartridge_type == cartridge_type)
                .is_some_and(|c| {
                    c.properties
                        .iter()
                        .any(|p| p.name == ANONYMOUS_MQTT_PROPERTY && p.value == "true")
                })
        })
    }

    pub(crate) fn cartridge(&self, cartridge_type: &str) -> Result<Cartridge> {
        self.read()?
            .cartridges
            .iter()
            .find(|c| c.cartridge_type == cartridge_type)
            .cloned()
            .ok_or_else(|| {
                ControllerError::invalid(format!("cartridge {cartridge_type} is not deployed"))
            })
    }

    /// What a subscription resolves to: its cartridge and its deployment policy with every
    /// partition resolved to a cloud.
    pub(crate) fn resolve(
        &self,
        cartridge_type: &str,
        deployment_policy: &str,
    ) -> Result<(Cartridge, autoscaler::DeploymentPolicy)> {
        let cartridge = self.cartridge(cartridge_type)?;
        let config = self.read()?;
        let policy = config
            .deployment_policies
            .iter()
            .find(|p| p.id == deployment_policy)
            .ok_or_else(|| {
                ControllerError::invalid(format!(
                    "deployment policy {deployment_policy} is not deployed"
                ))
            })?;
        let resolved =
            convert::deployment_policy(&config, policy).map_err(ControllerError::invalid)?;
        Ok((cartridge, resolved))
    }

    /// An autoscale policy's thresholds and dry-run flag (defaults when it is gone).
    /// The autoscale policy's thresholds, dry-run flag and tunables (`<scaling>`), as deployed
    /// now: a redeployed policy applies from the next evaluation.
    pub(crate) fn autoscale(&self, id: &str) -> PolicySettings {
        self.read()
            .ok()
            .and_then(|c| {
                c.autoscale_policies
                    .iter()
                    .find(|p| p.id == id)
                    .map(|p| PolicySettings {
                        thresholds: convert::autoscale_policy(p).load_thresholds,
                        dry_run: p.dry_run,
                        scaling: p.scaling.clone(),
                    })
            })
            .unwrap_or_default()
    }

    pub(crate) fn has_autoscale_policy(&self, id: &str) -> Result<bool> {
        Ok(self.read()?.autoscale_policies.iter().any(|a| a.id == id))
    }

    /// The image and merged properties a member of `cartridge` in `partition_id` of
    /// `deployment_policy` is started with on `provider_type`.
    pub(crate) fn partition_launch(
        &self,
        cartridge: &Cartridge,
        deployment_policy: &str,
        partition_id: &str,
        provider_type: &str,
    ) -> Result<PartitionLaunch> {
        let config = self.read()?;
        let partition = config
            .deployment_policies
            .iter()
            .find(|p| p.id == deployment_policy)
            .and_then(|p| {
                p.partition_groups
                    .iter()
                    .flat_map(|g| g.partitions.iter())
                    .find(|p| p.id == partition_id)
            })
            .and_then(|p| config.resolve_partition(p));
        Ok(match partition {
            Some(partition) => {
                let effective = config.effective_properties(cartridge, provider_type, &partition);
                PartitionLaunch {
                    image_id: effective.image_id,
                    properties: effective.properties,
                }
            }
            None => PartitionLaunch {
                image_id: None,
                properties: BTreeMap::new(),
            },
        })
    }

    /// The port map topology events carry for a cartridge.
    pub(crate) fn port_map(&self, cartridge_type: &str) -> BTreeMap<String, Port> {
        let Ok(config) = self.read() else {
            return BTreeMap::new();
        };
        config
            .cartridges
            .iter()
            .find(|c| c.cartridge_type == cartridge_type)
            .map(|c| {
                c.port_mappings
                    .iter()
                    .map(|pm| {
                        let key = pm.proxy_port.unwrap_or(pm.port).to_string();
                        (
                            key,
                            Port {
                                protocol: pm.protocol.clone(),
                                value: pm.port,
                                proxy: pm.proxy_port,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The source text of every cartridge and policy document in conf/, keyed for the registry.
fn conf_sources(set: &ConfigSet) -> Vec<(DefinitionKind, String, String)> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map(|b| body_text(&b))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for c in &set.cartridges {
        out.push((
            DefinitionKind::Cartridge,
            c.cartridge_type.clone(),
            read(&c.location.file),
        ));
    }
    for p in &set.autoscale_policies {
        out.push((
            DefinitionKind::AutoscalePolicy,
            p.id.clone(),
            read(&p.location.file),
        ));
    }
    for p in &set.deployment_policies {
        out.push((
            DefinitionKind::DeploymentPolicy,
            p.id.clone(),
            read(&p.location.file),
        ));
    }
    out
}

/// conf's documents plus every deployed definition in the registry (registry wins). A stored
/// document that no longer parses is logged and skipped, never fatal.
async fn merge_deployed(store: &Store, mut set: ConfigSet) -> Result<ConfigSet> {
    let (cartridges, autoscale, deployment) = store
        .run(|r| -> Result<_, RegistryError> {
            Ok((
                r.list_definitions(DefinitionKind::Cartridge)?,
                r.list_definitions(DefinitionKind::AutoscalePolicy)?,
                r.list_definitions(DefinitionKind::DeploymentPolicy)?,
            ))
        })
        .await?;
    let origin = |kind: &str, id: &str| PathBuf::from(format!("registry:{kind}/{id}"));
    let skipped = |kind: &str, id: &str, problems: Vec<alto_config::Problem>| {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        tracing::error!(
            kind,
            id,
            ?problems,
            "stored definition no longer parses; skipped"
        );
    };
    for def in cartridges {
        match alto_config::parse_cartridges(&origin("cartridge", &def.id), def.body.as_bytes()) {
            Ok(list) => {
                for c in list.into_iter().filter(|c| c.cartridge_type == def.id) {
                    set.cartridges
                        .retain(|old| old.cartridge_type != c.cartridge_type);
                    set.cartridges.push(c);
                }
            }
            Err(problems) => skipped("cartridge", &def.id, problems),
        }
    }
    for def in autoscale {
        match alto_config::parse_autoscale_policy(
            &origin("autoscalePolicy", &def.id),
            def.body.as_bytes(),
        ) {
            Ok(p) => {
                set.autoscale_policies.retain(|old| old.id != p.id);
                set.autoscale_policies.push(p);
            }
            Err(problems) => skipped("autoscalePolicy", &def.id, problems),
        }
    }
    for def in deployment {
        match alto_config::parse_deployment_policy(
            &origin("deploymentPolicy", &def.id),
            def.body.as_bytes(),
        ) {
            Ok(p) => {
                set.deployment_policies.retain(|old| old.id != p.id);
                set.deployment_policies.push(p);
            }
            Err(problems) => skipped("deploymentPolicy", &def.id, problems),
        }
    }
    Ok(set)
}

// The REST API's operations on definitions.
impl Controller {
    pub async fn list_cartridges(&self, _p: &Principal) -> Result<Vec<Cartridge>> {
        let mut list = self.definitions.read()?.cartridges.clone();
        list.sort_by(|a, b| a.cartridge_type.cmp(&b.cartridge_type));
        Ok(list)
    }

    pub async fn get_cartridge(&self, _p: &Principal, cartridge_type: &str) -> Result<Cartridge> {
        self.definitions
            .read()?
            .cartridges
            .iter()
            .find(|c| c.cartridge_type == cartridge_type)
            .cloned()
            .ok_or_else(|| ControllerError::NotFound(format!("cartridge {cartridge_type}")))
    }

    pub async fn deploy_cartridge(&self, p: &Principal, xml: &[u8]) -> Result<Vec<Cartridge>> {
        p.require_admin("deploying a cartridge")?;
        let cartridges = alto_config::parse_cartridges(Path::new("request body"), xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        {
            let config = self.definitions.read()?;
            let problems: Vec<_> = cartridges
                .iter()
                .flat_map(|c| config.validate_cartridge(c))
                .collect();
            if !problems.is_empty() {
                return Err(ControllerError::from_problems(&problems));
            }
        }
        let body = body_text(xml);
        let ids: Vec<String> = cartridges
            .iter()
            .map(|c| c.cartridge_type.clone())
            .collect();
        self.store
            .run(move |r| {
                for id in ids {
                    r.put_definition(DefinitionKind::Cartridge, &id, &body)?;
                }
                Ok(())
            })
            .await?;
        let mut config = self.definitions.write()?;
        for c in &cartridges {
            config
                .cartridges
                .retain(|old| old.cartridge_type != c.cartridge_type);
            config.cartridges.push(c.clone());
        }
        Ok(cartridges)
    }

    pub async fn undeploy_cartridge(&self, p: &Principal, cartridge_type: &str) -> Result<()> {
        p.require_admin("undeploying a cartridge")?;
        let t = cartridge_type.to_string();
        let in_use = self
            .store
            .run(move |r| r.list_subscriptions(None))
            .await?
            .into_iter()
            .filter(|s| s.cartridge_type == t)
            .count();
        if in_use > 0 {
            return Err(ControllerError::Conflict(format!(
                "cartridge {cartridge_type} has {in_use} subscription(s); unsubscribe them first"
            )));
        }
        let t = cartridge_type.to_string();
        let deleted = self
            .store
            .run(move |r| r.delete_definition(DefinitionKind::Cartridge, &t))
            .await?;
        let mut config = self.definitions.write()?;
        let before = config.cartridges.len();
        config
            .cartridges
            .retain(|c| c.cartridge_type != cartridge_type);
        if !deleted && before == config.cartridges.len() {
            return Err(ControllerError::NotFound(format!(
                "cartridge {cartridge_type}"
            )));
        }
        Ok(())
    }

    pub async fn list_autoscaling_policies(
        &self,
        _p: &Principal,
    ) -> Result<Vec<alto_config::AutoscalePolicy>> {
        let mut list = self.definitions.read()?.autoscale_policies.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    pub async fn deploy_autoscaling_policy(
        &self,
        p: &Principal,
        xml: &[u8],
    ) -> Result<alto_config::AutoscalePolicy> {
        p.require_admin("deploying an autoscaling policy")?;
        let policy = alto_config::parse_autoscale_policy(Path::new("request body"), xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        let problems = self.definitions.read()?.validate_autoscale_policy(&policy);
        if !problems.is_empty() {
            return Err(ControllerError::from_problems(&problems));
        }
        let (id, body) = (policy.id.clone(), body_text(xml));
        self.store
            .run(move |r| r.put_definition(DefinitionKind::AutoscalePolicy, &id, &body))
            .await?;
        let mut config = self.definitions.write()?;
        config.autoscale_policies.retain(|old| old.id != policy.id);
        config.autoscale_policies.push(policy.clone());
        Ok(policy)
    }

    pub async fn list_deployment_policies(
        &self,
        _p: &Principal,
    ) -> Result<Vec<alto_config::DeploymentPolicy>> {
        let mut list = self.definitions.read()?.deployment_policies.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    pub async fn deploy_deployment_policy(
        &self,
        p: &Principal,
        xml: &[u8],
    ) -> Result<alto_config::DeploymentPolicy> {
        p.require_admin("deploying a deployment policy")?;
        let policy = alto_config::parse_deployment_policy(Path::new("request body"), xml)
            .map_err(|problems| ControllerError::from_problems(&problems))?;
        {
            let config = self.definitions.read()?;
            let problems = config.validate_deployment_policy(&policy);
            if !problems.is_empty() {
                return Err(ControllerError::from_problems(&problems));
            }
            // Every partition must land on a cloud we can drive.
            let resolved =
                convert::deployment_policy(&config, &policy).map_err(ControllerError::invalid)?;
            self.clouds.check(&resolved)?;
            self.limits.check_policy(&resolved)?;
        }
        let (id, body) = (policy.id.clone(), body_text(xml));
        self.store
            .run(move |r| r.put_definition(DefinitionKind::DeploymentPolicy, &id, &body))
            .await?;
        let mut config = self.definitions.write()?;
        config.deployment_policies.retain(|old| old.id != policy.id);
        config.deployment_policies.push(policy.clone());
        Ok(policy)
    }
}
