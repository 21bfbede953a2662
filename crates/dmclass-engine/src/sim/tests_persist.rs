//! Saving and loading the world, aliases, and the world built from facts.
#![allow(clippy::unwrap_used)]

use super::persist::{b64_decode, b64_encode};
use super::tests::{line, mk, raid1, setup, LEN};
use super::*;
use crate::io::{Disks, Kernel};
use crate::status::{parse_raid_status, RaidHealth};
use std::path::Path;

const VDA: &str = "/dev/vda";
const VDB: &str = "/dev/vdb";

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            seed.wrapping_add(u8::try_from(i / 512 % 251).unwrap())
                .wrapping_mul(7)
                | 1
        })
        .collect()
}

fn tmp() -> tempdir::Dir {
    tempdir::Dir::new()
}

/// A private scratch directory removed on drop (no extra dependency).
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "dmclass-sim-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn reload(d: &SimDisks, file: &Path) -> (SimKernel, SimDisks) {
    save(d, file).unwrap();
    load(file).unwrap()
}

fn raid_health(k: &SimKernel, name: &str) -> String {
    let st = k.status(name).unwrap();
    let s = parse_raid_status(&st[0].params).unwrap();
    s.health
        .iter()
        .map(|h| match h {
            RaidHealth::InSync => 'A',
            RaidHealth::Dead => 'D',
            _ => '?',
        })
        .collect()
}

#[test]
fn raid1_data_and_leg_state_survive_a_reload() {
    let dir = tmp();
    let file = dir.path().join("world.json");
    let (mut k, mut d) = setup();
    let top = raid1(&mut k);
    let a = pattern(1, 64 * 1024);
    k.write_dev(top, Bytes(8 * 512), &a).unwrap();
    // Degrade: writes while vdb is gone dirty region 20 only.
    d.remove_disk(VDB).unwrap();
    let b = pattern(2, 8192);
    k.write_dev(top, Bytes(20 * 1024 * 512), &b).unwrap();
    assert_eq!(raid_health(&k, top), "AD");
    let before = k.list().unwrap();
    let tables: Vec<_> = before.iter().map(|i| k.table(&i.name).unwrap()).collect();
    let written = d.bytes_written(VDA).unwrap();

    let (mut k2, mut d2) = reload(&d, &file);
    assert_eq!(k2.list().unwrap(), before);
    for (i, t) in before.iter().zip(&tables) {
        assert_eq!(&k2.table(&i.name).unwrap(), t, "{}", i.name);
        assert_eq!(k2.status(&i.name).unwrap(), k.status(&i.name).unwrap());
        assert_eq!(k2.visibility(&i.name), k.visibility(&i.name));
    }
    assert_eq!(k2.read_dev(top, Bytes(8 * 512), a.len()).unwrap(), a);
    assert_eq!(
        k2.read_dev(top, Bytes(20 * 1024 * 512), b.len()).unwrap(),
        b
    );
    assert_eq!(d2.bytes_written(VDA).unwrap(), written);
    assert_eq!(d2.pages_in_use(VDA).unwrap(), d.pages_in_use(VDA).unwrap());
    assert_eq!(raid_health(&k2, top), "AD");
    // The dirty-region bitmap came along: after the disk returns, a resume copies
    // just region 20 (1024 sectors) to vdb, and the data matches.
    d2.reattach(VDB).unwrap();
    d2.reset_counters();
    k2.suspend(top, false).unwrap();
    k2.resume(top, Visibility::Public).unwrap();
    assert_eq!(raid_health(&k2, top), "AA");
    // Region 20 and vdb's superblock.
    assert_eq!(d2.bytes_written(VDB).unwrap(), Bytes(1024 * 512 + 512));
    let on_b = d2
        .read(Path::new(VDB), Bytes((4096 + 20 * 1024) * 512), b.len())
        .unwrap();
    assert_eq!(on_b, b);
    // Minors continue where the saved kernel stopped.
    let next = k2.create("n", "U-n").unwrap().devnum;
    assert_eq!(next, k.create("n", "U-n").unwrap().devnum);
}

