//! Raw member-disk I/O: the real [`Disks`] (the on-disk layout is in the engine's metadata module doc).
//!
//! * Block devices are always opened with `O_DIRECT`, so metadata reads see the disk
//!   and not a stale page cache, and writes reach the disk before `fsync` returns.
//! * Regular files (tests, disk images) are tried with `O_DIRECT` too; some file systems
//!   (tmpfs, overlayfs) refuse it with `EINVAL`, and then, **for regular files only**,
//!   the I/O falls back to buffered reads/writes followed by `fsync`. A block device
//!   never falls back: an `EINVAL` there is reported.
//! * Offsets and lengths must be multiples of 512 bytes (checked before any system
//!   call). A 4Kn disk additionally needs multiples of 4096; the kernel then answers
//!   `EINVAL`, reported with its errno. Buffers are 4096-aligned, which satisfies both.
//! * Every write (and [`Disks::zero`]) ends with `fsync` on the descriptor, which for a
//!   block device also flushes the disk's volatile cache.

use dmclass_engine::io::{DevNum, Disks, IoError, IoResult};
use dmclass_model::Bytes;
use nix::sys::stat::{major, minor, SFlag};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Offsets and lengths must be multiples of this.
pub const SECTOR: u64 = 512;
/// Alignment of the I/O buffers (largest logical block size in use).
pub const ALIGN: usize = 4096;
/// Largest single write of [`Disks::zero`] and of chunked writes.
pub const CHUNK: usize = 1 << 20;

/// The block-device ioctls used here (private: the macro makes `pub` functions).
mod ioctl {
    nix::ioctl_read!(
        /// `BLKGETSIZE64` = `_IOR(0x12, 114, size_t)`: the size of a block device in bytes.
        blkgetsize64,
        0x12,
        114,
        u64
    );
    nix::ioctl_none!(
        /// `BLKRRPART` = `_IO(0x12, 95)`: re-read the partition table.
        blkrrpart,
        0x12,
        95
    );
}

/// Make the kernel read `dev`'s partition table again (after `dmclass` rewrote it),
/// so its partitions and udev's links follow. Fails (`EBUSY`) while a partition is
/// in use.
pub fn reread_partitions(dev: &Path) -> Result<(), String> {
    let file = File::open(dev).map_err(|e| format!("open {}: {e}", dev.display()))?;
    // SAFETY: BLKRRPART takes no argument; the descriptor stays open for the call.
    unsafe { ioctl::blkrrpart(file.as_raw_fd()) }
        .map(|_| ())
        .map_err(|e| format!("re-read the partition table of {}: {e}", dev.display()))
}

/// The real disk I/O. Stateless: every call opens the path, does its I/O and closes it.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxDisks;

impl LinuxDisks {
    /// The disk I/O of the running system.
    pub fn new() -> Self {
        LinuxDisks
    }

    /// Read up to `len` bytes at `offset`: fewer only when the device or file ends
    /// first. Same alignment rules as [`Disks::read`].
    pub fn read_upto(&self, dev: &Path, offset: Bytes, len: usize) -> IoResult<Vec<u8>> {
        check_aligned("read", dev, offset.0, len as u64)?;
        let mut f = Opened::open(dev, false, "read")?;
        let mut buf = AlignedBuf::new(len);
        let got = f.io("read", dev, |file| {
            read_full(file, buf.as_mut_slice(), offset.0)
        })?;
        let mut out = buf.as_mut_slice().to_vec();
        out.truncate(got);
        Ok(out)
    }
}

impl Disks for LinuxDisks {
    fn read(&self, dev: &Path, offset: Bytes, len: usize) -> IoResult<Vec<u8>> {
        let out = self.read_upto(dev, offset, len)?;
        if out.len() < len {
            return Err(IoError::new(
                "read",
                dev.display().to_string(),
                format!(
                    "short read at byte {}: got {} of {len} bytes (end of device)",
                    offset.0,
                    out.len()
                ),
            ));
        }
        Ok(out)
    }

