//! Device-mapper tables for a volume, as pure data (DESIGN.md §5).
//!
//! [`volume_devices`] returns every device of a volume in activation order (children
//! first, the visible volume last). Tables refer to disks and to sibling dm devices
//! symbolically ([`DevRef`]); their `major:minor` is only known on the machine (and
//! for dm devices only once created), so [`DeviceSpec::render`] turns them into text
//! through a [`Resolver`].
//!
//! Mappings:
//! * one leg (single disk, stripe, concat): the visible device maps the leg directly
//!   (`linear` / `striped` lines, one per segment);
//! * raid1: per leg `_rmeta_N` (linear, zeroed by the executor before first use) and
//!   `_rimage_N` (the leg's segments), then
//!   `raid raid1 <#params> 0 [nosync] [rebuild N]... [max_recovery_rate K] region_size R
//!   <#legs> <meta> <data>...` with `- -` for a missing leg and `K` the volume's
//!   `copy_rate` in KiB/s per disk;
//! * dm-mirror: `mirror disk 2 <_mlog> R` (JRM) or `mirror core 1 R`, then the legs as
//!   `<dev> <offset>` (a single-extent leg directly on its disk, otherwise through a
//!   `_mimage_N` device) and `1 handle_errors` so failures reach the monitor.

use crate::error::{EngineError, Result};
use crate::layout::{Leg, Segment};
use crate::metadata::{EngineMeta, ModeMeta, VolumeMeta};
use crate::names::{dm_name, dm_uuid, Layer};
use dmclass_model::{Bytes, Sectors};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use uuid::Uuid;

/// A device a table refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DevRef {
    /// A registered disk, by its name in the class.
    Disk(String),
    /// A dm device, by its dm name.
    Dm(String),
    /// An absent raid1 leg or metadata device (`-`).
    Missing,
}

/// One word of a table's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arg {
    /// Literal text (keywords are not copied).
    Text(Cow<'static, str>),
    /// A number, written in decimal.
    Num(u64),
    /// A device, rendered as `major:minor`.
    Dev(DevRef),
}

/// What [`t`] turns into a table word: a keyword or a number.
pub(crate) trait Word {
    /// The word.
    fn arg(self) -> Arg;
}

impl Word for &'static str {
    fn arg(self) -> Arg {
        Arg::Text(Cow::Borrowed(self))
    }
}

impl Word for u64 {
    fn arg(self) -> Arg {
        Arg::Num(self)
    }
}

impl Word for usize {
    fn arg(self) -> Arg {
        Arg::Num(self as u64)
    }
}

impl Word for &usize {
    fn arg(self) -> Arg {
        (*self).arg()
    }
}

/// One table word (no string is built for numbers and keywords).
pub(crate) fn t(w: impl Word) -> Arg {
    w.arg()
}

/// One table line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableLine {
    /// First sector of the device this line maps.
    pub start: Sectors,
    /// Sectors mapped.
    pub len: Sectors,
    /// Target type (`linear`, `striped`, `raid`, `mirror`).
    pub target: String,
    /// Parameters.
    pub params: Vec<Arg>,
}

/// Turns device references into `major:minor`.
pub trait Resolver {
    /// `major:minor` of `dev` (`Missing` never reaches the resolver).
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
            DevRef::Missing => Some("-".into()),
        }
    }
}

impl TableLine {
    /// The parameter string the kernel gets.
    pub fn render_params(&self, r: &dyn Resolver) -> Result<String> {
        let mut out = String::new();
        self.write_params(r, &mut out)?;
        Ok(out)
    }

    /// [`TableLine::render_params`], appended to `out` (left partly written on error).
    pub fn write_params(&self, r: &dyn Resolver, out: &mut String) -> Result<()> {
        for (i, a) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match a {
                Arg::Text(s) => out.push_str(s),
                Arg::Num(n) => {
                    let _ = write!(out, "{n}");
                }
                Arg::Dev(DevRef::Missing) => out.push('-'),
                Arg::Dev(d) => {
                    if !r.resolve_into(d, out) {
                        return Err(EngineError::Unresolved(format!("{d:?}")));
                    }
                }
            }
        }
        Ok(())
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
        for l in &self.table {
            let _ = write!(out, "{} {} {} ", l.start.0, l.len.0, l.target);
            if let Err(e) = l.write_params(r, out) {
                out.truncate(at);
                return Err(e);
            }
            out.push('\n');
        }
        Ok(())
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
}

