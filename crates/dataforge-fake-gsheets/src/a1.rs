//! A1 notation: parsing requested ranges and printing resolved ones.

/// `0 → "A"`, `25 → "Z"`, `26 → "AA"`.
pub(crate) fn column_name(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// `"A" → 0`, `"AA" → 26`.
fn column_index(letters: &str) -> Option<u32> {
    let mut n: u64 = 0;
    for c in letters.chars() {
        let d = c.to_ascii_uppercase() as u64;
        if !(b'A' as u64..=b'Z' as u64).contains(&d) {
            return None;
        }
        n = n * 26 + (d - b'A' as u64 + 1);
        if n > 18_278 {
            return None; // beyond ZZZ
        }
    }
    (n > 0).then(|| (n - 1) as u32)
}

/// A sheet title as it appears in a range: quoted (`'My Sheet'`, quotes doubled) unless it is
/// made of ASCII letters, digits and `_` and does not start with a digit.
pub(crate) fn quote_title(title: &str) -> String {
    let plain = !title.is_empty()
        && title.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !title.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        title.to_owned()
    } else {
        format!("'{}'", title.replace('\'', "''"))
    }
}

/// One side of a range: optional column, optional row (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Corner {
    col: Option<u32>,
    row: Option<u64>,
}

fn parse_corner(s: &str) -> Option<Corner> {
    let s = s.trim().replace('$', "");
    let split = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
    let (letters, digits) = s.split_at(split);
    if letters.is_empty() && digits.is_empty() {
        return None;
    }
    let col = if letters.is_empty() {
        None
    } else {
        Some(column_index(letters)?)
    };
    let row = if digits.is_empty() {
        None
    } else {
        let r: u64 = digits.parse().ok()?;
        if r == 0 {
            return None;
        }
        Some(r)
    };
    Some(Corner { col, row })
}

/// The cell part of a range, still open where the request left it open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cells {
    start: Corner,
    end: Corner,
}

/// A parsed request: which sheet (by title, `None` = the first tab) and which cells
/// (`None` = the whole tab).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requested {
    pub(crate) sheet: Option<String>,
    pub(crate) cells: Option<Cells>,
}

/// Parses the cell part (`A1`, `A1:D5`, `A:C`, `2:5`, `A2:C`).
pub(crate) fn parse_cells(s: &str) -> Option<Cells> {
    let (a, b) = match s.split_once(':') {
        Some((a, b)) => (parse_corner(a)?, parse_corner(b)?),
        None => {
            let c = parse_corner(s)?;
            // a single reference must be a cell (A1), not a bare column or row
            if c.col.is_none() || c.row.is_none() {
                return None;
            }
            (c, c)
        }
    };
    // `A:5`-style mixes are not A1
    if a.col.is_none() != b.col.is_none() && a.row.is_none() != b.row.is_none() {
        return None;
    }
    if a.col.is_none() && b.col.is_none() && (a.row.is_none() || b.row.is_none()) {
        return None;
    }
    Some(Cells { start: a, end: b })
}

/// Parses a whole range. `titles` lets a bare word that names a tab mean that tab.
pub(crate) fn parse(range: &str, titles: &[&str]) -> Option<Requested> {
    let range = range.trim();
    if range.is_empty() {
        return None;
    }
    if let Some(rest) = range.strip_prefix('\'') {
        // quoted title: '' is an escaped quote
        let mut title = String::new();
        let mut chars = rest.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    title.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                title.push(c);
            }
        }
        let after = &rest[end?..];
        if after.is_empty() {
            return Some(Requested {
                sheet: Some(title),
                cells: None,
            });
        }
        let cells = after.strip_prefix('!')?;
        return Some(Requested {
            sheet: Some(title),
            cells: Some(parse_cells(cells)?),
        });
    }
    if let Some((title, cells)) = range.rsplit_once('!') {
        return Some(Requested {
            sheet: Some(title.to_owned()),
            cells: Some(parse_cells(cells)?),
        });
    }
    if titles.contains(&range) {
        return Some(Requested {
            sheet: Some(range.to_owned()),
            cells: None,
        });
    }
    Some(Requested {
        sheet: None,
        cells: Some(parse_cells(range)?),
    })
}

