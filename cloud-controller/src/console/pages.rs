//! The console's pages, as maud templates (every interpolation is HTML-escaped).

use crate::auth::Principal;
use crate::model::{ClusterInfo, SubscriptionInfo};
use alto_config::{AutoscalePolicy, Cartridge, DeploymentPolicy};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The frame around every page: title, navigation, who is logged in, logout.
pub fn layout(title: &str, who: Option<&Principal>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Altostratus" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "Altostratus" }
                    @if let Some(p) = who {
                        nav {
                            a href="/" { "Overview" }
                            @if p.is_admin() { a href="/console/definitions" { "Cartridges & policies" } }
                        }
                        form.logout method="post" action="/console/logout" {
                            span #who { (p.login) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn login(problem: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            @if let Some(problem) = problem { p.error #login-error { (problem) } }
            form #login method="post" action="/console/login" {
                label { "Login " input name="login" autocomplete="username" required; }
                label { "Password " input name="password" type="password" autocomplete="current-password" required; }
                button type="submit" { "Log in" }
            }
            p.note { "The same logins as the REST API: admin, or user@tenantdomain." }
        },
    )
}

pub fn overview(
    p: &Principal,
    subscriptions: &[SubscriptionInfo],
    clusters: &[ClusterInfo],
) -> Markup {
    layout(
        "Overview",
        Some(p),
        html! {
            h2 { "Subscriptions" }
            @if subscriptions.is_empty() { p.note { "No subscriptions." } } @else {
                table #subscriptions {
                    tr { th { "alias" } th { "cartridge" } th { "status" } th { "members (active/all)" } th { "cluster" } }
                    @for s in subscriptions {
                        tr {
                            td { (s.alias) } td { (s.cartridge_type) } td { (s.status) }
                            td { (s.members_active) "/" (s.members_total) }
                            td { a href=(cluster_href(&s.cluster_id)) { (s.cluster_id) } }
                        }
                    }
                }
            }
            h2 { "Clusters" }
            @if clusters.is_empty() { p.note { "No clusters." } } @else {
                table #clusters {
                    tr { th { "cluster" } th { "service" } th { "host" } th { "status" } th { "members" } }
                    @for c in clusters {
                        tr.cluster data-cluster-id=(c.cluster_id) {
                            td { a href=(cluster_href(&c.cluster_id)) { (c.cluster_id) } }
                            td { (c.service_name) } td { (c.host_name) } td { (c.status) }
                            td { (c.member_counts.values().sum::<i64>()) }
                        }
                    }
                }
            }
        },
    )
}

pub fn cluster_href(cluster_id: &str) -> String {
    let mut href = String::from("/console/clusters/");
    for byte in cluster_id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            href.push(byte as char);
        } else {
            href.push_str(&format!("%{byte:02X}"));
        }
    }
    href
}

/// One decision record as the timeline shows it.
pub struct TimelineEntry {
    pub time: f64,
    pub reason: String,
    pub actions: Vec<String>,
    pub scale_up: bool,
    pub dry_run: bool,
}

