//! Keyed tokens: `PHONE_v1_9f3a…` = type + root key version + the first 128 bits of
//! HMAC-SHA256(token key, canonical value), with the token key derived per scope, type
//! and version (`RootKey::derive("token", scope, type)`).
//!
//! Invariants: a token is a pure function of (root key, scope, type, canonical value),
//! so runs, files, thread counts and shards agree without talking; equal digits of
//! different types never share a token (the type is in the key derivation); different
//! scopes give unlinkable tokens; tokens are ASCII `[A-Z0-9_]` + `_v<n>_` + 32 hex
//! digits, so they survive any JSON or Parquet round-trip and can be found again.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

use super::keys::RootKey;
use crate::detect::EntityType;

type HmacSha256 = Hmac<Sha256>;

/// Hex digits of the HMAC kept in a token: 128 bits.
pub const TOKEN_HEX: usize = 32;

/// Makes tokens for one scope with one root key version. Keyed MAC states are built once
/// per type (the HMAC key schedule is the expensive part) and cloned per value.
pub struct Tokenizer {
    version: u32,
    scope: String,
    macs: HashMap<String, HmacSha256>,
}

/// A token and what the vault needs to store beside it.
pub struct Token {
    pub text: String,
    /// The full 256-bit HMAC: the vault keeps it to detect a 128-bit truncation collision.
    pub full_mac: [u8; 32],
}

