//! `dmclass monitor`: react to dm events (the reactions of `event.rs`) and tell
//! people what changed.
//!
//! Events are what the monitor *saw*: after every wake-up it looks at every class
//! (the states `status` shows, [`dmclass_engine::monitor::Snapshot`]) and reports
//! the difference from its previous look ([`dmclass_engine::monitor::derive`]); the
//! first look is compared with the recorded states. So a failure that the udev
//! handler recorded first, or that happened while no monitor ran, is still
//! reported, once. [`report`] says where an event goes, [`exec`] runs `--exec`.
//!
//! systemd (`dmclass-monitor.service`, Type=notify): READY=1 once the first look is
//! done and dm events are armed, STATUS= after every look, WATCHDOG=1 at least
//! every half `WatchdogSec=` — also while waiting for another dmclass command's
//! lock, since a long `apply` is not a hung monitor; a hung reaction is.

mod exec;
mod report;

use super::event::reconcile;
use crate::args::event::MonitorArgs;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble;
use dmclass_engine::monitor::{derive, rfc3339_utc, watch_closely, Event, Snapshot};
use dmclass_engine::state;
use report::Reporter;
use sd_notify::NotifyState;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use systemd_journal_logger::JournalLog;

/// The longest wait without a dm event: bounds how long a change the kernel raises
/// no dm event for (a disk that vanished without I/O, a disk that came back) goes
/// unreported.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The wait while a running volume has a leg out or being copied
/// ([`watch_closely`]): a returning leg's recovery raises no dm event.
const CLOSE_WATCH: Duration = Duration::from_secs(5);

/// Every class as it is now; `None` (logged) when it cannot be read — the monitor
/// keeps its previous look rather than stop.
fn look(backend: &mut Backend) -> Option<Snapshot> {
    let read = |backend: &mut Backend| -> Result<Snapshot, CliError> {
        let paths: Vec<_> = backend
            .facts(None)?
            .disks
            .into_iter()
            .map(|d| d.devnode)
            .collect();
        let (kernel, disks) = backend.parts();
        let mut snap = Snapshot::default();
        for c in assemble::classes_of(&assemble::scan(&paths, &*disks)) {
            let st = state::class_on_disks_status(&c, &*kernel)?;
            snap.add(&c.meta, &st);
        }
        Ok(snap)
    };
    match read(backend) {
        Ok(s) => Some(s),
        Err(e) => {
            log::warn!("cannot read the classes' state (no events this time): {e}");
            None
        }
    }
}

