//! The firmware's side of boot environments: reading the UEFI boot variables,
//! registering an environment's entries, choosing what boots next, deleting entries.
//! Decisions are `dmclass_engine::bootenv::entries`'s; `efibootmgr` does the writing.

use super::super::esp::{create_entry, esps_of, Esp};
use super::root_class;
use crate::args::bootenv::ActivateArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::bootenv::entries::{self as decide, NextBoot};
use dmclass_engine::bootenv::{self, BootEnvState, PRIMARY};
use dmclass_engine::root::boot_entry::{self, BootVariables, EspOfDisk};
use dmclass_linux::esp as lesp;
use std::process::ExitCode;

/// The boot variables now, or why they cannot be read.
pub(super) fn variables() -> Result<BootVariables, CliError> {
    if !lesp::efi_variables() {
        return Err(CliError::Refused(
            "no UEFI variables (/sys/firmware/efi/efivars is empty: not booted by UEFI, or \
             efivarfs not mounted); boot environments boot through UEFI boot entries"
                .into(),
        ));
    }
    lesp::efibootmgr(&["-v"])
        .map(|t| boot_entry::parse_efibootmgr(&t))
        .map_err(CliError::Esp)
}

/// The ESPs of `c`'s present system disks, and as boot entries name them.
pub(super) fn esps(
    c: &ClassOnDisks,
    backend: &mut Backend,
) -> Result<(Vec<Esp>, Vec<EspOfDisk>), CliError> {
    let (_, disks) = backend.parts();
    let esps = esps_of(c, &*disks)?;
    let named = esps
        .iter()
        .map(|e| EspOfDisk {
            disk: e.disk.clone(),
            partition: e.guid,
        })
        .collect();
    Ok((esps, named))
}

/// What the next boot starts (`None` without UEFI variables).
pub(super) fn next_boot(
    c: &ClassOnDisks,
    backend: &mut Backend,
) -> Result<Option<NextBoot>, CliError> {
    if !lesp::efi_variables() {
        return Ok(None);
    }
    let (_, named) = esps(c, backend)?;
    Ok(decide::next_boot(&variables()?, &c.meta.name, &named))
}

fn node_of(c: &ClassOnDisks, disk: &str) -> String {
    c.present
        .iter()
        .find(|d| d.name == disk)
        .map(|d| d.path.display().to_string())
        .unwrap_or_default()
}

/// Give environment `env` an entry on every ESP that has none, booting `cmdline`; its
/// entries' numbers, the one on the disk this boot came from first.
pub(super) fn register(
    c: &ClassOnDisks,
    backend: &mut Backend,
    env: &str,
    cmdline: &str,
) -> Result<Vec<u16>, CliError> {
    let class = c.meta.name.as_str();
    let (esps, named) = esps(c, backend)?;
    let before = variables()?;
    let loader = boot_entry::loader_for(&before, &named);
    for e in &esps {
        let label = decide::label(class, env, &e.disk);
        if before.entries.iter().any(|x| x.active && x.label == label) {
            continue;
        }
        create_entry(
            &node_of(c, &e.disk),
            e.index,
            &label,
            &loader,
            Some(cmdline),
        )?;
        println!("bootenv {env}: boot entry on {}'s ESP ({loader})", e.disk);
    }
    let after = variables()?;
    let mine = decide::entries_of(&after, class, env);
    Ok(decide::current_disk_first(&after, &mine))
}

/// The entries that boot the primary environment (the disks' own), registering
/// `dmclass CLASS/DISK` for each ESP without one, as `esp sync` does.
fn primary_entries(c: &ClassOnDisks, backend: &mut Backend) -> Result<Vec<u16>, CliError> {
    let (esps, named) = esps(c, backend)?;
    let before = variables()?;
    let plain = decide::without_envs(&before);
    let loader = boot_entry::loader_for(&before, &named);
    for m in boot_entry::missing(&plain, &named) {
        if let Some(e) = esps.iter().find(|e| e.disk == m.disk) {
            let label = boot_entry::label(&c.meta.name, &e.disk);
            create_entry(&node_of(c, &e.disk), e.index, &label, &loader, None)?;
            println!(
                "bootenv {PRIMARY}: boot entry on {}'s ESP ({loader})",
                e.disk
            );
        }
    }
    let after = decide::without_envs(&variables()?);
    let mut mine: Vec<&boot_entry::BootEntry> = after
        .entries
        .iter()
        .filter(|e| {
            e.active
                && e.partition
                    .is_some_and(|p| named.iter().any(|x| x.partition == p))
        })
        .collect();
    mine.sort_by_key(|e| {
        after
            .order
            .iter()
            .position(|n| *n == e.num)
            .unwrap_or(usize::MAX)
    });
    Ok(decide::current_disk_first(&after, &mine))
}

