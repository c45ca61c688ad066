//! AES-256-GCM cells under envelope encryption.
//!
//! A run draws fresh random data keys (DEKs) as it needs them; each DEK is wrapped by a
//! key derived from the root key (`derive("dek-wrap", "", "")`) and recorded, wrapped,
//! in the export's manifest. Workers reserve ranges of cell numbers from a shared pool;
//! the nonce of a cell is its number within its DEK, so nonces never repeat under one
//! DEK, without calling the OS random source per cell. A DEK encrypts at most
//! `max_cells` cells (2^30 by default), then the next DEK starts.
//!
//! Cell text: `dc1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The AAD binds the
//! export, the DEK id, the column path and (when configured) the record's stable id, so
//! a ciphertext moved to another row, column or export fails to authenticate.
//!
//! Invariants: nulls are never encrypted; a DEK exists in memory only unwrapped inside
//! an AES-GCM key schedule and is recorded only wrapped; every failure to decrypt is an
//! error that names no plaintext.

use std::sync::{Arc, Mutex};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys::{fill_random, Keyring, RootKey, Secret};
use crate::error::{Error, Result};

/// Cells per DEK before a new one starts (NIST SP 800-38D leaves far more room with
/// deterministic nonces; a small cap bounds what one leaked DEK exposes).
pub const DEFAULT_MAX_CELLS: u64 = 1 << 30;
pub const CELL_PREFIX: &str = "dc1.";

/// One DEK as recorded in the manifest: wrapped, with the root key that wrapped it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WrappedDek {
    pub kid: String,
    /// base64(nonce ‖ AES-GCM(wrapping key, DEK) ‖ tag), AAD = `dc1-dek` | kid.
    pub wrapped: String,
    /// Id of the root key version whose derived wrapping key wrapped it.
    pub wrapping_key_id: String,
    /// Cells encrypted under it.
    pub cells: u64,
}

struct Dek {
    kid: String,
    cipher: Aes256Gcm,
    wrapped: String,
}

struct PoolState {
    deks: Vec<Arc<Dek>>,
    /// Cells reserved under each DEK.
    used: Vec<u64>,
}

/// The run's DEKs. Shared by all workers.
pub struct DekPool {
    wrap: Aes256Gcm,
    wrapping_key_id: String,
    max_cells: u64,
    state: Mutex<PoolState>,
}

/// A range of cell numbers under one DEK, reserved by one worker.
pub struct Reservation {
    dek: Arc<Dek>,
    next: u64,
    end: u64,
}

fn wrap_cipher(root: &RootKey) -> Aes256Gcm {
    let k = root.derive("dek-wrap", "", "");
    Aes256Gcm::new_from_slice(k.expose()).expect("32-byte key")
}

fn dek_aad(kid: &str) -> Vec<u8> {
    format!("dc1-dek\x1f{kid}").into_bytes()
}

