//! GDS proxy volumes on a real kernel (DESIGN.md §1, §4): a proxy joins a raid1 master
//! as one extra leg on another group, is copied, parted (a point-in-time copy at
//! `/dev/dmclass/<class>/<proxy>`), rejoined incrementally (only the regions the master
//! changed are copied, measured with QEMU's block statistics), and restored onto its
//! master; a restore under a mounted master is refused and changes nothing.
//!
//! Run one: `make vm-test-one SCENARIO=proxy_join_part_rejoin_restore`.

use crate::common::dmclass::{
    check_and_apply, class_yaml, disk_by_path, dm_name, dm_table, dmclass, dmclass_ok, leg_sums,
    put_config, raid_legs, read_sum, single_target, vol_path, wait_synced, write_and_verify,
};
use crate::common::proxy::{
    devnum, kernel_copy, linear_target, proxy_status, throttle_resync, wait_proxy_synced,
};
use crate::common::{by_id, first_word, wait_exists, wait_gone, MIB};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Output, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

const CLASS: &str = "data";
const MASTER: &str = "v1";
const PROXY: &str = "p1";
/// Master size in MiB.
const VOL_MIB: u64 = 64;
const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// Upper bound of what an incremental rejoin may write to the proxy disk.
const REJOIN_MAX_BYTES: u64 = 4 * MIB;
/// md recovery speed limit: a full 64 MiB copy lasts ~16 s, long enough to watch COPY.
const RESYNC_KIB_PER_SEC: u32 = 4096;
/// The proxy's raid slot (after the master's two own legs).
const SLOT: usize = 2;
const TO_PROXY: Option<&str> = Some("master->proxy");

