//! Lease names, geometry, offsets, the LVB and the holder message.

use super::*;
use dmclass_model::ClusterNode;

fn id(n: u64) -> HostId {
    HostId::new(n).unwrap_or_else(|| panic!("{n} is a host id"))
}

#[test]
fn geometry_is_the_smallest_unit_that_holds_the_largest_host_id() {
    let g = |sector, largest| Geometry::for_disks(sector, id(largest)).ok();
    assert_eq!(g(512, 2000), Some(Geometry::S512A1M));
    assert_eq!(g(4096, 2), Some(Geometry::S4kA1M));
    assert_eq!(g(4096, 250), Some(Geometry::S4kA1M));
    assert_eq!(g(4096, 251), Some(Geometry::S4kA2M));
    assert_eq!(g(4096, 1000), Some(Geometry::S4kA4M));
    assert_eq!(g(4096, 2000), Some(Geometry::S4kA8M));
    assert!(Geometry::for_disks(520, id(1)).is_err());
    assert_eq!(Geometry::S4kA8M.unit(), Bytes(8 << 20));
    assert_eq!(Geometry::S512A1M.sector(), 512);
}

#[test]
fn layout_puts_lockspace_class_lease_then_volume_slots() {
    let l = LeaseLayout {
        geometry: Geometry::S512A1M,
        slots: 3,
    };
    assert_eq!(l.size(), Bytes(6 << 20));
    assert_eq!(l.lockspace(), Bytes(0));
    assert_eq!(l.class_lease(), Bytes(1 << 20));
    assert_eq!(l.note(0), Some(Bytes(2 << 20)));
    assert_eq!(l.note(2), Some(Bytes((2 << 20) + 1024)));
    assert_eq!(l.note(3), None);
    assert_eq!(l.volume_lease(0), Some(Bytes(3 << 20)));
    assert_eq!(l.volume_lease(2), Some(Bytes(5 << 20)));
    assert_eq!(l.volume_lease(3), None);
    let big = LeaseLayout {
        geometry: Geometry::S4kA8M,
        slots: u32::MAX,
    };
    assert_eq!(
        big.volume_lease(u32::MAX - 1),
        Some(Bytes((u64::from(u32::MAX) + 2) << 23))
    );
}

#[test]
fn names_fit_sanlock() {
    let ls = lockspace_name(Uuid::from_u128(0xabc));
    assert_eq!(ls, "dmclass-00000000000000000000000000000abc");
    assert!(ls.len() <= NAME_MAX);
    assert_eq!(volume_resource("vol1").ok().as_deref(), Some("v.vol1"));
    assert!(volume_resource(&"x".repeat(46)).is_ok());
    assert!(volume_resource(&"x".repeat(47)).is_err());
}

