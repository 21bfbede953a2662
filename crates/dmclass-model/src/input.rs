//! Bounded reads of files that come from outside (configuration YAML, facts JSON,
//! simulation worlds, sysfs and procfs files): every such file is read through
//! [`read_capped`], so `/dev/zero`, a FIFO fed forever or a mistaken multi-gigabyte
//! file is refused after `cap + 1` bytes instead of growing memory without bound.

use crate::error::ModelError;
use std::io::Read;
use std::path::Path;

/// Largest configuration YAML read: 1 MiB (thousands of volumes fit in a few
/// hundred KiB).
pub const CONFIG_CAP: u64 = 1 << 20;
/// Largest facts document (`probe --json`) read: 16 MiB (thousands of disks).
pub const FACTS_CAP: u64 = 16 << 20;
/// Largest simulated world (`DMCLASS_SIM`'s `world.json`) read: 256 MiB (it keeps the
/// simulated disks' written data).
pub const SIM_WORLD_CAP: u64 = 256 << 20;
/// Largest sysfs attribute read: 64 KiB (sysfs attributes are at most a page).
pub const SYSFS_CAP: u64 = 64 << 10;
/// Largest mount table (`/proc/self/mountinfo`) read: 16 MiB.
pub const MOUNTINFO_CAP: u64 = 16 << 20;

/// Read at most `cap` bytes of `path`; a longer file is refused with
/// [`ModelError::TooLarge`] naming the file and the cap (only `cap + 1` bytes are ever
/// read, so an endless file is refused at once).
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, ModelError> {
    let unreadable = |e: std::io::Error| ModelError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
        errno: e.raw_os_error(),
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > cap) {
        return Err(ModelError::TooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    Ok(bytes)
}

/// [`read_capped`] for a text file, which must be UTF-8.
pub fn read_capped_string(path: &Path, cap: u64) -> Result<String, ModelError> {
    String::from_utf8(read_capped(path, cap)?).map_err(|e| ModelError::Unreadable {
        path: path.to_path_buf(),
        reason: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
        errno: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, len: usize) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("dmclass-input-{name}-{}", std::process::id()));
        std::fs::write(&p, vec![b'a'; len]).expect("write temp file");
        p
    }

    #[test]
    fn a_file_up_to_the_cap_is_read_whole() {
        let p = temp("exact", 100);
        let got = read_capped_string(&p, 100);
        let _ = std::fs::remove_file(&p);
        assert_eq!(got, Ok("a".repeat(100)));
    }

    #[test]
    fn an_oversized_file_is_refused_naming_file_and_cap() {
        let p = temp("over", 101);
        let got = read_capped(&p, 100);
        let _ = std::fs::remove_file(&p);
        assert_eq!(
            got,
            Err(ModelError::TooLarge {
                path: p.clone(),
                cap: 100
            })
        );
        let msg = got.map(|_| ()).unwrap_err().to_string();
        assert!(
            msg.contains(&p.display().to_string()) && msg.contains("100 bytes"),
            "{msg}"
        );
    }

    #[test]
    fn dev_zero_is_refused_quickly_without_reading_it_all() {
        let t = std::time::Instant::now();
        let got = read_capped(Path::new("/dev/zero"), FACTS_CAP);
        assert!(
            matches!(got, Err(ModelError::TooLarge { cap: FACTS_CAP, .. })),
            "{got:?}"
        );
        // 16 MiB + 1 byte read: well under a second even in a debug build.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn invalid_utf8_and_missing_files_are_errors_not_panics() {
        let p = std::env::temp_dir().join(format!("dmclass-input-bin-{}", std::process::id()));
        std::fs::write(&p, [b'a', 0xff, b'b']).expect("write temp file");
        let got = read_capped_string(&p, 10);
        let _ = std::fs::remove_file(&p);
        assert!(
            matches!(got, Err(ModelError::Unreadable { ref reason, .. }) if reason.contains("offset 1")),
            "{got:?}"
        );
        assert!(matches!(
            read_capped(Path::new("/nonexistent/dmclass"), 10),
            Err(ModelError::Unreadable { .. })
        ));
    }
}
