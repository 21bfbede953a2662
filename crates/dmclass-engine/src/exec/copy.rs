//! [`Step::CopyTracked`](crate::plan::Step): the copying side of an incremental
//! rejoin or restore. The regions the bitmaps mark are read from one end and written
//! to the other: rejoin, the proxy's tracking bitmap, live master -> proxy image (the
//! master's own changes are then recovered by the kernel from the master's bitmap when
//! slot N is loaded back); restore, the union of the proxy's tracking bitmap and the
//! master's bitmap, proxy image -> live master (whose bitmap then marks them, so the
//! kernel's recovery of slot N writes the same data back to the proxy). Deciding what
//! to copy is pure ([`regions_to_copy`], [`pieces`]); only the reads and writes go
//! through [`Disks`], in pieces of at most 1 MiB.
//!
//! When the bits are read: the proxy's device (the tracking raid1) was removed by an
//! earlier action of the plan, which stops the array and flushes its bitmap; the
//! master's bitmap bits for its writes are on disk before the writes (write intent),
//! and the master is not open during a restore. A tracking bitmap starts all dirty
//! (a new set) until md's bitmap daemon clears it, ~10-15 s after the part: a rejoin
//! or restore before that copies every region still marked — a bigger copy, never a
//! wrong one, because a set bit only ever adds a region.

use crate::error::{io_err, Result};
use crate::io::Disks;
use crate::layout::{Extent, Segment};
use crate::md_bitmap::union;
use crate::md_bitmap::{decode, read_len, tracked_regions, SB_OFFSET};
use crate::plan::{CopyEnd, CopyTracked};
use dmclass_model::{Bytes, Sectors};
use std::path::{Path, PathBuf};

/// Largest piece copied at once (1 MiB, in sectors).
const PIECE: u64 = 2048;

/// The regions to copy from the tracking bitmap bytes `bits` (read from
/// [`SB_OFFSET`] of the tracking rmeta), and why tracking was lost when it was (then
/// every region).
pub(crate) fn regions_to_copy(
    bits: &[u8],
    sectors: Sectors,
    region: Sectors,
) -> (Vec<u64>, Option<String>) {
    match tracked_regions(&decode(bits), sectors.0, region.0) {
        Ok(r) => (r, None),
        Err(why) => (
            (0..sectors.0.div_ceil(region.0.max(1))).collect(),
            Some(why),
        ),
    }
}

/// Where logical sectors `[start, start + len)` of a leg made of `segments` are:
/// `(disk, sector on the disk, sectors)` pieces in order (striped segments map chunk by
/// chunk as dm-stripe does). Ranges beyond the leg are cut off.
pub(crate) fn pieces(segments: &[Segment], start: u64, len: u64) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let (mut at, end) = (start, start.saturating_add(len));
    let mut seg_start = 0u64;
    for s in segments {
        let slen = s.len().0;
        let seg_end = seg_start.saturating_add(slen);
        while at < end && at >= seg_start && at < seg_end {
            let rel = at - seg_start;
            let take_max = (end.min(seg_end)) - at;
            let (e, off, take): (&Extent, u64, u64) = match s {
                Segment::Linear { extent } => (extent, rel, take_max),
                Segment::Striped { chunk, columns } => {
                    let (c, n) = (chunk.0.max(1), columns.len().max(1) as u64);
                    let (ci, within) = (rel / c, rel % c);
                    let Some(col) = usize::try_from(ci % n).ok().and_then(|i| columns.get(i))
                    else {
                        return out;
                    };
                    (col, (ci / n) * c + within, (c - within).min(take_max))
                }
            };
            out.push((e.disk.clone(), e.offset.0 + off, take));
            at += take;
        }
        seg_start = seg_end;
    }
    out
}

/// The bitmap of the rmeta at `e`, read in whole 4 KiB blocks (direct I/O), never
/// past the rmeta nor more than the volume's bitmap needs. A failed read is lost
/// tracking (the reason is returned), never a guess.
fn read_bitmap(
    e: &Extent,
    job: &CopyTracked,
    path: &dyn Fn(&str) -> Result<PathBuf>,
    disks: &dyn Disks,
) -> std::result::Result<Vec<u8>, String> {
    let p = path(&e.disk).map_err(|err| err.to_string())?;
    let at = Bytes(e.offset.0 * 512 + SB_OFFSET);
    let room = usize::try_from((e.len.0 * 512).saturating_sub(SB_OFFSET)).unwrap_or(0);
    let want = read_len(job.sectors.0, job.region.0)
        .div_ceil(4096)
        .saturating_mul(4096)
        .min(room);
    disks
        .read(&p, at, want)
        .map_err(|err| format!("reading the bitmap on disk {} failed: {err}", e.disk))
}

