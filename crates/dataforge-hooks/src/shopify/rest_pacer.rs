//! [`RestPacer`]: paces REST requests by the shop's call-limit bucket
//! (`X-Shopify-Shop-Api-Call-Limit: used/size`), so that the bucket never fills.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::rest::CallLimit;
use crate::http::Pacer;

/// Slots kept free below the bucket's size, for clock differences and other clients.
const MARGIN: f64 = 1.0;
/// Shopify's buckets leak their size every 20 seconds (40 → 2/s, 400 → 20/s): the leak rate
/// assumed until one is measured.
const SECONDS_TO_LEAK_A_BUCKET: f64 = 20.0;
/// The shortest span over which a leak rate is measured.
const LEAK_WINDOW: Duration = Duration::from_secs(1);
/// A reservation older than this no longer counts as in flight (its request failed without a
/// response, or hangs).
const IN_FLIGHT_EXPIRY: Duration = Duration::from_secs(120);
/// How long a request waits for the first response (which tells the bucket's size) before it
/// goes anyway.
const PROBE_WAIT: Duration = Duration::from_secs(1);
/// The longest sleep before the estimate is looked at again (it may have been corrected).
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// The REST pacer of one app on one shop, shared by every hook of it in the process.
#[derive(Debug)]
pub(crate) struct RestPacer {
    shop: String,
    bucket: Mutex<Bucket>,
    /// Woken on each response (requests waiting for the first header).
    changed: Notify,
}

impl RestPacer {
    /// A pacer for `shop` that knows nothing of its bucket yet.
    pub(crate) fn new(shop: &str) -> Self {
        Self {
            shop: shop.to_owned(),
            bucket: Mutex::new(Bucket::new(Instant::now())),
            changed: Notify::new(),
        }
    }

    /// The leak rate assumed or measured, per second (`None` before the first header).
    #[cfg(test)]
    pub(crate) fn leak_rate(&self) -> Option<f64> {
        let bucket = self.lock();
        bucket.size.map(|_| bucket.rate)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // A panic while holding the lock leaves a consistent-enough estimate.
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[dataforge_core::async_trait]
impl Pacer for RestPacer {
    async fn before_attempt(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let outcome = self.lock().reserve(Instant::now());
            match outcome {
                Admit::Now => return,
                Admit::After(wait) => {
                    tracing::debug!(
                        shop = %self.shop,
                        wait_ms = wait.as_millis() as u64,
                        "Shopify REST call limit: waiting"
                    );
                    tokio::time::sleep(wait.min(MAX_SLEEP)).await;
                }
                Admit::AfterFirstResponse => {
                    if tokio::time::timeout(PROBE_WAIT, notified).await.is_err() {
                        self.lock().force(Instant::now());
                        return;
                    }
                }
            }
        }
    }

    fn on_response(&self, status: StatusCode, headers: &HeaderMap) {
        let limit = CallLimit::from_headers(headers);
        self.lock().observe(Instant::now(), status, limit);
        self.changed.notify_waiters();
    }
}

/// Whether a request may go.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Admit {
    /// Yes: its slot is reserved.
    Now,
    /// Not before this wait.
    After(Duration),
    /// Not before the first response (the bucket's size is unknown and a request is out).
    AfterFirstResponse,
}

/// The estimate of the shop's bucket.
#[derive(Debug)]
struct Bucket {
    /// The bucket's size, from the last header; `None` before the first.
    size: Option<f64>,
    /// Leak per second: `size / 20` until measured.
    rate: f64,
    /// True once `rate` was measured from the headers.
    measured: bool,
    /// The estimated level at `at`, reserved requests included.
    level: f64,
    at: Instant,
    /// When each reserved request not yet answered was reserved, oldest first.
    in_flight: VecDeque<Instant>,
    /// Requests reserved since the last response.
    reserved_since_response: u32,
    /// The current leak measurement.
    window: Option<Window>,
}

