//! GDS proxy volumes in the guest: `status --json` proxy entries, the master's raid
//! state, and which disk a proxy device sits on.
//!
//! Like `dmclass.rs`, every JSON field name the proxy scenarios depend on is spelled
//! here only.

use super::dmclass::{dmclass_ok, single_target};
use dmclass_vmtest::{Output, Vm};
use serde_json::Value;
use std::time::{Duration, Instant};

// `status --json`, per class
const CLASSES: &str = "classes";
const CLASS_NAME: [&str; 2] = ["name", "class"];
const PROXIES: &str = "proxies";
const NAME: &str = "name";
const KIND: &str = "kind";
const MASTER: &str = "master";
const GROUP: &str = "group";
const STATE: &str = "state";
const SYNC: &str = "sync_percent";
const COPY: &str = "copy";
const REJOIN: &str = "rejoin";
const READONLY: &str = "readonly";
const PATH: &str = "path";

/// One proxy in `status --json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyStatus {
    /// Proxy name.
    pub name: String,
    /// `proxy`.
    pub kind: String,
    /// Master volume.
    pub master: String,
    /// Group holding the proxy.
    pub group: String,
    /// JOINED, COPY, PARTED, INVALID.
    pub state: String,
    /// Copy progress (while COPY).
    pub sync_percent: Option<f64>,
    /// Copy direction (while COPY): `master->proxy` or `proxy->master`.
    pub copy: Option<String>,
    /// What the next rejoin copies: `incremental` or `full copy`.
    pub rejoin: String,
    /// Parted read-only.
    pub readonly: Option<bool>,
    /// `/dev/dmclass/<class>/<proxy>`.
    pub path: String,
}

