//! Retrying the cloud calls that are safe to repeat, the same way for every provider:
//! bounded exponential backoff with jitter (backon), only on transient and rate-limited
//! errors, a rate limit's retry-after hint replacing the computed delay (capped) but never
//! adding attempts.

use crate::error::{ErrorClass, IaasError};
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;

/// How one provider retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Longest a retry-after hint may make us wait.
    pub max_hint: Duration,
}

/// Run `call`, retrying it under `backoff` while its error is retryable.
pub(crate) async fn retry_safe<T, F, Fut>(
    backoff: Backoff,
    operation: &'static str,
    call: F,
) -> Result<T, IaasError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, IaasError>>,
{
    let policy = ExponentialBuilder::default()
        .with_min_delay(backoff.min_delay)
        .with_max_delay(backoff.max_delay)
        .with_max_times(backoff.max_retries)
        .with_jitter();
    call.retry(policy)
        .when(|e: &IaasError| e.class.is_retryable())
        // `None` (backoff exhausted) stays `None`: the hint never extends the attempts.
        .adjust(move |e: &IaasError, delay| {
            delay.map(|d| match e.class {
                ErrorClass::RateLimited {
                    retry_after: Some(hint),
                } => hint.min(backoff.max_hint),
                _ => d,
            })
        })
        .notify(|e: &IaasError, delay| {
            tracing::debug!(operation, error = %e, ?delay, "retrying cloud call");
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn backoff() -> Backoff {
        Backoff {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retries: 3,
            max_hint: Duration::from_millis(5),
        }
    }

    fn failing(class: ErrorClass) -> IaasError {
        IaasError::new("t", "op", class, "no")
    }

    #[tokio::test]
    async fn only_retryable_errors_are_retried_and_boundedly() {
        for (class, expected_calls) in [
            (ErrorClass::Transient, 4),
            (
                ErrorClass::RateLimited {
                    retry_after: Some(Duration::from_secs(3600)),
                },
                4,
            ),
            (ErrorClass::Quota, 1),
            (ErrorClass::InvalidRequest, 1),
        ] {
            let calls = AtomicUsize::new(0);
            let result: Result<(), IaasError> = retry_safe(backoff(), "op", || {
                calls.fetch_add(1, Ordering::SeqCst);
                let class = class.clone();
                async move { Err(failing(class)) }
            })
            .await;
            assert!(result.is_err());
            assert_eq!(calls.load(Ordering::SeqCst), expected_calls, "{class:?}");
        }
    }

    #[tokio::test]
    async fn a_later_success_is_returned() {
        let calls = AtomicUsize::new(0);
        let result = retry_safe(backoff(), "op", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(failing(ErrorClass::Transient))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 2);
    }
}
