//! [`SheetsError`]: what went wrong with a Google Sheets request, and what to check. Never
//! holds the API key, the access token or the private key.

use dataforge_core::ComponentError;
use serde::Deserialize;

use crate::http::HttpError;

/// Why a Google Sheets request failed. Each message names the spreadsheet (or the key file,
/// the token endpoint) and what to check; none contains a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SheetsError {
    /// The connection URI cannot be a Google Sheets connection.
    #[error("connection `{conn_id}`: {reason}")]
    InvalidConnection {
        /// The connection's id.
        conn_id: String,
        /// What is wrong, without the key.
        reason: String,
    },
    /// The service account's key file is unreadable or incomplete.
    #[error("service account key file {path}: {reason}")]
    KeyFile {
        /// The file's path.
        path: String,
        /// What is wrong (the missing field), never the key.
        reason: String,
    },
    /// The token endpoint refused the service account's JWT (`invalid_grant`, …).
    #[error("token endpoint {token_uri} refused the service account: {error}: {description}{hint}")]
    Token {
        /// The key file's `token_uri`.
        token_uri: String,
        /// The OAuth error code (`invalid_grant`).
        error: String,
        /// Google's `error_description` (`Invalid JWT Signature.`).
        description: String,
        /// What to check (`; the key was deleted or rotated…`), or empty.
        hint: String,
    },
    /// HTTP 400 `API_KEY_INVALID`.
    #[error(
        "spreadsheet {spreadsheet_id}: HTTP 400, the API key is not valid; check the `key=` of the connection (a deleted or mistyped key)"
    )]
    InvalidApiKey {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
    },
    /// HTTP 403 `PERMISSION_DENIED`: the credentials may not read this spreadsheet.
    #[error("spreadsheet {spreadsheet_id}: HTTP 403, {check}")]
    NotShared {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
        /// What to check: share it with the service account, or make it public for an API key.
        check: String,
    },
    /// HTTP 403 `SERVICE_DISABLED`: the Sheets API is off in the credentials' project.
    #[error(
        "spreadsheet {spreadsheet_id}: HTTP 403, enable the Google Sheets API in the project of the credentials: {message}"
    )]
    ApiDisabled {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
        /// Google's message (it names the project and the console link).
        message: String,
    },
    /// HTTP 403 `ACCESS_TOKEN_SCOPE_INSUFFICIENT`.
    #[error(
        "spreadsheet {spreadsheet_id}: HTTP 403, the access token lacks a scope that reads spreadsheets (spreadsheets.readonly); for domain-wide delegation, authorize that scope for the service account's client id"
    )]
    ScopeInsufficient {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
    },
    /// HTTP 404: the spreadsheet (or, with a range, perhaps its tab) does not exist.
    #[error("spreadsheet {spreadsheet_id}: HTTP 404, {check}")]
    NotFound {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
        /// The range(s) asked for, if any.
        range: Option<String>,
        /// What to check.
        check: String,
    },
    /// HTTP 400 `Unable to parse range`: a malformed range or an unknown tab.
    #[error(
        "spreadsheet {spreadsheet_id}: HTTP 400, cannot read range `{range}`: malformed A1 notation, or no tab of that name (tab names are case-sensitive; quote names with spaces: 'My Sheet'!A1:C)"
    )]
    BadRange {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
        /// The range Google could not parse.
        range: String,
    },
    /// HTTP 401, also after a fresh access token: the credentials are refused.
    #[error("spreadsheet {spreadsheet_id}: HTTP 401, the credentials were refused; {check}")]
    CredentialsRefused {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
        /// What to check.
        check: String,
    },
    /// Any other error answer of the API (a 4xx not listed above).
    #[error("spreadsheet {spreadsheet_id}: HTTP {status} {code}: {message}")]
    Api {
        /// The spreadsheet asked for.
        spreadsheet_id: String,
        /// The HTTP status.
        status: u16,
        /// Google's status (`INVALID_ARGUMENT`) and reason, when given.
        code: String,
        /// Google's message, or the start of the body.
        message: String,
    },
    /// 429, 5xx or a transport failure after the retries, or a 4xx of the token endpoint
    /// without an OAuth error body.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The response is not what the API documents.
    #[error("unexpected response to {what}: {reason}")]
    InvalidResponse {
        /// The request (`values.get of spreadsheet …`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl SheetsError {
    /// True when a later run may succeed: 429, 5xx and transport failures after the retries.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<SheetsError> for ComponentError {
    fn from(error: SheetsError) -> Self {
        if error.is_retryable() {
            ComponentError::retryable(error)
        } else {
            ComponentError::fatal(error)
        }
    }
}

