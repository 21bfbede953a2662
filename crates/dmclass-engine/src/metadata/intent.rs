//! The intent of an apply in progress, recorded in the class description before the
//! first kernel change and cleared by the apply's last metadata write (as LVM's
//! precommitted metadata: `vg_write` before `suspend`, `vg_commit` after).
//!
//! An intent still present on disk means the apply was interrupted; the next
//! activation finishes or rolls it back (`assemble::recover` documents what each
//! [`IntentOp`] gets) and clears it with a new generation.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kind of one change of an apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntentOp {
    /// A new class: fresh private areas on every disk.
    CreateClass,
    /// A disk registered into an existing class.
    AddDisk,
    /// A new volume.
    CreateVolume,
    /// A volume grown.
    Grow,
    /// A mirror leg added to a volume (rebuilt by the kernel).
    AddLeg,
    /// A volume removed (`--allow-destroy`).
    RemoveVolume,
    /// A copy-on-write snapshot created.
    Snapshot,
    /// A snapshot (copy-on-write or proxy) removed.
    RemoveSnapshot,
    /// A proxy volume joined to its master (a new leg, copied by the kernel).
    ProxyJoin,
    /// A proxy volume parted from its master.
    ProxyPart,
    /// A parted proxy joined back (incremental copy).
    ProxyRejoin,
    /// A parted proxy copied back onto its master.
    ProxyRestore,
    /// A proxy turned into an ordinary volume.
    ProxyBreak,
    /// A volume's copy rate changed (raid1 table reloaded).
    CopyRate,
    /// Any other kernel change: the metadata written first records the target state,
    /// activation builds it (roll forward).
    Reconfigure,
    /// An op this build does not know (written by a newer dmclass): recovery refuses
    /// to guess and names it.
    #[serde(other)]
    Unknown,
}

impl IntentOp {
    /// The JSON / failpoint-doc spelling (`create-volume`, `add-leg`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IntentOp::CreateClass => "create-class",
            IntentOp::AddDisk => "add-disk",
            IntentOp::CreateVolume => "create-volume",
            IntentOp::Grow => "grow",
            IntentOp::AddLeg => "add-leg",
            IntentOp::RemoveVolume => "remove-volume",
            IntentOp::Snapshot => "snapshot",
            IntentOp::RemoveSnapshot => "remove-snapshot",
            IntentOp::ProxyJoin => "proxy-join",
            IntentOp::ProxyPart => "proxy-part",
            IntentOp::ProxyRejoin => "proxy-rejoin",
            IntentOp::ProxyRestore => "proxy-restore",
            IntentOp::ProxyBreak => "proxy-break",
            IntentOp::CopyRate => "copy-rate",
            IntentOp::Reconfigure => "reconfigure",
            IntentOp::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for IntentOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of the apply: what is done to which object (a volume or disk name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentChange {
    /// What is done.
    pub op: IntentOp,
    /// Volume, disk or snapshot name.
    pub object: String,
}

/// A multi-step change that was started and may need finishing after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Identifies the apply (in warnings and logs).
    pub id: Uuid,
    /// The op when the apply makes one kind of change; the first one otherwise
    /// (every change is in [`Intent::changes`]).
    pub op: IntentOp,
    /// Objects touched (volume / disk names), in change order.
    pub objects: Vec<String>,
    /// Every change, in plan order.
    #[serde(default)]
    pub changes: Vec<IntentChange>,
    /// Generation of the class before the apply (0 for a new class).
    pub from_generation: u64,
    /// Generation of the metadata write that clears the intent (the apply is
    /// complete once the class reaches it).
    pub to_generation: u64,
}

impl Intent {
    /// Whether the apply makes a change of kind `op` (to any object).
    pub fn has(&self, op: IntentOp) -> bool {
        self.changes.iter().any(|c| c.op == op)
    }

    /// Objects of the changes of kind `op`.
    pub fn objects_of(&self, op: IntentOp) -> Vec<&str> {
        self.changes
            .iter()
            .filter(|c| c.op == op)
            .map(|c| c.object.as_str())
            .collect()
    }

    /// One line for the admin: `add-leg of v1 (apply 1234…, generation 3 → 5)`.
    pub fn describe(&self) -> String {
        let ops: Vec<String> = self
            .changes
            .iter()
            .map(|c| format!("{} {}", c.op, c.object))
            .collect();
        format!(
            "{} (apply {}, generation {} -> {})",
            if ops.is_empty() {
                self.op.to_string()
            } else {
                ops.join(", ")
            },
            self.id,
            self.from_generation,
            self.to_generation
        )
    }
}
