//! [`LineageDataset`]: where a source reads or a destination writes, named for lineage.

/// A dataset as OpenLineage names it: a `namespace` (where: `postgres://host:5432`,
/// `https://shop.myshopify.com`, `file:///data/in`) and a `name` within it (`db.schema.table`,
/// `orders`, `in.jsonl`). Never holds credentials: no user info, passwords, tokens or keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineageDataset {
    /// Where the dataset lives.
    pub namespace: String,
    /// The dataset within its namespace.
    pub name: String,
}

impl LineageDataset {
    /// The dataset `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A local file: namespace `file://` and its absolute directory, name the file's name (or
    /// the glob pattern's last part).
    pub fn file(path: &std::path::Path) -> Self {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let name = absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = absolute.parent().unwrap_or(std::path::Path::new("/"));
        Self::new(format!("file://{}", dir.display()), name)
    }
}

/// One column of a destination table: its name and its type as the destination declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DatasetField {
    /// The column's name.
    pub name: String,
    /// Its type (`bigint`, `text`, `INTEGER`).
    pub data_type: String,
}

impl DatasetField {
    /// The column `name` of type `data_type`.
    pub fn new(name: impl Into<String>, data_type: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            data_type: data_type.into(),
        }
    }
}
