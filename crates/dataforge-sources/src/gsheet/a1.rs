//! A1 notation: parsing and formatting the ranges users write (`Orders!A1:H`,
//! `'My Sheet'!A:C`, `Sheet1`, `A2:C10`), and column letters ↔ numbers.
//!
//! Forms accepted (letters in either case; the sheet part optional):
//! - `Sheet1` or `'My Sheet'`: the whole tab. A bare name that reads as cells (`A1`, `B2:C3`)
//!   is cells on the first tab: a tab called `A1` is written `'A1'`.
//! - `A1:H10` (a box), `A5:H` (from row 5 to the tab's last row), `A:H` (whole columns),
//!   `2:10` (whole rows), `B3` (one cell). A reversed box (`C10:A1`) is put in order, as
//!   Sheets does.
//! - Sheet names are quoted with `'`, a `'` inside doubled (`'It''s'!A1`); only a bare tab
//!   name (no `!`) may hold an unquoted `'` (`It's`). Produced ranges
//!   always quote the name (`'It''s'!A1:C1`), which Sheets accepts for every name.
//!
//! Not accepted: named ranges, R1C1 notation, and `A:C5`-style ranges whose end names a row
//! that the start does not.

use std::fmt;

use super::error::A1Error;

/// Sheets' last column: `ZZZ`.
pub(crate) const MAX_COLUMN: u32 = 18_278;

/// The highest row number accepted: Sheets holds at most 10 million cells per spreadsheet.
pub(crate) const MAX_ROW: u32 = 10_000_000;

/// A parsed A1 range: an optional tab and an optional area (none = the whole tab).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct A1Range {
    /// The tab's title; `None` = the first (visible) tab.
    pub(crate) sheet: Option<String>,
    /// The cells; `None` = the whole tab.
    pub(crate) area: Option<Area>,
}

/// The cells of a range: columns and rows, 1-based and inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Area {
    /// First and last column; `None` = every column (then `rows` is a [`Rows::Span`]).
    pub(crate) columns: Option<(u32, u32)>,
    /// The rows.
    pub(crate) rows: Rows,
}

/// The rows of an [`Area`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Rows {
    /// Every row (`A:C`).
    All,
    /// From this row to the tab's last (`A5:C`).
    From(u32),
    /// From the first to the last, inclusive (`A1:C10`, `2:10`).
    Span(u32, u32),
}

impl Rows {
    /// The first row.
    pub(crate) fn first(self) -> u32 {
        match self {
            Rows::All => 1,
            Rows::From(r) | Rows::Span(r, _) => r,
        }
    }

    /// The last row, when the range says.
    pub(crate) fn last(self) -> Option<u32> {
        match self {
            Rows::Span(_, r) => Some(r),
            Rows::All | Rows::From(_) => None,
        }
    }
}

/// The number of column `letters` (`A` = 1, `Z` = 26, `AA` = 27, `ZZZ` = 18278), any case;
/// `None` when they are not letters or name a column beyond [`MAX_COLUMN`].
pub(crate) fn column_number(letters: &str) -> Option<u32> {
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let mut n: u32 = 0;
    for b in letters.bytes() {
        if !b.is_ascii_alphabetic() {
            return None;
        }
        n = n * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1;
    }
    (n <= MAX_COLUMN).then_some(n)
}

