//! Driving `dmclass` in the guest and reading its JSON.
//!
//! Every JSON field name and every dm layer name the scenarios depend on is spelled in
//! this file only, so a rename in the CLI costs one line here.

use super::{by_id, first_word, wait_exists};
use dmclass_vmtest::{DiskSpec, Output, Vm};
use serde_json::Value;
use std::time::{Duration, Instant};

// `status --json`
/// Hex digits of a data checksum: `dmclass-vm-sum` (`tests/vm/guest/sum.c`), 128 bits,
/// several times faster than sha256 under TCG.
pub const SUM_LEN: usize = 32;

const CLASSES: &str = "classes";
const CLASS_NAME: [&str; 2] = ["name", "class"];
const VOLUMES: &str = "volumes";
const VOLUME_NAME: &str = "name";
const STATE: &str = "state";
const PATH: &str = "path";
const SIZE: &str = "size";
const SYNC: &str = "sync_percent";
const SLICES: &str = "slices";
const SLICE_DISK: &str = "disk";
const PENDING_INTENT: &str = "pending_intent";
const CLOSED: &str = "closed";
const DISKS: &str = "disks";
const DISK_NAME: &str = "name";
const GENERATION: &str = "generation";
// `plan --json`
const PLAN_CLASS: [&str; 2] = ["class", "name"];
const ACTIONS: &str = "actions";
const ACTION_KIND: &str = "kind";
const ACTION_OBJECT: &str = "object";
// dm layer suffixes (docs/architecture.md, engine names.rs)
const RIMAGE: &str = "_rimage_";

/// One slice (mirror leg) of a volume in `status --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceStatus {
    /// Class disk name.
    pub disk: String,
    /// ACTIVE, STOP, INVALID, COPY, TEMP, NOUSE.
    pub state: String,
    /// Resync percent of this leg.
    pub sync_percent: Option<f64>,
}

/// One volume in `status --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeStatus {
    /// Class name.
    pub class: String,
    /// Volume name.
    pub name: String,
    /// ACTIVE, STOP, INVALID.
    pub state: String,
    /// User path (`/dev/dmclass/<class>/<volume>`).
    pub path: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Resync percent (`None` for a volume without legs to sync).
    pub sync_percent: Option<f64>,
    /// Legs.
    pub slices: Vec<SliceStatus>,
}

impl VolumeStatus {
    /// ACTIVE, resync finished, every leg ACTIVE.
    pub fn synced(&self) -> bool {
        self.state == "ACTIVE"
            && self.sync_percent.is_none_or(|p| p >= 100.0)
            && self.slices.iter().all(|s| s.state == "ACTIVE")
    }

    /// The slice on class disk `disk`.
    pub fn slice(&self, disk: &str) -> Option<&SliceStatus> {
        self.slices.iter().find(|s| s.disk == disk)
    }
}

