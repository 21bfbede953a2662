//! Locating and building the kernel + initramfs (tests/vm/scripts/vm-image).

use crate::error::VmError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The files a VM boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePaths {
    /// The kernel (`target/vm/image/vmlinuz`).
    pub kernel: PathBuf,
    /// The initramfs: base archive + dmclass overlay (`target/vm/image/initrd.img`).
    pub initrd: PathBuf,
}

/// Environment variable: set to `1` to skip VM scenarios (developers without QEMU).
pub const SKIP_ENV: &str = "DMCLASS_VM_SKIP";
/// Environment variable: the dmclass binary to put into the image.
pub const DMCLASS_BIN_ENV: &str = "DMCLASS_BIN";
/// Environment variable: set to `1` to keep logs and disk images of passing scenarios.
pub const KEEP_ENV: &str = "DMCLASS_VM_KEEP";

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| manifest.join("../.."), Path::to_path_buf)
}

/// Where images, run directories and logs live: `$DMCLASS_VM_DIR`, else
/// `<workspace>/target/vm` (independent of `CARGO_TARGET_DIR`, so every build shares
/// one image cache).
pub fn vm_dir() -> PathBuf {
    match std::env::var_os("DMCLASS_VM_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("target/vm"),
    }
}

/// True when the developer asked to skip the VM tier (`DMCLASS_VM_SKIP=1`).
pub fn skip_requested() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v == "1")
}

/// The dmclass binary the image gets: `$DMCLASS_BIN`, else the most recently built of
/// `{$CARGO_TARGET_DIR,<workspace>/target}/{vmtest,debug,release}/dmclass`.
pub fn dmclass_binary() -> Result<PathBuf, VmError> {
    if let Some(p) = std::env::var_os(DMCLASS_BIN_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut targets = vec![workspace_root().join("target")];
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|p| !p.is_empty()) {
        targets.insert(0, PathBuf::from(t));
    }
    let newest = targets
        .iter()
        .flat_map(|t| ["vmtest", "debug", "release"].map(|p| t.join(p).join("dmclass")))
        .filter_map(|p| {
            let modified = std::fs::metadata(&p).ok()?.modified().ok()?;
            Some((modified, p))
        })
        .max();
    newest.map(|(_, p)| p).ok_or_else(|| VmError::Image {
        command: "locate dmclass".into(),
        detail: format!(
            "no dmclass binary in {{vmtest,debug,release}} of {}: run \
             `cargo build --profile vmtest -p dmclass-cli` or set {DMCLASS_BIN_ENV}",
            targets
                .iter()
                .map(|t| t.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Builds (or reuses) the image once per test process; every caller gets the same
/// answer. The script itself caches by input hash and serialises concurrent builders
/// with a lock file, so parallel test binaries are safe too.
pub fn ensure_image() -> Result<ImagePaths, VmError> {
    static IMAGE: OnceLock<Result<ImagePaths, (String, String)>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            build_image().map_err(|e| match e {
                VmError::Image { command, detail } => (command, detail),
                other => (command_text(), other.to_string()),
            })
        })
        .clone()
        .map_err(|(command, detail)| VmError::Image { command, detail })
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/vm-image")
}

fn command_text() -> String {
    format!(
        "{} --dmclass <binary> --out {}",
        script().display(),
        vm_dir().display()
    )
}

fn build_image() -> Result<ImagePaths, VmError> {
    let dmclass = dmclass_binary()?;
    let out = vm_dir();
    let result = Command::new(script())
        .arg("--dmclass")
        .arg(&dmclass)
        .arg("--out")
        .arg(&out)
        .output()
        .map_err(|e| VmError::Image {
            command: command_text(),
            detail: format!("cannot run {}: {e}", script().display()),
        })?;
    if !result.status.success() {
        return Err(VmError::Image {
            command: command_text(),
            detail: String::from_utf8_lossy(&result.stderr).into_owned(),
        });
    }
    let dir = out.join("image");
    Ok(ImagePaths {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd.img"),
    })
}
