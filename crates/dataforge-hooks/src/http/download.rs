//! [`HttpClient::download`]: a body streamed chunk by chunk from any origin, resumed with
//! `Range` when the connection drops.

use std::pin::Pin;
use std::time::SystemTime;

use backon::ExponentialBackoff;
use bytes::Bytes;
use futures::Stream;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, ETAG, RANGE, RETRY_AFTER};
use url::Url;

use super::client::{HttpClient, error_chain, gave_up, shown_url};
use super::error::{HttpError, body_excerpt};
use super::retry::{RetryBudget, RetryPolicy, parse_retry_after};

/// A response body as a stream of chunks, in order.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, HttpError>> + Send>>;

impl HttpClient {
    /// Streams the body of `GET url` chunk by chunk (never whole in memory), from any http(s)
    /// origin — such as the pre-signed URL of a Shopify bulk result — sending none of the
    /// connection's credentials or default headers and without the pacer.
    ///
    /// The first request is retried as [`HttpClient::execute`] retries (policy, budget,
    /// `Retry-After`). When the connection drops mid-body, the download resumes with
    /// `Range: bytes=N-`: a `206` continues at byte N, a `200` (a server that ignores `Range`)
    /// is read from the start with its first N bytes dropped, so every byte comes exactly once.
    /// Resumptions count against the same per-request cap and the run's budget. Logs and
    /// errors show the URL without its query string (which holds a pre-signed URL's signature).
    /// Bodies are not decompressed: the stream holds the bytes as sent.
    ///
    /// ```no_run
    /// # async fn demo(client: dataforge_hooks::http::HttpClient) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::TryStreamExt as _;
    /// let mut body = client.download("https://storage.example.com/result.jsonl?sig=…").await?;
    /// while let Some(chunk) = body.try_next().await? {
    ///     // parse `chunk`
    /// #   let _ = chunk;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`HttpError::Invalid`] when `url` is not an absolute http(s) URL; [`HttpError::Status`]
    /// or [`HttpError::Transport`] when the first response fails after its retries. The stream
    /// then yields an error (and ends) when a resumption fails after its retries, or when the
    /// resource changed (another `ETag`) between two requests.
    pub async fn download(&self, url: &str) -> Result<ByteStream, HttpError> {
        let url = Url::parse(url).map_err(|e| HttpError::Invalid {
            reason: format!("bad download URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(HttpError::Invalid {
                reason: format!("{} is not an http(s) URL with a host", shown_url(&url)),
            });
        }
        let mut download = Download {
            client: self.downloads.clone(),
            shown: shown_url(&url),
            url,
            schedule: self.policy.schedule(),
            policy: self.policy.clone(),
            budget: self.budget.clone(),
            attempts: 0,
            offset: 0,
            skip: 0,
            end: None,
            etag: None,
            response: None,
            done: false,
        };
        download.open().await?;
        Ok(Box::pin(futures::stream::unfold(
            download,
            |mut download| async move {
                let item = download.next_chunk().await?;
                Some((item, download))
            },
        )))
    }
}

/// The state of one download.
struct Download {
    client: reqwest::Client,
    url: Url,
    /// The URL as logs and errors show it.
    shown: String,
    policy: RetryPolicy,
    budget: RetryBudget,
    /// One backoff delay per retry, shared by the first request and every resumption.
    schedule: ExponentialBackoff,
    /// Requests sent so far.
    attempts: u32,
    /// Bytes handed to the consumer: the offset of the next byte in the resource.
    offset: u64,
    /// Bytes of the current response still to drop (a `200` to a ranged request).
    skip: u64,
    /// Where the current response ends in the resource, when its length is known.
    end: Option<u64>,
    /// The resource's `ETag` when the first response had one.
    etag: Option<String>,
    /// The response being read.
    response: Option<reqwest::Response>,
    /// True once the body is complete or failed for good.
    done: bool,
}

