//! The partner's disk answers again (its NVMe/TCP controller reconnected): the raid1
//! legs on it that failed while the link was down are taken back in, and dm-raid copies
//! only the regions its write-intent bitmap marked meanwhile.
//!
//! How: a suspend and resume of the raid1 device, LVM's `lvchange --refresh` — on
//! resume dm-raid tries every device it marked faulty and re-adds those that answer
//! (`attempt_restore_of_faulty_devices`). Nothing is written to the metadata: a leg
//! lost to the link is not recorded as a departure (the class's reactions are the
//! lease holder's; shared classes take none from udev), so the description still says
//! both legs are members. Only volumes running on this node are touched, and a volume
//! runs here only while this node holds its lease.

use crate::error::{io_err, Result};
use crate::io::{Kernel, Visibility};
use crate::metadata::ClassMeta;
use crate::names::{dm_name, Layer};
use crate::status::{parse_raid_status, RaidHealth};

/// What was found and done for one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The volume.
    pub volume: String,
    /// Legs dead before the refresh.
    pub dead: Vec<usize>,
    /// Legs still dead after it (their disk does not answer yet).
    pub still_dead: Vec<usize>,
}

/// The raid1 device of `volume` running here (the top, or the `-real` under a
/// snapshot origin), how it is resumed, and its leg health.
type RaidHere = (String, Visibility, Vec<RaidHealth>);

fn raid_of(meta: &ClassMeta, volume: &str, kernel: &dyn Kernel) -> Result<Option<RaidHere>> {
    for (layer, vis) in [
        (Layer::Top, Visibility::Public),
        (Layer::Real, Visibility::Private),
    ] {
        let name = dm_name(&meta.name, volume, layer)?;
        if kernel
            .info(&name)
            .map_err(|e| io_err("reading a volume", e))?
            .is_none()
        {
            continue;
        }
        let lines = kernel
            .status(&name)
            .map_err(|e| io_err("reading a volume's status", e))?;
        if let Some(l) = lines.iter().find(|l| l.target == "raid") {
            return Ok(Some((name, vis, parse_raid_status(&l.params)?.health)));
        }
    }
    Ok(None)
}

fn dead(health: &[RaidHealth]) -> Vec<usize> {
    health
        .iter()
        .enumerate()
        .filter(|(_, h)| **h == RaidHealth::Dead)
        .map(|(i, _)| i)
        .collect()
}

/// Refresh every raid1 volume of `meta` running here with a dead leg; the others are
/// left alone (a refresh suspends I/O for a moment).
pub fn restore_legs(meta: &ClassMeta, kernel: &mut dyn Kernel) -> Result<Vec<Restored>> {
    let mut out = Vec::new();
    for v in &meta.volumes {
        let Some((name, vis, health)) = raid_of(meta, &v.name, &*kernel)? else {
            continue;
        };
        let before = dead(&health);
        if before.is_empty() {
            continue;
        }
        kernel
            .suspend(&name, false)
            .map_err(|e| io_err("suspending a volume to take a leg back", e))?;
        kernel
            .resume(&name, vis)
            .map_err(|e| io_err("resuming a volume to take a leg back", e))?;
        let after = raid_of(meta, &v.name, &*kernel)?.map_or_else(Vec::new, |(_, _, h)| dead(&h));
        out.push(Restored {
            volume: v.name.clone(),
            dead: before,
            still_dead: after,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::assemble::{group_classes, scan};
    use crate::plan::tests::{apply, class, world};
    use crate::status::parse_raid_status;
    use dmclass_model::Bytes;
    use std::path::PathBuf;

    const TOP: &str = "dmclass-nm-v1";

    fn health(k: &crate::sim::SimKernel) -> Vec<RaidHealth> {
        parse_raid_status(&k.status(TOP).unwrap()[0].params)
            .unwrap()
            .health
    }

    #[test]
    fn a_leg_lost_to_the_link_is_taken_back_with_the_data_written_meanwhile() {
        let mut w = world(&["d1", "d2"], 128);
        let yaml = "  - name: nm\n    type: local\n    disks:\n      \
                    - {name: d1, device: /dev/disk/by-id/virtio-d1}\n      \
                    - {name: d2, device: /dev/disk/by-id/virtio-d2}\n    groups:\n      \
                    - {name: m, type: mirror, members: [d1, d2]}\n    volumes:\n      \
                    - {name: v1, on: m, size: 16MiB}\n";
        apply(&mut w, &class(yaml), false).unwrap();
        let paths: Vec<PathBuf> = w.b.iter().map(|b| b.path.clone()).collect();
        let meta = group_classes(&scan(&paths, &w.d).found).pop().unwrap().meta;
        // Nothing dead: nothing touched.
        assert_eq!(restore_legs(&meta, &mut w.k).unwrap(), Vec::new());
        // The partner's disk stops answering under a write: leg 1 dead, I/O goes on.
        w.d.set_failed("/dev/vdc", true).unwrap();
        w.k.write_dev(TOP, Bytes(0), &vec![7u8; 65536]).unwrap();
        assert_eq!(health(&w.k), [RaidHealth::InSync, RaidHealth::Dead]);
        // Still gone: the refresh leaves it dead and says so.
        let r = restore_legs(&meta, &mut w.k).unwrap();
        assert_eq!(
            (r[0].dead.clone(), r[0].still_dead.clone()),
            (vec![1], vec![1])
        );
        // Back: taken in, and it holds what was written meanwhile.
        w.d.set_failed("/dev/vdc", false).unwrap();
        let r = restore_legs(&meta, &mut w.k).unwrap();
        assert_eq!(
            r,
            [Restored {
                volume: "v1".into(),
                dead: vec![1],
                still_dead: Vec::new()
            }]
        );
        assert_eq!(health(&w.k), [RaidHealth::InSync, RaidHealth::InSync]);
        w.d.set_failed("/dev/vdb", true).unwrap();
        let back = w.k.read_dev(TOP, Bytes(0), 65536).unwrap();
        assert!(
            back.iter().all(|b| *b == 7),
            "leg 1 lacks the write made while it was away"
        );
    }
}
