//! `make bench`: activation of N two-way mirrored volumes (docs/testing.md), measured in
//! one VM against its two baselines:
//!
//! * the floor — `dmsetup create --concise --noudevsync` of the same tables (same
//!   minors) followed by one `udevadm settle`;
//! * LVM2 — `vgchange -ay` (+ `udevadm settle`) of a VG with N raid1 LVs on the same
//!   two disks.
//!
//! Targets: dmclass at most 1.1x the floor and at most 0.8x LVM2. Also measured for
//! context: `dmsetup create --concise` with a udev wait per device.
//!
//! Environment: `BENCH_N` (default 200; a comma list runs several sizes, one VM each),
//! `BENCH_REPS` (default 1: measured activations per contender, the minimum counts),
//! `BENCH_VOL_MIB` (4), `BENCH_SMP` (2 vCPUs), `BENCH_MEM` (MiB, 1024),
//! `BENCH_UDEVSYNC=0` skips the per-device-wait variant, `BENCH_FLOOR_OWN=1` also
//! measures the floor on the benchmark's own tables, `BENCH_PER_DEVICE=0` skips the
//! run of dmclass with `DMCLASS_UDEV_WAIT=per-device`, `BENCH_LVM=0` the LVM2
//! baseline (no ratio then), `BENCH_STRICT=1` exits 1 on a
//! missed target, `BENCH_DMCLASS_{APPLY,ACTIVATE,DEACTIVATE}` override the dmclass
//! command lines (`{file}` is the config).

mod guest;
mod lvm;
mod tables;

use dmclass_model::Bytes;
use dmclass_vmtest::{vm_dir, DiskSpec, Firmware, Personality, Vm, VmSpec};
use guest::{first_line, put, sh, time_of, BenchResult};
use std::fmt::Write as _;
use std::time::Instant;

/// Benchmark settings from the environment.
#[derive(Debug, Clone)]
struct Config {
    sizes: Vec<u32>,
    reps: u32,
    vol_mib: u64,
    smp: u32,
    mem: u32,
    udevsync: bool,
    per_device: bool,
    lvm: bool,
    floor_own: bool,
    strict: bool,
    apply: String,
    activate: String,
    deactivate: String,
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn env_num<T: std::str::FromStr>(key: &str, default: T) -> Result<T, String> {
    match std::env::var(key) {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{key}={v}: not a number")),
        _ => Ok(default),
    }
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let sizes = env_or("BENCH_N", "200")
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("BENCH_N: {s:?} is not a positive number"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            sizes,
            reps: env_num("BENCH_REPS", 1u32)?.max(1),
            vol_mib: env_num("BENCH_VOL_MIB", 4u64)?.max(1),
            smp: env_num("BENCH_SMP", 2u32)?.clamp(1, 8),
            mem: env_num("BENCH_MEM", 1024u32)?,
            udevsync: env_or("BENCH_UDEVSYNC", "1") != "0",
            per_device: env_or("BENCH_PER_DEVICE", "1") != "0",
            lvm: env_or("BENCH_LVM", "1") != "0",
            floor_own: env_or("BENCH_FLOOR_OWN", "0") == "1",
            strict: env_or("BENCH_STRICT", "0") == "1",
            apply: env_or("BENCH_DMCLASS_APPLY", "dmclass apply --yes {file}"),
            activate: env_or("BENCH_DMCLASS_ACTIVATE", "dmclass -v activate --all"),
            deactivate: env_or("BENCH_DMCLASS_DEACTIVATE", "dmclass deactivate bench"),
        })
    }
}

/// What one size measured (seconds; `None` = not measured).
#[derive(Debug, Default, Clone)]
struct Row {
    n: u32,
    dmclass: Option<f64>,
    floor: Option<f64>,
    floor_ioctls: Option<f64>,
    floor_settle: Option<f64>,
    floor_tables: &'static str,
    udevsync: Option<f64>,
    lvm: Option<f64>,
    lvm_setup: Option<f64>,
    apply: Option<f64>,
    dmclass_per_device: Option<f64>,
    notes: Vec<String>,
}

