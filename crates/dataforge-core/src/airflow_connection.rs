//! Connections defined for Airflow: `AIRFLOW_CONN_<CONN_ID>` in Airflow's URI form
//! (`postgres://user:pw@host:5432/db?sslmode=require`) or JSON form (`{"conn_type": "postgres",
//! "host": …, "login": …, "password": …, "schema": …, "port": …, "extra": {…}}`), converted to
//! DataForge's connection URIs so that connections already defined for Airflow work unchanged.
//!
//! The conversion by `conn_type`:
//! - `postgres` (`postgresql`): `postgres://login:password@host:port/schema?EXTRA`, the extras
//!   (`sslmode`, `sslrootcert`, `connect_timeout`, …) as query parameters;
//! - `http`, `https` (Airflow's HTTP connection, as a Shopify connection is kept there):
//!   `SCHEME://login:password@host:port`, the scheme from `schema` (`https`) as Airflow's
//!   `HttpHook` reads it, or from a host that carries one (`https://my-shop.myshopify.com`);
//! - `google_cloud_platform`: `google-sheets://?key_file=KEY_PATH` from the extra `key_path`
//!   (an inline `keyfile_dict` is refused: DataForge writes no secret to a file);
//! - any other type: `TYPE://login:password@host:port/schema?EXTRA` (`_` in the type read as
//!   `-`), which the component then accepts or refuses by its scheme.
//!
//! Nothing here puts the variable's value, a password or an extra into an error.

use serde_json::{Map, Value};
use url::Url;

use crate::connection::{Connection, ConnectionError};

/// Airflow's connection variable for `conn_id`: `AIRFLOW_CONN_` and the id upper-cased, as
/// Airflow's environment secrets backend reads it.
pub fn airflow_variable(conn_id: &str) -> String {
    format!("AIRFLOW_CONN_{}", conn_id.to_ascii_uppercase())
}

/// Converts the value of an `AIRFLOW_CONN_*` variable (URI or JSON form) to a [`Connection`].
///
/// # Errors
/// [`ConnectionError::InvalidUri`] when the value is neither form, or its type cannot be
/// expressed as a DataForge URI; the reason never quotes the value.
pub fn airflow_connection(conn_id: &str, value: &str) -> Result<Connection, ConnectionError> {
    let invalid = |reason: String| ConnectionError::InvalidUri {
        conn_id: conn_id.to_owned(),
        reason: format!("{} (Airflow form): {reason}", airflow_variable(conn_id)),
    };
    let fields = if value.trim_start().starts_with('{') {
        AirflowFields::from_json(value)
    } else {
        AirflowFields::from_uri(value)
    }
    .map_err(invalid)?;
    let url = fields.to_dataforge_url().map_err(invalid)?;
    Connection::parse(conn_id, url.as_str())
}

/// The fields of an Airflow connection.
struct AirflowFields {
    conn_type: String,
    host: String,
    login: String,
    password: String,
    schema: String,
    port: Option<u16>,
    extra: Map<String, Value>,
}

