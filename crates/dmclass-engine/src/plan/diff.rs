//! Desired class vs the recorded one: the new class description and what changed.

use super::change::{Change, Diff};
use super::current::Current;
use super::{name_map, DiskBinding, Ids, NameMap, PlanOptions};
use crate::alloc::{Allocator, Target};
use crate::error::{EngineError, Result};
use crate::layout::SliceState;
use crate::metadata::{
    ClassMeta, ClassTypeMeta, DiskMeta, DiskRoleMeta, DiskState, EngineMeta, GroupKindMeta,
    GroupMeta, ModeMeta, VolumeMeta,
};
use crate::region::region_size;
use dmclass_model::{Class, ClassType, DiskRole, Engine, GroupKind, Mode, Sectors, Volume};

struct Cx<'a> {
    class: &'a str,
}

impl Cx<'_> {
    fn refuse<T>(&self, object: String, reason: impl Into<String>) -> Result<T> {
        Err(EngineError::refused(self.class, object, reason))
    }
}

pub(crate) fn class_type(t: ClassType) -> ClassTypeMeta {
    match t {
        ClassType::Root => ClassTypeMeta::Root,
        ClassType::Local => ClassTypeMeta::Local,
        ClassType::Shared => ClassTypeMeta::Shared,
    }
}

pub(crate) fn role(r: DiskRole) -> DiskRoleMeta {
    match r {
        DiskRole::Member => DiskRoleMeta::Member,
        DiskRole::Spare => DiskRoleMeta::Spare,
        DiskRole::Keep => DiskRoleMeta::Keep,
        DiskRole::Single => DiskRoleMeta::Single,
    }
}

pub(crate) fn group_kind(k: GroupKind) -> GroupKindMeta {
    match k {
        GroupKind::Mirror => GroupKindMeta::Mirror,
        GroupKind::Stripe { stripe_size } => GroupKindMeta::Stripe {
            chunk: stripe_size.to_sectors_ceil(),
        },
        GroupKind::Concat => GroupKindMeta::Concat,
        GroupKind::Netmirror => GroupKindMeta::Netmirror,
    }
}

pub(crate) fn engine(e: Engine) -> EngineMeta {
    match e {
        Engine::Raid1 => EngineMeta::Raid1,
        Engine::Mirror => EngineMeta::Mirror,
    }
}

pub(crate) fn mode(m: Mode) -> ModeMeta {
    match m {
        Mode::Rw => ModeMeta::Rw,
        Mode::Ro => ModeMeta::Ro,
    }
}

/// Compare and build the new description.
pub(crate) fn diff(
    desired: &Class,
    bindings: &[DiskBinding],
    cur: &Current,
    opts: &PlanOptions,
    ids: &mut Ids,
) -> Result<Diff> {
    let cx = Cx {
        class: desired.name.as_str(),
    };
    let class_obj = || format!("class {}", desired.name);
    let ctype = class_type(desired.class_type);
    let mut meta = if let Some(m) = &cur.meta {
        {
            if m.class_type != ctype {
                return cx.refuse(
                    class_obj(),
                    format!(
                        "changing the class type ({:?} on disk, {:?} in the file) is not supported",
                        m.class_type, ctype
                    ),
                );
            }
            if m.cluster_nodes().as_deref() != Some(desired.nodes.as_slice())
                || m.hot_spare != desired.hot_spare
            {
                return cx.refuse(
                    class_obj(),
                    "changing nodes or hot_spare of an existing class is not supported yet",
                );
            }
            if m.secret_file != secret_file(desired) {
                return cx.refuse(
                    class_obj(),
                    "changing secret_file of an existing class is not supported yet",
                );
            }
            m.clone()
        }
    } else {
        let mut m = ClassMeta::new(desired.name.as_str(), ids.next(), ctype);
        m.set_cluster_nodes(&desired.nodes);
        m.secret_file = secret_file(desired);
        m.hot_spare = desired.hot_spare;
        m
    };
    let old = meta.clone();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    disks(
        &cx,
        desired,
        bindings,
        &mut meta,
        &mut changes,
        &mut notes,
        ids,
    )?;
    let added_members = groups(&cx, desired, &mut meta)?;
    // Before any volume: the lease area takes the start of the data area.
    if let Some(line) = super::lease_area::plan_area(&mut meta, bindings)? {
        notes.push(line);
    }
    volumes(
        &cx,
        desired,
        &old,
        &mut meta,
        &added_members,
        &mut changes,
        opts,
        ids,
    )?;
    super::cow::diff(
        cx.class,
        desired,
        &mut meta,
        &mut changes,
        &mut notes,
        opts,
        ids,
    )?;
    super::proxy::diff(
        cx.class,
        desired,
        &mut meta,
        &changes,
        (opts.allow_destroy, &mut notes),
        (&cur.live, ids),
    )?;
    // Groups left out of the file: dropped when nothing uses them any more.
    let keep: Vec<GroupMeta> = meta
        .groups
        .iter()
        .filter(|g| desired.groups.iter().any(|d| d.name.as_str() == g.name))
        .cloned()
        .collect();
    for g in &meta.groups {
        if !keep.contains(g) {
            if let Some(v) = meta.volumes.iter().find(|v| v.on == g.name) {
                return cx.refuse(
                    format!("group {}", g.name),
                    format!("volume {} still lives on it", v.name),
                );
            }
            notes.push(format!("group {} is removed (no volume uses it)", g.name));
        }
    }
    meta.groups = keep;
    super::lease_area::assign_slots(&mut meta, &old)?;
    if meta != old || cur.meta.is_none() {
        meta.generation = old.generation + 1;
    }
    Ok(Diff {
        meta,
        changes,
        notes,
    })
}

