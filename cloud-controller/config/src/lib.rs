//! Stratos-compatible XML configuration.
//!
//! Every file is recognised by its root element: `cloudController` (cloud-controller.xml),
//! `cartridge`/`cartridges`, `autoscalePolicy`, `deploymentPolicy`, `partitions` and
//! `mock-iaas`. [`load_path`] reads a file or a whole directory tree in any layout and returns
//! the documents plus every problem as `FILE:LINE:COL: message`; [`ConfigSet::validate`] checks
//! references between documents; [`ConfigSet::effective_properties`] applies the property
//! cascade (cloud-controller.xml provider < cartridge < cartridge iaasProvider < partition).
//!
//! Documents are read into a small positioned element tree ([`source`]) and mapped to the
//! structs here by hand, one module per document: that is what lets a semantic problem (an
//! unknown partition, min > max) point at the element it concerns. Strict where Stratos is
//! strict (required elements), tolerant where it is tolerant (unknown elements are ignored and
//! unknown property names pass through to the driver).

mod autoscale_policy;
mod cartridge;
mod cloud_controller;
mod deployment_policy;
mod mock_iaas;
mod network_partition;
pub mod scaling;
pub mod source;
mod validate;

pub use autoscale_policy::{AutoscalePolicy, LoadThresholds, Thresholds};
pub use cartridge::{Cartridge, CartridgeIaasProvider, Deployment, PortMapping};
pub use cloud_controller::{CloudControllerConfig, IaasProviderConfig, SecretValue};
pub use deployment_policy::{
    DeploymentPolicy, PartitionAlgorithm, PartitionConfig, PartitionGroup,
};
pub use mock_iaas::{
    HealthFactor, HealthPattern, MockCartridgePatterns, MockIaasConfig, PatternMode,
};
pub use network_partition::NetworkPartitionConfig;
pub use scaling::ScalingOverrides;

use serde::Serialize;
use source::Element;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where something is: `FILE:LINE:COL` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
}

impl Location {
    pub fn new(file: &Path, line: u32, col: u32) -> Self {
        Location {
            file: file.to_path_buf(),
            line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Errors of this crate as a `std::error::Error`, for callers that want one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration has problems; each line is `FILE:LINE:COL: message`.
    #[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// A `property@name@value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Property {
    pub name: String,
    pub value: String,
}

/// One parsed document.
#[derive(Debug, Clone, PartialEq)]
// Documents are parsed once per file; boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Document {
    CloudController(CloudControllerConfig),
    Cartridges(Vec<Cartridge>),
    AutoscalePolicy(AutoscalePolicy),
    DeploymentPolicy(DeploymentPolicy),
    Partitions(Vec<PartitionConfig>),
    NetworkPartitions(Vec<NetworkPartitionConfig>),
    MockIaas(MockIaasConfig),
}

/// Collects problems while mapping one document.
pub(crate) struct Ctx<'a> {
    pub origin: &'a Path,
    pub problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub fn new(origin: &'a Path) -> Self {
        Ctx {
            origin,
            problems: Vec::new(),
        }
    }

    pub fn loc(&self, el: &Element) -> Location {
        Location::new(self.origin, el.line, el.col)
    }

    pub fn problem(&mut self, el: &Element, message: impl Into<String>) {
        self.problems.push(Problem {
            location: self.loc(el),
            message: message.into(),
        });
    }

    pub fn required_attr(&mut self, el: &Element, name: &str) -> String {
        match el.attr(name).map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => v.to_string(),
            None => {
                self.problem(el, format!("<{}> requires attribute {name}", el.name));
                String::new()
            }
        }
    }

    /// A required attribute naming something (`id`, `type`): also checked against `rule`, so
    /// that what it becomes part of (cluster ids, host names, queue names) stays valid.
    pub fn required_name(&mut self, el: &Element, attr: &str, rule: NameRule) -> String {
        let value = self.required_attr(el, attr);
        if !value.is_empty() {
            if let Err(why) = rule.check(&value) {
                self.problem(el, format!("<{}> {attr} {value:?}: {why}", el.name));
            }
        }
        value
    }

    pub fn required_child(&mut self, el: &Element, name: &str) -> String {
        match el.child_text(name) {
            Some(v) => v,
            None => {
                self.problem(el, format!("<{}> requires element <{name}>", el.name));
                String::new()
            }
        }
    }

    /// A number written as `<x value="n"/>` or `<x>n</x>`.
    pub fn number<T: std::str::FromStr>(&mut self, el: &Element) -> Option<T> {
        let raw = el.value()?;
        match raw.parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.problem(el, format!("<{}> has an invalid number {raw:?}", el.name));
                None
            }
        }
    }

    pub fn child_number<T: std::str::FromStr>(
        &mut self,
        el: &Element,
        names: &[&str],
    ) -> Option<T> {
        let child = names.iter().find_map(|n| el.child(n))?;
        self.number(child)
    }

    pub fn properties(&mut self, el: &Element) -> Vec<Property> {
        el.children_named("property")
            .map(|p| Property {
                name: self.required_attr(p, "name"),
                value: self.required_attr(p, "value"),
            })
            .collect()
    }

    pub fn bool_attr(&mut self, el: &Element, name: &str, default: bool) -> bool {
        match el.attr(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => default,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                self.problem(
                    el,
                    format!("attribute {name} must be true or false, not {v:?}"),
                );
                default
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<Problem>> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self.problems)
        }
    }
}

