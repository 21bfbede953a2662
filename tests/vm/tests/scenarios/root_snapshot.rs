//! A copy-on-write snapshot of the running root (docs/root-class.md, "Rolling the
//! root back"): taken before an "upgrade", the files changed, the rollback requested
//! (withdrawn and requested again), and the next boot's initramfs merges the
//! snapshot back before the root is mounted. A power cut while the kernel merges;
//! the boot after it resumes the merge; the monitor removes the merged snapshot.
//!
//! From the boot that merges on, the system disks are slow to write (QEMU's throttle,
//! [`Vm::set_io_limit`]) so that the power cut falls inside the merge rather than
//! after it; the limit is lifted once the merge may finish.

use crate::common::cow::{snapshot_status, snapshots};
use crate::common::dmclass::{dmclass, dmclass_ok};
use crate::root::{convert_with, root_device, sums};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, IoLimit, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const FILES: [&str; 4] = ["d1", "pkg/version", "big", "etc-hostname"];
/// Writes per second to each system disk while the merge must still run: the merge
/// writes about 26 MiB back to both, well over a minute.
const SLOW_WRITES: IoLimit = IoLimit {
    read_bps: 0,
    write_bps: 256 * 1024,
};
const MERGE_TIMEOUT: Duration = Duration::from_secs(300);

/// `dmsetup status` of the root's top device: `(allocated, metadata)` sectors of the
/// merging store, `None` when it is not merging.
fn merge_progress(vm: &mut Vm) -> Option<(u64, u64)> {
    let st = vm.sh("dmsetup status dmclass-sys-root").stdout;
    let f: Vec<&str> = st.split_whitespace().collect();
    if f.get(2) != Some(&"snapshot-merge") {
        return None;
    }
    let (a, _) = f.get(3)?.split_once('/')?;
    Some((a.parse().ok()?, f.get(4)?.parse().ok()?))
}

/// Both system disks' speed limit (the merge writes to both legs).
fn set_limit(vm: &mut Vm, limit: Option<IoLimit>) {
    for d in ["sysa", "sysb"] {
        vm.set_io_limit(d, limit)
            .unwrap_or_else(|e| panic!("io limit of {d}: {e}"));
    }
}

