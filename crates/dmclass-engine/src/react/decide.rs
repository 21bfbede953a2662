//! The pure decisions (state machine in the [module doc](super)).

use super::spare::{spare_for, swapped_back};
use super::{Departure, DiskLabel, LiveClass, Policy, Reaction, Takeover};
use crate::layout::SliceState;
use crate::metadata::{departure, stale_departed};
use crate::metadata::{ClassMeta, DiskRoleMeta, DiskState, EngineMeta};
use crate::status::RaidHealth;

fn reject(disk: &str, reason: String) -> Vec<Reaction> {
    vec![Reaction::Reject {
        disk: disk.to_owned(),
        reason,
    }]
}

/// A disk carrying `label` appeared (udev add/change). `present` names the class's
/// disks that are on the machine now (including this one when it passes the check).
pub fn on_disk_added(
    meta: &ClassMeta,
    present: &[String],
    label: &DiskLabel,
    live: &LiveClass,
    policy: &Policy,
) -> Vec<Reaction> {
    if label.class_uuid != meta.uuid {
        return reject(
            &label.disk_uuid.to_string(),
            format!(
                "its label names class `{}` with UUID {}, but class `{}` here has UUID {} \
                 (another class with the same name)",
                label.class_name, label.class_uuid, meta.name, meta.uuid
            ),
        );
    }
    let Some(disk) = meta.disks.iter().find(|d| d.uuid == label.disk_uuid) else {
        return reject(
            &label.disk_uuid.to_string(),
            format!(
                "class `{}` does not list disk UUID {}",
                meta.name, label.disk_uuid
            ),
        );
    };
    let name = disk.name.as_str();
    if label.generation > meta.generation {
        return reject(
            name,
            format!(
                "it holds generation {}, newer than the running class's {} (changed elsewhere)",
                label.generation, meta.generation
            ),
        );
    }
    let dep = departure(meta, name);
    if let Some(why) = stale_departed(meta, name, label.generation) {
        return reject(name, why);
    }
    match dep {
        None if label.generation < meta.generation => {
            return reject(
                name,
                format!(
                    "stale copy: it holds generation {}, the class is at {}",
                    label.generation, meta.generation
                ),
            )
        }
        _ => {}
    }
    if !live.any_active() {
        return activation(meta, present, policy);
    }
    if disk.role == DiskRoleMeta::Spare && dep.is_none() {
        return vec![Reaction::Ignore {
            reason: format!("spare {name} stands by"),
        }];
    }
    let mut out = Vec::new();
    for v in &meta.volumes {
        let Some(vl) = live.volume(&v.name).filter(|l| l.active) else {
            continue;
        };
        if v.engine != EngineMeta::Raid1 || vl.legs.len() != v.layout.legs.len() {
            continue;
        }
        for i in 0..v.layout.legs.len() {
            if let Some(t) = dep.and_then(|d| {
                d.takeovers
                    .iter()
                    .find(|t| t.volume == v.name && t.leg == i && !t.returned)
            }) {
                out.push(Reaction::SwapBack {
                    volume: v.name.clone(),
                    leg: i,
                    spare: t.spare.clone(),
                });
                continue;
            }
            let leg = &v.layout.legs[i];
            if !leg.disks().contains(&name) {
                continue;
            }
            let l = vl.legs[i];
            let healthy = matches!(l.health, RaidHealth::InSync | RaidHealth::Syncing);
            if l.attached && healthy {
                continue;
            }
            if l.attached && !policy.reappeared {
                continue;
            }
            // A slice recorded COPY was never complete (a replaced disk, an interrupted
            // rebuild): its bitmap says nothing about it, so it is copied in full.
            out.push(Reaction::ReAdd {
                volume: v.name.clone(),
                leg: i,
                full: l.health == RaidHealth::Absent || leg.state == SliceState::Copy,
            });
        }
    }
    if out.is_empty() {
        out.push(Reaction::Ignore {
            reason: format!("disk {name} is in use with every slice attached"),
        });
    }
    out
}

