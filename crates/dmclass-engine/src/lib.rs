//! dmclass-engine: the pure core of dmclass (DESIGN.md §5).
//!
//! * [`metadata`]: the on-disk private area (headers, alternating config slots, CRC32C)
//!   and the class description stored in it;
//! * [`layout`]: legs, segments and extents of a volume;
//! * [`alloc`]: slice placement on member disks (1 MiB aligned, first fit);
//! * [`names`]: device-mapper names and UUIDs;
//! * [`region`]: the bitmap / dirty-log region size rule;
//! * [`dm`]: the device-mapper table grammar (typed targets, `Display` / `FromStr`, the
//!   raid read-back rule), used by [`tables`], [`exec`] and [`sim`];
//! * [`tables`]: device-mapper tables for a volume, children first;
//! * [`cow`] / [`tables_cow`]: copy-on-write snapshots: origin over `-real`, COW stores;
//! * [`status`]: total parsers for raid and mirror status lines;
//! * [`plan`] / [`exec`]: desired vs actual → ordered actions, run over [`io::Kernel`] / [`io::Disks`];
//! * [`assemble`]: scan disks, group classes, activate (degraded when legs are missing), deactivate;
//!   [`assemble::recover`] finishes an interrupted apply; [`closing`]: GDS's class-closing rule;
//! * [`react`]: decisions on hotplug and dm events (re-add, hot spare, failed legs);
//! * [`state`] / [`export`]: GDS status model and rendering; the class back as YAML.
//!
//! Nothing here does I/O: reading a private area goes through [`metadata::AreaRead`].
#![forbid(unsafe_code)]

pub mod alloc;
pub mod assemble;
pub mod closing;
pub mod cow;
pub mod dm;
pub mod error;
pub mod exec;
pub mod export;
pub mod io;
pub mod layout;
pub mod metadata;
pub mod names;
pub mod plan;
pub mod proxy;
pub mod raid_sb;
pub mod react;
pub mod region;
pub mod sim;
pub mod state;
pub mod status;
pub mod tables;
pub mod tables_cow;

#[cfg(test)]
pub(crate) mod testutil;

pub use error::{EngineError, Result};
