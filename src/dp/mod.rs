//! Differentially private aggregate release: exact noise samplers (`sampler`), the
//! `dp_release` stage with contribution bounding (`release`), the persistent budget
//! ledger (`ledger`) and the DP passport (`passport`).

pub mod ledger;
pub mod passport;
pub mod release;
pub mod sampler;

/// A group key: the `group_by` values (None = null), plus the bin for histograms.
pub(crate) type Key = Vec<Option<String>>;

/// One released row of an aggregate table (`release` writes them, `passport` reads them
/// back to check a replay).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct OutRow {
    pub(crate) key: Key,
    pub(crate) value: f64,
    pub(crate) ci95_half_width: f64,
}
