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
use super::{Detection, EntityType};

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

/// A candidate the check accepted: the span may be narrower than the regex match.
pub(crate) type Hit = (usize, usize, f32);

pub(crate) struct Rule {
    pub entity: EntityType,
    pub pattern: String,
    pub scan: Scan,
    pub check: fn(&str, usize, usize) -> Option<Hit>,
    /// What a text must contain for the pattern to match at all (`needs::*` bits): a
    /// text without them skips the rule instead of running a search that cannot succeed.
    pub needs: u8,
}

/// Classes of bytes a pattern cannot match without (see `Rule::needs`).
pub(crate) mod needs {
    pub const DIGIT: u8 = 1;
    pub const AT: u8 = 2;
    pub const DOT: u8 = 4;
    pub const COLON: u8 = 8;
    pub const UPPER: u8 = 16;
    /// 号 (house numbers in Chinese addresses).
    pub const HAO: u8 = 32;

    /// The classes present in `text`, in one pass over its bytes.
    pub fn of(text: &str) -> u8 {
        let mut m = 0u8;
        let b = text.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            m |= match c {
                b'0'..=b'9' => DIGIT,
                b'@' => AT,
                b'.' => DOT,
                b':' => COLON,
                b'A'..=b'Z' => UPPER,
                // 号 is E5 8F B7 in UTF-8.
                0xE5 if b.get(i + 1) == Some(&0x8F) && b.get(i + 2) == Some(&0xB7) => HAO,
                _ => 0,
            };
        }
        m
    }
}

// Scores. Their order is what resolves overlaps between types, so it is deliberate:
// a checksum-validated identifier beats a bare pattern; a valid 18-digit ID (1.0) beats
// the same digits read as a Luhn-valid card (0.9); a formatted SSN (0.75) beats the
// national phone reading of `078 05 1123` (0.6).
const S_CHECKSUM: f32 = 1.0;
const S_CARD: f32 = 0.9;
const S_USCC: f32 = 0.95;
const S_USCC_WEAK: f32 = 0.6;
const S_PLATE: f32 = 0.85;
const S_CN_MOBILE: f32 = 0.85;
const S_PHONE_INTL: f32 = 0.7;
const S_PHONE_NANP: f32 = 0.7;
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
const CTX_PASSPORT: &[&str] = &["护照", "passport"];
const CTX_SSN: &[&str] = &["ssn", "social security", "社会安全号"];
const CTX_DOB: &[&str] = &[
    "出生",
    "生日",
    "出生日期",
    "dob",
    "d.o.b",
    "date of birth",
    "birth date",
    "birthday",
    "born",
];
const S_DOB: f32 = 0.8;
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
fn neighbours_ok(text: &str, s: usize, e: usize) -> bool {
    !alnum_before(text, s) && !is_alnum(text.as_bytes().get(e))
}

/// True when one of `words` (ASCII ones matched case-insensitively) occurs in the
/// `CONTEXT_CHARS` characters before `s`.
pub(crate) fn context_before(text: &str, s: usize, words: &[&str]) -> bool {
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    has_context(text, s, &lower)
}

