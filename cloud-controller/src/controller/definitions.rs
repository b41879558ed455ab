//! Cartridges, policies and network partitions: the configuration documents of conf/ plus
//! everything deployed over the API. The document is stored in the registry as it was submitted
//! (XML, or Stratos JSON) and re-parsed at startup; JSON goes through the same conversion to
//! XML as it did over REST, so one parser validates everything. A JSON document is also kept
//! as posted, so that reading a definition back shows every field the client sent.

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
    /// The JSON documents as posted, by (kind, id): what GET shows beyond the parsed model.
    posted: RwLock<BTreeMap<(&'static str, String), serde_json::Value>>,
}

/// The conversion of a kind's Stratos JSON into its XML document.
pub(crate) fn json_converter(
    kind: DefinitionKind,
) -> fn(&serde_json::Value) -> Result<String, crate::api::json_shapes::ConvertError> {
    use crate::api::json_shapes as shapes;
    match kind {
        DefinitionKind::Cartridge => shapes::cartridges_to_xml,
        DefinitionKind::AutoscalePolicy => shapes::autoscale_policy_to_xml,
        DefinitionKind::DeploymentPolicy => shapes::deployment_policy_to_xml,
        DefinitionKind::NetworkPartition | DefinitionKind::Partition => {
            shapes::network_partition_to_xml
        }
    }
}

/// A stored body as the parser reads it: XML as it is; JSON (a body starting with `{`)
/// converted, with the JSON document kept.
fn stored_document(
    kind: DefinitionKind,
    body: &str,
) -> Result<(Vec<u8>, Option<serde_json::Value>), String> {
    if !body.trim_start().starts_with('{') {
        return Ok((body.as_bytes().to_vec(), None));
    }
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("stored JSON: {e}"))?;
    let xml = json_converter(kind)(&json)?;
    Ok((xml.into_bytes(), Some(json)))
}

/// Registry bodies are text; a Latin-1 document is stored re-encoded as UTF-8.
pub(super) fn body_text(bytes: &[u8]) -> String {
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
        let (config, posted) = merge_deployed(store, conf).await?;
        Ok(Definitions {
            config: RwLock::new(config),
            posted: RwLock::new(posted),
        })
    }

    /// The JSON document of a definition as it was posted, if it came as JSON.
    pub(crate) fn posted(&self, kind: DefinitionKind, id: &str) -> Option<serde_json::Value> {
        self.posted
            .read()
            .ok()?
            .get(&(kind.as_str(), id.to_string()))
            .cloned()
    }

    /// Record (or, with `None`, forget) the JSON document a definition was posted as.
    pub(crate) fn set_posted(
        &self,
        kind: DefinitionKind,
        id: &str,
        json: Option<serde_json::Value>,
    ) -> Result<()> {
        let mut posted = self
            .posted
            .write()
            .map_err(|_| internal("posted-documents lock poisoned"))?;
        let key = (kind.as_str(), id.to_string());
        match json {
            Some(v) => posted.insert(key, v),
            None => posted.remove(&key),
        };
        Ok(())
    }

    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, ConfigSet>> {
        self.config
            .read()
            .map_err(|_| internal("configuration lock poisoned"))
    }

    pub(super) fn write(&self) -> Result<RwLockWriteGuard<'_, ConfigSet>> {
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
    /// Partition ids are scoped by their network partition (4.1), so both name the partition.
    pub(crate) fn partition_launch(
        &self,
        cartridge: &Cartridge,
        deployment_policy: &str,
        network_partition_id: &str,
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
                    .filter(|g| g.id == network_partition_id)
                    .find_map(|g| {
                        g.partitions
                            .iter()
                            .find(|p| p.id == partition_id)
                            .map(|p| (g, p))
                    })
            })
            .and_then(|(g, p)| config.resolve_partition(g, p));
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
    for np in &set.network_partitions {
        out.push((
            DefinitionKind::NetworkPartition,
            np.id.clone(),
            read(&np.location.file),
        ));
    }
    out
}

type Posted = BTreeMap<(&'static str, String), serde_json::Value>;

/// conf's documents plus every deployed definition in the registry (registry wins). A stored
/// document that no longer parses is logged and skipped, never fatal.
async fn merge_deployed(store: &Store, mut set: ConfigSet) -> Result<(ConfigSet, Posted)> {
    let kinds = [
        DefinitionKind::NetworkPartition,
        DefinitionKind::Cartridge,
        DefinitionKind::AutoscalePolicy,
        DefinitionKind::DeploymentPolicy,
    ];
    let stored = store
        .run(move |r| -> Result<_, RegistryError> {
            kinds
                .iter()
                .map(|k| Ok((*k, r.list_definitions(*k)?)))
                .collect::<Result<Vec<_>, RegistryError>>()
        })
        .await?;
    let mut posted = Posted::new();
    for (kind, defs) in stored {
        for def in defs {
            let origin = PathBuf::from(format!("registry:{}/{}", kind.as_str(), def.id));
            let parsed = stored_document(kind, &def.body)
                .map_err(|e| {
                    vec![alto_config::Problem {
                        location: alto_config::Location::new(&origin, 1, 1),
                        message: e,
                    }]
                })
                .and_then(|(xml, json)| {
                    merge_one(&mut set, kind, &def.id, &origin, &xml).map(|()| json)
                });
            match parsed {
                Ok(Some(json)) => {
                    posted.insert((kind.as_str(), def.id.clone()), json);
                }
                Ok(None) => {}
                Err(problems) => {
                    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    tracing::error!(
                        kind = kind.as_str(),
                        id = def.id,
                        ?problems,
                        "stored definition no longer parses; skipped"
                    );
                }
            }
        }
    }
    Ok((set, posted))
}

/// Parse one stored document and let it replace what `set` holds under its id.
fn merge_one(
    set: &mut ConfigSet,
    kind: DefinitionKind,
    id: &str,
    origin: &Path,
    xml: &[u8],
) -> Result<(), Vec<alto_config::Problem>> {
    match kind {
        DefinitionKind::Cartridge => {
            for c in alto_config::parse_cartridges(origin, xml)?
                .into_iter()
                .filter(|c| c.cartridge_type == id)
            {
                set.cartridges
                    .retain(|old| old.cartridge_type != c.cartridge_type);
                set.cartridges.push(c);
            }
        }
        DefinitionKind::AutoscalePolicy => {
            let p = alto_config::parse_autoscale_policy(origin, xml)?;
            set.autoscale_policies.retain(|old| old.id != p.id);
            set.autoscale_policies.push(p);
        }
        DefinitionKind::DeploymentPolicy => {
            let p = alto_config::parse_deployment_policy(origin, xml)?;
            set.deployment_policies.retain(|old| old.id != p.id);
            set.deployment_policies.push(p);
        }
        DefinitionKind::NetworkPartition | DefinitionKind::Partition => {
            for np in alto_config::parse_network_partitions(origin, xml)?
                .into_iter()
                .filter(|np| np.id == id)
            {
                set.network_partitions.retain(|old| old.id != np.id);
                set.network_partitions.push(np);
            }
        }
    }
    Ok(())
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

    pub async fn list_autoscaling_policies(
        &self,
        _p: &Principal,
    ) -> Result<Vec<alto_config::AutoscalePolicy>> {
        let mut list = self.definitions.read()?.autoscale_policies.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    pub async fn list_deployment_policies(
        &self,
        _p: &Principal,
    ) -> Result<Vec<alto_config::DeploymentPolicy>> {
        let mut list = self.definitions.read()?.deployment_policies.clone();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }
}
