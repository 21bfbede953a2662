//! `udev-rules/69-dmclass.rules` checked offline: the syntax (every line is a list of
//! `KEY[{attr}]OP"value"` items with known keys and fitting operators, every GOTO has its
//! LABEL), `udevadm verify` when this systemd has it (≥ 254; Debian 12 has 252), and
//! the rule's behaviour on typical events through a small interpreter of the subset it
//! uses, with `IMPORT{program}` answered by the real `udev_import` and `IMPORT{file}` by
//! files `write_import_file` wrote.
#![allow(clippy::unwrap_used)]

use dmclass_linux::udev_names::udev_import;
use std::collections::BTreeMap;
use std::path::PathBuf;

thread_local! {
    /// The files of /run/dmclass/udev (by dm name) this thread's events see.
    static FILES: std::cell::RefCell<BTreeMap<String, String>> =
        const { std::cell::RefCell::new(BTreeMap::new()) };
    /// The `IMPORT{program}` commands this thread's events ran.
    static PROGRAMS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn rules_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../udev-rules/69-dmclass.rules")
}

#[derive(Debug)]
struct Item {
    key: String,
    attr: Option<String>,
    op: String,
    value: String,
}

/// Split a rule line into items; `None` for a malformed item.
fn parse_line(line: &str) -> Option<Vec<Item>> {
    let mut items = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_'))?;
        let key = rest[..key_end].to_string();
        rest = &rest[key_end..];
        let mut attr = None;
        if let Some(r) = rest.strip_prefix('{') {
            let close = r.find('}')?;
            attr = Some(r[..close].to_string());
            rest = &r[close + 1..];
        }
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))?;
        rest = rest[op.len()..].strip_prefix('"')?;
        let close = rest.find('"')?;
        let value = rest[..close].to_string();
        rest = rest[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
        items.push(Item {
            key,
            attr,
            op: op.to_string(),
            value,
        });
    }
    Some(items)
}

fn rules() -> Vec<Vec<Item>> {
    let text = std::fs::read_to_string(rules_path()).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("malformed rule line: {l}")))
        .collect()
}

#[test]
fn syntax_keys_operators_and_labels() {
    let rules = rules();
    assert!(rules.len() > 5);
    let mut gotos = Vec::new();
    let mut labels = Vec::new();
    for items in &rules {
        for it in items {
            let matching = it.op == "==" || it.op == "!=";
            match it.key.as_str() {
                "SUBSYSTEM" | "KERNEL" | "ACTION" => assert!(matching, "{it:?}"),
                "ENV" => assert!(it.attr.is_some() && (matching || it.op == "="), "{it:?}"),
                "IMPORT" => {
                    assert!(
                        matches!(it.attr.as_deref(), Some("program" | "file")),
                        "{it:?}"
                    );
                    assert_eq!(it.op, "=");
                }
                "SYMLINK" | "RUN" => assert_eq!(it.op, "+=", "{it:?}"),
                "OPTIONS" => {
                    assert_eq!(it.op, "+=", "{it:?}");
                    assert!(
                        matches!(
                            it.value.as_str(),
                            "link_priority=100" | "link_priority=-100"
                        ),
                        "{it:?}"
                    );
                }
                "GOTO" => {
                    assert_eq!(it.op, "=");
                    gotos.push(it.value.clone());
                }
                "LABEL" => {
                    assert_eq!(it.op, "=");
                    assert_eq!(items.len(), 1, "LABEL stands alone");
                    labels.push(it.value.clone());
                }
                other => panic!("key {other} is not used by this rule file"),
            }
        }
    }
    assert!(
        gotos.iter().all(|g| labels.contains(g)),
        "{gotos:?} {labels:?}"
    );
    assert_eq!(labels, ["dmclass_disk", "dmclass_end"]);
}

