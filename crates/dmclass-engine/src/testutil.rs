//! Shared fixtures for unit tests.

use crate::layout::{Extent, Leg, Segment, SliceState, VolumeLayout};
use crate::metadata::{
    ClassMeta, ClassTypeMeta, DiskIdentity, DiskMeta, DiskRoleMeta, DiskState, EngineMeta,
    GroupKindMeta, GroupMeta, ModeMeta, VolumeMeta,
};
use dmclass_model::Sectors;
use uuid::Uuid;

/// Fixed UUID from a small number, so goldens are stable.
pub fn uuid(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

/// A linear extent.
pub fn ext(disk: &str, offset: u64, len: u64) -> Extent {
    Extent {
        disk: disk.into(),
        offset: Sectors(offset),
        len: Sectors(len),
    }
}

/// A raid1 leg: rmeta (1 MiB) right before a single data extent.
pub fn raid_leg(disk: &str, offset: u64, len: u64) -> Leg {
    Leg {
        rmeta: Some(ext(disk, offset, 2048)),
        segments: vec![Segment::Linear {
            extent: ext(disk, offset + 2048, len),
        }],
        state: SliceState::Active,
    }
}

/// A disk of `gib` GiB.
pub fn disk(name: &str, n: u8, gib: u64) -> DiskMeta {
    DiskMeta {
        name: name.into(),
        uuid: uuid(n),
        identity: DiskIdentity {
            serial: Some(format!("SERIAL-{name}")),
            wwn: None,
            by_id: Some(format!("/dev/disk/by-id/virtio-{name}")),
        },
        size: Sectors(gib * 2 * 1024 * 1024),
        role: DiskRoleMeta::Member,
        state: DiskState::Enable,
        area_offset: Sectors(0),
        node: None,
    }
}

/// Class `data` with a mirror group `m` over d1,d2 and one 1 GiB raid1 volume `v1`.
pub fn sample_class() -> ClassMeta {
    let mut c = ClassMeta::new("data", uuid(0xc1), ClassTypeMeta::Local);
    c.generation = 1;
    c.disks = vec![disk("d1", 1, 8), disk("d2", 2, 8)];
    c.groups = vec![GroupMeta {
        name: "m".into(),
        kind: GroupKindMeta::Mirror,
        members: vec!["d1".into(), "d2".into()],
    }];
    let start = crate::metadata::area_sectors().0;
    c.volumes = vec![VolumeMeta {
        name: "v1".into(),
        uuid: uuid(0xa1),
        on: "m".into(),
        size: Sectors(2_097_152),
        engine: EngineMeta::Raid1,
        jrm: true,
        mode: ModeMeta::Rw,
        autostart: true,
        region: Sectors(128),
        layout: VolumeLayout {
            legs: vec![
                raid_leg("d1", start, 2_097_152),
                raid_leg("d2", start, 2_097_152),
            ],
            log: None,
        },
        copy_rate: None,
        partition: None,
    }];
    c
}
