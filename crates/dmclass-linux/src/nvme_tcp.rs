//! NVMe over TCP, the netmirror transport ([`dmclass_engine::netmirror::transport`]):
//! the target (export) through the kernel's nvmet configfs tree, the host (connect)
//! through `/dev/nvme-fabrics` and `/sys/class/nvme`. No daemon and no tool: the
//! kernel modules `nvmet`, `nvmet-tcp` and `nvme-tcp`, and configfs mounted.
//!
//! configfs is reached through [`ConfigTree`] so the export logic is tested on a
//! model of configfs's rules (directories an item brings with it, `rmdir` of an item
//! with only attributes, links between items).

use crate::sysroot::SysRoot;
use dmclass_engine::error::{EngineError, Result};
use dmclass_engine::netmirror::secret::Auth;
use dmclass_engine::netmirror::transport::{
    connect_line, parse_connect_reply, ConnectOptions, Connection, Endpoint, Export, Nqn, Transport,
};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The nvmet configfs tree.
pub const NVMET: &str = "/sys/kernel/config/nvmet";
/// The fabrics control device of the NVMe host driver.
pub const FABRICS: &str = "/dev/nvme-fabrics";
/// The namespace every export has (one disk per subsystem).
const NSID: &str = "1";
/// The longest attribute or sysfs value read.
const MAX_VALUE: u64 = 4096;

/// The operations the nvmet configfs tree needs. Paths are relative to its root
/// (`subsystems/NQN/...`).
pub trait ConfigTree {
    /// Whether `p` exists (a directory, attribute or link).
    fn exists(&self, p: &Path) -> bool;
    /// Creates directory `p` (one level; the parent exists).
    fn mkdir(&mut self, p: &Path) -> io::Result<()>;
    /// Removes directory `p`.
    fn rmdir(&mut self, p: &Path) -> io::Result<()>;
    /// Reads attribute `p` (trimmed).
    fn read(&self, p: &Path) -> io::Result<String>;
    /// Writes attribute `p`.
    fn write(&mut self, p: &Path, value: &str) -> io::Result<()>;
    /// Links `link` to item `target`.
    fn link(&mut self, target: &Path, link: &Path) -> io::Result<()>;
    /// Removes link `link`.
    fn unlink(&mut self, link: &Path) -> io::Result<()>;
    /// Names of the entries of directory `p`.
    fn list(&self, p: &Path) -> io::Result<Vec<String>>;
}

/// The real tree under `root` (normally [`NVMET`]).
#[derive(Debug, Clone)]
pub struct Configfs {
    root: PathBuf,
}

impl Configfs {
    /// The tree at `NVMET` under `sys` (tests: a fake root).
    pub fn new(sys: &SysRoot) -> Configfs {
        Configfs {
            root: sys.path(NVMET),
        }
    }

    fn at(&self, p: &Path) -> PathBuf {
        self.root.join(p)
    }
}

impl ConfigTree for Configfs {
    fn exists(&self, p: &Path) -> bool {
        self.at(p).symlink_metadata().is_ok()
    }
    fn mkdir(&mut self, p: &Path) -> io::Result<()> {
        std::fs::create_dir(self.at(p))
    }
    fn rmdir(&mut self, p: &Path) -> io::Result<()> {
        std::fs::remove_dir(self.at(p))
    }
    fn read(&self, p: &Path) -> io::Result<String> {
        let mut s = String::new();
        std::fs::File::open(self.at(p))?
            .take(MAX_VALUE)
            .read_to_string(&mut s)?;
        Ok(s.trim().to_owned())
    }
    fn write(&mut self, p: &Path, value: &str) -> io::Result<()> {
        // configfs takes a value in one write.
        let mut f = std::fs::OpenOptions::new().write(true).open(self.at(p))?;
        f.write_all(value.as_bytes())
    }
    fn link(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(self.at(target), self.at(link))
    }
    fn unlink(&mut self, link: &Path) -> io::Result<()> {
        std::fs::remove_file(self.at(link))
    }
    fn list(&self, p: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.at(p))? {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }
}

/// NVMe/TCP export and connection on this node.
pub struct NvmeTcp<T: ConfigTree> {
    tree: T,
    sys: SysRoot,
}

fn err(what: impl Into<String>, e: impl std::fmt::Display) -> EngineError {
    EngineError::Transport {
        what: what.into(),
        reason: e.to_string(),
    }
}

