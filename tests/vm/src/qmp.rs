//! QMP client (QEMU Machine Protocol, JSON over the VM's Unix socket).

use crate::chan::LineReader;
use crate::error::VmError;
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A connected QMP session in command mode.
#[derive(Debug)]
pub struct Qmp {
    reader: LineReader,
    writer: UnixStream,
    events: Vec<Value>,
}

/// Per-device I/O counters from `query-blockstats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockStats {
    /// Bytes the guest read.
    pub rd_bytes: u64,
    /// Bytes the guest wrote.
    pub wr_bytes: u64,
    /// Read requests.
    pub rd_operations: u64,
    /// Write requests.
    pub wr_operations: u64,
    /// Flush requests.
    pub flush_operations: u64,
}

impl Qmp {
    /// Connects (retrying while QEMU creates the socket) and enters command mode.
    pub(crate) fn connect(path: &Path, timeout: Duration) -> Result<Qmp, VmError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(VmError::io(format!("connect QMP {}", path.display()), e))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let writer = stream
            .try_clone()
            .map_err(|e| VmError::io("clone QMP socket", e))?;
        let mut qmp = Qmp {
            reader: LineReader::new(stream, "QMP"),
            writer,
            events: Vec::new(),
        };
        // QEMU can queue an event (RESUME at start-up) ahead of the greeting when the
        // client connects while it is still starting (seen under load): keep it.
        let mut greeting = qmp.next_message(deadline)?;
        while greeting.get("event").is_some() {
            qmp.events.push(greeting);
            greeting = qmp.next_message(deadline)?;
        }
        if greeting.get("QMP").is_none() {
            return Err(VmError::Qmp {
                command: "greeting".into(),
                message: format!("unexpected greeting {greeting}"),
            });
        }
        qmp.execute("qmp_capabilities", &json!({}))?;
        Ok(qmp)
    }

    fn next_message(&mut self, deadline: Instant) -> Result<Value, VmError> {
        loop {
            match self.reader.line(deadline)? {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => {
                    return serde_json::from_str(&line).map_err(|e| VmError::Qmp {
                        command: "read".into(),
                        message: format!("bad JSON `{line}`: {e}"),
                    })
                }
                None if Instant::now() >= deadline => {
                    return Err(VmError::Qmp {
                        command: "read".into(),
                        message: "no answer from QEMU".into(),
                    })
                }
                None => {}
            }
        }
    }

    /// Runs a command and returns its `return` value; events that arrive meanwhile are
    /// kept for [`Qmp::wait_event`].
    pub fn execute(&mut self, command: &str, arguments: &Value) -> Result<Value, VmError> {
        let mut msg = json!({ "execute": command });
        if arguments.as_object().is_some_and(|o| !o.is_empty()) {
            msg["arguments"] = arguments.clone();
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| VmError::io(format!("send QMP {command}"), e))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self.next_message(deadline).map_err(|e| match e {
                VmError::Qmp { message, .. } => VmError::Qmp {
                    command: command.into(),
                    message,
                },
                other => other,
            })?;
            if reply.get("event").is_some() {
                self.events.push(reply);
            } else if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            } else if let Some(err) = reply.get("error") {
                return Err(VmError::Qmp {
                    command: command.into(),
                    message: err
                        .get("desc")
                        .and_then(Value::as_str)
                        .map_or_else(|| err.to_string(), str::to_string),
                });
            }
        }
    }

    /// Waits for an event named `name` for which `matches` holds (already received
    /// events count); removes and returns it.
    pub fn wait_event(
        &mut self,
        name: &str,
        matches: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, VmError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e.get("event").and_then(Value::as_str) == Some(name) && matches(e))
            {
                return Ok(self.events.remove(i));
            }
            if Instant::now() >= deadline {
                return Err(VmError::Qmp {
                    command: format!("wait for event {name}"),
                    message: format!("not received within {} s", timeout.as_secs()),
                });
            }
            if let Some(line) = self.reader.line(deadline)? {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v.get("event").is_some() {
                        self.events.push(v);
                    }
                }
            }
        }
    }

    /// Events received and not yet consumed by [`Qmp::wait_event`].
    pub fn events(&self) -> &[Value] {
        &self.events
    }

    /// I/O counters of the guest device attached to node `node` (`None` while no device
    /// uses it, e.g. after `device_del`). A re-added device starts from zero.
    pub fn blockstats(&mut self, node: &str) -> Result<Option<BlockStats>, VmError> {
        let all = self.execute("query-blockstats", &json!({}))?;
        let dev = format!("/dev-{node}/");
        let dev_end = format!("/dev-{node}");
        let entry = all.as_array().into_iter().flatten().find(|e| {
            e.get("node-name").and_then(Value::as_str) == Some(node)
                || e.get("qdev")
                    .and_then(Value::as_str)
                    .is_some_and(|q| q.contains(&dev) || q.ends_with(&dev_end))
        });
        Ok(entry.map(|e| {
            let n = |k: &str| e["stats"].get(k).and_then(Value::as_u64).unwrap_or(0);
            BlockStats {
                rd_bytes: n("rd_bytes"),
                wr_bytes: n("wr_bytes"),
                rd_operations: n("rd_operations"),
                wr_operations: n("wr_operations"),
                flush_operations: n("flush_operations"),
            }
        }))
    }
}
