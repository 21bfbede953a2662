//! Class closing: GDS's availability rule for the configuration database
//! (GDS: "configuration database and class closure"; docs/concepts.md).
//!
//! A class is **closed** — it refuses every change and is not activated — when too
//! few of its metadata copies (one per registered disk) are readable:
//!
//! | disks holding a copy | closed when readable copies are | reopening needs |
//! |---|---|---|
//! | 0 | (always: no disk at all) | — |
//! | 1–2 | 0 | ≥ 1 |
//! | 3–5 | ≤ 1 | ≥ 2 |
//! | ≥ 6 | ≤ 2 | ≥ 3 |
//!
//! The "reopening needs" column is `sdxfix -C`'s requirement and is exactly the
//! complement of the closing thresholds, so one minimum ([`min_readable`]) expresses
//! both. A root class is never closed unless no copy at all is readable.
//!
//! Counting: `total` is the number of recorded disks that hold a copy (every disk
//! whose recorded state is not `DISABLE`, hot spares included, as GDS keeps a
//! private slice on spares); `readable` the number of those whose private area was
//! read valid (an older generation still counts: it is readable and is rewritten).

use crate::metadata::{ClassMeta, ClassTypeMeta, DiskState};
use serde::Serialize;

/// Why a class is closed (GDS `sdxdcdown` REASON column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ClosedReason {
    /// No copy is readable (`NoDB`).
    NoDb,
    /// Some copies are readable, but fewer than the rule requires (`FewDB`).
    FewDb,
}

/// A closed class: the counts and the rule that closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Closing {
    /// GDS reason code.
    pub reason: ClosedReason,
    /// Disks that should hold a copy.
    pub total: usize,
    /// Copies read valid.
    pub readable: usize,
    /// Readable copies the rule requires for a class of `total` disks.
    pub required: usize,
}

impl std::fmt::Display for Closing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let band = match self.total {
            0..=2 => "up to 2 disks",
            3..=5 => "3 to 5 disks",
            _ => "6 or more disks",
        };
        write!(
            f,
            "class closed ({}): {} of {} metadata copies readable; a class of {band} needs at least {} (GDS closing rule); reattach the missing disks",
            match self.reason {
                ClosedReason::NoDb => "NoDB",
                ClosedReason::FewDb => "FewDB",
            },
            self.readable,
            self.total,
            self.required
        )
    }
}

/// Readable copies a class of `total` disks needs to stay open (and to be reopened).
pub fn min_readable(total: usize) -> usize {
    match total {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    }
}

/// The rule for a local or shared class: `Some` when a class whose `total` disks hold
/// a metadata copy, `readable` of them valid, is closed.
pub fn closing(total: usize, readable: usize) -> Option<Closing> {
    let required = min_readable(total);
    (total == 0 || readable < required).then_some(Closing {
        reason: if readable == 0 {
            ClosedReason::NoDb
        } else {
            ClosedReason::FewDb
        },
        total,
        readable,
        required,
    })
}

/// [`closing`] with the root-class exception: a root class closes only when no copy
/// is readable.
pub fn closing_for(class_type: ClassTypeMeta, total: usize, readable: usize) -> Option<Closing> {
    if class_type == ClassTypeMeta::Root {
        return (readable == 0).then_some(Closing {
            reason: ClosedReason::NoDb,
            total,
            readable,
            required: 1,
        });
    }
    closing(total, readable)
}

/// Disks of `meta` that should hold a metadata copy.
pub fn copy_holders(meta: &ClassMeta) -> usize {
    meta.disks
        .iter()
        .filter(|d| d.state != DiskState::Disable)
        .count()
}

/// Whether a class is closed, given its newest description and which disks' private
/// area was read valid (`is_present(disk name)`).
pub fn meta_closing(meta: &ClassMeta, is_present: impl Fn(&str) -> bool) -> Option<Closing> {
    let readable = meta
        .disks
        .iter()
        .filter(|d| d.state != DiskState::Disable)
        .filter(|d| is_present(&d.name))
        .count();
    closing_for(meta.class_type, copy_holders(meta), readable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_table() {
        // (total, readable, closed?)
        let cases = [
            (0, 0, true),
            (1, 0, true),
            (1, 1, false),
            (2, 0, true),
            (2, 1, false),
            (2, 2, false),
            (3, 0, true),
            (3, 1, true),
            (3, 2, false),
            (4, 1, true),
            (4, 2, false),
            (5, 1, true),
            (5, 2, false),
            (6, 2, true),
            (6, 3, false),
            (8, 2, true),
            (8, 3, false),
            (64, 2, true),
            (64, 3, false),
        ];
        for (t, r, want) in cases {
            assert_eq!(closing(t, r).is_some(), want, "total {t} readable {r}");
        }
    }

    #[test]
    fn reopen_requirement_is_the_complement() {
        for t in 1..20 {
            for r in 0..=t {
                assert_eq!(closing(t, r).is_none(), r >= min_readable(t), "{t} {r}");
            }
        }
    }

    #[test]
    fn reasons_and_message() {
        let c = closing(4, 0).unwrap();
        assert_eq!(c.reason, ClosedReason::NoDb);
        let c = closing(4, 1).unwrap();
        assert_eq!(c.reason, ClosedReason::FewDb);
        assert_eq!(c.required, 2);
        let m = c.to_string();
        assert!(
            m.contains("1 of 4") && m.contains("at least 2") && m.contains("FewDB"),
            "{m}"
        );
    }

    #[test]
    fn root_closes_only_with_no_copy() {
        assert!(closing_for(ClassTypeMeta::Root, 6, 1).is_none());
        assert!(closing_for(ClassTypeMeta::Root, 6, 0).is_some());
        assert!(closing_for(ClassTypeMeta::Local, 6, 1).is_some());
    }

    #[test]
    fn disabled_disks_hold_no_copy() {
        let mut m = crate::testutil::sample_class();
        let only_d1 = |n: &str| n == "d1";
        assert!(meta_closing(&m, only_d1).is_none());
        assert!(meta_closing(&m, |_| false).is_some());
        m.disks.push(crate::testutil::disk("d3", 3, 8));
        assert!(meta_closing(&m, only_d1).is_some(), "1 of 3");
        m.disks[2].state = DiskState::Disable;
        assert!(meta_closing(&m, only_d1).is_none(), "1 of 2");
    }
}
