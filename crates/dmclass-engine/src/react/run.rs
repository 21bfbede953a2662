//! Gathering the live state and carrying reactions out over [`Kernel`] / [`Disks`].
//!
//! Order (crash safety): the new class description is written to every present disk
//! that is not departed first (a returning disk included: it passed the identity
//! check), then the kernel is changed. A crash in between leaves a leg recorded as
//! `COPY` that activation rebuilds in full. Once a full rebuild's table is loaded, a
//! second write records the leg `ACTIVE`: the kernel's superblocks say from then on
//! how far it got (docs/states.md).

use super::{decide, DiskLabel, LegLive, LiveClass, Reaction, VolumeLive};
use crate::error::io_err;
use crate::error::{EngineError, Result};
use crate::exec::device::{ensure, lines, same_table, KernelResolver};
use crate::io::{DevNum, Disks, Kernel, Visibility};
use crate::layout::SliceState;
use crate::metadata::{decode_header, ClassMeta, EngineMeta, VolumeMeta, BLOCK};
use crate::names::{dm_name, Layer};
use crate::status::parse_raid_status;
use crate::tables::{volume_devices, Activation, DeviceSpec};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The label in `bytes` (as [`udev_probe`] takes them): from either header copy, `None`
/// when neither is valid.
pub fn probe_label(bytes: &[u8]) -> Option<DiskLabel> {
    let heads = if bytes.len() >= 3 * BLOCK {
        bytes.get(BLOCK..)?
    } else {
        bytes
    };
    let h = decode_header(heads.get(..BLOCK).unwrap_or(heads))
        .or_else(|_| decode_header(heads.get(BLOCK..).unwrap_or_default()))
        .ok()?;
    Some(DiskLabel::from_header(&h))
}

/// The udev properties of a device whose first 12 KiB (or the 8 KiB from byte 4096:
/// both header copies) are `bytes`: `DMCLASS_CLASS`, `DMCLASS_CLASS_UUID`,
/// `DMCLASS_DISK_UUID`, one `KEY=value` per line. `None` when neither header copy is
/// valid. The class name is printed only when it is a safe udev value (no spaces,
/// quotes or control characters); the disk's name needs the slot body and is not
/// read here (the probe stays two 4 KiB blocks).
pub fn udev_probe(bytes: &[u8]) -> Option<String> {
    let l = probe_label(bytes)?;
    let mut out = String::new();
    let safe = !l.class_name.is_empty()
        && l.class_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+:@".contains(c));
    if safe {
        let _ = writeln!(out, "DMCLASS_CLASS={}", l.class_name);
    }
    let _ = write!(
        out,
        "DMCLASS_CLASS_UUID={}\nDMCLASS_DISK_UUID={}\n",
        l.class_uuid, l.disk_uuid
    );
    Some(out)
}

/// The dm device holding the raid1 line of a volume: the top, or `-real` under a
/// snapshot origin.
fn raid_device(meta: &ClassMeta, v: &VolumeMeta, kernel: &dyn Kernel) -> Result<String> {
    let top = dm_name(&meta.name, &v.name, Layer::Top)?;
    let t = kernel
        .table(&top)
        .map_err(|e| io_err(format!("table of {top}"), e))?;
    if t.first().is_some_and(|l| l.target.starts_with("snapshot-")) {
        return dm_name(&meta.name, &v.name, Layer::Real);
    }
    Ok(top)
}

fn spec<'a>(specs: &'a [DeviceSpec], name: &str) -> Option<&'a DeviceSpec> {
    specs.iter().find(|s| s.name == name)
}

/// Whether the device exists with the table `spec` renders to with `numbers`.
fn matches(kernel: &dyn Kernel, spec: &DeviceSpec, numbers: &BTreeMap<String, DevNum>) -> bool {
    let r = KernelResolver {
        disks: numbers.clone(),
        kernel,
    };
    let Ok(want) = lines(spec, &r) else {
        return false;
    };
    kernel
        .table(&spec.name)
        .is_ok_and(|have| !have.is_empty() && same_table(&want, &have))
}

