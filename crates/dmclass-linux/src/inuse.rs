//! Whether something else uses a disk: mounts (of the disk or its partitions), kernel
//! holders (dm, md, bcache... stacked on it), and exclusive opens (swap, a running
//! dm/md, a mounted file system, another tool holding `O_EXCL`).

use crate::sysroot::SysRoot;
use dmclass_rules::InUse;
use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevNum {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevNum {
    /// Parses `MAJOR:MINOR` (as in mountinfo and `/sys/block/X/dev`).
    pub fn parse(text: &str) -> Option<DevNum> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevNum {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Device number of the mounted file system's device.
    pub dev: DevNum,
    /// Mount point (octal escapes decoded).
    pub mount_point: PathBuf,
    /// File system type.
    pub fs_type: String,
    /// Mount source (`/dev/vda1`, `tmpfs`...).
    pub source: String,
}

/// Parses mountinfo text; malformed lines are skipped (never a panic).
///
/// Line format (proc(5)): `id parent MAJ:MIN root mount-point options [optional...] -
/// fstype source super-options`.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let _id = fields.next()?;
    let _parent = fields.next()?;
    let dev = DevNum::parse(fields.next()?)?;
    let _root = fields.next()?;
    let mount_point = PathBuf::from(unescape(fields.next()?));
    // Skip the options and the optional fields up to the `-` separator.
    fields.find(|f| *f == "-")?;
    let fs_type = unescape(fields.next()?);
    let source = unescape(fields.next().unwrap_or(""));
    Some(MountEntry {
        dev,
        mount_point,
        fs_type,
        source,
    })
}

/// Decodes the kernel's `\NNN` octal escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let octal = bytes
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
                .map(|d| d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0')));
            if let Some(byte) = octal.and_then(|v| u8::try_from(v).ok()) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Partitions of disk `name` (`vda1`, `nvme0n1p2`): its sysfs subdirectories that have a
/// `partition` attribute, sorted.
pub fn partitions(root: &SysRoot, name: &str) -> Vec<String> {
    root.list_dir(format!("/sys/block/{name}"))
        .into_iter()
        .filter(|e| root.exists(format!("/sys/block/{name}/{e}/partition")))
        .collect()
}

/// Everything but the exclusive-open test, from sysfs and the given mount table.
pub fn sysfs_usage(root: &SysRoot, name: &str, mounts: &[MountEntry]) -> InUse {
    let parts = partitions(root, name);
    let mut devnums = BTreeSet::new();
    let mut holders = BTreeSet::new();
    let mut dirs = vec![format!("/sys/block/{name}")];
    dirs.extend(parts.iter().map(|p| format!("/sys/block/{name}/{p}")));
    for dir in &dirs {
        if let Some(dev) = root
            .read_trimmed(format!("{dir}/dev"))
            .and_then(|d| DevNum::parse(&d))
        {
            devnums.insert(dev);
        }
        holders.extend(root.list_dir(format!("{dir}/holders")));
    }
    let mounted: BTreeSet<PathBuf> = mounts
        .iter()
        .filter(|m| devnums.contains(&m.dev))
        .map(|m| m.mount_point.clone())
        .collect();
    InUse {
        mounted: mounted.into_iter().collect(),
        holders: holders.into_iter().collect(),
        exclusive: false,
        partitions: parts,
        dmclass_holders: Vec::new(),
    }
}

/// Whether someone holds `devnode` open exclusively: an `O_RDONLY|O_EXCL` open of a block
/// device fails with `EBUSY` then (mounted file systems, active swap, dm/md members, and
/// any partition claimed that way, which claims the whole disk too).
///
/// Other failures (no permission, no such device) are logged and answer `false`: they say
/// nothing about other users; the blkid probe records an unreadable disk separately.
pub fn exclusively_opened(devnode: &Path) -> bool {
    match OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_EXCL.bits())
        .open(devnode)
    {
        // Closing a read-only descriptor sends no uevent, so this test is invisible to udev.
        Ok(_file) => false,
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EBUSY as i32) => true,
        Err(e) => {
            log::warn!("{}: cannot test for exclusive use: {e}", devnode.display());
            false
        }
    }
}

