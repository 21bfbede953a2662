//! EFI system partitions on the running machine: which partition node an ESP is,
//! where it is mounted, mounting the others for a moment, walking and copying their
//! files (`dmclass esp sync`; the decision is `dmclass_engine::root::esp_sync`).

use crate::error::LinuxError;
use crate::inuse::{read_mounts, DevNum, MountEntry};
use crate::sysroot::SysRoot;
use dmclass_engine::root::esp_sync::{EntryKind, EspEntry, SyncStep};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// An ESP holds a few hundred files; more is not an ESP we should copy blindly.
const MAX_ENTRIES: usize = 65_536;
/// Deeper than any boot loader's layout.
const MAX_DEPTH: usize = 32;
/// Suffix of a file being copied, renamed over the real name when complete.
const PARTIAL: &str = ".dmclass-new";

fn err(what: impl Into<String>, reason: &(impl ToString + ?Sized)) -> LinuxError {
    LinuxError::Esp {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// The node and device number of partition number `index` of whole disk `disk`
/// (`/dev/nvme0n1` → 1 → `/dev/nvme0n1p1`), found in sysfs by the partition's
/// `partition` attribute, so no naming rule is guessed.
pub fn partition_node(
    root: &SysRoot,
    disk: &Path,
    index: u32,
) -> Result<(PathBuf, DevNum), LinuxError> {
    let real =
        fs::canonicalize(disk).map_err(|e| err(format!("resolve {}", disk.display()), &e))?;
    let name = real
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(disk.display().to_string(), &"no device name"))?
        .to_string();
    for part in crate::inuse::partitions(root, &name) {
        let n = root.read_trimmed(format!("/sys/block/{name}/{part}/partition"));
        if n.as_deref() == Some(&index.to_string()) {
            let dev = root
                .read_trimmed(format!("/sys/block/{name}/{part}/dev"))
                .and_then(|d| DevNum::parse(&d))
                .ok_or_else(|| err(format!("/sys/block/{name}/{part}/dev"), &"unreadable"))?;
            return Ok((PathBuf::from("/dev").join(part), dev));
        }
    }
    Err(err(
        format!("partition {index} of {}", disk.display()),
        "the kernel shows no such partition (re-read the partition table: blockdev --rereadpt)",
    ))
}

/// The mount table now.
pub fn mounts() -> Vec<MountEntry> {
    read_mounts(&SysRoot::new("/"))
}

/// Where device `dev` is mounted as vfat, if anywhere (the first mount).
pub fn mounted_at(mounts: &[MountEntry], dev: DevNum) -> Option<PathBuf> {
    mounts
        .iter()
        .find(|m| m.dev == dev && m.fs_type == "vfat")
        .map(|m| m.mount_point.clone())
}

/// The device mounted at `dir` (the last mount there wins, as path lookup does).
pub fn device_at(mounts: &[MountEntry], dir: &Path) -> Option<DevNum> {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == dir)
        .map(|m| m.dev)
}

/// A file system mounted by dmclass under `/run/dmclass/`, unmounted when dropped: an
/// ESP (`esp/`), a boot environment's root copy (`bootenv/`).
pub struct TempMount {
    dir: PathBuf,
}

impl TempMount {
    /// Mount vfat partition `dev` at `/run/dmclass/esp/NAME`, read-only when asked.
    pub fn new(dev: &Path, name: &str, read_only: bool) -> Result<TempMount, LinuxError> {
        let dir = PathBuf::from("/run/dmclass/esp").join(name);
        TempMount::mount(dev, dir, "vfat", read_only, Some("umask=0077"))
    }

    /// Mount `dev` (file system `fs_type`, options `data`) at `dir`, made if missing;
    /// no exec, suid or device files: nothing dmclass mounts is run from.
    pub fn mount(
        dev: &Path,
        dir: PathBuf,
        fs_type: &str,
        read_only: bool,
        data: Option<&str>,
    ) -> Result<TempMount, LinuxError> {
        use nix::mount::{mount, MsFlags};
        fs::create_dir_all(&dir).map_err(|e| err(format!("create {}", dir.display()), &e))?;
        let mut flags = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        if read_only {
            flags |= MsFlags::MS_RDONLY;
        }
        mount(Some(dev), &dir, Some(fs_type), flags, data).map_err(|e| {
            err(
                format!("mount {} ({fs_type}) at {}", dev.display(), dir.display()),
                &e,
            )
        })?;
        Ok(TempMount { dir })
    }

