//! When a VM scenario may start (the scenarios' harness, `tests/scenarios/main.rs`). A TCG guest keeps a host core busy, so as many busy
//! scenarios run as the host has cores; but many scenarios spend minutes with idle
//! guests (a lockspace join, a lease expiring, a link timeout), leaving a core free.
//! When the host has been idle by most of a core for a while, one more scenario may
//! start beside them ([`EXTRA`]), so those waits overlap with another scenario's work.
//! Scenarios start in the list's order (longest first), whichever thread frees up.

use crate::cpu::HostTicks;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Scenarios that may run beyond one per core while the host idles. One: when the
/// waiting ones get busy again, the host runs at most one scenario too many until one
/// ends (timing-sensitive steps stretch by a third at worst).
pub const EXTRA: usize = 1;
/// Idle cores the host must have shown over [`WINDOW`] to start an extra scenario.
const IDLE_TO_START: f64 = 0.9;
/// How long the host must have been that idle.
const WINDOW: Duration = Duration::from_secs(20);
/// After any start, how long before an extra one: the started scenario's boot and
/// preparation must show in the load first.
const SETTLE: Duration = Duration::from_secs(30);

/// Why a scenario starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Fewer busy scenarios than slots.
    FreeCore,
    /// All slots taken, but the host idles ([`EXTRA`]).
    IdleHost,
}

/// With every slot taken: whether one more may start, `running` scenarios running,
/// the last start `since` ago, the host's idle cores over the last [`WINDOW`]
/// (asked only when the rest allows a start).
fn may_start_extra(
    running: usize,
    slots: usize,
    since: Option<Duration>,
    idle_cores: impl FnOnce() -> Option<f64>,
) -> Option<Start> {
    (running < slots.saturating_add(EXTRA)
        && since.is_none_or(|d| d >= SETTLE)
        && idle_cores().is_some_and(|c| c >= IDLE_TO_START))
    .then_some(Start::IdleHost)
}

/// The admission gate of the busy scenarios.
pub struct Gate {
    /// Busy scenarios at once on a host that is not idle.
    slots: usize,
    /// The host's cores (its idle time is measured in cores).
    cores: usize,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// Busy scenarios running.
    running: usize,
    /// Scenarios waiting to start, by their place in the list.
    queue: BTreeSet<usize>,
    last_start: Option<Instant>,
    /// Host CPU samples of the last [`WINDOW`] and a bit, oldest first.
    samples: VecDeque<(Instant, HostTicks)>,
    /// Scenarios that started on an idle host beyond one per core.
    extra_starts: usize,
}

/// A running scenario's place: given back when dropped.
pub struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.running -= 1;
        self.0.changed.notify_all();
    }
}

impl Gate {
    /// `slots` busy scenarios at once, plus [`EXTRA`] when the host (`cores` cores)
    /// idles.
    pub fn new(slots: usize, cores: usize) -> Gate {
        Gate {
            slots,
            cores,
            state: Mutex::new(State {
                running: 0,
                queue: BTreeSet::new(),
                last_start: None,
                samples: VecDeque::new(),
                extra_starts: 0,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until scenario number `order` (its place in the list) may start.
    pub fn enter(&self, order: usize) -> Pass<'_> {
        let mut s = self.lock();
        s.queue.insert(order);
        loop {
            if s.queue.first() == Some(&order) {
                let now = Instant::now();
                let start = if s.running < self.slots {
                    Some(Start::FreeCore)
                } else {
                    let since = s.last_start.map(|t| now - t);
                    may_start_extra(s.running, self.slots, since, || {
                        self.idle_cores(&mut s, now)
                    })
                };
                if let Some(start) = start {
                    if start == Start::IdleHost {
                        s.extra_starts += 1;
                    }
                    s.queue.remove(&order);
                    s.running += 1;
                    s.last_start = Some(now);
                    s.samples.clear();
                    self.changed.notify_all();
                    return Pass(self);
                }
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_secs(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Samples the host and returns its idle cores over the last [`WINDOW`], once
    /// that much has been sampled.
    fn idle_cores(&self, s: &mut State, now: Instant) -> Option<f64> {
        if let Some(t) = HostTicks::now() {
            s.samples.push_back((now, t));
        }
        while s.samples.get(1).is_some_and(|(t, _)| now - *t >= WINDOW) {
            s.samples.pop_front();
        }
        let (first_at, first) = s.samples.front()?;
        let (_, last) = s.samples.back()?;
        if now - *first_at < WINDOW {
            return None;
        }
        last.idle_cores_since(first, self.cores)
    }

    /// How many scenarios started beyond one per core.
    pub fn extra_starts(&self) -> usize {
        self.lock().extra_starts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extra_scenario_starts_only_on_an_idle_settled_host() {
        let long = Some(SETTLE + Duration::from_secs(1));
        let idle = || Some(1.0);
        assert_eq!(may_start_extra(2, 2, long, idle), Some(Start::IdleHost));
        // one extra at most
        assert_eq!(may_start_extra(2 + EXTRA, 2, long, idle), None);
        // a scenario started just now: its boot is not in the load yet
        assert_eq!(
            may_start_extra(2, 2, Some(Duration::from_secs(5)), idle),
            None
        );
        // busy host, or not yet sampled for a whole window
        assert_eq!(may_start_extra(2, 2, long, || Some(0.5)), None);
        assert_eq!(may_start_extra(2, 2, long, || None), None);
    }
}
