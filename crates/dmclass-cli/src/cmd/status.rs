//! `dmclass status [CLASS] [--json] [--watch]`: classes as they are on disk and in the
//! kernel.

use super::context::{found_classes, select};
use crate::args::status::StatusArgs;
use crate::backend::Backend;
use crate::error::CliError;
use crate::output::{print_json, Schema};
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::state::{self, ClassStatus};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Serialize)]
struct StatusJson<'a> {
    classes: &'a [ClassStatus],
}

fn collect_status(backend: &mut Backend, only: Option<&str>) -> Result<Vec<ClassStatus>, CliError> {
    let classes = found_classes(backend)?;
    let chosen: Vec<&ClassOnDisks> = match only {
        Some(n) => select(&classes, &[n.to_string()])?,
        None => classes.iter().collect(),
    };
    let (kernel, _) = backend.parts();
    let mut out = Vec::new();
    for c in &chosen {
        for s in &c.stale {
            eprintln!(
                "warning: class {}: disk {} ({}) holds an older generation {} and is not trusted",
                c.meta.name,
                s.name,
                s.path.display(),
                s.generation
            );
        }
        out.push(state::class_on_disks_status(c, &*kernel)?);
    }
    // Shared classes: who holds what, from the lock manager and the lease area.
    // This machine's node name, read once (netmirror classes only).
    let mut node: Option<Option<String>> = None;
    for (st, c) in out.iter_mut().zip(&chosen) {
        if super::lease::is_shared(&c.meta) {
            st.leases = Some(super::lease::status(backend, c));
        }
        if super::netmirror::is_netmirror(&c.meta) {
            let (kernel, disks) = backend.parts();
            for (vol, why) in dmclass_engine::assemble::start_locked(c, &*kernel, &*disks) {
                if let Some(v) = st.volumes.iter_mut().find(|v| v.name == vol) {
                    v.start_lock = Some(why);
                }
            }
            let node = node.get_or_insert_with(|| super::lease::node_name(backend).ok());
            for v in &mut st.volumes {
                v.partner_wait = dmclass_engine::state::partner_wait(&c.meta, v, node.as_deref());
            }
        }
        if c.meta.class_type == dmclass_engine::metadata::ClassTypeMeta::Root {
            st.boot_environment = super::bootenv::running_env(backend, c);
        }
    }
    Ok(out)
}

fn resyncing(classes: &[ClassStatus]) -> bool {
    classes.iter().any(|c| {
        c.volumes
            .iter()
            .any(|v| v.sync_percent.is_some_and(|p| p < 100.0))
    })
}

/// Where each resyncing volume's copy stood at the previous `--watch` round:
/// `class/volume` -> (seconds since the watch started, bytes copied).
type Seen = std::collections::BTreeMap<String, (f64, f64)>;

/// `1.5 MiB/s`, `ETA 2m05s`: from the bytes copied since the previous round.
fn rate_and_eta(before: Option<(f64, f64)>, now: (f64, f64), remaining: f64) -> String {
    let Some((t0, b0)) = before else {
        return String::new();
    };
    let (dt, db) = (now.0 - t0, now.1 - b0);
    if dt <= 0.0 || db <= 0.0 {
        return "  (no progress since the last look)".to_string();
    }
    let rate = db / dt;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let eta = (remaining / rate).ceil().min(f64::from(u32::MAX)) as u64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let per_s = crate::output::human(dmclass_model::Bytes(rate as u64));
    format!("  {per_s}/s  ETA {}m{:02}s", eta / 60, eta % 60)
}

/// One bar per resyncing volume, for `status --watch`, with the copy rate and the
/// time left once a previous round is known (`seen`, updated; `t`: seconds since the
/// watch started).
fn progress_bars(classes: &[ClassStatus], seen: &mut Seen, t: f64) -> String {
    const WIDTH: usize = 40;
    let mut out = String::new();
    for c in classes {
        for v in &c.volumes {
            let Some(p) = v.sync_percent.filter(|p| *p < 100.0) else {
                continue;
            };
            // A percentage is 0..=100, so the cast cannot truncate meaningfully.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let done = ((p.clamp(0.0, 100.0) / 100.0) * WIDTH as f64) as usize;
            #[allow(clippy::cast_precision_loss)]
            let size = v.size as f64;
            let copied = size * p.clamp(0.0, 100.0) / 100.0;
            let key = format!("{}/{}", c.name, v.name);
            let extra = rate_and_eta(seen.get(&key).copied(), (t, copied), size - copied);
            seen.insert(key, (t, copied));
            let _ = write!(
                out,
                "\nCOPY {}/{} [{}{}] {p:5.1}%{extra}",
                c.name,
                v.name,
                "#".repeat(done),
                ".".repeat(WIDTH - done)
            );
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Run `status`.
pub fn run(args: &StatusArgs) -> Result<ExitCode, CliError> {
    let mut backend = Backend::open()?;
    let tty = std::io::stdout().is_terminal();
    let started = std::time::Instant::now();
    let mut seen = Seen::new();
    loop {
        // No lock: status must answer while a long change runs (it reads each disk's
        // newest valid slot; a change half-way through its metadata writes shows up as
        // a warning about an older generation on some disk).
        let all = collect_status(&mut backend, args.class.as_deref())?;
        if args.watch && tty {
            // Clear the screen and home the cursor, like watch(1).
            print!("\x1b[2J\x1b[H");
        }
        if args.json {
            print_json(Schema::Status, &StatusJson { classes: &all })?;
        } else if all.is_empty() {
            println!("no dmclass class found on this machine's disks");
        } else {
            print!("{}", state::render(&all));
            if args.watch {
                print!(
                    "{}",
                    progress_bars(&all, &mut seen, started.elapsed().as_secs_f64())
                );
            }
        }
        if !args.watch || (!tty && !resyncing(&all)) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::rate_and_eta;

    #[test]
    fn rate_and_eta_from_two_looks() {
        // 8 MiB copied in 2 s, 64 MiB left: 4 MiB/s, 16 s.
        let mib = f64::from(1u32 << 20);
        let s = rate_and_eta(Some((0.0, 0.0)), (2.0, 8.0 * mib), 64.0 * mib);
        assert_eq!(s, "  4.0 MiB/s  ETA 0m16s");
        assert_eq!(rate_and_eta(None, (2.0, 1.0), 1.0), "");
        assert!(rate_and_eta(Some((0.0, 5.0)), (2.0, 5.0), 1.0).contains("no progress"));
    }
}