fn disks(
    cx: &Cx,
    desired: &Class,
    bindings: &[DiskBinding],
    meta: &mut ClassMeta,
    changes: &mut Vec<Change>,
    notes: &mut Vec<String>,
    ids: &mut Ids,
) -> Result<()> {
    for d in &meta.disks {
        if desired.disks.iter().all(|x| x.name.as_str() != d.name) {
            let users: Vec<&str> = meta
                .volumes
                .iter()
                .filter(|v| v.layout.extents().iter().any(|e| e.disk == d.name))
                .map(|v| v.name.as_str())
                .collect();
            let reason = if users.is_empty() {
                "removing a disk from a class is not supported yet".to_owned()
            } else {
                format!(
                    "it holds slices of volume(s) {}; removing it is refused",
                    users.join(", ")
                )
            };
            return cx.refuse(format!("disk {}", d.name), reason);
        }
    }
    for d in &desired.disks {
        let name = d.name.as_str();
        let want = role(d.role);
        if let Some(have) = meta.disk(name) {
            if have.role != want {
                return cx.refuse(
                    format!("disk {name}"),
                    format!(
                        "changing its role ({:?} to {:?}) is not supported",
                        have.role, want
                    ),
                );
            }
            continue;
        }
        let Some(b) = bindings.iter().find(|b| b.name == name) else {
            return cx.refuse(format!("disk {name}"), "it is not bound to a device");
        };
        let size = Sectors(b.size.0 / 512);
        if size <= crate::metadata::area_sectors() {
            return cx.refuse(
                format!("disk {name}"),
                format!(
                    "{} is too small for the 32 MiB private area",
                    b.path.display()
                ),
            );
        }
        meta.disks.push(DiskMeta {
            name: name.to_owned(),
            uuid: ids.next(),
            identity: b.identity.clone(),
            size,
            role: want,
            state: if want == DiskRoleMeta::Spare {
                DiskState::Spare
            } else {
                DiskState::Enable
            },
            area_offset: dmclass_model::Sectors(0),
            node: d.node.clone(),
        });
        if d.wipe {
            notes.push(format!(
                "disk {name}: existing signatures are overwritten (wipe: true)"
            ));
        }
        changes.push(Change::NewDisk(name.to_owned()));
    }
    Ok(())
}

/// Apply group changes; returns mirror groups with appended members (group, old count).
fn groups(cx: &Cx, desired: &Class, meta: &mut ClassMeta) -> Result<Vec<(String, usize)>> {
    let mut added = Vec::new();
    for g in &desired.groups {
        let kind = group_kind(g.kind);
        let members: Vec<String> = g.members.iter().map(|m| m.value.0.clone()).collect();
        let obj = format!("group {}", g.name);
        match meta.groups.iter_mut().find(|x| x.name == g.name.as_str()) {
            None => meta.groups.push(GroupMeta {
                name: g.name.0.clone(),
                kind,
                members,
            }),
            Some(have) => {
                if have.kind != kind {
                    return cx.refuse(
                        obj,
                        format!(
                            "changing its type or stripe size ({:?} to {:?}) is not supported",
                            have.kind, kind
                        ),
                    );
                }
                if have.members == members {
                    continue;
                }
                let mirror = matches!(kind, GroupKindMeta::Mirror | GroupKindMeta::Netmirror);
                if !mirror || !members.starts_with(&have.members) {
                    return cx.refuse(
                        obj,
                        "only appending members to a mirror group is supported (no removal, reordering, or change of stripe/concat members)",
                    );
                }
                added.push((have.name.clone(), have.members.len()));
                have.members = members;
            }
        }
    }
    Ok(added)
}

