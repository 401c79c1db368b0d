//! [`HttpClient::pages`]: the pages of a `Link: <…>; rel="next"` chain as a stream.

use futures::Stream;

use super::client::{HttpClient, HttpRequest, HttpResponse};
use super::error::HttpError;

impl HttpClient {
    /// The responses of `first` and of each `rel="next"` link after it, in order, each fetched
    /// with retries. The next URL is followed verbatim (Shopify's `page_info` cursors must not
    /// be combined with the first request's filters), with the first request's method, headers
    /// and body. The stream ends after a page without a next link, after a next link equal to
    /// the page's own URL (a server loop), or after the first error.
    pub fn pages(
        &self,
        first: HttpRequest,
    ) -> impl Stream<Item = Result<HttpResponse, HttpError>> + Send + 'static {
        let client = self.clone();
        futures::stream::try_unfold(Some(first), move |next| {
            let client = client.clone();
            async move {
                let Some(request) = next else {
                    return Ok(None);
                };
                let response = client.execute(request.clone()).await?;
                let next = response
                    .next_link()
                    .filter(|target| target.as_str() != response.url().as_str())
                    .map(|target| request.follow(target));
                Ok(Some((response, next)))
            }
        })
    }
}
