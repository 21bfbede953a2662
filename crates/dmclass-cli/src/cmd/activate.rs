//! `dmclass activate`: assemble classes from the metadata on their disks and start
//! their volumes (`--force`: a class the closing rule keeps down).

use super::change;
use super::context::{confirm, finish_merges, found_classes, select};
use super::lease;
use crate::args::activate::ActivateArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::{self, ClassOnDisks};
use dmclass_engine::metadata::ClassTypeMeta;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Run `activate`.
pub fn run(args: &ActivateArgs) -> Result<ExitCode, CliError> {
    change::locked(|backend| activate_with(args, backend))
}

/// The classes `args` names, from the disks found now.
fn choose<'a>(
    args: &ActivateArgs,
    classes: &'a [ClassOnDisks],
) -> Result<Vec<&'a ClassOnDisks>, CliError> {
    Ok(if args.all {
        classes.iter().collect()
    } else if args.root {
        classes
            .iter()
            .filter(|c| c.meta.class_type == ClassTypeMeta::Root)
            .collect()
    } else {
        select(classes, &args.classes)?
    })
}

/// Scan until every disk of the chosen classes is present, or `wait` has passed
/// (`--wait-disks`; a boot must not hang on a dead disk). Returns the scan to use.
fn scan_waiting(args: &ActivateArgs, backend: &mut Backend) -> Result<Vec<ClassOnDisks>, CliError> {
    let wait = Duration::from_secs(u64::from(args.wait_disks.unwrap_or(0)));
    let start = Instant::now();
    let mut linked = false;
    loop {
        let classes = found_classes(backend)?;
        // A netmirror's partner disk is reached over the network: once, then scan again.
        if !linked {
            linked = true;
            if super::netmirror::reach_partners(backend, &choose(args, &classes)?)? {
                continue;
            }
        }
        let missing: Vec<String> = choose(args, &classes)?
            .iter()
            .flat_map(|c| c.missing.iter().map(|m| format!("{}/{m}", c.meta.name)))
            .collect();
        let waited = start.elapsed();
        if missing.is_empty() || waited >= wait {
            if !missing.is_empty() && !wait.is_zero() {
                eprintln!(
                    "dmclass: waited {:.1} s for {}; starting without",
                    waited.as_secs_f64(),
                    missing.join(", ")
                );
            } else if missing.is_empty() && waited >= Duration::from_millis(100) {
                eprintln!(
                    "dmclass: every disk present after {:.1} s",
                    waited.as_secs_f64()
                );
            }
            return Ok(classes);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A root class whose undo is recorded (`dmclass root undo`): taken apart by the
/// initramfs (`--root`), before anything uses its disks; left alone otherwise.
fn undo_at_boot(
    args: &ActivateArgs,
    backend: &mut Backend,
    c: &ClassOnDisks,
) -> Result<(), CliError> {
    let keep = c.meta.undo.as_ref().map_or("", |u| u.keep.as_str());
    if !args.root {
        println!(
            "class {}: undo recorded (keeping disk {keep}): not started; the next boot \
             takes the class apart",
            c.meta.name
        );
        return Ok(());
    }
    let sim = matches!(backend, Backend::Sim { .. });
    let (kernel, disks) = backend.parts();
    let present = c.present_paths();
    for line in
        dmclass_engine::root::undo::carry_out(&c.meta, &present, &c.missing, &*kernel, disks)?
    {
        eprintln!("dmclass: {line}");
    }
    if !sim {
        // The kernel drops the partitions that are gone, udev the links to the copies.
        for d in &c.present {
            if let Err(why) = dmclass_linux::diskio::reread_partitions(&d.path) {
                eprintln!("dmclass: warning: {why}");
            }
        }
        let _ = std::process::Command::new("udevadm")
            .args(["settle", "--timeout=10"])
            .status();
    }
    println!(
        "class {}: undone: the machine boots from disk {keep}'s partitions",
        c.meta.name
    );
    Ok(())
}

/// A netmirror class running here whose partner disk was recorded stale (a forced
/// start without it) and is reachable again: take it back, under the class lease this
/// activation holds — its leg is rebuilt from this node's disk, never used as a source.
fn readd_partner(backend: &mut Backend, c: &ClassOnDisks) -> Result<(), CliError> {
    if !super::netmirror::is_netmirror(&c.meta) {
        return Ok(());
    }
    let running = {
        let (kernel, _) = backend.parts();
        c.meta
            .volumes
            .iter()
            .any(|v| assemble::volume_running(&c.meta.name, &v.name, &*kernel))
    };
    if !running {
        return Ok(());
    }
    for s in c
        .stale
        .iter()
        .filter(|s| c.meta.departed.iter().any(|d| d.disk == s.name))
    {
        if super::event::readd_under_lease(&s.path, c.meta.uuid, backend)? {
            println!(
                "class {}: disk {} is back: taken in again, resynced from this node's disk",
                c.meta.name, s.name
            );
        }
    }
    Ok(())
}

fn activate_with(args: &ActivateArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let classes = scan_waiting(args, backend)?;
    let chosen = choose(args, &classes)?;
    if chosen.is_empty() {
        if args.root {
            println!("no dmclass root class found on this machine's disks");
        } else {
            println!("no dmclass class found on this machine's disks");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0usize;
    for c in &chosen {
        if c.meta.undo.is_some() {
            undo_at_boot(args, backend, c)?;
            continue;
        }
        {
            let (_, disks) = backend.parts();
            let cut = dmclass_engine::root::cut::conversion_unfinished(
                &c.meta,
                &c.present_paths(),
                &c.missing,
                &*disks,
            );
            if let Some(why) = cut {
                println!("{why}; not started");
                continue;
            }
        }
        for m in &c.missing {
            eprintln!(
                "warning: class {}: disk {m} ({}) is missing",
                c.meta.name,
                c.meta.stable_id(m)
            );
        }
        // --force says what it will do and asks, before any lease is taken.
        let forced = if args.force {
            let (_, disks) = backend.parts();
            let plan = assemble::force::plan(c, &*disks)?;
            eprintln!("class {}: activate --force will:", c.meta.name);
            for l in &plan.lines {
                eprintln!("  {l}");
            }
            if !args.yes && !confirm("Start the class this way?", "activate --force")? {
                return Err(CliError::Refused(format!(
                    "class {}: not confirmed; nothing was changed",
                    c.meta.name
                )));
            }
            Some(plan)
        } else {
            None
        };
        // A forced start that moves the lease area (its disk is absent) takes the
        // leases where the new description puts them.
        let moved = forced.as_ref().filter(|p| p.moves_leases(&c.meta));
        let lease_meta = moved.and_then(|p| p.meta.as_ref()).unwrap_or(&c.meta);
        // A shared class runs where its leases are: named, never by --all or at boot.
        let wait_lease = Duration::from_secs(u64::from(args.wait_lease.unwrap_or(0)));
        let paths = c.present_paths();
        let shared = if lease::is_shared(&c.meta) {
            if args.all || args.root {
                println!(
                    "class {}: shared: not started by --all; run `dmclass activate {}` on the node that should run it (or let Pacemaker do it)",
                    c.meta.name, c.meta.name
                );
                continue;
            }
            // A netmirror volume without the partner's disk may have to wait for it
            // (the start lock): said before any lease is taken.
            let locked = if args.force {
                Vec::new()
            } else {
                let (kernel, disks) = backend.parts();
                assemble::start_locked(c, &*kernel, &*disks)
            };
            let volumes: Vec<String> = c
                .meta
                .volumes
                .iter()
                .filter(|v| v.autostart && locked.iter().all(|(l, _)| l != &v.name))
                .map(|v| v.name.clone())
                .collect();
            if volumes.is_empty() && !locked.is_empty() {
                for (v, why) in &locked {
                    eprintln!("class {}: volume {v} not started: {why}", c.meta.name);
                }
                failed += locked.len();
                continue;
            }
            let cl = lease::class_leases(backend, lease_meta, &paths)?;
            if moved.is_some() {
                let (disks, mut client) = backend.lease_parts(cl.host_id.get());
                cl.init_all(&mut *client, disks)?;
                eprintln!(
                    "class {}: new lease area written (lockspace {})",
                    c.meta.name,
                    cl.lockspace()
                );
            }
            if let Err(e) = lease::take(backend, lease_meta, &cl, &volumes, wait_lease) {
                eprintln!("dmclass: {e}");
                failed += volumes.len().max(1);
                continue;
            }
            Some(cl)
        } else {
            None
        };
        if shared.is_some() && forced.is_none() {
            readd_partner(backend, c)?;
        }
        let (kernel, disks) = backend.parts();
        let mut progress = |p: dmclass_engine::progress::Progress<'_>| log::info!("{p}");
        // Finishes an interrupted apply and repairs lagging metadata first; refuses a
        // closed class (unless --force, which says what it will do and asks).
        let r = if let Some(plan) = &forced {
            assemble::force::activate_forced(c, plan, kernel, disks, &mut progress)?
        } else {
            assemble::recover::activate_recovering(c, kernel, disks, &mut progress)?
        };
        let own = format!("class {}: ", c.meta.name);
        for w in &r.warnings {
            // Engine warnings usually name the class already.
            eprintln!("warning: {own}{}", w.strip_prefix(&own).unwrap_or(w));
        }
        for (v, why) in &r.skipped {
            eprintln!("class {}: volume {v} not started: {why}", c.meta.name);
        }
        failed += r.skipped.len();
        if let Some(cl) = &shared {
            // The class lease was for this activation; a volume that did not start
            // gives its lease back.
            let mut back: Vec<Option<&str>> = vec![None];
            back.extend(r.skipped.iter().map(|(v, _)| Some(v.as_str())));
            lease::give_back(backend, cl, &back)?;
        }
        for v in &r.manual {
            println!(
                "class {}: volume {v} left inactive (autostart: false)",
                c.meta.name
            );
        }
        // Merges the kernel finished (a snapshot-merge started now or earlier).
        if finish_merges(backend, c)? {
            println!("class {}: finished snapshot merge(s)", c.meta.name);
        }
        println!(
            "class {}: {} started, {} already active, {} degraded, {} not started",
            c.meta.name,
            r.started.len(),
            r.already_active.len(),
            r.degraded.len(),
            r.skipped.len()
        );
        // A boot environment to be made the primary (`bootenv promote`): now, while
        // nothing has the class's volumes open (the initramfs, before the root mounts).
        if dmclass_engine::bootenv::pending_promote(&c.meta).is_some() {
            super::bootenv::promote_at_boot(backend, &c.meta.name)?;
        }
    }
    let names: Vec<&str> = chosen.iter().map(|c| c.meta.name.as_str()).collect();
    super::wait::public_paths(backend, &names, args.no_udev_wait)?;
    if failed > 0 {
        return Err(CliError::Refused(format!(
            "{failed} volume(s) could not be started"
        )));
    }
    Ok(ExitCode::SUCCESS)
}