/// Google's RPC error envelope: `{"error":{"code","message","status","details":[{"reason"}]}}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RpcError {
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    details: Vec<RpcDetail>,
}

#[derive(Debug, Default, Deserialize)]
struct RpcDetail {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct RpcEnvelope {
    error: RpcError,
}

impl RpcError {
    /// The envelope of `body`, if it is one.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<RpcEnvelope>(body)
            .ok()
            .map(|e| e.error)
    }

    /// True when a detail has this `reason`.
    fn has_reason(&self, reason: &str) -> bool {
        self.details
            .iter()
            .any(|d| d.reason.as_deref() == Some(reason))
    }

    /// `STATUS (REASON)`, as much as is given.
    fn code(&self) -> String {
        let reasons: Vec<&str> = self
            .details
            .iter()
            .filter_map(|d| d.reason.as_deref())
            .collect();
        match (self.status.is_empty(), reasons.is_empty()) {
            (_, true) => self.status.clone(),
            (true, false) => reasons.join(", "),
            (false, false) => format!("{} ({})", self.status, reasons.join(", ")),
        }
    }
}

/// How the hook authenticates, as errors describe it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credentials<'a> {
    /// An API key (`key=`).
    ApiKey,
    /// A service account with this email.
    ServiceAccount(&'a str),
}

/// What an error answer is about: the call's spreadsheet, range(s) and credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallContext<'a> {
    pub(crate) spreadsheet_id: &'a str,
    /// The range(s) of a values call, joined with `, `.
    pub(crate) range: Option<&'a str>,
    pub(crate) credentials: Credentials<'a>,
}

/// The error of a 4xx (other than 429) answer with `body`, by Google's status and reason.
/// `scrub` removes credentials from texts quoted.
pub(crate) fn classify(
    status: u16,
    body: &[u8],
    context: CallContext<'_>,
    scrub: &dyn Fn(String) -> String,
) -> SheetsError {
    let spreadsheet_id = context.spreadsheet_id.to_owned();
    let rpc = RpcError::parse(body).unwrap_or_else(|| RpcError {
        message: crate::http::body_excerpt(body),
        ..RpcError::default()
    });
    let message = scrub(rpc.message.clone());
    match status {
        401 => SheetsError::CredentialsRefused {
            spreadsheet_id,
            check: match context.credentials {
                Credentials::ApiKey => "check the `key=` of the connection".to_owned(),
                Credentials::ServiceAccount(email) => format!(
                    "a fresh access token for {email} was refused too; check that the service account and its key still exist"
                ),
            },
        },
        400 if rpc.has_reason("API_KEY_INVALID") || message.contains("API key not valid") => {
            SheetsError::InvalidApiKey { spreadsheet_id }
        }
        400 if message.starts_with("Unable to parse range") => SheetsError::BadRange {
            spreadsheet_id,
            range: message
                .split_once(':')
                .map(|(_, range)| range.trim().to_owned())
                .filter(|range| !range.is_empty())
                .or_else(|| context.range.map(str::to_owned))
                .unwrap_or_default(),
        },
        403 if rpc.has_reason("SERVICE_DISABLED")
            || message.contains("has not been used in project")
            || message.contains("it is disabled") =>
        {
            SheetsError::ApiDisabled {
                spreadsheet_id,
                message,
            }
        }
        403 if rpc.has_reason("ACCESS_TOKEN_SCOPE_INSUFFICIENT")
            || message.contains("insufficient authentication scopes") =>
        {
            SheetsError::ScopeInsufficient { spreadsheet_id }
        }
        403 if !message.contains("API key")
            && (rpc.status == "PERMISSION_DENIED" && rpc.details.is_empty()
                || message.contains("does not have permission")) =>
        {
            SheetsError::NotShared {
                spreadsheet_id,
                check: match context.credentials {
                    Credentials::ApiKey => "the spreadsheet is not public: an API key reads only sheets shared with anyone who has the link; share it so, or use a service account (key_file=)".to_owned(),
                    Credentials::ServiceAccount(email) => format!(
                        "the spreadsheet is not shared with {email}; share it with that address (Viewer)"
                    ),
                },
            }
        }
        404 => {
            let check = match context.range {
                Some(range) => format!(
                    "the spreadsheet {} or the tab of range `{range}` may be missing; check the spreadsheet id (the part of its URL after /d/) and the tab name",
                    context.spreadsheet_id
                ),
                None => format!(
                    "spreadsheet {} not found; check the id (the part of its URL after /d/)",
                    context.spreadsheet_id
                ),
            };
            SheetsError::NotFound {
                spreadsheet_id,
                range: context.range.map(str::to_owned),
                check,
            }
        }
        _ => SheetsError::Api {
            spreadsheet_id,
            status,
            code: rpc.code(),
            message,
        },
    }
}

