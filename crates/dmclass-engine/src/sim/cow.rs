//! Snapshot data path: the persistent exception store of dm-snap-persistent.c kept on
//! the COW device, `snapshot-origin` copy-on-write, snapshot reads and writes,
//! overflow (`Invalid`), and `snapshot-merge` copy-back.
//!
//! COW layout (chunk `c` sectors, `epa = c * 512 / 16` exceptions per area):
//! chunk 0 is the header (`le32 magic "SnAp" 0x70416e53, valid, version 1, chunk`);
//! area `i` sits at chunk `1 + i * (epa + 1)` and holds `{le64 old, le64 new}` pairs
//! terminated by `new == 0`; the data chunks of area `i` follow it. A header with
//! magic 0 is a new store, initialised when the snapshot is resumed.
//! Status (INFO): `<allocated>/<total> <metadata>` in sectors, or `Invalid`.

use super::data::Buf;
use super::table::Mapping;
use super::{errno_err, World, EIO};
use crate::io::{DevNum, IoResult};

const MAGIC: u32 = 0x7041_6e53;

/// The exception store of one COW device, as read from it.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    /// Header says valid (and the magic is right).
    pub(crate) valid: bool,
    /// Chunk size in sectors (the header's wins over the table's).
    pub(crate) chunk: u64,
    /// `(origin chunk, cow chunk)` in commit order.
    pub(crate) exceptions: Vec<(u64, u64)>,
    /// Next free cow chunk.
    pub(crate) next_free: u64,
    /// COW device size in chunks.
    pub(crate) total: u64,
}

impl Store {
    fn epa(&self) -> u64 {
        (self.chunk * 512 / 16).max(1)
    }

    fn area_chunk(&self, area: u64) -> u64 {
        1 + area * (self.epa() + 1)
    }

    fn lookup(&self, old: u64) -> Option<u64> {
        self.exceptions
            .iter()
            .rev()
            .find(|(o, _)| *o == old)
            .map(|(_, n)| *n)
    }

