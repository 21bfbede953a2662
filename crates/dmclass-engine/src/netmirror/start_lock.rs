//! The start lock of a netmirror volume (gds.md §6.3, "both nodes down"): a node that
//! cannot reach the partner's disk starts the volume from its own disk only when that
//! disk is known to hold the newest data.
//!
//! The record is the kernel's own: the dm-raid superblock on each leg's `_rmeta`
//! carries an event counter and a bit per leg that failed while the array ran. md
//! writes it on the surviving legs when a leg fails, before it acknowledges a write
//! that reached only them. So a disk whose superblock records the partner's leg failed
//! ran on after the partner's copy left: it is the newer one. A disk whose superblock
//! records nothing was in sync when last written — the partner may have run the volume
//! alone since, and only its own superblock could say so. That disk waits for the
//! partner (or for `activate --force`, which records the partner's disk stale).
//!
//! With both disks present the kernel takes the superblock with the higher event count
//! as the source, which is the newer disk — unless each records the other failed: both
//! nodes ran the volume alone since they were last in sync (split brain), and taking
//! either silently drops the other's writes. That is refused too.

use crate::layout::SliceState;
use crate::metadata::{ClassMeta, GroupKindMeta, VolumeMeta};
use crate::raid_sb::{LegView, RaidSuperblock, SbRead};

/// Whether `vol` lies on a netmirror group of `meta`.
pub fn is_netmirror_volume(meta: &ClassMeta, vol: &VolumeMeta) -> bool {
    meta.groups
        .iter()
        .any(|g| g.name == vol.on && g.kind == GroupKindMeta::Netmirror)
}

fn valid(l: &LegView) -> Option<&RaidSuperblock> {
    match &l.sb {
        Some(SbRead::Valid(sb)) => Some(sb),
        _ => None,
    }
}

