//! Prometheus metrics: one registry of every counter, gauge and histogram the controller
//! keeps, handed to the parts that count (actuator, ingestion, scaling loop, reconciler,
//! login, the REST middleware), and its exposition for `GET /metrics`.
//!
//! Names follow Prometheus' conventions: the `alto_` prefix, `_total` on counters, `_seconds`
//! on durations. The gauges of members and clusters are computed from the registry at scrape
//! time ([`Metrics::set_registry_gauges`]), so a replica that does not lead reports them right
//! too. Cluster ids are user-created: at most [`MAX_EXPORTED_CLUSTERS`] clusters get their own
//! series; the members of the rest are summed under `cluster="_other"`.
//!
//! prometheus-client writes OpenMetrics text only; the classic text format (what a scraper
//! gets unless it asks for OpenMetrics) differs in names the counter families are declared by
//! (`_total` included), and has no `# UNIT` nor `# EOF` line: [`to_classic_text`].

use alto_registry::{Cluster, ClusterStatus, Member};
use autoscaler::{DecisionRecord, ScalingAction};
use iaas::IaasError;
use messaging::MemberState;
use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clusters with series of their own in `alto_members`; the others are summed as `_other`.
pub const MAX_EXPORTED_CLUSTERS: usize = 200;
/// The `cluster` label of the members of clusters past [`MAX_EXPORTED_CLUSTERS`].
pub const OTHER_CLUSTERS: &str = "_other";

