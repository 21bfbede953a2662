//! Node tree → typed [`Config`], per docs/configuration.md. Shape problems (unknown keys,
//! wrong types, bad words, sizes, names) are found here with the exact position of
//! the offending key or value; relations between objects are checked in `validate`.

use super::tree::{Node, NodeKind};
use super::values::{Ctx, Fields};
use crate::config::HostId;
use crate::config::{
    Class, ClassType, ClusterNode, Config, CopyMode, Disk, DiskRole, DiskSelector, Engine, Group,
    GroupKind, Located, Mode, ProxyState, Snapshot, SnapshotKind, Span, Volume, MAX_COPY_RATE,
};
use crate::env::Environment;
use crate::name::{check_node_name, NODE_ACCEPTED};
use crate::size::{Bytes, GIB, KIB, MIB, SECTOR_SIZE};
use std::path::PathBuf;

/// Default chunk of a cow snapshot: 4 KiB, LVM's default for `lvcreate -s`.
pub const DEFAULT_COW_CHUNK: Bytes = Bytes(4 * KIB);

const TOP_KEYS: &[&str] = &["version", "environment", "exclude", "classes"];
const CLASS_KEYS: &[&str] = &[
    "name",
    "type",
    "nodes",
    "secret_file",
    "hot_spare",
    "disks",
    "groups",
    "volumes",
    "snapshots",
];
const DISK_KEYS: &[&str] = &[
    "name", "device", "serial", "wwn", "role", "wipe", "vsan", "node",
];
const GROUP_KEYS: &[&str] = &["name", "type", "members", "stripe_size"];
const VOLUME_KEYS: &[&str] = &[
    "name",
    "on",
    "size",
    "jrm",
    "engine",
    "mode",
    "autostart",
    "copy_rate",
    "partition",
];
const SNAPSHOT_KEYS: &[&str] = &[
    "name", "origin", "type", "size", "chunk", "on", "state", "copy",
];

const CLASS_TYPES: &[(&str, ClassType)] = &[
    ("root", ClassType::Root),
    ("local", ClassType::Local),
    ("shared", ClassType::Shared),
];
const ROLES: &[(&str, DiskRole)] = &[
    ("member", DiskRole::Member),
    ("spare", DiskRole::Spare),
    ("keep", DiskRole::Keep),
    ("single", DiskRole::Single),
];
/// Group type words; the stripe size is filled in separately.
const GROUP_TYPES: &[(&str, GroupKind)] = &[
    ("mirror", GroupKind::Mirror),
    (
        "stripe",
        GroupKind::Stripe {
            stripe_size: Bytes(0),
        },
    ),
    ("concat", GroupKind::Concat),
    ("netmirror", GroupKind::Netmirror),
];
const ENGINES: &[(&str, Engine)] = &[("raid1", Engine::Raid1), ("mirror", Engine::Mirror)];
const MODES: &[(&str, Mode)] = &[("rw", Mode::Rw), ("ro", Mode::Ro)];
const SNAPSHOT_TYPES: &[(&str, bool)] = &[("cow", true), ("proxy", false)];
const STATES: &[(&str, ProxyState)] = &[
    ("joined", ProxyState::Joined),
    ("parted", ProxyState::Parted),
];
const COPIES: &[(&str, CopyMode)] = &[
    ("software", CopyMode::Software),
    ("offload", CopyMode::Offload),
];

