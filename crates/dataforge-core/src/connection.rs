//! Connections: a `conn_id` names a URI kept outside pipeline files.
//!
//! [`EnvConnections`] reads `DATAFORGE_CONN_<CONN_ID>`, then Airflow's `AIRFLOW_CONN_<CONN_ID>`
//! (its URI and JSON forms, see [`crate::airflow_connection`]); an application plugs its own secrets backend by implementing [`ConnectionProvider`].
//! Passwords and secret query parameters never show in `Debug`, `Display`, logs or errors.

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

/// A string that must not be printed: `Debug` and `Display` show `**REDACTED**`.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself: pass it to the client that needs it, never to a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "password",
    "secret",
    "client_secret",
];

/// A resolved connection: its id and URI.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    conn_id: String,
    url: Url,
}

impl Connection {
    /// Parses a connection URI.
    ///
    /// # Errors
    /// [`ConnectionError::InvalidUri`] when the URI does not parse; the message never contains it.
    pub fn parse(conn_id: &str, uri: &str) -> Result<Self, ConnectionError> {
        let url = Url::parse(uri).map_err(|e| ConnectionError::InvalidUri {
            conn_id: conn_id.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            conn_id: conn_id.to_owned(),
            url,
        })
    }

    /// The connection's id.
    pub fn conn_id(&self) -> &str {
        &self.conn_id
    }

    /// The full URI, secrets included: hand it only to the client that connects.
    pub fn expose_url(&self) -> &Url {
        &self.url
    }

    /// The scheme (`postgres`, `https`, `google-sheets`).
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The host, if any.
    pub fn host(&self) -> Option<&str> {
        self.url.host_str()
    }

    /// The port, if given.
    pub fn port(&self) -> Option<u16> {
        self.url.port()
    }

    /// The user name, percent-decoded (empty when absent).
    pub fn username(&self) -> String {
        decode(self.url.username())
    }

    /// The password, percent-decoded.
    pub fn password(&self) -> Option<SecretString> {
        self.url.password().map(|p| SecretString::new(decode(p)))
    }

    /// The path without its leading `/` (a database name, for PostgreSQL).
    pub fn path(&self) -> &str {
        self.url.path().trim_start_matches('/')
    }

    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The URI with the password and secret parameters replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        // Setting a password fails only for URLs that cannot have one, and this one has one.
        let _ = url.set_password(Some("***"));
    } else if !url.username().is_empty() && url.scheme().starts_with("http") {
        // `https://TOKEN@shop` style: the user name is the secret.
        let _ = url.set_username("***");
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("conn_id", &self.conn_id)
            .field("url", &self.redacted())
            .finish()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.conn_id, self.redacted())
    }
}

/// Why a connection could not be resolved. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// No connection of that id is defined.
    #[error("connection `{conn_id}` is not defined: set {hint}")]
    Missing {
        /// The id asked for.
        conn_id: String,
        /// How to define it.
        hint: String,
    },
    /// The URI does not parse.
    #[error("connection `{conn_id}` has an invalid URI: {reason}")]
    InvalidUri {
        /// The id asked for.
        conn_id: String,
        /// The parser's reason (which does not quote the URI).
        reason: String,
    },
    /// The provider cannot answer now (a secrets backend down, a rate limit, a timeout); a
    /// later attempt may succeed, so a run retries it.
    #[error("connection `{conn_id}` is temporarily unavailable: {reason}")]
    Unavailable {
        /// The id asked for.
        conn_id: String,
        /// Why, without secrets.
        reason: String,
    },
}

impl ConnectionError {
    /// A connection the provider cannot resolve now, for a reason a later attempt may not meet.
    pub fn unavailable(conn_id: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            conn_id: conn_id.into(),
            reason: reason.to_string(),
        }
    }

    /// The id of the connection asked for.
    pub fn conn_id(&self) -> &str {
        match self {
            Self::Missing { conn_id, .. }
            | Self::InvalidUri { conn_id, .. }
            | Self::Unavailable { conn_id, .. } => conn_id,
        }
    }

    /// True when a later attempt may succeed ([`ConnectionError::Unavailable`]); a missing or
    /// invalid connection stays so until someone fixes it.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Resolves a `conn_id` to a [`Connection`]: plug in your secrets backend here, and give it to
