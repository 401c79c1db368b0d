//! The service account's key file (`key_file=`): read, validated, and its RSA key parsed.

use std::fmt;
use std::path::{Path, PathBuf};

use jsonwebtoken::EncodingKey;
use serde::Deserialize;

use super::error::SheetsError;

/// A service account's key, as Google's JSON key file gives it. `Debug` shows the client email
/// and the token URI only, never the private key.
#[derive(Clone)]
pub(crate) struct ServiceAccountKey {
    /// The file it came from, named in errors.
    pub(crate) path: PathBuf,
    /// The service account (`name@project.iam.gserviceaccount.com`): the JWT's `iss`.
    pub(crate) client_email: String,
    /// The key's id: the JWT header's `kid`, when the file has one.
    pub(crate) private_key_id: Option<String>,
    /// Where tokens are obtained: the JWT's `aud` and the POST target.
    pub(crate) token_uri: String,
    /// The RSA private key, parsed.
    pub(crate) key: EncodingKey,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("path", &self.path)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// The fields read from the file; the rest (`project_id`, `client_id`, …) are ignored.
#[derive(Deserialize)]
struct RawKeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Reads and validates the key file at `path`.
    ///
    /// # Errors
    /// [`SheetsError::KeyFile`] naming the file and what is wrong (unreadable, not JSON, not a
    /// service account key, a field missing, a private key that is not an RSA key in PEM);
    /// never quoting the private key.
    pub(crate) fn read(path: &Path) -> Result<Self, SheetsError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| key_file_error(path, e.to_string()))?;
        Self::parse(path, &text)
    }

    /// Validates the key file's `text` (read from `path`).
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Self, SheetsError> {
        let error = |reason: String| key_file_error(path, reason);
        // serde_json's errors name a line and column, never the text around them.
        let raw: RawKeyFile =
            serde_json::from_str(text).map_err(|e| error(format!("not a JSON key file ({e})")))?;
        match raw.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err(error(format!(
                    "`type` is `{other}`, not `service_account`; create a JSON key for a service \
                     account (IAM → Service accounts → Keys)"
                )));
            }
            None => return Err(error(missing("type"))),
        }
        let field = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| error(missing(name)))
        };
        let client_email = field(raw.client_email, "client_email")?;
        let private_key = field(raw.private_key, "private_key")?;
        let token_uri = field(raw.token_uri, "token_uri")?;
        let parsed = url::Url::parse(&token_uri)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if parsed.is_none() {
            return Err(error(format!(
                "`token_uri` `{token_uri}` is not an http(s) URL"
            )));
        }
        if !private_key.contains("-----BEGIN PRIVATE KEY-----")
            && !private_key.contains("-----BEGIN RSA PRIVATE KEY-----")
        {
            return Err(error(
                "`private_key` is not a PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
            ));
        }
        // jsonwebtoken's error names the failure (invalid key format), not the key.
        let key = EncodingKey::from_rsa_pem(private_key.as_bytes()).map_err(|e| {
            error(format!(
                "`private_key` is not a valid RSA private key in PEM ({e})"
            ))
        })?;
        Ok(Self {
            path: path.to_owned(),
            client_email,
            private_key_id: raw.private_key_id.filter(|id| !id.is_empty()),
            token_uri,
            key,
        })
    }
}

fn missing(name: &str) -> String {
    format!("field `{name}` is missing or empty; download a new JSON key for the service account")
}

fn key_file_error(path: &Path, reason: String) -> SheetsError {
    SheetsError::KeyFile {
        path: path.display().to_string(),
        reason,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The test key pair's private half (a test key, see tests/fixtures/README.md).
    const PRIVATE_KEY: &str = include_str!("../../tests/fixtures/sheets-test-key.pem");

    fn file(fields: &[(&str, &str)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("type", "service_account"),
            (
                "client_email",
                "reader@test-project.iam.gserviceaccount.com",
            ),
            ("private_key", PRIVATE_KEY),
            ("private_key_id", "kid-1"),
            ("token_uri", "https://oauth2.googleapis.com/token"),
        ]
    }

    fn reason(fields: &[(&str, &str)]) -> String {
        let error =
            ServiceAccountKey::parse(Path::new("/keys/sa.json"), &file(fields)).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("/keys/sa.json"), "{text}");
        assert!(!text.contains("MII"), "the key leaked: {text}");
        text
    }

    #[test]
    fn a_complete_file_parses_and_debug_hides_the_key() {
        let key = ServiceAccountKey::parse(Path::new("sa.json"), &file(&full())).unwrap();
        assert_eq!(
            key.client_email,
            "reader@test-project.iam.gserviceaccount.com"
        );
        assert_eq!(key.private_key_id.as_deref(), Some("kid-1"));
        assert_eq!(key.token_uri, "https://oauth2.googleapis.com/token");
        let debug = format!("{key:?}");
        assert!(
            debug.contains("reader@test-project") && !debug.contains("PRIVATE"),
            "{debug}"
        );
        // private_key_id is optional.
        let without: Vec<_> = full()
            .into_iter()
            .filter(|(k, _)| *k != "private_key_id")
            .collect();
        let key = ServiceAccountKey::parse(Path::new("sa.json"), &file(&without)).unwrap();
        assert_eq!(key.private_key_id, None);
    }

    #[test]
    fn each_missing_field_is_named() {
        for name in ["type", "client_email", "private_key", "token_uri"] {
            let fields: Vec<_> = full().into_iter().filter(|(k, _)| *k != name).collect();
            let text = reason(&fields);
            assert!(
                text.contains(&format!("field `{name}` is missing")),
                "{text}"
            );
        }
    }

    #[test]
    fn wrong_type_bad_pem_bad_uri_and_not_json_are_named() {
        let mut fields = full();
        fields[0] = ("type", "authorized_user");
        assert!(reason(&fields).contains("not `service_account`"));
        let mut fields = full();
        fields[2] = ("private_key", "MIIsecret-not-pem");
        assert!(reason(&fields).contains("not a PEM private key"));
        let mut fields = full();
        fields[2] = (
            "private_key",
            "-----BEGIN PRIVATE KEY-----\nMIInotbase64!!\n-----END PRIVATE KEY-----\n",
        );
        assert!(reason(&fields).contains("not a valid RSA private key"));
        let mut fields = full();
        fields[4] = ("token_uri", "oauth2.googleapis.com/token");
        assert!(reason(&fields).contains("not an http(s) URL"));
        let error = ServiceAccountKey::parse(Path::new("/keys/sa.json"), "{not json").unwrap_err();
        assert!(error.to_string().contains("not a JSON key file"), "{error}");
        let error = ServiceAccountKey::read(Path::new("/nonexistent/sa.json")).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/sa.json"),
            "{error}"
        );
    }
}