/// Convert the document root; `None` (an empty file) is itself an error.
pub(crate) fn config(ctx: &mut Ctx, root: Option<&Node>) -> Config {
    let mut config = Config {
        version: 1,
        environment: None,
        environment_span: None,
        exclude: Vec::new(),
        classes: Vec::new(),
    };
    let Some(root) = root else {
        ctx.err_accepting(
            Span { line: 1, column: 1 },
            "the configuration is empty",
            "a mapping with `version: 1` and `classes`",
        );
        return config;
    };
    let Some(f) = ctx.fields(root, "the configuration", TOP_KEYS) else {
        return config;
    };
    if let Some(v) = ctx.required(&f, "version", "version: 1") {
        match &v.kind {
            NodeKind::Scalar { text, plain: true } if text == "1" => {}
            _ => ctx.err_accepting(
                v.span,
                format!("unsupported `version` {}", v.describe()),
                "1",
            ),
        }
    }
    if let Some(v) = f.get("environment") {
        config.environment_span = Some(v.span);
        let accepted = format!(
            "auto, {}",
            Environment::ALL.map(Environment::as_str).join(", ")
        );
        if let Some(text) = ctx.text(v, "environment", &accepted) {
            if text != "auto" {
                match text.parse::<Environment>() {
                    Ok(e) => config.environment = Some(e),
                    Err(_) => ctx.err_accepting(
                        v.span,
                        format!("unknown `environment` {}", v.describe()),
                        accepted,
                    ),
                }
            }
        }
    }
    let exclude_hint = "a list of absolute device paths, e.g. /dev/disk/by-id/virtio-guest01";
    for item in ctx.list(f.get("exclude"), "exclude", exclude_hint) {
        if let Some(path) = device_path(ctx, item, "exclude") {
            config.exclude.push(Located {
                value: path,
                span: item.span,
            });
        }
    }
    for item in ctx.list(f.get("classes"), "classes", "a list of classes") {
        if let Some(c) = class(ctx, item) {
            config.classes.push(c);
        }
    }
    config
}

/// An absolute path (to a device).
fn device_path(ctx: &mut Ctx, node: &Node, key: &str) -> Option<PathBuf> {
    absolute_path(
        ctx,
        node,
        key,
        "an absolute device path, e.g. /dev/disk/by-id/virtio-data1",
    )
}

/// An absolute path; `hint` says what is accepted.
fn absolute_path(ctx: &mut Ctx, node: &Node, key: &str, hint: &str) -> Option<PathBuf> {
    let text = ctx.text(node, key, hint)?;
    if text.starts_with('/') && !text.contains('\0') && text.len() > 1 {
        Some(PathBuf::from(text))
    } else {
        ctx.err_accepting(
            node.span,
            format!("`{key}` {} is not an absolute path", node.describe()),
            hint,
        );
        None
    }
}

/// What an object is called in messages: "disk `d1`".
fn what(f: &Fields, kind: &str) -> String {
    match f.get("name").map(|n| &n.kind) {
        Some(NodeKind::Scalar { text, .. }) => format!("{kind} `{}`", super::tree::shorten(text)),
        _ => kind.to_string(),
    }
}

fn class(ctx: &mut Ctx, node: &Node) -> Option<Class> {
    let mut f = ctx.fields(node, "a class", CLASS_KEYS)?;
    f.what = what(&f, "class");
    let name = ctx
        .required(&f, "name", "a class name")
        .and_then(|n| ctx.name(n, "name"));
    let class_type = ctx
        .required(&f, "type", "root, local, shared")
        .and_then(|t| ctx.choice(t, "type", CLASS_TYPES));
    if class_type.is_none() {
        ctx.incomplete.insert(f.span);
    }
    // `None`: the list mixed both forms (already reported).
    let nodes = cluster_nodes(ctx, f.get("nodes"));
    let mixed = nodes.is_none();
    let nodes = nodes.unwrap_or_default();
    match (class_type, f.key_span("nodes")) {
        (Some(ClassType::Shared), _) if nodes.len() < 2 && !mixed => ctx.err_accepting(
            f.key_span("nodes").unwrap_or(f.span),
            format!(
                "shared {} needs `nodes` with at least 2 cluster nodes",
                f.what
            ),
            "nodes: [node1, node2]",
        ),
        (Some(t @ (ClassType::Root | ClassType::Local)), Some(span)) => ctx.err_accepting(
            span,
            format!(
                "`nodes` is only for shared classes; {} is {}",
                f.what,
                t.as_str()
            ),
            "type: shared, or no `nodes`",
        ),
        _ => {}
    }
    // The path only: the secrets themselves never appear in the YAML.
    let secret_file = f.get("secret_file").and_then(|n| {
        absolute_path(
            ctx,
            n,
            "secret_file",
            "the absolute path of a root-only file, e.g. /etc/dmclass/nm.secrets",
        )
    });
    if let (Some(t @ (ClassType::Root | ClassType::Local)), Some(span)) =
        (class_type, f.key_span("secret_file"))
    {
        ctx.err_accepting(
            span,
            format!(
                "`secret_file` is only for shared classes with a netmirror group; {} is {}",
                f.what,
                t.as_str()
            ),
            "type: shared with a netmirror group, or no `secret_file`",
        );
    }
    let hot_spare = ctx.boolean(f.get("hot_spare"), "hot_spare", false);
    let disks = ctx
        .list(f.get("disks"), "disks", "a list of disks")
        .iter()
        .filter_map(|d| disk(ctx, d))
        .collect();
    let groups = ctx
        .list(f.get("groups"), "groups", "a list of groups")
        .iter()
        .filter_map(|g| group(ctx, g))
        .collect();
    let volumes = ctx
        .list(f.get("volumes"), "volumes", "a list of volumes")
        .iter()
        .filter_map(|v| volume(ctx, v))
        .collect();
    let snapshots = ctx
        .list(f.get("snapshots"), "snapshots", "a list of snapshots")
        .iter()
        .filter_map(|s| snapshot(ctx, s))
        .collect();
    Some(Class {
        name: name?.value,
        class_type: class_type.unwrap_or(ClassType::Local),
        nodes,
        secret_file,
        hot_spare,
        disks,
        groups,
        volumes,
        snapshots,
        span: f.span,
    })
}

