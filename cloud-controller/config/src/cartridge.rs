//! Cartridge definitions in the `cartridges.xsd` shape (one `<cartridge>` or a `<cartridges>` list).

use crate::source::Element;
use crate::{Ctx, Location, NameRule, Property};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartridgeIaasProvider {
    #[serde(rename = "type")]
    pub provider_type: String,
    pub image_id: Option<String>,
    pub max_instance_limit: Option<u32>,
    pub properties: Vec<Property>,
    #[serde(skip)]
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub base_dir: Option<String>,
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub protocol: String,
    pub port: u16,
    pub proxy_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cartridge {
    #[serde(rename = "type")]
    pub cartridge_type: String,
    /// Optional, as in Stratos 4.1's schema; without it clusters are named under the type
    /// (`alias.<type>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub provider: Option<String>,
    pub version: Option<String>,
    pub multi_tenant: bool,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub properties: Vec<Property>,
    pub iaas_providers: Vec<CartridgeIaasProvider>,
    pub deployment: Option<Deployment>,
    pub port_mappings: Vec<PortMapping>,
    /// Volumes the members need (`<persistence required="true"><volume .../></persistence>`).
    pub persistence: Option<Persistence>,
    #[serde(skip)]
    pub location: Location,
}

/// Stratos' `persistence`: whether members get volumes, and which.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Persistence {
    pub required: bool,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub id: Option<String>,
    pub size_gb: u32,
    pub device: Option<String>,
    pub mapping_path: Option<String>,
    pub snapshot_id: Option<String>,
    pub remove_on_termination: bool,
}

/// An attribute or, Stratos' JSON-turned-XML way, a child element of the same name.
fn attr_or_child(el: &Element, name: &str) -> Option<String> {
    el.attr(name)
        .map(|v| v.trim().to_string())
        .or_else(|| el.child_text(name))
        .filter(|v| !v.is_empty())
}

fn flag(ctx: &mut Ctx<'_>, el: &Element, names: &[&str], default: bool) -> bool {
    let Some(raw) = names.iter().find_map(|n| attr_or_child(el, n)) else {
        return default;
    };
    match raw.to_ascii_lowercase().as_str() {
        "true" => true,
        "false" => false,
        _ => {
            ctx.problem(
                el,
                format!(
                    "<{}> {} must be true or false, not {raw:?}",
                    el.name, names[0]
                ),
            );
            default
        }
    }
}

fn persistence(ctx: &mut Ctx<'_>, el: &Element) -> Persistence {
    let required = flag(ctx, el, &["required", "isRequired"], false);
    let volumes = el
        .children_named("volume")
        .map(|v| {
            let size_gb = match attr_or_child(v, "size").map(|s| s.parse::<u32>()) {
                Some(Ok(n)) if n > 0 => n,
                Some(_) => {
                    ctx.problem(v, "<volume> size must be a positive whole number of GB");
                    0
                }
                None => {
                    ctx.problem(v, "<volume> requires a size (GB)");
                    0
                }
            };
            Volume {
                id: attr_or_child(v, "id"),
                size_gb,
                device: attr_or_child(v, "device"),
                mapping_path: attr_or_child(v, "mappingPath"),
                snapshot_id: attr_or_child(v, "snapshotId"),
                remove_on_termination: flag(ctx, v, &["removeOnTermination"], true),
            }
        })
        .collect::<Vec<_>>();
    if required && volumes.is_empty() {
        ctx.problem(
            el,
            "<persistence required=\"true\"> needs at least one <volume>",
        );
    }
    Persistence { required, volumes }
}

fn port(ctx: &mut Ctx<'_>, el: &Element, attr: &str) -> Option<u16> {
    let raw = el.attr(attr)?.trim();
    match raw.parse::<u16>() {
        Ok(p) if p > 0 => Some(p),
        _ => {
            ctx.problem(
                el,
                format!(
                    "<{}> attribute {attr} must be a port number (1-65535), not {raw:?}",
                    el.name
                ),
            );
            None
        }
    }
}

fn one(ctx: &mut Ctx<'_>, el: &Element) -> Cartridge {
    let mut port_mappings = Vec::new();
    for pm in el.children_named("portMapping") {
        for p in &pm.children {
            let protocol = match p.local_name() {
                "port" => p.attr("protocol").unwrap_or("http").to_string(),
                other => other.to_string(),
            };
            match port(ctx, p, "port") {
                Some(value) => port_mappings.push(PortMapping {
                    protocol,
                    port: value,
                    proxy_port: port(ctx, p, "proxyPort"),
                }),
                None if p.attr("port").is_none() => {
                    ctx.problem(p, format!("<{}> requires attribute port", p.name))
                }
                None => {}
            }
        }
    }
    let iaas_providers = el
        .children_named("iaasProvider")
        .map(|p| CartridgeIaasProvider {
            provider_type: ctx.required_attr(p, "type"),
            image_id: p.child_text("imageId"),
            max_instance_limit: ctx.child_number(p, &["maxInstanceLimit"]),
            properties: ctx.properties(p),
            location: ctx.loc(p),
        })
        .collect::<Vec<_>>();
    if iaas_providers.is_empty() {
        ctx.problem(el, "<cartridge> requires at least one <iaasProvider>");
    }
    Cartridge {
        cartridge_type: ctx.required_name(el, "type", NameRule::DnsLabel),
        host: el
            .attr("host")
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string),
        provider: el.attr("provider").map(str::to_string),
        version: el.attr("version").map(str::to_string),
        multi_tenant: ctx.bool_attr(el, "multiTenant", false),
        display_name: el.child_text("displayName"),
        description: el.child_text("description"),
        properties: ctx.properties(el),
        iaas_providers,
        deployment: el.child("deployment").map(|d| Deployment {
            base_dir: d.attr("baseDir").map(str::to_string),
            dirs: d
                .children_named("dir")
                .map(|x| x.trimmed_text().to_string())
                .collect(),
        }),
        port_mappings,
        persistence: el.child("persistence").map(|p| persistence(ctx, p)),
        location: ctx.loc(el),
    }
}

pub(crate) fn read(ctx: &mut Ctx<'_>, el: &Element) -> Vec<Cartridge> {
    if el.local_name() == "cartridge" {
        return vec![one(ctx, el)];
    }
    let list: Vec<Cartridge> = el
        .children_named("cartridge")
        .map(|c| one(ctx, c))
        .collect();
    if list.is_empty() {
        ctx.problem(el, "<cartridges> holds no <cartridge>");
    }
    list
}
