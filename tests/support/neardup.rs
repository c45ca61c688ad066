//! A deterministic, labelled near-duplicate corpus, and the scorer that grades a dedup
//! run against it. Shared by `tests/dedup_quality.rs` and `examples/gen_neardup.rs`
//! (both include this file with `#[path = ...] mod neardup;`), so that the test, the
//! benchmark and any comparison tool are graded by one definition.
//!
//! Why: the `dedup` stage has to be measured on duplicates whose similarity is known
//! exactly. Every document here is labelled with its cluster, how it was made, and its
//! exact Jaccard similarity to the cluster's seed under the same normalisation and
//! shingling as the stage:
//!
//! * normalisation: Unicode NFKC, then `str::to_lowercase`, then every run of Unicode
//!   whitespace collapsed to one ASCII space, trimmed at both ends;
//! * shingles: the set of character 5-grams (over `char`s) of the normalised text; a
//!   non-empty normalised text shorter than 5 chars has the whole text as its only
//!   shingle; an empty text has none;
//! * Jaccard: |A ∩ B| / |A ∪ B| of the shingle sets, 1.0 for two empty sets.
//!
//! The corpus: seeds are synthetic English, Chinese and mixed zh/en texts of 300–1500
//! chars built from large word pools with random fill, so that any two seeds are far
//! apart (Jaccard well below 0.2). A seed has 0–4 members: exact copies, normalisation-
//! only copies (case, full-width forms, whitespace, NBSP; identical after
//! normalisation), edited variants (random word / character / sentence edits until the
//! exact Jaccard to the seed lands in [0.80, 1.00)) and hard negatives (edited down to
//! [0.45, 0.70], and below 0.75 against every other member of their cluster). The
//! order is shuffled, then ids `d0000000`, `d0000001`, ... are given in output order.
//!
//! One adjustment to the shuffle: edited variants of one seed may be below 0.8 to each
//! other, so in an order like (edit A, edit B, seed) no keep-first dedup at 0.8 can drop
//! B, yet the scorer counts B as a duplicate. Where a cluster's shuffled order has such
//! an unreachable member, its members are re-shuffled among the cluster's own positions
//! (falling back to seed first). So in every true group, every member after the first
//! has Jaccard ≥ 0.8 to some earlier member: recall 1.0 is reachable by a keep-first
//! dedup that compares against every earlier document.
//!
//! Determinism: all randomness comes from `ChaCha8Rng::seed_from_u64(seed)` and all
//! decisions use integer arithmetic, so the same `(docs, seed)` gives the same corpus
//! on every platform.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

type Rng8 = ChaCha8Rng;

/// Shingle length in chars.
pub const SHINGLE: usize = 5;
/// The near-duplicate threshold the corpus is built around.
pub const THRESHOLD: f64 = 0.8;

// ---------------------------------------------------------------------------
// Shared definitions
// ---------------------------------------------------------------------------

/// NFKC, then lower-case, then whitespace runs collapsed to one ASCII space, trimmed.
pub fn normalise(text: &str) -> String {
    let lower = text.nfkc().collect::<String>().to_lowercase();
    let mut out = String::with_capacity(lower.len());
    for w in lower.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// The shingle set of `text`. `text` is normalised first (normalising twice changes
/// nothing, so passing already-normalised text is fine).
pub fn shingles(text: &str) -> HashSet<String> {
    let chars: Vec<char> = normalise(text).chars().collect();
    if chars.is_empty() {
        return HashSet::new();
    }
    if chars.len() < SHINGLE {
        return HashSet::from([chars.iter().collect()]);
    }
    chars
        .windows(SHINGLE)
        .map(|w| w.iter().collect::<String>())
        .collect()
}

/// |A ∩ B| / |A ∪ B|; 1.0 for two empty sets.
pub fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let inter = small.iter().filter(|s| large.contains(*s)).count();
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// Jaccard of two raw texts (normalised and shingled here). Same result as
/// `jaccard(&shingles(a), &shingles(b))`, faster.
pub fn text_jaccard(a: &str, b: &str) -> f64 {
    let (i, u) = inter_union(&keys_of(a), &keys_of(b));
    ratio(i, u)
}

/// Rounded to 4 decimals, as written in the truth file.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn ratio(inter: usize, union: usize) -> f64 {
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

// Shingles as exact integer keys: up to five 21-bit chars plus the length, in a u128.
// Injective, so set sizes and intersections are exactly those of the string sets.
fn key(w: &[char]) -> u128 {
    let mut k = (w.len() as u128) << 105;
    for (i, &c) in w.iter().enumerate() {
        k |= (c as u128) << (21 * i);
    }
    k
}

/// Sorted, deduplicated shingle keys of already-normalised chars.
fn keys_norm(chars: &[char]) -> Vec<u128> {
    let mut v: Vec<u128> = if chars.is_empty() {
        Vec::new()
    } else if chars.len() < SHINGLE {
        vec![key(chars)]
    } else {
        chars.windows(SHINGLE).map(key).collect()
    };
    v.sort_unstable();
    v.dedup();
    v
}

fn keys_of(text: &str) -> Vec<u128> {
    keys_norm(&normalise(text).chars().collect::<Vec<_>>())
}

/// (|A ∩ B|, |A ∪ B|) of two sorted key sets.
fn inter_union(a: &[u128], b: &[u128]) -> (usize, usize) {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (n, a.len() + b.len() - n)
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// One corpus line: `{"id": "d0000123", "text": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doc {
    pub id: String,
    pub text: String,
}

/// How a document was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The original of a cluster that has members.
    Seed,
    /// A byte-identical copy of the seed.
    Exact,
    /// Identical to the seed after normalisation, different bytes.
    Normalised,
    /// Edited to Jaccard [0.80, 1.00) against the seed.
    Edited,
    /// Hard negative: edited to Jaccard [0.45, 0.70]; must never be merged.
    Negative,
    /// A document with no cluster members.
    Singleton,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Seed => "seed",
            Kind::Exact => "exact",
            Kind::Normalised => "normalised",
            Kind::Edited => "edited",
            Kind::Negative => "negative",
            Kind::Singleton => "singleton",
        }
    }
    /// Seed, exact, normalised and edited members form a cluster's true duplicate group.
    pub fn in_group(self) -> bool {
        matches!(
            self,
            Kind::Seed | Kind::Exact | Kind::Normalised | Kind::Edited
        )
    }
}

/// One truth line: `{"id", "cluster" (the seed's id), "kind", "jaccard"}` where
/// `jaccard` is the exact Jaccard to the seed, rounded to 4 decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub id: String,
    pub cluster: String,
    pub kind: Kind,
    pub jaccard: f64,
}

/// One JSON line per item.
pub fn to_jsonl<T: Serialize>(items: &[T]) -> String {
    let mut s = String::new();
    for it in items {
        s.push_str(&serde_json::to_string(it).expect("serialise"));
        s.push('\n');
    }
    s
}

pub fn parse_truth(jsonl: &str) -> Vec<Truth> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad truth line {l:?}: {e}")))
        .collect()
}

/// (dropped id, matched id) pairs from a `dedup_clusters.jsonl` file, or from any JSONL
/// in the shape `{"dropped": {"id": ..}, "matched": {"id": ..}}` (`kept` is used when
/// `matched` is absent).
pub fn pairs_from_clusters(jsonl: &str) -> Vec<(String, String)> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad cluster line {l:?}: {e}"));
            let id = |k: &str| v[k]["id"].as_str().map(str::to_string);
            let dropped = id("dropped").unwrap_or_else(|| panic!("no dropped.id in {l}"));
            let other = id("matched")
                .or_else(|| id("kept"))
                .unwrap_or_else(|| panic!("no matched.id in {l}"));
            (dropped, other)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Word pools
// ---------------------------------------------------------------------------