#[test]
fn suspended_inactive_and_open_state_survive_a_reload() {
    let dir = tmp();
    let file = dir.path().join("w.json");
    let (mut k, d) = setup();
    mk(&mut k, "a", &[line(0, 100, "linear", "8:0 2048")]);
    k.set_open_count("a", 2).unwrap();
    k.create("b", "U-b").unwrap();
    k.load("b", &[line(0, 64, "striped", "2 8 8:0 100 8:16 200")], true)
        .unwrap();
    k.suspend("a", true).unwrap();
    k.settle().unwrap();
    let (mut k2, _d2) = reload(&d, &file);
    assert_eq!(k2.list().unwrap(), k.list().unwrap());
    let a = k2.info("a").unwrap().unwrap();
    assert!(a.suspended && a.open_count == 2);
    assert_eq!(k2.settle_count(), 1);
    assert_eq!(k2.remove("a").unwrap_err().errno, Some(EBUSY));
    // The inactive read-only table becomes live on resume, read-only still.
    k2.resume("b", Visibility::Private).unwrap();
    assert_eq!(k2.table("b").unwrap()[0].params, "2 8 8:0 100 8:16 200");
    assert_eq!(
        k2.write_dev("b", Bytes(0), &[1; 512]).unwrap_err().errno,
        Some(EROFS)
    );
    assert_eq!(k2.visibility("b"), Some(Visibility::Private));
}

#[test]
fn a_new_raid_set_loaded_but_not_resumed_stays_new() {
    let dir = tmp();
    let file = dir.path().join("w.json");
    let (mut k, d) = setup();
    let devs: Vec<String> = ["8:0", "8:16"]
        .iter()
        .enumerate()
        .map(|(i, disk)| {
            let m = mk(
                &mut k,
                &format!("m{i}"),
                &[line(0, 2048, "linear", &format!("{disk} 2048"))],
            );
            let x = mk(
                &mut k,
                &format!("d{i}"),
                &[line(0, LEN, "linear", &format!("{disk} 4096"))],
            );
            format!("{m} {x}")
        })
        .collect();
    let params = format!("raid1 3 0 region_size 1024 2 {}", devs.join(" "));
    k.create("r", "U-r").unwrap();
    k.load("r", &[line(0, LEN, "raid", &params)], false)
        .unwrap();
    let (mut k2, d2) = reload(&d, &file);
    // A new set resyncs fully on its first resume: leg 1 gets the whole image.
    d2.clone().reset_counters();
    k2.resume("r", Visibility::Public).unwrap();
    assert!(d2.bytes_written(VDB).unwrap() >= Bytes(LEN * 512));
}

#[test]
fn the_file_is_sparse_and_replaced_atomically() {
    let dir = tmp();
    let file = dir.path().join("w.json");
    let (_k, mut d) = setup();
    d.write(Path::new(VDA), Bytes(4096 * 100), &[0xab; 512])
        .unwrap();
    d.write(Path::new(VDB), Bytes(4096 * 7), &[0; 4096])
        .unwrap();
    save(&d, &file).unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(
        len < 4096,
        "two 8 GiB disks with one written sector: {len} bytes"
    );
    d.write(Path::new(VDA), Bytes(0), &pattern(9, 8192))
        .unwrap();
    save(&d, &file).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("w.json")]);
    let (_k2, d2) = load(&file).unwrap();
    assert_eq!(
        d2.read(Path::new(VDA), Bytes(0), 8192).unwrap(),
        pattern(9, 8192)
    );
    assert_eq!(
        d2.read(Path::new(VDA), Bytes(4096 * 100), 1024).unwrap(),
        [vec![0xab; 512], vec![0; 512]].concat()
    );
    assert_eq!(d2.pages_in_use(VDB).unwrap(), 0);
}

