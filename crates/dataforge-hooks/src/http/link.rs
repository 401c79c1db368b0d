//! RFC 8288 `Link` headers: `<https://…>; rel="next", <https://…>; rel="previous"`.

/// One link of a `Link` header: its target and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkValue {
    /// The target URI, verbatim (Shopify's cursors must be followed as given).
    pub uri: String,
    /// The relation types of `rel`, lower-cased (`rel="next last"` gives two).
    pub rels: Vec<String>,
    /// The other parameters, names lower-cased, values unquoted.
    pub params: Vec<(String, String)>,
}

impl LinkValue {
    /// True when `rel` names `relation` (case-insensitive).
    pub fn has_rel(&self, relation: &str) -> bool {
        self.rels.iter().any(|r| r.eq_ignore_ascii_case(relation))
    }
}

/// Parses one `Link` header value into its links. Malformed links are skipped, not errors: a
/// server's bad header must not stop a run that can still read the good ones.
pub fn parse_link_header(value: &str) -> Vec<LinkValue> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            break;
        }
        let Some(after_lt) = rest.strip_prefix('<') else {
            // Not a link: skip to the next top-level comma.
            rest = skip_to_comma(rest);
            continue;
        };
        let Some(end) = after_lt.find('>') else {
            break;
        };
        let uri = after_lt[..end].trim().to_owned();
        rest = &after_lt[end + 1..];
        let mut rels = Vec::new();
        let mut params = Vec::new();
        // Parameters: `; name=value` or `; name="quoted, value"`, up to a top-level comma.
        loop {
            rest = rest.trim_start();
            let Some(after_semi) = rest.strip_prefix(';') else {
                break;
            };
            let (param, after) = parse_param(after_semi);
            rest = after;
            if let Some((name, value)) = param {
                if name == "rel" {
                    if rels.is_empty() {
                        rels = value
                            .split_whitespace()
                            .map(str::to_ascii_lowercase)
                            .collect();
                    }
                } else {
                    params.push((name, value));
                }
            }
        }
        links.push(LinkValue { uri, rels, params });
        rest = skip_to_comma(rest);
    }
    links
}

/// The target of the first `rel="next"` link among `Link` header values.
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values
        .into_iter()
        .flat_map(parse_link_header)
        .find(|link| link.has_rel("next"))
        .map(|link| link.uri)
}

/// Parses ` name = value` or ` name="value"` after a `;`; returns the rest at the next `;` or
/// `,` (outside quotes).
fn parse_param(s: &str) -> (Option<(String, String)>, &str) {
    let s = s.trim_start();
    let name_end = s.find(['=', ';', ',']).unwrap_or(s.len());
    let name = s[..name_end].trim().to_ascii_lowercase();
    let rest = &s[name_end..];
    let Some(after_eq) = rest.strip_prefix('=') else {
        // A parameter without a value (`; crossorigin`).
        return ((!name.is_empty()).then(|| (name, String::new())), rest);
    };
    let after_eq = after_eq.trim_start();
    if let Some(quoted) = after_eq.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (Some((name, value)), &quoted[i + 1..]),
                c => value.push(c),
            }
        }
        // Unterminated quote: take what there is.
        (Some((name, value)), "")
    } else {
        let end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
        (
            Some((name, after_eq[..end].trim().to_owned())),
            &after_eq[end..],
        )
    }
}

/// The text after the next comma that is outside quotes (empty when none).
fn skip_to_comma(s: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => return &s[i + 1..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = "https://shop.myshopify.com/admin/api/2026-07/orders.json";

    #[test]
    fn shopify_previous_before_next() {
        let header = format!(
            "<{SHOP}?limit=50&page_info=prev123>; rel=\"previous\", <{SHOP}?limit=50&page_info=next456>; rel=\"next\""
        );
        assert_eq!(
            next_link([header.as_str()]),
            Some(format!("{SHOP}?limit=50&page_info=next456"))
        );
        let links = parse_link_header(&header);
        assert_eq!(links.len(), 2);
        assert!(links[0].has_rel("previous"));
    }

    #[test]
    fn next_only_unquoted_and_case() {
        assert_eq!(
            next_link(["<https://a.example/p2>; rel=next"]),
            Some("https://a.example/p2".into())
        );
        assert_eq!(
            next_link(["<https://a.example/p2>; REL=\"Next\""]),
            Some("https://a.example/p2".into())
        );
        assert_eq!(next_link(["<https://a.example/p0>; rel=\"prev\""]), None);
        assert_eq!(next_link([""]), None);
    }

    #[test]
    fn several_rels_params_and_whitespace() {
        let header = "  < https://a.example/last > ;  rel = \"next last\" ; title=\"a, b; c\" ,\t<https://a.example/first>;rel=\"first\";anchor";
        let links = parse_link_header(header);
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].uri, "https://a.example/last");
        assert_eq!(links[0].rels, ["next", "last"]);
        assert_eq!(links[0].params, [("title".into(), "a, b; c".into())]);
        assert_eq!(links[1].uri, "https://a.example/first");
        assert_eq!(links[1].params, [("anchor".into(), String::new())]);
        assert_eq!(next_link([header]), Some("https://a.example/last".into()));
    }

    #[test]
    fn commas_in_uri_and_several_header_values() {
        let values = [
            "<https://a.example/p?ids=1,2>; rel=\"previous\"",
            "<https://a.example/p?ids=3,4>; rel=\"next\"",
        ];
        assert_eq!(
            next_link(values),
            Some("https://a.example/p?ids=3,4".into())
        );
    }

    #[test]
    fn malformed_is_skipped() {
        assert_eq!(
            next_link(["garbage, <https://a.example/n>; rel=\"next\""]),
            Some("https://a.example/n".into())
        );
        assert_eq!(next_link(["<https://a.example/n; rel=\"next\""]), None);
    }
}
