//! Table validation at load time, as the kernel's target constructors do it, into a
//! parsed [`Mapping`] per line that the data path and status use.
//!
//! The syntax is the one grammar of [`crate::dm`] (what dmclass builds and reads
//! back); what is checked here is what a target constructor checks beyond it: sizes,
//! powers of two, devices that exist and are large enough, no loops, flag
//! combinations, raid1 superblocks.

use super::{Node, World, EINVAL, ENXIO, MAX_DEPTH};
use crate::dm::{self, MirrorFeature, MirrorLog, ParseError, Persistence, RaidOpt, Target};
use crate::io::{DevNum, TargetLine};
use std::collections::BTreeSet;

/// Targets the simulated kernel knows (anything else: EINVAL, like a missing module).
pub const KNOWN_TARGETS: [&str; 9] = dm::TARGET_NAMES;

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
        let target = Target::<DevNum>::parse(&l.target, &l.params).map_err(|e| match e {
            ParseError::UnknownTarget(t) => inval(format!("unknown target type {t}")),
            e => inval(format!("{}: {e}", l.target)),
        })?;
        let ctx = Ctx {
            world,
            me,
            len: l.len.0,
            target: target.name(),
        };
        maps.push(ctx.mapping(target)?);
        out.push(TargetLine {
            start: l.start,
            len: l.len,
            target: l.target.clone(),
            params: l.params.split_whitespace().collect::<Vec<_>>().join(" "),
        });
    }
    Ok(Table {
        lines: out,
        maps,
        read_only,
    })
}

/// Context of the line being checked.
struct Ctx<'a> {
    /// `None` when restoring a saved table: no device checks.
    world: Option<&'a World>,
    me: DevNum,
    len: u64,
    target: &'static str,
}

