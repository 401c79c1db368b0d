//! The OAuth token endpoint (JWT-bearer grant) and the API's credential checks.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;

use crate::{PRIVATE_KEY_ID, Shared, json_response, lock};

/// Scopes that let a token read values (`values.get` accepts these).
const READ_SCOPES: [&str; 5] = [
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.readonly",
    "https://www.googleapis.com/auth/drive.file",
];

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

pub(crate) const BAD_SIGNATURE: &str =
    r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
pub(crate) const BAD_TIME: &str = r#"{"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}"#;
pub(crate) const BAD_AUDIENCE: &str =
    r#"{"error":"invalid_grant","error_description":"Invalid JWT: Failed audience check."}"#;
pub(crate) const UNKNOWN_ACCOUNT: &str =
    r#"{"error":"invalid_grant","error_description":"Invalid grant: account not found"}"#;
pub(crate) const BAD_SCOPE: &str = r#"{"error":"invalid_scope","error_description":"Invalid OAuth scope or ID token audience provided."}"#;

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    scope: Option<String>,
    aud: Option<serde_json::Value>,
    iat: Option<i64>,
    exp: Option<i64>,
}

fn reject(s: &Shared, body: String) -> Response {
    s.stats().token_rejections += 1;
    json_response(StatusCode::BAD_REQUEST, body)
}

/// `POST /token`.
pub(crate) async fn token(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    s.stats().token_requests += 1;
    let mut grant = None;
    let mut assertion = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "grant_type" => grant = Some(v.into_owned()),
            "assertion" => assertion = Some(v.into_owned()),
            _ => {}
        }
    }
    match grant.as_deref() {
        Some(JWT_BEARER) => {}
        Some(other) => {
            let body = serde_json::json!({
                "error": "unsupported_grant_type",
                "error_description": format!("Invalid grant_type: {other}"),
            });
            return reject(&s, body.to_string());
        }
        None => {
            return reject(
                &s,
                r#"{"error":"unsupported_grant_type","error_description":"Invalid grant_type: "}"#
                    .to_owned(),
            );
        }
    }
    let Some(assertion) = assertion else {
        return reject(
            &s,
            r#"{"error":"invalid_request","error_description":"Missing required parameter: assertion"}"#
                .to_owned(),
        );
    };
    let claims = match verify(&s, &assertion) {
        Ok(c) => c,
        Err(body) => return reject(&s, body.to_owned()),
    };
    if claims.iss.as_deref() != Some(s.config.service_account_email.as_str()) {
        return reject(&s, UNKNOWN_ACCOUNT.to_owned());
    }
    let aud_ok = match &claims.aud {
        Some(serde_json::Value::String(a)) => *a == s.token_uri,
        Some(serde_json::Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(&s.token_uri)),
        _ => false,
    };
    if !aud_ok {
        return reject(&s, BAD_AUDIENCE.to_owned());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let time_ok = match (claims.iat, claims.exp) {
        (Some(iat), Some(exp)) => {
            (iat - now).abs() <= 300 && exp > iat && exp - iat <= 3600 && exp > now
        }
        _ => false,
    };
    if !time_ok {
        return reject(&s, BAD_TIME.to_owned());
    }
    let scope_ok = claims
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .any(|sc| READ_SCOPES.contains(&sc));
    if !scope_ok {
        return reject(&s, BAD_SCOPE.to_owned());
    }
    let token = s.random_token();
    let ttl = s.config.token_ttl;
    lock(&s.tokens).insert(token.clone(), Instant::now() + ttl);
    s.stats().tokens_issued += 1;
    let body = serde_json::json!({
        "access_token": token,
        "expires_in": ttl.as_secs(),
        "token_type": "Bearer",
    });
    json_response(StatusCode::OK, body.to_string())
}

