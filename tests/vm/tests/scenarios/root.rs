//! Root class scenarios: the running system disk of a KVM host, booted by OVMF from
//! its own ESP, is converted in place to a raid1 root class with a blank second disk;
//! the machine then boots from either disk (docs/root-class.md).

use crate::common::by_id;
use crate::common::dmclass::{
    dmclass_ok, dmclass_stopped_at, put_config, volume_status, wait_bitmaps_clean, wait_synced,
};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// A KVM host booting by UEFI from disk A (a small system: ESP and ext4 root) with a
/// blank disk B, both 256 MiB NVMe.
pub(crate) fn kvm_host_system(name: &str) -> VmSpec {
    VmSpec::new(name, Personality::KvmHost, Firmware::Uefi)
        .disk(DiskSpec::nvme("sysa", "sysa", Bytes(256 * MIB)).with_root())
        .disk(DiskSpec::nvme("sysb", "sysb", Bytes(256 * MIB)))
}

/// md5 of the test data files on `/` (the root file system), one line each.
pub(crate) fn sums(vm: &mut Vm, files: &[&str]) -> String {
    let list = files.join(" ");
    vm.sh(&format!("cd /root && md5sum {list}")).stdout
}

/// What `/` is mounted from, resolved.
pub(crate) fn root_device(vm: &mut Vm) -> String {
    vm.sh("awk '$2 == \"/\" {print $1}' /proc/mounts | tail -n1 | xargs readlink -f")
        .stdout
        .trim()
        .to_string()
}

pub(crate) fn check_root_on_volume(vm: &mut Vm, what: &str) {
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
    let spec = kvm_host_system("root_kvm_host_either_disk");
    either_disk(spec, "kvm-host");
}

/// The same under the VMware-guest personality: disk A a VMDK-like disk, B an RDM-like
/// disk, both on pvscsi, VMware SMBIOS, OVMF. One difference, and why: Debian's OVMF has
/// no pvscsi driver (`PvScsiDxe` is not built in), so the firmware cannot read either
/// disk and QEMU hands it the kernel and initramfs (VMware's own firmware reads pvscsi
/// disks). Everything from the kernel on is the boot under test: UEFI (efivarfs), the
/// initramfs assembling the root class from the pvscsi disks, degraded boots from either
/// disk, the returning disk's bitmap resync, and each disk's ESP a copy of A's.
pub fn root_uefi_vmware_guest_boot_either_disk() {
    let spec = VmSpec::new(
        "root_vmware_either_disk",
        Personality::VmwareGuest,
        Firmware::Uefi,
    )
    .disk(DiskSpec::vmdk("sysa", "sysa", Bytes(256 * MIB)).with_root())
    .disk(DiskSpec::rdm(
        "sysb",
        "sysb",
        0x6000_00e0_0d28_0a5b,
        Bytes(256 * MIB),
    ))
    .kernel_from_qemu();
    either_disk(spec, "vmware-guest");
}

/// The two disks' by-id paths and the checksum of `/root/d1`, written before the
/// conversion.
pub(crate) struct Converted {
    pub(crate) a_id: String,
    pub(crate) b_id: String,
    pub(crate) before: String,
}

/// `/root/sys.yaml`: root class `sys`, disk A kept, blank B, one volume on A's root
/// partition.
fn put_sys_yaml(vm: &mut Vm, a_id: &str, b_id: &str) {
    put_sys_yaml_with(vm, a_id, b_id, None);
}

/// [`put_sys_yaml`], with blank disk `env` as the boot-environment group `envs`.
fn put_sys_yaml_with(vm: &mut Vm, a_id: &str, b_id: &str, env: Option<&str>) {
    let (env_disk, env_group) = env.map_or_else(Default::default, |e| {
        (
            format!("      - {{name: be1, device: {e}}}\n"),
            "      - {name: envs, type: mirror, members: [be1]}\n".to_string(),
        )
    });
    put_config(
        vm,
        "/root/sys.yaml",
        &format!(
            "version: 1\nclasses:\n  - name: sys\n    type: root\n    disks:\n      \
             - {{name: sys1, device: {a_id}, role: keep}}\n      \
             - {{name: sys2, device: {b_id}}}\n{env_disk}    groups:\n      \
             - {{name: m, type: mirror, members: [sys1, sys2]}}\n{env_group}    volumes:\n      \
             - {{name: root, on: m, partition: 2}}\n"
        ),
    );
}

/// Convert disk A (the running root) with blank disk B into root class `sys`, reboot
/// into it and wait for the first copy; `/root/d1`'s checksum is the same at every step.
pub(crate) fn convert(vm: &mut Vm, environment: &str) -> Converted {
    convert_with(vm, environment, false)
}