#[test]
fn aliases_resolve_to_the_same_disk() {
    let dir = tmp();
    let (_k, mut d) = setup();
    let id = "/dev/disk/by-id/virtio-SER1";
    d.add_alias(id, VDA).unwrap();
    d.add_alias("/dev/disk/by-path/pci-0", id).unwrap(); // alias of an alias
    assert_eq!(d.devnum(Path::new(id)).unwrap(), tests::dn(8, 0));
    assert_eq!(
        d.size(Path::new(id)).unwrap(),
        d.size(Path::new(VDA)).unwrap()
    );
    d.write(Path::new(id), Bytes(512), &[7; 512]).unwrap();
    assert_eq!(
        d.read(Path::new(VDA), Bytes(512), 512).unwrap(),
        vec![7; 512]
    );
    assert_eq!(d.resolve("/dev/disk/by-path/pci-0"), Some(VDA.into()));
    assert_eq!(d.resolve("/dev/nope"), None);
    assert_eq!(d.aliases(VDA).len(), 2);
    // Conflicts: another disk's alias, a disk path, a dm path, an unknown target.
    assert_eq!(d.add_alias(id, VDB).unwrap_err().errno, Some(EEXIST));
    assert_eq!(d.add_alias(VDB, VDA).unwrap_err().errno, Some(EEXIST));
    assert_eq!(
        d.add_alias("/dev/mapper/x", VDA).unwrap_err().errno,
        Some(EEXIST)
    );
    assert_eq!(
        d.add_alias("/dev/x", "/dev/y").unwrap_err().errno,
        Some(ENOENT)
    );
    assert_eq!(
        d.add_disk(id, tests::dn(8, 32), Bytes(1 << 20))
            .unwrap_err()
            .errno,
        Some(EEXIST)
    );
    // Unplugging through the alias unplugs the disk; the alias then fails too.
    d.remove_disk(id).unwrap();
    assert_eq!(d.devnum(Path::new(VDA)).unwrap_err().errno, Some(ENOENT));
    assert_eq!(
        d.read(Path::new(id), Bytes(0), 512).unwrap_err().errno,
        Some(ENOENT)
    );
    d.reattach(VDA).unwrap();
    let (_k2, d2) = reload(&d, &dir.path().join("w.json"));
    assert_eq!(
        d2.read(Path::new(id), Bytes(512), 512).unwrap(),
        vec![7; 512]
    );
}

fn facts_json(disks: &str) -> dmclass_rules::Facts {
    let text =
        format!(r#"{{"format":1,"environment":"bare-metal","boot":"bios","disks":[{disks}]}}"#);
    serde_json::from_str(&text).unwrap()
}

#[test]
fn world_from_facts_builds_disks_with_links_and_numbers() {
    let facts = facts_json(
        r#"{"name":"vda","devnode":"/dev/vda","kind":"virtio-blk","size":1073741824,
            "links":["/dev/disk/by-id/virtio-A","/dev/disk/by-path/pci-1"]},
           {"name":"sdb","devnode":"/dev/sdb","kind":"scsi","size":2147484160,
            "properties":{"MAJOR":"8","MINOR":"0"}},
           {"name":"dm-0","devnode":"/dev/dm-0","kind":"dm","size":4096},
           {"name":"sr0","devnode":"/dev/sr0","kind":"unknown","size":0}"#,
    );
    let (k, d) = world_from_facts(&facts).unwrap();
    assert_eq!(
        d.paths(),
        vec![Path::new("/dev/sdb"), Path::new("/dev/vda")]
    );
    // 8:0 is sdb's own number, so vda gets the next free one.
    assert_eq!(d.devnum(Path::new("/dev/sdb")).unwrap(), tests::dn(8, 0));
    assert_eq!(d.devnum(Path::new("/dev/vda")).unwrap(), tests::dn(8, 16));
    assert_eq!(
        d.devnum(Path::new("/dev/disk/by-path/pci-1")).unwrap(),
        tests::dn(8, 16)
    );
    assert_eq!(
        d.size(Path::new("/dev/disk/by-id/virtio-A")).unwrap(),
        Bytes(1 << 30)
    );
    assert_eq!(d.size(Path::new("/dev/sdb")).unwrap(), Bytes(2_147_484_160));
    assert!(k.list().unwrap().is_empty());
    // Two disks claiming one link: refused with the path named.
    let clash = facts_json(
        r#"{"name":"a","devnode":"/dev/a","kind":"scsi","size":1048576,"links":["/dev/l"]},
           {"name":"b","devnode":"/dev/b","kind":"scsi","size":1048576,"links":["/dev/l"]}"#,
    );
    let e = world_from_facts(&clash).unwrap_err();
    assert_eq!(e.object, "/dev/l");
}