    fn write(&mut self, dev: &Path, offset: Bytes, data: &[u8]) -> IoResult<()> {
        check_aligned("write", dev, offset.0, data.len() as u64)?;
        let mut f = Opened::open(dev, true, "write")?;
        let mut buf = AlignedBuf::new(data.len().min(CHUNK));
        f.io("write", dev, |file| {
            let mut at = offset.0;
            for chunk in data.chunks(CHUNK) {
                let b = buf.as_mut_slice();
                let b = &mut b[..chunk.len()];
                b.copy_from_slice(chunk);
                file.write_all_at(b, at)?;
                at += chunk.len() as u64;
            }
            file.sync_all()
        })
    }

    fn zero(&mut self, dev: &Path, offset: Bytes, len: Bytes) -> IoResult<()> {
        check_aligned("zero", dev, offset.0, len.0)?;
        let mut f = Opened::open(dev, true, "zero")?;
        let first = usize::try_from(len.0).unwrap_or(usize::MAX).min(CHUNK);
        let mut buf = AlignedBuf::new(first);
        f.io("zero", dev, |file| {
            let zeros = buf.as_mut_slice();
            let mut at = offset.0;
            let end = offset.0.saturating_add(len.0);
            while at < end {
                let n = usize::try_from(end - at)
                    .unwrap_or(usize::MAX)
                    .min(zeros.len());
                file.write_all_at(&zeros[..n], at)?;
                at += n as u64;
            }
            file.sync_all()
        })
    }

    fn devnum(&self, dev: &Path) -> IoResult<DevNum> {
        let st = nix::sys::stat::stat(dev).map_err(|e| nix_err("stat", dev, e))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFBLK {
            return Err(IoError::new(
                "stat",
                dev.display().to_string(),
                "not a block device",
            ));
        }
        let num = |v: u64| {
            u32::try_from(v).map_err(|_| {
                IoError::new(
                    "stat",
                    dev.display().to_string(),
                    format!("device number part {v} does not fit 32 bits"),
                )
            })
        };
        Ok(DevNum {
            major: num(major(st.st_rdev))?,
            minor: num(minor(st.st_rdev))?,
        })
    }

    fn size(&self, dev: &Path) -> IoResult<Bytes> {
        let file = File::open(dev).map_err(|e| io_err("open", dev, &e))?;
        let meta = file.metadata().map_err(|e| io_err("stat", dev, &e))?;
        if meta.file_type().is_block_device() {
            let mut size: u64 = 0;
            // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points to a
            // live, writable u64; the descriptor stays open for the call.
            unsafe { ioctl::blkgetsize64(file.as_raw_fd(), &raw mut size) }
                .map_err(|e| nix_err("size", dev, e))?;
            Ok(Bytes(size))
        } else if meta.is_file() {
            Ok(Bytes(meta.len()))
        } else {
            Err(IoError::new(
                "size",
                dev.display().to_string(),
                "neither a block device nor a regular file",
            ))
        }
    }
}

/// Refuse offsets and lengths that `O_DIRECT` cannot do (before touching the device).
fn check_aligned(op: &'static str, dev: &Path, offset: u64, len: u64) -> IoResult<()> {
    if !offset.is_multiple_of(SECTOR) || !len.is_multiple_of(SECTOR) {
        return Err(IoError {
            op,
            object: dev.display().to_string(),
            errno: Some(nix::libc::EINVAL),
            message: format!(
                "offset {offset} and length {len} must be multiples of {SECTOR} bytes"
            ),
        });
    }
    Ok(())
}

fn io_err(op: &'static str, dev: &Path, e: &io::Error) -> IoError {
    IoError {
        op,
        object: dev.display().to_string(),
        errno: e.raw_os_error(),
        message: e.to_string(),
    }
}

fn nix_err(op: &'static str, dev: &Path, e: nix::errno::Errno) -> IoError {
    IoError {
        op,
        object: dev.display().to_string(),
        errno: Some(e as i32),
        message: e.desc().to_string(),
    }
}

