//! Checks a user's GraphQL document before any request: as Shopify's `bulkOperationRunQuery`
//! would ([`check_bulk`]), or for the shape the paged GraphQL driver needs ([`check_paged`]).
//!
//! Bulk rules (the messages are Shopify's own userErrors, verbatim, so a user who searches for
//! one finds Shopify's documentation): exactly one `query` operation; no top-level `node`; at
//! least one connection and at most 5; connections nested at most 2 deep; every connection
//! selects its contents through `edges { node { … } } }`, never `nodes`; and the `node` that
//! holds a nested connection selects `id` (unaliased), which Shopify needs to write the
//! children's `__parentId`. A *connection* is a field whose selection has `edges`, `nodes` or
//! `pageInfo`. Two rules are DataForge's own: the document declares no variables (a bulk query
//! is sent as one string, with no variables) and has exactly one operation.
//!
//! The paged contract (`api: "graphql"` with the user's own `query`): one `query` operation
//! declaring the variables `$first`, `$after` and `$query`, whose only root field is a
//! connection called with `first: $first, after: $after, query: $query`, selecting
//! `pageInfo { hasNextPage endCursor }` and its records through `edges { node { … } }` or
//! `nodes { … }`. The driver sends `first` = `page_size`, `after` = the last `endCursor`, and
//! `query` = the incremental search filter (null without one), on every page.
//!
//! Fragments (named and inline) are followed as if their fields were written in place.

use graphql_parser::query::{
    Definition, Document, Field, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
    Value,
};

/// A parsed document over borrowed text.
type Doc<'a> = Document<'a, &'a str>;

/// Fragment spreads followed at most this deep (a cycle is a GraphQL error anyway).
const MAX_FRAGMENT_DEPTH: usize = 16;

/// Shopify's message for a mutation or subscription.
const ONLY_QUERY: &str = "Invalid operation type. Only `query` operations are supported.";

/// Every reason Shopify would refuse `text` as a bulk query; empty when it is fine.
pub(crate) fn check_bulk(text: &str) -> Vec<String> {
    let doc = match graphql_parser::parse_query::<&str>(text) {
        Ok(doc) => doc,
        Err(e) => return vec![parse_message(&e)],
    };
    let (selection, mut problems) = match single_query(&doc) {
        Ok(q) => q,
        Err(problems) => return problems,
    };
    let declared = declared_variables(&doc);
    if !declared.is_empty() {
        problems.push(format!(
            "a bulk query takes no variables (it is sent as one string): write the values in \
             place of ${}",
            declared.join(", $")
        ));
    }
    let fragments = Fragments(&doc);
    let top = fragments.fields(selection);
    if top.iter().any(|f| f.name == "node") {
        problems.push("Bulk queries cannot contain a top level `node` field.".to_owned());
    }
    let mut walk = BulkWalk::default();
    for field in &top {
        walk.field(&fragments, field, 0, None);
    }
    if !walk.via_nodes.is_empty() {
        let names: Vec<String> = walk.via_nodes.iter().map(|n| format!("'{n}'")).collect();
        problems.push(format!(
            "All connection fields in a bulk query must select their contents using 'edges' > \
             'node', e.g: 'orders {{ edges {{ node {{'. Selecting via 'nodes' is not supported. \
             Invalid connection fields: {}.",
            names.join(", ")
        ));
    }
    if walk.connections == 0 {
        problems.push("Bulk queries must contain at least one connection.".to_owned());
    }
    if walk.too_deep {
        problems.push(
            "Bulk queries cannot contain connections with a nesting depth greater than 2."
                .to_owned(),
        );
    }
    if walk.connections > 5 {
        problems.push("Bulk queries cannot contain more than 5 connections.".to_owned());
    }
    if !walk.parents_without_id.is_empty() {
        problems.push(format!(
            "The parent 'node' field for a nested connection must select the 'id' field without \
             an alias and must be of 'ID' return type. Connection fields without 'id': {}.",
            walk.parents_without_id.join(", ")
        ));
    }
    problems
}

/// Every way `text` misses the paged contract (module docs); empty when it keeps it.
#[cfg(test)]
pub(crate) fn check_paged(text: &str) -> Vec<String> {
    match paged_root(text) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    }
}

