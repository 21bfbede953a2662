//! The export logic on a model of nvmet's configfs rules, and the host side on a fake
//! sysfs.

use super::*;
use dmclass_engine::netmirror::secret::DhchapKey;
use dmclass_engine::netmirror::transport::NVME_TCP_PORT;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

/// A model of the nvmet configfs tree: items bring their default groups and
/// attributes, attributes cannot be made by writing, `rmdir` refuses an item that
/// still holds items or links or is linked to, a port's address cannot change while
/// it serves a subsystem.
#[derive(Default)]
struct FakeConfigfs {
    /// The kernel has the target's in-band authentication (host entries carry
    /// `dhchap_*` attributes).
    auth: bool,
    dirs: BTreeSet<PathBuf>,
    attrs: BTreeMap<PathBuf, String>,
    links: BTreeMap<PathBuf, PathBuf>,
    /// Every mkdir/rmdir/write/link/unlink, to see what a call changed.
    ops: usize,
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

impl FakeConfigfs {
    fn loaded() -> Self {
        let mut f = FakeConfigfs::default();
        for d in ["subsystems", "ports", "hosts"] {
            f.dirs.insert(p(d));
        }
        f
    }

    /// (default groups, attributes) of an item made at `path`.
    fn kind(&self, path: &Path) -> Option<(Vec<&'static str>, Vec<&'static str>)> {
        let parts: Vec<String> = path
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["subsystems", _] => Some((
                vec!["namespaces", "allowed_hosts"],
                vec!["attr_allow_any_host", "attr_serial"],
            )),
            ["subsystems", _, "namespaces", _] => {
                Some((vec![], vec!["device_path", "enable", "device_uuid"]))
            }
            ["ports", _] => Some((
                vec!["subsystems", "referrals"],
                vec!["addr_trtype", "addr_adrfam", "addr_traddr", "addr_trsvcid"],
            )),
            ["hosts", _] if self.auth => Some((
                vec![],
                vec![
                    "dhchap_key",
                    "dhchap_ctrl_key",
                    "dhchap_hash",
                    "dhchap_dhgroup",
                ],
            )),
            ["hosts", _] => Some((vec![], vec![])),
            _ => None,
        }
    }

    fn children(&self, dir: &Path) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .chain(self.links.keys())
            .filter(|c| c.parent() == Some(dir))
            .cloned()
            .collect()
    }
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl ConfigTree for FakeConfigfs {
    fn exists(&self, path: &Path) -> bool {
        self.dirs.contains(path) || self.attrs.contains_key(path) || self.links.contains_key(path)
    }
    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        if self.exists(path) {
            return Err(errno(17)); // EEXIST
        }
        let parent = path.parent().unwrap_or(Path::new(""));
        if !self.dirs.contains(parent) {
            return Err(errno(2));
        }
        let Some((groups, attrs)) = self.kind(path) else {
            return Err(errno(1)); // EPERM: not a place items are made
        };
        self.ops += 1;
        self.dirs.insert(path.to_path_buf());
        for g in groups {
            self.dirs.insert(path.join(g));
        }
        for a in attrs {
            self.attrs.insert(path.join(a), String::new());
        }
        Ok(())
    }
    fn rmdir(&mut self, path: &Path) -> io::Result<()> {
        let Some((groups, _)) = self.kind(path) else {
            return Err(errno(1));
        };
        if !self.dirs.contains(path) {
            return Err(errno(2));
        }
        let own: Vec<PathBuf> = groups.iter().map(|g| path.join(g)).collect();
        let busy = self
            .children(path)
            .iter()
            .chain(
                own.iter()
                    .flat_map(|g| self.children(g))
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .any(|c| !own.contains(c));
        if busy {
            return Err(errno(39)); // ENOTEMPTY
        }
        if self.links.values().any(|t| t == path) {
            return Err(errno(16)); // EBUSY: still linked to
        }
        self.ops += 1;
        self.dirs.retain(|d| !d.starts_with(path));
        self.attrs.retain(|a, _| !a.starts_with(path));
        Ok(())
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        self.attrs.get(path).cloned().ok_or_else(|| errno(2))
    }
    fn write(&mut self, path: &Path, value: &str) -> io::Result<()> {
        if !self.attrs.contains_key(path) {
            return Err(errno(2)); // attributes exist with their item
        }
        // A namespace's identifiers are fixed while it is enabled (EBUSY).
        if path.ends_with("device_uuid")
            && path
                .parent()
                .and_then(|ns| self.attrs.get(&ns.join("enable")))
                .is_some_and(|e| e == "1")
        {
            return Err(errno(16));
        }
        // A port's address is fixed while it serves a subsystem.
        if let Some(port) = path.parent().filter(|d| d.starts_with("ports")) {
            if !self.children(&port.join("subsystems")).is_empty() {
                return Err(errno(13)); // EACCES
            }
        }
        self.ops += 1;
        self.attrs.insert(path.to_path_buf(), value.to_owned());
        Ok(())
    }
    fn link(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        if self.exists(link) {
            return Err(errno(17));
        }
        if !self.dirs.contains(target) || !self.dirs.contains(link.parent().unwrap_or(link)) {
            return Err(errno(2));
        }
        self.ops += 1;
        self.links.insert(link.to_path_buf(), target.to_path_buf());
        Ok(())
    }
    fn unlink(&mut self, link: &Path) -> io::Result<()> {
        self.ops += 1;
        self.links.remove(link).map(|_| ()).ok_or_else(|| errno(2))
    }
    fn list(&self, path: &Path) -> io::Result<Vec<String>> {
        if !self.dirs.contains(path) {
            return Err(errno(2));
        }
        let mut names: Vec<String> = self
            .children(path)
            .iter()
            .filter_map(|c| c.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

fn nqn(n: u128) -> Nqn {
    Nqn::of_uuid(uuid::Uuid::from_u128(n))
}

fn listen() -> Endpoint {
    match Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)), NVME_TCP_PORT) {
        Ok(e) => e,
        Err(e) => panic!("{e}"),
    }
}