/// Content type of the classic text format.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Member states a live member can be in (Terminated members are history, not counted).
const LIVE_STATES: [MemberState; 6] = [
    MemberState::Created,
    MemberState::Initialized,
    MemberState::Starting,
    MemberState::Active,
    MemberState::InMaintenance,
    MemberState::ReadyToShutDown,
];
const CLUSTER_STATUSES: [ClusterStatus; 3] = [
    ClusterStatus::Created,
    ClusterStatus::Active,
    ClusterStatus::Terminating,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    cluster: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudCallLabels {
    provider_type: String,
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudOperationLabels {
    provider_type: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloudErrorLabels {
    provider_type: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// What happened to a bus message the controller consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusOutcome {
    /// Applied (or a harmless duplicate).
    Consumed,
    /// Dropped: its member is unknown.
    RefusedUnknownMember,
    /// Dropped: the transition it asks for is not allowed (late or out of order).
    RefusedIllegalTransition,
    /// Dropped: it came from a tenant's virtual host and names a member of another tenant (or
    /// is an event agents may not send).
    RefusedWrongTenant,
    /// The registry could not apply it after every retry: rejected to the dead-letter exchange.
    DeadLettered,
}

/// The controller's metrics.
pub struct Metrics {
    registry: Registry,
    members: Family<MemberLabels, Gauge>,
    clusters: Family<StatusLabels, Gauge>,
    decisions: Family<OutcomeLabels, Counter>,
    cloud_calls: Family<CloudCallLabels, Counter>,
    cloud_call_duration: HistogramFamily<CloudOperationLabels>,
    cloud_errors: Family<CloudErrorLabels, Counter>,
    bus_consumed: Family<KindLabels, Counter>,
    bus_refused: Family<RefusalLabels, Counter>,
    bus_dead_lettered: Family<KindLabels, Counter>,
    reconcile_duration: Histogram,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    login_failures: Counter,
    /// Refreshing the registry gauges and encoding is one step (two scrapes at once would
    /// otherwise see each other's half-cleared gauges).
    scrape: Mutex<()>,
    /// `--metrics-listen`: served on a listener of its own, not on the API's.
    separate_listener: AtomicBool,
}

/// Cloud calls: 5 ms to about 82 s.
fn cloud_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// REST requests: 1 ms to about 16 s.
fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("alto");
        let members = Family::<MemberLabels, Gauge>::default();
        registry.register(
            "members",
            "Live members by cluster and state, read from the registry at scrape time",
            members.clone(),
        );
        let clusters = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "clusters",
            "Clusters by status, read from the registry at scrape time",
            clusters.clone(),
        );
        let decisions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "scaling_decisions",
            "Autoscaler evaluations by outcome",
            decisions.clone(),
        );
        let cloud_calls = Family::<CloudCallLabels, Counter>::default();
        registry.register(
            "cloud_calls",
            "Cloud calls by provider type, operation and outcome",
            cloud_calls.clone(),
        );
        let cloud_call_duration: HistogramFamily<CloudOperationLabels> =
            Family::new_with_constructor(cloud_buckets);
        registry.register_with_unit(
            "cloud_call_duration",
            "Duration of cloud calls by provider type and operation",
            Unit::Seconds,
            cloud_call_duration.clone(),
        );
        let cloud_errors = Family::<CloudErrorLabels, Counter>::default();
        registry.register(
            "cloud_errors",
            "Failed cloud calls by provider type and error class",
            cloud_errors.clone(),
        );
        let bus_consumed = Family::<KindLabels, Counter>::default();
        registry.register(
            "bus_messages_consumed",
            "Bus messages applied, by kind (event name)",
            bus_consumed.clone(),
        );
        let bus_refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "bus_messages_refused",
            "Bus messages dropped, by kind and reason (unknown-member, illegal-transition, wrong-tenant)",
            bus_refused.clone(),
        );
        let bus_dead_lettered = Family::<KindLabels, Counter>::default();
        registry.register(
            "bus_messages_dead_lettered",
            "Bus messages the registry could not apply after every retry, by kind",
            bus_dead_lettered.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register_with_unit(
            "reconcile_pass_duration",
            "Duration of reconciliation passes with every cloud",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "REST requests by method, route pattern and status",
            requests.clone(),
        );
        let request_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(request_buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Duration of REST requests by method and route pattern",
            Unit::Seconds,
            request_duration.clone(),
        );
        let login_failures = Counter::default();
        registry.register(
            "login_failures",
            "Logins refused (unknown user or wrong password)",
            login_failures.clone(),
        );
        Metrics {
            registry,
            members,
            clusters,
            decisions,
            cloud_calls,
            cloud_call_duration,
            cloud_errors,
            bus_consumed,
            bus_refused,
            bus_dead_lettered,
            reconcile_duration,
            requests,
            request_duration,
            login_failures,
            scrape: Mutex::new(()),
            separate_listener: AtomicBool::new(false),
        }
    }

    /// `--metrics-listen`: the API's `/metrics` answers 404 from now on.
    pub fn serve_separately(&self) {
        self.separate_listener.store(true, Ordering::Relaxed);
    }

    pub fn served_on_api(&self) -> bool {
        !self.separate_listener.load(Ordering::Relaxed)
    }

    /// Time one cloud call and count its outcome (and its error class when it failed).
    pub async fn cloud_call<T>(
        &self,
        provider_type: &str,
        operation: &'static str,
        call: impl Future<Output = Result<T, IaasError>>,
    ) -> Result<T, IaasError> {
        let started = Instant::now();
        let result = call.await;
        self.cloud_call_done(
            provider_type,
            operation,
            result.as_ref().err(),
            started.elapsed(),
        );
        result
    }

    fn cloud_call_done(
        &self,
        provider_type: &str,
        operation: &str,
        error: Option<&IaasError>,
        took: Duration,
    ) {
        self.cloud_calls
            .get_or_create(&CloudCallLabels {
                provider_type: provider_type.to_string(),
                operation: operation.to_string(),
                outcome: if error.is_some() { "error" } else { "ok" }.to_string(),
            })
            .inc();
        self.cloud_call_duration
            .get_or_create(&CloudOperationLabels {
                provider_type: provider_type.to_string(),
                operation: operation.to_string(),
            })
            .observe(took.as_secs_f64());
        if let Some(e) = error {
            self.cloud_errors
                .get_or_create(&CloudErrorLabels {
                    provider_type: provider_type.to_string(),
                    class: e.class.name().to_string(),
                })
                .inc();
        }
    }

    /// One autoscaler evaluation.
    pub fn decision(&self, record: &DecisionRecord) {
        self.decisions
            .get_or_create(&OutcomeLabels {
                outcome: decision_outcome(record).to_string(),
            })
            .inc();
    }

    /// One bus message of this kind (the event's name) and what became of it.
    pub fn bus_message(&self, kind: &str, outcome: BusOutcome) {
        let kind = kind.to_string();
        let refused = |reason: &str| RefusalLabels {
            kind: kind.clone(),
            reason: reason.to_string(),
        };
        match outcome {
            BusOutcome::Consumed => self.bus_consumed.get_or_create(&KindLabels { kind }).inc(),
            BusOutcome::RefusedUnknownMember => self
                .bus_refused
                .get_or_create(&refused("unknown-member"))
                .inc(),
            BusOutcome::RefusedIllegalTransition => self
                .bus_refused
                .get_or_create(&refused("illegal-transition"))
                .inc(),
            BusOutcome::RefusedWrongTenant => self
                .bus_refused
                .get_or_create(&refused("wrong-tenant"))
                .inc(),
            BusOutcome::DeadLettered => self
                .bus_dead_lettered
                .get_or_create(&KindLabels { kind })
                .inc(),
        };
    }

    pub fn reconcile_pass(&self, took: Duration) {
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// One REST request; `route` is the matched pattern, never the raw path.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn login_failure(&self) {
        self.login_failures.inc();
    }

    /// Set the members and clusters gauges from the registry's clusters and live members,
    /// then encode everything: OpenMetrics text, or the classic text format.
    pub fn render(&self, clusters: &[Cluster], members: &[Member], openmetrics: bool) -> String {
        let _one_scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.set_registry_gauges(clusters, members);
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = text::encode(&mut out, &self.registry);
        if openmetrics {
            out
        } else {
            to_classic_text(&out)
        }
    }

    fn set_registry_gauges(&self, clusters: &[Cluster], members: &[Member]) {
        self.clusters.clear();
        for status in CLUSTER_STATUSES {
            let n = clusters.iter().filter(|c| c.status == status).count();
            self.clusters
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_string(),
                })
                .set(n as i64);
        }
        self.members.clear();
        for ((cluster, state), n) in members_by_cluster_and_state(clusters, members) {
            self.members
                .get_or_create(&MemberLabels {
                    cluster,
                    state: state.to_string(),
                })
                .set(n as i64);
        }
    }
}

