//! `dmclass root undo`: record that a root class is to be taken apart at the next boot
//! (`dmclass_engine::root::undo`; the initramfs's `activate --root` carries it out).

use super::change;
use super::context::{class_on_disks, confirm};
use crate::args::root::{RootArgs, RootCommand, UndoArgs};
use crate::error::CliError;
use dmclass_engine::metadata::DiskRoleMeta;
use dmclass_engine::root::undo;
use std::process::ExitCode;

/// Run `root`.
pub fn run(args: &RootArgs) -> Result<ExitCode, CliError> {
    match &args.command {
        RootCommand::Undo(a) => change::locked(|backend| undo_class(a, backend)),
    }
}

fn undo_class(
    args: &UndoArgs,
    backend: &mut crate::backend::Backend,
) -> Result<ExitCode, CliError> {
    let c = class_on_disks(backend, &args.class)?;
    let keep = match &args.keep {
        Some(k) => k.clone(),
        None => c
            .meta
            .disks
            .iter()
            .find(|d| d.role == DiskRoleMeta::Keep)
            .map(|d| d.name.clone())
            .ok_or_else(|| {
                CliError::Refused(format!(
                    "class {} has no disk of role keep: name the disk to keep with --keep",
                    c.meta.name
                ))
            })?,
    };
    if let Some(u) = &c.meta.undo {
        if u.keep == keep {
            println!(
                "class {}: undo already recorded (keeping disk {keep}): reboot to finish",
                c.meta.name
            );
            return Ok(ExitCode::SUCCESS);
        }
        return Err(CliError::Refused(format!(
            "class {}: an undo keeping disk {} is already recorded",
            c.meta.name, u.keep
        )));
    }
    if let Some(why) = undo::refusal(&c.meta, &keep) {
        return Err(CliError::Refused(format!(
            "class {}: cannot undo back to disk {keep}: {why}; nothing was changed",
            c.meta.name
        )));
    }
    if !c.present.iter().any(|d| d.name == keep) {
        return Err(CliError::Refused(format!(
            "class {}: disk {keep} ({}) is missing; nothing was changed",
            c.meta.name,
            c.meta.stable_id(&keep)
        )));
    }
    let others: Vec<&str> = c
        .meta
        .disks
        .iter()
        .map(|d| d.name.as_str())
        .filter(|d| *d != keep)
        .collect();
    println!(
        "class {}: at the next boot the class is taken apart: the copies on {} are wiped \
         (partition signatures, private area, partition table) and the machine boots from \
         disk {keep}'s partitions",
        c.meta.name,
        if others.is_empty() {
            "no other disk".to_string()
        } else {
            others.join(", ")
        }
    );
    if !args.yes && !confirm("Record the undo?", "root undo")? {
        return Err(CliError::Refused(format!(
            "class {}: not confirmed; nothing was changed",
            c.meta.name
        )));
    }
    let (_, disks) = backend.parts();
    let present = c.present_paths();
    let next = undo::request(&c.meta, &present, &keep, disks)?;
    println!(
        "class {}: undo recorded (generation {}): reboot to finish",
        c.meta.name, next.generation
    );
    Ok(ExitCode::SUCCESS)
}
