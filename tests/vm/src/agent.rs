//! Host side of the guest agent (tests/vm/guest/agent) on the virtio-serial port.

use crate::chan::{b64_decode, b64_encode, LineReader};
use crate::error::VmError;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a guest command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The shell script that ran (`sh -c` semantics, working directory `/root`).
    pub command: String,
    /// Its standard output (lossy UTF-8).
    pub stdout: String,
    /// Its standard error (lossy UTF-8).
    pub stderr: String,
    /// Exit status (137 when the guest-side timeout killed it).
    pub status: i32,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// A connection to the agent.
#[derive(Debug)]
pub(crate) struct Agent {
    reader: LineReader,
    writer: UnixStream,
    next_id: u64,
}

/// Which section of an answer is being read.
#[derive(PartialEq)]
enum Part {
    Before,
    Out,
    Err,
}

/// What the caller checks between reads (is QEMU still alive?).
pub(crate) type Liveness<'a> = &'a mut dyn FnMut() -> Result<(), VmError>;

impl Agent {
    pub fn connect(path: &Path, timeout: Duration) -> Result<Agent, VmError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(VmError::io(format!("connect agent {}", path.display()), e))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let writer = stream
            .try_clone()
            .map_err(|e| VmError::io("clone agent socket", e))?;
        Ok(Agent {
            reader: LineReader::new(stream, "guest agent"),
            writer,
            next_id: 1,
        })
    }

    fn send(&mut self, line: &str) -> Result<(), VmError> {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| VmError::io("write to guest agent", e))
    }

    /// Pings once a second until the agent answers; `Ok(false)` at the deadline.
    pub fn wait_ready(&mut self, deadline: Instant, alive: Liveness<'_>) -> Result<bool, VmError> {
        let mut last_ping = None::<Instant>;
        let mut sent = Vec::new();
        while Instant::now() < deadline {
            alive()?;
            if last_ping.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                let n = self.next_id;
                self.next_id += 1;
                self.send(&format!("PING {n}"))?;
                sent.push(n.to_string());
                last_ping = Some(Instant::now());
            }
            if let Some(line) = self.reader.line(deadline)? {
                if let Some(n) = line.strip_prefix("PONG ") {
                    if sent.iter().any(|s| s == n.trim()) {
                        // the other queued pings are answered too: drain those answers
                        self.drain(Duration::from_millis(300))?;
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    fn drain(&mut self, quiet: Duration) -> Result<(), VmError> {
        while self.reader.line(Instant::now() + quiet)?.is_some() {}
        Ok(())
    }

    /// Runs `command` in the guest; the guest kills it after `timeout`, the host gives up
    /// 15 s later (`Ok(None)`).
    pub fn run(
        &mut self,
        command: &str,
        timeout: Duration,
        alive: Liveness<'_>,
    ) -> Result<Option<Output>, VmError> {
        let id = self.next_id;
        self.next_id += 1;
        let secs = timeout.as_secs().max(1);
        self.send(&format!(
            "RUN {id} {secs} {}",
            b64_encode(command.as_bytes())
        ))?;
        let deadline = Instant::now() + Duration::from_secs(secs + 15);
        let (out_tag, err_tag, end_tag) = (
            format!("OUT {id}"),
            format!("ERR {id}"),
            format!("END {id} "),
        );
        let (mut part, mut out, mut err) = (Part::Before, String::new(), String::new());
        loop {
            alive()?;
            let Some(line) = self.reader.line(deadline)? else {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            };
            if line == out_tag {
                part = Part::Out;
            } else if line == err_tag {
                part = Part::Err;
            } else if let Some(status) = line.strip_prefix(&end_tag) {
                let status = status
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| VmError::Protocol(format!("bad status line `{line}`")))?;
                let decode = |t: &str, what: &str| {
                    b64_decode(t)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .ok_or_else(|| VmError::Protocol(format!("bad base64 in {what}")))
                };
                return Ok(Some(Output {
                    command: command.to_string(),
                    stdout: decode(&out, "stdout")?,
                    stderr: decode(&err, "stderr")?,
                    status,
                }));
            } else {
                match part {
                    Part::Out => out.push_str(&line),
                    Part::Err => err.push_str(&line),
                    // stale answers (late PONGs, an abandoned command): skip
                    Part::Before => {}
                }
            }
        }
    }
}
