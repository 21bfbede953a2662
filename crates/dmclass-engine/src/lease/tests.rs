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
    assert_eq!(l.size(), Bytes(5 << 20));
    assert_eq!(l.lockspace(), Bytes(0));
    assert_eq!(l.class_lease(), Bytes(1 << 20));
    assert_eq!(l.volume_lease(0), Some(Bytes(2 << 20)));
    assert_eq!(l.volume_lease(2), Some(Bytes(4 << 20)));
    assert_eq!(l.volume_lease(3), None);
    let big = LeaseLayout {
        geometry: Geometry::S4kA8M,
        slots: u32::MAX,
    };
    assert_eq!(
        big.volume_lease(u32::MAX - 1),
        Some(Bytes((u64::from(u32::MAX) + 1) << 23))
    );
}

#[test]
fn names_fit_sanlock() {
    let ls = lockspace_name(Uuid::from_u128(0xabc));
    assert_eq!(ls, "dmclass-00000000000000000000000000000abc");
    assert!(ls.len() <= NAME_MAX);
    assert_eq!(volume_resource("vol1").ok().as_deref(), Some("v:vol1"));
    assert!(volume_resource(&"x".repeat(46)).is_ok());
    assert!(volume_resource(&"x".repeat(47)).is_err());
}

#[test]
fn lvb_round_trips_and_garbage_is_unknown() {
    let b = encode_lvb("node1", 1_796_000_000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decode_lvb(&b), Some(("node1".into(), 1_796_000_000)));
    assert!(encode_lvb("bad name", 1).is_err());
    assert!(encode_lvb(&"n".repeat(65), 1).is_err());
    let long = encode_lvb(&"n".repeat(64), u64::MAX).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decode_lvb(&long), Some(("n".repeat(64), u64::MAX)));
    let mut tail = b;
    tail[LVB_LEN - 1] = 1; // bytes after the line
    for bad in [
        vec![0u8; LVB_LEN],
        vec![0xff; LVB_LEN],
        tail.to_vec(),
        b"dmclass-lvb/2 node=a since=1".to_vec(),
        b"dmclass-lvb/1 node=a since=x".to_vec(),
        b"dmclass-lvb/1 node=a since=1 more".to_vec(),
        b"dmclass-lvb/1 node=a/b since=1".to_vec(),
        b"dmclass-lvb/1 since=1 node=a".to_vec(),
        Vec::new(),
    ] {
        assert_eq!(
            decode_lvb(&bad),
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