#[test]
fn note_round_trips_and_garbage_is_unknown() {
    let b = note::encode("node1", 1_796_000_000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(note::decode(&b), Some(("node1".into(), 1_796_000_000)));
    assert!(note::encode("bad name", 1).is_err());
    assert!(note::encode(&"n".repeat(65), 1).is_err());
    let long = note::encode(&"n".repeat(64), u64::MAX).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(note::decode(&long), Some(("n".repeat(64), u64::MAX)));
    let mut tail = b;
    tail[note::NOTE_LEN - 1] = 1; // bytes after the line
    for bad in [
        vec![0u8; note::NOTE_LEN],
        vec![0xff; note::NOTE_LEN],
        tail.to_vec(),
        b"dmclass-holder/2 node=a since=1".to_vec(),
        b"dmclass-holder/1 node=a since=x".to_vec(),
        b"dmclass-holder/1 node=a since=1 more".to_vec(),
        b"dmclass-holder/1 node=a/b since=1".to_vec(),
        b"dmclass-holder/1 since=1 node=a".to_vec(),
        Vec::new(),
    ] {
        assert_eq!(
            note::decode(&bad),
            None,
            "{:?}",
            String::from_utf8_lossy(&bad)
        );
    }
}

#[test]
fn holder_message_names_the_node_and_since_when() {
    let nodes = ClusterNode::in_order(&["node1", "node2"]);
    let h = Holder {
        host_id: id(1),
        taken: Some(("node1".into(), 1_796_573_716)),
    };
    assert_eq!(
        holder_message("acc/vol1", &h, &nodes),
        "acc/vol1 is active on node1 (host_id 1) since 2026-12-06T16:15:16Z"
    );
    let unknown = Holder {
        host_id: id(9),
        taken: None,
    };
    assert_eq!(
        holder_message("acc/vol1", &unknown, &nodes),
        "acc/vol1 is active on host_id 9 (not in the class's nodes)"
    );
    let stranger = Holder {
        host_id: id(9),
        taken: Some(("nodex".into(), 0)),
    };
    assert!(holder_message("acc", &stranger, &nodes).contains(
        "host_id 9 (calls itself nodex; not in the class's nodes) since 1970-01-01T00:00:00Z"
    ));
}

mod area_on_disks {
    #![allow(clippy::unwrap_used, clippy::many_single_char_names)]
    use crate::lease::area::LeaseArea;
    use crate::plan::tests::world;
    use crate::plan::tests::{apply, class};

    /// A change made to a valid lease area (a crafted label).
    type Mutation = fn(&mut LeaseArea);

    const CLASS: &str = "  - name: acc\n    type: shared\n    nodes: [node1, node2]\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2}\n    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n";

    #[test]
    fn a_shared_class_gets_its_lease_area_first_and_a_slot_per_volume() {
        let mut w = world(&["d1", "d2"], 256);
        let c = class(&format!(
            "{CLASS}      - {{name: vol1, on: m, size: 64MiB}}\n      - {{name: vol2, on: m, size: 16MiB}}\n"
        ));
        let p = apply(&mut w, &c, false).unwrap();
        let meta = &p.new_meta;
        let a = meta.leases.clone().unwrap();
        // The start of d1's data area, 32 units of 1 MiB.
        assert_eq!(
            (a.extent.disk.as_str(), a.extent.offset, a.extent.len.0),
            ("d1", crate::metadata::area_sectors(), 32 << 11)
        );
        assert_eq!(a.volumes.get("vol1"), Some(&0));
        assert_eq!(a.volumes.get("vol2"), Some(&1));
        assert_eq!(
            a.problem(Some(meta.disks[0].size), crate::metadata::area_sectors()),
            None
        );
        for v in &meta.volumes {
            for e in v.layout.extents() {
                assert!(
                    e.disk != a.extent.disk
                        || e.end() <= a.extent.offset
                        || e.offset >= a.extent.end(),
                    "{} overlaps the lease area: {e:?}",
                    v.name
                );
            }
        }
        let (lease, note) = a.volume("vol2").unwrap();
        assert_eq!(lease.0, (32 << 20) + (4 << 20));
        assert_eq!(note.0, (32 << 20) + (2 << 20) + 512);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("lease area: 32MiB on disk d1 at sector 65536")),
            "{:?}",
            p.notes
        );

        // vol2 removed: its slot is not reused by the same change (its lease is held
        // until the change is done); vol1 keeps slot 0 and the area does not move.
        let c2 = class(&format!(
            "{CLASS}      - {{name: vol1, on: m, size: 64MiB}}\n      - {{name: vol3, on: m, size: 16MiB}}\n"
        ));
        let p2 = apply(&mut w, &c2, true).unwrap();
        let a2 = p2.new_meta.leases.clone().unwrap();
        assert_eq!(a2.extent, a.extent);
        assert_eq!(a2.volumes.get("vol1"), Some(&0));
        assert_eq!(a2.volumes.get("vol3"), Some(&2));
        assert_eq!(a2.volumes.get("vol2"), None);
        // The next change may reuse it.
        let mut m = p2.new_meta.clone();
        let mut v4 = m.volumes[0].clone();
        v4.name = "vol4".into();
        m.volumes.push(v4);
        crate::plan::lease_area::assign_slots(&mut m, &p2.new_meta).unwrap();
        assert_eq!(m.leases.unwrap().volumes.get("vol4"), Some(&1));
    }

    #[test]
    fn a_crafted_lease_area_is_a_label_problem() {
        let mut w = world(&["d1", "d2"], 256);
        let c = class(&format!(
            "{CLASS}      - {{name: vol1, on: m, size: 64MiB}}\n"
        ));
        let p = apply(&mut w, &c, false).unwrap();
        let good = p.new_meta.leases.clone().unwrap();
        let size = Some(p.new_meta.disks[0].size);
        // (what is changed, whether the disk's size is known, what the problem says)
        let cases: [(Mutation, bool, &str); 4] = [
            (
                |a| _ = a.volumes.insert("vol2".into(), 0),
                true,
                "taken twice",
            ),
            (
                |a| a.extent.offset = dmclass_model::Sectors(0),
                true,
                "outside",
            ),
            (|a| a.slots = 5000, true, "does not fit"),
            (|a| a.extent.disk = "d9".into(), false, "unknown disk"),
        ];
        for (mutate, sized, says) in cases {
            let mut a = good.clone();
            mutate(&mut a);
            let problem = a
                .problem(size.filter(|_| sized), crate::metadata::area_sectors())
                .unwrap();
            assert!(problem.contains(says), "{problem}");
        }
    }
}

mod taking {
    #![allow(clippy::unwrap_used, clippy::many_single_char_names)]
    use crate::io::Disks;
    use crate::lease::client::{ClassLeases, Held, SimLeaseState, SimLeases};
    use crate::lease::note;
    use crate::plan::tests::{apply, class, world};
    use std::collections::BTreeMap;

