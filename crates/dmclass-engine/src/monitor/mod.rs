//! Events for `dmclass monitor`: what changed between two observations of the
//! machine's classes.
//!
//! The monitor does not report what it *meant* to do but what it *saw*: after every
//! wake-up (a dm event, a timeout) and its reactions ([`crate::react`]), it takes a
//! [`Snapshot`] — for each class, the GDS states `status` shows (slice, disk, closed)
//! together with the disks' roles and stable ids from the metadata — and
//! [`derive()`] compares it with the previous one. So a failure that `dmclass event
//! remove` (udev) recorded before the monitor woke up is reported all the same, and
//! nothing is reported that did not happen.
//!
//! | kind | when (between the two snapshots) | `state` |
//! |---|---|---|
//! | `leg_failed` | a slice of a running volume went from `ACTIVE` or `COPY` to `INVALID` (from `COPY`: the message says the resync was interrupted and how far it had come) | `INVALID` |
//! | `spare_took_over` | a leg of a running volume moved onto a hot spare disk (after a `leg_failed` for the original disk when the failure was not seen before) | the slice state (`COPY`) |
//! | `spare_released` | a hot spare went from `ENABLE` (holding a slice) back to `SPARE` | `SPARE` |
//! | `resync_started` | a slice of a running volume became `COPY` (or a leg is now copied on another disk) | `COPY` |
//! | `resync_finished` | a slice of a running volume went from `COPY` (or `INVALID`: its copy ran between two looks) to `ACTIVE` on the same disks | `ACTIVE` |
//! | `disk_disabled` | a disk went to `DISABLE` (missing, stale, or an untrusted label) | `DISABLE` |
//! | `disk_readded` | a disk that was `DISABLE` is back and trusted (`ENABLE` or `SPARE`) | the disk state |
//! | `class_closing` | the class closed (too few readable metadata copies, [`crate::closing`]) | `CLOSED` |
//!
//! A class seen for the first time (the monitor's first look, or a class activated
//! since) is compared with what its metadata records ([`ClassView::recorded`]): a
//! leg recorded `ACTIVE` that the kernel has dead is a `leg_failed` even if it died
//! while no monitor ran, as `mdadm --monitor` reports a degraded array at start; a
//! failure already recorded (slice `INVALID`, disk departed) is not reported again.
//! A class that vanished (deactivated, all disks gone) gives no event: its disks'
//! events came first. JSON: [`Event`] serialises as one object per event; the CLI adds the
//! `schema` field ([`SCHEMA`]). docs/cli.md has the field list.

#[cfg(test)]
mod tests;

use crate::layout::SliceState;
use crate::metadata::{ClassMeta, DiskRoleMeta, DiskState};
use crate::state::ClassStatus;
use serde::Serialize;

/// The value of the `schema` field of a JSON event line; a new number means a field
/// changed meaning or went away (new fields may be added within a version).
pub const SCHEMA: &str = "dmclass-event/1";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A running leg failed (slice `INVALID`).
    LegFailed,
    /// A hot spare now holds a leg (rebuilt onto it).
    SpareTookOver,
    /// A hot spare stands by again.
    SpareReleased,
    /// A leg is being resynchronised.
    ResyncStarted,
    /// A leg's resynchronisation finished (slice `ACTIVE`).
    ResyncFinished,
    /// A disk is `DISABLE` (missing or not trusted).
    DiskDisabled,
    /// A `DISABLE` disk is back and trusted.
    DiskReadded,
    /// The class closed (GDS closing rule).
    ClassClosing,
}

impl EventKind {
    /// The word in JSON, `DMCLASS_EVENT` and the journal (`leg_failed`, ...).
    pub fn word(self) -> &'static str {
        match self {
            EventKind::LegFailed => "leg_failed",
            EventKind::SpareTookOver => "spare_took_over",
            EventKind::SpareReleased => "spare_released",
            EventKind::ResyncStarted => "resync_started",
            EventKind::ResyncFinished => "resync_finished",
            EventKind::DiskDisabled => "disk_disabled",
            EventKind::DiskReadded => "disk_readded",
            EventKind::ClassClosing => "class_closing",
        }
    }

    /// Whether an admin should act (logged as a warning rather than a notice).
    pub fn is_trouble(self) -> bool {
        matches!(
            self,
            EventKind::LegFailed | EventKind::DiskDisabled | EventKind::ClassClosing
        )
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// One event. Fields that do not apply to a kind are `None` (JSON `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When it was seen, RFC 3339 UTC (`2026-12-06T05:10:00Z`).
    pub time: String,
    /// Class name.
    pub class: String,
    /// Volume name (leg and resync events).
    pub volume: Option<String>,
    /// Leg index within the volume (leg and resync events).
    pub leg: Option<usize>,
    /// Disk name(s) in the class, `+`-joined for a striped or concatenated leg.
    pub disk: Option<String>,
    /// The disk's stable id (`/dev/disk/by-id` name, else WWN, else serial), as
    /// recorded at registration; `+`-joined like `disk`.
    pub disk_id: Option<String>,
    /// The state after the change (a slice, disk or class state word).
    pub state: String,
    /// The state before the change.
    pub previous: Option<String>,
    /// One sentence for people.
    pub message: String,
}

