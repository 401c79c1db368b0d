//! [`Transport`]: where OpenLineage events go: an HTTP backend (Marquez, DataHub, …) or a file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dataforge_core::SecretString;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use tokio::io::AsyncWriteExt as _;
use url::Url;

/// The default path of the HTTP backend's lineage API (Marquez's).
const DEFAULT_ENDPOINT: &str = "api/v1/lineage";

/// Why an event was not delivered (logged, never a run's failure).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineageError {
    /// `OPENLINEAGE_URL` plus the endpoint is not a URL.
    #[error("OPENLINEAGE_URL `{url}` with endpoint `{endpoint}` is not a valid http(s) URL")]
    BadUrl {
        /// The URL given.
        url: String,
        /// The endpoint given.
        endpoint: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the OpenLineage HTTP client: {0}")]
    Client(String),
    /// The backend did not answer (connection refused, timeout).
    #[error("OpenLineage backend {url} unreachable: {reason}")]
    Unreachable {
        /// The backend's URL.
        url: String,
        /// Why, without the API key.
        reason: String,
    },
    /// The backend answered with an error status.
    #[error("OpenLineage backend {url} answered HTTP {status}")]
    Status {
        /// The backend's URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The file could not be written.
    #[error("cannot append to the OpenLineage file {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Sending took longer than the time allowed.
    #[error("OpenLineage transport gave up after {0:?}")]
    TimedOut(Duration),
}

/// Where events go.
#[derive(Clone)]
#[non_exhaustive]
pub enum Transport {
    /// `POST` each event as JSON to a backend.
    Http {
        /// The client (its timeout bounds each event).
        client: reqwest::Client,
        /// The lineage endpoint (`OPENLINEAGE_URL` joined with `OPENLINEAGE_ENDPOINT`).
        url: Url,
        /// Sent as `Authorization: Bearer`; never logged.
        api_key: Option<SecretString>,
    },
    /// Append each event as one JSON line to a file.
    File {
        /// The file.
        path: PathBuf,
        /// One writer at a time, so lines never interleave.
        lock: Arc<tokio::sync::Mutex<()>>,
    },
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http { url, api_key, .. } => f
                .debug_struct("Http")
                .field("url", &url.as_str())
                .field("api_key", api_key)
                .finish_non_exhaustive(),
            Self::File { path, .. } => f.debug_struct("File").field("path", path).finish(),
        }
    }
}

impl Transport {
    /// An HTTP transport to `base` + `endpoint` (default `api/v1/lineage`), each request bounded
    /// by `timeout`.
    ///
    /// # Errors
    /// [`LineageError::BadUrl`] when the two do not make an http(s) URL,
    /// [`LineageError::Client`] when the client cannot be built.
    pub fn http(
        base: &str,
        endpoint: Option<&str>,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, LineageError> {
        let endpoint = endpoint.unwrap_or(DEFAULT_ENDPOINT);
        let bad = || LineageError::BadUrl {
            url: base.to_owned(),
            endpoint: endpoint.to_owned(),
        };
        let base = Url::parse(&format!("{}/", base.trim_end_matches('/'))).map_err(|_| bad())?;
        let url = base
            .join(endpoint.trim_start_matches('/'))
            .map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad());
        }
        let tls = crate::http::tls_config().map_err(|e| LineageError::Client(e.to_string()))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(crate::http::USER_AGENT)
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| LineageError::Client(crate::http::error_chain(&e)))?;
        Ok(Self::Http {
            client,
            url,
            api_key,
        })
    }

    /// A file transport appending to `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File {
            path: path.into(),
            lock: Arc::default(),
        }
    }

    /// Delivers one event.
    ///
    /// # Errors
    /// The backend is unreachable or refuses the event, or the file cannot be written.
    pub async fn send(&self, event: &serde_json::Value) -> Result<(), LineageError> {
        match self {
            Self::Http {
                client,
                url,
                api_key,
            } => {
                let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
                let mut request = client.post(url.clone()).json(event);
                if let Some(key) = api_key {
                    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                        .map_err(|_| {
                            LineageError::Client("the API key is not a valid header value".into())
                        })?;
                    value.set_sensitive(true);
                    request = request.header(AUTHORIZATION, value);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| LineageError::Unreachable {
                        url: shown.clone(),
                        reason: crate::http::error_chain(&e),
                    })?;
                let status = response.status();
                if status.is_success() {
                    Ok(())
                } else {
                    Err(LineageError::Status {
                        url: shown,
                        status: status.as_u16(),
                    })
                }
            }
            Self::File { path, lock } => {
                let mut line = serde_json::to_vec(event).map_err(|e| LineageError::File {
                    path: path.clone(),
                    source: e.into(),
                })?;
                line.push(b'\n');
                let _one_at_a_time = lock.lock().await;
                let io = |source| LineageError::File {
                    path: path.clone(),
                    source,
                };
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .await
                    .map_err(io)?;
                file.write_all(&line).await.map_err(io)?;
                file.flush().await.map_err(io)
            }
        }
    }
}
