//! Shared classes on two nodes (docs/shared-class.md): two VMs attach the same two disk
//! images (`share-rw=on`, no image lock: two hosts on one SAN), each runs the sanlock
//! daemon, and dmclass's leases decide which node runs a volume.
//!
//! Run: `make vm-test-one SCENARIO=shared_`.

use crate::common::dmclass::{dmclass, dmclass_ok, put_config, read_sum, vol_path, write_random};
use crate::common::MIB;
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Output, Personality, Vm, VmSpec};
use std::time::Instant;

/// sanlock's I/O timeout in the test bed (the daemon's `-o`; production default 10 s):
/// joining a lockspace takes about 4 × io_timeout.
const IO_TIMEOUT_S: u32 = 5;

const CONFIG: &str = "version: 1
classes:
  - name: acc
    type: shared
    nodes: [node1, node2]
    disks:
      - {name: d1, device: /dev/disk/by-id/virtio-shared1}
      - {name: d2, device: /dev/disk/by-id/virtio-shared2}
    groups:
      - {name: m, type: mirror, members: [d1, d2]}
    volumes:
      - {name: vol1, on: m, size: 32MiB}
";

/// Node `n`: both shared disks (node 1 makes the images, node 2 attaches node 1's).
fn node(n: u8, images: Option<(std::path::PathBuf, std::path::PathBuf)>) -> VmSpec {
    let disk = |id: &str| DiskSpec::virtio_blk(id, id, Bytes(128 * MIB));
    let (d1, d2) = match images {
        Some((f1, f2)) => (disk("shared1").on_file(f1), disk("shared2").on_file(f2)),
        None => (disk("shared1").shared(), disk("shared2").shared()),
    };
    VmSpec::new(
        &format!("shared_excl_n{n}"),
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(d1)
    .disk(d2)
}

/// The node's host name (what dmclass takes as its node name) and the sanlock daemon,
/// started as Debian's unit does (no watchdog, `-w 0`), with the test bed's io_timeout.
fn start_node(vm: &mut Vm, name: &str) {
    vm.sh(&format!(
        "hostname {name} && mkdir -p /run/sanlock /var/log && \
         (sanlock daemon -w 0 -l 0 -U 0 -G 0 -o {IO_TIMEOUT_S} </dev/null >/tmp/sanlock.out 2>&1 &) && \
         for i in $(seq 50); do [ -S /run/sanlock/sanlock.sock ] && break; sleep 0.2; done; \
         [ -S /run/sanlock/sanlock.sock ]"
    ));
}

/// `dmclass activate acc` refused (exit 1) naming `holder`; nothing of the class started.
fn refused_naming(vm: &mut Vm, holder: &str) -> Output {
    let out = dmclass(vm, "activate acc");
    vm.check(
        out.status == 1
            && out
                .stderr
                .contains(&format!("acc/vol1 is active on {holder} (host_id ")),
        &format!("activate is refused, naming {holder}"),
        Some(&out),
    );
    let devs = vm.sh("dmsetup ls | grep -c '^dmclass-acc-' || true");
    vm.check_eq(
        "no device of the class on the refused node",
        "0",
        devs.stdout.trim(),
        Some(&devs),
    );
    out
}

pub fn shared_two_nodes_exclusive_activation() {
    let Some(mut n1) = boot_or_skip(node(1, None)) else {
        return;
    };
    let images = (n1.disk_file("shared1"), n1.disk_file("shared2"));
    let Some(mut n2) = boot_or_skip(node(2, Some(images))) else {
        return;
    };
    start_node(&mut n1, "node1");
    start_node(&mut n2, "node2");
    put_config(&mut n1, "/tmp/acc.yaml", CONFIG);
    let t = Instant::now();
    let applied = dmclass_ok(&mut n1, "apply /tmp/acc.yaml --yes");
    eprintln!(
        "node1: apply (lease area, lockspace join, leases) in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        applied
            .stderr
            .lines()
            .find(|l| l.contains("joined"))
            .unwrap_or("")
    );
    let held = n1.sh("sanlock client status");
    n1.check(
        held.stdout.contains(":v.vol1:") && !held.stdout.contains(":class:"),
        "node1 holds vol1's lease (and no longer the class lease)",
        Some(&held),
    );
    let vol = vol_path("acc", "vol1");
    let sum = write_random(&mut n1, &vol, 8, "acc");

    // node2 joins the lockspace during its first activate, and is refused.
    let t = Instant::now();
    refused_naming(&mut n2, "node1");
    eprintln!(
        "node2: refused after {:.1} s (its lockspace join included)",
        t.elapsed().as_secs_f64()
    );
    // A change from node2 is refused too.
    let snap = dmclass(&mut n2, "snapshot create acc/vol1 s1 --size 8MiB");
    n2.check(
        snap.status == 1 && snap.stderr.contains("active on node1"),
        "a snapshot from node2 is refused, naming node1",
        Some(&snap),
    );

    // node1 stops the volume and gives its lease back; node2 takes it, reads node1's data.
    let down = dmclass_ok(&mut n1, "deactivate acc");
    n1.check(
        down.stdout.contains("gave back"),
        "deactivate gives the leases back",
        Some(&down),
    );
    let t = Instant::now();
    let up = dmclass_ok(&mut n2, "activate acc");
    eprintln!(
        "node2: activate after node1's release in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    n2.check(
        up.stdout.contains("1 started"),
        "node2 starts vol1",
        Some(&up),
    );
    let read = read_sum(&mut n2, &vol, 8);
    n2.check_eq("node2 reads what node1 wrote", &sum, &read, None);
    // Now node1 is the one refused, and node2 the holder it names.
    refused_naming(&mut n1, "node2");
    drop(n2);
    drop(n1);
}
