//! The root class conversion on the simulated kernel and disks: plan, apply, first
//! activation (the initramfs's job), data checks; resumption after a cut at every
//! action; refusals.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::assemble::{activate, group_classes, scan};
use crate::exec::execute;
use crate::gpt::{encode, read_gpt, Gpt, GptOnDisk, Partition, ESP_TYPE};
use crate::io::Disks;
use crate::plan::tests::{class, plan_for, world, W};
use crate::plan::ActionKind;
use crate::root::esp::fat_serial;
use crate::root::keep::DMCLASS_PART_TYPE;
use dmclass_model::Bytes;
use uuid::Uuid;

const LINUX_FS: Uuid = Uuid::from_u128(0x0fc6_3daf_8483_4772_8e79_3d69_d847_7de4);
pub(super) const MIB: u64 = 1 << 20;
/// Keep disk layout (MiB): ESP 1..9, root 9..73, free 73..128.
pub(super) const ESP: (u64, u64) = (1, 9);
pub(super) const ROOT: (u64, u64) = (9, 73);

fn part(index: u32, t: Uuid, mib: (u64, u64), name: &str) -> Partition {
    Partition {
        index,
        type_guid: t,
        guid: Uuid::from_u128(0x5000 + u128::from(index)),
        first: mib.0 * 2048,
        last: mib.1 * 2048 - 1,
        attributes: 0,
        name: name.into(),
    }
}

/// A FAT32 boot sector with serial 0x12345678 and its backup at sector 6.
fn fat32_boot() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[11..13].copy_from_slice(&512u16.to_le_bytes());
    b[14..16].copy_from_slice(&32u16.to_le_bytes());
    b[50..52].copy_from_slice(&6u16.to_le_bytes());
    b[66] = 0x29;
    b[67..71].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    b[510] = 0x55;
    b[511] = 0xaa;
    b
}

/// Deterministic "file system" content: a different byte pattern per MiB.
fn pattern(mib: u64) -> Vec<u8> {
    (0..MIB)
        .map(|i| ((i / 4096 + mib * 7) % 251) as u8)
        .collect()
}

/// Writes a GPT with an ESP (`ESP`) and a root partition (`root`, MiB) onto disk 0
/// of `w` (`mib` MiB).
fn write_system_table(w: &mut W, mib: u64, root: (u64, u64)) {
    let p = w.b[0].path.clone();
    let sectors = mib * 2048;
    let (first, last, backup) = crate::gpt::usable_area(sectors, 512).unwrap();
    let gpt = Gpt {
        sector_size: 512,
        disk_guid: Uuid::from_u128(42),
        first_usable: first,
        last_usable: last,
        backup_lba: backup,
        partitions: vec![
            part(1, ESP_TYPE, ESP, "EFI"),
            part(2, LINUX_FS, root, "root"),
        ],
    };
    let (start, end) = encode(&gpt, sectors).unwrap();
    w.d.write(&p, Bytes(0), &start).unwrap();
    w.d.write(&p, Bytes(mib * MIB - end.len() as u64), &end)
        .unwrap();
}

/// Machine with a 128 MiB system disk `sys1` (GPT, ESP, root) and a blank `sys2`.
pub(super) fn machine() -> W {
    machine_with(&["sys1", "sys2"])
}

/// [`machine`] with other blank disks after `sys1` (the first name is the system disk).
pub(super) fn machine_with(names: &[&str]) -> W {
    let mut w = world(names, 128);
    write_system_table(&mut w, 128, ROOT);
    let p = w.b[0].path.clone();
    let boot = fat32_boot();
    w.d.write(&p, Bytes(ESP.0 * MIB), &boot).unwrap();
    w.d.write(&p, Bytes(ESP.0 * MIB + 6 * 512), &boot).unwrap();
    for m in ROOT.0..ROOT.1 {
        w.d.write(&p, Bytes(m * MIB), &pattern(m)).unwrap();
    }
    w
}

pub(super) fn root_yaml(volumes: &str) -> dmclass_model::Class {
    class(&format!(
        "  - name: sys\n    type: root\n    disks:\n      \
         - {{name: sys1, device: /dev/disk/by-id/virtio-sys1, role: keep}}\n      \
         - {{name: sys2, device: /dev/disk/by-id/virtio-sys2}}\n    groups:\n      \
         - {{name: m, type: mirror, members: [sys1, sys2]}}\n    volumes:\n{volumes}"
    ))
}