/// Serials and WWNs: non-empty printable text without blanks.
fn identifier(ctx: &mut Ctx, node: &Node, key: &str) -> Option<String> {
    let hint = "the disk's serial or WWN as udev reports it (no spaces)";
    let text = ctx.text(node, key, hint)?;
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        ctx.err_accepting(
            node.span,
            format!("`{key}` {} is empty or contains blanks", node.describe()),
            hint,
        );
        return None;
    }
    Some(text)
}

fn disk(ctx: &mut Ctx, node: &Node) -> Option<Disk> {
    let mut f = ctx.fields(node, "a disk", DISK_KEYS)?;
    f.what = what(&f, "disk");
    let name = ctx
        .required(&f, "name", "a disk name")
        .and_then(|n| ctx.name(n, "name"));
    let mut selector = None;
    let mut first_key: Option<&str> = None;
    for key in ["device", "serial", "wwn"] {
        let Some(v) = f.get(key) else { continue };
        if let Some(first) = first_key {
            ctx.err_accepting(
                f.key_span(key).unwrap_or(v.span),
                format!(
                    "{} already has `{first}`; a disk is selected one way only",
                    f.what
                ),
                "exactly one of device, serial, wwn",
            );
            continue;
        }
        first_key = Some(key);
        selector = match key {
            "device" => device_path(ctx, v, key).map(DiskSelector::Device),
            "serial" => identifier(ctx, v, key).map(DiskSelector::Serial),
            _ => identifier(ctx, v, key).map(DiskSelector::Wwn),
        };
    }
    if first_key.is_none() {
        ctx.err_accepting(
            f.span,
            format!("{} says neither device, serial nor wwn", f.what),
            "exactly one of device, serial, wwn",
        );
    }
    let selector = selector.unwrap_or_else(|| {
        ctx.incomplete.insert(f.span);
        DiskSelector::Device(PathBuf::new())
    });
    let role = f
        .get("role")
        .and_then(|r| ctx.choice(r, "role", ROLES))
        .unwrap_or(DiskRole::Member);
    let wipe = ctx.boolean(f.get("wipe"), "wipe", false);
    let vsan = ctx.boolean(f.get("vsan"), "vsan", false);
    let node_name = f.get("node").and_then(|n| {
        let text = ctx.text(n, "node", NODE_ACCEPTED)?;
        match check_node_name(&text) {
            Ok(()) => Some(text),
            Err(e) => {
                ctx.err_accepting(n.span, e.to_string(), NODE_ACCEPTED);
                None
            }
        }
    });
    Some(Disk {
        name: name?.value,
        selector,
        role,
        wipe,
        vsan,
        node: node_name,
        span: f.span,
    })
}

/// A power-of-two size within `[min, max]`, also a multiple of the sector size.
fn aligned_size(ctx: &mut Ctx, node: &Node, key: &str, min: u64, max: u64) -> Option<Bytes> {
    let size = ctx.size(node, key)?;
    if size.is_power_of_two()
        && size.0 >= min
        && size.0 <= max
        && size.0.is_multiple_of(SECTOR_SIZE)
    {
        Some(size)
    } else {
        ctx.err_accepting(
            node.span,
            format!(
                "`{key}` {size} is not a power of two between {} and {}",
                Bytes(min),
                Bytes(max)
            ),
            format!(
                "a power of two from {} to {}, e.g. 64KiB",
                Bytes(min),
                Bytes(max)
            ),
        );
        None
    }
}

