//! Parsers for kernel status lines (`dmsetup status` parameters after the target
//! name). The input is untrusted: parsing is total, errors say what was wrong, and
//! nothing is allocated from a count in the input.

use crate::error::{EngineError, Result};
use dmclass_model::Sectors;

/// Health of one raid leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaidHealth {
    /// `A`: alive and in sync.
    InSync,
    /// `a`: alive, being synced or recovered.
    Syncing,
    /// `D`: dead.
    Dead,
    /// `-`: no device.
    Absent,
}

/// `sync_action` of dm-raid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncAction {
    /// Nothing running.
    Idle,
    /// Frozen.
    Frozen,
    /// Initial or bitmap-driven resync.
    Resync,
    /// A leg being rebuilt.
    Recover,
    /// Read-only scrub.
    Check,
    /// Scrub with rewrite.
    Repair,
    /// Reshape.
    Reshape,
    /// Old kernels' initial state.
    Init,
}

/// Journal state (last field, 1.10.0+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalState {
    /// `A` write-through.
    WriteThrough,
    /// `a` write-back.
    WriteBack,
    /// `D` dead.
    Dead,
    /// `-` none.
    None,
}

/// Parsed dm-raid status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaidStatus {
    /// `raid1`, ...
    pub raid_type: String,
    /// Per-leg health.
    pub health: Vec<RaidHealth>,
    /// Sectors in sync per leg.
    pub sync_done: Sectors,
    /// Sectors per leg.
    pub sync_total: Sectors,
    /// Running action (target 1.5.0+).
    pub action: Option<SyncAction>,
    /// Mismatches found by the last check (1.5.0+).
    pub mismatches: Option<u64>,
    /// Data offset (1.9.0+).
    pub data_offset: Option<Sectors>,
    /// Journal (1.10.0+).
    pub journal: Option<JournalState>,
}

impl RaidStatus {
    /// In sync as LVM's test suite defines it: idle (or no action field), ratio full
    /// and non-zero, no leg syncing.
    pub fn in_sync(&self) -> bool {
        matches!(self.action, None | Some(SyncAction::Idle))
            && self.sync_total.0 != 0
            && self.sync_done == self.sync_total
            && !self.health.contains(&RaidHealth::Syncing)
    }

    /// Sync progress in percent (0–100).
    pub fn percent(&self) -> f64 {
        if self.sync_total.0 == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let p = self.sync_done.0 as f64 * 100.0 / self.sync_total.0 as f64;
        p.min(100.0)
    }
}

fn err(target: &'static str, reason: impl Into<String>, input: &str) -> EngineError {
    let mut cut = input.len().min(200);
    while !input.is_char_boundary(cut) {
        cut -= 1;
    }
    EngineError::Status {
        target,
        reason: reason.into(),
        input: input.get(..cut).unwrap_or_default().to_owned(),
    }
}

fn num(target: &'static str, what: &str, s: &str, input: &str) -> Result<u64> {
    s.parse::<u64>()
        .map_err(|_| err(target, format!("{what} {s:?} is not a number"), input))
}

fn ratio(target: &'static str, s: &str, input: &str) -> Result<(u64, u64)> {
    let (a, b) = s
        .split_once('/')
        .ok_or_else(|| err(target, format!("ratio {s:?} has no '/'"), input))?;
    Ok((
        num(target, "ratio", a, input)?,
        num(target, "ratio", b, input)?,
    ))
}

/// Parse `<type> <#devs> <health> <x/y> [<action> <mismatch> [<data_offset> [<journal>]]]`.
pub fn parse_raid_status(params: &str) -> Result<RaidStatus> {
    const T: &str = "raid";
    let f: Vec<&str> = params.split_ascii_whitespace().collect();
    if !matches!(f.len(), 4 | 6 | 7 | 8) {
        return Err(err(
            T,
            format!("{} fields, expected 4, 6, 7 or 8", f.len()),
            params,
        ));
    }
    let field = |i: usize| f.get(i).copied().unwrap_or_default();
    let devs = num(T, "device count", field(1), params)?;
    let health = field(2)
        .chars()
        .map(|c| match c {
            'A' => Ok(RaidHealth::InSync),
            'a' => Ok(RaidHealth::Syncing),
            'D' => Ok(RaidHealth::Dead),
            '-' => Ok(RaidHealth::Absent),
            c => Err(err(T, format!("unknown health char {c:?}"), params)),
        })
        .collect::<Result<Vec<_>>>()?;
    if health.len() as u64 != devs {
        return Err(err(
            T,
            format!("{} health chars for {devs} devices", health.len()),
            params,
        ));
    }
    let (done, total) = ratio(T, field(3), params)?;
    let action = match f.get(4) {
        None => None,
        Some(a) => Some(match *a {
            "idle" => SyncAction::Idle,
            "frozen" => SyncAction::Frozen,
            "resync" => SyncAction::Resync,
            "recover" => SyncAction::Recover,
            "check" => SyncAction::Check,
            "repair" => SyncAction::Repair,
            "reshape" => SyncAction::Reshape,
            "init" => SyncAction::Init,
            a => return Err(err(T, format!("unknown sync action {a:?}"), params)),
        }),
    };
    let mismatches = f
        .get(5)
        .map(|s| num(T, "mismatch count", s, params))
        .transpose()?;
    let data_offset = f
        .get(6)
        .map(|s| num(T, "data offset", s, params).map(Sectors))
        .transpose()?;
    let journal = match f.get(7) {
        None => None,
        Some(&"A") => Some(JournalState::WriteThrough),
        Some(&"a") => Some(JournalState::WriteBack),
        Some(&"D") => Some(JournalState::Dead),
        Some(&"-") => Some(JournalState::None),
        Some(j) => return Err(err(T, format!("unknown journal char {j:?}"), params)),
    };
    Ok(RaidStatus {
        raid_type: field(0).to_owned(),
        health,
        sync_done: Sectors(done),
        sync_total: Sectors(total),
        action,
        mismatches,
        data_offset,
        journal,
    })
}

