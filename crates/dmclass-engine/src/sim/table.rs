//! Table validation at load time, as the kernel's target constructors do it, into a
//! parsed [`Mapping`] per line that the data path and status use.

use super::{Node, World, EINVAL, ENXIO, MAX_DEPTH};
use crate::io::{DevNum, TargetLine};
use std::collections::BTreeSet;

/// Targets the simulated kernel knows (anything else: EINVAL, like a missing module).
pub const KNOWN_TARGETS: [&str; 9] = [
    "linear",
    "striped",
    "raid",
    "mirror",
    "snapshot",
    "snapshot-origin",
    "snapshot-merge",
    "error",
    "zero",
];

/// Magic at sector 0 of a raid1 metadata device once the set has used it ("DmRd").
pub(crate) const RAID_SB_MAGIC: &[u8; 4] = b"DmRd";

/// One raid1 leg: `<meta> <data>`, `-` parsed as `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RaidLeg {
    pub(crate) meta: Option<DevNum>,
    pub(crate) data: Option<DevNum>,
}

/// A parsed raid1 line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Raid1 {
    pub(crate) region: u64,
    pub(crate) legs: Vec<RaidLeg>,
    pub(crate) rebuild: Vec<usize>,
    pub(crate) sync: bool,
    pub(crate) nosync: bool,
    /// Every metadata device was blank: a new set (full initial sync unless nosync).
    pub(crate) new_set: bool,
    /// `min_recovery_rate` / `max_recovery_rate` in KiB/s per disk, when given.
    pub(crate) recovery_rate: (Option<u64>, Option<u64>),
}

/// A parsed dm-mirror line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mirror {
    /// Disk log device; `None` for a core log.
    pub(crate) log: Option<DevNum>,
    pub(crate) region: u64,
    pub(crate) legs: Vec<(DevNum, u64)>,
    pub(crate) sync: bool,
    pub(crate) nosync: bool,
}

/// What one table line maps to (sector units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mapping {
    Linear {
        dev: DevNum,
        offset: u64,
    },
    Striped {
        chunk: u64,
        stripes: Vec<(DevNum, u64)>,
    },
    Raid1(Raid1),
    Mirror(Mirror),
    Snapshot {
        origin: DevNum,
        cow: DevNum,
        chunk: u64,
        /// `snapshot-merge` (on the origin device) rather than `snapshot`.
        merge: bool,
    },
    Origin {
        dev: DevNum,
    },
    Error,
    Zero,
}

impl Mapping {
    /// Every device the line opens.
    pub(crate) fn devs(&self) -> Vec<DevNum> {
        match self {
            Mapping::Linear { dev, .. } | Mapping::Origin { dev } => vec![*dev],
            Mapping::Striped { stripes, .. } => stripes.iter().map(|s| s.0).collect(),
            Mapping::Raid1(r) => r
                .legs
                .iter()
                .flat_map(|l| [l.meta, l.data])
                .flatten()
                .collect(),
            Mapping::Mirror(m) => m
                .log
                .into_iter()
                .chain(m.legs.iter().map(|l| l.0))
                .collect(),
            Mapping::Snapshot { origin, cow, .. } => vec![*origin, *cow],
            Mapping::Error | Mapping::Zero => Vec::new(),
        }
    }

    /// Devices whose failure makes this line fail (redundant lines tolerate a leg).
    pub(crate) fn strict_devs(&self) -> Vec<DevNum> {
        match self {
            Mapping::Raid1(_) | Mapping::Mirror(_) => Vec::new(),
            other => other.devs(),
        }
    }
}

/// A validated table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// The lines as the kernel prints them back (whitespace collapsed).
    pub(crate) lines: Vec<TargetLine>,
    pub(crate) maps: Vec<Mapping>,
    pub(crate) read_only: bool,
}

impl Table {
    /// Distinct devices the table holds open.
    pub(crate) fn devs(&self) -> BTreeSet<DevNum> {
        self.maps.iter().flat_map(Mapping::devs).collect()
    }
}

/// A rejection: errno and the kernel log line.
pub(crate) type Reject = (i32, String);

