//! Time-zone arithmetic the timetable needs: offsets, offset changes (DST), wall-clock readings.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The UTC offset in effect in `tz` at `t`.
pub(crate) fn offset_at(tz: Tz, t: DateTime<Utc>) -> FixedOffset {
    tz.offset_from_utc_datetime(&t.naive_utc()).fix()
}

/// The wall-clock time in `tz` at `t`.
pub(crate) fn wall_clock(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc() + offset_at(tz, t)
}

/// The first instant in `(from, to]` whose UTC offset in `tz` differs from the one at `from`
/// (a DST change), to the second; `None` when the offset holds over the whole span.
///
/// Offsets are probed a day apart, then bisected: a zone that changes and changes back within
/// one day (none does today) would be missed.
pub fn next_offset_change(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let offset = offset_at(tz, from);
    let mut lo = from;
    while lo < to {
        let hi = (lo + TimeDelta::days(1)).min(to);
        if offset_at(tz, hi) != offset {
            // Invariant: the offset at `lo` is `offset`, at `hi` it is not.
            let mut hi = hi;
            while hi - lo > TimeDelta::seconds(1) {
                let mid = lo + TimeDelta::seconds((hi - lo).num_seconds() / 2);
                if offset_at(tz, mid) == offset {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return Some(hi);
        }
        lo = hi;
    }
    None
}

/// Reads a wall-clock time in `tz`: an ambiguous time (a DST fall-back) is its first
/// occurrence; a time in a DST gap is the first instant after the gap (as a fixed cron time
/// that does not exist is treated).
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        chrono::LocalResult::None => {
            // Read with the offset of the day before (the one before the gap): that instant is
            // past the gap's start, which is the offset change in the day before it.
            let before = offset_at(tz, (naive - TimeDelta::days(1)).and_utc());
            let past_gap = (naive - before).and_utc();
            next_offset_change(tz, past_gap - TimeDelta::days(1), past_gap).unwrap_or(past_gap)
        }
    }
}
