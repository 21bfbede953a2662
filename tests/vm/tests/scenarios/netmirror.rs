//! Netmirror classes on two nodes (docs/netmirror.md): each VM has one local disk and
//! a network link to the other (a QEMU `stream` netdev over a Unix socket); each node
//! exports its own disk over NVMe/TCP and connects to the partner's, and the volume is
//! a raid1 over both. Each node runs the sanlock daemon (a netmirror class is shared:
//! its volumes run under leases).
//!
//! Run: `make vm-test-one SCENARIO=netmirror_`.

use crate::common::dmclass::{
    dmclass, dmclass_ok, put_config, read_sum, sum_at, vol_path, write_random,
};
use crate::common::MIB;
use crate::shared::start_node;
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Link, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

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

/// Node `n` of bed `bed`: its local disk `nm<n>` and its end of the link (node
/// `listener` listens on the socket), address `10.99.0.<n>/24`. A QEMU 7.2 `stream`
/// netdev never reconnects: the node that listens must not be restarted while the
/// other one runs.
fn node(bed: &str, n: u8, socket: &std::path::Path, listener: u8) -> VmSpec {
    let disk = format!("nm{n}");
    VmSpec::new(
        &format!("{bed}_n{n}"),
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(DiskSpec::virtio_blk(&disk, &disk, Bytes(DISK_MIB * MIB)))
    .link(Link {
        socket: socket.to_path_buf(),
        listen: n == listener,
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

/// Two nodes booted and linked, sanlock running on each, the file on both; node2
/// applied first (refused, its disk exported), node1 applied (the class made, vol1
/// running on node1).
struct Bed {
    n1: Vm,
    n2: Vm,
    sock: std::path::PathBuf,
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.sock);
    }
}

fn bed(name: &str) -> Option<Bed> {
    bed_listening(name, 1)
}

/// [`bed`] with node `listener`'s QEMU listening on the link's socket.
fn bed_listening(name: &str, listener: u8) -> Option<Bed> {
    let sock = std::env::temp_dir().join(format!("dmclass-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let (mut n1, mut n2) = if listener == 1 {
        let n1 = boot_or_skip(node(name, 1, &sock, listener))?;
        (n1, boot_or_skip(node(name, 2, &sock, listener))?)
    } else {
        let n2 = boot_or_skip(node(name, 2, &sock, listener))?;
        (boot_or_skip(node(name, 1, &sock, listener))?, n2)
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
    Some(Bed { n1, n2, sock })
}

/// The sector offsets of vol1's legs on node1's disk and on node2's disk, read from
/// node1's tables.
fn leg_offsets(n1: &mut Vm) -> (u64, u64) {
    leg_offsets_on(n1, "/dev/disk/by-id/virtio-nm1")
}

pub fn netmirror_two_nodes_data_on_both() {
    let Some(mut b) = bed("nm_both") else {
        return;
    };
    let (n1, n2) = (&mut b.n1, &mut b.n2);
    let vol = vol_path("nm", "vol1");
    let sum = write_random(n1, &vol, VOL_MIB / 2, "nm");

    // Both legs hold the data: node1's leg read on node1's own disk, node2's leg read
    // on node2's own disk (not through the network).
    let (off1, off2) = leg_offsets(n1);
    let on1 = sum_at(n1, "/dev/disk/by-id/virtio-nm1", off1, VOL_MIB / 2);
    n1.check_eq("node1's own disk holds the data", &sum, &on1, None);
    let on2 = sum_at(n2, "/dev/disk/by-id/virtio-nm2", off2, VOL_MIB / 2);
    n2.check_eq("node2's own disk holds the data", &sum, &on2, None);

    reads_stay_local(n1, n2);
    write_throughput(n1);

    // node2 sees the class through node1's disk and is refused: node1 runs vol1.
    let refused = dmclass(n2, "activate nm");
    n2.check(
        refused.status == 1 && refused.stderr.contains("nm/vol1 is active on node1"),
        "node2's activate reaches d1 and is refused naming node1",
        Some(&refused),
    );
    secrets_refused_without_kernel_auth(n2);
}

/// A class with a secrets file on a kernel whose NVMe target cannot authenticate
/// (Debian 12's: `CONFIG_NVME_TARGET_AUTH` unset): refused before anything is
/// exported, the secrets never printed, the NVMe target's configfs unchanged.
fn secrets_refused_without_kernel_auth(n2: &mut Vm) {
    // 32-byte keys of 0x11 and 0x22 with their CRC-32 (`nvme gen-dhchap-key`'s form).
    let k1 = "DHHC-1:00:ERERERERERERERERERERERERERERERERERERERERERHYIEm8:";
    let k2 = "DHHC-1:00:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIGuf2I:";
    n2.sh(&format!(
        "umask 077 && printf 'node1 %s\\nnode2 %s\\n' '{k1}' '{k2}' > /etc/sec.secrets"
    ));
    let yaml = CONFIG.replace("name: nm", "name: sec").replace(
        "    disks:\n",
        "    secret_file: /etc/sec.secrets\n    disks:\n",
    );
    put_config(n2, "/tmp/sec.yaml", &yaml);
    let tree = "cd /sys/kernel/config/nvmet && ls subsystems hosts ports";
    let before = n2.sh(tree).stdout;
    let out = dmclass(n2, "apply /tmp/sec.yaml --yes");
    n2.check(
        out.status != 0
            && out.stderr.contains("CONFIG_NVME_TARGET_AUTH")
            && out.stderr.contains("nothing exported")
            && !out.stderr.contains(&k1[10..])
            && !out.stderr.contains(&k2[10..]),
        "a secrets file on a kernel without NVMe in-band authentication is refused",
        Some(&out),
    );
    let after = n2.sh(tree).stdout;
    n2.check_eq(
        "the refused apply left the NVMe target as it was",
        &before,
        &after,
        None,
    );
}

/// Reads stay on node1's own disk: node1's table marks node2's leg `write_mostly`,
/// and four parallel readers over the whole volume read nothing from node2's disk
/// (QMP block statistics on node2's QEMU). The control: the same table without
/// `write_mostly`, loaded by hand, and the same reads do reach node2's disk.
fn reads_stay_local(n1: &mut Vm, n2: &mut Vm) {
    let table = n1
        .sh("dmsetup table dmclass-nm-vol1")
        .stdout
        .trim()
        .to_string();
    n1.check(
        table.contains(" write_mostly 1 "),
        &format!("node1's table marks node2's leg write_mostly: {table}"),
        None,
    );
    let remote = remote_reads(n1, n2);
    println!("reads on node1 with write_mostly: {remote} bytes from node2's disk");
    n1.check(
        remote == 0,
        &format!("reads stay on node1's disk ({remote} bytes read from node2's)"),
        None,
    );
    // The control, then the table dmclass made back.
    load_vol1_table(n1, &without_write_mostly(&table));
    let control = remote_reads(n1, n2);
    println!("the same reads without write_mostly: {control} bytes from node2's disk");
    load_vol1_table(n1, &table);
    n1.check(
        control > 0,
        "without write_mostly the same reads reach node2's disk (the check can see them)",
        None,
    );
}

/// Loads `table` into vol1 by hand (suspend, reload, resume): the tests' own variants
/// of the table dmclass made.
fn load_vol1_table(vm: &mut Vm, table: &str) {
    let out = vm.sh(&format!(
        "dmsetup suspend dmclass-nm-vol1 && dmsetup reload dmclass-nm-vol1 --table '{table}' \
         && dmsetup resume dmclass-nm-vol1"
    ));
    vm.check(
        out.success(),
        &format!("load the table {table}"),
        Some(&out),
    );
}

/// Bytes node2's disk serves while node1 reads vol1 with four parallel readers.
fn remote_reads(n1: &mut Vm, n2: &mut Vm) -> u64 {
    let rd = |vm: &mut Vm| {
        vm.blockstats("nm2")
            .ok()
            .flatten()
            .map_or(0, |s| s.rd_bytes)
    };
    let vol = vol_path("nm", "vol1");
    let before = rd(n2);
    let per = VOL_MIB / 4;
    let out = n1.sh(&format!(
        "for s in 0 1 2 3; do dd if={vol} of=/dev/null bs=64K count={} skip=$((s * {})) \
         iflag=direct 2>/dev/null & done; wait",
        per * 16,
        per * 16
    ));
    n1.check(out.success(), "parallel reads of vol1", Some(&out));
    rd(n2).saturating_sub(before)
}

/// `table` (one dm-raid line) without its `write_mostly N` pairs, its count of
/// parameters adjusted.
fn without_write_mostly(table: &str) -> String {
    let words: Vec<&str> = table.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    let mut dropped = 0;
    while i < words.len() {
        if words[i] == "write_mostly" {
            i += 2;
            dropped += 2;
            continue;
        }
        out.push(words[i].to_owned());
        i += 1;
    }
    // `start len raid raid1 <#params> ...`
    if let Some(n) = out.get(4).and_then(|w| w.parse::<usize>().ok()) {
        out[4] = n.saturating_sub(dropped).to_string();
    }
    out.join(" ")
}

/// MiB/s of a 16 MiB sequential write (1 MiB blocks, O_DIRECT, then fsync) to `dev`
/// from MiB `seek`.
fn mib_per_s(vm: &mut Vm, dev: &str, seek: u64) -> f64 {
    let out = vm.sh(&format!(
        "a=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of={dev} bs=1M count=16 seek={seek} \
         oflag=direct conv=fsync 2>/dev/null || exit 1; b=$(cut -d' ' -f1 /proc/uptime); \
         echo \"$a $b\" | awk '{{printf \"%.3f\", 16 / ($2 - $1 + 0.005)}}'"
    ));
    match out.stdout.trim().parse() {
        Ok(r) => r,
        Err(_) => vm.fail(&format!("timing a write to {dev}"), Some(&out)),
    }
}

/// `make bench-netmirror`: sequential writes to the netmirror volume against the same
/// writes to node1's own disk and to node2's disk over NVMe/TCP (raw, in space no
/// extent uses: MiB 128 on, past the private area, the lease area and vol1), same run.
fn write_throughput(n1: &mut Vm) {
    let vol = vol_path("nm", "vol1");
    let remote = n1
        .sh("ls /dev/nvme*n1 | grep -v 'c[0-9]*n' | head -n1")
        .stdout
        .trim()
        .to_string();
    let volume = mib_per_s(n1, &vol, 0);
    let local = mib_per_s(n1, "/dev/disk/by-id/virtio-nm1", 128);
    let over_net = mib_per_s(n1, &remote, 128);
    println!(
        "bench-netmirror: sequential write: volume {volume:.1} MiB/s, local disk {local:.1} \
         MiB/s (ratio {:.2}), partner's disk over NVMe/TCP {over_net:.1} MiB/s (ratio {:.2})",
        volume / local.max(0.001),
        volume / over_net.max(0.001)
    );
}

fn set_link(vm: &mut Vm, up: bool) {
    vm.qmp_execute("set_link", &serde_json::json!({"name": "net0", "up": up}))
        .unwrap_or_else(|e| vm.fail(&format!("set_link up={up}: {e}"), None));
}

/// vol1's raid status line on node1.
fn raid_status(n1: &mut Vm) -> String {
    n1.sh("dmsetup status dmclass-nm-vol1")
        .stdout
        .trim()
        .to_string()
}

/// node1 runs vol1; the link is cut under a writer: no write fails, the remote leg
/// drops out; 1% of the volume is written meanwhile; the link back, the partner's
/// controller reconnects by itself and udev's `dmclass event reconnected` takes the leg
/// back: only what changed is copied (QMP block statistics of node2's disk), and both
/// nodes' disks hold the volume's data (checksums). Then the partner reboots (power
/// cut) under the same writer: once its `activate` exports its disk again, the leg
/// comes back by itself the same way.
pub fn netmirror_link_cut_incremental_resync() {
    let Some(mut b) = bed("nm_cut") else {
        return;
    };
    let (n1, n2) = (&mut b.n1, &mut b.n2);
    let vol = vol_path("nm", "vol1");
    write_random(n1, &vol, VOL_MIB, "base");
    let status = raid_status(n1);
    n1.check(
        status.contains(" AA "),
        "both legs in sync before the cut",
        None,
    );
    set_link(n1, false);
    let t = Instant::now();
    // 1% of 32 MiB: five 64 KiB blocks, scattered, each synced.
    let w = n1.sh(&format!(
        "for i in 3 97 181 260 333; do dd if=/dev/urandom of={vol} bs=64K count=1 seek=$i \
         oflag=direct conv=fsync 2>/dev/null || echo FAILED $i; done; echo wrote"
    ));
    let took = t.elapsed();
    let status = raid_status(n1);
    eprintln!(
        "link cut: the writes took {:.1} s (the first waits for the remote leg to fail); {status}",
        took.as_secs_f64()
    );
    n1.check(
        w.stdout.trim() == "wrote",
        "no write fails while the link is down",
        Some(&w),
    );
    n1.check(
        status.contains(" AD ") && took < Duration::from_secs(90),
        "the remote leg is dropped within 90 s (fast_io_fail_tmo 15 s + the 30 s I/O timeout)",
        None,
    );
    // `status` says what vol1 waits for.
    let st = dmclass_ok(n1, "status nm --json").stdout;
    n1.check(
        st.contains("\"partner_wait\"") && st.contains("leg 1 on disk d2 of node2 is out"),
        "status says vol1's leg waits for node2",
        None,
    );
    let before = n2
        .blockstats("nm2")
        .ok()
        .flatten()
        .map_or(0, |s| s.wr_bytes);
    set_link(n1, true);
    let back = back_in_sync(n1);
    let written = n2
        .blockstats("nm2")
        .ok()
        .flatten()
        .map_or(0, |s| s.wr_bytes)
        .saturating_sub(before);
    println!(
        "bench-netmirror: link back: leg in sync again {:.1} s later, with no command; \
         node2's disk got {written} bytes for 1% of the volume written ({} bytes), ratio {:.2}",
        back.as_secs_f64(),
        VOL_MIB * MIB / 100,
        Duration::from_nanos(written).as_secs_f64()
            / Duration::from_nanos(VOL_MIB * MIB / 100).as_secs_f64()
    );
    n1.check(
        written <= VOL_MIB * MIB * 2 / 100,
        &format!("the resync copies at most 2% of the volume to node2's disk ({written} bytes)"),
        None,
    );
    both_legs_hold_the_volume(n1, n2);

    // The partner reboots (power cut): node1 writes on, the leg drops; node2 boots and
    // its `activate` exports d2 again (refused: node1 runs vol1). node1's controller
    // reconnects to the same namespace (its identifiers are derived, not drawn at
    // export) and the leg resyncs by itself, only what changed.
    n2.power_cut()
        .unwrap_or_else(|e| n2.fail(&format!("power cut: {e}"), None));
    let w = n1.sh(&format!(
        "for i in 17 121 250 401 499; do dd if=/dev/urandom of={vol} bs=64K count=1 seek=$i \
         oflag=direct conv=fsync 2>/dev/null || echo FAILED $i; done; echo wrote"
    ));
    n1.check(
        w.stdout.trim() == "wrote",
        "no write fails while the partner is down",
        Some(&w),
    );
    let status = raid_status(n1);
    n1.check(status.contains(" AD "), "the remote leg is dropped", None);
    n2.start()
        .unwrap_or_else(|e| n2.fail(&format!("boot after the power cut: {e}"), None));
    start_node(n2, "node2");
    let refused = dmclass(n2, "activate nm");
    n2.check(
        refused.status == 1 && refused.stderr.contains("node1"),
        "node2's activate exports d2 and is refused naming node1 (it runs vol1)",
        Some(&refused),
    );
    let back = back_in_sync(n1);
    // Since node2's QEMU started: its boot, the refused activate and the resync.
    let written = n2
        .blockstats("nm2")
        .ok()
        .flatten()
        .map_or(0, |s| s.wr_bytes);
    println!(
        "bench-netmirror: partner rebooted: leg in sync again {:.1} s after its activate, \
         node2's disk got {written} bytes since its boot",
        back.as_secs_f64()
    );
    n1.check(
        written <= VOL_MIB * MIB * 4 / 100,
        &format!("after the partner's reboot only what changed is copied ({written} bytes)"),
        None,
    );
    both_legs_hold_the_volume(n1, n2);
    interrupted_resync(n1, n2);
}

/// A resync cut half-way (gds.md §6: "interrupted resync"): the whole volume rewritten
/// while the link is down, so the resync copies all of it (slowed to 1 MiB/s per disk
/// by hand: `max_recovery_rate` in the table); the link cut again at about a third;
/// blocks written before and after the point the copy had reached; the link back:
/// the copy runs again by itself and ends with both legs equal to the volume.
fn interrupted_resync(n1: &mut Vm, n2: &mut Vm) {
    let vol = vol_path("nm", "vol1");
    let table = n1
        .sh("dmsetup table dmclass-nm-vol1")
        .stdout
        .trim()
        .to_string();
    load_vol1_table(n1, &with_recovery_rate(&table, 1024));
    set_link(n1, false);
    write_random(n1, &vol, VOL_MIB, "whole");
    let dropped = raid_status(n1).contains(" AD ");
    n1.check(dropped, "the leg dropped", None);
    // The monitor watches from here: it sees the copy start, then the leg fail.
    let m = n1.sh(
        "setsid dmclass monitor --json </dev/null >/tmp/mon.json 2>/tmp/mon.err & \
         echo $! >/tmp/mon.pid; sleep 2; kill -0 $! && echo running || cat /tmp/mon.err",
    );
    n1.check(m.stdout.trim() == "running", "the monitor runs", Some(&m));
    set_link(n1, true);
    // The copy starts by itself (the reconnect); cut it at about a third.
    let t = Instant::now();
    let third = |st: &str| {
        st.split_whitespace()
            .find_map(|w| w.split_once('/'))
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            .is_some_and(|(a, b)| b > 0 && a * 3 >= b && a < b)
    };
    let mut st = raid_status(n1);
    while !(st.contains(" recover ") && third(&st)) && t.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(500));
        st = raid_status(n1);
    }
    n1.check(
        st.contains(" recover ") && third(&st),
        &format!("the full copy runs and passes a third: {st}"),
        None,
    );
    set_link(n1, false);
    eprintln!("interrupted resync: cut at {st}");
    // Blocks on both sides of where the copy was: 1 MiB in, and 30 MiB in.
    let w = n1.sh(&format!(
        "for i in 16 480; do dd if=/dev/urandom of={vol} bs=64K count=1 seek=$i \
         oflag=direct conv=fsync 2>/dev/null || echo FAILED $i; done; echo wrote"
    ));
    n1.check(w.stdout.trim() == "wrote", "no write fails", Some(&w));
    let st = raid_status(n1);
    n1.check(
        st.contains(" AD "),
        &format!("the copy stopped: {st}"),
        None,
    );
    // The kernel's status no longer shows the cut copy (`AD 65536/65536 idle`, as for a
    // leg that failed in sync); the monitor, which saw it copying, says so.
    let ev = n1.sh(
        "for i in $(seq 120); do [ $(grep -c '\"leg_failed\"' /tmp/mon.json) -ge 2 ] && break; \
         sleep 0.5; done; echo \"waited $((i / 2)) s\" >&2; cat /tmp/mon.json; cat /tmp/mon.err >&2",
    );
    n1.check(
        ev.stdout.lines().any(|l| {
            l.contains("\"kind\":\"leg_failed\"")
                && l.contains("\"previous\":\"COPY\"")
                && l.contains("its resync interrupted (last seen ")
        }),
        "the monitor reports the leg failed while copying, its resync interrupted",
        Some(&ev),
    );
    eprintln!(
        "interrupted resync: the monitor's leg_failed after the writes: {}",
        ev.stderr.lines().next().unwrap_or("")
    );
    set_link(n1, true);
    let back = back_in_sync(n1);
    eprintln!(
        "interrupted resync: in sync again {:.1} s after the link returned",
        back.as_secs_f64()
    );
    // ... and that the leg is whole again (it looks every 5 s while a leg is out).
    let ev = n1.sh(
        "for i in $(seq 30); do grep -q '\"resync_finished\"' /tmp/mon.json && break; \
         sleep 0.5; done; cat /tmp/mon.json; kill $(cat /tmp/mon.pid)",
    );
    n1.check(
        ev.stdout
            .lines()
            .any(|l| l.contains("\"kind\":\"resync_finished\"") && l.contains("\"leg\":1")),
        "the monitor reports the leg in sync again",
        Some(&ev),
    );
    both_legs_hold_the_volume(n1, n2);
}

/// `table` (one dm-raid line) with `max_recovery_rate KIB` before its `region_size`,
/// its count of parameters adjusted.
fn with_recovery_rate(table: &str, kib: u32) -> String {
    let mut words: Vec<String> = table.split_whitespace().map(str::to_owned).collect();
    if let Some(at) = words.iter().position(|w| w == "region_size") {
        words.insert(at, kib.to_string());
        words.insert(at, "max_recovery_rate".into());
        if let Some(n) = words.get(4).and_then(|w| w.parse::<usize>().ok()) {
            words[4] = (n + 2).to_string();
        }
    }
    words.join(" ")
}

/// Waits (at most 120 s) until vol1 on node1 has both legs in sync and idle; how long.
fn back_in_sync(n1: &mut Vm) -> Duration {
    let t = Instant::now();
    let mut status = raid_status(n1);
    while !(status.contains(" AA ") && status.contains(" idle "))
        && t.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_secs(1));
        status = raid_status(n1);
    }
    n1.check(
        status.contains(" AA ") && status.contains(" idle "),
        &format!("the leg comes back by itself (udev: NVME_EVENT=connected): {status}"),
        None,
    );
    t.elapsed()
}