/// A recovery rate of `parse_raid_params`: once per table, at most `INT_MAX` KiB/s.
fn rate_param(slot: &mut Option<u64>, key: &str, num: u64) -> Result<(), Reject> {
    if slot.is_some() {
        return Err(inval(format!("raid: Only one {key} argument pair allowed")));
    }
    if num > i32::MAX.unsigned_abs().into() {
        return Err(inval(format!("raid: {key} out of range")));
    }
    *slot = Some(num);
    Ok(())
}

fn inval(msg: impl Into<String>) -> Reject {
    (EINVAL, msg.into())
}

/// Validates `lines` for the dm device `me`, as `DM_TABLE_LOAD` would.
pub(crate) fn parse_table(
    world: &World,
    me: DevNum,
    lines: &[TargetLine],
    read_only: bool,
) -> Result<Table, Reject> {
    parse(Some(world), me, lines, read_only)
}

/// Rebuilds a table saved from a world (persist.rs): the same syntax checks as a load,
/// but no device lookups (a device may be unplugged now, and a raid1 set's superblocks
/// were read when the table was first loaded). `new_sets[i]` restores line i's
/// "new set" flag.
pub(crate) fn restore_table(
    lines: &[TargetLine],
    read_only: bool,
    new_sets: &[bool],
) -> Result<Table, Reject> {
    let me = DevNum {
        major: super::DM_MAJOR,
        minor: u32::MAX,
    };
    let mut t = parse(None, me, lines, read_only)?;
    for (m, &fresh) in t.maps.iter_mut().zip(new_sets) {
        if let Mapping::Raid1(r) = m {
            r.new_set = fresh;
        }
    }
    Ok(t)
}

fn parse(
    world: Option<&World>,
    me: DevNum,
    lines: &[TargetLine],
    read_only: bool,
) -> Result<Table, Reject> {
    if lines.is_empty() {
        return Err(inval("table load with no targets"));
    }
    let mut next = 0u64;
    let mut out = Vec::with_capacity(lines.len());
    let mut maps = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        if l.target.len() > 15 {
            return Err(inval(format!("line {i}: target name too long")));
        }
        if l.start.0 != next {
            return Err(inval(format!(
                "line {i}: gap in table (starts at {}, expected {next})",
                l.start.0
            )));
        }
        if l.len.0 == 0 {
            return Err(inval(format!("line {i}: zero-length target")));
        }
        next = l
            .start
            .0
            .checked_add(l.len.0)
            .ok_or_else(|| inval("table too large"))?;
        let ctx = Ctx {
            world,
            me,
            len: l.len.0,
            target: &l.target,
        };
        let mut w = Words {
            it: l.params.split_whitespace(),
            target: &l.target,
        };
        let map = match l.target.as_str() {
            "linear" => ctx.linear(&mut w)?,
            "striped" => ctx.striped(&mut w)?,
            "raid" => ctx.raid(&mut w)?,
            "mirror" => ctx.mirror(&mut w)?,
            "snapshot" | "snapshot-merge" => ctx.snapshot(&mut w, l.target == "snapshot-merge")?,
            "snapshot-origin" => Mapping::Origin {
                dev: ctx.dev(w.word()?, 0, l.len.0)?,
            },
            "error" => {
                // Recent kernels accept `<dev> <offset>` only to inherit queue limits.
                if let Some(d) = w.it.next() {
                    let off = w.num()?;
                    ctx.dev(d, off, 0)?;
                }
                Mapping::Error
            }
            "zero" => Mapping::Zero,
            other => return Err(inval(format!("unknown target type {other}"))),
        };
        w.finish()?;
        out.push(TargetLine {
            start: l.start,
            len: l.len,
            target: l.target.clone(),
            params: l.params.split_whitespace().collect::<Vec<_>>().join(" "),
        });
        maps.push(map);
    }
    Ok(Table {
        lines: out,
        maps,
        read_only,
    })
}

/// Parameter words of one line.
struct Words<'a> {
    it: std::str::SplitWhitespace<'a>,
    target: &'a str,
}