/// The root elements this crate reads.
const ROOTS: &[&str] = &[
    "cloudController",
    "cartridge",
    "cartridges",
    "autoscalePolicy",
    "deploymentPolicy",
    "partitions",
    "networkPartition",
    "networkPartitions",
    "mock-iaas",
];

fn root(origin: &Path, bytes: &[u8]) -> Result<Element, Vec<Problem>> {
    let text = source::decode(origin, bytes).map_err(|p| vec![p])?;
    source::parse(origin, &text).map_err(|p| vec![p])
}

fn map_document(origin: &Path, el: &Element) -> Result<Document, Vec<Problem>> {
    let mut ctx = Ctx::new(origin);
    let doc = match el.local_name() {
        "cloudController" => Document::CloudController(cloud_controller::read(&mut ctx, el)),
        "cartridge" | "cartridges" => Document::Cartridges(cartridge::read(&mut ctx, el)),
        "autoscalePolicy" => Document::AutoscalePolicy(autoscale_policy::read(&mut ctx, el)),
        "deploymentPolicy" => Document::DeploymentPolicy(deployment_policy::read(&mut ctx, el)),
        "partitions" => Document::Partitions(deployment_policy::read_partitions(&mut ctx, el)),
        "networkPartition" | "networkPartitions" => {
            Document::NetworkPartitions(network_partition::read(&mut ctx, el))
        }
        "mock-iaas" => Document::MockIaas(mock_iaas::read(&mut ctx, el)),
        other => {
            ctx.problem(
                el,
                format!(
                    "unknown document root <{other}>; expected one of {}",
                    ROOTS.join(", ")
                ),
            );
            return Err(ctx.problems);
        }
    };
    ctx.finish(doc)
}

/// Parse one document from bytes; `origin` names it in problem locations.
pub fn parse_document(origin: &Path, bytes: &[u8]) -> Result<Document, Vec<Problem>> {
    map_document(origin, &root(origin, bytes)?)
}

fn wrong_root(origin: &Path, el: &Element, expected: &str) -> Vec<Problem> {
    vec![Problem {
        location: Location::new(origin, el.line, el.col),
        message: format!("expected a <{expected}> document, found <{}>", el.name),
    }]
}

pub fn parse_cartridges(origin: &Path, bytes: &[u8]) -> Result<Vec<Cartridge>, Vec<Problem>> {
    let el = root(origin, bytes)?;
    match map_document(origin, &el)? {
        Document::Cartridges(list) => Ok(list),
        _ => Err(wrong_root(origin, &el, "cartridge")),
    }
}

pub fn parse_autoscale_policy(
    origin: &Path,
    bytes: &[u8],
) -> Result<AutoscalePolicy, Vec<Problem>> {
    let el = root(origin, bytes)?;
    match map_document(origin, &el)? {
        Document::AutoscalePolicy(p) => Ok(p),
        _ => Err(wrong_root(origin, &el, "autoscalePolicy")),
    }
}

pub fn parse_deployment_policy(
    origin: &Path,
    bytes: &[u8],
) -> Result<DeploymentPolicy, Vec<Problem>> {
    let el = root(origin, bytes)?;
    match map_document(origin, &el)? {
        Document::DeploymentPolicy(p) => Ok(p),
        _ => Err(wrong_root(origin, &el, "deploymentPolicy")),
    }
}

pub fn parse_network_partitions(
    origin: &Path,
    bytes: &[u8],
) -> Result<Vec<NetworkPartitionConfig>, Vec<Problem>> {
    let el = root(origin, bytes)?;
    match map_document(origin, &el)? {
        Document::NetworkPartitions(list) => Ok(list),
        _ => Err(wrong_root(origin, &el, "networkPartition")),
    }
}

