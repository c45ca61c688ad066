//! The detections of short texts seen lately, per thread: a corpus repeats many of its
//! short values (a chat's canned replies and its role, language and tag fields; 36 % of
//! the generated chat corpus's texts are repeats, nearly all among its 1,000 most
//! frequent), and detection is a pure function of the detector and the text, so a
//! repeat can reuse what the first occurrence found.
//!
//! Invariants: a hit returns exactly what `Detector::detect` would (the detector's id and
//! the whole text are compared, not only a hash); memory is bounded (`SLOTS` texts of at
//! most `MAX_TEXT` bytes per thread); nothing here is logged.
//!
//! Hand-written because the replacement rule is the point: a direct-mapped table whose
//! occupant keeps its slot against a few misses for every hit (`MAX_WEIGHT`), so frequent
//! texts stay while the stream of unique ones passes through; a general LRU would let
//! the unique ones evict them, and would cost more per lookup.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Detection;

/// Slots per thread (a power of two).
const SLOTS: usize = 2048;
/// Longer texts are not remembered: they rarely repeat and would take the memory.
pub(super) const MAX_TEXT: usize = 256;
/// How many misses a slot's occupant withstands after as many hits.
const MAX_WEIGHT: u8 = 3;

/// A detector's id, unique in the process (0 marks an empty slot).
pub(super) fn new_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Default)]
struct Slot {
    detector: u64,
    hash: u64,
    text: Vec<u8>,
    found: Vec<Detection>,
    weight: u8,
}

thread_local! {
    static MEMO: RefCell<Vec<Slot>> = const { RefCell::new(Vec::new()) };
}

/// The key `recall` and `remember` take for `text` (computed once per text).
pub(super) fn hash(detector: u64, text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(text.as_bytes(), detector)
}

/// What `detector` found in `text` (whose `hash` is `h`) when it is remembered:
/// appended to `out` (cleared).
pub(super) fn recall(detector: u64, h: u64, text: &str, out: &mut Vec<Detection>) -> bool {
    MEMO.with_borrow_mut(|slots| {
        let Some(s) = slots.get_mut(h as usize & (SLOTS - 1)) else {
            return false;
        };
        if s.detector == detector && s.hash == h && s.text == text.as_bytes() {
            out.clear();
            out.extend_from_slice(&s.found);
            s.weight = (s.weight + 1).min(MAX_WEIGHT);
            true
        } else {
            false
        }
    })
}

/// Notes what `detector` found in `text` (after a `recall` that missed): it takes the
/// slot unless the occupant still has weight, which the miss wears down.
pub(super) fn remember(detector: u64, h: u64, text: &str, found: &[Detection]) {
    MEMO.with_borrow_mut(|slots| {
        if slots.is_empty() {
            slots.resize_with(SLOTS, Slot::default);
        }
        let s = &mut slots[h as usize & (SLOTS - 1)];
        if s.weight > 0 {
            s.weight -= 1;
            return;
        }
        s.detector = detector;
        s.hash = h;
        s.text.clear();
        s.text.extend_from_slice(text.as_bytes());
        s.found.clear();
        s.found.extend_from_slice(found);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::EntityType;

    fn rec(d: u64, text: &str, out: &mut Vec<Detection>) -> bool {
        recall(d, hash(d, text), text, out)
    }

    fn rem(d: u64, text: &str, found: &[Detection]) {
        remember(d, hash(d, text), text, found)
    }

    fn det(start: usize) -> Detection {
        Detection {
            entity: EntityType::Person,
            start,
            end: start + 1,
            score: 0.9,
        }
    }

    #[test]
    fn a_remembered_text_is_recalled_for_its_detector_only() {
        let (a, b) = (new_id(), new_id());
        let mut out = vec![det(9)];
        assert!(!rec(a, "张三来了", &mut out));
        rem(a, "张三来了", &[det(0)]);
        assert!(rec(a, "张三来了", &mut out));
        assert_eq!(out, [det(0)]);
        assert!(!rec(b, "张三来了", &mut out), "another detector");
        assert!(!rec(a, "张三来了。", &mut out), "another text");
    }

    #[test]
    fn an_occupant_with_hits_withstands_misses() {
        let a = new_id();
        // Two texts that share a slot.
        let first = "x0".to_string();
        let slot = |t: &str| hash(a, t) as usize & (SLOTS - 1);
        let other = (1..)
            .map(|i| format!("x{i}"))
            .find(|t| slot(t) == slot(&first))
            .unwrap();
        let mut out = Vec::new();
        rem(a, &first, &[det(1)]);
        assert!(rec(a, &first, &mut out));
        // One hit: one miss is withstood, the next takes the slot.
        rem(a, &other, &[det(2)]);
        assert!(rec(a, &first, &mut out));
        rem(a, &other, &[]);
        rem(a, &other, &[]);
        rem(a, &other, &[det(2)]);
        assert!(!rec(a, &first, &mut out));
        assert!(rec(a, &other, &mut out));
        assert_eq!(out, [det(2)]);
    }
}