/// The OAuth error body of a token endpoint: `{"error","error_description"}`.
#[derive(Debug, Deserialize)]
pub(crate) struct OAuthError {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: String,
}

impl OAuthError {
    /// The OAuth error of `body`, if it is one.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// What to check for a token endpoint's `error` and `description`, prefixed with `; `.
pub(crate) fn token_hint(error: &str, description: &str, subject: Option<&str>) -> String {
    let hint = if description.contains("Invalid JWT Signature") {
        "the key was deleted or rotated; create a new JSON key for the service account and update the key file".to_owned()
    } else if description.contains("short-lived")
        || description.contains("reasonable timeframe")
        || description.contains("iat")
    {
        "check the machine's clock (the JWT's iat and exp are taken from it)".to_owned()
    } else if error == "unauthorized_client" || subject.is_some() && error == "invalid_grant" {
        match subject {
            Some(user) => format!(
                "check the domain-wide delegation of the service account's client id (scope spreadsheets.readonly) and the user `{user}`"
            ),
            None => "check that the service account may use this grant".to_owned(),
        }
    } else if error == "invalid_grant" {
        "check that the service account and its key still exist".to_owned()
    } else {
        return String::new();
    };
    format!("; {hint}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EMAIL: &str = "reader@test-project.iam.gserviceaccount.com";

    fn sa(range: Option<&'static str>) -> CallContext<'static> {
        CallContext {
            spreadsheet_id: "SHEET_ID",
            range,
            credentials: Credentials::ServiceAccount(EMAIL),
        }
    }

    fn key(range: Option<&'static str>) -> CallContext<'static> {
        CallContext {
            credentials: Credentials::ApiKey,
            ..sa(range)
        }
    }

    fn text(status: u16, body: &str, context: CallContext<'_>) -> (SheetsError, String) {
        let error = classify(status, body.as_bytes(), context, &|s| s);
        let text = error.to_string();
        assert!(text.contains("SHEET_ID"), "{text}");
        (error, text)
    }

    #[test]
    fn invalid_api_key_is_a_400() {
        let body = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"sheets.googleapis.com"}}]}}"#;
        let (error, text) = text(400, body, key(Some("A1:B2")));
        assert!(matches!(error, SheetsError::InvalidApiKey { .. }));
        assert!(text.contains("the API key is not valid"), "{text}");
    }

    #[test]
    fn unparsable_range_names_it() {
        let body = r#"{"error":{"code":400,"message":"Unable to parse range: NOPE!A5:F15","status":"INVALID_ARGUMENT"}}"#;
        let (error, text) = text(400, body, sa(Some("NOPE!A5:F15")));
        assert!(matches!(error, SheetsError::BadRange { ref range, .. } if range == "NOPE!A5:F15"));
        assert!(
            text.contains("`NOPE!A5:F15`") && text.contains("no tab"),
            "{text}"
        );
    }

    #[test]
    fn permission_denied_names_the_service_account_or_says_not_public() {
        let body = r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;
        let (error, text) = text(403, body, sa(None));
        assert!(matches!(error, SheetsError::NotShared { .. }));
        assert!(
            text.contains(&format!("the spreadsheet is not shared with {EMAIL}")),
            "{text}"
        );
        let (_, text) = self::text(403, body, key(None));
        assert!(
            text.contains("the spreadsheet is not public: an API key reads only sheets shared with anyone who has the link"),
            "{text}"
        );
    }

    #[test]
    fn service_disabled_says_enable_the_api() {
        let body = r#"{"error":{"code":403,"message":"Google Sheets API has not been used in project 123456 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/sheets.googleapis.com/overview?project=123456 then retry.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#;
        let (error, text) = text(403, body, sa(None));
        assert!(matches!(error, SheetsError::ApiDisabled { .. }));
        assert!(
            text.contains("enable the Google Sheets API in the project"),
            "{text}"
        );
        assert!(text.contains("123456"), "{text}");
        // The message alone (details cut off) is enough.
        let body = r#"{"error":{"code":403,"message":"Google Sheets API has not been used in project 9 before or it is disabled.","status":"PERMISSION_DENIED"}}"#;
        assert!(matches!(
            self::text(403, body, key(None)).0,
            SheetsError::ApiDisabled { .. }
        ));
    }

    #[test]
    fn insufficient_scope() {
        let body = r#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}"#;
        let (error, text) = text(403, body, sa(None));
        assert!(matches!(error, SheetsError::ScopeInsufficient { .. }));
        assert!(text.contains("scope"), "{text}");
    }

    #[test]
    fn not_found_names_the_id_and_with_a_range_the_tab() {
        let body = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
        let (_, text) = text(404, body, sa(None));
        assert!(text.contains("spreadsheet SHEET_ID not found"), "{text}");
        let (error, text) = self::text(404, body, sa(Some("'My Sheet'!A1:C")));
        assert!(matches!(
            error,
            SheetsError::NotFound { range: Some(_), .. }
        ));
        assert!(
            text.contains(
                "the spreadsheet SHEET_ID or the tab of range `'My Sheet'!A1:C` may be missing"
            ),
            "{text}"
        );
    }

    #[test]
    fn unauthorized_after_refresh_is_credentials_refused() {
        let body = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
        let (error, text) = text(401, body, sa(None));
        assert!(matches!(error, SheetsError::CredentialsRefused { .. }));
        assert!(text.contains(EMAIL), "{text}");
    }

    #[test]
    fn other_errors_quote_status_reason_and_message_scrubbed() {
        let body = r#"{"error":{"code":400,"message":"bad SECRET thing","status":"FAILED_PRECONDITION","details":[{"reason":"WHY"}]}}"#;
        let error = classify(400, body.as_bytes(), sa(None), &|s| {
            s.replace("SECRET", "***")
        });
        assert_eq!(
            error.to_string(),
            "spreadsheet SHEET_ID: HTTP 400 FAILED_PRECONDITION (WHY): bad *** thing"
        );
        let error = classify(409, b"<html>conflict</html>", sa(None), &|s| s);
        assert!(
            error.to_string().contains("<html>conflict</html>"),
            "{error}"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn token_hints() {
        assert!(
            token_hint("invalid_grant", "Invalid JWT Signature.", None)
                .contains("deleted or rotated")
        );
        assert!(
            token_hint(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
                None
            )
            .contains("clock")
        );
        assert!(
            token_hint(
                "unauthorized_client",
                "Client is unauthorized",
                Some("u@x.com")
            )
            .contains("domain-wide delegation")
        );
        assert_eq!(token_hint("invalid_request", "x", None), "");
    }

    #[test]
    fn retryable_only_for_http_transient_failures() {
        let e = SheetsError::Http(HttpError::Status {
            method: "GET".into(),
            url: "u".into(),
            status: 429,
            attempts: 3,
            gave_up: String::new(),
            body: String::new(),
        });
        assert!(e.is_retryable());
        let c: ComponentError = e.into();
        assert_eq!(c.retry(), dataforge_core::Retry::Retryable);
        let c: ComponentError = SheetsError::InvalidApiKey {
            spreadsheet_id: "x".into(),
        }
        .into();
        assert_eq!(c.retry(), dataforge_core::Retry::Fatal);
    }
}