fn wrap_dek(wrap: &Aes256Gcm, kid: &str, dek: &Secret) -> Result<String> {
    let mut nonce = [0u8; 12];
    fill_random(&mut nonce)?;
    let mut buf = Zeroizing::new(dek.expose().to_vec());
    let tag = wrap
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &dek_aad(kid), &mut buf)
        .map_err(|_| Error::Internal("cannot wrap a data key".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    out.extend_from_slice(&tag);
    Ok(B64.encode(out))
}

fn unwrap_dek(wrap: &Aes256Gcm, d: &WrappedDek) -> Result<Secret> {
    let bad = || {
        Error::Config(format!(
            "data key {} does not unwrap with key {}: wrong keyring, or the manifest was edited",
            d.kid, d.wrapping_key_id
        ))
    };
    let raw = B64.decode(&d.wrapped).map_err(|_| bad())?;
    if raw.len() != 12 + 32 + 16 {
        return Err(bad());
    }
    let mut buf = Zeroizing::new(raw[12..44].to_vec());
    wrap.decrypt_in_place_detached(
        Nonce::from_slice(&raw[..12]),
        &dek_aad(&d.kid),
        &mut buf,
        Tag::from_slice(&raw[44..]),
    )
    .map_err(|_| bad())?;
    let mut b = [0u8; 32];
    b.copy_from_slice(&buf);
    Ok(Secret::from_bytes(b))
}

impl DekPool {
    pub fn new(root: &RootKey, max_cells: u64) -> Self {
        DekPool {
            wrap: wrap_cipher(root),
            wrapping_key_id: root.id.clone(),
            max_cells: max_cells.max(1),
            state: Mutex::new(PoolState {
                deks: Vec::new(),
                used: Vec::new(),
            }),
        }
    }

    fn new_dek(&self) -> Result<Dek> {
        let secret = Secret::random()?;
        let mut id = [0u8; 6];
        fill_random(&mut id)?;
        let kid = hex::encode(id);
        let wrapped = wrap_dek(&self.wrap, &kid, &secret)?;
        Ok(Dek {
            cipher: Aes256Gcm::new_from_slice(secret.expose()).expect("32-byte key"),
            kid,
            wrapped,
        })
    }

    /// Reserves `n` cell numbers, split across DEKs when a DEK reaches its cap.
    pub fn reserve(&self, mut n: u64) -> Result<Vec<Reservation>> {
        let mut st = self.state.lock().expect("DEK pool lock");
        let mut out = Vec::new();
        while n > 0 {
            let room = st.used.last().map_or(0, |u| self.max_cells - u);
            if room == 0 {
                let d = Arc::new(self.new_dek()?);
                st.deks.push(d);
                st.used.push(0);
                continue;
            }
            let take = room.min(n);
            let last = st.used.len() - 1;
            let start = st.used[last];
            st.used[last] += take;
            out.push(Reservation {
                dek: st.deks[last].clone(),
                next: start,
                end: start + take,
            });
            n -= take;
        }
        Ok(out)
    }

    /// The DEKs drawn so far, wrapped, for the manifest.
    pub fn wrapped(&self) -> Vec<WrappedDek> {
        let st = self.state.lock().expect("DEK pool lock");
        st.deks
            .iter()
            .zip(&st.used)
            .map(|(d, &cells)| WrappedDek {
                kid: d.kid.clone(),
                wrapped: d.wrapped.clone(),
                wrapping_key_id: self.wrapping_key_id.clone(),
                cells,
            })
            .collect()
    }
}

/// Hands out cell numbers from a list of reservations, in order; with a pool, reserves
/// more (in chunks) when they run out.
pub struct CellEncryptor<'p> {
    pool: Option<&'p DekPool>,
    reservations: std::vec::IntoIter<Reservation>,
    current: Option<Reservation>,
    buf: Vec<u8>,
}

/// The AAD of a cell: export | DEK id | column path | record id.
pub fn cell_aad(out: &mut Vec<u8>, export_id: &str, kid: &str, column: &str, record: Option<&str>) {
    out.clear();
    out.extend_from_slice(b"dc1\x1f");
    out.extend_from_slice(export_id.as_bytes());
    out.push(0x1f);
    out.extend_from_slice(kid.as_bytes());
    out.push(0x1f);
    out.extend_from_slice(column.as_bytes());
    out.push(0x1f);
    if let Some(r) = record {
        out.push(b'r');
        out.extend_from_slice(r.as_bytes());
    }
}

/// Cell numbers a lazily reserving encryptor takes at a time.
const LAZY_CHUNK: u64 = 1024;

impl<'p> CellEncryptor<'p> {
    /// Encrypts exactly as many cells as were reserved.
    pub fn new(reservations: Vec<Reservation>) -> Self {
        CellEncryptor {
            pool: None,
            reservations: reservations.into_iter(),
            current: None,
            buf: Vec::new(),
        }
    }

    /// Reserves cell numbers from `pool` as it goes (for text spans, whose number is not
    /// known in advance). Unused numbers of the last chunk are simply never used.
    pub fn lazy(pool: &'p DekPool) -> Self {
        CellEncryptor {
            pool: Some(pool),
            reservations: Vec::new().into_iter(),
            current: None,
            buf: Vec::new(),
        }
    }

