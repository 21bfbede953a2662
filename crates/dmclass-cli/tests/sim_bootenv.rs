//! `dmclass bootenv` where the support matrix has no row for boot environments: a KVM
//! guest, a KVM host booted by BIOS. Denied with the rows cited, nothing written.
mod support;

use support::Sim;

#[test]
fn bootenv_is_denied_on_a_kvm_guest_and_on_a_bios_host_with_the_rows_cited() {
    let guest = Sim::new("bootenv-guest", "examples/kvm-guest-mirror.facts.json");
    guest.ok(&["apply", "--yes", "examples/kvm-guest-mirror.yaml"]);
    let before = guest.world();
    for args in [
        &["bootenv", "create", "upgrade"][..],
        &["bootenv", "list"][..],
        &["bootenv", "activate", "upgrade", "--once"][..],
    ] {
        let e = guest.fails(args);
        assert!(
            e.contains("denied:") && e.contains("kvm-guest"),
            "{args:?}: {e}"
        );
        assert!(e.contains("(rule "), "the row is cited: {args:?}: {e}");
    }
    assert_eq!(guest.world(), before, "nothing written");
    let host = Sim::new("bootenv-bios", "examples/kvm-host-root.facts.json");
    let path = host.dir.join("facts.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"uefi\"", "\"bios\"");
    std::fs::write(&path, text).unwrap();
    let e = host.fails(&["bootenv", "create", "upgrade"]);
    assert!(e.contains("booted with BIOS") && e.contains("S1"), "{e}");
    let world: serde_json::Value = serde_json::from_slice(&host.world()).unwrap();
    for d in world["disks"].as_array().unwrap() {
        assert_eq!(d["writes"], 0, "nothing written: {d}");
    }
    // Where the matrix allows them, a machine without a root class says so.
    let uefi = Sim::new("bootenv-noroot", "examples/kvm-host-root.facts.json");
    let e = uefi.fails(&["bootenv", "list"]);
    assert!(e.contains("no root class"), "{e}");
    assert!(!e.contains("denied"), "{e}");
}