/// `dmclass monitor --once` finishes the merge: the root device is suspended while
/// its table changes under the mounted root. Run in the background so that a stall
/// is reported with where dmclass waits rather than as a timeout.
fn monitor_once(vm: &mut Vm) {
    vm.sh("(dmclass monitor --once >/tmp/mon.out 2>&1; echo $? >/tmp/mon.rc) >/dev/null 2>&1 & echo $! >/tmp/mon.pid");
    let t0 = Instant::now();
    while vm
        .sh("test -e /tmp/mon.rc && echo done || echo running")
        .stdout
        .trim()
        != "done"
    {
        if t0.elapsed() > Duration::from_secs(90) {
            let out = vm.sh(
                "for t in /proc/[0-9]*/task/[0-9]*; do case \"$(cat $t/comm 2>/dev/null)\" in dmclass*) \
                 echo \"$t $(cat $t/comm) $(sed -n 's/^State:\t//p' $t/status)\"; cat $t/stack;; esac; done; \
                 dmsetup info -c; cat /tmp/mon.out",
            );
            vm.fail("`dmclass monitor --once` stalls", Some(&out));
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let out = vm.sh("cat /tmp/mon.rc /tmp/mon.out");
    vm.check(
        out.stdout.starts_with("0\n"),
        "`dmclass monitor --once` exits 0",
        Some(&out),
    );
}

fn no_marker(vm: &mut Vm, what: &str) {
    let m = vm
        .sh("test -e /root/marker && echo present || echo absent")
        .stdout;
    vm.check_eq(what, "absent", m.trim(), None);
}

pub fn root_cow_snapshot_rollback_on_reboot() {
    let spec = VmSpec::new("root_cow_rollback", Personality::KvmHost, Firmware::Uefi)
        .disk(DiskSpec::nvme("sysa", "sysa", Bytes(256 * MIB)).with_root())
        .disk(DiskSpec::nvme("sysb", "sysb", Bytes(256 * MIB)))
        .disk(DiskSpec::nvme("envs", "envs", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    convert_with(&mut vm, "kvm-host", true);
    vm.sh(
        "mkdir -p /root/pkg && echo 1.0 >/root/pkg/version && echo host1 >/root/etc-hostname && \
         dmclass-vm-random 24 >/root/big && sync",
    );
    let before = sums(&mut vm, &FILES);

    let out = dmclass_ok(&mut vm, "snapshot create sys/root pre --size 96MiB");
    eprintln!("{}", out.stdout);
    let (s, out) = snapshot_status(&mut vm, "sys", "pre");
    vm.check(
        s.state == "ACTIVE" && s.origin == "root",
        "snapshot pre of the running root is ACTIVE",
        Some(&out),
    );
    // The "upgrade": files changed, one removed, one added, one rewritten.
    vm.sh(
        "echo 2.0 >/root/pkg/version && rm /root/d1 && echo upgraded >/root/marker && \
         dmclass-vm-random 24 >/root/big && echo other >/root/etc-hostname && sync",
    );
    let changed = vm.sh("cd /root && md5sum big pkg/version").stdout;
    vm.check(
        !before.contains(changed.lines().next().unwrap_or("-")),
        "the running root changed",
        None,
    );

    // Requested: nothing changes until the next boot; withdrawn; requested again.
    let out = dmclass_ok(&mut vm, "snapshot merge sys/pre --yes");
    vm.check(
        out.stdout.contains("requested") && out.stdout.contains("at the next boot"),
        "a rollback of the running root is requested for the next boot",
        Some(&out),
    );
    let (s, out) = snapshot_status(&mut vm, "sys", "pre");
    vm.check(
        s.state == "MERGING" && s.note.as_deref().is_some_and(|n| n.contains("next boot")),
        "status: the rollback waits for the next boot",
        Some(&out),
    );
    vm.sh_contains("cat /root/marker /root/pkg/version", "2.0");
    dmclass_ok(&mut vm, "activate sys");
    vm.sh_contains("dmsetup table dmclass-sys-root", "snapshot-origin");
    let out = dmclass_ok(&mut vm, "snapshot merge --cancel sys/pre");
    vm.check(
        out.stdout.contains("withdrawn"),
        "the request is withdrawn",
        Some(&out),
    );
    let (s, out) = snapshot_status(&mut vm, "sys", "pre");
    vm.check(s.state == "ACTIVE", "pre is ACTIVE again", Some(&out));
    dmclass_ok(&mut vm, "snapshot merge sys/pre --yes");

    let (st, _) = snapshot_status(&mut vm, "sys", "pre");
    eprintln!("store in use before the reboot: {:?}", st.usage);

    // The next boot merges (the initramfs starts it); a power cut while it runs.
    set_limit(&mut vm, Some(SLOW_WRITES));
    vm.reboot().unwrap_or_else(|e| panic!("reboot: {e}"));
    let during = merge_progress(&mut vm);
    match during {
        Some((a, m)) if a > m => eprintln!("merging at the cut: {a}/{m} sectors of the store left"),
        other => vm.fail(
            &format!("the merge should still run (slow store disk): {other:?}"),
            None,
        ),
    }
    let now = root_device(&mut vm);
    let top = vm
        .sh("readlink -f /dev/dmclass/sys/root")
        .stdout
        .trim()
        .to_string();
    vm.check_eq("/ is the root volume", &top, &now, None);
    no_marker(&mut vm, "while merging: no marker");
    vm.sh_contains("cat /root/pkg/version", "1.0");
    let refused = dmclass(&mut vm, "snapshot merge --cancel sys/pre");
    vm.check(
        refused.status == 1 && refused.stderr.contains("cannot be withdrawn"),
        "a running merge is not withdrawn",
        Some(&refused),
    );
    dmclass_ok(&mut vm, "activate sys");
    vm.sh_contains("dmsetup table dmclass-sys-root", "snapshot-merge");
    vm.power_cut().unwrap_or_else(|e| panic!("power cut: {e}"));
    vm.start()
        .unwrap_or_else(|e| panic!("boot after the cut: {e}"));
    let again = merge_progress(&mut vm);
    eprintln!("after the cut the merge runs again: {again:?}");
    vm.check(
        again.is_some(),
        "after the cut the initramfs resumed the merge",
        None,
    );
    no_marker(&mut vm, "after the cut: no marker");

    // Full speed; the kernel finishes, the monitor removes the snapshot.
    set_limit(&mut vm, None);
    let now = sums(&mut vm, &FILES);
    vm.check_eq(
        "after a power cut during the merge: the snapshot's files",
        &before,
        &now,
        None,
    );
    let t0 = Instant::now();
    while merge_progress(&mut vm).is_some_and(|(a, m)| a > m) {
        if t0.elapsed() > MERGE_TIMEOUT {
            vm.fail("the merge did not finish", None);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!("merge finished {:?} after the boot", t0.elapsed());
    monitor_once(&mut vm);
    let (snaps, out) = snapshots(&mut vm, "sys");
    let merging = merge_progress(&mut vm);
    vm.check(
        snaps.is_empty() && merging.is_none(),
        "the merged snapshot is gone and the root has its own table",
        Some(&out),
    );
    vm.sh("! dmsetup info dmclass-sys-pre-cow >/dev/null 2>&1");
    vm.reboot().unwrap_or_else(|e| panic!("last reboot: {e}"));
    let now = sums(&mut vm, &FILES);
    vm.check_eq("rolled back for good", &before, &now, None);
    no_marker(&mut vm, "no marker for good");
}
