//! Tables written as text: delimited rows (`name,dob,phone`, `| Name | DOB |`, tab- or
//! semicolon-separated) and columns padded with runs of spaces, as reports and extracted
//! PDFs lay them out. A value under a header cell such as `DOB` or `姓名` takes its
//! meaning from that header; this module finds the header cell above a byte of text.
//!
//! Hand-written: CSV crates parse whole documents of one known dialect, while here a
//! free-text field may hold a table of any delimiter, a single row of one, or none.

/// Characters that separate cells.
pub(crate) const DELIMITERS: [char; 6] = [',', '\t', '|', ';', '，', '｜'];

/// How a line splits into cells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Delim {
    Char(char),
    /// Two or more spaces, or an ideographic space, between cells.
    Spaces,
}

/// The cells of `line` as byte ranges, each trimmed of spaces, quotes and `\r`; empty
/// cells (the outer bars of `| a | b |`) are kept, so that columns count the same in
/// every row. A `Char` delimiter inside double quotes does not split.
pub(crate) fn cells(line: &str, delim: Delim) -> Vec<(usize, usize)> {
    let mut raw: Vec<(usize, usize)> = Vec::new();
    match delim {
        Delim::Char(d) => {
            let mut start = 0;
            let mut quoted = false;
            for (i, c) in line.char_indices() {
                if c == '"' {
                    quoted = !quoted;
                } else if c == d && !quoted {
                    raw.push((start, i));
                    start = i + c.len_utf8();
                }
            }
            raw.push((start, line.len()));
        }
        Delim::Spaces => {
            // A gap is two or more spaces or an ideographic space; single spaces stay
            // inside a cell ("Ann Lee", "March 5, 1990").
            let mut start = 0;
            let mut gap: Option<(usize, usize)> = None; // (from, spaces)
            for (i, c) in line.char_indices() {
                match c {
                    ' ' => gap = Some(gap.map_or((i, 1), |(f, n)| (f, n + 1))),
                    '\u{3000}' => gap = Some(gap.map_or((i, 2), |(f, n)| (f, n + 2))),
                    _ => {
                        if let Some((f, n)) = gap.take() {
                            if n >= 2 {
                                if f > start {
                                    raw.push((start, f));
                                }
                                start = i;
                            }
                        }
                    }
                }
            }
            if start < line.len() {
                raw.push((start, line.len()));
            }
        }
    }
    raw.into_iter()
        .map(|(s, e)| {
            let cell = &line[s..e];
            let lead = cell.len() - cell.trim_start_matches([' ', '"', '\'']).len();
            let trimmed = cell.trim_matches([' ', '"', '\'', '\r']);
            (s + lead, s + lead + trimmed.len())
        })
        .collect()
}

/// The delimiter that splits both a header line and a row into two or more cells: a
/// delimiting character both hold, else runs of spaces.
pub(crate) fn shared_delim(header: &str, row: &str) -> Option<Delim> {
    let padded = |l: &str| l.contains("  ") || l.contains('\u{3000}');
    DELIMITERS
        .into_iter()
        .filter(|&d| header.contains(d) && row.contains(d))
        .map(Delim::Char)
        .find(|&d| cells(header, d).len() >= 2 && cells(row, d).len() >= 2)
        .or_else(|| {
            (padded(header)
                && padded(row)
                && cells(header, Delim::Spaces).len() >= 2
                && cells(row, Delim::Spaces).len() >= 2)
                .then_some(Delim::Spaces)
        })
}