fn group(ctx: &mut Ctx, node: &Node) -> Option<Group> {
    let mut f = ctx.fields(node, "a group", GROUP_KEYS)?;
    f.what = what(&f, "group");
    let name = ctx
        .required(&f, "name", "a group name")
        .and_then(|n| ctx.name(n, "name"));
    let mut kind = ctx
        .required(&f, "type", "mirror, stripe, concat, netmirror")
        .and_then(|t| ctx.choice(t, "type", GROUP_TYPES));
    let stripe_size = f.get("stripe_size");
    match (&mut kind, stripe_size) {
        (Some(GroupKind::Stripe { stripe_size: s }), Some(v)) => {
            if let Some(size) = aligned_size(ctx, v, "stripe_size", 4 * KIB, GIB) {
                *s = size;
            }
        }
        (Some(GroupKind::Stripe { .. }), None) => ctx.err_accepting(
            f.span,
            format!("stripe {} has no `stripe_size`", f.what),
            "a power of two from 4KiB to 1GiB, e.g. stripe_size: 64KiB",
        ),
        (Some(k), Some(_)) => ctx.err(
            f.key_span("stripe_size").unwrap_or(f.span),
            format!(
                "`stripe_size` applies to stripe groups only; {} is a {} group",
                f.what,
                k.as_str()
            ),
        ),
        _ => {}
    }
    if kind.is_none() {
        ctx.incomplete.insert(f.span);
    }
    let members_node = ctx.required(&f, "members", "a list of disk or group names");
    let members = ctx
        .list(members_node, "members", "a list of disk or group names")
        .iter()
        .filter_map(|m| ctx.reference(m, "members"))
        .collect();
    Some(Group {
        name: name?.value,
        kind: kind.unwrap_or(GroupKind::Mirror),
        members,
        span: f.span,
    })
}

/// A volume or snapshot size: non-zero whole sectors.
fn device_size(ctx: &mut Ctx, node: &Node, key: &str) -> Option<Bytes> {
    let size = ctx.size(node, key)?;
    if size.0 == 0 || !size.0.is_multiple_of(SECTOR_SIZE) {
        ctx.err_accepting(
            node.span,
            format!("`{key}` {size} is not a positive multiple of 512 bytes"),
            "a non-zero size in whole 512-byte sectors, e.g. 1GiB",
        );
        return None;
    }
    Some(size)
}

fn volume(ctx: &mut Ctx, node: &Node) -> Option<Volume> {
    let mut f = ctx.fields(node, "a volume", VOLUME_KEYS)?;
    f.what = what(&f, "volume");
    let name = ctx
        .required(&f, "name", "a volume name")
        .and_then(|n| ctx.name(n, "name"));
    let on = ctx
        .required(&f, "on", "the name of a group or single disk")
        .and_then(|n| ctx.reference(n, "on"));
    let partition = f.get("partition").and_then(|p| partition(ctx, p));
    if f.get("partition").is_some() && partition.is_none() {
        ctx.incomplete.insert(f.span); // reported; no follow-up errors
    }
    // No `size`: 0, which only a volume over a keep disk's partition may have (the
    // partition's size); validation says so for every other volume, where the class
    // is known.
    let size = match f.get("size") {
        None => Some(Bytes(0)),
        Some(s) => device_size(ctx, s, "size"),
    };
    let jrm = ctx.boolean(f.get("jrm"), "jrm", true);
    let engine = f
        .get("engine")
        .and_then(|e| ctx.choice(e, "engine", ENGINES))
        .unwrap_or_default();
    let mode = f
        .get("mode")
        .and_then(|m| ctx.choice(m, "mode", MODES))
        .unwrap_or_default();
    let autostart = ctx.boolean(f.get("autostart"), "autostart", true);
    let copy_rate = f.get("copy_rate").and_then(|r| copy_rate(ctx, r));
    if copy_rate.is_some() && engine == Engine::Mirror {
        ctx.err_accepting(
            f.key_span("copy_rate").unwrap_or(f.span),
            format!(
                "`copy_rate` applies to raid1 volumes only; {} uses engine mirror, which has no copy throttle",
                f.what
            ),
            "engine: raid1, or no `copy_rate`",
        );
    }
    if on.is_none() {
        ctx.incomplete.insert(f.span);
    }
    Some(Volume {
        name: name?.value,
        on: on.unwrap_or(Located {
            value: crate::config::Name(String::new()),
            span: f.span,
        }),
        size: size.unwrap_or(Bytes(MIB)),
        partition,
        jrm,
        engine,
        mode,
        autostart,
        copy_rate,
        span: f.span,
    })
}

