//! Relations between objects: names, references, membership, placement rules.
//! Works on the typed [`Config`], so it also checks configurations built in code
//! (e.g. read back from on-disk metadata).

use super::values::Ctx;
use crate::config::{
    Class, ClassType, Config, Disk, DiskRole, DiskSelector, Group, GroupKind, Name, Snapshot,
    SnapshotKind, Span,
};
use std::collections::{BTreeSet, HashMap};

/// Where something was first seen, for "first at line N" hints.
fn at(span: Span) -> String {
    format!("line {}, column {}", span.line, span.column)
}

/// Check everything that relates objects to each other.
pub(crate) fn check(ctx: &mut Ctx, config: &Config) {
    let mut class_names: HashMap<&Name, Span> = HashMap::new();
    let mut root: Option<Span> = None;
    let mut selectors: HashMap<&DiskSelector, (&Name, &Name, Span)> = HashMap::new();
    let excluded: BTreeSet<&std::path::Path> =
        config.exclude.iter().map(|e| e.value.as_path()).collect();
    for class in &config.classes {
        if let Some(first) = class_names.insert(&class.name, class.span) {
            ctx.err(
                class.span,
                format!(
                    "class `{}` is declared twice (first at {})",
                    class.name,
                    at(first)
                ),
            );
        }
        if class.class_type == ClassType::Root && !ctx.incomplete.contains(&class.span) {
            if let Some(first) = root {
                ctx.err_accepting(
                    class.span,
                    format!("class `{}` is a second root class (the first is at {}); a node has one system disk", class.name, at(first)),
                    "at most one class with type: root",
                );
            } else {
                root = Some(class.span);
            }
        }
        for disk in &class.disks {
            if ctx.incomplete.contains(&disk.span) {
                continue;
            }
            if let Some((c, d, first)) = selectors.get(&disk.selector) {
                ctx.err(
                    disk.span,
                    format!(
                        "disk `{}` selects the same disk as `{c}/{d}` at {}",
                        disk.name,
                        at(*first)
                    ),
                );
            } else {
                selectors.insert(&disk.selector, (&class.name, &disk.name, disk.span));
            }
            if let DiskSelector::Device(p) = &disk.selector {
                if excluded.contains(p.as_path()) {
                    ctx.err(
                        disk.span,
                        format!(
                            "disk `{}` is {}, which `exclude` lists; it must not be registered (rule N3: a KVM host excludes the disks only its guests use)",
                            disk.name,
                            p.display()
                        ),
                    );
                }
            }
        }
        ClassCheck::new(ctx, class).run();
    }
}

/// What a name in a class's disk/group namespace refers to.
#[derive(Clone, Copy)]
enum Obj<'c> {
    Disk(&'c Disk),
    Group(&'c Group),
}

struct ClassCheck<'a, 'f, 'c> {
    ctx: &'a mut Ctx<'f>,
    class: &'c Class,
    /// Disks and groups share one namespace (a mirror member or `on` may be either).
    objs: HashMap<&'c Name, Obj<'c>>,
    /// Which group uses each disk or group as a member.
    parent: HashMap<&'c Name, (&'c Name, Span)>,
}

impl<'a, 'f, 'c> ClassCheck<'a, 'f, 'c> {
    fn new(ctx: &'a mut Ctx<'f>, class: &'c Class) -> Self {
        ClassCheck {
            ctx,
            class,
            objs: HashMap::new(),
            parent: HashMap::new(),
        }
    }

    fn known(&self) -> bool {
        !self.ctx.incomplete.contains(&self.class.span)
    }

    fn run(mut self) {
        let class = self.class;
        for d in &class.disks {
            self.declare(&d.name, d.span, Obj::Disk(d));
            self.disk_rules(d);
        }
        for g in &class.groups {
            self.declare(&g.name, g.span, Obj::Group(g));
        }
        for g in &class.groups {
            self.group_rules(g);
        }
        let netmirror = class.groups.iter().any(|g| g.kind == GroupKind::Netmirror);
        if class.secret_file.is_some() && class.class_type == ClassType::Shared && !netmirror {
            self.ctx.err_accepting(
                class.span,
                format!(
                    "class `{}` has `secret_file` but no netmirror group: the secrets \
                     authenticate the mirror's network links",
                    class.name
                ),
                "a netmirror group, or no `secret_file`",
            );
        }
        let mut devices: HashMap<&Name, Span> = HashMap::new();
        let items = class
            .volumes
            .iter()
            .map(|v| (&v.name, v.span))
            .chain(class.snapshots.iter().map(|s| (&s.name, s.span)));
        for (name, span) in items {
            if let Some(first) = devices.insert(name, span) {
                self.ctx.err(
                    span,
                    format!("`{name}` is already a volume or snapshot of class `{}` at {}; both become devices and share one namespace", class.name, at(first)),
                );
            }
        }
        for v in &class.volumes {
            if self.ctx.incomplete.contains(&v.span) {
                continue;
            }
            let what = format!("volume `{}`", v.name);
            self.placement(&what, &v.on.value, v.on.span, true);
        }
        self.partition_rules();
        for s in &class.snapshots {
            if !self.ctx.incomplete.contains(&s.span) {
                self.snapshot_rules(s);
            }
        }
    }

