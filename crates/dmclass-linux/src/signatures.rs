//! On-disk signatures through libblkid's low-level probe (what `wipefs` lists), plus
//! dmclass's own private area, which libblkid does not know ([`crate::label`]).

use dmclass_rules::Signature;
use libblkid_rs::{BlkidProbe, BlkidProbeRet, BlkidSublks, BlkidSublksFlags};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `type` of the entry recorded when a device could not be probed.
///
/// Its `usage` is `error` and its `label` carries the reason (`cannot open /dev/sdb:
/// Permission denied (os error 13)`). Because it is a signature, a disk that could not be
/// checked is treated like a disk that has data on it: dmclass never writes to it.
pub const UNREADABLE: &str = "unreadable";

/// At most this many signatures are read from one device; libblkid stops far earlier in
/// practice, this only bounds a misbehaving prober.
const MAX_SIGNATURES: usize = 64;

/// Every signature libblkid finds on the whole device at `dev`: file systems, RAID and LVM
/// members (`USAGE` `filesystem`, `raid`, `crypto`, `other`...) and partition tables
/// (`PTTYPE`, usage `partition_table`); then a `dmclass` entry (usage `other`, label =
/// class name) when the device carries a dmclass header ([`crate::label::area_signature`]).
///
/// Never fails: a device that cannot be opened or probed gives one [`UNREADABLE`] entry;
/// one whose dmclass header cannot be read gets an [`UNREADABLE`] entry added.
pub fn probe_signatures(dev: &Path) -> Vec<Signature> {
    let mut sigs = match try_probe(dev) {
        Ok(sigs) => sigs,
        Err(reason) => {
            log::warn!("{reason}");
            return vec![unreadable(reason)];
        }
    };
    match crate::label::area_signature(dev) {
        Ok(Some(sig)) => sigs.push(sig),
        Ok(None) => {}
        Err(reason) => {
            let reason = format!("cannot read the dmclass header area: {reason}");
            // The entry carries the reason to whoever reports it (one line, not three
            // per unreadable disk: probe, label, class scan).
            log::debug!("{reason}");
            sigs.push(unreadable(reason));
        }
    }
    sigs
}

/// The entry for a device that could not be probed.
pub fn unreadable(reason: String) -> Signature {
    Signature {
        sig_type: UNREADABLE.to_string(),
        usage: Some("error".to_string()),
        label: Some(reason),
        uuid: None,
    }
}

/// A libblkid probe of the superblock chain on `file` (the device at `dev`),
/// reporting the values `flags` ask for. `file` must outlive the probe.
fn superblock_probe(
    file: &File,
    dev: &Path,
    flags: Vec<BlkidSublks>,
) -> Result<BlkidProbe, String> {
    let fail = |what: &str, e: libblkid_rs::BlkidErr| {
        format!("blkid cannot {what} {}: {e}", dev.display())
    };
    let mut probe = BlkidProbe::new().map_err(|e| fail("allocate a probe for", e))?;
    probe
        .set_device(file.as_raw_fd(), 0, 0)
        .map_err(|e| fail("attach", e))?;
    probe
        .enable_superblocks(true)
        .map_err(|e| fail("enable superblocks on", e))?;
    probe
        .set_superblock_flags(BlkidSublksFlags::new(flags))
        .map_err(|e| fail("set superblock flags on", e))?;
    Ok(probe)
}

fn try_probe(dev: &Path) -> Result<Vec<Signature>, String> {
    // Opened here rather than by libblkid so that the errno (EACCES, ENOMEDIUM, ENXIO...)
    // reaches the message: libblkid-rs reports a failed open as a bare code 0. Read-only,
    // no O_EXCL: probing must not disturb other users. `file` outlives `probe` (declared
    // first, dropped last), so the descriptor stays valid while libblkid uses it.
    let file = File::open(dev).map_err(|e| format!("cannot open {}: {e}", dev.display()))?;
    let fail = |what: &str, e: libblkid_rs::BlkidErr| {
        format!("blkid cannot {what} {}: {e}", dev.display())
    };
    let mut probe = superblock_probe(
        &file,
        dev,
        vec![
            BlkidSublks::Type,
            BlkidSublks::Usage,
            BlkidSublks::Label,
            BlkidSublks::Uuid,
        ],
    )?;
    probe
        .enable_partitions(true)
        .map_err(|e| fail("enable partitions on", e))?;

    let mut sigs: Vec<Signature> = Vec::new();
    // The low-level loop returns one signature per call, each chain in turn (superblocks,
    // then partition tables), like `wipefs`; safeprobe would stop at ambiguity instead.
    for _ in 0..MAX_SIGNATURES {
        match probe.do_probe().map_err(|e| fail("probe", e))? {
            BlkidProbeRet::Done => break,
            BlkidProbeRet::Success => {
                if let Some(sig) = current_signature(&probe) {
                    if !sigs.contains(&sig) {
                        sigs.push(sig);
                    }
                }
            }
        }
    }
    Ok(sigs)
}

