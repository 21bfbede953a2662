//! `make bench`, planning part (docs/testing.md): `plan` for a class of 10,000 mirrored
//! volumes on the host, from simulated facts — under 100 ms and under 64 MiB peak
//! memory. No VM.
//!
//! Each measurement runs in a fresh child process (this binary with `--child`), so the
//! peak resident set (`VmHWM`) is the planning's own: parse the YAML, gate it against
//! the support matrix, bind the disks, plan a new class (every action and table). The
//! fastest of `BENCH_PLAN_REPS` (default 5) runs counts; the peak is the largest.
//! `BENCH_PLAN_VOLUMES` changes the 10,000. When a `dmclass` binary is found
//! (`$DMCLASS_BIN`, else `target/{release,debug}/dmclass`), `dmclass plan --facts` of
//! the same files is timed too, as a whole process.

use dmclass_engine::plan::{self, Actual, AreaState, PlanOptions};
use dmclass_model::Bytes;
use dmclass_rules::Facts;
use dmclass_vmtest::workspace_root;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const TARGET_MS: f64 = 100.0;
const TARGET_MIB: f64 = 64.0;
/// Volume size: 10,000 of them (plus 1 MiB rmeta each) fit the simulated 1 TiB disks.
const VOLUME_MIB: u64 = 64;

fn volumes() -> Result<u32, String> {
    match std::env::var("BENCH_PLAN_VOLUMES") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("BENCH_PLAN_VOLUMES={v}: not a number")),
        _ => Ok(10_000),
    }
}

fn yaml(n: u32) -> String {
    let mut y = String::from(
        "version: 1\nenvironment: kvm-guest\nclasses:\n  - name: big\n    type: local\n    \
         disks:\n      - {name: d1, device: /dev/disk/by-id/virtio-data1}\n      \
         - {name: d2, device: /dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_data2}\n    \
         groups:\n      - {name: g1, type: mirror, members: [d1, d2]}\n    volumes:\n",
    );
    for v in 0..n {
        let _ = writeln!(y, "      - {{name: vol{v}, on: g1, size: {VOLUME_MIB}MiB}}");
    }
    y
}

/// The mirror example's machine with 1 TiB member disks.
fn facts() -> Result<Facts, String> {
    let path = workspace_root().join("examples/kvm-guest-mirror.facts.json");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut f: Facts =
        serde_json::from_str(&text).map_err(|e| format!("parse {}: {e}", path.display()))?;
    for d in &mut f.disks {
        d.size = Bytes(1 << 40);
    }
    Ok(f)
}

/// Peak resident set of this process, MiB (`VmHWM` in /proc/self/status).
fn peak_rss_mib() -> Result<f64, String> {
    let s = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("read /proc/self/status: {e}"))?;
    let kib: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    Ok(kib / 1024.0)
}

/// An output that counts what is written to it.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One measurement: prints `total_ms plan_ms actions peak_mib`.
fn child(yaml_path: &Path, facts_path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(yaml_path).map_err(|e| e.to_string())?;
    let facts_text = std::fs::read_to_string(facts_path).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let facts: Facts = serde_json::from_str(&facts_text).map_err(|e| e.to_string())?;
    let config = dmclass_model::parse(&yaml_path.display().to_string(), &text)
        .map_err(|e| format!("config: {e:?}"))?;
    let parse_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let report = dmclass_rules::gate(&config, &facts);
    let gate_ms = t0.elapsed().as_secs_f64() * 1000.0 - parse_ms;
    if !report.denials.is_empty() {
        return Err(format!("the gate refused the config: {:?}", report.denials));
    }
    let mut actions = 0;
    let (mut plan_ms, mut bind_ms, mut tables_ms, mut drop_ms) = (0.0, 0.0, 0.0, 0.0);
    for class in &config.classes {
        let tb = Instant::now();
        let bindings = plan::bind_disks(class, &facts).map_err(|e| e.to_string())?;
        bind_ms += tb.elapsed().as_secs_f64() * 1000.0;
        // blank disks: a new class (what `plan --facts` assumes)
        let actual = Actual {
            areas: bindings
                .iter()
                .map(|b| (b.name.clone(), AreaState::Blank))
                .collect(),
            live: Vec::new(),
            tables: std::collections::BTreeMap::new(),
            node: None,
        };
        let t1 = Instant::now();
        let p = plan::plan(
            class,
            &bindings,
            &actual,
            &PlanOptions {
                allow_destroy: false,
                id_seed: Some(1),
            },
        )
        .map_err(|e| e.to_string())?;
        plan_ms += t1.elapsed().as_secs_f64() * 1000.0;
        actions += p.actions.len();
        // the tables are part of what `plan --tables` shows: render them too, as the
        // command does (streamed to its output, here one that only counts the bytes)
        let tt = Instant::now();
        let mut sink = Count(0);
        p.write_tables(&mut sink).map_err(|e| e.to_string())?;
        std::hint::black_box(sink.0);
        tables_ms += tt.elapsed().as_secs_f64() * 1000.0;
        let td = Instant::now();
        drop(p);
        drop_ms += td.elapsed().as_secs_f64() * 1000.0;
    }
    let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{total_ms:.2} {plan_ms:.2} {actions} {:.1} {parse_ms:.2} {gate_ms:.2} {bind_ms:.2} {tables_ms:.2} {drop_ms:.2}",
        peak_rss_mib()?
    );
    Ok(())
}