/// The live state of `meta`'s volumes; `numbers` are the present disks' device
/// numbers now.
pub fn live_state(
    meta: &ClassMeta,
    numbers: &BTreeMap<String, DevNum>,
    kernel: &dyn Kernel,
) -> Result<LiveClass> {
    let mut out = LiveClass::default();
    for v in &meta.volumes {
        let top = dm_name(&meta.name, &v.name, Layer::Top)?;
        let active = kernel
            .info(&top)
            .map_err(|e| io_err(format!("device {top}"), e))?
            .is_some_and(|i| i.live_table);
        let mut vl = VolumeLive {
            name: v.name.clone(),
            active,
            legs: Vec::new(),
            percent: 100.0,
        };
        if active && v.engine == EngineMeta::Raid1 && v.layout.legs.len() > 1 {
            let raid = raid_device(meta, v, kernel)?;
            let st = kernel
                .status(&raid)
                .map_err(|e| io_err(format!("status of {raid}"), e))?;
            if let Some(l) = st.iter().find(|l| l.target == "raid") {
                let r = parse_raid_status(&l.params)?;
                vl.percent = r.percent();
                let specs = volume_devices(&meta.name, meta.uuid, v, &Activation::default())?;
                for (i, h) in r.health.iter().enumerate() {
                    let attached = [Layer::Rmeta(i), Layer::Rimage(i)].iter().all(|&layer| {
                        dm_name(&meta.name, &v.name, layer)
                            .ok()
                            .and_then(|n| spec(&specs, &n))
                            .is_some_and(|s| matches(kernel, s, numbers))
                    });
                    vl.legs.push(LegLive {
                        health: *h,
                        attached,
                    });
                }
            }
        }
        out.volumes.push(vl);
    }
    Ok(out)
}

/// What [`carry_out`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    /// The class description now on the disks (unchanged when nothing was recorded).
    pub meta: Option<ClassMeta>,
    /// One line per reaction carried out, for the log.
    pub done: Vec<String>,
    /// Rejections and refusals for the admin (stderr / syslog).
    pub warnings: Vec<String>,
    /// The class should be activated (the caller runs `assemble::activate`, or hands
    /// it to a service on systemd machines).
    pub activate: Option<bool>,
}

