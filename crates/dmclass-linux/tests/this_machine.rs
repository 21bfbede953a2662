//! `probe()` on the machine the tests run on (a container or VM without device-mapper,
//! maybe without udevd): it must answer or fail with a clear error, never panic, and what
//! it answers must agree with sysfs.
#![allow(clippy::unwrap_used)]

use dmclass_linux::{probe, LinuxError};
use dmclass_rules::Facts;

#[test]
fn probe_answers_or_fails_cleanly() {
    let facts: Facts = match probe() {
        Ok(f) => f,
        Err(e @ LinuxError::Udev { .. }) => {
            // The only whole-probe failure; it must say what it tried.
            let msg = e.to_string();
            assert!(msg.starts_with("udev: cannot "), "{msg}");
            return;
        }
        Err(e) => panic!("probe never needs device-mapper, yet failed with: {e}"),
    };
    for d in &facts.disks {
        assert!(d.size.0 > 0, "{}: zero-size disks are skipped", d.name);
        assert!(!d.name.starts_with("ram") && !d.name.starts_with("zram"));
        let sys = std::fs::read_to_string(format!("/sys/block/{}/size", d.name)).unwrap();
        assert_eq!(
            d.size.0,
            sys.trim().parse::<u64>().unwrap() * 512,
            "{}",
            d.name
        );
        assert_eq!(
            d.properties.get("SIZE_SECTORS"),
            Some(&sys.trim().to_string())
        );
        // Whole-disk facts: each reported partition is really this disk's.
        for p in &d.in_use.partitions {
            assert!(std::path::Path::new(&format!("/sys/block/{}/{p}/partition", d.name)).exists());
        }
    }
    // The disk holding / (if it is a whole disk here) must show as in use.
    let root_dev = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .and_then(|l| l.split(' ').nth(2).map(str::to_string));
    if let Some(dev) = root_dev {
        for d in &facts.disks {
            let own =
                std::fs::read_to_string(format!("/sys/block/{}/dev", d.name)).unwrap_or_default();
            if own.trim() == dev {
                assert!(d.in_use.is_busy(), "{} holds / but is not busy", d.name);
                assert!(!d.in_use.mounted.is_empty());
            }
        }
    }
    let json = serde_json::to_string_pretty(&facts).unwrap();
    let back: Facts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, facts);
}
