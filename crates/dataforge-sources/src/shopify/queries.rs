//! GraphQL documents: the built-in queries for `orders`, `customers` and `products`, the search
//! filter of an incremental load, and the filter put into a user's bulk query.
//!
//! Paged queries take the filter as the `$query` variable on every page (the cursor does not
//! carry it). A bulk query is one string with no variables, so the filter is written into the
//! root connection's `query:` argument as a GraphQL string literal.
//!
//! A user's bulk query that already has a root `query:` argument cannot take the incremental
//! filter as well (GraphQL forbids an argument twice, and rewriting the user's filter is
//! guesswork): with `incremental` on, that is a config error at `query` asking to move the
//! condition out or turn `incremental` off. Without a `query:` argument the filter is added to
//! the root connection's arguments and the document printed again (comments dropped); a
//! document with block strings, escapes or characters beyond U+FFFF is refused for that,
//! because the printer cannot be trusted to write those back unchanged.

use std::borrow::Cow;
use std::fmt::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use dataforge_core::Projection;
use graphql_parser::query::{Definition, OperationDefinition, Selection, Value};

use super::error::ShopifySourceError;

/// The resources with a built-in GraphQL query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    Orders,
    Customers,
    Products,
}

/// The top-level fields of a built-in query's node: the response key, and its selection.
type Fields = &'static [(&'static str, &'static str)];

const ORDER_FIELDS: Fields = &[
    ("id", "id"),
    ("legacyResourceId", "legacyResourceId"),
    ("name", "name"),
    ("email", "email"),
    ("createdAt", "createdAt"),
    ("updatedAt", "updatedAt"),
    ("processedAt", "processedAt"),
    ("closedAt", "closedAt"),
    ("cancelledAt", "cancelledAt"),
    ("closed", "closed"),
    ("cancelReason", "cancelReason"),
    ("currencyCode", "currencyCode"),
    ("displayFinancialStatus", "displayFinancialStatus"),
    ("displayFulfillmentStatus", "displayFulfillmentStatus"),
    ("tags", "tags"),
    ("note", "note"),
    ("test", "test"),
    (
        "totalPriceSet",
        "totalPriceSet { shopMoney { amount currencyCode } }",
    ),
    (
        "subtotalPriceSet",
        "subtotalPriceSet { shopMoney { amount currencyCode } }",
    ),
    (
        "totalTaxSet",
        "totalTaxSet { shopMoney { amount currencyCode } }",
    ),
    (
        "customer",
        "customer { id legacyResourceId email firstName lastName }",
    ),
];

const CUSTOMER_FIELDS: Fields = &[
    ("id", "id"),
    ("legacyResourceId", "legacyResourceId"),
    ("email", "email"),
    ("firstName", "firstName"),
    ("lastName", "lastName"),
    ("createdAt", "createdAt"),
    ("updatedAt", "updatedAt"),
    ("numberOfOrders", "numberOfOrders"),
    ("amountSpent", "amountSpent { amount currencyCode }"),
    ("tags", "tags"),
    ("verifiedEmail", "verifiedEmail"),
    ("state", "state"),
];

const PRODUCT_FIELDS: Fields = &[
    ("id", "id"),
    ("legacyResourceId", "legacyResourceId"),
    ("title", "title"),
    ("handle", "handle"),
    ("vendor", "vendor"),
    ("productType", "productType"),
    ("status", "status"),
    ("tags", "tags"),
    ("createdAt", "createdAt"),
    ("updatedAt", "updatedAt"),
    ("publishedAt", "publishedAt"),
    ("totalInventory", "totalInventory"),
];

/// Which top-level fields of a built-in query's node a load selects: those the pipeline reads
/// ([`Projection`], pushed down from the transforms) and those the source reads itself (`id`,
/// the incremental cursor field). Trimming the selection cuts bytes on the wire and the
/// query's cost, which is what Shopify's rate limit counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Selected {
    /// What the pipeline reads of each record.
    pub(crate) projection: Projection,
    /// Fields the source reads whatever the pipeline does (the incremental cursor field).
    pub(crate) own: Vec<String>,
}