#[test]
fn base64_round_trips_and_rejects_garbage() {
    for n in 0..10 {
        let data: Vec<u8> = (0..n)
            .map(|i: u8| i.wrapping_mul(37).wrapping_add(200))
            .collect();
        assert_eq!(b64_decode(&b64_encode(&data)).unwrap(), data);
    }
    assert_eq!(b64_encode(b"Man"), "TWFu");
    assert_eq!(b64_encode(b"Ma"), "TWE=");
    for bad in ["TWF", "TW=u", "T===", "TW!u", "TWE=TWFu"] {
        assert!(b64_decode(bad).is_err(), "{bad}");
    }
}

/// Saves the raid1 world, lets `edit` change the JSON text, and loads it.
fn load_edited(edit: impl Fn(String) -> String) -> IoError {
    let dir = tmp();
    let file = dir.path().join("w.json");
    let (mut k, d) = setup();
    let top = raid1(&mut k);
    k.write_dev(top, Bytes(0), &pattern(3, 4096)).unwrap();
    save(&d, &file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit must change something");
    std::fs::write(&file, edited).unwrap();
    let e = load(&file).unwrap_err();
    assert_eq!(e.op, "load");
    assert_eq!(e.object, file.display().to_string());
    e
}

#[test]
fn damaged_or_foreign_files_are_refused_with_a_reason() {
    type Edit = Box<dyn Fn(String) -> String>;
    let cases: Vec<(&str, Edit)> = vec![
        ("invalid JSON", Box::new(|t| t[..t.len() / 2].to_string())),
        ("invalid JSON", Box::new(|_| "\u{0}\u{1}binary".into())),
        ("format field", Box::new(|_| r#"{"a": 1}"#.into())),
        (
            "version Some(99)",
            Box::new(|t| t.replace("\"version\": 1", "\"version\": 99")),
        ),
        (
            "bad table",
            Box::new(|t| t.replace("raid raid1", "raid raid5")),
        ),
        (
            "bad table",
            Box::new(|t| t.replacen("linear 8:0", "linear 8:0:0", 1)),
        ),
        (
            "base64",
            Box::new(|t| t.replacen("\"256\": \"", "\"256\": \"!", 1)),
        ),
        (
            "table uses unknown 8:16",
            Box::new(|t| t.replace("\"8:16\"", "\"8:48\"")),
        ),
        ("twice", Box::new(|t| t.replace("\"253:1\"", "\"253:0\""))),
        (
            "unknown field",
            Box::new(|t| t.replacen("\"failed\"", "\"flaky\"", 1)),
        ),
        (
            "bad device number",
            Box::new(|t| t.replace("\"8:0\"", "\"8\"")),
        ),
    ];
    for (want, edit) in cases {
        let e = load_edited(edit);
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
}

#[test]
fn pages_outside_the_disk_and_missing_files_are_refused() {
    let dir = tmp();
    let file = dir.path().join("w.json");
    let (_k, mut d) = new_sim();
    d.add_disk(VDA, tests::dn(8, 0), Bytes(8192)).unwrap();
    d.write(Path::new(VDA), Bytes(4096), &[1; 512]).unwrap();
    save(&d, &file).unwrap();
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"1\":", "\"2\":");
    std::fs::write(&file, text).unwrap();
    let e = load(&file).unwrap_err();
    assert!(e.to_string().contains("page 2 lies beyond"), "{e}");
    let e = load(&dir.path().join("absent.json")).unwrap_err();
    assert_eq!(e.errno, Some(ENOENT));
    let e = save(&d, &dir.path().join("no/such/dir/w.json")).unwrap_err();
    assert_eq!(e.errno, Some(ENOENT));
}
