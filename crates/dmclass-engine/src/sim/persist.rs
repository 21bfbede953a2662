//! The simulated world in a file, so that separate processes (one `dmclass` command
//! each, with `DMCLASS_SIM` set) see one machine: [`save`] after a command, [`load`]
//! before the next, [`world_from_facts`] for the first.
//!
//! The file is versioned JSON: disks with their written pages (sparse: only pages that
//! hold a non-zero byte, trailing zeroes trimmed, base64), udev-like aliases, and dm
//! devices with their tables as the kernel prints them (`dmsetup table` lines), leg
//! and sync state. Tables are re-parsed on load with the kernel's syntax checks, so a
//! damaged or hand-edited file is refused with a message rather than trusted.
//!
//! Not saved: failpoints (closures, and a test's business within one process).

use super::table::{restore_table, Mapping, Table};
use super::{
    errno_err, DiskState, DmDev, Redundancy, SimDisks, SimKernel, World, DM_MAJOR, EINVAL, PAGE,
};
use crate::io::{DevNum, IoError, IoResult, TargetLine, Visibility};
use dmclass_model::{Bytes, Sectors};
use dmclass_rules::Facts;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What the `format` field of a world file says.
const MAGIC: &str = "dmclass-sim-world";

/// Version of the world file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first fields of any world file, read before the rest to name what is wrong.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    version: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    format: String,
    version: u32,
    next_minor: u32,
    settles: u64,
    disks: Vec<DiskRec>,
    #[serde(default)]
    aliases: BTreeMap<PathBuf, PathBuf>,
    devices: Vec<DevRec>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiskRec {
    path: PathBuf,
    /// `major:minor`.
    devnum: String,
    size: Bytes,
    attached: bool,
    failed: bool,
    bytes_written: u64,
    writes: u64,
    /// Page index -> base64 of the page without its trailing zeroes.
    pages: BTreeMap<u64, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DevRec {
    name: String,
    uuid: String,
    devnum: String,
    external_opens: u32,
    suspended: bool,
    event_nr: u32,
    visibility: Option<String>,
    live: Option<TableRec>,
    inactive: Option<TableRec>,
    redundancy: Vec<Redundancy>,
    sync: Option<(u64, u64)>,
    mismatches: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableRec {
    read_only: bool,
    /// `<start> <len> <target> <params>`, as `dmsetup table` prints.
    lines: Vec<String>,
    /// Lines whose raid1 set was new when loaded (superblocks were blank then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    new_sets: Vec<usize>,
}

fn err(op: &'static str, path: &Path, message: impl Into<String>) -> IoError {
    IoError {
        op,
        object: path.display().to_string(),
        errno: None,
        message: message.into(),
    }
}

fn os_err(op: &'static str, path: &Path, what: &str, e: &std::io::Error) -> IoError {
    IoError {
        op,
        object: path.display().to_string(),
        errno: e.raw_os_error(),
        message: format!("{what}: {e}"),
    }
}

/// Writes the whole world of `disks` (and its kernel) to `path`, atomically: a
/// temporary file beside it, flushed, then renamed over it.
pub fn save(disks: &SimDisks, path: &Path) -> IoResult<()> {
    let file = to_file(&disks.world().borrow());
    let mut text = serde_json::to_vec_pretty(&file)
        .map_err(|e| err("save", path, format!("cannot encode the world: {e}")))?;
    text.push(b'\n');
    let name = path
        .file_name()
        .ok_or_else(|| err("save", path, "not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(os_err("save", path, "cannot write the temporary file", &e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        os_err("save", path, "cannot replace the file", &e)
    })
}

/// Reads a world written by [`save`]: a kernel and disks sharing it.
pub fn load(path: &Path) -> IoResult<(SimKernel, SimDisks)> {
    // Bounded: the world is a file anyone may point DMCLASS_SIM at.
    let bytes = dmclass_model::input::read_capped(path, dmclass_model::input::SIM_WORLD_CAP)
        .map_err(|e| {
            let errno = match &e {
                dmclass_model::ModelError::Unreadable { errno, .. } => *errno,
                _ => None,
            };
            IoError {
                errno,
                ..err("load", path, e.to_string())
            }
        })?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
        err(
            "load",
            path,
            format!("not a dmclass simulation world (invalid JSON: {e})"),
        )
    })?;
    if header.format.as_deref() != Some(MAGIC) {
        return Err(err(
            "load",
            path,
            format!("not a dmclass simulation world (format field is not {MAGIC:?})"),
        ));
    }
    if header.version != Some(FORMAT_VERSION) {
        return Err(err(
            "load",
            path,
            format!(
                "world format version {:?} is not supported (this build reads {FORMAT_VERSION})",
                header.version
            ),
        ));
    }
    let file: WorldFile = serde_json::from_slice(&bytes)
        .map_err(|e| err("load", path, format!("damaged world file: {e}")))?;
    let world =
        from_file(file).map_err(|m| err("load", path, format!("damaged world file: {m}")))?;
    let world = Rc::new(RefCell::new(world));
    Ok((
        SimKernel::from_world(Rc::clone(&world)),
        SimDisks::from_world(world),
    ))
}

