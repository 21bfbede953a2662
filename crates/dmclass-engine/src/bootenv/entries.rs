//! Boot entries of environments, and which environment boots next.
//!
//! Each environment has one UEFI boot entry per ESP of the class, labelled
//! `dmclass CLASS bootenv ENV (DISK)`, booting the same loader as the class's own
//! entries with the environment's command line as load options. The primary
//! environment boots through every other entry on the class's ESPs (the disks'
//! entries `dmclass CLASS/DISK` that `esp sync` registers, or the admin's own).
//! `BootNext` (one boot) wins over `BootOrder` (every boot), as in the firmware.

use crate::root::boot_entry::{BootEntry, BootVariables, EspOfDisk};

const PREFIX: &str = "dmclass ";
const MID: &str = " bootenv ";

/// An environment entry's label, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvLabel {
    /// The class.
    pub class: String,
    /// The environment.
    pub env: String,
    /// The disk whose ESP the entry boots from.
    pub disk: String,
}

/// The label of environment `env`'s entry on `disk`'s ESP.
pub fn label(class: &str, env: &str, disk: &str) -> String {
    format!("{PREFIX}{class}{MID}{env} ({disk})")
}

/// An environment entry's label, read back (`None`: another entry).
pub fn parse_label(label: &str) -> Option<EnvLabel> {
    let rest = label.trim().strip_prefix(PREFIX)?;
    let (class, rest) = rest.split_once(MID)?;
    let (env, disk) = rest.strip_suffix(')')?.rsplit_once(" (")?;
    let plain = |s: &str| !s.is_empty() && s.chars().all(dmclass_model::name::is_name_char);
    (plain(class) && plain(env) && plain(disk)).then(|| EnvLabel {
        class: class.to_owned(),
        env: env.to_owned(),
        disk: disk.to_owned(),
    })
}

/// The variables without any environment's entries: what is left boots the primary
/// environment (`esp sync` counts a disk's entries among these).
pub fn without_envs(v: &BootVariables) -> BootVariables {
    let mut out = v.clone();
    out.entries.retain(|e| parse_label(&e.label).is_none());
    out
}

/// Environment `env`'s entries of `class`, in boot-order order first.
pub fn entries_of<'a>(v: &'a BootVariables, class: &str, env: &str) -> Vec<&'a BootEntry> {
    let mut out: Vec<&BootEntry> = v
        .entries
        .iter()
        .filter(|e| parse_label(&e.label).is_some_and(|l| l.class == class && l.env == env))
        .collect();
    out.sort_by_key(|e| {
        v.order
            .iter()
            .position(|n| *n == e.num)
            .unwrap_or(usize::MAX)
    });
    out
}

/// The class's environment an entry boots: a named one, [`super::PRIMARY`] for any
/// other entry on one of the class's ESPs, `None` for entries elsewhere (another disk,
/// the firmware's own).
pub fn env_of_entry(e: &BootEntry, class: &str, esps: &[EspOfDisk]) -> Option<String> {
    match parse_label(&e.label) {
        Some(l) if l.class == class => Some(l.env),
        Some(_) => None,
        None => e
            .partition
            .is_some_and(|p| esps.iter().any(|x| x.partition == p))
            .then(|| super::PRIMARY.to_owned()),
    }
}

/// What the next boot starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextBoot {
    /// The entry (`Boot####`).
    pub entry: u16,
    /// Its label.
    pub label: String,
    /// The class's environment it boots (`None`: not one of this class's).
    pub env: Option<String>,
    /// Taken once (`BootNext`), then the boot order again.
    pub once: bool,
}

/// The entry the firmware takes next: `BootNext`, else the first active entry of
/// `BootOrder`.
pub fn next_boot(v: &BootVariables, class: &str, esps: &[EspOfDisk]) -> Option<NextBoot> {
    let find = |n: u16| v.entries.iter().find(|e| e.num == n);
    let (e, once) = match v.next.and_then(find) {
        Some(e) => (e, true),
        None => (
            v.order.iter().filter_map(|n| find(*n)).find(|e| e.active)?,
            false,
        ),
    };
    Some(NextBoot {
        entry: e.num,
        label: e.label.clone(),
        env: env_of_entry(e, class, esps),
        once,
    })
}

/// `BootOrder` with `first` ahead of every other entry (their own order kept).
pub fn order_first(v: &BootVariables, first: &[u16]) -> Vec<u16> {
    let mut out = first.to_vec();
    out.extend(v.order.iter().filter(|n| !first.contains(n)));
    out
}

/// Of `candidates`, the entry on the ESP this boot came through (the disk the firmware
/// just read), else the first.
pub fn on_current_disk<'a>(
    v: &BootVariables,
    candidates: &[&'a BootEntry],
) -> Option<&'a BootEntry> {
    let current = v
        .current
        .and_then(|c| v.entries.iter().find(|e| e.num == c))
        .and_then(|e| e.partition);
    candidates
        .iter()
        .find(|e| current.is_some() && e.partition == current)
        .or_else(|| candidates.first())
        .copied()
}

/// The numbers of `candidates`, the one on the disk this boot came from first
/// ([`on_current_disk`]), the others in their order.
pub fn current_disk_first(v: &BootVariables, candidates: &[&BootEntry]) -> Vec<u16> {
    let mut nums: Vec<u16> = on_current_disk(v, candidates)
        .map(|e| e.num)
        .into_iter()
        .collect();
    for e in candidates {
        if !nums.contains(&e.num) {
            nums.push(e.num);
        }
    }
    nums
}

