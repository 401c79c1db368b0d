//! Google Sheets API v4: [`GoogleSheetsHook`] reads spreadsheet metadata and values by API key
//! or service account.
//!
//! - Connection: `google-sheets://?key=API_KEY` (public sheets only) or
//!   `google-sheets://?key_file=/path/service-account.json[&subject=user@domain]`; `endpoint=`
//!   replaces `https://sheets.googleapis.com` (paths keep `/v4/…`), `max_retries=` caps the
//!   retries of each request.
//! - Service account: an RS256 JWT (`iss` the client email, `scope` spreadsheets.readonly,
//!   `aud` the key file's `token_uri`, one hour) is exchanged at `token_uri` for an access token,
//!   cached until 60 s before it expires and refreshed once when the API answers 401.
//! - Reads: [`GoogleSheetsHook::spreadsheet`] (title and tabs), [`GoogleSheetsHook::values`]
//!   (`values.get`) and [`GoogleSheetsHook::batch_values`] (`values:batchGet`), with
//!   `majorDimension=ROWS` and the render options of [`ValueOptions`].
//! - Errors ([`SheetsError`]) say what to check: share the sheet with the service account,
//!   enable the API in the project, fix the API key, the range or the tab; 429 and 5xx are
//!   retried from a 2 s backoff (the read quota refills per minute).
//!
//! Token fetches are logged at debug level (email, `expires_in`), every API request runs in the
//! HTTP client's `http.request` span; no credential is in any log, error or `Debug` output.

mod error;
mod hook;
mod jwt;
mod key_file;
mod token;
mod values;

pub use error::SheetsError;
pub use hook::{DEFAULT_ENDPOINT, GoogleSheetsHook, MAX_RETRY_DELAY, MIN_RETRY_DELAY};
pub use values::{
    DateTimeRender, SheetInfo, SpreadsheetInfo, ValueOptions, ValueRange, ValueRender,
};
