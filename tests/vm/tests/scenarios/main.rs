//! The VM scenarios (docs/testing.md), one test binary with its own harness
//! (libtest-mimic): every scenario in one queue, so both cores run a VM until the queue
//! is empty (one binary per file left a core idle whenever a file's last scenario ran
//! alone), the longest first, and the time of every scenario printed at the end.
//!
//! A TCG guest keeps a core busy, so a scenario holds one of [`cpu_slots`] while it
//! runs — except the few in [`WAITING`], which spend most of their time waiting for
//! sanlock's lease timers with idle guests: they run on an extra test thread beside
//! the busy ones instead of keeping a core idle. Other scenarios idle for shorter
//! spells (lockspace joins, link timeouts): when the host has idled by most of a core
//! for a while, one more starts ([`dmclass_vmtest::schedule`]). The end of the run prints every
//! scenario's time and the CPU time its guests used.
//!
//! Run all: `make vm-test`. Run one: `make vm-test-one SCENARIO=<name>` (a substring
//! of the name, as `cargo test` filters). The usual test options work after `--`:
//! `--list`, `--exact`, `--test-threads N`, `--skip NAME`.

mod common;

mod boot;
mod bootenv;
mod cluster;
mod cow;
mod crash;
mod faults;
mod hotplug;
mod mirror;
mod monitor;
mod netmirror;
mod proxy;
mod redundancy;
mod root;
mod root_life;
mod root_snapshot;
mod shared;

use libtest_mimic::{Arguments, Failed, Trial};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `module::function` pairs in the order they start: longest first (measured in CI
/// runs), so that the last scenarios to finish are short ones and no core idles at the
/// end for long.
macro_rules! scenarios {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$((stringify!($module), stringify!($name), $module::$name as fn())),*]
    };
}

fn all() -> Vec<(&'static str, &'static str, fn())> {
    scenarios![
        // waiting (no CPU slot): beside the first two busy ones
        shared::shared_failover_after_power_cut,
        crash::power_cut_every_step_create_volume,
        crash::power_cut_every_step_add_leg,
        crash::power_cut_every_step_proxy_part,
        // waiting: takes the extra thread when the failover scenario ends
        shared::shared_lease_loss_fences,
        root::root_conversion_power_cut,
        bootenv::bootenv_create_boot_switch_back,
        netmirror::netmirror_link_cut_incremental_resync,
        netmirror::netmirror_both_down_latest_wins,
        netmirror::netmirror_failover,
        bootenv::bootenv_vmware_guest,
        root_snapshot::root_cow_snapshot_rollback_on_reboot,
        proxy::proxy_join_part_rejoin_restore,
        redundancy::each_leg_alone_after_every_cycle,
        root::root_uefi_kvm_host_boot_either_disk,
        root::root_uefi_vmware_guest_boot_either_disk,
        mirror::vmware_layouts,
        root_life::root_replace_dead_disk,
        root_life::root_kernel_update_reaches_every_esp,
        shared::shared_two_nodes_exclusive_activation,
        netmirror::netmirror_two_nodes_data_on_both,
        root_life::root_undo_returns_to_a_plain_boot,
        cluster::cluster_two_nodes_share_a_disk_and_a_lease,
        redundancy::force_starts_a_closed_class_from_one_disk,
        cow::cow_snapshot_merge_survives_reboot,
        shared::shared_snapshot_on_owner_only,
        shared::shared_leg_failure_recorded_under_lease,
        shared::shared_concurrent_changes,
        hotplug::stale_leg_reported_disable_never_written,
        cow::cow_merge_of_open_origin_waits_for_next_boot,
        cow::cow_snapshot_refused_in_other_guest,
        hotplug::injected_read_errors_spare_takes_over,
        mirror::kvm_raid1_degraded_both_ways,
        proxy::proxy_restore_refused_while_mounted,
        hotplug::unplug_leg_under_writer_then_replug_resyncs_only_changes,
        mirror::power_cut_after_apply,
        root::root_class_denied_where_the_matrix_says_no,
        cow::cow_store_full_is_invalid_origin_intact,
        mirror::refused_apply_changes_nothing,
        mirror::ext4_fsck_after_reboot,
        hotplug::crafted_label_disk_is_disable_never_written,
        boot::uefi_boots_a_root_file_system_on_disk,
        boot::uefi_firmware_boots_from_either_disks_esp,
        monitor::monitor_leg_failed_exec,
        faults::power_cut_keeps_synced_data,
        mirror::idempotent_apply,
        boot::dm_targets_and_failure_report,
        faults::hotplug_unplug_replug,
        boot::vmware_guest_uefi_probe,
        boot::kvm_guest_bios_probe,
        faults::injected_io_errors,
    ]
}

