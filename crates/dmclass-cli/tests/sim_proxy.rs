//! `dmclass proxy` and declarative proxy volumes end to end on the simulated kernel
//! and disks (`DMCLASS_SIM=<dir>`), one process per command.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on setup failure

mod support;

use serde_json::Value;
use support::Sim;

impl Sim {
    fn proxy(&self) -> Value {
        let v: Value = serde_json::from_str(&self.ok(&["status", "--json"])).unwrap();
        v["classes"][0]["proxies"][0].clone()
    }
}

#[test]
fn join_part_restore_refused_rejoin_declarative_part() {
    let sim = Sim::new("life", "examples/kvm-guest-proxy.facts.json");
    let file = sim.proxy_base();
    sim.ok(&["apply", &file, "--yes"]);
    let out = sim.ok(&["proxy", "join", "data/vol1", "vol1-copy", "--on", "g2"]);
    assert!(out.contains("joined"), "{out}");
    let p = sim.proxy();
    assert_eq!(
        (p["kind"].as_str(), p["state"].as_str()),
        (Some("proxy"), Some("JOINED"))
    );
    assert_eq!(p["master"], "vol1");
    let out = sim.ok(&["proxy", "part", "data/vol1-copy", "--readonly"]);
    assert!(out.contains("/dev/dmclass/data/vol1-copy"), "{out}");
    let p = sim.proxy();
    assert_eq!(
        (p["state"].as_str(), p["rejoin"].as_str()),
        (Some("PARTED"), Some("incremental"))
    );
    assert!(sim.ok(&["status"]).contains("proxy  vol1-copy"));
    // Restore refused while the master is open, with the reason.
    // Without --yes and without a terminal: refused, nothing changed.
    let before = sim.world();
    let err = sim.fails(&["proxy", "restore", "data/vol1-copy"]);
    assert!(
        err.contains("--yes") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(sim.world(), before);
    sim.set_open("dmclass-data-vol1", 1);
    let err = sim.fails(&["proxy", "restore", "data/vol1-copy", "--yes"]);
    assert!(err.contains("in use"), "{err}");
    sim.set_open("dmclass-data-vol1", 0);
    sim.ok(&["proxy", "rejoin", "data/vol1-copy"]);
    assert_eq!(sim.proxy()["state"], "JOINED");
    // The example file saying parted: apply parts it read-write; its own writes are
    // tracked, so the rejoin stays incremental.
    let parted = sim.proxy_parted();
    sim.ok(&["apply", &parted, "--yes"]);
    let p = sim.proxy();
    assert_eq!(
        (p["state"].as_str(), p["rejoin"].as_str()),
        (Some("PARTED"), Some("incremental"))
    );
    assert_eq!(p["tracking"], "ok");
    // Back to joined in the file: the proxy's own writes would be discarded, so the
    // plan says so and apply needs --allow-destroy.
    let before = sim.world();
    let err = sim.fails(&["apply", "examples/kvm-guest-proxy.yaml", "--yes"]);
    assert!(
        err.contains("--allow-destroy") && err.contains("parted read-write"),
        "{err}"
    );
    assert_eq!(sim.world(), before);
    let exported_parted = sim.ok(&["export", "data"]);
    let plan = sim.ok(&["plan", "examples/kvm-guest-proxy.yaml", "--allow-destroy"]);
    assert!(plan.contains("destroys the proxy's own writes"), "{plan}");
    let exported = exported_parted;
    assert!(
        exported.contains("type: proxy") && exported.contains("state: parted"),
        "{exported}"
    );
}

const MIB: u64 = 1 << 20;

impl Sim {
    /// Runs `f` on the saved world (kernel and disks), then saves it.
    fn with_world(
        &self,
        f: impl FnOnce(&mut dmclass_engine::sim::SimKernel, &mut dmclass_engine::sim::SimDisks),
    ) {
        let world = self.dir.join("world.json");
        let (mut k, mut d) = dmclass_engine::sim::load(&world).unwrap();
        f(&mut k, &mut d);
        dmclass_engine::sim::save(&d, &world).unwrap();
    }

    /// 16 scattered 64 KiB blocks (1 MiB) of `b` on dm device `dev`, from `at`.
    fn scatter(&self, dev: &str, at: u64, b: u8) {
        self.with_world(|k, _| {
            for i in 0..16u64 {
                k.write_dev(dev, dmclass_model::Bytes(at + i * 4 * MIB), &vec![b; 65536])
                    .unwrap();
            }
        });
    }

    /// Checksum of the first `len` bytes of dm device `dev`.
    fn sum(&self, dev: &str, len: u64) -> u64 {
        let mut out = 0;
        self.with_world(|k, _| {
            let data = k
                .read_dev(dev, dmclass_model::Bytes(0), usize::try_from(len).unwrap())
                .unwrap();
            out = data
                .iter()
                .enumerate()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, (i, b)| {
                    (h ^ u64::from(*b) ^ (i as u64)).wrapping_mul(0x100_0000_01b3)
                });
        });
        out
    }

    fn written(&self, disk: &str) -> u64 {
        let mut n = 0;
        self.with_world(|_, d| n = d.bytes_written(disk).unwrap().0);
        n
    }

    fn reset_counters(&self) {
        self.with_world(|_, d| d.reset_counters());
    }
}

