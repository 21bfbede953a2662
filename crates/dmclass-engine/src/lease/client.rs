//! Taking and giving back a shared class's leases, over a small [`LeaseClient`]
//! trait: the real side is sanlock's daemon (`dmclass-linux`'s `sanlock`), the
//! simulated side [`SimLeases`] (a model of its rules: one holder per lease, a
//! lockspace must be joined first). The decisions (which lease, where, what to say
//! when another node holds it) are here and tested anywhere.

use super::area::LeaseArea;
use super::sanlock::{lockspace_arg, resource_arg, Leader, Status};
use super::{lockspace_name, note, volume_resource, Geometry, Holder, CLASS_RESOURCE};
use crate::error::{EngineError, Result};
use crate::io::Disks;
use dmclass_model::{Bytes, ClusterNode, HostId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// A lockspace (`-s`) or a resource (`-r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Host-id leases.
    Lockspace,
    /// One resource lease.
    Resource,
}

/// What taking a resource lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A holder process (`pid`) holds it now.
    Held(u32),
    /// A live host holds it (sanlock's answer, for the log).
    Busy(String),
}

/// The lock manager's operations dmclass uses.
pub trait LeaseClient {
    /// The lockspaces this node joined and the leases its processes hold.
    fn status(&self) -> Result<Status>;
    /// Write a fresh lease (`arg` as [`lockspace_arg`] / [`resource_arg`] give it).
    fn init(&mut self, kind: Kind, arg: &str, geometry: Geometry) -> Result<()>;
    /// The leader record of lease `name`.
    fn leader(&self, kind: Kind, arg: &str, name: &str, geometry: Geometry) -> Result<Leader>;
    /// Join a lockspace with this node's host id (blocks until joined).
    fn join(&mut self, arg: &str) -> Result<()>;
    /// Take resource `arg` for a new holder process running `command`.
    fn hold(&mut self, arg: &str, command: &[String]) -> Result<Taken>;
    /// End holder `pid` (its leases go back) and wait until `resource` is free here.
    fn release(&mut self, pid: u32, lockspace: &str, resource: &str) -> Result<()>;
    /// The host ids this node sees holding a host lease in joined `lockspace`.
    fn hosts(&self, lockspace: &str) -> Result<Vec<u64>>;
}

/// A shared class's leases as one node sees them: where the area is, which node this
/// is.
#[derive(Debug, Clone)]
pub struct ClassLeases<'a> {
    /// The class's name.
    pub class: String,
    /// The class's UUID (its lockspace's name).
    pub uuid: Uuid,
    /// Its nodes and their host ids.
    pub nodes: Vec<ClusterNode>,
    /// Its lease area.
    pub area: &'a LeaseArea,
    /// The lease disk's device node here.
    pub path: PathBuf,
    /// This node's name.
    pub node: String,
    /// This node's host id in the class.
    pub host_id: HostId,
}

/// A lease this node has: whether [`ClassLeases::take`] took it now or found it held
/// here already, and the holder process's pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Taken by this call.
    Now(u32),
    /// Held here before this call (by an earlier command's holder).
    Already(u32),
}

/// What a refused node is told, or that it may go on.
pub type Outcome = std::result::Result<Held, String>;

