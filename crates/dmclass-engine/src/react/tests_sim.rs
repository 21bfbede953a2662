//! The monitor's and the event handler's decisions carried out on the simulated
//! kernel: unplug a leg, writes go on, INVALID recorded, the disk returns and only
//! the dirty regions are copied; a hot spare takes over with the right data and is
//! released after the original disk is back in sync.
#![allow(
    clippy::unwrap_used,
    clippy::many_single_char_names,
    clippy::cast_possible_truncation,
    clippy::format_push_string
)]

use super::*;
use crate::assemble::{group_classes, scan};
use crate::io::{Disks as _, Kernel as _};
use crate::layout::{Segment, SliceState};
use crate::metadata::DiskState;
use crate::plan::tests::{apply, class, world, W};
use crate::state::class_status;
use dmclass_model::Bytes;
use std::path::PathBuf;

const TOP: &str = "dmclass-data-v1";
const MIB: u64 = 1 << 20;

fn yaml(spare: bool) -> dmclass_model::Class {
    let mut s = String::from("  - name: data\n    type: local\n");
    if spare {
        s.push_str("    hot_spare: true\n");
    }
    s.push_str("    disks:\n");
    for d in ["d1", "d2"] {
        s.push_str(&format!(
            "      - {{name: {d}, device: /dev/disk/by-id/virtio-{d}}}\n"
        ));
    }
    if spare {
        s.push_str("      - {name: s1, device: /dev/disk/by-id/virtio-s1, role: spare}\n");
    }
    s.push_str("    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n");
    s.push_str("    volumes:\n      - {name: v1, on: m, size: 64MiB}\n");
    class(&s)
}

fn setup(spare: bool) -> W {
    let names: &[&str] = if spare {
        &["d1", "d2", "s1"]
    } else {
        &["d1", "d2"]
    };
    let mut w = world(names, 128);
    apply(&mut w, &yaml(spare), false).unwrap();
    w
}

fn paths(w: &W) -> Vec<PathBuf> {
    w.b.iter().map(|b| b.path.clone()).collect()
}

fn path(w: &W, name: &str) -> PathBuf {
    w.b.iter().find(|b| b.name == name).unwrap().path.clone()
}

fn meta(w: &W) -> crate::metadata::ClassMeta {
    group_classes(&scan(&paths(w), &w.d).found)
        .pop()
        .unwrap()
        .meta
}

/// The class description changed by `f` and written as the next generation to every
/// disk; returns it.
fn rewrite(
    w: &mut W,
    f: impl FnOnce(&mut crate::metadata::ClassMeta),
) -> crate::metadata::ClassMeta {
    let mut m = meta(w);
    f(&mut m);
    m.generation += 1;
    let present: crate::root::undo::Present =
        w.b.iter()
            .map(|b| (b.name.clone(), b.path.clone()))
            .collect();
    crate::metadata::write_present(&m, &present, &mut w.d).unwrap();
    m
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((seed * 31 + i as u64 / 512) % 251).unwrap())
        .collect()
}

/// CRC32C of the data extent of leg `leg`, read straight from its disk.
fn leg_bytes(w: &W, leg: usize) -> u32 {
    let m = meta(w);
    let l = &m.volumes[0].layout.legs[leg];
    let Segment::Linear { extent } = &l.segments[0] else {
        panic!()
    };
    let p = path(w, &extent.disk);
    let b =
        w.d.read(
            &p,
            extent.offset.to_bytes(),
            usize::try_from(extent.len.to_bytes().0).unwrap(),
        )
        .unwrap();
    crc32c::crc32c(&b)
}

/// 1% of the 64 MiB volume as ten scattered 64 KiB writes (region-aligned); `model`
/// (the volume's first bytes as the test expects them) is updated alike.
fn scattered_writes(w: &mut W, seed: u64, model: &mut [u8]) {
    for i in 0..10u64 {
        let off = (i * 97 + 13) % 1000 * 64 * 1024;
        let block = pattern(seed + i, 64 * 1024);
        w.k.write_dev(TOP, Bytes(off), &block).unwrap();
        let at = usize::try_from(off).unwrap();
        if at + block.len() <= model.len() {
            model[at..at + block.len()].copy_from_slice(&block);
        }
    }
}

fn slice_states(w: &W) -> Vec<SliceState> {
    let classes = group_classes(&scan(&paths(w), &w.d).found);
    let c = &classes[0];
    class_status(&c.meta, &c.present, &w.k).unwrap().volumes[0]
        .slices
        .iter()
        .map(|s| s.state)
        .collect()
}

