//! dm tables for the floor: the benchmark's own raid1 stacks (before dmclass can
//! activate) and `dmsetup create --concise` text from a dump of what is loaded.

use crate::guest::BenchResult;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Sectors of one raid1 metadata sub-device (1 MiB, as dmclass and LVM use).
pub const RMETA_SECTORS: u64 = 2048;
/// Where the benchmark's own volumes start on each disk (after a 32 MiB area, like
/// dmclass's metadata area).
pub const FIRST_SECTOR: u64 = 65536;

/// One device of a concise list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// dm name.
    pub name: String,
    /// dm UUID (may be empty).
    pub uuid: String,
    /// Minor number (the floor uses the same ones).
    pub minor: u32,
    /// Read-only.
    pub read_only: bool,
    /// Table lines `start len target params`.
    pub lines: Vec<String>,
}

/// `dmsetup create --concise` text: `name,uuid,minor,flags,table[,table];...`, in the
/// given (dependency) order.
pub fn concise(devices: &[Device]) -> String {
    let mut s = String::new();
    for (i, d) in devices.iter().enumerate() {
        if i > 0 {
            s.push(';');
        }
        let flags = if d.read_only { "ro" } else { "rw" };
        let _ = write!(s, "{},{},{},{}", d.name, d.uuid, d.minor, flags);
        for l in &d.lines {
            s.push(',');
            s.push_str(l);
        }
    }
    s
}

/// The benchmark's own stacks: per volume `_rmeta_0`, `_rimage_0`, `_rmeta_1`,
/// `_rimage_1` (linear on the two disks) and the `raid raid1` top device — the shape
/// of dmclass's tables (engine tables.rs) — with minors from 0 up in that order.
/// `nosync`: fresh disks, no initial resync competing with the measurement.
pub fn own_stacks(n: u32, data_sectors: u64, disks: [&str; 2], dm_major: u32) -> Vec<Device> {
    let mut out = Vec::new();
    for v in 0..n {
        let base = FIRST_SECTOR + u64::from(v) * (RMETA_SECTORS + data_sectors);
        let minor0 = v * 5;
        let name = format!("bench-v{v}");
        let mut legs = Vec::new();
        for (leg, disk) in disks.iter().enumerate() {
            let m = minor0 + 2 * u32::try_from(leg).unwrap_or(0);
            out.push(Device {
                name: format!("{name}_rmeta_{leg}"),
                uuid: format!("BENCH-{v}-rmeta_{leg}"),
                minor: m,
                read_only: false,
                lines: vec![format!("0 {RMETA_SECTORS} linear {disk} {base}")],
            });
            out.push(Device {
                name: format!("{name}_rimage_{leg}"),
                uuid: format!("BENCH-{v}-rimage_{leg}"),
                minor: m + 1,
                read_only: false,
                lines: vec![format!(
                    "0 {data_sectors} linear {disk} {}",
                    base + RMETA_SECTORS
                )],
            });
            legs.push(format!("{dm_major}:{m} {dm_major}:{}", m + 1));
        }
        out.push(Device {
            name: name.clone(),
            uuid: format!("BENCH-{v}"),
            minor: minor0 + 4,
            read_only: false,
            lines: vec![format!(
                "0 {data_sectors} raid raid1 4 0 nosync region_size 1024 2 {}",
                legs.join(" ")
            )],
        });
    }
    out
}

/// Parses `dmsetup info -c --noheadings --separator ' ' -o name,uuid,minor,attr`
/// and `dmsetup table` output into devices ordered children first (a device comes
/// after every dm device its table names as `major:minor`).
pub fn from_dump(info: &str, table: &str, dm_major: u32) -> BenchResult<Vec<Device>> {
    let mut devs: BTreeMap<String, Device> = BTreeMap::new();
    for l in info.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = l.split_whitespace().collect();
        // an empty UUID leaves three words
        let (name, uuid, minor, attr) = match words.as_slice() {
            [name, uuid, minor, attr] => (*name, *uuid, *minor, *attr),
            [name, minor, attr] => (*name, "", *minor, *attr),
            _ => return Err(format!("unexpected dmsetup info line {l:?}")),
        };
        let minor = minor
            .parse()
            .map_err(|_| format!("bad minor in dmsetup info line {l:?}"))?;
        devs.insert(
            name.to_string(),
            Device {
                name: name.to_string(),
                uuid: uuid.to_string(),
                minor,
                read_only: attr.chars().nth(3) == Some('r'),
                lines: Vec::new(),
            },
        );
    }
    for l in table.lines().filter(|l| !l.trim().is_empty()) {
        let (name, rest) = l
            .split_once(": ")
            .ok_or_else(|| format!("unexpected dmsetup table line {l:?}"))?;
        let d = devs
            .get_mut(name)
            .ok_or_else(|| format!("table of {name} but no info line"))?;
        d.lines.push(rest.trim().to_string());
    }
    let by_minor: BTreeMap<u32, String> =
        devs.values().map(|d| (d.minor, d.name.clone())).collect();
    let prefix = format!("{dm_major}:");
    let deps: BTreeMap<String, BTreeSet<String>> = devs
        .values()
        .map(|d| {
            let names = d
                .lines
                .iter()
                .flat_map(|l| l.split_whitespace())
                .filter_map(|w| w.strip_prefix(&prefix)?.parse::<u32>().ok())
                .filter_map(|m| by_minor.get(&m).cloned())
                .collect();
            (d.name.clone(), names)
        })
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < devs.len() {
        let ready: Vec<String> = devs
            .keys()
            .filter(|n| !done.contains(*n) && deps[*n].iter().all(|d| done.contains(d)))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err("dependency cycle in the dm tables".into());
        }
        for n in ready {
            done.insert(n.clone());
            order.push(devs[&n].clone());
        }
    }
    if let Some(d) = order.iter().find(|d| d.lines.is_empty()) {
        return Err(format!("{} has no table", d.name));
    }
    Ok(order)
}
