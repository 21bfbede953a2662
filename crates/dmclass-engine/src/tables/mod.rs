//! Device-mapper tables for a volume, as pure data (docs/architecture.md).
//!
//! [`volume_devices`] returns every device of a volume in activation order (children
//! first, the visible volume last). Tables refer to disks and to sibling dm devices
//! symbolically ([`DevRef`]); their `major:minor` is only known on the machine (and
//! for dm devices only once created), so [`DeviceSpec::render`] turns them into text
//! through a [`Resolver`]. Lines are typed ([`crate::dm`], the one grammar also used
//! to parse what the kernel prints back), with [`DevRef`] as their device.
//!
//! Mappings:
//! * one leg (single disk, stripe, concat): the visible device maps the leg directly
//!   (`linear` / `striped` lines, one per segment);
//! * raid1: per leg `_rmeta_N` (linear, zeroed by the executor before first use) and
//!   `_rimage_N` (the leg's segments), then
//!   `raid raid1 <#params> 0 [nosync] [rebuild N]... [max_recovery_rate K]
//!   [write_mostly N]... region_size R <#legs> <meta> <data>...` with `- -` for a
//!   missing leg, `K` the volume's `copy_rate` in KiB/s per disk and `write_mostly` on
//!   a netmirror leg that is the partner's disk;
//! * dm-mirror: `mirror disk 2 <_mlog> R` (JRM) or `mirror core 1 R`, then the legs as
//!   `<dev> <offset>` (a single-extent leg directly on its disk, otherwise through a
//!   `_mimage_N` device) and `1 handle_errors` so failures reach the monitor.

use crate::dm::{
    DevOffset, LogSync, Mirror, MirrorFeature, MirrorLog, Raid, RaidDev, RaidLevel, RaidOpt,
    Striped, Target,
};
use crate::error::{EngineError, Result};
use crate::layout::{Leg, Segment};
use crate::metadata::{EngineMeta, ModeMeta, VolumeMeta};
use crate::names::{dm_name, dm_uuid, Layer};
use dmclass_model::{Bytes, Sectors};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// A device a table refers to (an absent raid1 leg is `None` in [`RaidDev`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DevRef {
    /// A registered disk, by its name in the class.
    Disk(String),
    /// A dm device, by its dm name.
    Dm(String),
}

/// One table line of a device, its devices symbolic.
pub type TableLine = crate::dm::TableLine<DevRef>;

/// Turns device references into `major:minor`.
pub trait Resolver {
    /// `major:minor` of `dev`.
    fn resolve(&self, dev: &DevRef) -> Option<String>;

    /// Append what [`Resolver::resolve`] returns to `out`; false when it returns
    /// `None`. Resolvers that can write in place override it (no string per device).
    fn resolve_into(&self, dev: &DevRef, out: &mut String) -> bool {
        match self.resolve(dev) {
            Some(s) => {
                out.push_str(&s);
                true
            }
            None => false,
        }
    }
}

/// A resolver from two maps (disk name and dm name to `major:minor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapResolver {
    /// Disk name → `major:minor`.
    pub disks: BTreeMap<String, String>,
    /// dm name → `major:minor`.
    pub dm: BTreeMap<String, String>,
}

impl Resolver for MapResolver {
    fn resolve(&self, dev: &DevRef) -> Option<String> {
        match dev {
            DevRef::Disk(n) => self.disks.get(n).cloned(),
            DevRef::Dm(n) => self.dm.get(n).cloned(),
        }
    }
}

/// What a device is for (the executor zeroes metadata devices before first use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceRole {
    /// The visible volume.
    Top,
    /// raid1 metadata (zero before first use).
    RaidMeta,
    /// raid1 data image.
    RaidImage,
    /// dm-mirror leg image.
    MirrorImage,
    /// dm-mirror disk log (zero before first use).
    MirrorLog,
    /// A snapshot origin's `-real` device: the volume's own table moved below
    /// `snapshot-origin`.
    OriginReal,
    /// A snapshot's COW store (`-cow`, its first chunks zeroed before first use).
    CowStore,
    /// A visible copy-on-write snapshot device.
    Snapshot,
}

/// A device to create, in activation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// dm name.
    pub name: String,
    /// dm UUID.
    pub uuid: String,
    /// Table lines.
    pub table: Vec<TableLine>,
    /// Hidden from udev (private layer).
    pub hidden: bool,
    /// A copy of another volume's data ([`crate::io::Visibility::Copy`]).
    pub copy: bool,
    /// Load read-only.
    pub read_only: bool,
    /// dm names of the devices this one's table uses.
    pub children: Vec<String>,
    /// Purpose.
    pub role: DeviceRole,
}

impl DeviceSpec {
    /// The table as `dmsetup table` prints it (one line per entry, `\n`-terminated).
    pub fn render(&self, r: &dyn Resolver) -> Result<String> {
        let mut out = String::new();
        self.render_into(r, &mut out)?;
        Ok(out)
    }

