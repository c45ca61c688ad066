//! PII detection: finds typed, scored spans of personal information in a text.
//!
//! Chinese identifiers come first (resident ID, mobile and landline numbers, UnionPay
//! cards, unified social credit codes, licence plates, passports), with the
//! international types a training corpus also holds (e-mail, URL, IP, IBAN, US SSN,
//! card numbers). Every identifier with a check digit is validated, so an order number
//! that looks like a card is not one.
//!
//! Invariants of `Detector::detect` (the `deidentify` stage and the residual gate rely
//! on them):
//! - detections are sorted by start and never overlap; overlaps are resolved by higher
//!   score, then longer span, then leftmost start, then `EntityType` order, so the
//!   result is a pure function of the text and the config;
//! - offsets are byte offsets on char boundaries, and a span never contains a CJK
//!   character except the province character of a licence plate and the full-width
//!   parentheses of `（010）12345678` (boundaries are ASCII neighbour checks, not
//!   Unicode `\b`, which treats CJK as word characters);
//! - every detection has `score >= min_score`, and candidates below it are dropped
//!   *before* overlap resolution, so a weak reading never hides a strong one;
//! - `detect` never panics, whatever the input.
//!
//! Cost: one lazy-DFA search per rule (a combined `RegexSet` prefilter was measured 4×
//! slower on mixed text: its overlapping search kept determinizing states). A
//! leftmost-first multi-pattern search is not used for the
//! spans themselves because it reports one pattern per position, and the readings of
//! one digit run as several types (ID card and bank card) must all reach overlap
//! resolution. A text without an ASCII digit, `@`, `.` or `:` is refused before any
//! regex runs: no recognizer can match it.

mod address;
pub(crate) mod ascii;
mod fold;
mod lexicon;
mod memo;
mod names;
mod phonemeta;
mod recognizers;
mod table;
pub mod validators;
mod wordfind;

use std::collections::BTreeMap;
use std::fmt;

use regex::{Regex, RegexBuilder};

/// Lazy-DFA cache per pattern (and per thread using it), larger than the default so the
/// states of the counted repetitions stay cached on long mixed-script texts.
const DFA_CACHE: usize = 8 << 20;

use recognizers::{Rule, Scan};

/// The kinds of PII the detector knows. The string forms are part of the contract
/// (reports, pipeline files, CLI flags): add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityType {
    CnIdCard,
    Phone,
    BankCard,
    Email,
    Url,
    IpAddress,
    CnUscc,
    CnLicensePlate,
    Passport,
    UsSsn,
    Iban,
    DateOfBirth,
    Person,
    Address,
    /// A type a pipeline defines (user recognizers and deny-lists), by its name.
    Custom(&'static str),
}

impl serde::Serialize for EntityType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl EntityType {
    pub const ALL: [EntityType; 14] = [
        EntityType::CnIdCard,
        EntityType::Phone,
        EntityType::BankCard,
        EntityType::Email,
        EntityType::Url,
        EntityType::IpAddress,
        EntityType::CnUscc,
        EntityType::CnLicensePlate,
        EntityType::Passport,
        EntityType::UsSsn,
        EntityType::Iban,
        EntityType::DateOfBirth,
        EntityType::Person,
        EntityType::Address,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::CnIdCard => "CN_ID_CARD",
            EntityType::Phone => "PHONE",
            EntityType::BankCard => "BANK_CARD",
            EntityType::Email => "EMAIL",
            EntityType::Url => "URL",
            EntityType::IpAddress => "IP_ADDRESS",
            EntityType::CnUscc => "CN_USCC",
            EntityType::CnLicensePlate => "CN_LICENSE_PLATE",
            EntityType::Passport => "PASSPORT",
            EntityType::UsSsn => "US_SSN",
            EntityType::Iban => "IBAN",
            EntityType::DateOfBirth => "DATE_OF_BIRTH",
            EntityType::Person => "PERSON",
            EntityType::Address => "ADDRESS",
            EntityType::Custom(name) => name,
        }
    }

    /// The type named `s` (exactly one of the `as_str` names).
    pub fn parse(s: &str) -> Option<EntityType> {
        EntityType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// PIPL art. 28 sensitive PI: CN_ID_CARD, PASSPORT, US_SSN, BANK_CARD, IBAN.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            EntityType::CnIdCard
                | EntityType::Passport
                | EntityType::UsSsn
                | EntityType::BankCard
                | EntityType::Iban
        )
    }
}

impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Categories of sensitive personal information (PIPL art. 28) a field may be declared
/// as (`scan --declare`, `[assessment] sensitive`).
pub const SENSITIVE_CATEGORIES: [&str; 7] = [
    "health",
    "biometric",
    "religion",
    "specific_identity",
    "whereabouts",
    "minors",
    "financial",
];

/// A type name a pipeline may use: a built-in type or its own UPPER_SNAKE_CASE name.
pub fn check_type_name(name: &str) -> std::result::Result<(), String> {
    if EntityType::parse(name).is_some() {
        return Ok(());
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "entity type `{name}`: name your own types in UPPER_SNAKE_CASE (A-Z, 0-9, _)"
        ))
    }
}

/// `user_id` → `USER_ID`, `meta.author` → `META_AUTHOR`: a column's own token type.
pub fn column_type_name(path: &str) -> String {
    let mut s: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_uppercase()) {
        s.insert_str(0, "F_");
    }
    s
}

/// One finding: `text[start..end]` is PII of type `entity` with confidence `score`
/// (0–1). Offsets are bytes, on char boundaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub entity: EntityType,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// Which types to look for and the lowest score to report, plus a pipeline's own
/// recognizers and deny-lists.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    pub entities: Vec<EntityType>,
    pub min_score: f32,
    pub custom: Vec<CustomRecognizer>,
    /// Terms that are always an entity of the given type (names of key people, project
    /// code names), matched exactly (ASCII case-insensitively).
    pub deny: Vec<(EntityType, Vec<String>)>,
    /// Per-type thresholds that replace `min_score` for their type.
    pub min_scores: Vec<(EntityType, f32)>,
    /// Known non-personal values (a company hotline, a support address): a detection
    /// lying wholly inside an occurrence of one of them is dropped. Matched exactly,
    /// ASCII case-insensitively.
    pub allow: Vec<String>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            entities: EntityType::ALL.to_vec(),
            min_score: 0.5,
            custom: Vec::new(),
            deny: Vec::new(),
            min_scores: Vec::new(),
            allow: Vec::new(),
        }
    }
}

impl DetectConfig {
    /// The threshold a detection of type `e` must reach.
    pub fn threshold(&self, e: EntityType) -> f32 {
        self.min_scores
            .iter()
            .find(|(t, _)| *t == e)
            .map_or(self.min_score, |(_, s)| *s)
    }
}

/// A checksum a user recognizer can require of its match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Validator {
    Luhn,
    Gb11643,
    Gb32100,
    Iban,
}

impl Validator {
    /// Checks a match, ignoring spaces and hyphens inside it.
    fn check(self, span: &str) -> bool {
        let compact: String = span
            .chars()
            .filter(|c| *c != ' ' && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        match self {
            Validator::Luhn => {
                compact.bytes().all(|b| b.is_ascii_digit()) && validators::luhn(&compact)
            }
            Validator::Gb11643 => validators::cn_id18(&compact),
            Validator::Gb32100 => compact.len() == 18 && validators::gb32100(&compact),
            Validator::Iban => validators::iban_mod97(&compact),
        }
    }
}

/// A recognizer defined in a pipeline file.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomRecognizer {
    pub entity: EntityType,
    pub pattern: String,
    pub validator: Option<Validator>,
    /// When not empty, one of these must occur within 20 characters before the match.
    pub context: Vec<String>,
    pub score: f32,
}

/// Compiled user recognizers and deny-lists.
struct Custom {
    rules: Vec<(CustomRecognizer, Regex)>,
    deny: Option<(aho_corasick::AhoCorasick, Vec<EntityType>)>,
    allow: Option<aho_corasick::AhoCorasick>,
}

/// The compiled recognizers. Built once (all regexes compile in `new`), then shared by
/// threads: `detect` takes `&self` and keeps no state between calls.
pub struct Detector {
    /// Unique in the process: what the per-thread memo of short texts (`memo`) keys on.
    id: u64,
    custom: Custom,
    /// Names, Chinese and English: candidates from lexicons, scored with evidence.
    names: Option<names::Names>,
    /// Addresses, Chinese, US and UK: a grammar over reference data, scored.
    addresses: Option<address::Addresses>,
    /// The first characters of the names' and addresses' word finders (in that
    /// order), marked for all of them in one pass over a text.
    first_chars: wordfind::FirstChars,
    rules: Vec<Rule>,
    regexes: Vec<Regex>,
    min_score: f32,
    /// Per-type thresholds (`DetectConfig::min_scores`).
    min_scores: Vec<(EntityType, f32)>,
}

impl fmt::Debug for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.rules.len())
            .field("min_score", &self.min_score)
            .finish()
    }
}

impl Detector {
    /// A detector with the built-in recognizers only, or with user ones known to compile.
    pub fn new(cfg: &DetectConfig) -> Detector {
        Detector::try_new(cfg).expect("recognizer patterns compile")
    }

