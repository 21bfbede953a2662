//! Planner tests and the simulated-world fixture shared by the executor, assembly,
//! status and export tests.
#![allow(clippy::unwrap_used, clippy::many_single_char_names)]

use super::*;
use crate::exec::execute;
use crate::io::Disks;
use crate::sim::{new_sim, SimDisks, SimKernel};
use crate::EngineError;
use std::fmt::Write as _;

/// A simulated machine with bound disks.
pub(crate) struct W {
    pub(crate) k: SimKernel,
    pub(crate) d: SimDisks,
    pub(crate) b: Vec<DiskBinding>,
}

/// Disks `/dev/vdb`, `/dev/vdc`, ... of `mib` MiB named `names`.
pub(crate) fn world(names: &[&str], mib: u64) -> W {
    let (k, mut d) = new_sim();
    let mut b = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let path = PathBuf::from(format!(
            "/dev/vd{}",
            char::from(b'b' + u8::try_from(i).unwrap())
        ));
        let devnum = DevNum {
            major: 252,
            minor: 16 * u32::try_from(i).unwrap(),
        };
        d.add_disk(&path, devnum, Bytes(mib << 20)).unwrap();
        b.push(DiskBinding {
            name: (*n).to_owned(),
            path,
            devnum: Some(devnum),
            size: Bytes(mib << 20),
            identity: DiskIdentity {
                serial: Some(format!("S-{n}")),
                wwn: None,
                by_id: Some(format!("/dev/disk/by-id/virtio-{n}")),
            },
            sector_size: Some(512),
        });
    }
    W { k, d, b }
}

/// Parse one class (`body` is the list entry under `classes:`).
pub(crate) fn class(body: &str) -> Class {
    let text = format!("version: 1\nclasses:\n{body}");
    match dmclass_model::parse("t.yaml", &text) {
        Ok(c) => c.classes.into_iter().next().unwrap(),
        Err(d) => panic!("{d:?}\n{text}"),
    }
}

/// Class `data`: disks d1..dN (by-id selectors), then `rest` (groups, volumes).
pub(crate) fn yaml(disks: &[&str], rest: &str) -> Class {
    let mut s = String::from("  - name: data\n    type: local\n    disks:\n");
    for d in disks {
        let _ = writeln!(
            s,
            "      - {{name: {d}, device: /dev/disk/by-id/virtio-{d}}}"
        );
    }
    s.push_str(rest);
    class(&s)
}

pub(crate) fn plan_for(w: &W, c: &Class, destroy: bool) -> Result<Plan> {
    let bound: Vec<DiskBinding> =
        w.b.iter()
            .filter(|b| c.disks.iter().any(|d| d.name.as_str() == b.name))
            .cloned()
            .collect();
    let a = read_actual(&bound, &w.d, &w.k)?;
    plan(
        c,
        &bound,
        &a,
        &PlanOptions {
            allow_destroy: destroy,
            id_seed: Some(7),
        },
    )
}

pub(crate) fn apply(w: &mut W, c: &Class, destroy: bool) -> Result<Plan> {
    let p = plan_for(w, c, destroy)?;
    let bound: Vec<DiskBinding> =
        w.b.iter()
            .filter(|b| c.disks.iter().any(|d| d.name.as_str() == b.name))
            .cloned()
            .collect();
    execute(&p, &bound, &mut w.k, &mut w.d, &mut |_| {})?;
    Ok(p)
}

/// CRC32C of every disk's whole content, and its write count.
pub(crate) fn sums(w: &W) -> Vec<(u32, u64)> {
    w.b.iter()
        .map(|b| {
            let size = w.d.size(&b.path).unwrap().0;
            let mut crc = 0u32;
            let mut off = 0;
            while off < size {
                let chunk = w.d.read(&b.path, Bytes(off), 4 << 20).unwrap();
                crc = crc32c::crc32c_append(crc, &chunk);
                off += 4 << 20;
            }
            (crc, w.d.write_count(&b.path).unwrap())
        })
        .collect()
}

pub(crate) const MIRROR: &str = "    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n";

pub(crate) fn v1(size: &str) -> String {
    format!("{MIRROR}    volumes:\n      - {{name: v1, on: m, size: {size}}}\n")
}

