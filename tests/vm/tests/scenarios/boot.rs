//! Boot scenarios: each personality comes up with its firmware, udev settles, and
//! `dmclass probe --json` reports the environment, the boot mode and, for every disk the
//! harness attached, the right kind and stable id. The kernel has the dm targets dmclass
//! drives.
//!
//! Run one: `make vm-test-one SCENARIO=kvm_guest_bios_probe`.

use crate::common::{check_udev_ids, MIB};
use dmclass_model::Bytes;
use dmclass_rules::Facts;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Compares `dmclass probe --json` with what the harness attached.
fn check_probe(vm: &mut Vm) {
    let out = vm.sh("udevadm settle && dmclass probe --json");
    let facts: Facts = match serde_json::from_str(&out.stdout) {
        Ok(f) => f,
        Err(e) => vm.fail(
            &format!("`probe --json` is not a facts document: {e}"),
            Some(&out),
        ),
    };
    let spec = vm.spec().clone();
    vm.check_eq(
        "environment",
        spec.personality.environment(),
        facts.environment.as_str(),
        Some(&out),
    );
    vm.check_eq(
        "boot mode",
        spec.firmware.boot_mode(),
        facts.boot.as_str(),
        Some(&out),
    );
    let real: Vec<_> = facts
        .disks
        .iter()
        .filter(|f| !matches!(f.kind.as_str(), "loop" | "dm" | "md" | "unknown"))
        .collect();
    vm.check_eq(
        "number of disks",
        &spec.disks.len(),
        &real.len(),
        Some(&out),
    );
    for d in &spec.disks {
        let serial = d.expected_serial();
        let Some(f) = real.iter().find(|f| f.serial == serial) else {
            vm.fail(
                &format!("disk {} (serial {serial:?}) not in the probe", d.id),
                Some(&out),
            );
        };
        let what = |w: &str| format!("{w} of disk {} ({})", d.id, f.name);
        vm.check_eq(
            &what("kind"),
            d.expected_kind(),
            f.kind.as_str(),
            Some(&out),
        );
        vm.check_eq(&what("size"), &d.size, &f.size, Some(&out));
        // only WWNs the harness set: udev derives one for NVMe namespaces by itself
        if d.wwn.is_some() {
            vm.check_eq(&what("wwn"), &d.expected_wwn(), &f.wwn, Some(&out));
        }
        if let Some(name) = d.expected_by_id() {
            let link = PathBuf::from(format!("/dev/disk/by-id/{name}"));
            vm.check(
                f.links.contains(&link),
                &format!("{} lacks link {}", what("links"), link.display()),
                Some(&out),
            );
        }
    }
}

