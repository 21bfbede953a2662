//! Crash-safe apply on a real kernel (docs/failpoints.md): `DMCLASS_FAILPOINT` stops
//! `apply` after a chosen action as if killed (exit 137), the VM loses power at once (no
//! clean reboot), and after the boot `dmclass activate --all` must finish or roll back
//! the interrupted apply: the volume that was there keeps its data, status is
//! consistent, and applying the same file again converges to an empty plan.
//!
//! Run one: `make vm-test-one SCENARIO=power_cut_every_step_add_leg`.
//!
//! Every action of each plan is a failpoint (plus every `mid:write_metadata:<n>`);
//! `$DMCLASS_CRASH_SAMPLE=<n>` samples n actions instead (see [`failpoints`]) and
//! `$DMCLASS_CRASH_POINTS` names them.

use crate::common::dmclass::{
    apply, check_and_apply, class_flags, class_yaml, disk_by_path, dm_name, dmclass_ok, leg_sums,
    plan_actions, plan_steps, put_config, read_sum, status, vol_path, wait_synced,
    write_and_verify, PlanStep,
};
use crate::common::proxy::{proxy_status, wait_proxy_synced};
use crate::common::{wait_exists, MIB};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const CLASS: &str = "cr";
/// Data written to the pre-existing volume `keep` (64 MiB) and checked after every cut.
const KEEP_MIB: u64 = 32;
/// Data written to the created volume `new` after convergence.
const NEW_MIB: u64 = 8;
const SYNC_TIMEOUT: Duration = Duration::from_secs(180);

