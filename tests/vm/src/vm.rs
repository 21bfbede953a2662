//! A running VM: QEMU process, QMP session, guest agent, disks, logs.

use crate::agent::{Agent, Output};
use crate::error::VmError;
use crate::image::{ensure_image, vm_dir, ImagePaths, KEEP_ENV};
use crate::qemu::{self, DeviceProps};
use crate::qmp::{BlockStats, Qmp};
use crate::spec::{validate, DiskSpec, VmSpec};
use serde_json::{json, Value};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Default limit for one guest command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// A VM booted from the test image. Dropping it kills QEMU; the scenario's logs and disk
/// images are deleted when the test passed and kept when it panicked (or with
/// `DMCLASS_VM_KEEP=1`).
#[derive(Debug)]
pub struct Vm {
    spec: VmSpec,
    image: ImagePaths,
    run_dir: PathBuf,
    log_dir: PathBuf,
    console_log: PathBuf,
    qemu_log: PathBuf,
    devices: Vec<DeviceProps>,
    child: Option<Child>,
    qmp: Option<Qmp>,
    agent: Option<Agent>,
    boots: u32,
    /// How many of the boots resumed the saved state ([`VmSpec::quick_reboots`]).
    resumes: u32,
    /// The first UUID each resumed copy drew (each must be new).
    resume_uuids: Vec<String>,
    last_boot: Duration,
    keep_logs: bool,
    /// Disks left out of the next boot (their files stay; [`Vm::plug`] adds them).
    absent: Vec<String>,
    /// The command line of the next `-kernel` boot, when not the spec's.
    append: Option<String>,
    /// The unified kernel image on the disks' ESPs, when the VM boots from them.
    uki: Option<PathBuf>,
    /// The checkpoint the next [`Vm::start`] resumes ([`Vm::restore`]).
    restoring: Option<PathBuf>,
}

fn qemu_program() -> String {
    std::env::var("DMCLASS_QEMU").unwrap_or_else(|_| "qemu-system-x86_64".into())
}

/// `DMCLASS_VM_TRACE=1`: every guest command and boot with its time on stderr (where
/// a scenario spends its minutes).
fn trace() -> bool {
    std::env::var_os("DMCLASS_VM_TRACE").is_some_and(|v| v == "1")
}

/// OVMF's code (4 MiB build) and its variable store template, for VMs whose
/// variables persist ([`VmSpec::efi_vars`]).
const OVMF_CODE_4M: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS_4M: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

fn ovmf_path() -> PathBuf {
    std::env::var_os("DMCLASS_OVMF")
        .map_or_else(|| PathBuf::from("/usr/share/ovmf/OVMF.fd"), PathBuf::from)
}

impl Vm {
    /// Builds the image if needed, creates the scenario's sparse disk files under
    /// `target/vm/run/<name>/` (fresh: an earlier run's files are removed), starts QEMU
    /// and waits until the guest agent answers (udev has settled by then).
    pub fn boot(spec: VmSpec) -> Result<Vm, VmError> {
        validate(&spec).map_err(VmError::Spec)?;
        let image = ensure_image()?;
        let base = vm_dir();
        let run_dir = base.join("run").join(&spec.name);
        let log_dir = base.join("logs").join(&spec.name);
        for d in [&run_dir, &log_dir] {
            if d.exists() {
                fs::remove_dir_all(d)
                    .map_err(|e| VmError::io(format!("clear {}", d.display()), e))?;
            }
            fs::create_dir_all(d).map_err(|e| VmError::io(format!("create {}", d.display()), e))?;
        }
        if run_dir.join("agent.sock").as_os_str().len() > 100 {
            return Err(VmError::Spec(format!(
                "run directory {} too long for a Unix socket path; set DMCLASS_VM_DIR",
                run_dir.display()
            )));
        }
        let uki = if spec.runs_from_disk() {
            Some(crate::bootdisk::uki(&image, &qemu::kernel_cmdline(&spec))?)
        } else {
            None
        };
        for d in &spec.disks {
            if let Some(f) = &d.file {
                // Another VM's image: it exists and belongs to that VM.
                if !f.is_file() {
                    return Err(VmError::Spec(format!(
                        "disk {}: shared image {} does not exist",
                        d.id,
                        f.display()
                    )));
                }
                continue;
            }
            let path = run_dir.join(format!("{}.raw", d.id));
            File::create(&path)
                .and_then(|f| f.set_len(d.size.0))
                .map_err(|e| VmError::io(format!("create disk {}", path.display()), e))?;
            if let (true, Some(uki)) = (d.esp, &uki) {
                let root = d.root.then_some((&image, d.id.as_str()));
                crate::bootdisk::write_esp_disk(&path, uki, root)?;
            }
        }
        let mut vm = Vm {
            devices: qemu::all_device_props(&spec),
            console_log: log_dir.join("console.log"),
            qemu_log: log_dir.join("qemu.log"),
            spec,
            image,
            run_dir,
            log_dir,
            child: None,
            qmp: None,
            agent: None,
            boots: 0,
            resumes: 0,
            resume_uuids: Vec::new(),
            last_boot: Duration::ZERO,
            keep_logs: false,
            absent: Vec::new(),
            append: None,
            uki,
            restoring: None,
        };
        vm.start()?;
        Ok(vm)
    }

