//! `WordFinder`: the leftmost-longest, non-overlapping occurrences of a list of words,
//! as `aho_corasick` with `MatchKind::LeftmostLongest` finds them, by the words' first
//! two characters (a one-character word by its character).
//!
//! Written here rather than taken from `aho_corasick` for the Chinese word lists that
//! run over every non-ASCII text (division names, field labels, titles): a byte-level
//! automaton over thousands of Chinese words has a transition table of megabytes, and
//! every byte of text read one entry of it at random, so its cache misses were the
//! largest single cost of the detector (15 % of its time under `perf`). Here each
//! character costs one bit of a bitmap of the words' first characters; only a character
//! that starts some word costs a hash of itself and its successor and one bit of an
//! 8 KiB table that stays in the L1 cache; only the few positions whose pair starts
//! some word look the words up. `same_as_aho_corasick` checks the two agree.
//!
//! The detector runs three finders over every non-ASCII text (the name labels and titles,
//! the address starts); `FirstChars` marks the characters that may start a word of each
//! in one pass with one table, and each finder visits only its marks (`find_at`).
//!
//! `CharBits`, the bitmap of characters, lives here too: the name and address scans
//! use it for their cue and suffix lists, and this module imports neither of them.

use rustc_hash::FxHashMap;

/// Bits in the pair filter (a power of two).
const FILTER_BITS: usize = 1 << 16;

/// A set of characters of the Basic Multilingual Plane as a bitmap (8 KiB); characters
/// beyond it are always "in" (the caller then does the exact lookup).
pub(crate) struct CharBits(Box<[u64; 1024]>);

impl CharBits {
    pub(crate) fn new(chars: impl IntoIterator<Item = char>) -> CharBits {
        let mut bits = Box::new([0u64; 1024]);
        for c in chars {
            let i = c as usize;
            if i < 65536 {
                bits[i >> 6] |= 1 << (i & 63);
            }
        }
        CharBits(bits)
    }

    #[inline]
    pub(crate) fn has(&self, c: char) -> bool {
        let i = c as usize;
        i >= 65536 || self.0[i >> 6] & (1 << (i & 63)) != 0
    }
}

pub(crate) struct WordFinder {
    /// The words' first characters: most characters of a text start no word and are
    /// passed by on this one bit, before the pair is hashed.
    first: CharBits,
    /// One bit per hashed pair of first characters that starts some word.
    filter: Box<[u64; FILTER_BITS / 64]>,
    /// The words by their first two characters, longest first: (word, pattern index).
    by_pair: FxHashMap<u64, Vec<(&'static str, usize)>>,
    /// One-character words: the filter's bit of the character paired with itself, and
    /// the pattern index by character.
    singles: FxHashMap<char, usize>,
}

/// An occurrence: the word's index in the list and its byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub pattern: usize,
    pub start: usize,
    pub end: usize,
}

fn pair_key(a: char, b: char) -> u64 {
    (u64::from(u32::from(a)) << 32) | u64::from(u32::from(b))
}

fn pair_bit(key: u64) -> usize {
    // A multiplicative hash: the top 16 bits of the product mix both characters.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize
}

