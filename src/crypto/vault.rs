//! The re-identification vault: an SQLite file kept at home that maps each token to its
//! original value, encrypted (AES-256-GCM under `derive("vault", scope, "")`, AAD =
//! token | type | scope | key version), with the full 256-bit HMAC beside it.
//!
//! Invariants: inserts are idempotent (a token already present is left as it is), so
//! reruns and shards can write and merge vaults in any order; a token already present
//! with a different full HMAC (a 128-bit truncation collision) is an error, never a
//! silent overwrite; a value read back is checked against its HMAC before it is used;
//! the file is created with mode 0600.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::keys::{Keyring, RootKey};
use super::token::canonical;
use crate::error::{Error, Result};

/// One token to remember: what the vault stores, before encryption.
pub struct VaultEntry {
    pub token: String,
    pub entity: String,
    pub full_mac: [u8; 32],
    pub value: Zeroizing<String>,
}

/// What a run added to the vault.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct VaultStats {
    pub inserted: u64,
    pub already_present: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    entity TEXT NOT NULL,
    scope TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    mac BLOB NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    crate::error::sqlite("vault", path)
}

/// Opens (creating with mode 0600 if needed) a vault file.
pub fn open(path: &Path) -> Result<Connection> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(path)
            .map_err(|e| Error::io("cannot create", path, e))?;
    }
    let conn = Connection::open(path).map_err(sql_err(path))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .map_err(sql_err(path))?;
    conn.execute_batch(SCHEMA).map_err(sql_err(path))?;
    Ok(conn)
}

fn aad(token: &str, entity: &str, scope: &str, version: u32) -> Vec<u8> {
    format!("{token}\x1f{entity}\x1f{scope}\x1fv{version}").into_bytes()
}

fn vault_cipher(root: &RootKey, scope: &str) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(root.derive("vault", scope, "").expose()).expect("32-byte key")
}

/// Records an audit event in the vault (who used it for what, never values).
pub fn audit(conn: &Connection, path: &Path, event: &str, detail: serde_json::Value) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, event, detail) VALUES (?1, ?2, ?3)",
        params![crate::evidence::now_rfc3339(), event, detail.to_string()],
    )
    .map_err(sql_err(path))?;
    Ok(())
}

/// Inserts entries in one transaction; returns (inserted, already present).
fn insert(
    conn: &mut Connection,
    path: &Path,
    cipher: &Aes256Gcm,
    (version, key_id): (u32, &str),
    scope: &str,
    entries: &[VaultEntry],
) -> Result<(u64, u64)> {
    use rand::RngCore;
    let now = crate::evidence::now_rfc3339();
    let tx = conn.transaction().map_err(sql_err(path))?;
    let (mut ins, mut present) = (0u64, 0u64);
    {
        let mut put = tx
            .prepare_cached(
                "INSERT INTO tokens (token, entity, scope, key_version, key_id, mac, nonce, ciphertext, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(token) DO NOTHING",
            )
            .map_err(sql_err(path))?;
        let mut get = tx
            .prepare_cached("SELECT mac FROM tokens WHERE token = ?1")
            .map_err(sql_err(path))?;
        let mut rng = rand::rng();
        for e in entries {
            let mut nonce = [0u8; 12];
            rng.fill_bytes(&mut nonce);
            let ct = cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: e.value.as_bytes(),
                        aad: &aad(&e.token, &e.entity, scope, version),
                    },
                )
                .map_err(|_| Error::Internal("cannot encrypt a vault entry".into()))?;
            let n = put
                .execute(params![
                    e.token,
                    e.entity,
                    scope,
                    version,
                    key_id,
                    &e.full_mac[..],
                    &nonce[..],
                    ct,
                    now
                ])
                .map_err(sql_err(path))?;
            if n == 1 {
                ins += 1;
            } else {
                present += 1;
                let mac: Vec<u8> = get
                    .query_row(params![e.token], |r| r.get(0))
                    .map_err(sql_err(path))?;
                if mac != e.full_mac {
                    return Err(Error::Data(format!(
                        "vault {}: token {} is already taken by a different value (a 128-bit truncation collision); \
                         tokens of these two values cannot be told apart",
                        path.display(),
                        e.token
                    )));
                }
            }
        }
    }
    tx.commit().map_err(sql_err(path))?;
    Ok((ins, present))
}

/// Writes a run's new tokens into the vault from a thread of its own, so workers only
/// hand over batches of entries.
pub struct VaultWriter {
    tx: Option<SyncSender<Vec<VaultEntry>>>,
    handle: Option<JoinHandle<Result<VaultStats>>>,
    pub path: PathBuf,
}

impl VaultWriter {
    pub fn start(path: &Path, root: &RootKey, scope: &str) -> Result<Self> {
        let mut conn = open(path)?;
        let (tx, rx): (SyncSender<Vec<VaultEntry>>, Receiver<Vec<VaultEntry>>) = sync_channel(16);
        let cipher = vault_cipher(root, scope);
        // The thread gets the derived vault cipher and the key's id, not the root key.
        let (version, key_id) = (root.version, root.id.clone());
        let scope = scope.to_string();
        let p = path.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("datacustoms-vault".into())
            .spawn(move || -> Result<VaultStats> {
                let mut stats = VaultStats::default();
                for chunk in rx {
                    let (i, pr) = insert(&mut conn, &p, &cipher, (version, &key_id), &scope, &chunk)?;
                    stats.inserted += i;
                    stats.already_present += pr;
                }
                audit(
                    &conn,
                    &p,
                    "tokens_added",
                    serde_json::json!({ "scope": scope, "key_id": key_id, "inserted": stats.inserted, "already_present": stats.already_present }),
                )?;
                Ok(stats)
            })
            .map_err(|e| Error::Internal(format!("cannot start the vault writer: {e}")))?;
        Ok(VaultWriter {
            tx: Some(tx),
            handle: Some(handle),
            path: path.to_path_buf(),
        })
    }

