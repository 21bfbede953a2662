//! Copy-on-write snapshots on a real kernel (docs/concepts.md, docs/cli.md, rule S5b): a raid1 volume
//! of a KVM guest gets a snapshot (`snapshot-origin` over `-real`, `snapshot` over a
//! mirrored `-cow` store); the snapshot keeps the old data while the origin changes,
//! survives a reboot, merges back into the origin (`snapshot-merge`), turns INVALID
//! without harming the origin when its store overflows, and is refused where the
//! support matrix has no row for it.
//!
//! Run one: `make vm-test-one SCENARIO=cow_snapshot_merge_survives_reboot`.

use crate::common::cow::{
    check_origin_stack, check_snapshot_table, dm_exists, snapshot_layers, snapshot_status,
    snapshots, with_snapshots,
};
use crate::common::dmclass::{
    check_and_apply, class_yaml, disk_by_path, dm_name, dmclass, dmclass_ok, host_disk_sums,
    put_config, read_sum, single_target, vol_path, wait_synced, write_random,
};
use crate::common::{by_id, wait_exists, wait_gone, MIB};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

const CLASS: &str = "data";
const VOL: &str = "v1";
const SNAP: &str = "s1";
/// Volume size in MiB.
const VOL_MIB: u64 = 64;
/// Chunk size of every snapshot here: 4 KiB, in sectors.
const CHUNK_SECTORS: u64 = 8;
const SYNC_TIMEOUT: Duration = Duration::from_secs(240);
const MERGE_TIMEOUT: Duration = Duration::from_secs(240);

/// A KVM guest (BIOS) with a virtio-blk and a virtio-scsi disk of 256 MiB.
fn spec(name: &str, tag: &str) -> VmSpec {
    VmSpec::new(name, Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk(
            &format!("{tag}a"),
            &format!("{tag}a"),
            Bytes(256 * MIB),
        ))
        .disk(DiskSpec::virtio_scsi(
            &format!("{tag}b"),
            &format!("{tag}b"),
            Bytes(256 * MIB),
        ))
}