/// A disk as the monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskView {
    /// Name in the class.
    pub name: String,
    /// Stable id ([`ClassMeta::stable_id`]).
    pub id: String,
    /// Role (a spare is `spare`).
    pub role: DiskRoleMeta,
    /// State as `status` shows it.
    pub state: DiskState,
    /// Why it is `DISABLE` while on the machine (a crafted label, a stale copy).
    pub reason: Option<String>,
}

/// A leg (slice) as the monitor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegView {
    /// Its disks.
    pub disks: Vec<String>,
    /// Slice state as `status` shows it.
    pub state: SliceState,
    /// Resync percent while `COPY`.
    pub sync_percent: Option<f64>,
}

/// A volume as the monitor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeView {
    /// Name.
    pub name: String,
    /// The volume runs (has a live top device).
    pub running: bool,
    /// Its legs.
    pub legs: Vec<LegView>,
}

/// A class as the monitor sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassView {
    /// Class UUID (a class is matched across snapshots by UUID, not name).
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Closed by GDS's rule.
    pub closed: bool,
    /// Why.
    pub closed_reason: Option<String>,
    /// Disks.
    pub disks: Vec<DiskView>,
    /// Volumes.
    pub volumes: Vec<VolumeView>,
}

/// Every class on the machine at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Classes as observed.
    pub classes: Vec<ClassView>,
    /// The same classes as their metadata records them: the baseline for a class
    /// the previous snapshot did not have.
    pub recorded: Vec<ClassView>,
}

impl Snapshot {
    /// Add a class: its description and its status.
    pub fn add(&mut self, meta: &ClassMeta, st: &ClassStatus) {
        let seen = ClassView::new(meta, st);
        self.recorded.push(ClassView::recorded(meta, &seen));
        self.classes.push(seen);
    }

    /// The recorded states as if observed: the "before" of the monitor's first look.
    #[must_use]
    pub fn as_recorded(&self) -> Snapshot {
        Snapshot {
            classes: self.recorded.clone(),
            recorded: self.recorded.clone(),
        }
    }
}

impl ClassView {
    /// The view of a class from its description (roles, stable ids, leg disks) and
    /// its status (states).
    pub fn new(meta: &ClassMeta, st: &ClassStatus) -> Self {
        let disks = st
            .disks
            .iter()
            .map(|d| DiskView {
                name: d.name.clone(),
                id: meta.stable_id(&d.name),
                role: meta.disk(&d.name).map_or(DiskRoleMeta::Member, |m| m.role),
                state: d.state,
                reason: d.reason.clone(),
            })
            .collect();
        let volumes = st
            .volumes
            .iter()
            .map(|v| {
                let recorded = meta.volume(&v.name);
                VolumeView {
                    name: v.name.clone(),
                    running: v.live,
                    legs: v
                        .slices
                        .iter()
                        .map(|s| LegView {
                            // The leg's own disk list (status joins them with `+`).
                            disks: recorded.and_then(|r| r.layout.legs.get(s.leg)).map_or_else(
                                || s.disk.split('+').map(str::to_owned).collect(),
                                |l| l.disks().iter().map(|d| (*d).to_owned()).collect(),
                            ),
                            state: s.state,
                            sync_percent: s.sync_percent,
                        })
                        .collect(),
                }
            })
            .collect();
        ClassView {
            uuid: st.uuid.clone(),
            name: st.name.clone(),
            closed: st.closed,
            closed_reason: st.closed_reason.clone(),
            disks,
            volumes,
        }
    }

