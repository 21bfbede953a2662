//! `dmclass esp sync`: every ESP of a root class gets the boot files of the one the
//! system updates, and every disk a UEFI boot entry (docs/root-class.md). What to copy
//! and which entries are missing is decided in `dmclass_engine::root`
//! (`esp_sync`, `boot_entry`); mounting, copying and efibootmgr are
//! `dmclass_linux::esp`.

use super::context::{found_classes, select};
use crate::args::esp::{EspArgs, EspCommand, EspSyncArgs};
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::{self, print_json, Schema};
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::gpt::{read_gpt, GptOnDisk};
use dmclass_engine::io::Disks;
use dmclass_engine::metadata::ClassTypeMeta;
use dmclass_engine::root::boot_entry::{self, EspOfDisk};
use dmclass_engine::root::esp_sync::{bytes_to_copy, plan_sync, SyncStep};
use dmclass_linux::esp::{self as lesp, TempMount};
use dmclass_linux::inuse::{DevNum, MountEntry};
use dmclass_linux::sysroot::SysRoot;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use uuid::Uuid;

/// Run `esp`.
pub fn run(args: &EspArgs) -> Result<ExitCode, CliError> {
    match &args.command {
        EspCommand::Sync(a) => sync(a),
    }
}

/// The `esp sync --json` document.
#[derive(Debug, Serialize)]
struct Report {
    classes: Vec<ClassReport>,
}

#[derive(Debug, Serialize)]
struct ClassReport {
    class: String,
    /// The disk whose ESP was copied from.
    source: String,
    esps: Vec<EspReport>,
    boot_entries: BootReport,
}

#[derive(Debug, Serialize)]
struct EspReport {
    disk: String,
    partition: Option<PathBuf>,
    /// `source`, `equal`, `synced`, `differs` (dry run) or `missing`.
    state: &'static str,
    copied: usize,
    removed: usize,
    bytes: u64,
}

#[derive(Debug, Serialize)]
struct BootReport {
    /// `registered`, `unchanged`, `would_register` (dry run) or `skipped`.
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    entries: Vec<EntryReport>,
}

#[derive(Debug, Serialize)]
struct EntryReport {
    disk: String,
    /// `Boot####`, once it exists.
    entry: Option<String>,
    created: bool,
}

/// One ESP of a class disk on this machine.
/// One disk's ESP.
pub(super) struct Esp {
    /// The disk's name in the class.
    pub(super) disk: String,
    /// The partition's device node.
    node: PathBuf,
    dev: DevNum,
    /// Its unique partition GUID (what a boot entry names).
    pub(super) guid: Uuid,
    /// Its partition number on the disk.
    pub(super) index: u32,
}

/// Register a boot entry (not added to BootOrder) for the loader on partition `part`
/// of `disk`, with `options` as its load options (the loader's command line).
pub(super) fn create_entry(
    disk: &str,
    part: u32,
    label: &str,
    loader: &str,
    options: Option<&str>,
) -> Result<(), CliError> {
    let part = part.to_string();
    let mut args = vec![
        "--create-only",
        "--disk",
        disk,
        "--part",
        &part,
        "--label",
        label,
        "--loader",
        loader,
    ];
    if let Some(o) = options {
        // UCS-2, as a loader reads its LoadOptions
        args.extend(["--unicode", o]);
    }
    lesp::efibootmgr(&args).map_err(CliError::Esp)?;
    Ok(())
}

fn refused(why: String) -> CliError {
    CliError::Refused(why)
}

/// Say `line` unless `--quiet` or `--json`.
fn say(args: &EspSyncArgs, line: &str) {
    if !args.json && !output::quiet() {
        println!("{line}");
    }
}

