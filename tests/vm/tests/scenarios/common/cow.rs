//! Copy-on-write snapshots in the guest: `status --json` snapshot entries, the dm
//! layers of a snapshot stack (`-real`, `-cow`) and the tables they carry.
//!
//! Like `dmclass.rs`, every JSON field name and dm layer suffix the snapshot scenarios
//! depend on is spelled here only.

use super::dmclass::{dm_name, dmclass_ok, single_target};
use dmclass_vmtest::{Output, Vm};
use serde_json::Value;

// `status --json`, per class
const CLASSES: &str = "classes";
const CLASS_NAME: [&str; 2] = ["name", "class"];
const SNAPSHOTS: &str = "snapshots";
const NAME: &str = "name";
const KIND: &str = "kind";
const ORIGIN: &str = "origin";
const STATE: &str = "state";
const PATH: &str = "path";
const SIZE: &str = "size";
const CHUNK: &str = "chunk";
const USAGE: &str = "usage";
const ALLOCATED: &str = "allocated";
const TOTAL: &str = "total";
const NOTE: &str = "note";
// dm layer suffixes (docs/cli.md, engine names.rs)
const REAL: &str = "-real";
const COW: &str = "-cow";

/// One snapshot in `status --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotStatus {
    /// Class name.
    pub class: String,
    /// Snapshot name.
    pub name: String,
    /// `cow`.
    pub kind: String,
    /// Origin volume.
    pub origin: String,
    /// ACTIVE, STOP, INVALID, MERGING.
    pub state: String,
    /// User path (`/dev/dmclass/<class>/<snapshot>`).
    pub path: String,
    /// COW store size in bytes.
    pub size: Option<u64>,
    /// Chunk size in bytes.
    pub chunk: Option<u64>,
    /// `(allocated, total)` bytes of the store, while the kernel reports it.
    pub usage: Option<(u64, u64)>,
    /// Remark (deferred or finished merge).
    pub note: Option<String>,
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn parse(doc: &Value) -> Result<Vec<SnapshotStatus>, String> {
    let classes = doc
        .get(CLASSES)
        .and_then(Value::as_array)
        .ok_or(format!("no `{CLASSES}` array"))?;
    let mut out = Vec::new();
    for c in classes {
        let class = CLASS_NAME
            .iter()
            .find_map(|k| text(c, k))
            .ok_or("a class without a name")?;
        let snaps = c
            .get(SNAPSHOTS)
            .and_then(Value::as_array)
            .ok_or(format!("class {class}: no `{SNAPSHOTS}` array"))?;
        for s in snaps {
            let name = text(s, NAME).ok_or("a snapshot without a name")?;
            let usage = s.get(USAGE).filter(|u| !u.is_null());
            out.push(SnapshotStatus {
                class: class.clone(),
                kind: text(s, KIND).unwrap_or_default(),
                origin: text(s, ORIGIN).unwrap_or_default(),
                state: text(s, STATE).ok_or(format!("snapshot {name}: no `{STATE}`"))?,
                path: text(s, PATH).unwrap_or_default(),
                size: s.get(SIZE).and_then(Value::as_u64),
                chunk: s.get(CHUNK).and_then(Value::as_u64),
                usage: match usage {
                    None => None,
                    Some(u) => Some((
                        u.get(ALLOCATED)
                            .and_then(Value::as_u64)
                            .ok_or(format!("snapshot {name}: `{USAGE}.{ALLOCATED}`"))?,
                        u.get(TOTAL)
                            .and_then(Value::as_u64)
                            .ok_or(format!("snapshot {name}: `{USAGE}.{TOTAL}`"))?,
                    )),
                },
                note: text(s, NOTE),
                name,
            });
        }
    }
    Ok(out)
}

/// The snapshots of `class` in `status CLASS --json` (must exit 0).
pub fn snapshots(vm: &mut Vm, class: &str) -> (Vec<SnapshotStatus>, Output) {
    let out = dmclass_ok(vm, &format!("status {class} --json"));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .map_err(|e| e.to_string())
        .and_then(|doc| parse(&doc));
    match parsed {
        Ok(v) => (v.into_iter().filter(|s| s.class == class).collect(), out),
        Err(e) => vm.fail(
            &format!("`status --json` snapshots unreadable: {e}"),
            Some(&out),
        ),
    }
}