#[rustfmt::skip]
const EN_NOUNS: &[&str] = &[
    "account", "address", "agent", "agreement", "analyst", "answer", "application",
    "appointment", "archive", "article", "assistant", "audit", "balance", "bank", "battery",
    "benefit", "bill", "board", "budget", "bug", "building", "bundle", "cable", "calendar",
    "camera", "campaign", "candidate", "capacity", "card", "carrier", "catalog", "category",
    "channel", "charge", "chart", "checkout", "client", "cluster", "colleague", "committee",
    "component", "computer", "contract", "contractor", "coupon", "courier", "customer",
    "dashboard", "database", "deadline", "delivery", "department", "deposit", "design",
    "developer", "device", "discount", "district", "document", "draft", "driver", "engineer",
    "estimate", "event", "factory", "feature", "fee", "file", "folder", "forecast", "form",
    "garden", "guide", "hospital", "invoice", "item", "kitchen", "laptop", "lease", "ledger",
    "library", "license", "manager", "manual", "market", "meeting", "member", "message",
    "method", "model", "module", "network", "notice", "office", "order", "package", "partner",
    "password", "patient", "payment", "permit", "phone", "platform", "policy", "portal",
    "price", "printer", "process", "product", "profile", "project", "proposal", "provider",
    "quarter", "query", "receipt", "record", "refund", "region", "release", "report",
    "request", "resident", "restaurant", "review", "router", "sample", "schedule", "school",
    "screen", "sensor", "server", "service", "session", "shipment", "signal", "site",
    "software", "speaker", "sponsor", "station", "storage", "student", "subscription",
    "supplier", "survey", "system", "teacher", "team", "template", "tenant", "ticket",
    "token", "tool", "traveler", "update", "upgrade", "user", "vehicle", "vendor", "version",
    "village", "volunteer", "warehouse", "warranty", "website", "window", "workshop",
    "accountant", "acknowledgement", "adapter", "administrator", "advertisement", "airline",
    "airport", "alarm", "allowance", "amendment", "announcement", "apartment", "appliance",
    "architect", "armchair", "assessment", "asset", "attachment", "attendee", "attorney",
    "auction", "auditor", "backpack", "backup", "badge", "bakery", "bandwidth", "banner",
    "barcode", "basement", "basket", "beverage", "bicycle", "binder", "biscuit", "blanket",
    "blueprint", "bookshelf", "bottle", "boulevard", "bracelet", "branch", "brochure",
    "broker", "browser", "bucket", "buffer", "bulletin", "bungalow", "butcher", "cabinet",
    "cafeteria", "canal", "canteen", "carpet", "cartridge", "cashier", "castle", "ceiling",
    "certificate", "chairman", "chamber", "chapter", "charger", "chemist", "chimney",
    "circuit", "citizen", "classroom", "clinic", "closet", "coach", "coffee", "collar",
    "column", "commission", "commuter", "compass", "compressor", "concert", "conductor",
    "consultant", "container", "corridor", "cottage", "counter", "county", "cousin",
    "crane", "credential", "curtain", "cushion", "cylinder", "dealer", "debit", "decimal",
    "deck", "dentist", "desk", "diagram", "dictionary", "diploma", "directory",
    "dispatcher", "dividend", "dormitory", "drawer", "electrician", "elevator", "embassy",
    "employer", "envelope", "equipment", "escalator", "exhibit", "expense", "fabric",
    "faucet", "fence", "ferry", "festival", "firmware", "flashlight", "florist", "fountain",
    "freezer", "freight", "furnace", "gadget", "gallery", "garage", "gasket", "gateway",
    "generator", "glacier", "grocery", "guardian", "hallway", "hammer", "harbor",
    "headline", "headset", "heater", "helmet", "highway", "hinge", "holiday", "homework",
    "hotel", "household", "inbox", "incident", "infant", "insurer", "interview",
    "inventory", "investor", "island", "jacket", "janitor", "journal", "judge", "keyboard",
    "kiosk", "label", "ladder", "landlord", "lantern", "lawyer", "lecture", "lens",
    "letter", "lighthouse", "locker", "lodge", "luggage", "magazine", "mailbox", "mattress",
    "mechanic", "microphone", "milestone", "mirror", "monitor", "mortgage", "motel",
    "museum", "neighbor", "newsletter", "notebook", "nurse", "orchard", "outlet", "oven",
    "painter", "pamphlet", "parcel", "passenger", "pavement", "pharmacy", "photographer",
    "pianist", "pillow", "pipeline", "plumber", "pocket", "postcard", "poster", "pottery",
    "premium", "prescription", "professor", "projector", "property", "publisher", "pump",
    "puzzle", "quota", "railway", "ranch", "recipe", "referee", "refrigerator", "registrar",
    "reservoir", "retailer", "ribbon", "roof", "saddle", "salary", "sandwich", "satellite",
    "scanner", "scholarship", "scooter", "sculpture", "secretary", "seminar", "shelter",
    "shuttle", "sidewalk", "socket", "spreadsheet", "stadium", "stapler", "statement",
    "stove", "subway", "suitcase", "surgeon", "sweater", "switch", "tablet", "tariff",
    "taxi", "technician", "telescope", "terminal", "textbook", "thermostat", "timetable",
    "toddler", "tournament", "tractor", "trailer", "transcript", "treasurer", "trolley",
    "truck", "tuition", "tunnel", "umbrella", "uniform", "utility", "valve", "venue",
    "veterinarian", "voucher", "wallet", "wardrobe", "webcam", "wheelchair", "widget",
    "workbench", "workflow", "wrench", "yard", "zipper",
];

#[rustfmt::skip]
const EN_VERBS: &[&str] = &[
    "accepted", "adjusted", "analysed", "approved", "archived", "assigned", "booked",
    "calculated", "cancelled", "changed", "checked", "cleaned", "collected", "compared",
    "completed", "configured", "confirmed", "connected", "copied", "corrected", "created",
    "declined", "delayed", "delivered", "deployed", "described", "designed", "detected",
    "discussed", "downloaded", "drafted", "edited", "emailed", "enabled", "estimated",
    "evaluated", "exported", "filed", "finished", "fixed", "forwarded", "generated",
    "handled", "imported", "improved", "installed", "inspected", "invited", "launched",
    "listed", "loaded", "logged", "managed", "measured", "merged", "migrated", "monitored",
    "moved", "noticed", "opened", "ordered", "organised", "packed", "paid", "posted",
    "prepared", "presented", "printed", "processed", "published", "received", "recorded",
    "reduced", "refunded", "rejected", "released", "removed", "renewed", "repaired",
    "replaced", "reported", "requested", "reserved", "resolved", "restarted", "returned",
    "reviewed", "revised", "scanned", "scheduled", "selected", "sent", "shared", "shipped",
    "signed", "sorted", "started", "stored", "submitted", "summarised", "supported", "tested",
    "tracked", "trained", "transferred", "translated", "updated", "uploaded", "validated",
    "verified", "visited", "wrote",
    "acknowledged", "activated", "added", "addressed", "advertised", "allocated",
    "announced", "answered", "applied", "arranged", "attached", "audited", "authorised",
    "automated", "balanced", "billed", "blocked", "borrowed", "boxed", "briefed",
    "budgeted", "captured", "catalogued", "certified", "charged", "cleared", "closed",
    "coded", "combined", "commented", "compiled", "composed", "computed", "consolidated",
    "contacted", "converted", "counted", "covered", "crossed", "debugged", "decided",
    "defined", "deleted", "delegated", "demonstrated", "dispatched", "displayed",
    "distributed", "documented", "doubled", "drained", "dropped", "duplicated", "earned",
    "encrypted", "endorsed", "entered", "escalated", "examined", "exchanged", "expanded",
    "explained", "extended", "faxed", "fetched", "filtered", "flagged", "folded",
    "followed", "formatted", "framed", "funded", "gathered", "graded", "grouped", "guided",
    "hired", "hosted", "identified", "illustrated", "indexed", "informed", "initialised",
    "insured", "integrated", "interviewed", "invoiced", "isolated", "joined", "labelled",
    "leased", "licensed", "linked", "located", "locked", "mailed", "mapped", "marked",
    "matched", "mended", "mentioned", "modified", "mounted", "negotiated", "notified",
    "observed", "obtained", "offered", "operated", "outlined", "packaged", "painted",
    "parsed", "patched", "paused", "photographed", "picked", "piloted", "planned",
    "polished", "postponed", "priced", "prioritised", "promoted", "proofread", "protected",
    "purchased", "queued", "quoted", "ranked", "rated", "rebooted", "recalled",
    "reconciled", "recycled", "redesigned", "referred", "registered", "reloaded", "rented",
    "reordered", "rescheduled", "restored", "retired", "retrieved", "routed", "sampled",
    "saved", "sealed", "secured", "serviced", "settled", "shortened", "simplified",
    "sketched", "stamped", "streamlined", "stretched", "studied", "subscribed", "surveyed",
    "suspended", "swapped", "synced", "tagged", "tightened", "timed", "tuned", "typed",
    "unlocked", "unpacked", "upgraded", "vacuumed", "valued", "warned", "washed", "weighed",
    "welcomed", "wired", "wrapped",
];

#[rustfmt::skip]
const EN_ADJS: &[&str] = &[
    "accurate", "active", "annual", "automatic", "available", "basic", "brief", "broken",
    "busy", "careful", "central", "cheap", "clean", "clear", "common", "complete", "complex",
    "correct", "critical", "current", "daily", "damaged", "detailed", "digital", "direct",
    "early", "easy", "efficient", "empty", "expensive", "external", "extra", "familiar",
    "final", "flexible", "formal", "fragile", "free", "frequent", "fresh", "friendly", "full",
    "general", "heavy", "helpful", "hidden", "huge", "important", "incorrect", "initial",
    "internal", "large", "late", "local", "long", "main", "minor", "mobile", "modern",
    "monthly", "narrow", "new", "noisy", "normal", "official", "old", "online", "optional",
    "original", "outdated", "partial", "personal", "physical", "popular", "portable",
    "positive", "previous", "primary", "private", "public", "quick", "quiet", "rapid", "rare",
    "recent", "regional", "regular", "reliable", "remote", "secure", "separate", "serious",
    "shared", "short", "simple", "slow", "small", "special", "stable", "standard", "strong",
    "temporary", "typical", "unusual", "urgent", "useful", "valid", "visible", "weekly",
    "wireless",
    "absent", "abstract", "accidental", "adequate", "advanced", "affordable", "agile",
    "alternate", "ambitious", "ample", "ancient", "anonymous", "approximate", "attractive",
    "average", "awkward", "balanced", "bare", "bright", "bulky", "calm", "capable",
    "casual", "certain", "chilly", "civil", "classic", "clever", "cloudy", "coastal",
    "colourful", "comfortable", "compact", "compatible", "confident", "confidential",
    "considerable", "constant", "convenient", "cosy", "creative", "crowded", "crucial",
    "curious", "decent", "deep", "delicate", "dense", "dependable", "distant", "domestic",
    "dramatic", "dry", "durable", "dusty", "eager", "elderly", "electric", "elegant",
    "eligible", "enormous", "entire", "equal", "essential", "exact", "excellent",
    "exclusive", "experimental", "faint", "fair", "faulty", "federal", "fierce", "fine",
    "firm", "foreign", "fortunate", "frozen", "functional", "generous", "gentle", "genuine",
    "global", "graceful", "gradual", "grateful", "handy", "harsh", "healthy", "hollow",
    "honest", "humid", "identical", "idle", "immediate", "immense", "improved",
    "independent", "industrial", "informal", "innocent", "instant", "intense", "invisible",
    "junior", "keen", "legal", "level", "liberal", "likely", "limited", "linear", "lively",
    "logical", "lonely", "loose", "loyal", "magnetic", "major", "marginal", "massive",
    "mature", "medical", "mellow", "mild", "modest", "moist", "multiple", "mutual",
    "native", "natural", "neat", "nervous", "neutral", "nominal", "numerous", "obvious",
    "occasional", "odd", "open", "optimal", "orderly", "organic", "overdue", "painful",
    "pale", "parallel", "patient", "peaceful", "perfect", "permanent", "pleasant", "plain",
    "polite", "practical", "precise", "pretty", "proper", "prompt", "proud", "raw", "ready",
    "realistic", "reasonable", "relevant", "remarkable", "rigid", "robust", "rough",
    "round", "rural", "rusty", "safe", "scarce", "seasonal", "senior", "sensible",
    "sensitive", "sharp", "silent", "similar", "slight", "smooth", "solid", "spare",
    "spicy", "steady", "steep", "sticky", "strict", "subtle", "sudden", "sufficient",
    "sunny", "superb", "suitable", "swift", "tall", "technical", "tender", "thick", "thin",
    "tidy", "tight", "tiny", "total", "tough", "tropical", "unique", "universal", "unknown",
    "upper", "vacant", "vague", "various", "vast", "vital", "warm", "wealthy", "wet",
    "whole", "wide", "wild", "wise", "wooden", "young",
];