    /// Fails (with a message naming the pattern) when a user pattern does not compile.
    pub fn try_new(cfg: &DetectConfig) -> Result<Detector, String> {
        let rules = cfg
            .custom
            .iter()
            .map(|c| {
                RegexBuilder::new(&c.pattern)
                    .dfa_size_limit(DFA_CACHE)
                    .build()
                    .map(|re| (c.clone(), re))
                    .map_err(|e| format!("recognizer {}: pattern does not compile: {e}", c.entity))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut terms = Vec::new();
        let mut kinds = Vec::new();
        for (e, list) in &cfg.deny {
            for t in list.iter().filter(|t| !t.trim().is_empty()) {
                terms.push(t.trim().to_string());
                kinds.push(*e);
            }
        }
        let deny = if terms.is_empty() {
            None
        } else {
            let ac = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&terms)
                .map_err(|e| format!("deny-list: {e}"))?;
            Some((ac, kinds))
        };
        let allow_terms: Vec<&str> = cfg
            .allow
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect();
        let allow = if allow_terms.is_empty() {
            None
        } else {
            Some(
                aho_corasick::AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .ascii_case_insensitive(true)
                    .build(&allow_terms)
                    .map_err(|e| format!("allow-list: {e}"))?,
            )
        };
        let mut d = Detector::builtin(cfg);
        d.custom = Custom { rules, deny, allow };
        Ok(d)
    }

    fn builtin(cfg: &DetectConfig) -> Detector {
        let rules: Vec<Rule> = recognizers::rules()
            .into_iter()
            .filter(|r| cfg.entities.contains(&r.entity))
            .collect();
        if cfg.entities.contains(&EntityType::Phone) {
            // Load libphonenumber's metadata now (about 80 ms, once per process), as the
            // lexicon is, not inside the first batch a stage times.
            phonemeta::load();
        }
        // The patterns are constants of this module, so a failure is a bug here, caught
        // by the tests, not an input error.
        let regexes = rules
            .iter()
            .map(|r| {
                RegexBuilder::new(&r.pattern)
                    .dfa_size_limit(DFA_CACHE)
                    .build()
                    .expect("detector pattern compiles")
            })
            .collect();
        let names = cfg
            .entities
            .contains(&EntityType::Person)
            .then(|| names::Names::new(cfg.threshold(EntityType::Person)));
        let addresses = cfg
            .entities
            .contains(&EntityType::Address)
            .then(address::Addresses::new);
        let mut finders: Vec<wordfind::Marks<'_>> = Vec::new();
        if let Some(n) = &names {
            finders.extend(n.marks());
        }
        if let Some(a) = &addresses {
            finders.push(wordfind::Marks::Words(a.finder()));
        }
        // Whether a text lists things (、和与及) is noted in the same pass.
        let first_chars =
            wordfind::FirstChars::new(&finders, &names::LISTING, &fold::folded_chars());
        Detector {
            id: memo::new_id(),
            custom: Custom {
                rules: Vec::new(),
                deny: None,
                allow: None,
            },
            names,
            addresses,
            first_chars,
            rules,
            regexes,
            min_score: cfg.min_score,
            min_scores: cfg.min_scores.clone(),
        }
    }

    /// Appends the detections in `text` to `out` (after clearing it): sorted by start,
    /// never overlapping (overlaps resolved deterministically: higher score, then longer,
    /// then leftmost), each with score >= min_score.
    pub fn detect(&self, text: &str, out: &mut Vec<Detection>) {
        // A short text seen lately on this thread: what was found in it then.
        let key = (text.len() <= memo::MAX_TEXT).then(|| memo::hash(self.id, text));
        if let Some(h) = key {
            if memo::recall(self.id, h, text, out) {
                return;
            }
        }
        self.detect_fresh(text, out);
        if let Some(h) = key {
            memo::remember(self.id, h, text, out);
        }
    }

    /// `detect` without the memo.
    fn detect_fresh(&self, text: &str, out: &mut Vec<Detection>) {
        // A text that is not ASCII is decoded once, for the name and address scans and
        // their word finders (they decoded it four times), into buffers kept per
        // thread: this runs once per text, and allocating them showed in profiles.
        // With it, per list of `FirstChars` marks, the characters it marks, and whether
        // the text holds a character `fold` changes (none is ASCII): only then is it
        // searched in a folded shadow (decoded again). A byte scan for such characters
        // over every text cost more (1.3 % of the detector's instructions on the chat
        // sample, net of the second decoding).
        CHARS.with_borrow_mut(|(chars, starts)| {
            if text.is_ascii() {
                return self.detect_plain(text, chars, starts, None, out);
            }
            let seen = self.first_chars.decode_and_mark(text, chars, starts);
            match seen.folds.then(|| fold::Shadow::of(text)).flatten() {
                None => self.detect_plain(text, chars, starts, Some(seen.listing), out),
                Some(shadow) => {
                    // The built-in recognizers read the shadow; the user's rules, deny
                    // and allow lists the text as written (`Müller GmbH` on a list is
                    // not `Muller GmbH`).
                    out.clear();
                    self.detect_builtin(&shadow.text, chars, starts, None, out);
                    for d in out.iter_mut() {
                        (d.start, d.end) = shadow.map(d.start, d.end);
                    }
                    self.detect_custom(text, out);
                    self.settle(text, out);
                }
            }
        })
    }

    /// The threshold a detection of type `e` must reach.
    fn threshold(&self, e: EntityType) -> f32 {
        self.min_scores
            .iter()
            .find(|(t, _)| *t == e)
            .map_or(self.min_score, |(_, s)| *s)
    }

    /// Detects in `text`, which has nothing to fold. `chars` and `starts` hold its
    /// decoding and word starts when `listing` is Some (whether it lists things, noted
    /// in the same pass); else they are buffers, filled here.
    fn detect_plain(
        &self,
        text: &str,
        chars: &mut Vec<(usize, char)>,
        starts: &mut Vec<Vec<usize>>,
        listing: Option<bool>,
        out: &mut Vec<Detection>,
    ) {
        out.clear();
        self.detect_custom(text, out);
        self.detect_builtin(text, chars, starts, listing, out);
        self.settle(text, out);
    }

    /// Appends the built-in recognizers' candidates in `text` (a shadow's, or the text
    /// itself when it has nothing to fold) to `out`; `chars`, `starts` and `listing` as
    /// for `detect_plain`.
    fn detect_builtin(
        &self,
        text: &str,
        chars: &mut Vec<(usize, char)>,
        starts: &mut Vec<Vec<usize>>,
        listing: Option<bool>,
        out: &mut Vec<Detection>,
    ) {
        let profile = recognizers::needs::profile(text);
        let has = profile.classes;
        // Whether the text lists things (、和与及), noted in the same pass.
        let listing = match listing {
            Some(listing) => listing,
            None if text.is_ascii() => {
                chars.clear();
                self.first_chars.mark(chars, starts)
            }
            None => {
                self.first_chars
                    .decode_and_mark(text, chars, starts)
                    .listing
            }
        };
        let mut starts = starts.as_slice();
        if let Some(n) = &self.names {
            n.scan(text, chars, &starts[..3], listing, has, out);
            starts = &starts[3..];
        }
        if let Some(a) = &self.addresses {
            a.scan(text, chars, &starts[0], &profile, out);
        }
        // Each rule runs only on text holding the bytes its pattern needs (a digit, `@`,
        // `.`, `:`, an upper-case letter, 号): most text lacks most of them. One search
        // per rule, each on its own small lazy DFA. A combined `RegexSet` pass was
        // measured 4× slower: its overlapping search over all patterns spent most of the
        // time determinizing states and rebuilding its cache.
        // Buffers kept per thread: this runs once per text.
        type Buffers = (Vec<DigitWindow>, Vec<(usize, usize)>);
        thread_local! {
            static BUFFERS: std::cell::RefCell<Buffers> =
                const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
        }
        BUFFERS.with_borrow_mut(|(digits, fit)| {
            digits.clear();
            if has & recognizers::needs::DIGIT != 0 {
                digit_windows_into(text, digits);
            }
            self.run_rules(text, &profile, digits, fit, out);
        });
        // An old date in a text about a person reads as a birth date: the text names
        // a person or holds another of their identifiers, or speaks of itself.
        let dob = EntityType::DateOfBirth;
        let old_dates: Vec<usize> = (0..out.len())
            .filter(|&i| {
                let d = &out[i];
                d.entity == dob
                    && d.score < recognizers::S_DOB_OLD
                    && recognizers::old_date_beside_a_person(text, d.start, d.end)
            })
            .collect();
        if !old_dates.is_empty()
            && (out
                .iter()
                .any(|d| d.entity != dob && d.score >= self.threshold(d.entity))
                || recognizers::speaks_of_a_person(text))
        {
            for i in old_dates {
                out[i].score = recognizers::S_DOB_OLD;
            }
        }
    }

    /// Keeps the candidates in `out` that reach their thresholds, resolves overlaps and
    /// drops what the allow list covers in `text` (as written).
    fn settle(&self, text: &str, out: &mut Vec<Detection>) {
        // Below-threshold candidates go before overlap resolution, so a weak reading
        // never hides a strong one.
        out.retain(|d| d.score >= self.threshold(d.entity));
        resolve(out);
        if let Some(allow) = &self.custom.allow {
            let allowed: Vec<(usize, usize)> = allow
                .find_iter(text)
                .map(|m| (m.start(), m.end()))
                .collect();
            if !allowed.is_empty() {
                out.retain(|d| !allowed.iter().any(|&(s, e)| s <= d.start && d.end <= e));
            }
        }
    }

    /// User recognizers and deny-list terms. A match must not continue an ASCII word or
    /// number on either side (a CJK neighbour is fine), as for the built-in rules.
    fn detect_custom(&self, text: &str, out: &mut Vec<Detection>) {
        let bounded = |s: usize, e: usize| {
            let b = text.as_bytes();
            let inner_first = b.get(s).is_some_and(u8::is_ascii_alphanumeric);
            let inner_last = e > 0 && b[e - 1].is_ascii_alphanumeric();
            let joins_before = inner_first && s > 0 && b[s - 1].is_ascii_alphanumeric();
            let joins_after = inner_last && b.get(e).is_some_and(u8::is_ascii_alphanumeric);
            !joins_before && !joins_after
        };
        for (c, re) in &self.custom.rules {
            for m in re.find_iter(text) {
                if m.start() == m.end() || !bounded(m.start(), m.end()) {
                    continue;
                }
                if c.validator.is_some_and(|v| !v.check(m.as_str())) {
                    continue;
                }
                if !c.context.is_empty() {
                    let words: Vec<&str> = c.context.iter().map(String::as_str).collect();
                    if !recognizers::context_before(text, m.start(), &words) {
                        continue;
                    }
                }
                out.push(Detection {
                    entity: c.entity,
                    start: m.start(),
                    end: m.end(),
                    score: c.score,
                });
            }
        }
        if let Some((ac, kinds)) = &self.custom.deny {
            for m in ac.find_iter(text) {
                if bounded(m.start(), m.end()) {
                    out.push(Detection {
                        entity: kinds[m.pattern().as_usize()],
                        start: m.start(),
                        end: m.end(),
                        score: 1.0,
                    });
                }
            }
        }
    }

    /// Every rule that `profile` and its gate let through: a digit rule over the
    /// `digits` windows that fit it (`fit` is a buffer), the others over the whole text.
    fn run_rules(
        &self,
        text: &str,
        profile: &recognizers::needs::Profile,
        digits: &[DigitWindow],
        fit: &mut Vec<(usize, usize)>,
        out: &mut Vec<Detection>,
    ) {
        let whole = [(0, text.len())];
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if !rule.may_match(profile) || !rule.passes_gate(text) {
                continue;
            }
            let ranges: &[(usize, usize)] = if rule.needs & recognizers::needs::DIGIT != 0 {
                // Only the windows holding enough digits for this rule: a match's
                // digits all lie in one window. A plain loop: `extend` over the filter
                // was a call per rule and text with its own setup (8.3 M of 827 M
                // instructions on the chat sample).
                fit.clear();
                for w in digits {
                    if rule.fits(w.digits, w.max_run) && w.fits_shape(text, rule) {
                        fit.push(w.narrowed(text, rule.back, rule.forward));
                    }
                }
                fit
            } else if let Some(windows) = rule.windows {
                fit.clear();
                windows(text, fit);
                fit
            } else {
                &whole
            };
            if !ranges.is_empty() {
                self.run_rule(i, text, ranges, out);
            }
        }
    }

