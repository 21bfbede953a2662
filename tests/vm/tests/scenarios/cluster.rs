//! The cluster test bed (shared classes, netmirror): two VMs at the same time, one disk
//! image attached to both (`share-rw=on`, no QEMU image lock, as two hosts on one SAN
//! LUN) and a network link between them (a QEMU `stream` netdev over a Unix socket).
//! What this checks is the bed itself and the lock manager dmclass builds shared
//! classes on: data written by one node with O_DIRECT is read by the other, the nodes
//! reach each other, and sanlock's disk leases exclude: the second node cannot take a
//! resource lease the first holds (`-243`, owner alive), and takes it once released;
//! and the netmirror transport (NVMe/TCP, `dmclass_linux::nvme_tcp`) exports one node's
//! local disk to the other.
//!
//! Run: `make vm-test-one SCENARIO=cluster_`.

use crate::common::MIB;
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Link, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

/// The shared disk as both nodes see it.
const SHARED: &str = "/dev/disk/by-id/virtio-shared1";
/// sanlock lockspace `LS` on the shared disk: host-id leases at 0, resource `r1` at 1 MiB.
const LOCKSPACE: &str = "LS:0:/dev/disk/by-id/virtio-shared1:0";
const RESOURCE: &str = "LS:r1:/dev/disk/by-id/virtio-shared1:1048576";
/// sanlock's I/O timeout for the test lockspace (production default 10 s): a host id
/// lease is held after about 2 × io_timeout plus a wait for other hosts.
const IO_TIMEOUT_S: u32 = 5;

