//! Which disks running guests use: the block devices QEMU processes (libvirt's
//! included) hold open, found through `/proc/<pid>/fd`. Evidence for the gate's N3
//! note (a KVM host must not register the disks its guests use).
//!
//! Best effort and bounded: an unreadable `/proc` or a QEMU process whose descriptors
//! cannot be read (not root) makes the answer "unknown", never a probe failure.

use crate::sysroot::SysRoot;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// At most this many `/proc` entries are looked at (a machine has far fewer processes;
/// the bound keeps a hostile or broken procfs from stalling the probe).
const MAX_PROCS: usize = 1 << 16;
/// At most this many descriptors of one QEMU process are read.
const MAX_FDS: usize = 1 << 14;

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestOpens {
    /// Every QEMU process was looked at completely.
    pub complete: bool,
    /// Device path (as the kernel reports an open file: `/dev/sdc`) → openers as
    /// `comm[pid]`.
    pub opened: BTreeMap<PathBuf, Vec<String>>,
}

impl GuestOpens {
    /// The guest openers of the disk at `devnode` or of one of its `partitions`
    /// (kernel names), as the facts record them: `None` when the scan was incomplete
    /// and found none for this disk (unknown, not "none").
    pub fn openers_of(&self, devnode: &Path, partitions: &[String]) -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let parts = partitions.iter().map(|p| Path::new("/dev").join(p));
        for p in std::iter::once(devnode.to_path_buf()).chain(parts) {
            for who in self.opened.get(&p).into_iter().flatten() {
                if !out.contains(who) {
                    out.push(who.clone());
                }
            }
        }
        (self.complete || !out.is_empty()).then_some(out)
    }
}

/// Whether a process named `comm` running `exe` is a virtual machine monitor.
fn is_vmm(comm: &str, exe: Option<&str>) -> bool {
    let vmm = |n: &str| n.starts_with("qemu-system-") || n.starts_with("qemu-kvm") || n == "kvm";
    vmm(comm) || exe.is_some_and(vmm)
}

/// Scan the processes under `root`'s `/proc`.
pub fn guest_opens(root: &SysRoot) -> GuestOpens {
    let mut out = GuestOpens::default();
    let Ok(entries) = fs::read_dir(root.path("/proc")) else {
        return out; // unknown
    };
    let mut complete = true;
    for (n, e) in entries.enumerate() {
        if n >= MAX_PROCS {
            complete = false;
            break;
        }
        let Ok(e) = e else {
            complete = false;
            continue;
        };
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let proc_dir = format!("/proc/{pid}");
        // A process that ended meanwhile has no comm any more: not a guest.
        let Some(comm) = root.read_trimmed(format!("{proc_dir}/comm")) else {
            continue;
        };
        let exe = fs::read_link(root.path(format!("{proc_dir}/exe"))).ok();
        let exe_name = exe
            .as_deref()
            .and_then(Path::file_name)
            .and_then(|f| f.to_str());
        if !is_vmm(&comm, exe_name) {
            continue;
        }
        let Ok(fds) = fs::read_dir(root.path(format!("{proc_dir}/fd"))) else {
            complete = false; // a guest whose disks we cannot see
            continue;
        };
        let who = format!("{comm}[{pid}]");
        for (i, fd) in fds.enumerate() {
            if i >= MAX_FDS {
                complete = false;
                break;
            }
            let Ok(target) = fd.and_then(|fd| fs::read_link(fd.path())) else {
                continue; // closed meanwhile
            };
            if target.starts_with("/dev/") {
                let openers = out.opened.entry(target).or_default();
                if !openers.contains(&who) {
                    openers.push(who.clone());
                }
            }
        }
    }
    out.complete = complete;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;
    use std::os::unix::fs::symlink;

    fn fd(t: &TempTree, pid: u32, n: u32, target: &str) {
        let dir = t.path().join(format!("proc/{pid}/fd"));
        fs::create_dir_all(&dir).unwrap();
        symlink(target, dir.join(n.to_string())).unwrap();
    }

    #[test]
    fn qemu_disks_are_found_and_other_processes_ignored() {
        let t = TempTree::new("guests");
        t.write("/proc/100/comm", "qemu-system-x86\n");
        fd(&t, 100, 3, "/dev/sdc");
        fd(&t, 100, 4, "/dev/sdd1");
        fd(&t, 100, 5, "socket:[1234]");
        t.write("/proc/200/comm", "postgres\n");
        fd(&t, 200, 3, "/dev/sde");
        t.write("/proc/self/comm", "dmclass\n");
        t.mkdir("/proc/sys");
        let g = guest_opens(&SysRoot::new(t.path()));
        assert!(g.complete);
        assert_eq!(g.opened.len(), 2, "{g:?}");
        assert_eq!(
            g.openers_of(Path::new("/dev/sdc"), &[]),
            Some(vec!["qemu-system-x86[100]".to_string()])
        );
        // Through a partition.
        assert_eq!(
            g.openers_of(Path::new("/dev/sdd"), &["sdd1".into()]),
            Some(vec!["qemu-system-x86[100]".to_string()])
        );
        assert_eq!(g.openers_of(Path::new("/dev/sde"), &[]), Some(Vec::new()));
    }

    #[test]
    fn unreadable_descriptors_or_proc_mean_unknown() {
        let t = TempTree::new("guests-unknown");
        // A QEMU process without a readable fd directory (not root).
        t.write("/proc/100/comm", "qemu-kvm\n");
        t.write("/proc/101/comm", "qemu-system-aar\n");
        fd(&t, 101, 3, "/dev/vdb");
        let g = guest_opens(&SysRoot::new(t.path()));
        assert!(!g.complete);
        assert_eq!(g.openers_of(Path::new("/dev/sdc"), &[]), None);
        // What was seen is still evidence.
        assert_eq!(
            g.openers_of(Path::new("/dev/vdb"), &[]),
            Some(vec!["qemu-system-aar[101]".to_string()])
        );
        let none = guest_opens(&SysRoot::new(t.path().join("nowhere")));
        assert!(!none.complete && none.opened.is_empty());
    }

    #[test]
    fn vmm_by_comm_or_executable() {
        assert!(is_vmm("qemu-system-x86", None));
        assert!(is_vmm("CPU 0/KVM", Some("qemu-system-x86_64")));
        assert!(is_vmm("kvm", None));
        assert!(!is_vmm("bash", Some("bash")));
    }
}