impl<'a> Words<'a> {
    fn word(&mut self) -> Result<&'a str, Reject> {
        self.it
            .next()
            .ok_or_else(|| inval(format!("{}: not enough arguments", self.target)))
    }

    fn num(&mut self) -> Result<u64, Reject> {
        let w = self.word()?;
        w.parse()
            .map_err(|_| inval(format!("{}: invalid number {w:?}", self.target)))
    }

    fn finish(mut self) -> Result<(), Reject> {
        match self.it.next() {
            None => Ok(()),
            Some(w) => Err(inval(format!("{}: unexpected argument {w:?}", self.target))),
        }
    }
}

/// Context of the line being parsed.
struct Ctx<'a> {
    /// `None` when restoring a saved table: no device checks.
    world: Option<&'a World>,
    me: DevNum,
    len: u64,
    target: &'a str,
}

impl Ctx<'_> {
    /// Resolves a `maj:min` word and checks `[offset, offset+len)` lies inside it.
    fn dev(&self, word: &str, offset: u64, len: u64) -> Result<DevNum, Reject> {
        let bad = || inval(format!("{}: bad device {word:?}", self.target));
        let (ma, mi) = word.split_once(':').ok_or_else(bad)?;
        let dev = DevNum {
            major: ma.parse().map_err(|_| bad())?,
            minor: mi.parse().map_err(|_| bad())?,
        };
        let Some(world) = self.world else {
            return Ok(dev);
        };
        let size = world.usable_size(dev).ok_or_else(|| {
            (
                ENXIO,
                format!("{}: device lookup failed for {dev}", self.target),
            )
        })?;
        if dev == self.me || reaches(world, dev, self.me, 0) {
            return Err(inval(format!("{}: {dev} would create a loop", self.target)));
        }
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(inval(format!(
                "{}: {dev} too small for target: start={offset}, len={len}, dev_size={size}",
                self.target
            )));
        }
        Ok(dev)
    }

    fn linear(&self, w: &mut Words<'_>) -> Result<Mapping, Reject> {
        let d = w.word()?;
        let offset = w.num()?;
        Ok(Mapping::Linear {
            dev: self.dev(d, offset, self.len)?,
            offset,
        })
    }

    fn striped(&self, w: &mut Words<'_>) -> Result<Mapping, Reject> {
        let n = w.num()?;
        let chunk = w.num()?;
        if n == 0 || n > 256 {
            return Err(inval("striped: invalid stripe count"));
        }
        if chunk < 8 || !chunk.is_power_of_two() {
            return Err(inval("striped: invalid chunk size"));
        }
        if !self.len.is_multiple_of(chunk * n) {
            return Err(inval(
                "striped: target length not divisible by chunk size times stripes",
            ));
        }
        let per = self.len / n;
        let mut stripes = Vec::new();
        for _ in 0..n {
            let d = w.word()?;
            let off = w.num()?;
            stripes.push((self.dev(d, off, per)?, off));
        }
        Ok(Mapping::Striped { chunk, stripes })
    }

    fn raid(&self, w: &mut Words<'_>) -> Result<Mapping, Reject> {
        let kind = w.word()?;
        if kind != "raid1" {
            return Err(inval(format!("raid: raid type {kind} not simulated")));
        }
        let nparams = w.num()?;
        if nparams == 0 {
            return Err(inval("raid: chunk size is mandatory"));
        }
        w.num()?; // chunk size, ignored by raid1
        let mut r = Raid1 {
            region: 0,
            legs: Vec::new(),
            rebuild: Vec::new(),
            sync: false,
            nosync: false,
            new_set: false,
            recovery_rate: (None, None),
        };
        let (mut region, mut write_mostly, mut delta) = (None, Vec::new(), false);
        let mut left = nparams - 1;
        while left > 0 {
            let key = w.word()?;
            left -= 1;
            match key {
                "sync" => r.sync = true,
                "nosync" => r.nosync = true,
                _ => {
                    if left == 0 {
                        return Err(inval(format!("raid: {key} needs a value")));
                    }
                    left -= 1;
                    let v = w.word()?;
                    let num: u64 = if key == "delta_disks" {
                        v.trim_start_matches(['-', '+']).parse()
                    } else {
                        v.parse()
                    }
                    .map_err(|_| inval(format!("raid: bad value for {key}")))?;
                    match key {
                        "rebuild" => r.rebuild.push(usize::try_from(num).unwrap_or(usize::MAX)),
                        "write_mostly" => {
                            write_mostly.push(usize::try_from(num).unwrap_or(usize::MAX));
                        }
                        "region_size" => region = Some(num),
                        "delta_disks" => delta = true,
                        "min_recovery_rate" => rate_param(&mut r.recovery_rate.0, key, num)?,
                        "max_recovery_rate" => rate_param(&mut r.recovery_rate.1, key, num)?,
                        "daemon_sleep" | "max_write_behind" | "data_offset" => {}
                        _ => return Err(inval("raid: Invalid flags combination")),
                    }
                }
            }
        }
        if r.sync && r.nosync || (r.sync || r.nosync) && !r.rebuild.is_empty() {
            return Err(inval("raid: Invalid flags combination"));
        }
        if let (Some(min), Some(max)) = r.recovery_rate {
            if min > max {
                return Err(inval("raid: Bogus recovery rates"));
            }
        }
        let ndevs = usize::try_from(w.num()?).unwrap_or(usize::MAX);
        if ndevs == 0 || ndevs > 253 {
            return Err(inval("raid: invalid number of devices"));
        }
        for _ in 0..ndevs {
            let (m, d) = (w.word()?, w.word()?);
            let meta = (m != "-").then(|| self.dev(m, 0, 8)).transpose()?;
            let data = (d != "-").then(|| self.dev(d, 0, self.len)).transpose()?;
            if meta.is_some() && data.is_none() {
                return Err(inval("raid: metadata device without data device"));
            }
            r.legs.push(RaidLeg { meta, data });
        }
        if r.rebuild.iter().chain(&write_mostly).any(|&i| i >= ndevs) {
            return Err(inval("raid: invalid device index"));
        }
        if !write_mostly.is_empty() && write_mostly.len() >= ndevs {
            return Err(inval("raid: Can't set all raid1 devices to write_mostly"));
        }
        let usable = (0..ndevs).any(|i| r.legs[i].data.is_some() && !r.rebuild.contains(&i));
        if !usable {
            return Err(inval("raid: insufficient redundancy to activate array"));
        }
        let min = self.len.div_ceil(1 << 21).next_power_of_two();
        r.region = match region {
            None => min.max(8192),
            Some(rs) if !rs.is_power_of_two() || rs > self.len || rs < min => {
                return Err(inval(format!("raid: invalid region size {rs}")));
            }
            Some(rs) => rs,
        };
        self.superblocks(&mut r, delta)?;
        Ok(Mapping::Raid1(r))
    }

    /// The superblock check of `analyse_superblocks`: a blank rmeta joining a set that
    /// has superblocks needs `rebuild` (this is why rmeta is zeroed before first use).
    fn superblocks(&self, r: &mut Raid1, delta: bool) -> Result<(), Reject> {
        let Some(world) = self.world else {
            return Ok(());
        };
        let fresh: Vec<Option<bool>> = r
            .legs
            .iter()
            .map(|l| {
                l.meta.map(|m| {
                    world
                        .peek(m, 0, RAID_SB_MAGIC.len())
                        .is_none_or(|b| b != RAID_SB_MAGIC)
                })
            })
            .collect();
        let with_meta = fresh.iter().flatten().count();
        let blank = fresh.iter().flatten().filter(|f| **f).count();
        r.new_set = with_meta > 0 && blank == with_meta;
        if r.new_set || delta {
            return Ok(());
        }
        for (i, f) in fresh.iter().enumerate() {
            if *f == Some(true) && !r.rebuild.contains(&i) {
                return Err(inval(format!(
                    "raid: New device injected into existing raid set without 'delta_disks' \
                     or 'rebuild' parameter specified (leg {i})"
                )));
            }
        }
        Ok(())
    }

    fn mirror(&self, w: &mut Words<'_>) -> Result<Mapping, Reject> {
        let log_type = w.word()?;
        let nlog = w.num()?;
        let log = match (log_type, nlog) {
            ("core", 1 | 2) => None,
            ("disk", 2 | 3) => Some(w.word()?),
            ("core" | "disk", _) => return Err(inval("mirror: wrong number of log arguments")),
            (other, _) => return Err(inval(format!("mirror: log type {other} not simulated"))),
        };
        let region = w.num()?;
        if region < 2 || !region.is_power_of_two() || region > self.len {
            return Err(inval(format!("mirror: invalid region size {region}")));
        }
        let (mut sync, mut nosync) = (false, false);
        let log_args = if log.is_some() { 3 } else { 2 };
        if nlog == log_args {
            match w.word()? {
                "sync" => sync = true,
                "nosync" => nosync = true,
                o => return Err(inval(format!("mirror: unrecognised sync argument {o}"))),
            }
        }
        let regions = self.len.div_ceil(region);
        // Header (1 KiB) plus the clean-bits bitset, rounded up to sectors.
        let log_sectors = (1024 + regions.div_ceil(32) * 4).div_ceil(512);
        let log = log.map(|d| self.dev(d, 0, log_sectors)).transpose()?;
        let n = w.num()?;
        if !(2..=9).contains(&n) {
            return Err(inval("mirror: invalid number of mirrors"));
        }
        let mut legs = Vec::new();
        for _ in 0..n {
            let d = w.word()?;
            let off = w.num()?;
            legs.push((self.dev(d, off, self.len)?, off));
        }
        if let Some(nf) = w.it.next() {
            let nf: u64 = nf.parse().map_err(|_| inval("mirror: bad feature count"))?;
            let mut feats = Vec::new();
            for _ in 0..nf {
                feats.push(w.word()?);
            }
            for f in &feats {
                if !matches!(*f, "handle_errors" | "keep_log") {
                    return Err(inval(format!("mirror: unrecognised feature {f}")));
                }
            }
            if feats.contains(&"keep_log") && !feats.contains(&"handle_errors") {
                return Err(inval("mirror: keep_log requires handle_errors"));
            }
        }
        Ok(Mapping::Mirror(Mirror {
            log,
            region,
            legs,
            sync,
            nosync,
        }))
    }

    fn snapshot(&self, w: &mut Words<'_>, merge: bool) -> Result<Mapping, Reject> {
        let o = w.word()?;
        let c = w.word()?;
        let kind = w.word()?;
        if !matches!(kind, "P" | "PO" | "N") {
            return Err(inval(format!("snapshot: invalid persistence {kind}")));
        }
        let chunk = w.num()?;
        let chunk = if chunk == 0 && kind != "N" { 32 } else { chunk };
        if chunk < 8 || !chunk.is_power_of_two() {
            return Err(inval("snapshot: invalid chunk size"));
        }
        let origin = self.dev(o, 0, self.len)?;
        let cow = self.dev(c, 0, chunk)?;
        if let Some(nf) = w.it.next() {
            let nf: u64 = nf
                .parse()
                .map_err(|_| inval("snapshot: bad feature count"))?;
            for _ in 0..nf {
                let f = w.word()?;
                if !matches!(f, "discard_zeroes_cow" | "discard_passdown_origin") {
                    return Err(inval(format!("snapshot: unrecognised feature {f}")));
                }
            }
        }
        if merge && kind == "N" {
            return Err(inval(
                "snapshot-merge: a transient snapshot cannot be merged",
            ));
        }
        Ok(Mapping::Snapshot {
            origin,
            cow,
            chunk,
            merge,
        })
    }
}

/// True when `from`'s live tables lead (at any depth) to `to`.
fn reaches(world: &World, from: DevNum, to: DevNum, depth: u32) -> bool {
    if depth > MAX_DEPTH {
        return true; // treat a too-deep stack as a loop: refuse it
    }
    let Some(Node::Dm(n)) = world.node(from) else {
        return false;
    };
    world
        .dm
        .get(&n)
        .and_then(|d| d.live.as_ref())
        .is_some_and(|t| {
            t.devs()
                .into_iter()
                .any(|c| c == to || reaches(world, c, to, depth + 1))
        })
}