/// A leak measurement: the level seen at its start, the requests answered since, and the
/// lowest level seen in it.
#[derive(Debug, Clone, Copy)]
struct Window {
    used: f64,
    at: Instant,
    arrivals: u32,
    lowest: f64,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            size: None,
            rate: 0.0,
            measured: false,
            level: 0.0,
            at: now,
            in_flight: VecDeque::new(),
            reserved_since_response: 0,
            window: None,
        }
    }

    /// Brings the estimate to `now`: the level leaks, stale reservations expire.
    fn leak(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level - self.rate * elapsed).max(0.0);
        self.at = now;
        while self
            .in_flight
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) > IN_FLIGHT_EXPIRY)
        {
            self.in_flight.pop_front();
        }
    }

    /// Reserves a slot for a request at `now`, or says how long to wait.
    fn reserve(&mut self, now: Instant) -> Admit {
        self.leak(now);
        let Some(size) = self.size else {
            if self.in_flight.is_empty() {
                self.force(now);
                return Admit::Now;
            }
            return Admit::AfterFirstResponse;
        };
        let limit = (size - MARGIN).max(1.0);
        let excess = self.level + 1.0 - limit;
        if excess <= 0.0 {
            self.force(now);
            return Admit::Now;
        }
        let seconds = if self.rate > 0.0 {
            excess / self.rate
        } else {
            1.0
        };
        // At least a millisecond, so that a waiter never spins.
        Admit::After(Duration::from_secs_f64(seconds.clamp(0.001, 3600.0)))
    }

    /// Reserves a slot whatever the estimate says.
    fn force(&mut self, now: Instant) {
        self.leak(now);
        self.level += 1.0;
        self.in_flight.push_back(now);
        self.reserved_since_response += 1;
    }

    /// Corrects the estimate from a response at `now`.
    fn observe(&mut self, now: Instant, status: StatusCode, limit: Option<CallLimit>) {
        self.leak(now);
        self.in_flight.pop_front();
        let Some(limit) = limit else {
            return;
        };
        let size = f64::from(limit.size.max(1));
        let used = f64::from(limit.used);
        if self.size != Some(size) {
            // A first header, or another plan: assume the usual leak until measured.
            self.size = Some(size);
            self.rate = size / SECONDS_TO_LEAK_A_BUCKET;
            self.measured = false;
            self.window = None;
        }
        // The server's level when it counted this request, plus our requests it may not have
        // seen then. Answers to concurrent requests come in any order, so a low `used` may be
        // stale: it lowers the estimate only when this request is certainly the last one sent
        // (the only one since the previous answer, none other out); otherwise the estimate
        // only rises to it, and falls by the leak.
        let others = self.in_flight.len();
        let observed = used + others as f64;
        let fresh = others == 0 && self.reserved_since_response == 1;
        self.reserved_since_response = 0;
        self.level = if fresh {
            observed
        } else {
            self.level.max(observed)
        };
        self.at = now;
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Rejected requests do not fill the bucket: measure afresh.
            self.window = None;
            return;
        }
        self.measure(now, used, size, others == 0);
    }

    /// Learns the leak rate from how `used` fell since the window started:
    /// `(used_then + arrivals − used_now) / elapsed`.
    /// A window starts and ends only at an answer with no other request out (`settled`), whose
    /// `used` no answer still to come can be fresher than.
    fn measure(&mut self, now: Instant, used: f64, size: f64, settled: bool) {
        let Some(mut window) = self.window else {
            if !settled {
                return;
            }
            self.window = Some(Window {
                used,
                at: now,
                arrivals: 0,
                lowest: used,
            });
            return;
        };
        window.arrivals += 1;
        window.lowest = window.lowest.min(used);
        let elapsed = now.saturating_duration_since(window.at);
        if elapsed < LEAK_WINDOW || !settled {
            self.window = Some(window);
            return;
        }
        let sample = (window.used + f64::from(window.arrivals) - used) / elapsed.as_secs_f64();
        // A bucket seen (nearly) empty may have stopped leaking for a while: the sample is then
        // only a lower bound, which may raise the estimate but not lower it.
        let clamped = window.lowest < 2.0;
        if sample.is_finite() && sample > 0.0 {
            let sample = sample.clamp(size / 100.0, size);
            if !self.measured {
                if !clamped || sample > self.rate {
                    self.rate = sample;
                    self.measured = true;
                }
            } else if !clamped || sample > self.rate {
                self.rate = 0.5 * self.rate + 0.5 * sample;
            }
            tracing::trace!(sample, rate = self.rate, clamped, "Shopify REST leak rate");
        }
        self.window = Some(Window {
            used,
            at: now,
            arrivals: 0,
            lowest: used,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(used: u32, size: u32) -> Option<CallLimit> {
        Some(CallLimit { used, size })
    }

    #[tokio::test(start_paused = true)]
    async fn size_and_leak_come_from_the_header_never_a_constant() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        assert_eq!(bucket.reserve(start), Admit::Now);
        // A second request waits for the first header.
        assert_eq!(bucket.reserve(start), Admit::AfterFirstResponse);
        bucket.observe(start, StatusCode::OK, limit(38, 40));
        // 38 used of 40: one more (39) keeps a slot free, the next waits 1 / (40/20) s.
        assert_eq!(bucket.reserve(start), Admit::Now);
        assert_eq!(
            bucket.reserve(start),
            Admit::After(Duration::from_millis(500))
        );
        assert_eq!(
            bucket.reserve(start + Duration::from_millis(500)),
            Admit::Now
        );

        // A Plus bucket: 400 leaking 20/s.
        let mut bucket = Bucket::new(start);
        bucket.force(start);
        bucket.observe(start, StatusCode::OK, limit(399, 400));
        assert!((bucket.rate - 20.0).abs() < 1e-9);
        assert_eq!(
            bucket.reserve(start),
            Admit::After(Duration::from_millis(50))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_count_until_answered() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        bucket.force(start);
        bucket.observe(start, StatusCode::OK, limit(1, 10));
        // Limit 9: 8 more go at once, then a wait, although no header said so yet.
        for _ in 0..8 {
            assert_eq!(bucket.reserve(start), Admit::Now);
        }
        assert!(matches!(bucket.reserve(start), Admit::After(_)));
        // One answer says 9 used: with 7 still out, the estimate is 16, not 9.
        bucket.observe(start, StatusCode::OK, limit(9, 10));
        assert!((bucket.level - 16.0).abs() < 1e-9, "{}", bucket.level);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_answer_does_not_lower_the_estimate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        bucket.force(start);
        bucket.observe(start, StatusCode::OK, limit(1, 40));
        for _ in 0..37 {
            assert_eq!(bucket.reserve(start), Admit::Now);
        }
        // The answers come last-counted first: the final one says 2 used, but 38 are.
        for used in (2..=38).rev() {
            bucket.observe(start, StatusCode::OK, limit(used, 40));
        }
        assert!(bucket.level >= 38.0, "{}", bucket.level);
        assert!(matches!(bucket.reserve(start), Admit::After(_)));

        // A lone request's answer is fresh: it may lower the estimate (here, 30 → 3).
        let mut bucket = Bucket::new(start);
        bucket.force(start);
        bucket.observe(start, StatusCode::OK, limit(30, 40));
        assert_eq!(bucket.reserve(start), Admit::Now);
        bucket.observe(start, StatusCode::OK, limit(3, 40));
        assert!((bucket.level - 3.0).abs() < 1e-9, "{}", bucket.level);
    }

    #[tokio::test(start_paused = true)]
    async fn a_faster_or_slower_leak_is_learned() {
        for real in [10.0, 0.5] {
            let start = Instant::now();
            let mut bucket = Bucket::new(start);
            // A server bucket of 40 leaking `real`/s, kept half full by one caller.
            let mut level: f64 = 20.0;
            let mut now = start;
            for _ in 0..200 {
                let step = Duration::from_secs_f64(1.0 / real);
                now += step;
                level = (level - real * step.as_secs_f64()).max(0.0) + 1.0;
                bucket.force(now);
                bucket.observe(now, StatusCode::OK, limit(level.round() as u32, 40));
            }
            assert!(bucket.measured);
            assert!(
                (bucket.rate - real).abs() / real < 0.1,
                "real {real}, learned {}",
                bucket.rate
            );
        }
    }

    /// A simulated Shopify bucket (size 40 leaking 10/s, not 2/s) and paced callers, in
    /// virtual time with a 30 ms round trip: few 429s, nearly the full rate.
    #[tokio::test(start_paused = true)]
    async fn paced_callers_sustain_the_leak_rate_without_429s() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU32, Ordering};

        struct Server {
            level: f64,
            at: Instant,
        }
        const SIZE: f64 = 40.0;
        const LEAK: f64 = 10.0;
        let pacer = Arc::new(RestPacer::new("shop.test"));
        let server = Arc::new(Mutex::new(Server {
            level: 0.0,
            at: Instant::now(),
        }));
        let ok = Arc::new(AtomicU32::new(0));
        let rejected = Arc::new(AtomicU32::new(0));
        let start = Instant::now();
        let mut callers = Vec::new();
        for _ in 0..4 {
            let (pacer, server, ok, rejected) =
                (pacer.clone(), server.clone(), ok.clone(), rejected.clone());
            callers.push(tokio::spawn(async move {
                while ok.load(Ordering::SeqCst) < 1000 {
                    pacer.before_attempt().await;
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    let (status, used) = {
                        let mut s = server.lock().unwrap_or_else(PoisonError::into_inner);
                        let now = Instant::now();
                        let leaked = LEAK * now.duration_since(s.at).as_secs_f64();
                        s.level = (s.level - leaked).max(0.0);
                        s.at = now;
                        if s.level + 1.0 <= SIZE {
                            s.level += 1.0;
                            (StatusCode::OK, s.level.ceil())
                        } else {
                            (StatusCode::TOO_MANY_REQUESTS, s.level.ceil())
                        }
                    };
                    tokio::time::sleep(Duration::from_millis(15)).await;
                    let mut headers = HeaderMap::new();
                    let value = format!("{}/{}", used as u32, SIZE as u32);
                    headers.insert(
                        "x-shopify-shop-api-call-limit",
                        value.parse().unwrap_or_else(|_| unreachable!()),
                    );
                    pacer.on_response(status, &headers);
                    let counter = if status == StatusCode::OK {
                        &ok
                    } else {
                        &rejected
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        for caller in callers {
            caller.await.unwrap_or_else(|e| panic!("{e}"));
        }
        let elapsed = start.elapsed().as_secs_f64();
        let (ok, rejected) = (ok.load(Ordering::SeqCst), rejected.load(Ordering::SeqCst));
        // The best possible: the bucket's 40, then 10/s.
        let ideal = (f64::from(ok) - SIZE) / LEAK;
        assert!(
            f64::from(rejected) < 0.01 * f64::from(ok + rejected),
            "{rejected} of {} requests answered 429",
            ok + rejected
        );
        assert!(
            ideal / elapsed >= 0.95,
            "{ok} requests took {elapsed:.1} s, the leak allows {ideal:.1} s"
        );
        assert!((pacer.leak_rate().unwrap_or(0.0) - LEAK).abs() < 1.0);
    }
}