/// A fresh world with one disk per entry of `facts.disks`: at its `devnode`, also
/// reachable through each of its `links`, with the device number of its `MAJOR` /
/// `MINOR` properties (else 8:0, 8:16, ... not otherwise taken) and its size (whole
/// sectors). Entries that cannot be a plain disk here (device-mapper devices, size
/// under one sector) are left out with a warning.
pub fn world_from_facts(facts: &Facts) -> IoResult<(SimKernel, SimDisks)> {
    let (kernel, mut disks) = super::new_sim();
    let prop_devnum = |d: &dmclass_rules::DiskFacts| -> Option<DevNum> {
        Some(DevNum {
            major: d.properties.get("MAJOR")?.trim().parse().ok()?,
            minor: d.properties.get("MINOR")?.trim().parse().ok()?,
        })
    };
    let usable: Vec<_> = facts
        .disks
        .iter()
        .filter(|d| {
            let dm = d.kind == dmclass_rules::DeviceKind::Dm
                || prop_devnum(d).is_some_and(|n| n.major == DM_MAJOR);
            let keep = !dm && d.size.0 >= 512;
            if !keep {
                log::warn!(
                    "simulation: {} left out (device-mapper device or empty)",
                    d.devnode.display()
                );
            }
            keep
        })
        .collect();
    let mut taken: BTreeSet<DevNum> = usable.iter().filter_map(|d| prop_devnum(d)).collect();
    let mut next = 0u32;
    for d in usable {
        let devnum = if let Some(n) = prop_devnum(d) {
            n
        } else {
            let n = loop {
                let n = DevNum {
                    major: 8,
                    minor: next.checked_mul(16).ok_or_else(|| {
                        errno_err("add_disk", d.name.clone(), EINVAL, "out of device numbers")
                    })?,
                };
                next += 1;
                if !taken.contains(&n) {
                    break n;
                }
            };
            taken.insert(n);
            n
        };
        disks.add_disk(&d.devnode, devnum, Bytes(d.size.0 / 512 * 512))?;
        for link in d.links.iter().filter(|l| **l != d.devnode) {
            disks.add_alias(link, &d.devnode)?;
        }
    }
    Ok((kernel, disks))
}

fn devnum_str(d: DevNum) -> String {
    d.to_string()
}

fn parse_devnum(s: &str) -> Result<DevNum, String> {
    let bad = || format!("bad device number {s:?}");
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    Ok(DevNum {
        major: a.parse().map_err(|_| bad())?,
        minor: b.parse().map_err(|_| bad())?,
    })
}

