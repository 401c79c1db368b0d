//! [`GraphqlThrottle`]: admits GraphQL queries by the shop's cost bucket
//! (`extensions.cost.throttleStatus`), so that queries are not answered `THROTTLED`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::graphql::QueryCost;

/// Query texts whose last requested cost is remembered, at most (the map is emptied beyond).
const MAX_REMEMBERED_QUERIES: usize = 256;

/// The GraphQL cost throttle of one app on one shop, shared by every hook of it in the process.
#[derive(Debug)]
pub(crate) struct GraphqlThrottle {
    shop: String,
    points: Mutex<Points>,
}

/// A query admitted: its expected cost is reserved until it is answered (or dropped).
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    throttle: &'a GraphqlThrottle,
    key: u64,
    reserved: f64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.reserved > 0.0 {
            self.throttle.lock().reserved -= self.reserved;
        }
    }
}

impl Ticket<'_> {
    /// Corrects the estimate from the cost a response reports, and releases the reservation.
    pub(crate) fn settle(mut self, cost: Option<&QueryCost>) {
        let reserved = std::mem::take(&mut self.reserved);
        let mut points = self.throttle.lock();
        points.reserved -= reserved;
        if let Some(cost) = cost {
            points.observe(Instant::now(), self.key, cost);
        }
    }
}

impl GraphqlThrottle {
    /// A throttle for `shop` that knows nothing of its bucket yet.
    pub(crate) fn new(shop: &str) -> Self {
        Self {
            shop: shop.to_owned(),
            points: Mutex::new(Points::default()),
        }
    }

    /// The key of a query text.
    pub(crate) fn key(query: &str) -> u64 {
        let mut hasher = DefaultHasher::new();
        query.hash(&mut hasher);
        hasher.finish()
    }

    /// Waits until the estimate admits the query `key` (by the cost it last requested; a query
    /// never seen is admitted at once), and reserves that cost.
    pub(crate) async fn admit(&self, key: u64) -> Ticket<'_> {
        loop {
            let outcome = self.lock().reserve(Instant::now(), key);
            match outcome {
                Ok(reserved) => {
                    return Ticket {
                        throttle: self,
                        key,
                        reserved,
                    };
                }
                Err(wait) => {
                    tracing::debug!(
                        shop = %self.shop,
                        wait_ms = wait.as_millis() as u64,
                        "Shopify GraphQL cost limit: waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Points available now by the estimate (`None` before the first cost report).
    #[cfg(test)]
    pub(crate) fn available(&self) -> Option<f64> {
        let mut points = self.lock();
        points.restore(Instant::now());
        points.bucket.map(|_| points.available)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Points> {
        // A panic while holding the lock leaves a consistent-enough estimate.
        self.points.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The estimate of the shop's cost bucket.
#[derive(Debug, Default)]
struct Points {
    /// (maximum, restore rate per second), from the last report.
    bucket: Option<(f64, f64)>,
    /// Points available at `at`, reservations deducted.
    available: f64,
    at: Option<Instant>,
    /// Points reserved by queries not yet answered.
    reserved: f64,
    /// The last requested cost of each query text (by key).
    costs: HashMap<u64, f64>,
}

impl Points {
    /// Brings the estimate to `now`: points restore up to the maximum.
    fn restore(&mut self, now: Instant) {
        if let (Some((maximum, rate)), Some(at)) = (self.bucket, self.at) {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.available = (self.available + rate * elapsed).min(maximum);
        }
        self.at = Some(now);
    }

    /// Reserves the expected cost of query `key`, or says how long to wait.
    fn reserve(&mut self, now: Instant, key: u64) -> Result<f64, Duration> {
        self.restore(now);
        let (Some((maximum, rate)), Some(&cost)) = (self.bucket, self.costs.get(&key)) else {
            return Ok(0.0);
        };
        // A query dearer than the whole bucket can never be admitted by the estimate: let the
        // server say so.
        let cost = cost.min(maximum);
        if self.available >= cost {
            self.available -= cost;
            self.reserved += cost;
            return Ok(cost);
        }
        let seconds = if rate > 0.0 {
            (cost - self.available) / rate
        } else {
            1.0
        };
        Err(Duration::from_secs_f64(seconds.clamp(0.001, 3600.0)))
    }

    /// Corrects the estimate from a cost report at `now`.
    fn observe(&mut self, now: Instant, key: u64, cost: &QueryCost) {
        self.restore(now);
        if self.costs.len() >= MAX_REMEMBERED_QUERIES && !self.costs.contains_key(&key) {
            self.costs.clear();
        }
        self.costs.insert(key, cost.requested);
        self.bucket = Some((cost.maximum, cost.restore_rate));
        // The server's figure, less what queries still out will take.
        self.available = (cost.available - self.reserved.max(0.0)).min(cost.maximum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(requested: f64, available: f64) -> QueryCost {
        QueryCost {
            requested,
            actual: None,
            available,
            maximum: 2000.0,
            restore_rate: 100.0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_queries_pass_known_ones_wait_for_their_cost() {
        let throttle = GraphqlThrottle::new("shop.test");
        let key = GraphqlThrottle::key("query { orders }");
        let other = GraphqlThrottle::key("query { products }");
        // Nothing known: admitted at once.
        let start = Instant::now();
        throttle.admit(key).await.settle(Some(&cost(862.0, 572.0)));
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Requested 862 with 572 available at 100/s: (862 − 572) / 100 = 2.9 s.
        let ticket = throttle.admit(key).await;
        let waited = start.elapsed().as_secs_f64();
        assert!((waited - 2.9).abs() < 0.01, "{waited}");
        // Its 862 points are reserved: a concurrent caller of the same query waits 8.62 s more.
        let concurrent = throttle.admit(key).await;
        let waited = start.elapsed().as_secs_f64();
        assert!((waited - 2.9 - 8.62).abs() < 0.01, "{waited}");
        drop(concurrent);
        drop(ticket);
        // A query never answered is admitted whatever the estimate.
        let started = Instant::now();
        drop(throttle.admit(other).await);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_estimate_restores_up_to_the_maximum_and_follows_reports() {
        let throttle = GraphqlThrottle::new("shop.test");
        let key = GraphqlThrottle::key("q");
        throttle.admit(key).await.settle(Some(&cost(10.0, 1000.0)));
        assert_eq!(throttle.available(), Some(1000.0));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(throttle.available(), Some(1500.0));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(throttle.available(), Some(2000.0));
        // Admission reserves the requested 10; the report then says what is left.
        let ticket = throttle.admit(key).await;
        assert_eq!(throttle.available(), Some(1990.0));
        ticket.settle(Some(&cost(10.0, 1997.0)));
        assert_eq!(throttle.available(), Some(1997.0));
    }
}
