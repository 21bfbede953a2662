//! Note N3 (a KVM host and its guests both run dmclass), warned on evidence only.
//!
//! The seed's note concerns a host whose guests run dmclass too: the host must not
//! register the disks only guests use, and host and guest classes should be named
//! differently. A host configuration without `exclude:` is no evidence of either (most
//! hosts pass no raw disk to a guest), so the gate warns only on what the facts show:
//!
//! 1. a disk the configuration registers carries the dmclass label of a class the
//!    configuration does not define (a guest's class, most likely);
//! 2. a disk is held open by a running QEMU process (libvirt's included): a guest's
//!    disk — registered by the configuration, or carrying a dmclass label and missing
//!    from `exclude:`;
//! 3. a host class has the name of a class found in the label of such a guest disk.
//!
//! Independently of the environment, a class name the disks show with two class
//! UUIDs is warned about (two classes, one name: the clash the note wants avoided).
//! Facts that do not know the guest openers (`guest_openers: null`) give no evidence.

use super::devices::resolve;
use super::report::Finding;
use crate::facts::{DiskFacts, Facts};
use crate::matrix::Matrix;
use dmclass_model::{Config, DiskSelector, Environment};
use std::collections::{BTreeMap, BTreeSet};

fn warn(m: &Matrix, class: Option<&str>, object: Option<&str>, message: String) -> Finding {
    Finding {
        rule: vec!["N3".into()],
        class: class.map(str::to_string),
        object: object.map(str::to_string),
        span: None,
        message,
        hint: m.note("N3").map(|n| n.text.clone()),
    }
}

/// The guest processes holding `d` open, when there is evidence of any.
fn guests(d: &DiskFacts) -> Option<String> {
    d.guest_openers
        .as_ref()
        .filter(|g| !g.is_empty())
        .map(|g| g.join(", "))
}

/// N3 warnings for `config` on the machine `facts` describes (`env`: the environment
/// in force); `resolved`: per class, disk name → index in `facts.disks`.
pub(super) fn n3_warnings(
    m: &Matrix,
    config: &Config,
    facts: &Facts,
    env: Environment,
    resolved: &[BTreeMap<String, usize>],
    warnings: &mut Vec<Finding>,
) {
    if env == Environment::KvmHost {
        on_host(m, config, facts, resolved, warnings);
    }
    for class in &config.classes {
        let uuids: BTreeSet<&str> = facts
            .disks
            .iter()
            .filter_map(|d| d.dmclass.as_ref())
            .filter(|l| l.class == class.name.as_str())
            .filter_map(|l| l.class_uuid.as_deref())
            .collect();
        if uuids.len() > 1 {
            let mut f = warn(
                m,
                Some(class.name.as_str()),
                None,
                format!(
                    "disks on this machine carry two different classes named `{}` (class UUIDs {})",
                    class.name,
                    uuids.into_iter().collect::<Vec<_>>().join(", ")
                ),
            );
            f.span = Some(class.span);
            warnings.push(f);
        }
    }
}

fn on_host(
    m: &Matrix,
    config: &Config,
    facts: &Facts,
    resolved: &[BTreeMap<String, usize>],
    warnings: &mut Vec<Finding>,
) {
    let defined: BTreeSet<&str> = config.classes.iter().map(|c| c.name.as_str()).collect();
    let mut registered: BTreeSet<usize> = BTreeSet::new();
    for (class, disks) in config.classes.iter().zip(resolved) {
        for disk in &class.disks {
            let Some(&i) = disks.get(disk.name.as_str()) else {
                continue;
            };
            let Some(d) = facts.disks.get(i) else {
                continue;
            };
            registered.insert(i);
            let node = d.devnode.display();
            let mut push = |message: String| {
                let mut f = warn(
                    m,
                    Some(class.name.as_str()),
                    Some(disk.name.as_str()),
                    message,
                );
                f.span = Some(disk.span);
                warnings.push(f);
            };
            // (1) The label of a class this configuration does not define.
            if let Some(l) = d
                .dmclass
                .as_ref()
                .filter(|l| !defined.contains(l.class.as_str()))
            {
                push(format!(
                    "{node} carries the dmclass label of class `{}`, which this configuration does not define: it looks like a guest's disk; add it to `exclude:`",
                    l.class
                ));
            }
            // (2) Open by a running guest.
            if let Some(who) = guests(d) {
                push(format!(
                    "{node} is open by a running guest ({who}); a disk a guest uses must not be registered on the host; add it to `exclude:`"
                ));
            }
        }
    }
    let excluded: BTreeSet<usize> = config
        .exclude
        .iter()
        .filter_map(|e| resolve(&DiskSelector::Device(e.value.clone()), facts).ok())
        .collect();
    for (i, d) in facts.disks.iter().enumerate() {
        let (Some(who), Some(label)) = (guests(d), d.dmclass.as_ref()) else {
            continue;
        };
        let node = d.devnode.display();
        // (2) A guest's dmclass disk the host would not keep its hands off.
        if !registered.contains(&i) && !excluded.contains(&i) {
            warnings.push(warn(
                m,
                None,
                Some(&node.to_string()),
                format!(
                    "{node} is open by a running guest ({who}) and carries the guest's dmclass class `{}`; add it to `exclude:`",
                    label.class
                ),
            ));
        }
        // (3) A host class named like the guest's class.
        if let Some(class) = config
            .classes
            .iter()
            .find(|c| c.name.as_str() == label.class)
        {
            let mut f = warn(
                m,
                Some(class.name.as_str()),
                None,
                format!(
                    "host class `{}` has the name of the class on guest disk {node} (open by {who}); give host and guest classes different names",
                    class.name
                ),
            );
            f.span = Some(class.span);
            warnings.push(f);
        }
    }
}

#[cfg(test)]
#[path = "n3_tests.rs"]
mod tests;
