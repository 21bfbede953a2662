//! Status lines as the kernel reports them (lvm_dm.md §1): raid1, mirror, snapshot.

use super::table::{Mapping, Mirror, Raid1};
use super::{DmDev, Redundancy, World};
use crate::io::TargetLine;
use std::fmt::Write as _;

impl World {
    /// `DM_TABLE_STATUS` (INFO) lines of a device's live table.
    pub(crate) fn status_lines(&self, dev: &DmDev) -> Vec<TargetLine> {
        let Some(t) = &dev.live else {
            return Vec::new();
        };
        let empty = Redundancy::default();
        t.lines
            .iter()
            .zip(&t.maps)
            .enumerate()
            .map(|(i, (l, m))| {
                let red = dev.redundancy.get(i).unwrap_or(&empty);
                let params = match m {
                    Mapping::Raid1(r) => self.raid_status(dev, l.len.0, r, red),
                    Mapping::Mirror(mi) => self.mirror_status(dev, l.len.0, mi, red),
                    // Snapshot lines are filled in by the caller (it reads the COW store).
                    _ => String::new(),
                };
                TargetLine {
                    start: l.start,
                    len: l.len,
                    target: l.target.clone(),
                    params,
                }
            })
            .collect()
    }

    /// Sync progress `(done, total)` in sectors per leg.
    fn progress(dev: &DmDev, len: u64) -> (u64, u64) {
        dev.sync.unwrap_or((len, len))
    }

    /// `raid1 <n> <health> <done>/<total> <action> <mismatch> <data_offset> <journal>`.
    fn raid_status(&self, dev: &DmDev, len: u64, r: &Raid1, red: &Redundancy) -> String {
        let (done, total) = Self::progress(dev, len);
        let syncing = done < total;
        let mut health = String::new();
        for (i, leg) in r.legs.iter().enumerate() {
            health.push(match leg.data {
                None => '-',
                Some(d) if red.dead.get(i).copied().unwrap_or(false) || !self.healthy(d, 0) => 'D',
                Some(_) if syncing => 'a',
                Some(_) => 'A',
            });
        }
        let action = if syncing { "resync" } else { "idle" };
        format!(
            "raid1 {} {health} {done}/{total} {action} {} 0 -",
            r.legs.len(),
            dev.mismatches
        )
    }

    /// `<n> <devs> <in_sync>/<regions> 1 <health> <log status>`.
    fn mirror_status(&self, dev: &DmDev, len: u64, m: &Mirror, red: &Redundancy) -> String {
        let regions = len.div_ceil(m.region);
        let (done, total) = Self::progress(dev, len);
        let in_sync = (done.min(total) * regions)
            .checked_div(total)
            .unwrap_or(regions);
        let mut s = format!("{}", m.legs.len());
        let mut health = String::new();
        for (i, (d, _)) in m.legs.iter().enumerate() {
            let _ = write!(s, " {d}");
            let dead = red.dead.get(i).copied().unwrap_or(false) || !self.healthy(*d, 0);
            health.push(if dead { 'D' } else { 'A' });
        }
        let _ = write!(s, " {in_sync}/{regions} 1 {health}");
        match m.log {
            None => s.push_str(" 1 core"),
            Some(l) => {
                let c = if self.healthy(l, 0) { 'A' } else { 'D' };
                let _ = write!(s, " 3 disk {l} {c}");
            }
        }
        s
    }
}
