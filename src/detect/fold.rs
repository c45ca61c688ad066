//! Detection through disguises that `normalize` would remove: full-width digits and
//! letters (`１３８…`), full-width `＠．－＋`, and invisible characters (zero-width space,
//! joiners, word joiner, BOM, soft hyphen) inside a value. Text with any of them is
//! searched in a folded shadow copy, and each span found is mapped back to the original
//! text, so a value written `１３８\u{200B}1234５６７８` is still found and replaced whole.
//! Latin letters with diacritics (`José García`, `Müller`, `Łukasz`, `Ødegaard`) fold to
//! their base letter the same way: the English name, address and e-mail scans and their
//! word lists (the Census writes `GARCIA`, `MULLER`) are ASCII, and read a name with an
//! accent as two words cut at the accent, so `José García` lost only `Jos`.
//! Traditional Chinese characters fold to the simplified character OpenCC reads them as
//! (`refdata/zh_t2s.tsv`: 陳 → 陈, 號 → 号, 電 → 电), so text from Taiwan, Hong Kong or
//! Macao meets the name, cue and address lists, which are built from simplified sources,
//! as simplified text does; characters simplified text also writes (於, 乾) are not in
//! the table.
//!
//! The built-in recognizers read the shadow; the user's own rules, deny and allow lists
//! read the text as written (`Detector::detect_fresh`).
//!
//! Invariants: the shadow is only built when such a character occurs (the detector's
//! one decoding pass marks them, and a byte scan confirms); mapped spans start and end
//! on character boundaries of the original text and cover every character the shadow
//! span came from.

/// The first and one past the last character of the Latin blocks whose letters fold to
/// an ASCII letter (Latin-1 Supplement, Latin Extended-A and -B): two-byte characters
/// with lead bytes 0xC3 to 0xC9.
const LATIN: std::ops::Range<u32> = 0xC0..0x250;

/// Each Latin letter's ASCII base letter, or 0: the first character of its canonical
/// decomposition (`é` = `e` + U+0301) when that is an ASCII letter, and by hand the
/// letters that have no decomposition but are read as one (`ø`, `ł`, `đ`, `ß`, `æ`).
/// Derived from `unicode-normalization` rather than written out: 244 of them decompose.
fn latin_base(c: char) -> u8 {
    use unicode_normalization::UnicodeNormalization;
    static TABLE: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        LATIN
            .filter_map(char::from_u32)
            .map(|c| {
                let by_hand = match c {
                    'Ø' | 'Œ' => 'O',
                    'ø' | 'œ' => 'o',
                    'Đ' | 'Ð' => 'D',
                    'đ' | 'ð' => 'd',
                    'Ł' => 'L',
                    'ł' => 'l',
                    'Ħ' => 'H',
                    'ħ' => 'h',
                    'ı' => 'i',
                    'Æ' => 'A',
                    'æ' => 'a',
                    'ß' => 's',
                    'Þ' => 'T',
                    'þ' => 't',
                    _ => '\0',
                };
                if by_hand != '\0' {
                    return by_hand as u8;
                }
                let mut d = c.nfd();
                match (d.next(), d.next()) {
                    (Some(b), Some(_)) if b.is_ascii_alphabetic() => b as u8,
                    _ => 0,
                }
            })
            .collect()
    });
    if LATIN.contains(&(c as u32)) {
        TABLE[(c as u32 - LATIN.start) as usize]
    } else {
        0
    }
}

/// The CJK ideographs of the Basic Multilingual Plane (Extension A and the unified
/// block, three bytes each in UTF-8, lead bytes 0xE3 to 0xE9): the traditional
/// characters that fold, and what they fold to, are all in it.
const ZH: std::ops::Range<u32> = 0x3400..0xA000;

/// The simplified character the traditional character `c` folds to, if any.
fn zh_simplified(c: char) -> Option<char> {
    const ZH_T2S: &str = include_str!("refdata/zh_t2s.tsv");
    // Per character of `ZH`, its simplified character's code (every one is in the
    // plane, so it fits 16 bits), or 0.
    static TABLE: std::sync::LazyLock<Vec<u16>> = std::sync::LazyLock::new(|| {
        let mut table = vec![0u16; ZH.len()];
        for row in super::lexicon::rows(ZH_T2S) {
            let mut cols = row.iter().map(|f| f.chars().next());
            let (Some(Some(t)), Some(Some(s))) = (cols.next(), cols.next()) else {
                continue;
            };
            // The build keeps both in `ZH`; a row outside it would be a build bug, caught
            // by `traditional_characters_fold_to_simplified`.
            if ZH.contains(&(t as u32)) && ZH.contains(&(s as u32)) {
                table[(t as u32 - ZH.start) as usize] = s as u16;
            }
        }
        table
    });
    let code = u32::from(c);
    if !ZH.contains(&code) {
        return None;
    }
    match TABLE[(code - ZH.start) as usize] {
        0 => None,
        s => char::from_u32(u32::from(s)),
    }
}