/// Table lines mapping `segments` from sector 0.
pub fn segment_lines(segments: &[Segment]) -> Vec<TableLine> {
    let mut start = 0u64;
    let mut out = Vec::with_capacity(segments.len());
    for s in segments {
        let len = s.len();
        let (target, params) = match s {
            Segment::Linear { extent } => (
                "linear",
                vec![
                    Arg::Dev(DevRef::Disk(extent.disk.clone())),
                    t(extent.offset.0),
                ],
            ),
            Segment::Striped { chunk, columns } => {
                let mut p = vec![t(columns.len()), t(chunk.0)];
                for c in columns {
                    p.push(Arg::Dev(DevRef::Disk(c.disk.clone())));
                    p.push(t(c.offset.0));
                }
                ("striped", p)
            }
        };
        out.push(TableLine {
            start: Sectors(start),
            len,
            target: target.into(),
            params,
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
    let mut devs = Vec::new();
    let mut children = Vec::new();
    for (i, leg) in legs.iter().enumerate() {
        if act.missing.contains(&i) {
            devs.extend([Arg::Dev(DevRef::Missing), Arg::Dev(DevRef::Missing)]);
            continue;
        }
        let meta = match &leg.rmeta {
            Some(e) => {
                let line = TableLine {
                    start: Sectors(0),
                    len: e.len,
                    target: "linear".into(),
                    params: vec![Arg::Dev(DevRef::Disk(e.disk.clone())), t(e.offset.0)],
                };
                let n = cx.add(Layer::Rmeta(i), DeviceRole::RaidMeta, vec![line])?;
                children.push(n.clone());
                DevRef::Dm(n)
            }
            None => DevRef::Missing,
        };
        let n = cx.add(
            Layer::Rimage(i),
            DeviceRole::RaidImage,
            segment_lines(&leg.segments),
        )?;
        children.push(n.clone());
        devs.extend([Arg::Dev(meta), Arg::Dev(DevRef::Dm(n))]);
    }
    let mut opts = vec![t(0u64)];
    if act.nosync {
        opts.push(t("nosync"));
    }
    for r in &act.rebuild {
        opts.extend([t("rebuild"), t(r)]);
    }
    // The kernel's table order: [no]sync, rebuild, ..., max_recovery_rate, ...,
    // region_size (dm-raid `raid_status`), so the read-back compares word by word.
    if let Some(rate) = cx.vol.copy_rate {
        opts.extend([t("max_recovery_rate"), t(recovery_rate_kib(rate))]);
    }
    opts.extend([t("region_size"), t(cx.vol.region.0)]);
    let mut params = vec![t("raid1"), t(opts.len())];
    params.extend(opts);
    params.push(t(legs.len()));
    params.extend(devs);
    Ok((vec![top_line(len, "raid", params)], children))
}

fn mirror(cx: &mut Ctx, len: Sectors, act: &Activation) -> Result<(Vec<TableLine>, Vec<String>)> {
    let mut children = Vec::new();
    let region = t(cx.vol.region.0);
    let sync: Vec<Arg> = if act.nosync {
        vec![t("nosync")]
    } else {
        vec![]
    };
    let mut params = vec![];
    match &cx.vol.layout.log {
        Some(e) if cx.vol.jrm => {
            let line = TableLine {
                start: Sectors(0),
                len: e.len,
                target: "linear".into(),
                params: vec![Arg::Dev(DevRef::Disk(e.disk.clone())), t(e.offset.0)],
            };
            let n = cx.add(Layer::Mlog, DeviceRole::MirrorLog, vec![line])?;
            children.push(n.clone());
            params.extend([
                t("disk"),
                t(2 + sync.len()),
                Arg::Dev(DevRef::Dm(n)),
                region,
            ]);
        }
        _ => params.extend([t("core"), t(1 + sync.len()), region]),
    }
    params.extend(sync);
    let mut legs = Vec::new();
    for (i, leg) in cx.vol.layout.legs.iter().enumerate() {
        if act.missing.contains(&i) {
            continue;
        }
        match leg.segments.as_slice() {
            [Segment::Linear { extent }] => legs.extend([
                Arg::Dev(DevRef::Disk(extent.disk.clone())),
                t(extent.offset.0),
            ]),
            segs => {
                let n = cx.add(
                    Layer::Mimage(i),
                    DeviceRole::MirrorImage,
                    segment_lines(segs),
                )?;
                children.push(n.clone());
                legs.extend([Arg::Dev(DevRef::Dm(n)), t(0u64)]);
            }
        }
    }
    if legs.len() < 4 {
        return Err(EngineError::InvalidLayout(format!(
            "volume {}: dm-mirror needs at least two present legs",
            cx.vol.name
        )));
    }
    params.push(t(legs.len() / 2));
    params.extend(legs);
    params.extend([t(1u64), t("handle_errors")]);
    Ok((vec![top_line(len, "mirror", params)], children))
}

/// dm-raid's `max_recovery_rate` value: KiB per second per disk, at least 1 (0
/// would mean "kernel default"; the model only accepts whole KiB from 1KiB).
pub fn recovery_rate_kib(rate: Bytes) -> u64 {
    (rate.0 / 1024).max(1)
}

fn top_line(len: Sectors, target: &str, params: Vec<Arg>) -> TableLine {
    TableLine {
        start: Sectors(0),
        len,
        target: target.into(),
        params,
    }
}

#[cfg(test)]
#[path = "tables_tests.rs"]
mod tests;