    /// Where, in the unified kernel image on the ESPs, the digit of its generation
    /// mark (`dmclass.vmtest.uki=1` on its command line) is: a scenario writes another
    /// digit there to make a "new kernel" that boots and shows which file it came
    /// from in /proc/cmdline (the firmware checks no PE checksum without Secure Boot).
    pub fn uki_generation_offset(&self) -> Option<u64> {
        let bytes = fs::read(self.uki.as_ref()?).ok()?;
        let mark = qemu::UKI_GENERATION_MARK.as_bytes();
        let at = bytes.windows(mark.len()).position(|w| w == mark)?;
        u64::try_from(at + mark.len()).ok()
    }

    /// Starts QEMU on the existing disk files (after [`Vm::power_cut`]) and waits for
    /// the agent.
    ///
    /// A quick reboot resumes the state saved after the first boot; if anything in
    /// that shortcut fails (the guest's udevd once dropped the settle's control
    /// connection right after a resume), the boot is done again from the disks as
    /// a real power-on would: the scenario's disks are what a reboot sees either way.
    pub fn start(&mut self) -> Result<(), VmError> {
        let quick = self.restoring.is_none() && self.can_resume();
        match self.start_once(quick) {
            Err(e) if quick => {
                let note = format!(
                    "{}: resuming the saved state failed ({e}); booting from the disks instead",
                    self.spec.name
                );
                eprintln!("dmclass-vmtest: {note}");
                log::warn!("{note}");
                self.power_cut()?;
                // The same boot, done the long way.
                self.boots -= 1;
                self.start_once(false)
            }
            r => r,
        }
    }