impl AirflowFields {
    /// The JSON form. serde_json's syntax errors give a line and column, never the text.
    fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("not valid JSON (line {}, column {})", e.line(), e.column()))?;
        let Value::Object(mut obj) = value else {
            return Err("the JSON form must be an object".into());
        };
        let mut string = |key: &str| -> Result<String, String> {
            match obj.remove(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(format!("`{key}` must be a string")),
            }
        };
        let conn_type = string("conn_type")?;
        let host = string("host")?;
        let login = string("login")?;
        let password = string("password")?;
        let schema = string("schema")?;
        let port = match obj.remove("port") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or("`port` must be a port number")?,
            ),
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.parse().map_err(|_| "`port` must be a port number")?),
            Some(_) => return Err("`port` must be a port number".into()),
        };
        let extra = match obj.remove("extra") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            // Airflow also stores `extra` as a JSON string.
            Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
            Some(Value::String(s)) => parse_extra(&s)?,
            Some(_) => return Err("`extra` must be an object".into()),
        };
        if conn_type.is_empty() {
            return Err("`conn_type` is missing".into());
        }
        Ok(Self {
            conn_type: normalise_type(&conn_type),
            host,
            login,
            password,
            schema,
            port,
            extra,
        })
    }

    /// The URI form: `TYPE://login:password@host:port/schema?extra`, where the query is the
    /// extra (or `__extra__` holds it as JSON), as Airflow's `Connection(uri=…)` reads it.
    fn from_uri(text: &str) -> Result<Self, String> {
        // The url crate's messages name the problem, not the input.
        let url = Url::parse(text).map_err(|e| format!("not a URI: {e}"))?;
        let mut extra = Map::new();
        for (k, v) in url.query_pairs() {
            if k == "__extra__" {
                extra.extend(parse_extra(&v)?);
            } else {
                extra.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        Ok(Self {
            conn_type: normalise_type(url.scheme()),
            host: decode(url.host_str().unwrap_or_default()),
            login: decode(url.username()),
            password: decode(url.password().unwrap_or_default()),
            schema: decode(url.path().trim_start_matches('/')),
            port: url.port(),
            extra,
        })
    }

    /// The DataForge URI for this connection.
    fn to_dataforge_url(&self) -> Result<Url, String> {
        match self.conn_type.as_str() {
            "postgres" => {
                let mut url = self.base("postgres", &self.host)?;
                self.set_path(&mut url);
                self.set_query(&mut url, |_| true);
                Ok(url)
            }
            "http" | "https" => {
                // Airflow's HttpHook: a host with a scheme (`https://shop:8443`) is used as is;
                // otherwise the scheme is `schema` (`https`), else the connection type.
                if self.host.contains("://") {
                    let given = Url::parse(&self.host).map_err(|e| format!("invalid host: {e}"))?;
                    let host = given.host_str().unwrap_or_default().to_owned();
                    let port = self.port.or(given.port());
                    return self.http_url(given.scheme(), &host, port);
                }
                let scheme = if matches!(self.schema.as_str(), "http" | "https") {
                    self.schema.as_str()
                } else {
                    self.conn_type.as_str()
                };
                self.http_url(scheme, &self.host, self.port)
            }
            "google_cloud_platform" => {
                let key_path = ["key_path", "extra__google_cloud_platform__key_path"]
                    .iter()
                    .find_map(|k| self.extra.get(*k).and_then(Value::as_str))
                    .filter(|p| !p.is_empty());
                match key_path {
                    Some(path) => {
                        let mut url = parse_base("google-sheets://")?;
                        url.query_pairs_mut().append_pair("key_file", path);
                        Ok(url)
                    }
                    None => Err(
                        "a google_cloud_platform connection needs the extra `key_path` (a \
                         service-account key file); an inline `keyfile_dict` is not supported"
                            .into(),
                    ),
                }
            }
            other => {
                let scheme = other.replace('_', "-");
                let mut url = if self.host.is_empty() {
                    parse_base(&format!("{scheme}://"))?
                } else {
                    self.base(&scheme, &self.host)?
                };
                self.set_path(&mut url);
                self.set_query(&mut url, |_| true);
                Ok(url)
            }
        }
    }

    /// `scheme://login:password@host:port` for an http(s) scheme.
    fn http_url(&self, scheme: &str, host: &str, port: Option<u16>) -> Result<Url, String> {
        if !matches!(scheme, "http" | "https") {
            return Err(format!(
                "an HTTP connection's scheme is http or https, not `{scheme}`"
            ));
        }
        let mut url = self.base(scheme, host)?;
        // A URL with a host can carry a port.
        let _ = url.set_port(port);
        Ok(url)
    }

    /// `scheme://login:password@host:port`.
    fn base(&self, scheme: &str, host: &str) -> Result<Url, String> {
        if host.is_empty() {
            return Err(format!("a {} connection needs a host", self.conn_type));
        }
        let mut url = parse_base(&format!("{scheme}://placeholder"))?;
        url.set_host(Some(host))
            .map_err(|e| format!("invalid host: {e}"))?;
        // These fail only for URLs that cannot carry credentials or a port (no host), and this
        // one has a host.
        let _ = url.set_username(&self.login);
        if !self.password.is_empty() {
            let _ = url.set_password(Some(&self.password));
        }
        let _ = url.set_port(self.port);
        Ok(url)
    }

    fn set_path(&self, url: &mut Url) {
        if !self.schema.is_empty() {
            url.set_path(&format!("/{}", self.schema));
        }
    }

    /// The extras with a scalar value, as query parameters (objects and arrays have no URI
    /// form and are left out).
    fn set_query(&self, url: &mut Url, keep: impl Fn(&str) -> bool) {
        let pairs: Vec<(&str, String)> = self
            .extra
            .iter()
            .filter(|(k, _)| keep(k))
            .filter_map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((k.as_str(), v))
            })
            .collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
    }
}

