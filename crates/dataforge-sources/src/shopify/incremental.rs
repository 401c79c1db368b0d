//! The incremental cursor, pure: where a load starts, which records an earlier run already
//! loaded, and the state to save when this one commits.
//!
//! State lives under one key, [`STATE_KEY`], of the pipeline state:
//! `{"cursor": "<RFC 3339 UTC>", "boundary": {"<id>": "<updated_at UTC>", …}}`. A load asks
//! for records with `updated_at ≥ since`, where `since` is the saved cursor (else
//! `incremental.start`, else nothing: a full load) minus `lookback`. The lookback re-reads
//! records whose timestamps were late to appear; the boundary holds every record loaded with
//! `updated_at ≥ cursor − lookback`, id → `updated_at`, and a record whose (id, `updated_at`)
//! is in it is skipped: each version of a record is emitted once. A record updated again has a
//! new `updated_at` and is emitted. The state is staged with `ctx.state().set`, saved only when
//! the load commits; a run that fails saves nothing, so the next one starts from the old
//! cursor again and loads everything since.
//!
//! The boundary keeps at most [`MAX_BOUNDARY`] entries, the newest; when more records than
//! that share the lookback window, the oldest fall out and may be emitted once more by the
//! next run (an upsert destination absorbs that; nothing is ever lost).
//!
//! Ids are keyed by their text: REST's integer `id` (`450789469`) or GraphQL's GID
//! (`gid://shopify/Order/450789469`). The cursor field is read as REST writes it
//! (`updated_at`, with the shop's offset) or, for `graphql`/`bulk`, in camelCase
//! (`updatedAt`, UTC); both are compared as instants. A record without a readable cursor
//! field is emitted and counted, with one warning at the end. Bulk child lines (those with
//! `__parentId`) are passed through untracked: the cursor is about root records.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use dataforge_core::{Record, Value};
use serde_json::{Map, Value as Json};

use super::error::ShopifySourceError;

/// The pipeline-state key of the Shopify cursor.
pub(crate) const STATE_KEY: &str = "shopify";

/// The most entries the boundary keeps.
pub(crate) const MAX_BOUNDARY: usize = 100_000;

/// Validated `incremental` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IncrementalSettings {
    /// The cursor field as configured (snake_case, REST's name and the search field).
    pub(crate) cursor_field: String,
    /// How far before the cursor each load starts.
    pub(crate) lookback: Duration,
    /// Where the first load starts; `None`: everything.
    pub(crate) start: Option<DateTime<Utc>>,
}

/// The state saved by the last committed run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CursorState {
    /// The greatest cursor value loaded.
    pub(crate) cursor: Option<DateTime<Utc>>,
    /// Records loaded at or after `cursor − lookback`: id → cursor value.
    pub(crate) boundary: HashMap<String, DateTime<Utc>>,
}

impl CursorState {
    /// Reads the saved value (`None`: no run has committed yet).
    ///
    /// # Errors
    /// The value is not in the shape [`CursorState::to_json`] writes.
    pub(crate) fn from_json(saved: Option<&Json>) -> Result<Self, ShopifySourceError> {
        let bad = |message: String| ShopifySourceError::BadState {
            key: STATE_KEY,
            message,
        };
        let Some(saved) = saved else {
            return Ok(Self::default());
        };
        let object = saved
            .as_object()
            .ok_or_else(|| bad(format!("expected an object, found `{saved}`")))?;
        let cursor = match object.get("cursor") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(
                parse_instant(s).ok_or_else(|| bad(format!("`cursor` is not RFC 3339: `{s}`")))?,
            ),
            Some(other) => return Err(bad(format!("`cursor` is not a string: `{other}`"))),
        };
        let mut boundary = HashMap::new();
        match object.get("boundary") {
            None | Some(Json::Null) => {}
            Some(Json::Object(entries)) => {
                for (id, at) in entries {
                    let at = at.as_str().and_then(parse_instant).ok_or_else(|| {
                        bad(format!("`boundary.{id}` is not an RFC 3339 string: `{at}`"))
                    })?;
                    boundary.insert(id.clone(), at);
                }
            }
            Some(other) => return Err(bad(format!("`boundary` is not an object: `{other}`"))),
        }
        Ok(Self { cursor, boundary })
    }

    /// The value to stage under [`STATE_KEY`].
    pub(crate) fn to_json(&self) -> Json {
        let mut entries: Vec<(&String, &DateTime<Utc>)> = self.boundary.iter().collect();
        // Sorted, so that equal states save equal text.
        entries.sort();
        let boundary: Map<String, Json> = entries
            .into_iter()
            .map(|(id, at)| (id.clone(), Json::String(format_instant(*at))))
            .collect();
        serde_json::json!({
            "cursor": self.cursor.map(format_instant),
            "boundary": boundary,
        })
    }
}