#[test]
fn unplugged_leg_returns_and_only_dirty_regions_are_copied() {
    let mut w = setup(false);
    w.k.write_dev(TOP, Bytes(0), &pattern(1, 4 * MIB as usize))
        .unwrap();
    let p = returned();
    w.d.remove_disk(path(&w, "d2")).unwrap();
    scattered_writes(&mut w, 100, &mut []); // go on without an error
    let h = dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    assert_eq!(h.len(), 1);
    assert!(
        h[0].carried.warnings[0].contains("virtio-d2"),
        "logged with the stable id: {:?}",
        h[0].carried
    );
    let m = meta(&w);
    assert_eq!(m.volumes[0].layout.legs[1].state, SliceState::Invalid);
    assert_eq!(m.departed[0].disk, "d2");
    assert_eq!(slice_states(&w), [SliceState::Active, SliceState::Invalid]);
    // A second event: nothing new.
    assert!(dm_event(&paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .is_empty());

    w.d.reset_counters();
    w.d.reattach(path(&w, "d2")).unwrap();
    let h = disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .unwrap();
    assert!(h.carried.warnings.is_empty(), "{:?}", h.carried);
    assert!(
        h.carried.done[0].contains("re-added (bitmap"),
        "{:?}",
        h.carried
    );
    let written = w.d.bytes_written(path(&w, "d2")).unwrap().0;
    let vol = 64 * MIB;
    assert!(
        written <= vol / 50,
        "{written} bytes resynced for 1% changed"
    );
    assert!(
        written >= 640 * 1024,
        "the dirty regions were copied: {written}"
    );
    assert_eq!(leg_bytes(&w, 0), leg_bytes(&w, 1), "leg equals the array");
    // Recorded ACTIVE at once (the kernel tracks it in the superblocks); the dm
    // event of the finished resync changes nothing more.
    let gen = meta(&w).generation;
    assert_eq!(meta(&w).volumes[0].layout.legs[1].state, SliceState::Active);
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    assert_eq!(meta(&w).generation, gen);
    let m = meta(&w);
    assert_eq!(m.volumes[0].layout.legs[1].state, SliceState::Active);
    assert!(m.departed.is_empty());
    assert_eq!(slice_states(&w), [SliceState::Active, SliceState::Active]);
    // A change event for the same disk now does nothing.
    let h = disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .unwrap();
    assert!(h.carried.meta.is_none() && h.carried.done[0].contains("nothing"));
}

#[test]
fn stale_copy_is_refused_and_never_written() {
    let mut w = setup(false);
    let d2 = path(&w, "d2");
    // Keep d2's old metadata aside: a stale copy of the disk.
    let old = w.d.read(&d2, Bytes(0), 32 * MIB as usize).unwrap();
    w.d.remove_disk(&d2).unwrap();
    w.k.write_dev(TOP, Bytes(0), &pattern(5, 65536)).unwrap();
    dm_event(&paths(&w), &mut w.k, &mut w.d, &Policy::default()).unwrap();
    // Two more generations pass: d2 returns properly, fails again.
    w.d.reattach(&d2).unwrap();
    disk_added(&d2, &paths(&w), &mut w.k, &mut w.d, &returned()).unwrap();
    dm_event(&paths(&w), &mut w.k, &mut w.d, &Policy::default()).unwrap();
    w.d.remove_disk(&d2).unwrap();
    w.k.write_dev(TOP, Bytes(0), &pattern(6, 65536)).unwrap();
    dm_event(&paths(&w), &mut w.k, &mut w.d, &Policy::default()).unwrap();
    // The old copy comes back instead of the disk.
    w.d.reattach(&d2).unwrap();
    w.d.write(&d2, Bytes(0), &old).unwrap();
    w.d.reset_counters();
    let h = disk_added(&d2, &paths(&w), &mut w.k, &mut w.d, &returned())
        .unwrap()
        .unwrap();
    assert!(
        h.carried.warnings[0].contains("stale") && h.carried.warnings[0].contains("DISABLE"),
        "{:?}",
        h.carried
    );
    assert_eq!(w.d.bytes_written(&d2).unwrap().0, 0, "never written");
    assert_eq!(
        meta(&w).volumes[0].layout.legs[1].state,
        SliceState::Invalid
    );
    // status agrees with the event: the copy is on the machine, DISABLE, its slice
    // INVALID (not counted as present).
    let classes = group_classes(&scan(&paths(&w), &w.d).found);
    let c = &classes[0];
    let st = class_status(&c.meta, &c.present, &w.k).unwrap();
    let d = st.disks.iter().find(|d| d.name == "d2").unwrap();
    assert_eq!(d.state, crate::metadata::DiskState::Disable, "{st:?}");
    assert!(d.path.is_some(), "the copy's node is shown: {d:?}");
    assert_eq!(slice_states(&w), [SliceState::Active, SliceState::Invalid]);
}

#[test]
fn hot_spare_takes_over_with_the_right_data_and_is_released_after_swap_back() {
    let mut w = setup(true);
    let mut model = pattern(9, 8 * MIB as usize);
    w.k.write_dev(TOP, Bytes(0), &model).unwrap();
    let p = returned();
    w.d.set_failed(path(&w, "d2"), true).unwrap();
    scattered_writes(&mut w, 200, &mut model);
    let h = dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    assert!(
        h[0].carried.done.iter().any(|l| l.contains("spare s1")),
        "{:?}",
        h[0].carried
    );
    let m = meta(&w);
    assert_eq!(m.volumes[0].layout.legs[1].disks(), ["s1"]);
    assert_eq!(m.disk("s1").unwrap().state, DiskState::Enable);
    assert_eq!(leg_bytes(&w, 0), leg_bytes(&w, 1), "spare holds the array");
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    assert_eq!(meta(&w).volumes[0].layout.legs[1].state, SliceState::Active);
    let read = |w: &W| w.k.read_dev(TOP, Bytes(0), 8 * MIB as usize).unwrap();
    assert!(read(&w) == model, "the volume holds what was written");

    // d2 comes back: the leg moves back onto it (full rebuild), spare released.
    w.d.set_failed(path(&w, "d2"), false).unwrap();
    let h = disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .unwrap();
    assert!(
        h.carried.done[0].contains("back on its disk"),
        "{:?}",
        h.carried
    );
    let m = meta(&w);
    assert_eq!(m.volumes[0].layout.legs[1].disks(), ["d2"]);
    assert_eq!(m.disk("s1").unwrap().state, DiskState::Enable);
    assert_eq!(leg_bytes(&w, 0), leg_bytes(&w, 1), "d2 equals the array");
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    let m = meta(&w);
    assert_eq!(m.disk("s1").unwrap().state, DiskState::Spare);
    assert!(m.departed.is_empty());
    assert_eq!(slice_states(&w), [SliceState::Active, SliceState::Active]);
    assert!(read(&w) == model);
}

/// The policy of a udev `add` event: the disk reappeared.
fn returned() -> Policy {
    Policy {
        reappeared: true,
        ..Policy::default()
    }
}

/// The volume's first `len` bytes read through the top device.
fn volume_bytes(w: &mut W, len: usize) -> Vec<u8> {
    w.k.read_dev(TOP, Bytes(0), len).unwrap()
}

/// Deactivate, then activate from the disks whose names are in `only` (the others
/// unplugged): the report.
fn activate_only(w: &mut W, only: &[&str]) -> crate::Result<crate::assemble::ActivateReport> {
    crate::assemble::deactivate("data", &mut w.k).unwrap();
    let keep: Vec<PathBuf> =
        w.b.iter()
            .filter(|b| only.contains(&b.name.as_str()))
            .map(|b| b.path.clone())
            .collect();
    for b in w.b.clone() {
        if !only.contains(&b.name.as_str()) {
            let _ = w.d.remove_disk(b.path.clone());
        }
    }
    let classes = group_classes(&scan(&keep, &w.d).found);
    crate::assemble::activate(&classes[0], &mut w.k, &w.d, &mut |_| {})
}

/// Issue #11 §1: a leg re-added by the udev handler alone (no monitor to see the
/// resync finish) holds a complete copy; after a clean shutdown it starts alone.
#[test]
fn readded_leg_starts_alone_without_a_monitor() {
    let mut w = setup(false);
    let mut model = pattern(1, 4 * MIB as usize);
    w.k.write_dev(TOP, Bytes(0), &model).unwrap();
    let p = returned();
    w.d.remove_disk(path(&w, "d2")).unwrap();
    scattered_writes(&mut w, 100, &mut model);
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    w.d.reattach(path(&w, "d2")).unwrap();
    disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .unwrap();
    // No dm event is handled: nobody records the end of the resync.
    let rep = activate_only(&mut w, &["d2"]).unwrap();
    assert_eq!(rep.degraded, vec![("v1".to_owned(), vec![0])], "{rep:?}");
    assert!(rep.skipped.is_empty(), "{rep:?}");
    assert_eq!(volume_bytes(&mut w, model.len()), model);
}

/// A class whose d2 superblock says its recovery stopped at 43% (what a power cut in
/// the middle of d2's rebuild leaves), deactivated; the volume's data.
fn half_resynced() -> (W, Vec<u8>) {
    use crate::raid_sb::{RaidSuperblock, SbRead, READ_LEN};
    let mut w = setup(false);
    let model = pattern(3, 2 * MIB as usize);
    w.k.write_dev(TOP, Bytes(0), &model).unwrap();
    crate::assemble::deactivate("data", &mut w.k).unwrap();
    let m = meta(&w);
    let rmeta = m.volumes[0].layout.legs[1].rmeta.clone().unwrap();
    let p2 = path(&w, "d2");
    let b = w.d.read(&p2, rmeta.offset.to_bytes(), READ_LEN).unwrap();
    let SbRead::Valid(mut sb) = RaidSuperblock::decode(&b) else {
        panic!("the simulated kernel wrote no superblock")
    };
    sb.recovery_offset = (sb.sectors * 43).div_ceil(100);
    w.d.write(&p2, rmeta.offset.to_bytes(), &sb.encode())
        .unwrap();
    (w, model)
}

/// A leg whose superblock says its recovery stopped half way is refused alone, in
/// words naming the missing disk with the complete copy; the complete one starts.
#[test]
fn half_resynced_leg_alone_is_refused_the_complete_one_starts() {
    let (mut w, _) = half_resynced();
    let p2 = path(&w, "d2");
    let before = w.d.bytes_written(p2.clone()).unwrap();
    let rep = activate_only(&mut w, &["d2"]).unwrap();
    assert_eq!(rep.skipped.len(), 1, "{rep:?}");
    let why = &rep.skipped[0].1;
    assert!(
        why.starts_with(
            "the only complete copy of data/v1 is on disk d1 (/dev/disk/by-id/virtio-d1)"
        ) && why.contains("which is missing")
            && why.ends_with("d2 is 43% resynced"),
        "{why}"
    );
    assert!(w.k.info(TOP).unwrap().is_none(), "nothing was started");
    assert_eq!(w.d.bytes_written(p2).unwrap(), before, "d2 was not written");
    let (mut w, model) = half_resynced();
    let rep = activate_only(&mut w, &["d1"]).unwrap();
    assert!(rep.skipped.is_empty(), "{rep:?}");
    assert_eq!(volume_bytes(&mut w, model.len()), model);
}

/// `activate --force`: one disk left of a three-way mirror is a closed class; forced,
/// it starts from that disk's complete copy, records the others stale, and a
/// returning one is resynced from it (never used as a source).
#[test]
fn forced_start_of_a_closed_class_and_the_stale_disk_returns() {
    let mut s = String::from("  - name: data\n    type: local\n    disks:\n");
    for d in ["d1", "d2", "d3"] {
        s.push_str(&format!(
            "      - {{name: {d}, device: /dev/disk/by-id/virtio-{d}}}\n"
        ));
    }
    s.push_str("    groups:\n      - {name: m, type: mirror, members: [d1, d2, d3]}\n");
    s.push_str("    volumes:\n      - {name: v1, on: m, size: 64MiB}\n");
    let mut w = world(&["d1", "d2", "d3"], 128);
    apply(&mut w, &class(&s), false).unwrap();
    let model = pattern(7, 2 * MIB as usize);
    w.k.write_dev(TOP, Bytes(0), &model).unwrap();
    let gen = meta(&w).generation;
    // d1 alone: closed (1 of 3 copies readable); plain activation refuses.
    let err = activate_only(&mut w, &["d1"]).unwrap_err().to_string();
    assert!(err.contains("class closed (FewDB)"), "{err}");
    let only = vec![path(&w, "d1")];
    let c = group_classes(&scan(&only, &w.d).found).pop().unwrap();
    let plan = crate::assemble::force::plan(&c, &w.d).unwrap();
    assert_eq!(plan.stale, ["d2", "d3"]);
    assert!(
        plan.lines[0].contains("volume v1: starts from the complete copy on d1"),
        "{:?}",
        plan.lines
    );
    let rep = crate::assemble::force::activate_forced(&c, &plan, &mut w.k, &mut w.d, &mut |_| {})
        .unwrap();
    assert_eq!(rep.degraded, vec![("v1".to_owned(), vec![1, 2])], "{rep:?}");
    assert_eq!(volume_bytes(&mut w, model.len()), model);
    let m = group_classes(&scan(&only, &w.d).found).pop().unwrap().meta;
    assert_eq!(m.generation, gen + 1);
    assert_eq!(
        m.departed
            .iter()
            .map(|d| (d.disk.as_str(), d.generation))
            .collect::<Vec<_>>(),
        [("d2", gen), ("d3", gen)]
    );
    assert_eq!(
        m.volumes[0]
            .layout
            .legs
            .iter()
            .map(|l| l.state)
            .collect::<Vec<_>>(),
        [SliceState::Active, SliceState::Invalid, SliceState::Invalid]
    );
    // Writes while d2 and d3 are away, then d2 returns: re-added, resynced from d1.
    let mut model = model;
    scattered_writes(&mut w, 300, &mut model);
    w.d.reattach(path(&w, "d2")).unwrap();
    let two = vec![path(&w, "d1"), path(&w, "d2")];
    let h = disk_added(&path(&w, "d2"), &two, &mut w.k, &mut w.d, &returned())
        .unwrap()
        .unwrap();
    assert!(h.carried.done[0].contains("re-added"), "{:?}", h.carried);
    assert_eq!(leg_bytes(&w, 0), leg_bytes(&w, 1), "d2 resynced from d1");
    assert_eq!(volume_bytes(&mut w, model.len()), model);
}

/// The kernel hazard the VM tier found: a leg whose rebuild a power cut stopped, the
/// other leg started alone once (its superblock then records the half-built leg
/// failed), then both: the kernel would take the half-built leg for a transient
/// failure and copy only the bitmap's regions. Activation rebuilds it in full.
#[test]
fn half_built_leg_recorded_failed_is_rebuilt_in_full() {
    let (mut w, model) = half_resynced();
    // Beyond 43% the leg never got the data.
    let m = meta(&w);
    let Segment::Linear { extent } = &m.volumes[0].layout.legs[1].segments[0] else {
        panic!()
    };
    let p2 = path(&w, "d2");
    let half = extent.offset.to_bytes().0 + extent.len.to_bytes().0 / 2;
    w.d.write(&p2, Bytes(half), &vec![0xEE; 4 * MIB as usize])
        .unwrap();
    let rep = activate_only(&mut w, &["d1"]).unwrap();
    assert!(rep.skipped.is_empty(), "{rep:?}");
    crate::assemble::deactivate("data", &mut w.k).unwrap();
    w.d.reattach(p2.clone()).unwrap();
    let classes = group_classes(&scan(&paths(&w), &w.d).found);
    let rep = crate::assemble::activate(&classes[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert!(rep.skipped.is_empty() && rep.degraded.is_empty(), "{rep:?}");
    let t = w.k.table(TOP).unwrap();
    assert!(
        t.iter().any(|l| l.params.contains("rebuild 1")),
        "the half-built leg is rebuilt in full: {t:?}"
    );
    assert_eq!(
        leg_bytes(&w, 0),
        leg_bytes(&w, 1),
        "d2 holds the data again"
    );
    assert_eq!(volume_bytes(&mut w, model.len()), model);
}

/// A mirrored volume of a root class that is no system volume (a copy of the root
/// may be one: root::mark_copies) keeps yielding its udev links when the udev
/// handler takes a returning leg back: the reload resumes it as a copy, not public.
#[test]
fn a_readded_leg_keeps_a_root_class_copy_yielding_its_links() {
    use crate::io::Visibility;
    let mut w = setup(false);
    rewrite(&mut w, |m| {
        m.class_type = crate::metadata::ClassTypeMeta::Root;
    });
    let mut model = pattern(2, 4 * MIB as usize);
    w.k.write_dev(TOP, Bytes(0), &model).unwrap();
    let p = returned();
    w.d.remove_disk(path(&w, "d2")).unwrap();
    scattered_writes(&mut w, 200, &mut model);
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    w.d.reattach(path(&w, "d2")).unwrap();
    let h = disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .unwrap();
    assert!(
        h.carried.done.iter().any(|d| d.contains("re-added")),
        "{:?}",
        h.carried
    );
    assert_eq!(w.k.visibility(TOP), Some(Visibility::Copy));
    assert_eq!(volume_bytes(&mut w, model.len()), model);
}

#[test]
fn a_shared_class_reacts_only_under_its_class_lease() {
    let mut w = world(&["d1", "d2"], 256);
    let c = class(
        "  - name: data\n    type: shared\n    nodes: [node1, node2]\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2}\n    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n      - {name: v1, on: m, size: 64MiB}\n",
    );
    apply(&mut w, &c, false).unwrap();
    let uuid = meta(&w).uuid;
    w.d.remove_disk(path(&w, "d2")).unwrap();
    scattered_writes(&mut w, 7, &mut []);
    // Without the class lease (udev on any node), nothing is recorded.
    let p = returned();
    assert!(dm_event(&paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .is_empty());
    // Another class's lease is not this one's.
    let other = Policy {
        leased_class: Some(uuid::Uuid::nil()),
        ..returned()
    };
    assert!(dm_event(&paths(&w), &mut w.k, &mut w.d, &other)
        .unwrap()
        .is_empty());
    assert_eq!(meta(&w).volumes[0].layout.legs[1].state, SliceState::Active);
    // Under its class lease: the failed leg is recorded, and its return re-adds it.
    let leased = Policy {
        leased_class: Some(uuid),
        ..returned()
    };
    let h = dm_event(&paths(&w), &mut w.k, &mut w.d, &leased).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        meta(&w).volumes[0].layout.legs[1].state,
        SliceState::Invalid
    );
    w.d.reattach(path(&w, "d2")).unwrap();
    assert!(
        disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
            .unwrap()
            .is_none()
    );
    let h = disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &leased)
        .unwrap()
        .unwrap();
    assert!(
        h.carried.done.iter().any(|d| d.contains("re-added")),
        "{:?}",
        h.carried
    );
}

#[test]
fn a_netmirror_leg_rebuilt_on_the_partners_disk_stays_write_mostly() {
    let mut w = setup(false);
    // d2 lies on node2: seen from node1 its leg is the remote one.
    let m = rewrite(&mut w, |m| {
        m.disks[0].node = Some("node1".into());
        m.disks[1].node = Some("node2".into());
    });
    let mut model = pattern(5, 4 * MIB as usize);
    w.k.write_dev(TOP, Bytes(0), &model).unwrap();
    let p = Policy {
        node: Some("node1".into()),
        ..returned()
    };
    w.d.remove_disk(path(&w, "d2")).unwrap();
    scattered_writes(&mut w, 300, &mut model);
    // `status` on node1 says what the volume waits for; node2's view (its own leg is
    // the one out) waits for nothing from a partner.
    let wait = |w: &W, node| {
        let classes = group_classes(&scan(&paths(w), &w.d).found);
        let c = &classes[0];
        let v = &class_status(&c.meta, &c.present, &w.k).unwrap().volumes[0];
        crate::state::partner_wait(&c.meta, v, node)
    };
    let on1 = wait(&w, Some("node1")).unwrap_or_default();
    assert!(
        on1.contains("leg 1 on disk d2 of node2 is out") && on1.contains("by itself"),
        "{on1}"
    );
    assert_eq!(wait(&w, Some("node2")), None);
    assert_eq!(wait(&w, None), None);
    // Recorded as departed (as a forced start records the partner's disk): it waits
    // for the next activation instead.
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
    let on1 = wait(&w, Some("node1")).unwrap_or_default();
    assert!(
        on1.contains("recorded stale") && on1.contains("activate data"),
        "{on1}"
    );
    w.d.reattach(path(&w, "d2")).unwrap();
    // Its raid superblock gone (a replaced disk): rebuilt in full, the table reloaded.
    let rmeta = m.volumes[0].layout.legs[1].rmeta.clone().unwrap();
    w.d.zero(
        &path(&w, "d2"),
        rmeta.offset.to_bytes(),
        rmeta.len.to_bytes(),
    )
    .unwrap();
    let h = disk_added(&path(&w, "d2"), &paths(&w), &mut w.k, &mut w.d, &p)
        .unwrap()
        .unwrap();
    assert!(
        h.carried.done.iter().any(|d| d.contains("re-added (full")),
        "{:?}",
        h.carried
    );
    let raid: Vec<String> =
        w.k.table("dmclass-data-v1")
            .unwrap()
            .into_iter()
            .map(|l| format!("{} ", l.params))
            .collect();
    assert!(
        raid.iter().any(|l| l.contains(" write_mostly 1 ")),
        "node1's reloaded table reads the partner's leg only when its own cannot: {raid:?}"
    );
    assert_eq!(
        wait(&w, Some("node1")),
        None,
        "nothing waits once the leg is back"
    );
    assert_eq!(volume_bytes(&mut w, model.len()), model);
}
