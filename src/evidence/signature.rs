//! `manifest.sig`: an Ed25519 signature over `manifest.json` (which carries every file's
//! SHA-256 and the audit chain head), made with a key derived from the root key
//! (`derive("manifest-signing", "", "")`), with the public key beside it. A recipient
//! checks that nobody re-hashed an edited export; with `--trusted-key` that the exporter
//! signed it.
//!
//! Invariants: the signing key exists only inside a run (derived, used, zeroized); the
//! export carries the public key and its id, never the private key.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::crypto::RootKey;
use crate::error::{Error, Result};

pub const SIGNATURE: &str = "manifest.sig";

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestSignature {
    pub algorithm: String,
    /// Id of the root key the signing key was derived from.
    pub key_id: String,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// Signature over the exact bytes of manifest.json, base64.
    pub signature: String,
}

fn signing_key(root: &RootKey) -> SigningKey {
    let seed = root.derive("manifest-signing", "", "");
    SigningKey::from_bytes(seed.expose())
}

/// The base64 public key a root key signs exports with (to publish to recipients).
pub fn public_key(root: &RootKey) -> String {
    B64.encode(signing_key(root).verifying_key().as_bytes())
}

/// Signs `dir/manifest.json` into `dir/manifest.sig`.
pub fn sign(dir: &Path, root: &RootKey) -> Result<()> {
    let m = dir.join(super::manifest::MANIFEST);
    let bytes = std::fs::read(&m).map_err(|e| Error::io("cannot read", &m, e))?;
    let key = signing_key(root);
    let sig = ManifestSignature {
        algorithm: "Ed25519".into(),
        key_id: root.id.clone(),
        public_key: B64.encode(key.verifying_key().as_bytes()),
        signature: B64.encode(key.sign(&bytes).to_bytes()),
    };
    let path = dir.join(SIGNATURE);
    let mut text = serde_json::to_vec_pretty(&sig)?;
    text.push(b'\n');
    std::fs::write(&path, text).map_err(|e| Error::io("cannot write", &path, e))
}

/// Checks `manifest.sig` against `manifest.json`; with `trusted`, also that the public
/// key is that one. Returns how to describe the signer: without a trusted key, the
/// signature only shows the manifest was not changed after *someone* signed it.
pub fn check(dir: &Path, trusted: Option<&str>) -> std::result::Result<String, String> {
    let path = dir.join(SIGNATURE);
    let text = std::fs::read(&path)
        .map_err(|_| "manifest.sig is missing: the export is unsigned".to_string())?;
    let sig: ManifestSignature = serde_json::from_slice(&text)
        .map_err(|e| format!("manifest.sig: not a signature file ({e})"))?;
    if sig.algorithm != "Ed25519" {
        return Err(format!("manifest.sig: unknown algorithm {}", sig.algorithm));
    }
    let pk: [u8; 32] = B64
        .decode(&sig.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("manifest.sig: the public key is not 32 bytes of base64")?;
    let key =
        VerifyingKey::from_bytes(&pk).map_err(|_| "manifest.sig: not an Ed25519 public key")?;
    let s: [u8; 64] = B64
        .decode(&sig.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("manifest.sig: the signature is not 64 bytes of base64")?;
    let manifest = std::fs::read(dir.join(super::manifest::MANIFEST))
        .map_err(|e| format!("manifest.json: {e}"))?;
    key.verify_strict(&manifest, &Signature::from_bytes(&s))
        .map_err(|_| "manifest.sig: the signature does not match manifest.json (the manifest was changed after signing)".to_string())?;
    match trusted {
        Some(t) => {
            let pinned = B64.decode(t.trim()).ok();
            if pinned.as_deref() != Some(&pk[..]) {
                return Err(format!(
                    "manifest.sig: signed by public key {}, not by the trusted key",
                    sig.public_key
                ));
            }
            Ok(format!("by the trusted key (root key {})", sig.key_id))
        }
        None => Ok(format!(
            "by public key {} (says root key {}; not authenticated: pass --trusted-key to pin the exporter)",
            sig.public_key, sig.key_id
        )),
    }
}