pub fn kvm_guest_bios_probe() {
    let spec = VmSpec::new(
        "kvm_guest_bios_probe",
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(DiskSpec::virtio_blk("kvblk1", "kvblk1", Bytes(256 * MIB)))
    .disk(DiskSpec::virtio_scsi(
        "kvscsi1",
        "kvscsi1",
        Bytes(256 * MIB),
    ))
    .disk(DiskSpec::virtio_blk("kvblk2", "kvblk2", Bytes(64 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    eprintln!("kvm-guest BIOS boot: {:?}", vm.boot_time());
    vm.sh_contains("[ -d /sys/firmware/efi ] && echo uefi || echo bios", "bios");
    check_udev_ids(&mut vm);
    check_probe(&mut vm);
}

pub fn vmware_guest_uefi_probe() {
    let spec = VmSpec::new(
        "vmware_guest_uefi_probe",
        Personality::VmwareGuest,
        Firmware::Uefi,
    )
    .disk(DiskSpec::vmdk("vvmdk1", "vvmdk1", Bytes(256 * MIB)))
    .disk(DiskSpec::rdm(
        "vrdm1",
        "vrdm1",
        0x6000_00e0_0d28_0001,
        Bytes(256 * MIB),
    ))
    .disk(DiskSpec::nvme("vnvme1", "vnvme1", Bytes(64 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    eprintln!("vmware-guest UEFI boot: {:?}", vm.boot_time());
    vm.sh_contains("[ -d /sys/firmware/efi ] && echo uefi || echo bios", "uefi");
    vm.sh_contains("cat /sys/class/dmi/id/sys_vendor", "VMware, Inc.");
    vm.sh_contains(
        "cat /sys/class/dmi/id/product_name",
        "VMware Virtual Platform",
    );
    vm.sh_contains("cat /sys/class/scsi_host/host*/proc_name", "vmw_pvscsi");
    check_udev_ids(&mut vm);
    check_probe(&mut vm);
}

pub fn dm_targets_and_failure_report() {
    let spec = VmSpec::new("dm_targets", Personality::KvmGuest, Firmware::Uefi)
        .disk(DiskSpec::virtio_blk("t1", "t1", Bytes(64 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    eprintln!("kvm-guest UEFI boot: {:?}", vm.boot_time());
    let out = vm.sh("modprobe -a dm-raid dm-mirror dm-snapshot && dmsetup targets");
    let names: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for t in [
        "raid",
        "mirror",
        "snapshot",
        "snapshot-origin",
        "snapshot-merge",
        "striped",
        "linear",
    ] {
        vm.check(
            names.contains(&t),
            &format!("dm target `{t}` missing"),
            Some(&out),
        );
    }
    // dm-raid loads the raid1 personality through /sbin/modprobe: a real raid1 table works
    vm.sh(
        "set -e; d=/dev/disk/by-id/virtio-t1
         for i in 0 1; do
           dmsetup create m$i --table \"0 2048 linear $d $((i * 32768))\"
           dmsetup create i$i --table \"0 28672 linear $d $((i * 32768 + 2048))\"
           dd if=/dev/zero of=/dev/mapper/m$i bs=1M count=1 oflag=direct 2>/dev/null
         done
         dmsetup create r --table \"0 28672 raid raid1 3 0 region_size 1024 2 /dev/mapper/m0 /dev/mapper/i0 /dev/mapper/m1 /dev/mapper/i1\"
         for i in $(seq 100); do dmsetup status r | grep -q ' AA ' && break; sleep 0.2; done
         dmsetup status r; dmsetup status r | grep -q ' AA '
         grep -q '^raid1 ' /proc/modules",
    );
    // a deliberately wrong expectation fails with a readable report
    let report = catch_unwind(AssertUnwindSafe(|| {
        vm.sh_contains("dmsetup targets", "no-such-target");
    }))
    .expect_err("a wrong expectation must fail");
    let text = report.downcast_ref::<String>().cloned().unwrap_or_default();
    for needle in [
        "VM scenario `dm_targets` failed",
        "stdout does not contain \"no-such-target\"",
        "guest command:\n    | dmsetup targets",
        "exit status: 0",
        "| linear",
        "console log (kept): ",
        "logs/dm_targets/console.log",
        "dmclass-vm: udev settled",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    let failing = catch_unwind(AssertUnwindSafe(|| {
        vm.sh("echo to-stdout; echo to-stderr >&2; exit 7");
    }))
    .expect_err("a failing command must fail the check");
    let text = failing
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    for needle in [
        "expected exit status 0",
        "exit status: 7",
        "| to-stdout",
        "| to-stderr",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
}

/// The firmware itself boots the VM from a disk's EFI system partition (no QEMU
/// `-kernel`): both disks carry an ESP with the kernel, initramfs and command line as
/// one unified kernel image at `\EFI\BOOT\BOOTX64.EFI`; with the first disk gone OVMF
/// boots from the second. The ground the root class's boot-from-either-disk scenarios
/// stand on.
pub fn uefi_firmware_boots_from_either_disks_esp() {
    let mut spec = VmSpec::new("uefi_esp_boot", Personality::KvmGuest, Firmware::Uefi)
        .disk(DiskSpec::virtio_blk("espa", "espa", Bytes(128 * MIB)).with_esp())
        .disk(DiskSpec::virtio_blk("espb", "espb", Bytes(128 * MIB)).with_esp());
    spec.extra_append = "dmclass.vmtest=uki".into();
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    eprintln!("UEFI boot from the ESP of espa: {:?}", vm.boot_time());
    let cmdline = std::fs::read_to_string(vm.log_dir().join("qemu.cmdline")).unwrap_or_default();
    vm.check(
        !cmdline.contains("'-kernel'") && cmdline.contains("bootindex=1"),
        "QEMU starts without -kernel, the disks have boot indexes",
        None,
    );
    vm.sh_contains("[ -d /sys/firmware/efi ] && echo uefi || echo bios", "uefi");
    // The command line came from the image's .cmdline section.
    vm.sh_contains("cat /proc/cmdline", "dmclass.vmtest=uki");
    let esp = "udevadm settle; udevadm info --query=property /dev/disk/by-id/virtio-espa-part1";
    vm.sh_contains(esp, "ID_FS_TYPE=vfat");
    vm.sh_contains(
        esp,
        "ID_PART_ENTRY_TYPE=c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
    );
    check_probe(&mut vm);
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    // Only the second disk: the firmware finds its ESP.
    vm.start_with_only(&["espb"])
        .unwrap_or_else(|e| panic!("boot from espb alone: {e}"));
    eprintln!("UEFI boot from the ESP of espb alone: {:?}", vm.boot_time());
    vm.sh_contains("ls /dev/disk/by-id/", "virtio-espb-part1");
    vm.sh_contains("cat /proc/cmdline", "dmclass.vmtest=uki");
}

/// OVMF boots the disk's ESP and the initramfs hands over to an ext4 root file system
/// on the same disk (`switch_root`): `/` is the disk's second partition, and what is
/// written to it is there after a power cut. The ground of the root class's scenarios,
/// whose root is a dmclass volume instead.
pub fn uefi_boots_a_root_file_system_on_disk() {
    let spec = VmSpec::new("uefi_root_boot", Personality::KvmGuest, Firmware::Uefi)
        .disk(DiskSpec::virtio_blk("sysa", "sysa", Bytes(256 * MIB)).with_root());
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    eprintln!(
        "UEFI boot into the disk's root file system: {:?}",
        vm.boot_time()
    );
    vm.sh_contains("cat /etc/dmclass-vm-realroot", "root file system");
    let root = vm.sh("awk '$2 == \"/\" {print $1, $3}' /proc/mounts");
    vm.check(
        root.stdout.contains("ext4") && !root.stdout.contains("rootfs"),
        "/ is the ext4 file system on the disk",
        Some(&root),
    );
    vm.sh_contains(
        "udevadm settle; readlink -f /dev/disk/by-partlabel/vmroot",
        "/dev/vda2",
    );
    vm.sh("echo kept-across-power-cut > /root/mark && sync");
    vm.power_cut().unwrap_or_else(|e| panic!("power cut: {e}"));
    vm.start().unwrap_or_else(|e| panic!("boot again: {e}"));
    vm.sh_contains("cat /root/mark", "kept-across-power-cut");
}
