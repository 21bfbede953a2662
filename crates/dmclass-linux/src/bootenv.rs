//! What `dmclass bootenv` does to the running system: mount an environment's copy to
//! rewrite its `/etc/fstab`, read a volume's file system identity. (No freeze here:
//! device-mapper freezes a volume's file system while the master is suspended for
//! the part.)

use crate::error::LinuxError;
use crate::esp::TempMount;
use std::fs::File;
use std::path::{Path, PathBuf};

fn err(what: impl Into<String>, reason: &(impl ToString + ?Sized)) -> LinuxError {
    LinuxError::BootEnv {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// A file system's identity, from libblkid's probe of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsIdentity {
    /// Its type (`ext4`, `xfs`, `swap`...), if one was found.
    pub fs_type: Option<String>,
    /// Its UUID.
    pub uuid: Option<String>,
    /// Its label.
    pub label: Option<String>,
}

/// The file system on `dev`, if any.
pub fn fs_identity(dev: &Path) -> FsIdentity {
    crate::signatures::probe_signatures(dev)
        .into_iter()
        .find(|s| s.usage.as_deref() == Some("filesystem") || s.sig_type == "swap")
        .map(|s| FsIdentity {
            fs_type: Some(s.sig_type),
            uuid: s.uuid,
            label: s.label,
        })
        .unwrap_or_default()
}

/// Mount an environment's root copy `dev` (file system `fs_type`) at
/// `/run/dmclass/bootenv/NAME`, unmounted when dropped. XFS refuses a second file
/// system with a mounted one's UUID unless told (`nouuid`); the copy has the master's.
pub fn mount_copy(dev: &Path, name: &str, fs_type: &str) -> Result<TempMount, LinuxError> {
    let dir = PathBuf::from("/run/dmclass/bootenv").join(name);
    let data = (fs_type == "xfs").then_some("nouuid");
    TempMount::mount(dev, dir, fs_type, false, data)
}

/// Replace `path` with `contents` atomically (temporary file, flush, rename, flush the
/// directory): a power cut leaves the old file or the new one.
pub fn replace_file(path: &Path, contents: &[u8]) -> Result<(), LinuxError> {
    use std::io::Write;
    let tmp = path.with_extension("dmclass-new");
    let mut f = File::create(&tmp).map_err(|e| err(format!("create {}", tmp.display()), &e))?;
    let meta = std::fs::metadata(path).ok();
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(|e| err(format!("write {}", tmp.display()), &e))?;
    if let Some(m) = meta {
        let _ = std::fs::set_permissions(&tmp, m.permissions());
    }
    std::fs::rename(&tmp, path).map_err(|e| err(format!("rename over {}", path.display()), &e))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
