//! Finding ASCII capitals and digits in a text eight bytes at a time.
//!
//! The English name and address scans start only at a capital or a digit, and walked
//! every byte of a text to find one, a branch per byte (about 2 % of the detector).
//! `memchr` finds given bytes, not a range of them; this is the classic SWAR range test
//! ("has a byte between m and n" from the bit-twiddling hacks), which stays exact for
//! bytes of 0x80 and above (every byte of a UTF-8 multi-byte character).

/// Each byte's high bit: 0x8080…80.
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
/// 0x0101…01.
const ONES: u64 = u64::from_ne_bytes([1; 8]);

/// The high bit of each byte of `x` that lies strictly between `m` and `n` (both at
/// most 128). Exact for every byte: no borrow crosses a byte in either subtraction.
#[inline]
fn between(x: u64, m: u8, n: u8) -> u64 {
    let low = x & !HIGH;
    (ONES * (127 + u64::from(n)) - low) & !x & (low + ONES * (127 - u64::from(m))) & HIGH
}

/// The high bit of each byte of `x` in `lo..=hi` (ASCII, `lo` at least 1): the one
/// byte-range test the detector's word-at-a-time scans share (the capitals here, the
/// byte profile's classes and digits, ASCII lower-casing of word keys).
#[inline]
pub(crate) fn in_range(x: u64, lo: u8, hi: u8) -> u64 {
    between(x, lo - 1, hi + 1)
}

/// The high bit of each byte of `x` below `n` (at most 0x80), and perhaps of bytes above
/// such a byte ("has less than" from the bit-twiddling hacks: a borrow only moves up),
/// so the lowest flag is exact, which is all `first_flagged` reads. Bytes of 0x80 and
/// above are never flagged on their own.
#[inline]
pub(crate) fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH
}

/// The first position at or after `i` whose byte `byte` accepts, or `b.len()`: whole
/// words of eight bytes are passed while `word` flags none of their bytes (`word` must
/// flag the lowest accepted byte of a word exactly, as `in_range` and `below` do), the
/// tail a byte at a time. The loop every word-at-a-time search here shares.
#[inline]
pub(crate) fn first_flagged(
    b: &[u8],
    mut i: usize,
    word: impl Fn(u64) -> u64,
    byte: impl Fn(u8) -> bool,
) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let hit = word(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        if hit != 0 {
            // Little-endian: byte j holds bits 8j..8j+8.
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !byte(b[i]) {
        i += 1;
    }
    i
}

/// The high bit of each byte of `x` that is an ASCII capital or, with `digits`, an
/// ASCII digit.
#[inline]
fn wanted(x: u64, digits: bool) -> u64 {
    let mut hit = between(x, b'A' - 1, b'Z' + 1);
    if digits {
        hit |= between(x, b'0' - 1, b'9' + 1);
    }
    hit
}

/// Whether any byte of `x` is an ASCII capital or, with `digits`, an ASCII digit.
#[cfg(test)]
fn any_wanted(x: u64, digits: bool) -> bool {
    wanted(x, digits) != 0
}

/// The first position at or after `from` holding an ASCII capital, or with `digits`
/// also an ASCII digit.
#[inline]
pub(crate) fn next_capital(b: &[u8], from: usize, digits: bool) -> Option<usize> {
    // Whole words of eight bytes with none are passed at once, where a byte loop over the
    // word cost about seven instructions a byte.
    let i = first_flagged(
        b,
        from,
        |x| wanted(x, digits),
        |c| c.is_ascii_uppercase() || (digits && c.is_ascii_digit()),
    );
    (i < b.len()).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(b: &[u8], from: usize, digits: bool) -> Option<usize> {
        (from..b.len()).find(|&i| b[i].is_ascii_uppercase() || (digits && b[i].is_ascii_digit()))
    }

    #[test]
    fn below_flags_the_first_low_byte_exactly() {
        // Every byte value at every position, after bytes that are not below the bound
        // and before ones that are (whose borrows must not move the first flag).
        for v in 0..=255u8 {
            for at in 0..8 {
                let mut x = [0u8; 8];
                x[..at].fill(b'a');
                x[at] = v;
                let first = below(u64::from_le_bytes(x), 0x20).trailing_zeros() / 8;
                let want = if v < 0x20 { at } else { at + 1 };
                assert_eq!(first as usize, want.min(8), "{v:#x} at {at}");
            }
        }
    }

    #[test]
    fn every_byte_value_is_classified_exactly() {
        for v in 0..=255u8 {
            for at in 0..8 {
                let mut x = [b'a'; 8];
                x[at] = v;
                let w = u64::from_le_bytes(x);
                assert_eq!(any_wanted(w, false), v.is_ascii_uppercase(), "{v:#x}");
                assert_eq!(
                    any_wanted(w, true),
                    v.is_ascii_uppercase() || v.is_ascii_digit(),
                    "{v:#x}"
                );
            }
        }
        assert_eq!(
            next_capital("价格是多少？Ok".as_bytes(), 0, false),
            Some(18)
        );
        assert_eq!(next_capital(b"abc", 0, true), None);
        assert_eq!(next_capital(b"abc", 9, true), None);
    }

    proptest! {
        #[test]
        fn same_as_a_byte_loop(s in "[a-zA-Z0-9 ,.中文é@\u{80}-\u{ff}]{0,40}", from in 0usize..48, digits: bool) {
            let b = s.as_bytes();
            prop_assert_eq!(next_capital(b, from, digits), naive(b, from, digits));
        }
    }
}
