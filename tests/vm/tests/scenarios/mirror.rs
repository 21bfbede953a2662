//! Mirrored volumes end to end (docs/cli.md, docs/testing.md): `dmclass apply` builds them on the
//! disks the harness attached, data is written and checksummed, legs are taken away
//! (hot-unplug), the machine loses power or reboots, and `dmclass activate` assembles
//! everything again from the on-disk metadata alone.
//!
//! Run one: `make vm-test-one SCENARIO=kvm_raid1_degraded_both_ways`.

use crate::common::dmclass::{
    apply, check_and_apply, class_yaml, disk_by_path, disk_by_wwn, dm_name, dm_table, dmclass,
    dmclass_ok, host_disk_sums, leg_sums, mirror_legs, plan_actions, put_config, raid_health,
    raid_legs, read_sum, rimage_name, single_target, status, vol_path, volume_status, wait_synced,
    warns_degraded, write_and_verify,
};
use crate::common::{by_id, wait_exists, wait_gone, MIB};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use std::time::Duration;

const SYNC_TIMEOUT: Duration = Duration::from_secs(240);

/// Every leg of a synced mirror holds the same first `mib` MiB, equal to `sum`.
fn check_legs(vm: &mut Vm, class: &str, volume: &str, mib: u64, legs: usize, sum: &str) {
    let sums = leg_sums(vm, class, volume, mib);
    vm.check_eq(
        &format!("number of legs of {class}/{volume}"),
        &legs,
        &sums.len(),
        None,
    );
    for (i, s) in sums.iter().enumerate() {
        vm.check_eq(
            &format!("checksum of leg {i} of {class}/{volume}"),
            sum,
            s.as_str(),
            None,
        );
    }
}

/// `dmclass deactivate CLASS`; the volume's devices go away.
fn deactivate(vm: &mut Vm, class: &str, volume: &str) {
    dmclass_ok(vm, &format!("deactivate {class}"));
    vm.sh(&format!(
        "{} && {}",
        wait_gone(&vol_path(class, volume)),
        wait_gone(&format!("/dev/mapper/{}", dm_name(class, volume)))
    ));
}

