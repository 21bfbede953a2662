//! Copy-on-write snapshots in `status` (hooks of [`crate::state`]).
//!
//! JSON per snapshot: `{name, kind: "cow", origin, state, path, size, chunk,
//! usage: {allocated, total, percent} | null, note}`; sizes in bytes. States:
//! `ACTIVE` (snapshot device live), `STOP` (not active), `INVALID` (the store
//! overflowed or failed; the origin is unharmed), `MERGING` (merging into the origin,
//! or waiting for the origin's next activation — `note` says which).

use crate::cow::cow_snapshots;
use crate::cow::status::{parse_snapshot_status, SnapshotStatus};
use crate::error::io_err;
use crate::error::Result;
use crate::io::{Kernel, TargetLine};
use crate::metadata::{ClassMeta, CowState, VolumeMeta};
use crate::names::{dm_name, user_path, Layer};
use serde::Serialize;

/// COW store usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CowUsage {
    /// Bytes allocated in the store (including its metadata).
    pub allocated: u64,
    /// Store size in bytes.
    pub total: u64,
    /// allocated / total in percent.
    pub percent: f64,
}

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotEntry {
    /// Name.
    pub name: String,
    /// `cow`.
    pub kind: String,
    /// Origin volume.
    pub origin: String,
    /// `ACTIVE`, `STOP`, `INVALID`, `MERGING`.
    pub state: String,
    /// `/dev/dmclass/<class>/<snapshot>`.
    pub path: String,
    /// Store size in bytes.
    pub size: u64,
    /// Chunk size in bytes.
    pub chunk: u64,
    /// Store usage while the kernel reports it.
    pub usage: Option<CowUsage>,
    /// Remark (deferred or finished merge).
    pub note: Option<String>,
}

fn first_line(kernel: &dyn Kernel, name: &str) -> Result<Option<TargetLine>> {
    let live = kernel
        .info(name)
        .map_err(|e| io_err(format!("device {name}"), e))?
        .is_some_and(|i| i.live_table);
    if !live {
        return Ok(None);
    }
    let st = kernel
        .status(name)
        .map_err(|e| io_err(format!("status of {name}"), e))?;
    Ok(st.into_iter().next())
}

/// The status lines describing an origin's own health: those of `-real` when the
/// top carries `snapshot-origin` / `snapshot-merge`.
pub(crate) fn origin_status(
    meta: &ClassMeta,
    v: &VolumeMeta,
    st: Vec<TargetLine>,
    kernel: &dyn Kernel,
) -> Result<Vec<TargetLine>> {
    let stacked = st
        .first()
        .is_some_and(|l| l.target.starts_with("snapshot-"));
    if !stacked {
        return Ok(st);
    }
    let real = dm_name(&meta.name, &v.name, Layer::Real)?;
    kernel
        .status(&real)
        .map_err(|e| io_err(format!("status of {real}"), e))
}

fn usage(s: &SnapshotStatus) -> Option<CowUsage> {
    match s {
        SnapshotStatus::Usage {
            allocated, total, ..
        } => Some(CowUsage {
            allocated: allocated.0 * 512,
            total: total.0 * 512,
            percent: s.percent().unwrap_or(0.0),
        }),
        _ => None,
    }
}

/// Every cow snapshot of the class with its kernel state.
pub(crate) fn snapshots(meta: &ClassMeta, kernel: &dyn Kernel) -> Result<Vec<SnapshotEntry>> {
    let mut out = Vec::new();
    for c in cow_snapshots(meta) {
        let dev = dm_name(&meta.name, c.name, Layer::Top)?;
        let top = dm_name(&meta.name, c.origin, Layer::Top)?;
        let mut e = SnapshotEntry {
            name: c.name.to_owned(),
            kind: "cow".into(),
            origin: c.origin.to_owned(),
            state: "STOP".into(),
            path: user_path(&meta.name, c.name).display().to_string(),
            size: c.size.0 * 512,
            chunk: c.chunk.0 * 512,
            usage: None,
            note: None,
        };
        let snap = first_line(kernel, &dev)?;
        let origin = first_line(kernel, &top)?;
        let merging_now = origin.as_ref().filter(|l| l.target == "snapshot-merge");
        if let (CowState::Merging, Some(l)) = (c.state, merging_now) {
            let s = parse_snapshot_status(&l.params)?;
            e.state = "MERGING".into();
            e.usage = usage(&s);
            if s.merge_finished() {
                e.note = Some(format!(
                    "merged into {}; `dmclass monitor`, `dmclass activate {}` or `dmclass snapshot merge {}/{}` removes it",
                    c.origin, meta.name, meta.name, c.name
                ));
            }
        } else if let Some(l) = snap {
            let s = parse_snapshot_status(&l.params)?;
            e.usage = usage(&s);
            e.state = match s {
                SnapshotStatus::Usage { .. } => "ACTIVE",
                _ => "INVALID",
            }
            .into();
            if c.state == CowState::Merging {
                e.state = "MERGING".into();
                e.note = Some(if meta.class_type == crate::metadata::ClassTypeMeta::Root {
                    format!(
                        "rollback of {} requested: it starts at the next boot; \
                         `dmclass snapshot merge --cancel {}/{}` withdraws it",
                        c.origin, meta.name, c.name
                    )
                } else {
                    format!(
                        "merge waits: {} is open; it starts at the next activation",
                        c.origin
                    )
                });
            }
        } else if c.state == CowState::Merging {
            e.state = "MERGING".into();
            e.note = Some(format!("the merge starts when {} is activated", c.origin));
        }
        if c.state == CowState::Invalid {
            e.state = "INVALID".into();
        }
        out.push(e);
    }
    Ok(out)
}

/// The snapshot table of `status`.
pub(crate) fn render(snaps: &[(&str, &[SnapshotEntry])]) -> String {
    use crate::columns::{human_size, Columns};
    if snaps.iter().all(|(_, s)| s.is_empty()) {
        return String::new();
    }
    let mut t = Columns::new(&["OBJ", "NAME", "CLASS", "ORIGIN", "KIND", "STATUS", "USAGE"]);
    for (class, list) in snaps {
        for s in *list {
            let u = s.usage.as_ref().map_or_else(
                || "-".to_owned(),
                |u| {
                    format!(
                        "{} of {} ({:.1}%)",
                        human_size(u.allocated),
                        human_size(u.total),
                        u.percent
                    )
                },
            );
            t.row(vec![
                "snap".into(),
                s.name.clone(),
                (*class).to_owned(),
                s.origin.clone(),
                s.kind.clone(),
                s.state.clone(),
                u,
            ]);
            if let Some(n) = &s.note {
                t.note(format!("({n})"));
            }
        }
    }
    format!("\n{}", t.render())
}
