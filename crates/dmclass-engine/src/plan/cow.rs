//! Copy-on-write snapshots in the planner: the desired snapshots against the recorded
//! ones ([`diff`]), the kernel steps that move an origin between stacks
//! ([`transition`], LVM's order: new stores and `-real` first, origin suspended while
//! snapshot tables change, snapshots resumed before the origin); the imperative merge
//! plans are in plan/cow_merge.rs.

use super::change::Change;
use super::current::Current;
use super::steps::create_steps;
use super::{Action, ActionKind, Actual, Ids, PlanOptions, Step};
use crate::alloc::{Allocator, Target};
use crate::cow::tables::origin_stack;
use crate::cow::{find, plain_store, snap_devs, snapshots_of, MergeMode};
use crate::error::{refuse, Result};
use crate::io::DmInfo;
use crate::metadata::{
    ClassMeta, ClassTypeMeta, CowState, ModeMeta, SnapshotKindMeta, SnapshotMeta, VolumeMeta,
};
use crate::names::{dm_name, Layer};
use crate::region::region_size;
use crate::tables::{DeviceRole, DeviceSpec};
use dmclass_model::{Bytes, Class, Sectors, SnapshotKind};

/// LVM's minimum: a COW store holds at least 3 chunks.
const MIN_CHUNKS: u64 = 3;

/// Desired cow snapshots vs recorded ones: new stores are allocated on the origin's
/// group, removed ones released (only with `allow_destroy`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn diff(
    class: &str,
    desired: &Class,
    meta: &mut ClassMeta,
    changes: &mut Vec<Change>,
    notes: &mut Vec<String>,
    opts: &PlanOptions,
    ids: &mut Ids,
) -> Result<()> {
    let wanted = |n: &str| {
        desired
            .snapshots
            .iter()
            .find(|s| s.name.as_str() == n && matches!(s.kind, SnapshotKind::Cow { .. }))
    };
    let mut alloc = Allocator::for_class(meta)?;
    let mut kept = Vec::new();
    for s in std::mem::take(&mut meta.snapshots) {
        let Some(c) = crate::cow::view(&s) else {
            kept.push(s);
            continue;
        };
        let obj = format!("snapshot {}", s.name);
        if wanted(&s.name).is_some() {
            if meta.volume(c.origin).is_none() {
                return refuse(
                    class,
                    &obj,
                    format!(
                        "its origin {} is being removed; remove the snapshot first",
                        c.origin
                    ),
                );
            }
            kept.push(s);
            continue;
        }
        if c.state == CowState::Merging {
            return refuse(
                class,
                &obj,
                "it is merging into its origin; wait until the merge has finished",
            );
        }
        if !opts.allow_destroy {
            return refuse(
                class,
                &obj,
                "it is not in the file; removing it destroys its data (pass --allow-destroy)",
            );
        }
        if let Some(st) = c.store {
            alloc.release(&st.layout);
        }
        changes.push(Change::RemoveCow(Box::new(s)));
    }
    meta.snapshots = kept;
    for want in &desired.snapshots {
        let SnapshotKind::Cow { size, chunk } = want.kind else {
            continue;
        };
        let name = want.name.as_str();
        let obj = format!("snapshot {name}");
        let origin = want.origin.value.as_str();
        let Some(vol) = meta.volume(origin).cloned() else {
            return refuse(
                class,
                &obj,
                format!("its origin volume {origin} does not exist"),
            );
        };
        if changes
            .iter()
            .any(|c| matches!(c, Change::Grow(n) | Change::AddLeg(n) if n == origin))
            && !snapshots_of(meta, origin).is_empty()
        {
            return refuse(class, &format!("volume {origin}"), "it has snapshots; growing it or adding a leg is refused (remove the snapshots first)");
        }
        // A root class's system disks have no free space (root/convert.rs): its
        // stores go to the boot-environment group.
        let on =
            match meta.class_type {
                ClassTypeMeta::Root => match crate::root::env_group(meta) {
                    Some(g) => g.name.clone(),
                    None => return refuse(
                        class,
                        &obj,
                        "a root class keeps copy-on-write stores on its boot-environment group \
                         (a second mirror group of whole disks), and this class has none; the \
                         system disks hold no free space",
                    ),
                },
                _ => vol.on.clone(),
            };
        let target = Target::resolve(meta, &on, vol.engine, vol.jrm)?;
        let chunk_s = chunk.to_sectors_ceil();
        if let Some(have) = find(meta, name) {
            if have.origin != origin || have.chunk != chunk_s || have.size != target.round(size)? {
                return refuse(
                    class,
                    &obj,
                    "changing the origin, size or chunk of an existing snapshot is not supported",
                );
            }
            continue;
        }
        if meta.volume(name).is_some() {
            return refuse(class, &obj, "a volume of that name exists");
        }
        crate::names::check_component(name)?;
        let layout = alloc.allocate(name, &target, size)?;
        let len = layout.len();
        if len.0 < MIN_CHUNKS * chunk_s.0 {
            return refuse(
                class,
                &obj,
                format!("the COW store must hold at least {MIN_CHUNKS} chunks"),
            );
        }
        let uuid = ids.next();
        let store = VolumeMeta {
            name: name.to_owned(),
            uuid,
            on: on.clone(),
            size: len,
            engine: vol.engine,
            jrm: vol.jrm,
            mode: ModeMeta::Rw,
            autostart: true,
            region: region_size(len, vol.engine, vol.jrm),
            layout,
            copy_rate: None,
            partition: None,
        };
        let legs = store.layout.legs.len();
        if on != vol.on {
            notes.push(format!(
                "snapshot {name}: COW store on group {on} ({legs} leg(s)), not on {origin}'s group"
            ));
        } else if legs > 1 {
            notes.push(format!(
                "snapshot {name}: COW store mirrored like {origin} ({legs} legs)"
            ));
        }
        meta.snapshots.push(SnapshotMeta {
            name: name.to_owned(),
            uuid,
            origin: origin.to_owned(),
            kind: SnapshotKindMeta::Cow {
                size: len,
                chunk: chunk_s,
                store: Some(Box::new(store)),
                state: CowState::Active,
            },
        });
        changes.push(Change::NewCow(name.to_owned()));
    }
    Ok(())
}

