//! Netmirror classes on two nodes (docs/netmirror.md): each VM has one local disk and
//! a network link to the other (a QEMU `stream` netdev over a Unix socket); each node
//! exports its own disk over NVMe/TCP and connects to the partner's, and the volume is
//! a raid1 over both. Each node runs the sanlock daemon (a netmirror class is shared:
//! its volumes run under leases).
//!
//! Run: `make vm-test-one SCENARIO=netmirror_`.

use crate::common::dmclass::{dmclass, dmclass_ok, put_config, vol_path, write_random};
use crate::common::MIB;
use crate::shared::start_node;
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Link, Personality, Vm, VmSpec};
use std::time::Instant;

/// Room for the private area, the lease area (32 MiB at 512-byte sectors) and vol1.
const DISK_MIB: u64 = 160;
const VOL_MIB: u64 = 32;

const CONFIG: &str = "version: 1
classes:
  - name: nm
    type: shared
    nodes:
      - {name: node1, host_id: 1, address: 10.99.0.1}
      - {name: node2, host_id: 2, address: 10.99.0.2}
    disks:
      - {name: d1, device: /dev/disk/by-id/virtio-nm1, node: node1}
      - {name: d2, device: /dev/disk/by-id/virtio-nm2, node: node2}
    groups:
      - {name: g, type: netmirror, members: [d1, d2]}
    volumes:
      - {name: vol1, on: g, size: 32MiB}
";

/// Node `n` of bed `bed`: its local disk `nm<n>` and its end of the link (node 1
/// listens), address `10.99.0.<n>/24`.
fn node(bed: &str, n: u8, socket: &std::path::Path) -> VmSpec {
    let disk = format!("nm{n}");
    VmSpec::new(
        &format!("{bed}_n{n}"),
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(DiskSpec::virtio_blk(&disk, &disk, Bytes(DISK_MIB * MIB)))
    .link(Link {
        socket: socket.to_path_buf(),
        listen: n == 1,
        address: format!("10.99.0.{n}/24"),
    })
}

/// The sector offset of the raid1 leg of `vol` that lies on the block device
/// `major:minor` (the leg's `_rimage_N` table: `linear MAJ:MIN OFFSET`).
fn leg_offset(vm: &mut Vm, vol: &str, dev: &str) -> u64 {
    let out = vm.sh(&format!(
        "dmsetup table | grep '^dmclass-nm-{vol}_rimage_' | awk '$5 == \"{dev}\" {{print $6}}'"
    ));
    match out.stdout.trim().parse() {
        Ok(o) => o,
        Err(_) => vm.fail(&format!("a raid1 leg of {vol} on {dev}"), Some(&out)),
    }
}

/// `major:minor` of `path`.
fn devno(vm: &mut Vm, path: &str) -> String {
    let out = vm.sh(&format!(
        "cat /sys/class/block/$(basename $(readlink -f {path}))/dev"
    ));
    out.stdout.trim().to_string()
}

/// sha256 of `mib` MiB of `path` from sector `offset`, read with O_DIRECT.
fn sum_at(vm: &mut Vm, path: &str, offset: u64, mib: u64) -> String {
    let out = vm.sh(&format!(
        "set -o pipefail; dd if={path} bs=512 skip={offset} count={} iflag=direct 2>/dev/null \
         | sha256sum | cut -d' ' -f1",
        mib * MIB / 512
    ));
    out.stdout.trim().to_string()
}

pub fn netmirror_two_nodes_data_on_both() {
    let sock = std::env::temp_dir().join(format!("dmclass-nm-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let Some(mut n1) = boot_or_skip(node("nm_both", 1, &sock)) else {
        return;
    };
    let Some(mut n2) = boot_or_skip(node("nm_both", 2, &sock)) else {
        return;
    };
    start_node(&mut n1, "node1");
    start_node(&mut n2, "node2");
    put_config(&mut n1, "/tmp/nm.yaml", CONFIG);
    put_config(&mut n2, "/tmp/nm.yaml", CONFIG);

    // node2 first: its disk is exported, node1's is not there yet.
    let first = dmclass(&mut n2, "apply /tmp/nm.yaml --yes");
    n2.check(
        first.status == 1
            && first.stderr.contains("cannot reach disk d1 on node1")
            && first.stderr.contains("Disk d2 stays exported to node1"),
        "node2's apply exports d2 and is refused until node1 exports d1",
        Some(&first),
    );
    // node1: exports d1, connects to d2, creates the class on both disks, runs vol1.
    let t = Instant::now();
    let applied = dmclass_ok(&mut n1, "apply /tmp/nm.yaml --yes");
    eprintln!(
        "node1: apply (export, connect, lease area, leases, raid1) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    n1.check(
        applied
            .stderr
            .contains("disk d2 of node2 connected as /dev/nvme"),
        "node1 reaches node2's disk over NVMe/TCP",
        Some(&applied),
    );
    let vol = vol_path("nm", "vol1");
    let sum = write_random(&mut n1, &vol, VOL_MIB / 2, "nm");

    // Both legs hold the data: node1's leg read on node1's own disk, node2's leg read
    // on node2's own disk (not through the network).
    let local = devno(&mut n1, "/dev/disk/by-id/virtio-nm1");
    let remote = n1.sh(
        "for d in /sys/class/nvme/nvme*/nvme*n1; do [ -e \"$d\" ] && \
         cat /sys/class/block/$(basename $d | sed 's/c[0-9]*n/n/')/dev; done | head -n1",
    );
    let remote = remote.stdout.trim().to_string();
    let off1 = leg_offset(&mut n1, "vol1", &local);
    let off2 = leg_offset(&mut n1, "vol1", &remote);
    let on1 = sum_at(&mut n1, "/dev/disk/by-id/virtio-nm1", off1, VOL_MIB / 2);
    n1.check_eq("node1's own disk holds the data", &sum, &on1, None);
    let on2 = sum_at(&mut n2, "/dev/disk/by-id/virtio-nm2", off2, VOL_MIB / 2);
    n2.check_eq("node2's own disk holds the data", &sum, &on2, None);

    // node2 sees the class through node1's disk and is refused: node1 runs vol1.
    let refused = dmclass(&mut n2, "activate nm");
    n2.check(
        refused.status == 1 && refused.stderr.contains("nm/vol1 is active on node1"),
        "node2's activate reaches d1 and is refused naming node1",
        Some(&refused),
    );
    drop(n2);
    drop(n1);
    let _ = std::fs::remove_file(&sock);
}