    /// Where it is mounted.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TempMount {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount(&self.dir) {
            log::warn!("cannot unmount {}: {e}", self.dir.display());
        } else {
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

/// Every directory and file under `root` (paths from it), bounded in count and
/// depth; symlinks and other kinds (none on FAT) are refused.
pub fn walk(root: &Path) -> Result<Vec<EspEntry>, LinuxError> {
    let mut out = Vec::new();
    let mut todo = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = todo.pop() {
        if depth > MAX_DEPTH {
            return Err(err(
                dir.display().to_string(),
                &"nested too deep for an ESP",
            ));
        }
        let rd = fs::read_dir(&dir).map_err(|e| err(format!("read {}", dir.display()), &e))?;
        for entry in rd {
            let entry = entry.map_err(|e| err(format!("read {}", dir.display()), &e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(err(
                    entry.path().display().to_string(),
                    "a file name that is not UTF-8",
                ));
            };
            if name.ends_with(PARTIAL) {
                continue; // a copy cut by a crash: overwritten or removed by this sync
            }
            let path = if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry
                .file_type()
                .map_err(|e| err(format!("stat {}", entry.path().display()), &e))?;
            let kind = if ft.is_dir() {
                todo.push((entry.path(), path.clone(), depth + 1));
                EntryKind::Dir
            } else if ft.is_file() {
                let m = entry
                    .metadata()
                    .map_err(|e| err(format!("stat {}", entry.path().display()), &e))?;
                EntryKind::File(m.len())
            } else {
                return Err(err(
                    entry.path().display().to_string(),
                    "neither a file nor a directory (not an ESP?)",
                ));
            };
            out.push(EspEntry { path, kind });
            if out.len() > MAX_ENTRIES {
                return Err(err(
                    root.display().to_string(),
                    &format!("more than {MAX_ENTRIES} entries: not synced"),
                ));
            }
        }
    }
    Ok(out)
}

/// Whether files `a` and `b` hold the same bytes (a read error counts as different:
/// the file is copied again).
pub fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(mut fa), Ok(mut fb)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    loop {
        let Ok(n) = read_full(&mut fa, &mut ba) else {
            return false;
        };
        let Ok(m) = read_full(&mut fb, &mut bb) else {
            return false;
        };
        if n != m || ba[..n] != bb[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// How [`run_step`] wrote a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Not a copy, or a copy under a temporary name renamed over the old file.
    Safely,
    /// The ESP had no room for the new file beside the old one: the old file was
    /// overwritten in place (a cut here leaves that file broken on this ESP only;
    /// the next sync writes it again).
    InPlace,
}

/// Run one step from ESP `from` to ESP `to`. A copy goes to a temporary name, is
/// flushed, then renamed over the old file: a cut sync leaves the old file or the new
/// one, never half of one — unless the ESP is too full for both ([`Written::InPlace`]).
pub fn run_step(from: &Path, to: &Path, step: &SyncStep) -> Result<Written, LinuxError> {
    match step {
        SyncStep::MakeDir(p) => {
            let d = to.join(p);
            fs::create_dir(&d).map_err(|e| err(format!("create {}", d.display()), &e))?;
        }
        SyncStep::Remove(p) => {
            let f = to.join(p);
            fs::remove_file(&f).map_err(|e| err(format!("remove {}", f.display()), &e))?;
        }
        SyncStep::RemoveDir(p) => {
            let d = to.join(p);
            fs::remove_dir(&d).map_err(|e| err(format!("remove {}", d.display()), &e))?;
        }
        SyncStep::Copy {
            from: src, to: dst, ..
        } => {
            let s = from.join(src);
            let d = to.join(dst);
            let tmp = PathBuf::from(format!("{}{PARTIAL}", d.display()));
            let what = || format!("copy {} to {}", s.display(), d.display());
            match copy_flushed(&s, &tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull && d.exists() => {
                    let _ = fs::remove_file(&tmp);
                    copy_flushed(&s, &d).map_err(|e| err(what(), &e))?;
                    return Ok(Written::InPlace);
                }
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(err(what(), &e));
                }
            }
            fs::rename(&tmp, &d).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                err(format!("rename {} to {}", tmp.display(), d.display()), &e)
            })?;
            if let Some(parent) = d.parent() {
                sync_dir(parent);
            }
        }
    }
    Ok(Written::Safely)
}