/// vol1's checksum on node1 equals each leg's, each read on its own node's disk.
fn both_legs_hold_the_volume(n1: &mut Vm, n2: &mut Vm) {
    let vol = vol_path("nm", "vol1");
    let sum = n1
        .sh(&format!(
            "dd if={vol} bs=1M iflag=direct 2>/dev/null | dmclass-vm-sum"
        ))
        .stdout
        .trim()
        .to_string();
    let (off1, off2) = leg_offsets(n1);
    let on1 = sum_at(n1, "/dev/disk/by-id/virtio-nm1", off1, VOL_MIB);
    n1.check_eq("node1's disk holds the volume", &sum, &on1, None);
    let on2 = sum_at(n2, "/dev/disk/by-id/virtio-nm2", off2, VOL_MIB);
    n2.check_eq(
        "node2's disk holds the volume after the resync",
        &sum,
        &on2,
        None,
    );
}

/// The start lock (gds.md §6.3): node2 stops first (power cut), node1 writes on alone
/// (its leg's dm-raid superblock records node2's leg failed), node1 stops. node2 boots
/// alone: vol1 does not start — node2's copy was in sync when last written, node1 may
/// have newer data — and the refusal names node1; nothing is written to node2's disk.
/// node1 boots: its copy is the newer, vol1 starts from it and node2's disk is
/// resynced from it (checksums on both nodes' disks).
pub fn netmirror_both_down_latest_wins() {
    // node2 listens: node1 is the one restarted while the other runs.
    let Some(mut b) = bed_listening("nm_down", 2) else {
        return;
    };
    let (n1, n2) = (&mut b.n1, &mut b.n2);
    let vol = vol_path("nm", "vol1");
    let old = write_random(n1, &vol, VOL_MIB, "old");
    let (_, off2) = leg_offsets(n1);

    n2.power_cut()
        .unwrap_or_else(|e| n2.fail(&format!("power cut: {e}"), None));
    let t = Instant::now();
    let new = write_random(n1, &vol, VOL_MIB, "new");
    let status = raid_status(n1);
    eprintln!(
        "node2 down: node1 wrote the volume in {:.1} s; {status}",
        t.elapsed().as_secs_f64()
    );
    n1.check(
        status.contains(" AD "),
        "node2's leg dropped on node1",
        None,
    );
    let stopped = dmclass_ok(n1, "deactivate nm");
    eprintln!("node1: {}", stopped.stdout.trim());
    n1.power_cut()
        .unwrap_or_else(|e| n1.fail(&format!("power cut: {e}"), None));

    // node2 alone: the start lock holds, naming node1; nothing starts or is written.
    n2.start()
        .unwrap_or_else(|e| n2.fail(&format!("boot alone: {e}"), None));
    start_node(n2, "node2");
    let t = Instant::now();
    let refused = dmclass(n2, "activate nm");
    eprintln!(
        "node2 alone: activate answered in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    n2.check(
        refused.status == 1
            && refused.stderr.contains("start lock")
            && refused.stderr.contains("disk d1 (node1) is not reachable")
            && refused.stderr.contains("node1 may have run vol1 alone"),
        "node2 booted alone does not start vol1 and names node1",
        Some(&refused),
    );
    // status says why, naming node1 (text and JSON).
    let st = dmclass_ok(n2, "status nm --json");
    let lock = serde_json::from_str::<serde_json::Value>(&st.stdout)
        .ok()
        .and_then(|j| {
            j["classes"][0]["volumes"][0]["start_lock"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    n2.check(
        lock.contains("disk d1 (node1) is not reachable"),
        "status --json: vol1's start_lock names node1",
        Some(&st),
    );
    let st = dmclass_ok(n2, "status nm");
    n2.check(
        st.stdout.contains("start lock: disk d1 (node1)"),
        "status: vol1's start lock under its row",
        Some(&st),
    );
    let tables = n2.sh("dmsetup ls | grep -c '^dmclass-nm' || true");
    n2.check_eq(
        "no device of the class on node2",
        "0",
        tables.stdout.trim(),
        Some(&tables),
    );
    let on2 = sum_at(n2, "/dev/disk/by-id/virtio-nm2", off2, VOL_MIB);
    n2.check_eq("node2's disk still holds the older data", &old, &on2, None);

    // node1 boots: its copy is the newer one; node2's disk is resynced from it.
    n1.start()
        .unwrap_or_else(|e| n1.fail(&format!("boot: {e}"), None));
    start_node(n1, "node1");
    let t = Instant::now();
    // node1's host lease was not released (power off): its lockspace join waits for
    // it to expire, a few minutes at sanlock's io_timeout.
    let up = match n1.run_timeout(
        "dmclass activate nm --wait-lease 400",
        Duration::from_secs(460),
    ) {
        Ok(out) => out,
        Err(e) => n1.fail(&format!("activate --wait-lease: {e}"), None),
    };
    n1.check(
        up.success() && up.stdout.contains("1 started"),
        "node1 starts vol1 from its newer copy",
        Some(&up),
    );
    eprintln!(
        "node1: activate in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        up.stdout.trim()
    );
    let synced = back_in_sync(n1);
    eprintln!(
        "node1: both legs in sync {:.1} s later",
        synced.as_secs_f64()
    );
    let sum = read_sum(n1, &vol, VOL_MIB);
    n1.check_eq("vol1 holds node1's newer data", &new, &sum, None);
    both_legs_hold_the_volume(n1, n2);
}

/// vol1's leg offsets in `vm`'s tables: the leg on its own disk `local` (a by-id
/// path) and the leg on the partner's disk (the NVMe/TCP namespace).
fn leg_offsets_on(vm: &mut Vm, local: &str) -> (u64, u64) {
    let here = devno(vm, local);
    let remote = vm.sh(
        "for d in /sys/class/nvme/nvme*/nvme*n1; do [ -e \"$d\" ] && \
         cat /sys/class/block/$(basename $d | sed 's/c[0-9]*n/n/')/dev; done | head -n1",
    );
    let remote = remote.stdout.trim().to_string();
    (
        leg_offset(vm, "vol1", &here),
        leg_offset(vm, "vol1", &remote),
    )
}

/// Failover (gds.md §6): node1 runs vol1 under a writer and loses power. node2's
/// plain `activate` is held by the start lock (node1 may have written alone); the
/// forced start — what the cluster runs once node1 is fenced — moves the lease area to
/// node2's disk, records node1's disk stale and runs vol1 from node2's leg with every
/// write node1 synced. node1 boots and is refused, naming node2; node2's next
/// `activate` takes node1's disk back and resyncs it from node2's (checksums of both
/// legs, each read on its own node).
pub fn netmirror_failover() {
    // node2 listens: node1 is the one killed and restarted.
    let Some(mut b) = bed_listening("nm_fail", 2) else {
        return;
    };
    let (n1, n2) = (&mut b.n1, &mut b.n2);
    let vol = vol_path("nm", "vol1");
    let synced = write_random(n1, &vol, VOL_MIB / 2, "synced");
    // A writer past the synced data, killed with the node.
    n1.sh(&format!(
        "(while :; do dd if=/dev/urandom of={vol} bs=1M seek=16 count=8 oflag=direct \
         2>/dev/null; done </dev/null >/dev/null 2>&1 &)"
    ));
    std::thread::sleep(Duration::from_secs(2));
    n1.power_cut()
        .unwrap_or_else(|e| n1.fail(&format!("power cut: {e}"), None));

    let held = dmclass(n2, "activate nm");
    n2.check(
        held.status == 1
            && held.stderr.contains("start lock")
            && held.stderr.contains("node1 may have run vol1 alone"),
        "node2's plain activate is held by the start lock, naming node1",
        Some(&held),
    );
    let t = Instant::now();
    let up = dmclass(n2, "activate --force --yes nm");
    eprintln!(
        "node2: forced start in {:.1} s:\n{}{}",
        t.elapsed().as_secs_f64(),
        up.stdout,
        up.stderr
    );
    n2.check(
        up.status == 0
            && up.stdout.contains("1 started")
            && up.stderr.contains("lease area: moved from disk d1"),
        "node2 runs vol1 from its own leg, the lease area moved to its disk",
        Some(&up),
    );
    let read = read_sum(n2, &vol, VOL_MIB / 2);
    n2.check_eq("node2 reads every write node1 synced", &synced, &read, None);
    let after = write_random(n2, &vol, VOL_MIB, "after");

    // node1 returns: the class's newest description (node2's disk) puts the leases
    // there, and node2 holds vol1's.
    n1.start()
        .unwrap_or_else(|e| n1.fail(&format!("boot: {e}"), None));
    start_node(n1, "node1");
    let refused = dmclass(n1, "activate nm");
    n1.check(
        refused.status == 1 && refused.stderr.contains("nm/vol1 is active on node2"),
        "node1 is refused, naming node2",
        Some(&refused),
    );
    eprintln!("node1: {}", refused.stderr.trim());
    // node2 takes node1's disk back (exported again by node1's refused activate).
    let t = Instant::now();
    let back = dmclass_ok(n2, "activate nm");
    n2.check(
        back.stdout.contains("disk d1 is back"),
        "node2's activate takes node1's disk back",
        Some(&back),
    );
    back_in_sync(n2);
    eprintln!(
        "node2: node1's disk taken back and resynced in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        back.stdout.trim()
    );
    // The table reloaded for the rebuild keeps node2's reads on its own disk.
    let table = n2.sh("dmsetup table dmclass-nm-vol1").stdout;
    n2.check(
        table.contains(" write_mostly 0 "),
        &format!("node2's table marks node1's leg write_mostly after the take-back: {table}"),
        None,
    );
    let sum = read_sum(n2, &vol, VOL_MIB);
    n2.check_eq("vol1 holds node2's writes", &after, &sum, None);
    let (own, partner) = leg_offsets_on(n2, "/dev/disk/by-id/virtio-nm2");
    let on2 = sum_at(n2, "/dev/disk/by-id/virtio-nm2", own, VOL_MIB);
    n2.check_eq("node2's disk holds the volume", &sum, &on2, None);
    let on1 = sum_at(n1, "/dev/disk/by-id/virtio-nm1", partner, VOL_MIB);
    n1.check_eq("node1's disk was resynced from node2's", &sum, &on1, None);
}
