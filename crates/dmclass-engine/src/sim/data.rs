//! The data path: I/O on a dm device mapped through live tables down to disk bytes,
//! leg failure on raid1 / mirror, and the resync a resume performs.

use super::pages::read_pages;
use super::table::{Mapping, RAID_SB_MAGIC};
use super::{errno_err, Node, Redundancy, World, EIO, ENXIO, EROFS, MAX_DEPTH};
use crate::io::{DevNum, IoResult};

/// errno: try again (I/O to a suspended device would block).
pub const EAGAIN: i32 = 11;

/// Magic of a dm-mirror disk log header ("MiRr" as a little-endian u32).
const MIRROR_LOG_MAGIC: &[u8; 4] = b"rRiM";

/// A request buffer: read into or write from.
pub(crate) enum Buf<'a> {
    R(&'a mut [u8]),
    W(&'a [u8]),
}

impl Buf<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Buf::R(b) => b.len(),
            Buf::W(b) => b.len(),
        }
    }

    /// Bytes `[a, b)` of the request, reborrowed.
    pub(crate) fn sub(&mut self, a: usize, b: usize) -> Buf<'_> {
        match self {
            Buf::R(x) => Buf::R(&mut x[a..b]),
            Buf::W(x) => Buf::W(&x[a..b]),
        }
    }

    pub(crate) fn op(&self) -> &'static str {
        match self {
            Buf::R(_) => "read",
            Buf::W(_) => "write",
        }
    }
}

/// A redundant leg: `(device, sector offset)`, `None` when absent.
type LegRef = Option<(DevNum, u64)>;

