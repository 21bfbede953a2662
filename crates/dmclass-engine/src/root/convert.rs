//! Deciding a root class conversion: which partition each volume mirrors, the
//! partition tables to write, the class description, and what remains to be done on
//! each disk — from the YAML, the disks' partition tables and what is already on
//! them. Pure: the planner (plan/root.rs) turns the result into actions.
//!
//! A conversion is resumable: a disk whose table is already the one wanted is not
//! written again, a disk that already carries this class's private area is done. So a
//! conversion cut anywhere is finished by applying the same file again.
//!
//! The first activation (at the next boot, in the initramfs) creates each raid1 as a
//! new set with every peer leg recorded `COPY`: dm-raid loads it with `rebuild N`,
//! keeps the kept partition as the only source and copies it to the peers (seen on
//! dm-raid 1.15.1: a fresh set with zeroed metadata and `rebuild 1` recovers leg 1
//! from leg 0 and leaves leg 0's data unchanged).

use super::keep::{plan_keep, KeepLayout, MirroredPartition, DMCLASS_PART_TYPE};
use crate::gpt::{Gpt, GptOnDisk};
use crate::layout::{Extent, Leg, Segment, SliceState, VolumeLayout};
use crate::metadata::{
    ClassMeta, ClassTypeMeta, DiskIdentity, DiskMeta, DiskRoleMeta, DiskState, EngineMeta,
    GroupKindMeta, GroupMeta, ModeMeta, VolumeMeta,
};
use crate::region::region_size;
use dmclass_model::{Class, DiskRole, Engine, GroupKind, Mode, Sectors};
use uuid::Uuid;

/// One disk of the class as the planner sees it.
#[derive(Debug, Clone)]
pub struct DiskIn<'a> {
    /// Name in the class.
    pub name: &'a str,
    /// Size in bytes.
    pub bytes: u64,
    /// Logical sector size (its table's, else the device's; `None`: not known).
    pub sector_size: Option<u32>,
    /// How it is recognised again.
    pub identity: DiskIdentity,
    /// Its partition table now.
    pub table: &'a GptOnDisk,
    /// It already carries this class's private area (this disk is done).
    pub member: bool,
}

/// What is left to do on one disk, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskWork {
    /// Disk name.
    pub disk: String,
    /// The table to write (`None`: the disk already has it).
    pub table: Option<Gpt>,
    /// Logical sectors of the disk (for encoding the table).
    pub disk_sectors: u64,
    /// ESP extents to copy from the keep disk (same sectors on both).
    pub esp_copies: Vec<Extent>,
    /// raid1 metadata extents to zero before first use.
    pub rmetas: Vec<Extent>,
    /// Write the private area (last: it marks the disk done).
    pub format: bool,
}

/// A decided conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// Where things go (the same on every disk).
    pub layout: KeepLayout,
    /// The keep disk's name.
    pub keep: String,
    /// The class description written to every disk (generation 1).
    pub meta: ClassMeta,
    /// Per disk, peers first and the keep disk last (it stays untouched longest).
    pub work: Vec<DiskWork>,
    /// volume → partition matches made without `partition:` (said in the plan).
    pub matched: Vec<String>,
}

/// Why a conversion cannot be decided (`object`, `reason`), for
/// [`crate::EngineError::Refused`].
pub type Refusal = (String, String);

pub(super) fn refuse<T>(
    object: impl Into<String>,
    reason: impl Into<String>,
) -> Result<T, Refusal> {
    Err((object.into(), reason.into()))
}

fn mib(bytes: u64) -> String {
    dmclass_model::Bytes(bytes).to_string()
}

/// The keep disk's table as it was before the conversion: a resumed conversion
/// finds the dmclass partition already added, and decides again without it (the
/// layout is deterministic, so the same place comes out).
fn original(gpt: &Gpt) -> Gpt {
    let mut g = gpt.clone();
    g.partitions.retain(|p| p.type_guid != DMCLASS_PART_TYPE);
    g
}

