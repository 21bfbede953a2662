//! Which functions of the matrix a class uses, and on which disks.

use crate::matrix::Function;
use dmclass_model::{Class, ClassType, CopyMode, DiskRole, GroupKind, SnapshotKind, Span};
use std::collections::{BTreeMap, BTreeSet};

/// Nesting bound when resolving groups: the model allows mirror -> stripe/concat -> disk;
/// the bound keeps a malformed (cyclic) config from recursing without end.
const MAX_DEPTH: usize = 4;

/// One function a class uses: the disks it touches and the objects that need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Use {
    /// The function.
    pub function: Function,
    /// Disk names (within the class).
    pub disks: BTreeSet<String>,
    /// Groups, volumes, snapshots or disks that need the function.
    pub objects: Vec<String>,
    /// Where the first of them is declared.
    pub span: Span,
}

/// Disk names reached from `name` (a disk, or a group and its sub-groups).
pub(crate) fn disks_of(class: &Class, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(class, name, 0, &mut out);
    out
}

fn collect(class: &Class, name: &str, depth: usize, out: &mut BTreeSet<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    if class.disks.iter().any(|d| d.name.as_str() == name) {
        out.insert(name.to_string());
        return;
    }
    if let Some(g) = class.groups.iter().find(|g| g.name.as_str() == name) {
        for m in &g.members {
            collect(class, m.value.as_str(), depth + 1, out);
        }
    }
}

/// Disks under the volume named `volume` (empty when it does not exist).
fn volume_disks(class: &Class, volume: &str) -> BTreeSet<String> {
    class
        .volumes
        .iter()
        .find(|v| v.name.as_str() == volume)
        .map(|v| disks_of(class, v.on.value.as_str()))
        .unwrap_or_default()
}

/// The functions `class` uses, one [`Use`] per function, in [`Function::ALL`] order.
fn add(
    uses: &mut BTreeMap<Function, Use>,
    f: Function,
    disks: BTreeSet<String>,
    object: &str,
    span: Span,
) {
    let u = uses.entry(f).or_insert_with(|| Use {
        function: f,
        disks: BTreeSet::new(),
        objects: Vec::new(),
        span,
    });
    u.disks.extend(disks);
    if !u.objects.iter().any(|o| o == object) {
        u.objects.push(object.to_string());
    }
}

pub(crate) fn class_uses(class: &Class) -> Vec<Use> {
    let mut uses: BTreeMap<Function, Use> = BTreeMap::new();
    let mirror_fn = if class.class_type == ClassType::Root {
        Function::SystemDiskMirroring
    } else {
        Function::DiskMirroring
    };
    // Stripe/concat groups under a mirror are part of the mirror.
    let under_mirror: BTreeSet<&str> = class
        .groups
        .iter()
        .filter(|g| g.kind == GroupKind::Mirror)
        .flat_map(|g| g.members.iter().map(|m| m.value.as_str()))
        .collect();
    let mut grouped: BTreeSet<String> = BTreeSet::new();
    for g in &class.groups {
        let disks = disks_of(class, g.name.as_str());
        grouped.extend(disks.iter().cloned());
        let f = match g.kind {
            GroupKind::Mirror => mirror_fn,
            GroupKind::Netmirror => Function::InterServerMirroring,
            GroupKind::Stripe { .. } | GroupKind::Concat => {
                if under_mirror.contains(g.name.as_str()) {
                    continue;
                }
                Function::DiskManagement
            }
        };
        add(&mut uses, f, disks, g.name.as_str(), g.span);
    }
    let mut loose = BTreeSet::new();
    for d in &class.disks {
        let name = d.name.as_str();
        match d.role {
            DiskRole::Single => add(
                &mut uses,
                Function::DiskManagement,
                BTreeSet::from([name.to_string()]),
                name,
                d.span,
            ),
            DiskRole::Spare => {
                let f = if class.groups.iter().any(|g| g.kind == GroupKind::Mirror) {
                    mirror_fn
                } else {
                    Function::DiskManagement
                };
                add(
                    &mut uses,
                    f,
                    BTreeSet::from([name.to_string()]),
                    name,
                    d.span,
                );
            }
            DiskRole::Member | DiskRole::Keep => {
                if !grouped.contains(name) {
                    loose.insert(name.to_string());
                }
            }
        }
    }
    for s in &class.snapshots {
        let origin = volume_disks(class, s.origin.value.as_str());
        let name = s.name.as_str();
        match &s.kind {
            SnapshotKind::Cow { .. } => add(&mut uses, Function::CowSnapshot, origin, name, s.span),
            SnapshotKind::Proxy { on, copy, .. } => {
                let mut disks = origin;
                disks.extend(disks_of(class, on.value.as_str()));
                if class.class_type == ClassType::Root {
                    add(
                        &mut uses,
                        Function::AlternativeBoot,
                        disks.clone(),
                        name,
                        s.span,
                    );
                }
                if *copy == CopyMode::Offload {
                    add(
                        &mut uses,
                        Function::CopyOffload,
                        disks.clone(),
                        name,
                        s.span,
                    );
                }
                add(&mut uses, Function::ProxySnapshot, disks, name, s.span);
            }
        }
    }
    // Registered disks outside every group are used by whatever the class does; a class
    // that does nothing else still manages them.
    if !loose.is_empty() {
        if uses.is_empty() {
            let first = class
                .disks
                .iter()
                .find(|d| loose.contains(d.name.as_str()))
                .map_or(class.span, |d| d.span);
            add(
                &mut uses,
                Function::DiskManagement,
                loose.clone(),
                class.name.as_str(),
                first,
            );
        } else {
            for u in uses.values_mut() {
                u.disks.extend(loose.iter().cloned());
            }
        }
    }
    uses.into_values().collect()
}
