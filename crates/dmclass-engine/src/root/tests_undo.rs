//! Undoing a root class on the simulated kernel and disks: the request, the refusals,
//! the boot that takes the class apart, and a cut in the middle of it.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use super::tests_convert::{machine, read, root_yaml, run, ESP, MIB, ROOT};
use super::undo::{carry_out, request};
use crate::assemble::{activate, deactivate, group_classes, scan, ClassOnDisks};
use crate::gpt::{read_gpt, GptOnDisk};
use crate::io::Disks;
use crate::plan::tests::{plan_for, W};
use dmclass_model::Bytes;

fn found(w: &W) -> Vec<ClassOnDisks> {
    group_classes(&scan(&w.d.paths(), &w.d).found)
}

fn ask(
    w: &mut W,
    c: &ClassOnDisks,
    keep: &str,
) -> crate::error::Result<crate::metadata::ClassMeta> {
    request(&c.meta, &c.present_paths(), keep, &mut w.d)
}

fn undo_now(w: &mut W, c: &ClassOnDisks) -> crate::error::Result<Vec<String>> {
    carry_out(&c.meta, &c.present_paths(), &c.missing, &w.k, &mut w.d)
}

/// A converted machine, booted once on the class, new data written through the root
/// volume, then shut down; returns the root partition's content as the volume left it.
fn converted_and_used() -> (W, Vec<u8>) {
    let mut w = machine();
    let before = match read_gpt(&w.d, &w.b[0].path).unwrap() {
        GptOnDisk::Table(t) => t,
        GptOnDisk::None => panic!("no table"),
    };
    let c = root_yaml("      - {name: root, on: m, partition: 2}\n");
    let p = plan_for(&w, &c, false).unwrap();
    run(&mut w, &p);
    activate(&found(&w)[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    w.k.write_dev(
        "dmclass-sys-root",
        Bytes(5 * MIB),
        &vec![0xab; MIB as usize],
    )
    .unwrap();
    let data =
        w.k.read_dev("dmclass-sys-root", Bytes(0), (64 * MIB) as usize)
            .unwrap();
    deactivate("sys", &mut w.k).unwrap();
    // the keep disk's table is the one from before plus the dmclass partition
    let now = match read_gpt(&w.d, &w.b[0].path).unwrap() {
        GptOnDisk::Table(t) => t,
        GptOnDisk::None => panic!("no table"),
    };
    assert_eq!(now.partitions.len(), before.partitions.len() + 1);
    (w, data)
}

/// After the undo: no class on any disk, the keep disk's table is the original one,
/// its root partition holds what the volume held, and sys2's copies are gone.
fn check_undone(w: &W, data: &[u8]) {
    assert!(found(w).is_empty(), "no class is found any more");
    let GptOnDisk::Table(t) = read_gpt(&w.d, &w.b[0].path).unwrap() else {
        panic!("the keep disk lost its table");
    };
    let parts: Vec<(u32, u64, u64)> = t
        .partitions
        .iter()
        .map(|p| (p.index, p.first, p.last))
        .collect();
    assert_eq!(
        parts,
        vec![
            (1, ESP.0 * 2048, ESP.1 * 2048 - 1),
            (2, ROOT.0 * 2048, ROOT.1 * 2048 - 1)
        ]
    );
    assert_eq!(
        read(w, 0, ROOT.0, ROOT.1),
        data,
        "the partition is the volume"
    );
    assert!(matches!(
        read_gpt(&w.d, &w.b[1].path).unwrap(),
        GptOnDisk::None
    ));
    for start in [ESP.0, ROOT.0] {
        assert!(
            read(w, 1, start, start + 1).iter().all(|b| *b == 0),
            "sys2's copy at {start} MiB is wiped"
        );
    }
}

#[test]
fn undo_is_requested_then_done_at_the_next_boot() {
    let (mut w, data) = converted_and_used();
    let c = &found(&w)[0];
    // sys2's slice is still COPY in the metadata: not a disk to go back to.
    let e = ask(&mut w, c, "sys2").unwrap_err().to_string();
    assert!(e.contains("not a complete copy"), "{e}");
    assert!(ask(&mut w, c, "nosuch").is_err());
    let next = ask(&mut w, c, "sys1").unwrap();
    // Never under a running class.
    activate(&found(&w)[0], &mut w.k, &w.d, &mut |_| {}).unwrap();
    let f = found(&w);
    let e = undo_now(&mut w, &f[0]).unwrap_err().to_string();
    assert!(e.contains("only before the class is assembled"), "{e}");
    deactivate("sys", &mut w.k).unwrap();
    assert_eq!(next.undo.as_ref().map(|u| u.keep.as_str()), Some("sys1"));
    // Nothing taken apart yet: the class is there, with the request.
    let c = &found(&w)[0];
    assert_eq!(c.meta.generation, next.generation);
    assert!(c.meta.undo.is_some());
    let log = undo_now(&mut w, c).unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains("without the dmclass partition")),
        "{log:?}"
    );
    check_undone(&w, &data);
}

#[test]
fn an_undo_cut_after_the_peer_left_is_finished_at_the_next_boot() {
    let (mut w, data) = converted_and_used();
    let f = found(&w);
    ask(&mut w, &f[0], "sys1").unwrap();
    // The cut: sys2's partitions and private area wiped, nothing else.
    let sys2 = w.b[1].path.clone();
    for start in [ESP.0, ROOT.0] {
        w.d.zero(&sys2, Bytes(start * MIB), Bytes(MIB)).unwrap();
    }
    let area = crate::metadata::area_offset(&w.d, &sys2).unwrap();
    w.d.zero(&sys2, area, Bytes(crate::metadata::AREA_SIZE))
        .unwrap();
    let c = &found(&w)[0];
    assert_eq!(c.missing, vec!["sys2".to_string()]);
    let log = undo_now(&mut w, c).unwrap();
    assert!(log.iter().any(|l| l.contains("sys2 is missing")), "{log:?}");
    assert!(found(&w).is_empty());
    assert_eq!(read(&w, 0, ROOT.0, ROOT.1), data);
}

/// `export` shows a converted root class like any other: its YAML (type root, the kept
/// disk, each volume's partition) applies again as a no-op.
#[test]
fn a_root_class_exports_as_yaml_that_applies_as_a_no_op() {
    let (w, _) = converted_and_used();
    let c = &found(&w)[0];
    let config = crate::export::export(&c.meta).unwrap();
    let text = dmclass_model::to_yaml(&config);
    assert!(text.contains("type: root"), "{text}");
    assert!(text.contains("role: keep"), "{text}");
    assert!(text.contains("partition: 2"), "{text}");
    let again = match dmclass_model::parse("export.yaml", &text) {
        Ok(c) => c.classes.into_iter().next().unwrap(),
        Err(d) => panic!("{d:?}\n{text}"),
    };
    assert!(plan_for(&w, &again, false).unwrap().is_empty(), "{text}");
}
