//! Root class scenarios of life after the conversion (docs/root-class.md): a kernel
//! update reaching every ESP, undoing the class, replacing a dead disk.

use crate::common::by_id;
use crate::common::dmclass::{dmclass_ok, volume_status, wait_synced};
use crate::root::{check_root_on_volume, convert, kvm_host_system, root_device, sums};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Vm};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

/// `dmclass esp sync --json` in the guest, parsed (schema checked).
fn esp_sync(vm: &mut Vm, args: &str) -> serde_json::Value {
    let out = dmclass_ok(vm, &format!("esp sync --json {args}"));
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| vm.fail(&format!("esp sync --json is not JSON: {e}"), Some(&out)));
    vm.check(
        doc["schema"] == "dmclass-esp/1",
        "esp sync --json names its schema",
        Some(&out),
    );
    doc
}

/// The state `esp sync` reported for disk `disk` of the first class.
fn esp_state(doc: &serde_json::Value, disk: &str) -> String {
    doc["classes"][0]["esps"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["disk"] == disk))
        .and_then(|e| e["state"].as_str())
        .unwrap_or("absent")
        .to_string()
}

/// A kernel update on the running system (a new unified kernel image written to the
/// ESP mounted at /boot/efi, an old file removed) reaches the other disk's ESP through
/// the kernel hook the package installs; each disk gets a UEFI boot entry; then each
/// disk alone boots the new image.
pub fn root_kernel_update_reaches_every_esp() {
    let spec = kvm_host_system("root_kernel_update_every_esp");
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let Some(digit) = vm.uki_generation_offset() else {
        vm.fail("the UKI on the ESP has no generation mark", None);
    };
    let c = convert(&mut vm, "kvm-host");
    vm.sh_contains("cat /proc/cmdline", "dmclass.vmtest.uki=1");
    // The system's ESP, as /etc/fstab would mount it.
    vm.sh(&format!(
        "mkdir -p /boot/efi /mnt/b && mount -t vfat {}-part1 /boot/efi",
        c.a_id
    ));
    let doc = esp_sync(&mut vm, "--dry-run");
    vm.check_eq(
        "right after the conversion the ESPs hold the same files",
        "equal",
        esp_state(&doc, "sys2").as_str(),
        None,
    );
    vm.check(
        doc["classes"][0]["boot_entries"]["state"] == "would_register",
        "a dry run only says which boot entries it would register",
        None,
    );
    // An old kernel, synced first; the update removes it.
    vm.sh("echo old > /boot/efi/EFI/old-kernel.efi && sync");
    let hook = vm.sh("/etc/kernel/postinst.d/zzz-dmclass 6.1.0-old /boot/vmlinuz-6.1.0-old");
    vm.check(
        !hook.stderr.contains("WARNING"),
        "the kernel hook syncs without a warning",
        Some(&hook),
    );
    // The update: a new UKI (generation 2) over the boot path, the old file gone.
    vm.sh(&format!(
        "cp /boot/efi/EFI/BOOT/BOOTX64.EFI /root/new.efi && \
         printf 2 | dd of=/root/new.efi bs=1 seek={digit} conv=notrunc 2>/dev/null && \
         cp /root/new.efi /boot/efi/EFI/BOOT/BOOTX64.EFI && rm /boot/efi/EFI/old-kernel.efi && sync"
    ));
    let t = Instant::now();
    let hook = vm.sh("/etc/kernel/postinst.d/zzz-dmclass 6.1.0-new /boot/vmlinuz-6.1.0-new");
    eprintln!("kernel hook (esp sync of a new UKI): {:?}", t.elapsed());
    vm.check(
        !hook.stderr.contains("WARNING"),
        "the kernel hook syncs the update without a warning",
        Some(&hook),
    );
    let new = vm.sh("md5sum < /root/new.efi").stdout;
    vm.sh(&format!("mount -t vfat -o ro {}-part1 /mnt/b", c.b_id));
    let on_b = vm.sh("md5sum < /mnt/b/EFI/BOOT/BOOTX64.EFI").stdout;
    vm.check_eq("sysb's ESP has the new kernel image", &new, &on_b, None);
    let old = vm.run("ls /mnt/b/EFI/old-kernel.efi").map(|o| o.status);
    vm.check(
        matches!(old, Ok(s) if s != 0),
        "the old file removed from /boot/efi is gone from sysb's ESP too",
        None,
    );
    let b_part = vm
        .sh(&format!("blkid -s PARTUUID -o value {}-part1", c.b_id))
        .stdout
        .trim()
        .to_lowercase();
    vm.sh("umount /mnt/b");
    // One boot entry per disk, naming each ESP's partition.
    let entries = vm.sh("efibootmgr -v").stdout.to_lowercase();
    vm.check(
        entries.contains("dmclass sys/sys1")
            && entries.contains("dmclass sys/sys2")
            && !b_part.is_empty()
            && entries.contains(&b_part),
        "efibootmgr lists an entry for each disk, sys2's on its ESP partition",
        None,
    );
    let doc = esp_sync(&mut vm, "");
    vm.check(
        esp_state(&doc, "sys2") == "equal"
            && doc["classes"][0]["boot_entries"]["state"] == "unchanged",
        "a second sync finds nothing to do",
        None,
    );
    // Each disk alone boots the new image, with the root intact.
    vm.sh("umount /boot/efi && sync");
    for only in ["sysb", "sysa"] {
        vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
        vm.start_with_only(&[only])
            .unwrap_or_else(|e| panic!("boot from {only} alone: {e}"));
        vm.sh_contains("cat /proc/cmdline", "dmclass.vmtest.uki=2");
        check_root_on_volume(&mut vm, &format!("booted from {only} alone"));
        let now = sums(&mut vm, &["d1"]);
        vm.check_eq(&format!("data on {only} alone"), &c.before, &now, None);
    }
}