/// Scenarios that mostly wait with idle guests (a dead node's lease expiring: minutes;
/// a lost lease disk until sanlock fences): they take no CPU slot.
const WAITING: &[&str] = &[
    "shared_failover_after_power_cut",
    "shared_lease_loss_fences",
];

/// How many busy VM scenarios run at once: one per core (more while the host idles,
/// [`dmclass_vmtest::schedule`]).
fn cpu_slots() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Turns a panic message (the scenarios fail by panicking) into the harness's failure.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "panicked".to_string())
}

fn main() {
    let mut args = Arguments::from_args();
    let cpus = cpu_slots();
    // `--test-threads N` given: N scenarios at once, waiting ones included.
    let gate = Arc::new(dmclass_vmtest::schedule::Gate::new(
        if args.test_threads.is_some() {
            usize::MAX
        } else {
            cpus
        },
        cpus,
    ));
    // the busy ones, the extra one on an idle host, and the waiting ones beside them
    args.test_threads
        .get_or_insert(cpus + dmclass_vmtest::schedule::EXTRA + 1);
    let times: Arc<Mutex<Vec<Time>>> = Arc::default();
    let trials = all()
        .into_iter()
        .enumerate()
        .map(|(order, (module, name, run))| {
            let times = Arc::clone(&times);
            let gate = Arc::clone(&gate);
            let busy = !WAITING.contains(&name);
            Trial::test(name, move || {
                let pass = busy.then(|| gate.enter(order));
                let _ = dmclass_vmtest::take_qemu_cpu_time();
                let t0 = Instant::now();
                let r = std::panic::catch_unwind(run);
                let took = t0.elapsed();
                drop(pass);
                if let Ok(mut t) = times.lock() {
                    t.push(Time {
                        name: format!("{module}::{name}"),
                        took,
                        cpu: dmclass_vmtest::take_qemu_cpu_time(),
                        ok: r.is_ok(),
                    });
                }
                r.map_err(|p| Failed::from(message(p.as_ref())))
            })
            .with_kind(module)
        })
        .collect();
    let t0 = Instant::now();
    let conclusion = libtest_mimic::run(&args, trials);
    print_times(&times, t0.elapsed(), cpus, gate.extra_starts());
    conclusion.exit();
}

/// One scenario's run.
struct Time {
    name: String,
    took: Duration,
    /// CPU time of its QEMU processes.
    cpu: Duration,
    ok: bool,
}

/// The tier's per-scenario times, longest first, with the CPU time their guests used;
/// their sums against the wall time. All the guests' CPU time over the cores is the
/// least wall time any schedule could reach.
fn print_times(times: &Mutex<Vec<Time>>, wall: Duration, cores: usize, extra: usize) {
    let Ok(mut times) = times.lock() else {
        return;
    };
    if times.is_empty() {
        return;
    }
    times.sort_by_key(|t| std::cmp::Reverse(t.took));
    let sum: Duration = times.iter().map(|t| t.took).sum();
    let cpu: Duration = times.iter().map(|t| t.cpu).sum();
    println!("\nVM scenario times (longest first; CPU: what its QEMUs used):");
    for t in times.iter() {
        let mark = if t.ok { "ok    " } else { "FAILED" };
        println!(
            "  {:>7.1} s  CPU {:>7.1} s  {mark}  {}",
            t.took.as_secs_f64(),
            t.cpu.as_secs_f64(),
            t.name
        );
    }
    println!(
        "  {:>7.1} s  CPU {:>7.1} s  sum of {} scenarios; wall time {:.1} s",
        sum.as_secs_f64(),
        cpu.as_secs_f64(),
        times.len(),
        wall.as_secs_f64()
    );
    #[allow(clippy::cast_precision_loss)]
    let floor = cpu.as_secs_f64() / cores as f64;
    println!(
        "  guests' CPU over {cores} cores: {floor:.1} s (no schedule is shorter); \
         {extra} scenario(s) started beside the busy ones while the host idled"
    );
}