impl NvmeTcp<Configfs> {
    /// The transport of this machine.
    pub fn system() -> Self {
        let sys = SysRoot::default();
        NvmeTcp {
            tree: Configfs::new(&sys),
            sys,
        }
    }
}

impl<T: ConfigTree> NvmeTcp<T> {
    /// The transport over `tree`, with sysfs and `/dev` under `sys`.
    pub fn new(tree: T, sys: SysRoot) -> Self {
        NvmeTcp { tree, sys }
    }

    /// Makes (or keeps) the host entry of `partner`, holding the secrets of `auth`:
    /// the one `partner` must prove and the one this node answers with. Refused, and
    /// an entry made here taken back, when the kernel's target has no in-band
    /// authentication. Without `auth` an entry's secrets are left as they are
    /// (stricter than asked, never weaker).
    fn admit(&mut self, what: &str, partner: &Nqn, auth: Option<&Auth>) -> Result<()> {
        let host = Path::new("hosts").join(partner.as_str());
        let made = !self.tree.exists(&host);
        if made {
            self.tree.mkdir(&host).map_err(|e| err(what, e))?;
        }
        let Some(auth) = auth else {
            return Ok(());
        };
        let key = host.join("dhchap_key");
        if !self.tree.exists(&key) {
            if made {
                let _ = self.tree.rmdir(&host);
            }
            return Err(err(
                what,
                "the class has a secrets file, but this kernel's NVMe target cannot \
                 authenticate (no in-band authentication: CONFIG_NVME_TARGET_AUTH is not set; \
                 Debian 12's kernels lack it); nothing exported. Run a kernel with it on \
                 both nodes, or take `secret_file` out of the class and keep the mirror \
                 network private",
            ));
        }
        for (attr, secret) in [("dhchap_key", &auth.host), ("dhchap_ctrl_key", &auth.ctrl)] {
            let path = host.join(attr);
            // Compared, never quoted: a message must not carry a secret.
            if self.tree.read(&path).unwrap_or_default().trim() != secret.expose() {
                self.tree
                    .write(&path, secret.expose())
                    .map_err(|e| err(what, format!("{attr}: {e}")))?;
            }
        }
        Ok(())
    }

    /// The configfs tree (tests look at it).
    pub fn tree(&self) -> &T {
        &self.tree
    }

