//! Real block device paths, on a loop device: signatures, exclusive-open detection, the
//! whole `probe()` seeing the disk, `O_DIRECT` disk I/O and the dmclass label. Needs root and `losetup`; without them the test says
//! so on stderr and checks nothing (this crate's other tests cover the pure parts).
#![allow(clippy::unwrap_used)]

use dmclass_engine::io::Disks;
use dmclass_engine::metadata::{
    format_area, AreaHeader, ClassMeta, ClassTypeMeta, DiskIdentity, DiskMeta, DiskRoleMeta,
    DiskState, HEADER_OFFSETS,
};
use dmclass_linux::inuse::exclusively_opened;
use dmclass_linux::signatures::probe_signatures;
use dmclass_linux::{read_label, LinuxDisks};
use dmclass_model::{Bytes, Sectors};
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

#[test]
fn direct_io_and_dmclass_label_on_a_loop_device() {
    let image =
        std::env::temp_dir().join(format!("dmclass-linux-loop-io-{}.img", std::process::id()));
    let size: u64 = 40 << 20;
    std::fs::File::create(&image)
        .unwrap()
        .set_len(size)
        .unwrap();
    let Some(lo) = Loop::attach(image) else {
        return;
    };
    let mut disks = LinuxDisks::new();
    assert_eq!(disks.size(&lo.dev).unwrap(), Bytes(size));
    let name = lo.dev.file_name().unwrap().to_string_lossy().into_owned();
    let sys_dev = std::fs::read_to_string(format!("/sys/class/block/{name}/dev")).unwrap();
    assert_eq!(disks.devnum(&lo.dev).unwrap().to_string(), sys_dev.trim());

    // Register the disk the way the engine will: format_area's writes, in order.
    let (class, disk) = (
        uuid::Uuid::from_bytes([0xc1; 16]),
        uuid::Uuid::from_bytes([0xd1; 16]),
    );
    let mut meta = ClassMeta::new("loopclass", class, ClassTypeMeta::Local);
    meta.generation = 3;
    meta.disks.push(DiskMeta {
        name: "d1".into(),
        uuid: disk,
        identity: DiskIdentity::default(),
        size: Sectors(size / 512),
        role: DiskRoleMeta::Member,
        state: DiskState::Enable,
        area_offset: Sectors(0),
        node: None,
    });
    let header = AreaHeader {
        class_uuid: class,
        disk_uuid: disk,
        disk_size: Sectors(size / 512),
        class_name: "loopclass".into(),
    };
    for w in format_area(&header, &meta).unwrap() {
        disks.write(&lo.dev, Bytes(w.offset), &w.data).unwrap();
        assert_eq!(
            disks.read(&lo.dev, Bytes(w.offset), w.data.len()).unwrap(),
            w.data
        );
    }
    let label = read_label(&lo.dev).unwrap();
    assert_eq!(
        (label.class.as_str(), label.disk.as_str()),
        ("loopclass", "d1")
    );
    assert_eq!(label.generation, Some(3));
    let sigs = probe_signatures(&lo.dev);
    assert_eq!(sigs.len(), 1, "{sigs:?}");
    assert_eq!(sigs[0].sig_type, "dmclass");
    assert_eq!(sigs[0].label.as_deref(), Some("loopclass"));

    // Unaligned I/O is refused before it reaches the device.
    let e = disks
        .write(&lo.dev, Bytes(4096 + 100), &[0; 512])
        .unwrap_err();
    assert_eq!(e.errno, Some(nix::libc::EINVAL));
    assert!(read_label(&lo.dev).is_some());

    // Zeroing both header copies makes it a blank disk again; the device end is a short read.
    disks
        .zero(&lo.dev, Bytes(HEADER_OFFSETS[0]), Bytes(8192))
        .unwrap();
    assert_eq!(read_label(&lo.dev), None);
    assert_eq!(probe_signatures(&lo.dev), Vec::new());
    assert!(disks.read(&lo.dev, Bytes(size - 512), 1024).is_err());
    assert_eq!(
        disks.read(&lo.dev, Bytes(size - 512), 512).unwrap().len(),
        512
    );
}
