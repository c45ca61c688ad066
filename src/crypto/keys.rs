//! Root keys and where they come from: `env:VAR`, `command:…` and `file:PATH` (a
//! versioned keyring, optionally wrapped under a key from another source).
//!
//! Invariants: key material only ever lives in `Secret` (zeroized on drop, no `Debug`,
//! no `Display`, no `Serialize`); errors name the source and what to fix, never bytes of
//! a key; a keyring file readable or writable by group or others is refused; every
//! working key is derived with HKDF-SHA256, so a root key never encrypts or MACs data
//! itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// 32 bytes of key material. Deliberately without `Debug`, `Display`, `Clone` or
/// serde: the only ways out are `expose` (for a cipher or MAC constructor) and derivation.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Secret([u8; 32]);

impl Secret {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Secret(b)
    }

    /// Fresh random material from the operating system.
    pub fn random() -> Result<Self> {
        let mut b = [0u8; 32];
        fill_random(&mut b)?;
        Ok(Secret(b))
    }

    /// The bytes, for handing to a cipher or MAC constructor. Never log them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// Decodes standard base64 of exactly 32 bytes; `what` names the source in errors.
    pub fn from_base64(text: &str, what: &str) -> Result<Self> {
        let bytes = Zeroizing::new(B64.decode(text.trim().as_bytes()).map_err(|_| {
            Error::Config(format!(
                "{what}: not base64 (expected 32 random bytes in standard base64, e.g. `openssl rand -base64 32`)"
            ))
        })?);
        if bytes.len() != 32 {
            return Err(Error::Config(format!(
                "{what}: decodes to {} bytes, a root key is 32 bytes (`openssl rand -base64 32`)",
                bytes.len()
            )));
        }
        let mut b = [0u8; 32];
        b.copy_from_slice(&bytes);
        Ok(Secret(b))
    }

    fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.0))
    }
}

/// Random bytes from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    use rand::TryRngCore;
    rand::rngs::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| Error::Internal(format!("the operating system's random source failed: {e}")))
}

/// One version of the root key.
pub struct RootKey {
    pub version: u32,
    /// Fingerprint: `k<version>-` and 12 hex digits derived from the key (HKDF, purpose
    /// `key-id`), so it identifies the key without revealing anything about it.
    pub id: String,
    pub created_at: String,
    secret: Secret,
}

impl RootKey {
    pub fn new(version: u32, created_at: String, secret: Secret) -> Self {
        let mut fp = [0u8; 6];
        hkdf_expand(&secret, "key-id", "", "", version, &mut fp);
        RootKey {
            version,
            id: format!("k{version}-{}", hex::encode(fp)),
            created_at,
            secret,
        }
    }

    /// A working key: HKDF-SHA256 with info = purpose | scope | entity type | version.
    pub fn derive(&self, purpose: &str, scope: &str, entity: &str) -> Secret {
        let mut out = [0u8; 32];
        hkdf_expand(&self.secret, purpose, scope, entity, self.version, &mut out);
        let s = Secret(out);
        out.zeroize();
        s
    }
}

const HKDF_SALT: &[u8] = b"datacustoms/v1";

