//! dmclass-model: the admin's YAML configuration (docs/configuration.md) as typed values.
//!
//! Parsing keeps the source position of every node so that each validation error can
//! name `file:line:column`; validation collects every error rather than stopping at the
//! first.
#![forbid(unsafe_code)]

pub mod config;
pub mod diag;
pub mod emit;
pub mod env;
pub mod error;
pub mod input;
pub mod name;
pub mod parse;
pub mod size;
mod spans;

pub use config::*;
pub use diag::{Diagnostic, Diagnostics};
pub use emit::to_yaml;
pub use env::{BootMode, Environment};
pub use error::ModelError;
pub use parse::{parse, validate};
pub use size::{Bytes, Sectors};
