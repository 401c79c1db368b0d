//! How a SQL destination treats the rows already in its table.

/// `replace`, `append` or `upsert`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    dataforge_core::schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// The table's rows become exactly the loaded rows, atomically.
    Replace,
    /// The loaded rows are added, all or nothing.
    #[default]
    Append,
    /// Rows are merged on `primary_key`: new keys inserted, existing keys updated.
    Upsert,
}

impl WriteMode {
    /// The name a pipeline file uses (`replace`, `append`, `upsert`).
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Replace => "replace",
            WriteMode::Append => "append",
            WriteMode::Upsert => "upsert",
        }
    }
}

/// One string or a list of strings (`"id"` or `["shop", "id"]`).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, dataforge_core::schemars::JsonSchema,
)]
#[serde(untagged)]
pub enum OneOrMany {
    /// Nothing given.
    #[default]
    #[serde(skip)]
    None,
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}