/// What a character becomes in the shadow: Some(folded), or None to drop it.
fn fold_char(c: char) -> Option<Option<char>> {
    let base = latin_base(c);
    if base != 0 {
        return Some(Some(char::from(base)));
    }
    if let Some(s) = zh_simplified(c) {
        return Some(Some(s));
    }
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

/// Whether the character whose lead byte is `b[i]` (0xEF, 0xE2 to 0xE9, 0xC2 to 0xC9) is
/// one that `fold_char` changes, from its UTF-8 bytes: a Latin letter (`latin_base`), a
/// traditional Chinese character (`zh_simplified`),
/// U+FF0B, U+FF0D, U+FF0E, U+FF10..=U+FF19, U+FF20..=U+FF3A (EF BC 8B, 8D, 8E, 90..=99, A0..=BA), U+FF41..=U+FF5A (EF BD
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
        (0xC3..=0xC9, 0x80..=0xBF) => {
            let c = (u32::from(b[i] & 0x1F) << 6) | u32::from(next(1) & 0x3F);
            char::from_u32(c).is_some_and(|c| latin_base(c) != 0)
        }
        (0xE3..=0xE9, 0x80..=0xBF) => {
            let c = (u32::from(b[i] & 0x0F) << 12)
                | (u32::from(next(1) & 0x3F) << 6)
                | u32::from(next(2) & 0x3F);
            char::from_u32(c).is_some_and(|c| zh_simplified(c).is_some())
        }
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
    /// None when `text` has nothing to fold (decided by a byte scan: every folded
    /// character is encoded with a lead byte 0xEF, 0xE2 to 0xE9 or 0xC2 to 0xC9). The
    /// detector asks only for a text its decoding pass saw a folded character in.
    pub fn of(text: &str) -> Option<Shadow> {
        let b = text.as_bytes();
        // Chinese text is full of 0xEF lead bytes (，？！：（）are U+FF0x): each is told
        // from a folded character by its next bytes, without decoding it.
        let any = b
            .iter()
            .enumerate()
            .any(|(i, &x)| matches!(x, 0xC2..=0xC9 | 0xE2..=0xE9 | 0xEF) && folds_at(b, i));
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

    /// The byte test agrees with `fold_char` on every character with one of its lead
    /// bytes (every other character has none of them).
    #[test]
    fn the_byte_test_is_fold_char() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let mut buf = [0u8; 4];
            let b = c.encode_utf8(&mut buf).as_bytes();
            if matches!(b[0], 0xEF | 0xE2..=0xE9 | 0xC2..=0xC9) {
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

    #[test]
    fn latin_letters_fold_to_their_base_letter() {
        let t = "José García, Müller, Łukasz Ødegaard, Strauß; ×÷ stay";
        let s = Shadow::of(t).unwrap();
        assert_eq!(
            s.text,
            "Jose Garcia, Muller, Lukasz Odegaard, Straus; ×÷ stay"
        );
        let a = s.text.find("Garcia").unwrap();
        let (os, oe) = s.map(a, a + "Garcia".len());
        assert_eq!(&t[os..oe], "García");
        assert!(Shadow::of("naïve").is_some());
        assert!(Shadow::of("中文，× only").is_none());
    }

    #[test]
    fn traditional_characters_fold_to_simplified() {
        let t = "聯絡人：陳志明，電話0912-345-678，台北市大安區忠孝東路四段1號";
        let s = Shadow::of(t).unwrap();
        assert_eq!(
            s.text,
            "联络人：陈志明，电话0912-345-678，台北市大安区忠孝东路四段1号"
        );
        let a = s.text.find("陈志明").unwrap();
        let (os, oe) = s.map(a, a + "陈志明".len());
        assert_eq!(&t[os..oe], "陳志明");
        // Simplified text, and characters simplified text writes too, stay as they are.
        assert!(Shadow::of("联系人：陈志明，乾隆年间，於先生").is_none());
        let rows = include_str!("refdata/zh_t2s.tsv").lines().skip(1);
        let mut n = 0;
        for row in rows {
            let (t, s) = row.split_once('\t').unwrap();
            let (t, s) = (t.chars().next().unwrap(), s.chars().next().unwrap());
            assert_eq!(zh_simplified(t), Some(s), "{t}");
            assert_eq!(zh_simplified(s), None, "{s} folds again");
            n += 1;
        }
        assert!(n > 2000, "{n} rows");
    }
}
