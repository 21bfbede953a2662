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

    // Reads stay on the running node's own disk: the partner's leg (d2, leg 1) is
    // `write_mostly` in node1's table.
    assert_eq!(write_mostly(&sim), vec!["1"]);

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

    // node1 stops; node2 runs vol1, reading from its own disk (d1, leg 0, is the
    // partner's now).
    sim.be("node1");
    sim.ok(&["deactivate", "nm"]);
    sim.be("node2");
    sim.ok(&["activate", "nm"]);
    assert_eq!(write_mostly(&sim), vec!["0"]);
}

/// The legs vol1's raid1 table marks `write_mostly`, in the simulated kernel.
fn write_mostly(sim: &Sim) -> Vec<String> {
    use dmclass_engine::io::Kernel as _;
    let world = tempfile_world(sim);
    let (k, _) = dmclass_engine::sim::load(&world).unwrap();
    let table = k.table("dmclass-nm-vol1").unwrap();
    let raid = table
        .iter()
        .find(|l| l.target == "raid")
        .expect("a raid table");
    let words: Vec<&str> = raid.params.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "write_mostly")
        .map(|w| w[1].to_owned())
        .collect()
}

/// The saved world, copied aside (loading it must not touch the simulation's own).
fn tempfile_world(sim: &Sim) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("dmclass-nm-world-{}.json", std::process::id()));
    std::fs::write(&p, sim.world()).unwrap();
    p
}

#[test]
fn a_secrets_file_must_be_roots_alone_and_name_both_nodes() {
    use std::os::unix::fs::PermissionsExt;
    let sim = Sim::new(
        "netmirror-secrets",
        "examples/kvm-guest-netmirror.facts.json",
    );
    let secrets = sim.dir.join("nm.secrets");
    let yaml = std::fs::read_to_string(root().join("examples/kvm-guest-netmirror.yaml"))
        .unwrap()
        .replace(
            "    disks:\n",
            &format!("    secret_file: {}\n    disks:\n", secrets.display()),
        );
    let file = sim.dir.join("nm.yaml");
    std::fs::write(&file, yaml).unwrap();
    let file = file.to_str().unwrap();
    // 32-byte keys of 0x11 and 0x22 with their CRC-32, as `nvme gen-dhchap-key` prints.
    let k1 = "DHHC-1:00:ERERERERERERERERERERERERERERERERERERERERERHYIEm8:";
    let k2 = "DHHC-1:00:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIGuf2I:";
    let write = |text: &str, mode: u32| {
        std::fs::write(&secrets, text).unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    sim.be("node1");

    let e = sim.fails(&["apply", file, "--yes"]);
    assert!(
        e.contains("nm.secrets") && e.contains("cannot be read"),
        "{e}"
    );
    write(&format!("node1 {k1}\nnode2 {k2}\n"), 0o644);
    let e = sim.fails(&["apply", file, "--yes"]);
    assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
    write(&format!("node1 {k1}\n"), 0o600);
    let e = sim.fails(&["apply", file, "--yes"]);
    assert!(e.contains("no secret for node node2"), "{e}");
    write(&format!("node1 {k1}\nnode2 {k1}\n"), 0o600);
    let e = sim.fails(&["apply", file, "--yes"]);
    assert!(e.contains("same secret"), "{e}");
    assert!(!e.contains(&k1[10..]), "a message quoted a secret: {e}");
    let e = sim.fails(&["export", "nm"]);
    assert!(
        e.contains("no class `nm`"),
        "a refused apply made the class: {e}"
    );

    write(&format!("# nm\nnode1 {k1}\nnode2 {k2}\n"), 0o600);
    let out = sim.ok(&["apply", file, "--yes"]);
    assert!(
        !out.contains(&k1[10..]) && !out.contains(&k2[10..]),
        "{out}"
    );
    // The class records where the secrets are, never what they are.
    let exported = sim.ok(&["export", "nm"]);
    assert!(
        exported.contains(&format!("secret_file: {}", secrets.display())),
        "{exported}"
    );
    let again = sim.ok(&["plan", file]);
    assert!(
        again.contains("nothing to do") || again.contains("no change"),
        "{again}"
    );
}