fn copy_flushed(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut input = File::open(src)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)?;
    std::io::copy(&mut input, &mut out)?;
    out.flush()?;
    out.sync_all()
}

/// Run `efibootmgr` with `args`, returning its standard output.
pub fn efibootmgr(args: &[&str]) -> Result<String, LinuxError> {
    let what = format!("efibootmgr {}", args.join(" "));
    let out = std::process::Command::new("efibootmgr")
        .args(args)
        .output()
        .map_err(|e| {
            err(
                what.clone(),
                &format!("cannot run it: {e} (apt install efibootmgr)"),
            )
        })?;
    if !out.status.success() {
        return Err(err(what, String::from_utf8_lossy(&out.stderr).trim()));
    }
    // Its output is a few lines per entry; more than a MiB is not efibootmgr's.
    let text = &out.stdout[..out.stdout.len().min(1 << 20)];
    Ok(String::from_utf8_lossy(text).into_owned())
}

/// Whether this boot went through UEFI with its variables reachable (efivarfs).
pub fn efi_variables() -> bool {
    Path::new("/sys/firmware/efi/efivars")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_engine::root::esp_sync::plan_sync;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dmclass-esp-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_tree_is_walked_planned_and_copied_until_equal() {
        let a = tmpdir("a");
        let b = tmpdir("b");
        fs::create_dir_all(a.join("EFI/BOOT")).unwrap();
        fs::write(a.join("EFI/BOOT/BOOTX64.EFI"), b"new kernel").unwrap();
        fs::create_dir_all(a.join("loader")).unwrap();
        fs::write(a.join("loader/random-seed"), b"seed a").unwrap();
        fs::create_dir_all(b.join("EFI/BOOT")).unwrap();
        fs::write(b.join("EFI/BOOT/BOOTX64.EFI"), b"old kernel").unwrap();
        fs::write(b.join("EFI/stale.efi"), b"x").unwrap();
        fs::write(b.join(format!("EFI/cut{PARTIAL}")), b"half").unwrap();
        let (fa, fb) = (walk(&a).unwrap(), walk(&b).unwrap());
        let steps = plan_sync(&fa, &fb, |x, y| same_content(&a.join(x), &b.join(y)));
        for s in &steps {
            run_step(&a, &b, s).unwrap();
        }
        assert_eq!(
            fs::read(b.join("EFI/BOOT/BOOTX64.EFI")).unwrap(),
            b"new kernel"
        );
        assert!(!b.join("EFI/stale.efi").exists());
        assert!(b.join("loader").is_dir());
        assert!(
            !b.join("loader/random-seed").exists(),
            "the seed is per ESP"
        );
        let (fa, fb) = (walk(&a).unwrap(), walk(&b).unwrap());
        assert!(plan_sync(&fa, &fb, |x, y| same_content(&a.join(x), &b.join(y))).is_empty());
        fs::remove_dir_all(&a).unwrap();
        fs::remove_dir_all(&b).unwrap();
    }

    #[test]
    fn a_symlink_is_refused() {
        let a = tmpdir("link");
        std::os::unix::fs::symlink("/etc/passwd", a.join("x")).unwrap();
        assert!(walk(&a).is_err());
        fs::remove_dir_all(&a).unwrap();
    }

    #[test]
    fn content_compare() {
        let a = tmpdir("cmp");
        fs::write(a.join("1"), vec![7u8; 200_000]).unwrap();
        fs::write(a.join("2"), vec![7u8; 200_000]).unwrap();
        let mut third = vec![7u8; 200_000];
        third[150_000] = 8;
        fs::write(a.join("3"), third).unwrap();
        assert!(same_content(&a.join("1"), &a.join("2")));
        assert!(!same_content(&a.join("1"), &a.join("3")));
        assert!(!same_content(&a.join("1"), &a.join("missing")));
        fs::remove_dir_all(&a).unwrap();
    }
}
