//! What the support matrix allows but this version cannot deliver yet. `plan` and
//! `apply` refuse it before planning (today: a root class on blank disks); `check`
//! shows it as a note. The planner below ([`super::plan`]) still plans such classes, so its
//! tests keep covering them.

use crate::error::{EngineError, Result};
use dmclass_model::{Class, ClassType, DiskRole, Span};

/// One thing in a class that is not built yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unbuilt {
    /// The class.
    pub class: String,
    /// What in it (`type root`, `group g1 (type netmirror)`).
    pub object: String,
    /// What is missing, and what would go wrong.
    pub why: &'static str,
    /// Where in the configuration.
    pub span: Span,
}

impl Unbuilt {
    /// The refusal `plan` and `apply` give.
    pub fn refusal(&self) -> EngineError {
        EngineError::NotBuilt {
            class: self.class.clone(),
            object: self.object.clone(),
            why: self.why.to_owned(),
        }
    }
}

/// Everything in `class` that this version cannot deliver yet.
pub fn unbuilt(class: &Class) -> Vec<Unbuilt> {
    let mut out = Vec::new();
    let name = class.name.as_str();
    match class.class_type {
        // Converting the running system disk (`role: keep`) is built: the
        // initramfs assembles the class (initramfs-tools/); a root class on blank
        // disks (installing a system onto them) is not.
        ClassType::Root if !class.disks.iter().any(|d| d.role == DiskRole::Keep) => {
            out.push(Unbuilt {
                class: name.to_owned(),
                object: "type root without a keep disk".into(),
                why: "a root class on blank disks (installing a system onto them) is not built yet; register the running system disk with `role: keep` to mirror it in place",
                span: class.span,
            });
        }
        // Shared: volumes run under sanlock leases (crate::lease); the shell takes them.
        ClassType::Root | ClassType::Local | ClassType::Shared => {}
    }
    // Netmirror: each node exports its disk and connects to the partner's (the shell,
    // crate::netmirror::links) before planning; the group is a raid1 like a mirror.
    out
}

/// Refuse a class with anything not built yet (the first such thing).
pub fn check_built(class: &Class) -> Result<()> {
    match unbuilt(class).first() {
        Some(u) => Err(u.refusal()),
        None => Ok(()),
    }
}
