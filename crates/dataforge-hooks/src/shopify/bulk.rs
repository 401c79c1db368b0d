//! Bulk operations: [`BulkOperation`], [`BulkStatus`] and [`ShopifyHook::bulk_run_query`],
//! [`ShopifyHook::bulk_operation`], [`ShopifyHook::bulk_cancel`].

use serde_json::Value;

use super::error::ShopifyError;
use super::hook::ShopifyHook;

/// The fields of a bulk operation every request selects.
const FIELDS: &str = "id status errorCode objectCount rootObjectCount url partialDataUrl";

/// The status of a bulk operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BulkStatus {
    /// Accepted, not started.
    Created,
    /// Running.
    Running,
    /// Done: `url` holds the result (JSONL), or is `None` when nothing matched.
    Completed,
    /// Being canceled.
    Canceling,
    /// Canceled.
    Canceled,
    /// Failed: see `error_code` and `partial_data_url`.
    Failed,
    /// The result expired (after 7 days).
    Expired,
    /// A status this version does not know.
    Other(String),
}

impl BulkStatus {
    /// The status of its GraphQL name (`COMPLETED`).
    pub fn parse(name: &str) -> Self {
        match name {
            "CREATED" => Self::Created,
            "RUNNING" => Self::Running,
            "COMPLETED" => Self::Completed,
            "CANCELING" => Self::Canceling,
            "CANCELED" => Self::Canceled,
            "FAILED" => Self::Failed,
            "EXPIRED" => Self::Expired,
            other => Self::Other(other.to_owned()),
        }
    }

    /// True when the operation will not change any more (completed, canceled, failed,
    /// expired); false while it may (created, running, canceling, unknown).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Canceled | Self::Failed | Self::Expired
        )
    }
}

/// A bulk operation as Shopify reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOperation {
    /// Its id (`gid://shopify/BulkOperation/…`).
    pub id: String,
    /// Its status.
    pub status: BulkStatus,
    /// Why it failed (`INTERNAL_SERVER_ERROR`, `TIMEOUT`, `ACCESS_DENIED`), if it did.
    pub error_code: Option<String>,
    /// Objects written so far (parents and children).
    pub object_count: u64,
    /// Top-level objects written so far.
    pub root_object_count: u64,
    /// The result's URL (JSONL, pre-signed, on another host) once completed.
    pub url: Option<String>,
    /// The partial result's URL after a failure.
    pub partial_data_url: Option<String>,
}

impl BulkOperation {
    /// Reads a `BulkOperation` object; `None` when `id` or `status` is missing.
    fn from_json(value: &Value) -> Option<Self> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        // UnsignedInt64 values come as strings ("1432"); numbers are accepted too.
        let count = |name: &str| match value.get(name) {
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            Some(v) => v.as_u64().unwrap_or(0),
            None => 0,
        };
        Some(Self {
            id: text("id")?,
            status: BulkStatus::parse(&text("status")?),
            error_code: text("errorCode"),
            object_count: count("objectCount"),
            root_object_count: count("rootObjectCount"),
            url: text("url"),
            partial_data_url: text("partialDataUrl"),
        })
    }
}

/// A user error as `field: message (code)`.
fn describe_user_error(error: &Value) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("(no message)");
    let field = match error.get("field") {
        Some(Value::Array(parts)) if !parts.is_empty() => {
            let parts: Vec<String> = parts
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect();
            format!("{}: ", parts.join("."))
        }
        _ => String::new(),
    };
    match error.get("code").and_then(Value::as_str) {
        Some(code) => format!("{field}{message} ({code})"),
        None => format!("{field}{message}"),
    }
}

/// The `gid://shopify/BulkOperation/<n>` a message names, if any.
fn operation_id_in(message: &str) -> Option<String> {
    let start = message.find("gid://shopify/BulkOperation/")?;
    let id: String = message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'))
        .collect();
    Some(id)
}

impl ShopifyHook {
    /// Starts a bulk query (`bulkOperationRunQuery`); poll it with
    /// [`ShopifyHook::bulk_operation`], then [`ShopifyHook::download`] its `url`.
    ///
    /// ```no_run
    /// # async fn demo(hook: dataforge_hooks::shopify::ShopifyHook) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut op = hook
    ///     .bulk_run_query("{ orders { edges { node { id name } } } }")
    ///     .await?;
    /// while !op.status.is_finished() {
    ///     tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    ///     op = hook.bulk_operation(&op.id).await?;
    /// }
    /// if let Some(url) = &op.url {
    ///     let _body = hook.download(url).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ShopifyError::OperationInProgress`] when a bulk query already runs for this app;
    /// [`ShopifyError::BulkRejected`] for other user errors (an invalid bulk query); the
    /// errors of [`ShopifyHook::graphql`].
    pub async fn bulk_run_query(&self, query: &str) -> Result<BulkOperation, ShopifyError> {
        let mutation = format!(
            "mutation($q: String!) {{ bulkOperationRunQuery(query: $q) {{ bulkOperation {{ {FIELDS} }} userErrors {{ field message code }} }} }}"
        );
        let response = self
            .graphql(&mutation, serde_json::json!({ "q": query }))
            .await?;
        self.payload(&response.data, "bulkOperationRunQuery")
    }