/// Full in-use state of disk `name` at `devnode`.
pub fn in_use(root: &SysRoot, name: &str, devnode: &Path, mounts: &[MountEntry]) -> InUse {
    let mut u = sysfs_usage(root, name, mounts);
    u.exclusive = exclusively_opened(devnode);
    u
}

/// The mount table of this process's namespace (`/proc/self/mountinfo` under `root`);
/// empty with a warning when it cannot be read.
pub fn read_mounts(root: &SysRoot) -> Vec<MountEntry> {
    let path = root.path("/proc/self/mountinfo");
    match dmclass_model::input::read_capped_string(&path, dmclass_model::input::MOUNTINFO_CAP) {
        Ok(text) => parse_mountinfo(&text),
        Err(e) => {
            log::warn!("cannot read {}: {e}; mounts unknown", path.display());
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 8:1 / /mnt/my\\040data rw,relatime shared:5 master:1 - xfs /dev/sda1 rw
41 27 8:2 /sub /srv rw - ext4 /dev/sda2 rw
42 27 8:2 / /srv2 rw - ext4 /dev/sda2 rw
broken line
43 27 x:y / /z rw - ext4 /dev/z rw
44 27 8:3 / /nosep rw shared:1
";

    #[test]
    fn mountinfo_lines_parse() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(
            m[1].dev,
            DevNum {
                major: 254,
                minor: 0
            }
        );
        assert_eq!(m[1].mount_point, PathBuf::from("/"));
        assert_eq!(m[1].fs_type, "ext4");
        assert_eq!(m[1].source, "/dev/vda");
        assert_eq!(m[2].mount_point, PathBuf::from("/mnt/my data"));
        assert_eq!(m[2].fs_type, "xfs", "optional fields skipped");
    }

    #[test]
    fn unescape_handles_edges() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape("tail\\04"), "tail\\04");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("\\999"), "\\999");
        assert_eq!(
            unescape("\\777"),
            "\\777",
            "out of byte range kept verbatim"
        );
    }

    #[test]
    fn devnum_parse() {
        assert_eq!(
            DevNum::parse("8:16\n"),
            Some(DevNum {
                major: 8,
                minor: 16
            })
        );
        assert_eq!(DevNum::parse("8"), None);
        assert_eq!(DevNum::parse("a:1"), None);
    }

    #[test]
    fn usage_from_a_fake_tree() {
        let t = TempTree::new("inuse");
        t.write("/sys/block/sda/dev", "8:0\n");
        t.mkdir("/sys/block/sda/holders");
        t.mkdir("/sys/block/sda/queue");
        for (p, dev) in [("sda1", "8:1"), ("sda2", "8:2")] {
            t.write(&format!("/sys/block/sda/{p}/partition"), "1\n");
            t.write(&format!("/sys/block/sda/{p}/dev"), &format!("{dev}\n"));
        }
        t.mkdir("/sys/block/sda/sda2/holders/dm-0");
        t.write("/sys/block/sdb/dev", "8:16\n");
        t.mkdir("/sys/block/sdb/holders/md127");
        let root = SysRoot::new(t.path());
        let mounts = parse_mountinfo(MOUNTINFO);

        let a = sysfs_usage(&root, "sda", &mounts);
        assert_eq!(a.partitions, vec!["sda1", "sda2"]);
        assert_eq!(
            a.mounted,
            vec![
                PathBuf::from("/mnt/my data"),
                PathBuf::from("/srv"),
                PathBuf::from("/srv2")
            ]
        );
        assert_eq!(a.holders, vec!["dm-0"]);
        assert!(a.is_busy());

        let b = sysfs_usage(&root, "sdb", &mounts);
        assert!(b.mounted.is_empty() && b.partitions.is_empty());
        assert_eq!(b.holders, vec!["md127"]);

        let c = sysfs_usage(&root, "sdc", &mounts);
        assert!(!c.is_busy());
    }

    #[test]
    fn regular_file_is_not_exclusively_held() {
        let t = TempTree::new("excl");
        t.write("/img", "x");
        assert!(!exclusively_opened(&t.path().join("img")));
        assert!(!exclusively_opened(Path::new("/nonexistent/dmclass")));
    }
}
