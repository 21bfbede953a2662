//! Executing the root class conversion's own steps: partition tables and ESP copies
//! (plan/root.rs). Both are idempotent: run again after a crash, they write the same
//! bytes.

use crate::error::{io_err, Result};
use crate::io::Disks;
use crate::root::esp::{fat_serial, set_serial};
use dmclass_model::Bytes;
use std::path::Path;

/// Bytes copied per read/write of an ESP copy.
const CHUNK: u64 = 1 << 20;

/// Write a partition table: the backup at the end first, then the primary, so a
/// crash between the two leaves the old primary (and a firmware that finds it
/// damaged falls back to the new backup).
pub(super) fn write_table(
    disks: &mut dyn Disks,
    disk: &str,
    path: &Path,
    start: (&[u8], Bytes),
    end: (&[u8], Bytes),
) -> Result<()> {
    let what = format!("writing the partition table of disk {disk}");
    disks
        .write(path, end.1, end.0)
        .map_err(|e| io_err(what.clone(), e))?;
    disks
        .write(path, start.1, start.0)
        .map_err(|e| io_err(what, e))
}

/// Copy an ESP from `from` to `to` (same byte range on both), then give the copy its
/// own FAT volume serial (and in the FAT32 backup boot sector too).
pub(super) fn copy_esp(
    class: &str,
    disks: &mut dyn Disks,
    (from_name, from): (&str, &Path),
    (to_name, to): (&str, &Path),
    offset: Bytes,
    len: Bytes,
    serial: u32,
) -> Result<()> {
    let mut done = 0u64;
    while done < len.0 {
        let n = CHUNK.min(len.0 - done);
        let at = Bytes(offset.0 + done);
        let size = usize::try_from(n).unwrap_or(usize::MAX);
        let data = disks.read(from, at, size).map_err(|e| {
            io_err(
                format!("reading the EFI system partition of disk {from_name}"),
                e,
            )
        })?;
        disks.write(to, at, &data).map_err(|e| {
            io_err(
                format!("copying the EFI system partition to disk {to_name}"),
                e,
            )
        })?;
        done += n;
    }
    let esp_err = |why: String| {
        crate::error::EngineError::refused(
            class,
            format!("disk {from_name}"),
            format!("its EFI system partition: {why}"),
        )
    };
    let mut boot = disks
        .read(to, offset, 512)
        .map_err(|e| io_err(format!("reading the copied ESP on disk {to_name}"), e))?;
    let s = fat_serial(&boot).map_err(esp_err)?;
    set_serial(&mut boot, s, serial);
    let mut writes = vec![(offset, boot)];
    if let Some(bk) = s.backup {
        let at = Bytes(offset.0 + bk);
        let mut b = disks
            .read(to, at, 512)
            .map_err(|e| io_err(format!("reading the copied ESP on disk {to_name}"), e))?;
        // Only a backup that is a boot sector of the same shape is changed.
        if fat_serial(&b).is_ok_and(|t| t.at == s.at) {
            set_serial(&mut b, s, serial);
            writes.push((at, b));
        }
    }
    for (at, b) in writes {
        disks
            .write(to, at, &b)
            .map_err(|e| io_err(format!("writing the ESP serial on disk {to_name}"), e))?;
    }
    Ok(())
}
