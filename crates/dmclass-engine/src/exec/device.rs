//! dm device steps shared by the executor and activation: render a spec with the
//! machine's device numbers, create / load / resume idempotently, read the table back
//! and compare it.
//!
//! Comparison: both the loaded table and the one the kernel prints back are parsed
//! with the one grammar ([`crate::dm`]) and compared as structs
//! ([`Table::readback_matches`]): every line's start, length and target must be
//! equal, except that `raid` lines follow [`crate::dm::raid::readback_matches`]
//! (`rebuild` dropped, optional parameters in any order). linear, striped, mirror
//! and snapshot tables are printed by the kernel as loaded (dm-raid1 `mirror_status`
//! echoes the log and leg arguments and ` 1 handle_errors`), so they must be equal.
//! A read-back that does not parse is a mismatch.

use crate::dm::{Table, Target};
use crate::error::{EngineError, Result};
use crate::io::{DevNum, Kernel, TargetLine};
use crate::plan::DiskBinding;
use crate::tables::{DevRef, DeviceSpec, Resolver};
use std::collections::BTreeMap;

pub(crate) use crate::error::io_err;

/// Resolves disks from a name → number map and dm devices through the kernel.
pub(crate) struct KernelResolver<'a> {
    pub(crate) disks: BTreeMap<String, DevNum>,
    pub(crate) kernel: &'a dyn Kernel,
}

impl KernelResolver<'_> {
    /// The device number of `dev`: a bound disk's, or an existing dm device's.
    pub(crate) fn devnum(&self, dev: &DevRef) -> Option<DevNum> {
        match dev {
            DevRef::Disk(n) => self.disks.get(n).copied(),
            DevRef::Dm(n) => self.kernel.info(n).ok().flatten().map(|i| i.devnum),
        }
    }
}

impl Resolver for KernelResolver<'_> {
    fn resolve(&self, dev: &DevRef) -> Option<String> {
        self.devnum(dev).map(|n| n.to_string())
    }
}

/// Disk name → device number through [`crate::io::Disks::devnum`].
pub(crate) fn disk_numbers(
    bindings: &[DiskBinding],
    disks: &dyn crate::io::Disks,
) -> Result<BTreeMap<String, DevNum>> {
    bindings
        .iter()
        .map(|b| {
            disks
                .devnum(&b.path)
                .map(|n| (b.name.clone(), n))
                .map_err(|e| io_err(format!("disk {}", b.name), e))
        })
        .collect()
}

/// The spec's table with the machine's device numbers; a `linear` range that lies
/// inside one partition of its disk is mapped onto that partition
/// ([`Kernel::partitions`]).
pub(crate) fn resolved(spec: &DeviceSpec, r: &KernelResolver<'_>) -> Result<Table<DevNum>> {
    let mut num = |d: &DevRef| {
        r.devnum(d)
            .ok_or_else(|| EngineError::Unresolved(format!("{d:?}")))
    };
    let mut parts: BTreeMap<DevNum, Vec<crate::io::PartitionDev>> = BTreeMap::new();
    let lines = spec
        .table
        .iter()
        .map(|l| {
            let mut line = l.try_map(&mut num)?;
            let on_disk =
                matches!(&l.target, Target::Linear(lin) if matches!(lin.dev, DevRef::Disk(_)));
            if let (true, Target::Linear(lin)) = (on_disk, &mut line.target) {
                let on = parts
                    .entry(lin.dev)
                    .or_insert_with(|| r.kernel.partitions(lin.dev));
                if let Some((dev, offset)) = onto_partition(on, lin.offset, line.len) {
                    lin.dev = dev;
                    lin.offset = offset;
                }
            }
            Ok(line)
        })
        .collect::<Result<_>>()?;
    Ok(Table { lines })
}

/// The partition holding sectors `offset .. offset + len` of its disk, and the offset
/// inside it; `None` when the range is not inside one partition.
pub(crate) fn onto_partition(
    parts: &[crate::io::PartitionDev],
    offset: dmclass_model::Sectors,
    len: dmclass_model::Sectors,
) -> Option<(DevNum, dmclass_model::Sectors)> {
    let end = offset.0.checked_add(len.0)?;
    parts
        .iter()
        .find(|p| p.start.0 <= offset.0 && p.start.0.checked_add(p.len.0).is_some_and(|e| end <= e))
        .map(|p| (p.dev, dmclass_model::Sectors(offset.0 - p.start.0)))
}