/// Zero a store's metadata and the first two chunks (header + first exception area)
/// of every data extent, so the kernel sees a new store.
fn zero_store(meta: &ClassMeta, name: &str, out: &mut Vec<Action>) {
    let Some(c) = find(meta, name) else { return };
    let Some(st) = c.store else { return };
    let mut z = |e: &crate::layout::Extent, len: Sectors, what: &str| {
        let (offset, len) = (Bytes(e.offset.0 * 512), Bytes(len.0.min(e.len.0) * 512));
        out.push(Action::new(
            ActionKind::ZeroExtent,
            &e.disk,
            format!(
                "snapshot {name} {what}: {} bytes at byte {}",
                len.0, offset.0
            ),
            Step::Zero {
                disk: std::rc::Rc::new(e.disk.clone()),
                offset,
                len,
            },
        ));
    };
    for (i, l) in st.layout.legs.iter().enumerate() {
        if let Some(e) = &l.rmeta {
            z(e, e.len, &format!("leg {i} rmeta"));
        }
        for s in &l.segments {
            for e in s.extents() {
                z(e, Sectors(2 * c.chunk.0), &format!("leg {i} COW header"));
            }
        }
    }
    if let Some(e) = &st.layout.log {
        z(e, e.len, "mirror log");
    }
}

/// The devices of `origin` under the snapshots of `meta`, on node `node`.
pub(super) fn stack(
    meta: &ClassMeta,
    origin: &str,
    mode: MergeMode,
    node: Option<&str>,
) -> Result<Vec<DeviceSpec>> {
    let Some(v) = meta.volume(origin) else {
        return Ok(Vec::new());
    };
    let act = super::devices::activation(meta, v, node);
    let snaps = snap_devs(meta, origin, mode, &plain_store);
    origin_stack(&meta.name, meta.uuid, v, &act, &snaps)
}