/// The response key (alias or name) of the root connection of a paged query, where the
/// driver finds `pageInfo` and the records in `data`.
///
/// # Errors
/// Every way `text` misses the paged contract.
pub(crate) fn paged_root(text: &str) -> Result<String, Vec<String>> {
    let doc = graphql_parser::parse_query::<&str>(text).map_err(|e| vec![parse_message(&e)])?;
    let (selection, mut problems) = single_query(&doc)?;
    let fragments = Fragments(&doc);
    let declared = declared_variables(&doc);
    for var in ["first", "after", "query"] {
        if !declared.contains(&var) {
            problems.push(format!("the query must declare the variable `${var}`"));
        }
    }
    let top = fragments.fields(selection);
    let [root] = top.as_slice() else {
        problems.push(format!(
            "the query must have exactly one root field (a connection), found {}",
            top.len()
        ));
        return Err(problems);
    };
    let name = root.alias.unwrap_or(root.name);
    for (arg, var) in [("first", "first"), ("after", "after"), ("query", "query")] {
        let used = root
            .arguments
            .iter()
            .any(|(a, v)| *a == arg && matches!(v, Value::Variable(x) if *x == var));
        if !used {
            problems.push(format!("the root field `{name}` must take `{arg}: ${var}`"));
        }
    }
    let children = fragments.fields(&root.selection_set);
    let page_info = children.iter().find(|f| f.name == "pageInfo");
    match page_info {
        Some(p) => {
            let inner = fragments.fields(&p.selection_set);
            for key in ["hasNextPage", "endCursor"] {
                if !inner.iter().any(|f| f.name == key && f.alias.is_none()) {
                    problems.push(format!(
                        "the root field `{name}` must select `pageInfo {{ hasNextPage endCursor }}`: \
                         `{key}` is missing"
                    ));
                }
            }
        }
        None => problems.push(format!(
            "the root field `{name}` must select `pageInfo {{ hasNextPage endCursor }}`"
        )),
    }
    let nodes = children
        .iter()
        .any(|f| f.name == "nodes" && f.alias.is_none());
    let edges_node = children.iter().any(|f| {
        f.name == "edges"
            && f.alias.is_none()
            && fragments
                .fields(&f.selection_set)
                .iter()
                .any(|n| n.name == "node" && n.alias.is_none())
    });
    if !nodes && !edges_node {
        problems.push(format!(
            "the root field `{name}` must select its records with `edges {{ node {{ … }} }}` or \
             `nodes {{ … }}`"
        ));
    }
    if problems.is_empty() {
        Ok(name.to_owned())
    } else {
        Err(problems)
    }
}

/// Whether the root connection of a bulk query (its first top-level field) takes a `query:`
/// argument; `None` when the text does not parse.
#[cfg(test)]
pub(crate) fn bulk_root_has_query_argument(text: &str) -> Option<bool> {
    let doc = graphql_parser::parse_query::<&str>(text).ok()?;
    let (selection, _) = single_query(&doc).ok()?;
    let fragments = Fragments(&doc);
    let top = fragments.fields(selection);
    let root = top.first()?;
    Some(root.arguments.iter().any(|(a, _)| *a == "query"))
}

/// A parser error as one line: the parser's own text spans several.
fn parse_message(e: &graphql_parser::query::ParseError) -> String {
    let text = e.to_string();
    let joined: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    format!("not a valid GraphQL document: {}", joined.join("; "))
}

/// The selection of the document's one `query` operation, with the problems found on the way.
///
/// # Errors
/// No operation, more than one, or one that is not a query: the walk cannot go on.
fn single_query<'d, 'a>(
    doc: &'d Doc<'a>,
) -> Result<(&'d SelectionSet<'a, &'a str>, Vec<String>), Vec<String>> {
    let operations: Vec<&OperationDefinition<'a, &'a str>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(op) => Some(op),
            Definition::Fragment(_) => None,
        })
        .collect();
    let [op] = operations.as_slice() else {
        return Err(vec![format!(
            "the document must contain exactly one operation, found {}",
            operations.len()
        )]);
    };
    match op {
        OperationDefinition::SelectionSet(s) => Ok((s, Vec::new())),
        OperationDefinition::Query(q) => Ok((&q.selection_set, Vec::new())),
        OperationDefinition::Mutation(_) | OperationDefinition::Subscription(_) => {
            Err(vec![ONLY_QUERY.to_owned()])
        }
    }
}

