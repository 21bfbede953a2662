//! Real block device paths, on a loop device: signatures, exclusive-open detection and the
//! whole `probe()` seeing the disk. Needs root and `losetup`; without them the test says
//! so on stderr and checks nothing (this crate's other tests cover the pure parts).
#![allow(clippy::unwrap_used)]

use dmclass_linux::inuse::exclusively_opened;
use dmclass_linux::signatures::probe_signatures;
use dmclass_rules::DeviceKind;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A loop device over an image file, detached and removed on drop.
struct Loop {
    dev: PathBuf,
    image: PathBuf,
}

impl Loop {
    fn attach(image: PathBuf) -> Option<Loop> {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&image)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: losetup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_file(&image);
            return None;
        }
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Some(Loop { dev, image })
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

/// 8 MiB: a swap v1 header labelled `loopswap` (no partition table).
fn swap_image(path: &Path) {
    let mut img = vec![0u8; 8 << 20];
    img[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    img[1028..1032].copy_from_slice(&2047u32.to_le_bytes());
    img[1036..1052].copy_from_slice(&[0xab; 16]);
    img[1052..1060].copy_from_slice(b"loopswap");
    img[4086..4096].copy_from_slice(b"SWAPSPACE2");
    std::fs::write(path, img).unwrap();
}

#[test]
fn loop_device_is_probed_and_exclusive_use_is_seen() {
    let image = std::env::temp_dir().join(format!("dmclass-linux-loop-{}.img", std::process::id()));
    swap_image(&image);
    let Some(lo) = Loop::attach(image) else {
        return;
    };

    let sigs = probe_signatures(&lo.dev);
    assert_eq!(sigs.len(), 1, "{sigs:?}");
    assert_eq!(sigs[0].sig_type, "swap");
    assert_eq!(sigs[0].label.as_deref(), Some("loopswap"));

    assert!(!exclusively_opened(&lo.dev));
    let holder = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_EXCL.bits())
        .open(&lo.dev)
        .unwrap();
    assert!(exclusively_opened(&lo.dev));

    let name = lo.dev.file_name().unwrap().to_string_lossy().into_owned();
    let facts = dmclass_linux::probe().unwrap();
    let disk = facts.disks.iter().find(|d| d.name == name).unwrap();
    assert_eq!(disk.kind, DeviceKind::Loop);
    assert_eq!(disk.size.0, 8 << 20);
    assert!(disk.in_use.exclusive && disk.in_use.is_busy());
    assert_eq!(disk.signatures, sigs);
    drop(holder);
}