    /// The port listening on `listen`, if one exists.
    fn port_of(&self, listen: &Endpoint) -> Result<Option<String>> {
        let ports = Path::new("ports");
        for id in self.tree.list(ports).map_err(|e| err("nvmet ports", e))? {
            let p = ports.join(&id);
            let attr = |a: &str| self.tree.read(&p.join(a)).unwrap_or_default();
            if attr("addr_trtype") == "tcp"
                && attr("addr_traddr") == listen.addr.to_string()
                && attr("addr_trsvcid") == listen.port.to_string()
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The port listening on `listen`: existing, or made with the lowest free id.
    fn port_for(&mut self, listen: &Endpoint) -> Result<PathBuf> {
        if let Some(id) = self.port_of(listen)? {
            return Ok(Path::new("ports").join(id));
        }
        let used = self
            .tree
            .list(Path::new("ports"))
            .map_err(|e| err("nvmet ports", e))?;
        // Among len + 1 candidates one is free.
        let id = (1..=used.len() + 1)
            .map(|n| n.to_string())
            .find(|n| !used.contains(n))
            .unwrap_or_default();
        let p = Path::new("ports").join(&id);
        let what = format!("nvmet port {id} ({}:{})", listen.addr, listen.port);
        self.tree.mkdir(&p).map_err(|e| err(&what, e))?;
        for (a, v) in [
            ("addr_trtype", "tcp".to_owned()),
            ("addr_adrfam", listen.family().to_owned()),
            ("addr_traddr", listen.addr.to_string()),
            ("addr_trsvcid", listen.port.to_string()),
        ] {
            self.tree.write(&p.join(a), &v).map_err(|e| err(&what, e))?;
        }
        Ok(p)
    }

    /// The controllers under `/sys/class/nvme` connected to `nqn` over TCP.
    fn controllers(&self, nqn: &Nqn) -> Vec<Connection> {
        let class = self.sys.path("/sys/class/nvme");
        let Ok(entries) = std::fs::read_dir(&class) else {
            return Vec::new(); // no NVMe host driver loaded: no connection
        };
        let read = |p: PathBuf| -> String {
            let mut s = String::new();
            let _ = std::fs::File::open(p).and_then(|f| f.take(MAX_VALUE).read_to_string(&mut s));
            s.trim().to_owned()
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(instance) = name.strip_prefix("nvme").and_then(|n| n.parse().ok()) else {
                continue;
            };
            let dir = class.join(&name);
            if read(dir.join("transport")) == "tcp" && read(dir.join("subsysnqn")) == nqn.as_str() {
                out.push(Connection {
                    nqn: nqn.clone(),
                    instance,
                    live: read(dir.join("state")) == "live",
                });
            }
        }
        out.sort_by_key(|c| c.instance);
        out
    }
}

impl<T: ConfigTree> Transport for NvmeTcp<T> {
    fn export(&mut self, x: &Export) -> Result<()> {
        let what = format!("export {} ({})", x.device.display(), x.nqn);
        if !self.tree.exists(Path::new("subsystems")) {
            return Err(err(
                &what,
                "the kernel's NVMe target is not there (no /sys/kernel/config/nvmet): load \
                 the module (`modprobe nvmet-tcp`) and mount configfs",
            ));
        }
        // The partner's host entry (with its secrets) before anything is offered: a
        // kernel that cannot authenticate exports nothing.
        self.admit(&what, &x.partner, x.auth.as_ref())?;
        let sub = Path::new("subsystems").join(x.nqn.as_str());
        let ns = sub.join("namespaces").join(NSID);
        let device = x.device.display().to_string();
        if self.tree.exists(&sub) {
            // Made before: it must export this very disk.
            let have = self.tree.read(&ns.join("device_path")).unwrap_or_default();
            if !same_device(&have, &x.device) {
                return Err(err(
                    &what,
                    format!(
                        "the subsystem exists and exports {have:?}; dmclass will not change it"
                    ),
                ));
            }
        } else {
            self.tree.mkdir(&sub).map_err(|e| err(&what, e))?;
            // Only the partner may connect.
            self.tree
                .write(&sub.join("attr_allow_any_host"), "0")
                .map_err(|e| err(&what, e))?;
            self.tree.mkdir(&ns).map_err(|e| err(&what, e))?;
            self.tree
                .write(&ns.join("device_path"), &device)
                .map_err(|e| err(&what, e))?;
            // Settable only while disabled; the same after every export (a partner
            // that sees another UUID after a reconnect drops the namespace).
            self.tree
                .write(
                    &ns.join("device_uuid"),
                    &x.namespace_uuid.hyphenated().to_string(),
                )
                .map_err(|e| err(&what, e))?;
        }
        let host = Path::new("hosts").join(x.partner.as_str());
        let allowed = sub.join("allowed_hosts").join(x.partner.as_str());
        if !self.tree.exists(&allowed) {
            self.tree.link(&host, &allowed).map_err(|e| err(&what, e))?;
        }
        if self.tree.read(&ns.join("enable")).unwrap_or_default() != "1" {
            self.tree
                .write(&ns.join("enable"), "1")
                .map_err(|e| err(&what, e))?;
        }
        let port = self.port_for(&x.listen)?;
        let served = port.join("subsystems").join(x.nqn.as_str());
        if !self.tree.exists(&served) {
            self.tree.link(&sub, &served).map_err(|e| err(&what, e))?;
        }
        Ok(())
    }

    fn unexport(&mut self, nqn: &Nqn) -> Result<()> {
        let what = format!("withdraw export {nqn}");
        let sub = Path::new("subsystems").join(nqn.as_str());
        if !self.tree.exists(&sub) {
            return Ok(());
        }
        // Ports first (connections end), then the subsystem's own items.
        let ports = self
            .tree
            .list(Path::new("ports"))
            .map_err(|e| err(&what, e))?;
        for id in ports {
            let port = Path::new("ports").join(&id);
            let served = port.join("subsystems").join(nqn.as_str());
            if self.tree.exists(&served) {
                self.tree.unlink(&served).map_err(|e| err(&what, e))?;
                // A port serving nothing else goes too.
                let left = self
                    .tree
                    .list(&port.join("subsystems"))
                    .map_err(|e| err(&what, e))?;
                if left.is_empty() {
                    self.tree.rmdir(&port).map_err(|e| err(&what, e))?;
                }
            }
        }
        let allowed = sub.join("allowed_hosts");
        for h in self.tree.list(&allowed).map_err(|e| err(&what, e))? {
            self.tree
                .unlink(&allowed.join(&h))
                .map_err(|e| err(&what, e))?;
        }
        let nss = sub.join("namespaces");
        for n in self.tree.list(&nss).map_err(|e| err(&what, e))? {
            let ns = nss.join(&n);
            self.tree
                .write(&ns.join("enable"), "0")
                .map_err(|e| err(&what, e))?;
            self.tree.rmdir(&ns).map_err(|e| err(&what, e))?;
        }
        self.tree.rmdir(&sub).map_err(|e| err(&what, e))?;
        Ok(())
    }

    fn connect(
        &mut self,
        target: Endpoint,
        export: &Nqn,
        host: &Nqn,
        opts: &ConnectOptions,
        auth: Option<&Auth>,
    ) -> Result<Connection> {
        if let Some(c) = self.controllers(export).into_iter().next() {
            return Ok(c);
        }
        let what = format!("connect to {export} at {}:{}", target.addr, target.port);
        let line = connect_line(target, export, host, opts, auth);
        let path = self.sys.path(FABRICS);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                err(
                    &what,
                    format!(
                        "{}: {e} (load the module: `modprobe nvme-tcp`)",
                        path.display()
                    ),
                )
            })?;
        f.write_all(line.as_bytes()).map_err(|e| {
            // The line carries the secrets: the message names only what went wrong.
            let hint = if auth.is_some() {
                " (authentication failed, or this kernel's NVMe host cannot authenticate: \
                 CONFIG_NVME_AUTH; both nodes' secrets files must be the same)"
            } else {
                ""
            };
            err(&what, format!("{e}{hint}"))
        })?;
        let mut reply = String::new();
        f.take(MAX_VALUE)
            .read_to_string(&mut reply)
            .map_err(|e| err(&what, e))?;
        let instance = parse_connect_reply(&reply)?;
        Ok(Connection {
            nqn: export.clone(),
            instance,
            live: true,
        })
    }

