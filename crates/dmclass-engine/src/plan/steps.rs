//! Kernel steps for one device or one live volume: create (create, load, resume,
//! verify) and reload (children first, top suspended, unused layers removed).

use super::devices::specs;
use super::spec_ref::SpecRef;
use super::{Action, ActionKind, Step, Text};
use crate::error::Result;
use crate::metadata::{ClassMeta, VolumeMeta};
use crate::tables::DeviceSpec;
use std::rc::Rc;

/// create, load, resume, verify for a device that does not exist yet.
pub(crate) fn create_steps(spec: &DeviceSpec, out: &mut Vec<Action>) {
    create_shared(SpecRef::Built(Rc::new(spec.clone())), out);
}

/// [`create_steps`] for a shared spec: the four steps share it (no copies; their
/// text is written from it when shown).
pub(crate) fn create_shared(spec: SpecRef, out: &mut Vec<Action>) {
    out.push(Action::new(
        ActionKind::Create,
        Text::name(&spec),
        Text::uuid(&spec),
        Step::Create { spec: spec.clone() },
    ));
    out.push(Action::new(
        ActionKind::Load,
        Text::name(&spec),
        Text::summary(&spec),
        Step::Load { spec: spec.clone() },
    ));
    out.push(Action::new(
        ActionKind::Resume,
        Text::name(&spec),
        visibility(spec.hidden()),
        Step::Resume { spec: spec.clone() },
    ));
    out.push(Action::new(
        ActionKind::Verify,
        Text::name(&spec),
        Text::fixed(&"read the table back"),
        Step::Verify { spec },
    ));
}

fn visibility(hidden: bool) -> Text {
    if hidden {
        Text::fixed(&"private (hidden from udev)")
    } else {
        Text::fixed(&"public")
    }
}

/// Reload a live volume's stack (children first); unused layers removed last.
pub(crate) fn reload<'a>(
    meta: &ClassMeta,
    om: &ClassMeta,
    v: &VolumeMeta,
    ov: &VolumeMeta,
    live: &dyn Fn(&str) -> Option<&'a crate::io::DmInfo>,
    node: Option<&str>,
    out: &mut Vec<Action>,
) -> Result<()> {
    let new = specs(meta, v, node)?;
    let old = specs(om, ov, node)?;
    // As LVM's preload: new children are created and resumed, grown children are
    // loaded and resumed before their parent (the parent only uses their old part),
    // then the top is loaded, suspended and resumed, and everything verified.
    let mut verify = Vec::new();
    for s in &new {
        let before = old.iter().find(|o| o.name == s.name);
        if live(&s.name).is_none() {
            create_steps(s, out);
        } else if before.map(|b| &b.table) != Some(&s.table) {
            let spec = SpecRef::Built(Rc::new(s.clone()));
            out.push(Action::new(
                ActionKind::Load,
                Text::name(&spec),
                Text::summary(&spec),
                Step::Load { spec: spec.clone() },
            ));
            if s.role == crate::tables::DeviceRole::Top {
                out.push(Action::new(
                    ActionKind::Suspend,
                    Text::name(&spec),
                    Text::fixed(&"flush and hold I/O"),
                    Step::Suspend {
                        name: s.name.clone(),
                    },
                ));
            }
            out.push(Action::new(
                ActionKind::Resume,
                Text::name(&spec),
                Text::fixed(&"make the new table live"),
                Step::Resume { spec: spec.clone() },
            ));
            verify.push(spec);
        }
    }
    for spec in verify {
        out.push(Action::new(
            ActionKind::Verify,
            Text::name(&spec),
            Text::fixed(&"read the table back"),
            Step::Verify { spec },
        ));
    }
    for o in old.iter().rev() {
        if new.iter().all(|s| s.name != o.name) && live(&o.name).is_some() {
            out.push(Action::new(
                ActionKind::Remove,
                o.name.clone(),
                Text::fixed(&"layer no longer used"),
                Step::Remove {
                    name: o.name.clone(),
                },
            ));
        }
    }
    Ok(())
}
