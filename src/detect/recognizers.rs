//! The recognizers: for each entity type, the candidate patterns and the check that turns
//! a candidate into a scored detection (or refuses it).
//!
//! Invariants every rule keeps (the detector relies on them):
//! - patterns are ASCII-only, apart from the province character of a licence plate, the
//!   full-width parentheses of a phone area code `（010）` and the 年/月/日 inside a
//!   Chinese date (`1990年3月3日`), so a span never absorbs
//!   the CJK text around it and always lies on char boundaries;
//! - a match never starts right after, or ends right before, an ASCII letter or digit
//!   (`neighbours_ok`). This replaces `\b`, which in Unicode mode treats CJK characters
//!   as word characters and so misses `电话13812345678联系`;
//! - a check only ever narrows a candidate, never widens it;
//! - every pattern except `Scan::Linear` ones has a bounded match length, so retrying
//!   the search just after a refused candidate's start stays linear (see `skip_run` in
//!   `mod.rs`).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::validators::{
    cn_id15, cn_id18, gb11714, gb32100, iban_mod97, iban_structure, luhn, valid_ymd,
};
use super::EntityType;

/// How the search continues after a refused candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Bounded pattern: retry just after the refused candidate's start (past its
    /// alphanumeric run, where no candidate may start), so a refused long candidate does
    /// not hide a valid one starting inside it (`+86…` after a refused `(…`).
    Retry,
    /// Unbounded pattern (URL, e-mail, IPv6 run): continue after the candidate, which
    /// keeps adversarial input (3000 dots) linear.
    Linear,
}

/// A rule's shape (`Rule::shape`): a test of a text's bytes and the digit runs of one
/// of its windows.
pub(crate) type Shape = fn(&[u8], &[shapes::Run]) -> bool;

/// A candidate the check accepted: the span may be narrower than the regex match.
pub(crate) type Hit = (usize, usize, f32);

/// Appends the byte ranges of a text a rule's matches lie in (`Rule::windows`).
pub(crate) type Windows = fn(&str, &mut Vec<(usize, usize)>);

pub(crate) struct Rule {
    pub entity: EntityType,
    pub pattern: String,
    pub scan: Scan,
    pub check: fn(&str, usize, usize) -> Option<Hit>,
    /// What a text must contain for the pattern to match at all (`needs::*` bits): a
    /// text without them skips the rule instead of running a search that cannot succeed.
    pub needs: u8,
    /// The fewest ASCII digits a text needs for the rule to match, in all and in one
    /// run (a card has 12 or more; a bare phone number is one run of 10 or 11).
    pub min_digits: u8,
    pub min_run: u8,
    /// For a rule that needs a digit: the most bytes a match can start before its first
    /// digit and end after its last (a bank card: 0 and 0; `+86 138…`: 4 before). The
    /// digit windows are narrowed to these before the rule's search.
    pub back: u8,
    pub forward: u8,
    /// A cheap test of the text that every match passes (`gates_lose_no_match` checks
    /// it), run before the search; the whole-text rules have one, since Chinese text
    /// holds `.` and `:` (amounts, times) that the class bits alone let through.
    pub gate: Option<fn(&str) -> bool>,
    /// For a whole-text rule: the byte ranges of a text every match lies in, in order
    /// and disjoint (`windows_lose_no_match` checks it); only they are searched, and a
    /// text with none skips the rule, as a gate would.
    pub windows: Option<Windows>,
    /// For a rule that needs a digit: a cheap test of a digit window that every window
    /// holding a match of the pattern passes: its digit runs and what separates them
    /// (`shapes`). A window that fails it is not searched; most windows in running
    /// text are dates, times, amounts and order numbers, which fail the shapes of
    /// cards, phones and IDs.
    pub shape: Option<Shape>,
    /// The check accepts a match only whole and refuses it with an ASCII letter or digit
    /// right before or after it (`neighbours_ok`), so the digit runs of a match it
    /// accepts are whole runs of the text: the shape may then ask for exact run lengths
    /// (a 12-digit order number holds no SSN, mobile or passport number it would
    /// accept), not only long enough ones, and for what else the check requires (a
    /// date's year from 1900 to 2100). `bounded_checks_refuse_unbounded_matches` holds
    /// the checks to it; the shape tests ask a bounded rule's shape to hold for what
    /// its check accepts.
    pub bounded: bool,
}

impl Rule {
    /// A rule with no digit counts and the widest margins (see `digits`, `margins`).
    fn new(
        entity: EntityType,
        pattern: &str,
        scan: Scan,
        check: fn(&str, usize, usize) -> Option<Hit>,
        needs: u8,
    ) -> Rule {
        Rule {
            entity,
            pattern: pattern.to_string(),
            scan,
            check,
            needs,
            min_digits: 0,
            min_run: 0,
            back: DIGIT_MARGIN,
            forward: DIGIT_MARGIN,
            gate: None,
            windows: None,
            shape: None,
            bounded: false,
        }
    }

    fn shape(mut self, shape: Shape) -> Rule {
        self.shape = Some(shape);
        self
    }

    /// A shape on the whole digit runs of what the check accepts (see `bounded`).
    fn bounded_shape(mut self, shape: Shape) -> Rule {
        self.shape = Some(shape);
        self.bounded = true;
        self
    }

    fn gate(mut self, gate: fn(&str) -> bool) -> Rule {
        self.gate = Some(gate);
        self
    }

    fn windows(mut self, windows: Windows) -> Rule {
        self.windows = Some(windows);
        self
    }

    fn digits(mut self, total: u8, run: u8) -> Rule {
        self.min_digits = total;
        self.min_run = run;
        self
    }

    fn margins(mut self, back: u8, forward: u8) -> Rule {
        self.back = back;
        self.forward = forward;
        self
    }

    /// Whether a text of byte classes and digit counts `p` can hold a match at all.
    pub(crate) fn may_match(&self, p: &needs::Profile) -> bool {
        p.classes & self.needs == self.needs && self.fits(p.digits, p.max_run)
    }

    /// Whether the rule's gate (if any) lets `text` through.
    pub(crate) fn passes_gate(&self, text: &str) -> bool {
        self.gate.is_none_or(|g| g(text))
    }

    /// Whether a digit window with the digit runs `runs` of `text` passes the rule's
    /// shape (if any).
    pub(crate) fn fits_shape(&self, text: &str, runs: &[shapes::Run]) -> bool {
        self.shape.is_none_or(|f| f(text.as_bytes(), runs))
    }

    /// Whether a stretch of text with `digits` ASCII digits, the longest run of them
    /// `max_run` long, has enough for a match.
    pub(crate) fn fits(&self, digits: u32, max_run: u32) -> bool {
        digits >= u32::from(self.min_digits) && max_run >= u32::from(self.min_run)
    }
}

/// The gates of the whole-text rules (`Rule::gate`): each is true for every text the
/// rule's pattern matches in, and false for most text.
pub(crate) mod gates {
    /// `://`, which a URL with a scheme holds.
    pub fn scheme(text: &str) -> bool {
        memchr::memmem::find(text.as_bytes(), b"://").is_some()
    }

    /// A dot between an ASCII letter or digit and an ASCII letter (`example.com`): a bare
    /// domain's last dot, before its top-level domain.
    fn domain_dot(b: &[u8], i: usize) -> bool {
        i > 0
            && b[i - 1].is_ascii_alphanumeric()
            && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic)
    }

    /// A byte a bare URL can hold: its host's (letters, digits, `-`, `.`), its port's
    /// `:` and its path's (`web_patterns`).
    fn url_byte(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&()*+,;=%".contains(&c)
    }

    /// The stretches of URL bytes holding a `domain_dot`: a bare URL lies in one (its
    /// every byte is a URL byte, and its host has such a dot). English prose has dots
    /// after most sentences; the search runs only around the few that join two words.
    pub fn domains(text: &str, windows: &mut Vec<(usize, usize)>) {
        let b = text.as_bytes();
        let mut covered = 0;
        for i in memchr::memchr_iter(b'.', b) {
            if i < covered || !domain_dot(b, i) {
                continue;
            }
            let lo = b[..i]
                .iter()
                .rposition(|&c| !url_byte(c))
                .map_or(0, |p| p + 1);
            let hi = b[i..]
                .iter()
                .position(|&c| !url_byte(c))
                .map_or(b.len(), |p| i + p);
            windows.push((lo, hi));
            covered = hi;
        }
    }

    /// Two colons with only hexadecimal digits and dots between them, as an IPv6
    /// address has.
    pub fn two_colons(text: &str) -> bool {
        let b = text.as_bytes();
        memchr::memchr_iter(b':', b).any(|i| {
            b[i + 1..]
                .iter()
                .find(|c| !(c.is_ascii_hexdigit() || **c == b'.'))
                .is_some_and(|&c| c == b':')
        })
    }

    /// A province's one-character name followed by an ASCII capital (`京A`), as a
    /// licence plate starts.
    pub fn province_letter(text: &str) -> bool {
        if text.is_ascii() {
            return false;
        }
        let b = text.as_bytes();
        // Every province character is three bytes long in UTF-8 (lead byte 0xE0–0xEF):
        // a capital after ASCII (every one in English text) fails on one byte.
        let mut from = 3;
        while let Some(i) = super::super::ascii::next_capital(b, from, false) {
            if i >= 3
                && b[i - 3] & 0xF0 == 0xE0
                && text[i - 3..i]
                    .chars()
                    .next()
                    .is_some_and(|c| super::PLATE_PROVINCES.contains(c))
            {
                return true;
            }
            // The capitals (and underscores) right after it follow ASCII, so none of
            // them can follow a province character: passed at once (a tag that
            // `deidentify` left, `<CN_ID_CARD>`, was a search for each of its capitals).
            from = i
                + 1
                + b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_uppercase() || **c == b'_')
                    .count();
        }
        false
    }
}