/// [`convert`]; with `env_disk`, the VM's third disk (blank) becomes the class's
/// boot-environment group `envs` (disk `be1`).
pub(crate) fn convert_with(vm: &mut Vm, environment: &str, env_disk: bool) -> Converted {
    let (a, b) = (vm.spec().disks[0].clone(), vm.spec().disks[1].clone());
    let (a_id, b_id) = (by_id(vm, &a), by_id(vm, &b));
    let env_id = env_disk.then(|| {
        let e = vm.spec().disks[2].clone();
        by_id(vm, &e)
    });
    vm.sh_contains("dmclass probe", environment);
    vm.sh_contains("cat /etc/dmclass-vm-realroot", "root file system");
    // Data on the running root file system, checksummed before the conversion.
    vm.sh("dd if=/dev/urandom of=/root/d1 bs=1M count=8 2>/dev/null && sync");
    let before = sums(vm, &["d1"]);
    // B's partition table type (blkid's low-level probe): none while B is blank. (A
    // checksum of the whole disk took 7-15 s under TCG, each time.)
    let pttype = format!("blkid -p -s PTTYPE -o value {b_id} || true");
    let b_before = vm.sh(&pttype).stdout;
    vm.check_eq("partition table on blank disk B", "", b_before.trim(), None);
    put_sys_yaml_with(vm, &a_id, &b_id, env_id.as_deref());
    let plan = dmclass_ok(vm, "plan /root/sys.yaml");
    vm.check(
        plan.stdout.contains("write_partition_table") && plan.stdout.contains("copy_esp"),
        "the plan lists the partition tables and the ESP copy",
        Some(&plan),
    );
    let applied = dmclass_ok(vm, "apply --yes /root/sys.yaml");
    vm.check(
        applied.stdout.contains("reboot to finish"),
        "apply says a reboot finishes the conversion",
        Some(&applied),
    );
    let now = sums(vm, &["d1"]);
    vm.check_eq(
        "the running root is untouched by apply",
        &before,
        &now,
        None,
    );
    let b_after = vm.sh(&pttype).stdout;
    vm.check_eq(
        "the second disk got a GPT (its ESP and private area are checked by the boot on the class)",
        "gpt",
        b_after.trim(),
        None,
    );
    // The initramfs assembles the class; sys2 is copied from the kept root.
    vm.reboot()
        .unwrap_or_else(|e| panic!("reboot after apply: {e}"));
    eprintln!("boot with the root class: {:?}", vm.boot_time());
    check_root_on_volume(vm, "first boot after the conversion");
    let t = Instant::now();
    wait_synced(vm, "sys", Duration::from_secs(300));
    eprintln!(
        "first copy of the 128 MiB root partition: {:?}",
        t.elapsed()
    );
    let now = sums(vm, &["d1"]);
    vm.check_eq("data after the first copy", &before, &now, None);
    Converted { a_id, b_id, before }
}

