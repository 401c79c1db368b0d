//! [`DestinationPlan`]: what a destination says a load of a sample would change in its target
//! (a table to create, columns to add, integer columns to widen), without changing anything.

/// A column a load would create or add, with the SQL type it would get.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedColumn {
    /// The column's name.
    pub name: String,
    /// The SQL type the load would declare (`BIGINT`, or the destination's `columns` override).
    #[serde(rename = "type")]
    pub sql_type: String,
}

/// An existing column a load would widen to hold the sample's values.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Widening {
    /// The column's name.
    pub name: String,
    /// Its type now, as the database names it (`integer`).
    pub from: String,
    /// The type the load would change it to (`bigint`, `numeric`).
    pub to: String,
}

/// What a load of the sampled rows would do to the destination's target: build it with
/// [`DestinationPlan::new`] and fill the public fields.
///
/// ```
/// use dataforge_core::{DestinationPlan, PlannedColumn};
/// let mut plan = DestinationPlan::new("postgres", r#""shop"."orders""#, "append");
/// assert!(!plan.changes());
/// plan.add.push(PlannedColumn { name: "total".into(), sql_type: "NUMERIC".into() });
/// assert!(plan.changes());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct DestinationPlan {
    /// The destination's type (`postgres`, `sqlite`).
    pub kind: String,
    /// The target, as the destination names it (`"shop"."orders"`, `db.sqlite:orders`).
    pub target: String,
    /// `replace`, `append` or `upsert`.
    pub write_mode: String,
    /// The upsert key (`primary_key`), empty when there is none.
    pub key: Vec<String>,
    /// Whether the target exists now.
    pub table_exists: bool,
    /// The columns of a table the load would create (empty when it exists).
    pub create: Vec<PlannedColumn>,
    /// Columns the load would add to the existing table.
    pub add: Vec<PlannedColumn>,
    /// Existing integer columns the load would widen.
    pub widen: Vec<Widening>,
    /// A unique index the load would create on the upsert key (PostgreSQL).
    pub key_index: Option<String>,
    /// Anything else worth knowing: what would fail, what would be created besides the table.
    pub notes: Vec<String>,
}

impl DestinationPlan {
    /// A plan for `target` of a `kind` destination in `write_mode` that changes nothing yet.
    pub fn new(
        kind: impl Into<String>,
        target: impl Into<String>,
        write_mode: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            target: target.into(),
            write_mode: write_mode.into(),
            ..Self::default()
        }
    }

    /// True when the load would change the target's shape: create the table, add a column,
    /// widen a column or create the key's unique index.
    pub fn changes(&self) -> bool {
        !self.create.is_empty()
            || !self.add.is_empty()
            || !self.widen.is_empty()
            || self.key_index.is_some()
    }
}
