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
use crate::io::Disks as _;
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
    // COPY recorded, then ACTIVE once the kernel reports it in sync.
    assert_eq!(meta(&w).volumes[0].layout.legs[1].state, SliceState::Copy);
    dm_event(&paths(&w), &mut w.k, &mut w.d, &p).unwrap();
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