/// The signature the last `do_probe` step found (superblock `TYPE`, else `PTTYPE`).
fn current_signature(probe: &BlkidProbe) -> Option<Signature> {
    let value = |name: &str| {
        probe
            .lookup_value(name)
            .ok()
            .map(|v| v.trim_end_matches('\0').to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(t) = value("TYPE") {
        return Some(Signature {
            sig_type: t,
            usage: value("USAGE"),
            label: value("LABEL"),
            uuid: value("UUID").or_else(|| value("UUID_SUB")),
        });
    }
    value("PTTYPE").map(|t| Signature {
        sig_type: t,
        usage: Some("partition_table".to_string()),
        label: None,
        uuid: value("PTUUID"),
    })
}

/// Erase every file system (and other superblock) signature libblkid finds on `dev`,
/// as `wipefs --all` does: only the magic bytes, so the data stays but nothing
/// recognises it. The types erased, in order. For a device whose content is being
/// discarded and must never be taken for the original it was copied from (a boot
/// environment's copy holds the system's file system UUID).
pub fn wipe_signatures(dev: &Path) -> Result<Vec<String>, String> {
    use std::fs::OpenOptions;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev)
        .map_err(|e| format!("cannot open {} for writing: {e}", dev.display()))?;
    let fail = |what: &str, e: libblkid_rs::BlkidErr| {
        format!("blkid cannot {what} {}: {e}", dev.display())
    };
    let mut wiped = Vec::new();
    {
        // The magic's offset and length are what `blkid_do_wipe` erases.
        let mut probe = superblock_probe(&file, dev, vec![BlkidSublks::Type, BlkidSublks::Magic])?;
        for _ in 0..MAX_SIGNATURES {
            match probe.do_probe().map_err(|e| fail("probe", e))? {
                BlkidProbeRet::Done => break,
                BlkidProbeRet::Success => {
                    let t = probe.lookup_value("TYPE").map_or_else(
                        |_| "unknown".into(),
                        |v| v.trim_end_matches('\0').to_string(),
                    );
                    probe
                        .do_wipe(false)
                        .map_err(|e| fail("erase a signature on", e))?;
                    // Look at the same place again: another signature may sit there.
                    probe.step_back().map_err(|e| fail("step back on", e))?;
                    wiped.push(t);
                }
            }
        }
    }
    file.sync_all()
        .map_err(|e| format!("cannot flush {}: {e}", dev.display()))?;
    Ok(wiped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysroot::testutil::TempTree;
    use std::fs;

    /// A 1 MiB image with a DOS partition table (one entry) and a swap v1 header
    /// (label `swp1`, UUID 01020304-0506-0708-090a-0b0c0d0e0f10).
    fn image_with_dos_and_swap() -> Vec<u8> {
        let mut img = vec![0u8; 1 << 20];
        // MBR: partition 1 at LBA 2048, 4096 sectors, type 0x83, not bootable.
        let e = 446;
        img[e + 4] = 0x83;
        img[e + 8..e + 12].copy_from_slice(&2048u32.to_le_bytes());
        img[e + 12..e + 16].copy_from_slice(&4096u32.to_le_bytes());
        img[510] = 0x55;
        img[511] = 0xaa;
        // Swap: version 1 at 1024, last_page, uuid at 1036, label at 1052, magic at 4086.
        img[1024..1028].copy_from_slice(&1u32.to_le_bytes());
        img[1028..1032].copy_from_slice(&255u32.to_le_bytes());
        for (i, b) in img[1036..1052].iter_mut().enumerate() {
            *b = u8::try_from(i + 1).unwrap();
        }
        img[1052..1056].copy_from_slice(b"swp1");
        img[4086..4096].copy_from_slice(b"SWAPSPACE2");
        img
    }

    #[test]
    fn wiping_erases_the_magic_only() {
        let t = TempTree::new("wipe");
        let path = t.path().join("disk.img");
        let before = image_with_dos_and_swap();
        fs::write(&path, &before).unwrap();
        assert_eq!(wipe_signatures(&path).unwrap(), vec!["swap".to_string()]);
        let sigs = probe_signatures(&path);
        assert!(sigs.iter().all(|s| s.sig_type != "swap"), "{sigs:?}");
        // The partition table is no superblock: left alone, as is everything but
        // the 10 magic bytes.
        assert!(sigs.iter().any(|s| s.sig_type == "dos"), "{sigs:?}");
        let after = fs::read(&path).unwrap();
        let changed: Vec<usize> = (0..after.len())
            .filter(|&i| after[i] != before[i])
            .collect();
        assert!(
            changed.iter().all(|i| (4086..4096).contains(i)),
            "{changed:?}"
        );
        assert!(!changed.is_empty());
        assert_eq!(wipe_signatures(&path).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn finds_every_signature_on_an_image() {
        let t = TempTree::new("sig");
        let path = t.path().join("disk.img");
        fs::write(&path, image_with_dos_and_swap()).unwrap();
        let sigs = probe_signatures(&path);
        let swap = sigs.iter().find(|s| s.sig_type == "swap").unwrap();
        assert_eq!(swap.label.as_deref(), Some("swp1"));
        assert_eq!(
            swap.uuid.as_deref(),
            Some("01020304-0506-0708-090a-0b0c0d0e0f10")
        );
        assert_eq!(swap.usage.as_deref(), Some("other"));
        let dos = sigs.iter().find(|s| s.sig_type == "dos").unwrap();
        assert_eq!(dos.usage.as_deref(), Some("partition_table"));
        assert_eq!(sigs.len(), 2, "{sigs:?}");
    }

    #[test]
    fn blank_image_has_no_signature() {
        let t = TempTree::new("sig-blank");
        let path = t.path().join("blank.img");
        fs::write(&path, vec![0u8; 1 << 20]).unwrap();
        assert_eq!(probe_signatures(&path), Vec::new());
    }

    #[test]
    fn missing_device_is_an_unreadable_entry() {
        let sigs = probe_signatures(Path::new("/nonexistent/dmclass-disk"));
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs[0].sig_type, UNREADABLE);
        let why = sigs[0].label.as_deref().unwrap();
        assert!(why.contains("/nonexistent/dmclass-disk"), "{why}");
        assert!(why.contains("No such file"), "{why}");
    }
}