fn hkdf_expand(
    root: &Secret,
    purpose: &str,
    scope: &str,
    entity: &str,
    version: u32,
    out: &mut [u8],
) {
    // Unit separators keep the fields apart: ("ab", "c") and ("a", "bc") differ.
    let info = format!("{purpose}\x1f{scope}\x1f{entity}\x1fv{version}");
    Hkdf::<Sha256>::new(Some(HKDF_SALT), root.expose())
        .expand(info.as_bytes(), out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
}

/// The root keys a run may use: one (from `env:` or `command:`) or a versioned keyring.
pub struct Keyring {
    keys: Vec<RootKey>,
    primary: u32,
    /// Where the keys came from, as the user wrote it (`env:DC_ROOT_KEY`): never material.
    pub source: String,
}

impl Keyring {
    /// The key new tokens, DEK wrapping and vault entries use.
    pub fn primary(&self) -> &RootKey {
        self.keys
            .iter()
            .find(|k| k.version == self.primary)
            .expect("a loaded keyring always holds its primary version")
    }

    pub fn version(&self, v: u32) -> Option<&RootKey> {
        self.keys.iter().find(|k| k.version == v)
    }

    pub fn by_id(&self, id: &str) -> Option<&RootKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn keys(&self) -> &[RootKey] {
        &self.keys
    }

    /// A keyring of one key (tests, benchmarks, `env:` and `command:` sources).
    pub fn single(secret: Secret, source: &str) -> Self {
        Keyring {
            keys: vec![RootKey::new(1, String::new(), secret)],
            primary: 1,
            source: source.to_string(),
        }
    }
}

/// Where root keys come from, as written in `[keys] keyring` or `--keyring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// One base64 root key in an environment variable (development and CI).
    Env(String),
    /// A helper command (run with `sh -c`) that prints one base64 root key: how a KMS
    /// client is plugged in.
    Command(String),
    /// A versioned keyring file.
    File(PathBuf),
}

impl KeySource {
    pub fn parse(spec: &str) -> Result<Self> {
        if let Some(v) = spec.strip_prefix("env:") {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Config("key source env:…: name an environment variable (A-Z, 0-9, _), e.g. env:DATACUSTOMS_ROOT_KEY".to_string()));
            }
            return Ok(KeySource::Env(v.to_string()));
        }
        if let Some(c) = spec.strip_prefix("command:") {
            if c.trim().is_empty() {
                return Err(Error::Config(
                    "key source `command:` needs a command that prints the root key".into(),
                ));
            }
            return Ok(KeySource::Command(c.to_string()));
        }
        if let Some(p) = spec.strip_prefix("file:") {
            return Ok(KeySource::File(PathBuf::from(p)));
        }
        Err(Error::Config("a key source must start with env:, command: or file: (the value given is not repeated here, in case it is a key)".to_string()))
    }

    /// How the source is named in reports, logs and errors (never material). A command
    /// is named by its program only: its arguments might carry a secret.
    pub fn describe(&self) -> String {
        match self {
            KeySource::Env(v) => format!("env:{v}"),
            KeySource::Command(c) => {
                let mut words = c.split_whitespace();
                let prog = words.next().unwrap_or("");
                let more = if words.next().is_some() { " …" } else { "" };
                format!("command:{prog}{more}")
            }
            KeySource::File(p) => format!("file:{}", p.display()),
        }
    }

    pub fn load(&self) -> Result<Keyring> {
        match self {
            KeySource::Env(var) => {
                static WARN: Once = Once::new();
                let text = Zeroizing::new(std::env::var(var).map_err(|_| {
                    Error::Config(format!(
                        "key source env:{var}: the variable is not set (export {var}=$(openssl rand -base64 32))"
                    ))
                })?);
                let secret = Secret::from_base64(&text, &format!("key source env:{var}"))?;
                WARN.call_once(|| {
                    tracing::warn!(
                        "root key read from the environment variable {var}: fine for development and CI; \
                         use a keyring file or a KMS helper (command:) in production"
                    )
                });
                Ok(Keyring::single(secret, &self.describe()))
            }
            KeySource::Command(cmd) => {
                let name = self.describe();
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .stderr(std::process::Stdio::inherit())
                    .output()
                    .map_err(|e| Error::Config(format!("key source {name}: cannot run it: {e}")))?;
                let stdout = Zeroizing::new(out.stdout);
                if !out.status.success() {
                    return Err(Error::Config(format!(
                        "key source {name}: exited with {} (its standard error is above)",
                        out.status
                    )));
                }
                let text = Zeroizing::new(String::from_utf8_lossy(&stdout).into_owned());
                let secret = Secret::from_base64(&text, &format!("key source {name}"))?;
                Ok(Keyring::single(secret, &self.describe()))
            }
            KeySource::File(path) => load_keyring_file(path, &self.describe()),
        }
    }
}

