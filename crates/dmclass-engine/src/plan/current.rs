//! Which class the bound disks hold now, with the safety checks on every disk.

use super::{Actual, AreaState, DiskBinding};
use crate::error::{EngineError, Result};
use crate::metadata::{ClassMeta, DecodedArea};
use dmclass_model::Class;

/// The class as it is on the bound disks.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    /// Newest valid description (None: the class does not exist yet).
    pub(crate) meta: Option<ClassMeta>,
    /// dm names of the live dmclass devices with a live table (a proxy rejoin copies
    /// from its master only while the master is live).
    pub(crate) live: Vec<String>,
}

/// Check every bound disk and find the class's newest metadata.
pub(crate) fn current(
    desired: &Class,
    bindings: &[DiskBinding],
    actual: &Actual,
) -> Result<Current> {
    let name = desired.name.as_str();
    let mut members: Vec<(&DiskBinding, &DecodedArea)> = Vec::new();
    for b in bindings {
        let obj = format!("disk {}", b.name);
        match actual.areas.get(&b.name) {
            None => {
                return Err(EngineError::refused(
                    name,
                    &obj,
                    "its private area was not read",
                ));
            }
            Some(AreaState::Blank) => {}
            Some(AreaState::Hostile { reason, .. }) => {
                return Err(EngineError::refused(
                    name,
                    &obj,
                    format!(
                        "{} carries a crafted dmclass label ({reason}); it is DISABLE and dmclass will not write to it",
                        b.path.display()
                    ),
                ));
            }
            Some(AreaState::Unreadable(why)) => {
                return Err(EngineError::refused(
                    name,
                    &obj,
                    format!(
                        "{} carries a damaged dmclass area ({why}); dmclass will not write to it",
                        b.path.display()
                    ),
                ));
            }
            Some(AreaState::Member(a)) => {
                if a.meta.name != name {
                    return Err(EngineError::refused(
                        name,
                        &obj,
                        format!(
                            "{} belongs to dmclass class {} ({}); remove it from that class first",
                            b.path.display(),
                            a.meta.name,
                            a.meta.uuid
                        ),
                    ));
                }
                members.push((b, a));
            }
        }
    }
    let Some(newest) = members
        .iter()
        .map(|(_, a)| &a.meta)
        .max_by_key(|m| m.generation)
        .cloned()
    else {
        return Ok(Current {
            meta: None,
            live: Vec::new(),
        });
    };
    let mut areas: Vec<&str> = Vec::new();
    for (b, a) in &members {
        let obj = format!("disk {}", b.name);
        if a.meta.uuid != newest.uuid {
            return Err(EngineError::refused(
                name,
                &obj,
                format!(
                    "{} belongs to another class of the same name ({}, not {})",
                    b.path.display(),
                    a.meta.uuid,
                    newest.uuid
                ),
            ));
        }
        match newest.disks.iter().find(|d| d.uuid == a.header.disk_uuid) {
            Some(d) if d.name == b.name => {}
            Some(d) => {
                return Err(EngineError::refused(
                    name,
                    &obj,
                    format!(
                        "{} is recorded as disk {} of the class; fix the disk selectors",
                        b.path.display(),
                        d.name
                    ),
                ));
            }
            None => {
                return Err(EngineError::refused(
                    name,
                    &obj,
                    format!(
                        "{} carries an area of this class but is not a recorded member (left over from an earlier registration)",
                        b.path.display()
                    ),
                ));
            }
        }
        areas.push(&b.name);
    }
    for b in bindings {
        if newest.disk(&b.name).is_some() && !areas.contains(&b.name.as_str()) {
            return Err(EngineError::refused(
                name,
                format!("disk {}", b.name),
                format!(
                    "{} is not the recorded member {} (it has no area of this class); wrong disk?",
                    b.path.display(),
                    b.name
                ),
            ));
        }
    }
    Ok(Current {
        meta: Some(newest),
        live: actual
            .live
            .iter()
            .filter(|i| i.live_table)
            .map(|i| i.name.clone())
            .collect(),
    })
}