#[test]
fn read_write_part_rejoins_incrementally_with_data_checked() {
    let sim = Sim::new("rwtrack", "examples/kvm-guest-proxy.facts.json");
    let file = sim.proxy_base();
    sim.ok(&["apply", &file, "--yes"]);
    sim.ok(&["proxy", "join", "data/vol1", "vol1-copy", "--on", "g2"]);
    let (master, proxy) = ("dmclass-data-vol1", "dmclass-data-vol1--copy");
    sim.scatter(master, 0, b'A');
    sim.ok(&["proxy", "part", "data/vol1-copy"]);
    assert_eq!(sim.proxy()["tracking"], "ok");
    let size = 64 * MIB;
    let at_part = sim.sum(master, size);
    assert_eq!(sim.sum(proxy, size), at_part);
    // 1 MiB scattered on each side while parted.
    sim.scatter(master, 2 * MIB, b'M');
    sim.scatter(proxy, 3 * MIB, b'P');
    let master_now = sim.sum(master, size);
    assert_ne!(sim.sum(proxy, size), master_now);
    let disks: Vec<String> = (0..4)
        .map(|i| format!("/dev/vd{}", (b'a' + i) as char))
        .collect();
    sim.reset_counters();
    let out = sim.ok(&["proxy", "rejoin", "data/vol1-copy"]);
    assert!(out.contains("changed region(s)"), "{out}");
    assert!(out.contains("master -> proxy"), "{out}");
    let written: Vec<u64> = disks.iter().map(|d| sim.written(d)).collect();
    // The proxy's disk gets the union of both sides' regions (2 MiB), not 64 MiB.
    let most = *written.iter().max().unwrap();
    assert!(most <= 4 * MIB, "rejoin wrote {written:?}");
    assert_eq!(sim.proxy()["state"], "JOINED");
    assert_eq!(
        sim.sum(master, size),
        master_now,
        "the master kept its data"
    );
    // Part read-only to read the proxy: it equals the master.
    sim.ok(&["proxy", "part", "data/vol1-copy", "--readonly"]);
    assert_eq!(
        sim.sum(proxy, size),
        master_now,
        "the proxy equals the master"
    );

    // Restore with 1 MiB scattered on each side: the union of both sides' changed
    // regions goes proxy -> master, not the 64 MiB volume.
    sim.ok(&["proxy", "rejoin", "data/vol1-copy"]);
    sim.ok(&["proxy", "part", "data/vol1-copy"]);
    sim.scatter(master, 5 * MIB, b'R');
    sim.scatter(proxy, 6 * MIB, b'S');
    let proxy_now = sim.sum(proxy, size);
    sim.reset_counters();
    let out = sim.ok(&["proxy", "restore", "data/vol1-copy", "--yes"]);
    assert!(out.contains("changed region(s)"), "{out}");
    assert!(out.contains("proxy -> master"), "{out}");
    assert!(out.contains("restored onto its master"), "{out}");
    let written: Vec<u64> = disks.iter().map(|d| sim.written(d)).collect();
    let most = *written.iter().max().unwrap();
    assert!(most <= 4 * MIB, "restore wrote {written:?}");
    assert_eq!(sim.proxy()["state"], "JOINED");
    assert_eq!(
        sim.sum(master, size),
        proxy_now,
        "the master holds the proxy's data"
    );
    sim.ok(&["proxy", "part", "data/vol1-copy", "--readonly"]);
    assert_eq!(sim.sum(proxy, size), proxy_now, "the proxy kept its data");
}
