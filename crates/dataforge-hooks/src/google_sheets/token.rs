//! Service-account access tokens: fetched with a signed JWT, cached until 60 s before they
//! expire, one refresh at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dataforge_core::SecretString;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{OAuthError, SheetsError, token_hint};
use super::jwt::{Claims, sign};
use super::key_file::ServiceAccountKey;
use crate::http::{HttpClient, HttpRequest, RetryBudget, body_excerpt};

/// A token is refreshed this long before it expires.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The grant type of the JWT-bearer flow (RFC 7523).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An access token and its generation (1 for the first fetched, then one more per refresh).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) secret: SecretString,
    pub(crate) generation: u64,
}

#[derive(Debug)]
struct Cached {
    token: Token,
    /// When the token stops being used: 60 s before it expires.
    refresh_at: Instant,
}

/// The cached token. Callers hold the lock while a refresh runs, so concurrent callers wait
/// for that refresh and then use its token: one token request at a time.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    state: Mutex<Option<Cached>>,
}

impl TokenCache {
    /// The cached token, or a new one from `fetch` (token, `expires_in`) when there is none, it
    /// is within [`REFRESH_MARGIN`] of expiring, or it is of generation `stale` (refused by the
    /// API). A token newer than `stale` (another caller refreshed already) is returned as is.
    ///
    /// # Errors
    /// `fetch`'s error; the cache is then left as it was.
    pub(crate) async fn get<F, Fut, E>(&self, stale: Option<u64>, fetch: F) -> Result<Token, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SecretString, Duration), E>>,
    {
        let mut state = self.state.lock().await;
        if let Some(cached) = &*state
            && Instant::now() < cached.refresh_at
            && stale != Some(cached.token.generation)
        {
            return Ok(cached.token.clone());
        }
        let (secret, expires_in) = fetch().await?;
        let generation = state.as_ref().map_or(1, |c| c.token.generation + 1);
        let token = Token { secret, generation };
        *state = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + expires_in.saturating_sub(REFRESH_MARGIN),
        });
        Ok(token)
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<SecretString>,
    expires_in: Option<u64>,
}

/// Tokens of one service account: signs assertions, posts them to the key file's `token_uri`
/// (with a client for that origin), and caches the result. Clones share the cache.
#[derive(Debug, Clone)]
pub(crate) struct TokenSource {
    key: Arc<ServiceAccountKey>,
    subject: Option<Arc<str>>,
    client: HttpClient,
    cache: Arc<TokenCache>,
}

impl TokenSource {
    /// A source for `key`, impersonating `subject` if given, posting with `client` (built for
    /// the origin of the key's `token_uri`).
    pub(crate) fn new(
        key: Arc<ServiceAccountKey>,
        subject: Option<String>,
        client: HttpClient,
    ) -> Self {
        Self {
            key,
            subject: subject.map(Into::into),
            client,
            cache: Arc::default(),
        }
    }

    /// This source drawing its retries from `budget`, sharing the cache.
    pub(crate) fn with_budget(&self, budget: RetryBudget) -> Self {
        Self {
            client: self.client.with_budget(budget),
            ..self.clone()
        }
    }

    /// The service account's email.
    pub(crate) fn client_email(&self) -> &str {
        &self.key.client_email
    }

    /// A valid access token (see [`TokenCache::get`]).
    ///
    /// # Errors
    /// [`SheetsError::Token`] when the endpoint refuses the assertion, [`SheetsError::Http`]
    /// when it cannot be reached, [`SheetsError::InvalidResponse`] for an answer without token.
    pub(crate) async fn token(&self, stale: Option<u64>) -> Result<Token, SheetsError> {
        self.cache.get(stale, || self.fetch()).await
    }