pub fn cluster(
    p: &Principal,
    c: &ClusterInfo,
    chart_svg: &str,
    timeline: &[TimelineEntry],
    now_ms: i64,
) -> Markup {
    layout(
        &c.cluster_id,
        Some(p),
        html! {
            div #live data-refresh-seconds="5" {
                p { "Service " b { (c.service_name) } ", host " b { (c.host_name) } ", status " b #cluster-status { (c.status) }
                    ", autoscale policy " b { (c.autoscale_policy) } ", deployment policy " b { (c.deployment_policy) } }
                h2 { "Members" }
                @if c.members.is_empty() { p.note { "No members." } } @else {
                    table #members {
                        tr { th { "member" } th { "state" } th { "partition" } th { "addresses" } th { "age" } }
                        @for m in &c.members {
                            tr.member data-member-id=(m.member_id) data-state=(m.state) {
                                td { (m.member_id) } td.state { (m.state) }
                                td { (m.network_partition_id) " / " (m.partition_id) }
                                td { (m.private_ips.join(", ")) @if !m.public_ips.is_empty() { " · " (m.public_ips.join(", ")) } }
                                td { (age(now_ms - m.created_at)) }
                            }
                        }
                    }
                    @if c.next_cursor.is_some() {
                        p.note #more-members { "The oldest " (c.members.len()) " of " (c.member_counts.values().sum::<i64>()) " members; the REST API and `alto` page through them all." }
                    }
                }
                h2 { "Load, last hour" }
                div #chart { (PreEscaped(chart_svg)) }
                h2 { "Decisions" }
                @if timeline.is_empty() { p.note { "No decisions yet." } } @else {
                    ol #timeline reversed {
                        @for d in timeline.iter().rev() {
                            li.decision.scale-up[d.scale_up] data-time=(format!("{:.3}", d.time)) {
                                time.local data-epoch-seconds=(format!("{:.0}", d.time)) { (format!("{:.0}", d.time)) }
                                @if d.dry_run { " " span.tag { "dry run" } }
                                " " span.reason { (d.reason) }
                                @if !d.actions.is_empty() {
                                    ul.actions { @for a in &d.actions { li { (a) } } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn age(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

pub fn definitions(
    p: &Principal,
    cartridges: &[Cartridge],
    autoscale: &[AutoscalePolicy],
    deployment: &[DeploymentPolicy],
) -> Markup {
    let threshold = |t: &Option<alto_config::Thresholds>| {
        t.as_ref()
            .and_then(|t| t.threshold.or(t.average))
            .map(|v| v.to_string())
            .unwrap_or_else(|| "–".into())
    };
    layout(
        "Cartridges & policies",
        Some(p),
        html! {
            h2 { "Cartridges" }
            table #cartridges {
                tr { th { "type" } th { "host" } th { "provider" } th { "version" } th { "clouds" } }
                @for c in cartridges {
                    tr.cartridge data-type=(c.cartridge_type) {
                        td { (c.cartridge_type) } td { (crate::naming::cartridge_host(c.host.as_deref(), &c.cartridge_type)) }
                        td { (c.provider.as_deref().unwrap_or("")) } td { (c.version.as_deref().unwrap_or("")) }
                        td { (c.iaas_providers.iter().map(|i| i.provider_type.as_str()).collect::<Vec<_>>().join(", ")) }
                    }
                }
            }
            h2 { "Autoscaling policies" }
            table #autoscaling-policies {
                tr { th { "id" } th { "load average" } th { "memory" } th { "requests in flight" } th { "dry run" } }
                @for a in autoscale {
                    tr.policy data-id=(a.id) {
                        td { (a.id) } td { (threshold(&a.load_thresholds.load_average)) }
                        td { (threshold(&a.load_thresholds.memory_consumption)) }
                        td { (threshold(&a.load_thresholds.requests_in_flight)) }
                        td { (if a.dry_run { "yes" } else { "no" }) }
                    }
                }
            }
            h2 { "Deployment policies" }
            table #deployment-policies {
                tr { th { "id" } th { "partitions (min–max)" } }
                @for d in deployment {
                    tr.policy data-id=(d.id) {
                        td { (d.id) }
                        td { @for g in &d.partition_groups { @for part in &g.partitions {
                            span.partition { (g.id) "/" (part.id) " (" (part.min.unwrap_or(0)) "–" (part.max.map(|m| m.to_string()).unwrap_or_default()) ") " }
                        } } }
                    }
                }
            }
        },
    )
}

/// A page for a failure: not found, forbidden, or something broke (no internals shown).
pub fn problem(who: Option<&Principal>, title: &str, message: &str) -> Markup {
    layout(
        title,
        who,
        html! { p.error #problem { (message) } p { a href="/" { "Back to the overview" } } },
    )
}
