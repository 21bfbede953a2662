//! Parser for `snapshot` / `snapshot-merge` status (INFO) lines (lvm_dm.md §1.3):
//! `<allocated>/<total> <metadata>` in sectors (the 2-number form without metadata
//! from old kernels too), or one of the words `Invalid`, `Merge failed`, `Overflow`,
//! `Unknown`. Total on untrusted input.

use crate::error::{EngineError, Result};
use dmclass_model::Sectors;

/// A parsed snapshot status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// The store works.
    Usage {
        /// Sectors allocated (including metadata).
        allocated: Sectors,
        /// Size of the store.
        total: Sectors,
        /// Metadata sectors (equal to `allocated` once a merge has finished).
        metadata: Option<Sectors>,
    },
    /// The store overflowed or failed: permanently unusable.
    Invalid,
    /// A merge failed.
    MergeFailed,
    /// Full with `PO` persistence.
    Overflow,
    /// The kernel does not know.
    Unknown,
}

impl SnapshotStatus {
    /// A finished merge: allocated equals the metadata sectors.
    pub fn merge_finished(&self) -> bool {
        matches!(self, SnapshotStatus::Usage { allocated, metadata: Some(m), .. } if allocated == m)
    }

    /// Percent of the store in use (allocated / total), for usable stores.
    pub fn percent(&self) -> Option<f64> {
        match self {
            #[allow(clippy::cast_precision_loss)]
            SnapshotStatus::Usage {
                allocated, total, ..
            } if total.0 > 0 => Some(allocated.0 as f64 * 100.0 / total.0 as f64),
            _ => None,
        }
    }
}

fn bad(s: &str) -> EngineError {
    EngineError::Status {
        target: "snapshot",
        reason: "expected <allocated>/<total> [<metadata>] or a state word".into(),
        input: s.chars().take(200).collect(),
    }
}

/// Parse the status parameters of a snapshot or snapshot-merge line.
#[allow(clippy::many_single_char_names)] // a/b: the two halves of `a/b`
pub fn parse_snapshot_status(s: &str) -> Result<SnapshotStatus> {
    let t = s.trim();
    if t == "Invalid" || t.starts_with("Invalid ") {
        return Ok(SnapshotStatus::Invalid);
    }
    match t {
        "Merge failed" => return Ok(SnapshotStatus::MergeFailed),
        "Overflow" => return Ok(SnapshotStatus::Overflow),
        "Unknown" => return Ok(SnapshotStatus::Unknown),
        _ => {}
    }
    let mut w = t.split_whitespace();
    let (a, b) = w
        .next()
        .and_then(|x| x.split_once('/'))
        .ok_or_else(|| bad(s))?;
    let num = |x: &str| x.parse::<u64>().map(Sectors).map_err(|_| bad(s));
    let (allocated, total) = (num(a)?, num(b)?);
    let metadata = w.next().map(num).transpose()?;
    if w.next().is_some() || allocated > total {
        return Err(bad(s));
    }
    Ok(SnapshotStatus::Usage {
        allocated,
        total,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse_snapshot_status("24/1024 16").unwrap(),
            SnapshotStatus::Usage {
                allocated: Sectors(24),
                total: Sectors(1024),
                metadata: Some(Sectors(16))
            }
        );
        assert!(parse_snapshot_status("16/1024 16")
            .unwrap()
            .merge_finished());
        assert!(!parse_snapshot_status("24/1024 16")
            .unwrap()
            .merge_finished());
        assert_eq!(
            parse_snapshot_status("512/1024 16").unwrap().percent(),
            Some(50.0)
        );
        assert_eq!(
            parse_snapshot_status("8/16").unwrap(),
            SnapshotStatus::Usage {
                allocated: Sectors(8),
                total: Sectors(16),
                metadata: None
            }
        );
        assert_eq!(
            parse_snapshot_status("Invalid").unwrap(),
            SnapshotStatus::Invalid
        );
        assert_eq!(
            parse_snapshot_status("Invalid ENOSPC").unwrap(),
            SnapshotStatus::Invalid
        );
        assert_eq!(
            parse_snapshot_status("Merge failed").unwrap(),
            SnapshotStatus::MergeFailed
        );
        assert_eq!(
            parse_snapshot_status("Overflow").unwrap(),
            SnapshotStatus::Overflow
        );
        for b in ["", "x", "1/", "/2", "3/2 1", "1/2 3 4", "-1/2"] {
            assert!(parse_snapshot_status(b).is_err(), "{b}");
        }
    }
}