impl Download {
    /// Requests the resource from `offset` on, retrying, until a response whose body can be
    /// read is open (or the resource turns out complete).
    async fn open(&mut self) -> Result<(), HttpError> {
        loop {
            self.attempts += 1;
            let mut request = self.client.get(self.url.clone());
            if self.offset > 0 {
                request = request.header(RANGE, format!("bytes={}-", self.offset));
            }
            let (error, retry_after) = match request.send().await {
                Ok(response) => match self.accept(response).await {
                    Ok(()) => return Ok(()),
                    Err(failure) => failure,
                },
                Err(e) => {
                    let fatal = e.is_builder();
                    let error = self.transport(error_chain(&e), fatal);
                    if fatal {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            if !error.is_retryable() {
                return Err(error);
            }
            self.wait_to_retry(error, retry_after).await?;
        }
    }

    /// Takes a response as the body to read, or says why not (and after which wait a retry
    /// may help).
    async fn accept(
        &mut self,
        response: reqwest::Response,
    ) -> Result<(), (HttpError, Option<std::time::Duration>)> {
        let status = response.status();
        tracing::debug!(
            url = %self.shown,
            status = status.as_u16(),
            offset = self.offset,
            attempt = self.attempts,
            "download response"
        );
        let start = match status {
            StatusCode::OK => 0,
            StatusCode::PARTIAL_CONTENT => {
                match content_range(&response).and_then(|(start, _)| start) {
                    Some(start) if start <= self.offset => start,
                    _ => {
                        return Err((
                            self.invalid(format!(
                                "a 206 response whose Content-Range does not start at or before byte {}",
                                self.offset
                            )),
                            None,
                        ));
                    }
                }
            }
            StatusCode::RANGE_NOT_SATISFIABLE
                if self.offset > 0
                    && content_range(&response).map(|(_, total)| total)
                        == Some(Some(self.offset)) =>
            {
                // Everything had come: the connection dropped right after the last byte.
                self.done = true;
                return Ok(());
            }
            _ => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let body = response.bytes().await.unwrap_or_default();
                let error = HttpError::Status {
                    method: "GET".into(),
                    url: self.shown.clone(),
                    status: status.as_u16(),
                    attempts: self.attempts,
                    gave_up: String::new(),
                    body: body_excerpt(&body),
                };
                return Err((error, retry_after));
            }
        };
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match (&self.etag, etag) {
            (Some(before), Some(now)) if *before != now => {
                self.done = true;
                return Err((
                    self.invalid("the resource changed during the download (another ETag)".into()),
                    None,
                ));
            }
            (None, Some(now)) if self.offset == 0 => self.etag = Some(now),
            _ => {}
        }
        self.skip = self.offset - start;
        self.end = response.content_length().map(|length| start + length);
        self.response = Some(response);
        Ok(())
    }

    /// The next chunk of the body, resuming after a drop; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, HttpError>> {
        loop {
            if self.done {
                return None;
            }
            let Some(response) = self.response.as_mut() else {
                if let Err(error) = self.open().await {
                    self.done = true;
                    return Some(Err(error));
                }
                continue;
            };
            let reason = match response.chunk().await {
                Ok(Some(chunk)) => {
                    let length = chunk.len() as u64;
                    if self.skip >= length {
                        self.skip -= length;
                        continue;
                    }
                    // `skip < length`, a usize: the cast cannot truncate.
                    let chunk = chunk.slice(self.skip as usize..);
                    self.skip = 0;
                    self.offset += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                Ok(None) => match self.end {
                    Some(end) if self.offset < end => {
                        format!("the body ended at byte {} of {end}", self.offset)
                    }
                    _ => {
                        tracing::debug!(url = %self.shown, bytes = self.offset, "download complete");
                        self.done = true;
                        self.response = None;
                        return None;
                    }
                },
                Err(e) => error_chain(&e),
            };
            self.response = None;
            let error = self.transport(reason, false);
            if let Err(error) = self.wait_to_retry(error, None).await {
                self.done = true;
                return Some(Err(error));
            }
        }
    }

    /// Takes a retry from the cap and the budget and waits, or gives up with `error`.
    async fn wait_to_retry(
        &mut self,
        error: HttpError,
        retry_after: Option<std::time::Duration>,
    ) -> Result<(), HttpError> {
        let Some(backoff) = self.schedule.next() else {
            let why = if self.policy.max_retries == 0 {
                String::new()
            } else {
                format!("; retry cap of {} reached", self.policy.max_retries)
            };
            return Err(gave_up(error, why));
        };
        if !self.budget.try_take() {
            return Err(gave_up(error, "; the run's retry budget is spent".into()));
        }
        let delay = self.policy.delay(backoff, retry_after);
        tracing::warn!(
            url = %self.shown,
            offset = self.offset,
            error = %error,
            delay_ms = delay.as_millis() as u64,
            "download failed; retrying from the current offset"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }

    fn transport(&self, reason: String, fatal: bool) -> HttpError {
        HttpError::Transport {
            method: "GET".into(),
            url: self.shown.clone(),
            reason,
            attempts: self.attempts,
            gave_up: String::new(),
            fatal,
        }
    }

    fn invalid(&self, what: String) -> HttpError {
        HttpError::Invalid {
            reason: format!("GET {}: {what}", self.shown),
        }
    }
}

/// A `Content-Range: bytes START-END/TOTAL` (or `bytes */TOTAL`) header as (START, TOTAL),
/// each `None` when not given (`*`).
fn content_range(response: &reqwest::Response) -> Option<(Option<u64>, Option<u64>)> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    parse_content_range(value)
}

/// Parses `bytes START-END/TOTAL` or `bytes */TOTAL` into (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse().ok()?),
    };
    let start = match range.trim() {
        "*" => None,
        r => Some(r.split_once('-')?.0.trim().parse().ok()?),
    };
    Some((start, total))
}

#[cfg(test)]
mod tests {
    use super::parse_content_range;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/5000"),
            Some((Some(100), Some(5000)))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((Some(0), None)));
        assert_eq!(
            parse_content_range("bytes */5000"),
            Some((None, Some(5000)))
        );
        assert_eq!(parse_content_range("items 0-9/10"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
    }
}