/// Everything read from a configuration tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSet {
    pub cloud_controller: Option<CloudControllerConfig>,
    pub cartridges: Vec<Cartridge>,
    pub autoscale_policies: Vec<AutoscalePolicy>,
    pub deployment_policies: Vec<DeploymentPolicy>,
    pub partitions: Vec<PartitionConfig>,
    pub network_partitions: Vec<NetworkPartitionConfig>,
    pub mock_iaas: Option<MockIaasConfig>,
    /// Files skipped because they are not one of our documents (e.g. an .xsd, a .json).
    pub ignored: Vec<PathBuf>,
}

/// The image and merged properties a member of `cartridge` starts with in a partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveProperties {
    pub image_id: Option<String>,
    pub properties: BTreeMap<String, String>,
}

impl ConfigSet {
    /// How many documents the set holds.
    pub fn document_count(&self) -> usize {
        usize::from(self.cloud_controller.is_some())
            + self.cartridges.len()
            + self.autoscale_policies.len()
            + self.deployment_policies.len()
            + self.partitions.len()
            + self.network_partitions.len()
            + usize::from(self.mock_iaas.is_some())
    }

    fn add(&mut self, doc: Document, problems: &mut Vec<Problem>) {
        match doc {
            Document::CloudController(cc) => {
                if let Some(first) = &self.cloud_controller {
                    problems.push(Problem {
                        location: cc.location.clone(),
                        message: format!(
                            "a second cloud-controller document (the first is {}); ignored",
                            first.location
                        ),
                    });
                } else {
                    self.cloud_controller = Some(cc);
                }
            }
            Document::Cartridges(list) => self.cartridges.extend(list),
            Document::AutoscalePolicy(p) => self.autoscale_policies.push(p),
            Document::DeploymentPolicy(p) => self.deployment_policies.push(p),
            Document::Partitions(list) => self.partitions.extend(list),
            Document::NetworkPartitions(list) => self.network_partitions.extend(list),
            Document::MockIaas(m) => {
                if self.mock_iaas.is_none() {
                    self.mock_iaas = Some(m);
                } else {
                    problems.push(Problem {
                        location: m.location.clone(),
                        message: "a second mock-iaas document; ignored".into(),
                    });
                }
            }
        }
    }

    pub fn validate(&self) -> Vec<Problem> {
        validate::all(self)
    }

    pub fn validate_cartridge(&self, c: &Cartridge) -> Vec<Problem> {
        validate::cartridge(self, c)
    }

    pub fn validate_deployment_policy(&self, p: &DeploymentPolicy) -> Vec<Problem> {
        validate::deployment_policy(self, p)
    }

    pub fn validate_autoscale_policy(&self, p: &AutoscalePolicy) -> Vec<Problem> {
        validate::autoscale_policy(p)
    }

    pub fn validate_network_partition(&self, np: &NetworkPartitionConfig) -> Vec<Problem> {
        validate::network_partition(self, np)
    }

    pub fn network_partition(&self, id: &str) -> Option<&NetworkPartitionConfig> {
        self.network_partitions.iter().find(|np| np.id == id)
    }

    /// A policy's partition, in the policy's `group` (a 4.0 partition group, a 4.1 network
    /// partition), with its provider and properties: inline (4.0, it names its provider); else
    /// the partition of that id inside the network partition of the group's id (4.1: the
    /// network partition's properties < the partition's < the policy's); else the standalone
    /// partition of that id (conf/partitions). The policy's own min/max/properties win.
    pub fn resolve_partition(
        &self,
        group: &PartitionGroup,
        p: &PartitionConfig,
    ) -> Option<PartitionConfig> {
        if p.provider.is_some() {
            return Some(p.clone());
        }
        let base = match self
            .network_partition(&group.id)
            .and_then(|np| np.partition(&p.id).map(|part| (np, part)))
        {
            Some((np, part)) => {
                let mut base = part.clone();
                base.properties = np.properties.clone();
                for prop in &part.properties {
                    base.properties.retain(|old| old.name != prop.name);
                    base.properties.push(prop.clone());
                }
                base
            }
            None => self.partitions.iter().find(|s| s.id == p.id)?.clone(),
        };
        let mut merged = base;
        merged.min = p.min.or(merged.min);
        merged.max = p.max.or(merged.max);
        for prop in &p.properties {
            merged.properties.retain(|old| old.name != prop.name);
            merged.properties.push(prop.clone());
        }
        merged.location = p.location.clone();
        Some(merged)
    }