/// The harness runs QEMU with one vCPU; the measurements in the issue used two. A
/// wrapper (`$DMCLASS_QEMU`) rewrites `-smp 1`.
fn qemu_wrapper(smp: u32) -> BenchResult<()> {
    if smp == 1 {
        return Ok(());
    }
    let real = env_or("DMCLASS_QEMU", "qemu-system-x86_64");
    let dir = vm_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let path = dir.join(format!("bench-qemu-smp{smp}"));
    let script = format!(
        "#!/bin/bash\n# written by the dmclass activation benchmark: {real} with -smp {smp}\n\
         a=(\"$@\"); for i in \"${{!a[@]}}\"; do\n  \
         [ \"${{a[$i]}}\" = -smp ] && a[$((i+1))]={smp}\ndone\nexec {real} \"${{a[@]}}\"\n"
    );
    std::fs::write(&path, script).map_err(|e| format!("write {}: {e}", path.display()))?;
    let mut perm = std::fs::metadata(&path)
        .map_err(|e| format!("stat {}: {e}", path.display()))?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).map_err(|e| format!("chmod {}: {e}", path.display()))?;
    std::env::set_var("DMCLASS_QEMU", &path);
    Ok(())
}

fn disk_bytes(n: u32, vol_mib: u64) -> u64 {
    // metadata area + per volume (1 MiB rmeta + data) + LVM's own metadata + slack
    let need = (64 + u64::from(n) * (1 + vol_mib) + 64) << 20;
    need.max(2 << 30).next_multiple_of(1 << 20)
}

/// Disk paths in the guest.
const DISKS: [&str; 2] = [
    "/dev/disk/by-id/virtio-bench1",
    "/dev/disk/by-id/virtio-bench2",
];

fn dmclass_yaml(n: u32, vol_mib: u64) -> String {
    let mut y = format!(
        "# generated by the activation benchmark: {n} two-way raid1 volumes\n\
         version: 1\nenvironment: kvm-guest\nclasses:\n  - name: bench\n    type: local\n    \
         disks:\n      - {{name: d1, device: {}}}\n      - {{name: d2, device: {}}}\n    \
         groups:\n      - {{name: g1, type: mirror, members: [d1, d2]}}\n    volumes:\n",
        DISKS[0], DISKS[1]
    );
    for v in 0..n {
        let _ = writeln!(y, "      - {{name: v{v}, on: g1, size: {vol_mib}MiB}}");
    }
    y
}

/// `dm major`, and the two disks' `major:minor`.
fn probe(vm: &mut Vm) -> BenchResult<(u32, [String; 2])> {
    let out = sh(
        vm,
        "probe",
        &format!(
            "set -e; modprobe dm-raid; modprobe raid1; udevadm settle
awk '$2 == \"device-mapper\" {{print $1}}' /proc/devices
for d in {} {}; do cat /sys/class/block/$(basename $(readlink -f $d))/dev; done",
            DISKS[0], DISKS[1]
        ),
    )?;
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    match lines.as_slice() {
        [major, d1, d2] => Ok((
            major
                .parse()
                .map_err(|_| format!("bad dm major {major:?}"))?,
            [(*d1).to_string(), (*d2).to_string()],
        )),
        _ => Err(format!("unexpected probe output {:?}", out.stdout)),
    }
}