impl Selected {
    /// True when `field` is selected.
    fn keeps(&self, field: &str) -> bool {
        self.projection.keeps(field) || self.own.iter().any(|own| own == field)
    }
}

impl Builtin {
    /// The built-in query of a REST resource name, if it has one.
    pub(crate) fn of(resource: &str) -> Option<Self> {
        match resource {
            "orders" => Some(Self::Orders),
            "customers" => Some(Self::Customers),
            "products" => Some(Self::Products),
            _ => None,
        }
    }

    /// The GraphQL connection field (also the response key).
    pub(crate) fn field(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Customers => "customers",
            Self::Products => "products",
        }
    }

    /// The node's selection: the fields `selected` keeps, in the built-in order; never empty
    /// (`id` stays when nothing else would).
    fn fields(self, selected: &Selected) -> String {
        let all = match self {
            Self::Orders => ORDER_FIELDS,
            Self::Customers => CUSTOMER_FIELDS,
            Self::Products => PRODUCT_FIELDS,
        };
        let kept: Vec<&str> = all
            .iter()
            .filter(|(name, _)| *name == "id" || selected.keeps(name))
            .map(|(_, selection)| *selection)
            .collect();
        kept.join(" ")
    }

    /// The paged query: variables `$first`, `$after`, `$query`, sorted by id.
    pub(crate) fn paged(self, selected: &Selected) -> String {
        format!(
            "query($first: Int!, $after: String, $query: String) {{ {root}(first: $first, after: \
             $after, query: $query, sortKey: ID) {{ pageInfo {{ hasNextPage endCursor }} edges \
             {{ node {{ {fields} }} }} }} }}",
            root = self.field(),
            fields = self.fields(selected)
        )
    }

    /// The bulk query, with `filter` (a search filter) inline when given.
    pub(crate) fn bulk(self, filter: Option<&str>, selected: &Selected) -> String {
        let args = filter.map_or_else(String::new, |f| format!("(query: {})", graphql_string(f)));
        format!(
            "{{ {root}{args} {{ edges {{ node {{ {fields} }} }} }} }}",
            root = self.field(),
            fields = self.fields(selected)
        )
    }
}

/// The GraphQL a `graphql` or `bulk` load sends: built in, or the user's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GraphqlQuery {
    /// A built-in query.
    Builtin(Builtin),
    /// The user's document; `root` is the response key of its root connection (paged form).
    Custom { text: String, root: String },
}

impl GraphqlQuery {
    /// The document of a paged (`api: "graphql"`) load; a built-in one selects what
    /// `selected` keeps (a user's query is sent as written).
    pub(crate) fn paged_document(&self, selected: &Selected) -> Cow<'_, str> {
        match self {
            Self::Builtin(b) => Cow::Owned(b.paged(selected)),
            Self::Custom { text, .. } => Cow::Borrowed(text),
        }
    }

    /// Where a paged response's connection is: `data.<root>`.
    pub(crate) fn paged_root(&self) -> &str {
        match self {
            Self::Builtin(b) => b.field(),
            Self::Custom { root, .. } => root,
        }
    }

    /// The document of a bulk load, with the search `filter` when given; a built-in one
    /// selects what `selected` keeps.
    ///
    /// # Errors
    /// The filter cannot be put into the user's query (see the module docs); validation
    /// checks this with a sample filter, so a validated config does not fail here.
    pub(crate) fn bulk_document(
        &self,
        filter: Option<&str>,
        selected: &Selected,
    ) -> Result<String, ShopifySourceError> {
        match (self, filter) {
            (Self::Builtin(b), _) => Ok(b.bulk(filter, selected)),
            (Self::Custom { text, .. }, None) => Ok(text.clone()),
            (Self::Custom { text, .. }, Some(f)) => inject_bulk_filter(text, f)
                .map_err(|message| ShopifySourceError::BulkQuery { message }),
        }
    }
}