    #[test]
    fn one_node_holds_a_volume_the_other_is_told_who_and_takes_it_once_given_back() {
        let mut w = world(&["d1", "d2"], 256);
        let c = class("  - name: acc\n    type: shared\n    nodes: [node1, node2]\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2}\n    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n      - {name: vol1, on: m, size: 64MiB}\n");
        let p = apply(&mut w, &c, false).unwrap();
        let paths: BTreeMap<String, std::path::PathBuf> =
            w.b.iter()
                .map(|b| (b.name.clone(), b.path.clone()))
                .collect();
        let meta = &p.new_meta;
        let leases = |node: &str| {
            ClassLeases::new(
                (&meta.name, meta.uuid, meta.cluster_nodes().unwrap()),
                meta.leases.as_ref(),
                &paths,
                node,
            )
        };
        assert!(leases("node3")
            .unwrap_err()
            .to_string()
            .contains("not one of the class's nodes (node1, node2)"));
        let n1 = leases("node1").unwrap();
        let n2 = leases("node2").unwrap();
        let mut state = SimLeaseState::default();
        n1.init_all(
            &mut SimLeases {
                state: &mut state,
                host_id: 1,
            },
            &mut w.d,
        )
        .unwrap();
        // Taking needs the lockspace joined; joining twice is once.
        let mut c1 = SimLeases {
            state: &mut state,
            host_id: 1,
        };
        assert!(n1.take(&mut c1, &w.d, Some("vol1"), &[]).is_err());
        assert!(n1.join(&mut c1).unwrap());
        assert!(!n1.join(&mut c1).unwrap());
        let Ok(Held::Now(pid)) = n1.take(&mut c1, &w.d, Some("vol1"), &[]).unwrap() else {
            panic!("vol1 not taken now");
        };
        // Taken again on the same node: the same holder, held already.
        assert_eq!(
            n1.take(&mut c1, &w.d, Some("vol1"), &[]).unwrap(),
            Ok(Held::Already(pid))
        );
        let (dev, at) = n1.note_at("vol1").unwrap();
        w.d.write(dev, at, &note::encode("node1", 1_796_573_716).unwrap())
            .unwrap();

        let mut c2 = SimLeases {
            state: &mut state,
            host_id: 2,
        };
        n2.join(&mut c2).unwrap();
        let refused = n2
            .take(&mut c2, &w.d, Some("vol1"), &[])
            .unwrap()
            .unwrap_err();
        assert_eq!(
            refused,
            "acc/vol1 is active on node1 (host_id 1) since 2026-12-06T16:15:16Z"
        );
        // A note another node wrote is not believed: the holder is named, no time.
        w.d.write(dev, at, &note::encode("node2", 5).unwrap())
            .unwrap();
        let refused = n2
            .take(&mut c2, &w.d, Some("vol1"), &[])
            .unwrap()
            .unwrap_err();
        assert_eq!(refused, "acc/vol1 is active on node1 (host_id 1)");
        // The class lease is separate from the volume's.
        assert!(n2.take(&mut c2, &w.d, None, &[]).unwrap().is_ok());
        assert!(n2.give_back(&mut c2, None).unwrap());

        let mut c1 = SimLeases {
            state: &mut state,
            host_id: 1,
        };
        assert!(n1.give_back(&mut c1, Some("vol1")).unwrap());
        assert!(!n1.give_back(&mut c1, Some("vol1")).unwrap());
        let mut c2 = SimLeases {
            state: &mut state,
            host_id: 2,
        };
        assert!(n2.take(&mut c2, &w.d, Some("vol1"), &[]).unwrap().is_ok());
    }
}

mod fencing {
    #![allow(clippy::unwrap_used, clippy::many_single_char_names)]
    use crate::io::Kernel;
    use crate::lease::fence::fence_volume;
    use crate::plan::tests::{apply, yaml};

    #[test]
    fn fencing_errors_every_device_of_the_volume_and_no_other() {
        let mut w = crate::plan::tests::world(&["d1", "d2"], 256);
        let c = yaml(&["d1", "d2"], "    groups:\n      - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n      - {name: vol1, on: m, size: 64MiB}\n      - {name: vol2, on: m, size: 16MiB}\n");
        let p = apply(&mut w, &c, false).unwrap();
        let meta = &p.new_meta;
        let v1 = meta.volumes.iter().find(|v| v.name == "vol1").unwrap();
        let fenced = fence_volume(&mut w.k, meta.uuid, v1.uuid).unwrap();
        assert!(fenced.len() >= 3, "{fenced:?}"); // top + legs' layers
        for d in w.k.list().unwrap() {
            let table = w.k.table(&d.name).unwrap();
            let errored = table.iter().all(|l| l.target == "error");
            assert_eq!(errored, fenced.contains(&d.name), "{}: {table:?}", d.name);
        }
        let top = crate::names::dm_name("data", "vol1", crate::names::Layer::Top).unwrap();
        assert!(fenced.contains(&top));
        // Fencing again finds the same devices and leaves them erroring.
        assert_eq!(
            fence_volume(&mut w.k, meta.uuid, v1.uuid).unwrap().len(),
            fenced.len()
        );
    }
}