fn kinds(p: &Plan) -> Vec<(String, String)> {
    p.actions
        .iter()
        .map(|a| {
            (
                a.object.to_string(),
                serde_json::to_value(a.kind)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn new_raid1_class_plan_is_ordered_and_deterministic() {
    let w = world(&["d1", "d2"], 128);
    let c = yaml(&["d1", "d2"], &v1("16MiB"));
    let p = plan_for(&w, &c, false).unwrap();
    let k = kinds(&p);
    let order: Vec<&str> = k.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        &order[..4],
        ["zero_extent", "zero_extent", "format_area", "format_area"]
    );
    // The only metadata write of a new class is the last action, clearing the intent
    // recorded by the format.
    assert_eq!(
        order.iter().position(|k| *k == "write_metadata"),
        Some(order.len() - 1),
        "{order:?}"
    );
    assert!(p.new_meta.intent.is_some());
    // Children first: rmeta_0, rimage_0, rmeta_1, rimage_1, then the raid device.
    let created: Vec<&str> = k
        .iter()
        .filter(|(_, k)| k == "create")
        .map(|(o, _)| o.as_str())
        .collect();
    assert_eq!(
        created,
        [
            "dmclass-data-v1_rmeta_0",
            "dmclass-data-v1_rimage_0",
            "dmclass-data-v1_rmeta_1",
            "dmclass-data-v1_rimage_1",
            "dmclass-data-v1",
        ]
    );
    assert_eq!(&order[4..8], ["create", "load", "resume", "verify"]);
    assert_eq!(p.based_on_generation, None);
    assert_eq!(p.new_meta.generation, 1);
    // Deterministic with a seed; JSON has the stable field names.
    let again = plan_for(&w, &c, false).unwrap();
    let j = serde_json::to_value(&p).unwrap();
    assert_eq!(j, serde_json::to_value(&again).unwrap());
    assert_eq!(j["actions"][0]["kind"], "zero_extent");
    assert_eq!(j["actions"][0]["object"], "d1");
    assert!(j["actions"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("rmeta"));
    // Tables: disks by number, dm devices not yet created by placeholder.
    let t = p.tables();
    assert!(t.contains("0 2048 linear 252:0 65536\n"), "{t}");
    assert!(
        t.contains(
            "raid raid1 3 0 region_size 128 2 <dmclass-data-v1_rmeta_0> <dmclass-data-v1_rimage_0>"
        ),
        "{t}"
    );
    assert!(p.render().contains("format_area"));
}

fn refused(r: Result<Plan>, what: &str) {
    match r {
        Err(EngineError::Refused { reason, object, .. }) => {
            assert!(
                format!("{object}: {reason}").contains(what),
                "{object}: {reason}"
            );
        }
        other => panic!("expected a refusal containing {what:?}, got {other:?}"),
    }
}

#[test]
fn the_summary_names_the_disks_that_lose_their_contents() {
    let w = world(&["d1", "d2"], 128);
    let c = yaml(&["d1", "d2"], &v1("16MiB"));
    let p = plan_for(&w, &c, false).unwrap();
    let s = p.summary();
    assert!(
        s.starts_with(&format!(
            "class data: {} action(s), 1 volume(s) afterwards",
            p.actions.len()
        )),
        "{s}"
    );
    assert!(
        s.contains("nothing on them is kept: d1 (/dev/vdb), d2 (/dev/vdc)"),
        "{s}"
    );
    assert!(!s.contains("kept disk"), "{s}");
}

#[test]
fn unsupported_changes_are_refused_and_change_no_byte() {
    let mut w = world(&["d1", "d2", "d3"], 128);
    let c = yaml(&["d1", "d2"], &v1("16MiB"));
    apply(&mut w, &c, false).unwrap();
    w.k.write_dev("dmclass-data-v1", Bytes(0), &[7u8; 4096])
        .unwrap();
    let before = sums(&w);
    let cases = [
        (v1("8MiB"), "shrinking"),
        (
            format!(
                "{MIRROR}    volumes:\n      - {{name: v1, on: m, size: 16MiB, engine: mirror}}\n"
            ),
            "engine",
        ),
        (format!("{MIRROR}    volumes: []\n"), "--allow-destroy"),
        (
            format!("{MIRROR}    volumes:\n      - {{name: v1, on: m, size: 16MiB, jrm: false}}\n"),
            "jrm",
        ),
    ];
    for (rest, why) in &cases {
        refused(apply(&mut w, &yaml(&["d1", "d2"], rest), false), why);
    }
    // Moving a volume to another group or disk.
    let moved = class(&format!(
        "  - name: data\n    type: local\n    disks:\n      - {{name: d1, device: /dev/disk/by-id/virtio-d1}}\n      - {{name: d2, device: /dev/disk/by-id/virtio-d2}}\n      - {{name: d3, device: /dev/disk/by-id/virtio-d3, role: single}}\n{MIRROR}    volumes:\n      - {{name: v1, on: d3, size: 16MiB}}\n"
    ));
    refused(apply(&mut w, &moved, false), "moving it from m to d3");
    // Class type change.
    let text = v1("16MiB");
    let shared = class(&format!(
        "  - name: data\n    type: shared\n    nodes: [a, b]\n    disks:\n      - {{name: d1, device: /dev/disk/by-id/virtio-d1}}\n      - {{name: d2, device: /dev/disk/by-id/virtio-d2}}\n{text}"
    ));
    refused(apply(&mut w, &shared, false), "class type");
    // Removing a disk that holds slices (d2 out of the file, the group on d1 + d3).
    let c2 = yaml(&["d1", "d3"], "    groups:\n      - {name: m, type: mirror, members: [d1, d3]}\n    volumes:\n      - {name: v1, on: m, size: 16MiB}\n");
    refused(apply(&mut w, &c2, false), "holds slices");
    // A disk of another class.
    let other = class("  - name: other\n    type: local\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1}\n      - {name: d3, device: /dev/disk/by-id/virtio-d3}\n");
    let mut w3 = W {
        k: w.d.kernel(),
        d: w.d.clone(),
        b: w.b.clone(),
    };
    refused(
        apply(&mut w3, &other, false),
        "belongs to dmclass class data",
    );
    assert_eq!(sums(&w), before);
    // Still applies as a no-op.
    assert!(plan_for(&w, &c, false).unwrap().is_empty());
}

#[test]
fn execute_refuses_a_plan_made_against_older_metadata() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &yaml(&["d1", "d2"], &v1("16MiB")), false).unwrap();
    let grow = yaml(&["d1", "d2"], &v1("32MiB"));
    let stale = plan_for(&w, &grow, false).unwrap();
    let add = yaml(
        &["d1", "d2"],
        &format!("{}      - {{name: v2, on: m, size: 8MiB}}\n", v1("16MiB")),
    );
    apply(&mut w, &add, false).unwrap();
    let before = sums(&w);
    let err = execute(&stale, &w.b, &mut w.k, &mut w.d, &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, EngineError::MetadataChanged { found: 4, .. }),
        "{err}"
    );
    assert_eq!(sums(&w), before);
}

#[test]
fn action_kind_spelling_is_the_json_one() {
    use ActionKind::*;
    for k in [
        FormatArea,
        ZeroExtent,
        WriteMetadata,
        Create,
        Load,
        Suspend,
        Resume,
        Verify,
        Remove,
    ] {
        assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
    }
}

#[test]
fn actions_stay_small() {
    // a plan of 10,000 volumes holds 220,000 of them (memory target, docs/testing.md)
    assert_eq!(std::mem::size_of::<Text>(), 16);
    assert!(std::mem::size_of::<Action>() <= 72);
}

#[test]
fn lazy_specs_read_as_the_built_ones() {
    // every device of a plain new volume is built when needed (plan/spec_ref.rs): its
    // name, UUID, visibility and load summary must be the built spec's, in order
    let disks = ["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"];
    let w = world(&disks, 256);
    let c = yaml(
        &disks,
        "    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n      \
         - {name: s, type: stripe, members: [d3, d4], stripe_size: 64KiB}\n      \
         - {name: c, type: concat, members: [d5, d6]}\n      \
         - {name: ms, type: mirror, members: [s, c]}\n      \
         - {name: s2, type: stripe, members: [d7, d8], stripe_size: 64KiB}\n    volumes:\n      \
         - {name: r-1, on: m, size: 16MiB}\n      \
         - {name: mj, on: m, size: 16MiB, engine: mirror, jrm: true}\n      \
         - {name: mc, on: m, size: 16MiB, engine: mirror, jrm: false}\n      \
         - {name: rs, on: ms, size: 16MiB}\n      \
         - {name: ms1, on: ms, size: 300MiB, engine: mirror}\n      \
         - {name: st, on: s2, size: 16MiB}\n",
    );
    let p = plan_for(&w, &c, false).unwrap();
    let mut lazy = 0;
    for a in &p.actions {
        if let Step::Zero { offset, len, .. } = &a.step {
            let d = a.detail.to_string();
            assert!(d.starts_with("volume "), "{d}");
            assert!(
                d.ends_with(&format!(": {} bytes at byte {}", len.0, offset.0)),
                "{d}"
            );
        }
        let (Step::Create { spec } | Step::Load { spec } | Step::Resume { spec }) = &a.step else {
            continue;
        };
        if matches!(spec, SpecRef::Lazy(..)) {
            lazy += 1;
        }
        let built = SpecRef::Built(Rc::new(spec.get().unwrap().into_owned()));
        assert_eq!(built, *spec);
        assert_eq!(Text::name(&built), Text::name(spec));
        assert_eq!(a.object.to_string(), built.name());
        match &a.step {
            Step::Create { .. } => assert_eq!(a.detail.to_string(), built.uuid()),
            Step::Load { .. } => {
                assert_eq!(a.detail.to_string(), Text::summary(&built).to_string());
                assert_eq!(
                    format!("{:>60}", a.detail),
                    format!("{:>60}", Text::summary(&built))
                );
            }
            _ => assert_eq!(built.hidden(), spec.hidden()),
        }
    }
    assert!(lazy > 10, "{lazy} lazy references");
    let tables = p.tables();
    assert!(tables.contains("striped") && tables.contains("_mimage_1") && tables.contains("_mlog"));
}

#[test]
fn name_maps_hash_with_fnv1a() {
    use std::hash::Hasher as _;
    let mut h = Fnv::default();
    h.write(b"a");
    assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    let mut m = name_map(2);
    m.insert("vol1", 1);
    assert_eq!(m.get("vol1"), Some(&1));
}

#[test]
fn root_without_keep_is_listed_as_not_built_with_its_position_netmirror_is_not() {
    let disks = "    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2}\n";
    let root = class(&format!("  - name: sys\n    type: root\n{disks}"));
    let u = unbuilt(&root);
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(
        (u[0].object.as_str(), u[0].span.line),
        ("type root without a keep disk", 3)
    );
    let e = check_built(&root).unwrap_err().to_string();
    assert!(
        e.contains("class sys: type root without a keep disk")
            && e.contains("not yet supported by this version")
            && e.contains("role: keep"),
        "{e}"
    );
    let shared = class(
        "  - name: sh\n    type: shared\n    nodes: [{name: a, host_id: 1, address: 10.0.0.1}, {name: b, host_id: 2, address: 10.0.0.2}]\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1, node: a}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2, node: b}\n    groups:\n      - {name: nm, type: netmirror, members: [d1, d2]}\n",
    );
    // Netmirror is built: nothing left to refuse.
    assert!(unbuilt(&shared).is_empty());
    assert!(check_built(&shared).is_ok());
    assert!(check_built(&yaml(&["d1", "d2"], MIRROR)).is_ok());
}

#[test]
fn a_keep_disk_is_refused_by_the_planner_and_nothing_is_written() {
    // A keep disk without a partition table (here: blank) cannot be converted.
    let mut w = world(&["d1", "d2"], 64);
    let before = sums(&w);
    let c = class("  - name: sys\n    type: root\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1, role: keep}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2}\n    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n      - {name: root, on: m, partition: 2}\n");
    let e = apply(&mut w, &c, false).unwrap_err().to_string();
    assert!(
        e.contains("disk d1") && e.contains("no GUID partition table"),
        "{e}"
    );
    assert_eq!(sums(&w), before);
}