impl<'a> ClassLeases<'a> {
    /// The leases of class `class` (`uuid`, `nodes`, lease area `area`) for node
    /// `node`, whose disks are at `paths`: refused when the class has no lease area,
    /// this node is not one of its nodes, or the lease disk is not here.
    pub fn new(
        (class, uuid, nodes): (&str, Uuid, Vec<ClusterNode>),
        area: Option<&'a LeaseArea>,
        paths: &BTreeMap<String, PathBuf>,
        node: &str,
    ) -> Result<ClassLeases<'a>> {
        let refuse = |reason: String| EngineError::Refused {
            class: class.to_owned(),
            object: "leases".into(),
            reason,
        };
        let area =
            area.ok_or_else(|| refuse("the shared class has no lease area recorded".into()))?;
        let host_id = nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.host_id)
            .ok_or_else(|| {
                let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
                refuse(format!(
                    "this machine ({node}) is not one of the class's nodes ({}); its host name must be one of them",
                    names.join(", ")
                ))
            })?;
        let path = paths.get(&area.extent.disk).cloned().ok_or_else(|| {
            refuse(format!(
                "the lease disk {} is not present: without it no node can take or keep a lease",
                area.extent.disk
            ))
        })?;
        Ok(ClassLeases {
            class: class.to_owned(),
            uuid,
            nodes,
            area,
            path,
            node: node.to_owned(),
            host_id,
        })
    }

    /// The lockspace's name.
    pub fn lockspace(&self) -> String {
        lockspace_name(self.uuid)
    }

    fn lockspace_arg(&self, host_id: u16) -> Result<String> {
        lockspace_arg(&self.lockspace(), host_id, &self.path, self.area.start())
    }

    /// `-r` argument and resource name of the class lease (`None`) or `volume`'s.
    pub fn resource(&self, volume: Option<&str>) -> Result<(String, String)> {
        let (name, offset) = match volume {
            None => (
                CLASS_RESOURCE.to_owned(),
                Bytes(self.area.start().0 + self.area.layout().class_lease().0),
            ),
            Some(v) => (
                volume_resource(v)?,
                self.area
                    .volume(v)
                    .map(|(l, _)| l)
                    .ok_or_else(|| EngineError::Refused {
                        class: self.class.clone(),
                        object: format!("volume {v}"),
                        reason: "it has no lease slot recorded".into(),
                    })?,
            ),
        };
        Ok((
            resource_arg(&self.lockspace(), &name, &self.path, offset)?,
            name,
        ))
    }

    /// Write every lease of a new area (lockspace, class lease, each volume's) and
    /// clear the holder notes. Only for an area no node can use yet.
    pub fn init_all(&self, client: &mut dyn LeaseClient, disks: &mut dyn Disks) -> Result<()> {
        let g = self.area.geometry;
        client.init(Kind::Lockspace, &self.lockspace_arg(0)?, g)?;
        client.init(Kind::Resource, &self.resource(None)?.0, g)?;
        for v in self.area.volumes.keys() {
            client.init(Kind::Resource, &self.resource(Some(v))?.0, g)?;
        }
        let notes = Bytes(self.area.start().0 + 2 * g.unit().0);
        disks
            .zero(&self.path, notes, g.unit())
            .map_err(|e| crate::error::io_err("clearing the holder notes".to_string(), e))
    }

    /// Write the lease of `volume` afresh (a new volume, or a slot another volume
    /// had): refused while anyone holds the slot's lease.
    pub fn init_volume(&self, client: &mut dyn LeaseClient, volume: &str) -> Result<()> {
        let (arg, _) = self.resource(Some(volume))?;
        client.init(Kind::Resource, &arg, self.area.geometry)
    }

    /// Break-glass: write afresh every lease of the class (the class lease and the
    /// volumes') that host `owner` holds, so that another node can take it. Only for a
    /// node that is powered off or fenced: sanlock on a live `owner` keeps believing it
    /// holds them. Returns the leases written.
    pub fn break_leases(
        &self,
        client: &mut dyn LeaseClient,
        owner: HostId,
        volumes: &[String],
    ) -> Result<Vec<String>> {
        let mut broken = Vec::new();
        let mut wanted: Vec<Option<&str>> = vec![None];
        wanted.extend(volumes.iter().map(|v| Some(v.as_str())));
        for w in wanted {
            let (arg, name) = self.resource(w)?;
            let leader = client.leader(Kind::Resource, &arg, &name, self.area.geometry)?;
            if leader.held_by() == Some(u64::from(owner.get())) {
                client.init(Kind::Resource, &arg, self.area.geometry)?;
                broken.push(name);
            }
        }
        Ok(broken)
    }

    /// Join the class's lockspace unless this node has; returns whether it joined now.
    pub fn join(&self, client: &mut dyn LeaseClient) -> Result<bool> {
        let st = client.status()?;
        if st.lockspaces.contains(&self.lockspace()) {
            return Ok(false);
        }
        client.join(&self.lockspace_arg(self.host_id.get())?)?;
        Ok(true)
    }

    /// The holder process already holding `volume`'s lease (`None`: the class lease)
    /// on this node.
    fn held_here(&self, client: &dyn LeaseClient, volume: Option<&str>) -> Result<Option<u32>> {
        let (_, name) = self.resource(volume)?;
        Ok(client.status()?.holder(&self.lockspace(), &name))
    }

    /// Take `volume`'s lease (`None`: the class lease) for a holder running `command`,
    /// unless this node holds it already. `Err` in the outcome: the message naming the
    /// node that holds it.
    pub fn take(
        &self,
        client: &mut dyn LeaseClient,
        disks: &dyn Disks,
        volume: Option<&str>,
        command: &[String],
    ) -> Result<Outcome> {
        if let Some(pid) = self.held_here(client, volume)? {
            return Ok(Ok(Held::Already(pid)));
        }
        let (arg, name) = self.resource(volume)?;
        match client.hold(&arg, command)? {
            Taken::Held(pid) => Ok(Ok(Held::Now(pid))),
            Taken::Busy(detail) => {
                let mut what = super::guarded(&self.class, volume);
                if volume.is_none() {
                    what.push_str(" (its metadata lease)");
                }
                let leader = client.leader(Kind::Resource, &arg, &name, self.area.geometry)?;
                let Some(owner) = leader.held_by().and_then(HostId::new) else {
                    return Ok(Err(format!(
                        "{what}: the lease could not be taken ({detail}) and no holder is recorded"
                    )));
                };
                let holder = self.holder(disks, volume, owner);
                Ok(Err(if owner == self.host_id {
                    format!("{what} is held by this node's host id {owner} but by no process here (sanlock: {detail}); it is freed when the host id lease expires")
                } else {
                    super::holder_message(&what, &holder, &self.nodes)
                }))
            }
        }
    }

    /// Who holds a lease owned by `owner`: with the time from the holder note when the
    /// note is that node's (a note left by another node is not believed).
    fn holder(&self, disks: &dyn Disks, volume: Option<&str>, owner: HostId) -> Holder {
        let listed = self
            .nodes
            .iter()
            .find(|n| n.host_id == owner)
            .map(|n| n.name.clone());
        let taken = volume
            .and_then(|v| self.area.volume(v))
            .and_then(|(_, at)| disks.read(&self.path, at, note::NOTE_LEN).ok())
            .and_then(|b| note::decode(&b))
            .filter(|(n, _)| listed.as_deref().is_none_or(|l| l == n));
        Holder {
            host_id: owner,
            taken,
        }
    }

    /// What `status` shows: the lockspace, the hosts in it and the holder of each of
    /// `volumes`. Errors become the status's `error` (status never fails on leases).
    pub fn status(
        &self,
        client: &dyn LeaseClient,
        disks: &dyn Disks,
        volumes: &[String],
    ) -> super::status::LeaseStatus {
        let mut st = super::status::LeaseStatus {
            lockspace: self.lockspace(),
            node: self.node.clone(),
            host_id: self.host_id.get(),
            joined: false,
            hosts: Vec::new(),
            volumes: Vec::new(),
            error: None,
        };
        if let Err(e) = self.fill_status(client, disks, volumes, &mut st) {
            st.error = Some(e.to_string());
        }
        st
    }

    fn fill_status(
        &self,
        client: &dyn LeaseClient,
        disks: &dyn Disks,
        volumes: &[String],
        st: &mut super::status::LeaseStatus,
    ) -> Result<()> {
        let here = client.status()?;
        st.joined = here.lockspaces.contains(&st.lockspace);
        if st.joined {
            for id in client.hosts(&st.lockspace)? {
                let Some(id) = HostId::new(id) else { continue };
                st.hosts.push(super::status::Host {
                    host_id: id.get(),
                    node: self
                        .nodes
                        .iter()
                        .find(|n| n.host_id == id)
                        .map(|n| n.name.clone()),
                });
            }
        }
        for v in volumes {
            let (arg, name) = self.resource(Some(v))?;
            let leader = client.leader(Kind::Resource, &arg, &name, self.area.geometry)?;
            let owner = leader.held_by().and_then(HostId::new);
            let holder = owner.map(|o| self.holder(disks, Some(v), o));
            st.volumes.push(super::status::VolumeLease {
                volume: v.clone(),
                holder: holder.as_ref().map(|h| {
                    self.nodes
                        .iter()
                        .find(|n| n.host_id == h.host_id)
                        .map_or_else(|| format!("host_id {}", h.host_id), |n| n.name.clone())
                }),
                holder_host_id: owner.map(HostId::get),
                since: holder
                    .and_then(|h| h.taken)
                    .map(|(_, t)| crate::time::rfc3339_utc(t)),
                here: here.holder(&st.lockspace, &name).is_some(),
            });
        }
        Ok(())
    }

    /// Where `volume`'s holder note lies (device, byte offset).
    pub fn note_at(&self, volume: &str) -> Option<(&Path, Bytes)> {
        self.area
            .volume(volume)
            .map(|(_, at)| (self.path.as_path(), at))
    }

    /// Give `volume`'s lease (`None`: the class lease) back if a process here holds it.
    pub fn give_back(&self, client: &mut dyn LeaseClient, volume: Option<&str>) -> Result<bool> {
        let Some(pid) = self.held_here(client, volume)? else {
            return Ok(false);
        };
        let (_, name) = self.resource(volume)?;
        client.release(pid, &self.lockspace(), &name)?;
        Ok(true)
    }
}