#[rustfmt::skip]
const EN_ADVS: &[&str] = &[
    "again", "almost", "already", "carefully", "clearly", "correctly", "directly", "easily",
    "eventually", "finally", "first", "frequently", "fully", "gradually", "immediately",
    "later", "manually", "mostly", "nearly", "normally", "now", "often", "only", "partly",
    "previously", "quickly", "quietly", "rarely", "recently", "regularly", "safely",
    "slowly", "soon", "still", "suddenly", "today", "together", "twice", "usually",
    "yesterday",
    "abruptly", "accordingly", "actively", "anyway", "barely", "briefly", "calmly",
    "cheerfully", "closely", "constantly", "deliberately", "entirely", "exactly",
    "formally", "freely", "gently", "happily", "honestly", "instantly", "kindly", "largely",
    "loosely", "merely", "neatly", "openly", "patiently", "politely", "precisely",
    "promptly", "properly", "rapidly", "roughly", "seldom", "separately", "sharply",
    "simply", "smoothly", "steadily", "strictly", "swiftly", "tightly", "truly", "warmly",
    "widely",
];

#[rustfmt::skip]
const EN_FIRST: &[&str] = &[
    "Alice", "Amir", "Ana", "Ben", "Carlos", "Chloe", "Daniel", "David", "Diego", "Elena",
    "Emma", "Fatima", "Grace", "Hannah", "Hiro", "Isabel", "Ivan", "Jack", "James", "Julia",
    "Kai", "Laura", "Leo", "Lena", "Liam", "Lucas", "Maria", "Mark", "Maya", "Mei", "Mia",
    "Nadia", "Noah", "Olivia", "Omar", "Oscar", "Paul", "Priya", "Rachel", "Ravi", "Rosa",
    "Sam", "Sara", "Sofia", "Tom", "Victor", "Wei", "Yuki", "Zoe",
    "Aaron", "Abigail", "Adrian", "Aisha", "Alan", "Amelia", "Andre", "Anika", "Arjun",
    "Beatriz", "Bianca", "Bruno", "Caleb", "Camila", "Chidi", "Clara", "Colin", "Dana",
    "Dmitri", "Eli", "Emil", "Esther", "Felix", "Fiona", "Gabriel", "Greta", "Hassan",
    "Helena", "Ines", "Isaac", "Jonas", "Jorge", "Kamal", "Keiko", "Kofi", "Lars", "Lila",
    "Malik", "Marco", "Mateo", "Nina", "Nora", "Pablo", "Petra", "Quentin", "Ren", "Rohan",
    "Sven", "Tariq", "Tessa", "Uma", "Vera", "Viktor", "Yara", "Zain",
];

#[rustfmt::skip]
const EN_LAST: &[&str] = &[
    "Adams", "Baker", "Brown", "Carter", "Chen", "Clark", "Davis", "Evans", "Fischer",
    "Garcia", "Green", "Hall", "Hughes", "Ito", "Jones", "Kim", "Kowalski", "Lee", "Lopez",
    "Martin", "Meyer", "Miller", "Moore", "Nguyen", "Novak", "Patel", "Perez", "Rossi",
    "Santos", "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Taylor", "Thomas", "Walker",
    "Wang", "White", "Wilson", "Young", "Zhang",
    "Abbott", "Alvarez", "Andersen", "Bauer", "Becker", "Bianchi", "Costa", "Cruz",
    "Dubois", "Eriksen", "Ferreira", "Fleming", "Fontaine", "Gomez", "Haas", "Hansen",
    "Hoffmann", "Horvat", "Ivanova", "Jansen", "Kaur", "Keller", "Khan", "Koch", "Larsen",
    "Laurent", "Lindqvist", "Mendes", "Molina", "Morales", "Nakamura", "Nielsen", "Okafor",
    "Olsen", "Ortiz", "Petrov", "Popescu", "Quinn", "Ramos", "Reyes", "Richter", "Sato",
    "Schulz", "Tanaka", "Torres", "Varga", "Vogel", "Weber", "Yamamoto", "Ziegler",
];

#[rustfmt::skip]
const EN_PLACES: &[&str] = &[
    "Lisbon", "Toronto", "Nairobi", "Osaka", "Denver", "Lyon", "Krakow", "Austin", "Porto",
    "Seattle", "Dublin", "Oslo", "Madrid", "Chicago", "Boston", "Vienna", "Prague",
    "Melbourne", "Auckland", "Cardiff", "Leeds", "Bristol", "Phoenix", "Atlanta", "Munich",
    "Hamburg", "Milan", "Turin", "Seville", "Valencia", "Bergen", "Tampere", "Gdansk", "Brno",
    "Ghent", "Utrecht", "Geneva", "Zurich", "Calgary", "Halifax",
    "Aarhus", "Adelaide", "Antwerp", "Basel", "Bilbao", "Bologna", "Bordeaux", "Brisbane",
    "Cologne", "Cork", "Dresden", "Dundee", "Edmonton", "Florence", "Galway", "Genoa",
    "Glasgow", "Graz", "Hobart", "Innsbruck", "Kyoto", "Leipzig", "Lille", "Malaga",
    "Marseille", "Montreal", "Nagoya", "Nantes", "Ottawa", "Perth", "Quebec", "Regina",
    "Rotterdam", "Salzburg", "Sapporo", "Stuttgart", "Tallinn", "Uppsala", "Verona",
    "Winnipeg",
];

#[rustfmt::skip]
const EN_PREPS: &[&str] = &[
    "in", "near", "from", "for", "with", "after", "before", "during", "without", "about",
    "under", "across",
];

#[rustfmt::skip]
const EN_MONTHS: &[&str] = &[
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
];

#[rustfmt::skip]
const ZH_NOUNS: &[&str] = &[
    "订单", "客户", "系统", "数据", "报告", "合同", "项目", "方案", "文件", "账户", "发票",
    "快递", "包裹", "仓库", "供应商", "会议", "计划", "预算", "产品", "服务", "平台", "模型",
    "接口", "服务器", "数据库", "用户", "员工", "部门", "经理", "老师", "学生", "医院", "学校",
    "社区", "餐厅", "商场", "地铁", "车站", "机场", "酒店", "银行", "手机", "电脑", "打印机",
    "路由器", "相机", "耳机", "键盘", "显示器", "软件", "网站", "页面", "按钮", "密码", "权限",
    "日志", "版本", "补丁", "功能", "需求", "流程", "规则", "政策", "价格", "折扣", "优惠券",
    "积分", "会员", "门店", "物流", "配送员", "司机", "工程师", "设计师", "分析师", "律师",
    "财务", "审计", "工资", "保险", "贷款", "利率", "房租", "水费", "电费", "网络", "信号",
    "电池", "屏幕", "天气", "交通", "假期", "航班", "行李", "护照", "签证", "门票", "课程",
    "作业", "考试", "论文", "实验", "样本", "问卷", "调查", "新闻", "视频", "照片", "音乐",
    "图书馆", "博物馆", "公园", "健身房", "停车场", "发动机", "空调", "冰箱", "洗衣机",
    "营业执照", "发货单", "退款单", "工单", "排班表", "说明书", "配置文件", "测试报告",
];

#[rustfmt::skip]
const ZH_VERBS: &[&str] = &[
    "检查", "处理", "提交", "审核", "确认", "取消", "修改", "更新", "上传", "下载", "发送",
    "接收", "整理", "分析", "统计", "计算", "安排", "讨论", "联系", "通知", "维修", "更换",
    "安装", "测试", "部署", "优化", "记录", "备份", "恢复", "导出", "导入", "打印", "扫描",
    "签署", "支付", "退还", "申请", "批准", "拒绝", "推迟", "完成", "启动", "关闭", "调整",
    "评估", "收集", "清理", "核对", "登记", "预订", "购买", "出售", "租用", "配送", "跟进",
    "汇总", "翻译", "校对", "改进", "迁移", "归档", "排查", "复核", "补充", "发布",
];

#[rustfmt::skip]
const ZH_ADJS: &[&str] = &[
    "新的", "旧的", "重要的", "紧急的", "详细的", "简单的", "复杂的", "完整的", "临时的",
    "正式的", "最新的", "额外的", "免费的", "昂贵的", "便宜的", "稳定的", "安全的", "公开的",
    "内部的", "外部的", "每月的", "年度的", "主要的", "次要的", "错误的", "正确的", "损坏的",
    "可靠的", "常用的", "特殊的", "标准的", "本地的", "远程的", "自动的", "手动的", "剩余的",
];

#[rustfmt::skip]
const ZH_ADVS: &[&str] = &[
    "已经", "正在", "马上", "尽快", "再次", "仍然", "终于", "刚刚", "一直", "经常", "偶尔",
    "突然", "逐步", "顺利", "及时", "认真", "暂时", "提前", "按时", "重新", "主动", "统一",
];

#[rustfmt::skip]
const ZH_TIMES: &[&str] = &[
    "昨天", "今天上午", "明天下午", "上周五", "下个月", "本季度", "去年年底", "周一早上",
    "晚上八点", "节假日期间", "月初", "上个星期", "前天晚上", "春节前", "国庆后", "周末",
    "今年三月", "最近几天", "中午休息时", "下班以后",
];

#[rustfmt::skip]
const ZH_PLACES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州",
    "天津", "长沙", "郑州", "青岛", "厦门", "昆明", "大连", "宁波", "合肥", "福州", "济南",
    "哈尔滨", "沈阳", "南昌", "贵阳", "兰州", "太原", "石家庄", "无锡", "珠海", "佛山",
    "东莞", "海口", "三亚",
];

#[rustfmt::skip]
const ZH_SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];

#[rustfmt::skip]
const ZH_TITLES: &[&str] = &[
    "先生", "女士", "经理", "老师", "医生", "工程师", "主任", "同学", "总监", "师傅",
];

