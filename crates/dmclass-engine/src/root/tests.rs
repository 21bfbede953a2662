use super::keep::{plan_keep, KeepError, DMCLASS_PART_TYPE};
use crate::gpt::{decode, encode, entries_location, Gpt, GptError, Partition, ESP_TYPE};
use dmclass_model::Sectors;
use uuid::Uuid;

const LINUX_FS: Uuid = Uuid::from_u128(0x0fc6_3daf_8483_4772_8e79_3d69_d847_7de4);
const MIB: u64 = 2048; // 512-byte sectors

fn part(index: u32, t: Uuid, first: u64, last: u64, name: &str) -> Partition {
    Partition {
        index,
        type_guid: t,
        guid: Uuid::from_u128(0x1000 + u128::from(index)),
        first,
        last,
        attributes: 0,
        name: name.into(),
    }
}

/// A system disk of `mib` MiB: ESP (1..=101 MiB), root up to `root_end` MiB.
fn system_disk(mib: u64, root_end: u64) -> (Gpt, u64) {
    let sectors = mib * MIB;
    let (first, last, backup) = crate::gpt::usable_area(sectors, 512).unwrap();
    let gpt = Gpt {
        sector_size: 512,
        disk_guid: Uuid::from_u128(42),
        first_usable: first,
        last_usable: last,
        backup_lba: backup,
        partitions: vec![
            part(1, ESP_TYPE, MIB, 101 * MIB - 1, "EFI"),
            part(2, LINUX_FS, 101 * MIB, root_end * MIB - 1, "root"),
        ],
    };
    (gpt, sectors)
}

/// Encode `gpt` onto a zeroed disk image and decode it back as dmclass reads a disk.
fn roundtrip(gpt: &Gpt, sectors: u64) -> Result<Gpt, GptError> {
    let (start, end) = encode(gpt, sectors).unwrap();
    let mut disk = vec![0u8; usize::try_from(sectors * 512).unwrap()];
    disk[..start.len()].copy_from_slice(&start);
    let at = disk.len() - end.len();
    disk[at..].copy_from_slice(&end);
    read(&disk)
}

fn read(disk: &[u8]) -> Result<Gpt, GptError> {
    let lba1 = &disk[512..1024];
    let (off, len) = entries_location(lba1, 512)?;
    let off = usize::try_from(off).unwrap();
    decode(lba1, &disk[off..(off + len).min(disk.len())], 512)
}

#[test]
fn encode_then_decode_gives_the_table() {
    let (gpt, sectors) = system_disk(256, 200);
    let back = roundtrip(&gpt, sectors).unwrap();
    assert_eq!(back, gpt);
    // The backup header at the last sector points back at LBA 1.
    let (_, end) = encode(&gpt, sectors).unwrap();
    let h = &end[end.len() - 512..];
    assert_eq!(&h[0..8], b"EFI PART");
    assert_eq!(
        u64::from_le_bytes(h[24..32].try_into().unwrap()),
        sectors - 1
    );
    assert_eq!(u64::from_le_bytes(h[32..40].try_into().unwrap()), 1);
}

#[test]
fn damaged_or_crafted_tables_are_refused_without_panic() {
    let (gpt, sectors) = system_disk(256, 200);
    let (start, _) = encode(&gpt, sectors).unwrap();
    // Header checksum.
    let mut bad = start.clone();
    bad[512 + 40] ^= 1;
    assert!(matches!(
        decode(&bad[512..1024], &bad[1024..], 512),
        Err(GptError::HeaderCrc { .. })
    ));
    // Entry checksum.
    let mut bad = start.clone();
    bad[1024 + 32] ^= 1;
    assert!(matches!(
        decode(&bad[512..1024], &bad[1024..], 512),
        Err(GptError::EntriesCrc { .. })
    ));
    // Overlapping partitions with valid checksums: crafted.
    let mut g = gpt.clone();
    g.partitions[1].first = 50 * MIB;
    let (s, _) = encode(&g, sectors).unwrap();
    let e = decode(&s[512..1024], &s[1024..], 512).unwrap_err();
    assert!(e.to_string().contains("overlaps partition 1"), "{e}");
    // Truncated entry array, no signature, a 4 KiB header on 512-byte sectors.
    assert!(matches!(
        decode(&start[512..1024], &start[1024..2048], 512),
        Err(GptError::Truncated { .. })
    ));
    assert!(matches!(
        decode(&[0u8; 512], &[], 512),
        Err(GptError::NoHeader)
    ));
    assert!(decode(&start[512..1024], &start[1024..], 1000).is_err());
    // Every single-byte change of the header or the first entries is caught or decodes
    // to a table that is still checked (no panic).
    for i in 512..1024 + 256 {
        for v in [0u8, 0xff, 0x80] {
            let mut m = start.clone();
            m[i] = v;
            let _ = decode(&m[512..1024], &m[1024..], 512);
        }
    }
}

