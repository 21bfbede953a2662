//! Root class scenarios: the running system disk of a KVM host, booted by OVMF from
//! its own ESP, is converted in place to a raid1 root class with a blank second disk;
//! the machine then boots from either disk (docs/root-class.md).

use crate::common::by_id;
use crate::common::dmclass::{dmclass_ok, put_config, volume_status, wait_synced};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// md5 of the test data files on `/` (the root file system), one line each.
fn sums(vm: &mut Vm, files: &[&str]) -> String {
    let list = files.join(" ");
    vm.sh(&format!("cd /root && md5sum {list}")).stdout
}

/// What `/` is mounted from, resolved.
fn root_device(vm: &mut Vm) -> String {
    vm.sh("awk '$2 == \"/\" {print $1}' /proc/mounts | tail -n1 | xargs readlink -f")
        .stdout
        .trim()
        .to_string()
}

fn check_root_on_volume(vm: &mut Vm, what: &str) {
    let dev = root_device(vm);
    let vol = vm
        .sh("readlink -f /dev/dmclass/sys/root")
        .stdout
        .trim()
        .to_string();
    let out = vm.sh("cat /proc/mounts; ls -l /dev/dmclass/sys/ /dev/disk/by-uuid/");
    vm.check(
        dev.starts_with("/dev/dm-") && dev == vol,
        &format!("{what}: / is mounted from the root class volume ({dev} vs {vol})"),
        Some(&out),
    );
}

pub fn root_uefi_kvm_host_boot_either_disk() {
    let spec = VmSpec::new(
        "root_kvm_host_either_disk",
        Personality::KvmHost,
        Firmware::Uefi,
    )
    .disk(DiskSpec::nvme("sysa", "sysa", Bytes(256 * MIB)).with_root())
    .disk(DiskSpec::nvme("sysb", "sysb", Bytes(256 * MIB)));
    either_disk(spec, "kvm-host");
}

/// Convert disk A (running root) with blank disk B, then boot with both, B alone,
/// both, A alone; data checksummed at every step.
fn either_disk(spec: VmSpec, environment: &str) {
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let (a, b) = (vm.spec().disks[0].clone(), vm.spec().disks[1].clone());
    let (a_id, b_id) = (by_id(&vm, &a), by_id(&vm, &b));
    vm.sh_contains("dmclass probe", environment);
    vm.sh_contains("cat /etc/dmclass-vm-realroot", "root file system");
    // Data on the running root file system, checksummed before the conversion.
    vm.sh("dd if=/dev/urandom of=/root/d1 bs=1M count=8 2>/dev/null && sync");
    let before = sums(&mut vm, &["d1"]);
    let b_before = vm.sh(&format!("md5sum < {b_id}")).stdout;
    put_config(
        &mut vm,
        "/root/sys.yaml",
        &format!(
            "version: 1\nclasses:\n  - name: sys\n    type: root\n    disks:\n      \
             - {{name: sys1, device: {a_id}, role: keep}}\n      \
             - {{name: sys2, device: {b_id}}}\n    groups:\n      \
             - {{name: m, type: mirror, members: [sys1, sys2]}}\n    volumes:\n      \
             - {{name: root, on: m, partition: 2}}\n"
        ),
    );
    let plan = dmclass_ok(&mut vm, "plan /root/sys.yaml");
    vm.check(
        plan.stdout.contains("write_partition_table") && plan.stdout.contains("copy_esp"),
        "the plan lists the partition tables and the ESP copy",
        Some(&plan),
    );
    let applied = dmclass_ok(&mut vm, "apply --yes /root/sys.yaml");
    vm.check(
        applied.stdout.contains("reboot to finish"),
        "apply says a reboot finishes the conversion",
        Some(&applied),
    );
    let now = sums(&mut vm, &["d1"]);
    vm.check_eq(
        "the running root is untouched by apply",
        &before,
        &now,
        None,
    );
    let b_after = vm.sh(&format!("md5sum < {b_id}")).stdout;
    vm.check(
        b_after != b_before,
        "the second disk got its partition table, ESP and private area",
        None,
    );
    // Boot 2: the initramfs assembles the class; sys2 is copied from the kept root.
    vm.reboot()
        .unwrap_or_else(|e| panic!("reboot after apply: {e}"));
    eprintln!("boot with the root class: {:?}", vm.boot_time());
    check_root_on_volume(&mut vm, "first boot after the conversion");
    let t = Instant::now();
    wait_synced(&mut vm, "sys", Duration::from_secs(300));
    eprintln!(
        "first copy of the 128 MiB root partition: {:?}",
        t.elapsed()
    );
    let now = sums(&mut vm, &["d1"]);
    vm.check_eq("data after the first copy", &before, &now, None);
    vm.sh("dd if=/dev/urandom of=/root/d2 bs=1M count=4 2>/dev/null && sync");
    let both = sums(&mut vm, &["d1", "d2"]);
    // Boot 3: disk A pulled while off; the firmware boots from B's ESP.
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let t = Instant::now();
    vm.start_with_only(&["sysb"])
        .unwrap_or_else(|e| panic!("boot from sysb alone: {e}"));
    eprintln!(
        "boot from sysb alone (degraded, dmclass.degraded_wait default 10 s): {:?} \
         (wall {:?})",
        vm.boot_time(),
        t.elapsed()
    );
    check_root_on_volume(&mut vm, "booted from sysb alone");
    let now = sums(&mut vm, &["d1", "d2"]);
    vm.check_eq("data on sysb alone", &both, &now, None);
    let (v, out) = volume_status(&mut vm, "sys", "root");
    vm.check(
        v.slice("sys1").is_some_and(|s| s.state != "ACTIVE"),
        "status says sys1 is not active",
        Some(&out),
    );
    vm.sh("dd if=/dev/urandom of=/root/d3 bs=1M count=2 2>/dev/null && sync");
    let all = sums(&mut vm, &["d1", "d2", "d3"]);
    // Boot 4: both disks; A returns and is brought up to date.
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start().unwrap_or_else(|e| panic!("boot with both: {e}"));
    check_root_on_volume(&mut vm, "booted with both disks again");
    wait_synced(&mut vm, "sys", Duration::from_secs(300));
    // Boot 5: B pulled; A alone has the writes made while it was away.
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start_with_only(&["sysa"])
        .unwrap_or_else(|e| panic!("boot from sysa alone: {e}"));
    check_root_on_volume(&mut vm, "booted from sysa alone");
    let now = sums(&mut vm, &["d1", "d2", "d3"]);
    vm.check_eq(
        "sysa alone has every write, also those made while it was away",
        &all,
        &now,
        None,
    );
}
