//! `normalize`: Unicode NFKC, control and invisible characters stripped, whitespace
//! collapsed, on named string fields (all string fields if none are named).
//!
//! Why each step: NFKC folds full-width digits and letters (`１３８`) and compatibility
//! forms into their plain forms, so later recognizers and dedup see one spelling;
//! control characters and zero-width marks are how PII slips past pattern matchers;
//! collapsed whitespace makes exact dedup insensitive to spacing noise.
//! Invariants: a row stage (pure, per batch); a value that needs no change is not copied;
//! line breaks and each line's leading indentation are kept (code and poetry survive);
//! ZWJ/ZWNJ are kept because emoji sequences and several scripts need them.

use std::borrow::Cow;

use arrow::datatypes::SchemaRef;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

pub use crate::config::stages::{NormalizeConfig, Punctuation};
use crate::config::PipelineSource;
use crate::engine::batch::Batch;
use crate::engine::{Findings, RowStage};
use crate::error::{Error, Result};
use crate::stages::fields::{map_strings, resolve_fields, StringPath};

pub struct Normalize {
    paths: Vec<StringPath>,
    opts: Options,
}

#[derive(Clone, Copy)]
struct Options {
    nfkc: bool,
    keep_punctuation: bool,
    strip_control: bool,
    strip_invisible: bool,
    collapse_whitespace: bool,
}

impl Normalize {
    pub fn build(
        cfg: &NormalizeConfig,
        schema: &SchemaRef,
        src: &PipelineSource,
        index: usize,
    ) -> Result<Self> {
        let paths = resolve_fields(schema, cfg.fields.as_deref(), |f, e| {
            Error::Config(format!("{}: normalize: {e}", src.stage_at(index, f)))
        })?;
        Ok(Normalize {
            paths,
            opts: Options {
                nfkc: cfg.nfkc,
                keep_punctuation: cfg.fullwidth_punctuation == Punctuation::Keep,
                strip_control: cfg.strip_control,
                strip_invisible: cfg.strip_invisible,
                collapse_whitespace: cfg.collapse_whitespace,
            },
        })
    }
}

/// Per-value counts of which steps changed something.
#[derive(Default)]
struct Counts {
    seen: u64,
    changed: u64,
    control: u64,
    invisible: u64,
    nfkc: u64,
    whitespace: u64,
}

impl RowStage for Normalize {
    fn process(&self, mut batch: Batch, findings: &mut Findings) -> Result<Batch> {
        let mut columns = batch.data.columns().to_vec();
        for path in &self.paths {
            let mut c = Counts::default();
            let mut f = |s: &str| {
                c.seen += 1;
                let out = normalize(s, self.opts, &mut c);
                if out.is_some() {
                    c.changed += 1;
                }
                out
            };
            if let Some(new) = map_strings(&columns[path.column], &path.steps, &mut f)? {
                columns[path.column] = new;
            }
            findings.add_field(&path.name, "values_seen", c.seen);
            findings.add_field(&path.name, "values_changed", c.changed);
            findings.add_field(&path.name, "control_stripped", c.control);
            findings.add_field(&path.name, "invisible_stripped", c.invisible);
            findings.add_field(&path.name, "nfkc_changed", c.nfkc);
            findings.add_field(&path.name, "whitespace_collapsed", c.whitespace);
            findings.add_total("values_changed", c.changed);
        }
        batch.data = arrow::array::RecordBatch::try_new(batch.data.schema(), columns)?;
        Ok(batch)
    }
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

fn is_stripped_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// The normalized value, or None when it is already normal.
fn normalize(s: &str, o: Options, c: &mut Counts) -> Option<String> {
    let mut cur: Cow<'_, str> = Cow::Borrowed(s);
    let mut needs = scan(s.as_bytes(), o);
    if needs.strip {
        let mut out = String::with_capacity(cur.len());
        let mut chars = cur.chars().peekable();
        let (mut ctl, mut inv) = (false, false);
        while let Some(ch) = chars.next() {
            if o.strip_control && ch == '\r' {
                ctl = true;
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            } else if o.strip_control && is_stripped_control(ch) {
                ctl = true;
            } else if o.strip_invisible && is_invisible(ch) {
                inv = true;
            } else {
                out.push(ch);
            }
        }
        c.control += ctl as u64;
        c.invisible += inv as u64;
        cur = Cow::Owned(out);
        needs = scan(cur.as_bytes(), o);
    }
    if needs.nfkc {
        let n = nfkc(&cur, o.keep_punctuation);
        if n != *cur {
            c.nfkc += 1;
            cur = Cow::Owned(n);
            needs = scan(cur.as_bytes(), o);
        }
    }
    if needs.collapse {
        let w = collapse_whitespace(&cur);
        if w != *cur {
            c.whitespace += 1;
            cur = Cow::Owned(w);
        }
    }
    match cur {
        Cow::Borrowed(_) => None,
        Cow::Owned(o) if o == s => None,
        Cow::Owned(o) => Some(o),
    }
}

/// Which steps may change a value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Needs {
    strip: bool,
    nfkc: bool,
    collapse: bool,
}