impl Tokenizer {
    /// `types`: every type this tokenizer will be asked for (built-in names are added).
    pub fn new<'a>(root: &RootKey, scope: &str, types: impl IntoIterator<Item = &'a str>) -> Self {
        let mut macs = HashMap::default();
        let all = EntityType::ALL.iter().map(|e| e.as_str()).chain(types);
        for t in all {
            let key = root.derive("token", scope, t);
            let mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
            macs.insert(t.to_string(), mac);
        }
        Tokenizer {
            version: root.version,
            scope: scope.to_string(),
            macs,
        }
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The token of `value` as type `kind`; None when `kind` was not declared at
    /// construction (a bug in the caller, reported as an error there).
    pub fn token(&self, kind: &str, value: &str) -> Option<Token> {
        let mut mac = self.macs.get(kind)?.clone();
        let canon = canonical(kind, value);
        mac.update(canon.as_bytes());
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut text = String::with_capacity(kind.len() + 6 + TOKEN_HEX);
        text.push_str(kind);
        text.push_str("_v");
        text.push_str(itoa::Buffer::new().format(self.version));
        text.push('_');
        push_hex(&mut text, &full[..TOKEN_HEX / 2]);
        Some(Token {
            text,
            full_mac: full,
        })
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// The canonical form a value is tokenized in, so that the spellings of one value get
/// one token: `138 1234 5678`, `+86 138-1234-5678` and `13812345678` are all
/// `8613812345678`; e-mails are trimmed and lower-cased; identifiers lose spaces,
/// hyphens and dots and are upper-cased (`…002x` = `…002X`); IP addresses are parsed and
/// printed back (compressed IPv6); names, addresses and other text are NFKC-normalized,
/// trimmed and have runs of white space collapsed.
pub fn canonical<'a>(kind: &str, value: &'a str) -> Cow<'a, str> {
    // NFKC changes nothing in ASCII text: skip it there (most identifiers are ASCII).
    fn nfkc(v: &str) -> Cow<'_, str> {
        if v.is_ascii() {
            Cow::Borrowed(v)
        } else {
            Cow::Owned(v.nfkc().collect())
        }
    }
    match kind {
        "PHONE" => {
            let v = nfkc(value);
            let t = v.trim();
            let plus = t.starts_with('+');
            let digits: String = t.chars().filter(char::is_ascii_digit).collect();
            if digits.len() < 5 {
                // Not a phone number: tokenized as text, so that values without digits
                // do not all share one token.
                return Cow::Owned(v.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            let mut d = digits.as_str();
            if !plus {
                if let Some(rest) = d.strip_prefix("00") {
                    d = rest;
                    return Cow::Owned(d.to_string());
                }
            }
            if plus {
                return Cow::Owned(d.to_string());
            }
            let b = d.as_bytes();
            if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
                // A mainland mobile number without its country code.
                return Cow::Owned(format!("86{d}"));
            }
            Cow::Owned(d.to_string())
        }
        "EMAIL" => Cow::Owned(nfkc(value).trim().to_lowercase()),
        "CN_ID_CARD" | "BANK_CARD" | "US_SSN" | "IBAN" | "PASSPORT" | "CN_USCC"
        | "CN_LICENSE_PLATE" => Cow::Owned(
            nfkc(value)
                .chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '·' | '•'))
                .flat_map(char::to_uppercase)
                .collect(),
        ),
        "IP_ADDRESS" => match value.trim().parse::<std::net::IpAddr>() {
            Ok(ip) => Cow::Owned(ip.to_string()),
            Err(_) => Cow::Owned(value.trim().to_ascii_lowercase()),
        },
        _ => {
            if value.is_ascii()
                && !value.starts_with(' ')
                && !value.ends_with(' ')
                && !value.contains("  ")
                && !value.chars().any(|c| c.is_whitespace() && c != ' ')
            {
                return Cow::Borrowed(value);
            }
            Cow::Owned(nfkc(value).split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

/// A token found in text: its byte span, type name and key version.
pub struct FoundToken<'a> {
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
    pub kind: &'a str,
    pub version: u32,
}

/// Every token of one of `types` in `text`, left to right. For text that is raw JSON
/// (`json`), a JSON escape right before a token (`\n`, `\u8bdd`) counts as a boundary,
/// and the type is matched against the known names rather than read backwards, so an
/// escape's hex digits never become part of it.
pub fn find_known_tokens<'a>(text: &'a str, types: &[String], json: bool) -> Vec<FoundToken<'a>> {
    let b = text.as_bytes();
    let mut sorted: Vec<&String> = types.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.len()));
    let backslashes_before = |i: usize| b[..i].iter().rev().take_while(|c| **c == b'\\').count();
    let escape_ends_at = |s: usize| {
        (s >= 2
            && b[s - 2] == b'\\'
            && matches!(
                b[s - 1],
                b'n' | b'r' | b't' | b'b' | b'f' | b'/' | b'"' | b'\\'
            )
            && backslashes_before(s - 2) % 2 == 0)
            || (s >= 6
                && b[s - 6] == b'\\'
                && b[s - 5] == b'u'
                && b[s - 4..s].iter().all(u8::is_ascii_hexdigit)
                && backslashes_before(s - 6) % 2 == 0)
    };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = memfind(&b[from..], b"_v").map(|p| p + from) {
        from = p + 2;
        let Some((q, hex_end)) = token_tail(b, p) else {
            continue;
        };
        let Some(kind) = sorted.iter().find(|t| {
            p >= t.len() && &text.as_bytes()[p - t.len()..p] == t.as_bytes() && {
                let s = p - t.len();
                s == 0
                    || !(b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_')
                    || (json && escape_ends_at(s))
            }
        }) else {
            continue;
        };
        let s = p - kind.len();
        let Ok(version) = text[p + 2..q].parse() else {
            continue;
        };
        out.push(FoundToken {
            start: s,
            end: hex_end,
            text: &text[s..hex_end],
            kind: &text[s..p],
            version,
        });
        from = hex_end;
    }
    out
}