pub fn kvm_raid1_degraded_both_ways() {
    let spec = VmSpec::new("kvm_raid1_degraded", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("m1a", "m1a", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi("m1b", "m1b", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let disks = vm.spec().disks.clone();
    let yaml = class_yaml(
        &vm,
        "m1",
        &[
            disk_by_path(&vm, "a", &disks[0], ""),
            disk_by_path(&vm, "b", &disks[1], ""),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &["{name: vol1, on: g1, size: 128MiB}"],
    );
    put_config(&mut vm, "/root/m1.yaml", &yaml);
    check_and_apply(&mut vm, "/root/m1.yaml");
    let dev = vol_path("m1", "vol1");
    let dm = dm_name("m1", "vol1");
    vm.sh(&wait_exists(&dev));
    // the link came from the import file dmclass left (no udev-import exec), and udev
    // recorded the properties
    let out = vm.sh(&format!(
        "cat /run/dmclass/udev/{dm}; udevadm info --query=property --name=/dev/mapper/{dm} | grep ^DMCLASS_"
    ));
    vm.check(
        out.stdout.matches("DMCLASS_CLASS=m1").count() == 2
            && out.stdout.matches("DMCLASS_VOLUME=vol1").count() == 2,
        "import file and udev database agree on class and volume",
        Some(&out),
    );
    let sum = write_and_verify(&mut vm, &dev, 64, "m1");
    wait_synced(&mut vm, "m1", SYNC_TIMEOUT);
    let (health, out) = raid_health(&mut vm, &dm);
    vm.check_eq("raid health after sync", "AA", health.as_str(), Some(&out));
    check_legs(&mut vm, "m1", "vol1", 64, 2, &sum);
    deactivate(&mut vm, "m1", "vol1");

    // each leg alone carries the volume
    for (gone, gone_name, kept_name) in [(&disks[0], "a", "b"), (&disks[1], "b", "a")] {
        let link = by_id(&vm, gone);
        vm.unplug(&gone.id)
            .unwrap_or_else(|e| vm.fail(&format!("unplug {}: {e}", gone.id), None));
        vm.sh(&wait_gone(&link));
        let out = dmclass_ok(&mut vm, "activate m1");
        vm.check(
            warns_degraded(&out),
            &format!("`activate` without disk {gone_name} warns that the volume is degraded"),
            Some(&out),
        );
        vm.sh(&wait_exists(&dev));
        let (vol, out) = volume_status(&mut vm, "m1", "vol1");
        vm.check_eq(
            "degraded volume state",
            "ACTIVE",
            vol.state.as_str(),
            Some(&out),
        );
        let missing = vol.slice(gone_name).map(|s| s.state.clone());
        vm.check(
            missing.as_deref().is_some_and(|s| s != "ACTIVE"),
            &format!("slice on missing disk {gone_name} is shown and not ACTIVE ({missing:?})"),
            Some(&out),
        );
        let kept = vol.slice(kept_name).map(|s| s.state.clone());
        vm.check_eq(
            &format!("slice on present disk {kept_name}"),
            &Some("ACTIVE".to_string()),
            &kept,
            Some(&out),
        );
        let back = read_sum(&mut vm, &dev, 64);
        vm.check_eq(
            &format!("checksum with disk {gone_name} missing"),
            &sum,
            &back,
            None,
        );
        deactivate(&mut vm, "m1", "vol1");
        vm.plug(&gone.id)
            .unwrap_or_else(|e| vm.fail(&format!("plug {}: {e}", gone.id), None));
        vm.sh(&wait_exists(&link));
    }

    // both back: a clean assembly that resyncs to two equal legs
    dmclass_ok(&mut vm, "activate m1");
    vm.sh(&wait_exists(&dev));
    wait_synced(&mut vm, "m1", SYNC_TIMEOUT);
    let (health, out) = raid_health(&mut vm, &dm);
    vm.check_eq(
        "raid health after replug",
        "AA",
        health.as_str(),
        Some(&out),
    );
    let back = read_sum(&mut vm, &dev, 64);
    vm.check_eq("checksum after resync", &sum, &back, None);
    check_legs(&mut vm, "m1", "vol1", 64, 2, &sum);
}

pub fn vmware_layouts() {
    let rdm = |id: &str, n: u64| DiskSpec::rdm(id, id, 0x6000_00e0_0d28_0100 + n, Bytes(160 * MIB));
    let vmdk = |id: &str, mib: u64| DiskSpec::vmdk(id, id, Bytes(mib * MIB));
    let spec = VmSpec::new("vmware_layouts", Personality::VmwareGuest, Firmware::Uefi)
        .memory_mib(768)
        .disk(vmdk("vw1", 224))
        .disk(DiskSpec::rdm(
            "vwr1",
            "vwr1",
            0x6000_00e0_0d28_0101,
            Bytes(224 * MIB),
        ))
        .disk(vmdk("vw2", 160))
        .disk(vmdk("vw3", 160))
        .disk(vmdk("vw4", 160))
        .disk(vmdk("vw5", 160))
        .disk(rdm("vwr2", 2))
        .disk(vmdk("vw6", 128))
        .disk(vmdk("vw7", 128))
        .disk(vmdk("vw8", 128))
        .disk(vmdk("vw9", 128));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let disks = vec![
        disk_by_path(&vm, "v1", &d[0], ""),
        disk_by_wwn(&vm, "r1", &d[1]),
        disk_by_path(&vm, "v2", &d[2], ""),
        disk_by_path(&vm, "v3", &d[3], ""),
        disk_by_path(&vm, "v4", &d[4], ""),
        disk_by_path(&vm, "v5", &d[5], ""),
        disk_by_path(&vm, "r2", &d[6], ""),
        disk_by_path(&vm, "v6", &d[7], ""),
        disk_by_path(&vm, "v7", &d[8], ""),
        disk_by_path(&vm, "v8", &d[9], ""),
        disk_by_path(&vm, "v9", &d[10], ""),
    ];
    let yaml = class_yaml(
        &vm,
        "vw",
        &disks,
        &[
            "{name: g1, type: mirror, members: [v1, r1]}",
            "{name: g3, type: mirror, members: [v2, v3, v4]}",
            "{name: st, type: stripe, members: [v5, r2], stripe_size: 64KiB}",
            "{name: ca, type: concat, members: [v6, v7]}",
            "{name: cb, type: concat, members: [v8, v9]}",
            "{name: mc, type: mirror, members: [ca, cb]}",
        ],
        &[
            "{name: two, on: g1, size: 64MiB}",
            "{name: dmm, on: g1, size: 64MiB, engine: mirror}",
            "{name: three, on: g3, size: 64MiB}",
            "{name: fast, on: st, size: 64MiB}",
            "{name: cat, on: mc, size: 128MiB}",
        ],
    );
    put_config(&mut vm, "/root/vw.yaml", &yaml);
    check_and_apply(&mut vm, "/root/vw.yaml");

    // (volume, MiB written, expected top target, legs)
    let layout: [(&str, u64, &str, usize); 5] = [
        ("two", 64, "raid", 2),
        ("dmm", 64, "mirror", 2),
        ("three", 64, "raid", 3),
        ("fast", 64, "striped", 0),
        ("cat", 128, "raid", 2),
    ];
    let mut sums = Vec::new();
    for (vol, mib, target, legs) in layout {
        let dev = vol_path("vw", vol);
        sums.push(write_and_verify(&mut vm, &dev, mib, vol));
        let name = dm_name("vw", vol);
        let (t, args, out) = single_target(&mut vm, &name);
        vm.check_eq(
            &format!("top target of {vol}"),
            target,
            t.as_str(),
            Some(&out),
        );
        let n = match target {
            "raid" => {
                vm.check_eq(
                    &format!("raid level of {vol}"),
                    "raid1",
                    args[0].as_str(),
                    Some(&out),
                );
                raid_legs(&args)
            }
            "mirror" => mirror_legs(&args),
            _ => args.first().and_then(|a| a.parse().ok()),
        };
        let want = if target == "striped" { 2 } else { legs };
        vm.check_eq(
            &format!("legs/stripes of {vol}"),
            &Some(want),
            &n,
            Some(&out),
        );
    }
    // the concat legs: linear segments on two disks each
    for leg in 0..2 {
        let (lines, out) = dm_table(&mut vm, &rimage_name("vw", "cat", leg));
        let linear = lines.iter().filter(|(t, _)| t == "linear").count();
        let devs: std::collections::BTreeSet<_> = lines
            .iter()
            .filter_map(|(_, a)| a.first().cloned())
            .collect();
        vm.check(
            linear == lines.len() && linear >= 2 && devs.len() >= 2,
            &format!("leg {leg} of vw/cat is linear segments on two disks"),
            Some(&out),
        );
    }
    let vols = wait_synced(&mut vm, "vw", SYNC_TIMEOUT);
    vm.check_eq("volumes in status", &5, &vols.len(), None);
    for ((vol, mib, _, legs), sum) in layout.iter().zip(&sums) {
        let back = read_sum(&mut vm, &vol_path("vw", vol), *mib);
        vm.check_eq(&format!("checksum of {vol} after sync"), sum, &back, None);
        if *legs > 0 {
            check_legs(&mut vm, "vw", vol, *mib, *legs, sum);
        }
    }
    // stopped and started again from the disks: five stacks built side by side
    dmclass_ok(&mut vm, "deactivate vw");
    vm.sh(&wait_gone(&vol_path("vw", "two")));
    let out = dmclass_ok(&mut vm, "-v activate vw");
    vm.check(
        out.stdout.contains("5 started"),
        "activate starts the five volumes",
        Some(&out),
    );
    for ((vol, mib, _, _), sum) in layout.iter().zip(&sums) {
        let dev = vol_path("vw", vol);
        vm.sh(&wait_exists(&dev));
        let back = read_sum(&mut vm, &dev, *mib);
        vm.check_eq(
            &format!("checksum of {vol} after activate"),
            sum,
            &back,
            None,
        );
    }
}

pub fn power_cut_after_apply() {
    let spec = VmSpec::new(
        "power_cut_after_apply",
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(DiskSpec::virtio_blk("pca", "pca", Bytes(256 * MIB)))
    .disk(DiskSpec::virtio_scsi("pcb", "pcb", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let yaml = class_yaml(
        &vm,
        "pc",
        &[
            disk_by_path(&vm, "a", &d[0], ""),
            disk_by_path(&vm, "b", &d[1], ""),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &["{name: v1, on: g1, size: 128MiB}"],
    );
    put_config(&mut vm, "/root/pc.yaml", &yaml);
    let dev = vol_path("pc", "v1");
    // 1: the cut right after apply returned (resync running, nothing synced by hand)
    check_and_apply(&mut vm, "/root/pc.yaml");
    let cut_and_activate = |vm: &mut Vm, when: &str| {
        vm.power_cut()
            .unwrap_or_else(|e| vm.fail(&format!("power cut {when}: {e}"), None));
        vm.start()
            .unwrap_or_else(|e| vm.fail(&format!("boot after power cut {when}: {e}"), None));
        dmclass_ok(vm, "activate --all");
        vm.sh(&wait_exists(&dev));
        let (v, out) = volume_status(vm, "pc", "v1");
        vm.check_eq(
            &format!("volume state after power cut {when}"),
            "ACTIVE",
            v.state.as_str(),
            Some(&out),
        );
    };
    cut_and_activate(&mut vm, "after apply");
    // 2: data written and synced, then the cut
    let sum = write_and_verify(&mut vm, &dev, 64, "pc");
    vm.sh("sync");
    cut_and_activate(&mut vm, "after a synced write");
    let back = read_sum(&mut vm, &dev, 64);
    vm.check_eq("checksum after power cut", &sum, &back, None);
    wait_synced(&mut vm, "pc", SYNC_TIMEOUT);
    check_legs(&mut vm, "pc", "v1", 64, 2, &sum);
    vm.check_eq("boots", &3, &vm.boots(), None);
}

pub fn ext4_fsck_after_reboot() {
    let spec = VmSpec::new(
        "ext4_fsck_after_reboot",
        Personality::KvmGuest,
        Firmware::Uefi,
    )
    .disk(DiskSpec::virtio_blk("e4a", "e4a", Bytes(256 * MIB)))
    .disk(DiskSpec::virtio_blk("e4b", "e4b", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let yaml = class_yaml(
        &vm,
        "e4",
        &[
            disk_by_path(&vm, "a", &d[0], ""),
            disk_by_path(&vm, "b", &d[1], ""),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &["{name: fs, on: g1, size: 128MiB, jrm: true}"],
    );
    put_config(&mut vm, "/root/e4.yaml", &yaml);
    check_and_apply(&mut vm, "/root/e4.yaml");
    let dev = vol_path("e4", "fs");
    let files = vm.sh(&format!(
        "set -e; {w}
         mkfs.ext4 -q -F {dev}
         mkdir -p /mnt/e4; mount {dev} /mnt/e4; mkdir /mnt/e4/sub
         for i in $(seq 1 12); do
           dd if=/dev/urandom of=/mnt/e4/f$i bs=64k count=$((i * 4)) 2>/dev/null
           dd if=/dev/urandom of=/mnt/e4/sub/g$i bs=4k count=$i 2>/dev/null
         done
         cd /mnt/e4 && sha256sum f* sub/* | sort -k2",
        w = wait_exists(&dev)
    ));
    vm.check_eq(
        "files written",
        &24,
        &files.stdout.lines().count(),
        Some(&files),
    );
    // sync, power off, boot on the same disks; the file system stays mounted till the end
    vm.reboot()
        .unwrap_or_else(|e| vm.fail(&format!("reboot: {e}"), None));
    dmclass_ok(&mut vm, "activate --all");
    let after = vm.sh(&format!(
        "set -e; {w}
         mkdir -p /mnt/e4; mount {dev} /mnt/e4
         cd /mnt/e4 && sha256sum f* sub/* | sort -k2",
        w = wait_exists(&dev)
    ));
    vm.check_eq(
        "file checksums after reboot",
        &files.stdout,
        &after.stdout,
        Some(&after),
    );
    vm.sh(&format!("umount /mnt/e4 && fsck.ext4 -f -n {dev}"));
    let (v, out) = volume_status(&mut vm, "e4", "fs");
    vm.check_eq(
        "volume state after reboot",
        "ACTIVE",
        v.state.as_str(),
        Some(&out),
    );
}

/// All `dmsetup table` lines of the dmclass devices, sorted.
fn all_tables(vm: &mut Vm) -> String {
    vm.sh("dmsetup table | grep '^dmclass-' | sort").stdout
}

pub fn idempotent_apply() {
    let spec = VmSpec::new("idempotent_apply", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("ida", "ida", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi("idb", "idb", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let yaml = class_yaml(
        &vm,
        "idem",
        &[
            disk_by_path(&vm, "a", &d[0], ""),
            disk_by_path(&vm, "b", &d[1], ""),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &[
            "{name: v1, on: g1, size: 64MiB, jrm: true}",
            "{name: v2, on: g1, size: 32MiB, engine: mirror}",
        ],
    );
    put_config(&mut vm, "/root/idem.yaml", &yaml);
    check_and_apply(&mut vm, "/root/idem.yaml");
    vm.sh(&format!(
        "{} && {}",
        wait_exists(&vol_path("idem", "v1")),
        wait_exists(&vol_path("idem", "v2"))
    ));
    let tables = all_tables(&mut vm);

    let check_noop = |vm: &mut Vm, file: &str, what: &str| {
        let out = apply(vm, file);
        vm.check(
            out.stdout.contains("nothing to do"),
            &format!("{what}: second apply prints \"nothing to do\""),
            Some(&out),
        );
        let (plan, out) = plan_actions(vm, file);
        vm.check(
            !plan.is_empty() && plan.iter().all(|(_, n)| *n == 0),
            &format!("{what}: plan --json has no actions ({plan:?})"),
            Some(&out),
        );
        let now = all_tables(vm);
        vm.check_eq(&format!("{what}: dm tables unchanged"), &tables, &now, None);
    };
    check_noop(&mut vm, "/root/idem.yaml", "same file");
    let export = dmclass_ok(&mut vm, "export idem");
    put_config(&mut vm, "/root/export.yaml", &export.stdout);
    check_noop(&mut vm, "/root/export.yaml", "exported file");
    // the disks are held by the class's own volumes only: still fine to check
    dmclass_ok(&mut vm, "check /root/idem.yaml");
}

pub fn refused_apply_changes_nothing() {
    let spec = VmSpec::new("refused_apply", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("rfa", "rfa", Bytes(128 * MIB)))
        .disk(DiskSpec::virtio_scsi("rfb", "rfb", Bytes(128 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let (a, b) = (by_id(&vm, &d[0]), by_id(&vm, &d[1]));
    vm.sh(&format!(
        "set -e; {} && {}; dd if=/dev/urandom of={a} bs=1M count=4 oflag=direct 2>/dev/null
         mkfs.ext4 -q -F {b}; sync",
        wait_exists(&a),
        wait_exists(&b)
    ));
    let guest_sums = |vm: &mut Vm| {
        vm.sh(&format!(
            "set -e -o pipefail; sync
             for d in {a} {b}; do dd if=$d bs=1M iflag=direct 2>/dev/null | dmclass-vm-sum; done"
        ))
        .stdout
    };
    let before = (guest_sums(&mut vm), host_disk_sums(&vm));
    let config = |vm: &Vm, wipe: &str| {
        class_yaml(
            vm,
            "rf",
            &[
                disk_by_path(vm, "a", &d[0], ""),
                disk_by_path(vm, "b", &d[1], wipe),
            ],
            &["{name: g1, type: mirror, members: [a, b]}"],
            &["{name: v1, on: g1, size: 32MiB}"],
        )
    };
    let yaml = config(&vm, "");
    put_config(&mut vm, "/root/rf.yaml", &yaml);
    let out = dmclass(&mut vm, "apply /root/rf.yaml --yes");
    vm.check_eq(
        "exit status of a refused apply",
        &1,
        &out.status,
        Some(&out),
    );
    vm.check(
        out.stderr.contains("ext4"),
        "stderr names the ext4 signature that stopped the apply",
        Some(&out),
    );
    let after = (guest_sums(&mut vm), host_disk_sums(&vm));
    vm.check_eq(
        "disk checksums after a refused apply",
        &before,
        &after,
        Some(&out),
    );
    let dm = vm.sh("dmsetup ls; if [ -e /dev/dmclass/rf ]; then echo LINK-PRESENT; fi");
    vm.check(
        !dm.stdout.contains("dmclass-") && !dm.stdout.contains("LINK-PRESENT"),
        "no dm device and no /dev/dmclass entry after a refused apply",
        Some(&dm),
    );
    // with `wipe: true` the same layout goes through
    let yaml = config(&vm, ", wipe: true");
    put_config(&mut vm, "/root/rf.yaml", &yaml);
    apply(&mut vm, "/root/rf.yaml");
    vm.sh(&wait_exists(&vol_path("rf", "v1")));
    let (vols, out) = status(&mut vm, Some("rf"));
    vm.check(
        vols.iter().any(|v| v.name == "v1" && v.state == "ACTIVE"),
        "v1 ACTIVE after apply with wipe: true",
        Some(&out),
    );
}
