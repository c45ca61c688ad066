//! Evidence: the report, the manifest, the audit chain, the export folder's life cycle,
//! and `verify`. What a compliance officer and a reviewer read and check.

pub mod assessment;
pub mod audit;
pub mod export;
pub mod html;
pub mod kanon;
pub mod manifest;
pub mod report;
pub mod signature;
pub mod verify;

/// Current UTC time as RFC 3339 with seconds.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