/// `pread` until `buf` is full or the end of the file: the number of bytes read.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// An open device or file, knowing whether it may fall back to buffered I/O.
struct Opened {
    file: File,
    write: bool,
    /// A regular file opened with `O_DIRECT` (may be reopened buffered on `EINVAL`).
    regular_direct: bool,
}

impl Opened {
    fn open(dev: &Path, write: bool, op: &'static str) -> IoResult<Opened> {
        let meta = std::fs::metadata(dev).map_err(|e| io_err(op, dev, &e))?;
        let regular = meta.is_file();
        if !regular && !meta.file_type().is_block_device() {
            return Err(IoError::new(
                op,
                dev.display().to_string(),
                "neither a block device nor a regular file",
            ));
        }
        match open_with(dev, write, true) {
            Ok(file) => Ok(Opened {
                file,
                write,
                regular_direct: regular,
            }),
            // Only regular files fall back (see the module doc).
            Err(e) if regular && e.raw_os_error() == Some(nix::libc::EINVAL) => {
                log::debug!("{}: O_DIRECT refused, buffered I/O", dev.display());
                let file = open_with(dev, write, false).map_err(|e| io_err(op, dev, &e))?;
                Ok(Opened {
                    file,
                    write,
                    regular_direct: false,
                })
            }
            Err(e) => Err(io_err(op, dev, &e)),
        }
    }

    /// Run `f` on the file; a regular file whose `O_DIRECT` I/O fails with `EINVAL` is
    /// reopened buffered and `f` runs again (`f` must be idempotent: positioned I/O).
    fn io<T>(
        &mut self,
        op: &'static str,
        dev: &Path,
        mut f: impl FnMut(&File) -> io::Result<T>,
    ) -> IoResult<T> {
        match f(&self.file) {
            Ok(v) => Ok(v),
            Err(e) if self.regular_direct && e.raw_os_error() == Some(nix::libc::EINVAL) => {
                log::debug!("{}: O_DIRECT I/O refused, buffered I/O", dev.display());
                self.file = open_with(dev, self.write, false).map_err(|e| io_err(op, dev, &e))?;
                self.regular_direct = false;
                f(&self.file).map_err(|e| io_err(op, dev, &e))
            }
            Err(e) => Err(io_err(op, dev, &e)),
        }
    }
}

fn open_with(dev: &Path, write: bool, direct: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(write);
    if direct {
        o.custom_flags(nix::libc::O_DIRECT);
    }
    o.open(dev)
}

