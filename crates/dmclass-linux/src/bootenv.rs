//! What `dmclass bootenv` does to the running system: freeze the file systems of the
//! volumes for a consistent copy, mount an environment's copy to rewrite its
//! `/etc/fstab`, read a volume's file system identity.

use crate::error::LinuxError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

fn err(what: impl Into<String>, reason: &(impl ToString + ?Sized)) -> LinuxError {
    LinuxError::BootEnv {
        what: what.into(),
        reason: reason.to_string(),
    }
}

mod ioctl {
    nix::ioctl_readwrite!(
        /// `FIFREEZE` = `_IOWR('X', 119, int)`: freeze the file system (writes block,
        /// the journal is flushed and the file system left consistent on disk).
        fifreeze,
        b'X',
        119,
        libc_int
    );
    nix::ioctl_readwrite!(
        /// `FITHAW` = `_IOWR('X', 120, int)`: let writes go again.
        fithaw,
        b'X',
        120,
        libc_int
    );
    #[allow(non_camel_case_types)]
    pub type libc_int = i32;
}

/// File systems frozen for a consistent copy; thawed when dropped (also on an error
/// path: a root file system left frozen stops the machine).
pub struct Frozen {
    dirs: Vec<(PathBuf, File)>,
}

impl Frozen {
    /// Freeze the file systems mounted at `dirs`, in order (thawed in reverse).
    pub fn new(dirs: &[PathBuf]) -> Result<Frozen, LinuxError> {
        let mut f = Frozen { dirs: Vec::new() };
        for d in dirs {
            let file = File::open(d).map_err(|e| err(format!("open {}", d.display()), &e))?;
            let mut arg = 0;
            // SAFETY: FIFREEZE takes an int it does not read; the descriptor stays open.
            unsafe { ioctl::fifreeze(file.as_raw_fd(), &raw mut arg) }
                .map_err(|e| err(format!("freeze the file system at {}", d.display()), &e))?;
            f.dirs.push((d.clone(), file));
        }
        Ok(f)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        while let Some((d, file)) = self.dirs.pop() {
            let mut arg = 0;
            // SAFETY: as for FIFREEZE.
            if let Err(e) = unsafe { ioctl::fithaw(file.as_raw_fd(), &raw mut arg) } {
                log::error!(
                    "cannot thaw the file system at {} ({e}): run `fsfreeze -u {}`",
                    d.display(),
                    d.display()
                );
            }
        }
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

/// An environment's root copy mounted under `/run/dmclass/bootenv/`, unmounted when
/// dropped.
pub struct EnvMount {
    dir: PathBuf,
}

impl EnvMount {
    /// Mount `dev` (file system `fs_type`) at `/run/dmclass/bootenv/NAME`, without
    /// running anything from it. XFS refuses a second file system with a mounted one's
    /// UUID unless told (`nouuid`); the copy has the master's.
    pub fn new(dev: &Path, name: &str, fs_type: &str) -> Result<EnvMount, LinuxError> {
        use nix::mount::{mount, MsFlags};
        let dir = PathBuf::from("/run/dmclass/bootenv").join(name);
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("create {}", dir.display()), &e))?;
        let flags = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        let data = (fs_type == "xfs").then_some("nouuid");
        mount(Some(dev), &dir, Some(fs_type), flags, data).map_err(|e| {
            err(
                format!("mount {} ({fs_type}) at {}", dev.display(), dir.display()),
                &e,
            )
        })?;
        Ok(EnvMount { dir })
    }

    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for EnvMount {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount(&self.dir) {
            log::warn!("cannot unmount {}: {e}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
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