impl ProxyStatus {
    /// Joined and copied: JOINED with no copy running.
    pub fn in_sync(&self) -> bool {
        self.state == "JOINED" && self.sync_percent.is_none_or(|p| p >= 100.0)
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn parse(doc: &Value, class: &str) -> Result<Vec<ProxyStatus>, String> {
    let classes = doc
        .get(CLASSES)
        .and_then(Value::as_array)
        .ok_or(format!("no `{CLASSES}` array"))?;
    let c = classes
        .iter()
        .find(|c| CLASS_NAME.iter().find_map(|k| text(c, k)).as_deref() == Some(class))
        .ok_or(format!("class {class} not listed"))?;
    let list = c
        .get(PROXIES)
        .and_then(Value::as_array)
        .ok_or(format!("class {class}: no `{PROXIES}` array"))?;
    list.iter()
        .map(|p| {
            let name = text(p, NAME).ok_or("a proxy without a name")?;
            Ok(ProxyStatus {
                kind: text(p, KIND).unwrap_or_default(),
                master: text(p, MASTER).unwrap_or_default(),
                group: text(p, GROUP).unwrap_or_default(),
                state: text(p, STATE).ok_or(format!("proxy {name}: no `{STATE}`"))?,
                sync_percent: p.get(SYNC).and_then(Value::as_f64),
                copy: text(p, COPY),
                rejoin: text(p, REJOIN).unwrap_or_default(),
                readonly: p.get(READONLY).and_then(Value::as_bool),
                path: text(p, PATH).unwrap_or_default(),
                name,
            })
        })
        .collect()
}

/// The proxies of `class` in `status CLASS --json` (must exit 0).
pub fn proxies(vm: &mut Vm, class: &str) -> (Vec<ProxyStatus>, Output) {
    let out = dmclass_ok(vm, &format!("status {class} --json"));
    let parsed = serde_json::from_str::<Value>(&out.stdout)
        .map_err(|e| e.to_string())
        .and_then(|doc| parse(&doc, class));
    match parsed {
        Ok(v) => (v, out),
        Err(e) => vm.fail(
            &format!("`status --json` proxies unreadable: {e}"),
            Some(&out),
        ),
    }
}

/// The status of one proxy (must be listed).
pub fn proxy_status(vm: &mut Vm, class: &str, proxy: &str) -> (ProxyStatus, Output) {
    let (list, out) = proxies(vm, class);
    match list.into_iter().find(|p| p.name == proxy) {
        Some(p) => (p, out),
        None => vm.fail(&format!("proxy {class}/{proxy} not in status"), Some(&out)),
    }
}

/// Health characters and sync action from one `dmsetup status` line of a raid device.
pub fn raid_words(line: &str) -> (String, String) {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.get(2) != Some(&"raid") {
        return (String::new(), String::new());
    }
    let get = |i: usize| w.get(i).copied().unwrap_or("").to_string();
    (get(5), get(7))
}

/// Which way the kernel is copying, from raid health: `master->proxy` when only the
/// proxy's slot is recovering, `proxy->master` when only the master's own slots are.
pub fn kernel_copy(health: &str, slot: usize) -> Option<&'static str> {
    let rec: Vec<bool> = health.chars().map(|c| c == 'a').collect();
    let proxy = rec.get(slot).copied()?;
    let own = rec.iter().take(slot).any(|r| *r);
    match (proxy, own) {
        (true, false) => Some("master->proxy"),
        (false, true) => Some("proxy->master"),
        _ => None,
    }
}

/// Polls until proxy `proxy` of `class` is in sync (JOINED, no copy running) AND the
/// master's raid device `master_dm` reports every leg in sync (`A`s only, sync action
/// `idle`); `slot` is the proxy's raid slot. Each poll reads `dmsetup status` before
/// and after `dmclass status`: when both show a copy in one direction, the proxy must
/// be `COPY` with that direction (and JOINED when both show every leg in sync).
/// Returns the time it took and the last proxy status.
pub fn wait_proxy_synced(
    vm: &mut Vm,
    class: &str,
    proxy: &str,
    master_dm: &str,
    slot: usize,
    timeout: Duration,
) -> (Duration, ProxyStatus) {
    let t0 = Instant::now();
    let mut seen_copy: Vec<String> = Vec::new();
    loop {
        let out = vm.sh(&format!(
            "set -e; dmsetup status {master_dm}; echo @@; dmclass status {class} --json; \
             echo @@; dmsetup status {master_dm}"
        ));
        let parts: Vec<&str> = out.stdout.split("@@\n").collect();
        let [k1, json, k2] = parts.as_slice() else {
            vm.fail("unreadable status output", Some(&out));
        };
        let p = serde_json::from_str::<Value>(json)
            .map_err(|e| e.to_string())
            .and_then(|doc| parse(&doc, class))
            .map(|l| l.into_iter().find(|p| p.name == proxy));
        let p = match p {
            Ok(Some(p)) => p,
            Ok(None) => vm.fail(&format!("proxy {class}/{proxy} not in status"), Some(&out)),
            Err(e) => vm.fail(
                &format!("`status --json` proxies unreadable: {e}"),
                Some(&out),
            ),
        };
        let ((h1, a1), (h2, a2)) = (raid_words(k1), raid_words(k2));
        eprintln!(
            "  poll {:?}: kernel {h1} {a1} / {h2} {a2}; proxy {} {:?} {:?}",
            t0.elapsed(),
            p.state,
            p.copy,
            p.sync_percent
        );
        if p.state == "COPY" {
            let c = format!("{}:{:?}", p.copy.as_deref().unwrap_or("?"), p.sync_percent);
            if seen_copy.len() < 6 {
                seen_copy.push(c);
            }
        }
        vm.check(
            p.state != "INVALID" && p.state != "PARTED",
            &format!(
                "proxy {class}/{proxy} while waiting for its copy: {}",
                p.state
            ),
            Some(&out),
        );
        let (c1, c2) = (kernel_copy(&h1, slot), kernel_copy(&h2, slot));
        if let (Some(d), true) = (c1, c1 == c2) {
            vm.check(
                p.state == "COPY" && p.copy.as_deref() == Some(d),
                &format!(
                    "kernel copies {d} (health {h1} before and {h2} after `dmclass status`): \
                     the proxy must be COPY ({d}), status says {} {:?}",
                    p.state, p.copy
                ),
                Some(&out),
            );
        }
        let done = |h: &str, a: &str| {
            !h.is_empty() && h.chars().all(|c| c == 'A') && (a == "idle" || a.is_empty())
        };
        if done(&h1, &a1) && done(&h2, &a2) {
            vm.check(
                p.in_sync(),
                &format!(
                    "kernel has every leg in sync ({h1}, {a1}): the proxy must be JOINED \
                     without a copy, status says {} {:?}",
                    p.state, p.sync_percent
                ),
                Some(&out),
            );
            eprintln!(
                "{}: proxy {class}/{proxy} in sync after {:?} (COPY seen: {seen_copy:?}; kernel: {})",
                vm.spec().name,
                t0.elapsed(),
                k2.trim()
            );
            return (t0.elapsed(), p);
        }
        if t0.elapsed() > timeout {
            vm.fail(
                &format!(
                    "proxy {class}/{proxy} not in sync within {timeout:?}: status {} {:?} {:?}, \
                     kernel health {h2:?} action {a2:?}",
                    p.state, p.sync_percent, p.copy
                ),
                Some(&out),
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Limits md recovery to `kib_per_sec` per device (`/proc/sys/dev/raid/speed_limit_max`,
/// which dm-raid follows): a 64 MiB copy then lasts long enough to be watched.
pub fn throttle_resync(vm: &mut Vm, kib_per_sec: u32) {
    vm.sh(&format!(
        "modprobe dm-raid 2>/dev/null || true; echo {kib_per_sec} >/proc/sys/dev/raid/speed_limit_max"
    ));
}

/// The `major:minor` a single-line `linear` dm device maps onto, and its offset
/// (sectors).
pub fn linear_target(vm: &mut Vm, dm: &str) -> (String, u64, Output) {
    let (target, args, out) = single_target(vm, dm);
    if target != "linear" {
        vm.fail(&format!("{dm}: expected a linear table"), Some(&out));
    }
    let off = args.get(1).and_then(|o| o.parse().ok());
    match (args.first(), off) {
        (Some(dev), Some(off)) => (dev.clone(), off, out),
        _ => vm.fail(&format!("{dm}: unreadable linear table"), Some(&out)),
    }
}

/// `major:minor` of a block device path in the guest (symlinks followed).
pub fn devnum(vm: &mut Vm, path: &str) -> String {
    let out = vm.sh(&format!(
        "cat /sys/class/block/$(basename $(readlink -f {path}))/dev"
    ));
    out.stdout.trim().to_string()
}