/// The shapes of the digit rules (`Rule::shape`): each reads the digit runs of a
/// window (and the text's bytes around them) and is true for every window that holds
/// a match of the rule's pattern (`shapes_hold_for_every_pattern_string` checks that on
/// strings drawn from the patterns, `shapes_hold_in_found_matches` on the matches a
/// search finds, and `digit_windows_lose_no_match` that the windows still find every
/// candidate). They are written as the patterns' necessary conditions, in terms of runs
/// that may be longer than the pattern's group (a pattern has no left boundary:
/// `[0-9]{3}` may be the tail of a longer run), so a window around a match, whose runs
/// are the match's runs or longer, passes where the match does.
pub(crate) mod shapes {
    /// A maximal run of ASCII digits: its byte offset and length.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Run {
        pub start: usize,
        pub len: usize,
    }

    impl Run {
        fn end(self) -> usize {
            self.start + self.len
        }
    }

    /// The digit runs of `b` (the digit windows collect theirs as they are built).
    #[cfg(test)]
    pub fn runs_of(b: &[u8]) -> Vec<Run> {
        let mut out: Vec<Run> = Vec::new();
        for (i, c) in b.iter().enumerate() {
            if !c.is_ascii_digit() {
                continue;
            }
            match out.last_mut() {
                Some(r) if r.end() == i => r.len += 1,
                _ => out.push(Run { start: i, len: 1 }),
            }
        }
        out
    }

    /// Whether `runs` holds consecutive runs whose lengths lie in `lens` (inclusive
    /// bounds), each pair separated by bytes of `b` that `gap` accepts.
    fn chain(b: &[u8], runs: &[Run], lens: &[(usize, usize)], gap: impl Fn(&[u8]) -> bool) -> bool {
        runs.windows(lens.len()).any(|w| {
            w.iter()
                .zip(lens)
                .all(|(r, &(lo, hi))| (lo..=hi).contains(&r.len))
                && w.windows(2).all(|p| gap(&b[p[0].end()..p[1].start]))
        })
    }

    const ANY: usize = usize::MAX;

    fn one_of(set: &'static [u8]) -> impl Fn(&[u8]) -> bool {
        move |g: &[u8]| g.len() == 1 && set.contains(&g[0])
    }

    fn longest(runs: &[Run]) -> usize {
        runs.iter().map(|r| r.len).max().unwrap_or(0)
    }

    /// 18 digits (or 15), or 6, 8 and 4 in groups.
    pub fn id_card(b: &[u8], runs: &[Run]) -> bool {
        longest(runs) >= 15 || chain(b, runs, &[(6, ANY), (8, ANY)], one_of(b" -"))
    }

    /// 12 to 19 digits, or groups of four (4 4 4 4, 4 6 5).
    pub fn bank_card(b: &[u8], runs: &[Run]) -> bool {
        longest(runs) >= 12 || chain(b, runs, &[(4, ANY), (4, ANY), (4, ANY)], one_of(b" -"))
    }

    /// Eleven digits from `1` (with `86` or `0086` before them in the same run:
    /// thirteen or fifteen), or 3 4 4 in groups (the first group with that prefix: five
    /// or seven), whole runs.
    pub fn cn_mobile(b: &[u8], runs: &[Run]) -> bool {
        let from = |r: &Run, p: &[u8]| b[r.start..].starts_with(p);
        runs.iter().any(|r| match r.len {
            11 => from(r, b"1"),
            13 => from(r, b"861"),
            15 => from(r, b"00861"),
            _ => false,
        }) || chain(b, runs, &[(3, 7), (4, 4), (4, 4)], one_of(b" -"))
    }

    /// A trunk prefix group (`0` and one to five digits) closed by a bracket or a
    /// separator, then two to eight digits (whole runs).
    pub fn national(b: &[u8], runs: &[Run]) -> bool {
        runs.windows(2).any(|p| {
            (2..=6).contains(&p[0].len)
                && b[p[0].start] == b'0'
                && (2..=8).contains(&p[1].len)
                && (1..=4).contains(&(p[1].start - p[0].end()))
        })
    }

    /// A digit run with a phone label right before it (`label_before`, where the label
    /// rule's check looks, past a `+` or a bracket that starts the match).
    /// Or a digit run with a phone label right after it, where it ends the line or
    /// clause (`label_after`; the check's match ends at its last digit).
    pub fn after_phone_label(b: &[u8], runs: &[Run]) -> bool {
        runs.iter().any(|r| {
            // A match starts at its first digit, or at a `+`, `(` or `（` before it.
            let mut p = r.start;
            if p >= 1 && matches!(b[p - 1], b'+' | b'(') {
                p -= 1;
            } else if p >= 3 && b[p - 3..p] == [0xEF, 0xBC, 0x88] {
                p -= 3;
            }
            super::label_before(b, p)
        }) || runs.iter().any(|r| super::label_after(b, r.end()))
    }

    /// Three digits, a separator, four digits (the exchange and the line).
    pub fn nanp(b: &[u8], runs: &[Run]) -> bool {
        chain(b, runs, &[(3, ANY), (4, ANY)], one_of(b" -."))
    }

    /// Four groups of digits joined by dots, the middle two of at most three digits.
    pub fn ipv4(b: &[u8], runs: &[Run]) -> bool {
        chain(
            b,
            runs,
            &[(1, ANY), (1, 3), (1, 3), (1, ANY)],
            |g: &[u8]| g == b".",
        )
    }

    /// Nine digits, or 3, 2 and 4 with separators (whole runs).
    pub fn us_ssn(b: &[u8], runs: &[Run]) -> bool {
        runs.iter().any(|r| r.len == 9) || chain(b, runs, &[(3, 3), (2, 2), (4, 4)], one_of(b" -."))
    }

    /// A year the check takes (1900–2100): a whole run of four digits (or eight, a
    /// compact date) starting with 19, 20 or 21; every written form of a date holds
    /// one. An amount of 1,676.09 or 2619.50 does not.
    pub fn date(b: &[u8], runs: &[Run]) -> bool {
        runs.iter().any(|r| {
            matches!(r.len, 4 | 8) && matches!(&b[r.start..r.start + 2], b"19" | b"20" | b"21")
        })
    }

    /// A date with a two-digit year: two digits right before `年`, or three runs of
    /// one or two digits joined by one `/`, `.` or `-` each, the last of two (whole
    /// runs: `85年4月12日`, `04/12/85`).
    pub fn short_year_date(b: &[u8], runs: &[Run]) -> bool {
        let sep = |i: usize| matches!(b.get(i), Some(b'/' | b'.' | b'-'));
        runs.iter().enumerate().any(|(k, r)| {
            if r.len == 2 && b[r.end()..].starts_with("年".as_bytes()) {
                return true;
            }
            r.len == 2
                && k >= 2
                && (1..=2).contains(&runs[k - 1].len)
                && (1..=2).contains(&runs[k - 2].len)
                && runs[k - 1].end() + 1 == r.start
                && runs[k - 2].end() + 1 == runs[k - 1].start
                && sep(r.start - 1)
                && b[r.start - 1] == b[runs[k - 1].start - 1]
        })
    }

    /// A bare national number: eleven digits from `0`, or ten from 2–9 (whole runs).
    pub fn bare_phone(b: &[u8], runs: &[Run]) -> bool {
        runs.iter().any(|r| match (r.len, b[r.start]) {
            (11, c) => c == b'0',
            (10, c) => (b'2'..=b'9').contains(&c) || (c == b'0' && b[r.start + 1] == b'9'),
            _ => false,
        })
    }

    /// Eighteen characters of digits and capitals in a row (around seven digits or
    /// more, which the rule's digit counts already ask for).
    pub fn uscc(b: &[u8], runs: &[Run]) -> bool {
        let code = |c: &u8| c.is_ascii_digit() || c.is_ascii_uppercase();
        runs.iter().any(|r| {
            let before = b[..r.start].iter().rev().take_while(|c| code(c)).count();
            let after = b[r.end()..].iter().take_while(|c| code(c)).count();
            before + r.len + after >= 18
        })
    }

    /// A run of at least `len` digits right after `letters` capitals.
    fn after_capitals(b: &[u8], runs: &[Run], letters: usize, len: usize) -> bool {
        runs.iter().any(|r| {
            r.len >= len
                && r.start >= letters
                && b[r.start - letters..r.start]
                    .iter()
                    .all(u8::is_ascii_uppercase)
        })
    }

    /// `E` or `G` and eight digits, or `E`, a letter and seven (whole runs).
    pub fn passport_cn(b: &[u8], runs: &[Run]) -> bool {
        runs.iter().any(|r| match (r.len, &b[..r.start]) {
            (8, [.., c]) => matches!(c, b'E' | b'G'),
            (7, [.., b'E', c]) => c.is_ascii_uppercase(),
            _ => false,
        })
    }

    /// Nine digits, or one or two capitals and six to eight digits (whole runs).
    pub fn passport(b: &[u8], runs: &[Run]) -> bool {
        runs.iter().any(|r| {
            r.len == 9
                || ((6..=8).contains(&r.len) && r.start > 0 && b[r.start - 1].is_ascii_uppercase())
        })
    }

    /// Two capitals (the country) and two check digits.
    pub fn iban(b: &[u8], runs: &[Run]) -> bool {
        after_capitals(b, runs, 2, 2)
    }
}

/// The one-character province names that open a Chinese licence plate.
pub(crate) const PLATE_PROVINCES: &str =
    "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Classes of bytes a pattern cannot match without (see `Rule::needs`).
pub(crate) mod needs {
    use super::super::ascii::in_range;

    pub const DIGIT: u8 = 1;
    pub const AT: u8 = 2;
    pub const DOT: u8 = 4;
    pub const COLON: u8 = 8;
    pub const UPPER: u8 = 16;
    pub const PLUS: u8 = 32;
    /// A byte that separates the cells of a delimited row (`,`, tab, `;`, `|`): not a
    /// rule's need, the names scan's (rows without a header).
    pub const ROW: u8 = 64;
    /// A line break: not a rule's need, the names scan's (tables).
    pub const NEWLINE: u8 = 128;

    /// The byte classes of a text and its digit counts.
    pub struct Profile {
        pub classes: u8,
        /// ASCII digits in all.
        pub digits: u32,
        /// The longest run of consecutive ASCII digits.
        pub max_run: u32,
    }

    /// The classes present in `text`, in one pass over its bytes.
    #[cfg(test)]
    pub fn of(text: &str) -> u8 {
        profile(text).classes
    }

    /// Each byte's class bit (`DIGIT` for ASCII digits), by table: the profile runs over
    /// every byte of every text.
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut c = b'0';
        while c <= b'9' {
            t[c as usize] = DIGIT;
            c += 1;
        }
        let mut c = b'A';
        while c <= b'Z' {
            t[c as usize] = UPPER;
            c += 1;
        }
        t[b'@' as usize] = AT;
        t[b'.' as usize] = DOT;
        t[b':' as usize] = COLON;
        t[b'+' as usize] = PLUS;
        t[b',' as usize] = ROW;
        t[b'\t' as usize] = ROW;
        t[b';' as usize] = ROW;
        t[b'|' as usize] = ROW;
        t[b'\n' as usize] = NEWLINE;
        t
    };

    /// Classes and digit counts of `text`, in one pass over its bytes.
    ///
    /// Sixteen bytes at a time, as two words (SWAR): a word's digits are found at once
    /// by a range test on its bytes (counted by `count_ones`, runs by the mask's ends
    /// and its longest inner run), and its other bytes of a class by a range test that
    /// lets through a superset of them (`\t\n`, `+` to `Z`, `|`), each looked up in the
    /// table; a chunk with no ASCII byte (most of a Chinese text) costs one test. This
    /// replaced a table read per ASCII byte: 34 M instructions on the chat corpus.
    /// `profile_bytes` (tests) is the byte-at-a-time formulation it must equal.
    pub fn profile(text: &str) -> Profile {
        let mut p = Profile {
            classes: 0,
            digits: 0,
            max_run: 0,
        };
        let mut run = 0u32;
        let mut chunks = text.as_bytes().chunks_exact(16);
        for chunk in &mut chunks {
            let chunk: &[u8; 16] = chunk.try_into().expect("sixteen bytes");
            chunk16(chunk, &mut p, &mut run);
        }
        // The rest padded with 0x80, a byte of no class that is not a digit: it only
        // ends the last run, as the end of the text does.
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut chunk = [0x80u8; 16];
            chunk[..rest.len()].copy_from_slice(rest);
            chunk16(&chunk, &mut p, &mut run);
        }
        p
    }

    /// The high bit of every byte.
    const H: u64 = 0x8080_8080_8080_8080;

    /// The high bit of each ASCII digit of the eight bytes `w` (little-endian).
    #[inline(always)]
    pub(crate) fn digit_mask(w: u64) -> u64 {
        in_range(w, b'0', b'9')
    }

    #[inline(always)]
    fn chunk16(chunk: &[u8; 16], p: &mut Profile, run: &mut u32) {
        let (a, b) = chunk.split_at(8);
        let a = u64::from_le_bytes(a.try_into().expect("eight bytes"));
        let b = u64::from_le_bytes(b.try_into().expect("eight bytes"));
        if (a & b) & H == H {
            // No ASCII byte: no class, and any digit run ends.
            *run = 0;
            return;
        }
        word(a, p, run);
        word(b, p, run);
    }

    #[inline(always)]
    fn word(w: u64, p: &mut Profile, run: &mut u32) {
        let ascii = !w & H;
        if ascii == 0 {
            *run = 0;
            return;
        }
        let d = in_range(w, b'0', b'9');
        // A superset of the bytes of a class other than `DIGIT` (`-`, `/`, `<` to `?`
        // have none), each resolved by the table (the byte is shifted out of the word).
        let mut cand =
            in_range(w, b'\t', b'\n') | (in_range(w, b'+', b'Z') & !d) | in_range(w, b'|', b'|');
        while cand != 0 {
            p.classes |= CLASS[usize::from((w >> (cand.trailing_zeros() & !7)) as u8)];
            cand &= cand - 1;
        }
        if d == 0 {
            *run = 0;
            return;
        }
        p.classes |= DIGIT;
        p.digits += d.count_ones();
        if d == H {
            *run += 8;
        } else {
            // The digits that open the word continue the run; the longest run inside
            // it is the number of times the mask survives `x & x >> 8`; the digits
            // that close it start the next run.
            let gaps = !d & H;
            p.max_run = p.max_run.max(*run + gaps.trailing_zeros() / 8);
            let (mut x, mut inner) = (d, 0);
            while x != 0 {
                x &= x >> 8;
                inner += 1;
            }
            p.max_run = p.max_run.max(inner);
            *run = gaps.leading_zeros() / 8;
        }
        p.max_run = p.max_run.max(*run);
    }

    /// `profile` a byte at a time, by the table: what the words must equal.
    #[cfg(test)]
    pub fn profile_bytes(text: &str) -> Profile {
        let mut m = 0u8;
        let (mut digits, mut run, mut max_run) = (0u32, 0u32, 0u32);
        for &c in text.as_bytes() {
            let k = CLASS[c as usize];
            m |= k;
            let d = u32::from(k == DIGIT);
            digits += d;
            run = (run + 1) * d;
            max_run = max_run.max(run);
        }
        Profile {
            classes: m,
            digits,
            max_run,
        }
    }
}

