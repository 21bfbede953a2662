//! Where an event goes: a line on stdout (text or JSON), the journal with
//! structured fields (or a log line on stderr when journald is absent), and the
//! `--exec` program. The field names are spelled once, in [`fields`].

use super::exec::{Job, Runner};
use dmclass_engine::monitor::{Event, SCHEMA};
use log::Level;
use serde::Serialize;
use systemd_journal_logger::JournalLog;

/// One JSON line: the schema tag, then the event's fields.
#[derive(Serialize)]
struct Line<'a> {
    schema: &'static str,
    #[serde(flatten)]
    event: &'a Event,
}

/// The event as JSON (one line, no newline).
pub fn json_line(e: &Event) -> String {
    serde_json::to_string(&Line {
        schema: SCHEMA,
        event: e,
    })
    // Serialising plain strings and numbers cannot fail; an empty object is still a
    // line a reader can skip.
    .unwrap_or_else(|_| "{}".into())
}

/// The event as `KEY=value` pairs: the journal's fields and the program's
/// environment (docs/cli.md). A field that does not apply is empty.
pub fn fields(e: &Event) -> Vec<(&'static str, String)> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    vec![
        ("DMCLASS_EVENT", e.kind.word().to_owned()),
        ("DMCLASS_CLASS", e.class.clone()),
        ("DMCLASS_VOLUME", opt(&e.volume)),
        (
            "DMCLASS_LEG",
            e.leg.map(|l| l.to_string()).unwrap_or_default(),
        ),
        ("DMCLASS_DISK", opt(&e.disk)),
        ("DMCLASS_DISK_ID", opt(&e.disk_id)),
        ("DMCLASS_STATE", e.state.clone()),
        ("DMCLASS_PREVIOUS_STATE", opt(&e.previous)),
        ("DMCLASS_TIME", e.time.clone()),
        ("DMCLASS_MESSAGE", e.message.clone()),
    ]
}

/// Where events go.
pub struct Reporter {
    /// JSON lines instead of text on stdout.
    pub json: bool,
    /// Print text lines (off when stdout is the journal anyway and JSON was not
    /// asked for: the journal entry has the same message).
    pub text: bool,
    /// journald, when it listens.
    pub journal: Option<JournalLog>,
    /// The `--exec` worker.
    pub exec: Option<Runner>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("json", &self.json)
            .field("text", &self.text)
            .field("journal", &self.journal.is_some())
            .field("exec", &self.exec)
            .finish()
    }
}

impl Reporter {
    /// Report one event everywhere.
    pub fn report(&self, e: &Event) {
        let line = json_line(e);
        if self.json {
            println!("{line}");
        } else if self.text {
            println!("{} {} {}", e.time, e.kind, e.message);
        }
        let level = if e.kind.is_trouble() {
            Level::Warn
        } else {
            Level::Info
        };
        let kv = fields(e);
        let sent = self.journal.as_ref().map(|j| {
            let pairs: Vec<(&str, &str)> = kv.iter().map(|(k, v)| (*k, v.as_str())).collect();
            j.journal_send(
                &log::Record::builder()
                    .args(format_args!("{}", e.message))
                    .level(level)
                    .target("dmclass::monitor")
                    .key_values(&pairs.as_slice())
                    .build(),
            )
        });
        match sent {
            Some(Ok(())) => {}
            Some(Err(err)) => {
                log::warn!("journald refused an event ({err}): {}", e.message);
            }
            // No journal: the log (stderr) has it; text on stdout already says it.
            None => log::log!(level, "event {}: {}", e.kind, e.message),
        }
        if let Some(r) = &self.exec {
            let mut env: Vec<(String, String)> =
                kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            env.push(("DMCLASS_EVENT_JSON".into(), line));
            r.submit(Job {
                args: vec![e.kind.word().to_owned(), e.class.clone()],
                env,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_engine::monitor::EventKind;

    fn ev() -> Event {
        Event {
            kind: EventKind::LegFailed,
            time: "2026-12-06T05:10:00Z".into(),
            class: "data".into(),
            volume: Some("v1".into()),
            leg: Some(1),
            disk: Some("b".into()),
            disk_id: Some("virtio-b".into()),
            state: "INVALID".into(),
            previous: Some("ACTIVE".into()),
            message: "class data: volume v1 leg 1 failed".into(),
        }
    }

    #[test]
    fn json_line_has_schema_and_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&json_line(&ev())).unwrap_or(serde_json::Value::Null);
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["kind"], "leg_failed");
        assert_eq!(v["disk_id"], "virtio-b");
        assert_eq!(v["leg"], 1);
    }

    #[test]
    fn fields_are_named_for_the_journal() {
        let f = fields(&ev());
        assert!(f
            .iter()
            .all(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_')));
        assert!(f.contains(&("DMCLASS_LEG", "1".into())));
        let mut none = ev();
        none.volume = None;
        none.leg = None;
        assert!(fields(&none).contains(&("DMCLASS_VOLUME", String::new())));
    }
}
