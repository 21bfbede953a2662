//! The root class: the running system disk mirrored in place, booting by UEFI from any
//! of its disks (GDS's root class; seed rows: a KVM host's system disk, a VMware
//! guest's system disk on virtual SCSI).
//!
//! * [`keep`]: where the conversion puts things: every partition but the ESP becomes
//!   leg 0 of a raid1 volume over the partition itself, the private area and the raid1
//!   metadata go into a new dmclass partition cut from unpartitioned space (or the
//!   conversion is refused saying how many MiB are missing), and each peer disk gets
//!   the same layout with new GUIDs;
//! * [`convert`]: the conversion decided from the YAML and the disks' tables (which
//!   partition each volume mirrors, the class description, what is left per disk, so
//!   a cut conversion resumes); plan/root.rs makes it actions, exec/root.rs runs them;
//! * [`cut`]: a conversion cut by a power loss, as the next boot and `apply` see it;
//! * `replace`: a dead disk replaced by a blank one (the description it writes);
//! * [`undo`]: back to a plain boot from one disk's partitions;
//! * [`esp`]: the ESP copied per disk with its own FAT volume serial;
//! * [`esp_sync`]: later boot file changes brought to every ESP by file copies
//!   (`dmclass esp sync`, run by the kernel and initramfs hooks);
//! * [`boot_entry`]: one UEFI boot entry per disk (`efibootmgr -v` read, what is
//!   missing decided).
//!
//! The first activation (initramfs-tools/scripts/local-top/dmclass, at the next boot)
//! builds the mirrors with the peers recorded `COPY`, so dm-raid copies the kept
//! partitions to them. docs/root-class.md tells the whole story, and lists what is not
//! built yet.

/// The boot-environment group of a root class: the group of whole disks (private
/// area at sector 0) beside the system group, if the class has one.
pub fn env_group(meta: &crate::metadata::ClassMeta) -> Option<&crate::metadata::GroupMeta> {
    if meta.class_type != crate::metadata::ClassTypeMeta::Root {
        return None;
    }
    meta.groups.iter().find(|g| {
        g.members
            .iter()
            .all(|m| meta.disk(m).is_some_and(|d| d.area_offset.0 == 0))
    })
}

/// Mark `specs` (the devices of `vol`) as a copy when `vol` is a volume of a root
/// class that is not a system volume (no kept partition under it): a broken-off
/// proxy of the root holds the system's file system UUID, and its by-uuid and
/// by-label links must yield to the system volume's (`root=UUID=...` would otherwise
/// find either). Other volumes of a root class lose nothing by it: their UUIDs are
/// their own.
pub(crate) fn mark_copies(
    meta: &crate::metadata::ClassMeta,
    vol: &crate::metadata::VolumeMeta,
    specs: &mut [crate::tables::DeviceSpec],
) {
    if meta.class_type == crate::metadata::ClassTypeMeta::Root && vol.partition.is_none() {
        for s in specs.iter_mut().filter(|s| !s.hidden) {
            s.copy = true;
        }
    }
}

pub mod boot_entry;
pub mod convert;
pub mod cut;
pub mod esp;
pub mod esp_sync;
pub mod keep;
mod replace;
pub mod undo;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_convert;
#[cfg(test)]
mod tests_envgroup;
#[cfg(test)]
mod tests_replace;
#[cfg(test)]
mod tests_undo;