/// The spec's table as kernel lines.
pub(crate) fn lines(spec: &DeviceSpec, r: &KernelResolver<'_>) -> Result<Vec<TargetLine>> {
    Ok(resolved(spec, r)?.to_target_lines())
}

/// Whether the kernel's table `kernel` is `loaded` (rules in the module doc).
fn readback_matches(loaded: &Table<DevNum>, kernel: &[TargetLine]) -> bool {
    Table::from_target_lines(kernel).is_ok_and(|k| loaded.readback_matches(&k))
}

/// Whether the kernel's table is the one loaded (rules in the module doc).
pub(crate) fn same_table(loaded: &[TargetLine], kernel: &[TargetLine]) -> bool {
    Table::from_target_lines(loaded).is_ok_and(|l| readback_matches(&l, kernel))
}

fn text(t: &[TargetLine]) -> String {
    t.iter()
        .map(|l| format!("{} {} {} {}", l.start.0, l.len.0, l.target, l.params))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a device step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Skipped,
}

/// Create the device unless it exists with the same UUID.
pub(crate) fn create(kernel: &mut dyn Kernel, name: &str, uuid: &str) -> Result<Outcome> {
    match kernel
        .info(name)
        .map_err(|e| io_err(format!("device {name}"), e))?
    {
        Some(i) if i.uuid == uuid => Ok(Outcome::Skipped),
        Some(i) => Err(EngineError::Refused {
            class: String::new(),
            object: format!("device {name}"),
            reason: format!(
                "a device of that name exists with UUID {:?}, not {uuid}",
                i.uuid
            ),
        }),
        None => {
            kernel
                .create(name, uuid)
                .map_err(|e| io_err(format!("creating {name}"), e))?;
            Ok(Outcome::Done)
        }
    }
}

/// Suspend unless already suspended.
pub(crate) fn suspend(kernel: &mut dyn Kernel, name: &str) -> Result<Outcome> {
    match kernel
        .info(name)
        .map_err(|e| io_err(format!("device {name}"), e))?
    {
        Some(i) if i.suspended => Ok(Outcome::Skipped),
        _ => {
            kernel
                .suspend(name, false)
                .map_err(|e| io_err(format!("suspending {name}"), e))?;
            Ok(Outcome::Done)
        }
    }
}

/// Resume when a table is pending or the device is suspended.
pub(crate) fn resume(kernel: &mut dyn Kernel, spec: &DeviceSpec) -> Result<Outcome> {
    let name = &spec.name;
    match kernel
        .info(name)
        .map_err(|e| io_err(format!("device {name}"), e))?
    {
        Some(i) if !i.suspended && !i.inactive_table => Ok(Outcome::Skipped),
        _ => {
            kernel
                .resume(name, spec.visibility())
                .map_err(|e| io_err(format!("resuming {name}"), e))?;
            Ok(Outcome::Done)
        }
    }
}

/// Read the live table back and compare.
pub(crate) fn verify(kernel: &dyn Kernel, spec: &DeviceSpec, r: &KernelResolver<'_>) -> Result<()> {
    let want = resolved(spec, r)?;
    let have = kernel
        .table(&spec.name)
        .map_err(|e| io_err(format!("reading table of {}", spec.name), e))?;
    if readback_matches(&want, &have) {
        Ok(())
    } else {
        Err(EngineError::TableMismatch {
            device: spec.name.clone(),
            loaded: text(&want.to_target_lines()),
            kernel: text(&have),
        })
    }
}

/// Remove unless absent.
pub(crate) fn remove(kernel: &mut dyn Kernel, name: &str) -> Result<Outcome> {
    if kernel
        .info(name)
        .map_err(|e| io_err(format!("device {name}"), e))?
        .is_none()
    {
        return Ok(Outcome::Skipped);
    }
    kernel
        .remove(name)
        .map_err(|e| io_err(format!("removing {name}"), e))?;
    Ok(Outcome::Done)
}

