//! Network partitions, Stratos 4.1's way to say where a deployment policy's partitions live:
//! one cloud (`provider`, the iaasProvider `type`), its own properties, and the partitions inside
//! it. Partition ids are scoped by their network partition: two network partitions may both hold
//! a `P1`.
//!
//! ```xml
//! <networkPartition id="np-east" provider="mock-east">
//!     <property name="payload_parameter.X" value="1"/>
//!     <partition id="P1">
//!         <description>zone a</description>
//!         <property name="zone" value="east-a"/>
//!     </partition>
//! </networkPartition>
//! ```
//!
//! A `<networkPartitions>` document holds several. Over REST the same thing is 4.1's
//! `NetworkPartitionBean` JSON (`{"id", "provider", "partitions": [{"id", "property"}],
//! "properties"}`), converted to this document.

use crate::source::Element;
use crate::{Ctx, Location, NameRule, PartitionConfig, Property};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPartitionConfig {
    pub id: String,
    /// The iaasProvider `type` the partitions inside start their members on (empty when each
    /// partition names its own).
    pub provider: String,
    /// Properties of the whole network partition (below the partitions' own).
    pub properties: Vec<Property>,
    /// The partitions, each with its `provider` (its own, else the network partition's).
    pub partitions: Vec<PartitionConfig>,
    #[serde(skip)]
    pub location: Location,
}

impl NetworkPartitionConfig {
    pub fn partition(&self, id: &str) -> Option<&PartitionConfig> {
        self.partitions.iter().find(|p| p.id == id)
    }
}

fn one(ctx: &mut Ctx<'_>, el: &Element) -> NetworkPartitionConfig {
    let id = ctx.required_name(el, "id", NameRule::Identifier);
    let text = |e: &Element, name: &str| {
        e.attr(name)
            .map(|v| v.trim().to_string())
            .or_else(|| e.child_text(name))
            .filter(|v| !v.is_empty())
    };
    // Some 4.1 samples name the cloud per partition instead: each partition's own wins.
    let provider = text(el, "provider");
    let mut partitions: Vec<PartitionConfig> = Vec::new();
    let mut seen: HashMap<String, Location> = HashMap::new();
    for p in el.children_named("partition") {
        let partition = PartitionConfig {
            id: ctx.required_name(p, "id", NameRule::Identifier),
            provider: text(p, "provider").or_else(|| provider.clone()),
            properties: ctx.properties(p),
            min: None,
            max: None,
            location: ctx.loc(p),
        };
        if partition.provider.is_none() {
            ctx.problem(
                p,
                format!(
                    "partition {} of network partition {id:?} names no provider and the network \
                     partition has none (an iaasProvider type)",
                    partition.id
                ),
            );
        }
        if let Some(first) = seen.insert(partition.id.clone(), partition.location.clone()) {
            ctx.problem(
                p,
                format!(
                    "partition {} appears twice in network partition {id} (first at {first})",
                    partition.id
                ),
            );
            continue;
        }
        partitions.push(partition);
    }
    if partitions.is_empty() {
        ctx.problem(el, format!("network partition {id:?} holds no <partition>"));
    }
    NetworkPartitionConfig {
        id,
        provider: provider.unwrap_or_default(),
        properties: ctx.properties(el),
        partitions,
        location: ctx.loc(el),
    }
}

/// `<networkPartition>` (one) or `<networkPartitions>` (a list).
pub(crate) fn read(ctx: &mut Ctx<'_>, el: &Element) -> Vec<NetworkPartitionConfig> {
    if el.local_name() == "networkPartition" {
        return vec![one(ctx, el)];
    }
    let list: Vec<_> = el
        .children_named("networkPartition")
        .map(|np| one(ctx, np))
        .collect();
    if list.is_empty() {
        ctx.problem(el, "<networkPartitions> holds no <networkPartition>");
    }
    list
}