/// One pass over the bytes deciding which steps may have work to do. This is the hot
/// path: most values need nothing, and CJK ideographs (lead bytes E4–E9) and plain ASCII
/// letters are skipped without decoding. Rare characters are decoded and checked with the
/// precise predicates below. It may say "maybe" where the step then changes nothing,
/// never the reverse (tested against the steps themselves).
fn scan(b: &[u8], o: Options) -> Needs {
    let mut n = Needs::default();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return n;
    };
    n.collapse =
        o.collapse_whitespace && (first.is_ascii_whitespace() || last.is_ascii_whitespace());
    let mut i = 0;
    while i < b.len() {
        // Eight bytes at a time past printable ASCII and single spaces (what most of an
        // English value is, where a branch per byte was most of this scan), up to the
        // first byte the loop below has to look at; the ninth byte read tells whether a
        // space is followed by a space or a newline.
        if b[i] < 0x80 {
            if let Some(w) = b.get(i..i + 9) {
                use crate::detect::ascii::in_range;
                const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
                let x = u64::from_le_bytes(w[..8].try_into().expect("8 bytes"));
                let y = u64::from_le_bytes(w[1..].try_into().expect("8 bytes"));
                let spaces = in_range(x, b' ', b' ');
                let doubled = spaces & (in_range(y, b' ', b' ') | in_range(y, b'\n', b'\n'));
                let look = (!in_range(x, b'!', b'~') & HIGH & !spaces) | doubled;
                if look == 0 {
                    i += 8;
                    continue;
                }
                i += (look.trailing_zeros() / 8) as usize;
            }
        }
        let x = b[i];
        if x >= 0x80 {
            if (0xE4..=0xE9).contains(&x) {
                i += 3;
                continue;
            }
            let len = match x {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let end = (i + len).min(b.len());
            // The input is valid UTF-8 and `i` is at a character boundary.
            let c = std::str::from_utf8(&b[i..end])
                .ok()
                .and_then(|t| t.chars().next())
                .unwrap_or('\u{FFFD}');
            n.strip |= (o.strip_control && is_stripped_control(c))
                || (o.strip_invisible && is_invisible(c));
            n.collapse |= o.collapse_whitespace && c.is_whitespace();
            n.nfkc |= o.nfkc && !is_obviously_nfkc_char(c, o.keep_punctuation);
            i = end;
            continue;
        }
        if x > b' ' && x != 0x7f {
            i += 1;
            continue;
        }
        let next = |k: usize| b.get(i + k).copied().unwrap_or(0);
        match x {
            b' ' => n.collapse |= o.collapse_whitespace && matches!(next(1), b' ' | b'\n'),
            b'\n' => n.collapse |= o.collapse_whitespace && next(1) == b'\n' && next(2) == b'\n',
            b'\t' => n.collapse |= o.collapse_whitespace,
            _ => {
                // Other C0 controls and DEL; CR, VT and FF are also whitespace.
                n.strip |= o.strip_control;
                n.collapse |= o.collapse_whitespace && x.is_ascii_whitespace() || x == 0x0B;
            }
        }
        i += 1;
    }
    n
}

fn is_obviously_nfkc_char(c: char, keep_punctuation: bool) -> bool {
    matches!(c,
        '\0'..='\x7f'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{3041}'..='\u{3096}'
        | '\u{30A1}'..='\u{30FA}'
        | '\u{3001}'..='\u{3003}'
        | '\u{3008}'..='\u{3011}'
        | '\u{2013}'..='\u{2014}'
        | '\u{2018}'..='\u{2019}'
        | '\u{201C}'..='\u{201D}'
        | '\u{00B7}'
    ) || (keep_punctuation && is_fullwidth_punctuation(c))
}

/// Full-width forms of ASCII punctuation (U+FF01–FF0F, FF1A–FF20, FF3B–FF40, FF5B–FF5E).
fn is_fullwidth_punctuation(c: char) -> bool {
    matches!(c, '\u{FF01}'..='\u{FF0F}' | '\u{FF1A}'..='\u{FF20}' | '\u{FF3B}'..='\u{FF40}' | '\u{FF5B}'..='\u{FF5E}')
}

