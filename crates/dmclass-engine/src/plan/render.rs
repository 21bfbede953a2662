//! Human renderings of a plan: the action list and the exact dm tables.

use super::{Plan, Step};
use crate::tables::{DevRef, Resolver};
use std::fmt::Write as _;

/// Resolves disks and live dm devices from what the plan knows; placeholders
/// (`<d1>`, `<dmclass-c-v_rmeta_0>`) for devices whose number is not known yet.
struct PlanResolver<'a>(&'a Plan);

impl Resolver for PlanResolver<'_> {
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
            DevRef::Missing => "-".into(),
        })
    }
}

impl Plan {
    /// The plan as numbered lines (`plan` without `--json`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let base = self
            .based_on_generation
            .map_or_else(|| "new class".to_owned(), |g| format!("generation {g}"));
        let _ = writeln!(
            out,
            "class {} ({}), planned against {base}",
            self.class, self.class_uuid
        );
        if self.actions.is_empty() {
            out.push_str("nothing to do\n");
        }
        for (i, a) in self.actions.iter().enumerate() {
            let kind = serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:>3}. {kind:<14} {:<40} {}",
                i + 1,
                a.object,
                a.detail
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }

    /// Every table the plan loads, as `dmsetup table` would print it (`plan
    /// --tables`). Disks are shown as `major:minor` when the binding knew it, dm
    /// devices as theirs when live; else `<name>`.
    pub fn tables(&self) -> String {
        let r = PlanResolver(self);
        let mut out = String::new();
        for a in &self.actions {
            if let Step::Load { spec } = &a.step {
                let _ = writeln!(out, "# {} ({})", spec.name, spec.uuid);
                match spec.render(&r) {
                    Ok(t) => out.push_str(&t),
                    Err(e) => {
                        let _ = writeln!(out, "# cannot render: {e}");
                    }
                }
            }
        }
        out
    }

    /// Device node of a bound disk.
    pub fn disk_path(&self, disk: &str) -> Option<&std::path::Path> {
        self.disks.get(disk).map(std::path::PathBuf::as_path)
    }
}