/// Whether `have` already is `want` apart from GUIDs (a resumed peer).
fn same_layout(have: &Gpt, want: &Gpt) -> bool {
    let shape = |g: &Gpt| -> Vec<(u32, Uuid, u64, u64, String)> {
        g.partitions
            .iter()
            .map(|p| (p.index, p.type_guid, p.first, p.last, p.name.clone()))
            .collect()
    };
    have.sector_size == want.sector_size && shape(have) == shape(want)
}

/// Match every volume of `class` to a mirrored partition: `partition: N` first, then
/// a PARTLABEL equal to the volume name, then the only partition left for the only
/// volume left. Every mirrored partition needs a volume.
fn match_volumes<'l>(
    class: &Class,
    keep: &str,
    layout: &'l KeepLayout,
    matched: &mut Vec<String>,
) -> Result<Vec<(usize, &'l MirroredPartition)>, Refusal> {
    let by_index = |n: u32| layout.mirrored.iter().find(|p| p.index == n);
    let mut out: Vec<Option<&MirroredPartition>> = vec![None; class.volumes.len()];
    for (i, v) in class.volumes.iter().enumerate() {
        if let Some(n) = v.partition {
            let Some(p) = by_index(n) else {
                let why = if layout.esps.contains(&n) {
                    "is the EFI system partition, which is never mirrored (every disk gets its own copy)".to_owned()
                } else {
                    format!(
                        "does not exist; the partitions to mirror are {}",
                        list(layout)
                    )
                };
                return refuse(
                    format!("volume {}", v.name.as_str()),
                    format!("partition {n} of keep disk {keep} {why}"),
                );
            };
            out[i] = Some(p);
        }
    }
    let taken =
        |out: &[Option<&MirroredPartition>], n: u32| out.iter().flatten().any(|p| p.index == n);
    for (i, v) in class.volumes.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        if let Some(p) = layout
            .mirrored
            .iter()
            .find(|p| p.name == v.name.as_str() && !taken(&out, p.index))
        {
            matched.push(format!(
                "volume {} mirrors partition {} (PARTLABEL {})",
                v.name.as_str(),
                p.index,
                p.name
            ));
            out[i] = Some(p);
        }
    }
    let free: Vec<&MirroredPartition> = layout
        .mirrored
        .iter()
        .filter(|p| !taken(&out, p.index))
        .collect();
    let open: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_none()).collect();
    if let ([p], [i]) = (free.as_slice(), open.as_slice()) {
        matched.push(format!(
            "volume {} mirrors partition {} (the only partition left)",
            class.volumes[*i].name.as_str(),
            p.index
        ));
        out[*i] = Some(p);
    } else if let Some(&i) = open.first() {
        return refuse(
            format!("volume {}", class.volumes[i].name.as_str()),
            format!(
                "which partition of keep disk {keep} it mirrors is not said: add `partition: N` \
                 (the partitions to mirror are {})",
                list(layout)
            ),
        );
    }
    let free: Vec<&MirroredPartition> = layout
        .mirrored
        .iter()
        .filter(|p| !taken(&out, p.index))
        .collect();
    if let Some(p) = free.first() {
        return refuse(
            format!("partition {} of keep disk {keep}", p.index),
            format!(
                "no volume mirrors it ({} of {}); every partition but the EFI system partition \
                 becomes a mirrored volume, or the other disks could not boot: add \
                 `{{name: NAME, on: GROUP, partition: {}}}`",
                label(p),
                mib(p.len.0 * 512),
                p.index
            ),
        );
    }
    Ok(out
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect())
}

fn label(p: &MirroredPartition) -> String {
    if p.name.is_empty() {
        "no PARTLABEL".into()
    } else {
        format!("PARTLABEL {}", p.name)
    }
}

