//! Disks the firmware boots from: a GPT with an EFI system partition holding the VM's
//! kernel, initramfs and command line as one unified kernel image (UKI) at the
//! removable-media path `\EFI\BOOT\BOOTX64.EFI`, so OVMF boots it with no boot entry.
//!
//! Debian 12 has no `ukify`; the UKI is the systemd-boot EFI stub with the kernel,
//! initramfs, command line and os-release added as PE sections by `objcopy` (the
//! section addresses systemd documents for the stub). The disk is made without root or
//! loop devices: `sfdisk` on the image file, `mkfs.vfat --offset`, `mcopy -i img@@1M`.
//! UKIs are cached by their inputs under `target/vm/image/`.

use crate::error::VmError;
use crate::image::{vm_dir, ImagePaths};
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The systemd-boot EFI stub (Debian package `systemd-boot-efi`).
const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";
/// Size of the ESP: 64 MiB of FAT32 from 1 MiB on.
pub(crate) const ESP_MIB: u64 = 64;
/// Partition type GUID of an EFI system partition.
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

fn run(cmd: &mut Command) -> Result<(), VmError> {
    let text = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| VmError::Image {
        command: text.clone(),
        detail: format!("cannot run it: {e} (packages: scripts/deps vm)"),
    })?;
    if !out.status.success() {
        return Err(VmError::Image {
            command: text,
            detail: format!(
                "exit {:?}: {}{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(())
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> VmError {
    move |e| VmError::io(what, e)
}

/// A name part no other build in this process or another uses at the same time
/// (scenarios run in threads of one process and may build the same UKI at once).
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// The UKI of `image` with `cmdline`, built once per distinct input.
pub(crate) fn uki(image: &ImagePaths, cmdline: &str) -> Result<PathBuf, VmError> {
    let mut h = DefaultHasher::new();
    for f in [&image.kernel, &image.initrd] {
        std::fs::read(f)
            .map_err(io(format!("read {}", f.display())))?
            .hash(&mut h);
    }
    cmdline.hash(&mut h);
    let dir = vm_dir().join("image");
    let out = dir.join(format!("uki-{:016x}.efi", h.finish()));
    if out.exists() {
        return Ok(out);
    }
    let tmp = dir.join(format!("uki.{}.tmp", unique()));
    // The initramfs is an uncompressed cpio (fast for -initrd); in the image on the ESP
    // it is gzip'd: a third of the size for the firmware to read.
    let initrd_gz = dir.join(format!("uki-initrd.{}.tmp", unique()));
    let gz =
        std::fs::File::create(&initrd_gz).map_err(io(format!("create {}", initrd_gz.display())))?;
    run(Command::new("gzip")
        .args(["-1", "-c"])
        .arg(&image.initrd)
        .stdout(gz))?;
    let cmd_file = dir.join(format!("uki-cmdline.{}.tmp", unique()));
    let osrel = dir.join(format!("uki-osrel.{}.tmp", unique()));
    std::fs::write(&cmd_file, cmdline).map_err(io(format!("write {}", cmd_file.display())))?;
    std::fs::write(&osrel, "ID=dmclass-vm\nPRETTY_NAME=\"dmclass test VM\"\n")
        .map_err(io(format!("write {}", osrel.display())))?;
    let section = |name: &str, file: &Path, vma: &str| {
        [
            "--add-section".to_string(),
            format!("{name}={}", file.display()),
            "--change-section-vma".to_string(),
            format!("{name}={vma}"),
        ]
    };
    let mut objcopy = Command::new("objcopy");
    objcopy
        .args(section(".osrel", &osrel, "0x20000"))
        .args(section(".cmdline", &cmd_file, "0x30000"))
        .args(section(".linux", &image.kernel, "0x2000000"))
        .args(section(".initrd", &initrd_gz, "0x3000000"))
        .arg(STUB)
        .arg(&tmp);
    let built = run(&mut objcopy);
    let _ = std::fs::remove_file(&cmd_file);
    let _ = std::fs::remove_file(&osrel);
    let _ = std::fs::remove_file(&initrd_gz);
    built?;
    // Atomic: parallel scenarios may build the same UKI.
    std::fs::rename(&tmp, &out).map_err(io(format!("rename {}", tmp.display())))?;
    Ok(out)
}

/// Size of a root partition ([`crate::DiskSpec::with_root`]), right after the ESP.
pub(crate) const ROOT_MIB: u64 = 128;
/// Partition type GUID of a Linux file system.
const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
/// Marker file of the root tree: the guest's init hands over to the disk only once.
const REALROOT_MARKER: &str = "etc/dmclass-vm-realroot";

/// The partition UUID of disk `id`'s root partition (derived from the id, so the kernel
/// command line can name it before the disk exists).
pub(crate) fn root_partuuid(id: &str) -> String {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    let a = h.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (a >> 20) & 0xfff,
        a & 0xffff_ffff_ffff
    )
}

/// The file system UUID of disk `id`'s root file system (derived like
/// [`root_partuuid`]; the same on every leg once a root class mirrors it, so the
/// command line names it with `/dev/disk/by-uuid/`).
pub(crate) fn root_fs_uuid(id: &str) -> String {
    root_partuuid(&format!("{id}/fs"))
}

/// The image's file tree (the initramfs unpacked, plus the marker), built once per
/// initramfs under `target/vm/image/rootfs-<hash>/`.
fn root_tree(image: &ImagePaths) -> Result<PathBuf, VmError> {
    let mut h = DefaultHasher::new();
    std::fs::read(&image.initrd)
        .map_err(io(format!("read {}", image.initrd.display())))?
        .hash(&mut h);
    "base and overlay unpacked".hash(&mut h); // trees made before that lack the overlay
    let dir = vm_dir().join("image");
    let tree = dir.join(format!("rootfs-{:016x}", h.finish()));
    if tree.join(REALROOT_MARKER).exists() {
        return Ok(tree);
    }
    let tmp = dir.join(format!("rootfs.{}.tmp", unique()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(format!("create {}", tmp.display())))?;
    // initrd.img is base.cpio and overlay.cpio end to end; cpio stops at the first
    // archive's trailer, so each part is unpacked on its own (overlay last, winning).
    let parts = image.initrd.parent().map_or_else(Vec::new, |d| {
        vec![d.join("base.cpio"), d.join("overlay.cpio")]
    });
    for part in &parts {
        let f = std::fs::File::open(part).map_err(io(format!("open {}", part.display())))?;
        run(Command::new("cpio")
            .args(["-idmu", "--quiet", "-D"])
            .arg(&tmp)
            .stdin(f))?;
    }
    std::fs::write(
        tmp.join(REALROOT_MARKER),
        "the root file system of a dmclass test VM\n",
    )
    .map_err(io("write the root marker".into()))?;
    // Another scenario may have finished the same tree meanwhile: use it, never remove
    // a tree someone is reading (a half-made one has no marker and is replaced).
    if !tree.join(REALROOT_MARKER).exists() {
        let _ = std::fs::remove_dir_all(&tree);
        if std::fs::rename(&tmp, &tree).is_ok() {
            return Ok(tree);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if !tree.join(REALROOT_MARKER).exists() {
        return Err(VmError::Image {
            command: format!("unpack the root tree into {}", tree.display()),
            detail: "another build left it incomplete".into(),
        });
    }
    Ok(tree)
}

/// Make `disk` (an existing image file of its final size) a GPT disk whose first
/// partition is an ESP booting `uki`; with `root`, a second partition holds the image's
/// file tree as ext4 (partition UUID [`root_partuuid`]`(id)`). The rest of the disk
/// stays unpartitioned.
pub(crate) fn write_esp_disk(
    disk: &Path,
    uki: &Path,
    root: Option<(&ImagePaths, &str)>,
) -> Result<(), VmError> {
    let mut script = format!(
        "label: gpt\nstart=2048, size={}, type={ESP_TYPE}, name=\"EFI system\"\n",
        ESP_MIB * 2048
    );
    if let Some((_, id)) = root {
        let _ = writeln!(
            script,
            "start={}, size={}, type={LINUX_FS_TYPE}, uuid={}, name=\"vmroot\"",
            (1 + ESP_MIB) * 2048,
            ROOT_MIB * 2048,
            root_partuuid(id)
        );
    }
    // sfdisk reads its script on standard input: a file beside the disk, removed after.
    let script_file = disk.with_extension("sfdisk");
    std::fs::write(&script_file, &script)
        .map_err(io(format!("write {}", script_file.display())))?;
    let stdin =
        std::fs::File::open(&script_file).map_err(io(format!("open {}", script_file.display())))?;
    let parted = run(Command::new("sfdisk")
        .args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(disk)
        .stdin(stdin));
    let _ = std::fs::remove_file(&script_file);
    parted?;
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", "ESP", "--offset", "2048"])
        .arg(disk)
        .arg((ESP_MIB * 1024).to_string()))?;
    let fat = format!("{}@@1M", disk.display());
    run(Command::new("mmd").args(["-i", &fat, "::/EFI", "::/EFI/BOOT"]))?;
    run(Command::new("mcopy")
        .args(["-i", &fat])
        .arg(uki)
        .arg("::/EFI/BOOT/BOOTX64.EFI"))?;
    if let Some((image, id)) = root {
        let tree = root_tree(image)?;
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "vmroot", "-U"])
            .arg(root_fs_uuid(id))
            .arg("-d")
            .arg(&tree)
            .arg("-E")
            .arg(format!("offset={}", (1 + ESP_MIB) << 20))
            .arg(disk)
            .arg(format!("{ROOT_MIB}M")))?;
    }
    Ok(())
}