/// The letters of column `n` (1 = `A`, 27 = `AA`); `n` = 0 gives the empty string.
pub(crate) fn column_letters(mut n: u32) -> String {
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        // `rem` < 26, so the byte is an ASCII capital.
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

/// Writes `title` quoted for A1 notation: `'It''s'`.
pub(crate) fn quote_sheet(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// One end of a cell reference: its column and its row, each optional.
#[derive(Clone, Copy, Debug)]
struct End {
    column: Option<u32>,
    row: Option<u32>,
}

/// Parses one end (`A1`, `A`, `12`); `None` when it is not one.
fn parse_end(text: &str) -> Result<Option<End>, A1Error> {
    let split = text
        .bytes()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (letters, digits) = text.split_at(split);
    if (letters.is_empty() && digits.is_empty()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let column = if letters.is_empty() {
        None
    } else {
        match column_number(letters) {
            Some(c) => Some(c),
            None => {
                return Err(A1Error::ColumnOutOfRange {
                    letters: letters.to_owned(),
                });
            }
        }
    };
    let row = if digits.is_empty() {
        None
    } else {
        match digits.parse::<u32>() {
            Ok(r) if (1..=MAX_ROW).contains(&r) => Some(r),
            _ => {
                return Err(A1Error::RowOutOfRange {
                    row: digits.to_owned(),
                });
            }
        }
    };
    Ok(Some(End { column, row }))
}

/// Parses the cells part (`A1:C10`, `A:C`, `2:5`, `B3`); `Ok(None)` when `text` does not look
/// like cells at all, an error when it does but is not a valid range.
fn parse_area(text: &str) -> Result<Option<Area>, A1Error> {
    let bad = || A1Error::BadCells {
        cells: text.to_owned(),
    };
    let (a, b) = match text.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let Some(start) = parse_end(a)? else {
        return Ok(None);
    };
    let Some(b) = b else {
        // One cell: both a column and a row.
        return match (start.column, start.row) {
            (Some(c), Some(r)) => Ok(Some(Area {
                columns: Some((c, c)),
                rows: Rows::Span(r, r),
            })),
            _ => Ok(None),
        };
    };
    let Some(end) = parse_end(b)? else {
        return Err(bad());
    };
    let order = |x: u32, y: u32| (x.min(y), x.max(y));
    let area = match (start.column, start.row, end.column, end.row) {
        (Some(c1), Some(r1), Some(c2), Some(r2)) => {
            let (r1, r2) = order(r1, r2);
            Area {
                columns: Some(order(c1, c2)),
                rows: Rows::Span(r1, r2),
            }
        }
        (Some(c1), Some(r1), Some(c2), None) => Area {
            columns: Some(order(c1, c2)),
            rows: Rows::From(r1),
        },
        (Some(c1), None, Some(c2), None) => Area {
            columns: Some(order(c1, c2)),
            rows: Rows::All,
        },
        (None, Some(r1), None, Some(r2)) => {
            let (r1, r2) = order(r1, r2);
            Area {
                columns: None,
                rows: Rows::Span(r1, r2),
            }
        }
        _ => return Err(bad()),
    };
    Ok(Some(area))
}

/// Parses a quoted sheet name at the start of `text` (which starts with `'`): the name and
/// what follows the closing quote.
fn parse_quoted(text: &str) -> Result<(String, &str), A1Error> {
    let mut name = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some((_, '\'')) = chars.peek() {
                chars.next();
                name.push('\'');
                continue;
            }
            return Ok((name, &text[i + 1..]));
        }
        name.push(c);
    }
    Err(A1Error::UnclosedQuote)
}

/// Parses a range in A1 notation (surrounding spaces ignored).
///
/// # Errors
/// What is wrong with the text, in words for a config error.
pub(crate) fn parse(text: &str) -> Result<A1Range, A1Error> {
    let text = text.trim();
    if text.is_empty() {
        return Err(A1Error::Empty);
    }
    let (sheet, cells) = if text.starts_with('\'') {
        let (name, rest) = parse_quoted(text)?;
        let cells = match rest.strip_prefix('!') {
            Some(cells) => Some(cells),
            None if rest.is_empty() => None,
            None => {
                return Err(A1Error::AfterQuote {
                    rest: rest.to_owned(),
                });
            }
        };
        (Some(name), cells)
    } else if let Some((name, cells)) = text.split_once('!') {
        (Some(name.to_owned()), Some(cells))
    } else {
        // Text that reads as cells is cells on the first tab; anything else (`Sheet1`,
        // `ZZZZ1`) names a tab.
        match parse_area(text) {
            Ok(Some(area)) => {
                return Ok(A1Range {
                    sheet: None,
                    area: Some(area),
                });
            }
            Ok(None) | Err(_) => (Some(text.to_owned()), None),
        }
    };
    let sheet = match sheet {
        Some(name) if name.trim().is_empty() => return Err(A1Error::EmptySheet),
        // A bare tab name (no `!`) is the whole text, `'` and all; before `!` a `'` must be
        // quoted, as Sheets requires.
        Some(name) if cells.is_some() && name.contains('\'') && !text.starts_with('\'') => {
            return Err(A1Error::UnquotedQuote { name });
        }
        other => other,
    };
    let area = match cells {
        None => None,
        Some(cells) => match parse_area(cells)? {
            Some(area) => Some(area),
            None => {
                return Err(A1Error::BadCells {
                    cells: cells.to_owned(),
                });
            }
        },
    };
    Ok(A1Range { sheet, area })
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.columns, self.rows) {
            (Some((c1, c2)), Rows::Span(r1, r2)) if c1 == c2 && r1 == r2 => {
                write!(f, "{}{r1}", column_letters(c1))
            }
            (Some((c1, c2)), Rows::Span(r1, r2)) => {
                write!(f, "{}{r1}:{}{r2}", column_letters(c1), column_letters(c2))
            }
            (Some((c1, c2)), Rows::From(r1)) => {
                write!(f, "{}{r1}:{}", column_letters(c1), column_letters(c2))
            }
            (Some((c1, c2)), Rows::All) => {
                write!(f, "{}:{}", column_letters(c1), column_letters(c2))
            }
            (None, rows) => {
                // Without columns the rows are a span (the parser makes no other); an
                // open end is written as the first row only, as far as A1 can say it.
                let first = rows.first();
                write!(f, "{first}:{}", rows.last().unwrap_or(first))
            }
        }
    }
}