/// Where a load starts: the saved cursor, else `start`, minus the lookback; `None` for a full
/// load.
pub(crate) fn since(settings: &IncrementalSettings, saved: &CursorState) -> Option<DateTime<Utc>> {
    let from = saved.cursor.or(settings.start)?;
    let lookback = chrono::Duration::from_std(settings.lookback).unwrap_or(chrono::Duration::MAX);
    Some(
        from.checked_sub_signed(lookback)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    )
}

/// Whether a record goes on to the destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// New, or a new version: emit it.
    Emit,
    /// The previous run loaded this exact version: drop it.
    Skip,
}

/// Watches the records of one load: skips versions already loaded, and builds the next state.
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    /// The field read from records (camelCase for GraphQL).
    field: String,
    lookback: chrono::Duration,
    previous: CursorState,
    /// The greatest cursor value seen, starting from the previous cursor.
    max: Option<DateTime<Utc>>,
    /// Records seen (loaded now or before) that may fall in the next boundary.
    window: HashMap<String, DateTime<Utc>>,
    skipped: u64,
    without_cursor: u64,
}

impl Tracker {
    /// A tracker for one load; `graphql` reads the camelCase form of the cursor field.
    pub(crate) fn new(
        settings: &IncrementalSettings,
        previous: CursorState,
        graphql: bool,
    ) -> Self {
        let field = if graphql {
            camel_case(&settings.cursor_field)
        } else {
            settings.cursor_field.clone()
        };
        Self {
            field,
            lookback: chrono::Duration::from_std(settings.lookback)
                .unwrap_or(chrono::Duration::MAX),
            max: previous.cursor,
            previous,
            window: HashMap::new(),
            skipped: 0,
            without_cursor: 0,
        }
    }

    /// The field read from records.
    #[cfg(test)]
    pub(crate) fn field(&self) -> &str {
        &self.field
    }

    /// Looks at one record, in any order: whether to emit it.
    pub(crate) fn observe(&mut self, record: &Record) -> Decision {
        if record.contains_key("__parentId") {
            return Decision::Emit;
        }
        let Some(at) = record.get(&self.field).and_then(instant_of) else {
            self.without_cursor += 1;
            return Decision::Emit;
        };
        if self.max.is_none_or(|m| at > m) {
            self.max = Some(at);
        }
        let Some(id) = record.get("id").and_then(id_of) else {
            return Decision::Emit;
        };
        let decision = if self.previous.boundary.get(&id) == Some(&at) {
            self.skipped += 1;
            Decision::Skip
        } else {
            Decision::Emit
        };
        // The latest version of an id is the one a later run sees.
        let entry = self.window.entry(id).or_insert(at);
        if at > *entry {
            *entry = at;
        }
        if self.window.len() > 2 * MAX_BOUNDARY {
            self.prune();
        }
        decision
    }

    /// Records skipped as already loaded so far.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records without a readable cursor field so far.
    #[cfg(test)]
    pub(crate) fn without_cursor(&self) -> u64 {
        self.without_cursor
    }