    fn disconnect(&mut self, export: &Nqn) -> Result<()> {
        for c in self.controllers(export) {
            let p = self.sys.path(format!(
                "/sys/class/nvme/nvme{}/delete_controller",
                c.instance
            ));
            std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .and_then(|mut f| f.write_all(b"1"))
                .map_err(|e| err(format!("disconnect nvme{} ({export})", c.instance), e))?;
        }
        Ok(())
    }

    fn connection(&self, export: &Nqn) -> Result<Option<Connection>> {
        Ok(self.controllers(export).into_iter().next())
    }

    fn namespace(&self, export: &Nqn) -> Result<Option<PathBuf>> {
        for c in self.controllers(export) {
            if let Some(name) = self.namespace_of(c.instance) {
                return Ok(Some(PathBuf::from("/dev").join(name)));
            }
        }
        Ok(None)
    }
}

/// Whether the exported `have` is `want`: the same path, or two names of one device
/// node (a by-id link and `/dev/vdb`).
fn same_device(have: &str, want: &Path) -> bool {
    if Path::new(have) == want {
        return true;
    }
    match (std::fs::canonicalize(have), std::fs::canonicalize(want)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The block device name of namespace 1 under a controller's sysfs entry `entry`:
/// `nvme2n1` as it is, or — with native multipath, where the controller's path is
/// hidden — `nvme2c3n1` names the head `nvme2n1`.
fn block_name(entry: &str) -> Option<String> {
    let rest = entry.strip_prefix("nvme")?;
    let (subsys, rest) = rest.split_at(rest.find(|c: char| !c.is_ascii_digit())?);
    let rest = match rest.strip_prefix('c') {
        Some(r) => r.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    (!subsys.is_empty() && rest == format!("n{NSID}")).then(|| format!("nvme{subsys}n{NSID}"))
}

impl<T: ConfigTree> NvmeTcp<T> {
    /// Namespace 1 of controller `nvme<instance>` as a block device present in sysfs.
    fn namespace_of(&self, instance: u32) -> Option<String> {
        let dir = self.sys.path(format!("/sys/class/nvme/nvme{instance}"));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| block_name(&e.file_name().to_string_lossy()))
            .collect();
        names.sort();
        names
            .into_iter()
            .find(|n| self.sys.path("/sys/block").join(n).exists())
    }
}

#[cfg(test)]
mod tests;
