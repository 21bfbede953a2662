//! Shared classes on two nodes (docs/shared-class.md): two VMs attach the same two disk
//! images (`share-rw=on`, no image lock: two hosts on one SAN), each runs the sanlock
//! daemon, and dmclass's leases decide which node runs a volume.
//!
//! Run: `make vm-test-one SCENARIO=shared_`.

use crate::common::dmclass::{dmclass, dmclass_ok, put_config, read_sum, vol_path, write_random};
use crate::common::MIB;
use crate::hotplug::{poll_volume, slice_state};
use dmclass_model::Bytes;
use dmclass_vmtest::{boot_or_skip, DiskSpec, Firmware, Output, Personality, Vm, VmSpec};
use std::time::{Duration, Instant};

/// The Pacemaker agent as Pacemaker runs it for vol1 (parameters in the environment).
const AGENT: &str = "OCF_ROOT=/usr/lib/ocf OCF_RESKEY_class=acc OCF_RESKEY_volume=vol1 \
                     OCF_RESKEY_wait_lease=6 /usr/lib/ocf/resource.d/dmclass/volume";

/// sanlock's I/O timeout in the test bed (the daemon's `-o`; production default 10 s):
/// joining a lockspace takes about 4 × io_timeout.
const IO_TIMEOUT_S: u32 = 5;

const CONFIG: &str = "version: 1
classes:
  - name: acc
    type: shared
    nodes: [node1, node2]
    disks:
      - {name: d1, device: /dev/disk/by-id/virtio-shared1}
      - {name: d2, device: /dev/disk/by-id/virtio-shared2}
    groups:
      - {name: m, type: mirror, members: [d1, d2]}
    volumes:
      - {name: vol1, on: m, size: 32MiB}
";

