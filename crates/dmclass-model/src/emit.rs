//! Typed [`Config`] → canonical YAML that [`crate::parse`] reads back to the same
//! configuration (spans aside). Every default is written out, so the file says
//! exactly what will be built.

use crate::config::{
    Class, Config, CopyMode, Disk, DiskRole, DiskSelector, Engine, Group, GroupKind, Mode,
    ProxyState, Snapshot, SnapshotKind, Volume,
};
use std::fmt::Write as _;

/// Render `config` as canonical YAML (block style, two-space indents, fixed key order).
pub fn to_yaml(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "version: {}", config.version);
    let env = config.environment.map_or("auto", |e| e.as_str());
    let _ = writeln!(out, "environment: {env}");
    if config.exclude.is_empty() {
        out.push_str("exclude: []\n");
    } else {
        out.push_str("exclude:\n");
        for e in &config.exclude {
            let _ = writeln!(out, "  - {}", scalar(&e.value.to_string_lossy()));
        }
    }
    if config.classes.is_empty() {
        out.push_str("classes: []\n");
    } else {
        out.push_str("classes:\n");
        for c in &config.classes {
            class(&mut out, c);
        }
    }
    out
}

fn class(out: &mut String, c: &Class) {
    let _ = writeln!(out, "  - name: {}", scalar(c.name.as_str()));
    let _ = writeln!(out, "    type: {}", c.class_type.as_str());
    if !c.nodes.is_empty() {
        // The short form when it gives the same host ids.
        let short = crate::config::ClusterNode::ids_in_order(&c.nodes)
            && c.nodes.iter().all(|n| n.address.is_none());
        let nodes: Vec<String> = if short {
            c.nodes.iter().map(|n| scalar(&n.name)).collect()
        } else {
            c.nodes
                .iter()
                .map(|n| match n.address {
                    Some(a) => format!(
                        "{{name: {}, host_id: {}, address: {}}}",
                        scalar(&n.name),
                        n.host_id,
                        scalar(&a.to_string())
                    ),
                    None => format!("{{name: {}, host_id: {}}}", scalar(&n.name), n.host_id),
                })
                .collect()
        };
        let _ = writeln!(out, "    nodes: [{}]", nodes.join(", "));
    }
    if let Some(p) = &c.secret_file {
        let _ = writeln!(out, "    secret_file: {}", scalar(&p.display().to_string()));
    }
    let _ = writeln!(out, "    hot_spare: {}", c.hot_spare);
    list(out, "disks", &c.disks, disk);
    list(out, "groups", &c.groups, group);
    list(out, "volumes", &c.volumes, volume);
    list(out, "snapshots", &c.snapshots, snapshot);
}

/// A list of mappings under a class, one `{...}` flow mapping per line.
fn list<T>(out: &mut String, key: &str, items: &[T], entry: fn(&T) -> Vec<(&'static str, String)>) {
    if items.is_empty() {
        let _ = writeln!(out, "    {key}: []");
        return;
    }
    let _ = writeln!(out, "    {key}:");
    for item in items {
        let fields: Vec<String> = entry(item)
            .into_iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(out, "      - {{{}}}", fields.join(", "));
    }
}

fn disk(d: &Disk) -> Vec<(&'static str, String)> {
    let mut f = vec![("name", scalar(d.name.as_str()))];
    f.push(match &d.selector {
        DiskSelector::Device(p) => ("device", scalar(&p.to_string_lossy())),
        DiskSelector::Serial(s) => ("serial", scalar(s)),
        DiskSelector::Wwn(w) => ("wwn", scalar(w)),
    });
    let role = match d.role {
        DiskRole::Member => "member",
        DiskRole::Spare => "spare",
        DiskRole::Keep => "keep",
        DiskRole::Single => "single",
    };
    f.push(("role", role.to_string()));
    f.push(("wipe", d.wipe.to_string()));
    f.push(("vsan", d.vsan.to_string()));
    if let Some(n) = &d.node {
        f.push(("node", scalar(n)));
    }
    f
}

fn group(g: &Group) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("name", scalar(g.name.as_str())),
        ("type", g.kind.as_str().to_string()),
    ];
    if let GroupKind::Stripe { stripe_size } = g.kind {
        f.push(("stripe_size", stripe_size.to_string()));
    }
    let members: Vec<String> = g.members.iter().map(|m| scalar(m.value.as_str())).collect();
    f.push(("members", format!("[{}]", members.join(", "))));
    f
}

fn volume(v: &Volume) -> Vec<(&'static str, String)> {
    let engine = match v.engine {
        Engine::Raid1 => "raid1",
        Engine::Mirror => "mirror",
    };
    let mode = match v.mode {
        Mode::Rw => "rw",
        Mode::Ro => "ro",
    };
    let mut f = vec![
        ("name", scalar(v.name.as_str())),
        ("on", scalar(v.on.value.as_str())),
    ];
    if let Some(p) = v.partition {
        f.push(("partition", p.to_string()));
    }
    // Size 0 means "the partition's size" (written without `size`).
    if v.size.0 != 0 {
        f.push(("size", v.size.to_string()));
    }
    f.extend([
        ("jrm", v.jrm.to_string()),
        ("engine", engine.to_string()),
        ("mode", mode.to_string()),
        ("autostart", v.autostart.to_string()),
    ]);
    if let Some(rate) = v.copy_rate {
        f.push(("copy_rate", rate.to_string()));
    }
    f
}

fn snapshot(s: &Snapshot) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("name", scalar(s.name.as_str())),
        ("origin", scalar(s.origin.value.as_str())),
    ];
    match &s.kind {
        SnapshotKind::Cow { size, chunk } => {
            f.push(("type", "cow".to_string()));
            f.push(("size", size.to_string()));
            f.push(("chunk", chunk.to_string()));
        }
        SnapshotKind::Proxy { on, state, copy } => {
            f.push(("type", "proxy".to_string()));
            f.push(("on", scalar(on.value.as_str())));
            let state = match state {
                ProxyState::Joined => "joined",
                ProxyState::Parted => "parted",
            };
            let copy = match copy {
                CopyMode::Software => "software",
                CopyMode::Offload => "offload",
            };
            f.push(("state", state.to_string()));
            f.push(("copy", copy.to_string()));
        }
    }
    f
}

/// Text as a YAML scalar: plain when that cannot be misread (inside flow
/// collections too), double-quoted with escapes otherwise.
pub(crate) fn scalar(text: &str) -> String {
    let plain_ok = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-' | '/' | '@'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '/' || c == '_')
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain_ok {
        return text.to_string();
    }
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