#[test]
fn udevadm_verify_when_available() {
    let Ok(out) = std::process::Command::new("udevadm")
        .arg("verify")
        .arg(rules_path())
        .output()
    else {
        eprintln!("skipped: no udevadm");
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("Unknown command") || stderr.contains("Unknown verb") {
        eprintln!("skipped: this udevadm has no `verify` (systemd < 254)");
        return;
    }
    assert!(out.status.success(), "udevadm verify: {stderr}");
}

/// `*`, `?`, `[a-z]` classes and `|` alternatives, as udev matches.
fn glob(pattern: &str, text: &str) -> bool {
    fn one(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => one(&p[1..], t) || (!t.is_empty() && one(p, &t[1..])),
            (Some(b'?'), Some(_)) => one(&p[1..], &t[1..]),
            (Some(b'['), Some(&c)) => {
                let close = p.iter().position(|&b| b == b']').unwrap();
                let class = &p[1..close];
                let hit = class
                    .windows(3)
                    .any(|w| w[1] == b'-' && (w[0]..=w[2]).contains(&c))
                    || class.contains(&c);
                hit && one(&p[close + 1..], &t[1..])
            }
            (Some(a), Some(b)) if a == b => one(&p[1..], &t[1..]),
            _ => false,
        }
    }
    pattern
        .split('|')
        .any(|alt| one(alt.as_bytes(), text.as_bytes()))
}

fn substitute(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = value.to_string();
    if let Some(kernel) = env.get("KERNEL_NAME") {
        out = out.replace("$devnode", &format!("/dev/{kernel}"));
    }
    while let Some(at) = out.find("$env{") {
        let end = at + out[at..].find('}').unwrap();
        let key = &out[at + 5..end];
        let v = env.get(key).cloned().unwrap_or_default();
        out.replace_range(at..=end, &v);
    }
    out
}

/// Run the rules on one event; the symlinks it adds.
fn run(action: &str, kernel: &str, env: &[(&str, &str)]) -> Vec<String> {
    run_disk(action, kernel, env, None).0
}

/// Run the rules on one event with `probe` answering `dmclass event probe` (the
/// device's first 12 KiB; `None`: no label); the symlinks and RUN commands.
fn run_disk(
    action: &str,
    kernel: &str,
    env: &[(&str, &str)],
    probe: Option<&[u8]>,
) -> (Vec<String>, Vec<String>) {
    let mut runs = Vec::new();
    let mut env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    // udev exports ACTION as a property too.
    env.insert("ACTION".into(), action.into());
    let mut links = Vec::new();
    let mut skip_to: Option<String> = None;
    for items in rules() {
        if let Some(label) = &skip_to {
            if items[0].key == "LABEL" && &items[0].value == label {
                skip_to = None;
            }
            continue;
        }
        let matched = items.iter().all(|it| {
            if it.op != "==" && it.op != "!=" {
                return true;
            }
            let have = match it.key.as_str() {
                "SUBSYSTEM" => "block".to_string(),
                "KERNEL" => kernel.to_string(),
                "ACTION" => action.to_string(),
                "ENV" => env
                    .get(it.attr.as_deref().unwrap())
                    .cloned()
                    .unwrap_or_default(),
                _ => return true,
            };
            match it.op.as_str() {
                "==" => glob(&it.value, &have),
                "!=" => !glob(&it.value, &have),
                _ => true,
            }
        });
        if !matched {
            continue;
        }
        for it in &items {
            match it.key.as_str() {
                "GOTO" => skip_to = Some(it.value.clone()),
                "IMPORT" if it.attr.as_deref() == Some("file") => {
                    let path = substitute(&it.value, &env);
                    let name = path.strip_prefix("/run/dmclass/udev/").unwrap();
                    let text = FILES.with(|f| f.borrow().get(name).cloned());
                    for line in text.unwrap_or_default().lines() {
                        let (k, v) = line.split_once('=').unwrap();
                        env.insert(k.into(), v.into());
                    }
                }
                "IMPORT" => {
                    let cmd = substitute(&it.value, &env);
                    PROGRAMS.with(|p| p.borrow_mut().push(cmd.clone()));
                    let out = if let Some(name) = cmd.strip_prefix("/usr/sbin/dmclass udev-import ")
                    {
                        udev_import(name)
                    } else {
                        assert_eq!(cmd, format!("/usr/sbin/dmclass event probe /dev/{kernel}"));
                        probe.and_then(dmclass_engine::react::udev_probe)
                    };
                    for line in out.unwrap_or_default().lines() {
                        let (k, v) = line.split_once('=').unwrap();
                        env.insert(k.into(), v.into());
                    }
                }
                "SYMLINK" => links.push(substitute(&it.value, &env)),
                "OPTIONS" => PRIORITY.with(|p| *p.borrow_mut() = Some(it.value.clone())),
                "RUN" => runs.push(
                    substitute(&it.value, &env).replace("$devnode", &format!("/dev/{kernel}")),
                ),
                "ENV" if it.op == "=" => {
                    env.insert(it.attr.clone().unwrap(), substitute(&it.value, &env));
                }
                _ => {}
            }
        }
    }
    (links, runs)
}

