//! Quick reboots ([`crate::VmSpec::quick_reboots`]): the VM state saved right after
//! the first boot (QMP `migrate` to a file), resumed instead of booting the kernel
//! again (`-incoming defer` + `migrate-incoming`), then made to look at its disks as a
//! fresh boot would.

use crate::error::VmError;
use crate::qmp::Qmp;
use serde_json::json;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long saving or loading the state may take (a few hundred MiB of guest RAM from
/// the page cache; generous for a loaded machine).
const STATE_TIMEOUT: Duration = Duration::from_secs(120);

fn exec_uri(shell: &str, path: &Path) -> Result<String, VmError> {
    let p = path.to_string_lossy();
    if p.contains('\'') {
        return Err(VmError::Spec(format!(
            "state file path {p} contains a quote"
        )));
    }
    Ok(format!("exec:{shell} '{p}'"))
}

/// Stops the guest, writes its state to `path` and lets it run on.
pub(crate) fn save(qmp: &mut Qmp, path: &Path) -> Result<(), VmError> {
    save_then(qmp, path, || Ok(()))
}

/// [`save`], running `while_stopped` after the state is written and before the guest
/// runs on: QEMU has flushed every disk by then, so copies of the disk files taken
/// there belong to exactly that state (a checkpoint).
pub(crate) fn save_then(
    qmp: &mut Qmp,
    path: &Path,
    while_stopped: impl FnOnce() -> Result<(), VmError>,
) -> Result<(), VmError> {
    let tmp = path.with_extension("tmp");
    qmp.execute("stop", &json!({}))?;
    // QEMU's default migration bandwidth limit (32 MiB/s) would make this take seconds.
    qmp.execute(
        "migrate-set-parameters",
        &json!({ "max-bandwidth": 1u64 << 40 }),
    )?;
    qmp.execute("migrate", &json!({ "uri": exec_uri("cat >", &tmp)? }))?;
    let deadline = Instant::now() + STATE_TIMEOUT;
    loop {
        let st = qmp.execute("query-migrate", &json!({}))?;
        match st["status"].as_str().unwrap_or("") {
            "completed" => break,
            "failed" | "cancelled" => {
                return Err(VmError::Protocol(format!(
                    "saving the VM state failed: {st}"
                )))
            }
            _ if Instant::now() >= deadline => {
                return Err(VmError::Protocol(format!(
                    "saving the VM state timed out: {st}"
                )))
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let stopped = while_stopped();
    // After a completed migration the block devices are handed over; `cont` takes
    // them back and the guest runs on.
    qmp.execute("cont", &json!({}))?;
    stopped?;
    std::fs::rename(&tmp, path).map_err(|e| VmError::io(format!("rename {}", tmp.display()), e))
}

/// Loads the state from `path` into a QEMU started with `-incoming defer` and waits
/// until the guest runs.
pub(crate) fn load(qmp: &mut Qmp, path: &Path) -> Result<(), VmError> {
    qmp.execute(
        "migrate-incoming",
        &json!({ "uri": exec_uri("cat", path)? }),
    )?;
    let deadline = Instant::now() + STATE_TIMEOUT;
    loop {
        let st = qmp.execute("query-status", &json!({}))?;
        match st["status"].as_str().unwrap_or("") {
            "running" => return Ok(()),
            // The state was saved from a stopped guest: it arrives paused.
            "paused" | "postmigrate" => {
                qmp.execute("cont", &json!({}))?;
            }
            "inmigrate" | "prelaunch" if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                return Err(VmError::Protocol(format!(
                    "resuming the saved VM state: guest status {st}"
                )))
            }
        }
    }
}

/// 64 bytes from the host's random generator.
pub(crate) fn host_seed() -> Result<[u8; 64], VmError> {
    let mut seed = [0u8; 64];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| VmError::io("read /dev/urandom", e))?;
    Ok(seed)
}

/// The guest script run right after a resume: every resumed copy starts from the
/// same random generator state (it would hand out the same "random" UUIDs), the same
/// clock, the page cache and udev database of the disks as they were at the first
/// boot. Reseed from `seed`, set the clock to `now`, drop what was cached about the
/// disks, re-read their partition tables and replay the coldplug `add` events of
/// every block device (the project's udev rule runs on them as at boot). Prints one
/// UUID from the reseeded generator.
pub(crate) fn after_resume_script(seed: &[u8], now: SystemTime) -> String {
    renewed(
        seed,
        now,
        "sync
echo 3 >/proc/sys/vm/drop_caches
for b in /sys/block/*; do
  n=${b##*/}
  case $n in loop*|ram*|dm-*|sr*|md*) continue ;; esac
  blockdev --flushbufs /dev/$n 2>/dev/null || true
  blockdev --rereadpt /dev/$n 2>/dev/null || true
done
udevadm trigger --type=devices --subsystem-match=block --action=add
udevadm settle --timeout=60
",
    )
}

/// The guest script run right after a checkpoint was restored ([`crate::Vm::restore`]):
/// the guest goes on from where it was, with its disks as they were then; only the
/// random generator (every restored copy starts from the same state) and the clock
/// are renewed. Prints one UUID from the reseeded generator.
pub(crate) fn after_restore_script(seed: &[u8], now: SystemTime) -> String {
    renewed(seed, now, "")
}

/// Reseed the guest's generator from `seed`, set its clock to `now`, run `then`, print
/// one UUID from the reseeded generator (each resumed copy must draw a new one).
fn renewed(seed: &[u8], now: SystemTime, then: &str) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let seed = crate::chan::b64_encode(seed);
    format!(
        "set -e
echo '{seed}' | base64 -d | dmclass-vm-reseed
date -s @{secs} >/dev/null
{then}cat /proc/sys/kernel/random/uuid
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_reseeds_sets_the_clock_and_replays_block_events() {
        let s = after_resume_script(&[0u8; 3], UNIX_EPOCH + Duration::from_secs(1_765_000_000));
        assert!(
            s.contains("echo 'AAAA' | base64 -d | dmclass-vm-reseed"),
            "{s}"
        );
        assert!(s.contains("date -s @1765000000"), "{s}");
        assert!(s.contains("--subsystem-match=block --action=add"), "{s}");
        assert!(s.starts_with("set -e\n"), "{s}");
        assert!(s.contains("n=${b##*/}"), "{s}");
        assert!(
            s.ends_with("udevadm settle --timeout=60\ncat /proc/sys/kernel/random/uuid\n"),
            "{s}"
        );
    }

    #[test]
    fn a_restored_checkpoint_only_reseeds_and_sets_the_clock() {
        let s = after_restore_script(&[0u8; 3], UNIX_EPOCH + Duration::from_secs(7));
        assert_eq!(
            s,
            "set -e\necho 'AAAA' | base64 -d | dmclass-vm-reseed\ndate -s @7 >/dev/null\n\
             cat /proc/sys/kernel/random/uuid\n"
        );
    }

    #[test]
    fn a_quote_in_the_state_path_is_refused() {
        assert!(exec_uri("cat", Path::new("/tmp/a'b")).is_err());
        assert_eq!(
            exec_uri("cat >", Path::new("/tmp/s.state")).ok().as_deref(),
            Some("exec:cat > '/tmp/s.state'")
        );
    }
}
