//! Slice allocation: where each volume's legs go on the member disks.
//!
//! Rules: everything is aligned to 1 MiB ([`ALIGN`]); the private area is never
//! allocated; mirror legs have equal logical size; sizes round up to the volume's
//! granularity (1 MiB, times the column count and chunk for stripes). Placement is
//! first fit: a leg takes the lowest free extent large enough for all of it, else it
//! is assembled from the lowest free extents (several segments). A raid1 leg gets a
//! 1 MiB rmeta placed first fit before its data (so right before it on a fresh
//! disk); a dm-mirror volume with JRM gets a 1 MiB disk log on its first leg's disk.
//! Growing extends a leg's last extent in place when the space after it is free,
//! else appends segments. Every operation is all-or-nothing: on error the allocator
//! is unchanged, and the error says how much was needed and what each disk has free.

use crate::error::{EngineError, Result};
use crate::layout::{Extent, Leg, Segment, SliceState, VolumeLayout};
use crate::metadata::{ClassMeta, EngineMeta, GroupKindMeta};
use crate::region::META_SIZE;
use dmclass_model::{Bytes, Sectors};
use std::collections::BTreeMap;

/// Allocation unit and alignment: 1 MiB.
pub const ALIGN: Sectors = Sectors(2048);

/// What one leg is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegTarget {
    /// One disk.
    Disk(String),
    /// Striped over disks with a chunk size.
    Stripe {
        /// Column disks in order.
        disks: Vec<String>,
        /// Chunk size.
        chunk: Sectors,
    },
    /// Concatenation of disks in order.
    Concat(Vec<String>),
}

impl LegTarget {
    /// Disks in order.
    pub fn disks(&self) -> &[String] {
        match self {
            LegTarget::Disk(d) => std::slice::from_ref(d),
            LegTarget::Stripe { disks, .. } | LegTarget::Concat(disks) => disks,
        }
    }

    /// Logical size granularity of such a leg.
    pub fn granularity(&self) -> Sectors {
        match self {
            LegTarget::Stripe { disks, chunk } => {
                Sectors(column_gran(*chunk).saturating_mul(disks.len().max(1) as u64))
            }
            _ => ALIGN,
        }
    }
}

fn column_gran(chunk: Sectors) -> u64 {
    ALIGN.0.max(chunk.0)
}

/// Where a volume goes and what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Group or disk name (for messages).
    pub on: String,
    /// One entry per leg.
    pub legs: Vec<LegTarget>,
    /// Each leg gets a raid1 rmeta.
    pub rmeta: bool,
    /// The volume gets a dm-mirror disk log.
    pub log: bool,
}

impl Target {
    /// Resolve `on` (a group or a disk of `class`) for a volume with this engine.
    pub fn resolve(class: &ClassMeta, on: &str, engine: EngineMeta, jrm: bool) -> Result<Self> {
        let disk = |n: &str| {
            class
                .disk(n)
                .map(|_| LegTarget::Disk(n.to_owned()))
                .ok_or_else(|| EngineError::UnknownDisk(n.to_owned()))
        };
        let legs = if let Some(g) = class.group(on) {
            match g.kind {
                GroupKindMeta::Mirror | GroupKindMeta::Netmirror => g
                    .members
                    .iter()
                    .map(|m| match class.group(m) {
                        Some(lower) => lower_leg(class, lower),
                        None => disk(m),
                    })
                    .collect::<Result<Vec<_>>>()?,
                _ => vec![lower_leg(class, g)?],
            }
        } else if class.disk(on).is_some() {
            vec![disk(on)?]
        } else {
            return Err(EngineError::UnknownTarget(on.to_owned()));
        };
        let mirrored = legs.len() > 1;
        Ok(Target {
            on: on.to_owned(),
            rmeta: mirrored && engine == EngineMeta::Raid1,
            log: mirrored && engine == EngineMeta::Mirror && jrm,
            legs,
        })
    }

    /// The logical size a request of `size` bytes rounds up to.
    pub fn round(&self, size: Bytes) -> Result<Sectors> {
        let gran = self
            .legs
            .iter()
            .fold(ALIGN.0, |g, l| lcm(g, l.granularity().0));
        let want = size.to_sectors_ceil();
        let len = want.0.div_ceil(gran).checked_mul(gran);
        match len {
            Some(l) if l > 0 => Ok(Sectors(l)),
            _ => Err(EngineError::InvalidSize {
                what: format!("a volume on {}", self.on),
                size: want,
            }),
        }
    }
}

