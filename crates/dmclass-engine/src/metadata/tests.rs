#![allow(clippy::many_single_char_names, clippy::cast_possible_truncation)]

use super::*;
use crate::error::EngineError;
use crate::testutil::{sample_class, uuid};
use dmclass_model::Sectors;

fn header() -> AreaHeader {
    AreaHeader {
        class_uuid: uuid(0xc1),
        disk_uuid: uuid(1),
        disk_size: Sectors(16 * 1024 * 1024),
        class_name: "data".into(),
    }
}

/// A sparse area image: only the blocks that were written.
#[derive(Default, Clone)]
struct Disk(std::collections::BTreeMap<u64, Vec<u8>>);

impl Disk {
    fn apply(&mut self, w: &AreaWrite) {
        self.0.insert(w.offset, w.data.clone());
    }
    fn get_mut(&mut self, offset: u64) -> &mut Vec<u8> {
        self.0.get_mut(&offset).unwrap()
    }
}

impl AreaRead for Disk {
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        let mut out = vec![0; len];
        let end = offset + len as u64;
        for (&start, data) in &self.0 {
            let wend = start + data.len() as u64;
            let (lo, hi) = (start.max(offset), wend.min(end));
            if lo < hi {
                let src = &data
                    [usize::try_from(lo - start).unwrap()..usize::try_from(hi - start).unwrap()];
                let at = usize::try_from(lo - offset).unwrap();
                out[at..at + src.len()].copy_from_slice(src);
            }
        }
        Ok(out)
    }
}

fn formatted() -> (Disk, ClassMeta) {
    let meta = sample_class();
    let mut d = Disk::default();
    for w in format_area(&header(), &meta).unwrap() {
        assert_eq!(w.offset % 4096, 0);
        assert_eq!(w.data.len() % 4096, 0);
        d.apply(&w);
    }
    (d, meta)
}

/// Formatted, then updated to generation 2 (in slot 1).
fn two_generations() -> (Disk, ClassMeta, ClassMeta) {
    let (mut d, g1) = formatted();
    let area = read_area("d1", &mut d).unwrap();
    let mut g2 = g1.clone();
    g2.generation = 2;
    g2.volumes.clear();
    let w = next_write(&area, &g2).unwrap();
    assert_eq!(w.offset, SLOT_OFFSETS[1]);
    d.apply(&w);
    (d, g1, g2)
}

#[test]
fn round_trip() {
    let (mut d, meta) = formatted();
    let area = read_area("d1", &mut d).unwrap();
    assert_eq!(area.meta, meta);
    assert_eq!(area.header, header());
    assert_eq!(area.active, 0);
    assert_eq!(area.headers[0], CopyStatus::Valid { generation: None });
    assert_eq!(
        area.slots[0],
        CopyStatus::Valid {
            generation: Some(1)
        }
    );
    // Slot 1 was zeroed by the format: absent.
    assert_eq!(area.slots[1], CopyStatus::Invalid(MetaProblem::Absent));
}

#[test]
fn newest_generation_wins_and_writes_alternate() {
    let (mut d, _g1, g2) = two_generations();
    let area = read_area("d1", &mut d).unwrap();
    assert_eq!((area.active, &area.meta), (1, &g2));
    let mut g3 = g2.clone();
    g3.generation = 3;
    let w = next_write(&area, &g3).unwrap();
    assert_eq!(w.offset, SLOT_OFFSETS[0]);
    d.apply(&w);
    let area = read_area("d1", &mut d).unwrap();
    assert_eq!((area.active, area.meta.generation), (0, 3));
}

#[test]
fn stale_generation_is_refused() {
    let (mut d, g1, _) = two_generations();
    let area = read_area("d1", &mut d).unwrap();
    let err = next_write(&area, &g1).unwrap_err();
    assert_eq!(err, EngineError::StaleGeneration { current: 2, new: 1 });
}

#[test]
fn torn_slot_falls_back_to_previous_generation() {
    let (mut d, g1, _) = two_generations();
    // Only the first half of the new slot reached the disk: the rest is old zeros.
    let slot = d.get_mut(SLOT_OFFSETS[1]);
    let keep = 4096 + 100;
    slot[keep..].fill(0);
    let area = read_area("d1", &mut d).unwrap();
    assert_eq!(area.meta, g1);
    assert_eq!(area.active, 0);
    assert!(matches!(
        area.slots[1],
        CopyStatus::Invalid(MetaProblem::BodyCrc { .. })
    ));
}