impl WordFinder {
    /// The finder for `words` (pattern indices are their positions; an empty word is
    /// refused). Duplicates keep their first index, as in `aho_corasick`.
    pub(crate) fn new(words: &[&'static str]) -> WordFinder {
        let mut filter = Box::new([0u64; FILTER_BITS / 64]);
        let mut by_pair: FxHashMap<u64, Vec<(&'static str, usize)>> = FxHashMap::default();
        let mut singles: FxHashMap<char, usize> = FxHashMap::default();
        for (i, &w) in words.iter().enumerate() {
            let mut cs = w.chars();
            let Some(a) = cs.next() else {
                panic!("WordFinder words are not empty");
            };
            let Some(b) = cs.next() else {
                let bit = pair_bit(pair_key(a, a));
                filter[bit / 64] |= 1 << (bit % 64);
                singles.entry(a).or_insert(i);
                continue;
            };
            let key = pair_key(a, b);
            let bit = pair_bit(key);
            filter[bit / 64] |= 1 << (bit % 64);
            let list = by_pair.entry(key).or_default();
            if !list.iter().any(|&(x, _)| x == w) {
                list.push((w, i));
            }
        }
        for list in by_pair.values_mut() {
            // Longest first; among equal lengths the lower index (stable sort).
            list.sort_by_key(|&(w, i)| (std::cmp::Reverse(w.len()), i));
        }
        WordFinder {
            first: CharBits::new(words.iter().filter_map(|w| w.chars().next())),
            filter,
            by_pair,
            singles,
        }
    }

    fn has(&self, key: u64) -> bool {
        let bit = pair_bit(key);
        self.filter[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// The word starting at `chars[k]`, the longest there, and the index of the first
    /// character after it.
    #[inline]
    fn match_at(&self, text: &str, chars: &[(usize, char)], k: usize) -> Option<(Found, usize)> {
        let (i, a) = chars[k];
        let mut found = None;
        if let Some(&(_, b)) = chars.get(k + 1) {
            let key = pair_key(a, b);
            if self.has(key) {
                if let Some(list) = self.by_pair.get(&key) {
                    let rest = &text.as_bytes()[i..];
                    found = list
                        .iter()
                        .find(|(w, _)| rest.starts_with(w.as_bytes()))
                        .map(|&(w, pattern)| (w.len(), pattern));
                }
            }
        }
        if found.is_none() && !self.singles.is_empty() && self.has(pair_key(a, a)) {
            found = self.singles.get(&a).map(|&p| (a.len_utf8(), p));
        }
        let (len, pattern) = found?;
        let end = i + len;
        let mut next = k + 1;
        while chars.get(next).is_some_and(|&(j, _)| j < end) {
            next += 1;
        }
        Some((
            Found {
                pattern,
                start: i,
                end,
            },
            next,
        ))
    }

    /// The occurrences in `text`, left to right: at the leftmost position where a word
    /// starts, the longest word there, then on after its end. `chars` is
    /// `text.char_indices()` collected: the detector decodes a text once for all its
    /// finders and its name scan.
    #[cfg(test)]
    pub(crate) fn find_in<'t>(
        &'t self,
        text: &'t str,
        chars: &'t [(usize, char)],
    ) -> impl Iterator<Item = Found> + 't {
        let mut k = 0;
        std::iter::from_fn(move || {
            while let Some(&(_, a)) = chars.get(k) {
                if self.first.has(a) {
                    if let Some((found, next)) = self.match_at(text, chars, k) {
                        k = next;
                        return Some(found);
                    }
                }
                k += 1;
            }
            None
        })
    }

    /// `find_in`, visiting only `starts`: the indices into `chars`, ascending, of the
    /// characters that begin one of the words (as `FirstChars::mark` lists them for
    /// several finders in one pass) instead of testing every character.
    pub(crate) fn find_at<'t>(
        &'t self,
        text: &'t str,
        chars: &'t [(usize, char)],
        starts: &'t [usize],
    ) -> impl Iterator<Item = Found> + 't {
        let mut next = 0;
        let mut starts = starts.iter();
        std::iter::from_fn(move || {
            for &k in starts.by_ref() {
                if k < next {
                    continue;
                }
                if let Some((found, after)) = self.match_at(text, chars, k) {
                    next = after;
                    return Some(found);
                }
            }
            None
        })
    }

    /// `find_in` over a text decoded here.
    #[cfg(test)]
    pub(crate) fn find_iter(&self, text: &str) -> std::vec::IntoIter<Found> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        self.find_in(text, &chars).collect::<Vec<_>>().into_iter()
    }
}

