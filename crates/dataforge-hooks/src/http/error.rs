//! [`HttpError`]: what went wrong with a request, without secrets.

use dataforge_core::ComponentError;

/// The longest body excerpt an error quotes, in characters.
pub(crate) const BODY_EXCERPT_CHARS: usize = 300;

/// Why a request failed, after its retries. Never contains a credential: URLs are shown without
/// their query string and user info, and bodies are cut to 300 characters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The server answered with an error status (after retries, for 429 and 5xx).
    #[error("{method} {url}: HTTP {status} after {attempts} attempt(s){gave_up}: {body}")]
    Status {
        /// The request's method.
        method: String,
        /// The URL without query string or credentials.
        url: String,
        /// The last status seen.
        status: u16,
        /// Attempts made (1 when not retried).
        attempts: u32,
        /// Why retries stopped, if they did (`"; retry cap reached"`); empty otherwise.
        gave_up: String,
        /// The start of the last response body (≤ 300 characters).
        body: String,
    },
    /// No response: connect error, timeout, or a connection dropped mid-response.
    #[error("{method} {url}: {reason} after {attempts} attempt(s){gave_up}")]
    Transport {
        /// The request's method.
        method: String,
        /// The URL without query string or credentials.
        url: String,
        /// The last failure, without the URL.
        reason: String,
        /// Attempts made.
        attempts: u32,
        /// Why retries stopped, if they did; empty otherwise.
        gave_up: String,
        /// True when the failure is not transient (a malformed request), so never retried.
        fatal: bool,
    },
    /// The request cannot be made: a bad path, a URL off the connection's origin, a bad header.
    #[error("invalid HTTP request: {reason}")]
    Invalid {
        /// Why, without secrets.
        reason: String,
    },
}

impl HttpError {
    /// True when a later run may succeed: 429, 5xx and transport failures whose retries were
    /// exhausted. A 4xx other than 429 or an invalid request stays so until someone fixes it.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || (500..600).contains(status),
            Self::Transport { fatal, .. } => !fatal,
            Self::Invalid { .. } => false,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Attempts made before giving up (0 for an invalid request).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Status { attempts, .. } | Self::Transport { attempts, .. } => *attempts,
            Self::Invalid { .. } => 0,
        }
    }
}

impl From<HttpError> for ComponentError {
    fn from(error: HttpError) -> Self {
        if error.is_retryable() {
            ComponentError::retryable(error)
        } else {
            ComponentError::fatal(error)
        }
    }
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, lossily decoded, with `…` when cut.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out: String = text.chars().take(BODY_EXCERPT_CHARS).collect();
    if text.chars().nth(BODY_EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}
