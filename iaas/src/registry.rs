//! Maps `iaasProvider@provider` names (and Stratos `className` values) to drivers.

use crate::error::{ErrorClass, IaasError};
use crate::mock::{HealthPatterns, MockIaas};
use crate::types::{Iaas, ProviderSpec};
use messaging::Bus;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What drivers may need from their surroundings.
#[derive(Clone)]
pub struct DriverContext {
    /// The bus (the mock cloud publishes agent events on it, standing in for the agent).
    pub bus: Arc<dyn Bus>,
    /// Health patterns per cartridge type (mock-iaas.xml).
    pub health_patterns: HealthPatterns,
    /// Where a driver may keep local state (the mock keeps its simulated instances there so
    /// they outlive a controller restart, as a real cloud's would).
    pub state_dir: Option<PathBuf>,
    /// The broker agents started by a driver should use (the `local` cloud hands it to its
    /// agent processes). `None` with the in-process bus: no real agent can reach it.
    pub agent_amqp: Option<AgentAmqp>,
    /// Who is calling: a shared cloud (the `mock` cloud's own process) is told the replica and
    /// its fencing token on every call.
    pub caller: Caller,
}

/// The controller replica a driver calls for, and its current fencing token.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `--replica-id` (empty: a single controller that never said).
    pub replica_id: String,
    /// The fencing token of the replica's current leadership term (0: not leader).
    pub fencing_token: Arc<std::sync::atomic::AtomicU64>,
}

impl Caller {
    pub fn new(replica_id: impl Into<String>) -> Caller {
        Caller {
            replica_id: replica_id.into(),
            fencing_token: Arc::default(),
        }
    }

    /// The token now (a term that ended reads 0).
    pub fn token(&self) -> u64 {
        self.fencing_token.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Where real agents find the AMQP bus.
#[derive(Debug, Clone)]
pub struct AgentAmqp {
    pub url: crate::types::Secret,
    pub exchange: String,
    pub queue_prefix: String,
    /// The CA file an `amqps://` broker's certificate is verified against (besides the
    /// system's roots), handed to local agents as `amqp.ca.cert`.
    pub ca_cert: Option<std::path::PathBuf>,
}

/// Builds a driver for one provider entry.
pub type DriverFactory = fn(&ProviderSpec, &DriverContext) -> Result<Arc<dyn Iaas>, IaasError>;

/// Stratos className values and the driver each maps to.
const STRATOS_CLASS_NAMES: &[(&str, &str)] = &[
    (
        "org.apache.stratos.cloud.controller.iaases.mock.MockIaas",
        "mock",
    ),
    (
        "org.apache.stratos.cloud.controller.iaases.AWSEC2Iaas",
        "aws-ec2",
    ),
    (
        "org.apache.stratos.cloud.controller.iaases.ec2.EC2Iaas",
        "aws-ec2",
    ),
    (
        "org.apache.stratos.cloud.controller.iaases.OpenstackNovaIaas",
        "openstack-nova",
    ),
    (
        "org.apache.stratos.cloud.controller.iaases.openstack.OpenstackIaas",
        "openstack-nova",
    ),
    (
        "org.apache.stratos.cloud.controller.iaases.cloudstack.CloudStackIaas",
        "cloudstack",
    ),
];

/// The driver registry.
#[derive(Clone)]
pub struct DriverRegistry {
    factories: BTreeMap<String, DriverFactory>,
}

impl DriverRegistry {
    /// Every driver built into this binary.
    pub fn with_builtin() -> Self {
        let mut registry = DriverRegistry {
            factories: BTreeMap::new(),
        };
        registry.register("mock", MockIaas::factory);
        registry.register("local", crate::local::LocalIaas::factory);
        registry.register("openstack-nova", crate::nova::NovaIaas::factory);
        registry.register("cloudstack", crate::cloudstack::CloudStackIaas::factory);
        registry.register("aws-ec2", crate::ec2::Ec2Iaas::factory);
        registry
    }

    pub fn register(&mut self, driver: &str, factory: DriverFactory) {
        self.factories.insert(driver.to_string(), factory);
    }

    /// Driver names available.
    pub fn drivers(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }

    /// The driver name a provider entry resolves to: `provider` when we have that driver,
    /// else the driver its Stratos `className` maps to.
    pub fn driver_name(&self, spec: &ProviderSpec) -> Option<String> {
        if self.factories.contains_key(&spec.provider) {
            return Some(spec.provider.clone());
        }
        let class = spec.class_name.as_deref()?;
        STRATOS_CLASS_NAMES
            .iter()
            .find(|(name, _)| *name == class)
            .map(|(_, driver)| driver.to_string())
            .filter(|driver| self.factories.contains_key(driver))
    }

    /// Build the driver for `spec`.
    pub fn build(
        &self,
        spec: &ProviderSpec,
        ctx: &DriverContext,
    ) -> Result<Arc<dyn Iaas>, IaasError> {
        let factory = self
            .driver_name(spec)
            .and_then(|name| self.factories.get(&name).copied())
            .ok_or_else(|| {
                IaasError::new(
                    &spec.provider_type,
                    "load driver",
                    ErrorClass::InvalidRequest,
                    format!(
                        "no driver for provider {:?} (className {:?}); available: {}",
                        spec.provider,
                        spec.class_name.as_deref().unwrap_or("-"),
                        self.drivers().collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
        factory(spec, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Properties, Secret};
    use messaging::InProcessBus;

    fn spec(provider: &str, class: Option<&str>) -> ProviderSpec {
        ProviderSpec {
            provider_type: "t".into(),
            provider: provider.into(),
            class_name: class.map(str::to_string),
            identity: Secret::new("id"),
            credential: Secret::new("cred"),
            image_id: None,
            properties: Properties::new(),
        }
    }

    #[tokio::test]
    async fn resolves_by_provider_then_by_stratos_class_name() {
        let registry = DriverRegistry::with_builtin();
        assert_eq!(
            registry.driver_name(&spec("mock", None)).as_deref(),
            Some("mock")
        );
        assert_eq!(
            registry
                .driver_name(&spec(
                    "something-else",
                    Some("org.apache.stratos.cloud.controller.iaases.mock.MockIaas")
                ))
                .as_deref(),
            Some("mock")
        );
        let ctx = DriverContext {
            bus: Arc::new(InProcessBus::new()),
            health_patterns: HealthPatterns::default(),
            state_dir: None,
            agent_amqp: None,
            caller: Caller::default(),
        };
        let err = match registry.build(&spec("vcloud", None), &ctx) {
            Err(e) => e,
            Ok(_) => panic!("vcloud has no driver"),
        };
        assert_eq!(err.class, ErrorClass::InvalidRequest);
        assert!(err.to_string().contains("vcloud"), "{err}");
        assert!(!err.to_string().contains("cred"));
        assert!(registry.build(&spec("mock", None), &ctx).is_ok());
    }
}