/// The first characters of several finders' words in one table, one bit per finder:
/// one pass over a text's characters lists, for each finder, the characters where one
/// of its words may start (`WordFinder::find_at`). A pass per finder, each testing every
/// character against its own bitmap, was 6 % of the detector's instructions (callgrind)
/// for three finders over every non-ASCII text.
pub(crate) struct FirstChars {
    /// Per character of the Basic Multilingual Plane; characters beyond it start a word
    /// of every finder as far as this table says (the finder then looks).
    bits: Box<[u8; 1 << 16]>,
    finders: usize,
    /// The bit of the characters `mark` reports whether a text holds (`flagged`).
    flag: u8,
    /// The bit of the characters `decode_and_mark` reports whether a text holds
    /// (`folded`: the detector's `fold::folded_chars`, so that a text's one pass tells
    /// whether it needs a folded shadow, without a byte scan of its own).
    fold: u8,
}

/// What `FirstChars::decode_and_mark` saw besides the word starts: whether a flagged
/// character occurs, and whether a folded one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub listing: bool,
    pub folds: bool,
}

/// What a list of `FirstChars` marks: the characters where a word of a finder may
/// start, or the characters of a set (the names scan's possible surname starts, about
/// 8 % of the chat sample's Chinese characters, which it had tested one character at a
/// time: marked here, the detector's instructions on that sample fell 1.5 %).
#[derive(Clone, Copy)]
pub(crate) enum Marks<'a> {
    Words(&'a WordFinder),
    Chars(&'a dyn Fn(char) -> bool),
}

impl Marks<'_> {
    /// Whether the character with code `c` (of the Basic Multilingual Plane) is marked.
    fn marks(&self, c: usize) -> bool {
        match self {
            Marks::Words(f) => f.first.0[c >> 6] & (1 << (c & 63)) != 0,
            Marks::Chars(set) => char::from_u32(c as u32).is_some_and(set),
        }
    }
}