fn export(n: u128, device: &str) -> Export {
    Export {
        nqn: nqn(n),
        device: p(device),
        listen: listen(),
        partner: nqn(0xb),
        namespace_uuid: uuid::Uuid::from_u128(0x5000 + n),
        auth: None,
    }
}

/// Valid secrets (32-byte keys of 0x11, 0x22, 0x33 with their CRC-32).
const SECRETS: [&str; 3] = [
    "DHHC-1:00:ERERERERERERERERERERERERERERERERERERERERERHYIEm8:",
    "DHHC-1:00:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIGuf2I:",
    "DHHC-1:00:MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzNzzL4t:",
];

fn auth(host: usize, ctrl: usize) -> Auth {
    let key = |i: usize| match DhchapKey::parse(SECRETS[i]) {
        Ok(k) => k,
        Err(e) => panic!("{e}"),
    };
    Auth {
        host: key(host),
        ctrl: key(ctrl),
    }
}

#[test]
fn an_export_with_secrets_admits_the_partner_by_its_secret_both_ways() {
    let mut t = transport(FakeConfigfs {
        auth: true,
        ..FakeConfigfs::loaded()
    });
    let mut x = export(1, "/dev/a");
    x.auth = Some(auth(0, 1));
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    let host = p("hosts").join(x.partner.as_str());
    assert_eq!(t.tree().attrs[&host.join("dhchap_key")], SECRETS[0]);
    assert_eq!(t.tree().attrs[&host.join("dhchap_ctrl_key")], SECRETS[1]);
    let ops = t.tree().ops;
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.tree().ops, ops, "the same secrets were written again");
    // A changed secret (both files replaced) is taken on the next export.
    x.auth = Some(auth(2, 1));
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.tree().attrs[&host.join("dhchap_key")], SECRETS[2]);
    assert_eq!(t.tree().ops, ops + 1);
}

#[test]
fn a_kernel_without_target_authentication_exports_nothing() {
    let mut t = transport(FakeConfigfs::loaded());
    let mut x = export(1, "/dev/a");
    x.auth = Some(auth(0, 1));
    let Err(e) = t.export(&x) else {
        panic!("exported with secrets the kernel cannot check");
    };
    let e = e.to_string();
    assert!(e.contains("CONFIG_NVME_TARGET_AUTH"), "{e}");
    assert!(SECRETS.iter().all(|s| !e.contains(&s[10..])), "{e}");
    let f = t.tree();
    assert_eq!(f.list(Path::new("subsystems")).ok(), Some(vec![]));
    assert_eq!(f.list(Path::new("hosts")).ok(), Some(vec![]));
    assert_eq!(f.list(Path::new("ports")).ok(), Some(vec![]));
}