/// Carry out `reactions` decided on `meta` (`paths`: present disks, name → node).
pub fn carry_out(
    meta: &ClassMeta,
    reactions: &[Reaction],
    paths: &BTreeMap<String, PathBuf>,
    node: Option<&str>,
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
) -> Result<Carried> {
    let mut out = Carried::default();
    let next = decide::record(meta, reactions);
    if next.generation != meta.generation {
        crate::metadata::write_present(&next, paths, disks)?;
        out.meta = Some(next.clone());
    }
    let mut full_readds: Vec<(String, usize)> = Vec::new();
    let mut numbers = BTreeMap::new();
    for (name, p) in paths {
        if let Ok(n) = disks.devnum(p) {
            numbers.insert(name.clone(), n);
        }
    }
    for r in reactions {
        match r {
            Reaction::Reject { disk, reason } => out.warnings.push(format!(
                "class {}: disk {disk} refused (DISABLE, not written): {reason}",
                meta.name
            )),
            Reaction::Ignore { reason } => out.done.push(format!("nothing to do: {reason}")),
            Reaction::Activate { degraded } => out.activate = Some(*degraded),
            Reaction::NoSpare {
                volume,
                leg,
                reason,
            } => out.warnings.push(format!(
                "class {}: volume {volume} leg {leg}: no hot spare: {reason}",
                meta.name
            )),
            Reaction::LegFailed { volume, leg, disks } => {
                let ids: Vec<String> = disks
                    .iter()
                    .map(|d| format!("{d} ({})", meta.stable_id(d)))
                    .collect();
                out.warnings.push(format!(
                    "class {}: volume {volume} leg {leg} failed on disk {}: slice INVALID",
                    meta.name,
                    ids.join(", ")
                ));
            }
            Reaction::Copying { volume, leg } | Reaction::Synced { volume, leg } => {
                out.done.push(format!(
                    "class {}: volume {volume} leg {leg}: {}",
                    meta.name,
                    if matches!(r, Reaction::Synced { .. }) {
                        "in sync, ACTIVE"
                    } else {
                        "resyncing, COPY"
                    }
                ));
            }
            Reaction::ReAdd { volume, leg, full } => {
                // A leg that left before its own recovery finished holds stale data
                // beyond the offset its superblock records; the kernel would copy
                // only the bitmap's regions onto it.
                let full = *full || !bitmap_readd_allowed(&next, volume, *leg, paths, &*disks);
                reattach(
                    &next, volume, *leg, full, false, paths, &numbers, node, kernel, disks,
                )?;
                if full {
                    full_readds.push((volume.clone(), *leg));
                }
                out.done.push(format!(
                    "class {}: volume {volume} leg {leg} re-added ({} resync)",
                    meta.name,
                    if full { "full" } else { "bitmap" }
                ));
            }
            Reaction::TakeOver {
                volume, leg, spare, ..
            } => {
                reattach(
                    &next, volume, *leg, true, true, paths, &numbers, node, kernel, disks,
                )?;
                out.done.push(format!(
                    "class {}: volume {volume} leg {leg} rebuilt onto spare {spare} ({})",
                    meta.name,
                    meta.stable_id(spare)
                ));
            }
            Reaction::SwapBack { volume, leg, spare } => {
                reattach(
                    &next, volume, *leg, true, true, paths, &numbers, node, kernel, disks,
                )?;
                out.done.push(format!(
                    "class {}: volume {volume} leg {leg} back on its disk (full rebuild); \
                     spare {spare} is released when it is in sync",
                    meta.name
                ));
            }
        }
    }
    // Legs rebuilt in full are COPY until the kernel has their table (a crash before
    // that rebuilds them again at activation); now their superblocks are the
    // kernel's, so they are recorded ACTIVE and activation judges them from the
    // superblocks: a finished rebuild is a complete copy even if nobody saw it end.
    let handed: Vec<(&str, usize)> = reactions
        .iter()
        .filter_map(|r| match r {
            Reaction::ReAdd {
                volume,
                leg,
                full: true,
            }
            | Reaction::TakeOver { volume, leg, .. }
            | Reaction::SwapBack { volume, leg, .. } => Some((volume.as_str(), *leg)),
            _ => None,
        })
        .chain(full_readds.iter().map(|(v, l)| (v.as_str(), *l)))
        .collect();
    if !handed.is_empty() {
        let mut after = out.meta.clone().unwrap_or_else(|| next.clone());
        for (volume, leg) in handed {
            if let Some(l) = after
                .volumes
                .iter_mut()
                .find(|v| v.name == volume)
                .and_then(|v| v.layout.legs.get_mut(leg))
            {
                l.state = SliceState::Active;
            }
        }
        after.generation = after.generation.saturating_add(1);
        crate::metadata::write_present(&after, paths, disks)?;
        out.meta = Some(after);
    }
    Ok(out)
}

/// Whether leg `leg` of `volume` may be re-added from its bitmap: its superblock
/// says it was complete when it left ([`crate::raid_sb::allows_bitmap_readd`]).
fn bitmap_readd_allowed(
    meta: &ClassMeta,
    volume: &str,
    leg: usize,
    paths: &BTreeMap<String, PathBuf>,
    disks: &dyn Disks,
) -> bool {
    use crate::raid_sb::{allows_bitmap_readd, RaidSuperblock, READ_LEN};
    let Some(e) = meta
        .volume(volume)
        .and_then(|v| v.layout.legs.get(leg))
        .and_then(|l| l.rmeta.as_ref())
    else {
        return false;
    };
    let Some(path) = paths.get(&e.disk) else {
        return false;
    };
    disks
        .read(path, e.offset.to_bytes(), READ_LEN)
        .is_ok_and(|b| allows_bitmap_readd(&RaidSuperblock::decode(&b)))
}