/// The union of the regions every bitmap of `job` marks, or every region and why
/// tracking was lost (one bitmap untrustworthy is enough).
fn job_regions(
    job: &CopyTracked,
    path: &dyn Fn(&str) -> Result<PathBuf>,
    disks: &dyn Disks,
) -> (Vec<u64>, Option<String>) {
    let all = || (0..job.sectors.0.div_ceil(job.region.0.max(1))).collect();
    let mut regions = Vec::new();
    for e in &job.bitmaps {
        let bits = match read_bitmap(e, job, path, disks) {
            Ok(b) => b,
            Err(why) => return (all(), Some(why)),
        };
        match regions_to_copy(&bits, job.sectors, job.region) {
            (r, None) => regions = union(&regions, &r),
            (r, Some(why)) => return (r, Some(why)),
        }
    }
    (regions, None)
}

/// Read sectors `[at, at + len)` of `end`.
fn read_end(
    end: &CopyEnd,
    (at, len): (u64, u64),
    path: &dyn Fn(&str) -> Result<PathBuf>,
    disks: &dyn Disks,
) -> Result<Vec<u8>> {
    let size = |n: u64| usize::try_from(n * 512).unwrap_or(0);
    match end {
        CopyEnd::Dm(name) => disks
            .read(
                &Path::new("/dev/mapper").join(name),
                Bytes(at * 512),
                size(len),
            )
            .map_err(|e| io_err(format!("reading {name}"), e)),
        CopyEnd::Image(segments) => {
            let mut out = Vec::with_capacity(size(len));
            for (disk, sector, count) in pieces(segments, at, len) {
                let data = disks
                    .read(&path(&disk)?, Bytes(sector * 512), size(count))
                    .map_err(|e| io_err(format!("reading the proxy image on disk {disk}"), e))?;
                out.extend_from_slice(&data);
            }
            Ok(out)
        }
    }
}

/// Write `data` at sector `at` of `end`.
fn write_end(
    end: &CopyEnd,
    at: u64,
    data: &[u8],
    path: &dyn Fn(&str) -> Result<PathBuf>,
    disks: &mut dyn Disks,
) -> Result<()> {
    match end {
        CopyEnd::Dm(name) => disks
            .write(&Path::new("/dev/mapper").join(name), Bytes(at * 512), data)
            .map_err(|e| io_err(format!("writing {name}"), e)),
        CopyEnd::Image(segments) => {
            let mut done = 0usize;
            let len = u64::try_from(data.len() / 512).unwrap_or(0);
            for (disk, sector, count) in pieces(segments, at, len) {
                let size = usize::try_from(count * 512).unwrap_or(0);
                let piece = data.get(done..done + size).unwrap_or_default();
                disks
                    .write(&path(&disk)?, Bytes(sector * 512), piece)
                    .map_err(|e| io_err(format!("writing the proxy image on disk {disk}"), e))?;
                done += size;
            }
            Ok(())
        }
    }
}

/// Run a copy; the line says what was copied (and why everything, if so).
pub(crate) fn run(
    job: &CopyTracked,
    path: &dyn Fn(&str) -> Result<PathBuf>,
    disks: &mut dyn Disks,
) -> Result<String> {
    let (regions, lost) = job_regions(job, path, &*disks);
    let mut bytes = 0u64;
    for r in &regions {
        let first = r * job.region.0;
        let end = ((r + 1) * job.region.0).min(job.sectors.0);
        let mut at = first;
        while at < end {
            let len = (end - at).min(PIECE);
            let data = read_end(&job.from, (at, len), path, &*disks)?;
            write_end(&job.to, at, &data, path, disks)?;
            bytes += len * 512;
            at += len;
        }
    }
    let way = job.way;
    Ok(match lost {
        None => format!(
            "copied {} changed region(s), {bytes} bytes, {way}",
            regions.len()
        ),
        Some(why) => format!(
            "tracking lost ({why}): full copy, {} region(s), {bytes} bytes, {way}",
            regions.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(disk: &str, off: u64, len: u64) -> Extent {
        Extent {
            disk: disk.into(),
            offset: Sectors(off),
            len: Sectors(len),
        }
    }

    #[test]
    fn pieces_follow_linear_and_striped_segments() {
        let segs = vec![
            Segment::Linear {
                extent: ext("a", 100, 10),
            },
            Segment::Striped {
                chunk: Sectors(8),
                columns: vec![ext("b", 0, 16), ext("c", 50, 16)],
            },
        ];
        assert_eq!(
            pieces(&segs, 5, 20),
            vec![
                ("a".into(), 105, 5),
                ("b".into(), 0, 8),
                ("c".into(), 50, 7)
            ]
        );
        assert!(pieces(&segs, 100, 5).is_empty());
    }

    #[test]
    fn lost_tracking_copies_everything_and_says_why() {
        let (r, why) = regions_to_copy(&[0u8; 300], Sectors(4096), Sectors(1024));
        assert_eq!(r, vec![0, 1, 2, 3]);
        assert!(why.is_some_and(|w| w.contains("no tracking bitmap")));
    }
}