/// Bring one device to `spec`: create, load, resume, verify (each skipped when
/// already done). Returns whether anything changed.
pub(crate) fn ensure(
    kernel: &mut dyn Kernel,
    spec: &DeviceSpec,
    disks: &BTreeMap<String, DevNum>,
) -> Result<bool> {
    let c = create(kernel, &spec.name, &spec.uuid)?;
    let l = {
        let r = KernelResolver {
            disks: disks.clone(),
            kernel: &*kernel,
        };
        let t = lines(spec, &r)?;
        drop(r);
        load_lines(kernel, spec, &t)?
    };
    let s = resume(kernel, spec)?;
    let r = KernelResolver {
        disks: disks.clone(),
        kernel: &*kernel,
    };
    verify(kernel, spec, &r)?;
    Ok([c, l, s].contains(&Outcome::Done))
}

/// [`load`] with lines already rendered (the resolver borrows the kernel).
pub(crate) fn load_lines(
    kernel: &mut dyn Kernel,
    spec: &DeviceSpec,
    t: &[TargetLine],
) -> Result<Outcome> {
    if let Some(i) = kernel
        .info(&spec.name)
        .map_err(|e| io_err(format!("device {}", spec.name), e))?
    {
        if i.live_table && !i.inactive_table {
            let live = kernel
                .table(&spec.name)
                .map_err(|e| io_err(format!("reading table of {}", spec.name), e))?;
            if same_table(t, &live) {
                return Ok(Outcome::Skipped);
            }
        }
    }
    kernel
        .load(&spec.name, t, spec.read_only)
        .map_err(|e| io_err(format!("loading {}", spec.name), e))?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_model::Sectors;

    fn raid(params: &str) -> Vec<TargetLine> {
        vec![TargetLine {
            start: Sectors(0),
            len: Sectors(2048),
            target: "raid".into(),
            params: params.into(),
        }]
    }

    #[test]
    fn raid_read_back_ignores_rebuild_and_parameter_order() {
        let loaded = raid(
            "raid1 8 0 nosync rebuild 1 max_recovery_rate 51200 region_size 128 2 - 8:1 8:2 8:3",
        );
        // 1.9.0-1.10.x order, rebuild already finished.
        let kernel =
            raid("raid1 6 0 nosync region_size 128 max_recovery_rate 51200 2 - 8:1 8:2 8:3");
        assert!(same_table(&loaded, &kernel));
        for other in [
            "raid1 6 0 nosync region_size 128 max_recovery_rate 51201 2 - 8:1 8:2 8:3",
            "raid1 4 0 nosync region_size 128 2 - 8:1 8:2 8:3",
            "raid1 6 0 nosync region_size 128 max_recovery_rate 51200 2 8:0 8:1 8:2 8:3",
            // Unparsable read-back: never the table loaded.
            "raid1 6 0 nosync region_size 128 max_recovery_rate",
        ] {
            assert!(!same_table(&loaded, &raid(other)), "{other}");
        }
    }

    #[test]
    fn a_range_inside_a_partition_maps_onto_it_and_nothing_else_does() {
        use crate::io::PartitionDev;
        use dmclass_model::Sectors;
        let p = |start, len, minor| PartitionDev {
            start: Sectors(start),
            len: Sectors(len),
            dev: DevNum { major: 259, minor },
        };
        let parts = [p(2048, 131_072, 1), p(133_120, 262_144, 2)];
        let d2 = DevNum {
            major: 259,
            minor: 2,
        };
        // the whole second partition, and a range at its end
        assert_eq!(
            onto_partition(&parts, Sectors(133_120), Sectors(262_144)),
            Some((d2, Sectors(0)))
        );
        assert_eq!(
            onto_partition(&parts, Sectors(395_000), Sectors(264)),
            Some((d2, Sectors(395_000 - 133_120)))
        );
        // crossing a boundary, before the first, past the last, overflow: whole disk
        for (o, l) in [(133_000, 1_000), (0, 2048), (395_264, 1), (u64::MAX - 1, 5)] {
            assert_eq!(
                onto_partition(&parts, Sectors(o), Sectors(l)),
                None,
                "{o}+{l}"
            );
        }
        assert_eq!(onto_partition(&[], Sectors(0), Sectors(1)), None);
    }
}