impl FirstChars {
    /// The table of `finders` (at most six), in that order, of the characters
    /// `flagged`, whose presence `mark` reports, and of the characters `folded` (of the
    /// Basic Multilingual Plane), whose presence `decode_and_mark` reports too. A
    /// character past that plane is marked for every list (its finder or set then
    /// looks), flagged and folded never.
    pub(crate) fn new(finders: &[Marks<'_>], flagged: &[char], folded: &[char]) -> FirstChars {
        assert!(finders.len() <= 6, "FirstChars holds six finders at most");
        let mut bits: Box<[u8; 1 << 16]> = vec![0u8; 1 << 16]
            .into_boxed_slice()
            .try_into()
            .expect("a table of 65536 bytes");
        for (f, finder) in finders.iter().enumerate() {
            for (c, b) in bits.iter_mut().enumerate() {
                if finder.marks(c) {
                    *b |= 1 << f;
                }
            }
        }
        let flag = 1 << finders.len();
        for &c in flagged {
            if let Some(b) = bits.get_mut(c as usize) {
                *b |= flag;
            }
        }
        let fold = flag << 1;
        for &c in folded {
            let b = bits
                .get_mut(c as usize)
                .expect("folded characters are in the Basic Multilingual Plane");
            *b |= fold;
        }
        FirstChars {
            bits,
            finders: finders.len(),
            flag,
            fold,
        }
    }

    /// Fills `out` (resized to one list per finder) with the indices into `chars` whose
    /// character starts a word of that finder; returns whether one of the characters
    /// is flagged.
    pub(crate) fn mark(&self, chars: &[(usize, char)], out: &mut Vec<Vec<usize>>) -> bool {
        out.resize_with(self.finders, Vec::new);
        for list in out.iter_mut() {
            list.clear();
        }
        let mut seen = 0;
        for (k, &(_, c)) in chars.iter().enumerate() {
            // Beyond the table: a word of every finder may start there, and no flagged
            // character is one.
            let m = self.bits.get(c as usize).copied().unwrap_or(self.flag - 1);
            seen |= m;
            if m & (self.flag - 1) == 0 {
                continue;
            }
            for (f, list) in out.iter_mut().enumerate() {
                if m & (1 << f) != 0 {
                    list.push(k);
                }
            }
        }
        seen & self.flag != 0
    }

    /// `hits` filled with `k << 8 | m` for each character `chars[k]` whose bits `m`
    /// mark it for some finder (`k` < 2^56: it indexes a decoded text); returns the union
    /// of all the characters' bits: what `decode_hits` does as it decodes, written as
    /// `mark` reads the table, for its property test.
    #[cfg(test)]
    fn hits(&self, chars: &[(usize, char)], hits: &mut Vec<u64>) -> u8 {
        let all = self.flag - 1;
        let bits = chars
            .iter()
            .map(|&(_, c)| self.bits.get(c as usize).copied().unwrap_or(all));
        hits.clear();
        hits.extend(
            bits.clone()
                .enumerate()
                .filter(|&(_, m)| m & all != 0)
                .map(|(k, m)| (k as u64) << 8 | u64::from(m)),
        );
        bits.fold(0, |seen, m| seen | m)
    }

    /// `chars` emptied and filled with `text.char_indices()`, and `hits` as `hits`
    /// fills it from them, in one loop.
    ///
    /// Written out because the standard decoder, collected by a loop of `push`es, then
    /// `hits` over what it left took about 48 instructions a character of the chat
    /// sample's non-ASCII texts (the decoder's per-width branches, a capacity test and
    /// a 16-byte store per character, then a second loop): this one knows the text is
    /// valid UTF-8 (a `&str`), so each width's continuation bytes are there and need no
    /// test, writes into room reserved once, and looks the character's bits up as it
    /// goes. Property test `decode_hits_is_char_indices_then_hits`.
    #[inline(never)]
    fn decode_hits(&self, text: &str, chars: &mut Vec<(usize, char)>, hits: &mut Vec<u64>) -> u8 {
        let b = text.as_bytes();
        let table: &[u8; 1 << 16] = &self.bits;
        let all = self.flag - 1;
        chars.clear();
        hits.clear();
        // At most one character a byte.
        chars.reserve(b.len());
        let dst = &mut chars.spare_capacity_mut()[..b.len()];
        let (mut i, mut k, mut seen) = (0, 0, 0);
        while i < b.len() {
            let x = b[i];
            // SAFETY: `text` is valid UTF-8, so a lead byte of width w has w - 1
            // continuation bytes after it, all inside `b`.
            let (c, w) = unsafe {
                let at = |j: usize| u32::from(*b.get_unchecked(i + j) & 0x3F);
                if x < 0x80 {
                    (u32::from(x), 1)
                } else if x < 0xE0 {
                    (u32::from(x & 0x1F) << 6 | at(1), 2)
                } else if x < 0xF0 {
                    (u32::from(x & 0x0F) << 12 | at(1) << 6 | at(2), 3)
                } else {
                    (
                        u32::from(x & 0x07) << 18 | at(1) << 12 | at(2) << 6 | at(3),
                        4,
                    )
                }
            };
            // Beyond the table (four bytes): a word of every finder may start there,
            // and no flagged character is one (as in `mark`).
            let m = if w < 4 {
                table[c as usize & 0xFFFF]
            } else {
                all
            };
            seen |= m;
            if m & all != 0 {
                hits.push((k as u64) << 8 | u64::from(m));
            }
            // SAFETY: the bytes of a valid UTF-8 sequence decode to a scalar value.
            let c = unsafe { char::from_u32_unchecked(c) };
            // At most one character a byte: `k` stays below `b.len()`.
            dst[k].write((i, c));
            k += 1;
            i += w;
        }
        // SAFETY: the first `k` slots of the spare room were written just above.
        unsafe { chars.set_len(k) };
        seen
    }

    /// `chars` filled with `text.char_indices()` and `mark` run over them (what they
    /// return and fill, exactly; `marked_starts_find_what_every_character_finds` checks).
    /// Decoding with `extend` in the detector and marking in a second pass took 56
    /// instructions a character of chat8 (1.6 M characters: 42 M and 48 M under
    /// callgrind): `extend` went through its generic per-element path, and `mark`,
    /// inlined into the detector, kept its loop state on the stack (about eight spilled
    /// values a character), as did a single loop fusing the two. Here, out of line, they
    /// took 60 M and 25 M, then 85 M in all (chat8 712.3 M -> 695.8 M).
    #[inline(never)]
    pub(crate) fn decode_and_mark(
        &self,
        text: &str,
        chars: &mut Vec<(usize, char)>,
        out: &mut Vec<Vec<usize>>,
    ) -> Seen {
        out.resize_with(self.finders, Vec::new);
        for list in out.iter_mut() {
            list.clear();
        }
        // One loop decodes and finds the marked characters, with few enough values live
        // to keep them in registers (pushing to the finders' lists as well, the loop
        // spilled eight of them a character to the stack); the marked characters are
        // then dealt to the lists of their bits, each hit once (a pass over the hits
        // per finder was a fifth of this function's instructions).
        thread_local! {
            static HITS: std::cell::Cell<Vec<u64>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut hits = HITS.take();
        let seen = self.decode_hits(text, chars, &mut hits);
        let all = self.flag - 1;
        for &h in &hits {
            let mut bits = h as u8 & all;
            while bits != 0 {
                out[bits.trailing_zeros() as usize].push((h >> 8) as usize);
                bits &= bits - 1;
            }
        }
        HITS.set(hits);
        Seen {
            listing: seen & self.flag != 0,
            folds: seen & self.fold != 0,
        }
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
        fn decode_hits_is_char_indices_then_hits(text in "(?s)(.|[北京市东城区地址、ｂab])[^\\x00-\\x7f]{0,8}(.|[北京市东城区地址、ｂab]){0,64}") {
            let finder = WordFinder::new(WORDS);
            let f = FirstChars::new(&[Marks::Words(&finder)], &['、'], &['ｂ']);
            let (mut chars, mut hits) = (vec![(7, 'x')], vec![3]);
            let seen = f.decode_hits(&text, &mut chars, &mut hits);
            let want: Vec<(usize, char)> = text.char_indices().collect();
            let mut want_hits = Vec::new();
            prop_assert_eq!(seen, f.hits(&want, &mut want_hits));
            prop_assert_eq!(chars, want);
            prop_assert_eq!(hits, want_hits);
        }

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

        /// Finders visiting only the characters one table marked for them find what
        /// each finds visiting every character.
        #[test]
        fn marked_starts_find_what_every_character_finds(
            text in "[北京市东城区地址收货住😀éZüric𠀀𠀁h ab，c １\u{200B}]{0,40}"
        ) {
            let finders = [WordFinder::new(WORDS), WordFinder::new(MIXED), WordFinder::new(&["区", "c"])];
            let vowel = |c: char| "aeiouü".contains(c);
            let lists = [Marks::Words(&finders[0]), Marks::Words(&finders[1]), Marks::Chars(&vowel), Marks::Words(&finders[2])];
            let table = FirstChars::new(&lists, &['，', 'é'], &['１', '\u{200B}', 'ü']);
            let chars: Vec<(usize, char)> = text.char_indices().collect();
            let mut marks = Vec::new();
            let flagged = table.mark(&chars, &mut marks);
            prop_assert_eq!(flagged, text.contains(['，', 'é']));
            prop_assert_eq!(marks.len(), 4);
            // A set's list: its characters, and those past the table (their set looks).
            let in_set: Vec<usize> = (0..chars.len())
                .filter(|&k| vowel(chars[k].1) || chars[k].1 as u32 >= 1 << 16)
                .collect();
            prop_assert_eq!(&marks[2], &in_set);
            // Decoding and marking in one pass gives the same characters and marks.
            let (mut chars2, mut marks2) = (vec![(9, 'x')], vec![vec![7]; 5]);
            let seen = table.decode_and_mark(&text, &mut chars2, &mut marks2);
            prop_assert_eq!(seen.listing, flagged);
            prop_assert_eq!(seen.folds, text.contains(['１', '\u{200B}', 'ü']));
            prop_assert_eq!(&chars2, &chars);
            prop_assert_eq!(&marks2, &marks);
            for (f, starts) in finders.iter().zip([&marks[0], &marks[1], &marks[3]]) {
                prop_assert_eq!(
                    f.find_at(&text, &chars, starts).collect::<Vec<_>>(),
                    f.find_in(&text, &chars).collect::<Vec<_>>()
                );
            }
        }
    }
}