fn has_context(text: &str, s: usize, words: &[&str]) -> bool {
    let from = text[..s]
        .char_indices()
        .rev()
        .nth(CONTEXT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    // A context word belongs to its own sentence: "出生日期：…。我在2022-10-01下单" does
    // not make the order date a date of birth.
    let window = &text[from..s];
    let window = match window.rfind(['。', '！', '？', '；', '!', '?', ';', '\n']) {
        Some(i) => &window[i..],
        None => window,
    };
    let window = window.to_ascii_lowercase();
    words.iter().any(|w| window.contains(w))
}

fn digits_of(span: &str) -> String {
    span.bytes()
        .filter(u8::is_ascii_digit)
        .map(char::from)
        .collect()
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
        15 if cn_id15(span) && has_context(text, s, CTX_ID) => Some((s, e, S_CONTEXT_ONLY)),
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
    let mut ends = vec![e];
    if let Some(p) = text[s..e].rfind([' ', '-']) {
        if e - (s + p + 1) < 4 {
            ends.push(s + p);
        }
    }
    for end in ends {
        if !neighbours_ok(text, s, end) {
            continue;
        }
        let d = digits_of(&text[s..end]);
        if !(13..=19).contains(&d.len()) {
            continue;
        }
        // No payment card starts with 0 (`0086…` is a phone prefix). Only old Visa cards
        // have 13 digits. Other 13-digit numbers are epoch-millisecond
        // timestamps (`1748503543012`, a Presidio negative) or CN mobiles with the
        // country code (`8613812345678`), far more common than such cards.
        if (d.len() == 13 && !d.starts_with('4')) || d.starts_with('0') {
            continue;
        }
        if luhn(&d) {
            return Some((s, end, S_CARD));
        }
        // Context rescues a Luhn-invalid number only outside the networks that mandate
        // Luhn (Visa 4, Mastercard 2/5, Amex/JCB/Diners 3): a Luhn-invalid 4xxx number is
        // a typo or a test value, not a card (Presidio's negative "my credit card number
        // is 4012-8888-8888-1882"). Chinese domestic cards (62…, 9…) are kept.
        if (16..=19).contains(&d.len())
            && !matches!(d.as_bytes()[0], b'2'..=b'5')
            && has_context(text, s, CTX_CARD)
        {
            return Some((s, end, S_CONTEXT_ONLY));
        }
    }
    None
}

fn cn_mobile(text: &str, s: usize, e: usize) -> Option<Hit> {
    neighbours_ok(text, s, e).then_some((s, e, S_CN_MOBILE))
}

fn phone_national(text: &str, s: usize, e: usize) -> Option<Hit> {
    let n = digits_of(&text[s..e]).len();
    (neighbours_ok(text, s, e) && (9..=12).contains(&n)).then_some((s, e, S_PHONE_NATIONAL))
}

fn phone_nanp(text: &str, s: usize, e: usize) -> Option<Hit> {
    neighbours_ok(text, s, e).then_some((s, e, S_PHONE_NANP))
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
            if group_end
                && (8..=15).contains(&digits)
                && !is_alnum(b.get(i + 1))
                && b.get(i + 1) != Some(&b')')
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
    let d = digits_of(&text[s..e]);
    let (area, group, serial) = (&d[..3], &d[3..5], &d[5..]);
    let invalid = area == "000"
        || area == "666"
        || area.starts_with('9')
        || group == "00"
        || serial == "0000"
        || d.bytes().all(|c| c == d.as_bytes()[0])
        // Published or sequential numbers (the Woolworth card, `123-45-6789`).
        || matches!(d.as_str(), "123456789" | "078051120" | "219099999");
    if invalid {
        return None;
    }
    let context = has_context(text, s, CTX_SSN);
    if d.len() == e - s {
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

fn passport(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let score = if has_context(text, s, CTX_PASSPORT) {
        S_PASSPORT
    } else {
        S_NO_CONTEXT
    };
    Some((s, e, score))
}

/// A calendar date that reads as a date of birth: a real date (1900–2100) with a birth
/// context word before it. Without context a date is only a date (prices, order dates
/// and timestamps are not PII), scored below the default threshold.
fn date_of_birth(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) {
        return None;
    }
    let span = &text[s..e];
    let nums: Vec<u32> = span
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    let lower = span.to_ascii_lowercase();
    let month_name = MONTHS
        .iter()
        .position(|m| lower.contains(m))
        .map(|i| i as u32 + 1);
    let valid = match (month_name, nums.as_slice()) {
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
    let score = if has_context(text, s, CTX_DOB) {
        S_DOB
    } else {
        S_NO_CONTEXT
    };
    Some((s, e, score))
}

const S_PERSON: f32 = 0.85;

/// Words right before a name (ASCII ones case-insensitively), apart from spaces and
/// `:`/`,` between them and the name.
const CTX_NAME_BEFORE: &[&str] = &[
    "联系人",
    "收件人",
    "收货人",
    "寄件人",
    "我叫",
    "我是",
    "名字是",
    "名字叫",
    "姓名",
    "客户",
    "本人",
    "户名",
    "请转告",
    "转告",
    "同事",
    "负责人",
    "经办人",
    "持卡人",
    "致",
    "my name is",
    "name is",
    "i am",
    "i'm",
    "dear",
    "mr",
    "mr.",
    "mrs",
    "mrs.",
    "ms",
    "ms.",
    "miss",
    "dr",
    "dr.",
    "contact",
    "customer",
    "account holder",
    "holder",
    "deliver to",
    "ask for",
    "signed",
    "regards",
    "sincerely",
    "attention",
    "attn",
    "colleague",
    "call",
    "name",
    "recipient",
    "from",
    "thanks",
    "thank you",
    "hi",
    "hello",
    "好的",
    "您好",
    "你好",
];
/// Words right after a Chinese name.
const CTX_NAME_AFTER: &[&str] = &[
    "先生", "女士", "小姐", "收", "同学", "老师", "经理", "医生", "律师", "师傅",
];
/// Characters that do not occur in a given name here but often follow one.
const NAME_STOP: &str = "的了在是和与及说收先女姐您你我他她们请电话手机地址邮箱号已将把被给从到对向也都就要会能还又再很上下今昨快紧出身";

/// True when the text right before `s` (after trimming spaces and `:` `,` `：` `，`)
/// ends with a name context word.
fn name_context_before(text: &str, s: usize) -> bool {
    let before = text[..s].trim_end_matches([' ', ':', '：', ',', '，', '\u{feff}']);
    // The longest context word is 15 bytes; look at the last 48 without allocating.
    let mut start = before.len().saturating_sub(48);
    while !before.is_char_boundary(start) {
        start += 1;
    }
    let tail = &before[start..];
    let ends_with = |t: &str, w: &str| {
        let Some(cut) = t.len().checked_sub(w.len()) else {
            return false;
        };
        t.is_char_boundary(cut)
            && t[cut..].eq_ignore_ascii_case(w)
            && (!w.is_ascii()
                || !t[..cut]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric()))
    };
    // An honorific is followed by the name directly ("Dr. Lee"), never by a comma:
    // "Maple Dr, San Jose" is a street.
    let comma = text[before.len()..s].contains([',', '，']);
    CTX_NAME_BEFORE
        .iter()
        .filter(|w| !(comma && HONORIFICS.contains(w)))
        .any(|w| ends_with(tail, w))
}

const HONORIFICS: &[&str] = &["mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "miss"];

/// Chinese names, found from their context rather than by a pattern: most surname
/// characters are also common words (上、和、时、明 …), so a pattern would fire every few
/// characters of Chinese text. Instead an Aho-Corasick pass finds the context words, and
/// a name is read right after a word such as 联系人、我叫、客户 (surname + one or two
/// given-name characters), or right before an honorific such as 先生、女士、收.
pub(crate) struct ChineseNames {
    ac: aho_corasick::AhoCorasick,
    /// Per pattern: true for a word before a name, false for one after it.
    before: Vec<bool>,
}

impl ChineseNames {
    pub(crate) fn new() -> ChineseNames {
        let words: Vec<&str> = CTX_NAME_BEFORE
            .iter()
            .chain(CTX_NAME_AFTER.iter())
            .copied()
            .collect();
        let ac = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&words)
            .expect("context words build");
        ChineseNames {
            ac,
            before: (0..words.len())
                .map(|i| i < CTX_NAME_BEFORE.len())
                .collect(),
        }
    }

    pub(crate) fn scan(&self, text: &str, min_score: f32, out: &mut Vec<Detection>) {
        if S_PERSON < min_score {
            return;
        }
        for m in self.ac.find_iter(text) {
            let span = if self.before[m.pattern().as_usize()] {
                let w = &text[m.start()..m.end()];
                if w.is_ascii() && alnum_before(text, m.start()) {
                    continue;
                }
                let rest = &text[m.end()..];
                let skip = rest.len()
                    - rest
                        .trim_start_matches(|c: char| {
                            c.is_whitespace() || matches!(c, ':' | '：' | ',' | '，' | '\u{feff}')
                        })
                        .len();
                name_at(text, m.end() + skip)
            } else {
                let w = &text[m.start()..m.end()];
                // 收 closes an address line (范思晨收，) but also begins 收到/收货.
                if w == "收" && text[m.end()..].chars().next().is_some_and(is_han) {
                    continue;
                }
                name_before(text, m.start())
            };
            if let Some((s, e)) = span {
                out.push(Detection {
                    entity: EntityType::Person,
                    start: s,
                    end: e,
                    score: S_PERSON,
                });
            }
        }
    }
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn surname_len(text: &str) -> usize {
    if let Some(c) = ZH_COMPOUND_SURNAMES.iter().find(|c| text.starts_with(**c)) {
        return c.len();
    }
    match text.chars().next() {
        Some(c) if ZH_SURNAMES.contains(c) => c.len_utf8(),
        _ => 0,
    }
}

fn given_ok(c: char) -> bool {
    is_han(c) && !NAME_STOP.contains(c)
}

/// Surname + up to two given-name characters starting at `s`.
fn name_at(text: &str, s: usize) -> Option<(usize, usize)> {
    let sl = surname_len(&text[s..]);
    if sl == 0 {
        return None;
    }
    let mut e = s + sl;
    for c in text[e..].chars().take(2) {
        if !given_ok(c) {
            break;
        }
        e += c.len_utf8();
    }
    // 赵小姐 is a surname and an honorific, not the name 赵小.
    if &text[s + sl..e] == "小" && text[e..].starts_with('姐') {
        return None;
    }
    (e > s + sl).then_some((s, e))
}

/// Surname + one or two given-name characters ending at `e`: the three-character
/// reading when its first character is a surname, else the two-character one.
fn name_before(text: &str, e: usize) -> Option<(usize, usize)> {
    let back: Vec<(usize, char)> = text[..e].char_indices().rev().take(4).collect();
    let fits = |k: usize| -> Option<(usize, usize)> {
        let (s, _) = *back.get(k - 1)?;
        let sl = surname_len(&text[s..e]);
        let given = &text[s + sl..e];
        (sl > 0 && !given.is_empty() && given.chars().all(given_ok)).then_some((s, e))
    };
    fits(4)
        .filter(|(s, _)| {
            ZH_COMPOUND_SURNAMES
                .iter()
                .any(|c| text[*s..].starts_with(c))
        })
        .or_else(|| fits(3))
        .or_else(|| fits(2))
}

/// An English name: two or three capitalised words right after a context word (my name
/// is, Dear, contact, customer …); one word is enough after Mr/Ms/Dr.
fn person_en(text: &str, s: usize, e: usize) -> Option<Hit> {
    if !neighbours_ok(text, s, e) || !name_context_before(text, s) {
        return None;
    }
    let words = text[s..e].split(' ').count();
    let before = text[..s].trim_end().to_ascii_lowercase();
    let honorific = HONORIFICS.iter().any(|h| before.ends_with(h));
    (words >= 2 || honorific).then_some((s, e, S_PERSON))
}

const ZH_COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "令狐", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里", "呼延",
];
const ZH_SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝";

const S_ADDRESS: f32 = 0.8;

/// Words that introduce an address and are not part of it.
const ADDRESS_LEAD: &[&str] = &[
    "收货地址",
    "地址是",
    "地址",
    "住址",
    "寄到",
    "送到",
    "发到",
    "住在",
    "家住",
    "位于",
];

static ZH_ADDRESS_HEAD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?:\p{Han}{2,3}(?:省|自治区))?(?:\p{Han}{2,3}市)?(?:\p{Han}{1,4}?(?:区|县|旗))?\p{Han}{1,8}?(?:路|街|大道|道|巷|弄|胡同)(?:[0-9]{1,5}弄)?$",
    )
    .expect("address pattern")
});
static ZH_ADDRESS_TAIL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"^(?:\p{Han}{1,8}(?:小区|花园|大厦|公寓|苑|园|城|广场|中心|里|村|庭|府))?(?:[0-9A-Za-z]{1,3}(?:栋|幢|号楼|座))?(?:[0-9]{1,2}单元)?(?:[0-9]{1,2}(?:层|楼))?(?:[0-9]{1,5}室?)?",
    )
    .expect("address pattern")
});