/// Node `n` of bed `bed` (a VM name prefix): both shared disks (node 1 makes the
/// images, node 2 attaches node 1's).
fn node(bed: &str, n: u8, images: Option<(std::path::PathBuf, std::path::PathBuf)>) -> VmSpec {
    let disk = |id: &str| DiskSpec::virtio_blk(id, id, Bytes(128 * MIB));
    let (d1, d2) = match images {
        Some((f1, f2)) => (disk("shared1").on_file(f1), disk("shared2").on_file(f2)),
        None => (disk("shared1").shared(), disk("shared2").shared()),
    };
    VmSpec::new(
        &format!("{bed}_n{n}"),
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .disk(d1)
    .disk(d2)
}

/// The node's host name (what dmclass takes as its node name) and the sanlock daemon,
/// started as Debian's unit does (no watchdog, `-w 0`), with the test bed's io_timeout.
pub(crate) fn start_node(vm: &mut Vm, name: &str) {
    vm.sh(&format!(
        "hostname {name} && mkdir -p /run/sanlock /var/log && \
         (sanlock daemon -w 0 -l 0 -U 0 -G 0 -o {IO_TIMEOUT_S} </dev/null >/tmp/sanlock.out 2>&1 &) && \
         for i in $(seq 50); do [ -S /run/sanlock/sanlock.sock ] && break; sleep 0.2; done; \
         [ -S /run/sanlock/sanlock.sock ]"
    ));
}

/// `dmclass activate acc` refused (exit 1) naming `holder`; nothing of the class started.
fn refused_naming(vm: &mut Vm, holder: &str) -> Output {
    let out = dmclass(vm, "activate acc");
    vm.check(
        out.status == 1
            && out
                .stderr
                .contains(&format!("acc/vol1 is active on {holder} (host_id ")),
        &format!("activate is refused, naming {holder}"),
        Some(&out),
    );
    let devs = vm.sh("dmsetup ls | grep -c '^dmclass-acc-' || true");
    vm.check_eq(
        "no device of the class on the refused node",
        "0",
        devs.stdout.trim(),
        Some(&devs),
    );
    out
}

/// Both nodes up with their sanlock daemons; node1 applied the class and runs vol1.
fn bed(name: &str) -> Option<(Vm, Vm)> {
    let mut n1 = boot_or_skip(node(name, 1, None))?;
    let images = (n1.disk_file("shared1"), n1.disk_file("shared2"));
    let mut n2 = boot_or_skip(node(name, 2, Some(images)))?;
    start_node(&mut n1, "node1");
    start_node(&mut n2, "node2");
    put_config(&mut n1, "/tmp/acc.yaml", CONFIG);
    let t = Instant::now();
    let applied = dmclass_ok(&mut n1, "apply /tmp/acc.yaml --yes");
    eprintln!(
        "node1: apply (lease area, lockspace join, leases) in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        applied
            .stderr
            .lines()
            .find(|l| l.contains("joined"))
            .unwrap_or("")
    );
    let held = n1.sh("sanlock client status");
    n1.check(
        held.stdout.contains(":v.vol1:") && !held.stdout.contains(":class:"),
        "node1 holds vol1's lease (and no longer the class lease)",
        Some(&held),
    );
    Some((n1, n2))
}

pub fn shared_two_nodes_exclusive_activation() {
    let Some((mut n1, mut n2)) = bed("shared_excl") else {
        return;
    };
    let vol = vol_path("acc", "vol1");
    let sum = write_random(&mut n1, &vol, 8, "acc");

    // node2 joins the lockspace during its first activate, and is refused.
    let t = Instant::now();
    refused_naming(&mut n2, "node1");
    eprintln!(
        "node2: refused after {:.1} s (its lockspace join included)",
        t.elapsed().as_secs_f64()
    );
    // A change from node2 is refused too.
    let snap = dmclass(&mut n2, "snapshot create acc/vol1 s1 --size 8MiB");
    n2.check(
        snap.status == 1 && snap.stderr.contains("active on node1"),
        "a snapshot from node2 is refused, naming node1",
        Some(&snap),
    );

    // node1 stops the volume and gives its lease back; node2 takes it, reads node1's data.
    let down = dmclass_ok(&mut n1, "deactivate acc");
    n1.check(
        down.stdout.contains("gave back"),
        "deactivate gives the leases back",
        Some(&down),
    );
    let t = Instant::now();
    let up = dmclass_ok(&mut n2, "activate acc");
    eprintln!(
        "node2: activate after node1's release in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    n2.check(
        up.stdout.contains("1 started"),
        "node2 starts vol1",
        Some(&up),
    );
    let read = read_sum(&mut n2, &vol, 8);
    n2.check_eq("node2 reads what node1 wrote", &sum, &read, None);
    // Now node1 is the one refused, and node2 the holder it names.
    refused_naming(&mut n1, "node2");
    ocf_agent(&mut n1, &mut n2);
    lease_timing(&mut n1);
    drop(n2);
    drop(n1);
}

/// node1 runs vol1 under a writer and loses power; node2 takes vol1 once node1's host
/// lease expired (time printed), with every write node1 synced before; node1 boots
/// again and is refused, naming node2.
pub fn shared_failover_after_power_cut() {
    let Some((mut n1, mut n2)) = bed("shared_fail") else {
        return;
    };
    let vol = vol_path("acc", "vol1");
    let sum = write_random(&mut n1, &vol, 8, "acc");
    // A writer past the synced data, killed with the node.
    n1.sh(&format!(
        "(while :; do dd if=/dev/urandom of={vol} bs=1M seek=16 count=4 oflag=direct \
         2>/dev/null; done </dev/null >/dev/null 2>&1 &)"
    ));
    // node2 joins the lockspace while node1 still renews its host lease.
    refused_naming(&mut n2, "node1");
    if let Err(e) = n1.power_cut() {
        n1.fail(&format!("power cut: {e}"), None);
    }
    let t = Instant::now();
    let up = match n2.run_timeout(
        "dmclass activate acc --wait-lease 400",
        Duration::from_secs(460),
    ) {
        Ok(out) => out,
        Err(e) => n2.fail(&format!("activate --wait-lease: {e}"), None),
    };
    let waited = t.elapsed();
    n2.check(
        up.success()
            && up.stdout.contains("1 started")
            && up.stderr.contains("taken after waiting"),
        "node2 takes vol1 once node1's host lease expired",
        Some(&up),
    );
    eprintln!(
        "node2: vol1 taken {:.1} s after node1's power cut (sanlock io_timeout {IO_TIMEOUT_S} s): {}",
        waited.as_secs_f64(),
        up.stderr.lines().find(|l| l.contains("taken after")).unwrap_or("")
    );
    // sanlock(8): a host is dead host_dead_seconds = 8 × io_timeout + 60 (the watchdog's
    // fire timeout) after its last renewal; the failover cannot be shorter than that.
    let host_dead = f64::from(8 * IO_TIMEOUT_S + 60);
    println!(
        "bench-lease: failover {:.1} s after the power cut, sanlock host_dead_seconds \
         {host_dead:.0} s (io_timeout {IO_TIMEOUT_S} s), ratio {:.2}",
        waited.as_secs_f64(),
        waited.as_secs_f64() / host_dead
    );
    let read = read_sum(&mut n2, &vol, 8);
    n2.check_eq("node2 reads every write node1 synced", &sum, &read, None);
    // node1 comes back: node2 is the holder it names.
    if let Err(e) = n1.start() {
        n1.fail(&format!("boot node1 again: {e}"), None);
    }
    start_node(&mut n1, "node1");
    let t = Instant::now();
    let again = match n1.run_timeout("dmclass activate acc", Duration::from_secs(400)) {
        Ok(out) => out,
        Err(e) => n1.fail(&format!("activate on node1: {e}"), None),
    };
    eprintln!(
        "node1: rejoined and refused after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    n1.check(
        again.status == 1
            && again
                .stderr
                .contains("acc/vol1 is active on node2 (host_id 2)"),
        "node1, back, is refused naming node2",
        Some(&again),
    );
    drop(n2);
    drop(n1);
}

/// The Pacemaker resource agent (`ocf:dmclass:volume`, ocf/volume) by its actions, as
/// Pacemaker calls them (OCF_RESKEY_* in the environment): node2 runs vol1 (monitor 0),
/// node1 does not (7); stop on node2, start on node1 (which takes the lease), each
/// confirmed by monitor on both; meta-data and validate-all.
fn ocf_agent(n1: &mut Vm, n2: &mut Vm) {
    let rc = |vm: &mut Vm, action: &str| -> (i32, Output) {
        match vm.run_timeout(&format!("{AGENT} {action}"), Duration::from_secs(300)) {
            Ok(out) => (out.status, out),
            Err(e) => vm.fail(&format!("agent {action}: {e}"), None),
        }
    };
    let (code, meta) = rc(n1, "meta-data");
    n1.check(
        code == 0 && meta.stdout.contains("<resource-agent name=\"volume\""),
        "meta-data prints the agent's XML",
        Some(&meta),
    );
    for (vm, want, who) in [
        (&mut *n2, 0, "node2 runs vol1"),
        (&mut *n1, 7, "node1 does not"),
    ] {
        let (code, out) = rc(vm, "validate-all");
        vm.check(code == 0, "validate-all", Some(&out));
        let (code, out) = rc(vm, "monitor");
        vm.check(
            code == want,
            &format!("monitor: {who} ({want})"),
            Some(&out),
        );
    }
    let (code, out) = rc(n2, "stop");
    n2.check(code == 0, "stop on node2", Some(&out));
    let (code, out) = rc(n2, "monitor");
    n2.check(code == 7, "monitor after stop: not running (7)", Some(&out));
    let (code, out) = rc(n2, "stop");
    n2.check(code == 0, "stop again: nothing to do (0)", Some(&out));
    let (code, out) = rc(n1, "start");
    n1.check(code == 0, "start on node1", Some(&out));
    let (code, out) = rc(n1, "monitor");
    n1.check(code == 0, "monitor on node1 after start (0)", Some(&out));
    let (code, out) = rc(n2, "start");
    n2.check(
        code == 1,
        "start on node2 while node1 holds vol1 fails (1)",
        Some(&out),
    );
    // Pacemaker's own checker on the holder: meta-data against ra-api-1.dtd, run as
    // nobody, then stop / monitor / start / start again / stop again and the optional
    // actions; it leaves vol1 stopped.
    lint_meta_data_on_host(n1, &meta.stdout);
    let t = Instant::now();
    let tester = match n1.run_timeout(
        "OCF_ROOT=/usr/lib/ocf ocf-tester -n vol1 -o class=acc -o volume=vol1 \
         -o wait_lease=6 /usr/lib/ocf/resource.d/dmclass/volume",
        Duration::from_secs(600),
    ) {
        Ok(out) => out,
        Err(e) => n1.fail(&format!("ocf-tester: {e}"), None),
    };
    n1.check(
        tester.success() && tester.stdout.contains("passed all tests"),
        "the agent passes ocf-tester on node1 (sanlock running, node1 the holder)",
        Some(&tester),
    );
    eprintln!(
        "node1: ocf-tester passed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (code, out) = rc(n1, "monitor");
    n1.check(
        code == 7,
        "after ocf-tester vol1 is stopped (7)",
        Some(&out),
    );
}

/// ocf-tester's first check, `AGENT meta-data | xmllint --noout --valid -` in the DTD's
/// directory, made on the host: the image carries no xmllint (Debian's pulls in 31 MB of
/// ICU data, loaded by every boot). The guest's `xmllint` accepts exactly the agent's
/// meta-data document (its sha256, taken in the guest) and nothing else, so ocf-tester's
/// lint still fails if the agent printed anything other than what passed the DTD here.
fn lint_meta_data_on_host(vm: &mut Vm, meta: &str) {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let dtd_dir = dmclass_vmtest::vm_dir().join("ocf/resource-agents/usr/share/resource-agents");
    let child = Command::new("xmllint")
        .args(["--noout", "--valid", "-"])
        .current_dir(&dtd_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let out = child.and_then(|mut c| {
        if let Some(mut i) = c.stdin.take() {
            i.write_all(meta.as_bytes())?;
        }
        c.wait_with_output()
    });
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => vm.fail(
            &format!(
                "the agent's meta-data is valid against {}/ra-api-1.dtd: {}",
                dtd_dir.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            None,
        ),
        Err(e) => vm.fail(
            &format!("running the host's xmllint (libxml2-utils): {e}"),
            None,
        ),
    }
    // The document as the agent prints it in the guest (what ocf-tester pipes).
    vm.sh(&format!(
        "{AGENT} meta-data | sha256sum | cut -d' ' -f1 >/run/ocf-meta.sha256"
    ));
    let lint = "#!/bin/sh\n\
                # ocf-tester's meta-data lint in the test VM: the document validated on the host\n\
                [ \"$*\" = \"--noout --valid -\" ] || exit 2\n\
                [ \"$(sha256sum | cut -d' ' -f1)\" = \"$(cat /run/ocf-meta.sha256)\" ]\n";
    if let Err(e) = vm.put_file("/usr/bin/xmllint", lint.as_bytes()) {
        vm.fail(&format!("installing the lint: {e}"), None);
    }
    vm.sh("chmod 755 /usr/bin/xmllint");
}

/// Milliseconds a guest shell command takes (measured in the guest, 10 ms steps of
/// `/proc/uptime`: busybox's `date` has no `%N`).
fn guest_ms(vm: &mut Vm, command: &str) -> u64 {
    let out = vm.sh(&format!(
        "a=$(cut -d' ' -f1 /proc/uptime); {command} >/dev/null 2>&1 || exit 1; \
         b=$(cut -d' ' -f1 /proc/uptime); echo \"$a $b\" | awk '{{printf \"%d\", ($2 - $1) * 1000}}'"
    ));
    match out.stdout.trim().parse() {
        Ok(ms) => ms,
        Err(_) => vm.fail(&format!("timing `{command}`"), Some(&out)),
    }
}

/// `make bench-lease`: taking vol1's lease through `dmclass activate` against sanlock
/// acquiring the same lease for a command that does nothing (`sanlock client command`,
/// the holder's own mechanism), on node1 with vol1 stopped and no other node holding
/// it; `$DMCLASS_BENCH_LEASE_REPS` repetitions (default 1), medians printed.
fn lease_timing(n1: &mut Vm) {
    let reps: usize = std::env::var("DMCLASS_BENCH_LEASE_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    // vol1's lease as sanlock names it (LOCKSPACE:RESOURCE:PATH:OFFSET), read while held.
    dmclass_ok(n1, "activate acc");
    let status = n1.sh("sanlock client status");
    let res = status
        .stdout
        .lines()
        .find_map(|l| {
            let r = l.strip_prefix("r ")?.split_whitespace().next()?;
            r.contains(":v.vol1:").then_some(r)
        })
        .map(|r| r.rsplit_once(':').map_or(r, |x| x.0).to_string());
    let Some(res) = res else {
        n1.fail("vol1's lease in `sanlock client status`", Some(&status));
    };
    dmclass_ok(n1, "deactivate acc");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        ours.push(guest_ms(n1, "dmclass activate acc"));
        dmclass_ok(n1, "deactivate acc");
        theirs.push(guest_ms(
            n1,
            &format!("sanlock client command -r {res} -c /bin/true"),
        ));
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (ours, theirs) = (median(&mut ours), median(&mut theirs));
    println!(
        "bench-lease: acquire per volume: dmclass activate {ours} ms (whole command: \
         probe, lease, tables), sanlock client command {theirs} ms, ratio {:.2} ({reps} reps, \
         median)",
        Duration::from_millis(ours).as_secs_f64()
            / Duration::from_millis(theirs.max(1)).as_secs_f64()
    );
}

/// Both nodes change the class at the same moment (node1 adds vol2, node2 adds vol3),
/// with no volume running: one change wins, the other is refused (the class lease, a
/// volume lease the winner took, or metadata changed since it was planned), and both
/// nodes then read the same class from the disks, with exactly one of the two volumes.
pub fn shared_concurrent_changes() {
    let Some((mut n1, mut n2)) = bed("shared_conc") else {
        return;
    };
    // node2 joins the lockspace first (a join takes 21 s: the race is on the leases).
    refused_naming(&mut n2, "node1");
    concurrent_changes(&mut n1, &mut n2);
    drop(n2);
    drop(n1);
}

fn concurrent_changes(n1: &mut Vm, n2: &mut Vm) {
    dmclass_ok(n1, "deactivate acc");
    for (vm, vol) in [(&mut *n1, "vol2"), (&mut *n2, "vol3")] {
        let yaml = format!("{CONFIG}      - {{name: {vol}, on: m, size: 8MiB}}\n");
        put_config(vm, "/tmp/change.yaml", &yaml);
    }
    // Started together in the background on both nodes, then awaited.
    let start = "rm -f /tmp/change.rc; (dmclass apply /tmp/change.yaml --yes \
                 >/tmp/change.out 2>&1; echo $? >/tmp/change.rc) </dev/null >/dev/null 2>&1 &";
    n1.sh(start);
    n2.sh(start);
    let wait = "for i in $(seq 600); do [ -s /tmp/change.rc ] && break; sleep 0.5; done; \
                cat /tmp/change.rc; cat /tmp/change.out";
    let r1 = n1.sh(wait);
    let r2 = n2.sh(wait);
    let ok1 = r1.stdout.starts_with("0\n");
    let ok2 = r2.stdout.starts_with("0\n");
    eprintln!("concurrent applies: node1 {ok1}, node2 {ok2}");
    n1.check(
        ok1 != ok2,
        "exactly one of two concurrent changes wins",
        Some(if ok1 { &r2 } else { &r1 }),
    );
    let (loser, winner_vol, loser_vol) = if ok1 {
        (&r2, "vol2", "vol3")
    } else {
        (&r1, "vol3", "vol2")
    };
    n1.check(
        loser.stdout.contains("is active on node")
            || loser.stdout.contains("changed since")
            || loser.stdout.contains("metadata lease"),
        "the other is refused, saying why",
        Some(loser),
    );
    let e1 = dmclass_ok(n1, "export acc").stdout;
    let e2 = dmclass_ok(n2, "export acc").stdout;
    n1.check_eq("both nodes read the same class", &e1, &e2, None);
    n1.check(
        e1.contains(&format!("name: {winner_vol}")) && !e1.contains(&format!("name: {loser_vol}")),
        "the class has the winner's volume only",
        None,
    );
}

/// node1 runs vol1 and loses the lease disk (d1 hot-unplugged: its host lease can no
/// longer be renewed, while vol1 could go on writing to d2's leg): sanlock ends vol1's
/// holder, which fences vol1 (every table `error`) before the lease can pass to
/// another node; a write then fails. Time to fence printed. Then the lease disk is
/// lost for good: `activate --force` moves the lease area to d2 and runs vol1 again.
pub fn shared_lease_loss_fences() {
    let Some(mut n1) = boot_or_skip(node("shared_loss", 1, None)) else {
        return;
    };
    start_node(&mut n1, "node1");
    put_config(&mut n1, "/tmp/acc.yaml", CONFIG);
    dmclass_ok(&mut n1, "apply /tmp/acc.yaml --yes");
    let vol = vol_path("acc", "vol1");
    let sum = write_random(&mut n1, &vol, 4, "acc");
    let top = crate::common::dmclass::dm_name("acc", "vol1");
    if let Err(e) = n1.unplug("shared1") {
        n1.fail(&format!("unplug the lease disk: {e}"), None);
    }
    let t = Instant::now();
    let fenced = n1.sh(&format!(
        "for i in $(seq 240); do dmsetup table {top} | grep -q ' error' && \
         {{ echo fenced; break; }}; sleep 0.5; done; dmsetup table {top}; \
         cat /run/dmclass/leases/acc.v.vol1.log"
    ));
    eprintln!(
        "node1: vol1 fenced {:.1} s after the lease disk went away",
        t.elapsed().as_secs_f64()
    );
    n1.check(
        fenced.stdout.starts_with("fenced") && fenced.stdout.contains("fenced: "),
        "vol1's holder fences it when sanlock ends it",
        Some(&fenced),
    );
    let write = n1
        .run(&format!(
            "dd if=/dev/zero of={vol} bs=4k count=1 oflag=direct conv=fsync"
        ))
        .unwrap_or_else(|e| n1.fail(&format!("write: {e}"), None));
    n1.check(
        write.status != 0,
        "a write to the fenced volume fails",
        Some(&write),
    );
    restart_without_the_lease_disk(&mut n1, &sum);
    drop(n1);
}

/// After the lease disk is lost for good (no node reaches it): the admin stops the
/// fenced class and starts it with `activate --force`, which moves the lease area to
/// a disk that is there (written before any lease is taken) and runs vol1 from the
/// other leg, with every write synced before the loss (checksum).
fn restart_without_the_lease_disk(n1: &mut Vm, sum: &str) {
    // The devices go; the leases cannot be given back (their disk is gone): exit 1.
    let down = dmclass(n1, "deactivate acc");
    n1.check(
        down.stdout.contains("class acc: stopped")
            && down.stderr.contains("the lease disk d1 is not present"),
        "deactivate stops the fenced class and says the lease disk is gone",
        Some(&down),
    );
    let t = Instant::now();
    let forced = dmclass(n1, "activate --force --yes acc --wait-lease 300");
    eprintln!(
        "node1: activate --force without the lease disk: exit {} in {:.1} s\n{}{}",
        forced.status,
        t.elapsed().as_secs_f64(),
        forced.stdout,
        forced.stderr
    );
    n1.check(
        forced.status == 0
            && forced
                .stderr
                .contains("lease area: moved from disk d1 (not here) to disk d2")
            && forced.stdout.contains("1 started"),
        "activate --force moves the lease area to a disk that is there and starts vol1",
        Some(&forced),
    );
    let read = read_sum(n1, &vol_path("acc", "vol1"), 4);
    n1.check_eq(
        "vol1 holds what was synced before the lease disk was lost",
        sum,
        &read,
        None,
    );
    let st = dmclass_ok(n1, "status acc");
    n1.check(
        st.stdout.contains("lease held here"),
        "vol1's lease is held here, in the moved lease area",
        Some(&st),
    );
}

/// Snapshots of a shared volume are made on the node that runs it: node1 (the holder)
/// creates a cow snapshot, which shows the volume as it was (checksums); node2's
/// snapshot is refused naming node1 and writes nothing; node1 removes its snapshot.
pub fn shared_snapshot_on_owner_only() {
    let Some((mut n1, mut n2)) = bed("shared_snap") else {
        return;
    };
    let vol = vol_path("acc", "vol1");
    let sum = write_random(&mut n1, &vol, 4, "acc");
    dmclass_ok(&mut n1, "snapshot create acc/vol1 s1 --size 8MiB");
    write_random(&mut n1, &vol, 4, "acc2");
    let snap = read_sum(&mut n1, &vol_path("acc", "s1"), 4);
    n1.check_eq("the snapshot shows vol1 as it was", &sum, &snap, None);
    let gen_before = n2.sh("dmclass export acc | sha256sum").stdout;
    let refused = dmclass(&mut n2, "snapshot create acc/vol1 s2 --size 8MiB");
    n2.check(
        refused.status == 1 && refused.stderr.contains("acc/vol1 is active on node1"),
        "a snapshot from node2 is refused, naming node1",
        Some(&refused),
    );
    let gen_after = n2.sh("dmclass export acc | sha256sum").stdout;
    n2.check_eq(
        "node2's refusal wrote nothing",
        &gen_before,
        &gen_after,
        None,
    );
    let export = dmclass_ok(&mut n2, "export acc").stdout;
    n2.check(
        export.contains("name: s1") && !export.contains("name: s2"),
        "node2 reads node1's snapshot in the class",
        None,
    );
    dmclass_ok(&mut n1, "snapshot remove acc/s1 --yes");
    drop(n2);
    drop(n1);
}

/// A leg of a shared class fails on the node that runs the volume (node1 loses its
/// path to shared2: QMP `device_del` on node1 only). node1's monitor records it
/// INVALID under the class lease — node2 reads the record from the disks —
/// and when the disk is back on node1, udev's handler (`dmclass event add`) takes it
/// back by itself, the same way, and resyncs it; the data written meanwhile is on both
/// legs (checksums).
pub fn shared_leg_failure_recorded_under_lease() {
    let Some((mut n1, mut n2)) = bed("shared_leg") else {
        return;
    };
    let vol = vol_path("acc", "vol1");
    write_random(&mut n1, &vol, 8, "acc");
    // The monitor reacts to dm events (a leg that failed under I/O), as
    // dmclass-monitor.service does; udev to disks coming and going.
    n1.sh(
        "setsid dmclass -v monitor </dev/null >/tmp/mon.log 2>&1 & echo $! >/tmp/mon.pid; \
         sleep 2; kill -0 $(cat /tmp/mon.pid) || { cat /tmp/mon.log; exit 1; }",
    );
    n1.unplug("shared2")
        .unwrap_or_else(|e| n1.fail(&format!("unplug shared2: {e}"), None));
    // A write reaches the leg's absence at once (the udev event may come first).
    let sum = write_random(&mut n1, &vol, 8, "acc2");
    let v = poll_volume(
        &mut n1,
        "acc",
        "vol1",
        "d2's slice INVALID on node1",
        Duration::from_secs(120),
        |v| slice_state(v, "d2") == "INVALID",
    );
    eprintln!("node1: after the unplug: {v:?}");
    // node2 reads the record from the disks once node1's handler wrote it.
    poll_volume(
        &mut n2,
        "acc",
        "vol1",
        "node2 reads d2's failure from the class's metadata",
        Duration::from_secs(90),
        |v| slice_state(v, "d2") == "INVALID",
    );
    n1.plug("shared2")
        .unwrap_or_else(|e| n1.fail(&format!("plug shared2: {e}"), None));
    // udev's rule runs `dmclass event add` for the returning disk: it takes the leg
    // back under the class lease, with no command here. (It once did nothing: udev
    // runs a program without PATH, so `sanlock` was not found and the handler saw no
    // lease held here; dmclass now sets a PATH of its own when it has none.)
    let v = poll_volume(
        &mut n1,
        "acc",
        "vol1",
        "d2 taken back and in sync on node1",
        Duration::from_secs(180),
        |v| slice_state(v, "d2") == "ACTIVE" && v.synced(),
    );
    eprintln!("node1: after the replug: {v:?}");
    let mon = n1.sh("cat /tmp/mon.log");
    eprintln!("node1's monitor:\n{}", mon.stdout.trim());
    let read = read_sum(&mut n1, &vol, 8);
    n1.check_eq("vol1 holds what node1 wrote", &sum, &read, None);
    poll_volume(
        &mut n2,
        "acc",
        "vol1",
        "node2 reads d2 back in the class's metadata",
        Duration::from_secs(90),
        |v| slice_state(v, "d2") != "INVALID",
    );
}