/// Live members counted per (cluster, state): every live state of every exported cluster
/// (zeros included, so a series drops to 0 rather than vanishing), the clusters past
/// [`MAX_EXPORTED_CLUSTERS`] (by id order) summed under [`OTHER_CLUSTERS`].
fn members_by_cluster_and_state(
    clusters: &[Cluster],
    members: &[Member],
) -> BTreeMap<(String, &'static str), u64> {
    let mut ids: Vec<&str> = clusters
        .iter()
        .filter(|c| c.status != ClusterStatus::Removed)
        .map(|c| c.cluster_id.as_str())
        .collect();
    ids.extend(members.iter().map(|m| m.cluster_id.as_str()));
    ids.sort_unstable();
    ids.dedup();
    let overflow = ids.len() > MAX_EXPORTED_CLUSTERS;
    ids.truncate(MAX_EXPORTED_CLUSTERS);
    let mut counts = BTreeMap::new();
    for id in ids
        .iter()
        .copied()
        .chain(overflow.then_some(OTHER_CLUSTERS))
    {
        for state in LIVE_STATES {
            counts.insert((id.to_string(), state_name(state)), 0);
        }
    }
    for m in members
        .iter()
        .filter(|m| m.state != MemberState::Terminated)
    {
        let cluster = match ids.binary_search(&m.cluster_id.as_str()) {
            Ok(_) => m.cluster_id.clone(),
            Err(_) => OTHER_CLUSTERS.to_string(),
        };
        *counts.entry((cluster, state_name(m.state))).or_insert(0) += 1;
    }
    counts
}

fn state_name(state: MemberState) -> &'static str {
    match state {
        MemberState::Created => "Created",
        MemberState::Initialized => "Initialized",
        MemberState::Starting => "Starting",
        MemberState::Active => "Active",
        MemberState::InMaintenance => "In_Maintenance",
        MemberState::ReadyToShutDown => "ReadyToShutDown",
        MemberState::Terminated => "Terminated",
    }
}

/// What an evaluation amounted to: `dry-run` (something decided, nothing done), `scale-up`
/// (a start, for load, a minimum or a replacement), `scale-down` (a termination), else why
/// nothing was done: `cooldown`, `backoff` (a backed-off partition) or `within` (thresholds).
pub fn decision_outcome(record: &DecisionRecord) -> &'static str {
    let planned = record.planned_actions();
    if record.is_dry_run() && !planned.is_empty() {
        "dry-run"
    } else if planned
        .iter()
        .any(|a| matches!(a, ScalingAction::StartMember { .. }))
    {
        "scale-up"
    } else if !planned.is_empty() {
        "scale-down"
    } else if record.reason.contains("cooldown") {
        "cooldown"
    } else if record.reason.contains("backed off") {
        "backoff"
    } else {
        "within"
    }
}

/// Whether the scraper asked for OpenMetrics (its `Accept` header names
/// `application/openmetrics-text`, with a non-zero quality).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|part| {
            let mut params = part.split(';').map(str::trim);
            let media = params.next().unwrap_or("");
            let refused = params.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
    })
}

/// OpenMetrics text → the classic text format: a counter family is declared by its sample
/// name (`_total` included); `# UNIT` and `# EOF` go.
pub fn to_classic_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let declared = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(declared.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