#[rustfmt::skip]
const ZH_EN_TERMS: &[&str] = &[
    "API", "Python", "GPU", "SDK", "App", "iPhone", "Excel", "CRM", "KPI", "AI", "PDF",
    "Wi-Fi", "Java", "Linux", "Docker", "GitHub", "PPT", "Word", "Zoom", "Slack", "SQL",
    "VPN", "CPU", "USB", "HR", "CEO", "OKR", "Kubernetes", "Redis", "Nginx", "Android",
    "macOS", "Windows", "Chrome", "WeChat", "deadline", "dashboard", "demo", "bug", "feature",
];

/// Common characters used for character-level edits of Chinese text.
const ZH_CHARS: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严";

#[rustfmt::skip]
const EN_DETS: &[&str] = &[
    "the", "the", "the", "this", "that", "every", "each", "some", "our", "your", "their",
    "his", "her", "one", "another", "any",
];

/// Syllables of made-up product, company and street names.
#[rustfmt::skip]
const SYLLABLES: &[&str] = &[
    "ka", "vel", "mor", "tri", "zen", "lo", "dar", "qui", "nex", "so", "ra", "bel", "tor",
    "vi", "mi", "lan", "cor", "pha", "gen", "dus", "ul", "fen", "ro", "sa", "pex", "io",
    "brin", "tal", "ko", "ny", "vox", "el", "mar", "gri", "sto", "wen", "hal", "tek", "ar",
    "zu",
];

#[rustfmt::skip]
const EN_STREETS: &[&str] = &[
    "Road", "Street", "Lane", "Avenue", "Way", "Court", "Drive", "Place", "Terrace", "Row",
];

const EN_LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

fn pick<'a>(rng: &mut Rng8, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn per_mille(rng: &mut Rng8, p: u32) -> bool {
    rng.random_range(0..1000u32) < p
}

fn plural(noun: &str) -> String {
    let b = noun.as_bytes();
    let last = b[b.len() - 1];
    let before = if b.len() > 1 { b[b.len() - 2] } else { b'a' };
    if last == b'y' && !b"aeiou".contains(&before) {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if noun.ends_with('s')
        || noun.ends_with('x')
        || noun.ends_with("ch")
        || noun.ends_with("sh")
    {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// A made-up proper name such as "Velmora" or "Triqui".
fn pseudo_name(rng: &mut Rng8) -> String {
    let mut s = String::new();
    for _ in 0..rng.random_range(2..=3u32) {
        s.push_str(pick(rng, SYLLABLES));
    }
    capitalise(&s)
}

fn en_np(rng: &mut Rng8) -> String {
    match rng.random_range(0..12u32) {
        0..=2 => format!(
            "{} {} {}",
            pick(rng, EN_DETS),
            pick(rng, EN_ADJS),
            pick(rng, EN_NOUNS)
        ),
        3 => format!("{} {}", pick(rng, EN_DETS), pick(rng, EN_NOUNS)),
        4 => format!("the {} {}", pseudo_name(rng), pick(rng, EN_NOUNS)),
        10 => format!(
            "{} {} {}",
            rng.random_range(1..=400u32),
            pseudo_name(rng),
            pick(rng, EN_STREETS)
        ),
        5 => format!(
            "{} {}",
            rng.random_range(2..=480u32),
            plural(pick(rng, EN_NOUNS))
        ),
        6 => format!("{} {}", pick(rng, EN_FIRST), pick(rng, EN_LAST)),
        7 => format!(
            "{} {} {} {}",
            pick(rng, EN_DETS),
            pick(rng, EN_NOUNS),
            pick(rng, EN_NOUNS),
            pick(rng, EN_NOUNS)
        ),
        8 => format!("{} {}", pick(rng, EN_DETS), plural(pick(rng, EN_NOUNS))),
        _ => format!(
            "{} {} {} {}",
            pick(rng, EN_DETS),
            pick(rng, EN_NOUNS),
            pick(rng, &["from", "in", "near", "outside"]),
            pick(rng, EN_PLACES)
        ),
    }
}

fn en_date(rng: &mut Rng8) -> String {
    format!("{} {}", pick(rng, EN_MONTHS), rng.random_range(1..=28u32))
}

/// One English sentence, capitalised and terminated.
fn en_sentence(rng: &mut Rng8) -> String {
    let s = match rng.random_range(0..12u32) {
        0 => format!(
            "{} {} {} {} {} on {}.",
            en_np(rng),
            pick(rng, EN_VERBS),
            en_np(rng),
            pick(rng, EN_PREPS),
            pick(rng, EN_PLACES),
            en_date(rng)
        ),
        1 => format!(
            "{} {}, {} {} {} {}.",
            pick(
                rng,
                &[
                    "According to",
                    "As noted by",
                    "In a call with",
                    "Per",
                    "Reported by"
                ]
            ),
            pick(rng, EN_FIRST),
            en_np(rng),
            pick(rng, EN_ADVS),
            pick(rng, EN_VERBS),
            en_np(rng)
        ),
        2 => format!(
            "{} {}{} was {} on {} and {} {} {}.",
            pick(
                rng,
                &["Order", "Ticket", "Case", "Invoice", "Booking", "Claim"]
            ),
            pick(rng, &["#", "no. ", "ID ", "", "ref "]),
            rng.random_range(10_000..10_000_000u32),
            pick(rng, EN_VERBS),
            en_date(rng),
            pick(rng, EN_VERBS),
            pick(rng, EN_PREPS),
            en_np(rng)
        ),
        3 => format!(
            "{} ${}.{:02} for {} {} {}.",
            pick(
                rng,
                &[
                    "The total came to",
                    "We paid",
                    "They quoted",
                    "It cost",
                    "The bill was"
                ]
            ),
            rng.random_range(3..9_000u32),
            rng.random_range(0..100u32),
            rng.random_range(2..60u32),
            pick(rng, EN_ADJS),
            plural(pick(rng, EN_NOUNS))
        ),
        4 => format!(
            "Has {} been {} {} yet?",
            en_np(rng),
            pick(rng, EN_VERBS),
            pick(rng, EN_ADVS)
        ),
        5 => format!(
            "Why was {} {} {} {}?",
            en_np(rng),
            pick(rng, EN_VERBS),
            pick(rng, EN_PREPS),
            en_np(rng)
        ),
        6 => format!(
            "{} {}, {}!",
            pick(
                rng,
                &[
                    "Thanks again for",
                    "Thank you for",
                    "Cheers for",
                    "Great work on"
                ]
            ),
            en_np(rng),
            pick(rng, EN_FIRST)
        ),
        7 => format!(
            "{} {} {} {} {}, but {} {} {}.",
            en_np(rng),
            pick(rng, EN_ADVS),
            pick(rng, EN_VERBS),
            en_np(rng),
            pick(rng, EN_ADVS),
            en_np(rng),
            pick(rng, EN_VERBS),
            en_np(rng)
        ),
        8 => format!(
            "{} {} from {} {} {} {} {}.",
            pick(rng, EN_FIRST),
            pick(rng, EN_LAST),
            pick(rng, EN_PLACES),
            pick(rng, EN_VERBS),
            rng.random_range(2..=90u32),
            plural(pick(rng, EN_NOUNS)),
            pick(rng, EN_ADVS)
        ),
        9 => format!(
            "{} {} is {} until {}, so {} will be {} {}.",
            pick(
                rng,
                &[
                    "Please note that",
                    "Heads up:",
                    "Note:",
                    "FYI,",
                    "Remember that"
                ]
            ),
            en_np(rng),
            pick(rng, EN_ADJS),
            en_date(rng),
            en_np(rng),
            pick(rng, EN_VERBS),
            pick(rng, EN_ADVS)
        ),
        10 => format!(
            "{} {} {} {} at {}:{:02}.",
            en_np(rng),
            pick(rng, EN_VERBS),
            en_np(rng),
            pick(rng, EN_ADVS),
            rng.random_range(6..23u32),
            rng.random_range(0..60u32)
        ),
        _ => format!(
            "{} {} is {}, {} and {} {} be {} {}.",
            pick(rng, &["If", "Whenever", "Once", "Unless", "When"]),
            en_np(rng),
            pick(rng, EN_ADJS),
            en_np(rng),
            en_np(rng),
            pick(rng, &["should", "must", "will", "can", "might"]),
            pick(rng, EN_VERBS),
            pick(rng, EN_ADVS)
        ),
    };
    capitalise(&s)
}

fn zh_person(rng: &mut Rng8) -> String {
    match rng.random_range(0..3u32) {
        0 => format!("{}{}", pick(rng, ZH_SURNAMES), pick(rng, ZH_TITLES)),
        1 => format!("{}的{}", pick(rng, ZH_PLACES), pick(rng, ZH_NOUNS)),
        _ => {
            let mut s = pick(rng, ZH_SURNAMES).to_string();
            for _ in 0..rng.random_range(1..=2u32) {
                s.push(random_zh_char(rng));
            }
            s
        }
    }
}

/// A noun phrase; in mixed text sometimes an English term with spaces around it.
fn zh_np(rng: &mut Rng8, mixed: bool) -> String {
    if mixed && per_mille(rng, 250) {
        return format!(" {} ", pick(rng, ZH_EN_TERMS));
    }
    match rng.random_range(0..4u32) {
        0 => format!("{}{}", pick(rng, ZH_ADJS), pick(rng, ZH_NOUNS)),
        1 => format!("{}{}", pick(rng, ZH_NOUNS), pick(rng, ZH_NOUNS)),
        _ => pick(rng, ZH_NOUNS).to_string(),
    }
}

fn zh_num(rng: &mut Rng8) -> u32 {
    rng.random_range(2..=999u32)
}

/// One Chinese sentence with full-width punctuation; `mixed` adds English terms.
fn zh_sentence(rng: &mut Rng8, mixed: bool) -> String {
    let m = mixed;
    let s = match rng.random_range(0..13u32) {
        0 => format!(
            "{}，{}{}{}了{}。",
            pick(rng, ZH_TIMES),
            zh_person(rng),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS),
            zh_np(rng, m)
        ),
        1 => format!(
            "{}的{}{}{}，{}也需要{}。",
            pick(rng, ZH_PLACES),
            zh_np(rng, m),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS),
            zh_np(rng, m),
            pick(rng, ZH_VERBS)
        ),
        2 => format!(
            "请在{}月{}日之前{}{}，否则{}会被{}。",
            rng.random_range(1..=12u32),
            rng.random_range(1..=28u32),
            pick(rng, ZH_VERBS),
            zh_np(rng, m),
            zh_np(rng, m),
            pick(rng, ZH_VERBS)
        ),
        3 => format!(
            "关于{}，{}认为应该先{}{}再{}{}。",
            zh_np(rng, m),
            zh_person(rng),
            pick(rng, ZH_VERBS),
            zh_np(rng, m),
            pick(rng, ZH_VERBS),
            zh_np(rng, m)
        ),
        4 => format!(
            "这次{}一共涉及{}个{}，其中{}个{}{}。",
            zh_np(rng, m),
            zh_num(rng),
            pick(rng, ZH_NOUNS),
            zh_num(rng),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS)
        ),
        5 => format!(
            "{}说：“{}的{}{}有问题，麻烦{}一下。”",
            zh_person(rng),
            zh_np(rng, m),
            pick(rng, ZH_NOUNS),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS)
        ),
        6 => format!(
            "如果{}无法{}，可以联系{}{}的{}。",
            zh_np(rng, m),
            pick(rng, ZH_VERBS),
            pick(rng, ZH_PLACES),
            pick(rng, ZH_NOUNS),
            zh_person(rng)
        ),
        7 => format!(
            "我们{}在{}{}了{}份{}，费用是{}元。",
            pick(rng, ZH_TIMES),
            pick(rng, ZH_PLACES),
            pick(rng, ZH_VERBS),
            zh_num(rng),
            pick(rng, ZH_NOUNS),
            rng.random_range(20..=99_999u32)
        ),
        8 => format!(
            "{}和{}{}{}完毕，{}还在{}中。",
            zh_np(rng, m),
            zh_np(rng, m),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS),
            zh_np(rng, m),
            pick(rng, ZH_VERBS)
        ),
        9 => format!(
            "为什么{}{}没有{}？",
            zh_np(rng, m),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS)
        ),
        10 => format!(
            "{}的{}{}得很顺利！",
            pick(rng, ZH_TIMES),
            zh_np(rng, m),
            pick(rng, ZH_VERBS)
        ),
        11 => format!(
            "{}、{}和{}都需要{}，由{}负责{}。",
            pick(rng, ZH_NOUNS),
            pick(rng, ZH_NOUNS),
            pick(rng, ZH_NOUNS),
            pick(rng, ZH_VERBS),
            zh_person(rng),
            pick(rng, ZH_VERBS)
        ),
        _ => format!(
            "第{}号{}在《{}{}》里被{}；{}表示会{}{}。",
            zh_num(rng),
            pick(rng, ZH_NOUNS),
            pick(rng, ZH_PLACES),
            pick(rng, ZH_NOUNS),
            pick(rng, ZH_VERBS),
            zh_person(rng),
            pick(rng, ZH_ADVS),
            pick(rng, ZH_VERBS)
        ),
    };
    // English terms carry spaces; keep single spaces only, none at the ends.
    if m {
        s.split(' ')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Zh,
    Mixed,
}