fn str_of(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

fn parse_status(doc: &Value) -> Result<Vec<VolumeStatus>, String> {
    let classes = doc
        .get(CLASSES)
        .and_then(Value::as_array)
        .ok_or(format!("no `{CLASSES}` array"))?;
    let mut out = Vec::new();
    for c in classes {
        let class = str_of(c, &CLASS_NAME).ok_or("a class without a name")?;
        let vols = c
            .get(VOLUMES)
            .and_then(Value::as_array)
            .ok_or(format!("class {class}: no `{VOLUMES}` array"))?;
        for v in vols {
            let name = str_of(v, &[VOLUME_NAME]).ok_or("a volume without a name")?;
            let slices = v
                .get(SLICES)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|s| SliceStatus {
                            disk: str_of(s, &[SLICE_DISK]).unwrap_or_default(),
                            state: str_of(s, &[STATE]).unwrap_or_default(),
                            sync_percent: s.get(SYNC).and_then(Value::as_f64),
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(VolumeStatus {
                class: class.clone(),
                state: str_of(v, &[STATE]).ok_or(format!("volume {name}: no `{STATE}`"))?,
                path: str_of(v, &[PATH]).unwrap_or_default(),
                size: v.get(SIZE).and_then(Value::as_u64),
                sync_percent: v.get(SYNC).and_then(Value::as_f64),
                name,
                slices,
            });
        }
    }
    Ok(out)
}

/// Runs `dmclass <args>` in the guest; any exit status.
pub fn dmclass(vm: &mut Vm, args: &str) -> Output {
    match vm.run(&format!("dmclass {args}")) {
        Ok(out) => out,
        Err(e) => vm.fail(&format!("`dmclass {args}` could not run: {e}"), None),
    }
}

/// Runs `dmclass <args>` and fails unless it exits 0.
pub fn dmclass_ok(vm: &mut Vm, args: &str) -> Output {
    let out = dmclass(vm, args);
    vm.check(
        out.success(),
        &format!("`dmclass {args}` exits 0"),
        Some(&out),
    );
    out
}

/// Runs `dmclass <args>` with `DMCLASS_FAILPOINT=<point>` and fails unless it stopped
/// there (exit 137, the point named), as a killed process would.
pub fn dmclass_stopped_at(vm: &mut Vm, point: &str, args: &str) -> Output {
    let cmd = format!("DMCLASS_FAILPOINT={point} dmclass {args}");
    let out = match vm.run(&cmd) {
        Ok(out) => out,
        Err(e) => vm.fail(&format!("`{cmd}` could not run: {e}"), None),
    };
    vm.check(
        out.status == 137 && out.stderr.contains(&format!("failpoint {point} reached")),
        &format!("`dmclass {args}` stops at failpoint {point} (exit 137, named)"),
        Some(&out),
    );
    out
}

/// Writes a configuration file into the guest.
pub fn put_config(vm: &mut Vm, path: &str, yaml: &str) {
    if let Err(e) = vm.put_file(path, yaml.as_bytes()) {
        vm.fail(&format!("writing {path}: {e}\n{yaml}"), None);
    }
}

/// `dmclass apply FILE --yes`, must exit 0.
pub fn apply(vm: &mut Vm, file: &str) -> Output {
    dmclass_ok(vm, &format!("apply {file} --yes"))
}

/// First apply of a file: `dmclass check FILE` then `dmclass apply FILE --yes`; both
/// must exit 0.
pub fn check_and_apply(vm: &mut Vm, file: &str) -> Output {
    dmclass_ok(vm, &format!("check {file}"));
    apply(vm, file)
}

/// `dmclass status [CLASS] --json` (must exit 0), parsed.
pub fn status(vm: &mut Vm, class: Option<&str>) -> (Vec<VolumeStatus>, Output) {
    let out = dmclass_ok(vm, &format!("status {} --json", class.unwrap_or("")));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .map_err(|e| e.to_string())
        .and_then(|doc| parse_status(&doc));
    match parsed {
        Ok(v) => (v, out),
        Err(e) => vm.fail(&format!("`status --json` unreadable: {e}"), Some(&out)),
    }
}

/// The status of one volume.
pub fn volume_status(vm: &mut Vm, class: &str, volume: &str) -> (VolumeStatus, Output) {
    let (vols, out) = status(vm, Some(class));
    match vols
        .into_iter()
        .find(|v| v.class == class && v.name == volume)
    {
        Some(v) => (v, out),
        None => vm.fail(
            &format!("volume {class}/{volume} not in status"),
            Some(&out),
        ),
    }
}

/// Polls `status CLASS --json` until every volume is synced; returns the last status.
pub fn wait_synced(vm: &mut Vm, class: &str, timeout: Duration) -> Vec<VolumeStatus> {
    let t0 = Instant::now();
    loop {
        let (vols, out) = status(vm, Some(class));
        if !vols.is_empty() && vols.iter().all(VolumeStatus::synced) {
            eprintln!(
                "{}: class {class} synced after {:?}",
                vm.spec().name,
                t0.elapsed()
            );
            return vols;
        }
        if t0.elapsed() > timeout {
            vm.fail(
                &format!("class {class} not synced within {timeout:?}"),
                Some(&out),
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Waits until the write-intent bitmap in every leg's `_rmeta` of `class/volume`
/// (`legs` legs, all present) has no dirty bit on disk, and returns how long that
/// took. md clears bits lazily (two passes of its daemon, 5 s apart, only while the
/// array is not degraded): a machine powered off right after a resync keeps the
/// resync's bits set, and a disk that later returns is copied in full. A machine that
/// runs on for a few seconds has a clean bitmap; scenarios that measure a bitmap
/// resync wait for that state rather than guess a sleep.
pub fn wait_bitmaps_clean(
    vm: &mut Vm,
    class: &str,
    volume: &str,
    legs: usize,
    timeout: Duration,
) -> Duration {
    let t0 = Instant::now();
    // Bytes of each rmeta from the bitmap's bits on (4096 + 256), read past the page
    // cache; everything after the bits is zero padding, so any non-zero byte is a
    // dirty chunk.
    let count = (0..legs)
        .map(|i| {
            format!(
                "dd if=/dev/mapper/{}_rmeta_{i} bs=4096 skip=1 iflag=direct 2>/dev/null \
                 | tail -c +257 | tr -d '\\000' | wc -c",
                dm_name(class, volume)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    loop {
        let out = vm.sh(&count);
        let dirty: Vec<u64> = out
            .stdout
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if dirty.len() == legs && dirty.iter().all(|&d| d == 0) {
            return t0.elapsed();
        }
        if t0.elapsed() > timeout {
            vm.fail(
                &format!(
                    "{class}/{volume}: write-intent bitmaps still dirty after {timeout:?} \
                     (non-zero bitmap bytes per leg: {dirty:?})"
                ),
                Some(&out),
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// `dmclass plan FILE --json` (must exit 0): per class, the number of actions.
pub fn plan_actions(vm: &mut Vm, file: &str) -> (Vec<(String, usize)>, Output) {
    let out = dmclass_ok(vm, &format!("plan {file} --json"));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| {
            doc.get(CLASSES)?
                .as_array()?
                .iter()
                .map(|c| Some((str_of(c, &PLAN_CLASS)?, c.get(ACTIONS)?.as_array()?.len())))
                .collect::<Option<Vec<_>>>()
        });
    match parsed {
        Some(p) => (p, out),
        None => vm.fail(
            &format!("`plan --json` has no `{CLASSES}[].{ACTIONS}` arrays"),
            Some(&out),
        ),
    }
}

/// One action of `plan --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// `zero_extent`, `format_area`, `write_metadata`, `create`, `load`, ...
    pub kind: String,
    /// dm name, disk name, or class name (for `write_metadata`).
    pub object: String,
}

/// `dmclass plan FILE --json` (must exit 0) of a file with one class: its actions.
pub fn plan_steps(vm: &mut Vm, file: &str) -> (Vec<PlanStep>, Output) {
    let out = dmclass_ok(vm, &format!("plan {file} --json"));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| match doc.get(CLASSES)?.as_array()?.as_slice() {
            [class] => class
                .get(ACTIONS)?
                .as_array()?
                .iter()
                .map(|a| {
                    Some(PlanStep {
                        kind: str_of(a, &[ACTION_KIND])?,
                        object: str_of(a, &[ACTION_OBJECT])?,
                    })
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        });
    match parsed {
        Some(p) => (p, out),
        None => vm.fail(
            &format!(
                "`plan --json`: expected one class with `{ACTIONS}[].{{{ACTION_KIND}, {ACTION_OBJECT}}}`"
            ),
            Some(&out),
        ),
    }
}

/// Class-level state in `status CLASS --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassFlags {
    /// An interrupted apply recorded in the metadata, not finished yet.
    pub pending_intent: Option<String>,
    /// Too few readable metadata copies: the class refuses changes.
    pub closed: bool,
}

/// `pending_intent` and `closed` of a class (`status CLASS --json`, must exit 0).
pub fn class_flags(vm: &mut Vm, class: &str) -> (ClassFlags, Output) {
    let out = dmclass_ok(vm, &format!("status {class} --json"));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| {
            let c = doc
                .get(CLASSES)?
                .as_array()?
                .iter()
                .find(|c| str_of(c, &CLASS_NAME).as_deref() == Some(class))?;
            Some(ClassFlags {
                pending_intent: c
                    .get(PENDING_INTENT)
                    .and_then(Value::as_str)
                    .map(str::to_string),
                closed: c.get(CLOSED)?.as_bool()?,
            })
        });
    match parsed {
        Some(f) => (f, out),
        None => vm.fail(
            &format!("`status --json`: class {class} with `{CLOSED}` not found"),
            Some(&out),
        ),
    }
}

/// dm name of a volume: `dmclass-<class>-<volume>`, `-` inside a name doubled.
pub fn dm_name(class: &str, volume: &str) -> String {
    format!(
        "dmclass-{}-{}",
        class.replace('-', "--"),
        volume.replace('-', "--")
    )
}

/// dm name of leg `leg`'s data device of a dm-raid volume.
pub fn rimage_name(class: &str, volume: &str, leg: usize) -> String {
    format!("{}{RIMAGE}{leg}", dm_name(class, volume))
}

/// User path of a volume.
pub fn vol_path(class: &str, volume: &str) -> String {
    format!("/dev/dmclass/{class}/{volume}")
}

/// A YAML flow mapping selecting `disk` by its by-id path: `{name: N, device: ...}`
/// plus `extra` (e.g. `", wipe: true"`).
pub fn disk_by_path(vm: &Vm, name: &str, disk: &DiskSpec, extra: &str) -> String {
    format!("{{name: {name}, device: {}{extra}}}", by_id(vm, disk))
}

/// A YAML flow mapping selecting `disk` by its WWN.
pub fn disk_by_wwn(vm: &Vm, name: &str, disk: &DiskSpec) -> String {
    match disk.expected_wwn() {
        Some(w) => format!("{{name: {name}, wwn: \"{w}\"}}"),
        None => vm.fail(&format!("disk {} has no WWN", disk.id), None),
    }
}

/// Writes `mib` MiB of fresh pseudo-random data (`dmclass-vm-random`) to `dev` (direct
/// I/O, fsync); returns its checksum ([`SUM_LEN`] hex digits).
pub fn write_random(vm: &mut Vm, dev: &str, mib: u64, tag: &str) -> String {
    let out = vm.sh(&format!(
        "set -e; {w}
         dmclass-vm-random {mib} >/tmp/{tag}.pat
         dd if=/tmp/{tag}.pat of={dev} bs=1M oflag=direct conv=fsync 2>&1 | grep -v records || true
         dmclass-vm-sum </tmp/{tag}.pat; rm -f /tmp/{tag}.pat",
        w = wait_exists(dev)
    ));
    let sum = out.stdout.lines().last().unwrap_or("").trim().to_string();
    vm.check(
        sum.len() == SUM_LEN,
        "checksum of the written data",
        Some(&out),
    );
    sum
}

/// The checksum of the first `mib` MiB of `dev`, read with direct I/O.
pub fn read_sum(vm: &mut Vm, dev: &str, mib: u64) -> String {
    let out = vm.sh(&format!(
        "set -e -o pipefail; {w}
         dd if={dev} bs=1M count={mib} iflag=direct 2>/dev/null | dmclass-vm-sum",
        w = wait_exists(dev)
    ));
    first_word(&out)
}

/// Writes `mib` MiB to `dev` and fails unless a read-back has the same checksum.
pub fn write_and_verify(vm: &mut Vm, dev: &str, mib: u64, tag: &str) -> String {
    let sum = write_random(vm, dev, mib, tag);
    let back = read_sum(vm, dev, mib);
    vm.check_eq(&format!("read-back of {dev}"), &sum, &back, None);
    sum
}

/// The data legs of a mirrored volume's top table: `(major:minor, offset in sectors)`
/// (`raid raid1`: the data device of each pair; `mirror`: each leg device and offset).
pub fn data_legs(target: &str, args: &[String]) -> Option<Vec<(String, u64)>> {
    let (n, first) = match target {
        "raid" => (raid_legs(args)?, 3 + args.get(1)?.parse::<usize>().ok()?),
        "mirror" => (mirror_legs(args)?, 3 + args.get(1)?.parse::<usize>().ok()?),
        _ => return None,
    };
    (0..n)
        .map(|i| {
            let (dev, off) = if target == "raid" {
                (args.get(first + 2 * i + 1)?, "0")
            } else {
                (
                    args.get(first + 2 * i)?,
                    args.get(first + 2 * i + 1)?.as_str(),
                )
            };
            Some((dev.clone(), off.parse().ok()?))
        })
        .collect()
}

/// The checksum of the first `mib` MiB of every data leg of a volume, read from the
/// devices its top table names (dm-raid: the `_rimage_N` devices; dm-mirror: the disks
/// at the legs' offsets).
pub fn leg_sums(vm: &mut Vm, class: &str, volume: &str, mib: u64) -> Vec<String> {
    let (target, args, out) = single_target(vm, &dm_name(class, volume));
    let Some(legs) = data_legs(&target, &args) else {
        vm.fail(
            &format!("{class}/{volume}: no legs in a `{target}` table"),
            Some(&out),
        );
    };
    legs.iter()
        .map(|(dev, off)| sum_at(vm, &format!("/dev/block/{dev}"), *off, mib))
        .collect()
}

/// The checksum of `mib` MiB of `path` from sector `offset`, read with direct I/O in
/// the largest blocks the offset allows (512-byte reads are slow under TCG).
pub fn sum_at(vm: &mut Vm, path: &str, offset: u64, mib: u64) -> String {
    let bs = [2048, 128, 8, 1]
        .into_iter()
        .find(|b| offset.is_multiple_of(*b))
        .unwrap_or(1);
    let out = vm.sh(&format!(
        "set -e -o pipefail; dd if={path} bs={} skip={} count={} iflag=direct 2>/dev/null \
         | dmclass-vm-sum",
        bs * 512,
        offset / bs,
        mib * 2048 / bs
    ));
    first_word(&out)
}

/// `dmsetup table` of a dm device (must exist): one `(target, args)` per line.
pub fn dm_table(vm: &mut Vm, name: &str) -> (Vec<(String, Vec<String>)>, Output) {
    let out = vm.sh(&format!("dmsetup table {name}"));
    let lines = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().skip(2);
            Some((w.next()?.to_string(), w.map(str::to_string).collect()))
        })
        .collect();
    (lines, out)
}

/// The target of a single-line table, or a failure.
pub fn single_target(vm: &mut Vm, name: &str) -> (String, Vec<String>, Output) {
    let (mut lines, out) = dm_table(vm, name);
    if lines.len() != 1 {
        vm.fail(&format!("table of {name}: expected one line"), Some(&out));
    }
    let (t, a) = lines.remove(0);
    (t, a, out)
}

/// Number of legs in a `raid raid1 <#p> <p...> <#devs> ...` table.
pub fn raid_legs(args: &[String]) -> Option<usize> {
    let nparams: usize = args.get(1)?.parse().ok()?;
    args.get(2 + nparams)?.parse().ok()
}

/// Number of legs in a `mirror <log type> <#log args> <log args...> <#devs> ...` table.
pub fn mirror_legs(args: &[String]) -> Option<usize> {
    let nlog: usize = args.get(1)?.parse().ok()?;
    args.get(2 + nlog)?.parse().ok()
}

/// The health characters of `dmsetup status` of a raid device (`AA`, `AD`, ...).
pub fn raid_health(vm: &mut Vm, name: &str) -> (String, Output) {
    let out = vm.sh(&format!("dmsetup status {name}"));
    let w: Vec<&str> = out.stdout.split_whitespace().collect();
    let health = match w.get(2) {
        Some(&"raid") => w.get(5).copied().unwrap_or(""),
        _ => "",
    };
    (health.to_string(), out)
}

/// Whether stderr warns about a degraded assembly.
pub fn warns_degraded(out: &Output) -> bool {
    let e = out.stderr.to_lowercase();
    e.contains("degraded")
}

/// sha256 of whole host disk files (what a refused apply must leave untouched).
pub fn host_disk_sums(vm: &Vm) -> Vec<(String, String)> {
    vm.spec()
        .disks
        .iter()
        .map(|d| {
            let path = vm.disk_file(&d.id);
            let out = std::process::Command::new("sha256sum")
                .arg(&path)
                .output()
                .unwrap_or_else(|e| vm.fail(&format!("sha256sum {}: {e}", path.display()), None));
            let text = String::from_utf8_lossy(&out.stdout);
            (
                d.id.clone(),
                text.split_whitespace().next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// A configuration with one local class: `disks`, `groups` and `volumes` are YAML flow
/// mappings, one per list item.
pub fn class_yaml(
    vm: &Vm,
    class: &str,
    disks: &[String],
    groups: &[&str],
    volumes: &[&str],
) -> String {
    let list = |items: Vec<String>| -> String {
        items.iter().fold(String::new(), |mut acc, i| {
            acc.push_str("      - ");
            acc.push_str(i);
            acc.push('\n');
            acc
        })
    };
    let mut y = format!(
        "version: 1\nenvironment: {}\nclasses:\n  - name: {class}\n    type: local\n    disks:\n{}",
        vm.spec().personality.environment(),
        list(disks.to_vec())
    );
    if !groups.is_empty() {
        y.push_str("    groups:\n");
        y.push_str(&list(groups.iter().map(|s| (*s).to_string()).collect()));
    }
    y.push_str("    volumes:\n");
    y.push_str(&list(volumes.iter().map(|s| (*s).to_string()).collect()));
    y
}

/// A local class on every disk of the VM (each named by its disk id, selected by its
/// by-id path), one mirror group `g1` of `members`, and `volumes`.
pub fn mirror_class(vm: &Vm, class: &str, members: &[&str], volumes: &[&str]) -> String {
    let disks: Vec<String> = vm
        .spec()
        .disks
        .iter()
        .map(|d| disk_by_path(vm, &d.id, d, ""))
        .collect();
    let group = format!(
        "{{name: g1, type: mirror, members: [{}]}}",
        members.join(", ")
    );
    class_yaml(vm, class, &disks, &[&group], volumes)
}

/// `(name, state)` of every registered disk of a class in `status CLASS --json`
/// (`ENABLE`, `DISABLE`, `SPARE`); must exit 0.
pub fn disk_states(vm: &mut Vm, class: &str) -> (Vec<(String, String)>, Output) {
    let out = dmclass_ok(vm, &format!("status {class} --json"));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| {
            let c = doc
                .get(CLASSES)?
                .as_array()?
                .iter()
                .find(|c| str_of(c, &CLASS_NAME).as_deref() == Some(class))?;
            c.get(DISKS)?
                .as_array()?
                .iter()
                .map(|d| Some((str_of(d, &[DISK_NAME])?, str_of(d, &[STATE])?)))
                .collect::<Option<Vec<_>>>()
        });
    match parsed {
        Some(d) => (d, out),
        None => vm.fail(
            &format!("`status --json`: class {class} with `{DISKS}[].{{{DISK_NAME}, {STATE}}}` not found"),
            Some(&out),
        ),
    }
}

/// The metadata generation of a class in `status CLASS --json`; must exit 0.
pub fn class_generation(vm: &mut Vm, class: &str) -> (u64, Output) {
    let out = dmclass_ok(vm, &format!("status {class} --json"));
    let g = serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .and_then(|doc| {
            doc.get(CLASSES)?
                .as_array()?
                .iter()
                .find(|c| str_of(c, &CLASS_NAME).as_deref() == Some(class))?
                .get(GENERATION)?
                .as_u64()
        });
    match g {
        Some(g) => (g, out),
        None => vm.fail(
            &format!("`status --json`: class {class} without `{GENERATION}`"),
            Some(&out),
        ),
    }
}
