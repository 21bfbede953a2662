//! Proxy volumes in `status` (hooks of [`crate::state`]).
//!
//! JSON per proxy: `{name, kind: "proxy", master, group, state, sync_percent, copy,
//! rejoin, readonly, tracking, path}`. States: `JOINED` (an in-sync leg of the live master, or
//! recorded joined while the master is stopped), `COPY` (being copied: `copy` says
//! `master->proxy` (join, rejoin) or `proxy->master` (restore), `sync_percent` the
//! progress), `PARTED` (split off, usable at `path`), `INVALID` (its leg failed).
//! `rejoin` is what the next rejoin copies: `incremental` (regions the master changed
//! since part, from the raid bitmap, and those the proxy changed, from its tracking
//! bitmap) or `full copy` (parted read-write without tracking: `tracking` says why).

use crate::error::io_err;
use crate::error::Result;
use crate::io::Kernel;
use crate::metadata::{ClassMeta, ProxyStateMeta};
use crate::names::{dm_name, user_path, Layer};
use crate::proxy::proxies;
use crate::status::{parse_raid_status, RaidHealth};
use serde::Serialize;
use std::fmt::Write as _;

/// One proxy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyEntry {
    /// Name.
    pub name: String,
    /// `proxy`.
    pub kind: String,
    /// Master volume.
    pub master: String,
    /// Group holding the proxy.
    pub group: String,
    /// `JOINED`, `COPY`, `PARTED`, `INVALID`.
    pub state: String,
    /// Copy progress while `COPY`.
    pub sync_percent: Option<f64>,
    /// Copy direction while `COPY`: `master->proxy` or `proxy->master`.
    pub copy: Option<String>,
    /// What the next rejoin copies: `incremental` or `full copy`.
    pub rejoin: String,
    /// Parted read-only.
    pub readonly: bool,
    /// Tracking of the proxy's own writes while parted read-write: `ok` (the next
    /// rejoin copies only what either side changed) or `lost: <why>` (full copy);
    /// `null` when not parted read-write. Whether the bitmap on disk can be trusted
    /// is judged again when the rejoin copies (its output says so).
    pub tracking: Option<String>,
    /// `/dev/dmclass/<class>/<proxy>` (usable while parted).
    pub path: String,
}

/// Status of every proxy of the class.
pub fn proxies_status(meta: &ClassMeta, kernel: &dyn Kernel) -> Result<Vec<ProxyEntry>> {
    let mut out = Vec::new();
    for p in proxies(meta) {
        let mut e = ProxyEntry {
            name: p.name.to_owned(),
            kind: "proxy".into(),
            master: p.master.to_owned(),
            group: p.on.to_owned(),
            state: match p.state {
                ProxyStateMeta::Joined => "JOINED",
                ProxyStateMeta::Parted => "PARTED",
            }
            .into(),
            sync_percent: None,
            copy: None,
            rejoin: p.rejoin_mode().into(),
            readonly: p.readonly,
            tracking: match (p.tracking_lost(), p.tracked()) {
                (Some(why), _) => Some(format!("lost: {why}")),
                (None, true) => Some("ok".into()),
                (None, false) => None,
            },
            path: user_path(&meta.name, p.name).display().to_string(),
        };
        let top = dm_name(&meta.name, p.master, Layer::Top)?;
        let live = kernel
            .info(&top)
            .map_err(|e| io_err(format!("device {top}"), e))?
            .is_some_and(|i| i.live_table);
        if live && p.state == ProxyStateMeta::Joined {
            let st = kernel
                .status(&top)
                .map_err(|e| io_err(format!("status of {top}"), e))?;
            if let Some(l) = st.first().filter(|l| l.target == "raid") {
                let r = parse_raid_status(&l.params)?;
                let slot = meta.volume(p.master).map_or(0, |v| v.layout.legs.len());
                let own_syncing =
                    r.health[..slot.min(r.health.len())].contains(&RaidHealth::Syncing);
                match r.health.get(slot) {
                    Some(RaidHealth::Syncing) => {
                        e.state = "COPY".into();
                        e.copy = Some("master->proxy".into());
                        e.sync_percent = Some(r.percent());
                    }
                    Some(RaidHealth::InSync) if own_syncing => {
                        e.state = "COPY".into();
                        e.copy = Some("proxy->master".into());
                        e.sync_percent = Some(r.percent());
                    }
                    Some(RaidHealth::InSync) => {}
                    _ => e.state = "INVALID".into(),
                }
            }
        }
        out.push(e);
    }
    Ok(out)
}

/// The proxy table of `status`.
pub fn render(list: &[(&str, &[ProxyEntry])]) -> String {
    let mut o = String::new();
    if list.iter().all(|(_, s)| s.is_empty()) {
        return o;
    }
    let _ = writeln!(
        o,
        "\nOBJ    NAME     CLASS            MASTER   GROUP    STATUS   REJOIN"
    );
    let _ = writeln!(
        o,
        "------ -------- ---------------- -------- -------- -------- ------------"
    );
    for (class, ps) in list {
        for p in *ps {
            let st = match (&p.sync_percent, &p.copy) {
                (Some(pct), Some(dir)) => format!("{} {pct:.1}% ({dir})", p.state),
                _ => p.state.clone(),
            };
            let _ = writeln!(
                o,
                "proxy  {:<8} {:<16} {:<8} {:<8} {:<8} {}",
                p.name, class, p.master, p.group, st, p.rejoin
            );
        }
    }
    o
}
