//! The service account's assertion: an RS256 JWT for Google's JWT-bearer grant (RFC 7523).

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::error::SheetsError;
use super::key_file::ServiceAccountKey;
use dataforge_core::SecretString;

/// The scope asked for: read-only access to spreadsheets.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";

/// How long an assertion is valid: Google accepts at most one hour (`exp - iat ≤ 3600`).
pub(crate) const LIFETIME_SECS: u64 = 3600;

/// The JWT's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct Claims {
    /// The service account's email.
    pub(crate) iss: String,
    /// The scope (space-delimited).
    pub(crate) scope: String,
    /// The token endpoint (the key file's `token_uri`).
    pub(crate) aud: String,
    /// Issued at, seconds since the epoch.
    pub(crate) iat: u64,
    /// Expires at: `iat` + 3600.
    pub(crate) exp: u64,
    /// The user impersonated by domain-wide delegation, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) sub: Option<String>,
}

impl Claims {
    /// The claims of `key`'s assertion issued at `now` (seconds since the epoch), for `subject`.
    pub(crate) fn new(key: &ServiceAccountKey, subject: Option<&str>, now: u64) -> Self {
        Self {
            iss: key.client_email.clone(),
            scope: SCOPE.to_owned(),
            aud: key.token_uri.clone(),
            iat: now,
            exp: now + LIFETIME_SECS,
            sub: subject.map(str::to_owned),
        }
    }
}

/// The JWT header: `{"alg":"RS256","typ":"JWT","kid":<private_key_id>}`.
pub(crate) fn header(key: &ServiceAccountKey) -> Header {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    header
}

/// The signed assertion (`header.claims.signature`, base64url): a credential, so a secret.
///
/// # Errors
/// [`SheetsError::KeyFile`] when signing fails (jsonwebtoken's reason, never the key).
pub(crate) fn sign(key: &ServiceAccountKey, claims: &Claims) -> Result<SecretString, SheetsError> {
    jsonwebtoken::encode(&header(key), claims, &key.key)
        .map(SecretString::new)
        .map_err(|e| SheetsError::KeyFile {
            path: key.path.display().to_string(),
            reason: format!("cannot sign a JWT with `private_key` ({e})"),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    const PRIVATE_KEY: &str = include_str!("../../tests/fixtures/sheets-test-key.pem");
    const PUBLIC_KEY: &str = include_str!("../../tests/fixtures/sheets-test-key.pub.pem");

    fn key(kid: Option<&str>) -> ServiceAccountKey {
        let mut file = serde_json::json!({
            "type": "service_account",
            "client_email": "reader@test-project.iam.gserviceaccount.com",
            "private_key": PRIVATE_KEY,
            "token_uri": "http://127.0.0.1:9/token",
        });
        if let Some(kid) = kid {
            file["private_key_id"] = kid.into();
        }
        ServiceAccountKey::parse(Path::new("sa.json"), &file.to_string()).unwrap()
    }

    #[test]
    fn claims_carry_iss_scope_aud_and_one_hour() {
        let claims = Claims::new(&key(None), None, 1_700_000_000);
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            serde_json::json!({
                "iss": "reader@test-project.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/spreadsheets.readonly",
                "aud": "http://127.0.0.1:9/token",
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
        let claims = Claims::new(&key(None), Some("user@example.com"), 5);
        assert_eq!(claims.sub.as_deref(), Some("user@example.com"));
    }

    #[test]
    fn the_signed_jwt_verifies_with_the_public_key() {
        let key = key(Some("kid-42"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = Claims::new(&key, Some("user@example.com"), now);
        let jwt = sign(&key, &claims).unwrap();
        let decoded_header = jsonwebtoken::decode_header(jwt.expose()).unwrap();
        assert_eq!(decoded_header.alg, Algorithm::RS256);
        assert_eq!(decoded_header.typ.as_deref(), Some("JWT"));
        assert_eq!(decoded_header.kid.as_deref(), Some("kid-42"));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["http://127.0.0.1:9/token"]);
        validation.set_issuer(&["reader@test-project.iam.gserviceaccount.com"]);
        let public = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
        let data = jsonwebtoken::decode::<Claims>(jwt.expose(), &public, &validation).unwrap();
        assert_eq!(data.claims, claims);
        // Without a private_key_id, no kid.
        let key = self::key(None);
        let jwt = sign(&key, &Claims::new(&key, None, now)).unwrap();
        assert_eq!(jsonwebtoken::decode_header(jwt.expose()).unwrap().kid, None);
    }
}
