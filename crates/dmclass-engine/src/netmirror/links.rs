//! What one node of a netmirror does to see both disks: export its own disk to the
//! partner and connect to the partner's. Decided here from the class (its YAML or its
//! description on the disks) and the node's name; carried out by the CLI through a
//! [`super::transport::Transport`].
//!
//! Both nodes derive every name alone, before any class exists on the disks: a disk's
//! export is `nqn.2014-08.org.nvmexpress:uuid:<v5(class/disk)>`, a node connects as
//! `…:uuid:<v5(class/node)>`. So a node can export its disk for a class the partner
//! has not created yet, and the partner finds it by name.

use super::secret::{Auth, Secrets};
use super::transport::{Endpoint, Export, Nqn, NVME_TCP_PORT};
use crate::error::{EngineError, Result};
use dmclass_model::ClusterNode;
use std::net::IpAddr;
use std::path::PathBuf;
use uuid::Uuid;

/// The namespace of dmclass's name-based UUIDs (random, fixed forever: changing it
/// renames every export).
const NAMESPACE: Uuid = Uuid::from_u128(0x6a0c_3d1e_52b4_4f7e_9d2a_81c5_0e47_b39f);

/// The export name of disk `disk` of class `class`.
pub fn disk_nqn(class: &str, disk: &str) -> Nqn {
    Nqn::of_uuid(Uuid::new_v5(
        &NAMESPACE,
        format!("disk/{class}/{disk}").as_bytes(),
    ))
}

/// The UUID of the namespace that exports disk `disk` of class `class`
/// ([`crate::netmirror::transport::Export::namespace_uuid`]).
pub fn disk_namespace_uuid(class: &str, disk: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("namespace/{class}/{disk}").as_bytes())
}

/// The host name node `node` connects as, for class `class`.
pub fn host_nqn(class: &str, node: &str) -> Nqn {
    Nqn::of_uuid(Uuid::new_v5(
        &NAMESPACE,
        format!("host/{class}/{node}").as_bytes(),
    ))
}

/// A netmirror disk as the links need it: its name, its node, and (for this node's own
/// disk) where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkDisk {
    /// Disk name in the class.
    pub name: String,
    /// The node it is local to.
    pub node: String,
    /// Its path on that node (used when it is this node's disk).
    pub path: Option<PathBuf>,
}

/// This node's two links for one netmirror group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// This node's name.
    pub node: String,
    /// The partner's name.
    pub partner: String,
    /// This node's own disk, offered to the partner.
    pub export: Export,
    /// Its disk name.
    pub local_disk: String,
    /// The partner's disk: its name and export.
    pub remote_disk: String,
    /// The partner's export, to connect to.
    pub remote_nqn: Nqn,
    /// Where the partner listens.
    pub remote_at: Endpoint,
    /// The name this node connects as (the partner's export admits it alone).
    pub host: Nqn,
    /// The secrets of the connection to the partner's export (`None`: no secrets file).
    pub auth: Option<Auth>,
}

fn refuse(class: &str, object: &str, reason: String) -> EngineError {
    EngineError::Refused {
        class: class.to_owned(),
        object: object.to_owned(),
        reason,
    }
}

fn endpoint(class: &str, n: &ClusterNode) -> Result<Endpoint> {
    let addr: IpAddr = n.address.ok_or_else(|| {
        refuse(
            class,
            &format!("node {}", n.name),
            "it has no address on the mirror network (nodes: [{name, host_id, address}])".into(),
        )
    })?;
    Endpoint::new(addr, NVME_TCP_PORT)
}

