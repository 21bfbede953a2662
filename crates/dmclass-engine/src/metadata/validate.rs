//! Semantic validation of a decoded label: the checksums say the bytes are what was
//! written, not that whoever wrote them was dmclass. A crafted label (a guest writing
//! to a disk the host also sees, a disk image from elsewhere) can pass every CRC and
//! still map volumes over another volume's or another class's data, past the end of
//! the disk, or claim a generation that makes it win over the class's real metadata.
//!
//! [`label_problem`] is the one check, pure, run wherever labels are read (scan for
//! activation and status, the udev event path, the planner's reads): a label it
//! rejects makes its disk `DISABLE` with the reason, and nothing writes to that disk.

use super::types::{ClassMeta, GroupKindMeta, SnapshotKindMeta, VolumeMeta};
use super::DecodedArea;
use crate::layout::{Extent, Segment};
use dmclass_model::Sectors;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Generations count metadata writes; no real class gets near 2^48 (a write every
/// microsecond for eight years). A larger one is crafted, and would make saturating
/// arithmetic on generations meaningless.
pub const MAX_GENERATION: u64 = 1 << 48;
/// Largest disk dmclass accepts: 2^54 sectors = 8 EiB.
pub const MAX_DISK_SECTORS: u64 = 1 << 54;
/// Most disks a class may list (GDS: a few hundred at most).
pub const MAX_DISKS: usize = 1024;
/// Most volumes plus snapshots (a slot holds about 20,000 volumes).
pub const MAX_OBJECTS: usize = 1 << 16;
/// Most groups.
pub const MAX_GROUPS: usize = 4096;
/// Most members of a group (stripe and concat: 64).
pub const MAX_MEMBERS: usize = 64;
/// Most legs of a volume (mirror: 8, plus room for spares and proxies).
pub const MAX_LEGS: usize = 32;
/// Most extents of one volume (each grow adds a few).
pub const MAX_EXTENTS: usize = 1 << 16;

/// What a label is checked against besides itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelContext<'a> {
    /// Size of the device carrying the label, when known.
    pub device_size: Option<Sectors>,
    /// The generation of the class as it runs, when it runs: a label newer than the
    /// running class was written elsewhere (split brain) or is forged.
    pub running_generation: Option<u64>,
    /// Disk UUID → (class UUID, class name) that the disk's *own* header names, for
    /// every disk found: a label placing data on a disk of another class is hostile.
    pub disk_classes: Option<&'a BTreeMap<Uuid, (Uuid, String)>>,
}

/// Why the label of `area` must not be trusted, or `None` when it is sound.
pub fn label_problem(area: &DecodedArea, ctx: &LabelContext<'_>) -> Option<String> {
    let m = &area.meta;
    generation(m, ctx)
        .or_else(|| counts(m))
        .or_else(|| disks(area, ctx))
        .or_else(|| shapes(m))
        .or_else(|| extents(m, ctx))
        .or_else(|| {
            m.leases.as_ref().and_then(|a| {
                let size = m.disk(&a.extent.disk).map(|d| d.size);
                a.problem(size, super::area_sectors())
            })
        })
}

fn generation(m: &ClassMeta, ctx: &LabelContext<'_>) -> Option<String> {
    if m.generation > MAX_GENERATION {
        return Some(format!(
            "generation {} is from the future (no class is written that often)",
            m.generation
        ));
    }
    let running = ctx.running_generation?;
    (m.generation > running).then(|| {
        format!(
            "generation {} is from the future: the running class is at {running} (changed elsewhere, or forged)",
            m.generation
        )
    })
}

fn too_many(what: &str, n: usize, max: usize) -> Option<String> {
    (n > max).then(|| format!("absurd count: {n} {what} (at most {max})"))
}

fn counts(m: &ClassMeta) -> Option<String> {
    too_many("disks", m.disks.len(), MAX_DISKS)
        .or_else(|| too_many("groups", m.groups.len(), MAX_GROUPS))
        .or_else(|| {
            too_many(
                "volumes and snapshots",
                m.volumes.len().saturating_add(m.snapshots.len()),
                MAX_OBJECTS,
            )
        })
        .or_else(|| too_many("departed disks", m.departed.len(), m.disks.len()))
        .or_else(|| {
            m.undo
                .as_ref()
                .filter(|u| m.disk(&u.keep).is_none())
                .map(|u| format!("the undo names disk {}, which is not in the class", u.keep))
        })
        .or_else(|| {
            m.groups.iter().find_map(|g| {
                too_many(
                    &format!("members of group {}", g.name),
                    g.members.len(),
                    MAX_MEMBERS,
                )
            })
        })
        .or_else(|| boot_envs(m))
        .or_else(|| secret_file(m))
}