/// The status of one snapshot (must be listed).
pub fn snapshot_status(vm: &mut Vm, class: &str, snap: &str) -> (SnapshotStatus, Output) {
    let (snaps, out) = snapshots(vm, class);
    match snaps.into_iter().find(|s| s.name == snap) {
        Some(s) => (s, out),
        None => vm.fail(
            &format!("snapshot {class}/{snap} not in status"),
            Some(&out),
        ),
    }
}

/// dm name of an origin's hidden data device (`dmclass-<class>-<volume>-real`).
pub fn real_name(class: &str, volume: &str) -> String {
    format!("{}{REAL}", dm_name(class, volume))
}

/// dm name of a snapshot's hidden COW store (`dmclass-<class>-<snapshot>-cow`).
pub fn cow_name(class: &str, snap: &str) -> String {
    format!("{}{COW}", dm_name(class, snap))
}

/// Whether a dm device of that name exists.
pub fn dm_exists(vm: &mut Vm, name: &str) -> bool {
    vm.sh(&format!(
        "dmsetup info {name} >/dev/null 2>&1 && echo yes || echo no"
    ))
    .stdout
    .trim()
        == "yes"
}

/// `major:minor` of a dm device (must exist).
pub fn dm_devnum(vm: &mut Vm, name: &str) -> String {
    vm.sh(&format!(
        "dmsetup info -c --noheadings -o major,minor --separator : {name}"
    ))
    .stdout
    .trim()
    .to_string()
}

/// The names of the dmclass dm devices whose name ends in a snapshot layer suffix
/// (`-real`, `-cow`).
pub fn snapshot_layers(vm: &mut Vm) -> (Vec<String>, Output) {
    let out = vm.sh("dmsetup ls | cut -f1 | cut -d' ' -f1");
    let names = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with("dmclass-") && (n.ends_with(REAL) || n.ends_with(COW)))
        .map(str::to_string)
        .collect();
    (names, out)
}

/// The origin's top table while it has snapshots: `snapshot-origin <real>`, with
/// `<real>` the `-real` device, whose table is returned (the volume's own table).
/// With `merging`, the top table must be `snapshot-merge <real> <cow of snap> P <chunk>`
/// (`chunk` in sectors).
pub fn check_origin_stack(
    vm: &mut Vm,
    (class, volume, snap): (&str, &str, &str),
    chunk: u64,
    merging: bool,
) -> (String, Vec<String>) {
    let real = real_name(class, volume);
    let (rt, rargs, out) = single_target(vm, &real);
    vm.check(
        rt == "raid" && rargs.first().map(String::as_str) == Some("raid1"),
        &format!("{real} carries the volume's raid1 table"),
        Some(&out),
    );
    let real_dev = dm_devnum(vm, &real);
    let top = dm_name(class, volume);
    let (t, args, out) = single_target(vm, &top);
    let want: Vec<String> = if merging {
        let cow_dev = dm_devnum(vm, &cow_name(class, snap));
        vec![real_dev, cow_dev, "P".into(), chunk.to_string()]
    } else {
        vec![real_dev]
    };
    let target = if merging {
        "snapshot-merge"
    } else {
        "snapshot-origin"
    };
    vm.check(
        t == target && args == want,
        &format!("{top} is `{target} {}`", want.join(" ")),
        Some(&out),
    );
    (rt, rargs)
}

/// A snapshot's table: `snapshot <origin -real> <-cow> P <chunk>` (`chunk` in sectors),
/// the `-cow` store a raid1.
pub fn check_snapshot_table(vm: &mut Vm, (class, volume, snap): (&str, &str, &str), chunk: u64) {
    let cow = cow_name(class, snap);
    let (ct, cargs, out) = single_target(vm, &cow);
    vm.check(
        ct == "raid" && cargs.first().map(String::as_str) == Some("raid1"),
        &format!("COW store {cow} is a raid1"),
        Some(&out),
    );
    let want = vec![
        dm_devnum(vm, &real_name(class, volume)),
        dm_devnum(vm, &cow),
        "P".to_string(),
        chunk.to_string(),
    ];
    let name = dm_name(class, snap);
    let (t, args, out) = single_target(vm, &name);
    vm.check(
        t == "snapshot" && args == want,
        &format!("{name} is `snapshot {}`", want.join(" ")),
        Some(&out),
    );
}

/// Appends a `snapshots:` list (YAML flow mappings) to a one-class configuration made
/// by [`super::dmclass::class_yaml`].
pub fn with_snapshots(yaml: &str, snaps: &[&str]) -> String {
    let mut y = yaml.to_string();
    y.push_str("    snapshots:\n");
    for s in snaps {
        y.push_str("      - ");
        y.push_str(s);
        y.push('\n');
    }
    y
}
