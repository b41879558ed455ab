//! Paged reads for the REST API's lists: keyset pages (the next page starts after the last
//! row's sort key, so a page costs the same at the millionth row as at the first, and rows
//! written meanwhile neither repeat nor shift the rest), and member counts by state, which let
//! a cluster view say how many members it has without loading them.
//!
//! Each page is read with one row more than asked for: its presence says there is a next page.
//! The indexes these queries walk are in the `paging_indexes` migration.

use crate::schema::{clusters, decision_records, members, subscriptions};
use crate::*;
use std::collections::BTreeMap;

/// One page of rows and the key to start the next one after (`None`: this was the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

/// Where a member sits in a cluster's member order (oldest first, ties by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberKey {
    pub created_at: i64,
    pub member_id: String,
}

impl MemberKey {
    pub fn of(m: &Member) -> MemberKey {
        MemberKey {
            created_at: m.created_at,
            member_id: m.member_id.clone(),
        }
    }
}

/// Rows read with `limit + 1`: keep `limit`, and the last kept row's key if more followed.
fn page_of<T, K>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> K) -> Page<T, K> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key)
    } else {
        None
    };
    Page { items, next }
}

/// `limit + 1` as SQL wants it (limits are small, bounded by the API).
fn fetch_count(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

impl Registry {
    /// A cluster's members, oldest first, after `after`.
    pub fn members_page(
        &self,
        cluster_id: &str,
        include_terminated: bool,
        after: Option<&MemberKey>,
        limit: usize,
    ) -> Result<Page<Member, MemberKey>, RegistryError> {
        let rows: Vec<MemberRow> = run!(self, c => {
            let mut q = members::table
                .filter(members::cluster_id.eq(cluster_id))
                .select(MemberRow::as_select())
                .order((members::created_at.asc(), members::member_id.asc()))
                .limit(fetch_count(limit))
                .into_boxed();
            if !include_terminated {
                q = q.filter(members::state.ne(MemberState::Terminated.as_str()));
            }
            if let Some(k) = after {
                q = q.filter(
                    members::created_at.gt(k.created_at).or(members::created_at
                        .eq(k.created_at)
                        .and(members::member_id.gt(&k.member_id))),
                );
            }
            q.load(c).map_err(plain("members_page"))
        })?;
        let members = rows
            .into_iter()
            .map(MemberRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(members, limit, MemberKey::of))
    }

    /// How many members each of these clusters has in each state (Terminated included); a
    /// cluster with none is absent.
    pub fn member_counts(
        &self,
        cluster_ids: &[String],
    ) -> Result<BTreeMap<String, BTreeMap<MemberState, i64>>, RegistryError> {
        let mut out: BTreeMap<String, BTreeMap<MemberState, i64>> = BTreeMap::new();
        // Chunks stay below SQLite's bound-parameter limit.
        for ids in cluster_ids.chunks(500) {
            let rows: Vec<(String, String, i64)> = run!(self, c => members::table
                .filter(members::cluster_id.eq_any(ids))
                .group_by((members::cluster_id, members::state))
                .select((members::cluster_id, members::state, diesel::dsl::count_star()))
                .load(c)
                .map_err(plain("member_counts")))?;
            for (cluster_id, state, count) in rows {
                let state: MemberState = state
                    .parse()
                    .map_err(|_| RegistryError::Corrupt(format!("member state {state:?}")))?;
                out.entry(cluster_id).or_default().insert(state, count);
            }
        }
        Ok(out)
    }

    /// Clusters (of one tenant, or all) in id order, after `after`.
    pub fn clusters_page(
        &self,
        tenant_id: Option<i64>,
        include_removed: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Cluster, String>, RegistryError> {
        let rows: Vec<ClusterRow> = run!(self, c => {
            let mut q = clusters::table
                .select(ClusterRow::as_select())
                .order(clusters::cluster_id.asc())
                .limit(fetch_count(limit))
                .into_boxed();
            if let Some(t) = tenant_id {
                q = q.filter(clusters::tenant_id.eq(t));
            }
            if !include_removed {
                q = q.filter(clusters::status.ne(ClusterStatus::Removed.as_str()));
            }
            if let Some(id) = after {
                q = q.filter(clusters::cluster_id.gt(id));
            }
            q.load(c).map_err(plain("clusters_page"))
        })?;
        let clusters = rows
            .into_iter()
            .map(ClusterRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(clusters, limit, |c| c.cluster_id.clone()))
    }

    /// Subscriptions (of one tenant, or all) in the order they were made, after `after`.
    pub fn subscriptions_page(
        &self,
        tenant_id: Option<i64>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Page<Subscription, i64>, RegistryError> {
        let rows: Vec<SubscriptionRow> = run!(self, c => {
            let mut q = subscriptions::table
                .select(SubscriptionRow::as_select())
                .order(subscriptions::id.asc())
                .limit(fetch_count(limit))
                .into_boxed();
            if let Some(t) = tenant_id {
                q = q.filter(subscriptions::tenant_id.eq(t));
            }
            if let Some(id) = after {
                q = q.filter(subscriptions::id.gt(id));
            }
            q.load(c).map_err(plain("subscriptions_page"))
        })?;
        let subscriptions = rows
            .into_iter()
            .map(SubscriptionRow::into_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(subscriptions, limit, |s: &Subscription| s.id))
    }

    /// A cluster's decision records, oldest first, after sequence number `after`.
    pub fn decisions_page(
        &self,
        cluster_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Page<StoredDecision, i64>, RegistryError> {
        let rows: Vec<DecisionRow> = run!(self, c => {
            let mut q = decision_records::table
                .filter(decision_records::cluster_id.eq(cluster_id))
                .select(DecisionRow::as_select())
                .order(decision_records::seq.asc())
                .limit(fetch_count(limit))
                .into_boxed();
            if let Some(seq) = after {
                q = q.filter(decision_records::seq.gt(seq));
            }
            q.load(c).map_err(plain("decisions_page"))
        })?;
        let decisions = rows.into_iter().map(DecisionRow::into_record).collect();
        Ok(page_of(decisions, limit, |d: &StoredDecision| d.seq))
    }
}