/// Highest GPT entry number a `partition` may name (a standard table has 128).
const MAX_PARTITION: u32 = 128;

/// `partition`: a GPT entry number, 1 to 128.
fn partition(ctx: &mut Ctx, node: &Node) -> Option<u32> {
    let accepted = "a partition number of the keep disk, 1 to 128 (2 for /dev/sda2)";
    let n = ctx.text(node, "partition", accepted)?;
    match n.parse::<u32>() {
        Ok(v) if (1..=MAX_PARTITION).contains(&v) => Some(v),
        _ => {
            ctx.err_accepting(
                node.span,
                format!("`partition` must be a partition number, found `{n}`"),
                accepted,
            );
            None
        }
    }
}

/// Accepted `copy_rate` values (docs/configuration.md).
const COPY_RATE_ACCEPTED: &str =
    "a size per second per disk, a whole number of KiB from 1KiB to 1TiB, e.g. 50MiB";

/// `copy_rate`: a size read as "per second per disk", whole KiB (the kernel's unit).
fn copy_rate(ctx: &mut Ctx, node: &Node) -> Option<Bytes> {
    let rate = ctx.size(node, "copy_rate")?;
    if rate.0 == 0 || !rate.0.is_multiple_of(KIB) || rate > MAX_COPY_RATE {
        ctx.err_accepting(
            node.span,
            format!("`copy_rate` {rate} is not a whole number of KiB from 1KiB to 1TiB"),
            COPY_RATE_ACCEPTED,
        );
        return None;
    }
    Some(rate)
}

fn snapshot(ctx: &mut Ctx, node: &Node) -> Option<Snapshot> {
    let mut f = ctx.fields(node, "a snapshot", SNAPSHOT_KEYS)?;
    f.what = what(&f, "snapshot");
    let name = ctx
        .required(&f, "name", "a snapshot name")
        .and_then(|n| ctx.name(n, "name"));
    let origin = ctx
        .required(&f, "origin", "the name of a volume in this class")
        .and_then(|n| ctx.reference(n, "origin"));
    let cow = ctx
        .required(&f, "type", "cow, proxy")
        .and_then(|t| ctx.choice(t, "type", SNAPSHOT_TYPES));
    let (own, other, kind_word): (&[&str], &[&str], &str) = match cow {
        Some(true) => (&["size", "chunk"], &["on", "state", "copy"], "cow"),
        Some(false) => (&["on", "state", "copy"], &["size", "chunk"], "proxy"),
        None => (&[], &[], ""),
    };
    for key in other {
        if let Some(span) = f.key_span(key) {
            ctx.err_accepting(
                span,
                format!("`{key}` does not apply to {kind_word} {}", f.what),
                format!(
                    "for a {kind_word} snapshot: name, origin, type, {}",
                    own.join(", ")
                ),
            );
        }
    }
    let kind = match cow {
        Some(true) => {
            let size = ctx
                .required(
                    &f,
                    "size",
                    "a size for the copy-on-write store, e.g. 256MiB",
                )
                .and_then(|s| device_size(ctx, s, "size"));
            let chunk = f
                .get("chunk")
                .and_then(|c| aligned_size(ctx, c, "chunk", 4 * KIB, 512 * KIB))
                .unwrap_or(DEFAULT_COW_CHUNK);
            Some(SnapshotKind::Cow {
                size: size.unwrap_or(Bytes(MIB)),
                chunk,
            })
        }
        Some(false) => {
            let on = ctx
                .required(&f, "on", "the name of the group that holds the proxy")
                .and_then(|n| ctx.reference(n, "on"));
            let state = f
                .get("state")
                .and_then(|s| ctx.choice(s, "state", STATES))
                .unwrap_or(ProxyState::Joined);
            let copy = f
                .get("copy")
                .and_then(|c| ctx.choice(c, "copy", COPIES))
                .unwrap_or_default();
            on.map(|on| SnapshotKind::Proxy { on, state, copy })
        }
        None => None,
    };
    if kind.is_none() || origin.is_none() {
        ctx.incomplete.insert(f.span);
    }
    Some(Snapshot {
        name: name?.value,
        origin: origin.unwrap_or(Located {
            value: crate::config::Name(String::new()),
            span: f.span,
        }),
        kind: kind.unwrap_or(SnapshotKind::Cow {
            size: Bytes(MIB),
            chunk: DEFAULT_COW_CHUNK,
        }),
        span: f.span,
    })
}

