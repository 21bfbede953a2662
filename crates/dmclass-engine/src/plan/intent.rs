//! Crash-safe ordering: the intent record around a plan's kernel changes, and the
//! refusals of a closed class or one with an interrupted apply.
//!
//! Every plan that changes the kernel gets (as LVM's precommit / commit):
//! 1. the [`Intent`] in the first metadata write, which must come *before* the first
//!    kernel change — when the plan starts with a kernel change (a removal writes its
//!    metadata after the devices are gone), a write of the current description plus
//!    the intent is put first and later generations move up by one;
//! 2. every metadata write up to the last carries the intent;
//! 3. the last action is a metadata write that clears it (the plan's own last write
//!    when it ends with one, e.g. the add-leg `ACTIVE` write; else one is appended).
//!
//! A plan with no kernel change (a new empty class, a change of an inactive volume)
//! is one metadata write per disk and needs no intent: the generation rule alone
//! decides which description wins.

use super::change::Change;
use super::current::Current;
use super::{Action, ActionKind, Actual, AreaState, Ids, Plan, Step};
use crate::closing::{closing_for, copy_holders};
use crate::error::{EngineError, Result};
use crate::metadata::{ClassMeta, DiskState, Intent, IntentChange, IntentOp, ProxyStateMeta};
use std::rc::Rc;

fn is_kernel(k: ActionKind) -> bool {
    matches!(
        k,
        ActionKind::Create
            | ActionKind::Load
            | ActionKind::Suspend
            | ActionKind::Resume
            | ActionKind::Remove
    )
}

fn is_meta(k: ActionKind) -> bool {
    matches!(k, ActionKind::FormatArea | ActionKind::WriteMetadata)
}

/// Proxy changes between `old` and `new`, as intent changes (they are not
/// [`Change`]s: the proxy planner compares the descriptions itself).
fn proxy_changes(old: Option<&ClassMeta>, new: &ClassMeta) -> Vec<IntentChange> {
    let Some(old) = old else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in crate::proxy::proxies(new) {
        let op = match crate::proxy::find(old, p.name) {
            None => IntentOp::ProxyJoin,
            Some(o) if o.state == p.state => continue,
            Some(_) if p.state == ProxyStateMeta::Parted => IntentOp::ProxyPart,
            Some(_) => IntentOp::ProxyRejoin,
        };
        out.push(IntentChange {
            op,
            object: p.name.to_owned(),
        });
    }
    for p in crate::proxy::proxies(old) {
        if crate::proxy::find(new, p.name).is_none() {
            let op = if new.volume(p.name).is_some() {
                IntentOp::ProxyBreak
            } else {
                IntentOp::RemoveSnapshot
            };
            out.push(IntentChange {
                op,
                object: p.name.to_owned(),
            });
        }
    }
    out
}

/// The changes as recorded in the intent.
fn intent_changes(old: Option<&ClassMeta>, class: &str, changes: &[Change]) -> Vec<IntentChange> {
    let mut out = Vec::new();
    if old.is_none() {
        out.push(IntentChange {
            op: IntentOp::CreateClass,
            object: class.to_owned(),
        });
    }
    for c in changes {
        let (op, object) = match c {
            Change::NewDisk(_) if old.is_none() => continue,
            Change::NewDisk(n) => (IntentOp::AddDisk, n.clone()),
            Change::NewVolume(n) => (IntentOp::CreateVolume, n.clone()),
            Change::Grow(n) => (IntentOp::Grow, n.clone()),
            Change::AddLeg(n) => (IntentOp::AddLeg, n.clone()),
            Change::CopyRate(n) => (IntentOp::CopyRate, n.clone()),
            Change::RemoveVolume(v) => (IntentOp::RemoveVolume, v.name.clone()),
            Change::NewCow(n) => (IntentOp::Snapshot, n.clone()),
            Change::RemoveCow(s) => (IntentOp::RemoveSnapshot, s.name.clone()),
        };
        out.push(IntentChange { op, object });
    }
    out
}

fn renumber(a: &mut Action, by: u64) {
    if let Step::WriteMeta { meta } = &mut a.step {
        let old = format!("generation {} ", meta.generation);
        let meta = Rc::make_mut(meta);
        meta.generation += by;
        a.detail
            .replacen(&old, &format!("generation {} ", meta.generation));
    }
}

fn meta_write(meta: ClassMeta, why: &str) -> Action {
    let mut a = meta_write_text(&meta, meta.generation, why);
    a.step = Step::WriteMeta {
        meta: Rc::new(meta),
    };
    a
}

/// The write of `meta` as `generation`, but for its step (a placeholder).
fn meta_write_text(meta: &ClassMeta, generation: u64, why: &str) -> Action {
    let disks: Vec<&str> = meta.disks.iter().map(|d| d.name.as_str()).collect();
    Action {
        kind: ActionKind::WriteMetadata,
        object: meta.name.clone().into(),
        detail: format!("generation {generation} on {} ({why})", disks.join(", ")).into(),
        step: Step::Suspend {
            name: String::new(),
        },
    }
}

/// Add the intent writes to `p` (ordering in the module doc).
pub(crate) fn record(
    p: &mut Plan,
    old: Option<&ClassMeta>,
    changes: &[Change],
    shared: Option<Rc<ClassMeta>>,
    ids: &mut Ids,
) -> Result<()> {
    let mut ch = intent_changes(old, &p.class, changes);
    for c in proxy_changes(old, &p.new_meta) {
        if !ch.contains(&c) {
            ch.push(c);
        }
    }
    record_changes(p, old, ch, shared, ids)
}

