//! Failures and hotplug on a running class (docs/testing.md, docs/states.md): a leg
//! pulled under a writer and plugged back (re-added by the udev rule alone, bitmap
//! resync), read errors injected under a leg (hot spare takes over), and a stale leg
//! coming back (refused, never written).
//!
//! Run one: `make vm-test-one SCENARIO=injected_read_errors_spare_takes_over`.

use crate::common::dmclass::{
    check_and_apply, class_generation, class_yaml, disk_by_path, disk_states, dm_name, dm_table,
    dmclass, dmclass_ok, mirror_class, put_config, raid_health, read_sum, rimage_name,
    single_target, status, vol_path, volume_status, wait_synced, warns_degraded, write_random,
    VolumeStatus, SUM_LEN,
};
use crate::common::{by_id, wait_exists, wait_gone, MIB};
use dmclass_model::{Bytes, Sectors};
use dmclass_vmtest::{
    boot_or_skip, DiskSpec, Firmware, InjectedError, IoOp, Output, Personality, Vm, VmSpec,
};
use std::time::{Duration, Instant};

const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// Generous: the host runs several software-emulated VMs at once.
const REACT_TIMEOUT: Duration = Duration::from_secs(180);

/// Starts `dmclass -v monitor` in the background (log: /tmp/mon.log) and checks that
/// it is still running a moment later.
fn start_monitor(vm: &mut Vm) {
    vm.sh(
        "setsid dmclass -v monitor </dev/null >/tmp/mon.log 2>&1 & echo $! >/tmp/mon.pid
         sleep 2; kill -0 $(cat /tmp/mon.pid) || { echo 'monitor exited:'; cat /tmp/mon.log; exit 1; }",
    );
}

/// The monitor's log so far (for failure reports and the test output).
fn monitor_log(vm: &mut Vm) -> Output {
    vm.sh("cat /tmp/mon.log; kill -0 $(cat /tmp/mon.pid) && echo '[monitor running]' || echo '[monitor NOT running]'")
}