/// `disk d1 (node1)`, for each disk of a leg.
fn leg_name(meta: &ClassMeta, l: &LegView) -> String {
    l.disks
        .iter()
        .map(|d| match meta.disk(d).and_then(|m| m.node.as_deref()) {
            Some(n) => format!("disk {d} ({n})"),
            None => format!("disk {d}"),
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The nodes of a leg's disks.
fn leg_nodes(meta: &ClassMeta, l: &LegView) -> Vec<String> {
    l.disks
        .iter()
        .filter_map(|d| meta.disk(d).and_then(|m| m.node.clone()))
        .collect()
}

/// Why netmirror volume `vol` of `meta` must not start with its legs as `views` shows
/// them (present or not, recorded state, superblocks read), or `None` when it may.
/// Volumes on other groups are never locked.
pub fn locked(meta: &ClassMeta, vol: &VolumeMeta, views: &[LegView]) -> Option<String> {
    if !is_netmirror_volume(meta, vol) {
        return None;
    }
    let what = format!("{}/{}", meta.name, vol.name);
    let present: Vec<(usize, &LegView)> = views
        .iter()
        .enumerate()
        .filter(|(_, l)| l.present)
        .collect();
    for (i, a) in &present {
        for (j, b) in &present {
            let (Some(sa), Some(sb)) = (valid(a), valid(b)) else {
                continue;
            };
            if i < j && sa.records_failed(*j) && sb.records_failed(*i) {
                return Some(format!(
                    "start lock (split brain): {} and {} each ran {what} without the other \
                     since they were last in sync (each dm-raid superblock records the other \
                     leg failed; events {} and {}): starting would silently drop one side's \
                     writes. Keep one: disconnect the other node's disk and run `dmclass \
                     activate --force {}` on the node whose data is kept; the other disk is \
                     then resynced from it",
                    leg_name(meta, a),
                    leg_name(meta, b),
                    sa.events,
                    sb.events,
                    meta.name
                ));
            }
        }
    }
    let reference = present
        .iter()
        .filter_map(|(_, l)| valid(l))
        .max_by_key(|sb| sb.events);
    let unknown: Vec<&LegView> = views
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            !l.present
                && !matches!(l.state, SliceState::Invalid | SliceState::Copy)
                && !reference.is_some_and(|r| r.records_failed(*i))
        })
        .map(|(_, l)| l)
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let away: Vec<String> = unknown.iter().map(|l| leg_name(meta, l)).collect();
    let mut nodes: Vec<String> = unknown.iter().flat_map(|l| leg_nodes(meta, l)).collect();
    nodes.dedup();
    let partner = if nodes.is_empty() {
        "the other node".to_owned()
    } else {
        nodes.join(" and ")
    };
    let here: Vec<String> = present.iter().map(|(_, l)| leg_name(meta, l)).collect();
    let here = if here.is_empty() {
        "no disk".to_owned()
    } else {
        here.join(", ")
    };
    let last = reference.map_or_else(String::new, |r| format!(" (dm-raid events {})", r.events));
    Some(format!(
        "start lock: {} is not reachable and may hold newer data of {what}: the copy on {here} \
         was in sync with it when last written{last}, so {partner} may have run {} alone since. \
         Start {partner} and run `dmclass activate {}` there (the older copy is then resynced \
         from the newer one); if that disk is lost or known to be older, `dmclass activate \
         --force {}` here starts from this copy and records the other stale",
        away.join(", "),
        vol.name,
        meta.name,
        meta.name
    ))
}

#[cfg(test)]
mod tests {
    // Test helpers take leg states by value and always return a superblock read.
    #![allow(
        clippy::unwrap_used,
        clippy::unnecessary_wraps,
        clippy::needless_pass_by_value
    )]
    use super::locked;
    use crate::layout::SliceState;
    use crate::plan::tests::{class, plan_for, world};
    use crate::raid_sb::{LegView, RaidSuperblock, SbRead, RECOVERY_DONE};

    fn meta(kind: &str) -> crate::metadata::ClassMeta {
        let w = world(&["d1", "d2"], 128);
        let c = class(&format!(
            "  - name: nm\n    type: shared\n    nodes: [{{name: node1, host_id: 1, address: 10.0.0.1}}, {{name: node2, host_id: 2, address: 10.0.0.2}}]\n    disks:\n      - {{name: d1, device: /dev/disk/by-id/virtio-d1, node: node1}}\n      - {{name: d2, device: /dev/disk/by-id/virtio-d2, node: node2}}\n    groups:\n      - {{name: g, type: {kind}, members: [d1, d2]}}\n    volumes:\n      - {{name: vol1, on: g, size: 16MiB}}\n"
        ));
        plan_for(&w, &c, false).unwrap().new_meta
    }

    fn sb(pos: usize, events: u64, failed: &[usize]) -> Option<SbRead> {
        let mut s = RaidSuperblock {
            num_devices: 2,
            array_position: u32::try_from(pos).unwrap(),
            events,
            failed: [0; 4],
            recovery_offset: RECOVERY_DONE,
            resync_offset: RECOVERY_DONE,
            level: 1,
            sectors: 1000,
        };
        for f in failed {
            s.set_failed(*f, true);
        }
        Some(SbRead::Valid(s))
    }

    /// Leg views of vol1, leg 0 on d1 and leg 1 on d2 (as the planner lays them out).
    fn views(
        m: &crate::metadata::ClassMeta,
        d1: (bool, Option<SbRead>),
        d2: (bool, Option<SbRead>),
    ) -> Vec<LegView> {
        let v = &m.volumes[0];
        v.layout
            .legs
            .iter()
            .map(|l| {
                let disk = l.disks()[0].to_owned();
                let (present, sb) = if disk == "d1" { d1.clone() } else { d2.clone() };
                LegView {
                    disks: vec![disk.clone()],
                    id: disk,
                    present,
                    state: l.state,
                    sb: if present { sb } else { None },
                    sectors: 1000,
                }
            })
            .collect()
    }

    /// Leg index of `disk` in vol1.
    fn leg(m: &crate::metadata::ClassMeta, disk: &str) -> usize {
        m.volumes[0]
            .layout
            .legs
            .iter()
            .position(|l| l.disks() == vec![disk])
            .unwrap()
    }

    #[test]
    fn a_disk_last_in_sync_waits_for_its_partner_and_names_it() {
        let m = meta("netmirror");
        let (l1, l2) = (leg(&m, "d1"), leg(&m, "d2"));
        // node2 booted alone: its superblock records nothing failed.
        let v = views(&m, (false, None), (true, sb(l2, 40, &[])));
        let why = locked(&m, &m.volumes[0], &v).unwrap();
        assert!(why.contains("disk d1 (node1) is not reachable"), "{why}");
        assert!(why.contains("node1 may have run vol1 alone"), "{why}");
        assert!(why.contains("dm-raid events 40"), "{why}");
        assert!(why.contains("activate --force nm"), "{why}");
        // node1 booted alone after running on without node2's leg: it is the newer.
        let v = views(&m, (true, sb(l1, 57, &[l2])), (false, None));
        assert_eq!(locked(&m, &m.volumes[0], &v), None);
        // The same disk, but its superblock records nothing: it waits too.
        let v = views(&m, (true, sb(l1, 57, &[])), (false, None));
        assert!(locked(&m, &m.volumes[0], &v)
            .unwrap()
            .contains("disk d2 (node2) is not reachable"));
        // No superblock readable here: nothing proves this copy newest.
        let v = views(&m, (true, None), (false, None));
        assert!(locked(&m, &m.volumes[0], &v).is_some());
    }

    #[test]
    fn a_partner_recorded_stale_or_rebuilding_never_holds_the_lock() {
        let mut m = meta("netmirror");
        let l2 = leg(&m, "d2");
        // `activate --force` recorded d2 INVALID: the lock is released.
        m.volumes[0].layout.legs[l2].state = SliceState::Invalid;
        let v = views(&m, (true, sb(leg(&m, "d1"), 9, &[])), (false, None));
        assert_eq!(locked(&m, &m.volumes[0], &v), None);
        m.volumes[0].layout.legs[l2].state = SliceState::Copy;
        let v = views(&m, (true, sb(leg(&m, "d1"), 9, &[])), (false, None));
        assert_eq!(locked(&m, &m.volumes[0], &v), None);
    }

    #[test]
    fn both_present_starts_unless_each_ran_without_the_other() {
        let m = meta("netmirror");
        let (l1, l2) = (leg(&m, "d1"), leg(&m, "d2"));
        // In sync, or one newer: the kernel takes the newer as the source.
        let v = views(&m, (true, sb(l1, 5, &[])), (true, sb(l2, 5, &[])));
        assert_eq!(locked(&m, &m.volumes[0], &v), None);
        let v = views(&m, (true, sb(l1, 9, &[l2])), (true, sb(l2, 5, &[])));
        assert_eq!(locked(&m, &m.volumes[0], &v), None);
        // Each records the other failed: split brain.
        let v = views(&m, (true, sb(l1, 9, &[l2])), (true, sb(l2, 7, &[l1])));
        let why = locked(&m, &m.volumes[0], &v).unwrap();
        assert!(why.contains("split brain"), "{why}");
        assert!(
            why.contains("disk d1 (node1)") && why.contains("disk d2 (node2)"),
            "{why}"
        );
    }

    #[test]
    fn other_groups_are_never_locked() {
        let m = meta("mirror");
        let v = views(&m, (false, None), (true, sb(1, 40, &[])));
        assert_eq!(locked(&m, &m.volumes[0], &v), None);
    }
}
