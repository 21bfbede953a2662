//! One UEFI boot entry per disk of a root class.
//!
//! The firmware's boot entries (`Boot####` variables) name a partition by its GPT
//! unique GUID and a loader path on it. A root class registers one per disk's ESP, so
//! the firmware tries the next disk when one is gone (beside the removable-media path
//! `\EFI\BOOT\BOOTX64.EFI` that every ESP carries). This module reads what
//! `efibootmgr -v` prints (versions 17 and 18 differ in how a path is shown) and
//! decides which entries are missing; the CLI runs `efibootmgr`.

use uuid::Uuid;

/// The removable-media loader path of x86-64 firmware (UEFI specification, 3.5.1).
pub const FALLBACK_LOADER: &str = "\\EFI\\BOOT\\BOOTX64.EFI";

/// One `Boot####` entry as `efibootmgr -v` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// Its number (the `####`).
    pub num: u16,
    /// Its description.
    pub label: String,
    /// Whether it is active (`*`).
    pub active: bool,
    /// The unique GUID of the GPT partition it boots from, if it names one (`HD(...)`).
    pub partition: Option<Uuid>,
    /// The loader path on that partition, if any (`\EFI\...`).
    pub loader: Option<String>,
}

/// What `efibootmgr -v` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootVariables {
    /// The entry this boot came from.
    pub current: Option<u16>,
    /// The entry the next boot takes once (`BootNext`), before the boot order.
    pub next: Option<u16>,
    /// The boot order.
    pub order: Vec<u16>,
    /// Every entry.
    pub entries: Vec<BootEntry>,
}

fn hex4(s: &str) -> Option<u16> {
    (s.len() == 4)
        .then(|| u16::from_str_radix(s, 16).ok())
        .flatten()
}

/// Read `efibootmgr -v` output. Lines it does not know are skipped (newer versions
/// add some); a malformed entry line is skipped too, never guessed.
pub fn parse_efibootmgr(text: &str) -> BootVariables {
    let mut v = BootVariables::default();
    for line in text.lines().take(4096) {
        if let Some(rest) = line.strip_prefix("BootCurrent:") {
            v.current = hex4(rest.trim());
        } else if let Some(rest) = line.strip_prefix("BootNext:") {
            v.next = hex4(rest.trim());
        } else if let Some(rest) = line.strip_prefix("BootOrder:") {
            v.order = rest
                .trim()
                .split(',')
                .filter_map(|n| hex4(n.trim()))
                .collect();
        } else if let Some(e) = parse_entry(line) {
            v.entries.push(e);
        }
    }
    v
}

fn parse_entry(line: &str) -> Option<BootEntry> {
    let rest = line.strip_prefix("Boot")?;
    let num = hex4(rest.get(..4)?)?;
    let rest = &rest[4..];
    let (active, rest) = match rest.strip_prefix('*') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.strip_prefix(' ')?;
    // The description ends at a tab (both versions), or where the device path starts.
    let (label, path) = match rest.split_once('\t') {
        Some((l, p)) => (l, p),
        None => match rest.find(" HD(") {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        },
    };
    let (partition, loader) = hd_and_loader(path);
    Some(BootEntry {
        num,
        label: label.trim().to_string(),
        active,
        partition,
        loader,
    })
}

/// The GPT partition GUID of `HD(n,GPT,guid,start,size)` and the loader after it
/// (`/File(\EFI\x.efi)` in efibootmgr 17, `/\EFI\x.efi` in 18).
fn hd_and_loader(path: &str) -> (Option<Uuid>, Option<String>) {
    let Some(i) = path.find("HD(") else {
        return (None, None);
    };
    let inner = &path[i + 3..];
    let Some(end) = inner.find(')') else {
        return (None, None);
    };
    let fields: Vec<&str> = inner[..end].split(',').collect();
    let partition = match fields.as_slice() {
        [_, kind, guid, ..] if kind.eq_ignore_ascii_case("GPT") => Uuid::parse_str(guid).ok(),
        _ => None,
    };
    let after = inner[end + 1..].trim_start_matches('/');
    let loader = if let Some(f) = after.strip_prefix("File(") {
        f.find(')').map(|e| f[..e].to_string())
    } else if after.starts_with('\\') {
        Some(after.split_whitespace().next().unwrap_or(after).to_string())
    } else {
        None
    };
    (partition, loader.filter(|l| !l.is_empty()))
}

/// One ESP of a root class, as a boot entry would name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspOfDisk {
    /// Disk name in the class.
    pub disk: String,
    /// The ESP's unique partition GUID.
    pub partition: Uuid,
}

/// The loader new entries point at: the one this boot came through when that was one
/// of the class's ESPs (the admin's boot loader, e.g. `\EFI\debian\shimx64.efi`),
/// else the removable-media path every ESP of a root class carries.
pub fn loader_for(v: &BootVariables, esps: &[EspOfDisk]) -> String {
    v.current
        .and_then(|c| v.entries.iter().find(|e| e.num == c))
        .filter(|e| {
            e.partition
                .is_some_and(|p| esps.iter().any(|x| x.partition == p))
        })
        .and_then(|e| e.loader.clone())
        .unwrap_or_else(|| FALLBACK_LOADER.to_string())
}

