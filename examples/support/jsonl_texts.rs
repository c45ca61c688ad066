//! The texts the detector examples read from a JSONL file: each record's `text` and
//! every `messages[].content` (the fields `benches/deidentify.sh` de-identifies).

use std::error::Error;

pub fn read_texts(path: &str) -> Result<Vec<String>, Box<dyn Error>> {
    let mut texts = Vec::new();
    for (i, line) in std::fs::read_to_string(path)?.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        if let Some(t) = v["text"].as_str() {
            texts.push(t.to_string());
        }
        for m in v["messages"].as_array().into_iter().flatten() {
            if let Some(t) = m["content"].as_str() {
                texts.push(t.to_string());
            }
        }
    }
    Ok(texts)
}