    /// The property cascade: cloud-controller.xml provider < cartridge `property` < cartridge
    /// `iaasProvider` `property` < partition `property`. Later wins; names pass through.
    pub fn effective_properties(
        &self,
        cartridge: &Cartridge,
        provider_type: &str,
        partition: &PartitionConfig,
    ) -> EffectiveProperties {
        let mut out = EffectiveProperties::default();
        let mut apply = |props: &[Property]| {
            for p in props {
                out.properties.insert(p.name.clone(), p.value.clone());
            }
        };
        let provider = self.cloud_controller.as_ref().and_then(|cc| {
            cc.iaas_providers
                .iter()
                .find(|p| p.provider_type == provider_type)
        });
        if let Some(provider) = provider {
            apply(&provider.properties);
        }
        apply(&cartridge.properties);
        let cartridge_provider = cartridge
            .iaas_providers
            .iter()
            .find(|p| p.provider_type == provider_type);
        if let Some(cp) = cartridge_provider {
            apply(&cp.properties);
        }
        apply(&partition.properties);
        out.image_id = cartridge_provider
            .and_then(|cp| cp.image_id.clone())
            .or_else(|| provider.and_then(|p| p.image_id.clone()));
        out
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    collect_files(&path, out, problems);
                } else {
                    out.push(path);
                }
            }
        }
        Err(e) => problems.push(Problem {
            location: Location::new(dir, 1, 1),
            message: format!("cannot read directory: {e}"),
        }),
    }
}

/// Load a file or a directory tree (any layout, sorted order) and validate the whole set.
pub fn load_path(path: &Path) -> (ConfigSet, Vec<Problem>) {
    let mut set = ConfigSet::default();
    let mut problems = Vec::new();
    if path.is_dir() {
        let mut files = Vec::new();
        collect_files(path, &mut files, &mut problems);
        files.sort();
        for file in files {
            let is_xml = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("xml") || e.eq_ignore_ascii_case("in"));
            if !is_xml {
                set.ignored.push(file);
                continue;
            }
            load_file(&file, &mut set, &mut problems, true);
        }
    } else if path.exists() {
        load_file(path, &mut set, &mut problems, false);
    } else {
        problems.push(Problem {
            location: Location::new(path, 1, 1),
            message: "no such file or directory".into(),
        });
    }
    problems.extend(set.validate());
    (set, problems)
}

fn load_file(file: &Path, set: &mut ConfigSet, problems: &mut Vec<Problem>, in_directory: bool) {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            problems.push(Problem {
                location: Location::new(file, 1, 1),
                message: format!("cannot read: {e}"),
            });
            return;
        }
    };
    let el = match root(file, &bytes) {
        Ok(el) => el,
        Err(p) => {
            problems.extend(p);
            return;
        }
    };
    if in_directory && !ROOTS.contains(&el.local_name()) {
        // Not one of ours (an XSD, a Maven file, ...): a directory may hold anything.
        set.ignored.push(file.to_path_buf());
        return;
    }
    match map_document(file, &el) {
        Ok(doc) => set.add(doc, problems),
        Err(p) => problems.extend(p),
    }
}

/// What a name may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// Part of host names and cluster ids (a cartridge type): one DNS label, 1 to 63 ASCII
    /// letters, digits and inner `-`.
    DnsLabel,
    /// An identifier that is never part of a host name (policy, partition and group ids): 1 to
    /// 128 ASCII letters, digits, `.`, `_`, `-`.
    Identifier,
}

/// The longest DNS label (RFC 1035).
pub const MAX_LABEL: usize = 63;
/// The longest identifier.
pub const MAX_IDENTIFIER: usize = 128;

impl NameRule {
    pub fn check(self, name: &str) -> Result<(), String> {
        let (max, ok): (usize, fn(char) -> bool) = match self {
            NameRule::DnsLabel => (MAX_LABEL, |c| c.is_ascii_alphanumeric() || c == '-'),
            NameRule::Identifier => (MAX_IDENTIFIER, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
            }),
        };
        if name.len() > max {
            return Err(format!("longer than {max} characters"));
        }
        if let Some(c) = name.chars().find(|c| !ok(*c)) {
            return Err(format!("character {c:?} is not allowed"));
        }
        if self == NameRule::DnsLabel && (name.starts_with('-') || name.ends_with('-')) {
            return Err("must not begin or end with '-'".into());
        }
        Ok(())
    }
}

/// Stratos' alias pattern `([a-z0-9]+([-][a-z0-9])*)+` over the whole alias: lower-case letters
/// and digits, where a `-` must sit between two of them.
/// An alias is also one DNS label of its host name: at most [`MAX_LABEL`] characters.
pub fn is_valid_alias(alias: &str) -> bool {
    let bytes = alias.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_LABEL
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && !alias.contains("--")
}

#[cfg(test)]
mod tests;