// Scores. Their order is what resolves overlaps between types, so it is deliberate:
// a checksum-validated identifier beats a bare pattern; a valid 18-digit ID (1.0) beats
// the same digits read as a Luhn-valid card (0.9); a formatted SSN (0.75) beats the
// national phone reading of `078 05 1123` (0.6).
/// How far before its first digit a match of a digit rule can start, and after its last
/// digit end, unless the rule says less (`Rule::margins`): see `DIGIT_BACK` in `mod.rs`.
pub(crate) const DIGIT_MARGIN: u8 = 16;

const S_CHECKSUM: f32 = 1.0;
const S_CARD: f32 = 0.9;
const S_USCC: f32 = 0.95;
const S_USCC_WEAK: f32 = 0.6;
const S_PLATE: f32 = 0.85;
const S_CN_MOBILE: f32 = 0.85;
const S_PHONE_INTL: f32 = 0.7;
const S_PHONE_NATIONAL: f32 = 0.6;
const S_IP: f32 = 0.8;
const S_IP_IN_RUN: f32 = 0.6;
const S_URL: f32 = 0.6;
const S_BARE_DOMAIN: f32 = 0.5;
const S_SSN: f32 = 0.75;
const S_SSN_CONTEXT: f32 = 0.95;
const S_CONTEXT_ONLY: f32 = 0.6;
const S_PASSPORT: f32 = 0.7;
/// Below the default `min_score`: reported only when a caller lowers the threshold.
const S_NO_CONTEXT: f32 = 0.3;

/// How far before a candidate context words are looked for, in characters.
const CONTEXT_CHARS: usize = 32;

const CTX_ID: &[&str] = &[
    "身份证",
    "证件号",
    "id card",
    "identity card",
    "id no",
    "id number",
];
const CTX_CARD: &[&str] = &["卡号", "银行卡", "信用卡", "借记卡", "储蓄卡", "card"];
const CTX_PASSPORT: &[&str] = &[
    "护照",
    "passport",
    "travel document",
    "travel doc",
    "旅行证件",
    // An identity card is found by its check digit; a passport-shaped number after a
    // document cue is a passport.
    "证件",
    "document no",
    "document number",
    // The mainland's travel permits for Hong Kong, Macao and Taiwan (港澳通行证
    // C12345678) and the compatriots' permits (台胞证, 回乡证) are passports' kin.
    "通行证",
    "台胞证",
    "回乡证",
];
/// Words that name a number as something other than a card.
const CTX_NOT_CARD: &[&str] = &[
    "order",
    "invoice",
    "tracking",
    "reference",
    "ref:",
    "ref no",
    "ref #",
    "ticket",
    "订单",
    "单号",
    "运单",
    "发票",
];
const CTX_SSN: &[&str] = &["ssn", "social security", "社会安全号"];
const CTX_DOB: &[&str] = &[
    "出生",
    "生日",
    "出生日期",
    "生于",
    "诞生",
    "生辰",
    "birth",
    "dob",
    "d.o.b",
    "date of birth",
    "birth date",
    "birthday",
    "born",
    "bday",
    "b-day",
    "(b. ",
    "诞辰",
    "出生年月",
    " b. ",
    // 出生日期 as data keys are written in pinyin initials.
    "csrq",
];
static CUES_ID: Cues = Cues::new(CTX_ID);
static CUES_CARD: Cues = Cues::new(CTX_CARD);
static CUES_PASSPORT: Cues = Cues::new(CTX_PASSPORT);
static CUES_NOT_CARD: Cues = Cues::new(CTX_NOT_CARD);
static CUES_SSN: Cues = Cues::new(CTX_SSN);
static CUES_DOB: Cues = Cues::new(CTX_DOB);
/// Words that say a person has died: a date range near them is a lifespan, and its
/// first date a date of birth (`In loving memory of …\n1959-03-20 – 2025-06-17`).
const CTX_DEATH: &[&str] = &[
    "in loving memory",
    "in memory of",
    "passed away",
    "died",
    "obituary",
    "rest in peace",
    "funeral",
    "late ",
    "逝世",
    "去世",
    "病逝",
    "辞世",
    "享年",
    "生卒",
    "讣告",
    "悼念",
];
const S_DOB: f32 = 0.8;
/// A date in parentheses after a name, without a birth cue.
const S_DOB_PAREN: f32 = 0.6;
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn is_alnum(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_alphanumeric)
}

/// An ASCII letter or digit immediately before `s`.
fn alnum_before(text: &str, s: usize) -> bool {
    s.checked_sub(1)
        .is_some_and(|i| text.as_bytes()[i].is_ascii_alphanumeric())
}

/// No ASCII letter or digit immediately before `s` or at `e`.
pub(crate) fn neighbours_ok(text: &str, s: usize, e: usize) -> bool {
    !alnum_before(text, s) && !is_alnum(text.as_bytes().get(e))
}

/// True when one of `words` (ASCII ones matched case-insensitively) occurs in the
/// `CONTEXT_CHARS` characters before `s`.
pub(crate) fn context_before(text: &str, s: usize, words: &[&str]) -> bool {
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    words_before(text, s, &lower).is_some()
}

pub(crate) fn has_context(text: &str, s: usize, cues: &Cues) -> bool {
    cue_before(text, s, cues).is_some()
}

/// A list of context words (lower-case, at most 32, none empty) with, for each byte, the
/// words that end in it (ASCII letters under their lower case), built at compile time.
pub(crate) struct Cues {
    words: &'static [&'static str],
    /// Bit `k` of `by_last[b]`: word `k` ends in byte `b`.
    by_last: [u32; 256],
}

impl Cues {
    const fn new(words: &'static [&'static str]) -> Cues {
        assert!(words.len() <= 32);
        let mut by_last = [0u32; 256];
        let mut k = 0;
        while k < words.len() {
            let w = words[k].as_bytes();
            assert!(!w.is_empty());
            let mut i = 0;
            while i < w.len() {
                // Lower case only: the window is lower-cased before it is compared.
                assert!(!w[i].is_ascii_uppercase());
                i += 1;
            }
            by_last[w[w.len() - 1] as usize] |= 1 << k;
            k += 1;
        }
        Cues { words, by_last }
    }
}

/// The start of the window `cue_before` searches: the `CONTEXT_CHARS` characters before
/// `s`, from the last sentence end among them on. One walk back over the bytes, instead
/// of the characters' decoding and a search of them for eight characters (the two were
/// most of `cue_before`'s cost): a char starts at each byte that is not a continuation
/// byte, and a sentence end's bytes start a char wherever they occur in valid UTF-8.
fn cue_window_start(text: &str, s: usize) -> usize {
    let b = text.as_bytes();
    let mut chars = 0;
    let mut p = s;
    while p > 0 {
        p -= 1;
        let c = b[p];
        match c {
            b'!' | b'?' | b';' | b'\n' => return p,
            // 。 (E3 80 82), ！ (EF BC 81), ？ (EF BC 9F), ； (EF BC 9B): a three-byte
            // char that starts before `s` ends by `s`, which is a char boundary.
            0xE3 if b[p + 1..p + 3] == [0x80, 0x82] => return p,
            0xEF if matches!(b[p + 1..p + 3], [0xBC, 0x81 | 0x9F | 0x9B]) => return p,
            _ => {}
        }
        if c & 0xC0 != 0x80 {
            chars += 1;
            if chars == CONTEXT_CHARS {
                return p;
            }
        }
    }
    0
}

/// Where the last of `cues`' words that occurs in the `CONTEXT_CHARS` characters before
/// `s`, within the same sentence, starts and ends: of those that end last, the latest
/// in the list (`words_before`, which `cue_before_is_words_before` checks it against).
/// It runs for most candidates of most rules (15 K times on the 5.7 MB chat sample, 20
/// words for a date): searching the window once from its end, by each byte's words
/// ending in it, took the detector from 851 to 827 M instructions there (one `memmem`
/// search per word, at about 2,700 instructions a call, to 4 M in all).
pub(crate) fn cue_before(text: &str, s: usize, cues: &Cues) -> Option<(usize, usize)> {
    cue_in(text.as_bytes(), cue_window_start(text, s), s, cues)
}

/// The last of `cues`' words that lies wholly in `b[from..s]` (bytes; `from` need not
/// be a character boundary: a word's bytes are whole characters), as `cue_before`.
fn cue_in(b: &[u8], from: usize, s: usize, cues: &Cues) -> Option<(usize, usize)> {
    let mut end = s;
    while end > from {
        let mut bits = cues.by_last[usize::from(b[end - 1].to_ascii_lowercase())];
        // Later words first: they win a tie.
        while bits != 0 {
            let k = 31 - bits.leading_zeros() as usize;
            bits &= !(1 << k);
            let w = cues.words[k].as_bytes();
            if end - from >= w.len() && b[end - w.len()..end].eq_ignore_ascii_case(w) {
                return Some((end - w.len(), end));
            }
        }
        end -= 1;
    }
    None
}