/// `dmclass root undo`: recorded while the system runs on the class, carried out by
/// the initramfs at the next boot; the machine then boots from the kept disk's own
/// partition with every file, the other disk's copy wiped; the kept disk alone boots.
pub fn root_undo_returns_to_a_plain_boot() {
    let spec = kvm_host_system("root_undo_plain_boot");
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let c = convert(&mut vm, "kvm-host");
    let undo = dmclass_ok(&mut vm, "root undo sys --yes");
    vm.check(
        undo.stdout.contains("reboot to finish"),
        "root undo records the request and says a reboot finishes it",
        Some(&undo),
    );
    vm.sh_contains("dmclass status", "undo recorded");
    vm.sh_contains("dmclass status --json", "\"undo_pending\": \"sys1\"");
    // Still on the class until the reboot: a write now must survive the undo.
    vm.sh("dd if=/dev/urandom of=/root/d2 bs=1M count=2 2>/dev/null && sync");
    let both = sums(&mut vm, &["d1", "d2"]);
    vm.check(both.contains(c.before.trim()), "d1 unchanged", None);
    vm.reboot()
        .unwrap_or_else(|e| panic!("reboot after root undo: {e}"));
    let console = std::fs::read_to_string(vm.console_log()).unwrap_or_default();
    vm.check(
        console.contains("undone: the machine boots from disk sys1"),
        "the initramfs took the class apart",
        None,
    );
    let check_plain = |vm: &mut Vm, what: &str| {
        let dev = root_device(vm);
        let part = vm
            .sh(&format!("readlink -f {}-part2", c.a_id))
            .stdout
            .trim()
            .to_string();
        vm.check(
            !dev.is_empty() && dev == part,
            &format!("{what}: / is mounted from sysa's own partition ({dev} vs {part})"),
            None,
        );
        let dm = vm.sh("dmsetup ls").stdout;
        vm.check(
            !dm.contains("dmclass"),
            &format!("{what}: no dmclass device"),
            None,
        );
        let now = sums(vm, &["d1", "d2"]);
        vm.check_eq(&format!("{what}: every file"), &both, &now, None);
    };
    check_plain(&mut vm, "after the undo");
    let zeros = vm
        .sh("dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum")
        .stdout;
    let b_head = vm
        .sh(&format!(
            "dd if={} bs=1M count=1 2>/dev/null | md5sum",
            c.b_id
        ))
        .stdout;
    vm.check_eq("sysb's partition table is gone", &zeros, &b_head, None);
    let b_probe = vm.run(&format!("blkid -p {}", c.b_id)).map(|o| o.status);
    vm.check(
        matches!(b_probe, Ok(s) if s != 0),
        "blkid finds no signature on sysb",
        None,
    );
    let p3 = vm.run(&format!("ls {}-part3", c.a_id)).map(|o| o.status);
    vm.check(
        matches!(p3, Ok(s) if s != 0),
        "sysa has no dmclass partition any more",
        None,
    );
    vm.sh_contains("dmclass status", "no dmclass class found");
    // The kept disk alone boots as before the conversion.
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start_with_only(&["sysa"])
        .unwrap_or_else(|e| panic!("boot from sysa alone: {e}"));
    check_plain(&mut vm, "sysa alone");
}