/// Checks the RS256 signature (and the `kid`, when present); returns the claims or the
/// `Invalid JWT Signature.` body.
fn verify(s: &Shared, jwt: &str) -> Result<Claims, &'static str> {
    use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
    let header = decode_header(jwt).map_err(|_| BAD_SIGNATURE)?;
    if header.alg != Algorithm::RS256 {
        return Err(BAD_SIGNATURE);
    }
    if header.kid.as_deref().is_some_and(|k| k != PRIVATE_KEY_ID) {
        return Err(BAD_SIGNATURE);
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims = HashSet::new();
    decode::<Claims>(jwt, &s.decoding_key, &v)
        .map(|d| d.claims)
        .map_err(|_| BAD_SIGNATURE)
}

/// Who is calling the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    ApiKey,
    ServiceAccount,
}

pub(crate) const UNAUTHENTICATED: &str = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","status":"UNAUTHENTICATED"}}"#;
pub(crate) const API_KEY_INVALID: &str = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"sheets.googleapis.com"}}]}}"#;
pub(crate) const MISSING_KEY: &str = r#"{"error":{"code":403,"message":"The request is missing a valid API key.","status":"PERMISSION_DENIED"}}"#;
pub(crate) const NO_PERMISSION: &str = r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;

/// Identifies the caller from `Authorization: Bearer …` (checked first) or `?key=`.
pub(crate) fn authenticate(
    s: &Shared,
    headers: &HeaderMap,
    key: Option<&str>,
) -> Result<Caller, Response> {
    if let Some(auth) = headers.get("authorization") {
        let auth = auth.to_str().unwrap_or_default();
        let token = auth
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let live = token.is_some_and(|t| {
            lock(&s.tokens)
                .get(t)
                .is_some_and(|exp| *exp > Instant::now())
        });
        if live {
            return Ok(Caller::ServiceAccount);
        }
        let mut r = json_response(StatusCode::UNAUTHORIZED, UNAUTHENTICATED.to_owned());
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
        );
        return Err(r);
    }
    match key {
        Some(k) if k == s.config.api_key => Ok(Caller::ApiKey),
        Some(_) => Err(json_response(
            StatusCode::BAD_REQUEST,
            API_KEY_INVALID.to_owned(),
        )),
        None => Err(json_response(StatusCode::FORBIDDEN, MISSING_KEY.to_owned())),
    }
}

/// `None` when the caller may read the spreadsheets, else the 403.
pub(crate) fn authorize(s: &Shared, caller: Caller) -> Option<Response> {
    let allowed = match caller {
        Caller::ApiKey => s.config.public,
        Caller::ServiceAccount => s.config.shared_with_service_account,
    };
    (!allowed).then(|| json_response(StatusCode::FORBIDDEN, NO_PERMISSION.to_owned()))
}

/// `None` when the request fits in the quota (and is counted), else the 429.
pub(crate) fn admit(s: &Shared) -> Option<Response> {
    let limit = s.config.quota_per_minute?;
    let now = Instant::now();
    let mut q = lock(&s.quota);
    while q
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        q.pop_front();
    }
    if q.len() < limit as usize {
        q.push_back(now);
        return None;
    }
    let body = serde_json::json!({"error": {
        "code": 429,
        "message": "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:123'.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "quota_metric": "sheets.googleapis.com/read_requests",
                    "quota_limit": "ReadRequestsPerMinutePerUser",
                    "quota_limit_value": limit.to_string(),
                    "service": "sheets.googleapis.com",
                    "consumer": "projects/123",
                    "quota_location": "global",
                }
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{
                    "description": "Request a higher quota limit.",
                    "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                }]
            }
        ]
    }});
    Some(json_response(
        StatusCode::TOO_MANY_REQUESTS,
        body.to_string(),
    ))
}

/// The 403 of a project where the Sheets API is not enabled.
pub(crate) fn service_disabled() -> Response {
    let url =
        "https://console.developers.google.com/apis/api/sheets.googleapis.com/overview?project=123";
    let body = serde_json::json!({"error": {
        "code": 403,
        "message": format!("Google Sheets API has not been used in project 123 before or it is disabled. Enable it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry."),
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": url}]
            },
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"service": "sheets.googleapis.com", "consumer": "projects/123"}
            }
        ]
    }});
    json_response(StatusCode::FORBIDDEN, body.to_string())
}