fn sentence(rng: &mut Rng8, lang: Lang) -> String {
    match lang {
        Lang::En => en_sentence(rng),
        Lang::Zh => zh_sentence(rng, false),
        Lang::Mixed => {
            if per_mille(rng, 150) {
                en_sentence(rng)
            } else {
                zh_sentence(rng, true)
            }
        }
    }
}

fn needs_space(prev_last: Option<char>, next_first: Option<char>) -> bool {
    match (prev_last, next_first) {
        (Some(p), Some(n)) => p.is_ascii() || n.is_ascii(),
        _ => false,
    }
}

/// A seed text of 300–1500 chars: single spaces only, none at the ends.
fn seed_text(rng: &mut Rng8, lang: Lang) -> String {
    let target = rng.random_range(300..=1400usize);
    let mut s = String::new();
    let mut n = 0usize;
    loop {
        let next = sentence(rng, lang);
        let len = next.chars().count();
        let space = needs_space(s.chars().next_back(), next.chars().next());
        let add = len + usize::from(space);
        if n + add > 1500 {
            if n >= 300 {
                break;
            }
            continue;
        }
        if space {
            s.push(' ');
        }
        s.push_str(&next);
        n += add;
        if n >= target {
            break;
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Editing with exact, incremental Jaccard
// ---------------------------------------------------------------------------

/// Fx-style hasher: the keys are packed chars, SipHash would only cost time.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, x: u128) {
        self.write_u64(x as u64);
        self.write_u64((x >> 64) as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;
type FxSet<K> = HashSet<K, BuildHasherDefault<Fx>>;

fn is_cjk(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？')
}

/// The per-char normal form. Seeds and every edit use only chars whose normal form
/// is one char and is context free (ASCII, CJK ideographs, CJK and full-width
/// punctuation) and only single interior spaces, so the normalised text is the char-
/// by-char image of the raw text. Checked here for each char and by the tests for
/// whole documents.
struct Normaliser(FxMap<char, char>);

impl Normaliser {
    fn new() -> Self {
        Normaliser(FxMap::default())
    }
    fn map(&mut self, c: char) -> char {
        if c.is_ascii() {
            return c.to_ascii_lowercase();
        }
        *self.0.entry(c).or_insert_with(|| {
            let n: Vec<char> = normalise(&c.to_string()).chars().collect();
            assert_eq!(n.len(), 1, "char {c:?} does not normalise to one char");
            n[0]
        })
    }
}

/// A document under edit, with its shingle multiset and exact Jaccard to a seed.
struct Work<'a> {
    raw: Vec<char>,
    norm: Vec<char>,
    counts: FxMap<u128, u32>,
    seed: &'a FxSet<u128>,
    distinct: usize,
    inter: usize,
    lang: Lang,
}

impl<'a> Work<'a> {
    fn new(raw: &str, lang: Lang, seed: &'a FxSet<u128>, nz: &mut Normaliser) -> Self {
        let raw: Vec<char> = raw.chars().collect();
        let norm = raw.iter().map(|&c| nz.map(c)).collect();
        let mut w = Work {
            raw,
            norm,
            counts: FxMap::default(),
            seed,
            distinct: 0,
            inter: 0,
            lang,
        };
        w.recount();
        w
    }

    fn recount(&mut self) {
        self.counts.clear();
        self.distinct = 0;
        self.inter = 0;
        let n = self.norm.len();
        if n > 0 && n < SHINGLE {
            let k = key(&self.norm);
            self.add(k);
        } else {
            for s in 0..n.saturating_sub(SHINGLE - 1) {
                let k = key(&self.norm[s..s + SHINGLE]);
                self.add(k);
            }
        }
    }

    fn add(&mut self, k: u128) {
        let c = self.counts.entry(k).or_insert(0);
        *c += 1;
        if *c == 1 {
            self.distinct += 1;
            if self.seed.contains(&k) {
                self.inter += 1;
            }
        }
    }

    fn remove(&mut self, k: u128) {
        let c = self.counts.get_mut(&k).expect("shingle counted");
        *c -= 1;
        if *c == 0 {
            self.counts.remove(&k);
            self.distinct -= 1;
            if self.seed.contains(&k) {
                self.inter -= 1;
            }
        }
    }

    fn union(&self) -> usize {
        self.seed.len() + self.distinct - self.inter
    }

    fn jaccard(&self) -> f64 {
        ratio(self.inter, self.union())
    }

    /// J <= bp / 10000, exactly.
    fn le(&self, bp: u64) -> bool {
        self.inter as u64 * 10_000 <= bp * self.union() as u64
    }

    /// J < bp / 10000, exactly.
    fn lt(&self, bp: u64) -> bool {
        (self.inter as u64 * 10_000) < bp * self.union() as u64
    }

    /// (J - bp / 10000) in basis points, rounded down, 0 if below.
    fn gap_bp(&self, bp: u64) -> u64 {
        let u = self.union().max(1) as u64;
        (self.inter as u64 * 10_000).saturating_sub(bp * u) / u
    }

    /// Replaces raw[a..b] with `ins` and returns what was there (for undo).
    fn splice(&mut self, a: usize, b: usize, ins: &[char], nz: &mut Normaliser) -> Vec<char> {
        let n = self.norm.len();
        let n2 = n - (b - a) + ins.len();
        let ins_norm: Vec<char> = ins.iter().map(|&c| nz.map(c)).collect();
        let full = n < 2 * SHINGLE || n2 < 2 * SHINGLE;
        let lo = a.saturating_sub(SHINGLE - 1);
        if !full {
            for s in lo..b.min(n + 1 - SHINGLE) {
                let k = key(&self.norm[s..s + SHINGLE]);
                self.remove(k);
            }
        }
        let removed: Vec<char> = self.raw.splice(a..b, ins.iter().copied()).collect();
        self.norm.splice(a..b, ins_norm);
        if full {
            self.recount();
        } else {
            for s in lo..(a + ins.len()).min(n2 + 1 - SHINGLE) {
                let k = key(&self.norm[s..s + SHINGLE]);
                self.add(k);
            }
        }
        removed
    }

    /// Sorted shingle keys of the current text.
    fn keys(&self) -> Vec<u128> {
        let mut v: Vec<u128> = self.counts.keys().copied().collect();
        v.sort_unstable();
        v
    }

    fn text(&self) -> String {
        self.raw.iter().collect()
    }

    /// A random index whose char satisfies `f`.
    fn find(&self, rng: &mut Rng8, f: impl Fn(char) -> bool) -> Option<usize> {
        if self.raw.is_empty() {
            return None;
        }
        for _ in 0..40 {
            let i = rng.random_range(0..self.raw.len());
            if f(self.raw[i]) {
                return Some(i);
            }
        }
        None
    }

    /// A random ASCII-alphanumeric run [s, e).
    fn find_word(&self, rng: &mut Rng8) -> Option<(usize, usize)> {
        let i = self.find(rng, |c| c.is_ascii_alphanumeric())?;
        let mut s = i;
        while s > 0 && self.raw[s - 1].is_ascii_alphanumeric() {
            s -= 1;
        }
        let mut e = i;
        while e < self.raw.len() && self.raw[e].is_ascii_alphanumeric() {
            e += 1;
        }
        Some((s, e))
    }

    /// Sentence spans [start, end): end is just past the terminator (and a closing quote).
    fn sentences(&self) -> Vec<(usize, usize)> {
        let r = &self.raw;
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < r.len() {
            let c = r[i];
            let boundary = is_terminator(c)
                && (i + 1 == r.len() || !r[i + 1].is_ascii_alphanumeric() || !c.is_ascii());
            if boundary {
                let mut end = i + 1;
                if end < r.len() && r[end] == '”' {
                    end += 1;
                }
                out.push((start, end));
                start = end;
                if start < r.len() && r[start] == ' ' {
                    start += 1;
                }
                i = start;
            } else {
                i += 1;
            }
        }
        if start < r.len() {
            out.push((start, r.len()));
        }
        out
    }
}

/// Undo record of one edit: raw[a..a+len] now holds what `removed` used to be.
struct Undo {
    a: usize,
    len: usize,
    removed: Vec<char>,
}

fn apply(w: &mut Work, nz: &mut Normaliser, a: usize, b: usize, ins: &[char]) -> Undo {
    let removed = w.splice(a, b, ins, nz);
    Undo {
        a,
        len: ins.len(),
        removed,
    }
}

fn undo(w: &mut Work, nz: &mut Normaliser, u: Undo) {
    w.splice(u.a, u.a + u.len, &u.removed, nz);
}

fn random_zh_char(rng: &mut Rng8) -> char {
    // ZH_CHARS is all 3-byte UTF-8, so index by byte triples.
    let n = ZH_CHARS.len() / 3;
    let i = rng.random_range(0..n) * 3;
    ZH_CHARS[i..i + 3].chars().next().expect("char")
}

fn random_en_word(rng: &mut Rng8) -> &'static str {
    match rng.random_range(0..4u32) {
        0 => pick(rng, EN_NOUNS),
        1 => pick(rng, EN_VERBS),
        2 => pick(rng, EN_ADJS),
        _ => pick(rng, EN_ADVS),
    }
}

/// One small edit (a word or a Chinese character); None if no place was found.
fn small_edit(w: &mut Work, rng: &mut Rng8, nz: &mut Normaliser) -> Option<Undo> {
    let zh = match w.lang {
        Lang::En => false,
        Lang::Zh => true,
        Lang::Mixed => per_mille(rng, 750),
    };
    if zh {
        let i = w.find(rng, is_cjk)?;
        match rng.random_range(0..10u32) {
            0..=4 => {
                let c = [random_zh_char(rng)];
                Some(apply(w, nz, i, i + 1, &c))
            }
            5..=7 => {
                let c = [random_zh_char(rng)];
                Some(apply(w, nz, i, i, &c))
            }
            _ => {
                // Delete, unless that leaves two spaces together or a space at an end.
                let n = w.raw.len();
                let prev = if i > 0 { Some(w.raw[i - 1]) } else { None };
                let next = w.raw.get(i + 1).copied();
                let bad = matches!((prev, next), (Some(' '), Some(' ')))
                    || (prev.is_none() && next == Some(' '))
                    || (next.is_none() && prev == Some(' '))
                    || n < 2 * SHINGLE;
                if bad {
                    return None;
                }
                Some(apply(w, nz, i, i + 1, &[]))
            }
        }
    } else {
        let (s, e) = w.find_word(rng)?;
        match rng.random_range(0..10u32) {
            0..=3 => {
                let mut word = random_en_word(rng).to_string();
                if w.raw[s].is_ascii_uppercase() {
                    word = capitalise(&word);
                }
                let ins: Vec<char> = word.chars().collect();
                Some(apply(w, nz, s, e, &ins))
            }
            4..=5 => {
                let ins: Vec<char> = format!("{} ", random_en_word(rng)).chars().collect();
                Some(apply(w, nz, s, s, &ins))
            }
            6..=7 => {
                // A typo: one letter replaced.
                let i = rng.random_range(s..e);
                let c = [EN_LETTERS[rng.random_range(0..EN_LETTERS.len())] as char];
                Some(apply(w, nz, i, i + 1, &c))
            }
            _ => {
                let n = w.raw.len();
                if n < 4 * SHINGLE {
                    return None;
                }
                if e < n && w.raw[e] == ' ' {
                    Some(apply(w, nz, s, e + 1, &[]))
                } else if s > 0 && w.raw[s - 1] == ' ' {
                    Some(apply(w, nz, s - 1, e, &[]))
                } else {
                    // No space on either side: nothing to collapse.
                    Some(apply(w, nz, s, e, &[]))
                }
            }
        }
    }
}

/// One sentence-level edit: append, remove or replace a sentence.
fn big_edit(w: &mut Work, rng: &mut Rng8, nz: &mut Normaliser, replace_share: u32) -> Option<Undo> {
    let spans = w.sentences();
    let r = rng.random_range(0..1000u32);
    if r < replace_share {
        let (s, e) = spans[rng.random_range(0..spans.len())];
        // Whole sentence spans never include the separating space, so single spaces stay.
        let new: Vec<char> = sentence(rng, w.lang).chars().collect();
        return Some(apply(w, nz, s, e, &new));
    }
    if r < replace_share + (1000 - replace_share) / 2 || spans.len() < 4 {
        let new = sentence(rng, w.lang);
        let space = needs_space(w.raw.last().copied(), new.chars().next());
        let mut ins: Vec<char> = Vec::with_capacity(new.len() + 1);
        if space {
            ins.push(' ');
        }
        ins.extend(new.chars());
        let n = w.raw.len();
        return Some(apply(w, nz, n, n, &ins));
    }
    let (s, e) = spans[rng.random_range(0..spans.len())];
    let n = w.raw.len();
    if e < n && w.raw[e] == ' ' {
        Some(apply(w, nz, s, e + 1, &[]))
    } else if s > 0 && w.raw[s - 1] == ' ' {
        Some(apply(w, nz, s - 1, e, &[]))
    } else {
        Some(apply(w, nz, s, e, &[]))
    }
}

/// Edits `w` until its Jaccard to the seed is <= `target_bp`, never going below
/// `lo_bp` (an edit that would is undone). Gives up after too many undone edits (the
/// target may be narrower than one edit); the caller checks the range it needs.
fn edit_to(
    w: &mut Work,
    rng: &mut Rng8,
    nz: &mut Normaliser,
    lo_bp: u64,
    target_bp: u64,
    negative: bool,
) {
    let (mut fails, mut steps) = (0u32, 0u32);
    while !w.le(target_bp) {
        steps += 1;
        if steps > 20_000 || fails > 200 {
            return;
        }
        let gap = w.gap_bp(target_bp);
        let big = if negative {
            gap > 800 && per_mille(rng, 600)
        } else {
            gap > 500 && per_mille(rng, 80)
        };
        let u = if big {
            big_edit(w, rng, nz, if negative { 700 } else { 0 })
        } else {
            small_edit(w, rng, nz)
        };
        let Some(u) = u else { continue };
        if w.lt(lo_bp) {
            undo(w, nz, u);
            fails += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------

/// A normalisation-only copy: different bytes, identical after normalisation.
fn normalised_copy(rng: &mut Rng8, seed: &str) -> String {
    let ws = per_mille(rng, 700);
    let fw = per_mille(rng, 400);
    let case = per_mille(rng, 600);
    let punct = per_mille(rng, 500);
    let edges = per_mille(rng, 400);
    const SPACES: &[&str] = &[
        "  ",
        "\t",
        "\u{00A0}",
        "\u{3000}",
        "\n",
        " \u{00A0}",
        "\u{2003}",
        "\r\n",
        "   ",
        "\u{202F}",
    ];
    let mut out = String::with_capacity(seed.len() + 16);
    if edges && per_mille(rng, 500) {
        out.push_str(pick(rng, &[" ", "\n", "\u{3000}", "\t "]));
    }
    let mut upper_word = false;
    let mut prev_alnum = false;
    for c in seed.chars() {
        let alnum = c.is_ascii_alphanumeric();
        if alnum && !prev_alnum {
            upper_word = case && per_mille(rng, 250);
        }
        prev_alnum = alnum;
        if c == ' ' {
            if ws && per_mille(rng, 150) {
                out.push_str(pick(rng, SPACES));
            } else {
                out.push(' ');
            }
            continue;
        }
        let mut c2 = c;
        if c.is_ascii_alphabetic() && case {
            if upper_word {
                c2 = c.to_ascii_uppercase();
            } else if per_mille(rng, 30) {
                c2 = if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                };
            }
        }
        if c2.is_ascii_alphanumeric() && fw && per_mille(rng, 300) {
            // Full-width forms U+FF01..U+FF5E fold back to ASCII under NFKC.
            c2 = char::from_u32(c2 as u32 + 0xFEE0).expect("full-width");
        }
        if punct && ('\u{FF01}'..='\u{FF5E}').contains(&c) && per_mille(rng, 400) {
            c2 = char::from_u32(c as u32 - 0xFEE0).expect("ascii");
        }
        out.push(c2);
    }
    if edges && per_mille(rng, 600) {
        out.push_str(pick(rng, &[" ", "\n", "\u{00A0}", "  \n"]));
    }
    if out == seed {
        out.insert(0, '\u{3000}');
    }
    assert_eq!(normalise(&out), normalise(seed), "normalised copy differs");
    out
}

/// One generated document before shuffling.
struct Item {
    text: String,
    kind: Kind,
    cluster: usize,
    jaccard: f64,
}

/// A cluster's true group (seed first) and which pairs in it are >= THRESHOLD.
struct Group {
    items: Vec<usize>,
    near: Vec<Vec<bool>>,
}

fn is_near(a: &[u128], b: &[u128]) -> bool {
    let (i, u) = inter_union(a, b);
    // i / u >= 0.8, exactly.
    i * 5 >= u * 4
}

fn too_close_for_negative(a: &[u128], b: &[u128]) -> bool {
    let (i, u) = inter_union(a, b);
    // i / u >= 0.75, exactly.
    i * 4 >= u * 3
}

fn random_lang(rng: &mut Rng8) -> Lang {
    match rng.random_range(0..100u32) {
        0..=34 => Lang::Zh,
        35..=49 => Lang::Mixed,
        _ => Lang::En,
    }
}

/// Generates one cluster (seed + members) into `items`; returns its group.
fn gen_cluster(
    rng: &mut Rng8,
    nz: &mut Normaliser,
    items: &mut Vec<Item>,
    cluster: usize,
    kinds: &[Kind],
) -> Group {
    let lang = random_lang(rng);
    let seed = seed_text(rng, lang);
    let seed_norm: Vec<char> = seed.chars().map(|c| nz.map(c)).collect();
    debug_assert_eq!(seed_norm.iter().collect::<String>(), normalise(&seed));
    let seed_keys = keys_norm(&seed_norm);
    let seed_set: FxSet<u128> = seed_keys.iter().copied().collect();
    let single = kinds.is_empty();
    let first = items.len();
    items.push(Item {
        text: seed.clone(),
        kind: if single { Kind::Singleton } else { Kind::Seed },
        cluster,
        jaccard: 1.0,
    });
    let mut keys: Vec<Vec<u128>> = vec![seed_keys.clone()];
    let mut group = vec![0usize];
    let mut negatives = Vec::new();
    for (m, &kind) in kinds.iter().enumerate() {
        let local = m + 1;
        let (text, j, k) = match kind {
            Kind::Exact => (seed.clone(), 1.0, seed_keys.clone()),
            Kind::Normalised => (normalised_copy(rng, &seed), 1.0, seed_keys.clone()),
            Kind::Edited => loop {
                let target = rng.random_range(8_000..=9_900u64);
                let mut w = Work::new(&seed, lang, &seed_set, nz);
                edit_to(&mut w, rng, nz, 8_000, target, false);
                // [0.80, 1.00): it may stop a little above the target, never below 0.80.
                if !w.lt(8_000) && w.inter < w.union() {
                    break (w.text(), w.jaccard(), w.keys());
                }
            },
            Kind::Negative => {
                negatives.push(local);
                (String::new(), 0.0, Vec::new()) // filled in below
            }
            _ => unreachable!("member kind"),
        };
        if kind.in_group() {
            group.push(local);
        }
        items.push(Item {
            text,
            kind,
            cluster,
            jaccard: round4(j),
        });
        keys.push(k);
    }
    // Hard negatives last, so they can be checked against every other member.
    for &local in &negatives {
        let (text, j, k) = loop {
            let target = rng.random_range(4_500..=7_000u64);
            let mut w = Work::new(&seed, lang, &seed_set, nz);
            edit_to(&mut w, rng, nz, 4_500, target, true);
            if w.lt(4_500) || !w.le(7_000) {
                continue;
            }
            let k = w.keys();
            let clash = keys
                .iter()
                .enumerate()
                .any(|(o, ok)| o != local && !ok.is_empty() && too_close_for_negative(&k, ok));
            if !clash {
                break (w.text(), w.jaccard(), k);
            }
        };
        let it = &mut items[first + local];
        it.text = text;
        it.jaccard = round4(j);
        keys[local] = k;
    }
    let near = group
        .iter()
        .map(|&a| group.iter().map(|&b| is_near(&keys[a], &keys[b])).collect())
        .collect();
    Group {
        items: group.iter().map(|&l| first + l).collect(),
        near,
    }
}

/// In this order (local indices into the group), every member after the first is
/// >= THRESHOLD to some earlier one.
fn reachable(order: &[usize], near: &[Vec<bool>]) -> bool {
    (1..order.len()).all(|i| order[..i].iter().any(|&j| near[j][order[i]]))
}

/// The labelled corpus: `docs` documents from `seed`, in output order, and their truth.
pub fn generate(docs: usize, seed: u64) -> (Vec<Doc>, Vec<Truth>) {
    let mut rng = Rng8::seed_from_u64(seed);
    let mut nz = Normaliser::new();
    let mut items: Vec<Item> = Vec::with_capacity(docs);
    let mut groups: Vec<Group> = Vec::new();
    let mut seeds: Vec<usize> = Vec::new();
    while items.len() < docs {
        let left = docs - items.len() - 1;
        let members = if per_mille(&mut rng, 400) {
            0
        } else {
            rng.random_range(1..=4usize).min(left)
        };
        let kinds: Vec<Kind> = (0..members)
            .map(|_| match rng.random_range(0..100u32) {
                0..=19 => Kind::Exact,
                20..=39 => Kind::Normalised,
                40..=82 => Kind::Edited,
                _ => Kind::Negative,
            })
            .collect();
        let cluster = seeds.len();
        seeds.push(items.len());
        groups.push(gen_cluster(&mut rng, &mut nz, &mut items, cluster, &kinds));
    }

    // Shuffle, then repair clusters whose order makes a true duplicate unreachable.
    let n = items.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut pos = vec![0usize; n];
    for (p, &it) in order.iter().enumerate() {
        pos[it] = p;
    }
    for g in &groups {
        if g.items.len() < 2 {
            continue;
        }
        let mut local: Vec<usize> = (0..g.items.len()).collect();
        local.sort_by_key(|&l| pos[g.items[l]]);
        if reachable(&local, &g.near) {
            continue;
        }
        let slots: Vec<usize> = local.iter().map(|&l| pos[g.items[l]]).collect();
        let mut fixed = false;
        for _ in 0..16 {
            local.shuffle(&mut rng);
            if reachable(&local, &g.near) {
                fixed = true;
                break;
            }
        }
        if !fixed {
            // Seed (local 0) first; every member is >= THRESHOLD to the seed.
            local.retain(|&l| l != 0);
            local.insert(0, 0);
        }
        for (&slot, &l) in slots.iter().zip(&local) {
            order[slot] = g.items[l];
            pos[g.items[l]] = slot;
        }
    }

    let id = |p: usize| format!("d{p:07}");
    let mut out_docs = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    for (p, &it) in order.iter().enumerate() {
        let item = &items[it];
        out_docs.push(Doc {
            id: id(p),
            text: item.text.clone(),
        });
        truth.push(Truth {
            id: id(p),
            cluster: id(pos[seeds[item.cluster]]),
            kind: item.kind,
            jaccard: item.jaccard,
        });
    }
    (out_docs, truth)
}

/// What an ideal keep-first dedup at `threshold` drops: each document whose exact
/// Jaccard to some earlier document is >= threshold, paired with the earliest such
/// document. Compares within clusters only (documents of different clusters are far
/// apart by construction). A reference for the scorer, not a dedup implementation.
pub fn oracle_pairs(docs: &[Doc], truth: &[Truth], threshold: f64) -> Vec<(String, String)> {
    let mut by_cluster: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut out = Vec::new();
    let keys: Vec<Vec<u128>> = docs.iter().map(|d| keys_of(&d.text)).collect();
    for (i, t) in truth.iter().enumerate() {
        let earlier = by_cluster.entry(t.cluster.as_str()).or_default();
        if let Some(&j) = earlier.iter().find(|&&j| {
            let (a, u) = inter_union(&keys[i], &keys[j]);
            ratio(a, u) >= threshold
        }) {
            out.push((t.id.clone(), truth[j].id.clone()));
        }
        earlier.push(i);
    }
    out
}

// ---------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------

/// Recall over the true duplicates of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindRecall {
    pub kind: String,
    pub true_duplicates: usize,
    pub caught: usize,
    pub recall: f64,
}

/// How a dedup run did against the truth. Precision is 1.0 when nothing was dropped,
/// recall 1.0 when there was nothing to catch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub docs: usize,
    pub true_duplicates: usize,
    /// Distinct dropped ids.
    pub dropped: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub pairs: usize,
    pub correct_pairs: usize,
    pub pair_precision: f64,
    /// Hard negatives dropped plus pairs whose `other` is a hard negative.
    pub negatives_merged: usize,
    /// Ids in the dropped pairs that are not in the truth at all.
    pub unknown_ids: usize,
    /// seed, exact, normalised, edited, edited_80_85 (edited with jaccard < 0.85).
    pub per_kind: Vec<KindRecall>,
}

fn frac(a: usize, b: usize, empty: f64) -> f64 {
    if b == 0 {
        empty
    } else {
        a as f64 / b as f64
    }
}

/// Scores dropped (dropped id, matched-or-kept id) pairs against the truth. The
/// truth's order is the input order.
pub fn score(truth: &[Truth], dropped: &[(String, String)]) -> Score {
    let index: HashMap<&str, usize> = truth
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let mut seen_group: HashSet<&str> = HashSet::new();
    let mut true_dup = vec![false; truth.len()];
    for (i, t) in truth.iter().enumerate() {
        if t.kind.in_group() && !seen_group.insert(t.cluster.as_str()) {
            true_dup[i] = true;
        }
    }
    let group_of = |id: &str| -> Option<&str> {
        let t = &truth[*index.get(id)?];
        t.kind.in_group().then_some(t.cluster.as_str())
    };
    let is_negative = |id: &str| {
        index
            .get(id)
            .is_some_and(|&i| truth[i].kind == Kind::Negative)
    };

    let mut unknown = 0;
    let mut dropped_ids: HashSet<&str> = HashSet::new();
    let mut correct_pairs = 0;
    let mut negatives_merged = 0;
    for (d, o) in dropped {
        unknown += usize::from(!index.contains_key(d.as_str()));
        unknown += usize::from(!index.contains_key(o.as_str()));
        dropped_ids.insert(d.as_str());
        if let (Some(a), Some(b)) = (group_of(d), group_of(o)) {
            correct_pairs += usize::from(a == b);
        }
        negatives_merged += usize::from(is_negative(o));
    }
    negatives_merged += dropped_ids.iter().filter(|&&d| is_negative(d)).count();
    let caught = |i: usize| dropped_ids.contains(truth[i].id.as_str());

    let true_duplicates = true_dup.iter().filter(|&&x| x).count();
    let tp = (0..truth.len())
        .filter(|&i| true_dup[i] && caught(i))
        .count();
    let precision = frac(tp, dropped_ids.len(), 1.0);
    let recall = frac(tp, true_duplicates, 1.0);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let kind_recall = |name: &str, f: &dyn Fn(&Truth) -> bool| {
        let idx: Vec<usize> = (0..truth.len())
            .filter(|&i| true_dup[i] && f(&truth[i]))
            .collect();
        let c = idx.iter().filter(|&&i| caught(i)).count();
        KindRecall {
            kind: name.to_string(),
            true_duplicates: idx.len(),
            caught: c,
            recall: frac(c, idx.len(), 1.0),
        }
    };
    let per_kind = vec![
        kind_recall("seed", &|t: &Truth| t.kind == Kind::Seed),
        kind_recall("exact", &|t: &Truth| t.kind == Kind::Exact),
        kind_recall("normalised", &|t: &Truth| t.kind == Kind::Normalised),
        kind_recall("edited", &|t: &Truth| t.kind == Kind::Edited),
        kind_recall("edited_80_85", &|t: &Truth| {
            t.kind == Kind::Edited && t.jaccard < 0.85
        }),
    ];
    Score {
        docs: truth.len(),
        true_duplicates,
        dropped: dropped_ids.len(),
        true_positives: tp,
        false_positives: dropped_ids.len() - tp,
        precision,
        recall,
        f1,
        pairs: dropped.len(),
        correct_pairs,
        pair_precision: frac(correct_pairs, dropped.len(), 1.0),
        negatives_merged,
        unknown_ids: unknown,
        per_kind,
    }
}

impl Score {
    /// A small plain-text table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "docs {}  true duplicates {}  dropped {}  (TP {}, FP {})\n",
            self.docs,
            self.true_duplicates,
            self.dropped,
            self.true_positives,
            self.false_positives
        ));
        s.push_str(&format!(
            "precision {:.4}  recall {:.4}  F1 {:.4}\n",
            self.precision, self.recall, self.f1
        ));
        s.push_str(&format!(
            "pairs {}  correct {}  pair precision {:.4}  negatives merged {}  unknown ids {}\n",
            self.pairs,
            self.correct_pairs,
            self.pair_precision,
            self.negatives_merged,
            self.unknown_ids
        ));
        s.push_str("kind           true dups   caught   recall\n");
        for k in &self.per_kind {
            s.push_str(&format!(
                "{:<14} {:>9} {:>8}   {:.4}\n",
                k.kind, k.true_duplicates, k.caught, k.recall
            ));
        }
        s
    }

    pub fn kind(&self, name: &str) -> &KindRecall {
        self.per_kind
            .iter()
            .find(|k| k.kind == name)
            .unwrap_or_else(|| panic!("no kind {name}"))
    }
}