pub(super) fn read(w: &W, disk: usize, from_mib: u64, to_mib: u64) -> Vec<u8> {
    w.d.read(
        &w.b[disk].path,
        Bytes(from_mib * MIB),
        ((to_mib - from_mib) * MIB) as usize,
    )
    .unwrap()
}

/// Every byte of the keep disk outside its partition table and the new dmclass
/// partition: unchanged by the conversion.
fn keep_data(w: &W) -> Vec<u8> {
    read(w, 0, ESP.0, ROOT.1)
}

pub(super) fn run(w: &mut W, p: &crate::plan::Plan) {
    let b = w.b.clone();
    execute(p, &b, &mut w.k, &mut w.d, &mut |_| {}).unwrap();
}

#[test]
fn conversion_keeps_every_byte_then_the_first_activation_copies_the_root() {
    let mut w = machine();
    let before = keep_data(&w);
    let c = root_yaml("      - {name: root, on: m}\n");
    let p = plan_for(&w, &c, false).unwrap();
    let kinds: Vec<(String, ActionKind)> = p
        .actions
        .iter()
        .map(|a| (a.object.to_string(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("sys2".to_owned(), ActionKind::WritePartitionTable),
            ("sys2".to_owned(), ActionKind::CopyEsp),
            ("sys2".to_owned(), ActionKind::ZeroExtent),
            ("sys2".to_owned(), ActionKind::FormatArea),
            ("sys1".to_owned(), ActionKind::WritePartitionTable),
            ("sys1".to_owned(), ActionKind::ZeroExtent),
            ("sys1".to_owned(), ActionKind::FormatArea),
        ],
        "peers first, the keep disk last; no kernel step: {:#?}",
        p.actions
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("mirrors partition 2 (PARTLABEL root)")),
        "{:?}",
        p.notes
    );
    run(&mut w, &p);
    assert_eq!(
        keep_data(&w),
        before,
        "no byte of the kept partitions moved"
    );
    // Both disks: a GPT with the same layout and a dmclass partition.
    let tables: Vec<Gpt> =
        w.b.iter()
            .map(|b| match read_gpt(&w.d, &b.path).unwrap() {
                GptOnDisk::Table(g) => g,
                GptOnDisk::None => panic!("no table on {}", b.name),
            })
            .collect();
    let shape = |g: &Gpt| -> Vec<(u32, Uuid, u64, u64)> {
        g.partitions
            .iter()
            .map(|p| (p.index, p.type_guid, p.first, p.last))
            .collect()
    };
    assert_eq!(shape(&tables[0]), shape(&tables[1]));
    assert_eq!(tables[0].partitions.len(), 3);
    assert!(tables[0]
        .partitions
        .iter()
        .any(|p| p.type_guid == DMCLASS_PART_TYPE));
    assert_ne!(tables[0].partitions[1].guid, tables[1].partitions[1].guid);
    // The ESP copy: same bytes but the serial, in both boot sectors.
    let (esp_a, esp_b) = (read(&w, 0, ESP.0, ESP.1), read(&w, 1, ESP.0, ESP.1));
    let s = fat_serial(&esp_b).unwrap();
    assert_ne!(esp_a[67..71], esp_b[67..71], "new volume serial");
    assert_eq!(
        esp_b[67..71],
        esp_b[6 * 512 + 67..6 * 512 + 71],
        "backup too"
    );
    let mut masked = esp_b.clone();
    masked[s.at..s.at + 4].copy_from_slice(&esp_a[67..71]);
    masked[6 * 512 + 67..6 * 512 + 71].copy_from_slice(&esp_a[67..71]);
    assert_eq!(masked, esp_a);
    // Re-applying plans nothing.
    assert!(plan_for(&w, &c, false).unwrap().is_empty());
    // First activation (the initramfs): the peer leg is rebuilt from the kept one.
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    assert_eq!(found.len(), 1);
    activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    let top = "dmclass-sys-root";
    let data = w.k.read_dev(top, Bytes(0), (64 * MIB) as usize).unwrap();
    assert_eq!(
        data,
        read(&w, 0, ROOT.0, ROOT.1),
        "the volume is the kept partition"
    );
    assert_eq!(
        read(&w, 1, ROOT.0, ROOT.1),
        read(&w, 0, ROOT.0, ROOT.1),
        "copied to sys2"
    );
    assert_eq!(keep_data(&w), before);
}