    /// `partition` belongs to a root class with a keep disk, where every volume
    /// mirrors one of the keep disk's partitions in place (docs/configuration.md):
    /// each partition at most once, on a group that holds the keep disk.
    fn partition_rules(&mut self) {
        let class = self.class;
        if !self.known() {
            return;
        }
        // A keep disk outside a root class is reported by `disk_rules` already.
        let keep = (class.class_type == ClassType::Root)
            .then(|| class.disks.iter().find(|d| d.role == DiskRole::Keep))
            .flatten();
        let mut seen: HashMap<u32, (&Name, Span)> = HashMap::new();
        for v in &class.volumes {
            if self.ctx.incomplete.contains(&v.span) {
                continue;
            }
            if v.size.0 == 0 && keep.is_none() {
                self.ctx.err_accepting(
                    v.span,
                    format!("volume `{}` has no `size`", v.name),
                    "a size, e.g. 10GiB",
                );
            }
            let Some(keep) = keep else {
                if v.partition.is_some() {
                    self.ctx.err_accepting(
                        v.span,
                        format!(
                            "volume `{}` names a `partition`, but class `{}` has no disk with role keep; only a root class converting a kept system disk maps volumes to partitions",
                            v.name, class.name
                        ),
                        "`size` instead of `partition`",
                    );
                }
                continue;
            };
            // Without `partition`, the planner matches the volume to a partition by
            // its PARTLABEL (it needs the keep disk's table, which the file lacks).
            let Some(n) = v.partition else {
                continue;
            };
            if let Some((first, span)) = seen.insert(n, (&v.name, v.span)) {
                self.ctx.err(
                    v.span,
                    format!(
                        "volume `{}` mirrors partition {n}, which volume `{first}` at {} already mirrors",
                        v.name,
                        at(span)
                    ),
                );
            }
            let mut under = BTreeSet::new();
            self.leaf_disks(&v.on.value, 0, &mut under);
            if !under.is_empty() && !under.contains(&keep.name) {
                self.ctx.err_accepting(
                    v.on.span,
                    format!(
                        "volume `{}` mirrors partition {n} of keep disk `{}`, but its group `{}` does not hold that disk",
                        v.name, keep.name, v.on.value
                    ),
                    "the mirror group whose members include the keep disk",
                );
            }
        }
    }

    fn declare(&mut self, name: &'c Name, span: Span, obj: Obj<'c>) {
        // The first declaration wins; later ones are reported.
        if let Some(first) = self.objs.get(name) {
            let first = match first {
                Obj::Disk(d) => d.span,
                Obj::Group(g) => g.span,
            };
            self.ctx.err(
                span,
                format!("`{name}` is already a disk or group of class `{}` at {}; disks and groups share one namespace", self.class.name, at(first)),
            );
        } else {
            self.objs.insert(name, obj);
        }
    }

    fn disk_rules(&mut self, d: &Disk) {
        let class = self.class;
        if !self.known() {
            return;
        }
        if d.role == DiskRole::Keep && class.class_type != ClassType::Root {
            self.ctx.err_accepting(
                d.span,
                format!(
                    "disk `{}` has role keep, which only a root class accepts; class `{}` is {}",
                    d.name,
                    class.name,
                    class.class_type.as_str()
                ),
                "member, spare, single",
            );
        }
        if let Some(node) = &d.node {
            if class.class_type != ClassType::Shared {
                self.ctx.err(
                    d.span,
                    format!("disk `{}` names node `{node}`, but only disks of a shared class belong to one node", d.name),
                );
            } else if class.node(node).is_none() {
                self.ctx.err_accepting(
                    d.span,
                    format!(
                        "disk `{}` names node `{node}`, which is not in the nodes of class `{}`",
                        d.name, class.name
                    ),
                    class.node_names().join(", "),
                );
            }
        }
    }