    /// Posts a fresh assertion: the new token and its lifetime.
    async fn fetch(&self) -> Result<(SecretString, Duration), SheetsError> {
        let key = &self.key;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let assertion = sign(key, &Claims::new(key, self.subject.as_deref(), now))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE)
            .append_pair("assertion", assertion.expose())
            .finish();
        let request = HttpRequest::new(Method::POST, key.token_uri.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(body)
            .accept_client_errors();
        tracing::debug!(
            token_uri = %key.token_uri,
            client_email = %key.client_email,
            subject = self.subject.as_deref(),
            "fetching a service account access token"
        );
        let response = self.client.execute(request).await?;
        let scrub = |text: String| {
            let secret = assertion.expose();
            if text.contains(secret) {
                text.replace(secret, "***")
            } else {
                text
            }
        };
        if !response.status().is_success() {
            let (error, description) = match OAuthError::parse(response.body()) {
                Some(e) => (e.error, e.error_description),
                None => (
                    format!("HTTP {}", response.status().as_u16()),
                    body_excerpt(response.body()),
                ),
            };
            let hint = token_hint(&error, &description, self.subject.as_deref());
            return Err(SheetsError::Token {
                token_uri: key.token_uri.clone(),
                error: scrub(error),
                description: scrub(description),
                hint,
            });
        }
        let invalid = |reason: String| SheetsError::InvalidResponse {
            what: format!("the token request to {}", key.token_uri),
            reason,
        };
        let parsed: TokenResponse = serde_json::from_slice(response.body())
            .map_err(|e| invalid(format!("not a JSON token response ({e})")))?;
        let token = parsed
            .access_token
            .filter(|t| !t.expose().is_empty())
            .ok_or_else(|| invalid("no `access_token`".into()))?;
        let expires_in = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        tracing::debug!(
            token_uri = %key.token_uri,
            client_email = %key.client_email,
            expires_in_s = expires_in.as_secs(),
            "service account access token fetched"
        );
        Ok((token, expires_in))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A fetch that counts its calls and issues `token-N` for `lifetime`.
    async fn counting(
        calls: &AtomicU32,
        lifetime: Duration,
        delay: Duration,
    ) -> Result<(SecretString, Duration), String> {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(delay).await;
        Ok((SecretString::new(format!("token-{n}")), lifetime))
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_60_s_before_it_expires() {
        let cache = TokenCache::default();
        let calls = AtomicU32::new(0);
        let hour = Duration::from_secs(3600);
        let get = || cache.get(None, || counting(&calls, hour, Duration::ZERO));
        let first = get().await.unwrap();
        assert_eq!((first.secret.expose(), first.generation), ("token-1", 1));
        tokio::time::advance(Duration::from_secs(3539)).await;
        assert_eq!(get().await.unwrap().secret.expose(), "token-1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // 3540 s = 3600 - 60: refreshed.
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = get().await.unwrap();
        assert_eq!((second.secret.expose(), second.generation), ("token-2", 2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_generation_is_refreshed_once() {
        let cache = TokenCache::default();
        let calls = AtomicU32::new(0);
        let hour = Duration::from_secs(3600);
        let first = cache
            .get(None, || counting(&calls, hour, Duration::ZERO))
            .await
            .unwrap();
        // Two callers saw generation 1 refused: only the first refreshes.
        let a = cache
            .get(Some(first.generation), || {
                counting(&calls, hour, Duration::ZERO)
            })
            .await
            .unwrap();
        let b = cache
            .get(Some(first.generation), || {
                counting(&calls, hour, Duration::ZERO)
            })
            .await
            .unwrap();
        assert_eq!((a.generation, b.generation), (2, 2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_wait_for_one_refresh() {
        let cache = Arc::new(TokenCache::default());
        let calls = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(None, || {
                        counting(&calls, Duration::from_secs(3600), Duration::from_secs(1))
                    })
                    .await
                    .map(|t| t.secret.expose().to_owned())
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap(), "token-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_leaves_the_cache_and_a_short_lifetime_is_refreshed_each_time() {
        let cache = TokenCache::default();
        let failed = cache
            .get(None, || async {
                Err::<(SecretString, Duration), _>("down")
            })
            .await;
        assert_eq!(failed.unwrap_err(), "down");
        let calls = AtomicU32::new(0);
        let short = Duration::from_secs(30);
        for n in 1..=2 {
            let token = cache
                .get(None, || counting(&calls, short, Duration::ZERO))
                .await
                .unwrap();
            assert_eq!(token.generation, n);
        }
    }
}