    fn start_once(&mut self, quick: bool) -> Result<(), VmError> {
        if self.child.is_some() {
            return Err(VmError::Spec(format!(
                "VM `{}` is already running",
                self.spec.name
            )));
        }
        let t0 = Instant::now();
        self.boots += 1;
        let agent_sock = self.run_dir.join("agent.sock");
        let qmp_sock = self.run_dir.join("qmp.sock");
        for s in [&agent_sock, &qmp_sock] {
            let _ = fs::remove_file(s);
        }
        let mut con = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.console_log)
            .map_err(|e| VmError::io(format!("open {}", self.console_log.display()), e))?;
        writeln!(
            con,
            "\n===== dmclass-vmtest: {} boot {} =====",
            self.spec.name, self.boots
        )
        .map_err(|e| VmError::io("write console log", e))?;
        let qemu_err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.qemu_log)
            .map_err(|e| VmError::io(format!("open {}", self.qemu_log.display()), e))?;
        let run_dir = self.run_dir.clone();
        let disk_file = move |d: &DiskSpec| {
            d.file
                .clone()
                .unwrap_or_else(|| run_dir.join(format!("{}.raw", d.id)))
        };
        let vars = self.run_dir.join("efivars.fd");
        if self.spec.efi_vars && !vars.exists() {
            fs::copy(OVMF_VARS_4M, &vars)
                .map_err(|e| VmError::io(format!("copy {OVMF_VARS_4M}"), e))?;
        }
        let restoring = self.restoring.take();
        let resume = restoring.is_some() || (quick && self.can_resume());
        let mut args = qemu::args(
            &self.spec,
            &qemu::Paths {
                image: &self.image,
                ovmf: ovmf_path(),
                efi_vars: Some((Path::new(OVMF_CODE_4M), &vars)),
                console_log: &self.console_log,
                agent_sock: &agent_sock,
                qmp_sock: &qmp_sock,
                disk_file: &disk_file,
                absent: &self.absent,
                append: self.append.as_deref(),
            },
        );
        if resume {
            args.extend(["-incoming", "defer"].map(std::ffi::OsString::from));
        }
        let cmdline = std::iter::once(qemu_program())
            .chain(args.iter().map(|a| format!("'{}'", a.to_string_lossy())))
            .collect::<Vec<_>>()
            .join(" ");
        fs::write(self.log_dir.join("qemu.cmdline"), format!("{cmdline}\n"))
            .map_err(|e| VmError::io("write qemu.cmdline", e))?;
        let child = Command::new(qemu_program())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(qemu_err)
            .spawn()
            .map_err(|e| VmError::io(format!("start {}", qemu_program()), e))?;
        self.child = Some(child);
        let deadline = t0 + self.spec.boot_timeout;
        let qmp = Qmp::connect(&qmp_sock, Duration::from_secs(20))
            .map_err(|e| self.exited_or("connecting QMP", e))?;
        self.qmp = Some(qmp);
        if resume {
            let state = restoring.clone().unwrap_or_else(|| self.state_file());
            crate::resume::load(self.qmp()?, &state)
                .map_err(|e| self.exited_or("resuming the saved VM state", e))?;
        }
        let mut agent = Agent::connect(&agent_sock, Duration::from_secs(20))
            .map_err(|e| self.exited_or("connecting to the agent socket", e))?;
        let ready = {
            let mut alive = || self.check_alive("booting");
            agent.wait_ready(deadline, &mut alive)?
        };
        if !ready {
            return Err(VmError::Timeout {
                what: format!("VM `{}` to boot (guest agent)", self.spec.name),
                secs: self.spec.boot_timeout.as_secs(),
                console_log: self.console_log.clone(),
            });
        }
        self.agent = Some(agent);
        if resume {
            let seed = crate::resume::host_seed()?;
            let script = if restoring.is_some() {
                crate::resume::after_restore_script(&seed, SystemTime::now())
            } else {
                crate::resume::after_resume_script(&seed, SystemTime::now())
            };
            let out = self.run(&script)?;
            if !out.success() {
                return Err(VmError::Protocol(format!(
                    "after resuming the saved VM state: {}",
                    out.stderr
                )));
            }
            // The script ends with a UUID from the kernel's generator: two resumed
            // copies must not draw the same one.
            let uuid = out.stdout.trim().to_string();
            if self.resume_uuids.contains(&uuid) {
                return Err(VmError::Protocol(format!(
                    "the guest's random generator was not reseeded after resuming (UUID {uuid} drawn twice)"
                )));
            }
            self.resume_uuids.push(uuid);
            self.resumes += 1;
        } else if self.boots == 1 && self.saves_state() {
            // Only a state without any dm device is worth resuming (a boot on disks
            // of an autostart class may already have activated it).
            let out = self.run("ls /sys/block")?;
            if out.success() && !out.stdout.split_whitespace().any(|d| d.starts_with("dm-")) {
                let state = self.state_file();
                crate::resume::save(self.qmp()?, &state)?;
            }
        }
        self.last_boot = t0.elapsed();
        let how = if resume { "resumed" } else { "booted" };
        if trace() {
            eprintln!(
                "[{} {:>6.2}s] boot {} ({how})",
                self.spec.name,
                self.last_boot.as_secs_f64(),
                self.boots
            );
        }
        log::info!(
            "{}: boot {} ({how}) took {:?}",
            self.spec.name,
            self.boots,
            self.last_boot
        );
        Ok(())
    }

    /// The state saved after the first boot ([`VmSpec::quick_reboots`]).
    fn state_file(&self) -> PathBuf {
        self.run_dir.join("booted.state")
    }

    /// A checkpoint's state file and, per disk, the disk file and its copy.
    fn checkpoint_files(&self, name: &str) -> (PathBuf, Vec<(PathBuf, PathBuf)>) {
        let disks = self
            .spec
            .disks
            .iter()
            .map(|d| {
                let file = self.disk_file(&d.id);
                let mut copy = file.clone().into_os_string();
                copy.push(format!(".{name}"));
                (file, PathBuf::from(copy))
            })
            .collect();
        (self.run_dir.join(format!("{name}.checkpoint")), disks)
    }

    /// Saves the running VM — memory, devices and a copy of every disk — as checkpoint
    /// `name`, and lets it run on. [`Vm::restore`] returns to exactly that moment: a
    /// scenario that repeats a step from a prepared state (a power cut at every action
    /// of a plan) prepares it once. Every disk must be attached and the VM's own
    /// (a disk image another VM writes cannot be put back).
    pub fn checkpoint(&mut self, name: &str) -> Result<(), VmError> {
        // The variable store is a flash device QEMU's saved state does not carry.
        if !self.absent.is_empty()
            || self.spec.disks.iter().any(|d| d.file.is_some())
            || self.spec.efi_vars
        {
            return Err(VmError::Spec(format!(
                "VM `{}`: a checkpoint needs every disk attached, none shared with another VM \
                 and no persistent UEFI variables",
                self.spec.name
            )));
        }
        let (state, disks) = self.checkpoint_files(name);
        crate::resume::save_then(self.qmp()?, &state, || {
            disks
                .iter()
                .try_for_each(|(file, copy)| copy_sparse(file, copy))
        })
    }

    /// Returns to checkpoint `name` ([`Vm::checkpoint`]): QEMU is killed, the disk
    /// files are put back from their copies and the saved state is resumed; the guest
    /// only gets a new random seed and the clock.
    pub fn restore(&mut self, name: &str) -> Result<(), VmError> {
        let (state, disks) = self.checkpoint_files(name);
        if !state.is_file() {
            return Err(VmError::Spec(format!(
                "VM `{}` has no checkpoint `{name}`",
                self.spec.name
            )));
        }
        self.power_cut()?;
        for (file, copy) in &disks {
            copy_sparse(copy, file)?;
        }
        self.restoring = Some(state);
        self.start()
    }

    /// A quick reboot resumes the saved state: all disks attached (the state has
    /// them all), booted by `-kernel` (a boot from the ESP is what such a scenario
    /// tests).
    fn can_resume(&self) -> bool {
        self.saves_state() && self.state_file().exists()
    }

    fn saves_state(&self) -> bool {
        self.spec.quick_reboots && self.absent.is_empty() && !self.spec.boots_from_disk()
    }

    fn check_alive(&mut self, what: &str) -> Result<(), VmError> {
        let Some(child) = self.child.as_mut() else {
            return Err(VmError::NotRunning(self.spec.name.clone()));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                self.child = None;
                Err(VmError::QemuExited {
                    status: status.to_string(),
                    what: what.to_string(),
                    stderr_log: self.qemu_log.clone(),
                    console_log: self.console_log.clone(),
                })
            }
            Err(e) => Err(VmError::io("wait for QEMU", e)),
        }
    }

    /// Prefers "QEMU exited" over a secondary connection error.
    fn exited_or(&mut self, what: &str, err: VmError) -> VmError {
        std::thread::sleep(Duration::from_millis(200));
        match self.check_alive(what) {
            Err(e @ VmError::QemuExited { .. }) => e,
            _ => err,
        }
    }

    /// Runs a shell script in the guest with [`DEFAULT_COMMAND_TIMEOUT`]; any exit status
    /// is an `Ok`.
    pub fn run(&mut self, command: &str) -> Result<Output, VmError> {
        self.run_timeout(command, DEFAULT_COMMAND_TIMEOUT)
    }

    /// Runs a shell script in the guest; the guest kills it after `timeout`.
    pub fn run_timeout(&mut self, command: &str, timeout: Duration) -> Result<Output, VmError> {
        let Some(mut agent) = self.agent.take() else {
            return Err(VmError::NotRunning(self.spec.name.clone()));
        };
        let t0 = Instant::now();
        let result = {
            let mut alive = || self.check_alive("running a guest command");
            agent.run(command, timeout, &mut alive)
        };
        if trace() {
            let first = command.lines().next().unwrap_or_default();
            eprintln!(
                "[{} {:>6.2}s] {}",
                self.spec.name,
                t0.elapsed().as_secs_f64(),
                first.chars().take(120).collect::<String>()
            );
        }
        match result {
            Ok(Some(out)) => {
                self.agent = Some(agent);
                Ok(out)
            }
            // the agent is stuck or QEMU died: the VM is not usable any more
            Ok(None) => Err(VmError::Timeout {
                what: format!("guest command `{command}`"),
                secs: timeout.as_secs() + 15,
                console_log: self.console_log.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The QMP session.
    pub fn qmp(&mut self) -> Result<&mut Qmp, VmError> {
        self.qmp
            .as_mut()
            .ok_or_else(|| VmError::NotRunning(self.spec.name.clone()))
    }

    fn device(&self, disk: &str) -> Result<&DeviceProps, VmError> {
        self.spec
            .disks
            .iter()
            .position(|d| d.id == disk)
            .and_then(|i| self.devices.get(i))
            .ok_or_else(|| VmError::Spec(format!("no disk `{disk}` in VM `{}`", self.spec.name)))
    }

    /// Hot-unplugs a disk's guest device (`device_del dev-<id>`) and waits for QEMU's
    /// `DEVICE_DELETED` (the guest has let go of it). The block node stays.
    pub fn unplug(&mut self, disk: &str) -> Result<(), VmError> {
        self.device(disk)?;
        let dev = format!("dev-{disk}");
        let qmp = self.qmp()?;
        qmp.execute("device_del", &json!({ "id": dev }))?;
        qmp.wait_event(
            "DEVICE_DELETED",
            |e| e["data"]["device"].as_str() == Some(dev.as_str()),
            Duration::from_secs(90),
        )?;
        Ok(())
    }

    /// Plugs a disk's guest device back with the same properties (`device_add`).
    pub fn plug(&mut self, disk: &str) -> Result<(), VmError> {
        let args = self.device(disk)?.to_qmp();
        self.qmp()?.execute("device_add", &args)?;
        Ok(())
    }

    /// I/O counters of a disk's guest device since it was (re)attached; `None` while it
    /// is unplugged.
    pub fn blockstats(&mut self, disk: &str) -> Result<Option<BlockStats>, VmError> {
        self.device(disk)?;
        self.qmp()?.blockstats(disk)
    }

    /// Runs a raw QMP command (shortcut for `vm.qmp()?.execute(..)`).
    pub fn qmp_execute(&mut self, command: &str, arguments: &Value) -> Result<Value, VmError> {
        self.qmp()?.execute(command, arguments)
    }

    /// Power cut: kills QEMU at once (SIGKILL). Whatever the guest had not flushed to the
    /// virtual disk is lost; the disk files stay for [`Vm::start`].
    pub fn power_cut(&mut self) -> Result<(), VmError> {
        self.agent = None;
        self.qmp = None;
        if let Some(mut child) = self.child.take() {
            crate::cpu::record(child.id());
            let _ = child.kill();
            child
                .wait()
                .map_err(|e| VmError::io("wait for killed QEMU", e))?;
        }
        Ok(())
    }

    /// Boots (after [`Vm::power_cut`] or [`Vm::shutdown`]) a VM whose kernel QEMU hands
    /// over ([`VmSpec::kernel_from_qemu`]) with `cmdline` instead of the spec's, as
    /// the firmware passes a boot entry's load options to the loader: the boot of a
    /// UEFI boot entry where the firmware cannot read the disks (Debian's OVMF and
    /// pvscsi). [`Vm::start`] afterwards boots with the spec's line again.
    pub fn start_with_cmdline(&mut self, cmdline: &str) -> Result<(), VmError> {
        if self.spec.boots_from_disk() {
            return Err(VmError::Spec(format!(
                "VM `{}` boots from its disks: its command line is the boot entry's",
                self.spec.name
            )));
        }
        self.append = Some(cmdline.to_owned());
        let r = self.start();
        self.append = None;
        r
    }

    /// Boots (after [`Vm::power_cut`] or [`Vm::reboot`]-less stop) with only the
    /// disks `only` attached, as a machine whose other disks were pulled while it was
    /// off. [`Vm::start`] afterwards boots with them again.
    pub fn start_with_only(&mut self, only: &[&str]) -> Result<(), VmError> {
        self.absent = self
            .spec
            .disks
            .iter()
            .filter(|d| !only.contains(&d.id.as_str()))
            .map(|d| d.id.clone())
            .collect();
        let r = self.start();
        self.absent.clear();
        r
    }

    /// `sync` in the guest, then power off (QEMU killed: the guest keeps nothing in
    /// flight once `sync` returned).
    pub fn shutdown(&mut self) -> Result<(), VmError> {
        let out = self.run("sync; echo 3 >/proc/sys/vm/drop_caches; sync")?;
        if !out.success() {
            return Err(VmError::Protocol(format!(
                "guest sync failed: {}",
                out.stderr
            )));
        }
        self.power_cut()
    }

    /// Sets the speed limit of disk `id` ([`crate::spec::IoLimit`], `None`: none) from
    /// the next start on; a running VM whose disk already has a limit changes it at
    /// once (QMP `qom-set` on its throttle group).
    pub fn set_io_limit(
        &mut self,
        id: &str,
        limit: Option<crate::spec::IoLimit>,
    ) -> Result<(), VmError> {
        let disk = self
            .spec
            .disks
            .iter_mut()
            .find(|d| d.id == id)
            .ok_or_else(|| VmError::Spec(format!("no disk `{id}`")))?;
        let had = disk.limit.is_some();
        disk.limit = limit;
        let group = format!("/objects/{}", qemu::throttle_group(disk));
        if had && self.child.is_some() {
            // `limits` (not the init-only `x-` properties) changes a running group.
            let l = limit.unwrap_or_default();
            self.qmp_execute(
                "qom-set",
                &json!({"path": group, "property": "limits",
                        "value": {"bps-read": l.read_bps, "bps-write": l.write_bps}}),
            )?;
        }
        Ok(())
    }

    /// [`Vm::shutdown`], then boot again on the same disks.
    pub fn reboot(&mut self) -> Result<(), VmError> {
        self.shutdown()?;
        self.start()
    }

    /// Writes `contents` to `path` in the guest (base64 over the agent, so any bytes
    /// survive the shell).
    pub fn put_file(&mut self, path: &str, contents: &[u8]) -> Result<(), VmError> {
        let encoded = crate::chan::b64_encode(contents);
        let out = self.run(&format!(
            "set -e; mkdir -p \"$(dirname '{path}')\"; echo '{encoded}' | base64 -d >'{path}'"
        ))?;
        if out.success() {
            Ok(())
        } else {
            Err(VmError::Protocol(format!(
                "writing {path} in the guest failed ({}): {}",
                out.status, out.stderr
            )))
        }
    }

    /// Keeps the logs (not the disk images) when the VM is dropped even after a pass
    /// (the demo points at its console log afterwards).
    pub fn keep_logs(&mut self) {
        self.keep_logs = true;
    }

    /// The spec the VM was booted with.
    pub fn spec(&self) -> &VmSpec {
        &self.spec
    }

    /// Host path of a disk's backing file.
    /// (For a disk attached from another VM's image, that image: dropping the VM that
    /// made it removes it, so drop the VMs sharing it first.)
    pub fn disk_file(&self, disk: &str) -> PathBuf {
        self.spec
            .find_disk(disk)
            .and_then(|d| d.file.clone())
            .unwrap_or_else(|| self.run_dir.join(format!("{disk}.raw")))
    }

    /// The serial console log (all boots of this scenario).
    pub fn console_log(&self) -> &Path {
        &self.console_log
    }

    /// The scenario's log directory (`target/vm/logs/<name>/`).
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// How long the last boot took, QEMU start to agent answer.
    pub fn boot_time(&self) -> Duration {
        self.last_boot
    }

    /// Number of boots so far.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// How many of [`Vm::boots`] resumed the saved state ([`VmSpec::quick_reboots`]).
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// True while QEMU runs.
    pub fn is_running(&mut self) -> bool {
        self.check_alive("checking").is_ok()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.power_cut();
        let keep = std::env::var(KEEP_ENV).is_ok_and(|v| v == "1");
        if std::thread::panicking() || keep {
            eprintln!(
                "dmclass-vmtest: kept logs of `{}` in {} and disks in {}",
                self.spec.name,
                self.log_dir.display(),
                self.run_dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.run_dir);
            if !self.keep_logs {
                let _ = fs::remove_dir_all(&self.log_dir);
            }
        }
    }
}

/// `cp --sparse=always FROM TO` (the scenario disks are mostly holes).
fn copy_sparse(from: &Path, to: &Path) -> Result<(), VmError> {
    let st = Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .status()
        .map_err(|e| VmError::io("run cp", e))?;
    if st.success() {
        Ok(())
    } else {
        Err(VmError::Protocol(format!(
            "cp {} {}: {st}",
            from.display(),
            to.display()
        )))
    }
}