fn transport(tree: FakeConfigfs) -> NvmeTcp<FakeConfigfs> {
    NvmeTcp::new(tree, SysRoot::new("/nonexistent-sysroot"))
}

#[test]
fn export_makes_a_subsystem_only_the_partner_reaches_on_one_port() {
    let mut t = transport(FakeConfigfs::loaded());
    let x = export(1, "/dev/disk/by-id/virtio-l1");
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    let f = t.tree();
    let sub = p("subsystems").join(x.nqn.as_str());
    assert_eq!(f.attrs[&sub.join("attr_allow_any_host")], "0");
    assert_eq!(
        f.attrs[&sub.join("namespaces/1/device_path")],
        "/dev/disk/by-id/virtio-l1"
    );
    assert_eq!(f.attrs[&sub.join("namespaces/1/enable")], "1");
    assert_eq!(
        f.attrs[&sub.join("namespaces/1/device_uuid")],
        "00000000-0000-0000-0000-000000005001",
        "the namespace's UUID is the one derived for the disk, not one drawn by the kernel"
    );
    assert_eq!(
        f.links[&sub.join("allowed_hosts").join(x.partner.as_str())],
        p("hosts").join(x.partner.as_str())
    );
    assert_eq!(f.attrs[&p("ports/1/addr_trtype")], "tcp");
    assert_eq!(f.attrs[&p("ports/1/addr_adrfam")], "ipv4");
    assert_eq!(f.attrs[&p("ports/1/addr_traddr")], "10.99.0.1");
    assert_eq!(f.attrs[&p("ports/1/addr_trsvcid")], "4420");
    assert_eq!(f.links[&p("ports/1/subsystems").join(x.nqn.as_str())], sub);
}

#[test]
fn export_again_changes_nothing_and_another_disk_under_the_name_is_refused() {
    let mut t = transport(FakeConfigfs::loaded());
    let x = export(1, "/dev/disk/by-id/virtio-l1");
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    let ops = t.tree().ops;
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.tree().ops, ops, "a second export wrote to configfs");
    let other = export(1, "/dev/disk/by-id/virtio-other");
    let Err(e) = t.export(&other) else {
        panic!("another disk under an existing export was accepted")
    };
    assert!(e.to_string().contains("virtio-l1"), "{e}");
    assert_eq!(t.tree().ops, ops);
}

#[test]
fn two_exports_share_a_port_and_withdrawing_both_leaves_configfs_as_loaded() {
    let mut t = transport(FakeConfigfs::loaded());
    let (a, b) = (export(1, "/dev/a"), export(2, "/dev/b"));
    t.export(&a).unwrap_or_else(|e| panic!("{e}"));
    t.export(&b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.tree().list(Path::new("ports")).ok(),
        Some(vec!["1".into()])
    );
    t.unexport(&a.nqn).unwrap_or_else(|e| panic!("{e}"));
    // b still served on the port.
    assert!(t
        .tree()
        .exists(&p("ports/1/subsystems").join(b.nqn.as_str())));
    t.unexport(&b.nqn).unwrap_or_else(|e| panic!("{e}"));
    // The host entry stays (other subsystems may admit it); nothing else is left.
    let f = t.tree();
    assert!(f.links.is_empty(), "{:?}", f.links);
    assert_eq!(f.list(Path::new("subsystems")).ok(), Some(Vec::new()));
    assert_eq!(f.list(Path::new("ports")).ok(), Some(Vec::new()));
    // Withdrawing what is not there is nothing to do.
    t.unexport(&a.nqn).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn an_existing_port_on_another_address_is_left_alone() {
    let mut f = FakeConfigfs::loaded();
    f.mkdir(&p("ports/1")).unwrap_or_else(|e| panic!("{e}"));
    for (a, v) in [
        ("addr_trtype", "tcp"),
        ("addr_adrfam", "ipv4"),
        ("addr_traddr", "192.0.2.7"),
        ("addr_trsvcid", "4420"),
    ] {
        f.write(&p("ports/1").join(a), v)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut t = transport(f);
    let x = export(1, "/dev/a");
    t.export(&x).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.tree().attrs[&p("ports/1/addr_traddr")], "192.0.2.7");
    assert_eq!(t.tree().attrs[&p("ports/2/addr_traddr")], "10.99.0.1");
    t.unexport(&x.nqn).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.tree().exists(&p("ports/1")));
    assert!(!t.tree().exists(&p("ports/2")));
}

