//! Device-mapper tables of a volume with copy-on-write snapshots (lvm_dm.md §1.3, §2.2).
//!
//! A volume with at least one snapshot is stacked as LVM stacks it:
//!
//! ```text
//! dmclass-c-v-real : the volume's own table (linear / striped / raid / mirror), hidden
//! dmclass-c-s_*    : the COW store's sub-devices (rmeta / rimage / mimage / mlog)
//! dmclass-c-s-cow  : the COW store's top table, hidden
//! dmclass-c-s      : 0 <len> snapshot <real> <cow> P <chunk>
//! dmclass-c-v      : 0 <len> snapshot-origin <real>
//!                    (or snapshot-merge <real> <cow> P <chunk> while s merges back)
//! ```
//!
//! [`origin_stack`] returns them children first: the volume's sub-devices, `-real`,
//! then per snapshot its store and snapshot device, and the visible origin last (so a
//! new snapshot resumes before the origin, LVM's activation priority).

use crate::dm::{Persistence, Snapshot, Target};
use crate::error::Result;
use crate::metadata::{ModeMeta, VolumeMeta};
use crate::names::{dm_name, dm_uuid, Layer};
use crate::tables::{volume_devices, Activation, DevRef, DeviceRole, DeviceSpec, TableLine};
use dmclass_model::Sectors;
use uuid::Uuid;

/// One snapshot of an origin, as the table generator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapDev {
    /// Snapshot name (its dm name is `dmclass-<class>-<name>`).
    pub name: String,
    /// Snapshot UUID (part of the dm UUIDs of the snapshot and its store).
    pub uuid: Uuid,
    /// Chunk size.
    pub chunk: Sectors,
    /// The COW store as a hidden volume named like the snapshot.
    pub store: VolumeMeta,
    /// How the store's legs are started (missing legs when degraded).
    pub store_act: Activation,
    /// Merging back: the origin carries `snapshot-merge` and no snapshot device exists.
    pub merging: bool,
}

fn dm(name: &str) -> DevRef {
    DevRef::Dm(name.to_owned())
}

fn line(len: Sectors, target: Target<DevRef>) -> TableLine {
    TableLine {
        start: Sectors(0),
        len,
        target,
    }
}

/// The COW store's devices, children first; the last one is `<snap>-cow`.
pub fn cow_store_devices(
    class: &str,
    class_uuid: Uuid,
    store: &VolumeMeta,
    act: &Activation,
) -> Result<Vec<DeviceSpec>> {
    let mut specs = volume_devices(class, class_uuid, store, act)?;
    if let Some(top) = specs.last_mut() {
        top.name = dm_name(class, &store.name, Layer::Cow)?;
        top.uuid = dm_uuid(class_uuid, store.uuid, Layer::Cow);
        top.hidden = true;
        top.read_only = false;
        top.role = DeviceRole::CowStore;
    }
    Ok(specs)
}

/// `snapshot <real> <cow> P <chunk>` (or `snapshot-merge`), persistent as LVM emits it.
fn snapshot(real: &str, cow: &str, chunk: Sectors) -> Snapshot<DevRef> {
    Snapshot {
        origin: dm(real),
        cow: dm(cow),
        persistence: Persistence::Persistent,
        chunk,
        features: Vec::new(),
    }
}

/// Every device of `vol` stacked under its snapshots `snaps`, children first (layout
/// in the module doc). With no snapshot this is [`volume_devices`].
pub fn origin_stack(
    class: &str,
    class_uuid: Uuid,
    vol: &VolumeMeta,
    act: &Activation,
    snaps: &[SnapDev],
) -> Result<Vec<DeviceSpec>> {
    let mut specs = volume_devices(class, class_uuid, vol, act)?;
    if snaps.is_empty() {
        return Ok(specs);
    }
    let Some(mut real) = specs.pop() else {
        return Ok(specs);
    };
    let len = real.len();
    let top_name = real.name.clone();
    let top_uuid = real.uuid.clone();
    real.name = dm_name(class, &vol.name, Layer::Real)?;
    real.uuid = dm_uuid(class_uuid, vol.uuid, Layer::Real);
    real.hidden = true;
    real.read_only = false;
    real.role = DeviceRole::OriginReal;
    let real_name = real.name.clone();
    specs.push(real);
    let mut top_table = line(len, Target::SnapshotOrigin(dm(&real_name)));
    let mut top_children = vec![real_name.clone()];
    for s in snaps {
        let store = cow_store_devices(class, class_uuid, &s.store, &s.store_act)?;
        let cow = store.last().map(|c| c.name.clone()).unwrap_or_default();
        specs.extend(store);
        if s.merging {
            top_table = line(
                len,
                Target::SnapshotMerge(snapshot(&real_name, &cow, s.chunk)),
            );
            top_children.push(cow);
            continue;
        }
        specs.push(DeviceSpec {
            name: dm_name(class, &s.name, Layer::Top)?,
            uuid: dm_uuid(class_uuid, s.uuid, Layer::Top),
            table: vec![line(
                len,
                Target::Snapshot(snapshot(&real_name, &cow, s.chunk)),
            )],
            hidden: false,
            copy: true,
            read_only: false,
            children: vec![real_name.clone(), cow],
            role: DeviceRole::Snapshot,
        });
    }
    specs.push(DeviceSpec {
        name: top_name,
        uuid: top_uuid,
        table: vec![top_table],
        hidden: false,
        copy: false,
        read_only: vol.mode == ModeMeta::Ro,
        children: top_children,
        role: DeviceRole::Top,
    });
    Ok(specs)
}

#[cfg(test)]
#[path = "tests_tables.rs"]
mod tests_tables;
