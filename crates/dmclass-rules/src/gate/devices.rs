//! Resolving configured disks against the facts, and the per-disk safety checks.

use super::report::Finding;
use crate::facts::{DiskFacts, Facts};
use dmclass_model::{Class, Config, Disk, DiskRole, DiskSelector};
use std::collections::BTreeMap;
use std::path::Path;

/// Why a selector found no single disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// Nothing matches.
    NotFound,
    /// Several disks match (their device nodes).
    Ambiguous(Vec<String>),
}

fn same_path(a: &Path, b: &Path) -> bool {
    // Links may be recorded relative to /dev (`disk/by-id/...`, as udev's DEVLINKS).
    let norm = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            Path::new("/dev").join(p)
        }
    };
    norm(a) == norm(b)
}

fn strip_wwn(w: &str) -> String {
    let w = w.trim();
    let w = w
        .strip_prefix("0x")
        .or_else(|| w.strip_prefix("0X"))
        .unwrap_or(w);
    w.to_ascii_lowercase()
}

/// True when `sel` designates `d` (by device path or link, serial, or WWN with or
/// without `0x`). The one definition of "this config disk is that disk": the gate and
/// the planner's disk binding both use it.
pub fn matches(sel: &DiskSelector, d: &DiskFacts) -> bool {
    let prop = |k: &str| d.properties.get(k).map(|v| v.trim());
    match sel {
        DiskSelector::Device(p) => {
            same_path(p, &d.devnode) || d.links.iter().any(|l| same_path(p, l))
        }
        DiskSelector::Serial(s) => {
            let s = s.trim();
            !s.is_empty()
                && (d.serial.as_deref().map(str::trim) == Some(s)
                    || prop("ID_SERIAL_SHORT") == Some(s)
                    || prop("ID_SERIAL") == Some(s))
        }
        DiskSelector::Wwn(w) => {
            let w = strip_wwn(w);
            !w.is_empty()
                && [
                    d.wwn.as_deref(),
                    prop("ID_WWN"),
                    prop("ID_WWN_WITH_EXTENSION"),
                ]
                .into_iter()
                .flatten()
                .any(|x| strip_wwn(x) == w)
        }
    }
}

/// The index in `facts.disks` of the one disk `sel` designates.
pub(crate) fn resolve(sel: &DiskSelector, facts: &Facts) -> Result<usize, Unresolved> {
    let hits: Vec<usize> = (0..facts.disks.len())
        .filter(|&i| matches(sel, &facts.disks[i]))
        .collect();
    match hits.as_slice() {
        [] => Err(Unresolved::NotFound),
        [one] => Ok(*one),
        many => Err(Unresolved::Ambiguous(
            many.iter()
                .map(|&i| facts.disks[i].devnode.display().to_string())
                .collect(),
        )),
    }
}

pub(crate) fn selector_text(sel: &DiskSelector) -> String {
    match sel {
        DiskSelector::Device(p) => format!("device {}", p.display()),
        DiskSelector::Serial(s) => format!("serial {s}"),
        DiskSelector::Wwn(w) => format!("wwn {w}"),
    }
}

fn finding(
    rule: &[&str],
    class: &Class,
    disk: &Disk,
    message: String,
    hint: Option<&str>,
) -> Finding {
    Finding {
        rule: rule.iter().map(|s| (*s).to_string()).collect(),
        class: Some(class.name.to_string()),
        object: Some(disk.name.to_string()),
        span: Some(disk.span),
        message,
        hint: hint.map(str::to_string),
    }
}