/// Disk B dies; a blank disk C takes its place (the YAML names C for disk sys2):
/// `apply` partitions it like A, copies the ESP, and the running class rebuilds every
/// slice onto it at once; `esp sync` registers its boot entry; then C alone boots.
pub fn root_replace_dead_disk() {
    let spec = kvm_host_system("root_replace_dead_disk").disk(DiskSpec::nvme(
        "sysc",
        "sysc",
        Bytes(256 * MIB),
    ));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let c = convert(&mut vm, "kvm-host");
    vm.sh("dd if=/dev/urandom of=/root/d2 bs=1M count=2 2>/dev/null && sync");
    let both = sums(&mut vm, &["d1", "d2"]);
    // B is dead: the machine boots degraded from A, with the blank C attached.
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start_with_only(&["sysa", "sysc"])
        .unwrap_or_else(|e| panic!("boot without sysb: {e}"));
    check_root_on_volume(&mut vm, "booted without sysb");
    let sysc = vm.spec().disks[2].clone();
    let c_id = by_id(&vm, &sysc);
    vm.sh(&format!("sed -i 's#{}#{c_id}#' /root/sys.yaml", c.b_id));
    let plan = dmclass_ok(&mut vm, "plan /root/sys.yaml");
    vm.check(
        plan.stdout.contains("replacing disk(s) sys2")
            && plan.stdout.contains("write_partition_table")
            && plan.stdout.contains("write_metadata"),
        "the plan replaces sys2: partition table, ESP, private area, metadata",
        Some(&plan),
    );
    let applied = dmclass_ok(&mut vm, "apply --yes /root/sys.yaml");
    vm.check(
        applied.stdout.contains("re-adding disk sys2"),
        "apply takes the new disk into the running class",
        Some(&applied),
    );
    let t = Instant::now();
    wait_synced(&mut vm, "sys", Duration::from_secs(300));
    eprintln!(
        "rebuild of the root volume onto the new disk: {:?}",
        t.elapsed()
    );
    let (v, out) = volume_status(&mut vm, "sys", "root");
    vm.check(
        v.slice("sys2").is_some_and(|s| s.state == "ACTIVE"),
        "sys2 (the new disk) is ACTIVE after the rebuild",
        Some(&out),
    );
    vm.sh(&format!(
        "mkdir -p /boot/efi && mount -t vfat {}-part1 /boot/efi",
        c.a_id
    ));
    let doc = esp_sync(&mut vm, "");
    vm.check(
        doc["classes"][0]["boot_entries"]["entries"]
            .as_array()
            .is_some_and(|e| e.iter().all(|x| x["entry"].is_string())),
        "esp sync registers a boot entry for every disk, the new one included",
        None,
    );
    vm.sh("umount /boot/efi && sync");
    // The new disk alone boots, with every file.
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start_with_only(&["sysc"])
        .unwrap_or_else(|e| panic!("boot from sysc alone: {e}"));
    check_root_on_volume(&mut vm, "booted from the new disk alone");
    let now = sums(&mut vm, &["d1", "d2"]);
    vm.check_eq("the new disk alone has every file", &both, &now, None);
}