/// `cue_before` for any list of words (lower-case): one search per word in the
/// lower-cased window.
pub(crate) fn words_before(text: &str, s: usize, words: &[&str]) -> Option<(usize, usize)> {
    let from = text[..s]
        .char_indices()
        .rev()
        .nth(CONTEXT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    // A context word belongs to its own sentence: "出生日期：…。我在2022-10-01下单" does
    // not make the order date a date of birth.
    let mut from = from;
    if let Some(i) = text[from..s].rfind(['。', '！', '？', '；', '!', '?', ';', '\n']) {
        from += i;
    }
    // Lower-cased on the stack: the window is at most `CONTEXT_CHARS` characters (4
    // bytes each at most).
    let mut buf = [0u8; CONTEXT_CHARS * 4];
    let window = &mut buf[..s - from];
    window.copy_from_slice(&text.as_bytes()[from..s]);
    window.make_ascii_lowercase();
    let window = &*window;
    words
        .iter()
        .filter_map(|w| {
            memchr::memmem::rfind(window, w.as_bytes()).map(|i| (from + i, from + i + w.len()))
        })
        .max_by_key(|c| c.1)
}

fn digits_of(span: &str) -> String {
    span.bytes()
        .filter(u8::is_ascii_digit)
        .map(char::from)
        .collect()
}

/// The ASCII digits of `span` in a buffer on the stack, and how many there are; `None`
/// when there are more than `N`. The checks run on every candidate of their rule, and
/// `digits_of`'s `String` (an allocation each) was about a third of `bank_card`'s cost.
fn digits_upto<const N: usize>(span: &str) -> Option<([u8; N], usize)> {
    let mut buf = [0u8; N];
    let mut n = 0;
    // A plain loop: `filter` with `?` inside cost more than the `String` it replaced.
    for &c in span.as_bytes() {
        if c.is_ascii_digit() {
            if n == N {
                return None;
            }
            buf[n] = c;
            n += 1;
        }
    }
    Some((buf, n))
}

/// The ASCII digits `digits_upto` collected, as a string.
fn ascii_digits(buf: &[u8]) -> &str {
    debug_assert!(buf.iter().all(u8::is_ascii_digit));
    // SAFETY: `digits_upto` writes only ASCII digits (checked just before it writes
    // each), and ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(buf) }
}

/// `f` of the ASCII digits of `span` (as `digits_of`), on the stack unless there are
/// more than 32.
fn with_digits<R>(span: &str, f: impl FnOnce(&str) -> R) -> R {
    match digits_upto::<32>(span) {
        Some((buf, n)) => f(ascii_digits(&buf[..n])),
        None => f(&digits_of(span)),
    }
}

fn cn_id_card(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let span = &text[s..e];
    // Written in groups of 6-8-4 (region, birth date, sequence and check) with spaces
    // or hyphens: validated without the separators.
    if span.len() == 20 {
        let compact: String = span.chars().filter(|c| *c != ' ' && *c != '-').collect();
        return (compact.len() == 18 && cn_id18(&compact)).then_some((s, e, S_CHECKSUM));
    }
    match span.len() {
        18 if cn_id18(span) => Some((s, e, S_CHECKSUM)),
        15 if cn_id15(span) && has_context(text, s, &CUES_ID) => Some((s, e, S_CONTEXT_ONLY)),
        _ => None,
    }
}

fn bank_card(text: &str, s: usize, e: usize) -> Option<Hit> {
    // `+` introduces a phone number in international form, never a card.
    if s > 0 && text.as_bytes()[s - 1] == b'+' {
        return None;
    }
    // A grouped card may have picked up a short trailing group that belongs to the
    // following text ("4012 8888 8888 1881 12 items"): retry without it.
    // By bytes: both separators are ASCII, so the byte offset is the `char` search's.
    let cut = text.as_bytes()[s..e]
        .iter()
        .rposition(|&c| c == b' ' || c == b'-')
        .filter(|p| e - (s + p + 1) < 4)
        .map(|p| s + p);
    for end in std::iter::once(e).chain(cut) {
        if !neighbours_ok(text, s, end) {
            continue;
        }
        // More than 19 digits is no card, as for 12..=19 below.
        let Some((buf, n)) = digits_upto::<19>(&text[s..end]) else {
            continue;
        };
        let d = ascii_digits(&buf[..n]);
        if !(12..=19).contains(&d.len()) {
            continue;
        }
        // Maestro numbers run from 12 digits and some start with 0 (0604…): taken
        // only Luhn-valid after a card cue, since such digit runs are also phone
        // numbers with a trunk prefix, order numbers and timestamps.
        if d.len() == 12 || d.starts_with('0') {
            // Without a cue: a Luhn-valid number under one of Maestro's own four-digit
            // prefixes (about one 12-digit number in ten thousand passes both), unless
            // the text says it is an order, invoice or tracking number.
            const MAESTRO: [&str; 9] = [
                "5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763",
            ];
            if luhn(d)
                && (has_context(text, s, &CUES_CARD)
                    || (MAESTRO.iter().any(|p| d.starts_with(p))
                        && !has_context(text, s, &CUES_NOT_CARD)))
            {
                return Some((s, end, S_CONTEXT_ONLY));
            }
            continue;
        }
        // No payment card starts with 0 (`0086…` is a phone prefix). Only old Visa cards
        // have 13 digits. Other 13-digit numbers are epoch-millisecond
        // timestamps (`1748503543012`, a Presidio negative) or CN mobiles with the
        // country code (`8613812345678`), far more common than such cards.
        if d.len() == 13 && !d.starts_with('4') {
            continue;
        }
        if luhn(d) {
            return Some((s, end, S_CARD));
        }
        // Context rescues a Luhn-invalid number only outside the networks that mandate
        // Luhn (Visa 4, Mastercard 2/5, Amex/JCB/Diners 3): a Luhn-invalid 4xxx number is
        // a typo or a test value, not a card (Presidio's negative "my credit card number
        // is 4012-8888-8888-1882"). Chinese domestic cards (62…, 9…) are kept.
        if (16..=19).contains(&d.len())
            && !matches!(d.as_bytes()[0], b'2'..=b'5')
            && has_context(text, s, &CUES_CARD)
        {
            return Some((s, end, S_CONTEXT_ONLY));
        }
    }
    None
}

fn cn_mobile(text: &str, s: usize, e: usize) -> Option<Hit> {
    neighbours_ok(text, s, e).then_some((s, e, S_CN_MOBILE))
}

/// A national number with a trunk 0: Chinese landlines (`010-12345678`, `（0755）1234567`)
/// and UK numbers (`020 7946 0958`, `(0161) 496 0000`), accepted on their form.
fn phone_national(text: &str, s: usize, e: usize) -> Option<Hit> {
    let n = text[s..e].bytes().filter(u8::is_ascii_digit).count();
    if !neighbours_ok(text, s, e) || !(9..=12).contains(&n) {
        return None;
    }
    // The tail of a longer number written in groups (`tracking number 9400 0389 8783
    // 0374 9355 79`) is not a phone number of its own unless a cue says so.
    let b = text.as_bytes();
    let continues = s >= 2 && b[s - 1] == b' ' && b[s - 2].is_ascii_digit();
    if continues && !has_context(text, s, &CUES_PHONE) {
        return None;
    }
    Some((s, e, S_PHONE_NATIONAL))
}

/// Labels of a phone number field (lower case; the detector reads the folded shadow,
/// where `Tél` and `Móvil` are `tel` and `movil`, 電話 and 手機 are 电话 and 手机).
pub(crate) const PHONE_LABELS: &[&str] = &[
    "phone",
    "tel",
    "mobile",
    "mob",
    "cell",
    "handy",
    "telefon",
    "telefone",
    "telefono",
    "movil",
    "portable",
    "mobil",
    "mobiel",
    "telefoon",
    "cellulare",
    "celular",
    "whatsapp",
    "fax",
    "tlf",
    "电话",
    "手机",
    "座机",
    "固话",
    "传真",
    // After `phone`: a later word wins a tie.
    "telephone",
    "cellphone",
];
static LABELS_PHONE: Cues = Cues::new(PHONE_LABELS);

/// A number in any layout right after a phone label, with at most separators, a
/// copula and a word for "number" between them (`Tel.: `, `电话号码：`, `手机是`,
/// `Telephone number: `): 7 to 13 digits.
fn phone_after_label(text: &str, s: usize, e: usize) -> Option<Hit> {
    let n = text[s..e].bytes().filter(u8::is_ascii_digit).count();
    if !neighbours_ok(text, s, e)
        || !(7..=13).contains(&n)
        || !(label_before(text.as_bytes(), s) || label_after(text.as_bytes(), e))
    {
        return None;
    }
    // A date after the label is not its number (`Tel 2024-03-12`).
    let b = &text.as_bytes()[s..e];
    let date = b.len() == 10
        && matches!(&b[..2], b"19" | b"20")
        && b[4] == b[7]
        && matches!(b[4], b'-' | b'/' | b'.');
    (!date).then_some((s, e, S_PHONE_NATIONAL))
}

/// Whether a phone label ends right before byte `s` of `b`: going back, separators
/// (` :\t.-#`, `：`), a copula (`是`, `为`), at most one word for "number" (`number`,
/// `no`, `nr`, `num`, `nummer`, `numero`, `号码`, `号`) and separators again, then one of
/// `PHONE_LABELS` that is a word of its own (not the end of `hotel`). A few byte tests
/// at most: the label rule's shape asks it at every digit run that may start a number.
fn label_before(b: &[u8], s: usize) -> bool {
    let skip_seps = |mut p: usize| {
        loop {
            if p >= 1 && matches!(b[p - 1], b' ' | b':' | b'\t' | b'.' | b'-' | b'#') {
                p -= 1;
            } else if p >= 3
                && matches!(
                    &b[p - 3..p],
                    [0xEF, 0xBC, 0x9A] | [0xE6, 0x98, 0xAF] | [0xE4, 0xB8, 0xBA]
                )
            {
                // ：是为
                p -= 3;
            } else {
                return p;
            }
        }
    };
    let mut p = skip_seps(s);
    // Most digit runs follow a Han character or a letter that ends no label, no word
    // for "number" (号 and 码 end in 0xB7 and 0x81) and no verb of calling's phrase
    // (`call`, `text`, `at`, `on`, `to`; `ring` and `reach` need a preposition): one
    // table lookup refuses them.
    if p == 0
        || (LABELS_PHONE.by_last[usize::from(b[p - 1].to_ascii_lowercase())] == 0
            && !matches!(
                b[p - 1].to_ascii_lowercase(),
                b'r' | b'o' | b'm' | b't' | b'n' | 0xB7 | 0x81
            ))
    {
        return false;
    }
    if b[s.saturating_sub(1)] == b' ' && call_before(b, p) {
        return true;
    }
    // A word for "number".
    let letters = b[..p]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = &b[p - letters..p];
    let number_words: [&[u8]; 6] = [b"number", b"no", b"nr", b"num", b"nummer", b"numero"];
    if number_words.iter().any(|w| w.eq_ignore_ascii_case(word)) {
        p = skip_seps(p - letters);
    } else if b[..p].ends_with("号码".as_bytes()) {
        p = skip_seps(p - "号码".len());
    } else if b[..p].ends_with("号".as_bytes()) {
        p = skip_seps(p - "号".len());
    }
    match cue_in(b, p.saturating_sub(LABEL_MAX), p, &LABELS_PHONE) {
        Some((cs, ce)) => ce == p && !(cs > 0 && b[cs - 1].is_ascii_alphabetic()),
        None => false,
    }
}

/// Whether a phone label follows the number ending at `e` and ends its line or clause,
/// as signature blocks write it: ` office`, `-Fax`, ` (mobile)`, ` cell.` (one of
/// `AFTER_LABELS`, ASCII case-insensitive, after a space, a hyphen or ` (`, followed by
/// the end, a line break, `)`, `,`, `;`, `.` or `|`). `1234567 mobile users` has none.
fn label_after(b: &[u8], e: usize) -> bool {
    // `home` and `work` last: after a plain space they are as often no label
    // (`12345678 home.`), so they are taken only after a hyphen or a bracket.
    const AFTER_LABELS: [&[u8]; 9] = [
        b"office", b"fax", b"mobile", b"cell", b"tel", b"phone", b"direct", b"home", b"work",
    ];
    let mut j = e;
    let mut marked = true;
    match b.get(j) {
        Some(b'-') => j += 1,
        Some(b' ') => {
            j += 1;
            marked = b.get(j) == Some(&b'(');
            if marked {
                j += 1;
            }
        }
        _ => return false,
    }
    let n = b[j..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = &b[j..j + n];
    let labels = if marked {
        &AFTER_LABELS[..]
    } else {
        &AFTER_LABELS[..AFTER_LABELS.len() - 2]
    };
    labels.iter().any(|w| w.eq_ignore_ascii_case(word))
        && matches!(
            b.get(j + n),
            None | Some(b'\n' | b'\r' | b')' | b',' | b';' | b'.' | b'|')
        )
}

/// Whether a verb of calling ends at `p` (after a space before the number): `call`,
/// `dial`, `text`, alone or with a person and a preposition (`call me on`, `text us
/// at`), or `reach`, `contact` and `ring` with both (`reach me at`, `ring me on`:
/// `reach 1000000 users` and `the ring 12345678` are no phone numbers). Words of their
/// own, ASCII case-insensitive, single spaces between.
fn call_before(b: &[u8], p: usize) -> bool {
    // The word of ASCII letters ending at `e`, lower-cased on the stack, with its start.
    let word = |e: usize| -> (usize, [u8; 8], usize) {
        let n = b[..e]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        let mut w = [0u8; 8];
        if n <= 8 {
            for (d, c) in w.iter_mut().zip(&b[e - n..e]) {
                *d = c.to_ascii_lowercase();
            }
        }
        (e - n, w, n)
    };
    let is = |w: &[u8; 8], n: usize, words: &[&[u8]]| {
        words.iter().any(|x| x.len() == n && w[..n] == **x)
    };
    let (mut s, mut w, mut n) = word(p);
    let mut phrase = 0;
    if is(&w, n, &[b"at", b"on", b"to"]) && s >= 2 && b[s - 1] == b' ' {
        (s, w, n) = word(s - 1);
        phrase += 1;
    }
    if phrase == 1
        && is(&w, n, &[b"me", b"us", b"him", b"her", b"them"])
        && s >= 2
        && b[s - 1] == b' '
    {
        (s, w, n) = word(s - 1);
        phrase += 1;
    }
    let own_word = s == 0 || !b[s - 1].is_ascii_alphabetic();
    own_word
        && (is(&w, n, &[b"call", b"dial", b"text"])
            || (phrase == 2 && is(&w, n, &[b"reach", b"contact", b"ring"])))
}

/// The longest phone label, in bytes (`cellulare`, `telephone`, `cellphone`).
const LABEL_MAX: usize = 9;

const CTX_PHONE: &[&str] = &[
    "phone",
    "tel",
    "call",
    "cell",
    "mobile",
    "fax",
    "contact",
    "reach",
    "text",
    "ph.",
    "ph:",
    "voicemail",
    "whatsapp",
    "sms",
    "new number",
    "my number",
    "电话",
    "手机",
    "联系",
    "致电",
    "号码",
];
static CUES_PHONE: Cues = Cues::new(CTX_PHONE);
/// A number that libphonenumber's metadata says is a valid number of its region.
const S_PHONE_VALID: f32 = 0.85;
/// A NANP layout whose digits are not a valid number (area code or exchange starting
/// with 0 or 1, an unassigned area code): still a phone number when the layout says so
/// firmly (a parenthesised area code, an extension, a +1/001 prefix) or a cue does.
const S_PHONE_LAYOUT: f32 = 0.55;

/// Whether libphonenumber's metadata (the `phonenumber` crate) says `span` is a valid
/// number, read in `region` when it has no country code.
fn phone_valid(span: &str, region: phonenumber::country::Id) -> bool {
    // The extension is not part of the number libphonenumber validates.
    let lower = span.to_ascii_lowercase();
    let cut = lower
        .find(['x', '#'])
        .or_else(|| lower.find("ext"))
        .unwrap_or(span.len());
    phonenumber::parse(Some(region), span[..cut].trim()).is_ok_and(|n| {
        match super::phonemeta::calling_code(n.code().value()) {
            Some(code) => code.is_valid(&n.national().to_string()),
            None => phonenumber::is_valid(&n),
        }
    })
}

/// North American numbers in their common layouts: `(212)555-1234`, `212.555.1234`,
/// `+1-212-555-1234`, `001-212-555-1234x567`, `212-555-1234 ext. 89`.
fn phone_nanp(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let span = &text[s..e];
    let firm = span.contains('(')
        || span.starts_with('+')
        || span.starts_with("001")
        || span.bytes().any(|c| matches!(c, b'x' | b'X' | b'#'))
        || span.to_ascii_lowercase().contains("ext");
    let cue = has_context(text, s, &CUES_PHONE);
    let score = S_PHONE_LAYOUT + if firm { 0.1 } else { 0.0 } + if cue { 0.2 } else { 0.0 };
    // Three groups of plain digits with one kind of separator and no cue is also how
    // order and reference numbers are written; keep it only when the groups read as a
    // NANP area code and exchange (first digit 2-9).
    let nanp_like = with_digits(span, |d| {
        let local = &d[d.len().saturating_sub(10)..];
        local.len() == 10
            && matches!(local.as_bytes()[0], b'2'..=b'9')
            && matches!(local.as_bytes()[3], b'2'..=b'9')
    });
    // The layout decides, not libphonenumber's metadata: validating every formatted
    // candidate with the `phonenumber` crate was measured to cost more than the rest of
    // the stage (about 100 µs a number); it validates bare digit runs (`phone_bare`).
    // A country code written before it without `+` (`91-415-555-0132`): one to three
    // digits and the same separator, at the start of a token, belong to the number.
    let s = country_code_before(text, s).unwrap_or(s);
    if firm || cue || nanp_like {
        return Some((s, e, score));
    }
    Some((s, e, S_NO_CONTEXT))
}

/// The start of `CC-` or `CC ` (one to three digits, then `-` or a space) right before
/// `s` when nothing alphanumeric precedes it.
fn country_code_before(text: &str, s: usize) -> Option<usize> {
    let b = text.as_bytes();
    let sep = *b.get(s.checked_sub(1)?)?;
    if sep != b'-' {
        return None;
    }
    let digits = b[..s - 1]
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let start = s - 1 - digits;
    ((1..=3).contains(&digits)
        && !alnum_before(text, start)
        && !matches!(b.get(start.wrapping_sub(1)), Some(b'-' | b'.')))
    .then_some(start)
}

/// `+CC …`: groups of digits (or a parenthesised area code) with single separators.
/// Keeps the longest prefix of whole groups with 8–15 digits, so a number followed by
/// an unrelated figure is cut at the group boundary instead of being refused.
fn phone_intl(text: &str, s: usize, e: usize) -> Option<Hit> {
    if alnum_before(text, s) {
        return None;
    }
    let b = text.as_bytes();
    let mut digits = 0;
    let mut best = None;
    let mut i = s + 1;
    while i < e {
        let c = b[i];
        if c.is_ascii_digit() {
            digits += 1;
            let group_end = i + 1 == e || !b[i + 1].is_ascii_digit();
            // A `)` after a group closes the number's own area code (`+1 (415`) only
            // when the number opened one; otherwise it closes a bracket around the
            // whole number (`(+91 98765 43210)`).
            if group_end
                && (8..=15).contains(&digits)
                && !is_alnum(b.get(i + 1))
                && (b.get(i + 1) != Some(&b')') || !b[s..i].contains(&b'('))
            {
                best = Some(i + 1);
            }
            if digits > 15 {
                break;
            }
        }
        i += 1;
    }
    best.map(|end| (s, end, S_PHONE_INTL))
}

fn us_ssn(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let (invalid, unissued, n) = with_digits(&text[s..e], |d| {
        let (area, group, serial) = (&d[..3], &d[3..5], &d[5..]);
        let invalid = area == "000"
            || area == "666"
            || group == "00"
            || serial == "0000"
            || d.bytes().all(|c| c == d.as_bytes()[0]);
        // Numbers never issued as SSNs but written where one goes: published or
        // sequential ones (the Woolworth card, `123-45-6789`) and the 9xx area of
        // taxpayer numbers (ITINs).
        let unissued =
            area.starts_with('9') || matches!(d, "123456789" | "078051120" | "219099999");
        (invalid, unissued, d.len())
    });
    if invalid {
        return None;
    }
    let context = has_context(text, s, &CUES_SSN);
    // Without a cue they are no SSN; after one (`SSN: 123-45-6789`) they are what the
    // text gives as one, and leave with it unless tagged.
    if unissued && !context {
        return None;
    }
    if n == e - s {
        // Nine bare digits are far too common to mean an SSN without a context word.
        return context.then_some((s, e, S_CONTEXT_ONLY));
    }
    Some((s, e, if context { S_SSN_CONTEXT } else { S_SSN }))
}

fn email(text: &str, s: usize, e: usize) -> Option<Hit> {
    // The pattern's local part may start with dots ("..a@b.cn"); a local part cannot.
    let s = s + text[s..e].bytes().take_while(|&c| c == b'.').count();
    let local_end = s + text[s..e].find('@')?;
    if local_end == s || text.as_bytes()[local_end - 1] == b'.' {
        return None;
    }
    neighbours_ok(text, s, e).then_some((s, e, S_CHECKSUM))
}

/// Top-level domains accepted for a bare domain (no scheme, no `www.`). A closed list,
/// because `report.pdf`, `main.rs` or `e.g` must not become URLs; file-extension-like
/// country codes (`rs`, `py`, `md`, `sh`, `pl`) are left out on purpose.
const BARE_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "ai", "app", "dev", "cn",
    "hk", "tw", "mo", "uk", "de", "fr", "jp", "kr", "ru", "in", "br", "au", "ca", "us", "eu", "me",
    "tv", "cc", "co", "il", "nl", "it", "es", "ch", "se", "no", "fi", "dk", "cz", "at", "be", "ie",
    "nz", "sg", "my", "th", "vn", "ph", "xyz", "top", "site", "online", "shop", "store", "tech",
    "club", "vip", "wang", "ltd", "mobi", "asia", "cloud",
];

/// Strips what the URL pattern may have swallowed at its end but a writer meant as
/// sentence punctuation: `.,;:!?'"` and a `)` or `]` without its opening partner.
fn trim_url_end(span: &str) -> usize {
    let mut end = span.len();
    loop {
        let t = &span[..end];
        let Some(last) = t.bytes().last() else {
            return end;
        };
        let drop = match last {
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\'' | b'"' => true,
            b')' => t.matches('(').count() < t.matches(')').count(),
            b']' => t.matches('[').count() < t.matches(']').count(),
            _ => false,
        };
        if !drop {
            return end;
        }
        end -= 1;
    }
}

fn url(text: &str, s: usize, e: usize) -> Option<Hit> {
    let e = s + trim_url_end(&text[s..e]);
    let span = &text[s..e];
    if alnum_before(text, s) {
        return None;
    }
    let lower = span.to_ascii_lowercase();
    let host_end = lower.find(['/', '?', '#']).unwrap_or(lower.len());
    if lower.contains("://") {
        return Some((s, e, S_URL));
    }
    // `www.` + name + TLD: `www.microsoft` alone is not a host.
    if lower.starts_with("www.") && lower[..host_end].matches('.').count() >= 2 {
        return Some((s, e, S_URL));
    }
    // A bare domain: not the domain of an e-mail, and only with a known TLD.
    if s > 0 && matches!(text.as_bytes()[s - 1], b'@' | b'.' | b'-') {
        return None;
    }
    let host = lower[..host_end].split(':').next()?;
    let tld = host.rsplit('.').next()?;
    BARE_TLDS.contains(&tld).then_some((s, e, S_BARE_DOMAIN))
}

/// IPv4 with an optional CIDR suffix, kept only when the prefix is ≤ 32.
fn ipv4(text: &str, s: usize, e: usize) -> Option<Hit> {
    let b = text.as_bytes();
    // Part of a longer dotted run (`1.2.3.4.5`, a version string) or glued to a word.
    if s > 0 && (is_alnum(b.get(s - 1)) || (b[s - 1] == b'.' && s > 1 && b[s - 2].is_ascii_digit()))
    {
        return None;
    }
    let (addr, prefix) = match text[s..e].split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (&text[s..e], None),
    };
    let addr_end = s + addr.len();
    if is_alnum(b.get(e)) && prefix.is_none() {
        return None;
    }
    addr.parse::<Ipv4Addr>().ok()?;
    if b.get(addr_end) == Some(&b'.') {
        match b.get(addr_end + 1) {
            Some(c) if c.is_ascii_alphabetic() => return None,
            // A longer dotted run: `1.2.3.4.5` is a version or OID, but Presidio reads
            // `192.168.1.1.1` as an address followed by `.1`. A single-digit first
            // octet is the version/OID shape (OIDs start with 0-2), so only the others
            // are kept, with a lower score.
            Some(c) if c.is_ascii_digit() => {
                return (addr.len() > 1 && addr.as_bytes()[1] != b'.').then_some((
                    s,
                    addr_end,
                    S_IP_IN_RUN,
                ));
            }
            _ => {}
        }
    }
    match prefix {
        Some(p) if p.parse::<u8>().is_ok_and(|p| p <= 32) && !is_alnum(b.get(e)) => {
            Some((s, e, S_IP))
        }
        _ => Some((s, addr_end, S_IP)),
    }
}

