//! Inter-server mirroring (netmirror): a two-node mirror of each node's local disk
//! over the network. Each node exports its local disk to the partner, connects to the
//! partner's, and runs a raid1 over "my disk" and "your disk".
//!
//! [`transport`]: what an export and a connection are, the names and addresses they
//! use, and the [`transport::Transport`] trait the Linux side implements with NVMe over
//! TCP (`dmclass_linux::nvme_tcp`). [`links`]: what one node exports and connects to,
//! from the class and the node's name. [`restore`]: the legs on the partner's disk
//! taken back when its connection returns. [`start_lock`]: whether a node may start a
//! volume without the partner's disk. [`remote_legs`]: the legs a node's raid1 reads
//! only when its own leg cannot serve.

pub mod links;
pub mod restore;
pub mod secret;
pub mod start_lock;
pub mod transport;

use crate::metadata::{ClassMeta, VolumeMeta};

/// The legs of `vol` that lie on another node's disk, seen from node `node`: the raid
/// reads them only when the local leg cannot serve (`write_mostly`), so reads stay
/// off the network. Empty when the node is not known, for a volume without such legs,
/// and when every leg is remote (nothing would be left to read from: the kernel
/// refuses it, and a node without its own leg has no preference to state).
pub fn remote_legs(meta: &ClassMeta, vol: &VolumeMeta, node: Option<&str>) -> Vec<usize> {
    let Some(node) = node else {
        return Vec::new();
    };
    let elsewhere = |disk: &str| {
        meta.disk(disk)
            .and_then(|d| d.node.as_deref())
            .is_some_and(|n| n != node)
    };
    let remote: Vec<usize> = vol
        .layout
        .legs
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let disks = l.disks();
            !disks.is_empty() && disks.iter().all(|d| elsewhere(d))
        })
        .map(|(i, _)| i)
        .collect();
    if remote.len() >= vol.layout.legs.len() {
        return Vec::new();
    }
    remote
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::remote_legs;
    use crate::plan::tests::{class, plan_for, world};

    #[test]
    fn the_partners_leg_is_remote_seen_from_each_node_and_only_from_a_node() {
        let w = world(&["d1", "d2"], 128);
        let c = class(
            "  - name: sh\n    type: shared\n    nodes: [{name: a, host_id: 1, address: 10.0.0.1}, {name: b, host_id: 2, address: 10.0.0.2}]\n    disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-d1, node: a}\n      - {name: d2, device: /dev/disk/by-id/virtio-d2, node: b}\n    groups:\n      - {name: nm, type: netmirror, members: [d1, d2]}\n    volumes:\n      - {name: v1, on: nm, size: 16MiB}\n",
        );
        let meta = plan_for(&w, &c, false).unwrap().new_meta;
        let v = &meta.volumes[0];
        let leg_of = |disk: &str| {
            v.layout
                .legs
                .iter()
                .position(|l| l.disks() == vec![disk])
                .unwrap()
        };
        assert_eq!(remote_legs(&meta, v, Some("a")), vec![leg_of("d2")]);
        assert_eq!(remote_legs(&meta, v, Some("b")), vec![leg_of("d1")]);
        // Not known, or no node of the class (both legs remote): no preference.
        assert!(remote_legs(&meta, v, None).is_empty());
        assert!(remote_legs(&meta, v, Some("c")).is_empty());
        // A class whose disks have no node: nothing is remote.
        let mut local = meta.clone();
        for d in &mut local.disks {
            d.node = None;
        }
        assert!(remote_legs(&local, &local.volumes[0], Some("a")).is_empty());
    }
}