fn table_rec(t: &Table) -> TableRec {
    TableRec {
        read_only: t.read_only,
        lines: t
            .lines
            .iter()
            .map(|l| format!("{} {} {} {}", l.start.0, l.len.0, l.target, l.params))
            .collect(),
        new_sets: t
            .maps
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m, Mapping::Raid1(r) if r.new_set))
            .map(|(i, _)| i)
            .collect(),
    }
}

fn parse_line(s: &str) -> Result<TargetLine, String> {
    let mut it = s.splitn(4, ' ');
    let mut num = |what: &str| -> Result<u64, String> {
        it.next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("table line {s:?}: bad {what}"))
    };
    let start = num("start")?;
    let len = num("length")?;
    let target = it
        .next()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("table line {s:?}: no target"))?;
    Ok(TargetLine {
        start: Sectors(start),
        len: Sectors(len),
        target: target.to_string(),
        params: it.next().unwrap_or("").to_string(),
    })
}

fn from_table_rec(r: TableRec) -> Result<Table, String> {
    let lines = r
        .lines
        .iter()
        .map(|l| parse_line(l))
        .collect::<Result<Vec<_>, _>>()?;
    let mut new_sets = vec![false; lines.len()];
    for i in r.new_sets {
        *new_sets
            .get_mut(i)
            .ok_or_else(|| format!("new_sets: no line {i}"))? = true;
    }
    restore_table(&lines, r.read_only, &new_sets).map_err(|(_, m)| format!("bad table: {m}"))
}

fn to_file(w: &World) -> WorldFile {
    let disks = w
        .disks
        .iter()
        .map(|(path, d)| DiskRec {
            path: path.clone(),
            devnum: devnum_str(d.devnum),
            size: d.size,
            attached: d.attached,
            failed: d.failed,
            bytes_written: d.bytes_written,
            writes: d.writes,
            pages: d
                .pages
                .iter()
                .filter_map(|(&i, p)| {
                    let used = p.iter().rposition(|&b| b != 0)? + 1;
                    Some((i, b64_encode(&p[..used])))
                })
                .collect(),
        })
        .collect();
    let devices =
        w.dm.iter()
            .map(|(name, d)| DevRec {
                name: name.clone(),
                uuid: d.uuid.clone(),
                devnum: devnum_str(d.devnum),
                external_opens: d.external_opens,
                suspended: d.suspended,
                event_nr: d.event_nr,
                visibility: d.visibility.map(|v| match v {
                    Visibility::Public => "public".to_string(),
                    Visibility::Private => "private".to_string(),
                    Visibility::Copy => "copy".to_string(),
                }),
                live: d.live.as_ref().map(table_rec),
                inactive: d.inactive.as_ref().map(table_rec),
                redundancy: d.redundancy.clone(),
                sync: d.sync,
                mismatches: d.mismatches,
            })
            .collect();
    WorldFile {
        format: MAGIC.to_string(),
        version: FORMAT_VERSION,
        next_minor: w.next_minor,
        settles: w.settles,
        disks,
        aliases: w.aliases.clone(),
        devices,
    }
}

fn disk_from_rec(r: DiskRec) -> Result<(PathBuf, DiskState), String> {
    let at = |m: String| format!("disk {}: {m}", r.path.display());
    let devnum = parse_devnum(&r.devnum).map_err(at)?;
    if devnum.major == DM_MAJOR {
        return Err(at("major 253 is device-mapper's".into()));
    }
    if r.size.0 == 0 || !r.size.0.is_multiple_of(512) {
        return Err(at(format!("size {} is not whole sectors", r.size.0)));
    }
    let mut pages = HashMap::with_capacity(r.pages.len());
    for (i, text) in &r.pages {
        let inside = i
            .checked_mul(PAGE as u64)
            .is_some_and(|start| start < r.size.0);
        if !inside {
            return Err(at(format!("page {i} lies beyond the end of the disk")));
        }
        let data = b64_decode(text).map_err(|m| at(format!("page {i}: {m}")))?;
        if data.len() > PAGE {
            return Err(at(format!("page {i}: {} bytes", data.len())));
        }
        let mut p = Box::new([0u8; PAGE]);
        p[..data.len()].copy_from_slice(&data);
        pages.insert(*i, p);
    }
    let state = DiskState {
        devnum,
        size: r.size,
        pages,
        attached: r.attached,
        failed: r.failed,
        bytes_written: r.bytes_written,
        writes: r.writes,
    };
    Ok((r.path, state))
}

