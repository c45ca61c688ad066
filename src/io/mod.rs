//! Sources, sinks and quarantine: the only place that knows about file formats.
//! Everything downstream sees Arrow `RecordBatch`es wrapped in `engine::batch::Batch`.

pub mod csv;
pub mod jsonl;
pub mod quarantine;
pub mod schema;
pub mod sink;
pub mod source;