/// The links of node `me` for the netmirror group over `disks` (its two members) of
/// class `class` with cluster `nodes`. Refused when `me` is not one of the two nodes,
/// when the disks are not one per node, or when an address is missing.
pub fn links(
    class: &str,
    nodes: &[ClusterNode],
    disks: &[LinkDisk],
    me: &str,
    secrets: Option<&Secrets>,
) -> Result<Links> {
    let names = || {
        nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(mine) = nodes.iter().find(|n| n.name == me) else {
        return Err(refuse(
            class,
            "netmirror",
            format!(
                "this machine ({me}, its host name) is not a node of the class (nodes: {})",
                names()
            ),
        ));
    };
    let [a, b] = disks else {
        return Err(refuse(
            class,
            "netmirror",
            format!("a netmirror has two disks, not {}", disks.len()),
        ));
    };
    let (local, remote) = match (a.node == me, b.node == me) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ => {
            return Err(refuse(
                class,
                "netmirror",
                format!(
                    "disks {} (node {}) and {} (node {}): one must be local to {me} and one \
                     to its partner",
                    a.name, a.node, b.name, b.node
                ),
            ))
        }
    };
    let Some(partner) = nodes.iter().find(|n| n.name == remote.node) else {
        return Err(refuse(
            class,
            &format!("disk {}", remote.name),
            format!(
                "its node {} is not a node of the class ({})",
                remote.node,
                names()
            ),
        ));
    };
    let Some(device) = local.path.clone() else {
        return Err(refuse(
            class,
            &format!("disk {}", local.name),
            "this node's own disk has no path".into(),
        ));
    };
    let auth = |a: Option<Auth>| match secrets {
        None => Ok(None),
        Some(_) => a.map(Some).ok_or_else(|| {
            refuse(
                class,
                "netmirror",
                format!(
                    "the secrets file has no secret for {me} or {}",
                    partner.name
                ),
            )
        }),
    };
    let export_auth = auth(secrets.and_then(|s| s.exporting(me, &partner.name)))?;
    let connect_auth = auth(secrets.and_then(|s| s.connecting(me, &partner.name)))?;
    Ok(Links {
        node: me.to_owned(),
        partner: partner.name.clone(),
        export: Export {
            nqn: disk_nqn(class, &local.name),
            device,
            listen: endpoint(class, mine)?,
            partner: host_nqn(class, &partner.name),
            namespace_uuid: disk_namespace_uuid(class, &local.name),
            auth: export_auth,
        },
        local_disk: local.name.clone(),
        remote_disk: remote.name.clone(),
        remote_nqn: disk_nqn(class, &remote.name),
        remote_at: endpoint(class, partner)?,
        host: host_nqn(class, me),
        auth: connect_auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmclass_model::HostId;

    fn nodes() -> Vec<ClusterNode> {
        [("node1", 1, "10.9.0.1"), ("node2", 2, "10.9.0.2")]
            .iter()
            .map(|(n, id, a)| ClusterNode {
                name: (*n).into(),
                host_id: HostId::new(*id).expect("id"),
                address: a.parse().ok(),
            })
            .collect()
    }

    fn disks() -> Vec<LinkDisk> {
        vec![
            LinkDisk {
                name: "d1".into(),
                node: "node1".into(),
                path: Some("/dev/disk/by-id/virtio-nm1".into()),
            },
            LinkDisk {
                name: "d2".into(),
                node: "node2".into(),
                path: Some("/dev/disk/by-id/virtio-nm2".into()),
            },
        ]
    }

    #[test]
    fn each_node_exports_its_disk_to_the_other_and_connects_to_the_others() {
        let one = links("nm", &nodes(), &disks(), "node1", None).expect("node1");
        let two = links("nm", &nodes(), &disks(), "node2", None).expect("node2");
        assert_eq!(one.local_disk, "d1");
        assert_eq!(
            one.export.device,
            PathBuf::from("/dev/disk/by-id/virtio-nm1")
        );
        assert_eq!(one.export.listen.addr.to_string(), "10.9.0.1");
        assert_eq!(one.remote_at.addr.to_string(), "10.9.0.2");
        assert_eq!(one.remote_at.port, NVME_TCP_PORT);
        // What node2 exports is what node1 connects to, and it admits node1 alone.
        assert_eq!(two.export.nqn, one.remote_nqn);
        assert_eq!(two.export.partner, one.host);
        assert_eq!(one.export.nqn, two.remote_nqn);
        assert_eq!(one.export.partner, two.host);
        assert_ne!(one.host, two.host);
        assert_ne!(one.export.nqn, two.export.nqn);
    }

    #[test]
    fn with_secrets_each_side_proves_its_own_and_expects_the_partners() {
        let key = |fill| crate::netmirror::secret::test_key("00", fill, 32);
        let (k1, k2) = (key(1), key(2));
        let s = Secrets::parse(&format!("node1 {k1}\nnode2 {k2}\n"), &["node1", "node2"])
            .expect("secrets");
        let one = links("nm", &nodes(), &disks(), "node1", Some(&s)).expect("node1");
        let two = links("nm", &nodes(), &disks(), "node2", Some(&s)).expect("node2");
        let shown = |a: &Option<Auth>| {
            a.as_ref()
                .map(|a| (a.host.expose().to_owned(), a.ctrl.expose().to_owned()))
        };
        // node1 connects proving k1 and expecting k2; node2's export checks the same.
        assert_eq!(shown(&one.auth), Some((k1.clone(), k2.clone())));
        assert_eq!(one.auth, two.export.auth);
        assert_eq!(two.auth, one.export.auth);
        assert_eq!(shown(&two.auth), Some((k2, k1)));
        let plain = links("nm", &nodes(), &disks(), "node1", None).expect("node1");
        assert_eq!((plain.auth, plain.export.auth), (None, None));
    }

    #[test]
    fn names_are_stable_and_differ_by_class_and_disk() {
        // Fixed forever: a node upgraded before its partner must find the same export.
        assert_eq!(disk_nqn("nm", "d1").as_str(), disk_nqn("nm", "d1").as_str());
        assert!(disk_nqn("nm", "d1")
            .as_str()
            .starts_with("nqn.2014-08.org.nvmexpress:uuid:"));
        assert_ne!(disk_nqn("nm", "d1"), disk_nqn("nm2", "d1"));
        assert_ne!(disk_nqn("nm", "d1"), disk_nqn("nm", "d2"));
        assert_ne!(disk_nqn("nm", "node1"), host_nqn("nm", "node1"));
        // The namespace's UUID: fixed as well (a partner's reconnect after a reboot
        // must find the same namespace), one per disk, not the subsystem's.
        let ns = disk_namespace_uuid("nm", "d1");
        assert_eq!(ns, disk_namespace_uuid("nm", "d1"));
        assert_ne!(ns, disk_namespace_uuid("nm", "d2"));
        assert_ne!(ns, disk_namespace_uuid("nm2", "d1"));
        assert!(!disk_nqn("nm", "d1").as_str().ends_with(&ns.to_string()));
        let one = links("nm", &nodes(), &disks(), "node1", None).expect("node1");
        assert_eq!(one.export.namespace_uuid, ns);
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let err = |r: Result<Links>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(links("nm", &nodes(), &disks(), "node3", None)).contains("node3"));
        let mut same = disks();
        same[1].node = "node1".into();
        assert!(err(links("nm", &nodes(), &same, "node1", None)).contains("one must be local"));
        let mut stranger = disks();
        stranger[1].node = "node9".into();
        assert!(err(links("nm", &nodes(), &stranger, "node1", None)).contains("node9"));
        let mut no_addr = nodes();
        no_addr[1].address = None;
        assert!(err(links("nm", &no_addr, &disks(), "node1", None)).contains("no address"));
        assert!(err(links("nm", &nodes(), &disks()[..1], "node1", None)).contains("two disks"));
    }
}