fn dev_from_rec(r: DevRec) -> Result<(String, DmDev), String> {
    let at = |m: String| format!("dm device {:?}: {m}", r.name);
    if r.name.is_empty() || r.name.len() > 127 || r.name.contains('/') {
        return Err(at("invalid name".into()));
    }
    let devnum = parse_devnum(&r.devnum).map_err(at)?;
    if devnum.major != DM_MAJOR {
        return Err(at(format!("device number {devnum} is not device-mapper's")));
    }
    let visibility = match r.visibility.as_deref() {
        None => None,
        Some("public") => Some(Visibility::Public),
        Some("private") => Some(Visibility::Private),
        Some("copy") => Some(Visibility::Copy),
        Some(o) => return Err(at(format!("unknown visibility {o:?}"))),
    };
    if let Some((done, total)) = r.sync {
        if done >= total || total > 1 << 48 {
            return Err(at(format!("sync progress {done}/{total}")));
        }
    }
    let live = r.live.map(from_table_rec).transpose().map_err(at)?;
    let inactive = r.inactive.map(from_table_rec).transpose().map_err(at)?;
    let dev = DmDev {
        uuid: r.uuid,
        devnum,
        external_opens: r.external_opens,
        suspended: r.suspended,
        live,
        inactive,
        event_nr: r.event_nr,
        visibility,
        redundancy: r.redundancy,
        sync: r.sync,
        mismatches: r.mismatches,
    };
    Ok((r.name, dev))
}

fn from_file(f: WorldFile) -> Result<World, String> {
    let mut w = World {
        next_minor: f.next_minor,
        settles: f.settles,
        ..World::default()
    };
    let mut numbers = BTreeSet::new();
    for r in f.disks {
        let (path, d) = disk_from_rec(r)?;
        if !numbers.insert(d.devnum) || w.disks.contains_key(&path) {
            return Err(format!(
                "disk {}: path or device number twice",
                path.display()
            ));
        }
        w.disks.insert(path, d);
    }
    for (alias, target) in f.aliases {
        if w.disks.contains_key(&alias) || !w.disks.contains_key(&target) {
            return Err(format!(
                "alias {} -> {}: not a link to a disk",
                alias.display(),
                target.display()
            ));
        }
        w.aliases.insert(alias, target);
    }
    let mut uuids = BTreeSet::new();
    for r in f.devices {
        let (name, d) = dev_from_rec(r)?;
        let uuid_twice = !d.uuid.is_empty() && !uuids.insert(d.uuid.clone());
        if !numbers.insert(d.devnum) || w.dm.contains_key(&name) || uuid_twice {
            return Err(format!("dm device {name:?}: name, uuid or number twice"));
        }
        w.next_minor = w.next_minor.max(d.devnum.minor.saturating_add(1));
        w.dm.insert(name, d);
    }
    // A table holds its devices open: they must all be here.
    for (name, d) in &w.dm {
        for t in [&d.live, &d.inactive].into_iter().flatten() {
            if let Some(missing) = t.devs().into_iter().find(|&n| w.node(n).is_none()) {
                return Err(format!("dm device {name:?}: table uses unknown {missing}"));
            }
            if t.devs().contains(&d.devnum) {
                return Err(format!("dm device {name:?}: table uses itself"));
            }
        }
    }
    Ok(w)
}

/// Standard base64 with padding (the `base64` crate).
pub(crate) fn b64_encode(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes [`b64_encode`]'s output; anything else is an error.
pub(crate) fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))
}