/// IPv6 (compressed, IPv4-embedded, with zone and CIDR suffix), validated by `std`.
fn ipv6(text: &str, s: usize, e: usize) -> Option<Hit> {
    let b = text.as_bytes();
    let mut s = s;
    let mut e = e;
    // A label colon before the address ("Gateway:fe80::1") or after it ("fe80::1: up").
    if text[s..e].starts_with(':') && !text[s..e].starts_with("::") {
        s += 1;
    }
    if alnum_before(text, s) {
        return None;
    }
    while e > s && b[e - 1] == b'.' {
        e -= 1;
    }
    if text[s..e].ends_with(':') && !text[s..e].ends_with("::") {
        e -= 1;
    }
    if is_alnum(b.get(e)) || text[s..e].matches(':').count() < 2 {
        return None;
    }
    let addr: Ipv6Addr = text[s..e].parse().ok()?;
    // `A::B` in C++ or Rust source parses as an address; real ones nearly always hold a
    // decimal digit. `::` alone is the unspecified address, not someone's address
    // (Presidio scores it below 0.5).
    if addr.is_unspecified() || !text[s..e].bytes().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut end = e;
    // Zone index: `%eth0`.
    if b.get(end) == Some(&b'%') {
        let zone = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
            .count();
        if zone > 0 {
            end += 1 + zone;
        }
    }
    // CIDR prefix ≤ 128; an impossible one (`/9999`) is left out of the span.
    if b.get(end) == Some(&b'/') {
        let n = b[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if (1..=3).contains(&n)
            && !is_alnum(b.get(end + 1 + n))
            && text[end + 1..end + 1 + n]
                .parse::<u8>()
                .is_ok_and(|p| p <= 128)
        {
            end += 1 + n;
        }
    }
    Some((s, end, S_IP))
}

fn uscc(text: &str, s: usize, e: usize) -> Option<Hit> {
    let span = &text[s..e];
    let b = span.as_bytes();
    // Registration authority (1-9, A, N, Y), organisation type, and a six-digit
    // administrative division code starting with a real province or the national level.
    let structure = matches!(b[0], b'1'..=b'9' | b'A' | b'N' | b'Y')
        && matches!(b[1], b'1'..=b'9')
        && b[2..8].iter().all(u8::is_ascii_digit)
        // `10…` is the national level (central-government registrations).
        && (&b[2..4] == b"10" || super::validators::cn_region_code(&b[2..4]));
    if !neighbours_ok(text, s, e) || !structure || !gb32100(span) {
        return None;
    }
    if gb11714(&span[8..17]) {
        Some((s, e, S_USCC))
    } else if b.iter().any(u8::is_ascii_uppercase) {
        Some((s, e, S_USCC_WEAK))
    } else {
        // 18 digits with only the MOD 31 check right: 1 in 31 random numbers pass.
        Some((s, e, S_NO_CONTEXT))
    }
}

fn plate(text: &str, s: usize, e: usize) -> Option<Hit> {
    if is_alnum(text.as_bytes().get(e)) {
        return None;
    }
    // Province (one CJK char, 3 bytes), authority letter, optional separator, serial.
    let serial: Vec<u8> = text[s + 3..e]
        .bytes()
        .skip(1)
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    let ok = match serial.len() {
        // Ordinary plates: at most two letters (GA 36-2018).
        5 => serial.iter().filter(|c| c.is_ascii_uppercase()).count() <= 2,
        // New-energy plates: small cars D/F (now A-K) then 5 with the last 4 digits;
        // large vehicles 5 digits then D/F.
        6 => {
            (matches!(serial[0], b'A'..=b'K') && serial[2..].iter().all(u8::is_ascii_digit))
                || (serial[..5].iter().all(u8::is_ascii_digit) && matches!(serial[5], b'D' | b'F'))
        }
        _ => false,
    };
    ok.then_some((s, e, S_PLATE))
}

/// Other countries' passport numbers (`J37585983`, `567532563`, `L55543890`): six to
/// nine digits after at most two letters, only right after a passport cue.
fn passport_ctx(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let cue = cue_before(text, s, &CUES_PASSPORT)?;
    // The cue is near: at most 16 characters between it and the number.
    (text[cue.1..s].chars().count() <= 24).then_some((s, e, S_PASSPORT))
}

/// Bare national numbers that libphonenumber's metadata validates: UK numbers written
/// without spaces (`01184960727`), and ten-digit US numbers after a phone cue.
fn phone_bare(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let span = &text[s..e];
    let cue = has_context(text, s, &CUES_PHONE)
        || column_header_has(text, s, CTX_PHONE)
        || contact_line(text, s, e);
    if span.len() == 11 && span.starts_with('0') {
        if phone_valid(span, phonenumber::country::Id::GB) {
            return Some((s, e, S_PHONE_VALID));
        }
        return cue.then_some((s, e, S_PHONE_NATIONAL));
    }
    if span.len() == 10 && span.starts_with("09") {
        // A Taiwan mobile number (0912345678), after a cue only: ten digits alone are
        // as often an order or account number.
        return (cue && phone_valid(span, phonenumber::country::Id::TW)).then_some((
            s,
            e,
            S_PHONE_VALID,
        ));
    }
    if span.len() == 10 && cue {
        if phone_valid(span, phonenumber::country::Id::US) {
            return Some((s, e, S_PHONE_INTL));
        }
        let b = span.as_bytes();
        return (b[3] >= b'2').then_some((s, e, S_PHONE_NATIONAL));
    }
    None
}

/// Whether the number at `s..e` stands where contact details do: alone on its line (a
/// signature block), or on a line that also holds an e-mail address (`01154960772 ·
/// ann@example.com`).
fn contact_line(text: &str, s: usize, e: usize) -> bool {
    let line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[e..].find('\n').map_or(text.len(), |i| e + i);
    let alone = text[line_start..s].trim().is_empty() && text[e..line_end].trim().is_empty();
    // An address within a few words of the number, not anywhere in a long line, and
    // no order or ticket named before it (`order PO 4546462862, … the email …`).
    let mut a = s.saturating_sub(48).max(line_start);
    while !text.is_char_boundary(a) {
        a += 1;
    }
    let mut z = (e + 48).min(line_end);
    while !text.is_char_boundary(z) {
        z -= 1;
    }
    let near = &text[a..z];
    let email_near = near.contains('@') && !has_context(text, s, &CUES_NOT_CARD);
    (alone && line_start > 0) || email_near
}

fn passport(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let score = if has_context(text, s, &CUES_PASSPORT) {
        S_PASSPORT
    } else {
        S_NO_CONTEXT
    };
    Some((s, e, score))
}

/// The numbers of a date-like span in order and how many there are: None for more
/// than three (a date has at most three).
fn date_numbers(span: &str) -> Option<([u32; 3], usize)> {
    let mut nums = [0u32; 3];
    let mut count = 0;
    for part in span.split(|c: char| !c.is_ascii_digit()) {
        let Ok(n) = part.parse() else { continue };
        if count == 3 {
            return None;
        }
        nums[count] = n;
        count += 1;
    }
    Some((nums, count))
}

/// A calendar date that reads as a date of birth: a real date (1900–2100) with a birth
/// context word before it. Without context a date is only a date (prices, order dates
/// and timestamps are not PII), scored below the default threshold.
fn date_of_birth(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let span = &text[s..e];
    // The span's numbers and its month's name, read without allocating: this runs for
    // every date-like match, amounts such as `1990.05` included.
    let (mut nums, mut count) = date_numbers(span)?;
    let month_name = if span.bytes().any(|b| b.is_ascii_alphabetic()) {
        let mut buf = [0u8; 48];
        super::lexicon::lower_into(span, &mut buf).and_then(|lower| {
            MONTHS
                .iter()
                .position(|m| lower.contains(m))
                .map(|i| i as u32 + 1)
        })
    } else {
        None
    };
    // 19900305: a compact date, only with a cue (it is also any eight-digit number).
    let compact = count == 1 && span.len() == 8;
    if compact {
        let n = nums[0];
        nums = [n / 10000, n / 100 % 100, n % 100];
        count = 3;
    }
    let valid = match (month_name, &nums[..count]) {
        // "March 3, 1990" / "3 March 1990"
        (Some(m), [a, b]) => {
            let (d, y) = if *a > 31 { (*b, *a) } else { (*a, *b) };
            valid_ymd(y, m, d)
        }
        // 1990-03-03, 1990/3/3, 1990年3月3日
        (None, [y, m, d]) if *y >= 1000 => valid_ymd(*y, *m, *d),
        // 出生年月：1970年2月 / 1977.11
        (None, [y, m]) if *y >= 1000 => valid_ymd(*y, *m, 1),
        // 03/04/1990: day-month or month-day, either reading
        (None, [a, b, y]) => valid_ymd(*y, *b, *a) || valid_ymd(*y, *a, *b),
        _ => false,
    };
    if !valid {
        return None;
    }
    // The cue binds to the nearest date after it: "born 1990-03-05, joined 2015-06-01"
    // makes only the first a date of birth. Any digit run of four or more, or a year
    // written with 年, between the cue and this date means an earlier date took it.
    // A cue right after the date also makes it one (1959年10月29日出生, 1987.10.6生);
    // such a cue is then used up and does not reach a later date.
    let after = text[e..].trim_start();
    if after.starts_with("出生")
        || after.starts_with("诞生")
        || after.strip_prefix('生').is_some_and(|r| {
            r.is_empty()
                || r.starts_with([
                    '，', ',', '。', '）', ')', '；', ' ', '\n', '的', '人', '于',
                ])
        })
    {
        return Some((s, e, S_DOB));
    }
    let score = match cue_before(text, s, &CUES_DOB) {
        Some((cs, ce))
            if !holds_year(&text[ce..s])
                && !date_ends_at(text, cs)
                && !text[..cs].ends_with("</") =>
        {
            S_DOB
        }
        _ if dob_column(text, s)
            || dob_label_line(text, s)
            || dob_cue_after(text, e)
            || dob_long_label(text, s)
            || dob_question_before(text, s)
            || lifespan(text, s, e)
            || age_beside(text, s, e)
            || sex_before(text, s) =>
        {
            S_DOB
        }
        _ if compact => return None,
        _ if after_name_in_parens(text, s, e) => S_DOB_PAREN,
        _ => S_NO_CONTEXT,
    };
    Some((s, e, score))
}

/// A birth date with a two-digit year (`出生日期：85年4月12日`, `DOB: 04/12/85`), as
/// forms and clinical notes write it: only right after a birth-date cue (at most a
/// label's separator between them), since a short date alone is any date.
fn date_of_birth_short_year(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let span = &text[s..e];
    let (nums, 3) = date_numbers(span)? else {
        return None;
    };
    // Either century: the cue says it is a birth date, the check only that it is one.
    let ymd = |y: u32, m: u32, d: u32| valid_ymd(1900 + y, m, d) || valid_ymd(2000 + y, m, d);
    let [a, b, c] = nums;
    let valid = if span.contains('年') {
        ymd(a, b, c)
    } else {
        ymd(c, a, b) || ymd(c, b, a)
    };
    if !valid {
        return None;
    }
    let (_, ce) = cue_before(text, s, &CUES_DOB)?;
    let between = &text[ce..s];
    let label = between.chars().count() <= 12
        && between.chars().all(|c| {
            matches!(c, ' ' | ':' | '：' | '\t' | '.' | '-' | '是' | '为')
                || c.is_ascii_alphabetic()
        });
    label.then_some((s, e, S_DOB))
}

/// The score of a full date at least `BIRTH_AGE` years old in a text that names a
/// person (see [`old_date_beside_a_person`]). Above the default threshold; a pipeline
/// that sets `DATE_OF_BIRTH`'s `min_score` above it keeps such dates.
pub(crate) const S_DOB_OLD: f32 = 0.6;
/// How many years before today a date must lie to read as a birth date without a cue.
const BIRTH_AGE: i32 = 16;
/// Words that give an old date another meaning: a founding, a wedding, a graduation.
const CTX_EVENT: &[&str] = &[
    "founded",
    "established",
    "incorporated",
    "since",
    "opened",
    "built",
    "married",
    "graduated",
    "launched",
    "released",
    "signed",
    "joined",
    "hired",
    "成立",
    "创立",
    "创建",
    "建于",
    "开业",
    "结婚",
    "毕业",
    "入职",
    "注册",
    "签订",
    "发布",
    "上市",
    "竣工",
];

static CUES_EVENT: Cues = Cues::new(CTX_EVENT);

/// Words by which a text speaks of a person: first- and second-person pronouns and
/// the nouns records use for the person they are about.
const CTX_PERSON: &[&str] = &[
    " my ",
    " i'm ",
    " your ",
    "patient",
    "member",
    "customer",
    "applicant",
    "employee",
    "我",
    "您",
    "本人",
    "患者",
    "客户",
    "会员",
    "申请人",
    "员工",
    "学生",
];

/// True when `text` speaks of a person (see `CTX_PERSON`).
pub(crate) fn speaks_of_a_person(text: &str) -> bool {
    let lower = format!(" {} ", text.to_ascii_lowercase());
    CTX_PERSON.iter().any(|w| lower.contains(w))
}

/// The current year, read once from the clock.
fn this_year() -> i32 {
    static YEAR: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *YEAR.get_or_init(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        1970 + (secs / 31_556_952) as i32
    })
}

