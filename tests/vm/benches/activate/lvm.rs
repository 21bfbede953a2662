//! The LVM2 baseline: a volume group with N raid1 LVs on the two disks.

use crate::guest::{sh, time_of, BenchResult};
use dmclass_vmtest::Vm;
use std::fmt::Write as _;

/// The volume group's name.
pub const VG: &str = "benchvg";

/// Creates the VG and `n` raid1 LVs of `data_mib` MiB (`--nosync`: no initial resync
/// competing with the measurements), deactivates them; returns the setup seconds.
/// One `lvm` process reads every `lvcreate` from stdin (no process start per LV).
pub fn setup(vm: &mut Vm, n: u32, data_mib: u64, disks: [&str; 2]) -> BenchResult<f64> {
    let mut cmds = String::new();
    for v in 0..n {
        let _ = writeln!(
            cmds,
            "lvcreate -q --type raid1 -m1 --nosync -L {data_mib}m -n v{v} {VG}"
        );
    }
    let [d1, d2] = disks;
    let script = format!(
        "set -e
wipefs -q -a {d1} {d2}
pvcreate -q -ff -y --metadatasize 16m {d1} {d2} >/dev/null
vgcreate -q -s 1m {VG} {d1} {d2} >/dev/null
cat > /run/bench-lvcreate <<'EOF'
{cmds}EOF
timed lvm-setup sh -c 'lvm < /run/bench-lvcreate >/run/bench-lvcreate.log 2>&1'
[ \"$(lvs --noheadings -o lv_name {VG} | grep -c -v _)\" = {n} ] || {{ echo 'lvcreate made the wrong number of LVs' >&2; tail -n 20 /run/bench-lvcreate.log >&2; exit 1; }}
vgchange -q -an {VG} >/dev/null
udevadm settle
"
    );
    let out = sh(vm, "LVM2 setup", &script)?;
    time_of(&out, "lvm-setup")
}

/// `vgchange -ay` + `udevadm settle`, timed; then deactivates again.
pub fn activate(vm: &mut Vm, expect_devices: usize) -> BenchResult<f64> {
    let script = format!(
        "set -e
udevadm settle
timed lvm-activate sh -c 'vgchange -q -ay {VG} >/dev/null && udevadm settle'
c=$(dmsetup info -c --noheadings -o name | grep -c '^{VG}-')
[ \"$c\" = {expect_devices} ] || {{ echo \"vgchange made $c dm devices, expected {expect_devices}\" >&2; exit 1; }}
vgchange -q -an {VG} >/dev/null
udevadm settle
"
    );
    let out = sh(vm, "LVM2 vgchange -ay", &script)?;
    time_of(&out, "lvm-activate")
}

/// Removes the VG and the PV labels so the disks are blank for the next phase.
pub fn teardown(vm: &mut Vm, disks: [&str; 2]) -> BenchResult<()> {
    let [d1, d2] = disks;
    sh(
        vm,
        "LVM2 teardown",
        &format!(
            "set -e
vgchange -q -an {VG} >/dev/null 2>&1 || true
vgremove -q -ff -y {VG} >/dev/null
lvm pvremove -q -ff -y {d1} {d2} >/dev/null
wipefs -q -a {d1} {d2}
udevadm settle
"
        ),
    )
    .map(|_| ())
}