#[test]
fn keep_layout_uses_the_free_space_at_the_end() {
    let (gpt, _) = system_disk(256, 200);
    let l = plan_keep(&gpt).unwrap();
    assert_eq!(l.esps, vec![1]);
    assert_eq!(l.mirrored.len(), 1);
    let root = &l.mirrored[0];
    assert_eq!((root.index, root.name.as_str()), (2, "root"));
    assert_eq!(root.start, Sectors(101 * MIB));
    assert_eq!(root.len, Sectors(99 * MIB));
    // 32 MiB private area + 1 MiB rmeta, 1 MiB aligned, right after the root.
    assert_eq!(l.dmclass_first, 200 * MIB);
    assert_eq!(l.dmclass_last, 233 * MIB - 1);
    assert_eq!(root.rmeta_offset, Sectors(32 * MIB));
    assert_eq!(l.dmclass_index, 3);
    // The keep disk's table gains only the dmclass partition; existing ones unchanged.
    let t = l.keep_table(&gpt, Uuid::from_u128(7));
    assert_eq!(&t.partitions[..2], &gpt.partitions[..]);
    assert_eq!(t.partitions[2].type_guid, DMCLASS_PART_TYPE);
}

#[test]
fn keep_layout_refuses_with_the_missing_space() {
    let (gpt, _) = system_disk(256, 240);
    let e = plan_keep(&gpt).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, KeepError::NoRoom { need_mib: 33, .. }),
        "{text}"
    );
    assert!(text.contains("needs 33 MiB"), "{text}");
    assert!(
        text.contains("shrink the last partition by at least"),
        "{text}"
    );
}

#[test]
fn bios_disks_and_disks_without_esp_are_refused() {
    let (mut gpt, _) = system_disk(256, 200);
    gpt.partitions[0].type_guid = crate::gpt::BIOS_BOOT_TYPE;
    assert_eq!(plan_keep(&gpt).unwrap_err(), KeepError::BiosBoot(1));
    gpt.partitions.remove(0);
    assert_eq!(plan_keep(&gpt).unwrap_err(), KeepError::NoEsp);
}

#[test]
fn peers_get_the_same_sectors_with_new_guids() {
    let (gpt, _) = system_disk(256, 200);
    let l = plan_keep(&gpt).unwrap();
    let mut n = 0u128;
    let mut fresh = || {
        n += 1;
        Uuid::from_u128(0xfeed_0000 + n)
    };
    let peer = l.peer_table(&gpt, "b", 300 * MIB, 512, &mut fresh).unwrap();
    assert_eq!(peer.partitions.len(), 3);
    for (p, k) in peer.partitions.iter().zip(&gpt.partitions) {
        assert_eq!(
            (p.index, p.first, p.last, p.type_guid),
            (k.index, k.first, k.last, k.type_guid)
        );
        assert_ne!(p.guid, k.guid);
    }
    assert_ne!(peer.disk_guid, gpt.disk_guid);
    // It is written and read back like any table.
    assert_eq!(roundtrip(&peer, 300 * MIB).unwrap(), peer);
    // A smaller disk or other sector size is refused.
    let e = l
        .peer_table(&gpt, "b", 200 * MIB, 512, &mut fresh)
        .unwrap_err();
    assert!(matches!(e, KeepError::TooSmall { .. }), "{e}");
    let e = l
        .peer_table(&gpt, "b", 300 * MIB, 4096, &mut fresh)
        .unwrap_err();
    assert!(matches!(e, KeepError::SectorSize { .. }), "{e}");
}