#[test]
fn a_conversion_cut_after_any_action_is_finished_by_applying_again() {
    let c = root_yaml("      - {name: root, on: m, partition: 2}\n");
    let full = plan_for(&machine(), &c, false).unwrap();
    for cut in 0..full.actions.len() {
        let mut w = machine();
        let before = keep_data(&w);
        let mut p = plan_for(&w, &c, false).unwrap();
        p.actions.truncate(cut);
        run(&mut w, &p);
        // What the next boot sees: either no class yet, or a conversion cut before the
        // keep disk's area, which is not started (the system boots as before).
        let found = group_classes(&scan(&w.d.paths(), &w.d).found);
        if let Some(f) = found.first() {
            let why = crate::root::cut::conversion_unfinished(
                &f.meta,
                &f.present_paths(),
                &f.missing,
                &w.d,
            );
            assert!(
                why.is_some() || f.missing.is_empty(),
                "cut at {cut}: a class with its keep disk missing is an unfinished conversion"
            );
        }
        // A table the cut conversion wrote on sys2 is recognised as its own (apply
        // again needs no `wipe`); the keep disk's own table is not a peer's.
        let table = |i: usize| match read_gpt(&w.d, &w.b[i].path).unwrap() {
            GptOnDisk::Table(t) => Some(t),
            GptOnDisk::None => None,
        };
        if let (Some(peer), Some(keep)) = (table(1), table(0)) {
            assert!(
                crate::root::cut::written_by_conversion(&peer, &keep),
                "cut at {cut}"
            );
            assert!(!crate::root::cut::written_by_conversion(&keep, &keep) || cut >= 5);
        }
        let rest = plan_for(&w, &c, false).unwrap();
        assert!(!rest.is_empty(), "cut at {cut}: the rest is planned");
        run(&mut w, &rest);
        assert!(plan_for(&w, &c, false).unwrap().is_empty(), "cut at {cut}");
        assert_eq!(keep_data(&w), before, "cut at {cut}");
        let found = group_classes(&scan(&w.d.paths(), &w.d).found);
        assert_eq!(
            crate::root::cut::conversion_unfinished(
                &found[0].meta,
                &found[0].present_paths(),
                &found[0].missing,
                &w.d
            ),
            None,
            "cut at {cut}: finished"
        );
        activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
        assert_eq!(
            read(&w, 1, ROOT.0, ROOT.1),
            read(&w, 0, ROOT.0, ROOT.1),
            "cut at {cut}"
        );
    }
}

#[test]
fn refusals_name_the_partition_and_touch_nothing() {
    let w = machine();
    let err = |v: &str| plan_for(&w, &root_yaml(v), false).unwrap_err().to_string();
    let e = err("      - {name: root, on: m, partition: 1}\n");
    assert!(e.contains("EFI system partition"), "{e}");
    let e = err("      - {name: root, on: m, partition: 7}\n");
    assert!(
        e.contains("does not exist") && e.contains("2 (PARTLABEL root"),
        "{e}"
    );
    let e = err("      - {name: root, on: m, size: 1GiB}\n");
    assert!(e.contains("size: 67108864"), "{e}");
    let e = err("      - {name: root, on: m, partition: 2}\n      - {name: swap, on: m}\n");
    assert!(
        e.contains("volume swap") && e.contains("partition: N"),
        "{e}"
    );
    // A keep disk whose free space is too small: how much is missing, and where.
    let mut w = world(&["sys1", "sys2"], 64);
    write_system_table(&mut w, 64, (9, 60));
    let e = plan_for(&w, &root_yaml("      - {name: root, on: m}\n"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("MiB") && e.contains("shrink"), "{e}");
}

#[test]
fn a_volume_without_partition_or_label_takes_the_only_partition_left() {
    let w = machine();
    let p = plan_for(&w, &root_yaml("      - {name: system, on: m}\n"), false).unwrap();
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("volume system mirrors partition 2 (the only partition left)")),
        "{:?}",
        p.notes
    );
    assert_eq!(p.new_meta.volumes[0].partition, Some(2));
    assert_eq!(p.new_meta.volumes[0].size.0, 64 * 2048);
}