/// Writes the normalised form: the sheet quoted, letters upper-case, ends in order.
impl fmt::Display for A1Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.sheet, &self.area) {
            (Some(sheet), Some(area)) => write!(f, "{}!{area}", quote_sheet(sheet)),
            (Some(sheet), None) => f.write_str(&quote_sheet(sheet)),
            (None, Some(area)) => write!(f, "{area}"),
            // The parser gives no range without both; a whole first tab has no A1 spelling
            // but "every row" of it.
            (None, None) => write!(f, "1:{MAX_ROW}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(text: &str) -> String {
        match parse(text) {
            Ok(r) => r.to_string(),
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn column_letters_and_numbers() {
        for (letters, n) in [
            ("A", 1),
            ("Z", 26),
            ("AA", 27),
            ("AZ", 52),
            ("BA", 53),
            ("ZZ", 702),
            ("AAA", 703),
            ("XFD", 16_384),
            ("ZZZ", 18_278),
        ] {
            assert_eq!(column_number(letters), Some(n), "{letters}");
            assert_eq!(column_letters(n), letters);
        }
        assert_eq!(column_number("xfd"), Some(16_384));
        assert_eq!(column_number("AAAA"), None);
        assert_eq!(column_number(""), None);
        assert_eq!(column_number("A1"), None);
        assert_eq!(column_letters(0), "");
    }

    #[test]
    fn parses_the_forms_users_write() {
        let r = parse("Orders!A1:H").expect("valid");
        assert_eq!(r.sheet.as_deref(), Some("Orders"));
        assert_eq!(
            r.area,
            Some(Area {
                columns: Some((1, 8)),
                rows: Rows::From(1)
            })
        );
        let r = parse("'My Sheet'!A:C").expect("valid");
        assert_eq!(r.sheet.as_deref(), Some("My Sheet"));
        assert_eq!(
            r.area,
            Some(Area {
                columns: Some((1, 3)),
                rows: Rows::All
            })
        );
        let r = parse("Sheet1").expect("valid");
        assert_eq!((r.sheet.as_deref(), r.area), (Some("Sheet1"), None));
        let r = parse("A2:C10").expect("valid");
        assert_eq!(r.sheet, None);
        assert_eq!(
            r.area,
            Some(Area {
                columns: Some((1, 3)),
                rows: Rows::Span(2, 10)
            })
        );
        let r = parse("'It''s'!b3").expect("valid");
        assert_eq!(r.sheet.as_deref(), Some("It's"));
        assert_eq!(
            r.area,
            Some(Area {
                columns: Some((2, 2)),
                rows: Rows::Span(3, 3)
            })
        );
        let r = parse("'A1'").expect("a tab called A1");
        assert_eq!((r.sheet.as_deref(), r.area), (Some("A1"), None));
        let r = parse("Data!2:5").expect("rows");
        assert_eq!(
            r.area,
            Some(Area {
                columns: None,
                rows: Rows::Span(2, 5)
            })
        );
    }

    #[test]
    fn formats_normalised() {
        assert_eq!(norm("Orders!A1:H"), "'Orders'!A1:H");
        assert_eq!(norm(" orders!a5:c "), "'orders'!A5:C");
        assert_eq!(norm("'My Sheet'!A:A"), "'My Sheet'!A:A");
        assert_eq!(norm("It's"), "'It''s'");
        assert_eq!(norm("C10:A1"), "A1:C10");
        assert_eq!(norm("B3:B3"), "B3");
        assert_eq!(norm("Sheet1!5:2"), "'Sheet1'!2:5");
        assert_eq!(norm("'It''s'!A1:C1"), "'It''s'!A1:C1");
    }

    #[test]
    fn rejects_bad_text() {
        for (text, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("Sheet1!", "cells"),
            ("Sheet1!A1:", "cells"),
            ("Sheet1!A:C5", "cells"),
            ("Sheet1!A1:5", "cells"),
            ("Sheet1!A1B", "cells"),
            ("Sheet1!AAAA1", "ZZZ"),
            ("Sheet1!A0", "row"),
            ("Sheet1!A99999999999", "row"),
            ("'Sheet1!A1", "quote"),
            ("'Sheet1'A1", "after the quoted"),
            ("!A1", "sheet name"),
            ("''!A1", "sheet name"),
            ("It's!A1", "quote"),
        ] {
            match parse(text) {
                Ok(r) => panic!("{text:?} parsed as {r:?}"),
                Err(e) => assert!(e.to_string().contains(needle), "{text:?}: {e}"),
            }
        }
    }

    fn area() -> impl Strategy<Value = Area> {
        let col = 1..=MAX_COLUMN;
        let row = 1..=MAX_ROW;
        prop_oneof![
            (col.clone(), col.clone(), row.clone(), row.clone()).prop_map(|(a, b, c, d)| Area {
                columns: Some((a.min(b), a.max(b))),
                rows: Rows::Span(c.min(d), c.max(d)),
            }),
            (col.clone(), col.clone(), row.clone()).prop_map(|(a, b, r)| Area {
                columns: Some((a.min(b), a.max(b))),
                rows: Rows::From(r),
            }),
            (col.clone(), col).prop_map(|(a, b)| Area {
                columns: Some((a.min(b), a.max(b))),
                rows: Rows::All,
            }),
            (row.clone(), row).prop_map(|(a, b)| Area {
                columns: None,
                rows: Rows::Span(a.min(b), a.max(b)),
            }),
        ]
    }

    proptest! {
        #[test]
        fn letters_round_trip(n in 1..=MAX_COLUMN) {
            let letters = column_letters(n);
            prop_assert_eq!(column_number(&letters), Some(n));
            prop_assert_eq!(column_number(&letters.to_lowercase()), Some(n));
        }

        #[test]
        fn a1_round_trip(
            sheet in proptest::option::of("[A-Za-z0-9 '_!:.-]{1,12}"),
            area in proptest::option::of(area()),
            lower in any::<bool>(),
        ) {
            prop_assume!(sheet.as_ref().is_none_or(|s| !s.trim().is_empty()));
            prop_assume!(sheet.is_some() || area.is_some());
            let range = A1Range { sheet, area };
            let text = range.to_string();
            let input = if lower { text.to_lowercase() } else { text.clone() };
            let parsed = parse(&input);
            prop_assert!(parsed.is_ok(), "{input}: {parsed:?}");
            let parsed = parsed.unwrap_or_else(|_| range.clone());
            if lower {
                // Cells are case-blind; the sheet name keeps the case it was written in.
                prop_assert_eq!(parsed.area, range.area);
            } else {
                prop_assert_eq!(&parsed, &range);
                prop_assert_eq!(parsed.to_string(), text);
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,30}") {
            let _ = parse(&text);
        }
    }
}
