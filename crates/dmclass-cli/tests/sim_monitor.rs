//! `dmclass monitor --once` on the simulated kernel: a leg fails, the monitor
//! reacts (hot spare), reports the events as JSON lines and runs `--exec` per event.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use dmclass_model::Bytes;
use serde_json::Value;
use support::Sim;

/// d2 of the mirror example (`/dev/sda` in its facts) fails: every I/O errors, and a
/// write through vol1 makes the raid mark the leg dead.
fn fail_d2(sim: &Sim) {
    let world = sim.dir.join("world.json");
    let (mut k, mut d) = dmclass_engine::sim::load(&world).unwrap();
    d.set_failed("/dev/sda", true).unwrap();
    k.write_dev("dmclass-data-vol1", Bytes(0), &[7u8; 4096])
        .unwrap();
    k.write_dev("dmclass-data-vol2", Bytes(0), &[7u8; 4096])
        .unwrap();
    dmclass_engine::sim::save(&d, &world).unwrap();
}

/// The JSON lines, each checked against docs/schemas/dmclass-event-1.json.
fn events(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .inspect(support::assert_schema)
        .collect()
}

#[test]
fn failed_leg_is_reported_as_json_and_to_the_program() {
    let sim = Sim::new("monitor", "examples/kvm-guest-mirror.facts.json");
    sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    // Healthy: nothing to report.
    assert_eq!(sim.ok(&["monitor", "--once", "--json"]), "");

    fail_d2(&sim);
    let log = sim.dir.join("events.env");
    let prog = sim.dir.join("prog.sh");
    std::fs::write(
        &prog,
        format!(
            "#!/bin/sh\n{{ echo \"args=$1 $2\"; env | grep '^DMCLASS_' | grep -v '^DMCLASS_SIM=' | sort; echo --; }} >>{}\n",
            log.display()
        ),
    )
    .unwrap();
    assert!(std::process::Command::new("chmod")
        .arg("+x")
        .arg(&prog)
        .status()
        .unwrap()
        .success());
    let out = sim.ok(&[
        "monitor",
        "--once",
        "--json",
        "--exec",
        prog.to_str().unwrap(),
    ]);
    let ev = events(&out);
    let failed: Vec<&Value> = ev.iter().filter(|e| e["kind"] == "leg_failed").collect();
    assert!(!failed.is_empty(), "{out}");
    let f = failed
        .iter()
        .find(|e| e["volume"] == "vol1")
        .unwrap_or_else(|| panic!("no leg_failed for vol1: {out}"));
    assert_eq!(f["schema"], "dmclass-event/1");
    assert_eq!(f["class"], "data");
    assert_eq!(f["disk"], "d2");
    assert_eq!(
        f["disk_id"],
        "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_data2"
    );
    assert_eq!(f["state"], "INVALID");
    assert!(
        ev.iter()
            .any(|e| e["kind"] == "spare_took_over" && e["disk"] == "s1"),
        "hot spare s1 takes over: {out}"
    );
    let env = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        env.matches("--\n").count(),
        ev.len(),
        "one run per event: {env}"
    );
    assert!(env.contains("args=leg_failed data\n"), "{env}");
    assert!(env.contains("DMCLASS_EVENT=leg_failed\n"), "{env}");
    assert!(env.contains("DMCLASS_CLASS=data\n"), "{env}");
    assert!(env.contains("DMCLASS_VOLUME=vol1\n"), "{env}");
    assert!(env.contains("DMCLASS_DISK=d2\n"), "{env}");
    assert!(
        env.contains("DMCLASS_DISK_ID=/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_data2\n"),
        "{env}"
    );
    assert!(env.contains("DMCLASS_STATE=INVALID\n"), "{env}");
    assert!(env.contains("DMCLASS_TIME=20"), "{env}");

    // vol1's failure is recorded now: a second first look does not report it again
    // (vol2 is a dm-mirror volume, whose leg failures are not recorded in the
    // metadata: each first look reports them). Text lines are one per event.
    let again = sim.ok(&["monitor", "--once"]);
    assert!(!again.contains("volume vol1 leg 1 failed"), "{again}");
    for l in again.lines() {
        assert!(l.starts_with("20") && l.contains(" data"), "{l}");
    }
}

#[test]
fn failing_program_does_not_fail_the_monitor() {
    let sim = Sim::new("monitor-fail", "examples/kvm-guest-mirror.facts.json");
    sim.ok(&["apply", "examples/kvm-guest-mirror.yaml", "--yes"]);
    fail_d2(&sim);
    let out = sim.run(&["monitor", "--once", "--exec", "/bin/false"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--exec /bin/false for event `leg_failed data` failed"),
        "{stderr}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("leg_failed class data: volume vol1 leg 1 failed on disk d2 (/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_data2)"), "{text}");
}