    /// `<allocated>/<total> <metadata>` in sectors.
    pub(crate) fn usage(&self) -> String {
        let area = self.exceptions.len() as u64 / self.epa();
        format!(
            "{}/{} {}",
            self.next_free * self.chunk,
            self.total * self.chunk,
            (area + 2) * self.chunk
        )
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn bytes(sectors: u64) -> usize {
    usize::try_from(sectors * 512).unwrap_or(usize::MAX)
}

impl World {
    fn rd(&mut self, dev: DevNum, sector: u64, sectors: u64, depth: u32) -> IoResult<Vec<u8>> {
        let mut v = vec![0u8; bytes(sectors)];
        self.node_io(dev, sector * 512, Buf::R(&mut v), depth)?;
        Ok(v)
    }

    fn size_of(&self, dev: DevNum) -> u64 {
        self.usable_size(dev).unwrap_or(0)
    }

    /// Reads the store on `cow` (table chunk `chunk`); `None` while the header is
    /// blank (a new store not yet resumed).
    pub(crate) fn store_read(
        &mut self,
        cow: DevNum,
        chunk: u64,
        depth: u32,
    ) -> IoResult<Option<Store>> {
        let h = self.rd(cow, 0, 1, depth)?;
        let magic = le32(&h, 0);
        if magic == 0 {
            return Ok(None);
        }
        let hc = u64::from(le32(&h, 12));
        let chunk = if hc.is_power_of_two() && hc >= 8 {
            hc
        } else {
            chunk
        };
        let mut st = Store {
            valid: magic == MAGIC && le32(&h, 4) == 1,
            chunk,
            exceptions: Vec::new(),
            next_free: 2,
            total: self.size_of(cow) / chunk,
        };
        if !st.valid {
            return Ok(Some(st));
        }
        let epa = st.epa();
        let mut area = 0;
        'areas: while st.area_chunk(area) < st.total {
            let a = self.rd(cow, st.area_chunk(area) * chunk, chunk, depth)?;
            for i in 0..epa {
                let at = usize::try_from(i * 16).unwrap_or(usize::MAX);
                let (old, new) = (le64(&a, at), le64(&a, at + 8));
                if new == 0 {
                    break 'areas;
                }
                st.exceptions.push((old, new));
                st.next_free = st.next_free.max(new + 1);
            }
            area += 1;
        }
        while st.next_free % (epa + 1) == 1 {
            st.next_free += 1;
        }
        Ok(Some(st))
    }

    /// Writes a fresh header and an empty first area (what the kernel does for a
    /// store whose header is zero).
    fn store_init(&mut self, cow: DevNum, chunk: u64, depth: u32) -> IoResult<()> {
        let mut h = vec![0u8; bytes(chunk)];
        h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        h[4..8].copy_from_slice(&1u32.to_le_bytes());
        h[8..12].copy_from_slice(&1u32.to_le_bytes());
        h[12..16].copy_from_slice(&u32::try_from(chunk).unwrap_or(0).to_le_bytes());
        self.node_io(cow, 0, Buf::W(&h), depth)?;
        if 2 * chunk <= self.size_of(cow) {
            let z = vec![0u8; bytes(chunk)];
            self.node_io(cow, chunk * 512, Buf::W(&z), depth)?;
        }
        Ok(())
    }

    /// Marks the store invalid on disk (`persistent_drop_snapshot`).
    fn store_invalidate(&mut self, cow: DevNum, depth: u32) -> IoResult<()> {
        let mut h = self.rd(cow, 0, 1, depth)?;
        h[4..8].copy_from_slice(&0u32.to_le_bytes());
        self.node_io(cow, 0, Buf::W(&h), depth)
    }

    /// Allocates a cow chunk for origin chunk `old` and commits the exception;
    /// `None` when the store is full.
    fn store_add(
        &mut self,
        cow: DevNum,
        st: &mut Store,
        old: u64,
        depth: u32,
    ) -> IoResult<Option<u64>> {
        if st.next_free + 1 > st.total {
            return Ok(None);
        }
        let new = st.next_free;
        let k = st.exceptions.len() as u64;
        let (area, idx) = (k / st.epa(), k % st.epa());
        let byte = st.area_chunk(area) * st.chunk * 512 + idx * 16;
        let sector = byte / 512;
        let mut s = self.rd(cow, sector, 1, depth)?;
        let at = usize::try_from(byte % 512).unwrap_or(0);
        s[at..at + 8].copy_from_slice(&old.to_le_bytes());
        s[at + 8..at + 16].copy_from_slice(&new.to_le_bytes());
        self.node_io(cow, sector * 512, Buf::W(&s), depth)?;
        st.exceptions.push((old, new));
        st.next_free += 1;
        if idx + 1 == st.epa() {
            // Area full: the next one starts empty (zero_disk_area).
            let next = st.area_chunk(area + 1);
            if next < st.total {
                let z = vec![0u8; bytes(st.chunk)];
                self.node_io(cow, next * st.chunk * 512, Buf::W(&z), depth)?;
            }
        }
        while st.next_free % (st.epa() + 1) == 1 {
            st.next_free += 1;
        }
        Ok(Some(new))
    }

    /// Snapshot (not merge) lines of live, resumed devices over origin device `real`,
    /// as `(device name, cow, chunk)`.
    fn snapshots_over(&self, real: DevNum) -> Vec<(String, DevNum, u64)> {
        let mut out = Vec::new();
        for (n, d) in &self.dm {
            let Some(t) = d.live.as_ref().filter(|_| !d.suspended) else {
                continue;
            };
            for m in &t.maps {
                if let Mapping::Snapshot {
                    origin,
                    cow,
                    chunk,
                    merge: false,
                } = m
                {
                    if *origin == real {
                        out.push((n.clone(), *cow, *chunk));
                    }
                }
            }
        }
        out
    }

    /// Before origin sectors `[s, e)` change: copy their chunks into every snapshot
    /// that has not copied them yet; a full store invalidates that snapshot only.
    fn copy_out(&mut self, real: DevNum, s: u64, e: u64, depth: u32) -> IoResult<()> {
        let olen = self.size_of(real);
        for (name, cow, chunk) in self.snapshots_over(real) {
            let Some(mut st) = self.store_read(cow, chunk, depth)? else {
                continue;
            };
            if !st.valid {
                continue;
            }
            let c = st.chunk;
            for old in s / c..e.div_ceil(c) {
                if st.lookup(old).is_some() {
                    continue;
                }
                let Some(new) = self.store_add(cow, &mut st, old, depth)? else {
                    self.store_invalidate(cow, depth)?;
                    if let Some(d) = self.dm.get_mut(&name) {
                        d.event_nr += 1;
                    }
                    break;
                };
                let n = c.min(olen.saturating_sub(old * c));
                let data = self.rd(real, old * c, n, depth)?;
                self.node_io(cow, new * c * 512, Buf::W(&data), depth)?;
            }
        }
        Ok(())
    }

    /// I/O through `snapshot-origin <real>`: reads go straight down, writes copy out
    /// first.
    pub(crate) fn origin_io(
        &mut self,
        real: DevNum,
        rel: u64,
        buf: Buf<'_>,
        depth: u32,
    ) -> IoResult<()> {
        if let Buf::W(d) = &buf {
            self.copy_out(real, rel, rel + d.len() as u64 / 512, depth)?;
        }
        self.node_io(real, rel * 512, buf, depth)
    }

    /// I/O through `snapshot <real> <cow> P <chunk>`.
    pub(crate) fn snapshot_io(
        &mut self,
        name: &str,
        (real, cow, chunk): (DevNum, DevNum, u64),
        rel: u64,
        mut buf: Buf<'_>,
        depth: u32,
    ) -> IoResult<()> {
        let op = buf.op();
        let mut st = match self.store_read(cow, chunk, depth)? {
            Some(st) if st.valid => st,
            _ => return Err(errno_err(op, name, EIO, "snapshot is invalid")),
        };
        let c = st.chunk;
        let total = buf.len() as u64 / 512;
        let olen = self.size_of(real);
        let mut done = 0;
        while done < total {
            let r = rel + done;
            let (old, within) = (r / c, r % c);
            let take = (c - within).min(total - done);
            let sub = buf.sub(bytes(done), bytes(done + take));
            match (st.lookup(old), sub) {
                (Some(new), sub) => self.node_io(cow, (new * c + within) * 512, sub, depth)?,
                (None, Buf::R(out)) => self.node_io(real, r * 512, Buf::R(out), depth)?,
                (None, Buf::W(data)) => {
                    let Some(new) = self.store_add(cow, &mut st, old, depth)? else {
                        self.store_invalidate(cow, depth)?;
                        return Err(errno_err(op, name, EIO, "snapshot store is full"));
                    };
                    let n = c.min(olen.saturating_sub(old * c));
                    let first = self.rd(real, old * c, n, depth)?;
                    self.node_io(cow, new * c * 512, Buf::W(&first), depth)?;
                    self.node_io(cow, (new * c + within) * 512, Buf::W(data), depth)?;
                }
            }
            done += take;
        }
        Ok(())
    }

    /// Copies every exception of the store on `cow` back to `real` (other snapshots
    /// of the origin copy out first), then empties the store.
    pub(crate) fn merge_now(
        &mut self,
        real: DevNum,
        cow: DevNum,
        chunk: u64,
        depth: u32,
    ) -> IoResult<()> {
        let Some(st) = self.store_read(cow, chunk, depth)? else {
            return Ok(());
        };
        if !st.valid || st.exceptions.is_empty() {
            return Ok(());
        }
        let c = st.chunk;
        let olen = self.size_of(real);
        for &(old, new) in st.exceptions.iter().rev() {
            let n = c.min(olen.saturating_sub(old * c));
            if n == 0 {
                continue;
            }
            let data = self.rd(cow, new * c, n, depth)?;
            self.copy_out(real, old * c, old * c + n, depth)?;
            self.node_io(real, old * c * 512, Buf::W(&data), depth)?;
        }
        let z = vec![0u8; bytes(c)];
        let mut area = 0;
        while area * st.epa() <= st.exceptions.len() as u64 && st.area_chunk(area) < st.total {
            self.node_io(cow, st.area_chunk(area) * c * 512, Buf::W(&z), depth)?;
            area += 1;
        }
        Ok(())
    }

    /// After a resume: initialise blank stores of snapshot lines; start merges.
    pub(crate) fn snapshot_resume(&mut self, name: &str) {
        let Some(t) = self.dm.get(name).and_then(|d| d.live.clone()) else {
            return;
        };
        for m in &t.maps {
            if let Mapping::Snapshot {
                origin,
                cow,
                chunk,
                merge,
            } = *m
            {
                // A failure here shows up as an invalid store on the next I/O.
                if let Ok(None) = self.store_read(cow, chunk, 0) {
                    let _ = self.store_init(cow, chunk, 0);
                }
                if merge && !self.hold_merges {
                    let _ = self.merge_now(origin, cow, chunk, 0);
                }
            }
        }
    }

    /// Completes every running merge.
    pub(crate) fn run_merges(&mut self) -> IoResult<()> {
        let mut todo = Vec::new();
        for d in self.dm.values() {
            for m in d.live.iter().flat_map(|t| &t.maps) {
                if let Mapping::Snapshot {
                    origin,
                    cow,
                    chunk,
                    merge: true,
                } = *m
                {
                    todo.push((origin, cow, chunk));
                }
            }
        }
        for (o, c, ch) in todo {
            self.merge_now(o, c, ch, 0)?;
        }
        Ok(())
    }

    /// Status text of each snapshot / merge line of `name` (others `None`).
    pub(crate) fn snapshot_status(&mut self, name: &str) -> Vec<Option<String>> {
        let Some(t) = self.dm.get(name).and_then(|d| d.live.clone()) else {
            return Vec::new();
        };
        t.maps
            .iter()
            .map(|m| match *m {
                Mapping::Snapshot { cow, chunk, .. } => {
                    Some(match self.store_read(cow, chunk, 0) {
                        Ok(Some(st)) if st.valid => st.usage(),
                        Ok(Some(_)) => "Invalid".to_owned(),
                        Ok(None) => format!("0/{} 0", self.size_of(cow)),
                        Err(_) => "Unknown".to_owned(),
                    })
                }
                _ => None,
            })
            .collect()
    }
}