    /// Names that could stand where a member (`placement == false`) or a volume's
    /// `on` (`placement == true`, singles only when `disks`) is expected.
    fn candidates(&self, disks: bool, groups: bool, placement: bool) -> String {
        let mut names: Vec<&str> = Vec::new();
        if disks {
            names.extend(
                self.class
                    .disks
                    .iter()
                    .filter(|d| {
                        if placement {
                            d.role == DiskRole::Single
                        } else {
                            matches!(d.role, DiskRole::Member | DiskRole::Keep)
                        }
                    })
                    .map(|d| d.name.as_str()),
            );
        }
        if groups {
            names.extend(
                self.class
                    .groups
                    .iter()
                    .filter(|g| !placement || !self.parent.contains_key(&g.name))
                    .map(|g| g.name.as_str()),
            );
        }
        if names.is_empty() {
            "none declared in this class".to_string()
        } else {
            names.join(", ")
        }
    }

    /// A netmirror mirrors between two nodes, each exporting its disk at its address.
    fn netmirror_nodes(&mut self, g: &'c Group) {
        const ACCEPTED: &str = "nodes: [{name: NODE, host_id: N, address: IP}, ...] with two nodes";
        let class = self.class;
        if class.nodes.len() != 2 {
            self.ctx.err_accepting(
                g.span,
                format!(
                    "netmirror group `{}` mirrors between two nodes; class `{}` has {}",
                    g.name,
                    class.name,
                    class.nodes.len()
                ),
                ACCEPTED,
            );
            return;
        }
        let missing: Vec<&str> = class
            .nodes
            .iter()
            .filter(|n| n.address.is_none())
            .map(|n| n.name.as_str())
            .collect();
        if !missing.is_empty() {
            self.ctx.err_accepting(
                g.span,
                format!(
                    "netmirror group `{}` needs each node's address on the mirror network; {}",
                    g.name,
                    match missing.as_slice() {
                        [one] => format!("node {one} has none"),
                        _ => format!("nodes {} have none", missing.join(" and ")),
                    }
                ),
                ACCEPTED,
            );
        }
    }