fn parse_base(text: &str) -> Result<Url, String> {
    Url::parse(text).map_err(|e| format!("cannot build the URI: {e}"))
}

fn parse_extra(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("`extra` must be a JSON object".into()),
        Err(e) => Err(format!(
            "`extra` is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )),
    }
}

/// Airflow's connection types: `-` read as `_` (`google-cloud-platform://`), and `postgresql`
/// as `postgres` (Airflow's own alias).
fn normalise_type(conn_type: &str) -> String {
    match conn_type.to_ascii_lowercase().replace('-', "_").as_str() {
        "postgresql" => "postgres".into(),
        other => other.into(),
    }
}

/// Percent-decoding of a URI component (`s3cr%40t` → `s3cr@t`).
fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(value: &str) -> Connection {
        airflow_connection("warehouse", value).expect("converts")
    }

    #[test]
    fn uri_form_becomes_a_postgres_uri_with_its_extras() {
        let c = convert("postgresql://loader:s3cr%40t@db.example:6432/analytics?sslmode=require");
        assert_eq!(c.scheme(), "postgres");
        assert_eq!(c.host(), Some("db.example"));
        assert_eq!(c.port(), Some(6432));
        assert_eq!(c.username(), "loader");
        assert_eq!(
            c.password().map(|p| p.expose().to_owned()),
            Some("s3cr@t".into())
        );
        assert_eq!(c.path(), "analytics");
        assert_eq!(c.param("sslmode").as_deref(), Some("require"));

        let c = convert(
            "postgres://u:p@h/db?__extra__=%7B%22sslmode%22%3A+%22verify-full%22%2C+%22connect_timeout%22%3A+5%7D",
        );
        assert_eq!(c.param("sslmode").as_deref(), Some("verify-full"));
        assert_eq!(c.param("connect_timeout").as_deref(), Some("5"));
    }

    #[test]
    fn json_form_becomes_a_postgres_uri() {
        let c = convert(
            r#"{"conn_type": "postgres", "host": "db.example", "login": "loader",
                "password": "p@ss:w/rd?#", "schema": "analytics", "port": 5433,
                "extra": {"sslmode": "require", "options": {"nested": true}}}"#,
        );
        assert_eq!(c.scheme(), "postgres");
        assert_eq!(c.host(), Some("db.example"));
        assert_eq!(c.port(), Some(5433));
        assert_eq!(c.username(), "loader");
        assert_eq!(
            c.password().map(|p| p.expose().to_owned()),
            Some("p@ss:w/rd?#".into())
        );
        assert_eq!(c.path(), "analytics");
        assert_eq!(c.param("sslmode").as_deref(), Some("require"));
        assert_eq!(c.param("options"), None);

        // `extra` as a JSON string and `port` as text, as Airflow also writes them.
        let c = convert(
            r#"{"conn_type": "postgresql", "host": "h", "port": "5434", "extra": "{\"sslmode\": \"disable\"}"}"#,
        );
        assert_eq!(
            (c.port(), c.param("sslmode").as_deref()),
            (Some(5434), Some("disable"))
        );
    }

    #[test]
    fn http_connections_take_their_scheme_from_schema_or_host() {
        let c = convert(
            r#"{"conn_type": "http", "host": "my-shop.myshopify.com", "schema": "https", "password": "shpat_1"}"#,
        );
        assert_eq!(c.scheme(), "https");
        assert_eq!(c.host(), Some("my-shop.myshopify.com"));
        assert_eq!(
            c.password().map(|p| p.expose().to_owned()),
            Some("shpat_1".into())
        );

        let c =
            convert(r#"{"conn_type": "http", "host": "http://127.0.0.1:8080/", "password": "t"}"#);
        assert_eq!(
            (c.scheme(), c.host(), c.port()),
            ("http", Some("127.0.0.1"), Some(8080))
        );

        let c = convert("https://:shpat_2@my-shop.myshopify.com");
        assert_eq!(c.scheme(), "https");
        assert_eq!(
            c.password().map(|p| p.expose().to_owned()),
            Some("shpat_2".into())
        );
    }

    #[test]
    fn google_cloud_connections_need_a_key_file() {
        let c = convert(
            r#"{"conn_type": "google_cloud_platform", "extra": {"key_path": "/secrets/sa.json"}}"#,
        );
        assert_eq!(c.scheme(), "google-sheets");
        assert_eq!(c.param("key_file").as_deref(), Some("/secrets/sa.json"));
        let c =
            convert("google-cloud-platform://?extra__google_cloud_platform__key_path=%2Fk.json");
        assert_eq!(c.param("key_file").as_deref(), Some("/k.json"));

        let e = airflow_connection(
            "gcp",
            r#"{"conn_type": "google_cloud_platform", "extra": {"keyfile_dict": "{\"private_key\": \"PRIVATE\"}"}}"#,
        )
        .expect_err("inline keys are refused");
        assert!(e.to_string().contains("key_path"), "{e}");
        assert!(!e.to_string().contains("PRIVATE"), "{e}");
    }

    #[test]
    fn errors_and_debug_never_show_secrets() {
        for value in [
            r#"{"conn_type": "postgres", "host": "h", "password": "TOPSECRET", "port": "TOPSECRET"}"#,
            r#"{"conn_type": "postgres", "host": "h", "password": "TOPSECRET", "extra": "TOPSECRET"}"#,
            r#"{"conn_type": "postgres", "host": "h", "password": "TOPSECRET", "port": 99999}"#,
            r#"{"conn_type": 1, "password": "TOPSECRET"}"#,
            r#"{"conn_type": "postgres", "password": "TOPSECRET"#,
            r#"{"conn_type": "http", "host": "ftp://h", "password": "TOPSECRET"}"#,
            "postgres://u:TOPSECRET@[bad",
            "not a uri TOPSECRET",
        ] {
            let e = airflow_connection("pg", value).expect_err(value);
            let text = format!("{e} {e:?}");
            assert!(!text.contains("TOPSECRET"), "{text}");
            assert!(text.contains("AIRFLOW_CONN_PG"), "{text}");
        }
        let c = convert(
            r#"{"conn_type": "postgres", "host": "h", "login": "u", "password": "TOPSECRET"}"#,
        );
        assert!(!format!("{c:?} {c}").contains("TOPSECRET"));
    }

    #[test]
    fn the_variable_is_airflows() {
        assert_eq!(
            airflow_variable("postgres_default"),
            "AIRFLOW_CONN_POSTGRES_DEFAULT"
        );
    }
}
