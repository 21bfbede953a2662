//! Human renderings of a plan: the action list and the exact dm tables.

use super::spec_ref::{devices, SpecRef};
use super::{Plan, Step};
use crate::metadata::VolumeMeta;
use crate::tables::{DevRef, DeviceSpec, Resolver};
use std::fmt::Write as _;

/// Resolves disks and live dm devices from what the plan knows; placeholders
/// (`<d1>`, `<dmclass-c-v_rmeta_0>`) for devices whose number is not known yet.
struct PlanResolver<'a>(&'a Plan);

impl Resolver for PlanResolver<'_> {
    fn resolve_into(&self, dev: &DevRef, out: &mut String) -> bool {
        let known = match dev {
            DevRef::Disk(n) => self.0.devnums.get(n),
            DevRef::Dm(n) => self.0.live.get(n),
        };
        let _ = match (known, dev) {
            (Some(num), _) => write!(out, "{num}"),
            (None, DevRef::Disk(n) | DevRef::Dm(n)) => write!(out, "<{n}>"),
        };
        true
    }

    fn resolve(&self, dev: &DevRef) -> Option<String> {
        Some(match dev {
            DevRef::Disk(n) => self
                .0
                .devnums
                .get(n)
                .map_or_else(|| format!("<{n}>"), ToString::to_string),
            DevRef::Dm(n) => self
                .0
                .live
                .get(n)
                .map_or_else(|| format!("<{n}>"), ToString::to_string),
        })
    }
}

/// Text is written to `out` in pieces of about this size.
const CHUNK: usize = 1 << 16;

/// Hands `buf` to `out` once it holds [`CHUNK`] bytes (and always when `last`).
fn flush(buf: &mut String, out: &mut dyn std::io::Write, last: bool) -> std::io::Result<()> {
    if last || buf.len() >= CHUNK {
        out.write_all(buf.as_bytes())?;
        buf.clear();
    }
    Ok(())
}

impl Plan {
    /// The plan as numbered lines (`plan` without `--json`).
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(100 * (self.actions.len() + self.notes.len() + 2));
        let _ = self.write_render(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`Plan::render`], written to `out` piece by piece (a plan of many volumes is
    /// never held as one string).
    pub fn write_render(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut buf = String::with_capacity(CHUNK + 512);
        let base = self
            .based_on_generation
            .map_or_else(|| "new class".to_owned(), |g| format!("generation {g}"));
        let _ = writeln!(
            buf,
            "class {} ({}), planned against {base}",
            self.class, self.class_uuid
        );
        if self.actions.is_empty() {
            buf.push_str("nothing to do\n");
        }
        for (i, a) in self.actions.iter().enumerate() {
            let kind = a.kind.as_str();
            let _ = writeln!(
                buf,
                "{:>3}. {kind:<14} {:<40} {}",
                i + 1,
                a.object,
                a.detail
            );
            flush(&mut buf, out, false)?;
        }
        for n in &self.notes {
            let _ = writeln!(buf, "note: {n}");
        }
        flush(&mut buf, out, true)
    }

    /// Every table the plan loads, as `dmsetup table` would print it (`plan
    /// --tables`). Disks are shown as `major:minor` when the binding knew it, dm
    /// devices as theirs when live; else `<name>`.
    pub fn tables(&self) -> String {
        let mut out = Vec::new();
        let _ = self.write_tables(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// [`Plan::tables`], written to `out` piece by piece.
    pub fn write_tables(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let r = PlanResolver(self);
        let mut buf = String::with_capacity(CHUNK + 4096);
        // the devices of the volume last built (its loads follow one another)
        let mut built: Option<(*const VolumeMeta, Vec<DeviceSpec>)> = None;
        for a in &self.actions {
            let Step::Load { spec } = &a.step else {
                continue;
            };
            let spec = match spec {
                SpecRef::Built(s) => Ok(&**s),
                SpecRef::Lazy(_, _, i, _) => {
                    if let Some((meta, vol)) = spec.lazy_vol() {
                        let at: *const VolumeMeta = vol;
                        if built.as_ref().is_none_or(|(b, _)| *b != at) {
                            built = Some((at, devices(meta, vol).unwrap_or_default()));
                        }
                    }
                    built
                        .as_ref()
                        .and_then(|(_, d)| d.get(usize::from(*i)))
                        .ok_or(spec)
                }
            };
            match spec {
                Ok(spec) => {
                    let _ = writeln!(buf, "# {} ({})", spec.name, spec.uuid);
                    if let Err(e) = spec.render_into(&r, &mut buf) {
                        let _ = writeln!(buf, "# cannot render: {e}");
                    }
                }
                Err(spec) => {
                    let _ = writeln!(buf, "# {} ({})", spec.name(), spec.uuid());
                    if let Err(e) = spec.get() {
                        let _ = writeln!(buf, "# cannot render: {e}");
                    }
                }
            }
            flush(&mut buf, out, false)?;
        }
        flush(&mut buf, out, true)
    }

    /// Device node of a bound disk.
    pub fn disk_path(&self, disk: &str) -> Option<&std::path::Path> {
        self.disks.get(disk).map(std::path::PathBuf::as_path)
    }

    /// One line for the confirmation prompt: how many actions, how many volumes
    /// the class will have, and which disks get a new private area, by name and
    /// device node: "nothing on them is kept", except a root class's keep disk,
    /// whose partitions stay as they are.
    pub fn summary(&self) -> String {
        use crate::metadata::DiskRoleMeta;
        let mut fresh = Vec::new();
        let mut kept = Vec::new();
        for a in &self.actions {
            if a.kind != super::ActionKind::FormatArea {
                continue;
            }
            let object = a.object.as_cow();
            let name: &str = &object;
            let shown = match self.disk_path(name) {
                Some(p) => format!("{name} ({})", p.display()),
                None => name.to_string(),
            };
            let keep = self
                .new_meta
                .disks
                .iter()
                .any(|d| d.name == name && d.role == DiskRoleMeta::Keep);
            if keep {
                kept.push(shown);
            } else {
                fresh.push(shown);
            }
        }
        let mut line = format!(
            "class {}: {} action(s), {} volume(s) afterwards",
            self.class,
            self.actions.len(),
            self.new_meta.volumes.len()
        );
        if !fresh.is_empty() {
            let _ = write!(
                line,
                "; new member disks, nothing on them is kept: {}",
                fresh.join(", ")
            );
        }
        if !kept.is_empty() {
            let _ = write!(
                line,
                "; kept disk, its partitions stay as they are: {}",
                kept.join(", ")
            );
        }
        line
    }
}