/// True when the date candidate `text[s..e]` (already a valid calendar date) has a day,
/// a month and a year between 110 and `BIRTH_AGE` years ago, and no event cue before
/// it. The caller adds the other half of the evidence: the text names a person. In
/// records about people, dates that old are overwhelmingly birth dates; order, visit,
/// shipping and ticket dates are recent.
pub(crate) fn old_date_beside_a_person(text: &str, s: usize, e: usize) -> bool {
    let span = &text[s..e];
    let parts = span
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .count();
    let year = span
        .split(|c: char| !c.is_ascii_digit())
        .find(|p| p.len() == 4)
        .and_then(|p| p.parse::<i32>().ok());
    let now = this_year();
    parts >= 3
        && year.is_some_and(|y| (now - 110..=now - BIRTH_AGE).contains(&y))
        && cue_before(text, s, &CUES_EVENT).is_none()
}

/// A date in parentheses right after a name: `Maria Lopez (03/14/1962)`,
/// `张伟（1990年1月1日）`, the way records identify a person. The name is a
/// capitalised word, or two to four Han characters starting with a surname.
fn after_name_in_parens(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].trim_end();
    let after = text[e..].trim_start();
    let Some(before) = before
        .strip_suffix('(')
        .or_else(|| before.strip_suffix('（'))
    else {
        return false;
    };
    if !(after.starts_with(')') || after.starts_with('）')) {
        return false;
    }
    let before = before.trim_end();
    let word: String = before
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '\'' || *c == '-')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if !word.is_empty() {
        let lower = word.to_ascii_lowercase();
        return word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.len() > 1
            && !MONTHS.iter().any(|m| lower.starts_with(m))
            && {
                let lex = super::lexicon::lexicon();
                lex.en_first(&word) > 0.0 || lex.en_last(&word) > 0.0 || lex.en_zipf(&word) < 4.0
            };
    }
    let han: Vec<char> = before
        .chars()
        .rev()
        .take_while(|c| super::lexicon::is_han(*c))
        .take(5)
        .collect();
    // Any ending of two to four characters that starts with a surname (患者|张伟).
    (2..=han.len().min(4)).any(|k| super::lexicon::lexicon().zh_surname(han[k - 1]) >= 0.15)
}