/// The secrets file is an absolute path of sane length (it is opened by root).
fn secret_file(m: &ClassMeta) -> Option<String> {
    let p = m.secret_file.as_deref()?;
    let bad = !p.starts_with('/') || p.len() > 4096 || p.contains('\0');
    bad.then(|| {
        format!(
            "the secrets file {:?} is not an absolute path",
            p.chars().take(80).collect::<String>()
        )
    })
}

/// Each boot environment names proxies the class has, of the volumes named, and only
/// once; a root class only.
fn boot_envs(m: &ClassMeta) -> Option<String> {
    if m.boot_envs.is_empty() {
        return None;
    }
    if m.class_type != super::ClassTypeMeta::Root {
        return Some("boot environments recorded in a class that is no root class".into());
    }
    too_many("boot environments", m.boot_envs.len(), MAX_OBJECTS).or_else(|| {
        let mut seen = std::collections::BTreeSet::new();
        m.boot_envs.iter().find_map(|e| {
            if !seen.insert(e.name.as_str()) || e.name == super::PRIMARY_BOOT_ENV {
                return Some(format!(
                    "boot environment name {:?} twice or reserved",
                    e.name
                ));
            }
            e.volumes.iter().find_map(|v| {
                let proxy = m.snapshots.iter().any(|s| {
                    s.name == v.proxy
                        && s.origin == v.volume
                        && matches!(s.kind, super::SnapshotKindMeta::Proxy { .. })
                });
                let holders = m
                    .boot_envs
                    .iter()
                    .flat_map(|o| o.volumes.iter())
                    .filter(|w| w.proxy == v.proxy)
                    .count();
                let ok = proxy && holders == 1;
                (!ok).then(|| {
                    format!(
                        "boot environment {} names proxy {} of {}, which the class does not hold \
                         (or another environment does)",
                        e.name, v.proxy, v.volume
                    )
                })
            })
        })
    })
}

fn disks(area: &DecodedArea, ctx: &LabelContext<'_>) -> Option<String> {
    let m = &area.meta;
    let area_end = super::area_sectors().0;
    for d in &m.disks {
        let area_last = d.area_offset.0.checked_add(area_end);
        if d.size.0 > MAX_DISK_SECTORS || area_last.is_none_or(|l| d.size.0 < l) {
            return Some(format!(
                "absurd length: disk {} recorded with {} sectors (private area at sector {})",
                d.name, d.size.0, d.area_offset.0
            ));
        }
    }
    let Some(me) = m.disks.iter().find(|d| d.uuid == area.header.disk_uuid) else {
        return Some(format!(
            "the class description does not list the disk carrying it (disk UUID {})",
            area.header.disk_uuid
        ));
    };
    match ctx.device_size {
        Some(dev) if me.size > dev => Some(format!(
            "disk {} is recorded with {} sectors, past the end of the device ({} sectors)",
            me.name, me.size.0, dev.0
        )),
        _ => None,
    }
}

fn bad_chunk(c: Sectors) -> bool {
    c.0 == 0 || !c.0.is_power_of_two() || c.0 > MAX_DISK_SECTORS
}

fn shapes(m: &ClassMeta) -> Option<String> {
    for g in &m.groups {
        if let GroupKindMeta::Stripe { chunk } = g.kind {
            if bad_chunk(chunk) {
                return Some(format!(
                    "absurd stripe chunk {} in group {}",
                    chunk.0, g.name
                ));
            }
        }
    }
    let vols = m
        .volumes
        .iter()
        .chain(m.snapshots.iter().filter_map(|s| match &s.kind {
            SnapshotKindMeta::Cow {
                store: Some(st), ..
            } => Some(&**st),
            _ => None,
        }));
    for v in vols {
        if let Some(why) = volume_shape(v) {
            return Some(format!("volume {}: {why}", v.name));
        }
    }
    for s in &m.snapshots {
        if let SnapshotKindMeta::Cow { chunk, .. } = &s.kind {
            if bad_chunk(*chunk) {
                return Some(format!("absurd chunk {} of snapshot {}", chunk.0, s.name));
            }
        }
    }
    None
}

