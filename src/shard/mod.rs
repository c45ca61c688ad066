//! The shard protocol's building blocks (`../shared/SCALEOUT.md`, issue 15): the work
//! directory a sharded run keeps at home, and the task folders its steps (`map`,
//! `reduce`, `apply`) commit into. The steps themselves come next; this module holds
//! what every one of them needs first: an attempt that commits atomically, once.

pub mod inputs;
pub mod task;