/// A model of sanlock for the simulator and tests: leases on "disk" (shared by every
/// node of a test through the state), one host id per client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SimLeaseState {
    /// Leases written: argument → holder host id (0: free).
    pub leases: BTreeMap<String, u64>,
    /// Lockspaces joined, by host id.
    pub joined: BTreeMap<u64, Vec<String>>,
    /// Leases held by host id → (lockspace, resource, pid).
    pub held: BTreeMap<u64, Vec<(String, String, u32)>>,
    /// The next pid.
    pub next_pid: u32,
}

/// One node's client over a [`SimLeaseState`].
#[derive(Debug)]
pub struct SimLeases<'s> {
    /// The shared state.
    pub state: &'s mut SimLeaseState,
    /// This node's host id.
    pub host_id: u64,
}

fn split_arg(arg: &str) -> (String, String) {
    let mut f = arg.split(':');
    (
        f.next().unwrap_or_default().to_owned(),
        f.next().unwrap_or_default().to_owned(),
    )
}

impl LeaseClient for SimLeases<'_> {
    fn status(&self) -> Result<Status> {
        let mut st = Status {
            lockspaces: self
                .state
                .joined
                .get(&self.host_id)
                .cloned()
                .unwrap_or_default(),
            ..Status::default()
        };
        for (ls, res, pid) in self.state.held.get(&self.host_id).into_iter().flatten() {
            st.held.push(super::sanlock::Held {
                lockspace: ls.clone(),
                resource: res.clone(),
                pid: *pid,
            });
        }
        Ok(st)
    }

    fn init(&mut self, kind: Kind, arg: &str, _: Geometry) -> Result<()> {
        let key = match kind {
            Kind::Lockspace => split_arg(arg).0,
            Kind::Resource => {
                let (ls, res) = split_arg(arg);
                format!("{ls}:{res}")
            }
        };
        self.state.leases.insert(key, 0);
        Ok(())
    }

    fn leader(&self, _: Kind, arg: &str, _: &str, _: Geometry) -> Result<Leader> {
        let (ls, res) = split_arg(arg);
        let owner = self
            .state
            .leases
            .get(&format!("{ls}:{res}"))
            .copied()
            .ok_or_else(|| EngineError::Lease(format!("{arg}: no lease written there")))?;
        Ok(Leader {
            owner_id: owner,
            timestamp: u64::from(owner != 0),
        })
    }

    fn join(&mut self, arg: &str) -> Result<()> {
        let (ls, _) = split_arg(arg);
        if !self.state.leases.contains_key(&ls) {
            return Err(EngineError::Lease(format!(
                "{arg}: no lockspace written there"
            )));
        }
        self.state.joined.entry(self.host_id).or_default().push(ls);
        Ok(())
    }

    fn hold(&mut self, arg: &str, _: &[String]) -> Result<Taken> {
        let (ls, res) = split_arg(arg);
        if !self
            .state
            .joined
            .get(&self.host_id)
            .is_some_and(|j| j.contains(&ls))
        {
            return Err(EngineError::Lease(format!(
                "{arg}: lockspace {ls} not joined"
            )));
        }
        let owner = self
            .state
            .leases
            .get_mut(&format!("{ls}:{res}"))
            .ok_or_else(|| EngineError::Lease(format!("{arg}: no lease written there")))?;
        if *owner != 0 && *owner != self.host_id {
            return Ok(Taken::Busy("-243".into()));
        }
        *owner = self.host_id;
        self.state.next_pid += 1;
        let pid = 1000 + self.state.next_pid;
        self.state
            .held
            .entry(self.host_id)
            .or_default()
            .push((ls, res, pid));
        Ok(Taken::Held(pid))
    }

    fn hosts(&self, lockspace: &str) -> Result<Vec<u64>> {
        Ok(self
            .state
            .joined
            .iter()
            .filter(|(_, ls)| ls.iter().any(|l| l == lockspace))
            .map(|(id, _)| *id)
            .collect())
    }

    fn release(&mut self, pid: u32, lockspace: &str, resource: &str) -> Result<()> {
        if let Some(h) = self.state.held.get_mut(&self.host_id) {
            h.retain(|(_, _, p)| *p != pid);
        }
        if let Some(o) = self
            .state
            .leases
            .get_mut(&format!("{lockspace}:{resource}"))
        {
            *o = 0;
        }
        Ok(())
    }
}
