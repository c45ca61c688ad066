//! Detection through disguises that `normalize` would remove: full-width digits and
//! letters (`１３８…`), full-width `＠．－＋`, and invisible characters (zero-width space,
//! joiners, word joiner, BOM, soft hyphen) inside a value. Text with any of them is
//! searched in a folded shadow copy, and each span found is mapped back to the original
//! text, so a value written `１３８\u{200B}1234５６７８` is still found and replaced whole.
//!
//! Invariants: the shadow is only built when such a character occurs (a byte scan with
//! `memchr` otherwise); mapped spans start and end on character boundaries of the
//! original text and cover every character the shadow span came from.

/// What a character becomes in the shadow: Some(ascii), or None to drop it.
fn fold_char(c: char) -> Option<Option<char>> {
    match c {
        '\u{FF10}'..='\u{FF19}'
        | '\u{FF21}'..='\u{FF3A}'
        | '\u{FF41}'..='\u{FF5A}'
        | '＠'
        | '．'
        | '－'
        | '＋' => Some(char::from_u32(c as u32 - 0xFEE0)),
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => Some(None),
        _ => None,
    }
}

/// Every character `fold_char` changes (all in the Basic Multilingual Plane, none
/// ASCII): the detector marks them in its table of first characters, so the one pass
/// over a text that is not ASCII also tells whether it needs a shadow.
pub fn folded_chars() -> Vec<char> {
    (0..=0xFFFFu32)
        .filter_map(char::from_u32)
        .filter(|&c| fold_char(c).is_some())
        .collect()
}

/// Whether the character whose lead byte is `b[i]` (0xEF, 0xE2 or 0xC2) is one that
/// `fold_char` changes, from its UTF-8 bytes: U+FF0B, U+FF0D, U+FF0E, U+FF10..=U+FF19,
/// U+FF20..=U+FF3A (EF BC 8B, 8D, 8E, 90..=99, A0..=BA), U+FF41..=U+FF5A (EF BD
/// 81..=9A), U+FEFF (EF BB BF), U+200B..=U+200D (E2 80 8B..=8D), U+2060 (E2 81 A0),
/// U+00AD (C2 AD). `the_byte_test_is_fold_char` checks it against every character.
fn folds_at(b: &[u8], i: usize) -> bool {
    let next = |k: usize| b.get(i + k).copied().unwrap_or(0);
    match (b[i], next(1)) {
        (0xEF, 0xBC) => matches!(next(2), 0x8B | 0x8D | 0x8E | 0x90..=0x99 | 0xA0..=0xBA),
        (0xEF, 0xBD) => matches!(next(2), 0x81..=0x9A),
        (0xEF, 0xBB) => next(2) == 0xBF,
        (0xE2, 0x80) => matches!(next(2), 0x8B..=0x8D),
        (0xE2, 0x81) => next(2) == 0xA0,
        (0xC2, 0xAD) => true,
        _ => false,
    }
}

/// A folded copy of `text` and, per shadow character boundary, where it is in `text`.
pub struct Shadow {
    pub text: String,
    /// `starts[k]`: original offset of the character starting at shadow offset `k`.
    starts: Vec<u32>,
    /// `ends[k]`: original offset just past the character ending at shadow offset `k`.
    ends: Vec<u32>,
}

impl Shadow {
    /// None when `text` has nothing to fold (the common case, decided by a byte scan:
    /// every folded character is encoded with a lead byte 0xEF, 0xE2 or 0xC2).
    pub fn of(text: &str) -> Option<Shadow> {
        let b = text.as_bytes();
        // Chinese text is full of 0xEF lead bytes (，？！：（）are U+FF0x): each is told
        // from a folded character by its next bytes, without decoding it.
        let any = memchr::memchr3_iter(0xEF, 0xE2, 0xC2, b).any(|i| folds_at(b, i));
        if !any || text.len() >= u32::MAX as usize {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut starts = vec![0u32; text.len() + 1];
        let mut ends = vec![0u32; text.len() + 1];
        for (i, c) in text.char_indices() {
            let folded = match fold_char(c) {
                Some(f) => f,
                None => Some(c),
            };
            if let Some(f) = folded {
                starts[out.len()] = i as u32;
                out.push(f);
                ends[out.len()] = (i + c.len_utf8()) as u32;
            }
        }
        starts[out.len()] = text.len() as u32;
        starts.truncate(out.len() + 1);
        ends.truncate(out.len() + 1);
        Some(Shadow {
            text: out,
            starts,
            ends,
        })
    }

    /// The original span of shadow span `[s, e)`.
    pub fn map(&self, s: usize, e: usize) -> (usize, usize) {
        let start = self.starts[s] as usize;
        let end = if e > s { self.ends[e] as usize } else { start };
        (start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list the detector marks is exactly the characters `fold_char` changes.
    #[test]
    fn folded_chars_are_every_character_that_folds() {
        let folded = folded_chars();
        assert!(folded
            .iter()
            .all(|c| !c.is_ascii() && (*c as u32) < 0x10000));
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(
                folded.contains(&c),
                fold_char(c).is_some(),
                "{:X}",
                c as u32
            );
        }
    }

    /// The byte test agrees with `fold_char` on every character with one of the three
    /// lead bytes (every other character has none of them).
    #[test]
    fn the_byte_test_is_fold_char() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let b = c.encode_utf8(&mut buf).as_bytes();
            if matches!(b[0], 0xEF | 0xE2 | 0xC2) {
                assert_eq!(folds_at(b, 0), fold_char(c).is_some(), "{:X}", c as u32);
            } else {
                assert!(fold_char(c).is_none(), "{:X}", c as u32);
            }
        }
    }

    #[test]
    fn folds_and_maps_back() {
        assert!(Shadow::of("普通的中文，没有全角数字。").is_none());
        let t = "电话１３８\u{200B}1234５６７８，完";
        let s = Shadow::of(t).unwrap();
        assert_eq!(s.text, "电话13812345678，完");
        let a = s.text.find('1').unwrap();
        let (os, oe) = s.map(a, a + 11);
        assert_eq!(&t[os..oe], "１３８\u{200B}1234５６７８");
    }
}