/// Convert disk A (running root) with blank disk B, then boot with both, B alone,
/// both, A alone; data checksummed at every step.
fn either_disk(spec: VmSpec, environment: &str) {
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let c = convert(&mut vm, environment);
    // Each disk's ESP holds the same boot files (what the firmware reads when the
    // other disk is gone).
    let esp_sums = |vm: &mut Vm, id: &str| {
        vm.sh(&format!(
            "mkdir -p /mnt/e && mount -t vfat -o ro {id}-part1 /mnt/e && \
             (cd /mnt/e && find . -type f ! -name random-seed | sort | xargs md5sum); \
             umount /mnt/e"
        ))
        .stdout
    };
    let (esp_a, esp_b) = (esp_sums(&mut vm, &c.a_id), esp_sums(&mut vm, &c.b_id));
    vm.check(
        esp_a.contains("BOOTX64.EFI") && esp_a == esp_b,
        "the second disk's ESP holds the same boot files as the kept disk's",
        None,
    );
    vm.sh("dd if=/dev/urandom of=/root/d2 bs=1M count=4 2>/dev/null && sync");
    let both = sums(&mut vm, &["d1", "d2"]);
    // The machine runs on after its first copy: md clears the write-intent bits of
    // what both legs hold (lazily); only then does a leg that leaves and returns
    // need just the regions written meanwhile.
    let clean = wait_bitmaps_clean(&mut vm, "sys", "root", 2, Duration::from_secs(120));
    eprintln!("write-intent bitmaps clean on both legs after {clean:?}");
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
    // What the return cost, from QEMU's counters of this boot: only the regions the
    // write-intent bitmap on sysb recorded while sysa was away (the 2 MiB file, its
    // metadata and the journal), not the 128 MiB partition.
    let written = vm
        .blockstats("sysa")
        .ok()
        .flatten()
        .map_or(u64::MAX, |s| s.wr_bytes);
    eprintln!(
        "sysa returned: {written} bytes written to it in this boot (the root partition is \
         {} bytes; 2 MiB of files were written while it was away)",
        128 * MIB
    );
    vm.check(
        written < 32 * MIB,
        &format!(
            "the returning disk gets only the regions written while it was away \
             ({written} bytes written to sysa, a full copy would be {})",
            128 * MIB
        ),
        None,
    );
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

/// The conversion cut by a power loss: `apply` stopped after action N (failpoint) and
/// the power cut at once; the machine boots — from its own partitions while the keep
/// disk has no private area yet (the class is not started: nothing was copied), on the
/// class after — with every file; applying the file again finishes the conversion and
/// the next boot runs on the class. Cut points: `$DMCLASS_ROOT_CUTS` (e.g. `1,4,6`);
/// by default after the peer's table (1), after the peer is done (4), after the keep
/// disk's table and raid metadata (6). (The simulator cuts after every action.)
pub fn root_conversion_power_cut() {
    let cuts: Vec<u32> = std::env::var("DMCLASS_ROOT_CUTS").ok().map_or_else(
        || vec![1, 4, 6],
        |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    );
    for cut in cuts {
        let Some(mut vm) = boot_or_skip(kvm_host_system(&format!("root_cut_{cut}"))) else {
            return;
        };
        let (a, b) = (vm.spec().disks[0].clone(), vm.spec().disks[1].clone());
        let (a_id, b_id) = (by_id(&vm, &a), by_id(&vm, &b));
        vm.sh("dd if=/dev/urandom of=/root/d1 bs=1M count=8 2>/dev/null && sync");
        let before = sums(&mut vm, &["d1"]);
        put_sys_yaml(&mut vm, &a_id, &b_id);
        vm.sh("sync"); // the admin's file was saved long before the power cut
        dmclass_stopped_at(
            &mut vm,
            &format!("action:{cut}"),
            "apply --yes /root/sys.yaml",
        );
        vm.power_cut().unwrap_or_else(|e| panic!("power cut: {e}"));
        vm.start()
            .unwrap_or_else(|e| panic!("boot after a cut at action {cut}: {e}"));
        let dev = root_device(&mut vm);
        let part = vm
            .sh(&format!("readlink -f {a_id}-part2"))
            .stdout
            .trim()
            .to_string();
        vm.check(
            dev == part,
            &format!("cut at action {cut}: / is A's own partition ({dev} vs {part})"),
            None,
        );
        let now = sums(&mut vm, &["d1"]);
        vm.check_eq(&format!("cut at action {cut}: data"), &before, &now, None);
        let applied = dmclass_ok(&mut vm, "apply --yes /root/sys.yaml");
        vm.check(
            applied.stdout.contains("reboot to finish"),
            &format!("cut at action {cut}: apply again finishes the conversion"),
            Some(&applied),
        );
        vm.reboot()
            .unwrap_or_else(|e| panic!("reboot after the finished conversion: {e}"));
        check_root_on_volume(&mut vm, &format!("cut at action {cut}, finished"));
        wait_synced(&mut vm, "sys", Duration::from_secs(300));
        let now = sums(&mut vm, &["d1"]);
        vm.check_eq(
            &format!("cut at action {cut}: data on the class"),
            &before,
            &now,
            None,
        );
    }
}

/// A root class where the support matrix has no row for it — a KVM host booted by
/// BIOS, a KVM guest, a VMware guest whose second disk is on NVMe — is denied by
/// `apply` with the row cited, and every disk is byte-identical before and after.
pub fn root_class_denied_where_the_matrix_says_no() {
    let mib = |n: u64| Bytes(n * MIB);
    let cases = [
        (
            VmSpec::new("root_denied_bios", Personality::KvmHost, Firmware::Bios)
                .disk(DiskSpec::nvme("sysa", "sysa", mib(64)))
                .disk(DiskSpec::nvme("sysb", "sysb", mib(64))),
            ["needs UEFI", "rule G1"],
        ),
        (
            VmSpec::new(
                "root_denied_kvm_guest",
                Personality::KvmGuest,
                Firmware::Uefi,
            )
            .disk(DiskSpec::virtio_blk("sysa", "sysa", mib(64)))
            .disk(DiskSpec::virtio_blk("sysb", "sysb", mib(64))),
            ["inside a KVM guest", "G2"],
        ),
        (
            VmSpec::new(
                "root_denied_vmware_nvme",
                Personality::VmwareGuest,
                Firmware::Uefi,
            )
            .disk(DiskSpec::vmdk("sysa", "sysa", mib(64)))
            .disk(DiskSpec::nvme("sysb", "sysb", mib(64))),
            ["is nvme", "rule G3"],
        ),
    ];
    for (spec, expect) in cases {
        let name = spec.name.clone();
        let Some(mut vm) = boot_or_skip(spec) else {
            return;
        };
        let (a, b) = (vm.spec().disks[0].clone(), vm.spec().disks[1].clone());
        let (a_id, b_id) = (by_id(&vm, &a), by_id(&vm, &b));
        let disks = format!("md5sum < {a_id}; md5sum < {b_id}");
        let before = vm.sh(&disks).stdout;
        put_sys_yaml(&mut vm, &a_id, &b_id);
        let out = vm
            .run("dmclass apply --yes /root/sys.yaml")
            .unwrap_or_else(|e| panic!("{name}: apply: {e}"));
        vm.check(
            out.status == 1 && expect.iter().all(|e| out.stderr.contains(e)),
            &format!("{name}: apply is denied citing {expect:?}"),
            Some(&out),
        );
        let after = vm.sh(&disks).stdout;
        vm.check_eq(
            &format!("{name}: both disks unchanged"),
            &before,
            &after,
            None,
        );
    }
}