#[allow(clippy::too_many_arguments)]
fn volumes(
    cx: &Cx,
    desired: &Class,
    old: &ClassMeta,
    meta: &mut ClassMeta,
    added: &[(String, usize)],
    changes: &mut Vec<Change>,
    opts: &PlanOptions,
    ids: &mut Ids,
) -> Result<()> {
    // Removals first, so their space is free for new volumes.
    // Name lookups go through maps built once: linear scans per volume made a
    // class of many volumes quadratic to plan.
    let mut order: NameMap<&str, usize> = name_map(desired.volumes.len());
    for (i, d) in desired.volumes.iter().enumerate() {
        order.entry(d.name.as_str()).or_insert(i);
    }
    let mut kept = Vec::new();
    for v in std::mem::take(&mut meta.volumes) {
        if order.contains_key(v.name.as_str()) {
            kept.push(v);
        } else if opts.allow_destroy {
            changes.push(Change::RemoveVolume(Box::new(v)));
        } else {
            return cx.refuse(
                format!("volume {}", v.name),
                "it is not in the file; removing it destroys its data (pass --allow-destroy)",
            );
        }
    }
    meta.volumes = kept;
    // keyed by the file's names (every kept volume is in the file): no copies
    let mut index: NameMap<&str, usize> = name_map(desired.volumes.len());
    for (i, v) in meta.volumes.iter().enumerate() {
        if let Some((&name, _)) = order.get_key_value(v.name.as_str()) {
            index.entry(name).or_insert(i);
        }
    }
    let mut alloc = Allocator::for_class(meta)?;
    for want in &desired.volumes {
        let name = want.name.as_str();
        let eng = engine(want.engine);
        let target = Target::resolve(meta, want.on.value.as_str(), eng, want.jrm)?;
        let len = target.round(want.size)?;
        let Some(&i) = index.get(name) else {
            let layout = alloc.allocate(name, &target, want.size)?;
            let size = layout.len();
            index.insert(name, meta.volumes.len());
            meta.volumes.push(VolumeMeta {
                name: name.to_owned(),
                uuid: ids.next(),
                on: want.on.value.0.clone(),
                size,
                engine: eng,
                jrm: want.jrm,
                mode: mode(want.mode),
                autostart: want.autostart,
                region: region_size(size, eng, want.jrm),
                layout,
                copy_rate: want.copy_rate,
                partition: want.partition,
            });
            changes.push(Change::NewVolume(name.to_owned()));
            continue;
        };
        let v = &mut meta.volumes[i];
        same_attrs(cx, v, want)?;
        if v.copy_rate != want.copy_rate {
            if want.copy_rate.is_some() && v.engine == EngineMeta::Mirror {
                return cx.refuse(
                    format!("volume {name}"),
                    "copy_rate applies to raid1 volumes only (dm-mirror has no copy throttle)",
                );
            }
            v.copy_rate = want.copy_rate;
            changes.push(Change::CopyRate(name.to_owned()));
        }
        if let Some((_, from)) = added.iter().find(|(g, _)| *g == v.on) {
            if v.engine == EngineMeta::Mirror {
                return cx.refuse(
                    format!("volume {name}"),
                    "adding a leg to a dm-mirror volume is not supported (dm-mirror cannot rebuild one leg); use engine raid1",
                );
            }
            for lt in target.legs.iter().skip(*from) {
                v.layout = alloc.add_leg(name, &v.layout, lt, target.rmeta)?;
            }
            changes.push(Change::AddLeg(name.to_owned()));
        }
        if len < v.size {
            return cx.refuse(
                format!("volume {name}"),
                format!(
                    "shrinking from {} to {} sectors is not supported",
                    v.size.0, len.0
                ),
            );
        }
        if len > v.size {
            if region_size(len, v.engine, v.jrm) > v.region {
                return cx.refuse(
                    format!("volume {name}"),
                    format!(
                        "growing to {} sectors needs a larger region than the {} sectors fixed at creation",
                        len.0, v.region.0
                    ),
                );
            }
            v.layout = alloc.grow(name, &target, &v.layout, want.size)?;
            v.size = v.layout.len();
            changes.push(Change::Grow(name.to_owned()));
        }
    }
    // Keep the file's order for volumes (stable metadata and export).
    meta.volumes
        .sort_by_key(|v| order.get(v.name.as_str()).copied());
    let _ = old;
    Ok(())
}

fn same_attrs(cx: &Cx, v: &VolumeMeta, want: &Volume) -> Result<()> {
    let obj = || format!("volume {}", v.name);
    if v.on != want.on.value.as_str() {
        return cx.refuse(
            obj(),
            format!(
                "moving it from {} to {} is not supported",
                v.on, want.on.value
            ),
        );
    }
    if v.engine != engine(want.engine) {
        return cx.refuse(
            obj(),
            format!(
                "changing its engine ({:?} to {:?}) is not supported",
                v.engine,
                engine(want.engine)
            ),
        );
    }
    if v.jrm != want.jrm {
        return cx.refuse(obj(), "changing jrm of an existing volume is not supported");
    }
    if v.mode != mode(want.mode) || v.autostart != want.autostart {
        return cx.refuse(
            obj(),
            "changing mode or autostart of an existing volume is not supported yet",
        );
    }
    Ok(())
}

/// The description after the kernel rebuilt added legs: every `COPY` leg `ACTIVE`.
pub(crate) fn settled(meta: &ClassMeta) -> Option<ClassMeta> {
    let mut m = meta.clone();
    let mut any = false;
    for v in &mut m.volumes {
        for l in &mut v.layout.legs {
            if l.state == SliceState::Copy {
                l.state = SliceState::Active;
                any = true;
            }
        }
    }
    any.then(|| {
        m.generation += 1;
        m
    })
}

/// The secrets file as the class description records it.
fn secret_file(desired: &dmclass_model::Class) -> Option<String> {
    desired
        .secret_file
        .as_ref()
        .map(|p| p.display().to_string())
}