const TOP_UUID: &str = "DMCLASS-c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

fn dm_env<'a>(
    name: &'a str,
    uuid: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("DM_UDEV_RULES_VSN", "2"),
        ("DM_NAME", name),
        ("DM_UUID", uuid),
        ("DM_SUSPENDED", "0"),
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn volumes_get_their_link_and_nothing_else_does() {
    let top = dm_env("dmclass-my--data-v--1", TOP_UUID, &[]);
    assert_eq!(run("change", "dm-3", &top), ["dmclass/my-data/v-1"]);
    // Coldplug "add" of an active device, and a suspended volume, keep the link.
    assert_eq!(run("add", "dm-3", &top), ["dmclass/my-data/v-1"]);
    let suspended = dm_env("dmclass-c-v", TOP_UUID, &[("DM_SUSPENDED", "1")]);
    assert_eq!(run("change", "dm-0", &suspended), ["dmclass/c/v"]);

    let layer_uuid = format!("{TOP_UUID}-rimage_0");
    let none: [&[(&str, &str)]; 1] = [&[]];
    for (action, kernel, env) in [
        ("remove", "dm-3", top.clone()),
        ("change", "sda", top.clone()),
        // A hidden layer (private flags), or with flags lost on a synthesized event.
        (
            "change",
            "dm-4",
            dm_env(
                "dmclass-c-v_rimage_0",
                &layer_uuid,
                &[("DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG", "1")],
            ),
        ),
        (
            "change",
            "dm-4",
            dm_env("dmclass-c-v_rimage_0", &layer_uuid, none[0]),
        ),
        // A new empty device: 10-dm.rules disabled everything.
        (
            "add",
            "dm-5",
            dm_env(
                "dmclass-c-v",
                TOP_UUID,
                &[("DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG", "1")],
            ),
        ),
        // Not dmclass's, or dm rules not installed.
        ("change", "dm-6", dm_env("vg-lv", "LVM-abc", none[0])),
        (
            "change",
            "dm-7",
            vec![("DM_NAME", "dmclass-c-v"), ("DM_UUID", TOP_UUID)],
        ),
        // A dmclass UUID with a name the splitter refuses: no half-made link.
        (
            "change",
            "dm-8",
            dm_env("something-else", TOP_UUID, none[0]),
        ),
    ] {
        assert_eq!(
            run(action, kernel, &env),
            Vec::<String>::new(),
            "{action} {kernel} {env:?}"
        );
    }
}

/// The first 12 KiB of a member disk of class `data` (both header copies).
fn member_area() -> Vec<u8> {
    use dmclass_engine::metadata::{encode_header, AreaHeader};
    let h = AreaHeader {
        class_uuid: uuid::Uuid::from_bytes([0xc1; 16]),
        disk_uuid: uuid::Uuid::from_bytes([2; 16]),
        disk_size: dmclass_model::Sectors(1 << 21),
        class_name: "data".into(),
    };
    let mut area = vec![0u8; 3 * 4096];
    area[4096..8192].copy_from_slice(&encode_header(&h, 0));
    area[8192..].copy_from_slice(&encode_header(&h, 1));
    area
}

#[test]
fn member_disks_get_probed_and_the_event_handler_runs() {
    let area = member_area();
    let disk = [("DEVTYPE", "disk"), ("KERNEL_NAME", "vdc")];
    for action in ["add", "change"] {
        let (links, runs) = run_disk(action, "vdc", &disk, Some(&area));
        assert_eq!(
            runs,
            [format!("/usr/sbin/dmclass event {action} /dev/vdc")],
            "{action}"
        );
        assert_eq!(
            links,
            [format!(
                "disk/by-dmclass/{}-{}",
                uuid::Uuid::from_bytes([0xc1; 16]),
                uuid::Uuid::from_bytes([2; 16])
            )]
        );
    }
    // A keep disk's private partition too.
    let part = [("DEVTYPE", "partition"), ("KERNEL_NAME", "sda2")];
    assert_eq!(run_disk("add", "sda2", &part, Some(&area)).1.len(), 1);
    // Remove: the properties come from the udev db (no probe).
    let gone = [
        ("DEVTYPE", "disk"),
        ("KERNEL_NAME", "vdc"),
        ("DMCLASS_CLASS_UUID", "c1c1c1c1-c1c1-c1c1-c1c1-c1c1c1c1c1c1"),
    ];
    assert_eq!(
        run_disk("remove", "vdc", &gone, None).1,
        ["/usr/sbin/dmclass event remove /dev/vdc"]
    );
}

