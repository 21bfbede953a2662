//! The class as it is on disk, as a configuration that re-applies as a no-op
//! (`dmclass export`). Disks are selected by their recorded identity: the by-id path
//! when there is one, else the serial, else the WWN. Sizes are the allocated
//! (rounded) sizes, so planning the export against the same disks changes nothing.

use crate::error::{EngineError, Result};
use crate::metadata::{
    ClassMeta, ClassTypeMeta, DiskMeta, DiskRoleMeta, EngineMeta, GroupKindMeta, ModeMeta,
};
use dmclass_model::{
    Bytes, Class, ClassType, Config, Disk, DiskRole, DiskSelector, Engine, Group, GroupKind,
    Located, Mode, Name, Span, Volume,
};
use std::path::PathBuf;

fn name(s: &str) -> Name {
    Name(s.to_owned())
}

fn located(s: &str) -> Located<Name> {
    Located {
        value: name(s),
        span: Span::default(),
    }
}

fn selector(class: &str, d: &DiskMeta) -> Result<DiskSelector> {
    let id = &d.identity;
    if let Some(p) = &id.by_id {
        return Ok(DiskSelector::Device(PathBuf::from(p)));
    }
    if let Some(s) = &id.serial {
        return Ok(DiskSelector::Serial(s.clone()));
    }
    if let Some(w) = &id.wwn {
        return Ok(DiskSelector::Wwn(w.clone()));
    }
    Err(EngineError::Refused {
        class: class.to_owned(),
        object: format!("disk {}", d.name),
        reason: "no by-id path, serial or WWN is recorded for it; it cannot be selected".into(),
    })
}

/// The configuration file (one class) that describes `meta`.
pub fn export(meta: &ClassMeta) -> Result<Config> {
    let mut disks = Vec::new();
    for d in &meta.disks {
        disks.push(Disk {
            name: name(&d.name),
            selector: selector(&meta.name, d)?,
            role: match d.role {
                DiskRoleMeta::Member => DiskRole::Member,
                DiskRoleMeta::Spare => DiskRole::Spare,
                DiskRoleMeta::Keep => DiskRole::Keep,
                DiskRoleMeta::Single => DiskRole::Single,
            },
            wipe: false,
            vsan: false,
            node: d.node.clone(),
            span: Span::default(),
        });
    }
    let groups = meta
        .groups
        .iter()
        .map(|g| Group {
            name: name(&g.name),
            kind: match g.kind {
                GroupKindMeta::Mirror => GroupKind::Mirror,
                GroupKindMeta::Stripe { chunk } => GroupKind::Stripe {
                    stripe_size: Bytes(chunk.0 * 512),
                },
                GroupKindMeta::Concat => GroupKind::Concat,
                GroupKindMeta::Netmirror => GroupKind::Netmirror,
            },
            members: g.members.iter().map(|m| located(m)).collect(),
            span: Span::default(),
        })
        .collect();
    let volumes = meta
        .volumes
        .iter()
        .map(|v| Volume {
            name: name(&v.name),
            on: located(&v.on),
            size: Bytes(v.size.0 * 512),
            partition: v.partition,
            jrm: v.jrm,
            engine: match v.engine {
                EngineMeta::Raid1 => Engine::Raid1,
                EngineMeta::Mirror => Engine::Mirror,
            },
            mode: match v.mode {
                ModeMeta::Rw => Mode::Rw,
                ModeMeta::Ro => Mode::Ro,
            },
            autostart: v.autostart,
            copy_rate: v.copy_rate,
            span: Span::default(),
        })
        .collect();
    Ok(Config {
        version: 1,
        environment: None,
        environment_span: None,
        exclude: Vec::new(),
        classes: vec![Class {
            name: name(&meta.name),
            class_type: match meta.class_type {
                ClassTypeMeta::Root => ClassType::Root,
                ClassTypeMeta::Local => ClassType::Local,
                ClassTypeMeta::Shared => ClassType::Shared,
            },
            // Unreadable host ids: the names with ids in order (the export says what the
            // disks hold; `check` of it then shows the difference).
            nodes: meta
                .cluster_nodes()
                .unwrap_or_else(|| dmclass_model::ClusterNode::in_order(&meta.nodes)),
            secret_file: meta.secret_file.as_ref().map(std::path::PathBuf::from),
            hot_spare: meta.hot_spare,
            disks,
            groups,
            volumes,
            snapshots: {
                let mut s = cow_snapshots(meta);
                s.extend(crate::proxy::exported(meta));
                s
            },
            span: Span::default(),
        }],
    })
}

/// The class's copy-on-write snapshots (store size as allocated, so re-applying plans
/// nothing).
fn cow_snapshots(meta: &ClassMeta) -> Vec<dmclass_model::Snapshot> {
    crate::cow::cow_snapshots(meta)
        .into_iter()
        .map(|c| dmclass_model::Snapshot {
            name: name(c.name),
            origin: located(c.origin),
            kind: dmclass_model::SnapshotKind::Cow {
                size: Bytes(c.size.0 * 512),
                chunk: Bytes(c.chunk.0 * 512),
            },
            span: Span::default(),
        })
        .collect()
}
