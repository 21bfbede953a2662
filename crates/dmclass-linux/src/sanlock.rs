//! The real [`LeaseClient`]: sanlock's daemon through its command-line client
//! (`sanlock client ...`, `sanlock direct ...`; Debian package `sanlock`).
//!
//! A lease belongs to a registered process: dmclass takes one by starting a holder
//! process under `sanlock client command -r LEASE -c HOLDER...` (sanlock registers
//! itself, acquires, then execs the holder, so the holder's pid owns the lease). The
//! holder announces itself with [`HELD_MARKER`] on its standard output; giving the
//! lease back is ending the holder (sanlock frees the leases of a process that exits).

use dmclass_engine::error::{EngineError, Result};
use dmclass_engine::lease::client::{Kind, LeaseClient, Taken};
use dmclass_engine::lease::sanlock::{
    parse_hosts, parse_leader, parse_status, Leader, Status, OUTPUT_CAP,
};
use dmclass_engine::lease::Geometry;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The line a holder prints once it holds its lease.
pub const HELD_MARKER: &str = "dmclass-lease-held";
/// How long taking a lease may take (a lease whose owner died is taken after the
/// owner's host-id lease expired: sanlock waits for it).
const TAKE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a given-back lease may take to be free.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);
/// sanlock's answers meaning "another live host holds it" (sanlock_rv.h:
/// IDLIVE, OWNED, OTHER, OWNED_RETRY).
const BUSY: [&str; 4] = ["-243", "-244", "-245", "-247"];

/// sanlock's client.
#[derive(Debug, Default)]
pub struct Sanlock;

fn lease_err(what: &str, why: impl std::fmt::Display) -> EngineError {
    EngineError::Lease(format!("{what}: {why}"))
}

/// Text of a command's output, bounded.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(OUTPUT_CAP)]).into_owned()
}

impl Sanlock {
    /// The client.
    pub fn new() -> Self {
        Sanlock
    }
}

/// Run `sanlock ARGS`: its standard output, or the error with what it said.
fn run(args: &[&str]) -> Result<String> {
    let what = format!("sanlock {}", args.join(" "));
    let out = Command::new("sanlock")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| lease_err(&what, format!("cannot run it: {e} (apt install sanlock)")))?;
    let stdout = text(&out.stdout);
    if !out.status.success() {
        return Err(lease_err(
            &what,
            format!("{} {}", stdout.trim(), text(&out.stderr).trim()).trim(),
        ));
    }
    Ok(stdout)
}

fn flag(kind: Kind) -> &'static str {
    match kind {
        Kind::Lockspace => "-s",
        Kind::Resource => "-r",
    }
}

/// `-Z SECTOR -A ALIGN` for 4096-byte-sector geometries (512/1 MiB is sanlock's
/// default).
fn geometry_args(g: Geometry) -> Vec<String> {
    if g == Geometry::S512A1M {
        return Vec::new();
    }
    vec![
        "-Z".into(),
        g.sector().to_string(),
        "-A".into(),
        format!("{}M", g.unit().0 >> 20),
    ]
}

impl LeaseClient for Sanlock {
    fn status(&self) -> Result<Status> {
        run(&["client", "status"])
            .map(|t| parse_status(&t))
            .map_err(|e| {
                EngineError::Lease(format!(
                    "the sanlock daemon does not answer (systemctl enable --now wdmd sanlock): {e}"
                ))
            })
    }

    fn init(&mut self, kind: Kind, arg: &str, geometry: Geometry) -> Result<()> {
        let g = geometry_args(geometry);
        let mut args = vec!["direct", "init", flag(kind), arg];
        args.extend(g.iter().map(String::as_str));
        run(&args).map(|_| ())
    }

    fn leader(&self, kind: Kind, arg: &str, name: &str, geometry: Geometry) -> Result<Leader> {
        let g = geometry_args(geometry);
        let mut args = vec!["direct", "read_leader", flag(kind), arg];
        args.extend(g.iter().map(String::as_str));
        let out = run(&args)?;
        parse_leader(&out, name)
            .ok_or_else(|| lease_err(arg, format!("no leader record of {name} there")))
    }

    fn join(&mut self, arg: &str) -> Result<()> {
        run(&["client", "add_lockspace", "-s", arg]).map(|_| ())
    }

    fn hold(&mut self, arg: &str, command: &[String]) -> Result<Taken> {
        let (exe, rest) = command
            .split_first()
            .ok_or_else(|| lease_err(arg, "no holder command"))?;
        let mut cmd = Command::new("sanlock");
        cmd.args(["client", "command", "-r", arg, "-c", exe])
            .args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own session: the holder outlives this command and its terminal.
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            lease_err(
                arg,
                format!("cannot run sanlock: {e} (apt install sanlock)"),
            )
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| lease_err(arg, "no pipe from the holder"))?;
        // Lines until the marker or the end, read aside so the wait is bounded.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stdout.take(OUTPUT_CAP as u64)).lines() {
                let Ok(line) = line else { break };
                if line.trim() == HELD_MARKER {
                    let _ = tx.send(Ok(()));
                    return;
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            let _ = tx.send(Err(seen));
        });
        match rx.recv_timeout(TAKE_TIMEOUT) {
            Ok(Ok(())) => Ok(Taken::Held(child.id())),
            Ok(Err(said)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.by_ref().take(OUTPUT_CAP as u64).read_to_string(&mut err);
                }
                let _ = child.wait();
                let said = format!("{} {}", said.trim(), err.trim()).trim().to_owned();
                if BUSY.iter().any(|b| said.contains(b)) {
                    Ok(Taken::Busy(said))
                } else {
                    Err(lease_err(arg, format!("not taken: {said}")))
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(lease_err(
                    arg,
                    format!("not taken within {} s; gave up", TAKE_TIMEOUT.as_secs()),
                ))
            }
        }
    }

    fn hosts(&self, lockspace: &str) -> Result<Vec<u64>> {
        run(&["client", "host_status", "-s", lockspace]).map(|t| parse_hosts(&t))
    }

    fn release(&mut self, pid: u32, lockspace: &str, resource: &str) -> Result<()> {
        let target = i32::try_from(pid)
            .map(nix::unistd::Pid::from_raw)
            .map_err(|_| lease_err(resource, format!("holder pid {pid} out of range")))?;
        // SIGUSR1: given back (SIGTERM is sanlock's "lost", which fences); the holder
        // exits and sanlock frees its leases.
        if let Err(e) = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGUSR1) {
            if e != nix::errno::Errno::ESRCH {
                return Err(lease_err(resource, format!("cannot end holder {pid}: {e}")));
            }
        }
        let start = Instant::now();
        loop {
            if self.status()?.holder(lockspace, resource).is_none() {
                return Ok(());
            }
            if start.elapsed() > RELEASE_TIMEOUT {
                return Err(lease_err(
                    resource,
                    format!(
                        "still held by process {pid} after {} s",
                        RELEASE_TIMEOUT.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_flags_only_for_4k_sectors() {
        assert!(geometry_args(Geometry::S512A1M).is_empty());
        assert_eq!(geometry_args(Geometry::S4kA8M), ["-Z", "4096", "-A", "8M"]);
        assert_eq!(geometry_args(Geometry::S4kA1M), ["-Z", "4096", "-A", "1M"]);
    }
}