    /// Hands entries to the writer. An error here means the writer stopped; `finish`
    /// says why.
    pub fn send(&self, entries: Vec<VaultEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.tx
            .as_ref()
            .and_then(|t| t.send(entries).ok())
            .ok_or_else(|| {
                Error::Internal(format!(
                    "the vault writer for {} stopped",
                    self.path.display()
                ))
            })
    }

    pub fn finish(&mut self) -> Result<VaultStats> {
        self.tx.take();
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Internal("the vault writer panicked".into()))?,
            None => Ok(VaultStats::default()),
        }
    }
}

/// Reads a vault to turn tokens back into values.
pub struct VaultReader {
    conn: Connection,
    path: PathBuf,
}

/// Why a token could not be turned back.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Zeroizing<String>),
    /// Not in the vault (left as it is and counted).
    Unknown,
}

impl VaultReader {
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::NotFound(format!(
                "vault {} not found",
                path.display()
            )));
        }
        Ok(VaultReader {
            conn: open(path)?,
            path: path.to_path_buf(),
        })
    }

    /// The entity types the vault holds tokens of.
    pub fn entity_types(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT DISTINCT entity FROM tokens")
            .map_err(sql_err(&self.path))?;
        let rows = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql_err(&self.path))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(sql_err(&self.path))
    }

    /// The original value of `token`, decrypted and checked against its HMAC.
    pub fn lookup(&self, ring: &Keyring, token: &str) -> Result<Lookup> {
        let row = self
            .conn
            .prepare_cached("SELECT entity, scope, key_version, key_id, mac, nonce, ciphertext FROM tokens WHERE token = ?1")
            .map_err(sql_err(&self.path))?
            .query_row(params![token], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, Vec<u8>>(6)?,
                ))
            })
            .optional()
            .map_err(sql_err(&self.path))?;
        let Some((entity, scope, version, key_id, mac, nonce, ct)) = row else {
            return Ok(Lookup::Unknown);
        };
        let root = ring.by_id(&key_id).ok_or_else(|| {
            Error::Config(format!(
                "vault {}: token {token} was stored under root key {key_id}, which keyring {} does not hold",
                self.path.display(),
                ring.source
            ))
        })?;
        let tampered = || {
            Error::Data(format!(
                "vault {}: the entry for token {token} fails authentication (the vault was edited, or the keyring is not the one that wrote it)",
                self.path.display()
            ))
        };
        if nonce.len() != 12 {
            return Err(tampered());
        }
        let plain = vault_cipher(root, &scope)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: &aad(token, &entity, &scope, version),
                },
            )
            .map_err(|_| tampered())?;
        let value = Zeroizing::new(String::from_utf8(plain).map_err(|_| tampered())?);
        let key = root.derive("token", &scope, &entity);
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).expect("any key length");
        m.update(canonical(&entity, &value).as_bytes());
        if m.verify_slice(&mac).is_err() {
            return Err(tampered());
        }
        Ok(Lookup::Found(value))
    }

    pub fn audit(&self, event: &str, detail: serde_json::Value) -> Result<()> {
        audit(&self.conn, &self.path, event, detail)
    }
}

/// `vault merge DEST SRC…`: copies every entry of each SRC that DEST lacks. A token
/// present in both with different HMACs is a collision and stops the merge before
/// anything is copied from that source.
pub fn merge(dest: &Path, sources: &[PathBuf]) -> Result<VaultStats> {
    let conn = open(dest)?;
    let mut stats = VaultStats::default();
    for src in sources {
        if !src.is_file() {
            return Err(Error::NotFound(format!(
                "vault {} not found",
                src.display()
            )));
        }
        let err = sql_err(dest);
        conn.execute("ATTACH DATABASE ?1 AS src", params![src.to_string_lossy()])
            .map_err(&err)?;
        let res = (|| -> Result<()> {
            let clash: i64 = conn
                .query_row(
                    "SELECT count(*) FROM src.tokens s JOIN main.tokens d ON s.token = d.token WHERE s.mac != d.mac",
                    [],
                    |r| r.get(0),
                )
                .map_err(&err)?;
            if clash > 0 {
                return Err(Error::Data(format!(
                    "vault merge: {clash} token(s) of {} stand for different values in {} (truncation collisions); nothing merged from it",
                    src.display(),
                    dest.display()
                )));
            }
            let total: i64 = conn
                .query_row("SELECT count(*) FROM src.tokens", [], |r| r.get(0))
                .map_err(&err)?;
            let n = conn
                .execute(
                    "INSERT OR IGNORE INTO main.tokens SELECT * FROM src.tokens",
                    [],
                )
                .map_err(&err)? as u64;
            stats.inserted += n;
            stats.already_present += total as u64 - n;
            Ok(())
        })();
        conn.execute("DETACH DATABASE src", []).map_err(&err)?;
        res?;
    }
    audit(
        &conn,
        dest,
        "vault_merged",
        serde_json::json!({ "sources": sources.len(), "inserted": stats.inserted, "already_present": stats.already_present }),
    )?;
    Ok(stats)
}