/// The ESPs without an active entry that boots from them (give it the variables
/// without boot environments' entries: `bootenv::entries::without_envs`).
pub fn missing<'a>(v: &BootVariables, esps: &'a [EspOfDisk]) -> Vec<&'a EspOfDisk> {
    esps.iter()
        .filter(|x| {
            !v.entries
                .iter()
                .any(|e| e.active && e.partition == Some(x.partition))
        })
        .collect()
}

/// The boot order with `added` entries after the ones there (the disk that boots now
/// stays first).
pub fn order_with(v: &BootVariables, added: &[u16]) -> Vec<u16> {
    let mut order = v.order.clone();
    for n in added {
        if !order.contains(n) {
            order.push(*n);
        }
    }
    order
}

/// The label of a disk's entry: `dmclass CLASS/DISK`.
pub fn label(class: &str, disk: &str) -> String {
    format!("dmclass {class}/{disk}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const V17: &str = "BootCurrent: 0001\nTimeout: 0 seconds\nBootOrder: 0001,0000,0003\n\
Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)\n\
Boot0001* debian\tHD(1,GPT,0b2a3c4d-1111-4222-8333-444455556666,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)\n\
Boot0003* UEFI QEMU NVMe Ctrl sysb 1\tPciRoot(0x0)/Pci(0x4,0x0)/NVMe(0x1,00-00-00-00-00-00-00-00)\n\
Boot0004  old\tHD(1,GPT,99999999-1111-4222-8333-444455556666,0x800,0x100000)/File(\\EFI\\BOOT\\BOOTX64.EFI)\n";

    const V18: &str = "BootCurrent: 0002\nBootOrder: 0002\n\
Boot0002* dmclass sys/sys1\tHD(1,GPT,0B2A3C4D-1111-4222-8333-444455556666,0x800,0x20000)/\\EFI\\BOOT\\BOOTX64.EFI\n";

    fn esps() -> Vec<EspOfDisk> {
        vec![
            EspOfDisk {
                disk: "sys1".into(),
                partition: Uuid::parse_str("0b2a3c4d-1111-4222-8333-444455556666").unwrap(),
            },
            EspOfDisk {
                disk: "sys2".into(),
                partition: Uuid::parse_str("99999999-1111-4222-8333-444455556666").unwrap(),
            },
        ]
    }

    #[test]
    fn efibootmgr_17_is_read() {
        let v = parse_efibootmgr(V17);
        assert_eq!(v.current, Some(1));
        assert_eq!(v.order, vec![1, 0, 3]);
        assert_eq!(v.entries.len(), 4);
        let debian = &v.entries[1];
        assert_eq!(debian.label, "debian");
        assert_eq!(debian.partition, Some(esps()[0].partition));
        assert_eq!(debian.loader.as_deref(), Some("\\EFI\\debian\\shimx64.efi"));
        assert_eq!(v.entries[2].partition, None);
        assert!(!v.entries[3].active);
    }

    #[test]
    fn efibootmgr_18_is_read() {
        let v = parse_efibootmgr(V18);
        assert_eq!(v.entries[0].label, "dmclass sys/sys1");
        assert_eq!(v.entries[0].partition, Some(esps()[0].partition));
        assert_eq!(v.entries[0].loader.as_deref(), Some(FALLBACK_LOADER));
    }

    #[test]
    fn an_inactive_entry_does_not_count_and_the_booted_loader_is_reused() {
        let v = parse_efibootmgr(V17);
        let e = esps();
        let m = missing(&v, &e);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].disk, "sys2");
        assert_eq!(loader_for(&v, &e), "\\EFI\\debian\\shimx64.efi");
        assert_eq!(order_with(&v, &[5, 1]), vec![1, 0, 3, 5]);
    }

    #[test]
    fn booted_from_elsewhere_uses_the_fallback_loader() {
        let mut v = parse_efibootmgr(V17);
        v.current = Some(3);
        assert_eq!(loader_for(&v, &esps()), FALLBACK_LOADER);
        v.current = None;
        assert_eq!(loader_for(&v, &esps()), FALLBACK_LOADER);
    }

    #[test]
    fn garbage_is_skipped_without_panic() {
        for s in [
            "Boot",
            "BootXYZW* x",
            "Boot0001",
            "Boot0001*",
            "Boot0001* x\tHD(",
            "Boot0001* x\tHD(1,GPT,notaguid,1,2)/File(",
            "BootOrder: zz,0001,12345",
            "Boot0001* \u{e9}\u{e9}\tHD(1,MBR,0x1,0x2,0x3)/\\",
        ] {
            let v = parse_efibootmgr(s);
            for e in &v.entries {
                assert_eq!(e.partition, None);
            }
        }
        assert_eq!(parse_efibootmgr("BootOrder: zz,0001,12345").order, vec![1]);
    }
}
