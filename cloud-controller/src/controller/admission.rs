//! Admission per provider type: what may be asked of each cloud and how fast.
//!
//! - `quota.vm` (live members on the provider, all tenants) and `quota.vm.tenant.<tenantId>`
//!   (that tenant's live members on it) are checked before a member is committed, under a
//!   per-provider lock so that two concurrent starts cannot both take the last free slot;
//! - `max.starts.per.second` (default [`DEFAULT_STARTS_PER_SECOND`]) is a token bucket every
//!   start call waits on, so a backlog (a big scale-up, a restart with many members to start)
//!   drains at the cloud's pace;
//! - `max.iaas.workers` (default [`DEFAULT_IAAS_WORKERS`]) caps concurrent cloud calls.
//!
//! Each provider has its own limits: a slow or throttled cloud never holds back another.

use super::store::Store;
use crate::convert;
use crate::error::{ControllerError, Result};
use alto_config::ConfigSet;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use iaas::{ErrorClass, IaasError};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// Concurrent cloud calls per provider type without `max.iaas.workers`.
pub(crate) const DEFAULT_IAAS_WORKERS: usize = 8;
/// Start calls per second per provider type without `max.starts.per.second`.
pub(crate) const DEFAULT_STARTS_PER_SECOND: f64 = 10.0;

struct ProviderLimits {
    workers: Arc<Semaphore>,
    starts: DefaultDirectRateLimiter,
    rate: f64,
    /// Serializes the quota check with the member commit.
    commit: Arc<Mutex<()>>,
    quota: Option<usize>,
    tenant_quota: BTreeMap<i64, usize>,
}

pub(crate) struct Admission {
    providers: BTreeMap<String, ProviderLimits>,
}

/// A start refused before anything was recorded or the cloud was asked.
pub(crate) type Refusal = IaasError;

impl Admission {
    /// The limits of every provider of cloud-controller.xml; a malformed value is a
    /// configuration error naming the provider and the property.
    pub(crate) fn from_config(config: &ConfigSet) -> Result<Admission> {
        let mut providers = BTreeMap::new();
        for provider in config
            .cloud_controller
            .iter()
            .flat_map(|cc| cc.iaas_providers.iter())
        {
            let spec = convert::provider_spec(provider);
            let t = &spec.provider_type;
            let bad = |key: &str, v: &str, what: &str| {
                ControllerError::invalid(format!(
                    "provider {t}: property {key} must be {what}, not {v:?}"
                ))
            };
            let mut workers = DEFAULT_IAAS_WORKERS;
            let mut rate = DEFAULT_STARTS_PER_SECOND;
            let mut quota = None;
            let mut tenant_quota = BTreeMap::new();
            for (key, v) in &spec.properties {
                let value = v.trim();
                match key.as_str() {
                    "max.iaas.workers" => {
                        workers = value
                            .parse::<usize>()
                            .ok()
                            .filter(|n| (1..=100_000).contains(n))
                            .ok_or_else(|| bad(key, v, "a whole number from 1 to 100000"))?;
                    }
                    "max.starts.per.second" => {
                        rate = value
                            .parse::<f64>()
                            .ok()
                            .filter(|r| r.is_finite() && *r >= 0.001 && *r <= 1_000_000.0)
                            .ok_or_else(|| bad(key, v, "a number from 0.001 to 1000000"))?;
                    }
                    "quota.vm" => {
                        quota = Some(
                            value
                                .parse::<usize>()
                                .map_err(|_| bad(key, v, "a whole number"))?,
                        );
                    }
                    other => {
                        if let Some(tenant) = other.strip_prefix("quota.vm.tenant.") {
                            let tenant: i64 = tenant
                                .parse()
                                .map_err(|_| bad(key, v, "named quota.vm.tenant.<tenant id>"))?;
                            let limit = value
                                .parse::<usize>()
                                .map_err(|_| bad(key, v, "a whole number"))?;
                            tenant_quota.insert(tenant, limit);
                        }
                    }
                }
            }
            providers.insert(
                t.clone(),
                ProviderLimits {
                    workers: Arc::new(Semaphore::new(workers)),
                    starts: start_rate(rate),
                    rate,
                    commit: Arc::new(Mutex::new(())),
                    quota,
                    tenant_quota,
                },
            );
        }
        Ok(Admission { providers })
    }

