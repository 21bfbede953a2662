//! dmclass-model: the admin's YAML configuration (DESIGN.md §3) as typed values.
//!
//! Parsing keeps the source position of every node so that each validation error can
//! name `file:line:column`; validation collects every error rather than stopping at the
//! first.
#![forbid(unsafe_code)]

pub mod config;
pub mod env;
pub mod size;

pub use config::*;
pub use env::{BootMode, Environment};
pub use size::{Bytes, Sectors};
