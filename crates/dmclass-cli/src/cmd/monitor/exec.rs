//! `monitor --exec PROGRAM`: one run of PROGRAM per event, as `mdadm --monitor`
//! runs its PROGRAM.
//!
//! Runs happen on one worker thread, one at a time and in the order of the events,
//! so the monitor never waits for a program (it must keep reacting to failures and
//! pinging the watchdog). Bounded everywhere: at most [`QUEUE`] events wait (more
//! are logged as not delivered), a run is killed after the timeout, and the
//! program's output is never read into the monitor: its stdout goes to the
//! monitor's stderr (stdout is the event stream), its stderr is the monitor's.
//! A program that cannot start, fails or is killed is logged; the monitor goes on.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events waiting for the program at most; a program slower than the events come
/// loses the newest ones (logged), not the monitor's memory.
const QUEUE: usize = 64;

/// How often a running program is checked for exit.
const POLL: Duration = Duration::from_millis(50);

/// Variables systemd gives the monitor that must not reach the program: it would
/// otherwise be able to notify (or feed the watchdog) in the monitor's name.
const NOT_INHERITED: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// One run: the program's arguments and environment.
#[derive(Debug)]
pub struct Job {
    /// Arguments (event kind, class).
    pub args: Vec<String>,
    /// `DMCLASS_*` variables.
    pub env: Vec<(String, String)>,
}

/// The queue in front of the worker.
#[derive(Debug)]
pub struct Runner {
    program: PathBuf,
    tx: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
}

impl Runner {
    /// Start the worker for `program`, killing runs after `timeout`.
    pub fn start(program: PathBuf, timeout: Duration) -> Self {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let p = program.clone();
        let worker = std::thread::Builder::new()
            .name("dmclass-exec".into())
            .spawn(move || {
                for job in rx {
                    run_one(&p, &job, timeout);
                }
            });
        let worker = match worker {
            Ok(w) => Some(w),
            Err(e) => {
                log::error!("cannot start the --exec worker thread: {e}; no program will run");
                None
            }
        };
        Runner {
            tx: worker.as_ref().map(|_| tx),
            program,
            worker,
        }
    }

    /// Queue a run; never blocks.
    pub fn submit(&self, job: Job) {
        let Some(tx) = &self.tx else { return };
        let what = job.args.join(" ");
        match tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::warn!(
                "--exec {}: {QUEUE} events already wait; event `{what}` not passed to it",
                self.program.display()
            ),
            Err(TrySendError::Disconnected(_)) => log::warn!(
                "--exec {}: the worker stopped; event `{what}` not passed to it",
                self.program.display()
            ),
        }
    }

    /// Wait until every queued run is done (`monitor --once`).
    pub fn finish(mut self) {
        self.tx = None; // closes the channel: the worker ends after the queue
        if let Some(w) = self.worker.take() {
            if w.join().is_err() {
                log::warn!("--exec {}: the worker panicked", self.program.display());
            }
        }
    }
}

fn run_one(program: &Path, job: &Job, timeout: Duration) {
    let shown = program.display();
    let what = job.args.join(" ");
    let mut cmd = Command::new(program);
    cmd.args(&job.args)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    for k in NOT_INHERITED {
        cmd.env_remove(k);
    }
    // The program's stdout joins the monitor's stderr: stdout carries the events.
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => {
            cmd.stdout(Stdio::from(fd));
        }
        Err(_) => {
            cmd.stdout(Stdio::null());
        }
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log::warn!("--exec {shown} for event `{what}` could not start: {e}");
            return;
        }
    };
    let start = Instant::now();
    let status: Option<ExitStatus> = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                log::warn!(
                    "--exec {shown} for event `{what}` ran longer than {}s: killed",
                    timeout.as_secs()
                );
                break None;
            }
            Err(e) => {
                log::warn!("--exec {shown} for event `{what}`: cannot wait for it: {e}");
                break None;
            }
        }
    };
    match status {
        Some(st) if st.success() => log::debug!("--exec {shown} for event `{what}`: ok"),
        Some(st) => log::warn!("--exec {shown} for event `{what}` failed: {st}"),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(kind: &str) -> Job {
        Job {
            args: vec![kind.into(), "data".into()],
            env: vec![("DMCLASS_EVENT".into(), kind.into())],
        }
    }

    #[test]
    fn runs_in_order_with_env_and_args() {
        let dir = std::env::temp_dir().join(format!("dmclass-exec-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let out = dir.join("out");
        let script = dir.join("prog.sh");
        let body = format!(
            "#!/bin/sh\necho \"$1 $2 $DMCLASS_EVENT ${{NOTIFY_SOCKET:-none}}\" >>{}\n",
            out.display()
        );
        assert!(std::fs::write(&script, body).is_ok());
        let chmod = Command::new("chmod").arg("+x").arg(&script).status();
        assert!(chmod.is_ok_and(|s| s.success()));
        let r = Runner::start(script, Duration::from_secs(10));
        r.submit(job("leg_failed"));
        r.submit(job("resync_started"));
        r.finish();
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        assert_eq!(
            got,
            "leg_failed data leg_failed none\nresync_started data resync_started none\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_hanging_or_missing_program_does_not_stop_the_runner() {
        let r = Runner::start(PathBuf::from("/nonexistent/dmclass-prog"), POLL);
        r.submit(job("leg_failed"));
        r.finish();
        let t0 = Instant::now();
        let r = Runner::start(PathBuf::from("/bin/sleep"), Duration::from_secs(1));
        r.submit(Job {
            args: vec!["30".into()],
            env: Vec::new(),
        });
        r.finish();
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "killed at the timeout"
        );
    }
}
