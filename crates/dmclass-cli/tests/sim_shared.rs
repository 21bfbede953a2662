//! A shared class on two simulated nodes (`DMCLASS_SIM=<dir>`, the node is the facts'
//! host name; `leases.json` is the model of sanlock's leases both see): one node runs
//! a volume, the other's `activate` and changes are refused naming it, and it takes
//! the volume once the first gave it back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use support::{root, Sim};

#[test]
fn one_node_runs_the_volume_the_other_is_refused_naming_it_until_given_back() {
    let sim = Sim::new("shared", "examples/kvm-guest-shared.facts.json");
    let file = root().join("examples/kvm-guest-shared.yaml");
    let file = file.to_str().unwrap();
    sim.be("node1");
    let out = sim.ok(&["apply", file, "--yes"]);
    assert!(out.contains("lease area written"), "{out}");
    let leases = std::fs::read_to_string(sim.dir.join("leases.json")).unwrap();
    assert!(leases.contains("v.shvol"), "{leases}");

    let st = sim.json(&["status", "clu", "--json"]);
    support::assert_schema(&st);
    let leases = &st["classes"][0]["leases"];
    assert_eq!(leases["node"], "node1");
    assert_eq!(leases["joined"], true);
    assert_eq!(leases["volumes"][0]["here"], true);
    assert_eq!(leases["volumes"][0]["holder"], "node1");

    // node2: the volume runs on node1.
    sim.be("node2");
    let e = sim.fails(&["activate", "clu"]);
    assert!(
        e.contains("clu/shvol is active on node1 (host_id 1)"),
        "{e}"
    );
    let st = sim.json(&["status", "clu", "--json"]);
    let leases = &st["classes"][0]["leases"];
    assert_eq!(leases["host_id"], 2);
    assert_eq!(leases["volumes"][0]["here"], false);
    assert_eq!(leases["volumes"][0]["holder_host_id"], 1);
    let hosts: Vec<u64> = leases["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host_id"].as_u64().unwrap())
        .collect();
    assert_eq!(hosts, [1, 2]);
    assert!(sim
        .ok(&["status", "clu"])
        .contains("volume shvol: lease held by node1 (host_id 1)"));
    // Waiting for a live holder ends in the same refusal, after the wait.
    let t = std::time::Instant::now();
    let e = sim.fails(&["activate", "clu", "--wait-lease", "3"]);
    assert!(t.elapsed() >= std::time::Duration::from_secs(3), "{e}");
    assert!(e.contains("waiting up to 3 s"), "{e}");
    // A change from node2 is refused too, naming the holder, and changes nothing.
    let before = sim.world();
    let e = sim.fails(&[
        "snapshot",
        "create",
        "clu/shvol",
        "snap2",
        "--size",
        "64MiB",
    ]);
    assert!(e.contains("active on node1"), "{e}");
    assert_eq!(sim.world(), before);
    // --all never starts a shared class.
    assert!(sim
        .ok(&["activate", "--all"])
        .contains("shared: not started by --all"));

    // A machine that is no node of the class.
    sim.be("node3");
    let e = sim.fails(&["activate", "clu"]);
    assert!(
        e.contains("not one of the class's nodes (node1, node2)"),
        "{e}"
    );

    // node1 gives it back; node2 takes it, and node1 is then refused.
    sim.be("node1");
    assert!(sim.ok(&["deactivate", "clu"]).contains("gave back"));
    sim.be("node2");
    let out = sim.ok(&["activate", "clu"]);
    assert!(out.contains("1 started"), "{out}");
    sim.be("node1");
    let e = sim.fails(&["activate", "clu"]);
    assert!(
        e.contains("clu/shvol is active on node2 (host_id 2)"),
        "{e}"
    );
}

#[test]
fn break_glass_frees_a_dead_nodes_leases_and_only_when_asked() {
    let sim = Sim::new("shared-break", "examples/kvm-guest-shared.facts.json");
    let file = root().join("examples/kvm-guest-shared.yaml");
    sim.be("node1");
    sim.ok(&["apply", file.to_str().unwrap(), "--yes"]);
    // node1 "dies" holding shvol; node2 may not just take it.
    sim.be("node2");
    assert!(sim.fails(&["activate", "clu"]).contains("active on node1"));
    // --force (a closed class's override) does not bypass the leases.
    let e = sim.fails(&["activate", "clu", "--force", "--yes"]);
    assert!(e.contains("active on node1"), "{e}");
    // Refusals: not confirmed, this node, not a node.
    let e = sim.fails(&["lease", "break", "clu", "--node", "node1"]);
    assert!(e.contains("not a terminal"), "{e}");
    let e = sim.fails(&["lease", "break", "clu", "--node", "node2", "--yes"]);
    assert!(e.contains("is this node"), "{e}");
    let e = sim.fails(&["lease", "break", "clu", "--node", "node9", "--yes"]);
    assert!(e.contains("not one of its nodes"), "{e}");
    assert!(sim.fails(&["activate", "clu"]).contains("active on node1"));
    // Broken: node2 takes the volume.
    let out = sim.ok(&["lease", "break", "clu", "--node", "node1", "--yes"]);
    assert!(
        out.contains("freed 1 lease(s) node1 held: v.shvol"),
        "{out}"
    );
    let out = sim.ok(&["lease", "break", "clu", "--node", "node1", "--yes"]);
    assert!(out.contains("holds no lease"), "{out}");
    // (The simulated kernel is one for both nodes: node1's devices are still there.)
    sim.ok(&["activate", "clu"]);
    let st = sim.json(&["status", "clu", "--json"]);
    let v = &st["classes"][0]["leases"]["volumes"][0];
    assert_eq!(
        (v["here"].clone(), v["holder"].clone()),
        (true.into(), "node2".into())
    );
}