fn activation(meta: &ClassMeta, present: &[String], policy: &Policy) -> Vec<Reaction> {
    let missing: Vec<&str> = meta
        .disks
        .iter()
        .filter(|d| d.role != DiskRoleMeta::Spare && !present.contains(&d.name))
        .map(|d| d.name.as_str())
        .collect();
    if missing.is_empty() {
        return vec![Reaction::Activate { degraded: false }];
    }
    let startable = meta.volumes.iter().filter(|v| v.autostart).all(|v| {
        v.layout
            .legs
            .iter()
            .any(|l| l.disks().iter().all(|d| present.iter().any(|p| p == d)))
    });
    if policy.degraded && startable {
        return vec![Reaction::Activate { degraded: true }];
    }
    vec![Reaction::Ignore {
        reason: format!(
            "class {} waits for disk(s) {}",
            meta.name,
            missing.join(", ")
        ),
    }]
}

/// A dm event (or a disk removal): compare the live legs with the metadata.
pub fn on_dm_event(meta: &ClassMeta, live: &LiveClass, policy: &Policy) -> Vec<Reaction> {
    let mut out = Vec::new();
    let mut meta_after = meta.clone();
    for v in &meta.volumes {
        let Some(vl) = live.volume(&v.name).filter(|l| l.active) else {
            continue;
        };
        if v.engine != EngineMeta::Raid1 || vl.legs.len() != v.layout.legs.len() {
            continue;
        }
        for (i, leg) in v.layout.legs.iter().enumerate() {
            match (vl.legs[i].health, leg.state) {
                (RaidHealth::Dead, SliceState::Active | SliceState::Copy) => {
                    let failed = Reaction::LegFailed {
                        volume: v.name.clone(),
                        leg: i,
                        disks: leg.disks().iter().map(|d| (*d).to_owned()).collect(),
                    };
                    meta_after = record(&meta_after, std::slice::from_ref(&failed));
                    out.push(failed);
                    if meta.hot_spare {
                        let r = spare_for(&meta_after, vl, v.name.as_str(), i, policy);
                        meta_after = record(&meta_after, std::slice::from_ref(&r));
                        out.push(r);
                    }
                }
                (RaidHealth::Syncing, SliceState::Invalid) => out.push(Reaction::Copying {
                    volume: v.name.clone(),
                    leg: i,
                }),
                (RaidHealth::InSync, SliceState::Copy | SliceState::Invalid)
                    if vl.percent >= 100.0 =>
                {
                    out.push(Reaction::Synced {
                        volume: v.name.clone(),
                        leg: i,
                    });
                }
                // A swap-back the kernel finished: the spare is released.
                (RaidHealth::InSync, SliceState::Active)
                    if vl.percent >= 100.0 && swapped_back(meta, &v.name, i) =>
                {
                    out.push(Reaction::Synced {
                        volume: v.name.clone(),
                        leg: i,
                    });
                }
                _ => {}
            }
        }
    }
    out
}

fn leg_mut<'a>(
    meta: &'a mut ClassMeta,
    volume: &str,
    leg: usize,
) -> Option<&'a mut crate::layout::Leg> {
    meta.volumes
        .iter_mut()
        .find(|v| v.name == volume)
        .and_then(|v| v.layout.legs.get_mut(leg))
}

fn set_disk_state(meta: &mut ClassMeta, disk: &str, state: DiskState) {
    if let Some(d) = meta.disks.iter_mut().find(|d| d.name == disk) {
        d.state = state;
    }
}

