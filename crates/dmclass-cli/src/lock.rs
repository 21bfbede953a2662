//! One dmclass command changes classes at a time.
//!
//! Commands that change disks or the kernel (apply, activate, deactivate, event, the
//! monitor's reactions, snapshot, proxy, tune) hold an exclusive `flock` on
//! `/run/dmclass.lock` (`<dir>/lock` with `DMCLASS_SIM`): two activations racing on
//! the same class, e.g. the udev handler at boot and an admin's `activate --all`,
//! would otherwise both try to create the same devices. A udev event handler waits
//! only briefly: udev must not be held up by a long `apply`, which may itself be
//! waiting for udev to settle.

use crate::error::CliError;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Lock file on a real machine.
pub const LOCK_PATH: &str = "/run/dmclass.lock";

/// How long to wait for another command.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Until it is done (commands typed by the admin).
    Block,
    /// At most this long (udev handlers); then give up.
    AtMost(Duration),
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Held(#[allow(dead_code)] Option<File>);

fn lock_path() -> PathBuf {
    match crate::simdir::sim_dir() {
        Some(dir) => dir.join("lock"),
        None => PathBuf::from(LOCK_PATH),
    }
}

/// Take the command lock. `Ok(None)` when `Wait::AtMost` ran out.
pub fn acquire(wait: Wait) -> Result<Option<Held>, CliError> {
    let path = lock_path();
    let file = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            // Without root nothing below can change the kernel either; the command
            // itself will say why.
            log::debug!(
                "cannot open {}: {e}; running without the lock",
                path.display()
            );
            return Ok(Some(Held(None)));
        }
        Err(source) => return Err(CliError::Read { path, source }),
    };
    match wait {
        Wait::Block => {
            if let Err(TryLockError::WouldBlock) = file.try_lock() {
                eprintln!("dmclass: waiting for another dmclass command to finish");
                file.lock()
                    .map_err(|source| CliError::Read { path, source })?;
            }
            Ok(Some(Held(Some(file))))
        }
        Wait::AtMost(limit) => {
            let start = Instant::now();
            loop {
                match file.try_lock() {
                    Ok(()) => return Ok(Some(Held(Some(file)))),
                    Err(TryLockError::WouldBlock) if start.elapsed() < limit => {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(TryLockError::WouldBlock) => return Ok(None),
                    Err(TryLockError::Error(source)) => {
                        return Err(CliError::Read { path, source })
                    }
                }
            }
        }
    }
}

/// Take the lock, waiting as long as it takes.
pub fn exclusive() -> Result<Held, CliError> {
    Ok(acquire(Wait::Block)?.unwrap_or(Held(None)))
}