#[test]
fn other_disks_and_dm_layers_run_nothing() {
    let area = member_area();
    let mut torn = area.clone();
    torn[4096 + 10] ^= 1;
    torn[8192 + 10] ^= 1;
    let disk = [("DEVTYPE", "disk"), ("KERNEL_NAME", "vdb")];
    for (action, kernel, env, probe) in [
        // No label, or both header copies damaged.
        ("add", "vdb", &disk[..], None),
        ("add", "vdb", &disk[..], Some(&torn[..])),
        // Removal of a disk that never had the properties.
        ("remove", "vdb", &disk[..], None),
        // Not a disk or partition, and CD-ROM / ram devices.
        ("add", "vdb", &[("KERNEL_NAME", "vdb")][..], Some(&area[..])),
        (
            "add",
            "sr0",
            &[("DEVTYPE", "disk"), ("KERNEL_NAME", "sr0")][..],
            Some(&area[..]),
        ),
        // A dm layer never reaches the disk part, even carrying a copy of a label.
        (
            "add",
            "dm-4",
            &[("DEVTYPE", "disk"), ("KERNEL_NAME", "dm-4")][..],
            Some(&area[..]),
        ),
    ] {
        let (links, runs) = run_disk(action, kernel, env, probe);
        assert!(
            links.is_empty() && runs.is_empty(),
            "{action} {kernel} {env:?}"
        );
    }
}

thread_local! {
    /// The last `OPTIONS` value the rules set on an event.
    static PRIORITY: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn a_copy_of_a_volume_yields_its_uuid_links_to_the_original() {
    let dir = std::env::temp_dir().join(format!("dmclass-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, copy, want) in [
        ("dmclass-sys-root", false, "link_priority=100"),
        ("dmclass-sys-upgrade--root", true, "link_priority=-100"),
    ] {
        assert!(dmclass_linux::udev_names::write_import_file(&dir, name, copy).unwrap());
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        FILES.with(|f| f.borrow_mut().insert(name.into(), text));
        PRIORITY.with(|p| *p.borrow_mut() = None);
        let links = run("change", "dm-3", &dm_env(name, TOP_UUID, &[]));
        assert_eq!(links.len(), 1, "{links:?}");
        PRIORITY.with(|p| assert_eq!(p.borrow().as_deref(), Some(want), "{name}"));
    }
    // Marked once, a copy stays marked when resumed again as an ordinary volume.
    let name = "dmclass-sys-upgrade--root";
    assert!(dmclass_linux::udev_names::write_import_file(&dir, name, false).unwrap());
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    assert!(text.contains("DMCLASS_COPY=1"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_import_file_dmclass_leaves_spares_the_exec() {
    let name = "dmclass-my--data-v--1";
    let dir = std::env::temp_dir().join(format!("dmclass-rules-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(dmclass_linux::udev_names::write_import_file(&dir, name, false).unwrap());
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    FILES.with(|f| f.borrow_mut().insert(name.into(), text));
    PROGRAMS.with(|p| p.borrow_mut().clear());
    let top = dm_env(name, TOP_UUID, &[]);
    assert_eq!(run("change", "dm-3", &top), ["dmclass/my-data/v-1"]);
    PROGRAMS.with(|p| assert!(p.borrow().is_empty(), "no exec: {:?}", p.borrow()));
    // without the file (a device dmclass did not resume this boot): the exec
    FILES.with(|f| f.borrow_mut().clear());
    assert_eq!(run("change", "dm-3", &top), ["dmclass/my-data/v-1"]);
    PROGRAMS.with(|p| {
        assert_eq!(
            *p.borrow(),
            [format!("/usr/sbin/dmclass udev-import {name}")]
        );
    });
}
