//! Planning a root class with a keep disk: the conversion decided by
//! [`crate::root::convert`], as actions. Nothing of the running system changes here:
//! the partition tables, ESP copies, zeroed raid1 metadata and private areas are
//! written, and the first activation (in the initramfs, at the next boot) builds
//! the mirrors and copies the kept partitions to the other disks.
//!
//! Per disk, in order: its partition table, its ESP copy, its raid1 metadata zeroed,
//! its private area (last: a disk with its area is done). Peers come first and the
//! keep disk last, so the running system disk is the last one touched and gets one
//! partition entry added and the private area written into that new partition —
//! nothing else.

use super::{
    Action, ActionKind, Actual, AreaState, DiskBinding, EspCopy, Ids, Plan, PlanOptions, Step,
    TableWrite,
};
use crate::error::{EngineError, Result};
use crate::gpt::{encode, GptOnDisk};
use crate::metadata::ClassMeta;
use crate::root::convert::{decide, Conversion, DiskIn};
use dmclass_model::{Bytes, Class, DiskRole};
use std::rc::Rc;

/// Whether `class` converts a kept system disk (planned here, not by the diff).
pub(crate) fn is_conversion(class: &Class) -> bool {
    class.disks.iter().any(|d| d.role == DiskRole::Keep)
}

/// The class already on the disks: (its newest description, the disks carrying it).
fn existing<'a>(
    class: &Class,
    bindings: &[DiskBinding],
    actual: &'a Actual,
) -> Result<(Option<&'a ClassMeta>, Vec<String>)> {
    let name = class.name.as_str();
    let mut newest: Option<&ClassMeta> = None;
    let mut members = Vec::new();
    for b in bindings {
        let obj = format!("disk {}", b.name);
        match actual.areas.get(&b.name) {
            None => {
                return Err(EngineError::refused(
                    name,
                    obj,
                    "its private area was not read",
                ))
            }
            Some(AreaState::Blank) => {}
            Some(AreaState::Member(a)) if a.meta.name == name => {
                if newest.is_some_and(|m| m.uuid != a.meta.uuid) {
                    return Err(EngineError::refused(
                        name,
                        obj,
                        format!(
                            "{} belongs to another class of the same name",
                            b.path.display()
                        ),
                    ));
                }
                if newest.is_none_or(|m| m.generation < a.meta.generation) {
                    newest = Some(&a.meta);
                }
                members.push(b.name.clone());
            }
            Some(AreaState::Member(a)) => {
                return Err(EngineError::refused(
                    name,
                    obj,
                    format!(
                        "{} belongs to dmclass class {}; remove it from that class first",
                        b.path.display(),
                        a.meta.name
                    ),
                ))
            }
            Some(AreaState::Unreadable(why) | AreaState::Hostile { reason: why, .. }) => {
                return Err(EngineError::refused(
                    name,
                    obj,
                    format!("{}: {why}; dmclass will not write to it", b.path.display()),
                ))
            }
        }
    }
    Ok((newest, members))
}