    /// A bulk operation's current state (`node(id:)`), for polling.
    ///
    /// # Errors
    /// [`ShopifyError::BulkNotFound`] when no bulk operation has this id; the errors of
    /// [`ShopifyHook::graphql`].
    pub async fn bulk_operation(&self, id: &str) -> Result<BulkOperation, ShopifyError> {
        let query = format!(
            "query($id: ID!) {{ node(id: $id) {{ ... on BulkOperation {{ {FIELDS} }} }} }}"
        );
        let response = self
            .graphql(&query, serde_json::json!({ "id": id }))
            .await?;
        match response.data.get("node") {
            Some(node) if !node.is_null() => {
                BulkOperation::from_json(node).ok_or_else(|| ShopifyError::BulkNotFound {
                    shop: self.shop().to_owned(),
                    id: id.to_owned(),
                })
            }
            _ => Err(ShopifyError::BulkNotFound {
                shop: self.shop().to_owned(),
                id: id.to_owned(),
            }),
        }
    }

    /// Asks Shopify to cancel a bulk operation (`bulkOperationCancel`); it then goes through
    /// `CANCELING` to `CANCELED`.
    ///
    /// # Errors
    /// [`ShopifyError::BulkRejected`] when it cannot be canceled (finished, unknown); the
    /// errors of [`ShopifyHook::graphql`].
    pub async fn bulk_cancel(&self, id: &str) -> Result<BulkOperation, ShopifyError> {
        let mutation = format!(
            "mutation($id: ID!) {{ bulkOperationCancel(id: $id) {{ bulkOperation {{ {FIELDS} }} userErrors {{ field message }} }} }}"
        );
        let response = self
            .graphql(&mutation, serde_json::json!({ "id": id }))
            .await?;
        self.payload(&response.data, "bulkOperationCancel")
    }

    /// The bulk operation of a mutation payload, or its user errors.
    fn payload(&self, data: &Value, mutation: &str) -> Result<BulkOperation, ShopifyError> {
        let shop = || self.shop().to_owned();
        let payload = data.get(mutation).unwrap_or(&Value::Null);
        let user_errors = payload
            .get("userErrors")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !user_errors.is_empty() {
            let in_progress = user_errors.iter().find(|e| {
                e.get("code").and_then(Value::as_str) == Some("OPERATION_IN_PROGRESS")
                    || e.get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.contains("already in progress"))
            });
            if let Some(error) = in_progress {
                let id = error
                    .get("message")
                    .and_then(Value::as_str)
                    .and_then(operation_id_in);
                return Err(ShopifyError::OperationInProgress { shop: shop(), id });
            }
            return Err(ShopifyError::BulkRejected {
                shop: shop(),
                messages: user_errors
                    .iter()
                    .map(|e| self.scrub(describe_user_error(e)))
                    .collect(),
            });
        }
        payload
            .get("bulkOperation")
            .and_then(BulkOperation::from_json)
            .ok_or_else(|| ShopifyError::InvalidResponse {
                shop: shop(),
                what: mutation.to_owned(),
                reason: "no bulkOperation and no userErrors".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_ids() {
        assert_eq!(BulkStatus::parse("RUNNING"), BulkStatus::Running);
        assert!(!BulkStatus::Canceling.is_finished());
        assert!(BulkStatus::Expired.is_finished());
        assert_eq!(
            BulkStatus::parse("PAUSED"),
            BulkStatus::Other("PAUSED".into())
        );
        assert_eq!(
            operation_id_in(
                "A bulk query operation for this app and shop is already in progress: gid://shopify/BulkOperation/7749099028786."
            )
            .as_deref(),
            Some("gid://shopify/BulkOperation/7749099028786")
        );
    }

    #[test]
    fn operation_reads_string_counts() {
        let value = serde_json::json!({
            "id": "gid://shopify/BulkOperation/1", "status": "COMPLETED", "errorCode": null,
            "objectCount": "1432", "rootObjectCount": "1400",
            "url": "https://storage.googleapis.com/x?sig=1", "partialDataUrl": null
        });
        let op = BulkOperation::from_json(&value);
        assert_eq!(
            op,
            Some(BulkOperation {
                id: "gid://shopify/BulkOperation/1".into(),
                status: BulkStatus::Completed,
                error_code: None,
                object_count: 1432,
                root_object_count: 1400,
                url: Some("https://storage.googleapis.com/x?sig=1".into()),
                partial_data_url: None,
            })
        );
        assert_eq!(
            describe_user_error(
                &serde_json::json!({"field": ["query"], "message": "Bulk queries must contain at least one connection.", "code": "INVALID"})
            ),
            "query: Bulk queries must contain at least one connection. (INVALID)"
        );
    }
}
