//! Replays Presidio's own recognizer test cases (`tests/data/presidio/presidio_cases.jsonl`,
//! a copy of the workplace's `shared/peer-suites/` so that CI on a bare clone has it; see
//! the README beside it for where the cases come from) through `datacustoms::detect` and scores them the way the
//! README says: a positive passes when every expected value is found, with the right
//! type, by its own detection (value match after stripping whitespace and quotes); a
//! negative passes when nothing of its type is found. Presidio's CREDIT_CARD is our
//! BANK_CARD; the other names are equal.
//!
//! Gates: at least 98% of all cases, and every positive of CREDIT_CARD, EMAIL, IBAN and
//! IP_ADDRESS. A missing suite file fails the test: a silent skip would turn the gate
//! off. Run with `--nocapture` to see the table.

use std::collections::BTreeMap;

use datacustoms::detect::{DetectConfig, Detection, Detector, EntityType};

const SUITE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/presidio/presidio_cases.jsonl"
);

/// Entities whose positives must all pass.
const STRICT: [&str; 4] = ["CREDIT_CARD", "EMAIL", "IBAN", "IP_ADDRESS"];

fn our_type(presidio: &str) -> EntityType {
    let name = if presidio == "CREDIT_CARD" {
        "BANK_CARD"
    } else {
        presidio
    };
    EntityType::parse(name).unwrap_or_else(|| panic!("suite names an unknown entity {presidio}"))
}

fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
}

#[derive(Default)]
struct Tally {
    pos: usize,
    pos_pass: usize,
    neg: usize,
    neg_pass: usize,
}

#[test]
fn presidio_suite() {
    let raw = std::fs::read_to_string(SUITE).unwrap_or_else(|e| {
        panic!("Presidio peer suite not readable at {SUITE}: {e}. The suite is required; restore tests/data/presidio/ (a copy of shared/peer-suites/).")
    });
    let det = Detector::new(&DetectConfig::default());
    let mut out: Vec<Detection> = Vec::new();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut cases = 0;

    for (n, line) in raw
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let case: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let entity = case["entity"].as_str().expect("entity");
        let text = case["text"].as_str().expect("text");
        let expected: Vec<&str> = case["expected"]
            .as_array()
            .expect("expected")
            .iter()
            .map(|x| x["value"].as_str().expect("value"))
            .collect();
        let ty = our_type(entity);
        det.detect(text, &mut out);
        let mut ours: Vec<&str> = out
            .iter()
            .filter(|d| d.entity == ty)
            .map(|d| strip(&text[d.start..d.end]))
            .collect();

        let pass = if expected.is_empty() {
            ours.is_empty()
        } else {
            // Each expected item consumes its own detection.
            expected.iter().all(
                |want| match ours.iter().position(|got| *got == strip(want)) {
                    Some(i) => {
                        ours.swap_remove(i);
                        true
                    }
                    None => false,
                },
            )
        };
        cases += 1;
        let t = tally.entry(entity.to_string()).or_default();
        if expected.is_empty() {
            t.neg += 1;
            t.neg_pass += usize::from(pass);
        } else {
            t.pos += 1;
            t.pos_pass += usize::from(pass);
        }
        if !pass {
            let got: Vec<_> = out
                .iter()
                .map(|d| format!("{}:{:?}", d.entity, &text[d.start..d.end]))
                .collect();
            let shown: String = text.chars().take(120).collect();
            failures.push(format!(
                "{entity} {shown:?} expected {expected:?} got {got:?}"
            ));
        }
    }

    let passed: usize = tally.values().map(|t| t.pos_pass + t.neg_pass).sum();
    println!("Presidio peer suite: {cases} cases");
    println!(
        "{:<12} {:>11} {:>11} {:>8}",
        "entity", "positives", "negatives", "pass %"
    );
    for (name, t) in &tally {
        println!(
            "{:<12} {:>5}/{:<5} {:>5}/{:<5} {:>7.1}%",
            name,
            t.pos_pass,
            t.pos,
            t.neg_pass,
            t.neg,
            100.0 * (t.pos_pass + t.neg_pass) as f64 / (t.pos + t.neg) as f64
        );
    }
    let rate = passed as f64 / cases as f64;
    println!("{:<12} {passed}/{cases} = {:.1}%", "overall", 100.0 * rate);
    for f in &failures {
        println!("FAIL {f}");
    }

    assert!(cases > 0, "the suite file {SUITE} holds no cases");
    for name in STRICT {
        let t = tally
            .get(name)
            .unwrap_or_else(|| panic!("the suite has no {name} cases"));
        assert_eq!(
            t.pos_pass, t.pos,
            "{name}: every positive must pass ({}/{})",
            t.pos_pass, t.pos
        );
    }
    assert!(
        rate >= 0.98,
        "overall pass rate {:.1}% is below 98%",
        100.0 * rate
    );
}
