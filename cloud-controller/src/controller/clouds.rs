//! The clouds of cloud-controller.xml: one driver per iaasProvider type, built and initialized
//! at startup; a provider whose driver cannot be built is remembered with the reason, so a
//! policy that uses it is refused with that reason instead of failing at the first start.

use crate::convert;
use crate::error::{ControllerError, Result};
use alto_config::ConfigSet;
use iaas::{DriverContext, DriverRegistry, Iaas};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) struct Clouds {
    drivers: BTreeMap<String, Arc<dyn Iaas>>,
    /// Provider types whose driver could not be built, and why.
    unavailable: BTreeMap<String, String>,
}

impl Clouds {
    pub(crate) async fn build(config: &ConfigSet, ctx: &DriverContext) -> Clouds {
        let registry = DriverRegistry::with_builtin();
        let mut drivers: BTreeMap<String, Arc<dyn Iaas>> = BTreeMap::new();
        let mut unavailable = BTreeMap::new();
        for provider in config
            .cloud_controller
            .iter()
            .flat_map(|cc| cc.iaas_providers.iter())
        {
            let spec = convert::provider_spec(provider);
            match registry.build(&spec, ctx) {
                Ok(driver) => match driver.initialize().await {
                    Ok(()) => {
                        drivers.insert(spec.provider_type.clone(), driver);
                    }
                    Err(e) => {
                        tracing::warn!(provider = %spec.provider_type, error = %e, "cloud unavailable");
                        unavailable.insert(spec.provider_type.clone(), e.to_string());
                    }
                },
                Err(e) => {
                    tracing::warn!(provider = %spec.provider_type, error = %e, "no driver for provider");
                    unavailable.insert(spec.provider_type.clone(), e.to_string());
                }
            }
        }
        Clouds {
            drivers,
            unavailable,
        }
    }

    pub(crate) fn get(&self, provider_type: &str) -> Option<Arc<dyn Iaas>> {
        self.drivers.get(provider_type).cloned()
    }

    /// Every usable cloud, by provider type.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&String, &Arc<dyn Iaas>)> {
        self.drivers.iter()
    }

    /// Every partition of `policy` must land on a cloud we can drive.
    pub(crate) fn check(&self, policy: &autoscaler::DeploymentPolicy) -> Result<()> {
        let mut problems = Vec::new();
        for np in &policy.network_partitions {
            for partition in &np.partitions {
                if !self.drivers.contains_key(&partition.provider_type) {
                    let why = self
                        .unavailable
                        .get(&partition.provider_type)
                        .cloned()
                        .unwrap_or_else(|| {
                            "no such iaasProvider in cloud-controller.xml".to_string()
                        });
                    problems.push(format!(
                        "deployment policy {}: partition {} uses provider {}: {why}",
                        policy.id, partition.id, partition.provider_type
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ControllerError::Invalid(problems))
        }
    }
}