/// Node `n` (1 or 2) of the bed: the shared disk (node 1 makes the image, node 2 attaches
/// node 1's `image`), and its end of the link at `socket` (node 1 listens), address
/// `10.99.0.<n>/24`.
fn node(n: u8, image: Option<std::path::PathBuf>, socket: &std::path::Path) -> VmSpec {
    let disk = DiskSpec::virtio_blk("shared1", "shared1", Bytes(64 * MIB));
    let disk = match image {
        Some(file) => disk.on_file(file),
        None => disk.shared(),
    };
    // Each node also has a local disk of its own (what a netmirror exports).
    let local = format!("local{n}");
    VmSpec::new(
        &format!("cluster_bed_n{n}"),
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(disk)
    .disk(DiskSpec::virtio_blk(&local, &local, Bytes(32 * MIB)))
    .link(Link {
        socket: socket.to_path_buf(),
        listen: n == 1,
        address: format!("10.99.0.{n}/24"),
    })
}

/// Starts the sanlock daemon (no watchdog: `-w 0`, as Debian's default; no mlockall)
/// and joins lockspace `LS` with `host_id`; returns how long joining took.
fn join(vm: &mut Vm, host_id: u32) -> std::time::Duration {
    vm.sh(
        "mkdir -p /run/sanlock /var/log && (sanlock daemon -w 0 -l 0 -U 0 -G 0 \
         </dev/null >/tmp/sanlock.out 2>&1 &) && \
         for i in $(seq 50); do [ -S /run/sanlock/sanlock.sock ] && break; sleep 0.2; done; \
         [ -S /run/sanlock/sanlock.sock ]",
    );
    let t = Instant::now();
    vm.sh(&format!(
        "sanlock client add_lockspace -s {} -o {IO_TIMEOUT_S}",
        LOCKSPACE.replacen(":0:", &format!(":{host_id}:"), 1)
    ));
    t.elapsed()
}

pub fn cluster_two_nodes_share_a_disk_and_a_lease() {
    let sock = std::env::temp_dir().join(format!("dmclass-link-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let Some(mut n1) = boot_or_skip(node(1, None, &sock)) else {
        return;
    };
    let image = n1.disk_file("shared1");
    let Some(mut n2) = boot_or_skip(node(2, Some(image), &sock)) else {
        return;
    };
    // The link.
    n2.sh_contains("ping -c 3 -W 5 10.99.0.1", " 0% packet loss");
    // The disk: what node1 writes past its cache, node2 reads past its own.
    let written = n1
        .sh(&format!(
            "dd if=/dev/urandom of=/tmp/p bs=1M count=1 2>/dev/null && \
             dd if=/tmp/p of={SHARED} bs=1M seek=32 oflag=direct conv=fsync 2>/dev/null && \
             md5sum < /tmp/p"
        ))
        .stdout;
    let read = n2
        .sh(&format!(
            "dd if={SHARED} bs=1M skip=32 count=1 iflag=direct 2>/dev/null | md5sum"
        ))
        .stdout;
    n2.check_eq(
        "node2 reads what node1 wrote to the shared disk",
        written.as_str(),
        read.as_str(),
        None,
    );
    // sanlock: the lockspace and one resource lease, made on node1.
    n1.sh(&format!(
        "sanlock direct init -s {LOCKSPACE} && sanlock direct init -r {RESOURCE}"
    ));
    let j1 = join(&mut n1, 1);
    let j2 = join(&mut n2, 2);
    eprintln!("sanlock add_lockspace (io_timeout {IO_TIMEOUT_S} s): node1 {j1:?}, node2 {j2:?}");
    // node1 holds r1 for a process of its own (its pid in `sanlock client status`:
    // `r LS:r1:PATH:OFFSET:LVER p PID`).
    let holder = n1.sh(&format!(
        "(sanlock client command -r {RESOURCE} -c /bin/sleep 600 </dev/null \
         >/tmp/holder.out 2>&1 &) && \
         for i in $(seq 100); do \
         p=$(sanlock client status | awk '/^r LS:r1:/ {{print $4}}'); \
         [ -n \"$p\" ] && {{ echo $p; exit 0; }}; sleep 0.2; done; \
         sanlock client status; cat /tmp/holder.out; exit 1"
    ));
    let pid = holder.stdout.trim().to_string();
    let held = n2
        .run(&format!(
            "sanlock client command -r {RESOURCE} -c /bin/true"
        ))
        .unwrap_or_else(|e| n2.fail(&format!("node2 acquire: {e}"), None));
    n2.check(
        held.status != 0 && held.stdout.contains("-243"),
        "node2 cannot take r1 while node1 holds it (-243: owned by a live host)",
        Some(&held),
    );
    let seen = n2.sh("sanlock client host_status -s LS");
    n2.check(
        seen.stdout.contains("1 timestamp"),
        "node2 sees node1's host id in the lockspace",
        Some(&seen),
    );
    // node1 releases r1 (explicitly, as a deactivation will) and its holder ends;
    // node2 takes the lease at once.
    let released = n1.sh(&format!(
        "sanlock client release -r {RESOURCE} -p {pid} && kill {pid}; \
         for i in $(seq 100); do \
         sanlock client status | grep -q '^r LS:r1:' || {{ echo released; exit 0; }}; \
         sleep 0.2; done; sanlock client status; exit 1"
    ));
    n1.check(
        released.stdout.contains("released"),
        "node1's lease on r1 is released",
        Some(&released),
    );
    let t = Instant::now();
    let took = n2
        .run(&format!(
            "sanlock client command -r {RESOURCE} -c /bin/true || \
             {{ sanlock direct read_leader -r {RESOURCE}; exit 1; }}"
        ))
        .unwrap_or_else(|e| n2.fail(&format!("node2 acquire: {e}"), None));
    n2.check(
        took.status == 0,
        "node2 takes r1 once node1 released it",
        Some(&took),
    );
    eprintln!(
        "node2 acquired r1 after node1's release in {:?}",
        t.elapsed()
    );
    nvme_tcp_export_and_connect(&mut n1, &mut n2);
    // The VM that made the shared image goes last (dropping it removes the image).
    drop(n2);
    drop(n1);
    let _ = std::fs::remove_file(&sock);
}

/// The netmirror transport (`dmclass_linux::nvme_tcp`, driven by its example binary
/// `dmclass-nvme-tcp`) on the real kernel: node 1 exports its local disk to node 2
/// only; node 2 connects and reads what node 1 wrote (O_DIRECT, checksums); a second
/// export and connect change nothing; disconnect and withdrawal leave node 1's nvmet
/// configfs tree empty.
fn nvme_tcp_export_and_connect(n1: &mut Vm, n2: &mut Vm) {
    const EXPORT: &str = "nqn.2014-08.org.nvmexpress:uuid:5e1f0000-0000-4000-8000-000000000001";
    const HOST2: &str = "nqn.2014-08.org.nvmexpress:uuid:5e1f0000-0000-4000-8000-000000000002";
    const NVMET: &str = "/sys/kernel/config/nvmet";
    let prepare = "modprobe nvmet-tcp && modprobe nvme-tcp && \
                   { grep -q ' /sys/kernel/config ' /proc/mounts || \
                   mount -t configfs configfs /sys/kernel/config; }";
    n1.sh(prepare);
    n2.sh(prepare);
    let written = n1
        .sh("dd if=/dev/urandom of=/tmp/l bs=1M count=2 2>/dev/null && \
             dd if=/tmp/l of=/dev/disk/by-id/virtio-local1 bs=1M oflag=direct conv=fsync \
             2>/dev/null && md5sum < /tmp/l")
        .stdout;
    let export = format!(
        "dmclass-nvme-tcp export {EXPORT} /dev/disk/by-id/virtio-local1 10.99.0.1 4420 {HOST2}"
    );
    n1.sh(&export);
    n1.sh(&export); // again: verified, unchanged
    let tree = n1.sh(&format!(
        "cat {NVMET}/subsystems/{EXPORT}/attr_allow_any_host \
         {NVMET}/subsystems/{EXPORT}/namespaces/1/device_path \
         {NVMET}/subsystems/{EXPORT}/namespaces/1/enable; ls {NVMET}/ports"
    ));
    n1.check(
        tree.stdout.split_whitespace().collect::<Vec<_>>()
            == ["0", "/dev/disk/by-id/virtio-local1", "1", "1"],
        "node1's export: only the partner admitted, its local disk, enabled, one port",
        Some(&tree),
    );
    let t = Instant::now();
    let connect = format!("dmclass-nvme-tcp connect 10.99.0.1 4420 {EXPORT} {HOST2}");
    let ctrl = n2.sh(&connect).stdout.trim().to_string();
    let again = n2.sh(&connect).stdout.trim().to_string();
    n2.check_eq(
        "a second connect reuses the controller",
        ctrl.as_str(),
        again.as_str(),
        None,
    );
    // The namespace's block device, from the controller's sysfs directory.
    let read = n2.sh(&format!(
        "udevadm settle; for i in $(seq 50); do \
         ns=$(ls /sys/class/nvme/{ctrl}/ | grep -E '^nvme[0-9]+(c[0-9]+)?n1$' | head -n1); \
         [ -n \"$ns\" ] && break; sleep 0.2; done; \
         b=$(echo $ns | sed 's/c[0-9]*n/n/'); echo $b >/tmp/nvme-dev; \
         dd if=/dev/$b bs=1M count=2 iflag=direct 2>/dev/null | md5sum"
    ));
    eprintln!(
        "node2 connected to node1's export as {ctrl} and read it in {:?}",
        t.elapsed()
    );
    n2.check_eq(
        "node2 reads node1's local disk over NVMe/TCP",
        written.as_str(),
        read.stdout.as_str(),
        Some(&read),
    );
    n2.sh_contains(&format!("dmclass-nvme-tcp status {EXPORT}"), " live");
    link_loss(n2, EXPORT);
    n2.sh(&format!("dmclass-nvme-tcp disconnect {EXPORT}"));
    n2.sh_contains(
        &format!("sleep 1; dmclass-nvme-tcp status {EXPORT}"),
        "none",
    );
    n1.sh(&format!("dmclass-nvme-tcp unexport {EXPORT}"));
    let left = n1.sh(&format!(
        "echo $(ls {NVMET}/subsystems) $(ls {NVMET}/ports) | wc -w"
    ));
    n1.check(
        left.stdout.trim() == "0",
        "withdrawing the export leaves no subsystem and no port",
        Some(&left),
    );
}

/// Node 2's link goes down under a read of the remote disk: the read fails in bounded
/// time (measured 31 s: the command's own timeout, `nvme_core.io_timeout` 30 s, then
/// `fast_io_fail_tmo` 15 s for what is queued) instead of being held for the kernel's
/// default 600 s of reconnecting — what bounds how long a netmirror waits before it
/// drops the remote leg. The link comes back: the host reconnects by itself (every
/// `reconnect_delay`, 2 s) and the disk reads again.
fn link_loss(n2: &mut Vm, export: &str) {
    let link = |vm: &mut Vm, up: bool| {
        vm.qmp_execute("set_link", &serde_json::json!({"name": "net0", "up": up}))
            .unwrap_or_else(|e| vm.fail(&format!("set_link up={up}: {e}"), None));
    };
    link(n2, false);
    let t = Instant::now();
    let read = n2
        .run_timeout(
            "dd if=/dev/$(cat /tmp/nvme-dev) of=/dev/null bs=4k count=1 skip=777 iflag=direct",
            Duration::from_secs(100),
        )
        .unwrap_or_else(|e| n2.fail(&format!("read with the link down: {e}"), None));
    let failed_after = t.elapsed();
    eprintln!("link down: a read of the remote disk failed after {failed_after:?}");
    n2.check(
        read.status != 0 && failed_after < Duration::from_secs(40),
        "with the link down the remote read fails within 40 s",
        Some(&read),
    );
    link(n2, true);
    let t = Instant::now();
    n2.sh(&format!(
        "for i in $(seq 60); do dmclass-nvme-tcp status {export} | grep -q ' live$' && \
         exit 0; sleep 0.5; done; dmclass-nvme-tcp status {export}; exit 1"
    ));
    eprintln!("link up: controller live again after {:?}", t.elapsed());
    n2.sh("dd if=/dev/$(cat /tmp/nvme-dev) of=/dev/null bs=4k count=1 skip=777 iflag=direct");
}