/// The variable names the document's operations declare.
fn declared_variables<'a>(doc: &Doc<'a>) -> Vec<&'a str> {
    doc.definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(OperationDefinition::Query(q)) => Some(q),
            _ => None,
        })
        .flat_map(|q| q.variable_definitions.iter().map(|v| v.name))
        .collect()
}

/// The document's fragments, to follow spreads.
struct Fragments<'d, 'a>(&'d Doc<'a>);

impl<'d, 'a> Fragments<'d, 'a> {
    fn get(&self, name: &str) -> Option<&'d FragmentDefinition<'a, &'a str>> {
        self.0.definitions.iter().find_map(|d| match d {
            Definition::Fragment(f) if f.name == name => Some(f),
            _ => None,
        })
    }

    /// The fields of `set`, with fragments replaced by their fields.
    fn fields(&self, set: &'d SelectionSet<'a, &'a str>) -> Vec<&'d Field<'a, &'a str>> {
        let mut out = Vec::new();
        self.collect(set, 0, &mut out);
        out
    }

    fn collect(
        &self,
        set: &'d SelectionSet<'a, &'a str>,
        depth: usize,
        out: &mut Vec<&'d Field<'a, &'a str>>,
    ) {
        if depth > MAX_FRAGMENT_DEPTH {
            return;
        }
        for item in &set.items {
            match item {
                Selection::Field(f) => out.push(f),
                Selection::InlineFragment(i) => self.collect(&i.selection_set, depth + 1, out),
                Selection::FragmentSpread(s) => {
                    if let Some(f) = self.get(s.fragment_name) {
                        self.collect(&f.selection_set, depth + 1, out);
                    }
                }
            }
        }
    }
}

/// What the bulk walk found.
#[derive(Default)]
struct BulkWalk {
    connections: usize,
    too_deep: bool,
    via_nodes: Vec<String>,
    parents_without_id: Vec<String>,
}

