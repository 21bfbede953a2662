//! dmclass-rules: what a machine is (facts), what each disk is (device kinds), and the
//! declarative support matrix (`rules.yaml`) that gates every layout (docs/support-matrix.md).
#![forbid(unsafe_code)]

pub mod detect;
pub mod error;
pub mod facts;
pub mod gate;
pub mod kind;
pub mod matrix;
pub mod render;

pub use detect::{boot_mode, detect_environment};
pub use dmclass_model::{BootMode, Environment};
pub use error::RulesError;
pub use facts::*;
pub use gate::{disk_matches, gate, gate_function, gate_with, Allowance, Finding, Report};
pub use kind::{classify, DeviceKind};
pub use matrix::{
    matrix, BootRequirement, DenyHint, DeviceMap, Function, Limit, Matrix, Note, Rule, RuleClass,
    Severity,
};
pub use render::render_matrix;