    /// Encrypts one cell's bytes into `dc1.<kid>.<base64url>` appended to `out`.
    /// Panics if a non-lazy encryptor encrypts more cells than were reserved (a bug in
    /// the caller).
    pub fn encrypt(
        &mut self,
        plain: &[u8],
        export_id: &str,
        column: &str,
        record: Option<&str>,
        aad: &mut Vec<u8>,
        out: &mut String,
    ) -> Result<()> {
        let r = loop {
            match &mut self.current {
                Some(r) if r.next < r.end => break r,
                _ => {
                    if let Some(next) = self.reservations.next() {
                        self.current = Some(next);
                    } else {
                        let pool = self.pool.expect("more cells encrypted than reserved");
                        self.reservations = pool.reserve(LAZY_CHUNK)?.into_iter();
                    }
                }
            }
        };
        let n = r.next;
        r.next += 1;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&n.to_be_bytes());
        cell_aad(aad, export_id, &r.dek.kid, column, record);
        self.buf.clear();
        self.buf.extend_from_slice(&nonce);
        self.buf.extend_from_slice(plain);
        let tag = r
            .dek
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut self.buf[12..])
            .expect("AES-GCM encrypts any cell shorter than 64 GiB");
        self.buf.extend_from_slice(&tag);
        out.push_str(CELL_PREFIX);
        out.push_str(&r.dek.kid);
        out.push('.');
        B64URL.encode_string(&self.buf, out);
        Ok(())
    }

    /// The nonce of the cell encrypted last (tests).
    #[cfg(test)]
    fn last_nonce(&self) -> u64 {
        u64::from_be_bytes(self.buf[4..12].try_into().unwrap())
    }
}

/// Why a cell did not decrypt.
#[derive(Debug, PartialEq, Eq)]
pub enum CellError {
    /// Not `dc1.<kid>.<base64url>` (exit 65).
    Malformed,
    /// The DEK id is not in the manifest (exit 65).
    UnknownKey,
    /// Authentication failed: the cell was changed, or moved from another row, column or
    /// export (exit 65).
    Tampered,
}

impl CellError {
    pub fn explain(&self) -> &'static str {
        match self {
            CellError::Malformed => "not an encrypted cell (dc1.<key id>.<base64url>)",
            CellError::UnknownKey => "encrypted under a data key this export's manifest does not list",
            CellError::Tampered => {
                "fails authentication: the ciphertext was changed, or moved here from another row, column or export"
            }
        }
    }
}

/// The unwrapped DEKs of an export, for `decrypt`.
pub struct CellDecryptor {
    deks: Vec<(String, Aes256Gcm)>,
    buf: Vec<u8>,
}