/// Health of one dm-mirror leg or of its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MirrorHealth {
    /// `A` alive.
    Alive,
    /// `F` flush failure.
    FlushFailed,
    /// `D` write failure.
    WriteFailed,
    /// `S` sync failure.
    SyncFailed,
    /// `R` read failure.
    ReadFailed,
    /// `U` unknown.
    Unknown,
}

fn mirror_health(c: char) -> Option<MirrorHealth> {
    Some(match c {
        'A' => MirrorHealth::Alive,
        'F' => MirrorHealth::FlushFailed,
        'D' => MirrorHealth::WriteFailed,
        'S' => MirrorHealth::SyncFailed,
        'R' => MirrorHealth::ReadFailed,
        'U' => MirrorHealth::Unknown,
        _ => return None,
    })
}

/// dm-mirror log status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorLog {
    /// In-memory log.
    Core,
    /// Disk log on a device, with its health.
    Disk {
        /// `major:minor` of the log device.
        dev: String,
        /// Log health.
        health: MirrorHealth,
    },
}

/// Parsed dm-mirror status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorStatus {
    /// Leg devices (`major:minor`).
    pub legs: Vec<String>,
    /// Regions in sync.
    pub in_sync: u64,
    /// Total regions.
    pub total: u64,
    /// Per-leg health.
    pub health: Vec<MirrorHealth>,
    /// Log.
    pub log: MirrorLog,
}

/// Parse `<#m> <dev>... <x/y> 1 <health> <#log> <log fields...>`.
pub fn parse_mirror_status(params: &str) -> Result<MirrorStatus> {
    const T: &str = "mirror";
    let mut f = params.split_ascii_whitespace();
    let mut next = |what: &str| {
        f.next()
            .ok_or_else(|| err(T, format!("missing {what}"), params))
    };
    let n = num(T, "mirror count", next("mirror count")?, params)?;
    if !(1..=32).contains(&n) {
        return Err(err(T, format!("mirror count {n} out of range"), params));
    }
    let mut legs = Vec::new();
    for _ in 0..n {
        legs.push(next("leg device")?.to_owned());
    }
    let (in_sync, total) = ratio(T, next("sync ratio")?, params)?;
    if next("health field count")? != "1" {
        return Err(err(T, "health field count is not 1", params));
    }
    let health = next("health")?
        .chars()
        .map(|c| mirror_health(c).ok_or_else(|| err(T, format!("unknown health {c:?}"), params)))
        .collect::<Result<Vec<_>>>()?;
    if health.len() != legs.len() {
        return Err(err(T, "health chars do not match the mirror count", params));
    }
    let log = match (next("log field count")?, next("log type")?) {
        ("1", "core") => MirrorLog::Core,
        ("3", "disk") => {
            let dev = next("log device")?.to_owned();
            let h = next("log health")?;
            let mut cs = h.chars();
            let (Some(health), None) = (cs.next().and_then(mirror_health), cs.next()) else {
                return Err(err(T, format!("bad log health {h:?}"), params));
            };
            MirrorLog::Disk { dev, health }
        }
        (c, t) => {
            return Err(err(
                T,
                format!("unsupported log {t:?} with {c} fields"),
                params,
            ))
        }
    };
    if let Some(extra) = f.next() {
        return Err(err(T, format!("trailing field {extra:?}"), params));
    }
    Ok(MirrorStatus {
        legs,
        in_sync,
        total,
        health,
        log,
    })
}

#[cfg(test)]
mod tests;
