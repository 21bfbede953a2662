//! `dmclass monitor` tells people (docs/cli.md, "Events"): a leg of a running mirror
//! fails under a real kernel and the monitor reports it as a JSON line and runs the
//! `--exec` program with the event in its environment.
//!
//! Run one: `make vm-test-one SCENARIO=monitor_leg_failed_exec`.

use crate::common::dmclass::{
    check_and_apply, class_yaml, disk_by_path, put_config, vol_path, wait_synced,
};
use crate::common::{wait_exists, wait_gone, MIB};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Personality, Vm, VmSpec};
use serde_json::Value;
use std::time::{Duration, Instant};

const SYNC_TIMEOUT: Duration = Duration::from_secs(300);
/// Generous: the host may run other software-emulated VMs and builds.
const REACT_TIMEOUT: Duration = Duration::from_secs(180);

/// The program the monitor runs per event: appends its arguments and every
/// DMCLASS_* variable, then `--`, to /tmp/ev.env.
const PROGRAM: &str = "#!/bin/sh
{ echo \"args=$*\"; env | grep '^DMCLASS_' | sort; echo --; } >>/tmp/ev.env
";

/// The JSON lines the monitor printed so far (each must parse).
fn json_lines(vm: &mut Vm) -> Vec<Value> {
    let out = vm.sh("cat /tmp/mon.json");
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| vm.fail(&format!("monitor line is not JSON ({e}): {l}"), None))
        })
        .collect()
}

fn monitor_log(vm: &mut Vm) -> String {
    vm.sh(
        "echo '--- stdout'; cat /tmp/mon.json; echo '--- stderr'; cat /tmp/mon.err; \
         echo '--- program'; cat /tmp/ev.env 2>/dev/null; \
         kill -0 $(cat /tmp/mon.pid) && echo '[monitor running]' || echo '[monitor NOT running]'",
    )
    .stdout
}

pub fn monitor_leg_failed_exec() {
    let spec = VmSpec::new(
        "monitor_leg_failed_exec",
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(DiskSpec::virtio_blk("d1", "mond1", Bytes(128 * MIB)))
    .disk(DiskSpec::virtio_scsi("d2", "mond2", Bytes(128 * MIB)));
    let Some(mut vm) = boot_or_skip(spec) else {
        return;
    };
    let t_start = Instant::now();
    let disks = vm.spec().disks.clone();
    let (d1, d2) = (disks[0].clone(), disks[1].clone());
    let yaml = class_yaml(
        &vm,
        "mon",
        &[
            disk_by_path(&vm, "a", &d1, ""),
            disk_by_path(&vm, "b", &d2, ""),
        ],
        &["{name: g1, type: mirror, members: [a, b]}"],
        &["{name: v1, on: g1, size: 32MiB}"],
    );
    put_config(&mut vm, "/root/mon.yaml", &yaml);
    check_and_apply(&mut vm, "/root/mon.yaml");
    let dev = vol_path("mon", "v1");
    vm.sh(&wait_exists(&dev));
    wait_synced(&mut vm, "mon", SYNC_TIMEOUT);

    if let Err(e) = vm.put_file("/root/ev.sh", PROGRAM.as_bytes()) {
        vm.fail(&format!("writing /root/ev.sh: {e}"), None);
    }
    vm.sh("chmod +x /root/ev.sh; rm -f /tmp/ev.env
         setsid dmclass monitor --json --exec /root/ev.sh </dev/null >/tmp/mon.json 2>/tmp/mon.err &
         echo $! >/tmp/mon.pid; sleep 3
         kill -0 $(cat /tmp/mon.pid) || { echo 'monitor exited:'; cat /tmp/mon.err; exit 1; }");
    // healthy and recorded so: nothing to report yet
    let early = json_lines(&mut vm);
    if !early.is_empty() {
        let log = monitor_log(&mut vm);
        vm.fail(&format!("events while the class is healthy:\n{log}"), None);
    }

    // the leg on b goes away (QMP device_del); writes make raid1 fail the leg
    let link = crate::common::by_id(&vm, &d2);
    vm.unplug(&d2.id)
        .unwrap_or_else(|e| vm.fail(&format!("unplug {}: {e}", d2.id), None));
    vm.sh(&wait_gone(&link));
    vm.sh(&format!(
        "dd if=/dev/urandom of={dev} bs=64k count=16 oflag=direct conv=fsync 2>&1 | tail -1"
    ));

    let t0 = Instant::now();
    let failed = loop {
        let lines = json_lines(&mut vm);
        if let Some(e) = lines
            .iter()
            .find(|e| e["kind"] == "leg_failed" && e["volume"] == "v1")
        {
            break e.clone();
        }
        if t0.elapsed() > REACT_TIMEOUT {
            let log = monitor_log(&mut vm);
            vm.fail(
                &format!("no leg_failed event within {REACT_TIMEOUT:?}; monitor:\n{log}"),
                None,
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    eprintln!(
        "monitor_leg_failed_exec: leg_failed after {:?}: {failed}",
        t0.elapsed()
    );
    let by_id_name = d2.expected_by_id().unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    vm.check_eq(
        "schema",
        "dmclass-event/1",
        s(&failed["schema"]).as_str(),
        None,
    );
    vm.check_eq("class", "mon", s(&failed["class"]).as_str(), None);
    vm.check_eq("disk", "b", s(&failed["disk"]).as_str(), None);
    vm.check_eq("state", "INVALID", s(&failed["state"]).as_str(), None);
    let disk_id = s(&failed["disk_id"]);
    vm.check(
        !by_id_name.is_empty() && disk_id.ends_with(&by_id_name),
        &format!("disk_id {disk_id:?} is d2's stable id ({by_id_name})"),
        None,
    );

    // the program ran with the event in its environment
    let t1 = Instant::now();
    let env = loop {
        let out = vm.sh("cat /tmp/ev.env 2>/dev/null || true");
        if out.stdout.contains("DMCLASS_EVENT=leg_failed") {
            break out.stdout;
        }
        if t1.elapsed() > Duration::from_secs(60) {
            let log = monitor_log(&mut vm);
            vm.fail(
                &format!("--exec program did not run; monitor:\n{log}"),
                None,
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let block = env
        .split("--\n")
        .find(|b| b.contains("DMCLASS_EVENT=leg_failed") && b.contains("DMCLASS_VOLUME=v1"))
        .unwrap_or("")
        .to_string();
    eprintln!("monitor_leg_failed_exec: program saw:\n{block}");
    for want in [
        "args=leg_failed mon".to_string(),
        "DMCLASS_CLASS=mon".to_string(),
        "DMCLASS_VOLUME=v1".to_string(),
        "DMCLASS_LEG=1".to_string(),
        "DMCLASS_DISK=b".to_string(),
        format!("DMCLASS_DISK_ID={disk_id}"),
        "DMCLASS_STATE=INVALID".to_string(),
        "DMCLASS_PREVIOUS_STATE=ACTIVE".to_string(),
    ] {
        vm.check(
            block.lines().any(|l| l == want),
            &format!("the program's environment has `{want}`"),
            None,
        );
    }
    vm.check(
        block
            .lines()
            .any(|l| l.starts_with("DMCLASS_TIME=20") && l.ends_with('Z')),
        "DMCLASS_TIME is an RFC 3339 UTC time",
        None,
    );
    let log = monitor_log(&mut vm);
    eprintln!("monitor_leg_failed_exec: monitor:\n{log}");
    vm.check(
        log.contains("[monitor running]"),
        "the monitor keeps running after the event",
        None,
    );
    eprintln!("monitor_leg_failed_exec: runtime {:?}", t_start.elapsed());
}