    /// [`DeviceSpec::render`], appended to `out` (nothing appended on error).
    pub fn render_into(&self, r: &dyn Resolver, out: &mut String) -> Result<()> {
        let at = out.len();
        // The resolver writes to a `String`; one buffer serves every device.
        let mut buf = String::new();
        let unresolved = std::cell::Cell::new(None);
        let mut dev = |d: &DevRef, o: &mut dyn fmt::Write| {
            buf.clear();
            if r.resolve_into(d, &mut buf) {
                o.write_str(&buf)
            } else {
                unresolved.set(Some(format!("{d:?}")));
                Err(fmt::Error)
            }
        };
        for l in &self.table {
            if l.write_with(out, &mut dev).is_err() {
                out.truncate(at);
                return Err(EngineError::Unresolved(
                    unresolved.take().unwrap_or_default(),
                ));
            }
            out.push('\n');
        }
        Ok(())
    }

    /// How udev sees the device when it is resumed: hidden layers private, a copy of
    /// another volume's data yielding its links, the rest public.
    pub fn visibility(&self) -> crate::io::Visibility {
        use crate::io::Visibility;
        if self.hidden {
            Visibility::Private
        } else if self.copy {
            Visibility::Copy
        } else {
            Visibility::Public
        }
    }

    /// Total length mapped.
    pub fn len(&self) -> Sectors {
        Sectors(self.table.iter().map(|l| l.len.0).sum())
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Per-activation choices that are not part of the stored layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activation {
    /// Skip the initial sync (fresh volume whose content does not matter).
    pub nosync: bool,
    /// raid1 legs to rebuild from the others.
    pub rebuild: Vec<usize>,
    /// Legs to leave out (disk missing or disabled).
    pub missing: Vec<usize>,
    /// raid1 legs the kernel reads from only when no other leg can serve
    /// (`write_mostly`): a netmirror leg on the partner's disk, reached over the
    /// network ([`crate::netmirror::remote_legs`]). Legs left out are skipped, and
    /// never every present leg (the kernel refuses that).
    pub write_mostly: Vec<usize>,
}

/// `linear <disk> <offset>` of one extent.
fn linear(e: &crate::layout::Extent) -> Target<DevRef> {
    Target::Linear(DevOffset {
        dev: DevRef::Disk(e.disk.clone()),
        offset: e.offset,
    })
}

/// Table lines mapping `segments` from sector 0.
pub fn segment_lines(segments: &[Segment]) -> Vec<TableLine> {
    let mut start = 0u64;
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        let len = s.len();
        let target = match s {
            Segment::Linear { extent } => linear(extent),
            Segment::Striped { chunk, columns } => Target::Striped(Striped {
                chunk: *chunk,
                stripes: columns
                    .iter()
                    .map(|c| DevOffset {
                        dev: DevRef::Disk(c.disk.clone()),
                        offset: c.offset,
                    })
                    .collect(),
            }),
        };
        out.push(TableLine {
            start: Sectors(start),
            len,
            target,
        });
        start = start.saturating_add(len.0);
    }
    out
}

struct Ctx<'a> {
    class: &'a str,
    class_uuid: Uuid,
    vol: &'a VolumeMeta,
    out: Vec<DeviceSpec>,
}

impl Ctx<'_> {
    fn add(&mut self, layer: Layer, role: DeviceRole, table: Vec<TableLine>) -> Result<String> {
        let name = dm_name(self.class, &self.vol.name, layer)?;
        self.out.push(DeviceSpec {
            name: name.clone(),
            uuid: dm_uuid(self.class_uuid, self.vol.uuid, layer),
            table,
            hidden: layer.hidden(),
            copy: false,
            read_only: false,
            children: Vec::new(),
            role,
        });
        Ok(name)
    }
}

/// What [`volume_devices`] checks of a volume's layout before building its devices
/// (legs not empty and of one size).
pub(crate) fn check_layout(vol: &VolumeMeta) -> Result<()> {
    let len = vol.layout.len();
    if len.0 == 0 || vol.layout.legs.iter().any(|l| l.len() != len) {
        return Err(EngineError::InvalidLayout(format!(
            "volume {}: legs are empty or of different sizes",
            vol.name
        )));
    }
    Ok(())
}

/// Every device of `vol` in class `class` (UUID `class_uuid`), children first.
pub fn volume_devices(
    class: &str,
    class_uuid: Uuid,
    vol: &VolumeMeta,
    act: &Activation,
) -> Result<Vec<DeviceSpec>> {
    check_layout(vol)?;
    let legs = &vol.layout.legs;
    let len = vol.layout.len();
    let mut cx = Ctx {
        class,
        class_uuid,
        vol,
        out: Vec::new(),
    };
    let (table, children) = match legs.as_slice() {
        [only] => (segment_lines(&only.segments), Vec::new()),
        _ => match vol.engine {
            EngineMeta::Raid1 => raid1(&mut cx, len, act)?,
            EngineMeta::Mirror => mirror(&mut cx, len, act)?,
        },
    };
    cx.add(Layer::Top, DeviceRole::Top, table)?;
    if let Some(top) = cx.out.last_mut() {
        top.children = children;
        top.read_only = vol.mode == ModeMeta::Ro;
    }
    Ok(cx.out)
}