/// The failpoints one scenario stops at, for a plan of `steps` whose volume top device is
/// `top`: every action, and every `mid:write_metadata:<n>` (split generation: the first
/// disk has the new generation, the others not).
///
/// With `$DMCLASS_CRASH_SAMPLE=<n>` (a quick local run) a longer plan is stopped at a
/// representative subset of n actions spread over the whole range: the first and the
/// last, every metadata write (`write_metadata`, `format_area`), the last
/// `zero_extent`, the first action on the volume's top device and its `resume` (table
/// loaded, not live), then the middle of the widest remaining gap. The mid-write points
/// are kept. `$DMCLASS_CRASH_POINTS` replaces the choice (see [`points_override`]).
fn failpoints(steps: &[PlanStep], top: &str) -> Vec<String> {
    let n = steps.len();
    let max_actions = std::env::var("DMCLASS_CRASH_SAMPLE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|m| *m >= 2)
        .unwrap_or(usize::MAX);
    let picked: BTreeSet<usize> = if n <= max_actions {
        (1..=n).collect()
    } else {
        let mut picked = BTreeSet::from([1, n]);
        for (i, s) in steps.iter().enumerate() {
            if matches!(s.kind.as_str(), "write_metadata" | "format_area")
                || (s.object == top && s.kind == "resume")
            {
                picked.insert(i + 1);
            }
        }
        if let Some(i) = steps.iter().position(|s| s.object == top) {
            picked.insert(i + 1);
        }
        if let Some(i) = steps.iter().rposition(|s| s.kind == "zero_extent") {
            picked.insert(i + 1);
        }
        while picked.len() < max_actions {
            let sorted: Vec<usize> = picked.iter().copied().collect();
            let Some((lo, hi)) = sorted
                .windows(2)
                .map(|w| (w[0], w[1]))
                .max_by_key(|(lo, hi)| hi - lo)
            else {
                break;
            };
            if hi - lo < 2 {
                break;
            }
            picked.insert(usize::midpoint(lo, hi));
        }
        picked
    };
    let writes = steps.iter().filter(|s| s.kind == "write_metadata").count();
    picked
        .into_iter()
        .map(|k| format!("action:{k}"))
        .chain((1..=writes).map(|j| format!("mid:write_metadata:{j}")))
        .collect()
}

/// `$DMCLASS_CRASH_POINTS` (comma-separated failpoint names) replaces the chosen points:
/// to rerun one failing point.
fn points_override(chosen: Vec<String>) -> Vec<String> {
    match std::env::var("DMCLASS_CRASH_POINTS") {
        Ok(list) if !list.trim().is_empty() => {
            list.split(',').map(|p| p.trim().to_string()).collect()
        }
        _ => chosen,
    }
}

/// `DMCLASS_FAILPOINT=<point> dmclass apply FILE --yes`: must exit 137 naming the point.
fn apply_killed(vm: &mut Vm, file: &str, point: &str) {
    let cmd = format!("DMCLASS_FAILPOINT={point} dmclass apply {file} --yes");
    let out = match vm.run(&cmd) {
        Ok(out) => out,
        Err(e) => vm.fail(&format!("`{cmd}` could not run: {e}"), None),
    };
    vm.check_eq(
        &format!("exit status of apply stopped at {point}"),
        &137,
        &out.status,
        Some(&out),
    );
    vm.check(
        out.stderr.contains(&format!("failpoint {point} reached")),
        &format!("stderr says failpoint {point} was reached"),
        Some(&out),
    );
}

/// Boots the powered-off VM and writes the configuration files again (the guest's root
/// file system is an initramfs: a boot forgets them).
fn boot_with(vm: &mut Vm, files: &[(&str, String)], when: &str) {
    vm.start()
        .unwrap_or_else(|e| vm.fail(&format!("boot {when}: {e}"), None));
    for (path, yaml) in files {
        put_config(vm, path, yaml);
    }
}

/// Power cut (no sync, no clean shutdown) and boot on the same disks.
fn cut_and_boot(vm: &mut Vm, files: &[(&str, String)], when: &str) {
    vm.power_cut()
        .unwrap_or_else(|e| vm.fail(&format!("power cut {when}: {e}"), None));
    boot_with(vm, files, &format!("after power cut {when}"));
}

/// After `activate --all`: no pending intent, class open, `keep` ACTIVE with its data.
/// Returns the state of `other` (`None`: absent from status).
fn check_recovered(vm: &mut Vm, point: &str, keep_sum: &str, other: &str) -> Option<String> {
    let keep = vol_path(CLASS, "keep");
    vm.sh(&wait_exists(&keep));
    let back = read_sum(vm, &keep, KEEP_MIB);
    vm.check_eq(
        &format!("[{point}] checksum of keep after power cut + activate"),
        keep_sum,
        back.as_str(),
        None,
    );
    let (flags, out) = class_flags(vm, CLASS);
    vm.check(
        flags.pending_intent.is_none() && !flags.closed,
        &format!("[{point}] after activate: no pending intent, class open ({flags:?})"),
        Some(&out),
    );
    let (vols, out) = status(vm, Some(CLASS));
    let state = |name: &str| {
        vols.iter()
            .find(|v| v.name == name)
            .map(|v| v.state.clone())
    };
    vm.check_eq(
        &format!("[{point}] state of keep after activate"),
        &Some("ACTIVE".to_string()),
        &state("keep"),
        Some(&out),
    );
    vols.iter()
        .find(|v| v.name == other)
        .map(|v| v.state.clone())
}

/// Applies `file` again (must converge) and checks that a further plan is empty.
fn converge(vm: &mut Vm, file: &str, point: &str) {
    apply(vm, file);
    let (plan, out) = plan_actions(vm, file);
    vm.check(
        !plan.is_empty() && plan.iter().all(|(_, n)| *n == 0),
        &format!("[{point}] plan after the converging apply is empty ({plan:?})"),
        Some(&out),
    );
}

/// Back to the checkpoint `base` the rounds start from (VM state and disks).
fn restore_base(vm: &mut Vm) {
    vm.restore("base")
        .unwrap_or_else(|e| vm.fail(&format!("restore the checkpoint: {e}"), None));
}

fn done(vm: &Vm, t0: Instant, rounds: usize) {
    eprintln!(
        "{}: {rounds} failpoints, {} boots ({} resumed the saved state), {:?}",
        vm.spec().name,
        vm.boots(),
        vm.resumes(),
        t0.elapsed()
    );
}

pub fn power_cut_every_step_create_volume() {
    let t0 = Instant::now();
    let spec = VmSpec::new("crash_create_volume", Personality::KvmGuest, Firmware::Bios)
        .quick_reboots()
        .disk(DiskSpec::virtio_blk("cva", "cva", Bytes(256 * MIB)))
        .disk(DiskSpec::virtio_scsi("cvb", "cvb", Bytes(256 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let disks = [
        disk_by_path(&vm, "a", &d[0], ""),
        disk_by_path(&vm, "b", &d[1], ""),
    ];
    let group = ["{name: g1, type: mirror, members: [a, b]}"];
    let keep_vol = "{name: keep, on: g1, size: 64MiB}";
    let files = [
        (
            "/root/keep.yaml",
            class_yaml(&vm, CLASS, &disks, &group, &[keep_vol]),
        ),
        (
            "/root/new.yaml",
            class_yaml(
                &vm,
                CLASS,
                &disks,
                &group,
                &[keep_vol, "{name: new, on: g1, size: 64MiB}"],
            ),
        ),
    ];
    for (path, yaml) in &files {
        put_config(&mut vm, path, yaml);
    }
    check_and_apply(&mut vm, "/root/keep.yaml");
    let keep_sum = write_and_verify(&mut vm, &vol_path(CLASS, "keep"), KEEP_MIB, "keep");
    wait_synced(&mut vm, CLASS, SYNC_TIMEOUT);

    let (steps, _) = plan_steps(&mut vm, "/root/new.yaml");
    // Every round starts from this moment: `keep` running, synced, with its data.
    vm.checkpoint("base")
        .unwrap_or_else(|e| vm.fail(&format!("checkpoint: {e}"), None));
    let points = points_override(failpoints(&steps, &dm_name(CLASS, "new")));
    eprintln!(
        "crash_create_volume: {} actions ({}), failpoints {points:?}",
        steps.len(),
        steps
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let new = vol_path(CLASS, "new");
    for (i, point) in points.iter().enumerate() {
        let round = Instant::now();
        if i > 0 {
            restore_base(&mut vm);
        }
        apply_killed(&mut vm, "/root/new.yaml", point);
        cut_and_boot(&mut vm, &files, &format!("at {point}"));
        dmclass_ok(&mut vm, "activate --all");
        let after = check_recovered(&mut vm, point, &keep_sum, "new");
        vm.check(
            after.as_deref().is_none_or(|s| s == "ACTIVE"),
            &format!("[{point}] new is ACTIVE or absent after activate ({after:?})"),
            None,
        );
        if after.is_some() {
            vm.sh(&wait_exists(&new));
        }
        eprintln!(
            "crash_create_volume: {point}: new after activate: {after:?} (boot {:?})",
            vm.boot_time()
        );
        converge(&mut vm, "/root/new.yaml", point);
        write_and_verify(&mut vm, &new, NEW_MIB, "new");
        let back = read_sum(&mut vm, &vol_path(CLASS, "keep"), KEEP_MIB);
        vm.check_eq(
            &format!("[{point}] checksum of keep after the converging apply"),
            keep_sum.as_str(),
            back.as_str(),
            None,
        );
        eprintln!(
            "crash_create_volume: {point}: round took {:?}",
            round.elapsed()
        );
    }
    done(&vm, t0, points.len());
}

pub fn power_cut_every_step_add_leg() {
    let t0 = Instant::now();
    let spec = VmSpec::new("crash_add_leg", Personality::KvmGuest, Firmware::Bios)
        .quick_reboots()
        .disk(DiskSpec::virtio_blk("ala", "ala", Bytes(160 * MIB)))
        .disk(DiskSpec::virtio_scsi("alb", "alb", Bytes(160 * MIB)))
        .disk(DiskSpec::virtio_blk("alc", "alc", Bytes(160 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let (a, b, c) = (
        disk_by_path(&vm, "a", &d[0], ""),
        disk_by_path(&vm, "b", &d[1], ""),
        disk_by_path(&vm, "c", &d[2], ""),
    );
    let keep_vol = ["{name: keep, on: g1, size: 64MiB}"];
    let files = [
        (
            "/root/two.yaml",
            class_yaml(
                &vm,
                CLASS,
                &[a.clone(), b.clone()],
                &["{name: g1, type: mirror, members: [a, b]}"],
                &keep_vol,
            ),
        ),
        (
            "/root/three.yaml",
            class_yaml(
                &vm,
                CLASS,
                &[a, b, c],
                &["{name: g1, type: mirror, members: [a, b, c]}"],
                &keep_vol,
            ),
        ),
    ];
    for (path, yaml) in &files {
        put_config(&mut vm, path, yaml);
    }
    check_and_apply(&mut vm, "/root/two.yaml");
    let keep = vol_path(CLASS, "keep");
    let keep_sum = write_and_verify(&mut vm, &keep, KEEP_MIB, "keep");
    wait_synced(&mut vm, CLASS, SYNC_TIMEOUT);
    let (steps, _) = plan_steps(&mut vm, "/root/three.yaml");
    // Every round starts from this moment: the synced 2-way mirror running (leg
    // removal is refused, so it is a checkpoint of the VM and its disks).
    vm.checkpoint("base")
        .unwrap_or_else(|e| vm.fail(&format!("checkpoint: {e}"), None));

    let points = points_override(failpoints(&steps, &dm_name(CLASS, "keep")));
    eprintln!(
        "crash_add_leg: {} actions ({}), failpoints {points:?}",
        steps.len(),
        steps
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (i, point) in points.iter().enumerate() {
        let round = Instant::now();
        if i > 0 {
            restore_base(&mut vm);
        }
        apply_killed(&mut vm, "/root/three.yaml", point);
        cut_and_boot(&mut vm, &files, &format!("at {point}"));
        dmclass_ok(&mut vm, "activate --all");
        check_recovered(&mut vm, point, &keep_sum, "");
        let (vols, out) = status(&mut vm, Some(CLASS));
        let slices: Vec<(String, String)> = vols
            .iter()
            .find(|v| v.name == "keep")
            .map(|v| {
                v.slices
                    .iter()
                    .map(|s| (s.disk.clone(), s.state.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let old_legs_active = ["a", "b"]
            .iter()
            .all(|l| slices.iter().any(|(d, s)| d == l && s == "ACTIVE"));
        let third = slices
            .iter()
            .find(|(d, _)| d == "c")
            .map(|(_, s)| s.clone());
        vm.check(
            old_legs_active
                && slices.len() <= 3
                && third
                    .as_deref()
                    .is_none_or(|s| s == "ACTIVE" || s == "COPY"),
            &format!(
                "[{point}] keep's slices after activate: a, b ACTIVE, c absent, ACTIVE or COPY \
                 ({slices:?})"
            ),
            Some(&out),
        );
        eprintln!(
            "crash_add_leg: {point}: slices after activate: {slices:?} (boot {:?})",
            vm.boot_time()
        );
        converge(&mut vm, "/root/three.yaml", point);
        let vols = wait_synced(&mut vm, CLASS, SYNC_TIMEOUT);
        let legs = vols
            .iter()
            .find(|v| v.name == "keep")
            .map_or(0, |v| v.slices.len());
        vm.check_eq(
            &format!("[{point}] slices of keep after convergence"),
            &3,
            &legs,
            None,
        );
        let sums = leg_sums(&mut vm, CLASS, "keep", KEEP_MIB);
        vm.check_eq(
            &format!("[{point}] checksums of keep's legs (the third alone holds the data)"),
            &vec![keep_sum.clone(); 3],
            &sums,
            None,
        );
        eprintln!("crash_add_leg: {point}: round took {:?}", round.elapsed());
    }
    done(&vm, t0, points.len());
    // the copies live in the run directory: removed with it after a pass
}

/// `dmclass proxy part` of `p1` with `point` armed: `true` when it stopped there (exit
/// 137 naming the point), `false` when it ran to the end (the point is past the plan).
fn part_killed(vm: &mut Vm, point: &str) -> bool {
    let cmd = format!("DMCLASS_FAILPOINT={point} dmclass proxy part {CLASS}/p1 --readonly");
    let out = match vm.run(&cmd) {
        Ok(out) => out,
        Err(e) => vm.fail(&format!("`{cmd}` could not run: {e}"), None),
    };
    if out.status == 0 {
        return false;
    }
    vm.check(
        out.status == 137 && out.stderr.contains(&format!("failpoint {point} reached")),
        &format!("proxy part stopped at {point} (exit 137, named)"),
        Some(&out),
    );
    true
}

pub fn power_cut_every_step_proxy_part() {
    let t0 = Instant::now();
    let spec = VmSpec::new("crash_proxy_part", Personality::KvmGuest, Firmware::Bios)
        .quick_reboots()
        .disk(DiskSpec::virtio_blk("ppa", "ppa", Bytes(160 * MIB)))
        .disk(DiskSpec::virtio_scsi("ppb", "ppb", Bytes(160 * MIB)))
        .disk(DiskSpec::virtio_blk("ppc", "ppc", Bytes(160 * MIB)))
        .disk(DiskSpec::virtio_blk("ppd", "ppd", Bytes(160 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let d = vm.spec().disks.clone();
    let disks: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .zip(&d)
        .map(|(n, s)| disk_by_path(&vm, n, s, ""))
        .collect();
    let joined = class_yaml(
        &vm,
        CLASS,
        &disks,
        &[
            "{name: g1, type: mirror, members: [a, b]}",
            "{name: g2, type: mirror, members: [c, d]}",
        ],
        &["{name: keep, on: g1, size: 64MiB}"],
    )
        + "    snapshots:\n      - {name: p1, origin: keep, type: proxy, on: g2, state: joined}\n";
    let files = [("/root/joined.yaml", joined)];
    for (path, yaml) in &files {
        put_config(&mut vm, path, yaml);
    }
    check_and_apply(&mut vm, "/root/joined.yaml");
    let keep = vol_path(CLASS, "keep");
    let proxy = vol_path(CLASS, "p1");
    let keep_sum = write_and_verify(&mut vm, &keep, KEEP_MIB, "keep");
    let master_dm = dm_name(CLASS, "keep");
    let synced = |vm: &mut Vm| {
        wait_proxy_synced(vm, CLASS, "p1", &master_dm, 2, SYNC_TIMEOUT);
    };
    synced(&mut vm);
    // Every round starts from this moment: the proxy joined and in sync.
    vm.checkpoint("base")
        .unwrap_or_else(|e| vm.fail(&format!("checkpoint: {e}"), None));

    // `proxy part` has no dry run: action:1, 2, ... until one is past the end, then the
    // split metadata writes the same way.
    let mut rounds = 0;
    for family in ["action", "mid:write_metadata"] {
        for k in 1.. {
            let point = format!("{family}:{k}");
            let round = Instant::now();
            if rounds > 0 || family != "action" {
                restore_base(&mut vm);
            }
            if !part_killed(&mut vm, &point) {
                eprintln!(
                    "crash_proxy_part: {point} is past the end: {} point(s) of {family}",
                    k - 1
                );
                vm.check(k > 1, &format!("proxy part stops at {family}:1"), None);
                break;
            }
            rounds += 1;
            cut_and_boot(&mut vm, &files, &format!("at {point}"));
            dmclass_ok(&mut vm, "activate --all");
            check_recovered(&mut vm, &point, &keep_sum, "");
            let (p, out) = proxy_status(&mut vm, CLASS, "p1");
            eprintln!("crash_proxy_part: {point}: proxy after activate: {p:?}");
            vm.check(
                p.state == "PARTED" || p.state == "JOINED",
                &format!(
                    "[{point}] proxy PARTED or JOINED after activate ({})",
                    p.state
                ),
                Some(&out),
            );
            if p.state == "JOINED" {
                synced(&mut vm);
                dmclass_ok(&mut vm, &format!("proxy part {CLASS}/p1 --readonly"));
            }
            // the point-in-time copy holds the master's data
            vm.sh(&wait_exists(&proxy));
            let back = read_sum(&mut vm, &proxy, KEEP_MIB);
            vm.check_eq(
                &format!("[{point}] checksum of the parted proxy"),
                keep_sum.as_str(),
                back.as_str(),
                None,
            );
            // and the relationship still works: rejoin, in sync, master data intact
            dmclass_ok(&mut vm, &format!("proxy rejoin {CLASS}/p1"));
            synced(&mut vm);
            let back = read_sum(&mut vm, &keep, KEEP_MIB);
            vm.check_eq(
                &format!("[{point}] checksum of keep after the rejoin"),
                keep_sum.as_str(),
                back.as_str(),
                None,
            );
            eprintln!(
                "crash_proxy_part: {point}: round took {:?}",
                round.elapsed()
            );
            vm.check(k < 40, "the failpoints of proxy part end", None);
        }
    }
    done(&vm, t0, rounds);
}