/// [`record`] with the intent's changes given. A kernel change that no recorded
/// change explains is recorded as `reconfigure` (roll forward), never as an op
/// activation would refuse as unknown. `shared` is the new description without its
/// intent that new volumes' devices are built from ([`super::order::actions`]); the
/// last write records it when it is that description (no second copy of it).
pub(crate) fn record_changes(
    p: &mut Plan,
    old: Option<&ClassMeta>,
    mut ch: Vec<IntentChange>,
    shared: Option<Rc<ClassMeta>>,
    ids: &mut Ids,
) -> Result<()> {
    let Some(first_kernel) = p.actions.iter().position(|a| is_kernel(a.kind)) else {
        return Ok(());
    };
    let from = old.map_or(0, |m| m.generation);
    let first_meta = p.actions.iter().position(|a| is_meta(a.kind));
    if first_meta.is_none_or(|i| i > first_kernel) {
        let Some(o) = old else {
            return Err(EngineError::InvalidLayout(
                "a plan for a new class changes the kernel before writing metadata".into(),
            ));
        };
        for a in &mut p.actions {
            renumber(a, 1);
        }
        p.new_meta.generation += 1;
        let mut pre = o.clone();
        pre.generation = from + 1;
        p.actions.insert(0, meta_write(pre, "records the intent"));
    }
    let last_is_write = p
        .actions
        .last()
        .is_some_and(|a| a.kind == ActionKind::WriteMetadata);
    let newest = p
        .actions
        .iter()
        .filter_map(|a| match &a.step {
            Step::WriteMeta { meta } => Some(meta.generation),
            _ => None,
        })
        .chain(std::iter::once(p.new_meta.generation))
        .max()
        .unwrap_or(from);
    let to = if last_is_write { newest } else { newest + 1 };
    if ch.is_empty() {
        ch.push(IntentChange {
            op: IntentOp::Reconfigure,
            object: p.class.clone(),
        });
    }
    let intent = Intent {
        id: ids.next(),
        op: ch.first().map_or(IntentOp::Unknown, |c| c.op),
        objects: ch.iter().map(|c| c.object.clone()).collect(),
        changes: ch,
        from_generation: from,
        to_generation: to,
    };
    p.new_meta.intent = Some(intent.clone());
    // the newest description written: the plan's own (`None`) unless a write is newer
    let mut last_meta: Option<ClassMeta> = None;
    for a in &mut p.actions {
        if let Step::WriteMeta { meta } = &mut a.step {
            Rc::make_mut(meta).intent = Some(intent.clone());
            let last = last_meta.as_ref().unwrap_or(&p.new_meta);
            if meta.generation >= last.generation {
                last_meta = Some((**meta).clone());
            }
            if meta.generation < to {
                a.detail.push_str("; records the intent");
            }
        }
    }
    if last_is_write {
        if let Some(Action {
            step: Step::WriteMeta { meta },
            detail,
            ..
        }) = p.actions.last_mut()
        {
            Rc::make_mut(meta).intent = None;
            detail.push_str("; clears the intent");
        }
    } else if let (None, Some(meta)) = (&last_meta, shared) {
        debug_assert!({
            let mut m = p.new_meta.clone();
            m.intent = None;
            m.generation = meta.generation;
            m == *meta
        });
        let mut a = meta_write_text(&meta, to, "apply complete; clears the intent");
        a.step = Step::WriteShared {
            meta,
            generation: to,
        };
        p.actions.push(a);
    } else {
        let mut last_meta = last_meta.unwrap_or_else(|| p.new_meta.clone());
        last_meta.intent = None;
        last_meta.generation = to;
        p.actions
            .push(meta_write(last_meta, "apply complete; clears the intent"));
    }
    Ok(())
}

/// Refuse to plan for a closed class (too few readable copies among the bound
/// disks; checked before the per-disk checks so the reason is the rule).
pub(crate) fn check_closed(class: &str, actual: &Actual) -> Result<()> {
    let members: Vec<&crate::metadata::DecodedArea> = actual
        .areas
        .values()
        .filter_map(|a| match a {
            AreaState::Member(m) if m.meta.name == class => Some(&**m),
            _ => None,
        })
        .collect();
    let Some(newest) = members.iter().map(|a| &a.meta).max_by_key(|m| m.generation) else {
        return Ok(()); // a new class
    };
    let readable = newest
        .disks
        .iter()
        .filter(|d| d.state != DiskState::Disable)
        .filter(|d| {
            members
                .iter()
                .any(|a| a.meta.uuid == newest.uuid && a.header.disk_uuid == d.uuid)
        })
        .count();
    match closing_for(newest.class_type, copy_holders(newest), readable) {
        Some(c) => Err(EngineError::refused_class(
            class,
            format!("{c}; nothing was changed"),
        )),
        None => Ok(()),
    }
}

/// Refuse to plan over an interrupted apply: activation finishes it first.
pub(crate) fn check_pending(class: &str, cur: &Current) -> Result<()> {
    match cur.meta.as_ref().and_then(|m| m.intent.as_ref()) {
        Some(i) => Err(EngineError::refused_class(
            class,
            format!(
                "an interrupted apply is recorded: {}; run `dmclass activate {class}` to finish or roll it back, then plan again",
                i.describe()
            ),
        )),
        None => Ok(()),
    }
}
