//! Fuzz the dm status parsers (raid, mirror, snapshot lines, `dmsetup status`
//! parameters after the target name): the kernel's text is untrusted input.
//!
//! Every parser gets every input; whatever parses must keep the parser's own promises
//! (health per device, ratios, percentages in range) and print back, in the kernel's
//! syntax, to a line that parses to the same value.
#![no_main]

use dmclass_engine::status::{
    parse_mirror_status, parse_raid_status, JournalState, MirrorHealth, MirrorLog, RaidHealth,
    RaidStatus, SyncAction,
};
use dmclass_engine::cow::status::{parse_snapshot_status, SnapshotStatus};
use libfuzzer_sys::fuzz_target;
use std::fmt::Write as _;

fn raid_line(s: &RaidStatus) -> String {
    let health: String = s
        .health
        .iter()
        .map(|h| match h {
            RaidHealth::InSync => 'A',
            RaidHealth::Syncing => 'a',
            RaidHealth::Dead => 'D',
            RaidHealth::Absent => '-',
        })
        .collect();
    let mut line = format!(
        "{} {} {health} {}/{}",
        s.raid_type,
        s.health.len(),
        s.sync_done.0,
        s.sync_total.0
    );
    if let Some(a) = s.action {
        let word = match a {
            SyncAction::Idle => "idle",
            SyncAction::Frozen => "frozen",
            SyncAction::Resync => "resync",
            SyncAction::Recover => "recover",
            SyncAction::Check => "check",
            SyncAction::Repair => "repair",
            SyncAction::Reshape => "reshape",
            SyncAction::Init => "init",
        };
        let _ = write!(line, " {word} {}", s.mismatches.unwrap_or(0));
    }
    if let Some(o) = s.data_offset {
        let _ = write!(line, " {}", o.0);
    }
    if let Some(j) = s.journal {
        let c = match j {
            JournalState::WriteThrough => 'A',
            JournalState::WriteBack => 'a',
            JournalState::Dead => 'D',
            JournalState::None => '-',
        };
        let _ = write!(line, " {c}");
    }
    line
}

fn mirror_char(h: MirrorHealth) -> char {
    match h {
        MirrorHealth::Alive => 'A',
        MirrorHealth::FlushFailed => 'F',
        MirrorHealth::WriteFailed => 'D',
        MirrorHealth::SyncFailed => 'S',
        MirrorHealth::ReadFailed => 'R',
        MirrorHealth::Unknown => 'U',
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(r) = parse_raid_status(&text) {
        // Optional fields come in the kernel's order: mismatches only with an action.
        assert_eq!(r.action.is_some(), r.mismatches.is_some(), "{text:?}");
        assert!(r.data_offset.is_none() || r.action.is_some(), "{text:?}");
        assert!(r.journal.is_none() || r.data_offset.is_some(), "{text:?}");
        let p = r.percent();
        assert!((0.0..=100.0).contains(&p), "percent {p} for {text:?}");
        let _ = r.in_sync();
        let line = raid_line(&r);
        assert_eq!(
            parse_raid_status(&line).ok(),
            Some(r),
            "{text:?} → {line:?}"
        );
    }

    if let Ok(m) = parse_mirror_status(&text) {
        assert_eq!(m.legs.len(), m.health.len(), "{text:?}");
        let mut line = format!("{} {}", m.legs.len(), m.legs.join(" "));
        let health: String = m.health.iter().map(|h| mirror_char(*h)).collect();
        let _ = write!(line, " {}/{} 1 {health}", m.in_sync, m.total);
        match &m.log {
            MirrorLog::Core => line.push_str(" 1 core"),
            MirrorLog::Disk { dev, health } => {
                let _ = write!(line, " 3 disk {dev} {}", mirror_char(*health));
            }
        }
        assert_eq!(
            parse_mirror_status(&line).ok(),
            Some(m),
            "{text:?} → {line:?}"
        );
    }

    if let Ok(s) = parse_snapshot_status(&text) {
        if let Some(p) = s.percent() {
            assert!((0.0..=100.0).contains(&p), "percent {p} for {text:?}");
        }
        let _ = s.merge_finished();
        let line = match s {
            SnapshotStatus::Usage {
                allocated,
                total,
                metadata,
            } => match metadata {
                Some(m) => format!("{}/{} {}", allocated.0, total.0, m.0),
                None => format!("{}/{}", allocated.0, total.0),
            },
            SnapshotStatus::Invalid => "Invalid".into(),
            SnapshotStatus::MergeFailed => "Merge failed".into(),
            SnapshotStatus::Overflow => "Overflow".into(),
            SnapshotStatus::Unknown => "Unknown".into(),
        };
        assert_eq!(
            parse_snapshot_status(&line).ok(),
            Some(s),
            "{text:?} → {line:?}"
        );
    }
});