fn lower_leg(class: &ClassMeta, g: &crate::metadata::GroupMeta) -> Result<LegTarget> {
    for m in &g.members {
        if class.disk(m).is_none() {
            return Err(EngineError::UnknownDisk(m.clone()));
        }
    }
    match g.kind {
        GroupKindMeta::Stripe { chunk } => {
            if !chunk.0.is_power_of_two() || chunk.0 < 8 {
                return Err(EngineError::InvalidLayout(format!(
                    "stripe group {}: chunk {chunk} is not a power of two of at least 4 KiB",
                    g.name
                )));
            }
            Ok(LegTarget::Stripe {
                disks: g.members.clone(),
                chunk,
            })
        }
        GroupKindMeta::Concat => Ok(LegTarget::Concat(g.members.clone())),
        GroupKindMeta::Mirror | GroupKindMeta::Netmirror => Err(EngineError::InvalidLayout(
            format!("group {} is a mirror and cannot be a mirror member", g.name),
        )),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 {
        return a.max(b);
    }
    (a / gcd(a, b)).saturating_mul(b)
}

/// Free space of every disk as sorted, aligned `[start, end)` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocator {
    free: BTreeMap<String, Vec<(u64, u64)>>,
}

impl Allocator {
    /// Disks with their sizes; the first `reserved` sectors of each (the private
    /// area) and every `used` extent are not free.
    pub fn new(disks: &[(String, Sectors)], reserved: Sectors, used: &[&Extent]) -> Result<Self> {
        let start = reserved.0.div_ceil(ALIGN.0).saturating_mul(ALIGN.0);
        let mut free = BTreeMap::new();
        for (name, size) in disks {
            let end = size.0 / ALIGN.0 * ALIGN.0;
            let runs = if end > start {
                vec![(start, end)]
            } else {
                vec![]
            };
            free.insert(name.clone(), runs);
        }
        let mut a = Allocator { free };
        for e in used {
            let runs = a
                .free
                .get_mut(&e.disk)
                .ok_or_else(|| EngineError::UnknownDisk(e.disk.clone()))?;
            carve(runs, e.offset.0, e.end().0);
        }
        Ok(a)
    }

    /// The allocator for a class: its disks, the private area, its volumes' extents.
    pub fn for_class(class: &ClassMeta) -> Result<Self> {
        let disks: Vec<(String, Sectors)> = class
            .disks
            .iter()
            .map(|d| (d.name.clone(), d.size))
            .collect();
        let used: Vec<&Extent> = class
            .volumes
            .iter()
            .flat_map(|v| v.layout.extents())
            .chain(crate::cow::store_extents(class))
            .chain(crate::proxy::leg_extents(class))
            .chain(class.leases.iter().map(|a| &a.extent))
            .collect();
        let mut a = Allocator::new(&disks, crate::metadata::area_sectors(), &used)?;
        // A root class's system disks (private area inside the dmclass partition) are
        // laid out by the conversion alone: their ESP and partition tables lie outside
        // every extent, so nothing is ever allocated there.
        for d in class.disks.iter().filter(|d| d.area_offset.0 != 0) {
            if let Some(runs) = a.free.get_mut(&d.name) {
                runs.clear();
            }
        }
        Ok(a)
    }

    /// Free sectors on a disk.
    pub fn free_on(&self, disk: &str) -> Option<Sectors> {
        self.free
            .get(disk)
            .map(|r| Sectors(r.iter().map(|(s, e)| e - s).sum()))
    }

    /// Return a removed volume's extents to the free space.
    pub fn release(&mut self, layout: &VolumeLayout) {
        for e in layout.extents() {
            if let Some(runs) = self.free.get_mut(&e.disk) {
                runs.push((e.offset.0, e.end().0));
                runs.sort_unstable();
                let mut merged: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
                for &(s, en) in runs.iter() {
                    match merged.last_mut() {
                        Some(last) if last.1 >= s => last.1 = last.1.max(en),
                        _ => merged.push((s, en)),
                    }
                }
                *runs = merged;
            }
        }
    }

    /// Place a new volume of at least `size` bytes named `volume` on `target`.
    pub fn allocate(&mut self, volume: &str, target: &Target, size: Bytes) -> Result<VolumeLayout> {
        let len = target.round(size)?;
        let mut a = self.clone();
        let log = if target.log {
            let d = first_disk(target)?;
            match a.run(d, META_SIZE.0) {
                Some(o) => Some(ext(d, o, META_SIZE.0)),
                None => return self.no_room(volume, target, len),
            }
        } else {
            None
        };
        let mut legs = Vec::new();
        for lt in &target.legs {
            match a.new_leg(lt, len, target.rmeta) {
                Some(l) => legs.push(l),
                None => return self.no_room(volume, target, len),
            }
        }
        *self = a;
        Ok(VolumeLayout { legs, log })
    }