/// A zeroed byte buffer whose start is [`ALIGN`]-aligned, without `unsafe`: a `Vec`
/// over-allocated by `ALIGN` bytes and used from its first aligned byte.
struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        let raw = vec![0u8; len + ALIGN];
        // align_offset on a u8 pointer always succeeds (< ALIGN) for a power of two.
        let start = raw.as_ptr().align_offset(ALIGN).min(ALIGN);
        AlignedBuf { raw, start, len }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;

    fn image(t: &TempTree, size: usize) -> std::path::PathBuf {
        let p = t.path().join("disk.img");
        std::fs::write(&p, vec![0xa5u8; size]).unwrap();
        p
    }

    #[test]
    fn aligned_buffer_is_aligned_and_sized() {
        for len in [0, 512, 4096, 5000, CHUNK] {
            let mut b = AlignedBuf::new(len);
            let s = b.as_mut_slice();
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % ALIGN, 0);
            assert!(s.iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn write_read_zero_round_trip_on_a_file() {
        let t = TempTree::new("diskio");
        let p = image(&t, 3 << 20);
        let mut d = LinuxDisks::new();
        assert_eq!(d.size(&p).unwrap(), Bytes(3 << 20));

        // Larger than one chunk, crossing the chunk boundary with distinct bytes.
        let data: Vec<u8> = (0..(CHUNK + 8192))
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect();
        d.write(&p, Bytes(4096), &data).unwrap();
        assert_eq!(d.read(&p, Bytes(4096), data.len()).unwrap(), data);
        // Neighbours untouched.
        assert_eq!(d.read(&p, Bytes(0), 4096).unwrap(), vec![0xa5; 4096]);
        let after = 4096 + data.len() as u64;
        assert_eq!(d.read(&p, Bytes(after), 512).unwrap(), vec![0xa5; 512]);

        // Zero more than a chunk, starting at an unaligned-to-4096 sector.
        d.zero(&p, Bytes(512), Bytes(CHUNK as u64 + 1024)).unwrap();
        let all = std::fs::read(&p).unwrap();
        assert!(all[..512].iter().all(|&b| b == 0xa5));
        assert!(all[512..512 + CHUNK + 1024].iter().all(|&b| b == 0));
        assert_eq!(all[512 + CHUNK + 1024], data[CHUNK + 1024 + 512 - 4096]);
    }

    #[test]
    fn short_reads_are_errors_but_read_upto_returns_the_tail() {
        let t = TempTree::new("diskio-short");
        let p = image(&t, 8192);
        let d = LinuxDisks::new();
        let e = d.read(&p, Bytes(4096), 8192).unwrap_err();
        assert!(e.message.contains("got 4096 of 8192"), "{e}");
        assert_eq!(d.read_upto(&p, Bytes(4096), 8192).unwrap().len(), 4096);
        assert_eq!(d.read_upto(&p, Bytes(16384), 512).unwrap().len(), 0);
    }

    #[test]
    fn unaligned_requests_are_refused_before_io() {
        let t = TempTree::new("diskio-align");
        let p = image(&t, 8192);
        let mut d = LinuxDisks::new();
        let e = d.read(&p, Bytes(100), 512).unwrap_err();
        assert_eq!((e.op, e.errno), ("read", Some(nix::libc::EINVAL)));
        assert!(d.write(&p, Bytes(0), &[1, 2, 3]).is_err());
        assert!(d.zero(&p, Bytes(512), Bytes(10)).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), vec![0xa5; 8192]);
    }

    #[test]
    fn errors_carry_errno_and_path() {
        let mut d = LinuxDisks::new();
        let missing = Path::new("/nonexistent/dmclass-disk");
        let e = d.read(missing, Bytes(0), 512).unwrap_err();
        assert_eq!(e.errno, Some(nix::libc::ENOENT));
        assert_eq!(e.object, "/nonexistent/dmclass-disk");
        assert!(d.write(missing, Bytes(0), &[0; 512]).is_err());
        assert_eq!(
            d.devnum(missing).unwrap_err().errno,
            Some(nix::libc::ENOENT)
        );
        // A directory is neither a disk nor an image.
        let t = TempTree::new("diskio-dir");
        assert!(d.size(t.path()).unwrap_err().message.contains("neither"));
        assert!(d.read(t.path(), Bytes(0), 512).is_err());
    }

    #[test]
    fn devnum_refuses_regular_files_and_reads_block_devices() {
        let t = TempTree::new("diskio-devnum");
        let p = image(&t, 4096);
        let e = LinuxDisks.devnum(&p).unwrap_err();
        assert!(e.message.contains("not a block device"), "{e}");
        // /dev/loop0 (7:0) exists on most Linux systems with the loop module; check any
        // block device we can find via sysfs instead of assuming one.
        let Some((node, want)) = first_block_device() else {
            eprintln!("skipped block part: no block device node found");
            return;
        };
        assert_eq!(LinuxDisks.devnum(&node).unwrap(), want);
    }

    /// A `/dev/<name>` block node and its `dev` number from sysfs.
    fn first_block_device() -> Option<(std::path::PathBuf, DevNum)> {
        for e in std::fs::read_dir("/sys/class/block").ok()?.flatten() {
            let node = Path::new("/dev").join(e.file_name());
            let Ok(dev) = std::fs::read_to_string(e.path().join("dev")) else {
                continue;
            };
            let (ma, mi) = dev.trim().split_once(':')?;
            if std::fs::metadata(&node).is_ok_and(|m| m.file_type().is_block_device()) {
                let want = DevNum {
                    major: ma.parse().ok()?,
                    minor: mi.parse().ok()?,
                };
                return Some((node, want));
            }
        }
        None
    }
}