/// Resolves every configured disk; denies unknown, ambiguous, duplicated, excluded, busy
/// and signed disks. Returns, per class index and disk name, the resolved facts index.
pub(crate) fn check_disks(
    config: &Config,
    facts: &Facts,
    denials: &mut Vec<Finding>,
) -> Vec<BTreeMap<String, usize>> {
    let mut seen: BTreeMap<usize, (String, String)> = BTreeMap::new();
    let excluded: Vec<usize> = config
        .exclude
        .iter()
        .filter_map(|e| resolve(&DiskSelector::Device(e.value.clone()), facts).ok())
        .collect();
    let mut out = Vec::with_capacity(config.classes.len());
    for class in &config.classes {
        let mut resolved = BTreeMap::new();
        for disk in &class.disks {
            let idx = match resolve(&disk.selector, facts) {
                Ok(i) => i,
                Err(Unresolved::NotFound) => {
                    denials.push(finding(
                        &[],
                        class,
                        disk,
                        format!(
                            "no disk with {} on this machine",
                            selector_text(&disk.selector)
                        ),
                        Some("`dmclass probe` lists the disks and their ids"),
                    ));
                    continue;
                }
                Err(Unresolved::Ambiguous(nodes)) => {
                    denials.push(finding(
                        &[],
                        class,
                        disk,
                        format!(
                            "{} matches several disks: {}",
                            selector_text(&disk.selector),
                            nodes.join(", ")
                        ),
                        Some("select the disk by a /dev/disk/by-id path or its WWN"),
                    ));
                    continue;
                }
            };
            let d = &facts.disks[idx];
            let node = d.devnode.display().to_string();
            if let Some((c, n)) = seen.get(&idx) {
                denials.push(finding(
                    &[],
                    class,
                    disk,
                    format!("{node} is already used as disk `{n}` of class `{c}`"),
                    Some("each physical disk may be registered once"),
                ));
                continue;
            }
            seen.insert(idx, (class.name.to_string(), disk.name.to_string()));
            resolved.insert(disk.name.to_string(), idx);
            if excluded.contains(&idx) {
                denials.push(finding(
                    &["N3"],
                    class,
                    disk,
                    format!("{node} is in the `exclude:` list"),
                    Some("a KVM host must not register the disks it passes to guests; remove it from the class or from `exclude:`"),
                ));
            }
            check_use(class, disk, d, denials);
        }
        out.push(resolved);
    }
    out
}

/// Busy disks and foreign signatures.
fn check_use(class: &Class, disk: &Disk, d: &DiskFacts, denials: &mut Vec<Finding>) {
    let node = d.devnode.display();
    // The keep disk is the running system disk: its partitions are mounted (the
    // conversion writes only into free space and one new partition entry). Other
    // holders (LVM, md, another dm) are refused: dm-raid over a partition something
    // else assembles would show the same data twice. Once converted (our label), its
    // holders are this class's own devices.
    let converted = d
        .dmclass
        .as_ref()
        .is_some_and(|l| l.class == class.name.as_str());
    let busy = if disk.role == DiskRole::Keep {
        !converted && !d.in_use.holders.is_empty()
    } else {
        d.in_use.is_busy()
    };
    if busy {
        let mut what = Vec::new();
        if disk.role != DiskRole::Keep {
            for m in &d.in_use.mounted {
                what.push(format!("mounted on {}", m.display()));
            }
        }
        for h in &d.in_use.holders {
            what.push(format!("held by {h}"));
        }
        if d.in_use.exclusive && disk.role != DiskRole::Keep {
            what.push("opened exclusively by another process".to_string());
        }
        denials.push(finding(
            &[],
            class,
            disk,
            format!("{node} is in use: {}", what.join(", ")),
            Some("unmount it or stop its holder first; dmclass never touches a disk in use"),
        ));
    }
    if disk.wipe || disk.role == DiskRole::Keep {
        return;
    }
    let ours = |label: Option<&str>| label == Some(class.name.as_str());
    let label_class = d.dmclass.as_ref().map(|l| l.class.as_str());
    let foreign: Vec<String> = d
        .signatures
        .iter()
        .filter(|s| !(s.sig_type == "dmclass" && (ours(s.label.as_deref()) || ours(label_class))))
        .map(|s| match &s.label {
            Some(l) if s.sig_type == "dmclass" => format!("dmclass (class `{l}`)"),
            Some(l) => format!("{} (label `{l}`)", s.sig_type),
            None => s.sig_type.clone(),
        })
        .collect();
    let foreign_label = label_class.filter(|c| !ours(Some(c)) && d.signatures.is_empty());
    if !foreign.is_empty() || foreign_label.is_some() {
        let what =
            foreign_label.map_or_else(|| foreign.join(", "), |c| format!("dmclass (class `{c}`)"));
        denials.push(finding(
            &[],
            class,
            disk,
            format!("{node} carries {what}"),
            Some("set `wipe: true` on the disk to overwrite it"),
        ));
    }
}