const KEYRING_FORMAT: &str = "datacustoms-keyring/1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyringFile {
    format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    primary: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyEntry>,
    /// Set when the key list is encrypted under a key from another source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped: Option<WrappedKeys>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    version: u32,
    id: String,
    created_at: String,
    material: Zeroizing<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrappedKeys {
    /// The source of the wrapping key, e.g. `env:DATACUSTOMS_KEK` or `command:…`.
    by: String,
    /// Fingerprint of the wrapping key, to say which one is needed.
    key_id: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InnerKeys {
    primary: u32,
    keys: Vec<KeyEntry>,
}

/// Refuses a keyring that group or others may read or write.
fn check_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Config(format!(
                "keyring {} has permissions {mode:o}: group and others must have no access; run `chmod 600 {}`",
                path.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

fn load_keyring_file(path: &Path, source: &str) -> Result<Keyring> {
    if !path.exists() {
        return Err(Error::Config(format!(
            "keyring {} not found: create one with `datacustoms keys init --keyring {}`",
            path.display(),
            path.display()
        )));
    }
    check_permissions(path)?;
    let text = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?);
    let file: KeyringFile = serde_json::from_slice(&text).map_err(|e| {
        Error::Config(format!(
            "keyring {}: not a datacustoms keyring (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if file.format != KEYRING_FORMAT {
        return Err(Error::Config(format!(
            "keyring {}: format `{}` is not {KEYRING_FORMAT}",
            path.display(),
            file.format
        )));
    }
    let (primary, entries) = match file.wrapped {
        None => (
            file.primary.ok_or_else(|| {
                Error::Config(format!("keyring {}: no primary version", path.display()))
            })?,
            file.keys,
        ),
        Some(w) => {
            let by = KeySource::parse(&w.by)?;
            let kek = by.load()?;
            let kek = kek.primary();
            if kek.id != w.key_id {
                return Err(Error::Config(format!(
                    "keyring {} is wrapped under key {}, but {} gives key {}",
                    path.display(),
                    w.key_id,
                    by.describe(),
                    kek.id
                )));
            }
            let wrap = kek.derive("keyring-wrap", "", "");
            let cipher = Aes256Gcm::new_from_slice(wrap.expose()).expect("32-byte key");
            let bad = || {
                Error::Config(format!("keyring {}: the wrapped key list does not decrypt (wrong wrapping key or a damaged file)", path.display()))
            };
            let nonce = B64.decode(&w.nonce).map_err(|_| bad())?;
            let ct = B64.decode(&w.ciphertext).map_err(|_| bad())?;
            if nonce.len() != 12 {
                return Err(bad());
            }
            let plain = Zeroizing::new(
                cipher
                    .decrypt(
                        Nonce::from_slice(&nonce),
                        Payload {
                            msg: &ct,
                            aad: KEYRING_FORMAT.as_bytes(),
                        },
                    )
                    .map_err(|_| bad())?,
            );
            let inner: InnerKeys = serde_json::from_slice(&plain).map_err(|_| bad())?;
            (inner.primary, inner.keys)
        }
    };
    let mut keys = Vec::new();
    for e in entries {
        let what = format!("keyring {} version {}", path.display(), e.version);
        let k = RootKey::new(
            e.version,
            e.created_at.clone(),
            Secret::from_base64(&e.material, &what)?,
        );
        if k.id != e.id {
            return Err(Error::Config(format!(
                "{what}: the key does not match its recorded id {} (the file was edited or damaged)",
                e.id
            )));
        }
        keys.push(k);
    }
    if !keys.iter().any(|k| k.version == primary) {
        return Err(Error::Config(format!(
            "keyring {}: primary version {primary} is not in the file",
            path.display()
        )));
    }
    Ok(Keyring {
        keys,
        primary,
        source: source.to_string(),
    })
}

/// Writes a keyring file atomically with mode 0600.
fn write_keyring_file(path: &Path, ring: &Keyring, wrap_with: Option<&str>) -> Result<()> {
    let entries: Vec<KeyEntry> = ring
        .keys
        .iter()
        .map(|k| KeyEntry {
            version: k.version,
            id: k.id.clone(),
            created_at: k.created_at.clone(),
            material: k.secret.to_base64(),
        })
        .collect();
    let file = match wrap_with {
        None => KeyringFile {
            format: KEYRING_FORMAT.into(),
            primary: Some(ring.primary),
            keys: entries,
            wrapped: None,
        },
        Some(by) => {
            let kek_ring = KeySource::parse(by)?.load()?;
            let kek = kek_ring.primary();
            let inner = Zeroizing::new(serde_json::to_vec(&InnerKeys {
                primary: ring.primary,
                keys: entries,
            })?);
            let wrap = kek.derive("keyring-wrap", "", "");
            let cipher = Aes256Gcm::new_from_slice(wrap.expose()).expect("32-byte key");
            let mut nonce = [0u8; 12];
            fill_random(&mut nonce)?;
            let ct = cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &inner,
                        aad: KEYRING_FORMAT.as_bytes(),
                    },
                )
                .map_err(|_| Error::Internal("cannot wrap the keyring".into()))?;
            KeyringFile {
                format: KEYRING_FORMAT.into(),
                primary: None,
                keys: Vec::new(),
                wrapped: Some(WrappedKeys {
                    by: by.to_string(),
                    key_id: kek.id.clone(),
                    nonce: B64.encode(nonce),
                    ciphertext: B64.encode(ct),
                }),
            }
        }
    };
    let text = Zeroizing::new(serde_json::to_vec_pretty(&file)?);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .map_err(|e| Error::io("cannot create", &tmp, e))?;
        f.write_all(&text)
            .map_err(|e| Error::io("cannot write", &tmp, e))?;
        f.sync_all()
            .map_err(|e| Error::io("cannot sync", &tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot rename", path, e))
}

/// `keys init`: a new keyring with one fresh root key (version 1). Refuses to replace
/// an existing file, since that would orphan every token and ciphertext made with it.
pub fn init_keyring(path: &Path, wrap_with: Option<&str>) -> Result<Keyring> {
    if path.exists() {
        return Err(Error::OutputExists(format!(
            "keyring {} already exists; replacing it would make its tokens and ciphertext unrecoverable (use `keys rotate` to add a version)",
            path.display()
        )));
    }
    let ring = Keyring {
        keys: vec![RootKey::new(
            1,
            crate::evidence::now_rfc3339(),
            Secret::random()?,
        )],
        primary: 1,
        source: format!("file:{}", path.display()),
    };
    write_keyring_file(path, &ring, wrap_with)?;
    Ok(ring)
}

/// `keys rotate`: adds a fresh root key version and makes it primary; old versions stay
/// so that existing ciphertext and vault entries can still be read.
pub fn rotate_keyring(path: &Path) -> Result<Keyring> {
    let mut ring = load_keyring_file(path, &format!("file:{}", path.display()))?;
    let wrap_with = {
        let text = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        let f: KeyringFile = serde_json::from_slice(&text)?;
        f.wrapped.map(|w| w.by)
    };
    let next = ring.keys.iter().map(|k| k.version).max().unwrap_or(0) + 1;
    ring.keys.push(RootKey::new(
        next,
        crate::evidence::now_rfc3339(),
        Secret::random()?,
    ));
    ring.primary = next;
    write_keyring_file(path, &ring, wrap_with.as_deref())?;
    Ok(ring)
}

/// Loads a keyring, creating it first (with a notice) when it is the state folder's
/// default (`create`) and missing: the quickstart then works on a fresh machine, and a
/// typo in a keyring path someone wrote is still an error.
pub fn load_or_create_local(src: &KeySource, create: bool) -> Result<Keyring> {
    if let KeySource::File(p) = src {
        if create && !p.exists() {
            init_keyring(p, None)?;
            tracing::warn!(
                "created a local keyring at {} (mode 0600): it holds the root key that signs your exports; \
                 back it up, keep it at home, and use a real keyring or KMS helper for production",
                p.display()
            );
        }
    }
    src.load()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_separates_purpose_scope_type_and_version() {
        let a = RootKey::new(1, String::new(), Secret::from_bytes([7; 32]));
        let b = RootKey::new(2, String::new(), Secret::from_bytes([7; 32]));
        let k = |r: &RootKey, p, s, e| r.derive(p, s, e).expose().to_vec();
        assert_eq!(
            k(&a, "token", "lab", "PHONE"),
            k(&a, "token", "lab", "PHONE")
        );
        assert_ne!(
            k(&a, "token", "lab", "PHONE"),
            k(&a, "token", "lab", "CN_ID_CARD")
        );
        assert_ne!(
            k(&a, "token", "lab", "PHONE"),
            k(&a, "token", "lab2", "PHONE")
        );
        assert_ne!(
            k(&a, "token", "lab", "PHONE"),
            k(&a, "vault", "lab", "PHONE")
        );
        assert_ne!(
            k(&a, "token", "lab", "PHONE"),
            k(&b, "token", "lab", "PHONE")
        );
        assert_ne!(k(&a, "token", "ab", "C"), k(&a, "token", "a", "bC"));
        assert!(a.id.starts_with("k1-") && a.id.len() == 15);
    }

    #[test]
    fn keyring_round_trip_rotate_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ring.json");
        let r1 = init_keyring(&p, None).unwrap();
        let id1 = r1.primary().id.clone();
        assert!(init_keyring(&p, None).is_err());
        let r2 = rotate_keyring(&p).unwrap();
        assert_eq!(r2.primary().version, 2);
        let loaded = KeySource::File(p.clone()).load().unwrap();
        assert_eq!(loaded.primary().version, 2);
        assert_eq!(loaded.version(1).unwrap().id, id1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
            let err = KeySource::File(p.clone()).load().err().unwrap().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn wrapped_keyring_needs_its_wrapping_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ring.json");
        // A command source keeps this test independent of the process environment.
        let kek = format!("command:echo {}", B64.encode([9u8; 32]));
        let ring = init_keyring(&p, Some(&kek)).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains("material"),
            "wrapped file shows no key entries"
        );
        let loaded = KeySource::File(p.clone()).load().unwrap();
        assert_eq!(loaded.primary().id, ring.primary().id);
        let rotated = rotate_keyring(&p).unwrap();
        assert_eq!(rotated.primary().version, 2);
        // Point the file at a different wrapping key: refused with a clear error.
        let other = format!("command:echo {}", B64.encode([8u8; 32]));
        let edited = text.replace(&kek, &other);
        std::fs::write(&p, edited).unwrap();
        let err = KeySource::File(p).load().err().unwrap().to_string();
        assert!(err.contains("wrapped under key"), "{err}");
    }

    #[test]
    fn sources_parse_and_explain() {
        assert_eq!(
            KeySource::parse("env:X_1").unwrap(),
            KeySource::Env("X_1".into())
        );
        assert!(KeySource::parse("env:").is_err());
        assert!(KeySource::parse("vault:x").is_err());
        let err = KeySource::Command("exit 3".into())
            .load()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("exited"), "{err}");
        let err = KeySource::Command("echo c2hvcnQ=".into())
            .load()
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("32 bytes") && !err.contains("c2hvcnQ"),
            "{err}"
        );
        assert_eq!(
            KeySource::Command("kms-get --key abc".into()).describe(),
            "command:kms-get …"
        );
    }
}