impl Ctx<'_> {
    /// Checks `dev` exists, is no loop, and `[offset, offset+len)` lies inside it.
    fn dev(&self, dev: DevNum, offset: u64, len: u64) -> Result<DevNum, Reject> {
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

    /// What the target's constructor checks, and the line's [`Mapping`].
    fn mapping(&self, target: Target<DevNum>) -> Result<Mapping, Reject> {
        Ok(match target {
            Target::Linear(l) => Mapping::Linear {
                dev: self.dev(l.dev, l.offset.0, self.len)?,
                offset: l.offset.0,
            },
            Target::Striped(s) => self.striped(&s)?,
            Target::Raid(r) => self.raid(&r)?,
            Target::Mirror(m) => self.mirror(&m)?,
            Target::Snapshot(s) => self.snapshot(&s, false)?,
            Target::SnapshotMerge(s) => self.snapshot(&s, true)?,
            Target::SnapshotOrigin(d) => Mapping::Origin {
                dev: self.dev(d, 0, self.len)?,
            },
            Target::Error(l) => {
                // Recent kernels accept `<dev> <offset>` only to inherit queue limits.
                if let Some(l) = l {
                    self.dev(l.dev, l.offset.0, 0)?;
                }
                Mapping::Error
            }
            Target::Zero => Mapping::Zero,
        })
    }

    fn striped(&self, s: &dm::Striped<DevNum>) -> Result<Mapping, Reject> {
        let n = s.stripes.len() as u64;
        let chunk = s.chunk.0;
        if n == 0 || n > 256 {
            return Err(inval("striped: invalid stripe count"));
        }
        if chunk < 8 || !chunk.is_power_of_two() {
            return Err(inval("striped: invalid chunk size"));
        }
        if chunk
            .checked_mul(n)
            .is_none_or(|w| !self.len.is_multiple_of(w))
        {
            return Err(inval(
                "striped: target length not divisible by chunk size times stripes",
            ));
        }
        let per = self.len / n;
        let mut stripes = Vec::with_capacity(s.stripes.len());
        for st in &s.stripes {
            stripes.push((self.dev(st.dev, st.offset.0, per)?, st.offset.0));
        }
        Ok(Mapping::Striped { chunk, stripes })
    }

    fn raid(&self, raid: &dm::Raid<DevNum>) -> Result<Mapping, Reject> {
        let mut r = Raid1 {
            region: 0,
            legs: Vec::new(),
            rebuild: Vec::new(),
            sync: false,
            nosync: false,
            new_set: false,
            recovery_rate: (None, None),
        };
        let index = |i: u32| usize::try_from(i).unwrap_or(usize::MAX);
        let (mut region, mut write_mostly, mut delta) = (None, Vec::new(), false);
        for o in &raid.opts {
            match *o {
                RaidOpt::Sync => r.sync = true,
                RaidOpt::Nosync => r.nosync = true,
                RaidOpt::Rebuild(i) => r.rebuild.push(index(i)),
                RaidOpt::WriteMostly(i) => write_mostly.push(index(i)),
                RaidOpt::RegionSize(s) => region = Some(s.0),
                RaidOpt::DeltaDisks(_) => delta = true,
                RaidOpt::MinRecoveryRate(n) => {
                    rate_param(&mut r.recovery_rate.0, o.key(), n)?;
                }
                RaidOpt::MaxRecoveryRate(n) => {
                    rate_param(&mut r.recovery_rate.1, o.key(), n)?;
                }
                RaidOpt::DaemonSleep(_) | RaidOpt::MaxWriteBehind(_) | RaidOpt::DataOffset(_) => {}
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
        let ndevs = raid.devs.len();
        if ndevs == 0 || ndevs > 253 {
            return Err(inval("raid: invalid number of devices"));
        }
        for l in &raid.devs {
            let meta = l.meta.map(|m| self.dev(m, 0, 8)).transpose()?;
            let data = l.data.map(|d| self.dev(d, 0, self.len)).transpose()?;
            if meta.is_some() && data.is_none() {
                return Err(inval("raid: metadata device without data device"));
            }
            r.legs.push(RaidLeg { meta, data });
        }
        if r.rebuild.iter().chain(&write_mostly).any(|&i| i >= ndevs) {
            return Err(inval("raid: invalid device index"));
        }
        // dm-raid 1.15.1 (analyse_superblocks): a slot given as `- -` cannot be rebuilt.
        if r.rebuild.iter().any(|&i| r.legs[i].data.is_none()) {
            return Err(inval("raid: Drive designated for rebuild not specified"));
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

    /// The superblock check of `super_init_validation`: a blank rmeta joining a set
    /// that has superblocks needs `rebuild` (this is why rmeta is zeroed before first
    /// use). A set is new only when EVERY slot is a present leg with a blank rmeta
    /// (`new_devs == raid_disks`): a blank present leg beside an absent slot (`- -`) is
    /// "injected" and refused, as dm-raid 1.15.1 does (the tracking raid1 of a proxy is
    /// therefore first loaded with `zero` devices in its other slot, `crate::proxy`).
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
        r.new_set = with_meta > 0 && blank == r.legs.len();
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

    fn mirror(&self, m: &dm::Mirror<DevNum>) -> Result<Mapping, Reject> {
        let region = m.region.0;
        if region < 2 || !region.is_power_of_two() || region > self.len {
            return Err(inval(format!("mirror: invalid region size {region}")));
        }
        let regions = self.len.div_ceil(region);
        // Header (1 KiB) plus the clean-bits bitset, rounded up to sectors.
        let log_sectors = (1024 + regions.div_ceil(32) * 4).div_ceil(512);
        let log = match m.log {
            MirrorLog::Core => None,
            MirrorLog::Disk(d) => Some(self.dev(d, 0, log_sectors)?),
        };
        if !(2..=9).contains(&m.legs.len()) {
            return Err(inval("mirror: invalid number of mirrors"));
        }
        let mut legs = Vec::with_capacity(m.legs.len());
        for l in &m.legs {
            legs.push((self.dev(l.dev, l.offset.0, self.len)?, l.offset.0));
        }
        if m.features.contains(&MirrorFeature::KeepLog)
            && !m.features.contains(&MirrorFeature::HandleErrors)
        {
            return Err(inval("mirror: keep_log requires handle_errors"));
        }
        Ok(Mapping::Mirror(Mirror {
            log,
            region,
            legs,
            sync: m.sync == Some(dm::LogSync::Sync),
            nosync: m.sync == Some(dm::LogSync::Nosync),
        }))
    }

    fn snapshot(&self, s: &dm::Snapshot<DevNum>, merge: bool) -> Result<Mapping, Reject> {
        let transient = s.persistence == Persistence::Transient;
        let chunk = match s.chunk.0 {
            0 if !transient => 32,
            c => c,
        };
        if chunk < 8 || !chunk.is_power_of_two() {
            return Err(inval("snapshot: invalid chunk size"));
        }
        let origin = self.dev(s.origin, 0, self.len)?;
        let cow = self.dev(s.cow, 0, chunk)?;
        if merge && transient {
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