/// Kernel steps from stack `old` to stack `new` of one live origin (order in the
/// module doc). `exists` says which dm devices are there now.
pub(crate) fn transition(
    class: &str,
    old: &[DeviceSpec],
    new: &[DeviceSpec],
    exists: &dyn Fn(&str) -> Option<DmInfo>,
    out: &mut Vec<Action>,
) -> Result<()> {
    let Some(top) = new.last().or(old.last()) else {
        return Ok(());
    };
    let gone: Vec<&DeviceSpec> = old
        .iter()
        .filter(|o| new.iter().all(|n| n.name != o.name) && exists(&o.name).is_some())
        .collect();
    for g in &gone {
        if g.role == DeviceRole::Snapshot {
            if let Some(i) = exists(&g.name).filter(|i| i.open_count > 0) {
                return refuse(
                    class,
                    &format!("snapshot device {}", g.name),
                    crate::error::busy("it", i.open_count),
                );
            }
        }
    }
    let fresh = |s: &DeviceSpec| exists(&s.name).is_none();
    let mut verify = Vec::new();
    // New stores (and their sub-devices) come up on their own; -real is loaded only.
    for s in new.iter().filter(|s| {
        fresh(s)
            && !matches!(
                s.role,
                DeviceRole::Snapshot | DeviceRole::OriginReal | DeviceRole::Top
            )
    }) {
        create_steps(s, out);
    }
    let real = new
        .iter()
        .find(|s| s.role == DeviceRole::OriginReal && fresh(s));
    if let Some(r) = real {
        create_steps(r, out);
        // The Resume/Verify of -real wait until the origin is suspended.
        out.truncate(out.len() - 2);
    }
    // The origin's next table, built before anything is suspended when the origin
    // returns to its own table (LVM's preload): a raid table's constructor runs
    // md_run, which always asks modprobe for its personality, and modprobe lives on
    // the root file system — if the origin holds the root, suspended, modprobe (and
    // this table load) would wait for ever. The new raid set starts read-only and
    // suspended, so it runs beside the old one only once that is quiesced.
    let top_load = match (new.last(), old.last()) {
        (Some(n), o) if o.map(|o| &o.table) != Some(&n.table) => Some(Action::new(
            ActionKind::Load,
            &n.name,
            n.table
                .iter()
                .map(|l| l.target.name())
                .collect::<Vec<_>>()
                .join("+"),
            Step::Load {
                spec: std::rc::Rc::new(n.clone()).into(),
            },
        )),
        _ => None,
    };
    let returning = new
        .iter()
        .all(|s| !matches!(s.role, DeviceRole::Snapshot | DeviceRole::OriginReal));
    let (early_load, late_load) = if returning {
        (top_load, None)
    } else {
        (None, top_load)
    };
    if let (Some(l), Some(n)) = (early_load, new.last()) {
        out.push(l);
        verify.push(n.clone());
    }
    out.push(Action::new(
        ActionKind::Suspend,
        &top.name,
        "hold origin I/O while snapshot tables change",
        Step::Suspend {
            name: top.name.clone(),
        },
    ));
    // When the origin returns to its own table (last snapshot removed, merge done), the
    // raid set in the old -real must be quiesced before the origin's new one starts on
    // the same rmeta/rimage, so the two never run (and write superblocks) together.
    for g in gone.iter().filter(|g| g.role == DeviceRole::OriginReal) {
        out.push(Action::new(
            ActionKind::Suspend,
            &g.name,
            "quiesce the old origin table before the origin takes it back",
            Step::Suspend {
                name: g.name.clone(),
            },
        ));
    }
    if let Some(r) = real {
        out.push(Action::new(
            ActionKind::Resume,
            &r.name,
            "origin's own table, now below snapshot-origin",
            Step::Resume {
                spec: std::rc::Rc::new(r.clone()).into(),
            },
        ));
        verify.push(r.clone());
    }
    for g in gone.iter().filter(|g| g.role == DeviceRole::Snapshot) {
        out.push(Action::new(
            ActionKind::Remove,
            &g.name,
            "snapshot device",
            Step::Remove {
                name: g.name.clone(),
            },
        ));
    }
    for s in new
        .iter()
        .filter(|s| s.role == DeviceRole::Snapshot && fresh(s))
    {
        create_steps(s, out);
    }
    if let Some(n) = new.last() {
        if let Some(l) = late_load {
            out.push(l);
            verify.push(n.clone());
        }
        out.push(Action::new(
            ActionKind::Resume,
            &n.name,
            "origin resumes after its snapshots",
            Step::Resume {
                spec: std::rc::Rc::new(n.clone()).into(),
            },
        ));
    }
    for v in verify {
        let name = v.name.clone();
        out.push(Action::new(
            ActionKind::Verify,
            &name,
            "read the table back",
            Step::Verify {
                spec: std::rc::Rc::new(v).into(),
            },
        ));
    }
    for g in gone.iter().rev().filter(|g| g.role != DeviceRole::Snapshot) {
        out.push(Action::new(
            ActionKind::Remove,
            &g.name,
            "layer no longer used",
            Step::Remove {
                name: g.name.clone(),
            },
        ));
    }
    Ok(())
}

