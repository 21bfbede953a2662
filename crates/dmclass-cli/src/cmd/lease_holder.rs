//! `dmclass lease-holder` (hidden): the process a shared class's lease belongs to.
//!
//! sanlock ties a lease to a registered process and frees it when that process ends;
//! `activate` is short-lived, so each lease it takes gets a holder of its own (run by
//! `sanlock client command`, which registers, acquires and then execs this). Signals:
//! SIGUSR1 gives the lease back (the volume is already stopped, or the change that
//! needed the class lease is done); SIGTERM is sanlock's kill path — this node can no
//! longer renew its leases, another node may soon take them — so the volume's tables
//! become `error` before the holder exits (with `--parent`, that process is killed
//! instead). Without a watchdog nothing else stops a node that lost its leases.

use crate::args::lease_holder::LeaseHolderArgs;
use crate::error::CliError;
use dmclass_engine::io::Disks;
use dmclass_model::Bytes;
use nix::sys::signal::{SigSet, Signal};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

fn refused(what: &str, why: impl std::fmt::Display) -> CliError {
    CliError::Refused(format!("lease holder of {what}: {why}"))
}

/// Run the holder until its lease is given back or lost.
pub fn run(a: &LeaseHolderArgs) -> Result<ExitCode, CliError> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
    ] {
        set.add(s);
    }
    // Blocked before any thread exists, so every thread inherits it and only the
    // sigwait below sees the signals.
    set.thread_block().map_err(|e| refused(&a.what, e))?;
    let uuid =
        |s: &str| uuid::Uuid::try_parse(s).map_err(|e| refused(&a.what, format!("{s}: {e}")));
    let class = uuid(&a.class)?;
    let volume = a.volume.as_deref().map(uuid).transpose()?;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let (Some(dev), Some(offset), Some(node)) = (&a.note, a.note_offset, &a.node) {
        let bytes = dmclass_engine::lease::note::encode(node, since)?;
        dmclass_linux::LinuxDisks::new()
            .write(dev, Bytes(offset), &bytes)
            .map_err(|e| refused(&a.what, format!("cannot write the holder note: {e}")))?;
    }
    // Opened now: fencing must not depend on opening anything later.
    let mut kernel = match volume {
        Some(_) => Some(dmclass_linux::LinuxKernel::new()?),
        None => None,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", dmclass_linux::sanlock::HELD_MARKER)
            .and_then(|()| out.flush())
            .map_err(|e| refused(&a.what, e))?;
    }
    redirect_output(a);
    log::warn!(
        "{}: lease held since {since} (pid {})",
        a.what,
        std::process::id()
    );
    if let Some(parent) = a.parent {
        // The lease lives as long as the command that took it.
        std::thread::spawn(move || loop {
            if nix::unistd::getppid().as_raw() != parent {
                std::process::exit(0);
            }
            std::thread::sleep(Duration::from_millis(500));
        });
    }
    loop {
        match set.wait() {
            Ok(Signal::SIGUSR1) => {
                log::warn!("{}: lease given back", a.what);
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Signal::SIGTERM | Signal::SIGINT) => break,
            Ok(_) | Err(_) => {}
        }
    }
    log::error!("{}: lease lost (sanlock ended its holder)", a.what);
    if let (Some(k), Some(volume)) = (kernel.as_mut(), volume) {
        match dmclass_engine::lease::fence::fence_volume(k, class, volume) {
            Ok(devs) => log::error!("{}: fenced: {}", a.what, devs.join(" ")),
            Err(e) => log::error!("{}: FENCING FAILED: {e}", a.what),
        }
    }
    if let Some(parent) = a.parent.filter(|&p| nix::unistd::getppid().as_raw() == p) {
        log::error!(
            "{}: killing the command that held it (pid {parent})",
            a.what
        );
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(parent), Signal::SIGKILL);
    }
    Ok(ExitCode::SUCCESS)
}

/// Standard output and error to the holder's log (or nowhere): the command that
/// started the holder stops reading, and its terminal may go away.
fn redirect_output(a: &LeaseHolderArgs) {
    let file = a
        .log
        .as_ref()
        .and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        })
        .or_else(|| {
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .ok()
        });
    if let Some(f) = file {
        let _ = nix::unistd::dup2(f.as_raw_fd(), 1);
        let _ = nix::unistd::dup2(f.as_raw_fd(), 2);
    }
}