/// Legs of a redundant line as `(device, sector offset)`, `None` for an absent leg,
/// and the region size.
fn legs_of(map: &Mapping) -> Option<(Vec<LegRef>, u64)> {
    match map {
        Mapping::Raid1(r) => Some((
            r.legs.iter().map(|l| l.data.map(|d| (d, 0))).collect(),
            r.region,
        )),
        Mapping::Mirror(m) => Some((m.legs.iter().map(|&l| Some(l)).collect(), m.region)),
        _ => None,
    }
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl World {
    /// I/O on any device by number.
    pub(crate) fn node_io(
        &mut self,
        dev: DevNum,
        off: u64,
        buf: Buf<'_>,
        depth: u32,
    ) -> IoResult<()> {
        match self.node(dev) {
            None => Err(errno_err(
                buf.op(),
                dev.to_string(),
                ENXIO,
                "no such device",
            )),
            Some(Node::Disk(p)) => self.disk_io(&p, off, buf),
            Some(Node::Dm(n)) => self.dm_io(&n, off, buf, depth + 1),
        }
    }

    /// I/O on a dm device at byte offset `off` (sector aligned), through its live table.
    pub(crate) fn dm_io(
        &mut self,
        name: &str,
        off: u64,
        mut buf: Buf<'_>,
        depth: u32,
    ) -> IoResult<()> {
        let op = buf.op();
        if depth > MAX_DEPTH {
            return Err(errno_err(op, name, EIO, "device stack too deep"));
        }
        let dev = self
            .dm
            .get(name)
            .ok_or_else(|| errno_err(op, name, ENXIO, "no such dm device"))?;
        if dev.suspended {
            return Err(errno_err(
                op,
                name,
                EAGAIN,
                "device suspended: I/O would block",
            ));
        }
        let table = dev
            .live
            .clone()
            .ok_or_else(|| errno_err(op, name, EIO, "no live table"))?;
        if table.read_only && matches!(buf, Buf::W(_)) {
            return Err(errno_err(op, name, EROFS, "read-only table"));
        }
        let (s, e) = (off / 512, (off + buf.len() as u64) / 512);
        let end = table.lines.last().map_or(0, |l| l.start.0 + l.len.0);
        if e > end {
            return Err(errno_err(op, name, EIO, "beyond end of device"));
        }
        for (i, (line, map)) in table.lines.iter().zip(&table.maps).enumerate() {
            let (ls, le) = (line.start.0, line.start.0 + line.len.0);
            let (a, b) = (s.max(ls), e.min(le));
            if a >= b {
                continue;
            }
            let sub = buf.sub(usize_of((a - s) * 512), usize_of((b - s) * 512));
            self.map_io(name, i, map, a - ls, sub, depth)?;
        }
        Ok(())
    }

    /// I/O on one line, `rel` sectors into it.
    fn map_io(
        &mut self,
        name: &str,
        line: usize,
        map: &Mapping,
        rel: u64,
        mut buf: Buf<'_>,
        depth: u32,
    ) -> IoResult<()> {
        match map {
            Mapping::Linear { dev, offset } => self.node_io(*dev, (offset + rel) * 512, buf, depth),
            Mapping::Striped { chunk, stripes } => {
                let n = stripes.len() as u64;
                let total = buf.len() as u64 / 512;
                let mut done = 0;
                while done < total {
                    let r = rel + done;
                    let (ci, within) = (r / chunk, r % chunk);
                    let take = (chunk - within).min(total - done);
                    let (dev, off) = stripes[usize_of(ci % n)];
                    let dest = off + (ci / n) * chunk + within;
                    let sub = buf.sub(usize_of(done * 512), usize_of((done + take) * 512));
                    self.node_io(dev, dest * 512, sub, depth)?;
                    done += take;
                }
                Ok(())
            }
            Mapping::Raid1(_) | Mapping::Mirror(_) => {
                let (legs, region) = legs_of(map).unwrap_or_default();
                self.redundant_io(name, line, &legs, region, rel, buf, depth)
            }
            Mapping::Zero => {
                if let Buf::R(out) = buf {
                    out.fill(0);
                }
                Ok(())
            }
            Mapping::Error => Err(errno_err(buf.op(), name, EIO, "error target")),
            Mapping::Origin { dev } => self.origin_io(*dev, rel, buf, depth),
            Mapping::Snapshot {
                origin,
                cow,
                chunk,
                merge: true,
            } => {
                self.merge_now(*origin, *cow, *chunk, depth)?;
                self.origin_io(*origin, rel, buf, depth)
            }
            Mapping::Snapshot {
                origin,
                cow,
                chunk,
                merge: false,
            } => self.snapshot_io(name, (*origin, *cow, *chunk), rel, buf, depth),
        }
    }

    /// The runtime state of a redundant line, sized for `n` legs.
    fn redundancy_mut(&mut self, name: &str, line: usize, n: usize) -> Option<&mut Redundancy> {
        let d = self.dm.get_mut(name)?;
        if d.redundancy.len() <= line {
            d.redundancy.resize(line + 1, Redundancy::default());
        }
        let r = &mut d.redundancy[line];
        if r.dead.len() != n {
            r.dead.resize(n, false);
        }
        Some(r)
    }

    /// Marks a leg failed and raises a dm event, once.
    fn fail_leg(&mut self, name: &str, line: usize, n: usize, leg: usize) {
        let newly = self
            .redundancy_mut(name, line, n)
            .is_some_and(|r| !std::mem::replace(&mut r.dead[leg], true));
        if newly {
            if let Some(d) = self.dm.get_mut(name) {
                d.event_nr += 1;
            }
        }
    }

    /// raid1 / mirror I/O: writes go to every live leg, reads to the first that works.
    #[allow(clippy::too_many_arguments)]
    fn redundant_io(
        &mut self,
        name: &str,
        line: usize,
        legs: &[Option<(DevNum, u64)>],
        region: u64,
        rel: u64,
        mut buf: Buf<'_>,
        depth: u32,
    ) -> IoResult<()> {
        let n = legs.len();
        let dead = self
            .redundancy_mut(name, line, n)
            .map(|r| r.dead.clone())
            .unwrap_or_default();
        let len = buf.len();
        // Write intent: a degraded raid1 sets the regions' bits on disk first.
        let degraded = legs.iter().zip(&dead).any(|(l, d)| l.is_none() || *d);
        if matches!(buf, Buf::W(_)) && degraded && region > 0 {
            let last = rel + (len as u64 / 512).max(1) - 1;
            let regions: Vec<u64> = (rel / region..=last / region).collect();
            self.mark_bitmaps(name, line, &regions);
        }
        let mut ok = 0;
        for (i, leg) in legs.iter().enumerate() {
            let Some((dev, off)) = *leg else { continue };
            if dead.get(i).copied().unwrap_or(false) {
                continue;
            }
            match self.node_io(dev, (off + rel) * 512, buf.sub(0, len), depth) {
                Ok(()) => {
                    ok += 1;
                    if matches!(buf, Buf::R(_)) {
                        return Ok(());
                    }
                }
                Err(_) => self.fail_leg(name, line, n, i),
            }
        }
        if let Buf::W(_) = buf {
            if let Some(r) = self.redundancy_mut(name, line, n) {
                let degraded = legs.iter().zip(&r.dead).any(|(l, d)| l.is_none() || *d);
                if degraded && region > 0 {
                    let last = rel + (len as u64 / 512).max(1) - 1;
                    r.dirty.extend(rel / region..=last / region);
                }
            }
        }
        if ok == 0 {
            return Err(errno_err(buf.op(), name, EIO, "no working leg"));
        }
        Ok(())
    }

    /// Reads without side effects through disks and linear lines only (superblock and
    /// log header checks at load time). `None` when the bytes cannot be reached.
    pub(crate) fn peek(&self, dev: DevNum, off: u64, len: usize) -> Option<Vec<u8>> {
        match self.node(dev)? {
            Node::Disk(p) => {
                let d = self.disks.get(&p)?;
                if !d.attached || d.failed || off + len as u64 > d.size.0 {
                    return None;
                }
                let mut v = vec![0; len];
                read_pages(d, off, &mut v);
                Some(v)
            }
            Node::Dm(n) => {
                let t = self.dm.get(&n)?.live.as_ref()?;
                let sector = off / 512;
                let (l, m) = t
                    .lines
                    .iter()
                    .zip(&t.maps)
                    .find(|(l, _)| l.start.0 <= sector && sector < l.start.0 + l.len.0)?;
                match m {
                    Mapping::Linear { dev, offset } => {
                        self.peek(*dev, offset * 512 + off - l.start.0 * 512, len)
                    }
                    Mapping::Zero => Some(vec![0; len]),
                    _ => None,
                }
            }
        }
    }

    /// State of a line just made live: a new raid1 set or a fresh mirror log resyncs
    /// fully unless `nosync`; `sync` always does.
    pub(crate) fn fresh_redundancy(&self, map: &Mapping) -> Redundancy {
        let (n, full) = match map {
            Mapping::Raid1(r) => (r.legs.len(), r.sync || r.new_set && !r.nosync),
            Mapping::Mirror(m) => {
                let logged = m
                    .log
                    .is_some_and(|l| self.peek(l, 0, 4).is_some_and(|b| b == MIRROR_LOG_MAGIC));
                (m.legs.len(), m.sync || !m.nosync && !logged)
            }
            _ => return Redundancy::default(),
        };
        Redundancy {
            dead: vec![false; n],
            dirty: std::collections::BTreeSet::new(),
            full_resync: full,
        }
    }

    /// What a resume does to raid1 / mirror lines: legs whose disks are gone are marked
    /// failed; legs that came back get the regions they missed (the whole leg without a
    /// bitmap, or when rebuilt); superblocks / log headers are stamped.
    pub(crate) fn resync_on_resume(&mut self, name: &str) {
        let Some(table) = self.dm.get(name).and_then(|d| d.live.clone()) else {
            return;
        };
        for (i, (line, map)) in table.lines.iter().zip(&table.maps).enumerate() {
            let Some((legs, region)) = legs_of(map) else {
                continue;
            };
            let (rebuild, has_bitmap, stamps): (Vec<usize>, Vec<bool>, Vec<DevNum>) = match map {
                Mapping::Raid1(r) => (
                    r.rebuild.clone(),
                    r.legs.iter().map(|l| l.meta.is_some()).collect(),
                    r.legs.iter().filter_map(|l| l.meta).collect(),
                ),
                Mapping::Mirror(m) => (
                    Vec::new(),
                    vec![true; legs.len()],
                    m.log.into_iter().collect(),
                ),
                _ => continue,
            };
            let magic: &[u8; 4] = if matches!(map, Mapping::Raid1(_)) {
                RAID_SB_MAGIC
            } else {
                MIRROR_LOG_MAGIC
            };
            let raid_metas: Vec<Option<DevNum>> = match map {
                Mapping::Raid1(r) => r.legs.iter().map(|l| l.meta).collect(),
                _ => Vec::new(),
            };
            for dev in stamps {
                if matches!(map, Mapping::Raid1(_)) {
                    continue; // full superblocks are written after the resync below
                }
                if self.healthy(dev, 0) && self.peek(dev, 0, 4).is_none_or(|b| b != magic) {
                    let mut sector = [0u8; 512];
                    sector[..4].copy_from_slice(magic);
                    // A failed stamp shows up as a dead leg on the next write; ignore here.
                    let _ = self.node_io(dev, 0, Buf::W(&sector), 0);
                }
            }
            let n = legs.len();
            let healthy: Vec<bool> = legs
                .iter()
                .map(|l| l.is_some_and(|(d, _)| self.healthy(d, 0)))
                .collect();
            let Some(red) = self.redundancy_mut(name, i, n).map(|r| r.clone()) else {
                continue;
            };
            let mut red = red;
            let mut source = (0..n).find(|&j| healthy[j] && !red.dead[j] && !rebuild.contains(&j));
            if source.is_none() && !rebuild.is_empty() {
                // Every other leg is rebuilt: the one left (e.g. a returning proxy leg
                // in a restore) holds the freshest superblock the kernel keeps.
                source = (0..n).find(|&j| healthy[j] && !rebuild.contains(&j));
                if let Some(s) = source {
                    red.dead[s] = false;
                }
            }
            for j in 0..n {
                let Some((dev, off)) = legs[j] else {
                    // An absent slot (`- -`) is recorded failed in the superblocks; when
                    // it returns it gets the regions written meanwhile.
                    red.dead[j] = true;
                    continue;
                };
                if !healthy[j] {
                    red.dead[j] = true;
                    continue;
                }
                let Some(src) = source.filter(|&s| s != j) else {
                    continue;
                };
                let whole =
                    red.full_resync || rebuild.contains(&j) || red.dead[j] && !has_bitmap[j];
                let regions: Vec<u64> = if whole {
                    (0..line.len.0.div_ceil(region.max(1))).collect()
                } else if red.dead[j] {
                    // What the set remembers, and what the source's bitmap on disk
                    // says (the set may have been stopped and started meanwhile).
                    let on_disk = raid_metas
                        .get(src)
                        .copied()
                        .flatten()
                        .map(|m| self.bitmap_regions(m, line.len.0, region))
                        .unwrap_or_default();
                    let mine: Vec<u64> = red.dirty.iter().copied().collect();
                    crate::md_bitmap::union(&mine, &on_disk)
                } else {
                    continue;
                };
                let (sdev, soff) = legs[src].unwrap_or((dev, off));
                red.dead[j] =
                    !self.copy_regions(&regions, region, line.len.0, (sdev, soff), (dev, off));
            }
            red.full_resync = false;
            if !red.dead.iter().any(|d| *d) && legs.iter().all(Option::is_some) {
                red.dirty.clear();
            }
            if !raid_metas.is_empty() {
                self.write_raid_superblocks(&raid_metas, &red.dead, &rebuild, line.len.0);
                let working: Vec<DevNum> = raid_metas
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| !red.dead.get(*j).copied().unwrap_or(true))
                    .filter_map(|(_, m)| *m)
                    .collect();
                // Degraded: keep the bits already on disk (a set stopped and started
                // again still knows what its absent legs miss).
                let mut dirty: Vec<u64> = red.dirty.iter().copied().collect();
                if red.dead.iter().any(|d| *d) {
                    for &m in &working {
                        dirty = crate::md_bitmap::union(
                            &dirty,
                            &self.bitmap_regions(m, line.len.0, region),
                        );
                    }
                }
                self.write_bitmaps(&working, line.len.0, region, &dirty);
            }
            if let Some(r) = self.redundancy_mut(name, i, n) {
                *r = red;
            }
        }
    }

    /// Write the dm-raid superblock of every live leg as the kernel does after a
    /// resume (the simulated resync is instant, so a live leg is complete): one event
    /// count above the highest found, failed legs recorded in every superblock. The
    /// same layout the real kernel writes ([`crate::raid_sb`]), so activation reads
    /// the simulator and the kernel alike.
    fn write_raid_superblocks(
        &mut self,
        metas: &[Option<DevNum>],
        dead: &[bool],
        rebuild: &[usize],
        sectors: u64,
    ) {
        use crate::raid_sb::{RaidSuperblock, SbRead, READ_LEN, RECOVERY_DONE};
        let events = metas
            .iter()
            .flatten()
            .filter_map(|&m| self.peek(m, 0, READ_LEN))
            .filter_map(|b| match RaidSuperblock::decode(&b) {
                SbRead::Valid(sb) => Some(sb.events),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 1;
        let mut sb = RaidSuperblock {
            num_devices: u32::try_from(metas.len()).unwrap_or(u32::MAX),
            array_position: 0,
            events,
            failed: [0; 4],
            recovery_offset: RECOVERY_DONE,
            resync_offset: RECOVERY_DONE,
            level: 1,
            sectors,
        };
        for (j, d) in dead.iter().enumerate() {
            sb.set_failed(j, *d || metas.get(j).is_none_or(Option::is_none));
        }
        for (j, m) in metas.iter().enumerate() {
            let Some(dev) = *m else { continue };
            if dead.get(j).copied().unwrap_or(true) || !self.healthy(dev, 0) {
                continue;
            }
            let mut mine = sb.clone();
            mine.array_position = u32::try_from(j).unwrap_or(u32::MAX);
            // A rebuilt leg that failed to copy stays at 0 (it is `dead` then).
            if rebuild.contains(&j) && dead.get(j).copied().unwrap_or(false) {
                mine.recovery_offset = 0;
            }
            // A failed write shows up as a dead leg on the next I/O; ignore here.
            let _ = self.node_io(dev, 0, Buf::W(&mine.encode()), 0);
        }
    }

    /// Copies regions between legs in 1 MiB pieces; false when an I/O failed.
    fn copy_regions(
        &mut self,
        regions: &[u64],
        region: u64,
        len: u64,
        src: (DevNum, u64),
        dst: (DevNum, u64),
    ) -> bool {
        const PIECE: u64 = 2048;
        for &r in regions {
            let (mut s, e) = (r * region, ((r + 1) * region).min(len));
            while s < e {
                let n = (e - s).min(PIECE);
                let mut data = vec![0u8; usize_of(n * 512)];
                if self
                    .node_io(src.0, (src.1 + s) * 512, Buf::R(&mut data), 0)
                    .is_err()
                    || self
                        .node_io(dst.0, (dst.1 + s) * 512, Buf::W(&data), 0)
                        .is_err()
                {
                    return false;
                }
                s += n;
            }
        }
        true
    }
}