#[test]
fn export_without_the_target_module_says_what_to_load() {
    let mut t = transport(FakeConfigfs::default());
    let Err(e) = t.export(&export(1, "/dev/a")) else {
        panic!("exported without nvmet")
    };
    assert!(e.to_string().contains("modprobe nvmet-tcp"), "{e}");
    // And the real tree under an empty root says the same.
    let dir = std::env::temp_dir().join(format!("dmclass-nvmet-{}", std::process::id()));
    let mut real = NvmeTcp::new(Configfs::new(&SysRoot::new(&dir)), SysRoot::new(&dir));
    let Err(e) = real.export(&export(1, "/dev/a")) else {
        panic!("exported without nvmet")
    };
    assert!(e.to_string().contains("modprobe nvmet-tcp"), "{e}");
}

#[test]
fn connections_are_found_by_subsystem_name_over_tcp_only() {
    let dir = std::env::temp_dir().join(format!("dmclass-nvme-sys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ctrl = |n: &str, transport: &str, subsys: &str, state: &str| {
        let d = dir.join("sys/class/nvme").join(n);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        for (f, v) in [
            ("transport", transport),
            ("subsysnqn", subsys),
            ("state", state),
        ] {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap_or_else(|e| panic!("{e}"));
        }
    };
    let want = nqn(7);
    ctrl("nvme0", "pcie", want.as_str(), "live"); // a local disk with the same name
    ctrl("nvme3", "tcp", want.as_str(), "connecting");
    ctrl("nvme4", "tcp", nqn(8).as_str(), "live");
    ctrl("nvme-fabrics", "", "", ""); // not a controller
    let t = NvmeTcp::new(FakeConfigfs::loaded(), SysRoot::new(&dir));
    let c = t.connection(&want).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c,
        Some(Connection {
            nqn: want,
            instance: 3,
            live: false
        })
    );
    assert_eq!(t.connection(&nqn(9)).ok(), Some(None));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn namespace_names_follow_native_multipath_and_plain_controllers() {
    assert_eq!(block_name("nvme2n1").as_deref(), Some("nvme2n1"));
    assert_eq!(block_name("nvme2c3n1").as_deref(), Some("nvme2n1"));
    for other in ["nvme2n2", "nvme2", "nvmen1", "nvme2c3n12", "ng2n1", "power"] {
        assert_eq!(block_name(other), None, "{other}");
    }
}

#[test]
fn the_connected_namespace_is_the_block_device_sysfs_has() {
    let dir = std::env::temp_dir().join(format!("dmclass-nvme-ns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mk = |p: &str| std::fs::create_dir_all(dir.join(p)).unwrap_or_else(|e| panic!("{e}"));
    let put = |p: &str, v: &str| std::fs::write(dir.join(p), v).unwrap_or_else(|e| panic!("{e}"));
    let want = nqn(7);
    mk("sys/class/nvme/nvme3/nvme1c3n1");
    put("sys/class/nvme/nvme3/transport", "tcp\n");
    put("sys/class/nvme/nvme3/subsysnqn", &format!("{want}\n"));
    put("sys/class/nvme/nvme3/state", "live\n");
    let t = NvmeTcp::new(FakeConfigfs::loaded(), SysRoot::new(&dir));
    // Connected, but the kernel has not made the block device yet.
    assert_eq!(t.namespace(&want).ok(), Some(None));
    mk("sys/block/nvme1n1");
    assert_eq!(
        t.namespace(&want).ok(),
        Some(Some(PathBuf::from("/dev/nvme1n1")))
    );
    assert_eq!(t.namespace(&nqn(8)).ok(), Some(None));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_export_is_the_same_device_by_any_of_its_names() {
    let dir = std::env::temp_dir().join(format!("dmclass-nvme-same-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (dev, link, other) = (dir.join("vdb"), dir.join("by-id-l1"), dir.join("vdc"));
    std::fs::write(&dev, b"").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&other, b"").unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&dev, &link).unwrap_or_else(|e| panic!("{e}"));
    let s = |p: &Path| p.display().to_string();
    assert!(same_device(&s(&link), &dev));
    assert!(same_device(&s(&dev), &link));
    assert!(!same_device(&s(&link), &other));
    // Names that resolve to nothing are compared as they are.
    assert!(same_device("/nonexistent/a", Path::new("/nonexistent/a")));
    assert!(!same_device("/nonexistent/a", Path::new("/nonexistent/b")));
    let _ = std::fs::remove_dir_all(&dir);
}
