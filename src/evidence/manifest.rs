//! `manifest.json`: every file of the export with its SHA-256, size and row count, the
//! pipeline's hash and the key ids used (never keys). Written last: an export without a
//! manifest is incomplete by definition.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::sink::WrittenFile;

pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub run_id: String,
    pub created_at: String,
    pub pipeline_sha256: String,
    /// Rows in the data parts, summed.
    pub rows: u64,
    pub files: Vec<WrittenFile>,
    /// Fingerprints of the keys used, never key material.
    #[serde(default)]
    pub key_ids: Vec<String>,
    /// SHA-256 of the last line of audit.jsonl: the head of the hash chain, so the
    /// signature over this manifest covers the whole log.
    #[serde(default)]
    pub audit_head: String,
    /// What `decrypt` needs besides the keyring: wrapped data keys, encrypted columns
    /// and their original types, the AAD parts. Never key material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<crate::crypto::run::Envelope>,
}

impl Manifest {
    pub fn write(&self, export_dir: &Path) -> Result<()> {
        let path = export_dir.join(MANIFEST);
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        let tmp = export_dir.join(".manifest.json.tmp");
        std::fs::write(&tmp, &text).map_err(|e| Error::io("cannot write", &tmp, e))?;
        let f = std::fs::File::open(&tmp).map_err(|e| Error::io("cannot open", &tmp, e))?;
        f.sync_all()
            .map_err(|e| Error::io("cannot sync", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("cannot rename", &path, e))
    }

    pub fn load(export_dir: &Path) -> std::result::Result<Self, String> {
        let path = export_dir.join(MANIFEST);
        let text = std::fs::read(&path).map_err(|e| {
            format!(
                "{}: {e} (an export without a manifest is incomplete: rerun the pipeline)",
                path.display()
            )
        })?;
        serde_json::from_slice(&text)
            .map_err(|e| format!("{}: not a manifest: {e}", path.display()))
    }
}
