//! `WordFinder`: the leftmost-longest, non-overlapping occurrences of a list of words,
//! as `aho_corasick` with `MatchKind::LeftmostLongest` finds them, by the words' first
//! two characters (a one-character word by its character).
//!
//! Written here rather than taken from `aho_corasick` for the Chinese word lists that
//! run over every non-ASCII text (division names, field labels, titles): a byte-level
//! automaton over thousands of Chinese words has a transition table of megabytes, and
//! every byte of text read one entry of it at random, so its cache misses were the
//! largest single cost of the detector (15 % of its time under `perf`). Here each
//! character costs a hash of itself and its successor and one bit of an 8 KiB table
//! that stays in the L1 cache; only the few positions whose pair starts some word look
//! the words up. `same_as_aho_corasick` checks the two agree.

use rustc_hash::FxHashMap;

/// Bits in the pair filter (a power of two).
const FILTER_BITS: usize = 1 << 16;

pub(crate) struct WordFinder {
    /// One bit per hashed key (`key`) of a word's first two characters, and of a
    /// one-character word's character.
    filter: Box<[u64; FILTER_BITS / 64]>,
    /// The words by the key of their first two characters, longest first: (word,
    /// pattern index).
    by_pair: FxHashMap<u64, Vec<(&'static str, usize)>>,
    /// One-character words by their key (the filter bit of their key is salted).
    singles: FxHashMap<u64, usize>,
}

/// An occurrence: the word's index in the list and its byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub pattern: usize,
    pub start: usize,
    pub end: usize,
}

/// The length of the UTF-8 sequence a lead byte starts.
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// The bytes of one or two characters (at most 8), packed little-endian. UTF-8 is
/// prefix-free, so equal keys of equal byte counts are the same characters; the
/// lookups compare the words' bytes anyway.
#[inline]
fn key(bytes: &[u8]) -> u64 {
    let mut k = 0u64;
    for (n, &b) in bytes.iter().enumerate() {
        k |= u64::from(b) << (8 * n);
    }
    k
}

/// The filter bit of `key`: a multiplicative hash, the top 16 bits of the product.
#[inline]
fn bit(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize
}

/// A one-character word's key is salted, so its bit differs from a pair's with the
/// same bytes.
const SINGLE_SALT: u64 = 0x5bd1_e995_5bd1_e995;