/// NFKC, optionally leaving full-width punctuation alone. Splitting at those characters
/// is safe: they are starters that never compose with their neighbours.
fn nfkc(s: &str, keep_punctuation: bool) -> String {
    if !keep_punctuation {
        return s.nfkc().collect();
    }
    let mut out = String::with_capacity(s.len());
    for (i, run) in s.split(is_fullwidth_punctuation).enumerate() {
        if i > 0 {
            // The separator that split() consumed sits just before this run.
            let before = &s[..run.as_ptr() as usize - s.as_ptr() as usize];
            out.push(before.chars().next_back().expect("a separator"));
        }
        if is_nfkc_quick(run.chars()) == IsNormalized::Yes {
            out.push_str(run);
        } else {
            out.extend(run.nfkc());
        }
    }
    out
}

fn is_hspace(c: char) -> bool {
    c != '\n' && c.is_whitespace()
}

/// Collapses spaces inside lines, keeps each line's indentation, trims line ends and the
/// value's ends, and keeps at most one blank line in a row.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0usize;
    for line in s.trim_matches(char::is_whitespace).split('\n') {
        let line = line.trim_end_matches(is_hspace);
        if line.is_empty() {
            blank_run += 1;
            if blank_run == 1 {
                out.push('\n');
            }
            continue;
        }
        blank_run = 0;
        if !out.is_empty() {
            out.push('\n');
        }
        let body = line.trim_start_matches(is_hspace);
        out.push_str(&line[..line.len() - body.len()]);
        let mut in_space = false;
        for ch in body.chars() {
            if is_hspace(ch) {
                in_space = true;
            } else {
                if in_space {
                    out.push(' ');
                    in_space = false;
                }
                out.push(ch);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Options = Options {
        nfkc: true,
        keep_punctuation: true,
        strip_control: true,
        strip_invisible: true,
        collapse_whitespace: true,
    };

    fn n(s: &str) -> Option<String> {
        normalize(s, ALL, &mut Counts::default())
    }

    #[test]
    fn plain_text_is_untouched() {
        assert_eq!(n("hello world"), None);
        assert_eq!(n("你好，世界。\n第二段"), None);
        assert_eq!(n("def f():\n    return 1"), None);
    }

    #[test]
    fn full_width_and_ideographic_space_fold() {
        assert_eq!(n("电话１３８　１２３４").as_deref(), Some("电话138 1234"));
        assert_eq!(n("ＡＢＣ").as_deref(), Some("ABC"));
    }

    #[test]
    fn fullwidth_punctuation_is_kept_unless_folding_is_asked() {
        assert_eq!(n("你好，世界！１２"), Some("你好，世界！12".to_string()));
        let fold = Options {
            keep_punctuation: false,
            ..ALL
        };
        assert_eq!(
            normalize("你好，世界！", fold, &mut Counts::default()).as_deref(),
            Some("你好,世界!")
        );
    }

    #[test]
    fn controls_and_invisibles_are_removed() {
        assert_eq!(n("13\u{200B}8\u{0007}12").as_deref(), Some("13812"));
        assert_eq!(n("a\r\nb\rc").as_deref(), Some("a\nb\nc"));
        // ZWJ is kept: emoji family sequences depend on it.
        assert_eq!(n("👨\u{200D}👩"), None);
    }

    #[test]
    fn whitespace_collapses_but_keeps_structure() {
        assert_eq!(
            n("  a   b\t\tc  \n\n\n\nd  ").as_deref(),
            Some("a b c\n\nd")
        );
        assert_eq!(
            n("x\n    indented   code").as_deref(),
            Some("x\n    indented code")
        );
    }

    #[test]
    fn counts_each_step() {
        let mut c = Counts::default();
        normalize("１\u{200B}  2", ALL, &mut c);
        assert_eq!((c.invisible, c.nfkc, c.whitespace, c.control), (1, 1, 1, 0));
    }

    /// The scan as it was before the word-at-a-time skip: a byte at a time.
    fn scan_bytewise(b: &[u8], o: Options) -> Needs {
        let mut n = Needs::default();
        let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
            return n;
        };
        n.collapse =
            o.collapse_whitespace && (first.is_ascii_whitespace() || last.is_ascii_whitespace());
        let mut i = 0;
        while i < b.len() {
            let x = b[i];
            if x >= 0x80 {
                if (0xE4..=0xE9).contains(&x) {
                    i += 3;
                    continue;
                }
                let len = match x {
                    0xC0..=0xDF => 2,
                    0xE0..=0xEF => 3,
                    _ => 4,
                };
                let end = (i + len).min(b.len());
                let c = std::str::from_utf8(&b[i..end])
                    .ok()
                    .and_then(|t| t.chars().next())
                    .unwrap_or('\u{FFFD}');
                n.strip |= (o.strip_control && is_stripped_control(c))
                    || (o.strip_invisible && is_invisible(c));
                n.collapse |= o.collapse_whitespace && c.is_whitespace();
                n.nfkc |= o.nfkc && !is_obviously_nfkc_char(c, o.keep_punctuation);
                i = end;
                continue;
            }
            if x > b' ' && x != 0x7f {
                i += 1;
                continue;
            }
            let next = |k: usize| b.get(i + k).copied().unwrap_or(0);
            match x {
                b' ' => n.collapse |= o.collapse_whitespace && matches!(next(1), b' ' | b'\n'),
                b'\n' => {
                    n.collapse |= o.collapse_whitespace && next(1) == b'\n' && next(2) == b'\n'
                }
                b'\t' => n.collapse |= o.collapse_whitespace,
                _ => {
                    n.strip |= o.strip_control;
                    n.collapse |= o.collapse_whitespace && x.is_ascii_whitespace() || x == 0x0B;
                }
            }
            i += 1;
        }
        n
    }

    proptest::proptest! {
        /// The word-at-a-time skip flags what the byte-at-a-time scan flags: plain
        /// words and single spaces around at most two of the bytes that matter (so that
        /// one of them alone decides the flags), at any offset in the words.
        #[test]
        fn word_scan_is_the_bytewise_scan(
            before in "[a-z,.]{0,7}( [a-z,.]{1,7}){0,5}",
            special in proptest::collection::vec(0usize..15, 0..3),
            after in "[a-z,.]{1,7}( [a-z,.]{1,7}){0,5}",
        ) {
            const SPECIAL: [&str; 15] = [
                "  ", " \n", "\n", "\n\n\n", "\t", "\u{1}", "\u{7f}", "é", "你", "\u{200B}",
                "Ａ", "\u{3000}", "\r", "\u{b}", " \n\n",
            ];
            let mut text = before;
            for &k in &special {
                text.push_str(SPECIAL[k]);
                text.push('a');
            }
            text.push_str(&after);
            let off = Options { collapse_whitespace: false, ..ALL };
            for o in [ALL, off] {
                proptest::prop_assert_eq!(
                    scan(text.as_bytes(), o),
                    scan_bytewise(text.as_bytes(), o),
                    "{:?}",
                    text
                );
            }
        }
    }

    #[test]
    fn the_scan_never_misses_a_change() {
        // Every value a step would change must be flagged by the scan.
        let ws = [
            " a",
            "a ",
            "a  b",
            "a \nb",
            "a\n\n\nb",
            "a\tb",
            "a\rb",
            "a\u{3000}b",
            "a\u{A0}b",
            "a\u{2003}b",
            "a\u{2028}b",
            "\u{3000}a",
            "a\u{85}b",
            "a\u{1680}b",
            "a\u{205F}b",
            "a\u{B}b",
        ];
        for s in ws {
            assert!(scan(s.as_bytes(), ALL).collapse, "{s:?}");
            assert_ne!(collapse_whitespace(s), s, "{s:?}");
        }
        let strip = [
            "a\u{7}b",
            "a\u{9F}b",
            "a\u{AD}b",
            "a\u{180E}b",
            "a\u{200B}b",
            "a\u{2060}b",
            "a\u{FEFF}b",
            "a\u{7F}",
        ];
        for s in strip {
            assert!(scan(s.as_bytes(), ALL).strip, "{s:?}");
        }
        for s in [
            "“引号”",
            "、。《》",
            "普通的中文句子",
            "dash—dash",
            "你好，世界！",
        ] {
            let n = scan(s.as_bytes(), ALL);
            assert!(!n.strip && !n.collapse && !n.nfkc, "{s:?} {n:?}");
        }
        for s in ["ｆｕｌｌ", "a\u{0301}", "①", "…", "ﾊﾝｶｸ"] {
            assert!(scan(s.as_bytes(), ALL).nfkc, "{s:?}");
        }
        let fold = Options {
            keep_punctuation: false,
            ..ALL
        };
        assert!(scan("你好，世界！".as_bytes(), fold).nfkc);
    }

    #[test]
    fn normalizing_twice_changes_nothing() {
        for s in ["  ａ\u{3000}ｂ \r\n\n\n c\u{0}", "x\u{FEFF}y", "①②", "ﾊﾝｶｸ"] {
            let once = n(s).unwrap_or_else(|| s.to_string());
            assert_eq!(n(&once), None, "{s:?} -> {once:?}");
        }
    }
}
