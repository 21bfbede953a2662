//! Replacing a dead disk of a root class with a blank one (the YAML names the new
//! device for the disk), on the simulated kernel and disks.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use super::tests_convert::{machine, read, root_yaml, run, ESP, MIB, ROOT};
use crate::assemble::{activate, deactivate, group_classes, scan};
use crate::io::DevNum;
use crate::metadata::DiskIdentity;
use crate::plan::tests::plan_for;
use crate::plan::DiskBinding;
use dmclass_model::Bytes;
use std::path::PathBuf;

#[test]
fn a_dead_disk_replaced_by_a_blank_one_is_partitioned_and_rebuilt() {
    let mut w = machine();
    let c = root_yaml("      - {name: root, on: m, partition: 2}\n");
    let p = plan_for(&w, &c, false).unwrap();
    run(&mut w, &p);
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    deactivate("sys", &mut w.k).unwrap();
    // sys2 dies; a blank disk takes its place
    let old = w.b[1].path.clone();
    w.d.remove_disk(&old).unwrap();
    let path = PathBuf::from("/dev/vdz");
    let devnum = DevNum {
        major: 252,
        minor: 250,
    };
    w.d.add_disk(&path, devnum, Bytes(128 * MIB)).unwrap();
    w.b[1] = DiskBinding {
        name: "sys2".into(),
        path,
        devnum: Some(devnum),
        size: Bytes(128 * MIB),
        identity: DiskIdentity {
            serial: Some("S-sys3".into()),
            wwn: None,
            by_id: Some("/dev/disk/by-id/virtio-sys3".into()),
        },
        sector_size: Some(512),
    };
    let p = plan_for(&w, &c, false).unwrap();
    let kinds: Vec<(String, &str)> = p
        .actions
        .iter()
        .map(|a| (a.object.to_string(), a.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("sys2".to_owned(), "write_partition_table"),
            ("sys2".to_owned(), "copy_esp"),
            ("sys2".to_owned(), "zero_extent"),
            ("sys2".to_owned(), "format_area"),
            ("sys".to_owned(), "write_metadata"),
        ]
    );
    assert!(
        p.notes.iter().any(|n| n.contains("replacing disk(s) sys2")),
        "{:?}",
        p.notes
    );
    run(&mut w, &p);
    assert!(
        plan_for(&w, &c, false).unwrap().is_empty(),
        "done: nothing more"
    );
    let found = group_classes(&scan(&w.d.paths(), &w.d).found);
    let meta = &found[0].meta;
    assert_eq!(meta.generation, 2);
    assert!(found[0].missing.is_empty() && found[0].stale.is_empty());
    assert_eq!(
        meta.disk("sys2").unwrap().identity.serial.as_deref(),
        Some("S-sys3")
    );
    // The next activation rebuilds sys2 from sys1; the data is the kept root's.
    activate(&found[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    assert_eq!(read(&w, 1, ROOT.0, ROOT.1), read(&w, 0, ROOT.0, ROOT.1));
    assert_eq!(
        read(&w, 1, ESP.0, ESP.0 + 1)[..60],
        read(&w, 0, ESP.0, ESP.0 + 1)[..60]
    );
}

#[test]
fn a_converted_root_class_refuses_other_changes() {
    let mut w = machine();
    let c = root_yaml("      - {name: root, on: m, partition: 2}\n");
    let p = plan_for(&w, &c, false).unwrap();
    run(&mut w, &p);
    let other = root_yaml("      - {name: root2, on: m, partition: 2}\n");
    let e = plan_for(&w, &other, false).unwrap_err().to_string();
    assert!(e.contains("converted root class"), "{e}");
}