impl CellDecryptor {
    /// Unwraps every DEK with the root key version that wrapped it. A missing version
    /// or a failed unwrap is a key error (exit 78).
    pub fn new(ring: &Keyring, deks: &[WrappedDek]) -> Result<Self> {
        let mut out = Vec::new();
        for d in deks {
            let root = ring.by_id(&d.wrapping_key_id).ok_or_else(|| {
                Error::Config(format!(
                    "data key {} was wrapped with root key {}, which keyring {} does not hold (it has {})",
                    d.kid,
                    d.wrapping_key_id,
                    ring.source,
                    ring.keys().iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?;
            let secret = unwrap_dek(&wrap_cipher(root), d)?;
            out.push((
                d.kid.clone(),
                Aes256Gcm::new_from_slice(secret.expose()).expect("32-byte key"),
            ));
        }
        Ok(CellDecryptor {
            deks: out,
            buf: Vec::new(),
        })
    }

    /// The plaintext bytes of one cell.
    pub fn decrypt(
        &mut self,
        cell: &str,
        export_id: &str,
        column: &str,
        record: Option<&str>,
        aad: &mut Vec<u8>,
    ) -> std::result::Result<&[u8], CellError> {
        let rest = cell.strip_prefix(CELL_PREFIX).ok_or(CellError::Malformed)?;
        let (kid, body) = rest.split_once('.').ok_or(CellError::Malformed)?;
        let cipher = &self
            .deks
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or(CellError::UnknownKey)?
            .1;
        self.buf.clear();
        B64URL
            .decode_vec(body, &mut self.buf)
            .map_err(|_| CellError::Malformed)?;
        if self.buf.len() < 28 {
            return Err(CellError::Malformed);
        }
        let tag_at = self.buf.len() - 16;
        let (head, tag) = self.buf.split_at_mut(tag_at);
        let (nonce, ct) = head.split_at_mut(12);
        cell_aad(aad, export_id, kid, column, record);
        cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, ct, Tag::from_slice(tag))
            .map_err(|_| CellError::Tampered)?;
        Ok(&self.buf[12..tag_at])
    }
}

/// `keys rotate --rewrap`: rewraps DEKs under the keyring's primary version. Returns how
/// many changed (DEKs already under the primary are left as they are).
pub fn rewrap(ring: &Keyring, deks: &mut [WrappedDek]) -> Result<usize> {
    let primary = ring.primary();
    let new_wrap = wrap_cipher(primary);
    let mut n = 0;
    for d in deks.iter_mut() {
        if d.wrapping_key_id == primary.id {
            continue;
        }
        let root = ring.by_id(&d.wrapping_key_id).ok_or_else(|| {
            Error::Config(format!(
                "data key {} was wrapped with root key {}, which keyring {} does not hold",
                d.kid, d.wrapping_key_id, ring.source
            ))
        })?;
        let secret = unwrap_dek(&wrap_cipher(root), d)?;
        d.wrapped = wrap_dek(&new_wrap, &d.kid, &secret)?;
        d.wrapping_key_id = primary.id.clone();
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(b: u8) -> Keyring {
        Keyring::single(Secret::from_bytes([b; 32]), "test")
    }

    fn enc(pool: &DekPool, values: &[&[u8]], column: &str, record: Option<&str>) -> Vec<String> {
        let mut e = CellEncryptor::new(pool.reserve(values.len() as u64).unwrap());
        let mut aad = Vec::new();
        values
            .iter()
            .map(|v| {
                let mut s = String::new();
                e.encrypt(v, "exp", column, record, &mut aad, &mut s)
                    .unwrap();
                s
            })
            .collect()
    }

    #[test]
    fn round_trip_and_rejections() {
        let r = ring(3);
        let pool = DekPool::new(r.primary(), DEFAULT_MAX_CELLS);
        let cells = enc(
            &pool,
            &[b"hello", b"", b"\xff\x00binary"],
            "col",
            Some("row-1"),
        );
        assert!(cells[0].starts_with("dc1."));
        let mut d = CellDecryptor::new(&r, &pool.wrapped()).unwrap();
        let mut aad = Vec::new();
        assert_eq!(
            d.decrypt(&cells[0], "exp", "col", Some("row-1"), &mut aad)
                .unwrap(),
            b"hello"
        );
        assert_eq!(
            d.decrypt(&cells[1], "exp", "col", Some("row-1"), &mut aad)
                .unwrap(),
            b""
        );
        // Moved to another row, column or export.
        assert_eq!(
            d.decrypt(&cells[0], "exp", "col", Some("row-2"), &mut aad),
            Err(CellError::Tampered)
        );
        assert_eq!(
            d.decrypt(&cells[0], "exp", "other", Some("row-1"), &mut aad),
            Err(CellError::Tampered)
        );
        assert_eq!(
            d.decrypt(&cells[0], "exp2", "col", Some("row-1"), &mut aad),
            Err(CellError::Tampered)
        );
        assert_eq!(
            d.decrypt(&cells[0], "exp", "col", None, &mut aad),
            Err(CellError::Tampered)
        );
        // A flipped bit anywhere in the body.
        let mut raw = B64URL.decode(cells[0].rsplit('.').next().unwrap()).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let kid = cells[0].split('.').nth(1).unwrap();
        let forged = format!("dc1.{kid}.{}", B64URL.encode(&raw));
        assert_eq!(
            d.decrypt(&forged, "exp", "col", Some("row-1"), &mut aad),
            Err(CellError::Tampered)
        );
        assert_eq!(
            d.decrypt("dc1.zzz.AAAA", "exp", "col", None, &mut aad),
            Err(CellError::UnknownKey)
        );
        assert_eq!(
            d.decrypt("plain", "exp", "col", None, &mut aad),
            Err(CellError::Malformed)
        );
        // The wrong root key cannot unwrap the DEKs: a key error.
        let other = Keyring::single(Secret::from_bytes([4; 32]), "other");
        let mut w = pool.wrapped();
        w[0].wrapping_key_id = other.primary().id.clone();
        assert!(matches!(
            CellDecryptor::new(&other, &w),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            CellDecryptor::new(&other, &pool.wrapped()),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn deks_roll_over_at_the_cap() {
        let r = ring(5);
        let pool = DekPool::new(r.primary(), 10);
        let vals: Vec<&[u8]> = vec![b"x"; 25];
        let cells = enc(&pool, &vals, "c", None);
        let w = pool.wrapped();
        assert_eq!(w.len(), 3);
        assert_eq!(
            w.iter().map(|d| d.cells).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let kids: std::collections::BTreeSet<&str> =
            cells.iter().map(|c| c.split('.').nth(1).unwrap()).collect();
        assert_eq!(kids.len(), 3);
        let mut d = CellDecryptor::new(&r, &w).unwrap();
        let mut aad = Vec::new();
        for c in &cells {
            assert_eq!(d.decrypt(c, "exp", "c", None, &mut aad).unwrap(), b"x");
        }
    }

    #[test]
    fn rewrap_moves_deks_to_the_new_primary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ring.json");
        let r1 = super::super::keys::init_keyring(&p, None).unwrap();
        let pool = DekPool::new(r1.primary(), DEFAULT_MAX_CELLS);
        let cells = enc(&pool, &[b"secret"], "c", None);
        let r2 = super::super::keys::rotate_keyring(&p).unwrap();
        let mut w = pool.wrapped();
        assert_eq!(rewrap(&r2, &mut w).unwrap(), 1);
        assert_eq!(w[0].wrapping_key_id, r2.primary().id);
        let mut d = CellDecryptor::new(&r2, &w).unwrap();
        assert_eq!(
            d.decrypt(&cells[0], "exp", "c", None, &mut Vec::new())
                .unwrap(),
            b"secret"
        );
    }

    /// Ten million encryptions from concurrent reservations (as workers make them, one per
    /// batch of 1,000 cells, with a DEK cap that forces several DEKs): no (DEK, nonce)
    /// pair repeats.
    #[test]
    fn no_nonce_repeats_in_ten_million_cells() {
        let r = ring(6);
        let pool = DekPool::new(r.primary(), 3_000_000);
        let per_thread = 2_500_000u64;
        let all: Vec<(u64, u64)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut v = Vec::with_capacity(per_thread as usize);
                        let (mut aad, mut out) = (Vec::new(), String::new());
                        for _ in 0..per_thread / 1000 {
                            let mut e = CellEncryptor::new(pool.reserve(1000).unwrap());
                            for i in 0..1000u32 {
                                out.clear();
                                e.encrypt(&i.to_le_bytes(), "exp", "c", None, &mut aad, &mut out)
                                    .unwrap();
                                let kid = u64::from_str_radix(&out[4..16], 16).unwrap();
                                v.push((kid, e.last_nonce()));
                            }
                        }
                        v
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(all.len(), 10_000_000);
        assert_eq!(pool.wrapped().len(), 4);
        let mut keyed: Vec<u128> = all
            .iter()
            .map(|(k, n)| ((*k as u128) << 64) | *n as u128)
            .collect();
        keyed.sort_unstable();
        keyed.dedup();
        assert_eq!(keyed.len(), 10_000_000);
    }
}