    /// Runs rule `i` over the byte ranges `windows` of `text` (in order, not
    /// overlapping); its check sees the whole text.
    fn run_rule(&self, i: usize, text: &str, windows: &[(usize, usize)], out: &mut Vec<Detection>) {
        let rule = &self.rules[i];
        let re = &self.regexes[i];
        let mut pos = 0;
        for &(a, b) in windows {
            pos = pos.max(a);
            let hay = &text[..b];
            while pos <= b {
                let Some(m) = re.find_at(hay, pos) else {
                    break;
                };
                let hit = (rule.check)(text, m.start(), m.end());
                if let Some((s, e, score)) = hit {
                    if s < e {
                        out.push(Detection {
                            entity: rule.entity,
                            start: s,
                            end: e,
                            score,
                        });
                    }
                }
                pos = match (rule.scan, hit) {
                    (Scan::Linear, _) => m.end().max(next_char(text, m.start())),
                    (Scan::Retry, Some((_, e, _))) => e.max(next_char(text, m.start())),
                    (Scan::Retry, None) => skip_run(text, m.start()),
                };
            }
        }
    }
}

/// A text's characters and, per word finder, where its words may start (see
/// `Detector::detect_fresh`): buffers kept per thread.
type Decoded = (Vec<(usize, char)>, Vec<Vec<usize>>);
thread_local! {
    static CHARS: std::cell::RefCell<Decoded> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// How far before its first digit a match of a digit rule can start (`+86 `,
/// `September. 5`, an IBAN's country, a passport's letters: 11 bytes at most), and how
/// far after its last digit it can end (an ID's `X`, a Seychelles IBAN's `SCR`), in
/// bytes. Windows merge across gaps up to their sum, which is more than any gap inside
/// one match (`5th of September, 1990`: 17 bytes).
const DIGIT_BACK: usize = recognizers::DIGIT_MARGIN as usize;
const DIGIT_FORWARD: usize = recognizers::DIGIT_MARGIN as usize;

/// `digit_windows_into` a new vector.
#[cfg(test)]
fn digit_windows(text: &str) -> Vec<DigitWindow> {
    let mut out = Vec::new();
    digit_windows_into(text, &mut out);
    out
}

/// Into `out` (a buffer the caller clears): the byte ranges of `text` where a rule
/// that needs a digit can match: around each digit, `DIGIT_BACK` before and
/// `DIGIT_FORWARD` after, merged when they touch, on character boundaries. Every such
/// rule's match holds a digit and no stretch of
/// `DIGIT_BACK + DIGIT_FORWARD` bytes without one, so it lies inside one range; the
/// digit rules then search a fraction of a long text instead of all of it, which the
/// lazy DFAs cannot skip (their first byte is a class, with no literal prefilter).
fn digit_windows_into(text: &str, out: &mut Vec<DigitWindow>) {
    let b = text.as_bytes();
    let mut i = 0;
    // Run by run: a run's digits all fall in one window (they are closer than the
    // windows' margins), so the run is counted into it at once.
    while let Some(start) = next_digit(b, i) {
        let len = digit_run(b, start);
        let last = start + len - 1;
        i = start + len;
        let mut lo = start.saturating_sub(DIGIT_BACK);
        while !text.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = (last + 1 + DIGIT_FORWARD).min(text.len());
        while !text.is_char_boundary(hi) {
            hi += 1;
        }
        let run = recognizers::shapes::Run { start, len };
        match out.last_mut() {
            Some(w) if lo <= w.hi => {
                w.hi = hi;
                w.last_digit = last;
                w.digits += len as u32;
                w.max_run = w.max_run.max(len as u32);
                w.add_run(run);
            }
            _ => {
                let mut w = DigitWindow {
                    lo,
                    hi,
                    first_digit: start,
                    last_digit: last,
                    digits: len as u32,
                    max_run: len as u32,
                    runs: [recognizers::shapes::Run::default(); WINDOW_RUNS],
                    n_runs: 0,
                };
                w.add_run(run);
                out.push(w);
            }
        }
    }
}

/// The first ASCII digit of `b` at or after `from`. Sixteen bytes at a time while none
/// is a digit (a test per byte that the compiler makes one vector compare), then the
/// place of the first in the chunk from its two words' digit masks (`trailing_zeros`);
/// byte by byte only in the last fifteen bytes. The search walks the whole of every
/// text with a digit, and most of a text is not digits (it was about four fifths of the
/// windows' instructions, a byte at a time; the byte-by-byte `position` in the chunk
/// found was then most of the rest).
fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = b.get(i..i + 16) {
        let chunk: &[u8; 16] = chunk.try_into().expect("16 bytes");
        // `fold`, not `any`: no exit per byte, so the sixteen tests are one.
        if chunk
            .iter()
            .fold(false, |d, c| d | (c.wrapping_sub(b'0') < 10))
        {
            let (lo, hi) = chunk.split_at(8);
            let lo = digit_mask(lo.try_into().expect("eight bytes"));
            let hi = digit_mask(hi.try_into().expect("eight bytes"));
            // A digit is in one of the words: the lowest set bit is the first digit's.
            let at = if lo != 0 {
                lo.trailing_zeros() / 8
            } else {
                8 + hi.trailing_zeros() / 8
            };
            return Some(i + at as usize);
        }
        i += 16;
    }
    b[i..].iter().position(u8::is_ascii_digit).map(|p| i + p)
}

/// The high bit of each ASCII digit among eight bytes (the first lowest).
fn digit_mask(w: &[u8; 8]) -> u64 {
    recognizers::needs::digit_mask(u64::from_le_bytes(*w))
}

/// The length of the run of ASCII digits at `start` (0 if `b[start]` is not one):
/// eight bytes at a time, the run ending at the lowest non-digit's high bit.
fn digit_run(b: &[u8], start: usize) -> usize {
    let mut i = start;
    while let Some(w) = b.get(i..i + 8) {
        let gaps = !digit_mask(w.try_into().expect("eight bytes")) & 0x8080_8080_8080_8080;
        if gaps != 0 {
            return i + gaps.trailing_zeros() as usize / 8 - start;
        }
        i += 8;
    }
    i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count() - start
}

/// The digit runs a window keeps for the rules' shapes; a window with more (a long
/// table of numbers) passes every shape.
const WINDOW_RUNS: usize = 12;

/// A byte range of a text around its digits (see `digit_windows`), with the ASCII
/// digits it holds, in all and in its longest run.
#[derive(Debug)]
struct DigitWindow {
    lo: usize,
    hi: usize,
    /// Byte offsets of the window's first and last digit.
    first_digit: usize,
    last_digit: usize,
    digits: u32,
    max_run: u32,
    /// Its first `WINDOW_RUNS` digit runs; `n_runs` counts them all.
    runs: [recognizers::shapes::Run; WINDOW_RUNS],
    n_runs: usize,
}

impl DigitWindow {
    /// Counts a digit run into the window's runs.
    fn add_run(&mut self, run: recognizers::shapes::Run) {
        if let Some(r) = self.runs.get_mut(self.n_runs) {
            *r = run;
        }
        self.n_runs += 1;
    }

    /// Whether the window passes `rule`'s shape (a window with more runs than it
    /// keeps always does).
    fn fits_shape(&self, text: &str, rule: &Rule) -> bool {
        self.n_runs > WINDOW_RUNS || rule.fits_shape(text, &self.runs[..self.n_runs])
    }

    /// The part of the window a rule's match can lie in: `back` bytes before its first
    /// digit to `forward` bytes after its last, on character boundaries.
    fn narrowed(&self, text: &str, back: u8, forward: u8) -> (usize, usize) {
        let mut lo = self
            .first_digit
            .saturating_sub(usize::from(back))
            .max(self.lo);
        while !text.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = (self.last_digit + 1 + usize::from(forward)).min(self.hi);
        while !text.is_char_boundary(hi) {
            hi += 1;
        }
        (lo, hi)
    }
}

/// The byte offset of the character after the one at `i`.
fn next_char(text: &str, i: usize) -> usize {
    i + text[i..].chars().next().map_or(1, char::len_utf8)
}