impl BulkWalk {
    /// Walks `field`, inside `depth` connections, the innermost being `parent` (its name and
    /// whether its `node` selects an unaliased `id`).
    fn field<'d, 'a>(
        &mut self,
        fragments: &Fragments<'d, 'a>,
        field: &'d Field<'a, &'a str>,
        depth: usize,
        parent: Option<(&'a str, bool)>,
    ) {
        let children = fragments.fields(&field.selection_set);
        let is_connection = children
            .iter()
            .any(|c| matches!(c.name, "edges" | "nodes" | "pageInfo"));
        if !is_connection {
            for child in children {
                self.field(fragments, child, depth, parent);
            }
            return;
        }
        self.connections += 1;
        let depth = depth + 1;
        if depth > 2 {
            self.too_deep = true;
        }
        if let Some((parent_name, false)) = parent
            && !self.parents_without_id.iter().any(|p| p == parent_name)
        {
            self.parents_without_id.push(parent_name.to_owned());
        }
        let mut nodes: Vec<&'d Field<'a, &'a str>> = Vec::new();
        for child in &children {
            match child.name {
                "nodes" => {
                    if !self.via_nodes.iter().any(|n| n == field.name) {
                        self.via_nodes.push(field.name.to_owned());
                    }
                    nodes.extend(fragments.fields(&child.selection_set));
                }
                "edges" => {
                    for edge in fragments.fields(&child.selection_set) {
                        if edge.name == "node" {
                            nodes.extend(fragments.fields(&edge.selection_set));
                        }
                    }
                }
                _ => {}
            }
        }
        let has_id = nodes.iter().any(|n| n.name == "id" && n.alias.is_none());
        for node_field in nodes {
            self.field(fragments, node_field, depth, Some((field.name, has_id)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        let problems = check_bulk(text);
        assert_eq!(problems.len(), 1, "{problems:?}");
        problems.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn accepts_a_valid_bulk_query_with_a_nested_connection_and_fragments() {
        let q = r#"
            query {
              products(query: "status:active") {
                edges { node { id title ...V } }
              }
            }
            fragment V on Product { variants { edges { node { id sku } } } }
        "#;
        assert_eq!(check_bulk(q), Vec::<String>::new());
        assert_eq!(
            check_bulk("{ orders { edges { node { id } } } }"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn rejects_mutations_with_shopifys_message() {
        assert_eq!(
            one("mutation { tagsAdd(id: \"x\", tags: []) { node { id } } }"),
            "Invalid operation type. Only `query` operations are supported."
        );
        assert_eq!(one("subscription { x { id } }"), ONLY_QUERY);
    }

    #[test]
    fn rejects_nodes_selection_naming_the_connection() {
        assert_eq!(
            one("{ orders { nodes { id } } }"),
            "All connection fields in a bulk query must select their contents using 'edges' > \
             'node', e.g: 'orders { edges { node {'. Selecting via 'nodes' is not supported. \
             Invalid connection fields: 'orders'."
        );
    }

    #[test]
    fn rejects_top_level_node_and_no_connection() {
        let problems = check_bulk("{ node(id: \"gid://shopify/Order/1\") { id } }");
        assert_eq!(
            problems,
            [
                "Bulk queries cannot contain a top level `node` field.",
                "Bulk queries must contain at least one connection."
            ]
        );
        assert_eq!(
            one("{ shop { name } }"),
            "Bulk queries must contain at least one connection."
        );
    }

    #[test]
    fn rejects_depth_three_and_six_connections() {
        let deep = "{ a { edges { node { id b { edges { node { id c { edges { node { id } } } } } } } } } }";
        assert_eq!(
            one(deep),
            "Bulk queries cannot contain connections with a nesting depth greater than 2."
        );
        let wide = "{ a { edges { node { id \
                      b { edges { node { id } } } c { edges { node { id } } } \
                      d { edges { node { id } } } e { edges { node { id } } } \
                      f { edges { node { id } } } } } } }";
        assert_eq!(
            one(wide),
            "Bulk queries cannot contain more than 5 connections."
        );
    }

    #[test]
    fn rejects_a_nested_connection_whose_parent_node_lacks_id() {
        let aliased =
            "{ products { edges { node { key: id variants { edges { node { id } } } } } } }";
        assert_eq!(
            one(aliased),
            "The parent 'node' field for a nested connection must select the 'id' field without \
             an alias and must be of 'ID' return type. Connection fields without 'id': products."
        );
    }

    #[test]
    fn reports_parse_errors_and_several_operations() {
        let p = one("{ orders { edges { node { id } }");
        assert!(p.starts_with("not a valid GraphQL document: "), "{p}");
        assert_eq!(
            one("query A { a { edges { node { id } } } } query B { b { edges { node { id } } } }"),
            "the document must contain exactly one operation, found 2"
        );
    }

    #[test]
    fn rejects_variables_and_finds_the_root_query_argument() {
        assert_eq!(
            one("query($q: String) { orders(query: $q) { edges { node { id } } } }"),
            "a bulk query takes no variables (it is sent as one string): write the values in \
             place of $q"
        );
        assert_eq!(
            bulk_root_has_query_argument("{ orders(query: \"a\") { edges { node { id } } } }"),
            Some(true)
        );
        assert_eq!(
            bulk_root_has_query_argument("{ orders { edges { node { id } } } }"),
            Some(false)
        );
    }

    #[test]
    fn a_paged_query_keeping_the_contract_names_its_root() {
        let q = "query($first: Int!, $after: String, $query: String) { \
                 list: draftOrders(first: $first, after: $after, query: $query) { \
                 pageInfo { hasNextPage endCursor } nodes { id } } }";
        assert_eq!(paged_root(q), Ok("list".to_owned()));
        let q = "query($first: Int!, $after: String, $query: String) { \
                 orders(first: $first, after: $after, query: $query, sortKey: ID) { \
                 pageInfo { hasNextPage endCursor } edges { node { id } } } }";
        assert_eq!(check_paged(q), Vec::<String>::new());
    }

    #[test]
    fn a_paged_query_missing_parts_reports_each() {
        let q = "query($first: Int!) { orders(first: $first) { pageInfo { hasNextPage } edges { cursor } } }";
        assert_eq!(
            check_paged(q),
            [
                "the query must declare the variable `$after`",
                "the query must declare the variable `$query`",
                "the root field `orders` must take `after: $after`",
                "the root field `orders` must take `query: $query`",
                "the root field `orders` must select `pageInfo { hasNextPage endCursor }`: \
                 `endCursor` is missing",
                "the root field `orders` must select its records with `edges { node { … } }` or \
                 `nodes { … }`",
            ]
        );
        assert_eq!(
            check_paged("query($first: Int, $after: String, $query: String) { a { id } b { id } }")
                .last()
                .map(String::as_str),
            Some("the query must have exactly one root field (a connection), found 2")
        );
    }
}
