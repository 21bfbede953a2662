//! Fault scenarios: hot-unplug and replug of disks, power cut and reboot, injected I/O
//! errors. Each asserts on data (checksums), not only on exit codes.
//!
//! Run one: `make vm-test-one SCENARIO=power_cut_keeps_synced_data`.

use crate::common::{by_id, first_word, wait_exists, wait_gone, MIB};
use dmclass_model::{Bytes, Sectors};
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, InjectedError, IoOp, Personality, VmSpec};

pub fn hotplug_unplug_replug() {
    let spec = VmSpec::new(
        "hotplug_unplug_replug",
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(DiskSpec::virtio_blk("hpblk", "hpblk", Bytes(64 * MIB)))
    .disk(DiskSpec::virtio_scsi("hpscsi", "hpscsi", Bytes(64 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let disks = vm.spec().disks.clone();
    for disk in &disks {
        let link = by_id(&vm, disk);
        let id = &disk.id;
        // known data on the disk, its checksum, the kernel name
        let sum = first_word(&vm.sh(&format!(
            "set -e; {w}; dd if=/dev/urandom of=/tmp/{id}.pat bs=64k count=16 2>/dev/null
             dd if=/tmp/{id}.pat of={link} bs=64k oflag=direct conv=fsync 2>/dev/null
             sha256sum /tmp/{id}.pat",
            w = wait_exists(&link)
        )));
        let name = vm
            .sh(&format!("basename $(readlink -f {link})"))
            .stdout
            .trim()
            .to_string();
        vm.sh(&format!(
            "udevadm monitor --kernel --udev --subsystem-match=block >/tmp/{id}.mon 2>&1 &
             echo $! >/tmp/{id}.monpid; sleep 1"
        ));

        vm.unplug(id)
            .unwrap_or_else(|e| vm.fail(&format!("unplug {id}: {e}"), None));
        vm.sh(&format!(
            "{} && [ ! -e /sys/block/{name} ]",
            wait_gone(&link)
        ));
        let gone = vm
            .blockstats(id)
            .unwrap_or_else(|e| vm.fail(&e.to_string(), None));
        vm.check_eq("blockstats of an unplugged disk", &None, &gone, None);

        vm.plug(id)
            .unwrap_or_else(|e| vm.fail(&format!("plug {id}: {e}"), None));
        vm.sh(&wait_exists(&link));
        let back = vm
            .blockstats(id)
            .unwrap_or_else(|e| vm.fail(&e.to_string(), None))
            .unwrap_or_else(|| vm.fail("no blockstats after plug", None));
        vm.check_eq("bytes written since replug", &0, &back.wr_bytes, None);
        // the data survived, and the returning disk counts what is written to it
        let out = vm.sh(&format!(
            "dd if={link} bs=64k count=16 iflag=direct 2>/dev/null | sha256sum
             dd if=/dev/zero of={link} bs=64k seek=100 count=16 oflag=direct 2>/dev/null"
        ));
        vm.check_eq("checksum after replug", &sum, &first_word(&out), Some(&out));
        let after = vm
            .blockstats(id)
            .unwrap_or_else(|e| vm.fail(&e.to_string(), None))
            .unwrap_or_else(|| vm.fail("no blockstats", None));
        vm.check_eq(
            "bytes written after replug",
            &MIB,
            &after.wr_bytes,
            Some(&out),
        );

        let mon = vm.sh(&format!(
            "udevadm settle; sleep 0.5; kill $(cat /tmp/{id}.monpid); cat /tmp/{id}.mon"
        ));
        for (source, action) in [
            ("KERNEL", "remove"),
            ("UDEV", "remove"),
            ("KERNEL", "add"),
            ("UDEV", "add"),
        ] {
            let seen = mon.stdout.lines().any(|l| {
                l.starts_with(source)
                    && l.split_whitespace().any(|w| w == action)
                    && l.contains(&format!("/block/{name} "))
            });
            if !seen {
                // the replugged disk may get another kernel name: accept any whole disk
                let any = mon.stdout.lines().any(|l| {
                    l.starts_with(source)
                        && l.split_whitespace().any(|w| w == action)
                        && l.contains("/block/")
                        && !l.contains("/block/dm-")
                });
                vm.check(
                    any,
                    &format!("{source} {action} uevent for disk {id} ({name})"),
                    Some(&mon),
                );
            }
        }
    }
}

pub fn power_cut_keeps_synced_data() {
    let spec = VmSpec::new("power_cut", Personality::VmwareGuest, Firmware::Bios)
        .disk(DiskSpec::vmdk("raw1", "pcraw1", Bytes(64 * MIB)))
        .disk(DiskSpec::rdm(
            "fs1",
            "pcfs1",
            0x6000_00e0_0d28_00a1,
            Bytes(128 * MIB),
        ));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let raw = by_id(&vm, &vm.spec().disks[0].clone());
    let fs = by_id(&vm, &vm.spec().disks[1].clone());
    let before = vm.sh(&format!(
        "set -e; {w1}; {w2}
         dd if=/dev/urandom of={raw} bs=1M count=4 oflag=direct conv=fsync 2>/dev/null
         mkfs.ext4 -q -F {fs}
         mkdir -p /mnt/fs; mount {fs} /mnt/fs
         dd if=/dev/urandom of=/mnt/fs/data bs=1M count=3 2>/dev/null; sync
         dd if={raw} bs=1M count=4 iflag=direct 2>/dev/null | sha256sum
         sha256sum /mnt/fs/data",
        w1 = wait_exists(&raw),
        w2 = wait_exists(&fs)
    ));
    // written but never synced: allowed to be lost, must not corrupt anything
    vm.sh("dd if=/dev/urandom of=/mnt/fs/unsynced bs=1M count=2 2>/dev/null");
    let sums: Vec<String> = before.stdout.lines().map(first_word_of).collect();

    vm.power_cut()
        .unwrap_or_else(|e| vm.fail(&e.to_string(), None));
    vm.start()
        .unwrap_or_else(|e| vm.fail(&format!("boot after power cut: {e}"), None));
    eprintln!(
        "vmware-guest BIOS boot after power cut: {:?}",
        vm.boot_time()
    );

    let after = vm.sh(&format!(
        "set -e; {w1}; {w2}
         dd if={raw} bs=1M count=4 iflag=direct 2>/dev/null | sha256sum
         mkdir -p /mnt/fs; mount {fs} /mnt/fs
         sha256sum /mnt/fs/data
         umount /mnt/fs; fsck.ext4 -f -n {fs} >/dev/null",
        w1 = wait_exists(&raw),
        w2 = wait_exists(&fs)
    ));
    let again: Vec<String> = after.stdout.lines().map(first_word_of).collect();
    vm.check_eq("checksums after power cut", &sums, &again, Some(&after));
    vm.check_eq("boots", &2, &vm.boots(), None);
}

fn first_word_of(line: &str) -> String {
    line.split_whitespace().next().unwrap_or("").to_string()
}

pub fn injected_io_errors() {
    let disk = DiskSpec::virtio_blk("err1", "err1", Bytes(64 * MIB))
        .with_error(InjectedError {
            op: IoOp::Read,
            sector: Sectors(8192),
            errno: 5,
            once: false,
        })
        .with_error(InjectedError {
            op: IoOp::Write,
            sector: Sectors(16384),
            errno: 5,
            once: false,
        });
    let spec = VmSpec::new("injected_io_errors", Personality::KvmGuest, Firmware::Bios).disk(disk);
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let dev = by_id(&vm, &vm.spec().disks[0].clone());
    vm.sh(&wait_exists(&dev));
    // reads and writes elsewhere work
    vm.sh(&format!(
        "dd if={dev} of=/dev/null bs=4096 skip=0 count=1 iflag=direct &&
         dd if=/dev/zero of={dev} bs=4096 seek=1024 count=1 oflag=direct"
    ));
    // sector 8192 = 4 KiB block 1024: reading it fails with EIO
    let out = vm.sh_status(
        &format!("dd if={dev} of=/dev/null bs=4096 skip=1024 count=1 iflag=direct"),
        1,
    );
    vm.check(
        out.stderr.contains("Input/output error"),
        "EIO on the injected read",
        Some(&out),
    );
    // sector 16384 = 4 KiB block 2048: writing it fails
    let out = vm.sh_status(
        &format!("dd if=/dev/zero of={dev} bs=4096 seek=2048 count=1 oflag=direct"),
        1,
    );
    vm.check(
        out.stderr.contains("Input/output error"),
        "EIO on the injected write",
        Some(&out),
    );
}