/// Origins whose snapshot set changes, and whether any snapshot is new there.
fn touched(changes: &[Change], meta: &ClassMeta) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for c in changes {
        let (origin, new) = match c {
            Change::NewCow(n) => match find(meta, n) {
                Some(v) => (v.origin.to_owned(), true),
                None => continue,
            },
            Change::RemoveCow(s) => (s.origin.clone(), false),
            _ => continue,
        };
        match out.iter_mut().find(|(o, _)| *o == origin) {
            Some(e) => e.1 |= new,
            None => out.push((origin, new)),
        }
    }
    out
}

fn old_mode(meta: &ClassMeta, origin: &str, live: &dyn Fn(&str) -> Option<DmInfo>) -> MergeMode {
    let deferred = snapshots_of(meta, origin).iter().any(|c| {
        c.state == CowState::Merging
            && dm_name(&meta.name, c.name, Layer::Top).is_ok_and(|n| live(&n).is_some())
    });
    if deferred {
        MergeMode::Defer
    } else {
        MergeMode::Start
    }
}

/// Hook before the metadata write: zero new stores; take down removed snapshots of
/// origins that get no new snapshot (their metadata is written after the devices go).
pub(crate) fn pre_meta(
    cur: &Current,
    meta: &ClassMeta,
    changes: &[Change],
    actual: &Actual,
    out: &mut Vec<Action>,
) -> Result<()> {
    let live = |n: &str| actual.live.iter().find(|i| i.name == n).cloned();
    let node = actual.node.as_deref();
    for c in changes {
        if let Change::NewCow(n) = c {
            zero_store(meta, n, out);
        }
    }
    let Some(old) = cur.meta.as_ref() else {
        return Ok(());
    };
    for (origin, new) in touched(changes, meta) {
        let top = dm_name(&meta.name, &origin, Layer::Top)?;
        if new || live(&top).is_none() {
            continue;
        }
        let from = stack(old, &origin, old_mode(old, &origin, &live), node)?;
        let to = stack(meta, &origin, MergeMode::Defer, node)?;
        transition(&meta.name, &from, &to, &live, out)?;
    }
    Ok(())
}

/// Hook after the kernel creates new volumes: stack new snapshots over live origins.
pub(crate) fn post_meta(
    cur: &Current,
    meta: &ClassMeta,
    changes: &[Change],
    actual: &Actual,
    out: &mut Vec<Action>,
) -> Result<()> {
    let empty = ClassMeta::new(&meta.name, meta.uuid, meta.class_type);
    let old = cur.meta.as_ref().unwrap_or(&empty);
    let node = actual.node.as_deref();
    for (origin, new) in touched(changes, meta) {
        if !new {
            continue;
        }
        let created = changes.contains(&Change::NewVolume(origin.clone()));
        let from = if created {
            // The volume was just created without snapshots (step 4).
            match meta.volume(&origin) {
                Some(v) => super::devices::specs(meta, v, node)?,
                None => Vec::new(),
            }
        } else {
            let live = |n: &str| actual.live.iter().find(|i| i.name == n).cloned();
            stack(old, &origin, old_mode(old, &origin, &live), node)?
        };
        let names: Vec<String> = if created {
            from.iter().map(|s| s.name.clone()).collect()
        } else {
            Vec::new()
        };
        let live = |n: &str| {
            actual
                .live
                .iter()
                .find(|i| i.name == n)
                .cloned()
                .or_else(|| {
                    names.iter().any(|x| x == n).then(|| DmInfo {
                        name: n.to_owned(),
                        uuid: String::new(),
                        devnum: crate::io::DevNum { major: 0, minor: 0 },
                        open_count: 0,
                        suspended: false,
                        live_table: true,
                        inactive_table: false,
                        event_nr: 0,
                    })
                })
        };
        let top = dm_name(&meta.name, &origin, Layer::Top)?;
        if live(&top).is_none() {
            continue; // inactive origin: the next activation stacks it
        }
        let to = stack(meta, &origin, MergeMode::Defer, node)?;
        transition(&meta.name, &from, &to, &live, out)?;
    }
    Ok(())
}