// ---------------------------------------------------------------------------
// Tests of the generator and the scorer
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn cjk_share(s: &str) -> f64 {
        let n = s.chars().count().max(1);
        s.chars().filter(|&c| is_cjk(c)).count() as f64 / n as f64
    }

    #[test]
    fn definitions() {
        assert!(ZH_CHARS.chars().all(is_cjk));
        assert_eq!(normalise("  ＡＢＣ\u{00A0}Def\t\n x \u{3000}"), "abc def x");
        assert_eq!(normalise("数据，出境。"), "数据,出境。");
        assert_eq!(shingles(""), HashSet::new());
        assert_eq!(shingles("  "), HashSet::new());
        assert_eq!(shingles("AbC"), HashSet::from(["abc".to_string()]));
        assert_eq!(
            shingles("abcdef"),
            HashSet::from(["abcde".to_string(), "bcdef".to_string()])
        );
        assert_eq!(jaccard(&HashSet::new(), &HashSet::new()), 1.0);
        assert_eq!(jaccard(&shingles("abcdef"), &shingles("abcdeg")), 1.0 / 3.0);
        assert_eq!(text_jaccard("abcdef", "ABCDEG"), 1.0 / 3.0);
        assert_eq!(text_jaccard("", ""), 1.0);
        assert_eq!(text_jaccard("abc", ""), 0.0);
    }

    #[test]
    fn same_seed_same_corpus() {
        let a = generate(600, 5);
        let b = generate(600, 5);
        assert_eq!(a, b);
        assert_eq!(a.0.len(), 600);
        let c = generate(600, 6);
        assert_ne!(a.0, c.0);
        assert_eq!(to_jsonl(&a.0), to_jsonl(&b.0));
        assert_eq!(parse_truth(&to_jsonl(&a.1)), a.1);
    }

    #[test]
    fn corpus_is_labelled_as_promised() {
        let (docs, truth) = generate(3000, 11);
        let n = docs.len();
        assert_eq!(n, 3000);
        let by_id: HashMap<&str, usize> = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.as_str(), i))
            .collect();
        let count = |k: Kind| truth.iter().filter(|t| t.kind == k).count();
        let singles = count(Kind::Singleton) + count(Kind::Seed);
        assert!(
            (0.34..0.46).contains(&(singles as f64 / n as f64)),
            "{singles}"
        );
        let neg = count(Kind::Negative);
        assert!((0.07..0.13).contains(&(neg as f64 / n as f64)), "{neg}");
        let mut chinese = 0;
        let mut edited_low = 0;
        for (i, (d, t)) in docs.iter().zip(&truth).enumerate() {
            assert_eq!(d.id, format!("d{i:07}"));
            assert_eq!(d.id, t.id);
            let seed = &docs[by_id[t.cluster.as_str()]];
            let exact = jaccard(&shingles(&d.text), &shingles(&seed.text));
            assert!((round4(exact) - t.jaccard).abs() < 1e-9, "{t:?} vs {exact}");
            match t.kind {
                Kind::Seed | Kind::Singleton => {
                    assert_eq!(t.cluster, t.id);
                    let len = d.text.chars().count();
                    assert!((300..=1500).contains(&len), "{len}");
                    assert_eq!(d.text.trim(), d.text);
                    assert!(!d.text.contains("  "));
                    // Chinese and mixed zh/en seeds; English ones have no CJK at all.
                    chinese += usize::from(cjk_share(&d.text) > 0.3);
                }
                Kind::Exact => assert_eq!(d.text, seed.text),
                Kind::Normalised => {
                    assert_ne!(d.text, seed.text);
                    assert_eq!(normalise(&d.text), normalise(&seed.text));
                    assert_eq!(exact, 1.0);
                }
                Kind::Edited => {
                    assert!((0.8..1.0).contains(&exact), "{t:?}");
                    edited_low += usize::from(exact < 0.85);
                }
                Kind::Negative => assert!((0.45..=0.70).contains(&exact), "{t:?}"),
            }
        }
        let seeds = count(Kind::Seed) + count(Kind::Singleton);
        assert!(chinese * 10 >= seeds * 3, "{chinese} of {seeds} Chinese");
        assert!(edited_low * 100 >= count(Kind::Edited) * 15, "{edited_low}");

        // Within each cluster: negatives < 0.75 to every other member, true-group
        // members >= 0.8 to the seed, and every true duplicate reachable in order.
        let mut clusters: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, t) in truth.iter().enumerate() {
            clusters.entry(t.cluster.as_str()).or_default().push(i);
        }
        let mut seed_not_first = 0;
        let mut multi = 0;
        for members in clusters.values() {
            let keys: Vec<Vec<u128>> = members.iter().map(|&i| keys_of(&docs[i].text)).collect();
            for (a, &i) in members.iter().enumerate() {
                for (b, &j) in members.iter().enumerate() {
                    if a != b && truth[i].kind == Kind::Negative {
                        let (x, u) = inter_union(&keys[a], &keys[b]);
                        assert!(ratio(x, u) < 0.75, "{:?} vs {:?}", truth[i], truth[j]);
                    }
                }
            }
            let group: Vec<usize> = (0..members.len())
                .filter(|&a| truth[members[a]].kind.in_group())
                .collect();
            if group.len() > 1 {
                multi += 1;
                seed_not_first += usize::from(truth[members[group[0]]].kind != Kind::Seed);
            }
            for (x, &a) in group.iter().enumerate().skip(1) {
                let ok = group[..x].iter().any(|&b| is_near(&keys[a], &keys[b]));
                assert!(ok, "unreachable {:?}", truth[members[a]]);
            }
        }
        assert!(seed_not_first * 4 >= multi, "{seed_not_first} of {multi}");

        // Seeds are far apart (a sample of pairs).
        let seed_keys: Vec<Vec<u128>> = truth
            .iter()
            .zip(&docs)
            .filter(|(t, _)| matches!(t.kind, Kind::Seed | Kind::Singleton))
            .take(250)
            .map(|(_, d)| keys_of(&d.text))
            .collect();
        let mut worst: f64 = 0.0;
        for a in 0..seed_keys.len() {
            for b in a + 1..seed_keys.len() {
                let (x, u) = inter_union(&seed_keys[a], &seed_keys[b]);
                worst = worst.max(ratio(x, u));
            }
        }
        assert!(worst < 0.2, "two seeds at {worst}");
    }

    #[test]
    fn scorer() {
        let (docs, truth) = generate(1500, 3);
        let perfect = oracle_pairs(&docs, &truth, THRESHOLD);
        let s = score(&truth, &perfect);
        assert_eq!(s.precision, 1.0, "{}", s.table());
        assert_eq!(s.recall, 1.0, "{}", s.table());
        assert_eq!(s.pair_precision, 1.0);
        assert_eq!(s.negatives_merged, 0);
        assert_eq!(s.unknown_ids, 0);
        assert_eq!(s.dropped, s.true_duplicates);

        let s = score(&truth, &[]);
        assert_eq!((s.precision, s.recall, s.dropped), (1.0, 0.0, 0));

        // Dropping a negative against its seed counts once as dropped and is a wrong pair;
        // matching something against a negative counts too.
        let neg = truth.iter().find(|t| t.kind == Kind::Negative).unwrap();
        let s = score(&truth, &[(neg.id.clone(), neg.cluster.clone())]);
        assert_eq!(
            (s.negatives_merged, s.correct_pairs, s.false_positives),
            (1, 0, 1)
        );
        let s = score(&truth, &[(neg.cluster.clone(), neg.id.clone())]);
        assert_eq!(s.negatives_merged, 1);
        let s = score(&truth, &[("nope".into(), neg.id.clone())]);
        assert_eq!(s.unknown_ids, 1);
    }

    #[test]
    fn clusters_file_pairs() {
        let jsonl = concat!(
            r#"{"dropped":{"file":"c.jsonl","line":17,"id":"d0000017"},"matched":{"file":"c.jsonl","line":3,"id":"d0000003"},"kept":{"id":"d0000001"},"mode":"near","similarity":0.84}"#,
            "\n\n",
            r#"{"dropped":{"id":"d0000020"},"kept":{"id":"d0000002"}}"#,
            "\n"
        );
        assert_eq!(
            pairs_from_clusters(jsonl),
            vec![
                ("d0000017".to_string(), "d0000003".to_string()),
                ("d0000020".to_string(), "d0000002".to_string())
            ]
        );
    }
}