/// a run with `RunOptions`.
///
/// The method is async (a secrets backend is a network call away): implementations use
/// `#[async_trait]` (re-exported as [`dataforge_core::async_trait`](crate::async_trait)), as
/// every trait of this crate with async methods. Forgetting it gives
/// `error[E0195]: lifetime parameters or bounds on method do not match the trait declaration`.
///
/// Say [`ConnectionError::Unavailable`] when the backend cannot answer now: the component's
/// `?` turns it into a retryable error and the run tries again (`retries` in `default_args`).
///
/// ```
/// use std::collections::HashMap;
/// use dataforge_core::{async_trait, Connection, ConnectionError, ConnectionProvider};
///
/// /// Connections from a vault, here a map that a real service would fetch over the network.
/// struct Vault {
///     secrets: HashMap<String, String>,
/// }
///
/// #[async_trait]
/// impl ConnectionProvider for Vault {
///     async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError> {
///         match self.secrets.get(conn_id) {
///             Some(uri) => Connection::parse(conn_id, uri),
///             None => Err(ConnectionError::unavailable(conn_id, "the vault is sealed")),
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let vault = Vault { secrets: HashMap::from([("pg".into(), "postgres://db/app".into())]) };
/// assert_eq!(vault.connection("pg").await?.host(), Some("db"));
/// assert!(vault.connection("s3").await.unwrap_err().is_retryable());
/// # Ok::<(), ConnectionError>(())
/// # }).unwrap();
/// ```
#[async_trait::async_trait]
pub trait ConnectionProvider: Send + Sync + 'static {
    /// Looks a connection up.
    ///
    /// # Errors
    /// [`ConnectionError::Missing`] when it is not defined, [`ConnectionError::InvalidUri`] when
    /// it does not parse, [`ConnectionError::Unavailable`] when the provider cannot answer now.
    async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError>;
}

/// Connections from `DATAFORGE_CONN_<CONN_ID upper-cased>` environment variables, falling back
/// to Airflow's `AIRFLOW_CONN_<CONN_ID upper-cased>` (URI or JSON form).
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvConnections;

impl EnvConnections {
    /// The variable that holds `conn_id`.
    pub fn variable(conn_id: &str) -> String {
        format!(
            "DATAFORGE_CONN_{}",
            conn_id.to_ascii_uppercase().replace(['-', '.', ' '], "_")
        )
    }