/// Where to retry after a refused candidate at `s`. Every bounded rule refuses a match
/// whose left neighbour is an ASCII letter or digit, so no match can start inside the
/// same alphanumeric run: jump past it. This keeps a long digit run (a hash, a serial)
/// linear instead of one regex search per digit.
fn skip_run(text: &str, s: usize) -> usize {
    let run = text.as_bytes()[s..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if run == 0 {
        next_char(text, s)
    } else {
        s + run
    }
}

/// Keeps a non-overlapping subset of `found`, preferring higher score, then longer span,
/// then leftmost start (then type order, so ties are deterministic), and sorts it by
/// start.
fn resolve(found: &mut Vec<Detection>) {
    if found.len() < 2 {
        return;
    }
    // A name inside an address is a street's or a place's name (`7 John Lane`,
    // `4 Langworth Glade`): the address reads it whole, whatever the two scores.
    if found.iter().any(|d| d.entity == EntityType::Address) {
        let addresses: Vec<(usize, usize)> = found
            .iter()
            .filter(|d| d.entity == EntityType::Address)
            .map(|d| (d.start, d.end))
            .collect();
        found.retain(|d| {
            d.entity != EntityType::Person
                || !addresses.iter().any(|&(s, e)| s <= d.start && d.end <= e)
        });
    }
    found.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
            .then(a.entity.cmp(&b.entity))
    });
    // start -> end of the spans kept so far; disjoint, so the neighbours of a new span
    // in start order are the only ones it can overlap.
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    found.retain(|d| {
        let before = kept.range(..=d.start).next_back();
        let after = kept.range(d.start..).next();
        let overlaps =
            before.is_some_and(|(_, &e)| e > d.start) || after.is_some_and(|(&s, _)| s < d.end);
        if !overlaps {
            kept.insert(d.start, d.end);
        }
        !overlaps
    });
    found.sort_by_key(|d| d.start);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Through the per-thread memo, two detectors of different configurations
        /// interleaved on one thread find what each finds without it, whatever the order
        /// and repetition of the texts (long ones included).
        #[test]
        fn the_memo_changes_no_detection(
            picks in proptest::collection::vec((0usize..9, any::<bool>()), 1..80)
        ) {
            let long = format!("{} 联系人：王小明 13812345678", "很长的文本。".repeat(20));
            let texts = [
                "张三的电话是13812345678",
                "Call Ann Lee at (415) 555-0134",
                "还有其他可以帮您的吗？",
                "user",
                "",
                "邮箱 a.b@example.com，住在北京市朝阳区建国路88号",
                "Dear Mr Smith, your card 4111 1111 1111 1111",
                "李四",
                long.as_str(),
            ];
            static STRICT: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
            // No phone numbers, and only the surest of the rest.
            let strict = STRICT.get_or_init(|| {
                let mut cfg = DetectConfig {
                    min_score: 0.8,
                    ..DetectConfig::default()
                };
                cfg.entities.retain(|&e| e != EntityType::Phone);
                Detector::new(&cfg)
            });
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (i, which) in picks {
                let det = if which { shared_detector() } else { strict };
                det.detect(texts[i], &mut a);
                det.detect_fresh(texts[i], &mut b);
                prop_assert_eq!(&a, &b);
            }
        }

        /// The byte profile, which passes over non-ASCII stretches eight bytes at a
        /// time, says what a byte-by-byte count says: classes, digits, longest digit run.
        #[test]
        fn byte_profile_is_the_byte_by_byte_count(
            parts in proptest::collection::vec(
                prop_oneof!["[0-9]{1,12}", "[A-Za-z@.:+,;|\t\n ]{1,5}", "[张王中文，。]{1,6}", "é|€|😀"],
                0..24,
            )
        ) {
            let text: String = parts.concat();
            let p = recognizers::needs::profile(&text);
            let (mut classes, mut digits, mut run, mut max_run) = (0u8, 0u32, 0u32, 0u32);
            for c in text.bytes() {
                use recognizers::needs::*;
                classes |= match c {
                    b'0'..=b'9' => DIGIT,
                    b'A'..=b'Z' => UPPER,
                    b'@' => AT,
                    b'.' => DOT,
                    b':' => COLON,
                    b'+' => PLUS,
                    b',' | b'\t' | b';' | b'|' => ROW,
                    b'\n' => NEWLINE,
                    _ => 0,
                };
                if c.is_ascii_digit() {
                    digits += 1;
                    run += 1;
                    max_run = max_run.max(run);
                } else {
                    run = 0;
                }
            }
            prop_assert_eq!((p.classes, p.digits, p.max_run), (classes, digits, max_run));
        }
    }

    #[test]
    fn digit_rules_search_windows_around_digits_in_long_text() {
        let pad = "今天天气很好，我们去公园散步。".repeat(200);
        let text = format!(
            "{pad}我的电话是13812345678。{pad} Date of birth: September 5th, 1990. {pad} IBAN GB82 WEST 1234 5698 7654 32 {pad}"
        );
        let f = found(&text);
        assert!(f.contains(&(EntityType::Phone, "13812345678")), "{f:?}");
        assert!(
            f.contains(&(EntityType::DateOfBirth, "September 5th, 1990")),
            "{f:?}"
        );
        assert!(
            f.contains(&(EntityType::Iban, "GB82 WEST 1234 5698 7654 32")),
            "{f:?}"
        );
        let w = digit_windows(&text);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w.iter().map(|w| w.hi - w.lo).sum::<usize>() < text.len() / 20);
        assert_eq!(w[0].digits, 11);
        assert_eq!(w[0].max_run, 11);
        assert_eq!((w[2].digits, w[2].max_run), (16, 4));
        assert!(digit_windows("没有数字").is_empty());
    }

    fn found(text: &str) -> Vec<(EntityType, &str)> {
        let det = Detector::new(&DetectConfig::default());
        let mut out = Vec::new();
        det.detect(text, &mut out);
        out.iter()
            .map(|d| (d.entity, &text[d.start..d.end]))
            .collect()
    }

    fn only(text: &str, t: EntityType) -> Vec<&str> {
        found(text)
            .into_iter()
            .filter(|(e, _)| *e == t)
            .map(|(_, s)| s)
            .collect()
    }

    use EntityType as T;

    #[test]
    fn names_round_trip() {
        for t in EntityType::ALL {
            assert_eq!(EntityType::parse(t.as_str()), Some(t));
            assert_eq!(t.to_string(), t.as_str());
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(EntityType::parse("phone"), None);
        let sensitive: Vec<_> = EntityType::ALL
            .into_iter()
            .filter(|t| t.is_sensitive())
            .collect();
        assert_eq!(
            sensitive,
            [T::CnIdCard, T::BankCard, T::Passport, T::UsSsn, T::Iban]
        );
    }

    /// Names with diacritics are read whole (through the folded shadow), where the
    /// ASCII name scan cut them at the accent and left the rest in the text.
    #[test]
    fn names_with_diacritics_are_found_whole() {
        for (text, name) in [
            ("I spoke with José García about the invoice.", "José García"),
            ("Hans Müller lives in Leeds.", "Hans Müller"),
            (
                "Our courier Łukasz Wiśniewski delivered it.",
                "Łukasz Wiśniewski",
            ),
            ("Björn Ødegaard signed for the parcel.", "Björn Ødegaard"),
            ("患者 Zoë Saldaña 的电话是13812345678。", "Zoë Saldaña"),
        ] {
            assert_eq!(only(text, T::Person), [name], "{text}");
        }
        assert_eq!(
            only("write to josé.garcía@example.com", T::Email),
            ["josé.garcía@example.com"]
        );
    }

    /// Text in traditional characters is read through its simplified shadow: names,
    /// addresses and phone numbers from Taiwan and Hong Kong, tagged as written.
    #[test]
    fn traditional_chinese_is_read_as_simplified() {
        let text = "聯絡人：陳志明，手機：0912345678，地址：10617臺北市大安區羅斯福路四段1號之3。";
        assert_eq!(only(text, T::Person), ["陳志明"]);
        assert_eq!(only(text, T::Phone), ["0912345678"]);
        assert_eq!(
            only(text, T::Address),
            ["10617臺北市大安區羅斯福路四段1號之3"]
        );
        for (text, name) in [
            ("感謝張志明老師的幫助！", "張志明"),
            ("據彭美蘭回憶，當時現場有十幾個人。", "彭美蘭"),
            ("我媽叫呂淑芬，她今年六十歲。", "呂淑芬"),
        ] {
            assert_eq!(only(text, T::Person), [name], "{text}");
        }
        // Ten digits from 09 are a Taiwan mobile only after a cue.
        assert!(only("訂單編號0912345678已出貨", T::Phone).is_empty());
        assert!(only("订单编号0912345678已发货", T::Phone).is_empty());
    }

    /// A number in any layout right after a phone label is a phone number (local
    /// numbers without an area code, other countries' layouts), and a label before a
    /// colon is no speaker's name; France's five pairs need no label.
    #[test]
    fn phones_after_a_label_and_in_other_layouts() {
        for (text, phone) in [
            ("电话：62345678", "62345678"),
            ("聯絡電話：2345 6789", "2345 6789"),
            ("Telefon: 030 12345678", "030 12345678"),
            ("Móvil: 612 34 56 78", "612 34 56 78"),
            ("Mobile: 98765 43210", "98765 43210"),
            ("Telefone: (11) 98765-4321", "(11) 98765-4321"),
            ("Tel: 86-21-6234-5678", "86-21-6234-5678"),
            ("Telephone number: 7946 0958", "7946 0958"),
            ("电话号码：62345678", "62345678"),
            ("Appelez-moi au 06 12 34 56 78 demain.", "06 12 34 56 78"),
            ("Tél : 01.42.68.53.00", "01.42.68.53.00"),
        ] {
            assert_eq!(only(text, T::Phone), [phone], "{text}");
            assert!(only(text, T::Person).is_empty(), "{text}");
        }
        for text in [
            "Tel 2024-03-12 meeting",
            "Phone model 1234567 is sold out",
            "Intel 12345678 chip",
            "Hotel 1234567 rooms",
            "订单号码：12345678",
            "电话会议 20240312 开始",
        ] {
            assert!(only(text, T::Phone).is_empty(), "{text}");
        }
    }

    /// Eleven digits in one run after a label (5 + 5 + 1 in the label rule's groups)
    /// are a phone number like ten or twelve are.
    #[test]
    fn eleven_digits_after_a_label() {
        for (text, phone) in [
            ("电话：41923674148", "41923674148"),
            ("联系电话92671143323。", "92671143323"),
            ("Tel: 41923674148", "41923674148"),
            ("电话：4192367414", "4192367414"),
            ("电话：419236741481", "419236741481"),
        ] {
            assert_eq!(only(text, T::Phone), [phone], "{text}");
        }
    }

    /// A name inside an address is the street's (`7 John Lane`: `Lane` is a surname);
    /// the address takes it whole, with the UK's street types (`Glade`, `Wood`).
    #[test]
    fn a_name_inside_an_address_is_the_address() {
        for (text, address) in [
            ("He lives at 7 John Lane and can be reached.", "7 John Lane"),
            (
                "Ship it to 4 Langworth Glade Suite 410, please.",
                "4 Langworth Glade Suite 410",
            ),
            ("Send it to 36 Witting Wood, thanks.", "36 Witting Wood"),
            ("Ship it to 1 Destiny Green, please.", "1 Destiny Green"),
        ] {
            assert_eq!(only(text, T::Address), [address], "{text}");
            assert!(only(text, T::Person).is_empty(), "{text}");
        }
        assert_eq!(
            only("Dear John Lane, your order shipped.", T::Person),
            ["John Lane"]
        );
    }

    /// A number in any layout after a verb of calling (`recognizers::call_before`):
    /// `call`, `dial`, `text`, alone or with a person and a preposition; `reach`,
    /// `contact` and `ring` only with both. Or with a label after it that ends the line
    /// or clause (`recognizers::label_after`), as signature blocks write it.
    #[test]
    fn phones_after_a_verb_of_calling_or_before_a_label() {
        for (text, phone) in [
            ("You can call 77 611 795", "77 611 795"),
            ("Can someone call me on 96 463933? Thanks", "96 463933"),
            (
                "How can we reach you? You can call 53-29-14-27",
                "53-29-14-27",
            ),
            ("text me at 0612 345 678 tonight", "0612 345 678"),
            ("Please reach us at 431 3854.", "431 3854"),
            ("Ring me on 07700 900123", "07700 900123"),
            ("Anna Berg\n431 3854 office\n", "431 3854"),
            ("+55 (62) 9976-7986 fax", "+55 (62) 9976-7986"),
            ("568 764 251-Office", "568 764 251"),
            ("Call 555 1234 (home)", "555 1234"),
        ] {
            assert_eq!(only(text, T::Phone), [phone], "{text}");
        }
        for text in [
            "We want to reach 1000000 users",
            "Recall 1234567 units",
            "call 2024-03-12 meeting",
            "the ring 12345678 is lost",
            "We have 1234567 mobile users",
            "Order 12345678 home.",
        ] {
            assert!(only(text, T::Phone).is_empty(), "{text}");
        }
    }

    /// The user's deny and allow lists read the text as written, not its folded
    /// shadow: a term with an accent still matches in a text that has one.
    #[test]
    fn user_lists_read_accented_text_as_written() {
        let det = Detector::try_new(&DetectConfig {
            deny: vec![(T::Person, vec!["Projekt Größe".to_string()])],
            allow: vec!["José Martí Airport".to_string()],
            ..DetectConfig::default()
        })
        .unwrap();
        let text = "Projekt Größe lands at José Martí Airport, says Renée Lefèvre.";
        let mut out = Vec::new();
        det.detect(text, &mut out);
        let spans: Vec<&str> = out.iter().map(|d| &text[d.start..d.end]).collect();
        assert_eq!(spans, ["Projekt Größe", "Renée Lefèvre"], "{out:?}");
    }

    #[test]
    fn detector_is_shareable() {
        fn assert_send_sync<X: Send + Sync>() {}
        assert_send_sync::<Detector>();
    }

    #[test]
    fn cn_id_card() {
        assert_eq!(
            only("身份证号11010519491231002X，请核对", T::CnIdCard),
            ["11010519491231002X"]
        );
        assert_eq!(
            only("id: 11010519491231002x.", T::CnIdCard),
            ["11010519491231002x"]
        );
        // Wrong check digit; impossible region; part of a longer run.
        assert!(only("110105194912310021", T::CnIdCard).is_empty());
        assert!(only("990105194912310021", T::CnIdCard).is_empty());
        assert!(only("211010519491231002X", T::CnIdCard).is_empty());
        assert!(only("11010519491231002X5", T::CnIdCard).is_empty());
        // Legacy 15 digits: only after a context word.
        assert_eq!(
            only("身份证：110105491231002", T::CnIdCard),
            ["110105491231002"]
        );
        assert!(only("订单 110105491231002", T::CnIdCard).is_empty());
        // Grouped 6-8-4, with spaces or hyphens; a wrong check digit still fails.
        assert_eq!(
            only("证件号 110105 19491231 002X 已登记", T::CnIdCard),
            ["110105 19491231 002X"]
        );
        assert_eq!(
            only("110105-19491231-002X", T::CnIdCard),
            ["110105-19491231-002X"]
        );
        assert!(only("110105 19491231 0021", T::CnIdCard).is_empty());
    }

    #[test]
    fn person_names_need_context() {
        assert_eq!(only("联系人：王芳超，电话", T::Person), ["王芳超"]);
        assert_eq!(only("客户张伟说他没收到", T::Person), ["张伟"]);
        assert_eq!(only("请转告赵玲女士尽快回电", T::Person), ["赵玲"]);
        assert_eq!(only("3004室，范思晨收，电话", T::Person), ["范思晨"]);
        assert_eq!(only("我叫欧阳娜娜。", T::Person), ["欧阳娜娜"]);
        assert_eq!(
            only("My name is Chloe Walker and I", T::Person),
            ["Chloe Walker"]
        );
        assert_eq!(
            only("Please contact Jessica Q. Garcia at once", T::Person),
            ["Jessica Q. Garcia"]
        );
        assert_eq!(only("Dear Mr. O'Brien,", T::Person), ["O'Brien"]);
        assert_eq!(
            only("Signed, Hannah McDonald.", T::Person),
            ["Hannah McDonald"]
        );
        // No context: surnames that are ordinary words, capitalised words, weekdays.
        assert!(only("上周三收到短信说要退货", T::Person).is_empty());
        assert!(only("周末收到短信", T::Person).is_empty());
        assert!(only("王者荣耀很好玩", T::Person).is_empty());
        assert!(only("The Great Wall is long", T::Person).is_empty());
        assert!(only("Hi Team, the New York office", T::Person).is_empty());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            only(
                "收件人邓云，地址青岛市崂山区海尔路234号翠湖小区6栋2单元1502室，电话",
                T::Address
            ),
            ["青岛市崂山区海尔路234号翠湖小区6栋2单元1502室"]
        );
        assert_eq!(
            only("寄到广东省广州市天河区中山五路633号。", T::Address),
            ["广东省广州市天河区中山五路633号"]
        );
        assert_eq!(
            only("上海市黄浦区世纪大道796号19号楼706室", T::Address),
            ["上海市黄浦区世纪大道796号19号楼706室"]
        );
        assert_eq!(
            only(
                "Ship to 5711 Sunset St, Brooklyn, NY 11290 please",
                T::Address
            ),
            ["5711 Sunset St, Brooklyn, NY 11290"]
        );
        assert_eq!(
            only("at Flat 13, 95B York Avenue, Leeds LS1 8DE.", T::Address),
            ["Flat 13, 95B York Avenue, Leeds LS1 8DE"]
        );
        // A number with 号 but no road, and prose with numbers, are not addresses.
        assert!(only("订单3号已发货", T::Address).is_empty());
        assert!(only("I bought 3 Red Apples today", T::Address).is_empty());
    }

    #[test]
    fn date_of_birth_needs_context() {
        assert_eq!(
            only("出生日期：1990年3月3日，籍贯北京", T::DateOfBirth),
            ["1990年3月3日"]
        );
        assert_eq!(only("生日是1997-05-26。", T::DateOfBirth), ["1997-05-26"]);
        assert_eq!(
            only("DOB: 03/04/1985, member since 2020", T::DateOfBirth),
            ["03/04/1985"]
        );
        assert_eq!(
            only("He was born on March 3rd, 1990 in Leeds", T::DateOfBirth),
            ["March 3rd, 1990"]
        );
        assert_eq!(only("born 3 March 1990", T::DateOfBirth), ["3 March 1990"]);
        // Dates without birth context, and impossible dates, are not dates of birth.
        assert!(only("订单日期2024-05-26，金额1990元", T::DateOfBirth).is_empty());
        assert!(only("出生日期：1990-02-30", T::DateOfBirth).is_empty());
        assert!(only("DOB 2024-13-01", T::DateOfBirth).is_empty());
    }

    /// A two-digit year is a birth date's only right after a birth-date label.
    #[test]
    fn birth_dates_with_a_two_digit_year() {
        assert_eq!(
            only("出生日期：85年4月12日", T::DateOfBirth),
            ["85年4月12日"]
        );
        assert_eq!(
            only("Patient DOB: 04/12/85. Seen today.", T::DateOfBirth),
            ["04/12/85"]
        );
        assert_eq!(only("Date of birth 4.12.85", T::DateOfBirth), ["4.12.85"]);
        for text in [
            "会议定于24年5月12日召开",
            "shipped 04/12/85 to the depot",
            "DOB: 13/13/85",
            "出生日期：1985年4月12日",
            "DOB: 04/12/1985",
            "born in Leeds, moved on 04/12/85",
        ] {
            let found = only(text, T::DateOfBirth);
            assert!(found.iter().all(|d| d.len() > 8), "{text}: {found:?}");
        }
    }

    #[test]
    fn birth_date_cue_binds_to_the_nearest_date() {
        assert_eq!(
            only("born 1990-03-05, joined on 2015-06-01", T::DateOfBirth),
            ["1990-03-05"]
        );
        assert_eq!(
            only("出生日期1988年5月2日，2019年3月1日入职", T::DateOfBirth),
            ["1988年5月2日"]
        );
    }

    #[test]
    fn birth_dates_in_table_columns_and_after_names() {
        let csv = "name,dob,phone\nAnna Berg,1984-07-12,555-0100\nLi Wei,1990-01-02,555-0101";
        assert_eq!(only(csv, T::DateOfBirth), ["1984-07-12", "1990-01-02"]);
        let zh = "姓名|出生日期|入职日期\n王芳|1988年5月2日|2019年3月1日";
        assert_eq!(only(zh, T::DateOfBirth), ["1988年5月2日"]);
        // Another column holds a date: not a birth date.
        let orders = "order,shipped,amount\nA-17,2024-05-01,30.00";
        assert!(only(orders, T::DateOfBirth).is_empty());
        assert_eq!(
            only(
                "Maria Lopez (03/14/1962) presented with a cough.",
                T::DateOfBirth
            ),
            ["03/14/1962"]
        );
        assert_eq!(
            only("患者张伟（1990年1月1日）今日复诊", T::DateOfBirth),
            ["1990年1月1日"]
        );
        assert!(only("Release notes (2024-05-01) are online.", T::DateOfBirth).is_empty());
        assert_eq!(
            only("张伟，男，1990年3月5日，汉族", T::DateOfBirth),
            ["1990年3月5日"]
        );
        assert_eq!(
            only("他是1988年6月1日生的", T::DateOfBirth),
            ["1988年6月1日"]
        );
        assert_eq!(
            only("Ana Ruiz (b. 1978-11-17) is a painter", T::DateOfBirth),
            ["1978-11-17"]
        );
        assert!(only("男女混合赛于2024年5月1日开始", T::DateOfBirth).is_empty());
        assert_eq!(
            only("出生日期：\n1990-03-05\n电话", T::DateOfBirth),
            ["1990-03-05"]
        );
        assert_eq!(
            only("Date of Birth\n5 March 1990", T::DateOfBirth),
            ["5 March 1990"]
        );
        assert!(only("Date of Birth\nsee file\n2024-05-01", T::DateOfBirth).is_empty());
        assert_eq!(
            only("Payroll card: 676287668492.", T::BankCard),
            ["676287668492"]
        );
        assert!(only("Order 676287668492 shipped", T::BankCard).is_empty());
    }

    #[test]
    fn birth_dates_by_layout_and_by_age() {
        fn dob(t: &str) -> Vec<&str> {
            only(t, T::DateOfBirth)
        }
        // An answer to a question about the birth date.
        assert_eq!(
            dob("Agent: Your date of birth, please?\nCaller: Sure, it's 06/23/1984."),
            ["06/23/1984"]
        );
        assert_eq!(
            dob("问：您的出生日期是？\n答：1990年3月5日。"),
            ["1990年3月5日"]
        );
        // A lifespan: the first date of a range near words of death.
        assert_eq!(
            dob("Ann Lee (1941-08-28 – Dec 26, 2020) passed away peacefully."),
            ["1941-08-28"]
        );
        assert!(dob("Project (2019-08-28 – 2020-12-26) closed on time.").is_empty());
        // An age beside the date, a sex (and ethnicity) before it.
        assert_eq!(
            dob("患者王伟，2001/11/27（24岁），因咳嗽就诊。"),
            ["2001/11/27"]
        );
        assert_eq!(
            dob("原告：李娜，女，汉族，2009.1.18，住北京市"),
            ["2009.1.18"]
        );
        assert_eq!(
            dob("Subject: Joe Bloggs, W/M, 3/4/2009, last seen"),
            ["3/4/2009"]
        );
        // A long label ending in a colon, a fixed-width column, pinyin keys.
        assert_eq!(
            dob("Please enter your date of birth exactly as it appears on your passport (DD/MM/YYYY): 01/03/2009"),
            ["01/03/2009"]
        );
        assert_eq!(
            dob("Name          DOB            Joined\nAnn Lee       30 Sep 2009    2 Jan 2024"),
            ["30 Sep 2009"]
        );
        assert_eq!(dob("name=王伟 csrq=2009-05-21"), ["2009-05-21"]);
        // A closing tag is not a cue for the next date; a value line is not a header.
        assert_eq!(
            dob("<dob>2009-03-05</dob><visit>2024-02-03</visit>"),
            ["2009-03-05"]
        );
        assert_eq!(
            dob("D.O.B. March 5, 2009\nAdmitted: Apr. 29, 2026"),
            ["March 5, 2009"]
        );
        // A full date 16 years old or more in a text about a person, without a cue.
        assert_eq!(dob("Ann Lee, 1975-03-02, ann@example.com"), ["1975-03-02"]);
        assert_eq!(dob("我1982年5月6日那天在北京"), ["1982年5月6日"]);
        // Not without a person, not after an event word, not a recent date.
        assert!(dob("The 1975-03-02 edition is out of print.").is_empty());
        assert!(dob("Ann Lee founded the firm on 1975-03-02.").is_empty());
        assert!(dob("Ann Lee, 2024-03-02, ann@example.com").is_empty());
    }

    #[test]
    fn twelve_digit_maestro_cards() {
        // Luhn-valid under a Maestro prefix: a card without a cue.
        assert_eq!(
            only("Please refund to 675934906784 today.", T::BankCard),
            ["675934906784"]
        );
        // Another 12-digit Luhn-valid number needs a card cue, and a Maestro-like one
        // named as an order is an order number.
        assert!(only("Order 123456789015 shipped.", T::BankCard).is_empty());
        assert!(only("Invoice 675934906784 paid.", T::BankCard).is_empty());
        assert_eq!(
            only("card number 123456789015", T::BankCard),
            ["123456789015"]
        );
    }

    #[test]
    fn lone_names_by_what_surrounds_them() {
        fn person(t: &str) -> Vec<&str> {
            only(t, T::Person)
        }
        assert_eq!(
            person("Huge thanks to Ann Lee, Bradley and Tom Hicks."),
            ["Ann Lee", "Bradley", "Tom Hicks"]
        );
        assert_eq!(person("Agent: Thank you, Karima."), ["Karima"]);
        assert_eq!(
            person("通知：请王伟、双卫两位同事于4月7号前到人事部。"),
            ["王伟", "双卫"]
        );
        assert_eq!(person("Tiny and I are driving up on Friday."), ["Tiny"]);
        // Surnames with an apostrophe, in either case after it.
        assert_eq!(
            person("Yesterday I met Myrta O'brien at the station."),
            ["Myrta O'brien"]
        );
        assert_eq!(
            person("Yesterday I met Brendan O'Connor at the station."),
            ["Brendan O'Connor"]
        );
        assert_eq!(
            person("Harrington opened the scoring before Jenkins equalised."),
            ["Harrington", "Jenkins"]
        );
        assert!(
            person("This Agreement is made between Martin and Sons and Ann Lee.")
                .iter()
                .all(|n| *n != "Sons")
        );
    }

    #[test]
    fn birth_cue_after_the_date() {
        assert_eq!(
            only(
                "March 5, 1990 is my birthday! Ordered on 2024-01-02",
                T::DateOfBirth
            ),
            ["March 5, 1990"]
        );
        assert_eq!(
            only("joined 2015-06-01, born 1990-03-05", T::DateOfBirth),
            ["1990-03-05"]
        );
    }

    #[test]
    fn allow_list_and_per_type_thresholds() {
        let text = "客服热线 400-820-8820，王先生的手机 13812345678";
        let det = Detector::new(&DetectConfig {
            allow: vec!["400-820-8820".into()],
            ..DetectConfig::default()
        });
        let mut out = Vec::new();
        det.detect(text, &mut out);
        let phones: Vec<&str> = out
            .iter()
            .filter(|d| d.entity == T::Phone)
            .map(|d| &text[d.start..d.end])
            .collect();
        assert_eq!(phones, ["13812345678"]);
        // Without the allow-list the hotline is a phone number.
        assert_eq!(only(text, T::Phone), ["400-820-8820", "13812345678"]);
        // A per-type threshold above every PHONE score drops phones only.
        let det = Detector::new(&DetectConfig {
            min_scores: vec![(T::Phone, 0.99)],
            ..DetectConfig::default()
        });
        det.detect("mail a@b.cn, call 13812345678", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entity, T::Email);
    }

    #[test]
    fn north_american_layouts() {
        for p in [
            "(212)555-1234",
            "212.555.1234",
            "+1-212-555-1234",
            "001-212-555-1234x567",
            "(483)587-3806x95604",
            "556.450.8899x5790",
            "212-555-1234 ext. 89",
        ] {
            let text = format!("reach me at {p} today");
            assert_eq!(only(&text, T::Phone), [p], "{p}");
        }
    }

    #[test]
    fn id_card_is_not_also_a_card() {
        // 11010519491231002X is not Luhn-valid, so use one that is both.
        let both = (0..1000u32)
            .map(|n| format!("44010619900115{n:03}"))
            .flat_map(|p| "0123456789X".chars().map(move |c| format!("{p}{c}")))
            .find(|s| validators::cn_id18(s) && validators::luhn(s))
            .unwrap();
        assert_eq!(found(&both), [(T::CnIdCard, both.as_str())]);
    }

    #[test]
    fn the_tail_of_a_grouped_number_is_not_a_phone() {
        let t = "Customer called again about tracking number 9400 0389 8783 0374 9355 79.";
        assert!(
            found(t).iter().all(|f| f.0 != EntityType::Phone),
            "{:?}",
            found(t)
        );
        assert!(found("Call me on 020 7946 0958.").contains(&(EntityType::Phone, "020 7946 0958")));
    }

    #[test]
    fn bare_numbers_in_contact_lines_and_signatures_are_phones() {
        let sig = "Thanks for the quick turnaround.\n\n—\nAnn Lee\n9402633746";
        assert!(
            found(sig).contains(&(EntityType::Phone, "9402633746")),
            "{:?}",
            found(sig)
        );
        let line = "Ann Lee · 9402633746 · ann@example.com";
        assert!(found(line).contains(&(EntityType::Phone, "9402633746")));
        // An order number is not a phone because an e-mail address is near it.
        let order = "About order PO 4546462862, please confirm the email, ann@example.com.";
        assert!(
            found(order).iter().all(|f| f.0 != EntityType::Phone),
            "{:?}",
            found(order)
        );
        // The window around the number is cut at character boundaries.
        let zh =
            "联系方式 ann@example.com 中文中文 9402633746 中文中文中文中文中文中文中文中文中文中文";
        let _ = found(zh);
    }

    #[test]
    fn phone() {
        assert_eq!(only("电话13812345678联系", T::Phone), ["13812345678"]);
        assert_eq!(
            only("手机：+86 138-1234-5678。", T::Phone),
            ["+86 138-1234-5678"]
        );
        assert_eq!(only("0086 13812345678", T::Phone), ["0086 13812345678"]);
        assert_eq!(only("138 1234 5678", T::Phone), ["138 1234 5678"]);
        assert_eq!(
            only("座机010-12345678，深圳0755-1234567", T::Phone),
            ["010-12345678", "0755-1234567"]
        );
        assert_eq!(only("(021)12345678", T::Phone), ["(021)12345678"]);
        assert_eq!(only("电话（010）12345678", T::Phone), ["（010）12345678"]);
        assert_eq!(only("号码008613812345678", T::Phone), ["008613812345678"]);
        assert_eq!(
            only("call (212) 555-1234 or 212-555-1234", T::Phone),
            ["(212) 555-1234", "212-555-1234"]
        );
        assert_eq!(only("+1 212 555 1234", T::Phone), ["+1 212 555 1234"]);
        assert_eq!(
            only("+44 20 7946 0958 / 020 7946 0958", T::Phone),
            ["+44 20 7946 0958", "020 7946 0958"]
        );
        // 11 digits not starting with 1; a mobile inside a longer run; too short.
        assert!(only("编号23812345678", T::Phone).is_empty());
        assert!(only("12313812345678999", T::Phone).is_empty());
        assert!(only("价格 1380 元", T::Phone).is_empty());
        assert!(only("2024-01-15", T::Phone).is_empty());
    }

    #[test]
    fn bank_card() {
        assert!(validators::luhn("6222021234567890128"));
        assert_eq!(
            only("卡号6222021234567890128已冻结", T::BankCard),
            ["6222021234567890128"]
        );
        assert_eq!(
            only("我的手机号是+8613812345678", T::BankCard),
            [] as [&str; 0]
        );
        assert_eq!(
            only("我的手机号是+8613812345678", T::Phone),
            ["+8613812345678"]
        );
        assert_eq!(
            only("card 4012 8888 8888 1881, thanks", T::BankCard),
            ["4012 8888 8888 1881"]
        );
        assert_eq!(
            only("4012-8888-8888-1881", T::BankCard),
            ["4012-8888-8888-1881"]
        );
        assert_eq!(
            only("卡号：4012888888881881。", T::BankCard),
            ["4012888888881881"]
        );
        // A short trailing group belongs to the text, not the card.
        assert_eq!(
            only("4012 8888 8888 1881 12 items", T::BankCard),
            ["4012 8888 8888 1881"]
        );
        // Luhn-invalid order number; inside a longer run.
        assert!(only("订单号4012888888881882", T::BankCard).is_empty());
        assert!(only("94012888888881881", T::BankCard).is_empty());
        // Luhn-valid, but 13 digits from 1: an epoch-millisecond timestamp.
        assert!(only("ts=1748503543012", T::BankCard).is_empty());
        // Luhn-invalid UnionPay number rescued by a context word, at a lower score.
        let det = Detector::new(&DetectConfig::default());
        let mut out = Vec::new();
        det.detect("银行卡号 6222021234567890123", &mut out);
        assert!(!validators::luhn("6222021234567890123"));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].entity, out[0].score), (T::BankCard, 0.6));
        det.detect("流水号 6222021234567890123", &mut out);
        assert!(out.iter().all(|d| d.entity != T::BankCard));
    }

    #[test]
    fn email() {
        assert_eq!(
            only("邮箱zhang@example.com，谢谢", T::Email),
            ["zhang@example.com"]
        );
        assert_eq!(
            only("mail a.b+c@mail.example.com.cn.", T::Email),
            ["a.b+c@mail.example.com.cn"]
        );
        assert_eq!(
            only("a@xn--d1acufc.xn--p1ai", T::Email),
            ["a@xn--d1acufc.xn--p1ai"]
        );
        assert!(only("info@presidio.", T::Email).is_empty());
        assert!(only("hello-world", T::Email).is_empty());
    }

    #[test]
    fn url() {
        assert_eq!(
            only("访问https://example.com/a?b=1。谢谢", T::Url),
            ["https://example.com/a?b=1"]
        );
        assert_eq!(
            only("see (http://example.com/x).", T::Url),
            ["http://example.com/x"]
        );
        assert_eq!(only("网址www.example.cn，", T::Url), ["www.example.cn"]);
        assert_eq!(
            only("microsoft.com and google.co.il", T::Url),
            ["microsoft.com", "google.co.il"]
        );
        assert!(only("www.microsoft", T::Url).is_empty());
        assert!(only("http://microsoft", T::Url).is_empty());
        assert!(only("see main.rs and report.pdf, e.g. this", T::Url).is_empty());
        assert!(only(&".".repeat(3000), T::Url).is_empty());
    }

    #[test]
    fn ip_address() {
        assert_eq!(
            only("登录IP为117.128.79.146。", T::IpAddress),
            ["117.128.79.146"]
        );
        assert_eq!(only("IP: 192.168.1.1.", T::IpAddress), ["192.168.1.1"]);
        assert_eq!(
            only("10.0.0.0/8 and 10.0.0.0/123", T::IpAddress),
            ["10.0.0.0/8", "10.0.0.0"]
        );
        assert!(only("version 1.2.3.4.5", T::IpAddress).is_empty());
        assert!(only("256.1.1.1", T::IpAddress).is_empty());
        assert!(only("IP192.168.1.1text", T::IpAddress).is_empty());
        assert_eq!(only("地址fe80::1%eth0，", T::IpAddress), ["fe80::1%eth0"]);
        assert_eq!(only("::ffff:192.0.2.1", T::IpAddress), ["::ffff:192.0.2.1"]);
        assert_eq!(only("[2001:db8::1]:8080", T::IpAddress), ["2001:db8::1"]);
        assert_eq!(only("Gateway:fe80::1 up", T::IpAddress), ["fe80::1"]);
        assert!(only("src=:: std::cout aa:bb:cc:dd:ee:ff 12:34:56", T::IpAddress).is_empty());
    }

    #[test]
    fn uscc() {
        assert_eq!(
            only("统一社会信用代码：91350100M000100Y43。", T::CnUscc),
            ["91350100M000100Y43"]
        );
        assert_eq!(
            only("代码914403001922038216", T::CnUscc),
            ["914403001922038216"]
        );
        assert!(only("91350100M000100Y44", T::CnUscc).is_empty());
        assert!(only("A91350100M000100Y43", T::CnUscc).is_empty());
    }

    #[test]
    fn license_plate() {
        assert_eq!(only("车牌京A·12345违章", T::CnLicensePlate), ["京A·12345"]);
        assert_eq!(only("粤B D12345 新能源", T::CnLicensePlate), ["粤B D12345"]);
        assert_eq!(only("沪A12345D", T::CnLicensePlate), ["沪A12345D"]);
        assert!(only("京A1234567", T::CnLicensePlate).is_empty());
        assert!(only("京AABCDE", T::CnLicensePlate).is_empty());
        assert!(
            only("京A123456", T::CnLicensePlate).is_empty(),
            "6 chars need D/F"
        );
        // The gate reads a province character as three UTF-8 bytes before the letter.
        for p in recognizers::PLATE_PROVINCES.chars() {
            assert_eq!(p.len_utf8(), 3);
            assert!(
                recognizers::gates::province_letter(&format!("ab{p}C")),
                "{p}"
            );
        }
        assert!(!recognizers::gates::province_letter("abcD 中E"));
    }

    proptest::proptest! {
        /// The plate gate passes over the capitals that follow ASCII: it still says
        /// exactly whether a province character is followed by a capital, on text
        /// mixing provinces, other Chinese, capitals, tags and punctuation.
        #[test]
        fn province_letter_is_a_province_then_a_capital(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "京", "粤", "沪", "中", "的", "A", "B", "Z", "a", "1", " ", "<PERSON>",
                    "<CN_ID_CARD>", "，", "é", "😀", "_",
                ]),
                0..24,
            )
        ) {
            let text: String = pieces.concat();
            let chars: Vec<char> = text.chars().collect();
            let want = chars.windows(2).any(|w| {
                recognizers::PLATE_PROVINCES.contains(w[0]) && w[1].is_ascii_uppercase()
            });
            proptest::prop_assert_eq!(recognizers::gates::province_letter(&text), want, "{}", text);
        }
    }

    #[test]
    fn passport() {
        assert_eq!(only("护照号码：E12345678", T::Passport), ["E12345678"]);
        assert_eq!(only("Passport No. G12345678.", T::Passport), ["G12345678"]);
        assert!(only("批次E12345678", T::Passport).is_empty());
        // The travel permits for Hong Kong, Macao and Taiwan.
        assert_eq!(only("港澳通行证 C12345678", T::Passport), ["C12345678"]);
        assert_eq!(only("台胞证号码：T12345678", T::Passport), ["T12345678"]);
        let det = Detector::new(&DetectConfig {
            min_score: 0.2,
            ..DetectConfig::default()
        });
        let mut out = Vec::new();
        det.detect("批次E12345678", &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].score < 0.5);
    }

    #[test]
    fn us_ssn() {
        assert_eq!(only("SSN 078-05-1123", T::UsSsn), ["078-05-1123"]);
        assert_eq!(only("abc 078 05 1123 abc", T::UsSsn), ["078 05 1123"]);
        assert_eq!(only("social security: 078051123", T::UsSsn), ["078051123"]);
        assert!(only("078051123", T::UsSsn).is_empty());
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "078-00-1123",
            "078-05-0000",
            "693-09.4444",
            "123-45-6789",
            "078-05-1120",
        ] {
            assert!(only(bad, T::UsSsn).is_empty(), "{bad}");
        }
        // Never issued, but written where an SSN goes: after the cue they are one.
        for text in [
            "SSN: 123-45-6789",
            "Social Security No. 219-09-9999",
            "SSN 912-70-1234",
        ] {
            assert_eq!(only(text, T::UsSsn).len(), 1, "{text}");
        }
        assert!(only("SSN: 000-12-3456", T::UsSsn).is_empty());
    }

    /// An international number in brackets ends before the closing bracket; a bracket
    /// the number opened itself still closes its area code only.
    #[test]
    fn international_numbers_in_brackets() {
        assert_eq!(
            only(
                "Contact Ms. Priya Sharma (priya@example.in, +91 98765 43210)",
                T::Phone
            ),
            ["+91 98765 43210"]
        );
        assert_eq!(
            only("Office (+44 20 7946 0958)", T::Phone),
            ["+44 20 7946 0958"]
        );
        assert_eq!(
            only("Call +1 (415) 555-0134 now", T::Phone),
            ["+1 (415) 555-0134"]
        );
    }

    #[test]
    fn iban() {
        assert_eq!(
            only("IBAN: DE89 3704 0044 0532 0130 00。", T::Iban),
            ["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(
            only("账户GB29NWBK60161331926819转账", T::Iban),
            ["GB29NWBK60161331926819"]
        );
        assert_eq!(
            only("VG96 VPVG 0000 0123 4567 8901 X", T::Iban),
            ["VG96 VPVG 0000 0123 4567 8901"]
        );
        assert!(only("DE89 3704 0044 0532 0130 01", T::Iban).is_empty());
        assert!(only("AT61 1904 A002 3457 3201", T::Iban).is_empty());
        assert!(only("AL47/2121/1009/0000/0002/3569/8741", T::Iban).is_empty());
    }

    #[test]
    fn hard_negatives() {
        for text in [
            "订单号 202401150001234567 已发货",
            "价格 ¥1,299.00，日期 2024-01-15 12:30:00",
            "version 1.2.3.4.5 released 2023/12/01",
            "Total: 3.14159, ratio 1:2:3:4",
            "没有任何个人信息的中文句子。",
            "批号 12345678901234",
        ] {
            assert_eq!(found(text), [], "{text}");
        }
    }

    #[test]
    fn overlap_resolution_order() {
        let mut v = vec![
            Detection {
                entity: T::Phone,
                start: 0,
                end: 11,
                score: 0.6,
            },
            Detection {
                entity: T::BankCard,
                start: 5,
                end: 20,
                score: 0.9,
            },
            Detection {
                entity: T::Url,
                start: 20,
                end: 25,
                score: 0.6,
            },
            Detection {
                entity: T::Email,
                start: 20,
                end: 30,
                score: 0.6,
            },
        ];
        resolve(&mut v);
        let kept: Vec<_> = v.iter().map(|d| d.entity).collect();
        assert_eq!(kept, [T::BankCard, T::Email]);
    }

    #[test]
    fn respects_config() {
        let det = Detector::new(&DetectConfig {
            entities: vec![T::Email],
            ..DetectConfig::default()
        });
        let mut out = vec![Detection {
            entity: T::Url,
            start: 0,
            end: 1,
            score: 1.0,
        }];
        det.detect("13812345678 a@b.cn", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entity, T::Email);
    }

    fn shared_detector() -> &'static Detector {
        static DET: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
        DET.get_or_init(|| Detector::new(&DetectConfig::default()))
    }

    /// Whether `b` has the digits `rule` asks for (`Rule::digits`): a window that
    /// has not is never searched, so its shape is not asked.
    fn fits_digits(rule: &Rule, b: &[u8]) -> bool {
        let runs = recognizers::shapes::runs_of(b);
        let total = runs.iter().map(|r| r.len).sum::<usize>() as u32;
        let longest = runs.iter().map(|r| r.len).max().unwrap_or(0) as u32;
        rule.fits(total, longest)
    }

    /// Known values of every digit type pass the shape of each rule whose pattern
    /// matches them whole (the drawn strings of the test below rarely hold a code with
    /// seven digits in a row, as a credit code does).
    #[test]
    fn shapes_pass_known_values() {
        let det = shared_detector();
        let values = [
            "91350100M000100Y43",
            "91110000600037341L",
            "110101199003074477",
            "110101 19900307 4477",
            "6222020200001234567",
            "4111 1111 1111 1111",
            "138-1234-5678",
            "+86 13812345678",
            "(010) 6552 9988",
            "0755-8888 6666",
            "(212)555-1234",
            "212.555.1234",
            "192.168.10.254",
            "078-05-1120",
            "E12345678",
            "EA1234567",
            "K1234567",
            "GB82WEST12345698765432",
        ];
        let mut checked = 0;
        for v in values {
            for (i, rule) in det.rules.iter().enumerate() {
                let Some(shape) = rule.shape else { continue };
                let whole = det.regexes[i]
                    .find(v)
                    .is_some_and(|m| m.start() == 0 && m.end() == v.len());
                // A bounded rule's shape may use what its check requires (a label
                // before the number): it holds for the values the check accepts.
                let refused = rule.bounded && (rule.check)(v, 0, v.len()).is_none();
                if whole && fits_digits(rule, v.as_bytes()) && !refused {
                    let runs = recognizers::shapes::runs_of(v.as_bytes());
                    assert!(shape(v.as_bytes(), &runs), "{:?} refuses {v}", rule.entity);
                    checked += 1;
                }
            }
        }
        assert!(checked >= values.len(), "only {checked} checked");
    }

    /// Each digit rule's shape (`Rule::shape`) holds for strings its pattern matches
    /// whole with the digits the rule asks for, drawn from the pattern itself. A shape
    /// is only read on windows that contain such a match, and every shape is monotone
    /// (a longer run passes where a shorter one does), so windows that fail it hold no
    /// match.
    #[test]
    fn shapes_hold_for_every_pattern_string() {
        use proptest::test_runner::{Config, TestRunner};
        let det = shared_detector();
        let mut shaped = 0;
        for rule in &det.rules {
            let Some(shape) = rule.shape else { continue };
            shaped += 1;
            let strings = proptest::string::string_regex(&rule.pattern).expect("pattern");
            let mut runner = TestRunner::new(Config::with_cases(3000));
            let result = runner.run(&strings, |s| {
                let b = s.as_bytes();
                prop_assert!(
                    !fits_digits(rule, b)
                        || shape(b, &recognizers::shapes::runs_of(b))
                        || (rule.bounded && (rule.check)(&s, 0, s.len()).is_none()),
                    "{:?} refuses {:?}",
                    rule.entity,
                    s
                );
                Ok(())
            });
            assert!(result.is_ok(), "{result:?}");
        }
        assert!(shaped >= 10, "the digit rules lost their shapes");
    }

    /// Every match of a bounded rule (`Rule::bounded`) in `s`, from every start, that
    /// its check accepts is accepted whole and with no ASCII letter or digit beside it.
    fn bounded_rules_accept_whole_bounded_matches(s: &str) -> Result<(), String> {
        let det = shared_detector();
        let mut bounded = 0;
        for (i, rule) in det.rules.iter().enumerate().filter(|(_, r)| r.bounded) {
            bounded += 1;
            for start in (0..=s.len()).filter(|&p| s.is_char_boundary(p)) {
                let Some(m) = det.regexes[i].find_at(s, start) else {
                    continue;
                };
                if let Some((a, b, _)) = (rule.check)(s, m.start(), m.end()) {
                    if (a, b) != (m.start(), m.end()) || !recognizers::neighbours_ok(s, a, b) {
                        return Err(format!(
                            "rule {i} accepted {:?} from {:?} in {s:?}",
                            &s[a..b],
                            m.as_str()
                        ));
                    }
                }
            }
        }
        if bounded < 6 {
            return Err("the bounded rules lost their flag".into());
        }
        Ok(())
    }

    /// Known values beside letters and digits, and a card whose check drops a trailing
    /// group (a check like that must not be bounded).
    #[test]
    fn bounded_checks_on_known_values() {
        for s in [
            "4012 8888 8888 1881 12 items",
            "SSN 078-05-1121x, SSN 078-05-1121",
            "tel 13812345678 or 138123456789 or +8613812345678",
            "born 1990-03-05, born 1990-03-051, 19900305",
            "passport E12345678 / XE12345678 / EA1234567",
            "phone 2125550134, 01184960727 and 011849607271",
            "tel (010) 6552 9988, 0755-8888 6666, 10755-8888 6666, 0755-88886666123",
        ] {
            bounded_rules_accept_whole_bounded_matches(s).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn detect_is_total_sorted_disjoint(
            s in "(?s)([0-9 .:@/+\\-xX()a-zA-Z%]|[京粤沪A·]|[一-龥]|[😀-🙏]|\\PC){0,80}"
        ) {
            let det = shared_detector();
            let mut out = Vec::new();
            det.detect(&s, &mut out);
            for w in out.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for d in &out {
                prop_assert!(d.start < d.end && d.end <= s.len());
                prop_assert!(s.is_char_boundary(d.start) && s.is_char_boundary(d.end));
                prop_assert!(d.score >= 0.5);
            }
        }

        /// Dense in the characters the recognizers care about, so that candidates,
        /// refusals and overlaps actually happen.
        #[test]
        fn detect_on_id_like_text(
            s in "[0-9 .:/+@%()（）XxA-F京粤·，号-]{0,60}"
        ) {
            let det = shared_detector();
            let mut out = Vec::new();
            det.detect(&s, &mut out);
            for w in out.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for d in &out {
                prop_assert!(s.is_char_boundary(d.start) && s.is_char_boundary(d.end));
                prop_assert!(d.start < d.end && d.score >= 0.5);
            }
        }

        /// Each digit rule's shape holds for every match its pattern finds, from every
        /// start, in text of digit groups, separators and capitals.
        #[test]
        fn shapes_hold_in_found_matches(
            parts in prop::collection::vec(prop_oneof![
                4 => "[0-9]{1,4}",
                1 => "[0-9]{5,19}",
                3 => "[ .:/,-]",
                1 => "(\\+86 |\\+1-|001-|（0|）|\\(|\\)|[A-Z]{1,2}|x|ext\\. |年|号)",
            ], 0..14)
        ) {
            let s = parts.concat();
            let det = shared_detector();
            // Every match the pattern offers from every start (a shape must hold for
            // any of them, whatever the check then decides).
            for (i, rule) in det.rules.iter().enumerate() {
                let Some(shape) = rule.shape else { continue };
                for start in (0..=s.len()).filter(|&p| s.is_char_boundary(p)) {
                    if let Some(m) = det.regexes[i].find_at(&s, start) {
                        let b = &s.as_bytes()[m.start()..m.end()];
                        let refused = || (rule.check)(m.as_str(), 0, m.len()).is_none();
                        prop_assert!(
                            !fits_digits(rule, b)
                                || shape(b, &recognizers::shapes::runs_of(b))
                                || (rule.bounded && refused()),
                            "rule {} ({:?}): shape refuses its match {:?} in {:?}",
                            i, rule.entity, m.as_str(), s
                        );
                    }
                }
            }
        }

        /// The run length by words is the byte-by-byte count, from any place (runs
        /// shorter and longer than a word, ending at the end of the text or at a byte
        /// of a longer character).
        #[test]
        fn digit_run_is_take_while(
            s in "([0-9]{0,20}|[a-z]{0,3}|é|数|/|:|\u{b0}|\u{b9}){0,12}",
            from in 0usize..80,
        ) {
            let b = s.as_bytes();
            let from = from.min(b.len());
            let want = b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
            proptest::prop_assert_eq!(digit_run(b, from), want);
        }

        /// The chunked search finds the first digit the byte-by-byte one does, from
        /// any place (digits before, inside and after a chunk; none at all).
        #[test]
        fn next_digit_is_the_first_digit(
            s in "([a-z]{0,20}|[0-9]|é|数|/|:|\u{b0}|\u{b9}){0,12}",
            from in 0usize..60,
        ) {
            let b = s.as_bytes();
            let from = from.min(b.len());
            let want = b[from..].iter().position(u8::is_ascii_digit).map(|p| from + p);
            proptest::prop_assert_eq!(next_digit(b, from), want);
        }

        /// Each digit rule finds in its narrowed digit windows that pass its shape
        /// what it finds searching the whole text: the margins (`Rule::margins`),
        /// windows and shapes lose nothing its check could accept (for a bounded rule,
        /// `Rule::bounded`, whose shape may use what the check requires: only the
        /// matches the check accepts).
        #[test]
        fn digit_windows_lose_no_match(
            s in "(\\+86 |\\+1-|001-|（0|\\(|\\)|[A-Z]{1,2}|[0-9]{1,19}|19[0-9]{2}|[ .:/,-]|年|月|号|x|X|ext\\. |Sept?\\.? |of |th |born |SSN |passport |tel |甲){0,14}"
        ) {
            let det = shared_detector();
            let windows = digit_windows(&s);
            // Every candidate the pattern offers, as if each check refused it (so the
            // search retries past it): what the windows must not lose.
            let candidates = |i: usize, ranges: &[(usize, usize)]| {
                let (re, mut found, mut pos) = (&det.regexes[i], Vec::new(), 0);
                for &(a, b) in ranges {
                    pos = pos.max(a);
                    while pos <= b {
                        let Some(m) = re.find_at(&s[..b], pos) else { break };
                        found.push((m.start(), m.end()));
                        pos = match det.rules[i].scan {
                            recognizers::Scan::Linear => m.end().max(next_char(&s, m.start())),
                            recognizers::Scan::Retry => skip_run(&s, m.start()),
                        };
                    }
                }
                found
            };
            for (i, rule) in det.rules.iter().enumerate() {
                if rule.needs & recognizers::needs::DIGIT == 0 {
                    continue;
                }
                let fit: Vec<(usize, usize)> = windows
                    .iter()
                    .filter(|w| rule.fits(w.digits, w.max_run) && w.fits_shape(&s, rule))
                    .map(|w| w.narrowed(&s, rule.back, rule.forward))
                    .collect();
                let whole: Vec<(usize, usize)> = candidates(i, &[(0, s.len())])
                    .into_iter()
                    .filter(|&(a, b)| fits_digits(rule, &s.as_bytes()[a..b]))
                    .filter(|&(a, b)| !rule.bounded || (rule.check)(&s, a, b).is_some())
                    .collect();
                let narrowed = candidates(i, &fit);
                for c in &whole {
                    prop_assert!(narrowed.contains(c), "rule {} lost {:?} in {:?}", i, c, s);
                }
            }
        }

        /// A bounded rule's check (`Rule::bounded`) accepts a match only whole and with
        /// no ASCII letter or digit right before or after it: the premise of its exact
        /// shape.
        #[test]
        fn bounded_checks_refuse_unbounded_matches(
            s in "(\\+86 |\\+1-|001-|（0|\\(|\\)|[A-Z]{1,2}|[0-9]{1,19}|[ .:/,-]|年|月|号|x|X|Sept?\\.? |of |th |born |SSN |passport |tel |甲){0,14}"
        ) {
            if let Err(e) = bounded_rules_accept_whole_bounded_matches(&s) {
                prop_assert!(false, "{}", e);
            }
        }

        /// A whole-text rule's windows hold every match its search of the whole text
        /// finds, and the search over them finds the same.
        #[test]
        fn windows_lose_no_match(
            s in "(https?://|www\\.|[a-z]{1,6}|[A-Z]{1,3}|[0-9]{1,3}|[.:/@?#=%_ -]|\\.com|\\.cn|中|。|x){0,20}"
        ) {
            let det = shared_detector();
            for (i, rule) in det.rules.iter().enumerate() {
                let Some(windows) = rule.windows else { continue };
                let mut fit = Vec::new();
                windows(&s, &mut fit);
                prop_assert!(fit.windows(2).all(|w| w[0].1 <= w[1].0));
                let (mut whole, mut windowed) = (Vec::new(), Vec::new());
                det.run_rule(i, &s, &[(0, s.len())], &mut whole);
                det.run_rule(i, &s, &fit, &mut windowed);
                prop_assert_eq!(&whole, &windowed, "rule {} on {:?}", i, s);
                let any: Vec<(usize, usize)> =
                    det.regexes[i].find_iter(&s).map(|m| (m.start(), m.end())).collect();
                for (a, b) in any {
                    prop_assert!(
                        fit.iter().any(|&(lo, hi)| lo <= a && b <= hi),
                        "rule {} match {:?} outside the windows of {:?}", i, &s[a..b], s
                    );
                }
            }
        }

        /// A whole-text rule's gate lets through every text its pattern matches in.
        #[test]
        fn gates_lose_no_match(
            s in "(https?://|ftp|[a-z]{1,6}|[A-Z]{1,3}|[0-9a-f]{1,4}|[.:/@ -]|::|京|粤|・|元|：|。|x){0,16}"
        ) {
            let det = shared_detector();
            for (i, rule) in det.rules.iter().enumerate() {
                let Some(gate) = rule.gate else { continue };
                if det.regexes[i].is_match(&s) {
                    prop_assert!(gate(&s), "rule {} gate refused {:?}", i, s);
                }
            }
        }
    }
}