/// Environment `from`'s place in the boot order and `BootNext` given to environment
/// `to`'s entries (matched by disk): `(BootOrder, BootNext)` to set after a rename.
pub fn carried_over(
    v: &BootVariables,
    class: &str,
    from: &str,
    to: &str,
) -> (Vec<u16>, Option<u16>) {
    let disk = |e: &BootEntry| parse_label(&e.label).map(|l| l.disk);
    let old = entries_of(v, class, from);
    let new = entries_of(v, class, to);
    let map = |n: u16| -> u16 {
        old.iter()
            .find(|e| e.num == n)
            .and_then(|o| new.iter().find(|x| disk(x) == disk(o)))
            .map_or(n, |x| x.num)
    };
    let mut order = Vec::new();
    for n in v.order.iter().map(|n| map(*n)) {
        if !order.contains(&n) {
            order.push(n);
        }
    }
    (order, v.next.map(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::root::boot_entry::parse_efibootmgr;
    use uuid::Uuid;

    const P1: &str = "0b2a3c4d-1111-4222-8333-444455556666";
    const P2: &str = "99999999-1111-4222-8333-444455556666";

    fn vars(next: &str, order: &str) -> BootVariables {
        parse_efibootmgr(&format!(
            "BootCurrent: 0002\n{next}BootOrder: {order}\n\
Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)\n\
Boot0002* dmclass sys/sys1\tHD(1,GPT,{P1},0x800,0x20000)/\\EFI\\BOOT\\BOOTX64.EFI\n\
Boot0003* dmclass sys/sys2\tHD(1,GPT,{P2},0x800,0x20000)/\\EFI\\BOOT\\BOOTX64.EFI\n\
Boot0004* dmclass sys bootenv upgrade (sys2)\tHD(1,GPT,{P2},0x800,0x20000)/\\EFI\\BOOT\\BOOTX64.EFI\n\
Boot0005* dmclass sys bootenv upgrade (sys1)\tHD(1,GPT,{P1},0x800,0x20000)/\\EFI\\BOOT\\BOOTX64.EFI\n"
        ))
    }

    fn esps() -> Vec<EspOfDisk> {
        [("sys1", P1), ("sys2", P2)]
            .map(|(d, p)| EspOfDisk {
                disk: d.into(),
                partition: Uuid::parse_str(p).unwrap(),
            })
            .to_vec()
    }

    #[test]
    fn labels_round_trip_and_others_are_no_environment() {
        let l = label("sys", "up.2", "sys1");
        assert_eq!(l, "dmclass sys bootenv up.2 (sys1)");
        assert_eq!(
            parse_label(&l),
            Some(EnvLabel {
                class: "sys".into(),
                env: "up.2".into(),
                disk: "sys1".into()
            })
        );
        for other in [
            "dmclass sys/sys1",
            "debian",
            "dmclass sys bootenv (x)",
            "dmclass a bootenv b c (d)",
            "",
        ] {
            assert_eq!(parse_label(other), None, "{other}");
        }
    }

    #[test]
    fn bootnext_wins_then_the_first_active_entry_of_the_order() {
        let e = esps();
        let v = vars("", "0002,0003,0004,0005");
        let n = next_boot(&v, "sys", &e).unwrap();
        assert_eq!(
            (n.entry, n.env.as_deref(), n.once),
            (2, Some("primary"), false)
        );
        let v = vars("BootNext: 0005\n", "0002,0003,0004,0005");
        let n = next_boot(&v, "sys", &e).unwrap();
        assert_eq!(
            (n.entry, n.env.as_deref(), n.once),
            (5, Some("upgrade"), true)
        );
        let v = vars("", "0000,0004,0002");
        let n = next_boot(&v, "sys", &e).unwrap();
        assert_eq!((n.entry, n.env), (0, None), "the firmware's own entry");
        let v = vars("", "0004,0005,0002,0003");
        assert_eq!(
            next_boot(&v, "sys", &e).unwrap().env.as_deref(),
            Some("upgrade")
        );
    }

    #[test]
    fn a_renamed_environment_keeps_its_place() {
        let mut v = vars("BootNext: 0005\n", "0004,0005,0002,0003");
        for (num, disk) in [(6u16, "sys1"), (7, "sys2")] {
            v.entries.push(BootEntry {
                num,
                label: label("sys", "stable", disk),
                active: true,
                partition: None,
                loader: None,
            });
        }
        let (order, next) = carried_over(&v, "sys", "upgrade", "stable");
        assert_eq!(order, vec![7, 6, 2, 3]);
        assert_eq!(next, Some(6));
    }

    #[test]
    fn an_environment_goes_first_on_the_disk_that_booted() {
        let v = vars("", "0002,0003,0004,0005");
        let up = entries_of(&v, "sys", "upgrade");
        assert_eq!(up.iter().map(|e| e.num).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(
            on_current_disk(&v, &up).unwrap().num,
            5,
            "sys1's ESP booted"
        );
        assert_eq!(order_first(&v, &[5, 4]), vec![5, 4, 2, 3]);
        // esp sync: an environment's entry is not the disk's entry.
        let mut v = vars("", "0004");
        v.entries.retain(|e| e.num != 3);
        let e = esps();
        let missing = crate::root::boot_entry::missing(&without_envs(&v), &e);
        assert_eq!(
            missing.iter().map(|m| m.disk.as_str()).collect::<Vec<_>>(),
            vec!["sys2"]
        );
    }
}
