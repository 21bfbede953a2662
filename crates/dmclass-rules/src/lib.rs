//! dmclass-rules: what a machine is (facts), what each disk is (device kinds), and the
//! declarative support matrix (`rules.yaml`) that gates every layout (DESIGN.md §2).
#![forbid(unsafe_code)]

pub mod detect;
pub mod facts;
pub mod kind;

pub use detect::{boot_mode, detect_environment};
pub use dmclass_model::{BootMode, Environment};
pub use facts::*;
pub use kind::{classify, DeviceKind};