/// The header cells above the cell holding byte `s` of `text`: the same column of the
/// line above and of the text's first line, when that line splits like `s`'s line.
/// Empty when `s` is on the first line.
pub(crate) fn column_headers(text: &str, s: usize) -> impl Iterator<Item = &str> {
    let line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
    let mut headers: Vec<&str> = Vec::new();
    if line_start > 0 {
        let line_end = text[s..].find('\n').map_or(text.len(), |i| s + i);
        let row = &text[line_start..line_end];
        let above_start = text[..line_start - 1].rfind('\n').map_or(0, |i| i + 1);
        let first_end = text.find('\n').unwrap_or(text.len());
        let at = s - line_start;
        for (i, header) in [&text[above_start..line_start - 1], &text[..first_end]]
            .into_iter()
            .enumerate()
        {
            if i == 1 && above_start == 0 {
                break;
            }
            let Some(delim) = shared_delim(header, row) else {
                continue;
            };
            let Some(column) = cells(row, delim)
                .iter()
                .position(|&(cs, ce)| cs <= at && at < ce.max(cs + 1))
            else {
                continue;
            };
            if let Some(&(hs, he)) = cells(header, delim).get(column) {
                if is_label(&header[hs..he]) {
                    headers.push(&header[hs..he]);
                }
            }
        }
    }
    headers.into_iter()
}

/// A header cell names a column: short, and without digits (a cell holding a date or
/// a number is a value, and its line a row, not a header).
fn is_label(cell: &str) -> bool {
    cell.chars().count() <= 40 && !cell.bytes().any(|b| b.is_ascii_digit())
}

/// Every row cell under a header cell for which `is_header` holds: `(start, end)` byte
/// ranges into `text`, the rows after the first line.
pub(crate) fn cells_under(text: &str, is_header: impl Fn(&str) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let first_end = text.find('\n').unwrap_or(text.len());
    let first = &text[..first_end];
    let mut above = first;
    let mut line_start = first_end + 1;
    while line_start < text.len() {
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let row = &text[line_start..line_end];
        for header in [above, first] {
            let Some(delim) = shared_delim(header, row) else {
                continue;
            };
            let heads = cells(header, delim);
            for (i, &(s, e)) in cells(row, delim).iter().enumerate() {
                if heads.get(i).is_some_and(|&(hs, he)| {
                    is_label(&header[hs..he]) && is_header(&header[hs..he])
                }) {
                    out.push((line_start + s, line_start + e));
                }
            }
        }
        above = row;
        line_start = line_end + 1;
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str, d: Delim) -> Vec<&str> {
        cells(line, d)
            .into_iter()
            .map(|(s, e)| &line[s..e])
            .collect()
    }

    #[test]
    fn cells_respect_quotes_and_padding() {
        assert_eq!(
            texts(r#"Ann,"March 5, 1990",555"#, Delim::Char(',')),
            ["Ann", "March 5, 1990", "555"]
        );
        assert_eq!(
            texts("| Name | DOB |", Delim::Char('|')),
            ["", "Name", "DOB", ""]
        );
        assert_eq!(
            texts("Ann Lee    March 5, 1990   555-0100", Delim::Spaces),
            ["Ann Lee", "March 5, 1990", "555-0100"]
        );
        assert_eq!(texts("姓名　出生日期", Delim::Spaces), ["姓名", "出生日期"]);
    }

    #[test]
    fn headers_come_from_a_line_that_splits_the_same_way() {
        let t = "Name        DOB          Phone\nAnn Lee     March 5, 1990   555-0100";
        let s = t.find("March").unwrap();
        assert_eq!(column_headers(t, s).collect::<Vec<_>>(), ["DOB"]);
        // A label line with a comma in its value is not a table row under the line above.
        let t = "D.O.B. 1990-03-05\nAdmitted: Sep 1, 2021";
        assert_eq!(column_headers(t, t.find("Sep").unwrap()).count(), 0);
        // A line holding a value is not a header, even when it splits like the row.
        let t = "D.O.B. March 5, 1990\nAdmitted: Apr. 29, 2026";
        assert_eq!(column_headers(t, t.find("Apr").unwrap()).count(), 0);
        let t = "name,dob\nAnn,\"March 5, 1990\"";
        assert_eq!(
            column_headers(t, t.find("March").unwrap()).collect::<Vec<_>>(),
            ["dob"]
        );
        let under = cells_under("姓名,电话\n张伟,1\n李娜,2", |h| h == "姓名");
        assert_eq!(under.len(), 2);
    }
}