fn now() -> String {
    rfc3339_utc(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

fn notify(states: &[NotifyState<'_>]) {
    // Without NOTIFY_SOCKET this does nothing; a failure to notify must not stop
    // the monitor (systemd then restarts it, if it waits for READY).
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify: {e}");
    }
}

fn status_line(snap: &Snapshot, last: Option<&Event>) -> String {
    let running: usize = snap
        .classes
        .iter()
        .map(|c| c.volumes.iter().filter(|v| v.running).count())
        .sum();
    let mut s = format!(
        "watching {} class(es), {running} volume(s) running",
        snap.classes.len()
    );
    if let Some(e) = last {
        let _ = write!(s, "; last event {} {} {}", e.time, e.kind, e.class);
        if let Some(v) = &e.volume {
            let _ = write!(s, "/{v}");
        }
    }
    s
}

/// How long one wait lasts: [`MAX_WAIT`], or half the watchdog interval when that is
/// shorter (systemd's advice: ping at half the interval), at least 0.5 s.
fn tick(watchdog: Option<Duration>) -> Duration {
    watchdog.map_or(MAX_WAIT, |w| {
        (w / 2).clamp(Duration::from_millis(500), MAX_WAIT)
    })
}

/// Finish the snapshot merges the kernel completed (a root rolled back at boot);
/// a failure is logged and tried again at the next wake-up.
fn finish_merges(backend: &mut Backend) {
    match super::context::finish_all_merges(backend) {
        Ok(done) => {
            for c in done {
                log::info!(
                    "class {c}: finished snapshot merge(s); the merged snapshots are removed"
                );
            }
        }
        Err(e) => log::warn!("finishing snapshot merges: {e}"),
    }
}

/// Report the events between two looks; the last one.
fn emit(rep: &Reporter, before: &Snapshot, after: &Snapshot) -> Option<Event> {
    let events = derive(before, after, &now());
    for e in &events {
        rep.report(e);
    }
    events.into_iter().last()
}

/// Run `monitor`: react and report once, then (without `--once`) on every dm event.
pub fn run(args: &MonitorArgs) -> Result<ExitCode, CliError> {
    // journald when it listens (`JournalLog::new` sends it an empty datagram);
    // otherwise the log on stderr carries the events (the test VM has no systemd).
    let journal = JournalLog::new().ok();
    let stdout_is_journal = journal.is_some() && systemd_journal_logger::connected_to_journal();
    let rep = Reporter {
        json: args.json,
        text: !stdout_is_journal,
        journal,
        exec: args
            .exec
            .clone()
            .map(|p| exec::Runner::start(p, Duration::from_secs(args.exec_timeout))),
    };
    let mut backend = Backend::open()?;
    let lock = crate::lock::exclusive()?;
    let before = look(&mut backend).map(|s| s.as_recorded());
    let first = reconcile(&mut backend, false);
    finish_merges(&mut backend);
    let mut prev = look(&mut backend);
    drop(lock);
    backend.finish()?;
    first?;
    let mut last = match (&before, &prev) {
        (Some(b), Some(a)) => emit(&rep, b, a),
        _ => None,
    };
    if args.once {
        if let Some(r) = rep.exec {
            r.finish();
        }
        return Ok(ExitCode::SUCCESS);
    }
    if matches!(backend, Backend::Sim { .. }) {
        return Err(CliError::Refused(
            "monitor waits on real dm events; with the simulation use `monitor --once`".into(),
        ));
    }
    let watchdog = sd_notify::watchdog_enabled();
    let tick = tick(watchdog);
    let mut events = dmclass_linux::dmevent::DmEvents::new("dmclass-")?;
    let mut prev_snap = prev.take().unwrap_or_default();
    notify(&[
        NotifyState::Ready,
        NotifyState::Status(&status_line(&prev_snap, last.as_ref())),
    ]);
    loop {
        let wait = if watch_closely(&prev_snap) {
            tick.min(CLOSE_WATCH)
        } else {
            tick
        };
        let moved = events.wait(wait)?;
        if watchdog.is_some() {
            notify(&[NotifyState::Watchdog]);
        }
        if !moved.is_empty() {
            log::info!("dm events on {}", moved.join(", "));
        }
        let _lock = loop {
            if let Some(l) = crate::lock::acquire(crate::lock::Wait::AtMost(tick))? {
                break l;
            }
            // Another command (a long apply) holds the lock: alive, waiting.
            notify(&[
                NotifyState::Watchdog,
                NotifyState::Status("waiting for another dmclass command to finish"),
            ]);
        };
        reconcile(&mut backend, false)?;
        finish_merges(&mut backend);
        if let Some(now) = look(&mut backend) {
            if let Some(e) = emit(&rep, &prev_snap, &now) {
                last = Some(e);
            }
            prev_snap = now;
        }
        notify(&[NotifyState::Status(&status_line(&prev_snap, last.as_ref()))]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_engine::monitor::{ClassView, EventKind, VolumeView};

    #[test]
    fn watchdog_is_pinged_at_half_its_interval() {
        assert_eq!(tick(None), MAX_WAIT);
        assert_eq!(tick(Some(Duration::from_secs(180))), MAX_WAIT);
        assert_eq!(tick(Some(Duration::from_secs(30))), Duration::from_secs(15));
        assert_eq!(
            tick(Some(Duration::from_millis(100))),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn status_line_counts_and_names_the_last_event() {
        let snap = Snapshot {
            classes: vec![ClassView {
                uuid: "u".into(),
                name: "data".into(),
                closed: false,
                closed_reason: None,
                disks: Vec::new(),
                volumes: vec![VolumeView {
                    name: "v1".into(),
                    running: true,
                    legs: Vec::new(),
                }],
            }],
            recorded: Vec::new(),
        };
        assert_eq!(
            status_line(&snap, None),
            "watching 1 class(es), 1 volume(s) running"
        );
        let e = Event {
            kind: EventKind::LegFailed,
            time: "2026-12-06T05:10:00Z".into(),
            class: "data".into(),
            volume: Some("v1".into()),
            leg: Some(1),
            disk: None,
            disk_id: None,
            state: "INVALID".into(),
            previous: None,
            message: String::new(),
        };
        assert_eq!(
            status_line(&snap, Some(&e)),
            "watching 1 class(es), 1 volume(s) running; last event 2026-12-06T05:10:00Z leg_failed data/v1"
        );
    }
}
