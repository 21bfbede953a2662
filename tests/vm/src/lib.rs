//! QEMU VM test harness for dmclass (docs/testing.md, the VM tier).
//!
//! The development machines have no device-mapper, so the real kernel paths are tested
//! inside QEMU (software emulation): [`ensure_image`] builds a Debian cloud kernel +
//! busybox/udev initramfs with the freshly built `dmclass` (cached under `target/vm/`),
//! [`Vm::boot`] starts a VM with a [`Personality`], [`Firmware`] and disks, and the
//! scenario talks to it through a guest agent on a virtio-serial port ([`Vm::run`],
//! [`Vm::sh`]), through QMP for hotplug and statistics ([`Vm::unplug`], [`Vm::plug`],
//! [`Vm::blockstats`]), and kills it for a power cut ([`Vm::power_cut`], [`Vm::start`]).
//!
//! ```no_run
//! use dmclass_model::Bytes;
//! use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, VmSpec};
//! let spec = VmSpec::new("example", Personality::KvmGuest, Firmware::Bios)
//!     .disk(DiskSpec::virtio_blk("d1", "data1", Bytes(64 << 20)));
//! let Some(mut vm) = boot_or_skip(spec) else { return };
//! vm.sh_contains("ls /dev/disk/by-id", "virtio-data1");
//! ```

mod agent;
mod bootdisk;
mod chan;
mod cpu;
mod error;
mod image;
mod qemu;
mod qmp;
mod report;
mod resume;
pub mod schedule;
mod spec;
mod vm;

pub use agent::Output;
pub use cpu::{take_qemu_cpu_time, HostTicks};
pub use error::VmError;
pub use image::{
    dmclass_binary, ensure_image, skip_requested, vm_dir, workspace_root, ImagePaths,
    DMCLASS_BIN_ENV, KEEP_ENV, SKIP_ENV,
};
pub use qmp::{BlockStats, Qmp};
pub use report::{boot_or_skip, failure_report};
pub use spec::{Bus, DiskSpec, Firmware, InjectedError, IoLimit, IoOp, Link, Personality, VmSpec};
pub use vm::{Vm, DEFAULT_COMMAND_TIMEOUT};