/// Put leg `leg` of `volume` (as described in `meta`) into its running raid1:
/// (zero its rmeta when `fresh`), load + resume its `_rmeta_N` / `_rimage_N` onto the
/// disks' current numbers, then reload the raid (with `rebuild N` when `full`) or
/// suspend + resume it.
#[allow(clippy::too_many_arguments)]
fn reattach(
    meta: &ClassMeta,
    volume: &str,
    leg: usize,
    full: bool,
    fresh: bool,
    paths: &BTreeMap<String, PathBuf>,
    numbers: &BTreeMap<String, DevNum>,
    node: Option<&str>,
    kernel: &mut dyn Kernel,
    disks: &mut dyn Disks,
) -> Result<()> {
    let v = meta
        .volume(volume)
        .ok_or_else(|| EngineError::InvalidLayout(format!("no volume {volume}")))?;
    let l = v
        .layout
        .legs
        .get(leg)
        .ok_or_else(|| EngineError::InvalidLayout(format!("volume {volume}: no leg {leg}")))?;
    if fresh {
        if let Some(e) = &l.rmeta {
            let path = paths.get(&e.disk).ok_or_else(|| EngineError::Refused {
                class: meta.name.clone(),
                object: format!("disk {}", e.disk),
                reason: "its device node is not known; the leg was not touched".into(),
            })?;
            disks
                .zero(path, e.offset.to_bytes(), e.len.to_bytes())
                .map_err(|err| io_err(format!("zeroing rmeta on disk {}", e.disk), err))?;
        }
    }
    // Legs whose disks are absent or failed stay out of the table.
    let missing: Vec<usize> = v
        .layout
        .legs
        .iter()
        .enumerate()
        .filter(|(i, x)| {
            *i != leg
                && (x.state == SliceState::Invalid
                    || x.disks().iter().any(|d| !numbers.contains_key(*d)))
        })
        .map(|(i, _)| i)
        .collect();
    let act = Activation {
        rebuild: if full { vec![leg] } else { Vec::new() },
        missing,
        // As activation loads it: a netmirror's reads stay off the network.
        write_mostly: crate::netmirror::remote_legs(meta, v, node),
        ..Activation::default()
    };
    let mut specs = volume_devices(&meta.name, meta.uuid, v, &act)?;
    crate::root::mark_copies(meta, v, &mut specs);
    for layer in [Layer::Rmeta(leg), Layer::Rimage(leg)] {
        let name = dm_name(&meta.name, volume, layer)?;
        if let Some(s) = spec(&specs, &name) {
            ensure(kernel, s, numbers)?;
        }
    }
    let raid = raid_device(meta, v, &*kernel)?;
    let top = specs
        .last()
        .ok_or_else(|| EngineError::InvalidLayout(format!("volume {volume}: no devices")))?;
    if full {
        let r = KernelResolver {
            disks: numbers.clone(),
            kernel: &*kernel,
        };
        let t = lines(top, &r)?;
        kernel
            .load(&raid, &t, top.read_only)
            .map_err(|e| io_err(format!("loading {raid}"), e))?;
    }
    kernel
        .suspend(&raid, false)
        .map_err(|e| io_err(format!("suspending {raid}"), e))?;
    // The raid under a snapshot origin is private; else it is the volume's own
    // visible device (a copy of the root yields its links: root::mark_copies).
    let vis = if raid.ends_with("-real") {
        Visibility::Private
    } else {
        top.visibility()
    };
    kernel
        .resume(&raid, vis)
        .map_err(|e| io_err(format!("resuming {raid}"), e))?;
    Ok(())
}