/// A KVM guest (BIOS): g1 = virtio-blk + virtio-scsi, g2 = two virtio-blk, 256 MiB each.
fn spec(name: &str, tag: &str) -> VmSpec {
    let id = |s: &str| format!("{tag}{s}");
    VmSpec::new(name, Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk(&id("a"), &id("a"), Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi(&id("b"), &id("b"), Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_blk(&id("c"), &id("c"), Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_blk(&id("d"), &id("d"), Bytes(256 * MIB)))
}

/// Boots, applies class `data` (g1 = a+b mirror, g2 = c+d mirror, v1 = 64 MiB on g1).
fn boot_with_master(spec: VmSpec) -> Option<Vm> {
    let mut vm = boot_or_skip(spec)?;
    let d = vm.spec().disks.clone();
    let yaml = class_yaml(
        &vm,
        CLASS,
        &[
            disk_by_path(&vm, "a", &d[0], ""),
            disk_by_path(&vm, "b", &d[1], ""),
            disk_by_path(&vm, "c", &d[2], ""),
            disk_by_path(&vm, "d", &d[3], ""),
        ],
        &[
            "{name: g1, type: mirror, members: [a, b]}",
            "{name: g2, type: mirror, members: [c, d]}",
        ],
        &[&format!("{{name: {MASTER}, on: g1, size: {VOL_MIB}MiB}}")],
    );
    put_config(&mut vm, "/root/data.yaml", &yaml);
    check_and_apply(&mut vm, "/root/data.yaml");
    vm.sh(&wait_exists(&vol_path(CLASS, MASTER)));
    throttle_resync(&mut vm, RESYNC_KIB_PER_SEC);
    Some(vm)
}

fn table_line(vm: &mut Vm, dm: &str) -> String {
    let (lines, _) = dm_table(vm, dm);
    lines
        .iter()
        .map(|(t, a)| format!("{t} {}", a.join(" ")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Runs `dmclass <args>` (must exit 0) with its output lines time-stamped (guest uptime)
/// while (and for 3 s after: join and restore return once the copy is started) a
/// background loop samples, every 0.5 s, the master's `dmsetup status`, then
/// the proxies of `dmclass status --json`, then `dmsetup status` again; prints all.
/// Every sample whose two kernel readings show a copy in one direction must show the
/// proxy `COPY` in that direction; with `expect`, some sample must show the proxy
/// `COPY` in direction `expect` (a full copy lasts seconds under [`throttle_resync`]).
fn timed(vm: &mut Vm, args: &str, expect: Option<&str>) -> Output {
    let master_dm = dm_name(CLASS, MASTER);
    let out = vm.sh(&format!(
        "set -o pipefail; up() {{ cut -d' ' -f1 /proc/uptime; }}
         k() {{ dmsetup status {master_dm} | cut -d' ' -f6,8; }}
         (while sleep 0.5; do
            h1=$(k); j=$(dmclass status {CLASS} --json | tr -d ' \\n' | grep -o '\"proxies\":\\[[^]]*\\]'); h2=$(k)
            echo \"$(up) BG $h1 $h2 $j\"
          done) >/tmp/bg.log 2>&1 & bg=$!
         echo \"$(up) START dmclass {args}\"
         dmclass {args} 2>&1 | while IFS= read -r l; do echo \"$(up) $l\"; done; rc=$?
         echo \"$(up) END rc=$rc\"; sleep 3; kill $bg; wait; cat /tmp/bg.log; exit $rc"
    ));
    eprintln!("{}", out.stdout);
    let mut seen = false;
    for line in out.stdout.lines().filter(|l| l.contains(" BG ")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let (Some(h1), Some(h2), Some(j)) = (w.get(2), w.get(4), w.get(6)) else {
            continue;
        };
        let want = "\"state\":\"COPY\"";
        if let Some(d) = expect {
            seen |= j.contains(want) && j.contains(&format!("\"copy\":\"{d}\""));
        }
        let (c1, c2) = (kernel_copy(h1, SLOT), kernel_copy(h2, SLOT));
        let Some(d) = c1.filter(|_| c1 == c2) else {
            continue;
        };
        let dir = format!("\"copy\":\"{d}\"");
        vm.check(
            j.contains(want) && j.contains(&dir),
            &format!("while `dmclass {args}` runs, the kernel copies {d} ({h1} before, {h2} after `dmclass status`): the proxy must be COPY ({d}); sample: {line}"),
            Some(&out),
        );
    }
    if let Some(d) = expect {
        vm.check(
            seen,
            &format!("`dmclass status` sampled during `dmclass {args}` showed the proxy COPY ({d}) while the kernel copied"),
            Some(&out),
        );
    }
    out
}

/// `proxy join data/v1 p1 --on g2`, then waits for the copy; checks the master has three
/// legs holding `sum`.
fn join_and_wait(vm: &mut Vm, sum: &str) {
    let master_dm = dm_name(CLASS, MASTER);
    timed(
        vm,
        &format!("proxy join {CLASS}/{MASTER} {PROXY} --on g2"),
        TO_PROXY,
    );
    eprintln!("after join: {}", table_line(vm, &master_dm));
    let (took, p) = wait_proxy_synced(vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    eprintln!("join copy took {took:?}");
    vm.check_eq("proxy master", MASTER, p.master.as_str(), None);
    vm.check_eq("proxy group", "g2", p.group.as_str(), None);
    vm.check_eq("proxy kind", "proxy", p.kind.as_str(), None);
    let (_, args, out) = single_target(vm, &master_dm);
    vm.check_eq(
        "legs of the joined master (2 own + the proxy)",
        &Some(3),
        &raid_legs(&args),
        Some(&out),
    );
    check_legs(vm, 3, sum);
}

/// Every data leg of the master holds `sum` in its first 64 MiB.
fn check_legs(vm: &mut Vm, n: usize, sum: &str) {
    let sums = leg_sums(vm, CLASS, MASTER, VOL_MIB);
    vm.check_eq("number of master legs", &n, &sums.len(), None);
    for (i, s) in sums.iter().enumerate() {
        vm.check_eq(
            &format!("checksum of master leg {i}"),
            sum,
            s.as_str(),
            None,
        );
    }
}

/// `proxy part data/p1 [--readonly]`; the proxy device appears; status says PARTED with
/// the expected read-only flag and rejoin mode; the master table has an empty slot.
fn part(vm: &mut Vm, readonly: bool) {
    let flag = if readonly { " --readonly" } else { "" };
    dmclass_ok(vm, &format!("proxy part {CLASS}/{PROXY}{flag}"));
    let dev = vol_path(CLASS, PROXY);
    vm.sh(&wait_exists(&dev));
    let (p, out) = proxy_status(vm, CLASS, PROXY);
    vm.check_eq(
        "proxy state after part",
        "PARTED",
        p.state.as_str(),
        Some(&out),
    );
    vm.check_eq(
        "proxy readonly flag after part",
        &Some(readonly),
        &p.readonly,
        Some(&out),
    );
    // Read-write, the proxy's own writes are tracked: incremental either way.
    let want = "incremental";
    vm.check_eq(
        "rejoin mode after part",
        want,
        p.rejoin.as_str(),
        Some(&out),
    );
    vm.check_eq("proxy path", dev.as_str(), p.path.as_str(), Some(&out));
    let ro = vm.sh(&format!("blockdev --getro {dev}"));
    vm.check_eq(
        &format!("blockdev --getro {dev}"),
        if readonly { "1" } else { "0" },
        ro.stdout.trim(),
        Some(&ro),
    );
    let master_dm = dm_name(CLASS, MASTER);
    let (_, args, out) = single_target(vm, &master_dm);
    vm.check(
        raid_legs(&args) == Some(3) && args.ends_with(&["-".to_string(), "-".to_string()]),
        "parted master: 3 slots, the proxy's slot empty (`- -`)",
        Some(&out),
    );
}

/// Writes 16 random 64 KiB blocks (one per raid region, 4 MiB apart) to `dev` with
/// direct I/O: 1 MiB in all.
fn write_scattered(vm: &mut Vm, dev: &str) {
    write_scattered_at(vm, dev, 7);
}

/// [`write_scattered`] starting `first` 64 KiB blocks into each 4 MiB.
fn write_scattered_at(vm: &mut Vm, dev: &str, first: u64) {
    vm.sh(&format!(
        "set -e; dd if=/dev/urandom of=/tmp/c.pat bs=64k count=16 2>/dev/null
         for i in $(seq 0 15); do
           dd if=/tmp/c.pat of={dev} bs=64k skip=$i seek=$((i * 64 + {first})) count=1 \
              oflag=direct conv=fsync 2>/dev/null
         done; rm -f /tmp/c.pat"
    ));
}

/// `written` against the full copy of the master (`VOL_MIB`), as `0.0312` (make
/// bench-proxy).
fn ratio(written: u64) -> String {
    let r = written.saturating_mul(10_000) / (VOL_MIB * MIB);
    format!("{}.{:04}", r / 10_000, r % 10_000)
}

fn wr_bytes(vm: &mut Vm, disk: &str) -> u64 {
    match vm.blockstats(disk) {
        Ok(Some(s)) => s.wr_bytes,
        Ok(None) => vm.fail(&format!("no block statistics for {disk}"), None),
        Err(e) => vm.fail(&format!("blockstats {disk}: {e}"), None),
    }
}

pub fn proxy_join_part_rejoin_restore() {
    let t0 = Instant::now();
    let Some(mut vm) = boot_with_master(spec("proxy_lifecycle", "px")) else {
        return;
    };
    let disks = vm.spec().disks.clone();
    let proxy_disk = disks[2].clone();
    let master = vol_path(CLASS, MASTER);
    let proxy = vol_path(CLASS, PROXY);
    let master_dm = dm_name(CLASS, MASTER);

    // A: the master's content, copied to the joined proxy
    let sum_a = write_and_verify(&mut vm, &master, VOL_MIB, "a");
    wait_synced(&mut vm, CLASS, SYNC_TIMEOUT);
    join_and_wait(&mut vm, &sum_a);

    // part read-only: a frozen copy of A on the first disk of g2
    part(&mut vm, true);
    let (pdev, _, out) = linear_target(&mut vm, &dm_name(CLASS, PROXY));
    let link = by_id(&vm, &proxy_disk);
    let want = devnum(&mut vm, &link);
    vm.check_eq(
        "the proxy device maps the first disk of g2",
        want.as_str(),
        pdev.as_str(),
        Some(&out),
    );
    write_scattered(&mut vm, &master);
    let sum_c = read_sum(&mut vm, &master, VOL_MIB);
    vm.check(
        sum_c != sum_a,
        "the scattered writes changed the master",
        None,
    );
    let back = read_sum(&mut vm, &proxy, VOL_MIB);
    vm.check_eq("parted proxy still reads A", &sum_a, &back, None);

    // rejoin: incremental, only the 16 changed regions are copied
    let before = wr_bytes(&mut vm, &proxy_disk.id);
    let before_d = wr_bytes(&mut vm, &disks[3].id);
    timed(&mut vm, &format!("proxy rejoin {CLASS}/{PROXY}"), None);
    let table = table_line(&mut vm, &master_dm);
    eprintln!("after rejoin (read-only part): {table}");
    vm.sh(&wait_gone(&proxy));
    let (took, _) = wait_proxy_synced(&mut vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    let written = wr_bytes(&mut vm, &proxy_disk.id) - before;
    let written_d = wr_bytes(&mut vm, &disks[3].id) - before_d;
    eprintln!(
        "REJOIN: {written} bytes ({} KiB) written to proxy disk {} during the incremental \
         rejoin (took {took:?}); {written_d} bytes to the other g2 disk {}",
        written / 1024,
        proxy_disk.id,
        disks[3].id
    );
    vm.check(
        !table.contains("rebuild"),
        &format!("a rejoin after a read-only part loads no `rebuild` (incremental): {table}"),
        None,
    );
    vm.check(
        written <= REJOIN_MAX_BYTES,
        &format!(
            "incremental rejoin wrote {written} bytes to the proxy disk, at most {REJOIN_MAX_BYTES} expected"
        ),
        None,
    );
    check_legs(&mut vm, 3, &sum_c);
    part(&mut vm, true);
    let (p, m) = (
        read_sum(&mut vm, &proxy, VOL_MIB),
        read_sum(&mut vm, &master, VOL_MIB),
    );
    vm.check_eq("master after rejoin", &sum_c, &m, None);
    vm.check_eq("proxy after rejoin == master", &m, &p, None);

    // rejoin, part READ-WRITE, 1 MiB scattered on each side: the rejoin copies the
    // union of both sides' changed regions (issue #11 §2: at most 4 MiB to the proxy
    // disk, against the 64 MiB full copy this used to be).
    dmclass_ok(&mut vm, &format!("proxy rejoin {CLASS}/{PROXY}"));
    vm.sh(&wait_gone(&proxy));
    wait_proxy_synced(&mut vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    part(&mut vm, false);
    let ptable = table_line(&mut vm, &dm_name(CLASS, PROXY));
    eprintln!("read-write proxy device: {ptable}");
    vm.check(
        ptable.starts_with("raid raid1 ") && ptable.trim_end().ends_with("- -"),
        &format!("a read-write proxy is a degraded raid1 with a tracking rmeta: {ptable}"),
        None,
    );
    write_scattered_at(&mut vm, &master, 20);
    write_scattered_at(&mut vm, &proxy, 40);
    let sum_m = read_sum(&mut vm, &master, VOL_MIB);
    // A later activation loads the plain degraded table over the tracking rmeta (it
    // has a superblock now) and keeps its bits: the rejoin below stays small.
    let sum_p = read_sum(&mut vm, &proxy, VOL_MIB);
    dmclass_ok(&mut vm, &format!("deactivate {CLASS}"));
    dmclass_ok(&mut vm, &format!("activate {CLASS}"));
    vm.sh(&wait_exists(&proxy));
    let ptable = table_line(&mut vm, &dm_name(CLASS, PROXY));
    eprintln!("read-write proxy device after deactivate + activate: {ptable}");
    vm.check(
        ptable.starts_with("raid raid1 ") && ptable.trim_end().ends_with("- -"),
        &format!("activation loads the tracking raid1 degraded: {ptable}"),
        None,
    );
    let back = read_sum(&mut vm, &proxy, VOL_MIB);
    vm.check_eq("proxy after deactivate + activate", &sum_p, &back, None);
    let back = read_sum(&mut vm, &master, VOL_MIB);
    vm.check_eq("master after deactivate + activate", &sum_m, &back, None);
    // Give md's bitmap daemon time to clear the bits of a new array (they start set).
    vm.sh("sleep 16");
    let before = wr_bytes(&mut vm, &proxy_disk.id);
    let out = timed(&mut vm, &format!("proxy rejoin {CLASS}/{PROXY}"), None);
    let said: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("region"))
        .collect();
    eprintln!("rw rejoin said: {said:?}");
    vm.sh(&wait_gone(&proxy));
    wait_proxy_synced(&mut vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    let written = wr_bytes(&mut vm, &proxy_disk.id) - before;
    eprintln!(
        "RW-REJOIN: {written} bytes ({} KiB) written to proxy disk {} (full copy: {} KiB)",
        written / 1024,
        proxy_disk.id,
        VOL_MIB * 1024
    );
    if std::env::var_os("DMCLASS_BENCH_PROXY").is_some() {
        println!(
            "bench-proxy: rejoin wrote {written} bytes to the proxy disk, full copy {} bytes: ratio {}",
            VOL_MIB * MIB,
            ratio(written)
        );
    }
    vm.check(
        written <= REJOIN_MAX_BYTES,
        &format!("read-write rejoin wrote {written} bytes to the proxy disk, at most {REJOIN_MAX_BYTES} expected"),
        Some(&out),
    );
    let m = read_sum(&mut vm, &master, VOL_MIB);
    vm.check_eq("master unchanged by the rejoin", &sum_m, &m, None);
    check_legs(&mut vm, 3, &sum_m);
    let sum_c = sum_m;

    // part read-write, 1 MiB scattered on each side, restore the proxy onto the
    // master: the union of both sides' changed regions is copied proxy -> master
    // (issue #11 §2: at most 4 MiB to each master disk, against 64 MiB)
    part(&mut vm, false);
    write_scattered_at(&mut vm, &proxy, 11);
    write_scattered_at(&mut vm, &master, 30);
    let sum_d = read_sum(&mut vm, &proxy, VOL_MIB);
    vm.check(
        sum_d != sum_c,
        "the scattered writes changed the proxy",
        None,
    );
    vm.sh("sleep 16");
    let before: Vec<u64> = [0, 1]
        .iter()
        .map(|&i| wr_bytes(&mut vm, &disks[i].id))
        .collect();
    let before_p = wr_bytes(&mut vm, &proxy_disk.id);
    let out = timed(
        &mut vm,
        &format!("proxy restore {CLASS}/{PROXY} --yes"),
        None,
    );
    let said: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("region"))
        .collect();
    eprintln!("restore said: {said:?}");
    eprintln!("after restore: {}", table_line(&mut vm, &master_dm));
    vm.sh(&wait_gone(&proxy));
    let (took, p) = wait_proxy_synced(&mut vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    eprintln!("restore copy took {took:?}");
    for (i, b) in before.iter().enumerate() {
        let written = wr_bytes(&mut vm, &disks[i].id) - b;
        eprintln!(
            "RESTORE: {written} bytes ({} KiB) written to master disk {} (full copy: {} KiB)",
            written / 1024,
            disks[i].id,
            VOL_MIB * 1024
        );
        if std::env::var_os("DMCLASS_BENCH_PROXY").is_some() {
            println!(
                "bench-proxy: restore wrote {written} bytes to master disk {}, full copy {} bytes: ratio {}",
                disks[i].id,
                VOL_MIB * MIB,
                ratio(written)
            );
        }
        vm.check(
            written <= REJOIN_MAX_BYTES,
            &format!("restore wrote {written} bytes to master disk {}, at most {REJOIN_MAX_BYTES} expected", disks[i].id),
            Some(&out),
        );
    }
    let written_p = wr_bytes(&mut vm, &proxy_disk.id) - before_p;
    eprintln!("RESTORE: {written_p} bytes written to the proxy disk (slot N's bitmap recovery)");
    vm.check_eq(
        "proxy state after restore",
        "JOINED",
        p.state.as_str(),
        None,
    );
    let m = read_sum(&mut vm, &master, VOL_MIB);
    vm.check_eq(
        "master reads the proxy's data after restore",
        &sum_d,
        &m,
        None,
    );
    check_legs(&mut vm, 3, &sum_d);
    eprintln!("proxy_join_part_rejoin_restore: {:?}", t0.elapsed());
}

pub fn proxy_restore_refused_while_mounted() {
    let t0 = Instant::now();
    let Some(mut vm) = boot_with_master(spec("proxy_restore_mounted", "pr")) else {
        return;
    };
    let master = vol_path(CLASS, MASTER);
    let proxy = vol_path(CLASS, PROXY);
    let master_dm = dm_name(CLASS, MASTER);
    let file_sum = |vm: &mut Vm, dir: &str| {
        let out = vm.sh(&format!(
            "sync; echo 3 >/proc/sys/vm/drop_caches; sha256sum {dir}/f"
        ));
        first_word(&out)
    };
    vm.sh(&format!(
        "set -e; mkfs.ext4 -q -F {master}; mkdir -p /mnt/m /mnt/p; mount {master} /mnt/m
         dd if=/dev/urandom of=/mnt/m/f bs=1M count=4 2>/dev/null; sync"
    ));
    let sum_f = file_sum(&mut vm, "/mnt/m");
    wait_synced(&mut vm, CLASS, SYNC_TIMEOUT);
    dmclass_ok(
        &mut vm,
        &format!("proxy join {CLASS}/{MASTER} {PROXY} --on g2"),
    );
    wait_proxy_synced(&mut vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    part(&mut vm, false);
    // the proxy's copy of the file changes: a restore would change the master's
    vm.sh(&format!(
        "set -e; mount {proxy} /mnt/p
         dd if=/dev/urandom of=/mnt/p/f bs=1M count=4 conv=notrunc 2>/dev/null; sync
         umount /mnt/p"
    ));
    let sum_proxy = read_sum(&mut vm, &proxy, VOL_MIB);
    let table = table_line(&mut vm, &master_dm);

    let out = dmclass(&mut vm, &format!("proxy restore {CLASS}/{PROXY} --yes"));
    vm.check_eq(
        "exit status of restore under a mounted master",
        &1,
        &out.status,
        Some(&out),
    );
    vm.check(
        out.stderr.contains(MASTER) && out.stderr.contains("in use"),
        "the refusal names the master in use",
        Some(&out),
    );
    eprintln!("refusal: {}", out.stderr.trim());
    let now = file_sum(&mut vm, "/mnt/m");
    vm.check_eq("master file after the refused restore", &sum_f, &now, None);
    let now = read_sum(&mut vm, &proxy, VOL_MIB);
    vm.check_eq(
        "proxy data after the refused restore",
        &sum_proxy,
        &now,
        None,
    );
    let (p, out) = proxy_status(&mut vm, CLASS, PROXY);
    vm.check_eq(
        "proxy state after the refused restore",
        "PARTED",
        p.state.as_str(),
        Some(&out),
    );
    let now = table_line(&mut vm, &master_dm);
    vm.check_eq("master table after the refused restore", &table, &now, None);

    // unmounted, the same restore goes through and the master gets the proxy's file
    vm.sh("umount /mnt/m");
    dmclass_ok(&mut vm, &format!("proxy restore {CLASS}/{PROXY} --yes"));
    vm.sh(&wait_gone(&proxy));
    wait_proxy_synced(&mut vm, CLASS, PROXY, &master_dm, SLOT, SYNC_TIMEOUT);
    let m = read_sum(&mut vm, &master, VOL_MIB);
    vm.check_eq(
        "master after restore equals the proxy",
        &sum_proxy,
        &m,
        None,
    );
    eprintln!("proxy_restore_refused_while_mounted: {:?}", t0.elapsed());
}
