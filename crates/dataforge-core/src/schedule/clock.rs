//! `Clock`: where a scheduler gets the time and waits, so tests can move time by hand.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

/// The time, and a way to wait for a moment.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Returns once the time is `t` or later (at once when it already is).
    async fn sleep_until(&self, t: DateTime<Utc>);
}

/// The system clock and tokio's timers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

/// The longest single timer: the wall clock is re-read at least this often, so a clock set
/// forward (NTP, a suspended laptop) does not delay a wake-up by more than this.
const MAX_TIMER: TimeDelta = TimeDelta::seconds(30);

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        loop {
            let left = t - Utc::now();
            if left <= TimeDelta::zero() {
                return;
            }
            // Both are positive and at most 30 s: the conversion cannot fail.
            let step = left.min(MAX_TIMER).to_std().unwrap_or_default();
            tokio::time::sleep(step).await;
        }
    }
}

/// A clock that moves only when told ([`ManualClock::advance`], [`ManualClock::set`]); its
/// sleepers wake when the time reaches theirs. Clones share the time.
///
/// ```
/// # tokio_test_block(async {
/// use dataforge_core::chrono::{TimeDelta, TimeZone, Utc};
/// use dataforge_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
/// let wake = clock.now() + TimeDelta::hours(1);
/// let sleeper = { let c = clock.clone(); tokio::spawn(async move { c.sleep_until(wake).await }) };
/// clock.advance(TimeDelta::hours(1));
/// sleeper.await.unwrap();
/// assert_eq!(clock.now(), wake);
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    time: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            time: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the time forward by `by` (a negative `by` moves it back) and wakes the sleepers
    /// whose time has come.
    pub fn advance(&self, by: TimeDelta) {
        self.time.send_modify(|t| *t += by);
    }

    /// Sets the time (forward or back) and wakes the sleepers whose time has come.
    pub fn set(&self, t: DateTime<Utc>) {
        self.time.send_replace(t);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.time.borrow()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        let mut rx = self.time.subscribe();
        // `wait_for` checks the current value first; it fails only when the sender is dropped,
        // which cannot happen while `self` holds it.
        let _ = rx.wait_for(|now| *now >= t).await;
    }
}