    /// The state to save after this load: `None` when there is nothing to save (no cursor yet).
    pub(crate) fn finish(mut self) -> Option<CursorState> {
        if self.without_cursor > 0 {
            tracing::warn!(
                records = self.without_cursor,
                field = %self.field,
                "shopify source: records without a readable cursor field were loaded but do not move the cursor"
            );
        }
        let cursor = self.max?;
        let low = self.low_water(cursor);
        // Versions loaded by earlier runs that this load did not see again stay known.
        for (id, at) in std::mem::take(&mut self.previous.boundary) {
            if at >= low {
                self.window.entry(id).or_insert(at);
            }
        }
        self.prune();
        Some(CursorState {
            cursor: Some(cursor),
            boundary: self.window,
        })
    }

    /// The oldest cursor value the boundary keeps when the cursor is `cursor`.
    fn low_water(&self, cursor: DateTime<Utc>) -> DateTime<Utc> {
        cursor
            .checked_sub_signed(self.lookback)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Drops entries before the lookback window, then the oldest beyond [`MAX_BOUNDARY`].
    fn prune(&mut self) {
        let Some(max) = self.max else {
            return;
        };
        let low = self.low_water(max);
        self.window.retain(|_, at| *at >= low);
        if self.window.len() > MAX_BOUNDARY {
            let mut times: Vec<DateTime<Utc>> = self.window.values().copied().collect();
            let cut = times.len() - MAX_BOUNDARY;
            let (_, nth, _) = times.select_nth_unstable(cut);
            let nth = *nth;
            let mut extra = self.window.values().filter(|at| **at == nth).count();
            // Keep the newest: everything after `nth`, and of `nth` itself as many as fit.
            let newer = self.window.values().filter(|at| **at > nth).count();
            extra = extra.saturating_sub(MAX_BOUNDARY - newer);
            tracing::warn!(
                dropped = cut,
                "shopify source: more records share the lookback window than the boundary keeps; the oldest may be loaded again next run"
            );
            self.window.retain(|_, at| {
                if *at < nth {
                    false
                } else if *at == nth && extra > 0 {
                    extra -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }
}

/// `updated_at` → `updatedAt`.
pub(crate) fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An RFC 3339 text as a UTC instant.
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A UTC instant as RFC 3339 with `Z` (sub-second digits only when there are any).
pub(crate) fn format_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A cursor value: an RFC 3339 string, or a timestamp a transform made.
fn instant_of(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_instant(s),
        Value::Timestamp(t) => Some(t.with_timezone(&Utc)),
        _ => None,
    }
}

/// An id's text: a REST integer or a GraphQL GID.
fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::Int(i) => Some(i.to_string()),
        Value::Decimal(d) => Some(d.to_string()),
        Value::String(s) => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn settings(lookback_s: u64) -> IncrementalSettings {
        IncrementalSettings {
            cursor_field: "updated_at".to_owned(),
            lookback: Duration::from_secs(lookback_s),
            start: None,
        }
    }

    fn rest(id: i64, at: &str) -> Record {
        Record::from_json(format!(r#"{{"id":{id},"updated_at":"{at}"}}"#).as_bytes())
            .expect("valid")
    }

    /// One run over `records`: the emitted (id, updated_at) and the state it would save.
    fn run(
        s: &IncrementalSettings,
        saved: &CursorState,
        records: &[Record],
    ) -> (Vec<(String, String)>, Option<CursorState>) {
        let mut t = Tracker::new(s, saved.clone(), false);
        let mut out = Vec::new();
        for r in records {
            if t.observe(r) == Decision::Emit {
                let id = r.get("id").and_then(id_of).unwrap_or_default();
                let at = r
                    .get("updated_at")
                    .and_then(instant_of)
                    .map(format_instant)
                    .unwrap_or_default();
                out.push((id, at));
            }
        }
        (out, t.finish())
    }

    #[test]
    fn second_run_over_overlap_emits_each_version_once_and_new_versions_again() {
        let s = settings(300);
        let first = [
            rest(1, "2026-08-28T06:59:14+02:00"),
            rest(2, "2026-08-28T05:00:00Z"),
            rest(3, "2026-08-28T04:50:00Z"),
        ];
        let (emitted, state) = run(&s, &CursorState::default(), &first);
        assert_eq!(emitted.len(), 3);
        let state = state.expect("cursor");
        assert_eq!(
            state.cursor.map(format_instant).as_deref(),
            Some("2026-08-28T05:00:00Z")
        );
        // 04:59:14Z and 05:00:00Z are within 5 minutes of the cursor; 04:50 is not.
        assert_eq!(state.boundary.len(), 2);
        assert_eq!(
            since(&s, &state).map(format_instant).as_deref(),
            Some("2026-08-28T04:55:00Z")
        );
        // The second run re-reads the window: 1 and 2 unchanged, 3 updated, 4 new.
        let second = [
            rest(1, "2026-08-28T04:59:14Z"),
            rest(2, "2026-08-28T07:00:00+02:00"),
            rest(3, "2026-08-28T05:01:00Z"),
            rest(4, "2026-08-28T05:00:30Z"),
        ];
        let saved = CursorState::from_json(Some(&state.to_json())).expect("round trip");
        assert_eq!(saved, state);
        let (emitted, state2) = run(&s, &saved, &second);
        assert_eq!(
            emitted,
            [
                ("3".to_owned(), "2026-08-28T05:01:00Z".to_owned()),
                ("4".to_owned(), "2026-08-28T05:00:30Z".to_owned()),
            ]
        );
        let state2 = state2.expect("cursor");
        assert_eq!(
            state2.cursor.map(format_instant).as_deref(),
            Some("2026-08-28T05:01:00Z")
        );
        // A third run over the same data emits nothing.
        let (emitted, _) = run(&s, &state2, &second);
        assert_eq!(emitted, []);
    }

    #[test]
    fn an_interrupted_run_saves_nothing_so_the_next_reruns_since_the_old_cursor() {
        let s = settings(0);
        let (_, state) = run(
            &s,
            &CursorState::default(),
            &[rest(1, "2026-01-01T00:00:00Z")],
        );
        let state = state.expect("cursor");
        let later = [
            rest(2, "2026-01-02T00:00:00Z"),
            rest(3, "2026-01-03T00:00:00Z"),
        ];
        // The first attempt sees these, then fails: its state is dropped, not saved.
        let (emitted, _lost) = run(&s, &state, &later);
        assert_eq!(emitted.len(), 2);
        assert_eq!(
            since(&s, &state).map(format_instant).as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        let mut again = vec![rest(1, "2026-01-01T00:00:00Z")];
        again.extend(later.iter().cloned());
        let (emitted, _) = run(&s, &state, &again);
        assert_eq!(
            emitted
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["2", "3"]
        );
    }

    #[test]
    fn graphql_reads_camel_case_gids_and_passes_children_and_cursorless_records() {
        let s = settings(60);
        let mut previous = CursorState::default();
        previous.boundary.insert(
            "gid://shopify/Order/1".to_owned(),
            parse_instant("2026-01-01T00:00:00Z").expect("valid"),
        );
        previous.cursor = parse_instant("2026-01-01T00:00:00Z");
        let mut t = Tracker::new(&s, previous, true);
        assert_eq!(t.field(), "updatedAt");
        let order = Record::from_json(
            br#"{"id":"gid://shopify/Order/1","updatedAt":"2026-01-01T00:00:00Z"}"#,
        )
        .expect("valid");
        let child = Record::from_json(
            br#"{"id":"gid://shopify/LineItem/7","__parentId":"gid://shopify/Order/1"}"#,
        )
        .expect("valid");
        let bare = Record::from_json(br#"{"id":"gid://shopify/Order/2","updatedAt":"soon"}"#)
            .expect("valid");
        assert_eq!(t.observe(&order), Decision::Skip);
        assert_eq!(t.observe(&child), Decision::Emit);
        assert_eq!(t.observe(&bare), Decision::Emit);
        assert_eq!((t.skipped(), t.without_cursor()), (1, 1));
        let state = t.finish().expect("cursor");
        assert_eq!(state.boundary.len(), 1);
    }

    #[test]
    fn state_reading_names_what_is_wrong() {
        assert_eq!(
            CursorState::from_json(None).ok(),
            Some(CursorState::default())
        );
        let e = CursorState::from_json(Some(&serde_json::json!({"cursor": "yesterday"})))
            .expect_err("bad");
        assert!(e.to_string().contains("`cursor` is not RFC 3339"), "{e}");
        let e = CursorState::from_json(Some(&serde_json::json!({"boundary": {"1": 5}})))
            .expect_err("bad");
        assert!(e.to_string().contains("`boundary.1`"), "{e}");
        assert_eq!(camel_case("updated_at"), "updatedAt");
        let s = IncrementalSettings {
            start: parse_instant("2024-01-01T00:00:00Z"),
            ..settings(60)
        };
        assert_eq!(
            since(&s, &CursorState::default())
                .map(format_instant)
                .as_deref(),
            Some("2023-12-31T23:59:00Z")
        );
        assert_eq!(since(&settings(60), &CursorState::default()), None);
    }

    #[test]
    fn the_boundary_keeps_the_newest_entries_when_over_the_cap() {
        let s = settings(7 * 24 * 3600);
        let mut t = Tracker::new(&s, CursorState::default(), false);
        let base = parse_instant("2026-01-01T00:00:00Z").expect("valid");
        let n = MAX_BOUNDARY + 10;
        for i in 0..n {
            let at = base + chrono::Duration::seconds((i / 2) as i64);
            let mut r = Record::new();
            r.insert("id", Value::Int(i as i64));
            r.insert("updated_at", Value::String(format_instant(at).into()));
            t.observe(&r);
        }
        let state = t.finish().expect("cursor");
        assert_eq!(state.boundary.len(), MAX_BOUNDARY);
        assert!(state.boundary.contains_key(&(n - 1).to_string()));
        assert!(!state.boundary.contains_key("0"));
    }

    proptest! {
        /// Runs over overlapping slices of one history emit every (id, updated_at) version at
        /// most once, and every version newer than the first run's start at least once.
        #[test]
        fn overlapping_runs_emit_each_version_once(
            updates in proptest::collection::vec((0i64..20, 0i64..5), 1..60),
            lookback in 0u64..120,
            splits in proptest::collection::vec(0usize..60, 1..4),
        ) {
            let s = settings(lookback);
            let base = parse_instant("2026-01-01T00:00:00Z").expect("valid");
            // The history, on a clock that never goes back (ties allowed); an id's next
            // version is at least a second after its last.
            let mut latest: HashMap<i64, i64> = HashMap::new();
            let mut history = Vec::new();
            let mut clock = 0;
            for (id, dt) in updates {
                clock += dt;
                let t = latest.get(&id).map_or(clock, |p| clock.max(p + 1));
                clock = t;
                latest.insert(id, t);
                history.push((id, t));
            }
            let mut cuts: Vec<usize> = splits.into_iter().map(|c| c % (history.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(history.len());
            let mut state = CursorState::default();
            let mut seen = std::collections::HashSet::new();
            for cut in cuts {
                // What the API returns at this moment: each id's current version since `since`.
                let mut now: HashMap<i64, i64> = HashMap::new();
                for (id, t) in &history[..cut] {
                    now.insert(*id, *t);
                }
                let from = since(&s, &state);
                let records: Vec<Record> = now
                    .iter()
                    .map(|(id, t)| (*id, base + chrono::Duration::seconds(*t)))
                    .filter(|(_, at)| from.is_none_or(|f| *at >= f))
                    .map(|(id, at)| rest(id, &format_instant(at)))
                    .collect();
                let (emitted, next) = run(&s, &state, &records);
                for e in emitted {
                    prop_assert!(seen.insert(e.clone()), "emitted twice: {:?}", e);
                }
                if let Some(next) = next {
                    state = next;
                }
            }
            // The final versions were all emitted.
            for (id, t) in latest {
                let key = (id.to_string(), format_instant(base + chrono::Duration::seconds(t)));
                prop_assert!(seen.contains(&key), "never emitted: {:?}", key);
            }
        }
    }
}