/// The search filter of an incremental load: `<field>:>='<since>'` (quoted, UTC, whole
/// seconds: unquoted timestamps are misread by Shopify's search), joined to the user's filter
/// with ` AND `; a user filter with an `OR` is put in parentheses first.
pub(crate) fn search_filter(
    field: &str,
    since: Option<DateTime<Utc>>,
    user: Option<&str>,
) -> Option<String> {
    let ours = since.map(|t| {
        format!(
            "{field}:>='{}'",
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    });
    let user = user.map(str::trim).filter(|u| !u.is_empty()).map(|u| {
        if u.split_whitespace().any(|w| w.eq_ignore_ascii_case("or")) {
            format!("({u})")
        } else {
            u.to_owned()
        }
    });
    match (user, ours) {
        (Some(u), Some(o)) => Some(format!("{u} AND {o}")),
        (u, o) => u.or(o),
    }
}

/// `text` as a GraphQL string literal, quoted and escaped.
pub(crate) fn graphql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The user's bulk query with `filter` as its root connection's `query:` argument.
///
/// # Errors
/// A message for the user: the document does not parse, its root field is not written in the
/// operation itself, it already has a `query:` argument, or it has text the printer may change.
pub(crate) fn inject_bulk_filter(text: &str, filter: &str) -> Result<String, String> {
    if text.contains("\"\"\"") || text.contains('\\') || text.chars().any(|c| c > '\u{ffff}') {
        return Err(
            "the query has a block string, an escape or a character beyond U+FFFF, which \
             DataForge does not rewrite: write it without them, or turn `incremental` off"
                .to_owned(),
        );
    }
    let mut doc = graphql_parser::parse_query::<&str>(text)
        .map_err(|e| format!("not a valid GraphQL document: {e}"))?;
    let selection = doc
        .definitions
        .iter_mut()
        .find_map(|d| match d {
            Definition::Operation(OperationDefinition::Query(q)) => Some(&mut q.selection_set),
            Definition::Operation(OperationDefinition::SelectionSet(s)) => Some(s),
            _ => None,
        })
        .ok_or("the document has no query operation")?;
    let Some(Selection::Field(root)) = selection.items.first_mut() else {
        return Err(
            "the root connection must be the first field of the operation, written in place \
             (not in a fragment)"
                .to_owned(),
        );
    };
    if root.arguments.iter().any(|(a, _)| *a == "query") {
        return Err(format!(
            "the root connection `{}` already has a `query:` argument, and `incremental` adds \
             its own: remove the argument or turn `incremental` off",
            root.name
        ));
    }
    root.arguments
        .push(("query", Value::String(filter.to_owned())));
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::bulk_query::{check_bulk, check_paged};
    use super::*;

    fn at(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn builtin_paged_queries_keep_the_paged_contract() {
        for b in [Builtin::Orders, Builtin::Customers, Builtin::Products] {
            let all = Selected::default();
            assert_eq!(check_paged(&b.paged(&all)), Vec::<String>::new(), "{b:?}");
            assert_eq!(
                check_bulk(&b.bulk(None, &all)),
                Vec::<String>::new(),
                "{b:?}"
            );
            assert_eq!(
                check_bulk(&b.bulk(Some("updated_at:>='2024-01-01T00:00:00Z'"), &all)),
                Vec::<String>::new()
            );
        }
        assert!(Builtin::Orders.paged(&Selected::default()).starts_with(
            "query($first: Int!, $after: String, $query: String) { orders(first: $first, after: \
             $after, query: $query, sortKey: ID) { pageInfo { hasNextPage endCursor } edges { \
             node { id legacyResourceId name email"
        ));
        assert_eq!(Builtin::of("draft_orders"), None);
    }

    #[test]
    fn builtin_queries_select_only_what_the_pipeline_and_the_source_read() {
        let selected = Selected {
            projection: Projection::only(["email", "customer", "not_a_field"]),
            own: vec!["updatedAt".to_owned()],
        };
        let node = "node { id email updatedAt customer { id legacyResourceId email firstName \
                    lastName } }";
        let paged = Builtin::Orders.paged(&selected);
        assert!(paged.contains(node), "{paged}");
        assert!(!paged.contains("totalPriceSet"), "{paged}");
        assert_eq!(check_paged(&paged), Vec::<String>::new());
        let bulk = Builtin::Orders.bulk(None, &selected);
        assert!(bulk.contains(node), "{bulk}");
        assert_eq!(check_bulk(&bulk), Vec::<String>::new());
        // Nothing the query has is read: `id` alone, never an empty selection.
        let none = Selected {
            projection: Projection::only(["not_a_field"]),
            own: Vec::new(),
        };
        assert!(Builtin::Products.paged(&none).contains("node { id } }"));
        // Every field but some: the others stay.
        let except = Selected {
            projection: Projection::All.without(["customer", "note"]),
            own: Vec::new(),
        };
        let q = Builtin::Orders.paged(&except);
        assert!(!q.contains("customer") && !q.contains(" note "), "{q}");
        assert!(q.contains("totalTaxSet") && q.contains(" test "), "{q}");
        // A user's query is sent as written.
        let custom = GraphqlQuery::Custom {
            text: "{ orders { nodes { id note } } }".to_owned(),
            root: "orders".to_owned(),
        };
        assert_eq!(custom.paged_document(&none), custom_text(&custom));
    }

    fn custom_text(q: &GraphqlQuery) -> &str {
        match q {
            GraphqlQuery::Custom { text, .. } => text,
            GraphqlQuery::Builtin(_) => "",
        }
    }

    #[test]
    fn bulk_filter_is_an_escaped_string_literal() {
        let q = Builtin::Products.bulk(Some("title:'a \"b\" \\c'"), &Selected::default());
        assert!(
            q.starts_with(r#"{ products(query: "title:'a \"b\" \\c'") { edges { node { id "#),
            "{q}"
        );
        assert_eq!(graphql_string("a\nb\u{1}"), "\"a\\nb\\u0001\"");
    }

    #[test]
    fn search_filter_quotes_utc_seconds_and_joins_the_user_filter() {
        let since = at("2024-01-01T02:00:00.750+02:00");
        assert_eq!(
            search_filter("updated_at", since, None).as_deref(),
            Some("updated_at:>='2024-01-01T00:00:00Z'")
        );
        assert_eq!(
            search_filter("updated_at", since, Some("status:open")).as_deref(),
            Some("status:open AND updated_at:>='2024-01-01T00:00:00Z'")
        );
        assert_eq!(
            search_filter("updated_at", since, Some("tag:a OR tag:b")).as_deref(),
            Some("(tag:a OR tag:b) AND updated_at:>='2024-01-01T00:00:00Z'")
        );
        assert_eq!(
            search_filter("updated_at", None, Some("tag:a")).as_deref(),
            Some("tag:a")
        );
        assert_eq!(search_filter("updated_at", None, Some("  ")), None);
    }

    #[test]
    fn injects_the_filter_into_a_user_bulk_query() {
        let user = "query { draftOrders { edges { node { id updatedAt } } } }";
        let out =
            inject_bulk_filter(user, "updated_at:>='2024-01-01T00:00:00Z'").expect("injectable");
        assert!(
            out.contains(r#"draftOrders(query: "updated_at:>='2024-01-01T00:00:00Z'")"#),
            "{out}"
        );
        assert_eq!(check_bulk(&out), Vec::<String>::new());
        let custom = GraphqlQuery::Custom {
            text: user.to_owned(),
            root: String::new(),
        };
        assert_eq!(
            custom
                .bulk_document(None, &Selected::default())
                .ok()
                .as_deref(),
            Some(user)
        );
    }

    #[test]
    fn refuses_to_inject_beside_a_query_argument_or_into_escapes() {
        let e = inject_bulk_filter(
            "{ orders(query: \"tag:x\") { edges { node { id } } } }",
            "f",
        )
        .expect_err("has query");
        assert!(e.contains("already has a `query:` argument"), "{e}");
        let e = inject_bulk_filter(
            "{ orders(query: \"a\\\"b\") { edges { node { id } } } }",
            "f",
        )
        .expect_err("escape");
        assert!(e.contains("block string, an escape"), "{e}");
        let e = inject_bulk_filter(
            "fragment F on Query { orders { edges { node { id } } } } { ...F }",
            "f",
        )
        .expect_err("fragment root");
        assert!(e.contains("written in place"), "{e}");
    }
}