/// Polls `status CLASS --json` every 2 s until `done` holds for volume `volume`;
/// fails after `timeout` with the last status and the monitor log.
pub(crate) fn poll_volume(
    vm: &mut Vm,
    class: &str,
    volume: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&VolumeStatus) -> bool,
) -> VolumeStatus {
    let t0 = Instant::now();
    loop {
        let (v, out) = volume_status(vm, class, volume);
        if done(&v) {
            eprintln!("{}: {what} after {:?}", vm.spec().name, t0.elapsed());
            return v;
        }
        if t0.elapsed() > timeout {
            let mon = vm.run("cat /tmp/mon.log 2>/dev/null; dmesg | tail -40");
            let extra = mon.map(|o| o.stdout).unwrap_or_default();
            vm.fail(
                &format!(
                    "{what}: not reached within {timeout:?}; monitor log + dmesg tail:\n{extra}"
                ),
                Some(&out),
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

pub(crate) fn slice_state(v: &VolumeStatus, disk: &str) -> String {
    v.slice(disk).map(|s| s.state.clone()).unwrap_or_default()
}

fn wr_bytes(vm: &mut Vm, disk: &str) -> Option<u64> {
    match vm.blockstats(disk) {
        Ok(s) => s.map(|s| s.wr_bytes),
        Err(e) => vm.fail(&format!("blockstats {disk}: {e}"), None),
    }
}

fn unplug(vm: &mut Vm, disk: &DiskSpec) {
    let link = by_id(vm, disk);
    vm.unplug(&disk.id)
        .unwrap_or_else(|e| vm.fail(&format!("unplug {}: {e}", disk.id), None));
    vm.sh(&wait_gone(&link));
}

/// Guest seconds since boot (CLOCK_BOOTTIME, the clock of dmesg and udevadm monitor
/// within a few ms).
fn guest_uptime(vm: &mut Vm) -> f64 {
    let out = vm.sh("cut -d' ' -f1 /proc/uptime");
    out.stdout.trim().parse().unwrap_or(0.0)
}

/// The first `[seconds]` timestamp of a line of `text` that contains every needle and
/// is at or after `since`.
fn first_stamp(text: &str, needles: &[&str], since: f64) -> Option<f64> {
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .filter_map(|l| {
            let open = l.find('[')?;
            let close = open + l[open..].find(']')?;
            l[open + 1..close].trim().parse::<f64>().ok()
        })
        .find(|t| *t >= since)
}

/// `dmclass deactivate CLASS` + `dmclass activate CLASS` with disks missing: exit 0, a
/// degraded warning, the volume path back.
fn reactivate_degraded(vm: &mut Vm, class: &str, volume: &str) {
    dmclass_ok(vm, &format!("deactivate {class}"));
    vm.sh(&format!(
        "{} && {}",
        wait_gone(&vol_path(class, volume)),
        wait_gone(&format!("/dev/mapper/{}", dm_name(class, volume)))
    ));
    let out = dmclass_ok(vm, &format!("activate {class}"));
    vm.check(
        warns_degraded(&out),
        "`activate` with a disk missing warns that the volume is degraded",
        Some(&out),
    );
    vm.sh(&wait_exists(&vol_path(class, volume)));
}

pub fn unplug_leg_under_writer_then_replug_resyncs_only_changes() {
    let spec = VmSpec::new("hotplug_replug", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("d1", "hpd1", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi("d2", "hpd2", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let t_start = Instant::now();
    let disks = vm.spec().disks.clone();
    let (d1, d2) = (disks[0].clone(), disks[1].clone());
    let yaml = class_yaml(
        &vm,
        "hp",
        &[
            disk_by_path(&vm, "a", &d1, ""),
            disk_by_path(&vm, "b", &d2, ""),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &["{name: v1, on: g1, size: 128MiB}"],
    );
    put_config(&mut vm, "/root/hp.yaml", &yaml);
    check_and_apply(&mut vm, "/root/hp.yaml");
    let dev = vol_path("hp", "v1");
    let dm = dm_name("hp", "v1");
    vm.sh(&wait_exists(&dev));
    write_random(&mut vm, &dev, 128, "hp");
    wait_synced(&mut vm, "hp", SYNC_TIMEOUT);
    let table = vm.sh(&format!("dmsetup table {dm}"));
    eprintln!("hotplug_replug: raid table: {}", table.stdout.trim());
    start_monitor(&mut vm);

    // a writer: 64 KiB direct writes at 1 MiB into the volume, errors recorded
    vm.sh(&format!(
        "rm -f /tmp/w.stop /tmp/w.err /tmp/w.ok /tmp/w.done
         cat >/tmp/writer.sh <<'EOF'
i=0
while [ ! -e /tmp/w.stop ]; do
  if dd if=/dev/urandom of={dev} bs=64k count=1 seek=16 oflag=direct conv=notrunc 2>/tmp/w.last; then
    i=$((i+1)); echo $i >/tmp/w.ok
  else
    echo \"write $i failed: $(cat /tmp/w.last)\" >>/tmp/w.err
  fi
done
echo done >/tmp/w.done
EOF
         setsid sh /tmp/writer.sh </dev/null >/dev/null 2>&1 &
         for i in $(seq 100); do [ -s /tmp/w.ok ] && exit 0; sleep 0.3; done
         echo 'writer wrote nothing'; exit 1"
    ));
    unplug(&mut vm, &d2);
    let before = vm.sh("cat /tmp/w.ok").stdout.trim().to_string();
    let v = poll_volume(
        &mut vm,
        "hp",
        "v1",
        "slice b INVALID after unplug",
        REACT_TIMEOUT,
        |v| slice_state(v, "b") == "INVALID",
    );
    eprintln!("hotplug_replug: after unplug: {v:?}");
    // the writer keeps going a little longer on the degraded volume, then stops
    let w = vm.sh(&format!(
        "b={before}; for i in $(seq 100); do [ $(cat /tmp/w.ok) -ge $((b + 20)) ] && break; sleep 0.3; done
         touch /tmp/w.stop
         for i in $(seq 200); do [ -e /tmp/w.done ] && break; sleep 0.3; done
         echo \"writes ok: $(cat /tmp/w.ok) (at unplug: $b)\"; [ -e /tmp/w.done ] || echo 'writer did not stop'
         if [ -e /tmp/w.err ]; then echo ERRORS; cat /tmp/w.err; fi"
    ));
    eprintln!("hotplug_replug: {}", w.stdout.trim());
    vm.check(
        !w.stdout.contains("ERRORS") && !w.stdout.contains("did not stop"),
        "the writer saw no I/O error across the unplug",
        Some(&w),
    );
    let writes: Vec<u64> = w
        .stdout
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    vm.check(
        writes.len() >= 2 && writes[0] > writes[1],
        "the writer completed writes after the unplug",
        Some(&w),
    );

    // 1% of the volume in 20 scattered 64 KiB blocks (6 MiB apart), then the checksum
    vm.sh(&format!(
        "set -e; for k in $(seq 0 19); do
           dd if=/dev/urandom of={dev} bs=64k count=1 seek=$((k * 96 + 3)) oflag=direct conv=notrunc 2>/dev/null
         done"
    ));
    let sum = read_sum(&mut vm, &dev, 128);
    let base = wr_bytes(&mut vm, "d2");
    eprintln!("hotplug_replug: d2 wr_bytes while unplugged: {base:?}");

    // plug back: the udev rule alone re-adds the leg
    vm.sh(
        "rm -f /tmp/udev.mon; setsid udevadm monitor --kernel --udev --subsystem-match=block \
         </dev/null >/tmp/udev.mon 2>&1 & echo $! >/tmp/udevmon.pid; sleep 1",
    );
    let t_plug = guest_uptime(&mut vm);
    vm.plug("d2")
        .unwrap_or_else(|e| vm.fail(&format!("plug d2: {e}"), None));
    let after_plug = wr_bytes(&mut vm, "d2");
    let v = poll_volume(
        &mut vm,
        "hp",
        "v1",
        "slice b back (COPY/ACTIVE) with raid health AA",
        SYNC_TIMEOUT,
        |v| {
            let s = slice_state(v, "b");
            (s == "COPY" || s == "ACTIVE") && v.synced()
        },
    );
    let (health, out) = raid_health(&mut vm, &dm);
    vm.check_eq(
        "raid health after the re-add",
        "AA",
        health.as_str(),
        Some(&out),
    );
    eprintln!("hotplug_replug: after replug: {v:?}");
    let written = wr_bytes(&mut vm, "d2").unwrap_or_else(|| vm.fail("no blockstats of d2", None));
    let volume = 128 * MIB;
    eprintln!(
        "hotplug_replug: bytes written to d2 from plug to in-sync: {written} \
         ({}.{:02}% of the volume; right after device_add: {after_plug:?})",
        written * 100 / volume,
        written * 10_000 / volume % 100
    );

    // timing: kernel add uevent of the returning disk -> md recovery start
    let log = vm.sh("cat /tmp/udev.mon; echo ===; dmesg; echo ===; cat /tmp/mon.log");
    eprintln!("hotplug_replug: udev/dmesg/monitor after plug:\n{}", {
        let lines: Vec<&str> = log.stdout.lines().collect();
        lines
            .iter()
            .filter(|l| {
                l.contains("block/sd")
                    || l.contains("md")
                    || l.contains("raid")
                    || l.contains("dmclass")
                    || l.contains("class hp")
            })
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let kadd = first_stamp(&log.stdout, &["KERNEL", " add ", "/block/sd"], t_plug);
    let uadd = first_stamp(&log.stdout, &["UDEV", " add ", "/block/sd"], t_plug);
    let rec = first_stamp(&log.stdout, &["recovery of RAID array"], t_plug);
    match (kadd, rec) {
        (Some(k), Some(r)) => eprintln!(
            "returning-disk-to-resync: {:.0} ms (kernel add uevent {k:.3} s, udev done {uadd:?} s, \
             md recovery start {r:.3} s)",
            (r - k) * 1000.0
        ),
        _ => eprintln!(
            "returning-disk-to-resync: not measurable (kernel add {kadd:?}, udev add {uadd:?}, \
             md recovery {rec:?}, plug at {t_plug:.3})"
        ),
    }
    vm.check(
        written <= volume / 50,
        &format!(
            "bytes written to d2 by the resync ({written}) at most 2% of the volume ({})",
            volume / 50
        ),
        Some(&table),
    );

    // the returning leg alone carries the data
    unplug(&mut vm, &d1);
    reactivate_degraded(&mut vm, "hp", "v1");
    let back = read_sum(&mut vm, &dev, 128);
    vm.check_eq("checksum read from d2 alone", &sum, &back, None);
    let mon = monitor_log(&mut vm);
    eprintln!("hotplug_replug: monitor log:\n{}", mon.stdout);
    eprintln!("hotplug_replug: runtime {:?}", t_start.elapsed());
}

/// Data area of a leg on a disk: private area (32 MiB) + rmeta (1 MiB).
const LEG_DATA_START: u64 = 33 * MIB / 512;
/// The MiB of the volume where the injected read error lies.
const BAD_MIB: u64 = 40;
/// The injected read error: the first sector of MiB `BAD_MIB` of the volume.
const BAD_SECTOR: u64 = LEG_DATA_START + BAD_MIB * MIB / 512;
/// Concurrent readers of the bad MiB, and reads each.
const READERS: usize = 8;
const ROUNDS: usize = 10;
/// Rounds of concurrent reads before giving up on raid1 sending one to leg 1.
const READ_ATTEMPTS: usize = 6;

/// Writes `mib` MiB of random data to `dev`; returns the checksum of all of it and of
/// MiB `at` alone.
fn write_random_region(vm: &mut Vm, dev: &str, mib: u64, at: u64) -> (String, String) {
    let out = vm.sh(&format!(
        "set -e; {w}
         dmclass-vm-random {mib} >/tmp/r.pat
         dd if=/tmp/r.pat of={dev} bs=1M oflag=direct conv=fsync 2>/dev/null
         dmclass-vm-sum </tmp/r.pat
         dd if=/tmp/r.pat bs=1M skip={at} count=1 2>/dev/null | dmclass-vm-sum
         rm -f /tmp/r.pat",
        w = wait_exists(dev)
    ));
    let sums: Vec<String> = out.stdout.lines().map(|l| l.trim().to_owned()).collect();
    let ok = sums.len() >= 2 && sums.iter().rev().take(2).all(|s| s.len() == SUM_LEN);
    vm.check(
        ok,
        "checksums of the written data and of one MiB",
        Some(&out),
    );
    let n = sums.len();
    (sums[n - 2].clone(), sums[n - 1].clone())
}

/// `READERS` concurrent loops, each reading MiB `at` of `dev` `ROUNDS` times with one
/// 1 MiB direct read: one checksum per read on stdout. raid1 keeps sequential reads on
/// the leg that served the previous one, so each read starts at the same sector and
/// is a fresh choice; with the other leg busy, raid1 sends it to the idle leg.
fn concurrent_region_reads(vm: &mut Vm, dev: &str, at: u64) -> Output {
    vm.sh(&format!(
        "for r in $(seq {READERS}); do
           ( for j in $(seq {ROUNDS}); do
               dd if={dev} bs=1M skip={at} count=1 iflag=direct 2>/dev/null | dmclass-vm-sum
             done >/tmp/rd.$r ) &
         done; wait; cat /tmp/rd.*; rm -f /tmp/rd.*"
    ))
}

pub fn injected_read_errors_spare_takes_over() {
    let bad = InjectedError {
        op: IoOp::Read,
        sector: Sectors(BAD_SECTOR),
        errno: 5,
        once: false,
    };
    let spec = VmSpec::new("hotplug_spare", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("d1", "spd1", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi("d2", "spd2", Bytes(256 * MIB)).with_error(bad))
        .disk(DiskSpec::virtio_blk("s1", "sps1", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let t_start = Instant::now();
    let disks = vm.spec().disks.clone();
    // b (the failing disk) is leg 1: the initial resync reads only leg 0 and writes
    // leg 1 (the injected errors hit reads only), so the first read of the bad sector
    // is a user's read; concurrent readers make raid1 send some of them to leg 1
    let yaml = class_yaml(
        &vm,
        "sp",
        &[
            disk_by_path(&vm, "a", &disks[0], ""),
            disk_by_path(&vm, "b", &disks[1], ""),
            disk_by_path(&vm, "s", &disks[2], ", role: spare"),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &["{name: v1, on: g1, size: 128MiB}"],
    )
    .replacen(
        "    type: local\n",
        "    type: local\n    hot_spare: true\n",
        1,
    );
    put_config(&mut vm, "/root/sp.yaml", &yaml);
    vm.sh(
        "setsid udevadm monitor --kernel --udev --subsystem-match=block \
         </dev/null >/tmp/udev.mon 2>&1 & sleep 1",
    );
    check_and_apply(&mut vm, "/root/sp.yaml");
    let dev = vol_path("sp", "v1");
    let dm = dm_name("sp", "v1");
    vm.sh(&wait_exists(&dev));
    // the bad sector lies inside leg 1's data on d2
    let (lines, out) = dm_table(&mut vm, &rimage_name("sp", "v1", 1));
    let b_dev = devnum(&mut vm, &disks[1]);
    let mut covered = false;
    let mut start = 0u64;
    for (target, args) in &lines {
        if target == "linear" && args.first() == Some(&b_dev) {
            let off: u64 = args.get(1).and_then(|o| o.parse().ok()).unwrap_or(u64::MAX);
            covered |= off <= BAD_SECTOR && BAD_SECTOR < off + 128 * MIB / 512;
            start = off;
        }
    }
    vm.check(
        covered,
        &format!("leg 1 of sp/v1 maps d2 ({b_dev}) over sector {BAD_SECTOR} (data start {start})"),
        Some(&out),
    );
    start_monitor(&mut vm);
    let (sum, region) = write_random_region(&mut vm, &dev, 128, BAD_MIB);
    // the initial resync is done and never touched the error: both legs in sync
    wait_synced(&mut vm, "sp", SYNC_TIMEOUT);
    let (health, out) = raid_health(&mut vm, &dm);
    vm.check_eq(
        "raid health before any user read",
        "AA",
        health.as_str(),
        Some(&out),
    );
    // which leg serves a read is raid1's choice (read balancing): read until one
    // reaches leg 1, a bounded number of times; every read must return the data
    let mut dmesg = None;
    for attempt in 1..=READ_ATTEMPTS {
        let reads = concurrent_region_reads(&mut vm, &dev, BAD_MIB);
        vm.check(
            reads
                .stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count()
                == READERS * ROUNDS
                && reads
                    .stdout
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim() == region),
            &format!(
                "every concurrent direct read of MiB {BAD_MIB} returns the written data ({region})"
            ),
            Some(&reads),
        );
        let out = vm.sh("dmesg | grep -iE 'md/raid1|I/O error|md:|raid' | tail -30");
        if out.stdout.contains("redirecting sector") {
            dmesg = Some(out);
            break;
        }
        eprintln!("hotplug_spare: read round {attempt}: raid1 served every read from leg 0");
        dmesg = Some(out);
    }
    let back = read_sum(&mut vm, &dev, 128);
    vm.check_eq(
        "checksum of the whole volume after the reads",
        &sum,
        &back,
        None,
    );
    let dmesg = dmesg.unwrap_or_else(|| vm.sh("dmesg | tail -30"));
    eprintln!("hotplug_spare: kernel after the read:\n{}", dmesg.stdout);
    vm.check(
        dmesg.stdout.contains("redirecting sector"),
        "raid1 redirected a user read that failed on leg 1 to the other leg",
        Some(&dmesg),
    );
    // the failing leg is failed; the monitor rebuilds it onto the spare
    let v = poll_volume(
        &mut vm,
        "sp",
        "v1",
        "leg 0 failed (INVALID, or already moved to s)",
        REACT_TIMEOUT,
        |v| slice_state(v, "b") == "INVALID" || v.slice("s").is_some(),
    );
    eprintln!("hotplug_spare: after the read errors: {v:?}");
    let v = poll_volume(
        &mut vm,
        "sp",
        "v1",
        "leg on spare s, synced",
        SYNC_TIMEOUT,
        |v| v.slice("s").is_some() && v.synced(),
    );
    eprintln!("hotplug_spare: rebuilt: {v:?}");
    let (health, out) = raid_health(&mut vm, &dm);
    vm.check_eq(
        "raid health after the spare rebuild",
        "AA",
        health.as_str(),
        Some(&out),
    );
    let (states, out) = disk_states(&mut vm, "sp");
    eprintln!("hotplug_spare: disks {states:?}");
    vm.check(
        states.iter().any(|(n, s)| n == "s" && s == "ENABLE"),
        "spare s is ENABLE while it holds a slice",
        Some(&out),
    );

    let mon = monitor_log(&mut vm);
    eprintln!("hotplug_spare: monitor log:\n{}", mon.stdout);
    let ev = vm.sh(
        "grep -E ' (add|change|remove) ' /tmp/udev.mon | grep -vE '/(dm-|loop|ram)'; \
         dmesg | grep -E 'md|raid|I/O error' | grep -v raid6",
    );
    eprintln!("hotplug_spare: block uevents + kernel:\n{}", ev.stdout);

    // the spare alone holds the data: a (the other leg) unplugged, b (no leg any more)
    // stays: with b gone too only 1 of 3 metadata copies is readable and the class is
    // closed by design (GDS closing rule)
    let s_dev = devnum(&mut vm, &disks[2]);
    unplug(&mut vm, &disks[0]);
    reactivate_degraded(&mut vm, "sp", "v1");
    let (lines, out) = dm_table(&mut vm, &rimage_name("sp", "v1", 1));
    vm.check(
        !lines.is_empty() && lines.iter().all(|(_, a)| a.first() == Some(&s_dev)),
        &format!("leg 1 of sp/v1 maps the spare s ({s_dev}) only"),
        Some(&out),
    );
    let (health, out) = raid_health(&mut vm, &dm);
    vm.check(
        health.chars().filter(|c| *c == 'A').count() == 1,
        &format!("one live leg after activation without a ({health})"),
        Some(&out),
    );
    let back = read_sum(&mut vm, &dev, 128);
    vm.check_eq("checksum read from the spare alone", &sum, &back, None);
    eprintln!("hotplug_spare: runtime {:?}", t_start.elapsed());
}

pub fn stale_leg_reported_disable_never_written() {
    let spec = VmSpec::new("hotplug_stale", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("d1", "std1", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi("d2", "std2", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let t_start = Instant::now();
    let disks = vm.spec().disks.clone();
    let config = |vm: &Vm, volumes: &[&str]| {
        class_yaml(
            vm,
            "st",
            &[
                disk_by_path(vm, "a", &disks[0], ""),
                disk_by_path(vm, "b", &disks[1], ""),
            ],
            &["{name: g1, type: mirror, members: [a, b]}"],
            volumes,
        )
    };
    let yaml = config(&vm, &["{name: v1, on: g1, size: 64MiB}"]);
    put_config(&mut vm, "/root/st.yaml", &yaml);
    check_and_apply(&mut vm, "/root/st.yaml");
    let dev = vol_path("st", "v1");
    vm.sh(&wait_exists(&dev));
    write_random(&mut vm, &dev, 64, "st1");
    wait_synced(&mut vm, "st", SYNC_TIMEOUT);
    let (g0, _) = class_generation(&mut vm, "st");
    // `apply` refuses any change while a disk of the class is missing, so the stale
    // copy is made the way it happens in the field: an old image of b comes back.
    vm.sh("sync; udevadm settle");
    let d2_file = vm.disk_file("d2");
    let old = d2_file.with_extension("old");
    host_copy(&vm, &d2_file, &old);

    // a change that bumps the generation, and new data, with both disks present
    let yaml = config(
        &vm,
        &[
            "{name: v1, on: g1, size: 64MiB}",
            "{name: v2, on: g1, size: 16MiB}",
        ],
    );
    put_config(&mut vm, "/root/st.yaml", &yaml);
    dmclass_ok(&mut vm, "apply /root/st.yaml --yes");
    vm.sh(&wait_exists(&vol_path("st", "v2")));
    write_random(&mut vm, &dev, 16, "st2");
    wait_synced(&mut vm, "st", SYNC_TIMEOUT);
    let sum = read_sum(&mut vm, &dev, 64);
    let (g1, gout) = class_generation(&mut vm, "st");
    vm.check(
        g1 > g0,
        &format!("generation bumped ({g0} -> {g1})"),
        Some(&gout),
    );

    // b leaves (the monitor records it), its old image is put back
    start_monitor(&mut vm);
    unplug(&mut vm, &disks[1]);
    poll_volume(
        &mut vm,
        "st",
        "v1",
        "slice b INVALID after unplug",
        REACT_TIMEOUT,
        |v| slice_state(v, "b") == "INVALID",
    );
    let (g2, _) = class_generation(&mut vm, "st");
    eprintln!("hotplug_stale: generations: first apply {g0}, second apply {g1}, after b left {g2}");
    host_copy(&vm, &old, &d2_file);

    // b comes back with the old generation
    vm.plug("d2")
        .unwrap_or_else(|e| vm.fail(&format!("plug d2: {e}"), None));
    let link = by_id(&vm, &disks[1]);
    vm.sh(&wait_exists(&link));
    let mut checks = Vec::new();
    // ~30 s of watching: nothing may be written to b
    for _ in 0..10 {
        vm.sh("udevadm settle; sleep 3");
        checks.push(wr_bytes(&mut vm, "d2"));
    }
    eprintln!("hotplug_stale: d2 wr_bytes after replug: {checks:?}");
    vm.check(
        checks.iter().all(|w| *w == Some(0)),
        &format!("nothing written to the stale disk after replug ({checks:?})"),
        None,
    );
    let (states, sout) = disk_states(&mut vm, "st");
    eprintln!("hotplug_stale: disks {states:?}");
    let disabled = states.iter().any(|(n, s)| n == "b" && s == "DISABLE");
    let ev = dmclass(&mut vm, &format!("event change $(readlink -f {link})"));
    eprintln!(
        "hotplug_stale: `event change` by hand: exit {}\n{}\n{}",
        ev.status, ev.stdout, ev.stderr
    );
    let refused = ev.status == 1 && ev.stderr.contains("refused");
    vm.check(disabled, "disk b shown DISABLE in status", Some(&sout));
    vm.check(refused, "the event reports disk b refused", Some(&ev));
    let w = wr_bytes(&mut vm, "d2");
    vm.check_eq(
        "bytes written to the stale disk at the end",
        &Some(0),
        &w,
        Some(&ev),
    );
    let (v, out) = volume_status(&mut vm, "st", "v1");
    eprintln!("hotplug_stale: v1 {v:?}");
    vm.check_eq("v1 state", "ACTIVE", v.state.as_str(), Some(&out));
    let back = read_sum(&mut vm, &dev, 64);
    vm.check_eq("data of v1 on disk a", &sum, &back, None);
    let (_, _, tout) = single_target(&mut vm, &dm_name("st", "v1"));
    eprintln!("hotplug_stale: v1 table: {}", tout.stdout.trim());
    let (vols, _) = status(&mut vm, Some("st"));
    eprintln!("hotplug_stale: volumes {vols:?}");
    eprintln!("hotplug_stale: runtime {:?}", t_start.elapsed());
}

/// `major:minor` (decimal) of a disk's device node.
fn devnum(vm: &mut Vm, disk: &DiskSpec) -> String {
    let link = by_id(vm, disk);
    let out = vm.sh(&format!("stat -L -c '%t:%T' {link}"));
    out.stdout
        .trim()
        .split(':')
        .map(|h| u32::from_str_radix(h, 16).unwrap_or(0).to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// `cp --sparse=always FROM TO` on the host (TO keeps its inode: QEMU's open file
/// sees the new contents).
fn host_copy(vm: &Vm, from: &std::path::Path, to: &std::path::Path) {
    let st = std::process::Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .status();
    vm.check(
        st.as_ref().is_ok_and(std::process::ExitStatus::success),
        &format!("cp {} {}: {st:?}", from.display(), to.display()),
        None,
    );
}

/// Rewrites the winning metadata slot of the disk image `file` (on the host, while
/// the guest has the disk unplugged) with `tamper` applied: checksums valid, content
/// hostile — what a guest with raw access to a shared disk could write.
fn craft_label(
    vm: &Vm,
    file: &std::path::Path,
    tamper: impl FnOnce(&mut dmclass_engine::metadata::ClassMeta),
) {
    use dmclass_engine::metadata::{decode_area, encode_slot, AREA_SIZE, SLOT_OFFSETS};
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap_or_else(|e| vm.fail(&format!("open {}: {e}", file.display()), None));
    let mut bytes = vec![0u8; usize::try_from(AREA_SIZE).unwrap_or(0)];
    f.read_exact(&mut bytes)
        .unwrap_or_else(|e| vm.fail(&format!("read the label: {e}"), None));
    let area = decode_area("b", &bytes)
        .unwrap_or_else(|e| vm.fail(&format!("decode the label: {e}"), None));
    let mut meta = area.meta.clone();
    tamper(&mut meta);
    let slot = encode_slot(&area.header, u32::try_from(area.active).unwrap_or(0), &meta)
        .unwrap_or_else(|e| vm.fail(&format!("encode the crafted slot: {e}"), None));
    f.seek(SeekFrom::Start(SLOT_OFFSETS[area.active]))
        .and_then(|_| f.write_all(&slot))
        .and_then(|()| f.sync_all())
        .unwrap_or_else(|e| vm.fail(&format!("write the crafted slot: {e}"), None));
}

/// A member disk whose label is crafted (checksums valid; a leg's extent past the end
/// of the disk) plugged into a running class: DISABLE with the reason in `status`,
/// never written (QEMU's write counter of the disk stays 0), the volume keeps its data
/// (issue #11 §5).
pub fn crafted_label_disk_is_disable_never_written() {
    let spec = VmSpec::new("crafted_label", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("a", "crfa", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_blk("b", "crfb", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let disks = vm.spec().disks.clone();
    let yaml = mirror_class(&vm, "cr", &["a", "b"], &["{name: v1, on: g1, size: 64MiB}"]);
    put_config(&mut vm, "/root/cr.yaml", &yaml);
    check_and_apply(&mut vm, "/root/cr.yaml");
    let dev = vol_path("cr", "v1");
    vm.sh(&wait_exists(&dev));
    let sum = write_random(&mut vm, &dev, 64, "cr");
    wait_synced(&mut vm, "cr", SYNC_TIMEOUT);
    unplug(&mut vm, &disks[1]);
    vm.sh("udevadm settle");
    // b's own label now claims its leg lies far past the end of the disk.
    craft_label(&vm, &vm.disk_file("b"), |m| {
        let disk_sectors = m.disks.iter().map(|d| d.size.0).max().unwrap_or(0);
        for l in &mut m.volumes[0].layout.legs {
            for s in &mut l.segments {
                if let dmclass_engine::layout::Segment::Linear { extent } = s {
                    if extent.disk == "b" {
                        extent.offset = Sectors(disk_sectors * 4);
                    }
                }
            }
        }
    });
    vm.plug("b")
        .unwrap_or_else(|e| vm.fail(&format!("plug b: {e}"), None));
    let deadline = Instant::now() + REACT_TIMEOUT;
    let states = loop {
        vm.sh("udevadm settle");
        let (s, out) = disk_states(&mut vm, "cr");
        if s.iter().any(|(d, st)| d == "b" && st == "DISABLE") {
            break out;
        }
        if Instant::now() > deadline {
            vm.fail("the crafted disk b is not reported DISABLE", Some(&out));
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    eprintln!("crafted_label: status: {}", states.stdout.trim());
    vm.check(
        states.stdout.contains("reason"),
        "status --json gives the reason",
        Some(&states),
    );
    for _ in 0..5 {
        std::thread::sleep(Duration::from_secs(2));
        let w = wr_bytes(&mut vm, "b").unwrap_or(0);
        vm.check_eq("bytes written to the crafted disk", &0, &w, None);
    }
    let got = read_sum(&mut vm, &dev, 64);
    vm.check_eq("the volume's data", &sum, &got, None);
}