/// True when a birth cue follows the date closely and takes no date of its own
/// (`March 5, 1990 is my birthday`, `1990-03-05 (DOB)`; but in `joined 2015-06-01, born
/// 1990-03-05` the cue belongs to the later date).
fn dob_cue_after(text: &str, e: usize) -> bool {
    let window: String = text[e..]
        .chars()
        .take(24)
        .take_while(|c| !matches!(c, '\n' | '.' | ';' | '。' | '；'))
        .collect::<String>()
        .to_ascii_lowercase();
    CTX_DOB.iter().any(|w| {
        window.find(w).is_some_and(|i| {
            let rest = &window[i + w.len()..];
            !window[..i].bytes().any(|b| b.is_ascii_digit())
                && !rest.bytes().take(12).any(|b| b.is_ascii_digit())
        })
    })
}

/// Fields a record puts between a person's name and their birth date: the sex, and
/// maybe an ethnicity or an age (`张伟，男，汉族，1990年3月5日`, `Smith, W/M, 3/4/1971`,
/// `(M, 1955-09-30)`). True when the fields right before `s` include a sex.
fn sex_before(text: &str, s: usize) -> bool {
    let head = &text[..s];
    let from = head.char_indices().rev().nth(24).map_or(0, |(i, _)| i);
    let fields = head[from..]
        .rsplit([
            ',', '，', '、', '|', '｜', '\t', '(', '（', '\n', ';', '；', ' ', '\u{3000}',
        ])
        .map(str::trim)
        .filter(|f| !f.is_empty());
    // The fields before the date, nearest first: a sex, maybe after an ethnicity or an
    // age (`性别：男 1990年3月5日`, `男，汉族，1990年3月5日`, `M, age 34, 3/4/1971`).
    for (k, field) in fields.enumerate() {
        if k >= 4 {
            return false;
        }
        let f = field.trim_start_matches(['性', '别', ':', '：', ' ']);
        let lower = f.to_ascii_lowercase();
        if matches!(f, "男" | "女" | "男性" | "女性" | "M" | "F")
            || matches!(lower.as_str(), "male" | "female" | "sex: m" | "sex: f")
            // W/M, B/F, H/M: race and sex, as police records abbreviate them.
            || (f.len() == 3
                && f.as_bytes()[1] == b'/'
                && f.as_bytes()[0].is_ascii_uppercase()
                && matches!(f.as_bytes()[2], b'M' | b'F'))
        {
            return true;
        }
        // What may stand between the sex and the date.
        let filler = matches!(lower.as_str(), "age" | "aged" | "sex" | "sex:" | "gender:");
        let ethnicity = f.ends_with('族') && f.chars().count() <= 4;
        let age = f.trim_end_matches(['岁', ' ']).parse::<u8>().is_ok()
            || lower
                .strip_prefix("age")
                .is_some_and(|a| a.trim().parse::<u8>().is_ok());
        if !(filler || ethnicity || age) {
            return false;
        }
    }
    false
}

/// An age written right beside the date: `1990-03-05 (34 y/o)`, `1990年3月5日（34岁）`,
/// `age 34, 03/05/1990`. A date next to an age is the date that age counts from.
fn age_beside(text: &str, s: usize, e: usize) -> bool {
    let after: String = text[e..]
        .trim_start_matches([' ', '(', '（', ',', '，'])
        .chars()
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    let digits = after.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let unit = after[digits..].trim_start();
        if [
            "岁",
            "周岁",
            "y/o",
            "yo",
            "y.o",
            "yrs",
            "years old",
            "yr old",
            "year old",
        ]
        .iter()
        .any(|u| unit.starts_with(u))
        {
            return true;
        }
    }
    if after.starts_with("age ") || after.starts_with("aged ") {
        return true;
    }
    let before: String = text[..s]
        .trim_end_matches([' ', ',', '，', '(', '（', ':', '：'])
        .chars()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let body = before.trim_end_matches(|c: char| c.is_ascii_digit());
    let n = before.len() - body.len();
    ((1..=3).contains(&n) && (body.ends_with("age ") || body.ends_with("aged ")))
        || ["岁", "y/o", "yrs", "years old"].iter().any(|u| {
            before.strip_suffix(u).is_some_and(|b| {
                let b = b.trim_end();
                let d = b.len() - b.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                (1..=3).contains(&d)
            })
        })
}

/// The first date of a range near words of death: a lifespan
/// (`Ann Lee (1941-08-28 – Dec 26, 2020) passed away`, `In loving memory …\n1959-03-20 – …`).
fn lifespan(text: &str, s: usize, e: usize) -> bool {
    let rest = text[e..].trim_start_matches(' ');
    let Some(rest) = ['–', '—', '-', '~', '～', '至']
        .iter()
        .find_map(|d| rest.strip_prefix(*d))
    else {
        return false;
    };
    // Something date-like follows: a digit or a month or weekday name.
    let next = rest.trim_start();
    if !next.starts_with(|c: char| c.is_ascii_digit() || c.is_ascii_uppercase()) {
        return false;
    }
    let window = |from: usize, to: usize| -> String {
        let a = text[..from]
            .char_indices()
            .rev()
            .nth(80)
            .map_or(0, |(i, _)| i);
        let b = text[to..]
            .char_indices()
            .nth(80)
            .map_or(text.len(), |(i, _)| to + i);
        text[a..b].to_ascii_lowercase()
    };
    let w = window(s, e);
    CTX_DEATH.iter().any(|c| w.contains(c))
}

/// A date answering a question about a birth date: `Agent: Can I have your date of
/// birth?\nCaller: Sure, it's 06/23/1984.`, `问：您的出生日期是？\n答：1990年3月5日`.
fn dob_question_before(text: &str, s: usize) -> bool {
    // Only the last characters are searched: the whole text before every date would
    // make a long document quadratic.
    let head = &text[tail_start(text, s, 160)..s];
    let Some(q) = head[tail_start(head, head.len(), 41)..]
        .rfind(['?', '？'])
        .map(|i| i + tail_start(head, head.len(), 41))
    else {
        return false;
    };
    let reply = &head[q..];
    // The answer opens the reply: a speaker label and a few words at most, no other
    // sentence end, and no earlier year.
    if reply.chars().count() > 40
        || holds_year(reply)
        || reply[reply.chars().next().map_or(0, char::len_utf8)..].contains(['。', '!', '！', '.'])
    {
        return false;
    }
    let q_start = after_last(&head[..q], &['。', '！', '？', '!', '?', '\n', '.']);
    let question = head[q_start..q].to_ascii_lowercase();
    CTX_DOB.iter().any(|w| question.contains(w)) || question.contains("出生")
}

/// Where the last `n` characters of `text[..end]` begin.
fn tail_start(text: &str, end: usize, n: usize) -> usize {
    text[..end]
        .char_indices()
        .rev()
        .nth(n - 1)
        .map_or(0, |(i, _)| i)
}

/// The byte after the last of `chars` in `t`, or 0.
fn after_last(t: &str, chars: &[char]) -> usize {
    t.char_indices()
        .rev()
        .find(|(_, c)| chars.contains(c))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// A birth cue further back than `CONTEXT_CHARS`, in a label that ends in a colon right
/// before the date: `Please enter your date of birth as it appears on your passport
/// (DD/MM/YYYY): 01/31/1973`.
fn dob_long_label(text: &str, s: usize) -> bool {
    let head = text[..s].trim_end_matches(' ');
    let Some(label) = head.strip_suffix(':').or_else(|| head.strip_suffix('：')) else {
        return false;
    };
    // A label ends at a line or clause break, within 100 characters.
    let window = tail_start(label, label.len(), 101);
    let rel = after_last(&label[window..], &['\n', '。', ';', '；', '|']);
    if rel == 0 && window > 0 {
        return false;
    }
    let label = &label[window + rel..];
    label.chars().count() <= 100
        && !holds_year(label)
        && CTX_DOB
            .iter()
            .any(|w| label.to_ascii_lowercase().contains(w))
}

/// True when the date at `s` opens its line and the line before is a birth-date label
/// (`出生日期：` / `Date of birth` on a line of its own, the value on the next), as
/// forms and extracted documents lay them out.
fn dob_label_line(text: &str, s: usize) -> bool {
    let line_start = text[..s].rfind('\n').map_or(0, |i| i + 1);
    if line_start == 0 || !text[line_start..s].trim().is_empty() {
        return false;
    }
    let above = text[..line_start - 1].trim_end_matches(['\r', ' ', '\t', ':', '：']);
    let above_start = above.rfind('\n').map_or(0, |i| i + 1);
    let label = above[above_start..].trim().to_ascii_lowercase();
    label.chars().count() <= 24 && CTX_DOB.iter().any(|w| label.ends_with(w.trim()))
}

/// True when the date at `s` sits in a table column headed by a birth cue
/// (`name,dob,phone` / `姓名|出生日期|电话`).
fn dob_column(text: &str, s: usize) -> bool {
    column_header_has(text, s, CTX_DOB)
}

/// True when `s` lies in a column of a delimited table whose header cell holds one of
/// `words` (lower-case).
fn column_header_has(text: &str, s: usize, words: &[&str]) -> bool {
    super::table::column_headers(text, s).any(|h| {
        let h = h.to_ascii_lowercase();
        words.iter().any(|w| h.contains(w))
    })
}

/// True when a date ends right before `i`, with nothing between: a digit, 日 or 月
/// (`1959年10月29日出生`).
fn date_ends_at(text: &str, i: usize) -> bool {
    text[..i]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_digit() || c == '日' || c == '月')
}

/// True when `t` holds a run of four or more ASCII digits (a year, or a date written
/// with one).
fn holds_year(t: &str) -> bool {
    let mut run = 0;
    for b in t.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            if run >= 4 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

fn iban(text: &str, s: usize, e: usize) -> Option<Hit> {
    if alnum_before(text, s) {
        return None;
    }
    let b = text.as_bytes();
    let country = &text[s..s + 2];
    let len = super::validators::iban_length(country)?;
    // Take exactly the country's length, allowing one separator (space or hyphen, the
    // same throughout) only between groups of four; stop there so that trailing words
    // ("… 8901 X in a sentence", "… ALL CAPS") are never absorbed.
    let mut compact = String::with_capacity(len);
    let mut sep: Option<u8> = None;
    let mut i = s;
    while compact.len() < len && i < e {
        let c = b[i];
        if c.is_ascii_alphanumeric() {
            compact.push(char::from(c));
            i += 1;
        } else if compact.len().is_multiple_of(4) && sep.is_none_or(|x| x == c) && i + 1 < e {
            sep = Some(c);
            i += 1;
            if !b[i].is_ascii_alphanumeric() {
                return None;
            }
        } else {
            return None;
        }
    }
    if compact.len() != len || is_alnum(b.get(i)) {
        return None;
    }
    (iban_structure(&compact) && iban_mod97(&compact)).then_some((s, i, S_CHECKSUM))
}

/// Every rule, in a fixed order (the order only matters for reading; results are
/// resolved by score, length and position).
/// The URL (with a scheme, and bare) and e-mail patterns, which share the domain.
fn web_patterns() -> [String; 3] {
    const DOMAIN: &str = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:xn--[A-Za-z0-9-]{1,59}|[A-Za-z]{2,63})";
    const PATH: &str = r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]*)?";
    [
        format!(
            r"(?i:https?|ftp)://(?:{DOMAIN}|\[[0-9A-Fa-f:.]+\]|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}})(?::[0-9]{{1,5}})?{PATH}"
        ),
        format!(r"{DOMAIN}(?::[0-9]{{1,5}})?{PATH}"),
        format!(r"[A-Za-z0-9._%+\-]{{1,64}}@{DOMAIN}"),
    ]
}

