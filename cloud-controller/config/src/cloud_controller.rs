//! `cloud-controller.xml` (Stratos 4.0/4.1 schema).

use crate::source::Element;
use crate::{Ctx, Location, Property};
use serde::{Serialize, Serializer};
use std::fmt;

/// A credential from the configuration: printed and serialized only as `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretValue {
    value: String,
    /// Stratos Secure Vault alias (`svns:secretAlias`); the element text is still the value.
    pub secret_alias: Option<String>,
}

impl SecretValue {
    pub fn new(value: impl Into<String>, secret_alias: Option<String>) -> Self {
        SecretValue {
            value: value.into(),
            secret_alias,
        }
    }
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for SecretValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IaasProviderConfig {
    /// The unique key (`type` attribute) cartridges and partitions refer to.
    #[serde(rename = "type")]
    pub provider_type: String,
    pub name: Option<String>,
    pub class_name: String,
    /// The driver (`mock`, `aws-ec2`, ...).
    pub provider: String,
    pub identity: SecretValue,
    pub credential: SecretValue,
    pub image_id: Option<String>,
    pub properties: Vec<Property>,
    #[serde(skip)]
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudControllerConfig {
    pub iaas_providers: Vec<IaasProviderConfig>,
    pub data_publisher_enabled: bool,
    pub topology_sync_enabled: bool,
    #[serde(skip)]
    pub location: Location,
}

fn secret(ctx: &mut Ctx<'_>, el: &Element, name: &str) -> SecretValue {
    match el.child(name) {
        Some(child) if !child.trimmed_text().is_empty() => SecretValue::new(
            child.trimmed_text(),
            child.attr("secretAlias").map(str::to_string),
        ),
        _ => {
            ctx.problem(el, format!("<{}> requires element <{name}>", el.name));
            SecretValue::default()
        }
    }
}

pub(crate) fn read(ctx: &mut Ctx<'_>, el: &Element) -> CloudControllerConfig {
    let data_publisher_enabled = match el.child("dataPublisher") {
        Some(dp) => ctx.bool_attr(dp, "enable", false),
        None => false,
    };
    let topology_sync_enabled = match el.child("topologySync") {
        Some(ts) => ctx.bool_attr(ts, "enable", false),
        None => false,
    };
    let mut iaas_providers: Vec<IaasProviderConfig> = Vec::new();
    for providers in el.children_named("iaasProviders") {
        for p in providers.children_named("iaasProvider") {
            let provider_type = ctx.required_attr(p, "type");
            let config = IaasProviderConfig {
                name: p.attr("name").map(str::to_string),
                class_name: ctx.required_child(p, "className"),
                provider: ctx.required_child(p, "provider"),
                identity: secret(ctx, p, "identity"),
                credential: secret(ctx, p, "credential"),
                image_id: p.child_text("imageId"),
                properties: ctx.properties(p),
                location: ctx.loc(p),
                provider_type,
            };
            if let Some(first) = iaas_providers.iter().find(|x| {
                x.provider_type == config.provider_type && !config.provider_type.is_empty()
            }) {
                let message = format!("duplicate iaasProvider type {:?} (first defined at {}); only the first is used", config.provider_type, first.location);
                ctx.problem(p, message);
                continue;
            }
            iaas_providers.push(config);
        }
    }
    CloudControllerConfig {
        iaas_providers,
        data_publisher_enabled,
        topology_sync_enabled,
        location: ctx.loc(el),
    }
}