    fn group_rules(&mut self, g: &'c Group) {
        let class = self.class;
        let kind_known = !self.ctx.incomplete.contains(&g.span);
        if kind_known && self.known() {
            let allowed = match (class.class_type, g.kind) {
                (ClassType::Root, GroupKind::Mirror) => true,
                (ClassType::Root, _) => false,
                (_, GroupKind::Netmirror) => class.class_type == ClassType::Shared,
                _ => true,
            };
            if !allowed {
                let (msg, acc) = if class.class_type == ClassType::Root {
                    ("a root class holds mirror groups only", "type: mirror")
                } else {
                    (
                        "netmirror groups mirror between nodes and need a shared class",
                        "mirror, stripe, concat",
                    )
                };
                self.ctx.err_accepting(
                    g.span,
                    format!("group `{}` is a {} group: {msg}", g.name, g.kind.as_str()),
                    acc,
                );
            }
        }
        if kind_known {
            let (min, max) = match g.kind {
                // A root class's boot-environment group may be one disk (GDS allows
                // a mirror group of one disk; it holds copies, not the system).
                GroupKind::Mirror if class.class_type == ClassType::Root => (1, 8),
                GroupKind::Mirror => (2, 8),
                GroupKind::Stripe { .. } | GroupKind::Concat => (2, 64),
                GroupKind::Netmirror => (2, 2),
            };
            let n = g.members.len();
            if n < min || n > max {
                let range = if min == max {
                    format!("exactly {min}")
                } else {
                    format!("{min} to {max}")
                };
                self.ctx.err_accepting(
                    g.span,
                    format!("{} group `{}` has {n} member(s)", g.kind.as_str(), g.name),
                    format!("{range} members"),
                );
            }
        }
        if kind_known && g.kind == GroupKind::Netmirror && class.class_type == ClassType::Shared {
            self.netmirror_nodes(g);
        }
        let mut nodes_seen: HashMap<&str, Span> = HashMap::new();
        for m in &g.members {
            let span = m.span;
            if let Some((other, first)) = self.parent.get(&m.value) {
                let msg = if *other == &g.name {
                    format!("`{}` is listed twice in group `{}`", m.value, g.name)
                } else {
                    format!("`{}` is already a member of group `{other}` at {}; a disk or group belongs to one group", m.value, at(*first))
                };
                self.ctx.err(span, msg);
                continue;
            }
            self.parent.insert(&m.value, (&g.name, span));
            if m.value == g.name {
                self.ctx
                    .err(span, format!("group `{}` cannot contain itself", g.name));
                continue;
            }
            let mirror = g.kind == GroupKind::Mirror;
            match self.objs.get(&m.value).copied() {
                None => {
                    let acc = self.candidates(true, mirror, false);
                    self.ctx.err_accepting(
                        span,
                        format!(
                            "group `{}` names `{}`, which is no {} of class `{}`",
                            g.name,
                            m.value,
                            if mirror { "disk or group" } else { "disk" },
                            class.name
                        ),
                        acc,
                    );
                }
                Some(Obj::Group(sub)) => {
                    let sub_ok = matches!(sub.kind, GroupKind::Stripe { .. } | GroupKind::Concat);
                    if !kind_known || self.ctx.incomplete.contains(&sub.span) {
                    } else if !mirror {
                        self.ctx.err_accepting(
                            span,
                            format!(
                                "{} group `{}` lists group `{}`; its members must be disks",
                                g.kind.as_str(),
                                g.name,
                                sub.name
                            ),
                            "disk names",
                        );
                    } else if !sub_ok {
                        self.ctx.err_accepting(span, format!("mirror group `{}` lists {} group `{}`; only stripe or concat groups may sit under a mirror", g.name, sub.kind.as_str(), sub.name), "disks, stripe groups, concat groups");
                    }
                }
                Some(Obj::Disk(d)) => {
                    if matches!(d.role, DiskRole::Spare | DiskRole::Single) {
                        let why = if d.role == DiskRole::Spare {
                            "a hot spare joins a mirror only when a leg fails"
                        } else {
                            "volumes sit directly on a single disk"
                        };
                        self.ctx.err_accepting(
                            span,
                            format!(
                                "disk `{}` has role {} and cannot be a group member: {why}",
                                d.name,
                                if d.role == DiskRole::Spare {
                                    "spare"
                                } else {
                                    "single"
                                }
                            ),
                            "disks with role member (or keep in a root class)",
                        );
                    }
                    if g.kind == GroupKind::Netmirror && kind_known {
                        match &d.node {
                            None => self.ctx.err_accepting(
                                span,
                                format!(
                                    "netmirror group `{}` uses disk `{}`, which names no `node`",
                                    g.name, d.name
                                ),
                                "disks with `node:` set to one of the class nodes",
                            ),
                            Some(n) => {
                                if let Some(first) = nodes_seen.insert(n.as_str(), span) {
                                    self.ctx.err(span, format!("netmirror group `{}` has two disks on node `{n}` (the other at {}); it needs one disk per node", g.name, at(first)));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `name` must be a group that is not a member of another group or, when
    /// `single_ok`, a single disk. Returns the group when it is one.
    fn placement(
        &mut self,
        what: &str,
        name: &Name,
        span: Span,
        single_ok: bool,
    ) -> Option<&'c Group> {
        let class = self.class;
        let hint = if single_ok {
            "a group that is no member of another group, or a disk with role single"
        } else {
            "a group that is no member of another group"
        };
        match self.objs.get(name).copied() {
            None => {
                let acc = self.candidates(single_ok, true, true);
                self.ctx.err_accepting(
                    span,
                    format!(
                        "{what} is on `{name}`, which is no group{} of class `{}`",
                        if single_ok { " or disk" } else { "" },
                        class.name
                    ),
                    acc,
                );
                None
            }
            Some(Obj::Disk(d)) => {
                if !single_ok {
                    self.ctx.err_accepting(
                        span,
                        format!("{what} is on disk `{}`; a proxy needs a group", d.name),
                        hint,
                    );
                } else if d.role != DiskRole::Single {
                    self.ctx.err_accepting(
                        span,
                        format!("{what} is on disk `{}`, whose role is not single", d.name),
                        hint,
                    );
                }
                None
            }
            Some(Obj::Group(g)) => {
                if let Some((parent, _)) = self.parent.get(name) {
                    self.ctx.err_accepting(span, format!("{what} is on group `{name}`, which is a member of group `{parent}`; put it on `{parent}`"), hint);
                }
                Some(g)
            }
        }
    }

    /// Every disk under `name` (itself, or a group's members, one level of nesting).
    fn leaf_disks(&self, name: &'c Name, depth: u8, out: &mut BTreeSet<&'c Name>) {
        match self.objs.get(name) {
            Some(Obj::Disk(_)) => {
                out.insert(name);
            }
            Some(Obj::Group(g)) if depth < 3 => {
                for m in &g.members {
                    self.leaf_disks(&m.value, depth + 1, out);
                }
            }
            _ => {}
        }
    }

    fn snapshot_rules(&mut self, s: &'c Snapshot) {
        let class = self.class;
        let origin = class.volumes.iter().find(|v| v.name == s.origin.value);
        let Some(origin) = origin else {
            let msg = if class.snapshots.iter().any(|o| o.name == s.origin.value) {
                format!("snapshot `{}` has origin `{}`, which is a snapshot; the origin must be a volume", s.name, s.origin.value)
            } else {
                format!(
                    "snapshot `{}` has origin `{}`, which is no volume of class `{}`",
                    s.name, s.origin.value, class.name
                )
            };
            let names: Vec<&str> = class.volumes.iter().map(|v| v.name.as_str()).collect();
            let acc = if names.is_empty() {
                "none declared in this class".to_string()
            } else {
                names.join(", ")
            };
            self.ctx.err_accepting(s.origin.span, msg, acc);
            return;
        };
        let SnapshotKind::Proxy { on, .. } = &s.kind else {
            return;
        };
        let what = format!("proxy `{}`", s.name);
        let Some(group) = self.placement(&what, &on.value, on.span, false) else {
            return;
        };
        if group.name == origin.on.value {
            self.ctx.err_accepting(
                on.span,
                format!("proxy `{}` is on `{}`, the group of its master `{}`; a proxy needs another group", s.name, group.name, origin.name),
                "a group other than the master's",
            );
            return;
        }
        let mut mine = BTreeSet::new();
        let mut theirs = BTreeSet::new();
        self.leaf_disks(&group.name, 0, &mut mine);
        self.leaf_disks(&origin.on.value, 0, &mut theirs);
        let shared: Vec<&str> = mine.intersection(&theirs).map(|n| n.as_str()).collect();
        if !shared.is_empty() {
            self.ctx.err(
                on.span,
                format!(
                    "proxy `{}` on `{}` shares disk(s) {} with its master `{}`",
                    s.name,
                    group.name,
                    shared.join(", "),
                    origin.name
                ),
            );
        }
    }
}

/// Value rules that the parser enforces while reading, re-checked for a
/// configuration built in code.
pub(crate) fn check_values(ctx: &mut Ctx, config: &Config) {
    use crate::name::{check_node_name, NAME_ACCEPTED};
    use crate::size::{Bytes, GIB, KIB, SECTOR_SIZE};
    if config.version != 1 {
        ctx.err_accepting(
            Span { line: 1, column: 1 },
            format!("unsupported version {}", config.version),
            "1",
        );
    }
    let name = |ctx: &mut Ctx, n: &Name, span: Span| {
        if let Err(e) = Name::new(n.as_str()) {
            ctx.err_accepting(span, e.to_string(), NAME_ACCEPTED);
        }
    };
    let pow2 = |b: Bytes, min: u64, max: u64| b.is_power_of_two() && b.0 >= min && b.0 <= max;
    let sized = |b: Bytes| b.0 > 0 && b.0.is_multiple_of(SECTOR_SIZE);
    for c in &config.classes {
        name(ctx, &c.name, c.span);
        for n in &c.nodes {
            if let Err(e) = check_node_name(&n.name) {
                ctx.err(c.span, e.to_string());
            }
        }
        for d in &c.disks {
            name(ctx, &d.name, d.span);
        }
        for g in &c.groups {
            name(ctx, &g.name, g.span);
            if let GroupKind::Stripe { stripe_size } = g.kind {
                if !pow2(stripe_size, 4 * KIB, GIB) {
                    ctx.err(g.span, format!("group `{}`: stripe size {stripe_size} is not a power of two from 4KiB to 1GiB", g.name));
                }
            }
        }
        // Size 0 stands for "the partition's size" on a root class keeping a disk
        // (parse reports a missing size everywhere else).
        let keeps =
            c.class_type == ClassType::Root && c.disks.iter().any(|d| d.role == DiskRole::Keep);
        for v in &c.volumes {
            name(ctx, &v.name, v.span);
            if !(sized(v.size) || keeps && v.size.0 == 0) {
                ctx.err(
                    v.span,
                    format!(
                        "volume `{}`: size {} is not a positive multiple of 512 bytes",
                        v.name, v.size
                    ),
                );
            }
        }
        for s in &c.snapshots {
            name(ctx, &s.name, s.span);
            if let SnapshotKind::Cow { size, chunk } = s.kind {
                if !sized(size) || !pow2(chunk, 4 * KIB, 512 * KIB) {
                    ctx.err(
                        s.span,
                        format!(
                            "snapshot `{}`: size {size} / chunk {chunk} out of range",
                            s.name
                        ),
                    );
                }
            }
        }
    }
}
