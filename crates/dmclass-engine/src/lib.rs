//! dmclass-engine: the pure core of dmclass (docs/architecture.md). One module per
//! concept; dependencies run one way (lower modules first; `scripts/modgraph` checks
//! there is no import cycle):
//!
//! * [`error`]: the crate's error enum; [`io`]: the [`io::Kernel`] and [`io::Disks`]
//!   traits the engine drives (real: dmclass-linux; simulated: [`sim`]);
//! * [`metadata`]: the on-disk private area (headers, alternating config slots, CRC32C),
//!   the class description stored in it, departures, reading an area;
//! * [`layout`]: legs, segments and extents of a volume; [`names`]: device-mapper names
//!   and UUIDs; [`region`]: the bitmap / dirty-log region size rule;
//! * [`dm`]: the device-mapper table grammar (typed targets, `Display` / `FromStr`, the
//!   raid read-back rule), used by [`tables`], [`exec`] and [`sim`];
//! * [`alloc`]: slice placement on member disks (1 MiB aligned, first fit);
//! * [`tables`]: device-mapper tables for a volume, children first;
//! * [`status`]: total parsers for raid and mirror status lines; [`raid_sb`]: the dm-raid
//!   superblock and which legs hold a complete copy; [`md_bitmap`]: the md write-intent
//!   bitmap in an rmeta (what a proxy rejoin copies);
//! * [`cow`]: copy-on-write snapshots (tables, status, state, activation; planned in
//!   plan/cow.rs and plan/cow_merge.rs); [`proxy`]: GDS proxy volumes (state; planned in
//!   plan/proxy.rs);
//! * [`closing`]: GDS's class-closing rule;
//! * [`lease`]: disk leases of a shared class (sanlock names, lease-area geometry and
//!   offsets, the lock value block, the holder message);
//! * [`netmirror`]: inter-server mirroring (so far its transport: exports, connections,
//!   NVMe qualified names, the [`netmirror::transport::Transport`] trait);
//! * [`root`]: the root class: converting the running system disk in place (the
//!   keep-disk layout, the conversion decided per disk, the ESP copy); [`gpt`]: GUID
//!   partition tables, read totally and written;
//! * [`bootenv`]: boot environments of a root class (parted proxies of its volumes
//!   booted through their own UEFI entries: command line, fstab, entries, listing);
//! * [`plan`] / [`exec`]: desired vs actual → ordered actions, run over the traits;
//! * [`assemble`]: scan disks, group classes, activate (degraded when legs are missing),
//!   deactivate; [`assemble::recover`] finishes an interrupted apply,
//!   [`assemble::force`] starts a closed class;
//! * [`react`]: decisions on hotplug and dm events (re-add, hot spare, failed legs);
//! * [`state`] / [`export`]: GDS status model and rendering (text tables through
//!   [`columns`]); the class back as YAML.
//!
//! Nothing here touches a real device: all I/O goes through [`io::Kernel`] and
//! [`io::Disks`].
#![forbid(unsafe_code)]

pub mod alloc;
pub mod assemble;
pub mod bootenv;
pub mod closing;
pub mod columns;
pub mod cow;
pub mod dm;
pub mod error;
pub mod exec;
pub mod export;
pub mod gpt;
pub mod io;
pub mod layout;
pub mod lease;
pub mod md_bitmap;
pub mod metadata;
pub mod monitor;
pub mod names;
pub mod netmirror;
pub mod plan;
pub mod progress;
pub mod proxy;
pub mod raid_sb;
pub mod react;
pub mod region;
pub mod root;
pub mod sim;
pub mod state;
pub mod status;
pub mod tables;
pub mod time;

#[cfg(test)]
pub(crate) mod testutil;

pub use error::{EngineError, Result};
