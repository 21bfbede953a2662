//! Disks that left a running class (GDS: the I/O-error flag), recorded in the class
//! metadata so that a returning disk is told from a stale copy.

use super::ClassMeta;
use crate::layout::Leg;
use serde::{Deserialize, Serialize};

/// A disk that left the class while it was running (GDS: I/O-error flag set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departure {
    /// Disk name in the class.
    pub disk: String,
    /// The class generation when it left: the newest its own metadata can hold, so a
    /// returning disk must carry exactly this one.
    pub generation: u64,
    /// Why (for the admin).
    pub reason: String,
    /// Legs a hot spare took over from this disk.
    #[serde(default)]
    pub takeovers: Vec<Takeover>,
}

/// One leg moved onto a hot spare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Takeover {
    /// Volume.
    pub volume: String,
    /// Leg index.
    pub leg: usize,
    /// The spare disk.
    pub spare: String,
    /// The leg as it was on the failed disk (restored by the swap-back).
    pub original: Leg,
    /// The leg is back on the original disk and being rebuilt; the spare is released
    /// when it is in sync.
    #[serde(default)]
    pub returned: bool,
}

/// The departure record of disk `disk`, if it left.
pub fn departure<'a>(meta: &'a ClassMeta, disk: &str) -> Option<&'a Departure> {
    meta.departed.iter().find(|d| d.disk == disk)
}

/// Why disk `name`, found holding metadata `generation`, is a stale copy of a disk
/// that left the class: it left at another generation, so it is not the disk that
/// left (an old image, a clone). `None` when it did not leave or is that disk.
/// `status` shows such a disk `DISABLE`; events refuse it.
pub fn stale_departed(meta: &ClassMeta, name: &str, generation: u64) -> Option<String> {
    let d = departure(meta, name)?;
    (d.generation != generation).then(|| {
        format!(
            "stale copy: it holds generation {generation}, the disk left at generation {}",
            d.generation
        )
    })
}
