//! The root class: the running system disk mirrored in place, booting by UEFI from any
//! of its disks (GDS's root class; seed rows: a KVM host's system disk, a VMware
//! guest's system disk on virtual SCSI).
//!
//! Built so far (the pure groundwork of the conversion; `plan` and `apply` still refuse
//! `type: root` and `role: keep`, saying the class is not yet supported):
//! * [`crate::gpt`]: GUID partition tables read totally from the keep disk and written
//!   for the peers;
//! * [`keep`]: where the conversion puts things: every partition but the ESP becomes
//!   leg 0 of a raid1 volume over the partition itself, the private area and the raid1
//!   metadata go into a new dmclass partition cut from unpartitioned space (or the
//!   conversion is refused saying how many MiB are missing), and each peer disk gets
//!   the same layout with new GUIDs.
//!
//! Still to build (issue "Root class"): the plan steps of the conversion (crash-safe,
//! with failpoints), one ESP per disk kept equal by file copies with a boot entry per
//! disk, the initramfs-tools hook and `local-top` script that assemble the class before
//! the root is mounted (`dmclass.root=CLASS/VOLUME`, a bounded degraded wait), disk
//! replacement, and the VM scenarios that boot from either disk under OVMF.

pub mod convert;
pub mod esp;
pub mod keep;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_convert;