fn volume_shape(v: &VolumeMeta) -> Option<String> {
    if v.layout.legs.is_empty() {
        return Some("no leg".into());
    }
    if let Some(why) = too_many("legs", v.layout.legs.len(), MAX_LEGS) {
        return Some(why);
    }
    let n = v.layout.extents().len();
    if let Some(why) = too_many("extents", n, MAX_EXTENTS) {
        return Some(why);
    }
    if v.size.0 > MAX_DISK_SECTORS.saturating_mul(MAX_DISKS as u64) {
        return Some(format!("absurd size of {} sectors", v.size.0));
    }
    for l in &v.layout.legs {
        for s in &l.segments {
            if let Segment::Striped { chunk, columns } = s {
                if columns.is_empty() || bad_chunk(*chunk) {
                    return Some(format!("absurd striped segment (chunk {})", chunk.0));
                }
            }
        }
    }
    None
}

/// Every extent the class occupies, with its owner (for messages).
fn owned_extents(m: &ClassMeta) -> Vec<(&Extent, String)> {
    let mut out: Vec<(&Extent, String)> = Vec::new();
    for v in &m.volumes {
        out.extend(
            v.layout
                .extents()
                .into_iter()
                .map(|e| (e, format!("volume {}", v.name))),
        );
    }
    for s in &m.snapshots {
        let owner = format!("snapshot {}", s.name);
        match &s.kind {
            SnapshotKindMeta::Cow {
                store: Some(st), ..
            } => {
                out.extend(st.layout.extents().into_iter().map(|e| (e, owner.clone())));
            }
            SnapshotKindMeta::Proxy { leg, track, .. } => {
                let legs = leg.iter().flat_map(|l| l.extents());
                out.extend(legs.chain(track).map(|e| (e, owner.clone())));
            }
            SnapshotKindMeta::Cow { .. } => {}
        }
    }
    out
}

fn extents(m: &ClassMeta, ctx: &LabelContext<'_>) -> Option<String> {
    let area_end = super::area_sectors().0;
    // Per disk: size, UUID, and where its private area starts (0, or the dmclass
    // partition of a root class's disk; `disks` checked it fits).
    let sizes: BTreeMap<&str, (u64, Uuid, u64)> = m
        .disks
        .iter()
        .map(|d| (d.name.as_str(), (d.size.0, d.uuid, d.area_offset.0)))
        .collect();
    let mut by_disk: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
    let owned = owned_extents(m);
    for (e, owner) in &owned {
        let Some(&(size, uuid, area_at)) = sizes.get(e.disk.as_str()) else {
            return Some(format!(
                "{owner} has an extent on disk {}, which the class does not list",
                e.disk
            ));
        };
        let end = e.offset.0.checked_add(e.len.0);
        if e.len.0 == 0 || end.is_none_or(|end| end > size) {
            return Some(format!(
                "{owner} has an extent past the end of disk {} ({}+{} of {size} sectors)",
                e.disk, e.offset.0, e.len.0
            ));
        }
        let area = area_at..area_at.saturating_add(area_end);
        if e.offset.0 < area.end && end.is_some_and(|end| end > area.start) {
            return Some(format!(
                "{owner} has an extent over the metadata area of disk {} (sector {})",
                e.disk, e.offset.0
            ));
        }
        if let Some((c, name)) = ctx.disk_classes.and_then(|dc| dc.get(&uuid)) {
            if *c != m.uuid {
                return Some(format!(
                    "{owner} has an extent on disk {}, which carries class {name}'s metadata (another class's data)",
                    e.disk
                ));
            }
        }
        by_disk
            .entry(e.disk.as_str())
            .or_default()
            .push((e.offset.0, e.end().0, owner.as_str()));
    }
    for (disk, runs) in &mut by_disk {
        runs.sort_unstable();
        for w in runs.windows(2) {
            if let [a, b] = w {
                if b.0 < a.1 {
                    return Some(format!(
                        "extents of {} and {} overlap on disk {disk} (sectors {}..{} and {}..{})",
                        a.2, b.2, a.0, a.1, b.0, b.1
                    ));
                }
            }
        }
    }
    None
}