fn dmclass_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("DMCLASS_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    ["release", "debug"]
        .iter()
        .map(|p| workspace_root().join("target").join(p).join("dmclass"))
        .find(|p| p.exists())
}

fn run() -> Result<bool, String> {
    let n = volumes()?;
    let reps: u32 = std::env::var("BENCH_PLAN_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let dir = std::env::temp_dir().join(format!("dmclass-bench-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let (yaml_path, facts_path) = (dir.join("big.yaml"), dir.join("facts.json"));
    std::fs::write(&yaml_path, yaml(n)).map_err(|e| e.to_string())?;
    let facts_json = serde_json::to_string(&facts()?).map_err(|e| e.to_string())?;
    std::fs::write(&facts_path, facts_json).map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let (mut best_total, mut best_plan, mut peak, mut actions) = (f64::MAX, f64::MAX, 0.0f64, 0);
    let (mut best_parse, mut best_gate) = (f64::MAX, f64::MAX);
    let (mut best_bind, mut best_tables, mut best_drop) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..reps {
        let out = Command::new(&me)
            .arg("--child")
            .arg(&yaml_path)
            .arg(&facts_path)
            .output()
            .map_err(|e| format!("run {}: {e}", me.display()))?;
        if !out.status.success() {
            return Err(format!(
                "planning failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let w: Vec<&str> = text.split_whitespace().collect();
        let num = |i: usize| -> Result<f64, String> {
            w.get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("unexpected child output {text:?}"))
        };
        best_total = best_total.min(num(0)?);
        best_plan = best_plan.min(num(1)?);
        actions = w.get(2).and_then(|v| v.parse().ok()).unwrap_or(0usize);
        peak = peak.max(num(3)?);
        best_parse = best_parse.min(num(4)?);
        best_gate = best_gate.min(num(5)?);
        best_bind = best_bind.min(num(6)?);
        best_tables = best_tables.min(num(7)?);
        best_drop = best_drop.min(num(8)?);
    }
    let ok = best_total < TARGET_MS && peak < TARGET_MIB;
    println!();
    println!("dmclass plan benchmark: one class, {n} two-way raid1 volumes, simulated facts (best of {reps})");
    println!(
        "  parse + gate + bind + plan: {best_total:.1} ms (planner alone {best_plan:.1} ms), \
         {actions} actions; peak RSS {peak:.1} MiB; targets < {TARGET_MS} ms, < {TARGET_MIB} MiB: {}",
        if ok { "PASS" } else { "MISS" }
    );
    println!(
        "  of which: YAML parse {best_parse:.1} ms, rule gate {best_gate:.1} ms, disk binding \
         {best_bind:.1} ms, planner {best_plan:.1} ms, tables {best_tables:.1} ms, freeing the \
         plan {best_drop:.1} ms"
    );
    if let Some(bin) = dmclass_bin() {
        let t0 = Instant::now();
        let out = Command::new(&bin)
            .arg("plan")
            .arg(&yaml_path)
            .arg("--facts")
            .arg(&facts_path)
            .output()
            .map_err(|e| format!("run {}: {e}", bin.display()))?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if out.status.success() {
            println!(
                "  `{} plan --facts` (whole process, {} bytes of output): {ms:.0} ms",
                bin.display(),
                out.stdout.len()
            );
        } else {
            println!(
                "  `{} plan --facts` failed ({}): {}",
                bin.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ok)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = if args.get(1).map(String::as_str) == Some("--child") {
        match (args.get(2), args.get(3)) {
            (Some(y), Some(f)) => match child(Path::new(y), Path::new(f)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            },
            _ => 2,
        }
    } else if args.iter().any(|a| a == "--list") {
        println!("plan: bench");
        0
    } else {
        match run() {
            Ok(true) => 0,
            Ok(false) => i32::from(std::env::var("BENCH_STRICT").is_ok_and(|v| v == "1")),
            Err(e) => {
                eprintln!("bench plan: {e}");
                2
            }
        }
    };
    std::process::exit(code);
}
