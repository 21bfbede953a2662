//! dmclass-linux: the kernel-facing shell (docs/architecture.md).
//!
//! This crate gathers the [`Facts`](dmclass_rules::Facts) document from the running
//! machine: environment and boot mode evidence ([`machine`]), block disks from udev and
//! sysfs ([`disks`]), on-disk signatures through libblkid ([`signatures`]) and whether
//! something else uses a disk ([`inuse`]), dmclass's own label ([`label`]); [`probe()`]
//! assembles them. It also implements the engine's I/O traits for real: device-mapper
//! ioctls ([`dm::LinuxKernel`]) and `O_DIRECT` member-disk I/O ([`diskio::LinuxDisks`]),
//! and splits dm names back for the udev rule ([`udev_names`]). Every decision
//! (device kind, environment, boot mode) is delegated to the pure `dmclass-rules` crate;
//! the parts here that only transform text are pure functions with unit tests, and the
//! sysfs/procfs root is injectable ([`SysRoot`]) so the readers run against fake trees.
//!
//! It is the only crate allowed `unsafe` (CPUID, the BLKGETSIZE64 ioctl, the dm
//! resume/remove ioctls of [`dmraw`]);
//! every `unsafe` block carries a comment saying why it is sound.
#![allow(unsafe_code)]
// Tests may unwrap (common brief); production code may not (workspace lint).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bootenv;
pub mod capture;
pub mod diskio;
pub mod disks;
pub mod dm;
pub mod dmerror;
pub mod dmevent;
pub mod dmraw;
pub mod error;
pub mod esp;
pub mod guests;
pub mod inuse;
pub mod label;
pub mod machine;
pub mod nvme_tcp;
pub mod probe;
pub mod process;
pub mod sanlock;
pub mod signatures;
pub mod sysroot;
pub mod udev_names;

pub use diskio::LinuxDisks;
pub use disks::{disk_facts_from, DiskRecord};
pub use dm::LinuxKernel;
pub use error::LinuxError;
pub use label::read_label;
pub use machine::{machine_facts, machine_facts_at};
pub use probe::{facts_from_capture, facts_from_records, probe, probe_with};
pub use sysroot::SysRoot;
pub use udev_names::split_dm_name;