/// `bootenv activate NAME [--once]`.
pub(super) fn activate(a: &ActivateArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (c, _) = root_class(backend, a.class.class.as_deref())?;
    let class = c.meta.name.clone();
    let nums = if a.name == PRIMARY {
        primary_entries(&c, backend)?
    } else {
        let Some(e) = bootenv::find(&c.meta, &a.name) else {
            return Err(CliError::Refused(format!(
                "class {class} has no boot environment `{}` (`dmclass bootenv list`)",
                a.name
            )));
        };
        if e.state != BootEnvState::Ready {
            return Err(CliError::Refused(format!(
                "boot environment {} was not finished (a create was cut short): run \
                 `dmclass bootenv create {}` again, or remove it",
                e.name, e.name
            )));
        }
        let vars = variables()?;
        decide::current_disk_first(&vars, &decide::entries_of(&vars, &class, &a.name))
    };
    let Some(first) = nums.first().copied() else {
        return Err(CliError::Refused(format!(
            "boot environment {} has no boot entry (run `dmclass bootenv create {}` again to \
             register them)",
            a.name, a.name
        )));
    };
    let hex = |n: u16| format!("{n:04X}");
    if a.once {
        lesp::efibootmgr(&["--bootnext", &hex(first)]).map_err(CliError::Esp)?;
        println!(
            "bootenv {}: the next boot (only) starts it (BootNext=Boot{}); later boots follow \
             the boot order again",
            a.name,
            hex(first)
        );
    } else {
        let vars = variables()?;
        let order = decide::order_first(&vars, &nums)
            .into_iter()
            .map(hex)
            .collect::<Vec<_>>()
            .join(",");
        lesp::efibootmgr(&["--bootorder", &order]).map_err(CliError::Esp)?;
        if vars.next.is_some() {
            // a one-time choice made before would win over this one at the next boot
            lesp::efibootmgr(&["--delete-bootnext"]).map_err(CliError::Esp)?;
        }
        println!(
            "bootenv {}: every boot starts it from now on (BootOrder {order})",
            a.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Delete environment `env`'s entries; their numbers.
pub(super) fn delete(class: &str, env: &str) -> Result<Vec<u16>, CliError> {
    if !lesp::efi_variables() {
        return Ok(Vec::new());
    }
    let vars = variables()?;
    let nums: Vec<u16> = decide::entries_of(&vars, class, env)
        .iter()
        .map(|e| e.num)
        .collect();
    for n in &nums {
        let hex = format!("{n:04X}");
        lesp::efibootmgr(&["--bootnum", &hex, "--delete-bootnum"]).map_err(CliError::Esp)?;
    }
    Ok(nums)
}

/// Give environment `to`'s entries the place `from`'s have in the boot order and
/// `BootNext` (a rename keeps what boots next).
pub(super) fn carry_over(class: &str, from: &str, to: &str) -> Result<(), CliError> {
    let vars = variables()?;
    let (order, next) = decide::carried_over(&vars, class, from, to);
    let hex = |n: u16| format!("{n:04X}");
    if order != vars.order {
        let text = order.into_iter().map(hex).collect::<Vec<_>>().join(",");
        lesp::efibootmgr(&["--bootorder", &text]).map_err(CliError::Esp)?;
    }
    if let Some(n) = next.filter(|n| Some(*n) != vars.next) {
        lesp::efibootmgr(&["--bootnext", &hex(n)]).map_err(CliError::Esp)?;
    }
    Ok(())
}