    /// Grow `layout` (placed on `target`) to at least `size` bytes.
    pub fn grow(
        &mut self,
        volume: &str,
        target: &Target,
        layout: &VolumeLayout,
        size: Bytes,
    ) -> Result<VolumeLayout> {
        let len = target.round(size)?;
        let old = layout.len();
        if len < old || layout.legs.len() != target.legs.len() {
            return Err(EngineError::InvalidLayout(format!(
                "volume {volume}: cannot grow from {old} to {len} with {} legs on {} legs",
                target.legs.len(),
                layout.legs.len()
            )));
        }
        let delta = len.0 - old.0;
        let mut a = self.clone();
        let mut out = layout.clone();
        for (leg, lt) in out.legs.iter_mut().zip(&target.legs) {
            if delta > 0 && !a.extend_leg(leg, lt, delta) {
                return self.no_room(volume, target, Sectors(delta));
            }
        }
        *self = a;
        Ok(out)
    }

    /// Add a leg on `leg` to a mirrored `layout` (same logical size; with an rmeta
    /// when `rmeta`). The new leg starts in state `COPY`.
    pub fn add_leg(
        &mut self,
        volume: &str,
        layout: &VolumeLayout,
        leg: &LegTarget,
        rmeta: bool,
    ) -> Result<VolumeLayout> {
        let len = layout.len();
        if !len.0.is_multiple_of(leg.granularity().0) {
            return Err(EngineError::InvalidLayout(format!(
                "volume {volume}: size {len} is not a multiple of the new leg's {}",
                leg.granularity()
            )));
        }
        let mut a = self.clone();
        let target = Target {
            on: leg.disks().join(","),
            legs: vec![leg.clone()],
            rmeta,
            log: false,
        };
        let Some(mut new) = a.new_leg(leg, len, rmeta) else {
            return self.no_room(volume, &target, len);
        };
        new.state = SliceState::Copy;
        let mut out = layout.clone();
        out.legs.push(new);
        *self = a;
        Ok(out)
    }

    fn no_room<T>(&self, volume: &str, target: &Target, len: Sectors) -> Result<T> {
        let mib = |s: u64| s / ALIGN.0;
        let mut free = Vec::new();
        for lt in &target.legs {
            for d in lt.disks() {
                let f = self.free_on(d).map_or(0, |s| s.0);
                free.push(format!("{d} {} MiB", mib(f)));
            }
        }
        let extra = if target.rmeta { " + 1 MiB rmeta" } else { "" };
        Err(EngineError::NoRoom {
            on: target.on.clone(),
            volume: volume.to_owned(),
            detail: format!(
                "needs {} MiB per leg{extra}; free: {}",
                mib(len.0),
                free.join(", ")
            ),
        })
    }

    /// A metadata extent ([`META_SIZE`]) on `disk`, first fit (a proxy's tracking
    /// rmeta).
    pub fn meta_extent(&mut self, disk: &str) -> Option<Extent> {
        let o = self.run(disk, META_SIZE.0)?;
        Some(ext(disk, o, META_SIZE.0))
    }

    /// `len` sectors (rounded up to the alignment) on `disk`, first fit (a shared
    /// class's lease area).
    pub fn area(&mut self, disk: &str, len: Sectors) -> Option<Extent> {
        let len = len.0.div_ceil(ALIGN.0).saturating_mul(ALIGN.0);
        let o = self.run(disk, len)?;
        Some(ext(disk, o, len))
    }

    /// First fit of `len` aligned sectors on `disk`: the offset taken.
    fn run(&mut self, disk: &str, len: u64) -> Option<u64> {
        let runs = self.free.get_mut(disk)?;
        let (s, _) = *runs.iter().find(|(s, e)| e - s >= len)?;
        carve(runs, s, s + len);
        Some(s)
    }

    /// Take exactly `[at, at + len)` if free.
    fn take_at(&mut self, disk: &str, at: u64, len: u64) -> bool {
        let Some(runs) = self.free.get_mut(disk) else {
            return false;
        };
        let ok = runs
            .iter()
            .any(|&(s, e)| s <= at && at.saturating_add(len) <= e);
        if ok {
            carve(runs, at, at + len);
        }
        ok
    }

    /// Linear pieces for `len` sectors over `disks` in order: one whole run if any
    /// disk has one, else the lowest runs, disk by disk.
    fn linear(&mut self, disks: &[String], len: u64) -> Option<Vec<Segment>> {
        for d in disks {
            if let Some(o) = self.run(d, len) {
                return Some(vec![lin(d, o, len)]);
            }
        }
        let mut left = len;
        let mut segs = Vec::new();
        for d in disks {
            while left > 0 {
                let Some(&(s, e)) = self.free.get(d).and_then(|r| r.first()) else {
                    break;
                };
                let take = (e - s).min(left);
                self.take_at(d, s, take);
                segs.push(lin(d, s, take));
                left -= take;
            }
        }
        (left == 0).then_some(segs)
    }

