//! Talking to the benchmark VM: files, timed steps, checked commands.

use dmclass_vmtest::{Output, Vm};
use std::time::Duration;

/// A failed benchmark step: what was done and what the guest said.
pub type BenchResult<T> = Result<T, String>;

/// Longest a single benchmark step may take in the guest.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(1800);

/// Shell functions every timed step uses: `now` (seconds since boot, 10 ms resolution)
/// and `timed LABEL CMD...`, which prints `TIME LABEL <seconds>` for a command that
/// succeeded.
pub const PRELUDE: &str = r#"
now() { cut -d' ' -f1 /proc/uptime; }
timed() {
  _l="$1"; shift
  _t0=$(now)
  "$@" || { _st=$?; echo "step $_l failed with status $_st" >&2; return $_st; }
  _t1=$(now)
  echo "TIME $_l $(awk "BEGIN { printf \"%.2f\", $_t1 - $_t0 }")"
}
"#;

/// Runs `script` (with [`PRELUDE`]) and fails unless it exits 0.
pub fn sh(vm: &mut Vm, what: &str, script: &str) -> BenchResult<Output> {
    let full = format!("{PRELUDE}\n{script}");
    let out = vm
        .run_timeout(&full, STEP_TIMEOUT)
        .map_err(|e| format!("{what}: guest command could not run: {e}"))?;
    if out.success() {
        Ok(out)
    } else {
        Err(format!(
            "{what}: exit status {}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            out.status,
            tail(&out.stdout, 40),
            tail(&out.stderr, 40)
        ))
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The `TIME <label> <s>` lines a script printed, in order.
pub fn times(out: &Output) -> Vec<(String, f64)> {
    out.stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            if w.next()? != "TIME" {
                return None;
            }
            let label = w.next()?.to_string();
            let secs = w.next()?.parse().ok()?;
            Some((label, secs))
        })
        .collect()
}

/// The seconds of step `label` in `out`.
pub fn time_of(out: &Output, label: &str) -> BenchResult<f64> {
    times(out)
        .into_iter()
        .find(|(l, _)| l == label)
        .map(|(_, s)| s)
        .ok_or_else(|| format!("no time for step {label} in:\n{}", tail(&out.stdout, 20)))
}

/// Writes `content` to `path` in the guest, in pieces small enough for one agent line.
pub fn put(vm: &mut Vm, path: &str, content: &str) -> BenchResult<()> {
    const PIECE: usize = 48 * 1024;
    const EOF: &str = "DMCLASS_BENCH_EOF";
    if content.lines().any(|l| l == EOF) {
        return Err(format!(
            "{path}: content contains the here-document end marker"
        ));
    }
    sh(vm, "truncate", &format!(": > {path}"))?;
    let mut piece = String::new();
    let flush = |vm: &mut Vm, piece: &mut String| -> BenchResult<()> {
        if !piece.is_empty() {
            sh(
                vm,
                &format!("write {path}"),
                &format!("cat >> {path} <<'{EOF}'\n{piece}{EOF}\n"),
            )?;
            piece.clear();
        }
        Ok(())
    };
    for line in content.lines() {
        if piece.len() + line.len() + 1 > PIECE {
            flush(vm, &mut piece)?;
        }
        piece.push_str(line);
        piece.push('\n');
    }
    flush(vm, &mut piece)
}

/// The first line of stdout, trimmed.
pub fn first_line(out: &Output) -> String {
    out.stdout.lines().next().unwrap_or("").trim().to_string()
}
