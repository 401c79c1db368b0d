//! When to retry: [`RetryPolicy`] (per request), [`RetryBudget`] (per run), `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// How one request is retried: exponential backoff with jitter between `min_delay` and
/// `max_delay`, at most `max_retries` retries, and a server's `Retry-After` obeyed up to
/// `max_retry_after`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries of one request after its first attempt (the per-request cap).
    pub max_retries: u32,
    /// The first backoff delay.
    pub min_delay: Duration,
    /// The longest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` obeyed; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Adds a random part to each backoff delay so that clients do not retry in step.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 5 retries, 500 ms doubling up to 30 s with jitter, `Retry-After` up to 120 s.
    fn default() -> Self {
        Self {
            max_retries: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The backoff schedule of one request: one delay per allowed retry.
    pub(crate) fn schedule(&self) -> ExponentialBackoff {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries as usize);
        if self.jitter {
            builder.with_jitter().build()
        } else {
            builder.build()
        }
    }

    /// The wait before the next attempt: the server's `Retry-After` (capped) when given, else
    /// the backoff delay.
    pub(crate) fn delay(&self, backoff: Duration, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.max_retry_after),
            None => backoff,
        }
    }
}

/// Retries left for a whole run, shared by every request of it (and every client cloned with
/// [`HttpClient::with_budget`](super::HttpClient::with_budget)): when the service is down,
/// a run gives up after `n` retries in total instead of `n` per page.
///
/// Cloning shares the counter.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    remaining: Option<Arc<AtomicU32>>,
}

impl RetryBudget {
    /// A budget of `retries` retries.
    pub fn new(retries: u32) -> Self {
        Self {
            remaining: Some(Arc::new(AtomicU32::new(retries))),
        }
    }

    /// No run-wide limit: only the per-request cap applies.
    pub fn unlimited() -> Self {
        Self { remaining: None }
    }

    /// Takes one retry; false when none is left.
    pub fn try_take(&self) -> bool {
        match &self.remaining {
            None => true,
            Some(n) => n
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    /// Retries left (`None` when unlimited).
    pub fn remaining(&self) -> Option<u32> {
        self.remaining.as_ref().map(|n| n.load(Ordering::Acquire))
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::unlimited()
    }
}

/// Parses a `Retry-After` value: seconds, integer or decimal as Shopify sends (`"2.0"`), or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`), read against `now` (a date in the past means
/// no wait). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).ok())
            .flatten();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_400);
        assert_eq!(parse_retry_after("2.0", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("0.25", now),
            Some(Duration::from_millis(250))
        );
        // 07:28:00 is 80 s after 07:26:40 (1_445_412_400).
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(80))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn budget_is_shared() {
        let budget = RetryBudget::new(2);
        let other = budget.clone();
        assert!(budget.try_take());
        assert!(other.try_take());
        assert!(!budget.try_take());
        assert_eq!(other.remaining(), Some(0));
        assert!(RetryBudget::unlimited().try_take());
    }

    #[test]
    fn schedule_has_one_delay_per_retry_and_retry_after_wins() {
        let policy = RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(25),
            jitter: false,
            ..RetryPolicy::default()
        };
        let delays: Vec<_> = policy.schedule().collect();
        assert_eq!(delays, [10, 20, 25].map(Duration::from_millis).to_vec());
        assert_eq!(
            policy.delay(Duration::from_millis(10), Some(Duration::from_secs(500))),
            policy.max_retry_after
        );
    }
}
