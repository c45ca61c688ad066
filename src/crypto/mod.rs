//! Keys and what is done with them: root key sources and the keyring (`keys`), keyed
//! tokens (`token`), AES-256-GCM cells under envelope encryption (`cell`), the
//! re-identification vault (`vault`), and the per-run bundle a pipeline uses (`RunKeys`).
//!
//! Invariants: no key material is ever printed, logged, serialized into an export or
//! placed in an error (key types have no `Debug`); every working key is derived from a
//! root key with HKDF-SHA256; what leaves in an export is key *ids*, never keys.

pub mod cell;
pub mod keys;
pub mod plain;
pub mod run;
pub mod token;
pub mod vault;

pub use keys::{KeySource, Keyring, RootKey, Secret};
pub use run::RunKeys;