/// A resolved rectangle, 0-based and inclusive, clipped to the grid; `None` when the request
/// lies wholly outside the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rect {
    pub(crate) row0: u64,
    pub(crate) row1: u64,
    pub(crate) col0: u32,
    pub(crate) col1: u32,
}

impl Rect {
    pub(crate) fn rows(&self) -> u64 {
        self.row1 - self.row0 + 1
    }
}

/// Resolves the cells of a request against a grid of `rows` × `cols`. Returns the rectangle to
/// read (`None` if outside the grid) and the A1 text of the range to echo (without the title).
pub(crate) fn resolve(cells: Option<Cells>, rows: u64, cols: u32) -> (Option<Rect>, String) {
    let rows = rows.max(1);
    let cols = cols.max(1);
    let (c0, c1, r0, r1) = match cells {
        None => (0, cols - 1, 1, rows),
        Some(Cells { start, end }) => {
            let (ca, cb) = (start.col.unwrap_or(0), end.col.unwrap_or(cols - 1));
            let (ra, rb) = (start.row.unwrap_or(1), end.row.unwrap_or(rows));
            (ca.min(cb), ca.max(cb), ra.min(rb), ra.max(rb))
        }
    };
    if r0 > rows || c0 >= cols {
        // outside the grid: echo the request as given, no data
        let text = format!("{}{}:{}{}", column_name(c0), r0, column_name(c1), r1);
        return (None, text);
    }
    let (r1, c1) = (r1.min(rows), c1.min(cols - 1));
    let text = if r0 == r1 && c0 == c1 {
        format!("{}{}", column_name(c0), r0)
    } else {
        format!("{}{}:{}{}", column_name(c0), r0, column_name(c1), r1)
    };
    (
        Some(Rect {
            row0: r0 - 1,
            row1: r1 - 1,
            col0: c0,
            col1: c1,
        }),
        text,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn columns() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
        assert_eq!(column_index("AA"), Some(26));
        assert_eq!(column_index("zz"), Some(701));
    }

    #[test]
    fn parses_and_resolves() {
        let t = ["Sheet1", "My Sheet"];
        let r = parse("'My Sheet'!A:C", &t).unwrap();
        assert_eq!(r.sheet.as_deref(), Some("My Sheet"));
        assert_eq!(resolve(r.cells, 10, 5).1, "A1:C10");
        let r = parse("Sheet1!A2:C", &t).unwrap();
        assert_eq!(resolve(r.cells, 10, 5).1, "A2:C10");
        let r = parse("Sheet1", &t).unwrap();
        assert_eq!((r.sheet.as_deref(), r.cells), (Some("Sheet1"), None));
        let r = parse("A1:B2", &t).unwrap();
        assert_eq!(r.sheet, None);
        let r = parse("'It''s'!B3", &t).unwrap();
        assert_eq!(r.sheet.as_deref(), Some("It's"));
        assert_eq!(resolve(r.cells, 10, 5).1, "B3");
        assert_eq!(resolve(parse("2:4", &t).unwrap().cells, 10, 5).1, "A2:E4");
        assert_eq!(
            resolve(parse("A1:Z99", &t).unwrap().cells, 10, 5).1,
            "A1:E10"
        );
        assert!(parse("Sheet1!", &t).is_none());
        assert!(parse("Sheet1!A", &t).is_none());
        assert!(parse("Sheet1!A0:B2", &t).is_none());
        assert!(parse("NOPE", &t).is_none());
        assert_eq!(quote_title("My Sheet"), "'My Sheet'");
        assert_eq!(quote_title("Sheet1"), "Sheet1");
    }
}