/// A Chinese street address, anchored on its house number (`97号`): the road and the
/// administrative units before it (省/市/区/县, read back over Chinese characters up to
/// a word such as 地址 or 寄到), and the estate, building, unit and room after it
/// (小区、8栋、5单元、2204室). Unlike the other checks this one widens its candidate.
fn address_zh(text: &str, s: usize, e: usize) -> Option<Hit> {
    if alnum_before(text, s) {
        return None;
    }
    // Chinese characters (and the digits of a lane, 新华路123弄) right before the
    // number, at most 32.
    let mut start = s;
    for (i, c) in text[..s].char_indices().rev().take(32) {
        if !is_han(c) && !c.is_ascii_digit() {
            break;
        }
        start = i;
    }
    let mut head = &text[start..s];
    if let Some(cut) = ADDRESS_LEAD
        .iter()
        .filter_map(|w| head.rfind(w).map(|i| i + w.len()))
        .max()
    {
        head = &head[cut..];
    }
    let m = ZH_ADDRESS_HEAD.find(head)?;
    let from = s - head.len() + m.start();
    let tail = ZH_ADDRESS_TAIL.find(&text[e..]).map_or(0, |m| m.end());
    Some((from, e + tail, S_ADDRESS))
}

/// A US or UK street address: number, street name and suffix, then optionally the city
/// and a ZIP code or postcode (`5711 Sunset St, Brooklyn, NY 11290`,
/// `Flat 13, 95B York Avenue, Leeds LS1 8DE`).
fn address_en(text: &str, s: usize, e: usize) -> Option<Hit> {
    neighbours_ok(text, s, e).then_some((s, e, S_ADDRESS))
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
        } else if compact.len() % 4 == 0 && sep.is_none_or(|x| x == c) && i + 1 < e {
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
pub(crate) fn rules() -> Vec<Rule> {
    const DOMAIN: &str = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:xn--[A-Za-z0-9-]{1,59}|[A-Za-z]{2,63})";
    const PATH: &str = r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]*)?";
    let url_scheme = format!(
        r"(?i:https?|ftp)://(?:{DOMAIN}|\[[0-9A-Fa-f:.]+\]|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}})(?::[0-9]{{1,5}})?{PATH}"
    );
    let url_bare = format!(r"{DOMAIN}(?::[0-9]{{1,5}})?{PATH}");
    let email_re = format!(r"[A-Za-z0-9._%+\-]{{1,64}}@{DOMAIN}");
    use EntityType as T;
    let r = |entity, pattern: &str, scan, check, needs| Rule {
        entity,
        pattern: pattern.to_string(),
        scan,
        check,
        needs,
    };
    use needs::{AT, COLON, DIGIT, DOT, HAO, UPPER};
    let month = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
    let dob = format!(
        r"[12][0-9]{{3}}(?:-[0-9]{{1,2}}-|/[0-9]{{1,2}}/|\.[0-9]{{1,2}}\.)[0-9]{{1,2}}|[12][0-9]{{3}}年[0-9]{{1,2}}月(?:[0-9]{{1,2}}日)?|[12][0-9]{{3}}\.[0-9]{{1,2}}|[0-9]{{1,2}}/[0-9]{{1,2}}/[12][0-9]{{3}}|{month}\.? [0-9]{{1,2}}(?:st|nd|rd|th)?,? [12][0-9]{{3}}|[0-9]{{1,2}} {month} [12][0-9]{{3}}"
    );
    // A name word: McDonald, MacLeod, O'Brien, Smith-Jones, Smith; a middle initial
    // ("Emma R. Evans") may follow the first word.
    let word = r"(?:Ma?c[A-Z][a-z]+|O'[A-Z][a-z]+|[A-Z][a-z]+(?:-[A-Z][a-z]+)?)";
    let person_en_re = format!(r"{word}(?: [A-Z]\.)?(?: {word}){{0,2}}");
    let address_en_re = r"(?:(?:Flat|Apt|Apartment|Unit|Suite) [0-9]{1,4}[A-Z]?, )?[0-9]{1,5}[A-Z]? (?:[A-Z][a-z']+ ){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Parkway|Pkwy|Terrace|Close|Crescent|Square|Sq|Gardens|Loop|Row|Mews|Grove|Walk|Hill|Park|Highway|Hwy)\.?(?:, [A-Z][a-z]+(?: [A-Z][a-z]+){0,2})?(?:,? [A-Z]{2} [0-9]{5}(?:-[0-9]{4})?| [A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2})?";
    vec![
        r(
            T::Address,
            r"[0-9]{1,5}号",
            Scan::Retry,
            address_zh,
            DIGIT | HAO,
        ),
        r(
            T::Address,
            address_en_re,
            Scan::Retry,
            address_en,
            DIGIT | UPPER,
        ),
        r(T::Person, &person_en_re, Scan::Retry, person_en, UPPER),
        r(T::DateOfBirth, &dob, Scan::Retry, date_of_birth, DIGIT),
        r(
            T::CnIdCard,
            r"[1-8][0-9]{16}[0-9Xx]|[1-8][0-9]{5} [0-9]{8} [0-9]{3}[0-9Xx]|[1-8][0-9]{5}-[0-9]{8}-[0-9]{3}[0-9Xx]|[1-8][0-9]{14}",
            Scan::Retry,
            cn_id_card,
            DIGIT,
        ),
        r(
            T::BankCard,
            r"[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{1,3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{1,3})?|[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5}|[0-9]{13,19}",
            Scan::Retry,
            bank_card,
            DIGIT,
        ),
        r(
            T::Phone,
            r"(?:(?:\+|00)?86[ \-]?)?1[3-9][0-9](?:[0-9]{8}|-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4})",
            Scan::Retry,
            cn_mobile,
            DIGIT,
        ),
        r(
            T::Phone,
            r"(?:[(（]0[0-9]{1,4}[)）][ \-]?|0[0-9]{1,4}[ \-])[0-9]{2,4}(?:[ \-]?[0-9]{2,4}){1,2}",
            Scan::Retry,
            phone_national,
            DIGIT,
        ),
        r(
            T::Phone,
            r"(?:\+?[1-9][0-9]{0,2}[ \-.])?(?:\([2-9][0-9]{2}\)[ \-.]?|[2-9][0-9]{2}[ \-.])[2-9][0-9]{2}[ \-.][0-9]{4}",
            Scan::Retry,
            phone_nanp,
            DIGIT,
        ),
        r(
            T::Phone,
            r"\+[1-9][0-9]{0,14}(?:[ \-.]?(?:\([0-9]{1,4}\)|[0-9]{1,14})){0,7}",
            Scan::Retry,
            phone_intl,
            DIGIT,
        ),
        r(T::Email, &email_re, Scan::Linear, email, AT),
        r(T::Url, &url_scheme, Scan::Linear, url, COLON),
        r(T::Url, &url_bare, Scan::Linear, url, DOT),
        r(
            T::IpAddress,
            r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,3})?",
            Scan::Retry,
            ipv4,
            DIGIT | DOT,
        ),
        r(
            T::IpAddress,
            r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*",
            Scan::Linear,
            ipv6,
            COLON,
        ),
        r(
            T::CnUscc,
            r"[0-9A-HJ-NP-RTUW-Y]{18}",
            Scan::Retry,
            uscc,
            DIGIT,
        ),
        r(
            T::CnLicensePlate,
            r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][·・ ]?[A-HJ-NP-Z0-9]{5,6}",
            Scan::Retry,
            plate,
            UPPER,
        ),
        r(
            T::Passport,
            r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}",
            Scan::Retry,
            passport,
            UPPER | DIGIT,
        ),
        r(
            T::UsSsn,
            r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}\.[0-9]{2}\.[0-9]{4}|[0-9]{9}",
            Scan::Retry,
            us_ssn,
            DIGIT,
        ),
        r(
            T::Iban,
            r"[A-Z]{2}[0-9]{2}(?:[ \-]?[A-Z0-9]){11,30}",
            Scan::Retry,
            iban,
            UPPER | DIGIT,
        ),
    ]
}