/// Every written form of a full date the birth-date rule looks at.
fn date_pattern() -> String {
    let month = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
    format!(
        r"[12][0-9]{{3}}(?:-[0-9]{{1,2}}-|/[0-9]{{1,2}}/|\.[0-9]{{1,2}}\.)[0-9]{{1,2}}|[12][0-9]{{3}}年[0-9]{{1,2}}月(?:[0-9]{{1,2}}日)?|[12][0-9]{{3}}\.[0-9]{{1,2}}|[0-9]{{1,2}}/[0-9]{{1,2}}/[12][0-9]{{3}}|{month}\.? [0-9]{{1,2}}(?:st|nd|rd|th)?,? [12][0-9]{{3}}|[0-9]{{1,2}}(?:st|nd|rd|th)? {month},? [12][0-9]{{3}}|[0-9]{{1,2}}[-.][0-9]{{1,2}}[-.][12][0-9]{{3}}|[0-9]{{1,2}}-{month}-[12][0-9]{{3}}|[0-9]{{1,2}}(?:st|nd|rd|th)? of {month},? [12][0-9]{{3}}|[12][0-9]{{3}}年[0-9]{{1,2}}月[0-9]{{1,2}}号|[12][0-9]{{3}}[01][0-9][0-3][0-9]"
    )
}

pub(crate) fn rules() -> Vec<Rule> {
    let [url_scheme, url_bare, email_re] = web_patterns();
    let dob = date_pattern();
    use EntityType as T;
    let r = Rule::new;
    use needs::{AT, COLON, DIGIT, DOT, UPPER};
    [
        // Every form holds a four-digit year (or eight digits in a row).
        r(T::DateOfBirth, &dob, Scan::Retry, date_of_birth, DIGIT)
            .digits(4, 4)
            .bounded_shape(shapes::date),
        r(
            T::DateOfBirth,
            r"[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}日|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2}",
            Scan::Retry,
            date_of_birth_short_year,
            DIGIT,
        )
        .digits(4, 2)
        .bounded_shape(shapes::short_year_date)
        .margins(0, 3),
        r(
            T::CnIdCard,
            r"[1-8][0-9]{16}[0-9Xx]|[1-8][0-9]{5} [0-9]{8} [0-9]{3}[0-9Xx]|[1-8][0-9]{5}-[0-9]{8}-[0-9]{3}[0-9Xx]|[1-8][0-9]{14}",
            Scan::Retry,
            cn_id_card,
            DIGIT,
        )
        .digits(15, 8)
        .shape(shapes::id_card)
        .margins(0, 1),
        r(
            T::BankCard,
            r"[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{1,3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{1,3})?|[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5}|[0-9]{12,19}",
            Scan::Retry,
            bank_card,
            DIGIT,
        )
        .digits(12, 4)
        .shape(shapes::bank_card)
        .margins(0, 0),
    ]
    .into_iter()
    // The phone numbers in their layouts: Chinese mobile, Chinese national, North
    // American, international.
    .chain(phone_rules())
    .chain([
        r(T::Email, &email_re, Scan::Linear, email, AT),
        r(T::Url, &url_scheme, Scan::Linear, url, COLON).gate(gates::scheme),
        r(T::Url, &url_bare, Scan::Linear, url, DOT).windows(gates::domains),
        r(
            T::IpAddress,
            r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,3})?",
            Scan::Retry,
            ipv4,
            DIGIT | DOT,
        )
        .digits(4, 1)
        .shape(shapes::ipv4)
        .margins(0, 0),
        r(
            T::IpAddress,
            r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*",
            Scan::Linear,
            ipv6,
            COLON,
        )
        .gate(gates::two_colons),
        r(
            T::CnUscc,
            r"[0-9A-HJ-NP-RTUW-Y]{18}",
            Scan::Retry,
            uscc,
            DIGIT,
        )
        // The check insists on a digit type and a six-digit division code.
        .digits(7, 7)
        .shape(shapes::uscc),
        r(
            T::CnLicensePlate,
            &format!(r"[{PLATE_PROVINCES}][A-Z][·・ \-]?[A-HJ-NP-Z0-9]{{5,6}}"),
            Scan::Retry,
            plate,
            UPPER,
        )
        .gate(gates::province_letter),
        r(
            T::Passport,
            r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}",
            Scan::Retry,
            passport,
            UPPER | DIGIT,
        )
        .digits(7, 7)
        .bounded_shape(shapes::passport_cn)
        .margins(2, 0),
        r(
            T::Passport,
            r"[A-Z]{1,2}[0-9]{6,8}|[0-9]{9}",
            Scan::Retry,
            passport_ctx,
            DIGIT,
        )
        .digits(6, 6)
        .bounded_shape(shapes::passport)
        .margins(2, 0),
        r(
            T::Phone,
            r"0[0-9]{10}|09[0-9]{8}|[2-9][0-9]{9}",
            Scan::Retry,
            phone_bare,
            DIGIT,
        )
        .digits(10, 10)
        .bounded_shape(shapes::bare_phone)
        .margins(0, 0),
        r(
            T::UsSsn,
            r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}\.[0-9]{2}\.[0-9]{4}|[0-9]{9}",
            Scan::Retry,
            us_ssn,
            DIGIT,
        )
        .digits(9, 4)
        .bounded_shape(shapes::us_ssn)
        .margins(0, 0),
        r(
            T::Iban,
            r"[A-Z]{2}[0-9]{2}(?:[ \-]?[A-Z0-9]){11,30}",
            Scan::Retry,
            iban,
            UPPER | DIGIT,
        )
        .digits(2, 2)
        .shape(shapes::iban),
    ])
    .collect()
}

/// The phone rules of `rules` that run together, in their order there.
fn phone_rules() -> [Rule; 5] {
    use needs::{DIGIT, PLUS};
    use EntityType as T;
    let r = Rule::new;
    [
        r(
            T::Phone,
            r"(?:(?:\+|00)?86[ \-]?)?1[3-9][0-9](?:[0-9]{8}|-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4})",
            Scan::Retry,
            cn_mobile,
            DIGIT,
        )
        .digits(11, 4)
        .bounded_shape(shapes::cn_mobile)
        .margins(1, 0),
        r(
            T::Phone,
            // Or France's five pairs (06 12 34 56 78, 01.42.68.53.00).
            r"0[1-9](?:[ .][0-9]{2}){4}|(?:[(（]0[0-9]{1,4}[)）][ \-]?|0[0-9]{1,5}[ \-])[0-9]{2,8}(?:[ \-][0-9]{2,4}){0,2}",
            Scan::Retry,
            phone_national,
            DIGIT,
        )
        .digits(4, 2)
        .bounded_shape(shapes::national)
        .margins(3, 0),
        r(
            T::Phone,
            r"(?:(?:\+1|001|1)[ \-.]?)?(?:\([0-9]{3}\)[ \-.]?|[0-9]{3}[ \-.])[0-9]{3}[ \-.][0-9]{4}(?: ?(?:[xX#]|[Ee]xt\.?|[Ee]xtension) ?[0-9]{1,6})?",
            Scan::Retry,
            phone_nanp,
            DIGIT,
        )
        .digits(10, 4)
        .shape(shapes::nanp)
        .margins(1, 0),
        r(
            T::Phone,
            r"\+[1-9][0-9]{0,14}(?:[ \-.]?(?:\([0-9]{1,4}\)|[0-9]{1,14})){0,7}",
            Scan::Retry,
            phone_intl,
            DIGIT | PLUS,
        )
        // The check wants 8 to 15 digits.
        .digits(8, 1)
        .margins(1, 1),
        // Any layout right after a phone label (电话：62345678, Handy: 0171 1234567,
        // Móvil: 612 34 56 78, Tel: 86-21-6234-5678): local numbers without an area
        // code and the layouts of other countries.
        r(
            T::Phone,
            // A group after a separator has two digits or more; one glued to the group
            // before may have one (5 + 5 + 1: eleven digits in one run, `电话：41923674148`,
            // which a first match of ten digits then a failed check would lose).
            r"(?:\+?[0-9]{1,3}[ \-.])?[(（]?[0-9]{2,5}[)）]?(?:[ \-.][0-9]{2,5}|[0-9]{1,5}){1,4}",
            Scan::Retry,
            phone_after_label,
            DIGIT,
        )
        .digits(7, 2)
        .bounded_shape(shapes::after_phone_label)
        .margins(3, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// The digits on the stack are `digits_of`'s, and `digits_upto` refuses exactly
        /// the spans with more digits than it holds.
        #[test]
        fn stack_digits_are_digits_of(s in "([0-9]{0,20}|[ a-z-]{0,3}|é|数|°|¹){0,8}") {
            let want = digits_of(&s);
            prop_assert_eq!(with_digits(&s, str::to_string), want.clone());
            let upto = digits_upto::<19>(&s);
            prop_assert_eq!(upto.is_some(), want.len() <= 19);
            if let Some((buf, n)) = upto {
                prop_assert_eq!(&buf[..n], want.as_bytes());
            }
        }

        /// The profile by words equals the profile a byte at a time, for any text:
        /// every ASCII byte, digit runs across and inside words, characters of two to
        /// four bytes (whose bytes must not read as ASCII), any length and alignment.
        #[test]
        fn profile_is_profile_bytes(
            chars in prop::collection::vec(prop_oneof![
                4 => (0u8..128).prop_map(|b| char::from(b).to_string()),
                4 => "[0-9]{1,20}",
                2 => "[a-z ]{1,12}",
                2 => any::<char>().prop_map(String::from),
                1 => "[é数😀\u{3000}\u{80}\u{7ff}\u{800}\u{ffff}]",
            ], 0..40)
        ) {
            let s = chars.concat();
            for from in 0..s.len().min(17) {
                if !s.is_char_boundary(from) {
                    continue;
                }
                let (fast, slow) = (needs::profile(&s[from..]), needs::profile_bytes(&s[from..]));
                prop_assert_eq!(fast.classes, slow.classes);
                prop_assert_eq!(fast.digits, slow.digits);
                prop_assert_eq!(fast.max_run, slow.max_run);
            }
        }

        /// `cue_before` finds, for every list and from every char boundary, the cue the
        /// search per word (`words_before`) finds: the same sentence cut, window, case
        /// folding and tie (the word that ends last, the latest of the list).
        #[test]
        fn cue_before_is_words_before(
            parts in prop::collection::vec(prop_oneof![
                // Ties: words that end another word (`birth`, `date of birth`).
                2 => "(date of birth|Date of Birth|旅行证件|出生年月|birth date|birthday)",
                3 => "(出生|日期|年月|birth|Date Of|dob|DOB|born|\\(b\\. | b\\. |ssn|SSN|card|卡号|护照|passport|Travel Doc|document no|order|ref #|订单|phone|Tel|ph\\.|ph:|new number|手机|founded|joined|成立| my |patient|我|bday)",
                3 => "[ a-zA-Z0-9.:#(]{1,6}",
                1 => "[。！？；!?;\n]",
                2 => "[一-龥]{1,4}",
                1 => "[é😀\u{3000}，：]",
            ], 0..24)
        ) {
            let s = parts.concat();
            let lists: [(&Cues, &[&str]); 9] = [
                (&CUES_ID, CTX_ID),
                (&CUES_CARD, CTX_CARD),
                (&CUES_PASSPORT, CTX_PASSPORT),
                (&CUES_NOT_CARD, CTX_NOT_CARD),
                (&CUES_SSN, CTX_SSN),
                (&CUES_DOB, CTX_DOB),
                (&CUES_PHONE, CTX_PHONE),
                (&CUES_EVENT, CTX_EVENT),
                (&Cues::new(CTX_PERSON), CTX_PERSON),
            ];
            for at in (0..=s.len()).filter(|&p| s.is_char_boundary(p)) {
                for (cues, words) in lists {
                    prop_assert_eq!(cue_before(&s, at, cues), words_before(&s, at, words));
                }
            }
        }
    }
}
