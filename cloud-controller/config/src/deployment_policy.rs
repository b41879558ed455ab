//! Deployment policies (`partitionGroup`/`partitionAlgo`/`partition`) and standalone
//! `partitions` files.

use crate::source::Element;
use crate::{Ctx, Location, NameRule, Property};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionAlgorithm {
    OneAfterAnother,
    RoundRobin,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionConfig {
    pub id: String,
    /// The iaasProvider `type`; absent when the policy references a standalone partition.
    pub provider: Option<String>,
    pub properties: Vec<Property>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    #[serde(skip)]
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionGroup {
    pub id: String,
    pub algorithm: PartitionAlgorithm,
    pub partitions: Vec<PartitionConfig>,
    #[serde(skip)]
    pub location: Location,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPolicy {
    pub id: String,
    pub partition_groups: Vec<PartitionGroup>,
    #[serde(skip)]
    pub location: Location,
}

fn partition(ctx: &mut Ctx<'_>, el: &Element) -> PartitionConfig {
    PartitionConfig {
        id: ctx.required_name(el, "id", NameRule::Identifier),
        provider: el.child_text("provider"),
        properties: ctx.properties(el),
        min: ctx.child_number(el, &["min", "partitionMin"]),
        max: ctx.child_number(el, &["max", "partitionMax"]),
        location: ctx.loc(el),
    }
}

pub(crate) fn read(ctx: &mut Ctx<'_>, el: &Element) -> DeploymentPolicy {
    let mut groups = Vec::new();
    for g in el.children_named("partitionGroup") {
        let algorithm = match g.child("partitionAlgo") {
            None => PartitionAlgorithm::OneAfterAnother,
            Some(a) => match a.trimmed_text() {
                "one-after-another" | "" => PartitionAlgorithm::OneAfterAnother,
                "round-robin" => PartitionAlgorithm::RoundRobin,
                other => {
                    ctx.problem(a, format!("unknown partitionAlgo {other:?}; expected one-after-another or round-robin"));
                    PartitionAlgorithm::OneAfterAnother
                }
            },
        };
        groups.push(PartitionGroup {
            id: ctx.required_name(g, "id", NameRule::Identifier),
            algorithm,
            partitions: g
                .children_named("partition")
                .map(|p| partition(ctx, p))
                .collect(),
            location: ctx.loc(g),
        });
    }
    DeploymentPolicy {
        id: ctx.required_name(el, "id", NameRule::Identifier),
        partition_groups: groups,
        location: ctx.loc(el),
    }
}

pub(crate) fn read_partitions(ctx: &mut Ctx<'_>, el: &Element) -> Vec<PartitionConfig> {
    el.children_named("partition")
        .map(|p| partition(ctx, p))
        .collect()
}