#[test]
fn both_slots_corrupt_is_an_error_naming_the_disk() {
    let (mut d, _, _) = two_generations();
    d.get_mut(SLOT_OFFSETS[0])[10] ^= 1;
    d.get_mut(SLOT_OFFSETS[1])[4096 + 10] ^= 1;
    match read_area("disk-a", &mut d).unwrap_err() {
        EngineError::NoValidSlot { disk, slot0, slot1 } => {
            assert_eq!(disk, "disk-a");
            assert!(matches!(slot0, MetaProblem::Crc { .. }));
            assert!(matches!(slot1, MetaProblem::BodyCrc { .. }));
        }
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn header_copy_b_takes_over_and_wrong_magic_is_not_a_member() {
    let (mut d, g1) = formatted();
    d.get_mut(HEADER_OFFSETS[0])[100] ^= 0x40;
    let area = read_area("d1", &mut d).unwrap();
    assert_eq!(area.meta, g1);
    assert!(matches!(
        area.headers[0],
        CopyStatus::Invalid(MetaProblem::Crc { .. })
    ));
    d.get_mut(HEADER_OFFSETS[1])[0] = b'X';
    assert!(matches!(
        read_area("d1", &mut d).unwrap_err(),
        EngineError::NoValidHeader {
            a: MetaProblem::Crc { .. },
            b: MetaProblem::Absent,
            ..
        }
    ));
    let mut blank = Disk::default();
    assert_eq!(
        read_area("d9", &mut blank).unwrap_err(),
        EngineError::NotMember { disk: "d9".into() }
    );
}

fn reseal(block: &mut [u8]) {
    let crc = crc32c::crc32c(&block[..4092]);
    block[4092..4096].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn wrong_version_is_rejected() {
    let (mut d, _) = formatted();
    for off in HEADER_OFFSETS {
        let h = d.get_mut(off);
        h[16] = 2;
        reseal(h);
    }
    assert!(matches!(
        read_area("d1", &mut d).unwrap_err(),
        EngineError::NoValidHeader {
            a: MetaProblem::Version {
                found: 2,
                supported: 1
            },
            b: MetaProblem::Version {
                found: 2,
                supported: 1
            },
            ..
        }
    ));
    let (mut d, _) = formatted();
    let s = d.get_mut(SLOT_OFFSETS[0]);
    s[8] = 7;
    reseal(s);
    assert!(matches!(
        read_area("d1", &mut d).unwrap_err(),
        EngineError::NoValidSlot {
            slot0: MetaProblem::Version {
                found: 7,
                supported: 1
            },
            ..
        }
    ));
}

#[test]
fn slot_of_another_disk_is_rejected() {
    let (mut d, _) = formatted();
    let mut other = header();
    other.disk_uuid = uuid(2);
    let w = encode_slot(&other, 1, &{
        let mut m = sample_class();
        m.generation = 9;
        m
    })
    .unwrap();
    d.apply(&AreaWrite {
        offset: SLOT_OFFSETS[1],
        data: w,
    });
    let area = read_area("d1", &mut d).unwrap();
    assert_eq!(area.meta.generation, 1);
    assert_eq!(
        area.slots[1],
        CopyStatus::Invalid(MetaProblem::UuidMismatch)
    );
}

/// Records the largest read request.
struct Spy(Disk, usize);
impl AreaRead for Spy {
    fn read_at(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        self.1 = self.1.max(len);
        self.0.read_at(offset, len)
    }
}

#[test]
fn huge_length_fields_do_not_allocate() {
    let (mut d, _) = formatted();
    for (i, len) in [(0usize, u64::MAX), (1, (MAX_BODY + 1) as u64)] {
        let mut s = vec![0u8; 4096];
        s[..4096].copy_from_slice(
            &encode_slot(&header(), u32::try_from(i).unwrap(), &sample_class()).unwrap()[..4096],
        );
        s[56..64].copy_from_slice(&len.to_le_bytes());
        reseal(&mut s);
        d.apply(&AreaWrite {
            offset: SLOT_OFFSETS[i],
            data: s,
        });
    }
    let mut spy = Spy(d, 0);
    match read_area("d1", &mut spy).unwrap_err() {
        EngineError::NoValidSlot { slot0, slot1, .. } => {
            assert_eq!(
                slot0,
                MetaProblem::Field {
                    field: "body_len",
                    value: u64::MAX
                }
            );
            assert!(matches!(
                slot1,
                MetaProblem::Field {
                    field: "body_len",
                    ..
                }
            ));
        }
        e => panic!("unexpected {e}"),
    }
    assert_eq!(spy.1, 8192, "only headers and slot headers were read");
}

#[test]
fn too_large_metadata_is_refused() {
    let mut m = sample_class();
    m.nodes = vec!["n".repeat(1024); MAX_BODY / 1024 + 1];
    assert!(matches!(
        encode_slot(&header(), 0, &m).unwrap_err(),
        EngineError::MetaTooLarge { max: MAX_BODY, .. }
    ));
}

#[test]
fn long_class_name_is_cut_in_header_only() {
    let mut h = header();
    h.class_name = "é".repeat(40); // 80 bytes
    let back = decode_header(&encode_header(&h, 0)).unwrap();
    assert_eq!(back.class_name, "é".repeat(32));
}

/// Every single-byte corruption of header A or of the newest slot (over the bytes its
/// checksums cover) leaves a readable area with the right content, never a panic.
#[test]
fn every_byte_flip_is_detected_or_harmless() {
    let (d, g1, g2) = two_generations();
    let body_len = usize::try_from(u64::from_le_bytes(
        d.0[&SLOT_OFFSETS[1]][56..64].try_into().unwrap(),
    ))
    .unwrap();
    for i in 0..4096 {
        let mut d2 = d.clone();
        d2.get_mut(HEADER_OFFSETS[0])[i] ^= 0x5a;
        let area = read_area("d1", &mut d2).unwrap();
        assert_eq!(area.meta, g2, "header byte {i}");
        assert!(
            matches!(area.headers[0], CopyStatus::Invalid(_)),
            "header byte {i}"
        );
    }
    for i in 0..4096 + body_len {
        let mut d2 = d.clone();
        d2.get_mut(SLOT_OFFSETS[1])[i] ^= 1 << (i % 8);
        let area = read_area("d1", &mut d2).unwrap();
        assert_eq!(area.meta, g1, "slot byte {i}");
    }
    // Padding after the body is not covered and does not matter.
    let mut d2 = d.clone();
    let slot = d2.get_mut(SLOT_OFFSETS[1]);
    let last = slot.len() - 1;
    slot[last] = 0xff;
    assert_eq!(read_area("d1", &mut d2).unwrap().meta, g2);
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap()
    }
}

fn compact_image() -> Vec<u8> {
    let (d, _, _) = two_generations();
    let mut v = Vec::new();
    v.extend_from_slice(&d.0[&HEADER_OFFSETS[0]]);
    v.extend_from_slice(&d.0[&HEADER_OFFSETS[1]]);
    let s0 = &d.0[&SLOT_OFFSETS[0]];
    let s1 = &d.0[&SLOT_OFFSETS[1]];
    let n = s0.len().max(s1.len());
    let mut a = s0.clone();
    a.resize(n, 0);
    let mut b = s1.clone();
    b.resize(n, 0);
    v.extend_from_slice(&a);
    v.extend_from_slice(&b);
    v
}

/// The always-on substitute for the fuzzer: 100k deterministic pseudo-random inputs,
/// random bytes and mutations of a valid image (some with checksums repaired so the
/// JSON and field checks are reached).
#[test]
fn pseudo_random_inputs_never_panic() {
    let image = compact_image();
    assert_eq!(
        read_area("c", &mut CompactArea(&image))
            .unwrap()
            .meta
            .generation,
        2
    );
    let slot_len = (image.len() - 8192) / 2;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    for round in 0..100_000 {
        let input: Vec<u8> = if round % 4 == 0 {
            let n = rng.below(20_000);
            (0..n).map(|_| rng.next() as u8).collect()
        } else {
            let mut v = image.clone();
            for _ in 0..=rng.below(8) {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            if round % 4 == 2 {
                // Repair the slot checksums so the body parser sees the damage.
                for s in 0..2 {
                    let base = 8192 + s * slot_len;
                    let len = usize::try_from(u64::from_le_bytes(
                        v[base + 56..base + 64].try_into().unwrap(),
                    ))
                    .unwrap_or(0)
                    .min(slot_len - 4096);
                    let crc = crc32c::crc32c(&v[base + 4096..base + 4096 + len]);
                    v[base + 64..base + 68].copy_from_slice(&crc.to_le_bytes());
                    reseal(&mut v[base..base + 4096]);
                }
            }
            if round % 8 == 3 {
                v.truncate(rng.below(v.len()));
            }
            v
        };
        if let Ok(area) = read_area("c", &mut CompactArea(&input)) {
            ok += 1;
            assert!(area.meta.generation >= 1);
        }
    }
    assert!(
        ok > 10_000,
        "mutations of a valid image mostly stay readable ({ok})"
    );
}

/// Writes the seed corpus of the `decode_area` fuzz target (fuzz/corpus/decode_area,
/// docs/fuzzing.md): a mode byte (bit 0: the harness repairs checksums), then a
/// compact image. Run by hand: `cargo test -p dmclass-engine -- --ignored fuzz_seeds`.
#[test]
#[ignore = "writes files into the repository"]
fn fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode_area");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, mode: u8, image: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(image);
        std::fs::write(dir.join(name), v).unwrap();
    };
    // Two generations, one per slot.
    let image = compact_image();
    write("two-generations", 0, &image);
    write("two-generations-repair", 1, &image);
    // Freshly formatted: slot 1 invalidated (zero block), header B then A.
    let (d, _) = formatted();
    let mut v = Vec::new();
    v.extend_from_slice(&d.0[&HEADER_OFFSETS[0]]);
    v.extend_from_slice(&d.0[&HEADER_OFFSETS[1]]);
    let s0 = d.0[&SLOT_OFFSETS[0]].clone();
    let mut s1 = d.0[&SLOT_OFFSETS[1]].clone();
    s1.resize(s0.len(), 0);
    v.extend_from_slice(&s0);
    v.extend_from_slice(&s1);
    write("formatted", 0, &v);
    // Headers only: a member whose slots are gone.
    write("headers-only", 1, &v[..2 * BLOCK]);
}

#[test]
fn cluster_nodes_read_old_and_new_descriptions_and_refuse_bad_host_ids() {
    use dmclass_model::{ClusterNode, HostId};
    let mut m = ClassMeta::new("sh", uuid(7), ClassTypeMeta::Shared);
    // Written before host ids existed: names only, ids in order.
    m.nodes = vec!["a".into(), "b".into()];
    assert_eq!(m.cluster_nodes(), Some(ClusterNode::in_order(&["a", "b"])));
    let explicit = vec![
        ClusterNode {
            name: "a".into(),
            host_id: HostId::new(9).expect("9 is a host id"),
            address: None,
        },
        ClusterNode {
            name: "b".into(),
            host_id: HostId::new(3).expect("3 is a host id"),
            address: None,
        },
    ];
    m.set_cluster_nodes(&explicit);
    assert_eq!(m.cluster_nodes().as_deref(), Some(explicit.as_slice()));
    // Survives the on-disk encoding.
    let json = serde_json::to_string(&m).expect("encodes");
    let back: ClassMeta = serde_json::from_str(&json).expect("decodes");
    assert_eq!(back.cluster_nodes().as_deref(), Some(explicit.as_slice()));
    // Crafted: another count, out of range, the same id twice.
    for ids in [vec![1], vec![0, 2], vec![2001, 1], vec![4, 4]] {
        m.host_ids = ids.clone();
        assert_eq!(m.cluster_nodes(), None, "{ids:?}");
    }
}

#[test]
fn cluster_node_addresses_round_trip_and_crafted_ones_are_refused() {
    use dmclass_model::ClusterNode;
    let mut m = ClassMeta::new("nm", uuid(8), ClassTypeMeta::Shared);
    let mut nodes = ClusterNode::in_order(&["a", "b"]);
    nodes[0].address = "10.0.0.1".parse().ok();
    nodes[1].address = "fd00::2".parse().ok();
    m.set_cluster_nodes(&nodes);
    let json = serde_json::to_string(&m).expect("encodes");
    let back: ClassMeta = serde_json::from_str(&json).expect("decodes");
    assert_eq!(back.cluster_nodes().as_deref(), Some(nodes.as_slice()));
    // Not every node has one: none recorded (a local shared class).
    nodes[1].address = None;
    m.set_cluster_nodes(&nodes);
    assert!(m.addresses.is_empty());
    // Crafted: another count, not an address, one no partner can reach.
    for addrs in [
        vec!["10.0.0.1"],
        vec!["10.0.0.1", "node2"],
        vec!["10.0.0.1", "127.0.0.1"],
        vec!["169.254.1.1", "10.0.0.2"],
        vec!["fe80::1", "10.0.0.2"],
    ] {
        m.addresses = addrs.iter().map(|a| (*a).to_string()).collect();
        assert_eq!(m.cluster_nodes(), None, "{addrs:?}");
    }
}