/// Plan the conversion (or its resumption, or nothing once it is done).
pub(crate) fn plan_root(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
    opts: &PlanOptions,
) -> Result<Plan> {
    let name = desired.name.as_str();
    let (have, members) = existing(desired, bindings, actual)?;
    let mut ins = Vec::with_capacity(bindings.len());
    for b in bindings {
        let table = match actual.tables.get(&b.name) {
            Some(Ok(t)) => t,
            Some(Err(why)) => {
                return Err(EngineError::refused(
                    name,
                    format!("disk {}", b.name),
                    format!("{}: {why}", b.path.display()),
                ))
            }
            None => {
                return Err(EngineError::refused(
                    name,
                    format!("disk {}", b.name),
                    "its partition table was not read (a root class conversion is decided \
                     from the keep disk's partition table: plan it on the machine, not from \
                     --facts)",
                ))
            }
        };
        let sector_size = match table {
            GptOnDisk::Table(g) => Some(g.sector_size),
            GptOnDisk::None => b.sector_size,
        };
        ins.push(DiskIn {
            name: &b.name,
            bytes: b.size.0,
            sector_size,
            identity: b.identity.clone(),
            table,
            member: members.contains(&b.name),
        });
    }
    let mut ids = Ids::new(opts.id_seed);
    let conv = decide(desired, &ins, have, &mut || ids.next())
        .map_err(|(object, reason)| EngineError::refused(name, object, reason))?;
    let cur = super::current::Current {
        meta: have.cloned(),
        live: Vec::new(), // a conversion copies nothing from live devices
    };
    let mut p = Plan::empty(&cur, desired, bindings, actual, conv.meta.clone());
    p.notes.clone_from(&conv.matched);
    if let Some(m) = have.filter(|_| conv.work.is_empty()) {
        // Converted: the same file plans nothing; changes to a converted root class
        // are not built yet.
        // The system volumes (each mirrors a partition); volumes on the
        // boot-environment group (broken-off proxies) are the general planner's.
        let shape = |m: &ClassMeta| {
            let mut v: Vec<(String, Option<u32>, Vec<String>)> = m
                .volumes
                .iter()
                .filter(|v| v.partition.is_some())
                .map(|v| {
                    (
                        v.name.clone(),
                        v.partition,
                        v.layout
                            .legs
                            .iter()
                            .flat_map(|l| l.disks())
                            .map(str::to_owned)
                            .collect(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        if shape(m) != shape(&conv.meta) {
            return Err(EngineError::refused(
                name,
                "class",
                "it is a converted root class and the file describes other volumes or disks; changing a root class after its conversion is not built yet (`dmclass export` shows the class as it is)",
            ));
        }
        let system = m.volumes.iter().filter(|v| v.partition.is_some()).count();
        if m.snapshots.is_empty()
            && desired.snapshots.is_empty()
            && m.volumes.len() == system
            && desired.volumes.len() == system
        {
            p.new_meta = m.clone();
            p.notes.clear();
            return Ok(p);
        }
        return super::plan_diff(&with_boot_envs(desired, m), bindings, actual, opts);
    }
    p.actions = actions(&conv, &mut ids)?;
    if have.is_some() && conv.meta.generation > 1 {
        let disks: Vec<&str> = conv.work.iter().map(|w| w.disk.as_str()).collect();
        p.notes.push(format!(
            "replacing disk(s) {}: partitioned like {}, ESP copied, every slice rebuilt in \
             full from the complete ones — at once when the class runs (apply re-adds the \
             disk), else at its next activation",
            disks.join(", "),
            conv.keep
        ));
    } else if !p.actions.is_empty() {
        p.notes.push(format!(
            "the conversion finishes at the next boot: the initramfs assembles class {name} \
             and copies keep disk {}'s partitions to the other disks",
            conv.keep
        ));
    }
    Ok(p)
}

/// What the general planner gets for a converted class: `desired` with each system
/// volume's size as converted (the file may leave it out: the partition's), and the
/// boot environments' proxies, which `dmclass bootenv` keeps and no file lists.
fn with_boot_envs(desired: &Class, m: &ClassMeta) -> Class {
    let mut d = desired.clone();
    for v in &mut d.volumes {
        if let Some(vm) = m.volume(v.name.as_str()) {
            v.size = Bytes(vm.size.0 * 512);
        }
    }
    for s in crate::proxy::exported(m) {
        let ours = crate::bootenv::env_of_proxy(m, s.name.as_str()).is_some();
        if ours && !d.snapshots.iter().any(|x| x.name == s.name) {
            d.snapshots.push(s);
        }
    }
    d
}

fn actions(conv: &Conversion, ids: &mut Ids) -> Result<Vec<Action>> {
    let meta = &conv.meta;
    let ss = u64::from(conv.layout.sector_size);
    let mut out = Vec::new();
    for w in &conv.work {
        let keep = w.disk == conv.keep;
        if let Some(t) = &w.table {
            let (start, end) = encode(t, w.disk_sectors).map_err(|e| {
                EngineError::refused(&meta.name, format!("disk {}", w.disk), e.to_string())
            })?;
            let end_at = (w.disk_sectors * ss).saturating_sub(end.len() as u64);
            // The keep disk keeps its own sector 0 (a protective MBR: it has a GPT).
            let skip = if keep {
                usize::try_from(ss).unwrap_or(usize::MAX)
            } else {
                0
            };
            let detail = if keep {
                format!(
                    "add partition {} ({}, sectors {}..={}) for dmclass's private area and raid1 \
                     metadata; every other entry unchanged",
                    conv.layout.dmclass_index,
                    crate::root::keep::DMCLASS_PART_NAME,
                    conv.layout.dmclass_first,
                    conv.layout.dmclass_last
                )
            } else {
                format!(
                    "new GPT with keep disk {}'s layout ({} partitions, new GUIDs)",
                    conv.keep,
                    t.partitions.len()
                )
            };
            out.push(Action::new(
                ActionKind::WritePartitionTable,
                w.disk.clone(),
                detail,
                Step::WriteTable(Box::new(TableWrite {
                    disk: w.disk.clone(),
                    start: start.get(skip..).unwrap_or_default().to_vec(),
                    start_at: Bytes(skip as u64),
                    end,
                    end_at: Bytes(end_at),
                })),
            ));
        }
        for e in &w.esp_copies {
            let serial =
                u32::from_le_bytes(ids.next().as_bytes()[..4].try_into().unwrap_or_default());
            out.push(Action::new(
                ActionKind::CopyEsp,
                w.disk.clone(),
                format!(
                    "copy the EFI system partition from {} (sectors {}+{}), new volume serial {:04X}-{:04X}",
                    conv.keep,
                    e.offset.0,
                    e.len.0,
                    serial >> 16,
                    serial & 0xffff
                ),
                Step::CopyEsp(Box::new(EspCopy {
                    from: conv.keep.clone(),
                    to: w.disk.clone(),
                    offset: Bytes(e.offset.0 * 512),
                    len: Bytes(e.len.0 * 512),
                    serial,
                })),
            ));
        }
        let disk = Rc::new(w.disk.clone());
        for e in &w.rmetas {
            out.push(Action::new(
                ActionKind::ZeroExtent,
                w.disk.clone(),
                format!(
                    "raid1 metadata at sector {} ({} sectors)",
                    e.offset.0, e.len.0
                ),
                Step::Zero {
                    disk: Rc::clone(&disk),
                    offset: Bytes(e.offset.0 * 512),
                    len: Bytes(e.len.0 * 512),
                },
            ));
        }
        if w.format {
            out.push(Action::new(
                ActionKind::FormatArea,
                w.disk.clone(),
                format!(
                    "private area {} with class {} generation {}{}",
                    if meta.disk(&w.disk).is_some_and(|d| d.area_offset.0 == 0) {
                        "at the start of the disk (it holds boot environments)"
                    } else {
                        "in the dmclass partition"
                    },
                    meta.name,
                    meta.generation,
                    if keep {
                        " (last: the conversion is recorded complete)"
                    } else {
                        ""
                    }
                ),
                Step::Format {
                    disk: w.disk.clone(),
                },
            ));
        }
    }
    if meta.generation > 1 {
        // A replacement (root/convert.rs): the disks already in the class get the
        // description naming the new disk, after it has its area.
        let done: Vec<&str> = meta
            .disks
            .iter()
            .map(|d| d.name.as_str())
            .filter(|d| !conv.work.iter().any(|w| w.disk == *d))
            .collect();
        out.push(Action::write_meta(
            meta,
            &done,
            "the replaced disk's new identity",
        ));
    }
    Ok(out)
}