    /// Hold this while checking the quota and committing the member row.
    pub(crate) async fn commit_lock(&self, provider_type: &str) -> Option<OwnedMutexGuard<()>> {
        let lock = self.providers.get(provider_type)?.commit.clone();
        Some(lock.lock_owned().await)
    }

    /// How many of `wanted` more members the provider's or the tenant's `quota.vm` admits,
    /// and the refusal for the rest when it admits fewer.
    pub(crate) async fn check_quota(
        &self,
        store: &Store,
        tenant_id: i64,
        provider_type: &str,
        wanted: usize,
    ) -> Result<(usize, Option<Refusal>)> {
        let Some(limits) = self.providers.get(provider_type) else {
            return Ok((wanted, None));
        };
        let (limit, scope) = match limits.tenant_quota.get(&tenant_id) {
            Some(limit) => (*limit, Some(tenant_id)),
            None => match limits.quota {
                Some(limit) => (limit, None),
                None => return Ok((wanted, None)),
            },
        };
        let provider = provider_type.to_string();
        let used = store
            .run(move |r| r.count_live_members(&provider, scope))
            .await?;
        let room = limit.saturating_sub(used);
        if room >= wanted {
            return Ok((wanted, None));
        }
        let name = match scope {
            Some(t) => format!("quota.vm.tenant.{t}"),
            None => "quota.vm".to_string(),
        };
        Ok((
            room,
            Some(IaasError::new(
                provider_type,
                "start instance",
                ErrorClass::Quota,
                format!("{name} of provider {provider_type} reached ({used} of {limit} instances)"),
            )),
        ))
    }

    /// Wait until this provider's start rate admits one more start.
    pub(crate) async fn wait_start(&self, provider_type: &str) {
        if let Some(limits) = self.providers.get(provider_type) {
            limits.starts.until_ready().await;
        }
    }

    /// Take one more start from this provider's rate if it admits one now.
    pub(crate) fn try_start(&self, provider_type: &str) -> bool {
        self.providers
            .get(provider_type)
            .is_none_or(|limits| limits.starts.check().is_ok())
    }

    /// The provider's `max.starts.per.second`.
    pub(crate) fn starts_per_second(&self, provider_type: &str) -> Option<f64> {
        self.providers.get(provider_type).map(|l| l.rate)
    }

    /// Wait for a worker (terminations and lookups are not rate-limited).
    pub(crate) async fn worker_permit(&self, provider_type: &str) -> Option<OwnedSemaphorePermit> {
        let limits = self.providers.get(provider_type)?;
        limits.workers.clone().acquire_owned().await.ok()
    }
}

/// A token bucket of `per_second` starts, with a burst of one second's worth.
fn start_rate(per_second: f64) -> DefaultDirectRateLimiter {
    let period = Duration::from_secs_f64(1.0 / per_second);
    let burst = NonZeroU32::new(per_second.ceil().clamp(1.0, u32::MAX as f64) as u32)
        .unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst);
    RateLimiter::direct(quota)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_start_rate_is_a_token_bucket() {
        let limiter = start_rate(20.0);
        let started = std::time::Instant::now();
        // One second's burst at once, then 20 per second.
        for _ in 0..20 {
            limiter.until_ready().await;
        }
        assert!(started.elapsed() < Duration::from_millis(200));
        for _ in 0..10 {
            limiter.until_ready().await;
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300),
            "10 starts past the burst took {elapsed:?}"
        );
    }
}
