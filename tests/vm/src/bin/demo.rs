//! `make demo`: boots a KVM-guest VM with three scratch disks named as in
//! `examples/kvm-guest-mirror.yaml`, checks and applies that example, writes data to a
//! mirrored volume, shows `dmclass status` while the resync runs, reads the data back,
//! and prints where to look next. Builds the VM image first when needed.

use dmclass_model::Bytes;
use dmclass_vmtest::{
    ensure_image, workspace_root, DiskSpec, Firmware, Output, Personality, Vm, VmError, VmSpec,
};
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;
const CONFIG: &str = "/root/kvm-guest-mirror.yaml";
const VOL1: &str = "/dev/dmclass/data/vol1";
const RESYNC_LIMIT: Duration = Duration::from_secs(900);

fn step(text: &str) {
    println!("\n==> {text}");
}

fn show(out: &Output) {
    for line in out.stdout.lines() {
        println!("    {line}");
    }
    for line in out.stderr.lines() {
        println!("    (stderr) {line}");
    }
}

/// Runs a guest command, shows it and its output; an exit status other than 0 ends the
/// demo.
fn run(vm: &mut Vm, command: &str) -> Result<Output, String> {
    println!("    # {command}");
    let out = vm
        .run_timeout(command, Duration::from_secs(300))
        .map_err(|e| format!("`{command}`: {e}"))?;
    show(&out);
    if out.success() {
        Ok(out)
    } else {
        Err(format!("`{command}` exited with status {}", out.status))
    }
}

/// Lowest `sync_percent` of the class's volumes (`None` while unreadable).
fn min_sync(vm: &mut Vm) -> Result<Option<f64>, VmError> {
    let out = vm.run("dmclass status data --json")?;
    let Ok(doc) = serde_json::from_str::<Value>(&out.stdout) else {
        return Ok(None);
    };
    let percents: Vec<f64> = doc["classes"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["volumes"].as_array().into_iter().flatten())
        .map(|v| v["sync_percent"].as_f64().unwrap_or(100.0))
        .collect();
    Ok(percents.into_iter().reduce(f64::min))
}

fn demo(vm_slot: &mut Option<Vm>) -> Result<(), String> {
    step("VM image (kernel + initramfs with dmclass; the first run downloads the kernel)");
    let image = ensure_image().map_err(|e| e.to_string())?;
    println!("    kernel {}", image.kernel.display());
    println!("    initrd {}", image.initrd.display());

    step("booting a KVM guest (BIOS) with disks data1 (virtio-blk), data2 (virtio-scsi), spare1 (virtio-blk), 2 GiB each");
    let spec = VmSpec::new("demo", Personality::KvmGuest, Firmware::Bios)
        .disk(DiskSpec::virtio_blk("data1", "data1", Bytes(2 * GIB)))
        .disk(DiskSpec::virtio_scsi("data2", "data2", Bytes(2 * GIB)))
        .disk(DiskSpec::virtio_blk("spare1", "spare1", Bytes(2 * GIB)));
    let vm = vm_slot.insert(Vm::boot(spec).map_err(|e| e.to_string())?);
    vm.keep_logs();
    println!("    booted in {:.1?}", vm.boot_time());

    step("the example configuration");
    let example = workspace_root().join("examples/kvm-guest-mirror.yaml");
    let yaml = std::fs::read(&example).map_err(|e| format!("{}: {e}", example.display()))?;
    vm.put_file(CONFIG, &yaml).map_err(|e| e.to_string())?;
    run(vm, &format!("cat {CONFIG}"))?;

    step("what dmclass sees");
    run(vm, "udevadm settle; dmclass probe")?;
    step("dmclass check: schema, support matrix, devices");
    run(vm, &format!("dmclass check {CONFIG}"))?;
    step("dmclass apply");
    run(vm, &format!("dmclass apply {CONFIG} --yes"))?;
    run(vm, "udevadm settle; ls -l /dev/dmclass/*/ /dev/mapper/")?;

    step("writing 64 MiB of random data to data/vol1");
    let written = run(
        vm,
        &format!(
            "dd if=/dev/urandom of=/tmp/pat bs=1M count=64 2>/dev/null && \
             dd if=/tmp/pat of={VOL1} bs=1M oflag=direct conv=fsync 2>/dev/null && \
             sha256sum /tmp/pat | cut -d' ' -f1"
        ),
    )?;

    step("dmclass status while the resync runs");
    let t0 = Instant::now();
    let mut last_shown = None::<Instant>;
    loop {
        let sync = min_sync(vm).map_err(|e| e.to_string())?;
        if last_shown.is_none_or(|t| t.elapsed() >= Duration::from_secs(15)) {
            run(vm, "dmclass status data")?;
            last_shown = Some(Instant::now());
        } else {
            println!(
                "    [{:>4.0?}] lowest volume sync: {}",
                t0.elapsed(),
                sync.map_or("?".into(), |p| format!("{p:.1}%"))
            );
        }
        if sync.is_some_and(|p| p >= 100.0) {
            println!("    resync finished after {:.0?}", t0.elapsed());
            run(vm, "dmclass status data; dmsetup status")?;
            break;
        }
        if t0.elapsed() > RESYNC_LIMIT {
            return Err(format!("resync not finished after {RESYNC_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_secs(3));
    }

    step("reading data/vol1 back");
    let read = run(
        vm,
        &format!(
            "dd if={VOL1} bs=1M count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1"
        ),
    )?;
    if read.stdout.trim() != written.stdout.trim() {
        return Err("the data read back differs from the data written".into());
    }
    println!("    checksum matches: {}", read.stdout.trim());
    Ok(())
}

fn main() -> ExitCode {
    let mut vm = None;
    let result = demo(&mut vm);
    step("where to look next");
    if let Some(vm) = &vm {
        println!("    console log:   {}", vm.console_log().display());
        println!(
            "    QEMU command:  {}",
            vm.log_dir().join("qemu.cmdline").display()
        );
    }
    println!("    all VM scenarios:  make vm-test");
    println!("    one scenario:      make vm-test-one SCENARIO=kvm_raid1_degraded_both_ways");
    println!("    (scenarios: tests/vm/tests/scenarios/; failed ones keep logs in target/vm/logs/<name>/)");
    match result {
        Ok(()) => {
            println!("\ndemo finished");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
