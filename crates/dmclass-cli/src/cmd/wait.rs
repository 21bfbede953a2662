//! Commands that make volumes return only when the volumes' user-visible paths exist
//! (`/dev/mapper/<name>`, `/dev/dmclass/<class>/<volume>`), so that
//! `dmclass activate && mount /dev/dmclass/...` never races udev — the guarantee LVM2
//! gives with udev cookies. Bounded; `--no-udev-wait` says plainly it did not wait.

use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::names::{escape, parse_dm_uuid, NAME_PREFIX};
use std::time::Duration;

/// How long a command waits for udev to make the paths of the volumes it started.
pub const UDEV_WAIT: Duration = Duration::from_secs(60);

/// Wait until every public device of `classes` has its paths, or say it did not
/// (`no_wait`). A timeout is an error naming the missing paths.
pub fn public_paths(
    backend: &mut Backend,
    classes: &[&str],
    no_wait: bool,
) -> Result<(), CliError> {
    if no_wait {
        println!("not waiting for udev (--no-udev-wait): /dev/dmclass links may appear later");
        return Ok(());
    }
    let (kernel, _) = backend.parts();
    let prefixes: Vec<String> = classes
        .iter()
        .map(|c| format!("{NAME_PREFIX}-{}-", escape(c)))
        .collect();
    let names: Vec<String> = kernel
        .list()
        .map_err(|e| CliError::Refused(format!("listing device-mapper devices: {e}")))?
        .into_iter()
        .filter(|i| prefixes.iter().any(|p| i.name.starts_with(p.as_str())))
        .filter(|i| parse_dm_uuid(&i.uuid).is_some_and(|(_, _, layer)| layer.is_empty()))
        .map(|i| i.name)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let t = std::time::Instant::now();
    let missing = kernel
        .wait_public_paths(&names, UDEV_WAIT)
        .map_err(|e| CliError::Refused(format!("waiting for udev: {e}")))?;
    log::info!(
        "paths of {} device(s) present after {:.2?}",
        names.len(),
        t.elapsed()
    );
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::Refused(format!(
        "the devices are up, but udev did not create {} within {} s; check that udev runs and \
         69-dmclass.rules is installed (`--no-udev-wait` returns without waiting)",
        missing.join(", "),
        UDEV_WAIT.as_secs()
    )))
}