/// What `nodes:` accepts.
const NODES_ACCEPTED: &str = "a list of node names (host ids 1, 2, ... in order), or of \
     {name: NODE, host_id: 1..2000, address: IP} (address: netmirror groups)";

/// The `nodes:` list of a class: plain names get host ids 1, 2, … in list order; the
/// mapping form gives each node's host id. Both forms in one list are refused (an
/// implicit id could collide with an explicit one unnoticed): `None`.
fn cluster_nodes(ctx: &mut Ctx, list: Option<&Node>) -> Option<Vec<ClusterNode>> {
    let items = ctx.list(list, "nodes", NODES_ACCEPTED);
    let mapped = items
        .iter()
        .filter(|n| matches!(n.kind, NodeKind::Map(_)))
        .count();
    if mapped != 0 && mapped != items.len() {
        if let Some(l) = list {
            ctx.err_accepting(
                l.span,
                "`nodes` mixes plain names and {name, host_id} mappings; give every node a \
                 host_id or none",
                NODES_ACCEPTED,
            );
        }
        return None;
    }
    let mut nodes: Vec<ClusterNode> = Vec::new();
    for (item, position) in items.iter().zip(1u64..) {
        let mut address = None;
        let (name_node, host_id) = if mapped == 0 {
            (item, HostId::new(position))
        } else {
            let Some(f) = ctx.fields(item, "a cluster node", &["name", "host_id", "address"])
            else {
                continue;
            };
            let name_node = ctx.required(&f, "name", NODE_ACCEPTED);
            let id = ctx
                .required(&f, "host_id", "a host id, 1 to 2000")
                .and_then(|h| host_id(ctx, h));
            // A bad address is reported; the node stays (no second error for it).
            address = f.get("address").and_then(|a| node_address(ctx, a));
            let Some(name_node) = name_node else {
                continue;
            };
            (name_node, id)
        };
        let Some(text) = ctx.text(name_node, "nodes", NODE_ACCEPTED) else {
            continue;
        };
        let Some(host_id) = host_id else {
            continue;
        };
        if let Err(e) = check_node_name(&text) {
            ctx.err_accepting(name_node.span, e.to_string(), NODE_ACCEPTED);
        } else if nodes.iter().any(|n| n.name == text) {
            ctx.err(name_node.span, format!("node `{text}` is listed twice"));
        } else if let Some(other) = nodes.iter().find(|n| n.host_id == host_id) {
            ctx.err_accepting(
                item.span,
                format!(
                    "host_id {host_id} is given to both `{}` and `{text}`; each node needs its own",
                    other.name
                ),
                "a host id no other node of the class has",
            );
        } else {
            nodes.push(ClusterNode {
                name: text,
                host_id,
                address,
            });
        }
    }
    Some(nodes)
}

/// An `address:` value: an IPv4 or IPv6 address another node can reach
/// ([`crate::address_problem`]).
fn node_address(ctx: &mut Ctx, node: &Node) -> Option<std::net::IpAddr> {
    const ACCEPTED: &str = "a unicast IPv4 or IPv6 address of the mirror network";
    let text = ctx.text(node, "address", ACCEPTED)?;
    let Ok(addr) = text.parse::<std::net::IpAddr>() else {
        ctx.err_accepting(
            node.span,
            format!("address `{text}` is not an IP address (a host name is not resolved)"),
            ACCEPTED,
        );
        return None;
    };
    if let Some(why) = crate::config::address_problem(addr) {
        ctx.err_accepting(node.span, format!("address `{text}` is {why}"), ACCEPTED);
        return None;
    }
    Some(addr)
}

/// A `host_id:` value: an integer 1..=2000.
fn host_id(ctx: &mut Ctx, node: &Node) -> Option<HostId> {
    let text = ctx.text(node, "host_id", "a host id, 1 to 2000")?;
    let id = text.parse::<u64>().ok().and_then(HostId::new);
    if id.is_none() {
        ctx.err_accepting(
            node.span,
            format!("host_id `{text}` is not a number from 1 to {}", HostId::MAX),
            "a host id, 1 to 2000",
        );
    }
    id
}
