//! A netmirror class on two simulated nodes (`DMCLASS_SIM=<dir>`, the node is the
//! facts' host name). The simulator's one world shows both nodes' disks to both, so
//! what runs here is what the nodes decide: which disk is whose, the class recorded
//! with its nodes' addresses and each disk's node, the leases, and the refusals. The
//! network itself (NVMe/TCP export and connection) runs in the VM tier
//! (`netmirror_two_nodes_data_on_both`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use support::{root, Sim};

#[test]
fn the_class_records_nodes_addresses_and_disk_nodes_and_runs_on_one_node() {
    let sim = Sim::new("netmirror", "examples/kvm-guest-netmirror.facts.json");
    let file = root().join("examples/kvm-guest-netmirror.yaml");
    let file = file.to_str().unwrap();

    // A machine that is not one of the two nodes has nothing to export or connect.
    sim.be("node3");
    let e = sim.fails(&["apply", file, "--yes"]);
    assert!(
        e.contains("this machine (node3, its host name) is not a node of the class"),
        "{e}"
    );
    let e = sim.fails(&["export", "nm"]);
    assert!(
        e.contains("no class `nm`"),
        "a refused apply made the class: {e}"
    );

    sim.be("node1");
    let out = sim.ok(&["apply", file, "--yes"]);
    assert!(out.contains("lease area written"), "{out}");

    // What is recorded on the disks carries the network: export writes it back.
    let exported = sim.ok(&["export", "nm"]);
    assert!(
        exported.contains("{name: node1, host_id: 1, address: 10.99.0.1}")
            && exported.contains("{name: node2, host_id: 2, address: 10.99.0.2}"),
        "{exported}"
    );
    assert!(
        exported.contains("node: node1") && exported.contains("node: node2"),
        "{exported}"
    );
    assert!(exported.contains("type: netmirror"), "{exported}");

    // node2 sees the class and is refused: node1 runs vol1.
    sim.be("node2");
    let e = sim.fails(&["activate", "nm"]);
    assert!(e.contains("nm/vol1 is active on node1 (host_id 1)"), "{e}");
    // Applying the same file on node2 changes nothing.
    let again = sim.ok(&["plan", file]);
    assert!(
        again.contains("nothing to do") || again.contains("no change"),
        "{again}"
    );
}
