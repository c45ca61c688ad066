//! Differentially private aggregate release: exact noise samplers (`sampler`), the
//! `dp_release` stage with contribution bounding (`release`), the persistent budget
//! ledger (`ledger`) and the DP passport (`passport`).

pub mod ledger;
pub mod passport;
pub mod release;
pub mod sampler;