/// One floor measurement of the concise list in `/run/bench.concise`: returns
/// (ioctls, settle) seconds; removes everything afterwards.
fn floor_once(vm: &mut Vm, devices: usize) -> BenchResult<(f64, f64)> {
    let out = sh(
        vm,
        "floor: dmsetup create --concise --noudevsync + udevadm settle",
        &format!(
            "set -e; udevadm settle
timed floor-ioctls sh -c 'for f in /run/bench.concise.*; do dmsetup create --concise --noudevsync < $f || exit 1; done'
timed floor-settle udevadm settle
c=$(dmsetup info -c --noheadings -o name | wc -l)
[ \"$c\" = {devices} ] || {{ echo \"floor made $c devices, expected {devices}\" >&2; exit 1; }}
dmsetup remove_all; udevadm settle"
        ),
    )?;
    Ok((
        time_of(&out, "floor-ioctls")?,
        time_of(&out, "floor-settle")?,
    ))
}

/// `dmsetup create --concise` with udev sync (a wait per device) + settle.
fn udevsync_once(vm: &mut Vm, devices: usize) -> BenchResult<f64> {
    let out = sh(
        vm,
        "dmsetup create --concise (udev sync per device)",
        &format!(
            "set -e; udevadm settle
timed udevsync sh -c 'for f in /run/bench.concise.*; do dmsetup create --concise < $f || exit 1; done; udevadm settle'
c=$(dmsetup info -c --noheadings -o name | wc -l)
[ \"$c\" = {devices} ] || {{ echo \"dmsetup made $c devices, expected {devices}\" >&2; exit 1; }}
dmsetup remove_all; udevadm settle"
        ),
    )?;
    time_of(&out, "udevsync")
}

fn measure_floor(
    vm: &mut Vm,
    cfg: &Config,
    row: &mut Row,
    stacks: &[tables::Device],
    devices: usize,
) -> BenchResult<()> {
    // dmsetup reads a bounded amount of concise text from stdin ("Read from stdin
    // aborted: Bad address" for 1000 dmclass devices): a file per 100 devices, in
    // dependency order
    sh(vm, "clear concise files", "rm -f /run/bench.concise.*")?;
    for (i, chunk) in stacks.chunks(100).enumerate() {
        put(
            vm,
            &format!("/run/bench.concise.{i:03}"),
            &tables::concise(chunk),
        )?;
    }
    for _ in 0..cfg.reps {
        let (ioctls, settle) = floor_once(vm, devices)?;
        eprintln!(
            "bench: N={} floor {ioctls:.1} s + settle {settle:.1} s",
            row.n
        );
        if row.floor.is_none_or(|f| ioctls + settle < f) {
            row.floor = Some(ioctls + settle);
            row.floor_ioctls = Some(ioctls);
            row.floor_settle = Some(settle);
        }
    }
    if cfg.udevsync {
        let s = udevsync_once(vm, devices)?;
        eprintln!("bench: N={} dmsetup with udev sync {s:.1} s", row.n);
        row.udevsync = Some(s);
    }
    Ok(())
}

fn has_activate(vm: &mut Vm, cfg: &Config) -> BenchResult<bool> {
    let word = cfg.activate.split_whitespace().nth(1).unwrap_or("activate");
    let out = vm
        .run(&format!("dmclass {word} --help >/dev/null 2>&1"))
        .map_err(|e| format!("dmclass {word} --help: {e}"))?;
    Ok(out.success())
}

/// Applies the generated config, waits for the initial resync, dumps the loaded
/// tables and deactivates. Returns dmclass's own devices, children first.
fn dmclass_setup(
    vm: &mut Vm,
    cfg: &Config,
    row: &mut Row,
    dm_major: u32,
) -> BenchResult<Vec<tables::Device>> {
    put(vm, "/run/bench.yaml", &dmclass_yaml(row.n, cfg.vol_mib))?;
    let apply = cfg.apply.replace("{file}", "/run/bench.yaml");
    let out = sh(
        vm,
        "dmclass apply",
        &format!("set -e; timed dmclass-apply sh -c '{apply} >/run/bench-apply.log 2>&1' || {{ tail -n 30 /run/bench-apply.log >&2; exit 1; }}"),
    )?;
    row.apply = Some(time_of(&out, "dmclass-apply")?);
    // the initial resync must not compete with the measurements
    // (`dmsetup status` lines: `name: start len raid raid1 2 AA 8192/8192 idle ...`)
    sh(
        vm,
        "wait for the initial resync",
        "for i in $(seq 1800); do
  dmsetup status --target raid | awk '{ split($8, r, \"/\"); if ($7 ~ /[^A]/ || r[1] != r[2]) bad++ } END { exit bad > 0 }' && exit 0
  sleep 1
done; echo 'resync did not finish in 30 min' >&2; exit 1",
    )?;
    let info = sh(
        vm,
        "dump dmclass devices",
        "dmsetup info -c --noheadings --separator ' ' -o name,uuid,minor,attr | grep '^dmclass-'",
    )?
    .stdout;
    let table = sh(
        vm,
        "dump dmclass tables",
        "dmsetup table | grep '^dmclass-'",
    )?
    .stdout;
    let devices = tables::from_dump(&info, &table, dm_major)?;
    if devices.len() != 5 * row.n as usize {
        row.notes.push(format!(
            "dmclass made {} dm devices for {} volumes (expected {})",
            devices.len(),
            row.n,
            5 * row.n
        ));
    }
    deactivate(vm, cfg)?;
    // what udev pays per volume event for the /dev/dmclass link (69-dmclass.rules)
    let out = sh(
        vm,
        "udev-import exec cost",
        "timed udev-import-x20 sh -c 'for i in $(seq 20); do dmclass udev-import dmclass-bench-v0 >/dev/null || exit 1; done'",
    )?;
    let s = time_of(&out, "udev-import-x20")?;
    row.notes.push(format!(
        "one `dmclass udev-import` exec (run by udev per volume event): {:.0} ms",
        s * 50.0
    ));
    Ok(devices)
}

fn deactivate(vm: &mut Vm, cfg: &Config) -> BenchResult<()> {
    sh(
        vm,
        "dmclass deactivate",
        &format!(
            "udevadm settle; {} >/run/bench-deactivate.log 2>&1 || {{ echo 'dmclass deactivate failed; removing with dmsetup' >&2; cat /run/bench-deactivate.log >&2; }}
[ -z \"$(dmsetup info -c --noheadings -o name 2>/dev/null | grep -v 'No devices found')\" ] || dmsetup remove_all
udevadm settle",
            cfg.deactivate
        ),
    )
    .map(|_| ())
}

/// `activate --all`, timed until it returns — by then every `/dev/dmclass` link
/// exists (checked: the command waits for them); `env` prefixes the command (e.g. the
/// per-device udev wait switch of dmclass-linux).
fn activate_once(vm: &mut Vm, cfg: &Config, n: u32, env: &str) -> BenchResult<f64> {
    let devices = 5 * n;
    let out = sh(
        vm,
        "dmclass activate",
        &format!(
            "set -e; udevadm settle
timed dmclass-activate sh -c '{env} {} >/run/bench-activate.log 2>&1' || {{ tail -n 30 /run/bench-activate.log >&2; exit 1; }}
l=$(ls /dev/dmclass/bench 2>/dev/null | wc -l)
[ \"$l\" = {n} ] || {{ echo \"only $l of {n} /dev/dmclass/bench links when activate returned\" >&2; exit 1; }}
c=$(dmsetup info -c --noheadings -o name | grep -c '^dmclass-')
[ \"$c\" = {devices} ] || {{ echo \"dmclass activate made $c devices, expected {devices}\" >&2; exit 1; }}
[ -e /dev/mapper/dmclass-bench-v0 ] || {{ echo 'no /dev/mapper/dmclass-bench-v0 when activate returned' >&2; exit 1; }}",
            cfg.activate
        ),
    )?;
    let s = time_of(&out, "dmclass-activate")?;
    // dmclass's own split (`-v`): devices up, then its one udev settle
    let split = sh(
        vm,
        "activate log",
        "grep -E 'up in|settled in' /run/bench-activate.log || true",
    )?;
    for l in split.stdout.lines() {
        eprintln!("bench: N={n} {env} dmclass: {}", l.trim());
    }
    deactivate(vm, cfg)?;
    Ok(s)
}

fn dmclass_activate(vm: &mut Vm, cfg: &Config, row: &mut Row) -> BenchResult<()> {
    if cfg.per_device {
        let s = activate_once(vm, cfg, row.n, "DMCLASS_UDEV_WAIT=per-device")?;
        eprintln!(
            "bench: N={} dmclass activate, udev wait per device {s:.1} s",
            row.n
        );
        row.dmclass_per_device = Some(s);
    }
    for _ in 0..cfg.reps {
        let s = activate_once(vm, cfg, row.n, "")?;
        eprintln!("bench: N={} dmclass activate {s:.1} s", row.n);
        row.dmclass = Some(row.dmclass.map_or(s, |d: f64| d.min(s)));
    }
    Ok(())
}

fn run_size(cfg: &Config, n: u32) -> BenchResult<Row> {
    let mut row = Row {
        n,
        floor_tables: "own",
        ..Row::default()
    };
    let size = Bytes(disk_bytes(n, cfg.vol_mib));
    let spec = VmSpec::new(
        &format!("bench-activate-{n}"),
        Personality::KvmGuest,
        Firmware::Bios,
    )
    .memory_mib(cfg.mem)
    .disk(DiskSpec::virtio_blk("d1", "bench1", size))
    .disk(DiskSpec::virtio_blk("d2", "bench2", size));
    let t0 = Instant::now();
    let mut vm = Vm::boot(spec).map_err(|e| format!("boot: {e}"))?;
    eprintln!(
        "bench: N={n}: VM up after {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    let (dm_major, disk_devs) = probe(&mut vm)?;
    let devices = 5 * n as usize;
    let dmclass = has_activate(&mut vm, cfg)?;
    if !dmclass {
        row.notes.push(
            "this dmclass has no `activate`: floor measured on the benchmark's own tables".into(),
        );
    }
    if !dmclass || cfg.floor_own {
        let own = tables::own_stacks(
            n,
            cfg.vol_mib * 2048,
            [&disk_devs[0], &disk_devs[1]],
            dm_major,
        );
        measure_floor(&mut vm, cfg, &mut row, &own, devices)?;
    }
    if cfg.lvm {
        row.lvm_setup = Some(lvm::setup(&mut vm, n, cfg.vol_mib, DISKS)?);
        for _ in 0..cfg.reps {
            let s = lvm::activate(&mut vm, devices)?;
            eprintln!("bench: N={n} LVM2 vgchange -ay {s:.1} s");
            row.lvm = Some(row.lvm.map_or(s, |l: f64| l.min(s)));
        }
        lvm::teardown(&mut vm, DISKS)?;
    } else {
        row.notes.push("LVM2 baseline skipped (BENCH_LVM=0)".into());
    }
    if dmclass {
        let stacks = dmclass_setup(&mut vm, cfg, &mut row, dm_major)?;
        dmclass_activate(&mut vm, cfg, &mut row)?;
        if let Some(f) = row.floor.take() {
            row.notes.push(format!(
                "floor on the benchmark's own tables: {f:.1} s (create {} s + settle {} s)",
                fmt_s(row.floor_ioctls),
                fmt_s(row.floor_settle)
            ));
        }
        row.floor_tables = "dmclass's";
        measure_floor(&mut vm, cfg, &mut row, &stacks, devices)?;
    }
    let version = first_line(&sh(&mut vm, "versions", "uname -r")?);
    row.notes.push(format!(
        "guest kernel {version}, {} vCPU(s) TCG, {} MiB, 2 x virtio-blk {} MiB, volumes {} MiB",
        cfg.smp,
        cfg.mem,
        size.0 >> 20,
        cfg.vol_mib
    ));
    Ok(row)
}

fn fmt_s(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |s| format!("{s:.1}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

/// Prints the table; returns false when a measured target was missed.
fn report(rows: &[Row]) -> bool {
    let mut ok = true;
    println!();
    println!("dmclass activation benchmark: N two-way raid1 volumes (5 dm devices each), dmclass until every /dev/dmclass link exists (checked), baselines until udev settled");
    println!(
        "{:>5} {:>7} {:>10} {:>8} {:>8} {:>14} {:>13} {:>7}",
        "N", "devices", "dmclass_s", "floor_s", "lvm2_s", "dmclass/floor", "dmclass/lvm2", "result"
    );
    for r in rows {
        let rf = ratio(r.dmclass, r.floor);
        let rl = ratio(r.dmclass, r.lvm);
        let result = match (rf, rl) {
            (Some(f), Some(l)) if f <= 1.1 && l <= 0.8 => "PASS",
            (Some(_), Some(_)) => {
                ok = false;
                "MISS"
            }
            _ => "n/a",
        };
        let show =
            |r: Option<f64>, t: f64| r.map_or_else(|| "-".into(), |r| format!("{r:.2} (<={t})"));
        println!(
            "{:>5} {:>7} {:>10} {:>8} {:>8} {:>14} {:>13} {:>7}",
            r.n,
            5 * r.n,
            fmt_s(r.dmclass),
            fmt_s(r.floor),
            fmt_s(r.lvm),
            show(rf, 1.1),
            show(rl, 0.8),
            result
        );
    }
    for r in rows {
        println!(
            "N={}: floor ({} tables) = create --noudevsync {} s + one settle {} s; \
             dmsetup with a udev wait per device {} s; dmclass activate with a udev wait per \
             device (DMCLASS_UDEV_WAIT=per-device) {} s; LVM2 setup (N lvcreate) {} s; dmclass apply {} s",
            r.n,
            r.floor_tables,
            fmt_s(r.floor_ioctls),
            fmt_s(r.floor_settle),
            fmt_s(r.udevsync),
            fmt_s(r.dmclass_per_device),
            fmt_s(r.lvm_setup),
            fmt_s(r.apply)
        );
        for note in &r.notes {
            println!("N={}: {note}", r.n);
        }
    }
    ok
}

fn main() {
    let code = match run() {
        Ok(true) => 0,
        Ok(false) => {
            let strict = env_or("BENCH_STRICT", "0") == "1";
            i32::from(strict)
        }
        Err(e) => {
            eprintln!("bench: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn run() -> BenchResult<bool> {
    let cfg = Config::from_env()?;
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` asks what is here
        println!("activate: bench");
        return Ok(true);
    }
    qemu_wrapper(cfg.smp)?;
    let mut rows = Vec::new();
    for &n in &cfg.sizes {
        let t0 = Instant::now();
        match run_size(&cfg, n) {
            Ok(row) => rows.push(row),
            Err(e) => {
                report(&rows);
                return Err(format!("N={n}: {e}"));
            }
        }
        eprintln!("bench: N={n} took {:.0} s", t0.elapsed().as_secs_f64());
    }
    let ok = report(&rows);
    if !ok && cfg.strict {
        eprintln!("bench: a target was missed (BENCH_STRICT=1)");
    }
    Ok(ok)
}
