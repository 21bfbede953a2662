//! Boot environments of a root class (docs/boot-environments.md): a KVM host booting
//! by UEFI (OVMF, its variables kept across boots) from a converted root class with a
//! third disk as the boot-environment group. The environment is created from the
//! running system, booted once, changed, left for the untouched original, made the
//! default, and removed from the original again.

use crate::common::dmclass::{dmclass, dmclass_ok, dmclass_stopped_at, wait_synced};
use crate::root::{convert_with, root_device, sums};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use serde_json::Value;
use std::time::Duration;

const MIB: u64 = 1 << 20;

/// The files checked at every boot: data from before the conversion, a package-like
/// file the "upgrade" changes, and fstab.
const FILES: [&str; 3] = ["d1", "pkg/version", "fstab"];

fn list(vm: &mut Vm) -> (Value, String) {
    let out = dmclass_ok(vm, "bootenv list --json");
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| vm.fail(&format!("bootenv list --json: {e}"), Some(&out)));
    (v, out.stdout)
}

fn env<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["environments"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// Which environment runs: `/`'s device and the list's `running`, which must agree.
fn running(vm: &mut Vm) -> String {
    let dev = root_device(vm);
    let (doc, text) = list(vm);
    let name = doc["running"].as_str().unwrap_or("").to_string();
    let want = match name.as_str() {
        "primary" => "/dev/dmclass/sys/root",
        "upgrade" => "/dev/dmclass/sys/upgrade-root",
        _ => "?",
    };
    let path = vm
        .sh(&format!("readlink -f {want}"))
        .stdout
        .trim()
        .to_string();
    vm.check(
        dev == path,
        &format!("/ is mounted from {want} ({dev} vs {path}) when running {name}"),
        None,
    );
    eprintln!("running {name}: {}", text.lines().count());
    name
}

/// `bootenv remove upgrade`: only the primary is left.
fn remove_upgrade(vm: &mut Vm) {
    dmclass_ok(vm, "bootenv remove upgrade --yes");
    let (doc, _) = list(vm);
    vm.check(
        doc["environments"].as_array().is_some_and(|a| a.len() == 1),
        "only the primary is left",
        None,
    );
}

/// `bootenv promote upgrade --yes` from inside upgrade: recorded, its entries gone.
fn promote_recorded(vm: &mut Vm) {
    let out = dmclass_ok(vm, "bootenv promote upgrade --yes");
    vm.check(
        out.stdout.contains("recorded; reboot") && out.stdout.contains("deleted"),
        "promote is recorded; upgrade's entries are deleted",
        Some(&out),
    );
    let entries = vm.sh("efibootmgr").stdout;
    vm.check(
        !entries.contains("bootenv upgrade"),
        &format!("no entry boots upgrade: {entries}"),
        None,
    );
}

/// Neither the class (`status`) nor the firmware's entries hold anything of upgrade.
fn nothing_of_upgrade_left(vm: &mut Vm) {
    let st = dmclass_ok(vm, "status sys --json");
    vm.check(
        !st.stdout.contains("upgrade-root"),
        "nothing of upgrade is left in the class",
        Some(&st),
    );
    let entries = vm.sh("efibootmgr").stdout;
    vm.check(
        !entries.contains("bootenv upgrade"),
        &format!("no boot entry of upgrade is left: {entries}"),
        None,
    );
}

/// `/root/pkg/version` and a copy of fstab in `/root`, checksummed with `d1`.
fn state(vm: &mut Vm) -> String {
    vm.sh("cp /etc/fstab /root/fstab");
    sums(vm, &FILES)
}

/// The root class converted with the third disk as its boot-environment group; an
/// fstab naming the root by UUID (as a Debian installer writes it) and a package-like
/// file; their checksums.
fn converted(vm: &mut Vm, environment: &str) -> String {
    convert_with(vm, environment, true);
    vm.sh("u=$(blkid -s UUID -o value /dev/dmclass/sys/root) && \
         printf 'UUID=%s / ext4 errors=remount-ro 0 1\\n' \"$u\" >/etc/fstab && \
         mkdir -p /root/pkg && echo 1.0 >/root/pkg/version && sync");
    state(vm)
}

pub fn bootenv_create_boot_switch_back() {
    let spec = VmSpec::new("bootenv_switch_back", Personality::KvmHost, Firmware::Uefi)
        .disk(DiskSpec::nvme("sysa", "sysa", Bytes(256 * MIB)).with_root())
        .disk(DiskSpec::nvme("sysb", "sysb", Bytes(256 * MIB)))
        .disk(DiskSpec::nvme("envs", "envs", Bytes(256 * MIB)))
        .efi_vars();
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let original = converted(&mut vm, "kvm-host");
    let fstab = vm.sh("cat /etc/fstab").stdout;
    vm.sh("sync"); // the files were saved long before the power cut

    // A create cut by a power loss (`DMCLASS_BOOTENV_CUT=action:N`, default: the
    // second action of the join, after the proxy is recorded): the primary boots with
    // every file, and the same command finishes the environment.
    let cut = std::env::var("DMCLASS_BOOTENV_CUT").unwrap_or_else(|_| "action:2".into());
    dmclass_stopped_at(&mut vm, &cut, "bootenv create upgrade");
    vm.power_cut().unwrap_or_else(|e| panic!("power cut: {e}"));
    vm.start()
        .unwrap_or_else(|e| panic!("boot after the cut: {e}"));
    let now = running(&mut vm);
    vm.check_eq(
        &format!("after a create cut at {cut}: the primary boots"),
        "primary",
        now.as_str(),
        None,
    );
    let now = state(&mut vm);
    vm.check_eq(
        &format!("after a create cut at {cut}: every file"),
        &original,
        &now,
        None,
    );

    // Create from the running system (finishing the cut one).
    let created = dmclass_ok(&mut vm, "bootenv create upgrade");
    vm.check(
        created.stdout.contains("created")
            && created.stdout.contains("line(s) now name its own volumes"),
        "bootenv create copies, parts, rewrites the copy's fstab",
        Some(&created),
    );
    let now = state(&mut vm);
    vm.check_eq("the running system is untouched", &original, &now, None);
    let (doc, text) = list(&mut vm);
    let up = env(&doc, "upgrade").cloned().unwrap_or_default();
    vm.check(
        up["state"] == "ready"
            && up["active_now"] == false
            && env(&doc, "primary").is_some_and(|p| p["active_now"] == true)
            && up["space_bytes"].as_u64().is_some_and(|b| b >= 128 * MIB),
        "list: upgrade ready, primary running",
        None,
    );
    eprintln!("{text}");
    let refused = dmclass(&mut vm, "proxy rejoin sys/upgrade-root");
    vm.check(
        refused.status == 1 && refused.stderr.contains("bootenv remove upgrade"),
        "the environment's proxy is not rejoined by `proxy rejoin`",
        Some(&refused),
    );

    // Once into the copy.
    dmclass_ok(&mut vm, "bootenv activate upgrade --once");
    let (doc, _) = list(&mut vm);
    vm.check(
        doc["next_boot"]["environment"] == "upgrade" && doc["next_boot"]["once"] == true,
        "next boot: upgrade, once",
        None,
    );
    vm.reboot()
        .unwrap_or_else(|e| panic!("reboot into upgrade: {e}"));
    let now = running(&mut vm);
    vm.check_eq(
        "boot 1: the environment runs",
        "upgrade",
        now.as_str(),
        None,
    );
    vm.sh_contains("cat /proc/cmdline", "dmclass.root=sys/upgrade-root");
    let env_fstab = vm.sh("cat /etc/fstab").stdout;
    vm.check(
        env_fstab.starts_with("/dev/dmclass/sys/upgrade-root / ext4"),
        &format!("the copy's fstab names its own root: {env_fstab:?}"),
        None,
    );
    vm.sh("echo upgraded >/root/marker && echo 2.0 >/root/pkg/version && sync");

    // BootNext is spent: the original, untouched.
    vm.reboot().unwrap_or_else(|e| panic!("reboot back: {e}"));
    let now = running(&mut vm);
    vm.check_eq(
        "boot 2: the primary runs again",
        "primary",
        now.as_str(),
        None,
    );
    let now = state(&mut vm);
    vm.check_eq("the original's files", &original, &now, None);
    let now = vm.sh("cat /etc/fstab").stdout;
    vm.check_eq("the original's fstab", &fstab, &now, None);
    let marker = vm
        .sh("test -e /root/marker && echo present || echo absent")
        .stdout;
    vm.check_eq("no marker on the original", "absent", marker.trim(), None);

    // For good.
    dmclass_ok(&mut vm, "bootenv activate upgrade");
    for boot in 3..=4 {
        vm.reboot().unwrap_or_else(|e| panic!("boot {boot}: {e}"));
        let now = running(&mut vm);
        vm.check_eq(
            &format!("boot {boot}: upgrade stays"),
            "upgrade",
            now.as_str(),
            None,
        );
        vm.sh_contains("cat /root/marker /root/pkg/version", "2.0");
    }
    let refused = dmclass(&mut vm, "bootenv remove upgrade --yes");
    vm.check(
        refused.status == 1
            && refused
                .stderr
                .contains("runs from boot environment upgrade"),
        "the running environment is not removed",
        Some(&refused),
    );

    // Back to the primary, and the environment removed.
    dmclass_ok(&mut vm, "bootenv activate primary");
    vm.reboot().unwrap_or_else(|e| panic!("boot 5: {e}"));
    let now = running(&mut vm);
    vm.check_eq("boot 5: the primary", "primary", now.as_str(), None);
    let now = state(&mut vm);
    vm.check_eq("the original's files after all", &original, &now, None);
    // A removal cut by a power loss once the entries and the record are gone (the
    // first action of breaking the first proxy): the primary boots with every file,
    // and the same command finishes the removal from what the cut left.
    dmclass_stopped_at(&mut vm, "action:1", "bootenv remove upgrade --yes");
    vm.power_cut().unwrap_or_else(|e| panic!("power cut: {e}"));
    vm.start()
        .unwrap_or_else(|e| panic!("boot after the removal cut: {e}"));
    let now = running(&mut vm);
    vm.check_eq(
        "after a removal cut: the primary",
        "primary",
        now.as_str(),
        None,
    );
    let now = state(&mut vm);
    vm.check_eq("after a removal cut: every file", &original, &now, None);
    remove_upgrade(&mut vm);
    nothing_of_upgrade_left(&mut vm);
    wait_synced(&mut vm, "sys", Duration::from_secs(120));
}

/// An environment entry's load options as `efibootmgr -v` (version 17) prints them:
/// UCS-2 after the loader path, each character followed by a `.` for its zero byte.
fn load_options(efibootmgr_v: &str, label: &str) -> Option<String> {
    let line = efibootmgr_v.lines().find(|l| l.contains(label))?;
    let after = line.split_once("File(")?.1.split_once(')')?.1;
    let text: String = after.chars().step_by(2).collect();
    Some(text.trim_end_matches(['\0', '.']).trim().to_string())
}

/// The same under the VMware-guest personality: system disks on pvscsi (VMDK-like
/// and RDM-like), the boot-environment disk RDM-like, VMware SMBIOS (row S4). Debian's
/// OVMF cannot read pvscsi disks (no `PvScsiDxe`), so QEMU hands over the kernel
/// (as in `root_uefi_vmware_guest_boot_either_disk`); booting the environment is done
/// the way the firmware would: with the command line its boot entry carries, read
/// back from the UEFI variables. Then the primary again, untouched, and the
/// environment made the primary (`bootenv promote`).
pub fn bootenv_vmware_guest() {
    let spec = VmSpec::new("bootenv_vmware", Personality::VmwareGuest, Firmware::Uefi)
        .disk(DiskSpec::vmdk("sysa", "sysa", Bytes(256 * MIB)).with_root())
        .disk(DiskSpec::rdm(
            "sysb",
            "sysb",
            0x6000_00e0_0d28_0a5b,
            Bytes(256 * MIB),
        ))
        .disk(DiskSpec::rdm(
            "envs",
            "envs",
            0x6000_00e0_0d28_0a5c,
            Bytes(256 * MIB),
        ))
        .kernel_from_qemu()
        .efi_vars();
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let original = converted(&mut vm, "vmware-guest");
    dmclass_ok(&mut vm, "bootenv create upgrade");
    let (doc, _) = list(&mut vm);
    let ready = env(&doc, "upgrade").is_some_and(|e| e["state"] == "ready");
    vm.check(ready, "upgrade is ready", None);
    let entries = vm.sh("efibootmgr -v").stdout;
    let line = load_options(&entries, "dmclass sys bootenv upgrade (sys1)");
    let Some(line) = line.filter(|l| l.contains("root=/dev/dmclass/sys/upgrade-root")) else {
        vm.fail(
            &format!("an entry of upgrade on sys1's ESP names its root: {entries}"),
            None,
        );
    };
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start_with_cmdline(&line)
        .unwrap_or_else(|e| panic!("boot with upgrade's entry: {e}"));
    let now = running(&mut vm);
    vm.check_eq("the environment runs", "upgrade", now.as_str(), None);
    vm.sh("echo upgraded >/root/marker && echo 2.0 >/root/pkg/version && sync");
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start()
        .unwrap_or_else(|e| panic!("boot the primary: {e}"));
    let now = running(&mut vm);
    vm.check_eq("the primary again", "primary", now.as_str(), None);
    let now = state(&mut vm);
    vm.check_eq("the original's files", &original, &now, None);
    promote_upgrade(&mut vm, &line);
}

/// `bootenv promote upgrade`: refused from the primary (it would overwrite the running
/// root); from inside upgrade, recorded; the next boot of the primary takes upgrade's
/// data onto the class's own volumes in the initramfs and removes upgrade.
fn promote_upgrade(vm: &mut Vm, line: &str) {
    let refused = dmclass(vm, "bootenv promote upgrade --yes");
    vm.check(
        refused.status == 1 && refused.stderr.contains("boot into upgrade first"),
        "promote is refused while the primary runs",
        Some(&refused),
    );
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    vm.start_with_cmdline(line)
        .unwrap_or_else(|e| panic!("boot upgrade again: {e}"));
    let now = running(vm);
    vm.check_eq("upgrade runs again", "upgrade", now.as_str(), None);
    vm.sh_contains("cat /root/pkg/version", "2.0");
    vm.sh("cp /etc/fstab /root/env-fstab; echo promoted >>/root/marker && sync");
    let upgraded = sums(vm, &["d1", "pkg/version", "marker"]);
    // Recorded, taken back (the entries it deleted come back), recorded again.
    promote_recorded(vm);
    dmclass_ok(vm, "bootenv promote upgrade --cancel");
    let (doc, _) = list(vm);
    vm.check(
        env(&doc, "upgrade").is_some_and(|e| e["promote_next_boot"] == false),
        "list: the promotion is taken back",
        None,
    );
    let entries = vm.sh("efibootmgr").stdout;
    vm.check(
        entries.contains("dmclass sys bootenv upgrade (sys1)"),
        &format!("upgrade's entries are back: {entries}"),
        None,
    );
    promote_recorded(vm);
    let (doc, _) = list(vm);
    vm.check(
        env(&doc, "upgrade").is_some_and(|e| e["promote_next_boot"] == true),
        "list: upgrade to be the primary at the next boot",
        None,
    );
    vm.shutdown().unwrap_or_else(|e| panic!("shutdown: {e}"));
    let t = std::time::Instant::now();
    vm.start()
        .unwrap_or_else(|e| panic!("boot the primary to promote: {e}"));
    eprintln!(
        "bootenv promote: the boot that copied upgrade took {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // What the initramfs said while it did the work.
    let console = std::fs::read_to_string(vm.console_log()).unwrap_or_default();
    let said: Vec<&str> = console
        .lines()
        .filter(|l| l.contains("bootenv upgrade"))
        .collect();
    eprintln!("bootenv promote: the initramfs said:\n{}", said.join("\n"));
    vm.check(
        said.iter()
            .any(|l| l.contains("upgrade-root restored onto root")),
        "the initramfs restored upgrade-root onto root",
        None,
    );
    let now = running(vm);
    vm.check_eq("the primary boots", "primary", now.as_str(), None);
    let now = sums(vm, &["d1", "pkg/version", "marker"]);
    vm.check_eq("the primary holds upgrade's files", &upgraded, &now, None);
    let fstab = vm.sh("cat /etc/fstab").stdout;
    vm.check(
        fstab.starts_with("/dev/dmclass/sys/root / ext4"),
        &format!("the promoted root's fstab names the class's root: {fstab:?}"),
        None,
    );
    let (doc, _) = list(vm);
    vm.check(
        doc["environments"].as_array().is_some_and(|a| a.len() == 1),
        "upgrade is gone: only the primary is left",
        None,
    );
    nothing_of_upgrade_left(vm);
    wait_synced(vm, "sys", Duration::from_secs(120));
}