    /// Resolves `conn_id` from variables read with `var`: `DATAFORGE_CONN_<ID>` first, then
    /// `AIRFLOW_CONN_<ID>` (an empty value counts as unset).
    ///
    /// # Errors
    /// As [`ConnectionProvider::connection`].
    pub fn resolve(
        conn_id: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Connection, ConnectionError> {
        let ours = Self::variable(conn_id);
        if let Some(uri) = var(&ours).filter(|v| !v.is_empty()) {
            return Connection::parse(conn_id, &uri);
        }
        let airflow = crate::airflow_connection::airflow_variable(conn_id);
        if let Some(value) = var(&airflow).filter(|v| !v.is_empty()) {
            return crate::airflow_connection::airflow_connection(conn_id, &value);
        }
        Err(ConnectionError::Missing {
            conn_id: conn_id.to_owned(),
            hint: format!("the environment variable {ours} to its URI (or Airflow's {airflow})"),
        })
    }
}

#[async_trait::async_trait]
impl ConnectionProvider for EnvConnections {
    async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError> {
        Self::resolve(conn_id, |name| std::env::var(name).ok())
    }
}

/// Connections given in code (tests, or an application that loads its own secrets).
#[derive(Debug, Default, Clone)]
pub struct StaticConnections {
    connections: BTreeMap<String, Connection>,
}

impl StaticConnections {
    /// No connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connection.
    ///
    /// # Errors
    /// When the URI does not parse.
    pub fn with(mut self, conn_id: &str, uri: &str) -> Result<Self, ConnectionError> {
        self.connections
            .insert(conn_id.to_owned(), Connection::parse(conn_id, uri)?);
        Ok(self)
    }
}

#[async_trait::async_trait]
impl ConnectionProvider for StaticConnections {
    async fn connection(&self, conn_id: &str) -> Result<Connection, ConnectionError> {
        self.connections
            .get(conn_id)
            .cloned()
            .ok_or_else(|| ConnectionError::Missing {
                conn_id: conn_id.to_owned(),
                hint: "it with StaticConnections::with".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_display_or_errors() {
        let c = Connection::parse(
            "pg",
            "postgres://loader:s3cr%40t@db.example:5432/warehouse?sslmode=require",
        )
        .expect("valid");
        for text in [format!("{c:?}"), c.to_string(), c.redacted()] {
            assert!(!text.contains("s3cr"), "{text}");
            assert!(
                text.contains("loader:***@db.example:5432/warehouse"),
                "{text}"
            );
            assert!(text.contains("sslmode=require"), "{text}");
        }
        assert_eq!(
            c.password().map(|p| p.expose().to_owned()),
            Some("s3cr@t".into())
        );
        assert_eq!(format!("{:?}", c.password()), "Some(**REDACTED**)");

        let g = Connection::parse("gs", "google-sheets://?key=AIzaSECRET&endpoint=http://x")
            .expect("valid");
        assert!(!format!("{g:?}{g}").contains("AIzaSECRET"));
        assert_eq!(g.param("key").as_deref(), Some("AIzaSECRET"));

        let s = Connection::parse("shop", "https://:shpat_123@my-shop.myshopify.com").expect("ok");
        assert!(!format!("{s:?}{s}").contains("shpat_123"));

        let bad = Connection::parse("pg", "postgres://u:pw@[bad").expect_err("invalid");
        assert!(!bad.to_string().contains("pw"));
    }

    #[tokio::test]
    async fn env_variable_names_are_upper_case() {
        assert_eq!(
            EnvConnections::variable("postgres_default"),
            "DATAFORGE_CONN_POSTGRES_DEFAULT"
        );
        let missing = EnvConnections
            .connection("surely_not_defined_here")
            .await
            .expect_err("missing");
        assert!(!missing.is_retryable());
        assert!(
            missing
                .to_string()
                .contains("DATAFORGE_CONN_SURELY_NOT_DEFINED_HERE")
        );
    }

    #[test]
    fn dataforge_variables_win_over_airflow_ones() {
        let vars = std::collections::HashMap::from([
            ("DATAFORGE_CONN_PG", "postgres://ours@db/ours"),
            ("AIRFLOW_CONN_PG", "postgres://theirs@db/theirs"),
            ("DATAFORGE_CONN_EMPTY", ""),
            (
                "AIRFLOW_CONN_EMPTY",
                r#"{"conn_type": "postgres", "host": "db", "schema": "af"}"#,
            ),
            ("AIRFLOW_CONN_AF_ONLY", "postgresql://af@db:5433/af"),
        ]);
        let var = |name: &str| vars.get(name).map(|v| (*v).to_owned());
        let pg = EnvConnections::resolve("pg", var).expect("defined");
        assert_eq!(pg.username(), "ours");
        let empty = EnvConnections::resolve("empty", var).expect("falls back");
        assert_eq!(empty.path(), "af");
        let af = EnvConnections::resolve("af_only", var).expect("falls back");
        assert_eq!((af.scheme(), af.port()), ("postgres", Some(5433)));
        let missing = EnvConnections::resolve("nowhere", var).expect_err("missing");
        assert!(
            missing.to_string().contains("DATAFORGE_CONN_NOWHERE")
                && missing.to_string().contains("AIRFLOW_CONN_NOWHERE"),
            "{missing}"
        );
    }
}
