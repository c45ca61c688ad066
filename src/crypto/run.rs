//! `RunKeys`: what one pipeline run holds of the keys — the keyring, the token scope, the
//! run's DEK pool, the vault writer — shared by the stages that tokenize or encrypt, and
//! what the run records about them (`Envelope` in the manifest, `KeysReport` in the
//! report).
//!
//! Invariants: created only when a stage needs keys; the envelope holds wrapped DEKs and
//! key ids only; the vault is flushed before the export is committed, so an export
//! never ships tokens its vault does not know.

use std::sync::Mutex;

use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

use super::cell::{DekPool, WrappedDek};
use super::keys::Keyring;
use super::vault::{VaultEntry, VaultStats, VaultWriter};
use crate::error::Result;

/// `[keys]` in a pipeline file.
#[derive(Debug, Deserialize, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// `file:PATH` (default `.datacustoms/keyring.json`, created on first use),
    /// `env:VAR` or `command:…`.
    #[serde(default)]
    pub keyring: Option<String>,
    /// Token scope: different scopes (e.g. one per recipient) give unlinkable tokens.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// The re-identification vault (SQLite, kept at home). No vault: tokens are one-way.
    #[serde(default)]
    pub vault: Option<String>,
    /// A column holding each record's stable id: bound into every ciphertext's AAD so a
    /// cell moved to another record fails to decrypt. It must not itself be encrypted
    /// or tokenized.
    #[serde(default)]
    pub record_id: Option<String>,
    /// Cells per data key before the next one starts (default 2^30).
    #[serde(default = "default_max_cells")]
    pub max_cells_per_dek: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            keyring: None,
            scope: default_scope(),
            vault: None,
            record_id: None,
            max_cells_per_dek: default_max_cells(),
        }
    }
}

fn default_scope() -> String {
    "default".into()
}
fn default_max_cells() -> u64 {
    super::cell::DEFAULT_MAX_CELLS
}

/// An encrypted column as the manifest records it, so `decrypt` restores its type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncryptedColumn {
    pub path: String,
    pub data_type: DataType,
}

/// The manifest's `encryption` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub scheme: String,
    /// Bound into every cell's AAD: the run id of the export.
    pub export_id: String,
    pub record_id: Option<String>,
    pub columns: Vec<EncryptedColumn>,
    /// Text fields in which `deidentify` encrypted detected spans (`<dc1.…>`).
    pub text_fields: Vec<String>,
    pub deks: Vec<WrappedDek>,
    /// The export's data schema, so JSONL parts are read back with their exact types.
    pub schema: Schema,
}

pub const SCHEME: &str = "dc1: AES-256-GCM per cell; random DEKs wrapped by HKDF(root, dek-wrap); nonce = cell number within its DEK; AAD = export | DEK id | column | record id";

/// The report's `keys` section.
#[derive(Debug, Clone, Serialize, Default)]
pub struct KeysReport {
    pub source: String,
    pub key_ids: Vec<String>,
    pub scope: String,
    pub custody: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultStats>,
    pub data_keys: usize,
}

/// What a sharded run's tasks did with keys, gathered by its home step: each task's
/// data keys (wrapped; a fresh pool per task attempt, so no two processes share a
/// nonce range) in shard order, and what merging their vaults added to the pipeline's.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardKeys {
    pub deks: Vec<WrappedDek>,
    pub vault: Option<VaultStats>,
}

pub struct RunKeys {
    pub ring: Keyring,
    pub scope: String,
    pub export_id: String,
    pub record_id: Option<String>,
    pub dek_pool: Option<DekPool>,
    vault: Mutex<Option<VaultWriter>>,
    /// Filled in by stages while the plan is built.
    pub columns: Mutex<Vec<EncryptedColumn>>,
    pub text_fields: Mutex<Vec<String>>,
}

impl RunKeys {
    pub fn new(
        ring: Keyring,
        cfg: &KeysConfig,
        export_id: &str,
        encrypts: bool,
        vault: bool,
    ) -> Result<Self> {
        let dek_pool = encrypts.then(|| DekPool::new(ring.primary(), cfg.max_cells_per_dek));
        let writer = match (&cfg.vault, vault) {
            (Some(p), true) => Some(VaultWriter::start(p.as_ref(), ring.primary(), &cfg.scope)?),
            _ => None,
        };
        Ok(RunKeys {
            scope: cfg.scope.clone(),
            export_id: export_id.to_string(),
            record_id: cfg.record_id.clone(),
            dek_pool,
            vault: Mutex::new(writer),
            columns: Mutex::new(Vec::new()),
            text_fields: Mutex::new(Vec::new()),
            ring,
        })
    }

    pub fn has_vault(&self) -> bool {
        self.vault.lock().expect("vault lock").is_some()
    }

    /// Hands new tokens to the vault writer (a no-op without a vault).
    pub fn remember(&self, entries: Vec<VaultEntry>) -> Result<()> {
        match &*self.vault.lock().expect("vault lock") {
            Some(v) => v.send(entries),
            None => Ok(()),
        }
    }

    /// Flushes the vault and says what the run did with keys: this process's data keys
    /// and vault additions, or, for a sharded run's home step, its tasks' (`shards`).
    pub fn finish(
        &self,
        schema: &Schema,
        shards: Option<ShardKeys>,
    ) -> Result<(Option<Envelope>, KeysReport)> {
        let vault = match self.vault.lock().expect("vault lock").as_mut() {
            Some(v) => Some(v.finish()?),
            None => None,
        };
        let own = self
            .dek_pool
            .as_ref()
            .map(|p| p.wrapped())
            .unwrap_or_default();
        let (deks, vault) = match shards {
            Some(s) => (s.deks, s.vault),
            None => (own, vault),
        };
        let columns = self.columns.lock().expect("columns lock").clone();
        let text_fields = self.text_fields.lock().expect("fields lock").clone();
        let envelope = (!columns.is_empty() || !text_fields.is_empty()).then(|| Envelope {
            scheme: SCHEME.into(),
            export_id: self.export_id.clone(),
            record_id: self.record_id.clone(),
            columns,
            text_fields,
            deks: deks.clone(),
            schema: schema.clone(),
        });
        let report = KeysReport {
            source: self.ring.source.clone(),
            key_ids: vec![self.ring.primary().id.clone()],
            scope: self.scope.clone(),
            custody: "root keys, data keys in the clear and the vault stayed at home; the export carries key ids, wrapped data keys, tokens and ciphertext only".into(),
            vault,
            data_keys: deks.len(),
        };
        Ok((envelope, report))
    }
}