fn raid1(cx: &mut Ctx, len: Sectors, act: &Activation) -> Result<(Vec<TableLine>, Vec<String>)> {
    let legs: &[Leg] = &cx.vol.layout.legs;
    let mut devs = Vec::with_capacity(legs.len());
    let mut children = Vec::new();
    for (i, leg) in legs.iter().enumerate() {
        if act.missing.contains(&i) {
            devs.push(RaidDev {
                meta: None,
                data: None,
            });
            continue;
        }
        let meta = match &leg.rmeta {
            Some(e) => {
                let line = top_line(e.len, linear(e));
                let n = cx.add(Layer::Rmeta(i), DeviceRole::RaidMeta, vec![line])?;
                children.push(n.clone());
                Some(DevRef::Dm(n))
            }
            None => None,
        };
        let n = cx.add(
            Layer::Rimage(i),
            DeviceRole::RaidImage,
            segment_lines(&leg.segments),
        )?;
        children.push(n.clone());
        devs.push(RaidDev {
            meta,
            data: Some(DevRef::Dm(n)),
        });
    }
    let mut opts = Vec::new();
    if act.nosync {
        opts.push(RaidOpt::Nosync);
    }
    for &r in &act.rebuild {
        opts.push(RaidOpt::Rebuild(leg_index(r)?));
    }
    // The kernel's table order: [no]sync, rebuild, ..., max_recovery_rate, ...,
    // region_size (dm-raid `raid_status`); the read-back rule (dm::raid) also
    // accepts the order of dm-raid 1.9.0-1.10.x.
    if let Some(rate) = cx.vol.copy_rate {
        opts.push(RaidOpt::MaxRecoveryRate(recovery_rate_kib(rate)));
    }
    let mut slow: Vec<usize> = act
        .write_mostly
        .iter()
        .copied()
        .filter(|i| *i < legs.len() && !act.missing.contains(i))
        .collect();
    slow.sort_unstable();
    slow.dedup();
    let present = (0..legs.len()).filter(|i| !act.missing.contains(i)).count();
    if slow.len() < present {
        for i in slow {
            opts.push(RaidOpt::WriteMostly(leg_index(i)?));
        }
    }
    opts.push(RaidOpt::RegionSize(cx.vol.region));
    let raid = Raid {
        level: RaidLevel::Raid1,
        chunk: Sectors(0),
        opts,
        devs,
    };
    Ok((vec![top_line(len, Target::Raid(raid))], children))
}

/// A leg index as dm-raid's `rebuild` takes it.
fn leg_index(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| EngineError::InvalidLayout(format!("leg index {i} out of range")))
}

fn mirror(cx: &mut Ctx, len: Sectors, act: &Activation) -> Result<(Vec<TableLine>, Vec<String>)> {
    let mut children = Vec::new();
    let log = match &cx.vol.layout.log {
        Some(e) if cx.vol.jrm => {
            let line = top_line(e.len, linear(e));
            let n = cx.add(Layer::Mlog, DeviceRole::MirrorLog, vec![line])?;
            children.push(n.clone());
            MirrorLog::Disk(DevRef::Dm(n))
        }
        _ => MirrorLog::Core,
    };
    let mut legs = Vec::new();
    for (i, leg) in cx.vol.layout.legs.iter().enumerate() {
        if act.missing.contains(&i) {
            continue;
        }
        match leg.segments.as_slice() {
            [Segment::Linear { extent }] => legs.push(DevOffset {
                dev: DevRef::Disk(extent.disk.clone()),
                offset: extent.offset,
            }),
            segs => {
                let n = cx.add(
                    Layer::Mimage(i),
                    DeviceRole::MirrorImage,
                    segment_lines(segs),
                )?;
                children.push(n.clone());
                legs.push(DevOffset {
                    dev: DevRef::Dm(n),
                    offset: Sectors(0),
                });
            }
        }
    }
    if legs.len() < 2 {
        return Err(EngineError::InvalidLayout(format!(
            "volume {}: dm-mirror needs at least two present legs",
            cx.vol.name
        )));
    }
    let mirror = Mirror {
        log,
        region: cx.vol.region,
        sync: act.nosync.then_some(LogSync::Nosync),
        legs,
        // Failures must reach the monitor.
        features: vec![MirrorFeature::HandleErrors],
    };
    Ok((vec![top_line(len, Target::Mirror(mirror))], children))
}

/// dm-raid's `max_recovery_rate` value: KiB per second per disk, at least 1 (0
/// would mean "kernel default"; the model only accepts whole KiB from 1KiB).
pub fn recovery_rate_kib(rate: Bytes) -> u64 {
    (rate.0 / 1024).max(1)
}

/// A line mapping `len` sectors from sector 0.
fn top_line(len: Sectors, target: Target<DevRef>) -> TableLine {
    TableLine {
        start: Sectors(0),
        len,
        target,
    }
}

#[cfg(test)]
mod tests;
