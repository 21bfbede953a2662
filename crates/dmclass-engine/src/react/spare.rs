//! Hot spares (GDS external mode): which spare takes over a failed leg, and whether a
//! leg is back on its original disk so the spare can be released.

use super::{Policy, Reaction, VolumeLive};
use crate::alloc::{Allocator, LegTarget};
use crate::layout::VolumeLayout;
use crate::metadata::{ClassMeta, DiskRoleMeta, DiskState};
use crate::status::RaidHealth;

/// Whether leg `leg` of `volume` is back on its original disk after a hot spare held
/// it (the spare is released once the leg is in sync).
pub(super) fn swapped_back(meta: &ClassMeta, volume: &str, leg: usize) -> bool {
    meta.departed
        .iter()
        .flat_map(|d| &d.takeovers)
        .any(|t| t.returned && t.volume == volume && t.leg == leg)
}

pub(super) fn spare_for(
    meta: &ClassMeta,
    vl: &VolumeLive,
    volume: &str,
    leg: usize,
    p: &Policy,
) -> Reaction {
    let no = |reason: String| Reaction::NoSpare {
        volume: volume.to_owned(),
        leg,
        reason,
    };
    let Some(v) = meta.volume(volume) else {
        return no("volume not found".into());
    };
    let Some(l) = v.layout.legs.get(leg) else {
        return no("leg not found".into());
    };
    let on_spare = l
        .disks()
        .iter()
        .any(|d| meta.disk(d).is_some_and(|m| m.role == DiskRoleMeta::Spare));
    if on_spare {
        return no("the failed leg was on a spare; spares are not chained".into());
    }
    let healthy = vl
        .legs
        .iter()
        .enumerate()
        .any(|(j, x)| j != leg && x.health == RaidHealth::InSync);
    if !healthy {
        return no("no in-sync leg left to copy from".into());
    }
    match pick_spare(meta, volume, leg, p) {
        Ok((spare, new_leg)) => Reaction::TakeOver {
            volume: volume.to_owned(),
            leg,
            spare,
            new_leg,
        },
        Err(why) => no(why),
    }
}

/// Choose a spare for leg `leg` of `volume` and place the leg on it (rmeta + one
/// data extent, state COPY). GDS external mode: prefer a spare on a controller none
/// of the volume's other legs use; then any spare with room; spares in use by
/// another takeover may hold more slices if they have room.
pub fn pick_spare(
    meta: &ClassMeta,
    volume: &str,
    leg: usize,
    p: &Policy,
) -> Result<(String, crate::layout::Leg), String> {
    let v = meta
        .volume(volume)
        .ok_or_else(|| format!("no volume {volume}"))?;
    let failed = v
        .layout
        .legs
        .get(leg)
        .ok_or_else(|| format!("no leg {leg}"))?;
    let departed: Vec<&str> = meta.departed.iter().map(|d| d.disk.as_str()).collect();
    let used_ctrl: Vec<&String> = v
        .layout
        .legs
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != leg)
        .flat_map(|(_, l)| l.disks())
        .filter_map(|d| p.controllers.get(d))
        .collect();
    let mut spares: Vec<&crate::metadata::DiskMeta> = meta
        .disks
        .iter()
        .filter(|d| d.role == DiskRoleMeta::Spare && d.state != DiskState::Disable)
        .filter(|d| !departed.contains(&d.name.as_str()))
        .collect();
    // Another controller first (stable: by name within each rank).
    spares.sort_by_key(|d| {
        (
            p.controllers
                .get(&d.name)
                .is_some_and(|c| used_ctrl.contains(&c)),
            d.name.clone(),
        )
    });
    if spares.is_empty() {
        return Err(format!("class {} has no usable spare disk", meta.name));
    }
    let alloc = Allocator::for_class(meta).map_err(|e| e.to_string())?;
    let one = VolumeLayout {
        legs: vec![failed.clone()],
        log: None,
    };
    let mut why = Vec::new();
    for s in spares {
        let mut a = alloc.clone();
        match a.add_leg(volume, &one, &LegTarget::Disk(s.name.clone()), true) {
            Ok(mut l) => {
                if let Some(new) = l.legs.pop() {
                    return Ok((s.name.clone(), new));
                }
            }
            Err(e) => why.push(format!("{}: {e}", s.name)),
        }
    }
    Err(format!("no spare is big enough ({})", why.join("; ")))
}
