//! Python literals for the DAG files: every value taken from a pipeline file or the command
//! line is written as a literal, so no name, description or path can become code.

use dataforge_core::chrono::{DateTime, Datelike, Timelike, Utc};

/// A Python `str` literal for `s`.
///
/// A JSON string literal is a Python string literal with the same value: both escape `"` and
/// `\` with a backslash and control characters as `\n`, `\t`, `\uXXXX`, and Python reads
/// every other character (any Unicode, in a UTF-8 source file) as itself. serde_json writes
/// exactly those escapes, and a Rust `str` holds no lone surrogate that could not be written.
pub fn string(s: &str) -> String {
    // Serialising a `str` to JSON cannot fail (no map keys, no I/O, no custom Serialize).
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// A Python `list` of `str` literals.
pub fn string_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|s| string(s.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// `True` or `False`.
pub fn boolean(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// A literal or `None`.
pub fn optional<T>(value: Option<T>, literal: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "None".to_owned(), literal)
}

/// A time-zone-aware `datetime.datetime` in UTC (the module must `import datetime`), to the
/// microsecond (Python's precision).
pub fn datetime_utc(d: DateTime<Utc>) -> String {
    format!(
        "datetime.datetime({}, {}, {}, {}, {}, {}, {}, tzinfo=datetime.timezone.utc)",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.nanosecond().min(999_999_999) / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataforge_core::chrono::TimeZone;

    /// Strings that would break out of a naive literal or a comment.
    pub(crate) const HOSTILE: &[&str] = &[
        "plain",
        "it's \"quoted\"",
        "back\\slash\\",
        "\\\"); import os; os.system('touch /tmp/pwned'); (\"",
        "'''; import os #",
        "\"\"\"",
        "line\nbreak\r\n\ttab",
        "nul\u{0}byte and \u{7f} delete",
        "unicode é ☃ \u{2028} \u{1F600}",
        "\\N{BULLET} \\x41 \\u0041",
        "{{ dag_run.conf }} {% raw %}",
        "",
    ];

    #[test]
    fn python_reads_every_string_back_as_it_was() {
        let source = format!("values = {}\n", string_list(HOSTILE));
        let expected = serde_json::to_string(HOSTILE).expect("json");
        // Python parses the literal and prints it as JSON: the same strings must come back.
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import ast, json, sys\n\
                 tree = ast.parse(sys.stdin.read())\n\
                 assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)\n\
                 print(json.dumps(ast.literal_eval(tree.body[0].value)))",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("piped stdin")
                    .write_all(source.as_bytes())?;
                child.wait_with_output()
            })
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back: Vec<String> = serde_json::from_slice(&out.stdout).expect("json");
        let expected: Vec<String> = serde_json::from_str(&expected).expect("json");
        assert_eq!(back, expected);
    }

    #[test]
    fn datetimes_booleans_and_none() {
        let d = Utc
            .with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
            .single()
            .expect("valid");
        assert_eq!(
            datetime_utc(d),
            "datetime.datetime(2025, 1, 2, 3, 4, 5, 0, tzinfo=datetime.timezone.utc)"
        );
        assert_eq!(boolean(true), "True");
        assert_eq!(optional(None::<&str>, string), "None");
        assert_eq!(optional(Some("x"), string), "\"x\"");
    }
}
