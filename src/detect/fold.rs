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
        let mut any = false;
        for i in memchr::memchr3_iter(0xEF, 0xE2, 0xC2, b) {
            let c = text[i..].chars().next();
            if c.is_some_and(|c| fold_char(c).is_some()) {
                any = true;
                break;
            }
        }
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