impl WordFinder {
    /// The finder for `words` (pattern indices are their positions; an empty word is
    /// refused). Duplicates keep their first index, as in `aho_corasick`.
    pub(crate) fn new(words: &[&'static str]) -> WordFinder {
        let mut filter = Box::new([0u64; FILTER_BITS / 64]);
        let mut by_pair: FxHashMap<u64, Vec<(&'static str, usize)>> = FxHashMap::default();
        let mut singles: FxHashMap<u64, usize> = FxHashMap::default();
        let mut set = |k: u64| {
            let b = bit(k);
            filter[b / 64] |= 1 << (b % 64);
        };
        for (i, &w) in words.iter().enumerate() {
            let bytes = w.as_bytes();
            assert!(!bytes.is_empty(), "WordFinder words are not empty");
            let a = utf8_len(bytes[0]);
            if a == bytes.len() {
                let k = key(bytes);
                set(k ^ SINGLE_SALT);
                singles.entry(k).or_insert(i);
                continue;
            }
            let k = key(&bytes[..a + utf8_len(bytes[a])]);
            set(k);
            let list = by_pair.entry(k).or_default();
            if !list.iter().any(|&(x, _)| x == w) {
                list.push((w, i));
            }
        }
        for list in by_pair.values_mut() {
            // Longest first; among equal lengths the lower index (stable sort).
            list.sort_by_key(|&(w, i)| (std::cmp::Reverse(w.len()), i));
        }
        WordFinder {
            filter,
            by_pair,
            singles,
        }
    }

    #[inline]
    fn has(&self, key: u64) -> bool {
        let b = bit(key);
        self.filter[b / 64] & (1 << (b % 64)) != 0
    }

    /// The longest word at byte `i` of `b` (a character boundary): (length, pattern).
    #[inline]
    fn word_at(&self, b: &[u8], i: usize, a: usize) -> Option<(usize, usize)> {
        let j = i + a;
        if j < b.len() {
            let k = key(&b[i..j + utf8_len(b[j])]);
            if self.has(k) {
                let rest = &b[i..];
                let found = self.by_pair.get(&k).and_then(|list| {
                    list.iter()
                        .find(|(w, _)| rest.starts_with(w.as_bytes()))
                        .map(|&(w, pattern)| (w.len(), pattern))
                });
                if found.is_some() {
                    return found;
                }
            }
        }
        if self.singles.is_empty() {
            return None;
        }
        let k = key(&b[i..j]);
        if !self.has(k ^ SINGLE_SALT) {
            return None;
        }
        self.singles.get(&k).map(|&p| (a, p))
    }

    /// The occurrences in `text`, left to right: at the leftmost position where a word
    /// starts, the longest word there, then on after its end.
    pub(crate) fn find_iter<'t>(&'t self, text: &'t str) -> impl Iterator<Item = Found> + 't {
        let b = text.as_bytes();
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < b.len() {
                let a = utf8_len(b[i]);
                if let Some((len, pattern)) = self.word_at(b, i, a) {
                    let start = i;
                    i += len;
                    return Some(Found {
                        pattern,
                        start,
                        end: i,
                    });
                }
                i += a;
            }
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIXED: &[&str] = &["😀北", "é", "Zürich", "𠀀𠀁", "𠀀", "ü"];

    const WORDS: &[&str] = &[
        "北京",
        "北京市",
        "京市",
        "市东城区",
        "东城",
        "东城区",
        "地址",
        "收货地址",
        "货地",
        "ab",
        "abc",
        "b北京",
        "北京",
        "住",
        "区",
        "住址",
    ];

    fn ac(text: &str) -> Vec<Found> {
        ac_of(WORDS, text)
    }

    fn ac_of(words: &[&str], text: &str) -> Vec<Found> {
        let ac = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(words)
            .unwrap();
        ac.find_iter(text)
            .map(|m| Found {
                pattern: m.pattern().as_usize(),
                start: m.start(),
                end: m.end(),
            })
            .collect()
    }

    #[test]
    fn leftmost_longest_non_overlapping() {
        let f = WordFinder::new(WORDS);
        let text = "寄到北京市东城区，收货地址：abc北京，住址区住";
        let found: Vec<&str> = f.find_iter(text).map(|m| &text[m.start..m.end]).collect();
        assert_eq!(
            found,
            [
                "北京市",
                "东城区",
                "收货地址",
                "abc",
                "北京",
                "住址",
                "区",
                "住"
            ]
        );
        assert_eq!(f.find_iter(text).collect::<Vec<_>>(), ac(text));
        assert_eq!(f.find_iter("上海").count(), 0);
    }

    #[test]
    fn any_script_and_four_byte_characters() {
        let f = WordFinder::new(MIXED);
        let text = "x😀北 é Zürich 𠀀𠀁𠀀";
        let found: Vec<usize> = f.find_iter(text).map(|m| m.pattern).collect();
        assert_eq!(found, [0, 1, 2, 3, 4]);
        assert_eq!(f.find_iter(text).collect::<Vec<_>>(), ac_of(MIXED, text));
    }

    #[test]
    #[should_panic(expected = "not empty")]
    fn empty_words_are_refused() {
        WordFinder::new(&[""]);
    }

    proptest! {
        #[test]
        fn same_as_aho_corasick(text in "[北京市东城区地址收货住ab，c ]{0,40}") {
            let f = WordFinder::new(WORDS);
            prop_assert_eq!(f.find_iter(&text).collect::<Vec<_>>(), ac(&text));
        }

        #[test]
        fn same_as_aho_corasick_in_any_script(text in "[😀北éZüric𠀀𠀁h x]{0,30}") {
            let f = WordFinder::new(MIXED);
            prop_assert_eq!(f.find_iter(&text).collect::<Vec<_>>(), ac_of(MIXED, &text));
        }
    }
}