fn list(layout: &KeepLayout) -> String {
    layout
        .mirrored
        .iter()
        .map(|p| format!("{} ({}, {})", p.index, label(p), mib(p.len.0 * 512)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decide the conversion of root class `class` over `disks` (every disk of the
/// class); `existing` is the class description already on some of them (a resumed
/// conversion); `new_id` draws UUIDs.
pub fn decide(
    class: &Class,
    disks: &[DiskIn<'_>],
    existing: Option<&ClassMeta>,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Conversion, Refusal> {
    let keeps: Vec<&dmclass_model::Disk> = class
        .disks
        .iter()
        .filter(|d| d.role == DiskRole::Keep)
        .collect();
    let [keep_cfg] = keeps.as_slice() else {
        return refuse(
            "disks",
            format!(
                "a root class converts one kept system disk; this one has {} disks with role keep",
                keeps.len()
            ),
        );
    };
    let keep = keep_cfg.name.as_str();
    if let Some(d) = class
        .disks
        .iter()
        .find(|d| d.role != DiskRole::Keep && d.role != DiskRole::Member)
    {
        return refuse(
            format!("disk {}", d.name.as_str()),
            "a root class with a keep disk takes member disks only for now (hot spares and \
             single disks of a root class are not built yet)",
        );
    }
    let holds_keep = |g: &&dmclass_model::Group| g.members.iter().any(|m| m.value.as_str() == keep);
    let group = match class
        .groups
        .iter()
        .filter(holds_keep)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [g] if g.kind == GroupKind::Mirror && g.members.len() >= 2 => *g,
        _ => {
            return refuse(
                "groups",
                format!(
                    "a root class with a keep disk needs exactly one mirror group holding keep \
                     disk {keep} and at least one other disk"
                ),
            )
        }
    };
    // At most one more group: the boot-environment group, disks that hold proxies
    // of the system volumes (an environment), never the system itself.
    let env_group = match class
        .groups
        .iter()
        .filter(|g| !holds_keep(g))
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => None,
        [g] if g.kind == GroupKind::Mirror
            && g.members
                .iter()
                .all(|m| class.disks.iter().any(|d| d.name == m.value)) =>
        {
            Some(*g)
        }
        _ => {
            return refuse(
                "groups",
                "a root class holds its system group and at most one boot-environment group: \
                 a mirror group of one or more disks of the class, not holding the keep disk",
            )
        }
    };
    let in_group =
        |g: &dmclass_model::Group, n: &dmclass_model::Name| g.members.iter().any(|m| m.value == *n);
    if let Some(d) = class
        .disks
        .iter()
        .find(|d| !in_group(group, &d.name) && !env_group.is_some_and(|e| in_group(e, &d.name)))
    {
        return refuse(
            format!("disk {}", d.name.as_str()),
            format!(
                "it is in no group; every disk of the root class mirrors keep disk {keep} or \
                 holds boot environments (the second group)"
            ),
        );
    }
    let find = |n: &str| disks.iter().find(|d| d.name == n);
    let Some(keep_in) = find(keep) else {
        return refuse(format!("disk {keep}"), "not found on this machine");
    };
    let GptOnDisk::Table(keep_gpt) = keep_in.table else {
        return refuse(
            format!("disk {keep}"),
            "it has no GUID partition table; a kept system disk boots by UEFI from a GPT disk \
             with an EFI system partition",
        );
    };
    let base = original(keep_gpt);
    let layout = plan_keep(&base).map_err(|e| (format!("disk {keep}"), e.to_string()))?;
    let mut matched = Vec::new();
    let matches = match_volumes(class, keep, &layout, &mut matched)?;
    for (i, p) in &matches {
        let v = &class.volumes[*i];
        let part_bytes = p.len.0 * 512;
        if v.size.0 != 0 && v.size.0 != part_bytes {
            return refuse(
                format!("volume {}", v.name.as_str()),
                format!(
                    "size {} differs from partition {} of keep disk {keep} ({part_bytes} bytes); \
                     leave `size` out or write `size: {part_bytes}`",
                    v.size, p.index
                ),
            );
        }
        if v.engine != Engine::Raid1 {
            return refuse(
                format!("volume {}", v.name.as_str()),
                "a root class volume uses engine raid1 (dm-raid keeps its metadata apart from \
                 the kept partition)",
            );
        }
    }
    let ss = u64::from(layout.sector_size);
    let area_offset = Sectors(layout.dmclass_first * ss / 512);
    let class_uuid = existing.map_or_else(&mut *new_id, |m| m.uuid);
    let mut meta = ClassMeta::new(class.name.as_str(), class_uuid, ClassTypeMeta::Root);
    meta.hot_spare = class.hot_spare;
    meta.generation = 1;
    let keep_name: &str = keep;
    let members: Vec<&str> = group.members.iter().map(|m| m.value.as_str()).collect();
    for name in &members {
        let Some(d) = find(name) else {
            return refuse(format!("disk {name}"), "not found on this machine");
        };
        match d.sector_size {
            Some(s) if s == layout.sector_size => {}
            Some(s) => {
                return refuse(
                    format!("disk {name}"),
                    format!(
                        "{s}-byte sectors; keep disk {keep} has {}-byte sectors and every disk \
                         takes its layout sector for sector",
                        layout.sector_size
                    ),
                )
            }
            None => {
                return refuse(
                    format!("disk {name}"),
                    "its logical sector size is not known (LOGICAL_BLOCK_SIZE missing from the \
                     facts); a partition table cannot be laid out for it",
                )
            }
        }
        let role = if *name == keep_name {
            DiskRoleMeta::Keep
        } else {
            DiskRoleMeta::Member
        };
        meta.disks
            .push(disk_meta(existing, name, d, role, area_offset, new_id));
    }
    meta.groups.push(GroupMeta {
        name: group.name.as_str().to_owned(),
        kind: GroupKindMeta::Mirror,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    });
    let env_members: Vec<&str> = env_group
        .map(|g| g.members.iter().map(|m| m.value.as_str()).collect())
        .unwrap_or_default();
    if let Some(g) = env_group {
        // Whole disks with the private area at sector 0, as a local class's: no
        // partition table, no ESP (environments boot from the system disks' ESPs).
        for name in &env_members {
            let Some(d) = find(name) else {
                return refuse(format!("disk {name}"), "not found on this machine");
            };
            let role = DiskRoleMeta::Member;
            meta.disks
                .push(disk_meta(existing, name, d, role, Sectors(0), new_id));
        }
        meta.groups.push(GroupMeta {
            name: g.name.as_str().to_owned(),
            kind: GroupKindMeta::Mirror,
            members: env_members.iter().map(|m| (*m).to_owned()).collect(),
        });
    }
    for (i, p) in &matches {
        let v = &class.volumes[*i];
        let legs = members
            .iter()
            .map(|d| Leg {
                rmeta: Some(Extent {
                    disk: (*d).to_owned(),
                    offset: Sectors(area_offset.0 + p.rmeta_offset.0),
                    len: Sectors(super::keep::RMETA_BYTES / 512),
                }),
                segments: vec![Segment::Linear {
                    extent: Extent {
                        disk: (*d).to_owned(),
                        offset: p.start,
                        len: p.len,
                    },
                }],
                // The kept partition is the only source; peers are copied at the
                // first activation.
                state: if *d == keep {
                    SliceState::Active
                } else {
                    SliceState::Copy
                },
            })
            .collect();
        let uuid = existing
            .and_then(|m| m.volume(v.name.as_str()))
            .map_or_else(&mut *new_id, |m| m.uuid);
        meta.volumes.push(VolumeMeta {
            name: v.name.as_str().to_owned(),
            uuid,
            on: group.name.as_str().to_owned(),
            size: p.len,
            engine: EngineMeta::Raid1,
            jrm: v.jrm,
            mode: match v.mode {
                Mode::Rw => ModeMeta::Rw,
                Mode::Ro => ModeMeta::Ro,
            },
            autostart: v.autostart,
            region: region_size(p.len, EngineMeta::Raid1, v.jrm),
            layout: VolumeLayout { legs, log: None },
            copy_rate: v.copy_rate,
            partition: Some(p.index),
        });
    }
    let keep_done = keep_in.member;
    if let Some(m) = existing.filter(|_| !keep_done) {
        let mut was = m.clone();
        was.generation = meta.generation;
        was.intent = None;
        if was != meta {
            return refuse(
                "class",
                format!(
                    "its conversion was started with another description (generation {} on \
                     the disks converted so far); apply the file it was started with to finish \
                     it",
                    m.generation
                ),
            );
        }
    }
    if let Some(m) = existing.filter(|_| keep_done) {
        super::replace::replacement(m, &mut meta, disks)?;
    }
    let mut work = work(
        &layout, &base, keep_gpt, keep, &members, disks, &meta, new_id,
    )?;
    // Boot-environment disks first: nothing of the system is on them.
    for (i, name) in env_members.iter().enumerate() {
        let Some(d) = disks.iter().find(|d| d.name == *name) else {
            return refuse(format!("disk {name}"), "not found on this machine");
        };
        if !d.member {
            work.insert(
                i,
                DiskWork {
                    disk: (*name).to_owned(),
                    table: None,
                    disk_sectors: d.bytes / 512,
                    esp_copies: Vec::new(),
                    rmetas: Vec::new(),
                    format: true,
                },
            );
        }
    }
    Ok(Conversion {
        layout,
        keep: keep.to_owned(),
        meta,
        work,
        matched,
    })
}

/// A disk of the class as recorded: its UUID kept from an existing description.
fn disk_meta(
    existing: Option<&ClassMeta>,
    name: &str,
    d: &DiskIn<'_>,
    role: DiskRoleMeta,
    area_offset: Sectors,
    new_id: &mut dyn FnMut() -> Uuid,
) -> DiskMeta {
    DiskMeta {
        name: name.to_owned(),
        uuid: existing
            .and_then(|m| m.disk(name))
            .map_or_else(new_id, |x| x.uuid),
        identity: d.identity.clone(),
        size: Sectors(d.bytes / 512),
        role,
        state: DiskState::Enable,
        area_offset,
        node: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn work(
    layout: &KeepLayout,
    base: &Gpt,
    keep_gpt: &Gpt,
    keep: &str,
    members: &[&str],
    disks: &[DiskIn<'_>],
    meta: &ClassMeta,
    new_id: &mut dyn FnMut() -> Uuid,
) -> Result<Vec<DiskWork>, Refusal> {
    let ss = u64::from(layout.sector_size);
    let esp_extents = |disk: &str| -> Vec<Extent> {
        base.partitions
            .iter()
            .filter(|p| layout.esps.contains(&p.index))
            .map(|p| {
                let (offset, len) = p.extent(layout.sector_size);
                Extent {
                    disk: disk.to_owned(),
                    offset,
                    len,
                }
            })
            .collect()
    };
    let mut out = Vec::new();
    // Peers first, the keep disk last.
    let order = members
        .iter()
        .filter(|m| **m != keep)
        .chain(members.iter().filter(|m| **m == keep));
    for name in order {
        let Some(d) = disks.iter().find(|d| d.name == *name) else {
            return refuse(format!("disk {name}"), "not found on this machine");
        };
        let disk_sectors = d.bytes / ss;
        let rmetas: Vec<Extent> = meta
            .volumes
            .iter()
            .flat_map(|v| v.layout.legs.iter())
            .filter_map(|l| l.rmeta.clone())
            .filter(|e| e.disk == *name)
            .collect();
        let (table, esp_copies) = if *name == keep {
            let want = layout.keep_table(base, new_id());
            let has = keep_gpt
                .partitions
                .iter()
                .any(|p| p.type_guid == DMCLASS_PART_TYPE);
            (if has { None } else { Some(want) }, Vec::new())
        } else {
            let want = layout
                .peer_table(base, name, disk_sectors, layout.sector_size, new_id)
                .map_err(|e| (format!("disk {name}"), e.to_string()))?;
            let table = match d.table {
                GptOnDisk::Table(have) if same_layout(have, &want) => None,
                _ => Some(want),
            };
            (table, esp_extents(name))
        };
        if d.member {
            continue; // converted already (its area is written last)
        }
        out.push(DiskWork {
            disk: (*name).to_owned(),
            table,
            disk_sectors,
            esp_copies,
            rmetas,
            format: true,
        });
    }
    Ok(out)
}