fn sync(args: &EspSyncArgs) -> Result<ExitCode, CliError> {
    let mut backend = Backend::open()?;
    if matches!(backend, Backend::Sim { .. }) {
        return Err(refused(
            "esp sync works on a real machine only: the simulated machine (DMCLASS_SIM) has \
             no file systems to mount"
                .into(),
        ));
    }
    let classes = found_classes(&mut backend)?;
    let chosen: Vec<&ClassOnDisks> = if args.classes.is_empty() {
        classes
            .iter()
            .filter(|c| c.meta.class_type == ClassTypeMeta::Root)
            .collect()
    } else {
        let picked = select(&classes, &args.classes)?;
        if let Some(c) = picked
            .iter()
            .find(|c| c.meta.class_type != ClassTypeMeta::Root)
        {
            return Err(refused(format!(
                "class {} is not a root class: only a root class has ESPs to keep equal",
                c.meta.name
            )));
        }
        picked
    };
    if chosen.is_empty() {
        say(
            args,
            "no root class on this machine's disks: no ESP to sync",
        );
    }
    let mounts = lesp::mounts();
    let (_, disks) = backend.parts();
    let mut report = Report {
        classes: Vec::new(),
    };
    for c in chosen {
        report.classes.push(sync_class(c, &*disks, &mounts, args)?);
    }
    if args.json {
        print_json(Schema::Esp, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The ESP of each present system disk of class `c` (a boot-environment disk has
/// none: its private area is at sector 0).
pub(super) fn esps_of(c: &ClassOnDisks, disks: &dyn Disks) -> Result<Vec<Esp>, CliError> {
    let sys = SysRoot::new("/");
    let mut out = Vec::new();
    let system = |name: &str| c.meta.disk(name).is_some_and(|d| d.area_offset.0 != 0);
    for d in c.present.iter().filter(|d| system(&d.name)) {
        let table = match read_gpt(disks, &d.path) {
            Ok(GptOnDisk::Table(t)) => t,
            Ok(GptOnDisk::None) => {
                return Err(refused(format!(
                    "disk {} of root class {} ({}) has no GPT: no ESP to sync",
                    d.name,
                    c.meta.name,
                    d.path.display()
                )))
            }
            Err(why) => {
                return Err(refused(format!(
                    "disk {} of root class {} ({}): {why}",
                    d.name,
                    c.meta.name,
                    d.path.display()
                )))
            }
        };
        let found: Vec<_> = table.partitions.iter().filter(|p| p.is_esp()).collect();
        let [p] = found.as_slice() else {
            return Err(refused(format!(
                "disk {} of root class {} has {} EFI system partitions; dmclass keeps exactly \
                 one per disk",
                d.name,
                c.meta.name,
                found.len()
            )));
        };
        let (node, dev) = lesp::partition_node(&sys, &d.path, p.index).map_err(CliError::Esp)?;
        out.push(Esp {
            disk: d.name.clone(),
            node,
            dev,
            guid: p.guid,
            index: p.index,
        });
    }
    Ok(out)
}

/// The source ESP: `--from DISK`, or the one mounted at `--esp-path`.
fn source<'a>(
    c: &ClassOnDisks,
    esps: &'a [Esp],
    mounts: &[MountEntry],
    args: &EspSyncArgs,
) -> Result<&'a Esp, CliError> {
    let names = || {
        esps.iter()
            .map(|e| format!("{} {}", e.disk, e.node.display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(from) = &args.from {
        return esps.iter().find(|e| &e.disk == from).ok_or_else(|| {
            refused(format!(
                "--from {from}: no present disk of that name in root class {} (present: {})",
                c.meta.name,
                names()
            ))
        });
    }
    let Some(dev) = lesp::device_at(mounts, &args.esp_path) else {
        return Err(refused(format!(
            "nothing is mounted at {}: mount the ESP that holds the new boot files there, \
             or name its disk with --from DISK (ESPs of {}: {})",
            args.esp_path.display(),
            c.meta.name,
            names()
        )));
    };
    esps.iter().find(|e| e.dev == dev).ok_or_else(|| {
        refused(format!(
            "{} is not one of root class {}'s ESPs ({}): refusing to copy from it",
            args.esp_path.display(),
            c.meta.name,
            names()
        ))
    })
}

/// Where ESP `e` can be read (and written): its existing mount, or one made now.
fn open_esp(
    class: &str,
    e: &Esp,
    mounts: &[MountEntry],
    read_only: bool,
) -> Result<(PathBuf, Option<TempMount>), CliError> {
    if let Some(dir) = lesp::mounted_at(mounts, e.dev) {
        return Ok((dir, None));
    }
    let m = TempMount::new(&e.node, &format!("{class}-{}", e.disk), read_only)
        .map_err(CliError::Esp)?;
    Ok((m.dir().to_path_buf(), Some(m)))
}

fn sync_class(
    c: &ClassOnDisks,
    disks: &dyn Disks,
    mounts: &[MountEntry],
    args: &EspSyncArgs,
) -> Result<ClassReport, CliError> {
    let class = c.meta.name.as_str();
    let esps = esps_of(c, disks)?;
    let src = source(c, &esps, mounts, args)?;
    let (src_dir, _src_mount) = open_esp(class, src, mounts, true)?;
    let from_tree = lesp::walk(&src_dir).map_err(CliError::Esp)?;
    say(
        args,
        &format!(
            "{class}: copying boot files from disk {} ({}, at {})",
            src.disk,
            src.node.display(),
            src_dir.display()
        ),
    );
    let mut reports = vec![EspReport {
        disk: src.disk.clone(),
        partition: Some(src.node.clone()),
        state: "source",
        copied: 0,
        removed: 0,
        bytes: 0,
    }];
    for e in esps.iter().filter(|e| e.dev != src.dev) {
        reports.push(sync_one(class, e, &src_dir, &from_tree, mounts, args)?);
    }
    for m in &c.missing {
        say(
            args,
            &format!("  {m}: missing; run `dmclass esp sync` again when it is back"),
        );
        reports.push(EspReport {
            disk: m.clone(),
            partition: None,
            state: "missing",
            copied: 0,
            removed: 0,
            bytes: 0,
        });
    }
    let boot_entries = if args.no_boot_entries {
        BootReport {
            state: "skipped",
            reason: Some("--no-boot-entries".into()),
            entries: Vec::new(),
        }
    } else {
        register(c, &esps, args)?
    };
    Ok(ClassReport {
        class: class.to_string(),
        source: src.disk.clone(),
        esps: reports,
        boot_entries,
    })
}

fn sync_one(
    class: &str,
    e: &Esp,
    src_dir: &Path,
    from_tree: &[dmclass_engine::root::esp_sync::EspEntry],
    mounts: &[MountEntry],
    args: &EspSyncArgs,
) -> Result<EspReport, CliError> {
    let (dir, _mount) = open_esp(class, e, mounts, args.dry_run)?;
    let to_tree = lesp::walk(&dir).map_err(CliError::Esp)?;
    let steps = plan_sync(from_tree, &to_tree, |a, b| {
        lesp::same_content(&src_dir.join(a), &dir.join(b))
    });
    let copied = steps
        .iter()
        .filter(|s| matches!(s, SyncStep::Copy { .. }))
        .count();
    let removed = steps
        .iter()
        .filter(|s| matches!(s, SyncStep::Remove(_)))
        .count();
    let bytes = bytes_to_copy(&steps);
    for s in &steps {
        if output::verbose() || args.dry_run {
            say(args, &format!("  {}: {}", e.disk, describe(s)));
        }
        if !args.dry_run {
            let how = lesp::run_step(src_dir, &dir, s)
                .map_err(|err| refused(format!("ESP of disk {}: {err}", e.disk)))?;
            if how == lesp::Written::InPlace {
                eprintln!(
                    "{class}: note: the ESP of disk {} has no room for {} beside the old \
                     file: overwritten in place (make the ESP larger to keep such copies \
                     atomic)",
                    e.disk,
                    describe(s)
                );
            }
        }
    }
    let state = match (steps.is_empty(), args.dry_run) {
        (true, _) => "equal",
        (false, true) => "differs",
        (false, false) => "synced",
    };
    let verb = if args.dry_run { "would copy" } else { "copied" };
    say(
        args,
        &if steps.is_empty() {
            format!("  {} ({}): already equal", e.disk, e.node.display())
        } else {
            format!(
                "  {} ({}): {verb} {copied} file(s) ({}), {} {removed}",
                e.disk,
                e.node.display(),
                output::human(dmclass_model::Bytes(bytes)),
                if args.dry_run {
                    "would remove"
                } else {
                    "removed"
                }
            )
        },
    );
    Ok(EspReport {
        disk: e.disk.clone(),
        partition: Some(e.node.clone()),
        state,
        copied,
        removed,
        bytes,
    })
}

fn describe(s: &SyncStep) -> String {
    match s {
        SyncStep::MakeDir(p) => format!("mkdir {p}"),
        SyncStep::Copy { from, size, .. } => format!("copy {from} ({size} bytes)"),
        SyncStep::Remove(p) => format!("remove {p}"),
        SyncStep::RemoveDir(p) => format!("rmdir {p}"),
    }
}

/// One active boot entry per ESP of the class (efibootmgr).
fn register(c: &ClassOnDisks, esps: &[Esp], args: &EspSyncArgs) -> Result<BootReport, CliError> {
    let class = c.meta.name.as_str();
    if !lesp::efi_variables() {
        let why = "no UEFI variables (/sys/firmware/efi/efivars is empty: not booted by UEFI, \
                   or efivarfs not mounted)";
        say(args, &format!("{class}: boot entries left alone: {why}"));
        return Ok(BootReport {
            state: "skipped",
            reason: Some(why.into()),
            entries: Vec::new(),
        });
    }
    let read = || {
        lesp::efibootmgr(&["-v"])
            .map(|t| boot_entry::parse_efibootmgr(&t))
            .map_err(CliError::Esp)
    };
    let before = read()?;
    let wanted: Vec<EspOfDisk> = esps
        .iter()
        .map(|e| EspOfDisk {
            disk: e.disk.clone(),
            partition: e.guid,
        })
        .collect();
    // An environment's entry boots another root: it is no disk's entry.
    let disk_entries = dmclass_engine::bootenv::entries::without_envs(&before);
    let missing: Vec<EspOfDisk> = boot_entry::missing(&disk_entries, &wanted)
        .into_iter()
        .cloned()
        .collect();
    let loader = args
        .loader
        .clone()
        .unwrap_or_else(|| boot_entry::loader_for(&before, &wanted));
    let mut created = Vec::new();
    if !args.dry_run {
        for m in &missing {
            let Some(e) = esps.iter().find(|e| e.disk == m.disk) else {
                continue;
            };
            let disk = c
                .present
                .iter()
                .find(|d| d.name == e.disk)
                .map(|d| d.path.display().to_string())
                .unwrap_or_default();
            create_entry(
                &disk,
                e.index,
                &boot_entry::label(class, &e.disk),
                &loader,
                None,
            )?;
            created.push(m.disk.clone());
        }
    }
    let after = if created.is_empty() {
        before.clone()
    } else {
        read()?
    };
    let new_nums: Vec<u16> = after
        .entries
        .iter()
        .filter(|e| !before.entries.iter().any(|b| b.num == e.num))
        .map(|e| e.num)
        .collect();
    if !new_nums.is_empty() {
        let order = boot_entry::order_with(&after, &new_nums)
            .iter()
            .map(|n| format!("{n:04X}"))
            .collect::<Vec<_>>()
            .join(",");
        lesp::efibootmgr(&["--bootorder", &order]).map_err(CliError::Esp)?;
    }
    let entries: Vec<EntryReport> = wanted
        .iter()
        .map(|w| EntryReport {
            disk: w.disk.clone(),
            entry: dmclass_engine::bootenv::entries::without_envs(&after)
                .entries
                .iter()
                .find(|e| e.active && e.partition == Some(w.partition))
                .map(|e| format!("Boot{:04X}", e.num)),
            created: created.contains(&w.disk),
        })
        .collect();
    for e in &entries {
        let what = match (&e.entry, e.created, args.dry_run) {
            (_, _, true) if missing.iter().any(|m| m.disk == e.disk) => {
                format!("would register {loader}")
            }
            (Some(n), true, _) => format!("registered {n} ({loader})"),
            (Some(n), false, _) => format!("{n} already boots it"),
            (None, _, _) => "no entry".to_string(),
        };
        say(args, &format!("  {}: boot entry: {what}", e.disk));
    }
    let state = match (missing.is_empty(), args.dry_run) {
        (true, _) => "unchanged",
        (false, true) => "would_register",
        (false, false) => "registered",
    };
    Ok(BootReport {
        state,
        reason: None,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp(disk: &str, state: &'static str) -> EspReport {
        EspReport {
            disk: disk.into(),
            partition: (state != "missing").then(|| PathBuf::from("/dev/nvme0n1p1")),
            state,
            copied: 2,
            removed: 1,
            bytes: 4096,
        }
    }

    /// The document `esp sync --json` prints matches docs/schemas/dmclass-esp-1.json in
    /// every state (the command itself runs only on a real machine: VM scenario
    /// `root_kernel_update_reaches_every_esp`).
    #[test]
    fn the_json_document_matches_its_schema() {
        let report = Report {
            classes: vec![ClassReport {
                class: "sys".into(),
                source: "sys1".into(),
                esps: ["source", "equal", "synced", "differs", "missing"]
                    .iter()
                    .map(|s| esp("d", s))
                    .collect(),
                boot_entries: BootReport {
                    state: "skipped",
                    reason: Some("no UEFI variables".into()),
                    entries: vec![
                        EntryReport {
                            disk: "sys1".into(),
                            entry: Some("Boot000A".into()),
                            created: true,
                        },
                        EntryReport {
                            disk: "sys2".into(),
                            entry: None,
                            created: false,
                        },
                    ],
                },
            }],
        };
        let (doc, v) = output::checked_json(Schema::Esp, &report);
        // and a state outside the schema is caught (the check can fail)
        let mut bad = doc.clone();
        bad["classes"][0]["esps"][0]["state"] = "weird".into();
        assert!(!v.is_valid(&bad));
    }
}