/// The class description after `reactions` (generation bumped when it changed).
pub fn record(meta: &ClassMeta, reactions: &[Reaction]) -> ClassMeta {
    let mut m = meta.clone();
    for r in reactions {
        match r {
            Reaction::LegFailed { volume, leg, disks } => {
                if let Some(l) = leg_mut(&mut m, volume, *leg) {
                    l.state = SliceState::Invalid;
                }
                for d in disks {
                    if m.departed.iter().all(|x| &x.disk != d) {
                        m.departed.push(Departure {
                            disk: d.clone(),
                            generation: meta.generation,
                            reason: format!("I/O failure on volume {volume} leg {leg}"),
                            takeovers: Vec::new(),
                        });
                    }
                }
            }
            Reaction::TakeOver {
                volume,
                leg,
                spare,
                new_leg,
            } => {
                let Some(l) = leg_mut(&mut m, volume, *leg) else {
                    continue;
                };
                let original = std::mem::replace(l, new_leg.clone());
                let mut original = original;
                original.state = SliceState::Invalid;
                for d in original.disks() {
                    if let Some(dep) = m.departed.iter_mut().find(|x| x.disk == d) {
                        dep.takeovers.push(Takeover {
                            volume: volume.clone(),
                            leg: *leg,
                            spare: spare.clone(),
                            original: original.clone(),
                            returned: false,
                        });
                    }
                }
                set_disk_state(&mut m, spare, DiskState::Enable);
            }
            Reaction::SwapBack { volume, leg, .. } => {
                let t = m
                    .departed
                    .iter_mut()
                    .flat_map(|d| d.takeovers.iter_mut())
                    .find(|t| &t.volume == volume && t.leg == *leg && !t.returned);
                let Some(t) = t else { continue };
                t.returned = true;
                let mut back = t.original.clone();
                back.state = SliceState::Copy;
                if let Some(l) = leg_mut(&mut m, volume, *leg) {
                    *l = back;
                }
            }
            // A leg the kernel resyncs from its own superblock and bitmap is a member
            // the kernel tracks: ACTIVE (activation judges its completeness from the
            // superblocks). A full rebuild is COPY until its table is loaded.
            Reaction::ReAdd {
                volume,
                leg,
                full: false,
            }
            | Reaction::Copying { volume, leg } => {
                if let Some(l) = leg_mut(&mut m, volume, *leg) {
                    l.state = SliceState::Active;
                }
            }
            Reaction::ReAdd {
                volume,
                leg,
                full: true,
            } => {
                if let Some(l) = leg_mut(&mut m, volume, *leg) {
                    l.state = SliceState::Copy;
                }
            }
            Reaction::Synced { volume, leg } => {
                if let Some(l) = leg_mut(&mut m, volume, *leg) {
                    l.state = SliceState::Active;
                }
                for d in &mut m.departed {
                    d.takeovers
                        .retain(|t| !(t.returned && &t.volume == volume && t.leg == *leg));
                }
            }
            Reaction::Reject { .. }
            | Reaction::Ignore { .. }
            | Reaction::Activate { .. }
            | Reaction::NoSpare { .. } => {}
        }
    }
    settle_departures(&mut m);
    if m != *meta {
        m.generation = meta.generation.saturating_add(1);
    }
    m
}

/// Drop departures whose disk holds no INVALID slice and no pending takeover; give
/// spares that hold no slice back their SPARE state.
fn settle_departures(m: &mut ClassMeta) {
    let invalid_on = |m: &ClassMeta, disk: &str| {
        m.volumes.iter().any(|v| {
            v.layout
                .legs
                .iter()
                .any(|l| l.state == SliceState::Invalid && l.disks().contains(&disk))
        })
    };
    let keep: Vec<bool> = m
        .departed
        .iter()
        .map(|d| !d.takeovers.is_empty() || invalid_on(m, &d.disk))
        .collect();
    let mut it = keep.into_iter();
    m.departed.retain(|_| it.next().unwrap_or(true));
    let spares: Vec<String> = m
        .disks
        .iter()
        .filter(|d| d.role == DiskRoleMeta::Spare && d.state == DiskState::Enable)
        .map(|d| d.name.clone())
        .collect();
    for s in spares {
        // A spare stays connected until the leg it stood in for is back in sync.
        let holds = m.volumes.iter().any(|v| {
            v.layout
                .legs
                .iter()
                .any(|l| l.disks().contains(&s.as_str()))
        }) || m
            .departed
            .iter()
            .any(|d| d.takeovers.iter().any(|t| t.spare == s));
        if !holds {
            set_disk_state(m, &s, DiskState::Spare);
        }
    }
}