    /// Striped segments for `len` sectors (a multiple of columns × granularity).
    fn striped(&mut self, disks: &[String], chunk: Sectors, len: u64) -> Option<Vec<Segment>> {
        let n = disks.len() as u64;
        let gran = column_gran(chunk);
        let mut left = len.checked_div(n)?;
        let mut segs = Vec::new();
        while left > 0 {
            // Same column length on every disk: first fit of the whole rest if every
            // column has it, else the smallest of the columns' lowest runs.
            let whole = disks.iter().all(|d| {
                self.free
                    .get(d)
                    .is_some_and(|r| r.iter().any(|(s, e)| e - s >= left))
            });
            let take = if whole {
                left
            } else {
                let min = disks
                    .iter()
                    .map(|d| {
                        self.free
                            .get(d)
                            .and_then(|r| r.first())
                            .map_or(0, |(s, e)| e - s)
                    })
                    .min()?;
                (min / gran * gran).min(left)
            };
            if take == 0 {
                return None;
            }
            let mut columns = Vec::new();
            for d in disks {
                let o = self.run(d, take)?;
                columns.push(ext(d, o, take));
            }
            segs.push(Segment::Striped { chunk, columns });
            left -= take;
        }
        Some(segs)
    }

    fn new_leg(&mut self, lt: &LegTarget, len: Sectors, rmeta: bool) -> Option<Leg> {
        let rmeta = if rmeta {
            let d = lt.disks().first()?;
            Some(ext(d, self.run(d, META_SIZE.0)?, META_SIZE.0))
        } else {
            None
        };
        let segments = self.segments(lt, len.0)?;
        Some(Leg {
            rmeta,
            segments,
            state: SliceState::Active,
        })
    }

    fn segments(&mut self, lt: &LegTarget, len: u64) -> Option<Vec<Segment>> {
        match lt {
            LegTarget::Disk(d) => self.linear(std::slice::from_ref(d), len),
            LegTarget::Concat(ds) => self.linear(ds, len),
            LegTarget::Stripe { disks, chunk } => self.striped(disks, *chunk, len),
        }
    }

    fn extend_leg(&mut self, leg: &mut Leg, lt: &LegTarget, delta: u64) -> bool {
        match leg.segments.last_mut() {
            Some(Segment::Linear { extent }) => {
                let (d, at) = (extent.disk.clone(), extent.end().0);
                if self.take_at(&d, at, delta) {
                    extent.len.0 += delta;
                    return true;
                }
            }
            Some(Segment::Striped { columns, .. }) => {
                let per = delta / columns.len().max(1) as u64;
                let mut b = self.clone();
                if columns.iter().all(|c| b.take_at(&c.disk, c.end().0, per)) {
                    *self = b;
                    for c in columns.iter_mut() {
                        c.len.0 += per;
                    }
                    return true;
                }
            }
            None => {}
        }
        match self.segments(lt, delta) {
            Some(s) => {
                leg.segments.extend(s);
                true
            }
            None => false,
        }
    }
}

fn first_disk(target: &Target) -> Result<&str> {
    target
        .legs
        .first()
        .and_then(|l| l.disks().first())
        .map(String::as_str)
        .ok_or_else(|| EngineError::InvalidLayout(format!("{} has no disks", target.on)))
}

fn ext(d: &str, offset: u64, len: u64) -> Extent {
    Extent {
        disk: d.to_owned(),
        offset: Sectors(offset),
        len: Sectors(len),
    }
}

fn lin(d: &str, offset: u64, len: u64) -> Segment {
    Segment::Linear {
        extent: ext(d, offset, len),
    }
}

/// Remove `[from, to)` from sorted runs, keeping the remaining runs aligned.
fn carve(runs: &mut Vec<(u64, u64)>, from: u64, to: u64) {
    let from_a = from / ALIGN.0 * ALIGN.0;
    let to_a = to.div_ceil(ALIGN.0).saturating_mul(ALIGN.0);
    // in place: this runs several times for every volume of a plan
    let mut i = 0;
    while i < runs.len() {
        let (s, e) = runs[i];
        if e <= from_a || s >= to_a {
            i += 1;
            continue;
        }
        match (
            (s < from_a).then_some((s, from_a)),
            (e > to_a).then_some((to_a, e)),
        ) {
            (Some(left), Some(right)) => {
                runs[i] = left;
                runs.insert(i + 1, right);
                i += 2;
            }
            (Some(one), None) | (None, Some(one)) => {
                runs[i] = one;
                i += 1;
            }
            (None, None) => {
                runs.remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests;