    /// What `meta` records, with `observed`'s running volumes: slice states as
    /// recorded, a departed disk `DISABLE`, the class open.
    pub fn recorded(meta: &ClassMeta, observed: &ClassView) -> Self {
        ClassView {
            uuid: observed.uuid.clone(),
            name: meta.name.clone(),
            closed: false,
            closed_reason: None,
            disks: meta
                .disks
                .iter()
                .map(|d| DiskView {
                    name: d.name.clone(),
                    id: meta.stable_id(&d.name),
                    role: d.role,
                    state: if meta.departed.iter().any(|x| x.disk == d.name) {
                        DiskState::Disable
                    } else {
                        d.state
                    },
                    reason: None,
                })
                .collect(),
            volumes: meta
                .volumes
                .iter()
                .map(|v| VolumeView {
                    name: v.name.clone(),
                    running: observed
                        .volumes
                        .iter()
                        .any(|o| o.name == v.name && o.running),
                    legs: v
                        .layout
                        .legs
                        .iter()
                        .map(|l| LegView {
                            disks: l.disks().iter().map(|d| (*d).to_owned()).collect(),
                            state: l.state,
                            sync_percent: None,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn disk(&self, name: &str) -> Option<&DiskView> {
        self.disks.iter().find(|d| d.name == name)
    }

    fn ids(&self, disks: &[String]) -> String {
        disks
            .iter()
            .map(|d| self.disk(d).map_or("no stable id", |x| x.id.as_str()))
            .collect::<Vec<_>>()
            .join("+")
    }

    fn on_spare(&self, disks: &[String]) -> bool {
        disks
            .iter()
            .any(|d| self.disk(d).is_some_and(|x| x.role == DiskRoleMeta::Spare))
    }
}

/// The GDS word of a state (`ACTIVE`, `DISABLE`, ...), as `status` prints it.
fn word<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

struct Emit<'a> {
    time: &'a str,
    out: Vec<Event>,
}

impl Emit<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        kind: EventKind,
        class: &ClassView,
        volume: Option<&str>,
        leg: Option<usize>,
        disks: Option<&[String]>,
        state: String,
        previous: Option<String>,
        message: String,
    ) {
        self.out.push(Event {
            kind,
            time: self.time.to_owned(),
            class: class.name.clone(),
            volume: volume.map(str::to_owned),
            leg,
            disk: disks.map(|d| d.join("+")),
            disk_id: disks.map(|d| class.ids(d)),
            state,
            previous,
            message,
        });
    }
}

/// The events between two snapshots (`time`: when `after` was taken, RFC 3339), in
/// a fixed order: per class (as in `after`), the class, then its disks, then its
/// volumes' legs.
pub fn derive(before: &Snapshot, after: &Snapshot, time: &str) -> Vec<Event> {
    let mut e = Emit {
        time,
        out: Vec::new(),
    };
    for a in &after.classes {
        let Some(b) = (before.classes.iter())
            .chain(&after.recorded)
            .find(|b| b.uuid == a.uuid)
        else {
            continue;
        };
        class_events(&mut e, b, a);
    }
    e.out
}

fn class_events(e: &mut Emit<'_>, b: &ClassView, a: &ClassView) {
    let name = &a.name;
    if a.closed && !b.closed {
        let why = a.closed_reason.clone().unwrap_or_default();
        e.push(
            EventKind::ClassClosing,
            a,
            None,
            None,
            None,
            "CLOSED".into(),
            Some("OPEN".into()),
            format!("class {name} closed: {why}"),
        );
    }
    for d in &a.disks {
        let Some(old) = b.disk(&d.name) else { continue };
        let one = std::slice::from_ref(&d.name);
        let (was, now) = (word(&old.state), word(&d.state));
        if d.state == DiskState::Disable && old.state != DiskState::Disable {
            let why = d
                .reason
                .clone()
                .unwrap_or_else(|| "missing or unreadable".into());
            e.push(
                EventKind::DiskDisabled,
                a,
                None,
                None,
                Some(one),
                now,
                Some(was),
                format!("class {name}: disk {} ({}) DISABLE: {why}", d.name, d.id),
            );
        } else if old.state == DiskState::Disable && d.state != DiskState::Disable {
            e.push(
                EventKind::DiskReadded,
                a,
                None,
                None,
                Some(one),
                now.clone(),
                Some(was),
                format!("class {name}: disk {} ({}) is back, {now}", d.name, d.id),
            );
        } else if d.role == DiskRoleMeta::Spare
            && old.state == DiskState::Enable
            && d.state == DiskState::Spare
        {
            e.push(
                EventKind::SpareReleased,
                a,
                None,
                None,
                Some(one),
                now,
                Some(was),
                format!(
                    "class {name}: hot spare {} ({}) released, standing by",
                    d.name, d.id
                ),
            );
        }
    }
    for v in &a.volumes {
        let Some(old) = b.volumes.iter().find(|x| x.name == v.name) else {
            continue;
        };
        if !v.running {
            continue; // a stopped volume's slices say nothing about failures
        }
        for (i, l) in v.legs.iter().enumerate() {
            let Some(ol) = old.legs.get(i) else { continue };
            leg_events(e, a, v, i, ol, l, old.running);
        }
    }
}

fn leg_events(
    out: &mut Emit<'_>,
    class: &ClassView,
    vol: &VolumeView,
    leg: usize,
    ol: &LegView,
    l: &LegView,
    was_running: bool,
) {
    let (e, a, i) = (out, class, leg);
    let (name, vol) = (&a.name, vol.name.as_str());
    let (was, now) = (word(&ol.state), word(&l.state));
    let on = |disks: &[String]| format!("{} ({})", disks.join("+"), a.ids(disks));
    let moved = ol.disks != l.disks;
    let live = |s: SliceState| matches!(s, SliceState::Active | SliceState::Copy);
    if moved && a.on_spare(&l.disks) && !a.on_spare(&ol.disks) {
        // A spare takes a leg only after it failed; when both happened between two
        // looks, the failure of the original disks is reported first.
        if was_running && live(ol.state) {
            e.push(
                EventKind::LegFailed,
                a,
                Some(vol),
                Some(i),
                Some(&ol.disks),
                word(&SliceState::Invalid),
                Some(was.clone()),
                format!(
                    "class {name}: volume {vol} leg {i} failed on disk {}: slice INVALID",
                    on(&ol.disks)
                ),
            );
        }
        e.push(
            EventKind::SpareTookOver,
            a,
            Some(vol),
            Some(i),
            Some(&l.disks),
            now.clone(),
            Some(was.clone()),
            format!(
                "class {name}: volume {vol} leg {i} taken over by hot spare {}, was on {}",
                on(&l.disks),
                on(&ol.disks)
            ),
        );
    }
    if !moved && was_running && live(ol.state) && l.state == SliceState::Invalid {
        // A leg that fails while it is being copied leaves a resync cut short: say
        // how far it had come when last seen, so the admin knows the copy is not done.
        let cut = if ol.state == SliceState::Copy {
            ol.sync_percent.map_or_else(
                || ", its resync interrupted".to_owned(),
                |p| format!(", its resync interrupted (last seen {p:.1}% in sync)"),
            )
        } else {
            String::new()
        };
        e.push(
            EventKind::LegFailed,
            a,
            Some(vol),
            Some(i),
            Some(&l.disks),
            now,
            Some(was),
            format!(
                "class {name}: volume {vol} leg {i} failed on disk {}: slice INVALID{cut}",
                on(&l.disks)
            ),
        );
        return;
    }
    if l.state == SliceState::Copy && (moved || ol.state != SliceState::Copy) {
        let pct = l
            .sync_percent
            .map_or_else(String::new, |p| format!(" ({p:.1}% in sync)"));
        e.push(
            EventKind::ResyncStarted,
            a,
            Some(vol),
            Some(i),
            Some(&l.disks),
            now,
            Some(was),
            format!(
                "class {name}: volume {vol} leg {i} resynchronising onto disk {}{pct}",
                on(&l.disks)
            ),
        );
    } else if !moved
        && was_running
        && matches!(ol.state, SliceState::Copy | SliceState::Invalid)
        && l.state == SliceState::Active
    {
        // From INVALID: the leg came back and its copy ran between two looks (the
        // kernel raises no dm event when a recovery starts); it is in sync all the same.
        let again = if ol.state == SliceState::Invalid {
            " again"
        } else {
            ""
        };
        e.push(
            EventKind::ResyncFinished,
            a,
            Some(vol),
            Some(i),
            Some(&l.disks),
            now,
            Some(was),
            format!(
                "class {name}: volume {vol} leg {i} in sync{again} on disk {}: slice ACTIVE",
                on(&l.disks)
            ),
        );
    }
}

/// Whether a running volume has a leg out or being copied: the monitor then looks
/// again every few seconds, since the kernel raises no dm event when a leg returns
/// and its recovery starts (only when it fails or finishes).
pub fn watch_closely(s: &Snapshot) -> bool {
    s.classes.iter().flat_map(|c| &c.volumes).any(|v| {
        v.running
            && v.legs
                .iter()
                .any(|l| matches!(l.state, SliceState::Copy | SliceState::Invalid))
    })
}

pub use crate::time::rfc3339_utc;
