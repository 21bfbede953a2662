//! Helpers shared by the VM scenarios.
#![allow(dead_code)]

pub mod cow;
pub mod dmclass;
pub mod proxy;

use dmclass_vmtest::{DiskSpec, Output, Vm};

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// Shell snippet (a subshell): waits (udev settled) until `path` exists; fails after ~20 s.
pub fn wait_exists(path: &str) -> String {
    format!(
        "(udevadm settle; for i in $(seq 100); do [ -e {path} ] && exit 0; sleep 0.2; done; \
         echo 'timed out waiting for {path} to appear' >&2; exit 1)"
    )
}

/// Shell snippet (a subshell): waits (udev settled) until `path` is gone; fails after ~20 s.
pub fn wait_gone(path: &str) -> String {
    format!(
        "(udevadm settle; for i in $(seq 100); do [ -e {path} ] || exit 0; sleep 0.2; done; \
         echo 'timed out waiting for {path} to go away' >&2; exit 1)"
    )
}

/// `/dev/disk/by-id/<name>` of a disk.
pub fn by_id(vm: &Vm, disk: &DiskSpec) -> String {
    match disk.expected_by_id() {
        Some(name) => format!("/dev/disk/by-id/{name}"),
        None => vm.fail(
            &format!("disk {} has no serial: no stable name", disk.id),
            None,
        ),
    }
}

/// Checks, with udev alone (independent of dmclass), that every attached disk has the
/// by-id link, serial and WWN the harness expects.
pub fn check_udev_ids(vm: &mut Vm) {
    let disks = vm.spec().disks.clone();
    for d in &disks {
        let link = by_id(vm, d);
        let out = vm.sh(&format!(
            "{} && udevadm info -q property {link}",
            wait_exists(&link)
        ));
        let prop = |k: &str| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
        };
        vm.check_eq(
            &format!("ID_SERIAL_SHORT/ID_SERIAL of disk {}", d.id),
            &d.expected_serial(),
            &prop("ID_SERIAL_SHORT").or_else(|| prop("ID_SERIAL")),
            Some(&out),
        );
        vm.check_eq(
            &format!("ID_WWN of disk {}", d.id),
            &d.expected_wwn(),
            &prop("ID_WWN").filter(|_| d.wwn.is_some()),
            Some(&out),
        );
    }
}

/// The first whitespace-separated word of stdout (e.g. a checksum).
pub fn first_word(out: &Output) -> String {
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}