/// After a `_v` at `p`: the version digits, `_` and 32 lower-case hex digits not followed
/// by an ASCII word character. Returns (offset of that `_`, end of the token).
fn token_tail(b: &[u8], p: usize) -> Option<(usize, usize)> {
    let mut q = p + 2;
    while q < b.len() && b[q].is_ascii_digit() {
        q += 1;
    }
    if q == p + 2 || q >= b.len() || b[q] != b'_' {
        return None;
    }
    let hex_end = q + 1 + TOKEN_HEX;
    let hex_ok = hex_end <= b.len()
        && b[q + 1..hex_end]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        && !b
            .get(hex_end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    hex_ok.then_some((q, hex_end))
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::super::keys::Secret;
    use super::*;

    fn tk(scope: &str) -> Tokenizer {
        let root = RootKey::new(1, String::new(), Secret::from_bytes([1; 32]));
        Tokenizer::new(&root, scope, ["USER_ID"])
    }

    #[test]
    fn spellings_of_one_value_share_a_token() {
        let t = tk("lab");
        let a = t.token("PHONE", "138 1234 5678").unwrap().text;
        assert_eq!(a, t.token("PHONE", "+86 13812345678").unwrap().text);
        assert_eq!(a, t.token("PHONE", "13812345678").unwrap().text);
        assert_eq!(a, t.token("PHONE", "0086-138-1234-5678").unwrap().text);
        assert_eq!(a, t.token("PHONE", "１３８１２３４５６７８").unwrap().text);
        assert!(a.starts_with("PHONE_v1_") && a.len() == "PHONE_v1_".len() + 32);
        let id = t.token("CN_ID_CARD", "11010519491231002x").unwrap().text;
        assert_eq!(
            id,
            t.token("CN_ID_CARD", " 11010519491231002X").unwrap().text
        );
        let e = t.token("EMAIL", "Zhang@Example.com ").unwrap().text;
        assert_eq!(e, t.token("EMAIL", "zhang@example.com").unwrap().text);
        let ip = t.token("IP_ADDRESS", "2001:db8:0:0:0:0:0:1").unwrap().text;
        assert_eq!(ip, t.token("IP_ADDRESS", "2001:db8::1").unwrap().text);
        let n = t.token("PERSON", " 张  三 ").unwrap().text;
        assert_eq!(n, t.token("PERSON", "张 三").unwrap().text);
    }

    #[test]
    fn types_and_scopes_separate_tokens() {
        let t = tk("lab");
        let phone = t.token("PHONE", "13812345678").unwrap().text;
        let user = t.token("USER_ID", "8613812345678").unwrap().text;
        assert_ne!(phone[9..], user[11..], "same digits, different type");
        let other = tk("other-lab").token("PHONE", "13812345678").unwrap().text;
        assert_ne!(phone, other);
        assert!(t.token("NOT_DECLARED", "x").is_none());
        // Phone values without a number are not all one token.
        assert_ne!(
            t.token("PHONE", "无").unwrap().text,
            t.token("PHONE", "n/a").unwrap().text
        );
        assert_eq!(
            t.token("USER_ID", "a\u{b}b").unwrap().text,
            t.token("USER_ID", "a b").unwrap().text
        );
    }

    #[test]
    fn known_tokens_are_found_after_json_escapes() {
        let t = tk("lab");
        let a = t.token("PHONE", "13812345678").unwrap().text;
        let types = vec!["PHONE".to_string(), "USER_ID".to_string()];
        let json = format!("{{\"x\":\"line\\n{a} and \\u8bdd{a} but \\\\n{a}0\"}}");
        let found = find_known_tokens(&json, &types, true);
        assert_eq!(found.len(), 2, "{json}");
        assert!(found.iter().all(|f| f.kind == "PHONE" && f.text == a));
        // Outside JSON an escape is just letters: no token.
        assert_eq!(
            find_known_tokens(&format!("x\\n{a}"), &types, false).len(),
            0
        );
    }

    #[test]
    fn tokens_are_found_in_text() {
        let t = tk("lab");
        let a = t.token("PHONE", "13812345678").unwrap().text;
        let b = t.token("USER_ID", "u1").unwrap().text;
        let text = format!("电话{a}，用户 {b}. x{a} {a}0 ");
        let types = vec!["PHONE".to_string(), "USER_ID".to_string()];
        let found = find_known_tokens(&text, &types, false);
        assert_eq!(
            found.len(),
            2,
            "glued to ASCII letters or digits is not a token"
        );
        assert_eq!(found[0].text, a);
        assert_eq!(found[0].kind, "PHONE");
        assert_eq!(found[1].kind, "USER_ID");
        assert_eq!(found[1].version, 1);
    }
}