/// Class `data`: mirror group g1 over both disks (`disk_extra` appended to each disk's
/// mapping), volume v1 of 64 MiB.
fn class_config(vm: &Vm, disk_extra: &str) -> String {
    let d = vm.spec().disks.clone();
    class_yaml(
        vm,
        CLASS,
        &[
            disk_by_path(vm, "a", &d[0], disk_extra),
            disk_by_path(vm, "b", &d[1], disk_extra),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &[&format!("{{name: {VOL}, on: g1, size: {VOL_MIB}MiB}}")],
    )
}

/// Boots the VM and applies [`class_config`]; v1 is there.
fn boot_with_volume(spec: VmSpec) -> Option<Vm> {
    let mut vm = boot_or_skip(spec)?;
    let yaml = class_config(&vm, "");
    put_config(&mut vm, "/root/data.yaml", &yaml);
    check_and_apply(&mut vm, "/root/data.yaml");
    vm.sh(&wait_exists(&vol_path(CLASS, VOL)));
    Some(vm)
}

/// `dmclass snapshot create data/v1 s1 --size S --chunk 4KiB`; the snapshot device
/// appears under both names.
fn create_snapshot(vm: &mut Vm, size: &str) {
    dmclass_ok(
        vm,
        &format!("snapshot create {CLASS}/{VOL} {SNAP} --size {size} --chunk 4KiB"),
    );
    vm.sh(&format!(
        "{} && {}",
        wait_exists(&vol_path(CLASS, SNAP)),
        wait_exists(&format!("/dev/mapper/{}", dm_name(CLASS, SNAP)))
    ));
}

/// The snapshot stack is complete: tables of v1, v1-real, s1, s1-cow, and s1 listed
/// ACTIVE in status. Returns the raid table of `-real` (target, args).
fn check_stack(vm: &mut Vm, size: u64) -> (String, Vec<String>) {
    let real = check_origin_stack(vm, (CLASS, VOL, SNAP), CHUNK_SECTORS, false);
    check_snapshot_table(vm, (CLASS, VOL, SNAP), CHUNK_SECTORS);
    let (s, out) = snapshot_status(vm, CLASS, SNAP);
    vm.check(
        s.kind == "cow"
            && s.origin == VOL
            && s.state == "ACTIVE"
            && s.path == vol_path(CLASS, SNAP)
            && s.size == Some(size)
            && s.chunk == Some(CHUNK_SECTORS * 512)
            && s.usage.is_some(),
        &format!("status of {SNAP}: cow of {VOL}, ACTIVE, size {size}, chunk 4KiB, usage"),
        Some(&out),
    );
    real
}

/// The origin is its own raid1 again: no snapshot listed, no `-real`/`-cow` device, no
/// snapshot device; returns v1's table.
fn check_unstacked(vm: &mut Vm) -> (String, Vec<String>) {
    let (snaps, out) = snapshots(vm, CLASS);
    vm.check(
        snaps.is_empty(),
        &format!("no snapshot left in status ({snaps:?})"),
        Some(&out),
    );
    let (layers, out) = snapshot_layers(vm);
    vm.check(
        layers.is_empty(),
        &format!("no -real/-cow dm device left ({layers:?})"),
        Some(&out),
    );
    let snap_dm = dm_name(CLASS, SNAP);
    let present = dm_exists(vm, &snap_dm);
    vm.check(!present, &format!("dm device {snap_dm} is gone"), None);
    vm.sh(&wait_gone(&vol_path(CLASS, SNAP)));
    let (t, args, out) = single_target(vm, &dm_name(CLASS, VOL));
    vm.check(
        t == "raid" && args.first().map(String::as_str) == Some("raid1"),
        &format!("{VOL} carries its raid1 table again"),
        Some(&out),
    );
    (t, args)
}

/// Checksums of the whole origin and the whole snapshot.
fn check_sums(vm: &mut Vm, when: &str, origin: &str, snap: &str) {
    let o = read_sum(vm, &vol_path(CLASS, VOL), VOL_MIB);
    vm.check_eq(&format!("checksum of the origin {when}"), origin, &o, None);
    let s = read_sum(vm, &vol_path(CLASS, SNAP), VOL_MIB);
    vm.check_eq(&format!("checksum of the snapshot {when}"), snap, &s, None);
}

/// `sync`, power off, boot again, `activate --all`; v1 (and `also`) reappear.
fn reboot_and_activate(vm: &mut Vm, also: Option<&str>) {
    vm.reboot()
        .unwrap_or_else(|e| vm.fail(&format!("reboot: {e}"), None));
    dmclass_ok(vm, "activate --all");
    vm.sh(&wait_exists(&vol_path(CLASS, VOL)));
    if let Some(p) = also {
        vm.sh(&wait_exists(p));
    }
}

/// Polls until the merge of s1 is finished: while s1 is still listed, a repeated
/// `snapshot merge` must say "still merging" or finish it ("merged into").
fn finish_merge(vm: &mut Vm) {
    let t0 = Instant::now();
    loop {
        let (snaps, sout) = snapshots(vm, CLASS);
        if !snaps.iter().any(|s| s.name == SNAP) {
            break;
        }
        if t0.elapsed() > MERGE_TIMEOUT {
            vm.fail(
                &format!("merge of {SNAP} not finished within {MERGE_TIMEOUT:?}"),
                Some(&sout),
            );
        }
        let out = dmclass_ok(vm, &format!("snapshot merge {CLASS}/{SNAP} --yes"));
        if out.stdout.contains("merged into") {
            break;
        }
        vm.check(
            out.stdout.contains("still merging"),
            "a repeated `snapshot merge` says merged or still merging",
            Some(&out),
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    eprintln!("merge finished after {:?}", t0.elapsed());
}

pub fn cow_snapshot_merge_survives_reboot() {
    let Some(mut vm) = boot_with_volume(spec("cow_snapshot_merge", "sm")) else {
        return;
    };
    let t0 = Instant::now();
    let origin = vol_path(CLASS, VOL);
    // A: 16 MiB of random data at offset 0, the rest of the volume zero
    write_random(&mut vm, &origin, 16, "a");
    let sum_a = read_sum(&mut vm, &origin, VOL_MIB);
    wait_synced(&mut vm, CLASS, SYNC_TIMEOUT);
    let (_, plain, out) = single_target(&mut vm, &dm_name(CLASS, VOL));
    vm.check(
        plain.first().map(String::as_str) == Some("raid1"),
        "v1 is a raid1 before the snapshot",
        Some(&out),
    );

    create_snapshot(&mut vm, "32MiB");
    let (_, real_args) = check_stack(&mut vm, 32 * MIB);
    vm.check_eq(
        "the -real table is v1's raid table from before the snapshot",
        &plain,
        &real_args,
        None,
    );
    check_sums(&mut vm, "right after create", &sum_a, &sum_a);

    // B over A on the origin: the snapshot keeps A
    write_random(&mut vm, &origin, 16, "b");
    let sum_b = read_sum(&mut vm, &origin, VOL_MIB);
    vm.check(sum_a != sum_b, "B differs from A", None);
    check_sums(&mut vm, "after writing B", &sum_b, &sum_a);
    let (s, out) = snapshot_status(&mut vm, CLASS, SNAP);
    vm.check(
        s.usage
            .is_some_and(|(alloc, total)| alloc >= 16 * MIB && total == 32 * MIB),
        &format!(
            "COW usage after 16 MiB overwritten: >= 16 MiB of 32 MiB ({:?})",
            s.usage
        ),
        Some(&out),
    );

    // a clean reboot: activate rebuilds the whole stack from the metadata
    reboot_and_activate(&mut vm, Some(&vol_path(CLASS, SNAP)));
    let (_, real_args) = check_stack(&mut vm, 32 * MIB);
    check_sums(&mut vm, "after reboot", &sum_b, &sum_a);

    // merge s1 back into v1
    let out = dmclass_ok(&mut vm, &format!("snapshot merge {CLASS}/{SNAP} --yes"));
    eprintln!("`snapshot merge`:\n{}{}", out.stdout, out.stderr);
    let done = out.stdout.contains("removed");
    if !done {
        eprintln!("merge not finished by the first `snapshot merge`");
        // still merging: the origin is snapshot-merge, the snapshot device is gone
        check_origin_stack(&mut vm, (CLASS, VOL, SNAP), CHUNK_SECTORS, true);
        let snap_dm = dm_name(CLASS, SNAP);
        let present = dm_exists(&mut vm, &snap_dm);
        vm.check(
            !present,
            &format!("no {snap_dm} device while merging"),
            Some(&out),
        );
        let (s, sout) = snapshot_status(&mut vm, CLASS, SNAP);
        vm.check_eq(
            "snapshot state while merging",
            "MERGING",
            s.state.as_str(),
            Some(&sout),
        );
        let during = read_sum(&mut vm, &origin, VOL_MIB);
        vm.check_eq("origin reads A while merging", &sum_a, &during, None);
        finish_merge(&mut vm);
    }
    let (_, args) = check_unstacked(&mut vm);
    vm.check_eq(
        "v1's table after the merge is its raid table from before",
        &real_args,
        &args,
        None,
    );
    let back = read_sum(&mut vm, &origin, VOL_MIB);
    vm.check_eq("origin reads A after the merge", &sum_a, &back, None);

    // the merge is in the metadata: the next boot assembles the plain volume with A
    reboot_and_activate(&mut vm, None);
    check_unstacked(&mut vm);
    let back = read_sum(&mut vm, &origin, VOL_MIB);
    vm.check_eq("origin reads A after merge + reboot", &sum_a, &back, None);
    eprintln!("cow_snapshot_merge_survives_reboot: {:?}", t0.elapsed());
}

pub fn cow_merge_of_open_origin_waits_for_next_boot() {
    let Some(mut vm) = boot_with_volume(spec("cow_merge_deferred", "md")) else {
        return;
    };
    let origin = vol_path(CLASS, VOL);
    write_random(&mut vm, &origin, 16, "a");
    let sum_a = read_sum(&mut vm, &origin, VOL_MIB);
    create_snapshot(&mut vm, "32MiB");
    write_random(&mut vm, &origin, 16, "b");
    let sum_b = read_sum(&mut vm, &origin, VOL_MIB);
    check_sums(&mut vm, "after writing B", &sum_b, &sum_a);

    // a process holds the origin open (a mounted file system, a running guest)
    vm.sh(&format!(
        "sleep 3600 <{origin} >/dev/null 2>&1 &
         sleep 1; dmsetup info {0}
         dmsetup info {0} | awk '/^Open count:/ {{ exit !($3 >= 1) }}'",
        dm_name(CLASS, VOL)
    ));
    let out = dmclass_ok(&mut vm, &format!("snapshot merge {CLASS}/{SNAP} --yes"));
    vm.check(
        out.stdout.contains("next activation"),
        "`snapshot merge` of an open origin says it starts at the next activation",
        Some(&out),
    );
    let (s, sout) = snapshot_status(&mut vm, CLASS, SNAP);
    vm.check(
        s.state == "MERGING" && s.note.is_some(),
        "a deferred merge is MERGING with a note in status",
        Some(&sout),
    );
    let (t, _, tout) = single_target(&mut vm, &dm_name(CLASS, VOL));
    vm.check_eq(
        "the open origin's table is left alone",
        "snapshot-origin",
        t.as_str(),
        Some(&tout),
    );
    let now = read_sum(&mut vm, &origin, VOL_MIB);
    vm.check_eq("the open origin still reads B", &sum_b, &now, None);

    // the next boot assembles the origin as snapshot-merge and the merge runs
    reboot_and_activate(&mut vm, None);
    let (snaps, sout) = snapshots(&mut vm, CLASS);
    if snaps.iter().any(|s| s.name == SNAP) {
        eprintln!("after the boot: {SNAP} still listed, merge running");
        check_origin_stack(&mut vm, (CLASS, VOL, SNAP), CHUNK_SECTORS, true);
        vm.check(
            snaps.iter().all(|s| s.state == "MERGING"),
            "after the boot the snapshot is MERGING",
            Some(&sout),
        );
        finish_merge(&mut vm);
    }
    check_unstacked(&mut vm);
    let back = read_sum(&mut vm, &origin, VOL_MIB);
    vm.check_eq(
        "origin reads A after the deferred merge",
        &sum_a,
        &back,
        None,
    );
}

pub fn cow_store_full_is_invalid_origin_intact() {
    let Some(mut vm) = boot_with_volume(spec("cow_store_full", "sf")) else {
        return;
    };
    let origin = vol_path(CLASS, VOL);
    write_random(&mut vm, &origin, 8, "old");
    let sum_old = read_sum(&mut vm, &origin, VOL_MIB);
    create_snapshot(&mut vm, "4MiB");
    check_stack(&mut vm, 4 * MIB);
    check_sums(&mut vm, "right after create", &sum_old, &sum_old);

    // 16 MiB of changes into a 4 MiB store
    let written = write_random(&mut vm, &origin, 16, "new");
    let back = read_sum(&mut vm, &origin, 16);
    vm.check_eq(
        "origin reads what was written past a full store",
        &written,
        &back,
        None,
    );
    let whole = read_sum(&mut vm, &origin, VOL_MIB);
    let (s, out) = snapshot_status(&mut vm, CLASS, SNAP);
    vm.check_eq(
        "state of a snapshot whose store overflowed",
        "INVALID",
        s.state.as_str(),
        Some(&out),
    );
    let dmesg = vm.sh("dmesg | grep -i snapshot | tail -n 5 || true");
    eprintln!("kernel on the full store:\n{}", dmesg.stdout);

    let out = dmclass(&mut vm, &format!("snapshot remove --yes {CLASS}/{SNAP}"));
    vm.check(
        out.success(),
        "`snapshot remove` of the invalid snapshot exits 0",
        Some(&out),
    );
    check_unstacked(&mut vm);
    let after = read_sum(&mut vm, &origin, VOL_MIB);
    vm.check_eq("origin after removing the snapshot", &whole, &after, None);
    let back = read_sum(&mut vm, &origin, 16);
    vm.check_eq("origin still reads what was written", &written, &back, None);
}

pub fn cow_snapshot_refused_in_other_guest() {
    let Some(mut vm) = boot_or_skip(spec("cow_snapshot_refused", "sr")) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let (a, b) = (by_id(&vm, &d[0]), by_id(&vm, &d[1]));
    // something on the disks to keep: random bytes at the start of each
    vm.sh(&format!(
        "set -e; {} && {}
         for d in {a} {b}; do dd if=/dev/urandom of=$d bs=1M count=4 oflag=direct 2>/dev/null; done
         sync",
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
    // `wipe: true`: only the support matrix stands in the way
    let yaml = with_snapshots(
        &class_config(&vm, ", wipe: true").replacen(
            "environment: kvm-guest",
            "environment: auto",
            1,
        ),
        &[&format!(
            "{{name: {SNAP}, origin: {VOL}, type: cow, size: 32MiB, chunk: 4KiB}}"
        )],
    );
    put_config(&mut vm, "/root/other.yaml", &yaml);
    // the snapshot's own denial cites its rule (S5b: kvm-guest or vmware-guest) and the
    // other-guest hint (X2)
    let cites_rule = |out: &dmclass_vmtest::Output| {
        out.stderr.lines().any(|l| {
            l.contains(&format!("class {CLASS}, {SNAP}:"))
                && l.contains("rule S5b")
                && l.contains("X2")
        })
    };
    for cmd in [
        "check /root/other.yaml --env other-guest",
        "apply /root/other.yaml --yes --env other-guest",
    ] {
        let out = dmclass(&mut vm, cmd);
        vm.check_eq(
            &format!("exit status of `dmclass {cmd}`"),
            &1,
            &out.status,
            Some(&out),
        );
        vm.check(
            cites_rule(&out),
            &format!("`dmclass {cmd}`: stderr denies snapshot {SNAP} citing rule S5b and X2"),
            Some(&out),
        );
    }
    let after = (guest_sums(&mut vm), host_disk_sums(&vm));
    vm.check_eq(
        "disk checksums after the refused check and apply",
        &before,
        &after,
        None,
    );
    let dm = vm.sh("dmsetup ls; if [ -e /dev/dmclass/data ]; then echo LINK-PRESENT; fi");
    vm.check(
        !dm.stdout.contains("dmclass-") && !dm.stdout.contains("LINK-PRESENT"),
        "no dm device and no /dev/dmclass entry after the refusal",
        Some(&dm),
    );
    // control: the same file is fine in the environment the matrix has a row for
    let out = dmclass(&mut vm, "check /root/other.yaml --env kvm-guest");
    vm.check(
        out.success(),
        "the same file passes `check --env kvm-guest`",
        Some(&out),
    );
}
