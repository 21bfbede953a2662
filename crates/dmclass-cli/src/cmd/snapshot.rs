//! `dmclass snapshot create|merge|remove`: copy-on-write snapshots of a volume.
//!
//! `create` and `remove` are the declarative path in imperative form: the class as it
//! is on disk (`export`) with the snapshot added or removed goes through the same
//! validation, support-matrix gate, planner and executor as `apply`. `merge` runs the
//! engine's merge plan, then finishes any merge the kernel already completed (the
//! same finishing step `activate` runs).

use super::classes::{found_classes, select};
use crate::args::{SnapshotAction, SnapshotArgs, SnapshotConfirmArgs, SnapshotCreateArgs};
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::io::Kernel;
use dmclass_engine::names::{dm_name, Layer};
use dmclass_engine::plan::{self, Plan, PlanOptions};
use dmclass_model::{Class, Config, Environment, Located, Name, Snapshot, SnapshotKind, Span};
use dmclass_rules::Facts;
use std::path::Path;
use std::process::ExitCode;

/// Run a `snapshot` subcommand.
pub fn run(args: &SnapshotArgs) -> Result<ExitCode, CliError> {
    let _lock = crate::lock::exclusive()?;
    let mut backend = Backend::open()?;
    let result = match &args.action {
        SnapshotAction::Create(a) => create(a, &mut backend),
        SnapshotAction::Merge(a) => confirmed(
            a,
            "merge",
            "Merge snapshot {} into its origin? The origin's changes since the snapshot are lost.",
        )
        .and_then(|()| merge(a, &mut backend)),
        SnapshotAction::Remove(a) => {
            confirmed(a, "remove", "Remove snapshot {}? Its data is lost.")
                .and_then(|()| remove(a, &mut backend))
        }
    };
    backend.finish()?;
    crate::failpoint::exit_if_failpoint(&result);
    result
}

/// `--yes`, or the admin's answer (`prompt`'s `{}` is the snapshot); refused otherwise.
fn confirmed(a: &SnapshotConfirmArgs, what: &str, prompt: &str) -> Result<(), CliError> {
    let prompt = prompt.replace("{}", &a.snapshot.to_string());
    if a.yes || super::apply::confirm(&prompt, what)? {
        Ok(())
    } else {
        Err(CliError::Refused(
            "not confirmed; nothing was changed".into(),
        ))
    }
}

/// The class on disk as a validated configuration, after `change`.
fn config_of(c: &ClassOnDisks, change: impl FnOnce(&mut Class)) -> Result<Config, CliError> {
    changed_config("snapshot", c, change)
}

/// The class on disk as a validated configuration after `change`, made by command
/// `what` (the name the diagnostics carry): imperative commands edit the class
/// declaratively this way and then [`plan_and_run`] it like `apply`.
pub(super) fn changed_config(
    what: &str,
    c: &ClassOnDisks,
    change: impl FnOnce(&mut Class),
) -> Result<Config, CliError> {
    let mut config = dmclass_engine::export::export(&c.meta)?;
    if let Some(class) = config.classes.first_mut() {
        change(class);
    }
    // Through the YAML parser: every validation rule applies, as for a file.
    let text = dmclass_model::to_yaml(&config);
    dmclass_model::parse(what, &text).map_err(|d| {
        eprintln!("{d}");
        CliError::Refused(format!("the {what} is not valid; nothing was changed"))
    })
}

fn execute(backend: &mut Backend, class: &Class, facts: &Facts, p: &Plan) -> Result<(), CliError> {
    let bindings = plan::bind_disks(class, facts)?;
    crate::failpoint::execute(p, &bindings, backend)?;
    Ok(())
}

pub(super) fn plan_and_run(
    backend: &mut Backend,
    config: &Config,
    facts: &Facts,
    allow_destroy: bool,
) -> Result<(), CliError> {
    let Some(class) = config.classes.first() else {
        return Ok(());
    };
    // Positions in findings refer to the class as read back from its disks.
    let label = format!("class {} (as on disk, changed)", class.name);
    crate::config::gate(Path::new(&label), config, facts)?;
    let bindings = plan::bind_disks(class, facts)?;
    let actual = {
        let (kernel, disks) = backend.parts();
        plan::read_actual(&bindings, &*disks, &*kernel)?
    };
    let opts = PlanOptions {
        allow_destroy,
        id_seed: None,
    };
    let p = plan::plan(class, &bindings, &actual, &opts)?;
    for n in &p.notes {
        println!("note: {n}");
    }
    execute(backend, class, facts, &p)
}

pub(super) fn class_named<'a>(
    classes: &'a [ClassOnDisks],
    name: &str,
) -> Result<&'a ClassOnDisks, CliError> {
    Ok(select(classes, &[name.to_owned()])?[0])
}

/// S3a: on a KVM host, a volume open by another process (a running guest, typically)
/// is not snapshotted behind its back. Fails closed: when the kernel cannot say whether
/// the volume is open, the snapshot is refused too — "unknown" is not "closed".
fn s3a_guard(kernel: &dyn Kernel, cname: &str, vol: &str) -> Result<(), CliError> {
    let top = dm_name(cname, vol, Layer::Top)?;
    let open = match kernel.info(&top) {
        // Not active: nothing can hold it open.
        Ok(None) => 0,
        Ok(Some(i)) => i.open_count,
        Err(e) => {
            return Err(CliError::Refused(format!(
                "[S3a] class {cname}: cannot tell whether volume {vol} is open ({e}); a \
                 consistent snapshot of a volume a running guest uses needs the guest \
                 stopped, so the snapshot is refused. Retry, or pass --force if the guest is \
                 known to be stopped; nothing was changed"
            )));
        }
    };
    if open > 0 {
        return Err(CliError::Refused(format!(
            "[S3a] class {cname}: volume {vol} is open by another process ({open} opener(s)), \
             e.g. a running guest; a consistent snapshot needs the guest stopped. Stop it, \
             or pass --force to snapshot it anyway; nothing was changed"
        )));
    }
    Ok(())
}

fn create(a: &SnapshotCreateArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, vol) = (a.origin.class.as_str(), a.origin.name.as_str());
    let (sz, chunk) = (a.size, a.chunk);
    let facts = backend.facts(None)?;
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    if c.meta.volume(vol).is_none() {
        return Err(CliError::Refused(format!(
            "class {cname} has no volume `{vol}`"
        )));
    }
    if facts.environment == Environment::KvmHost && !a.force {
        let (kernel, _) = backend.parts();
        s3a_guard(&*kernel, cname, vol)?;
    }
    let config = config_of(c, |class| {
        class.snapshots.push(Snapshot {
            name: Name(a.name.clone()),
            origin: Located {
                value: Name(vol.to_owned()),
                span: Span::default(),
            },
            kind: SnapshotKind::Cow { size: sz, chunk },
            span: Span::default(),
        });
    })?;
    plan_and_run(backend, &config, &facts, false)?;
    println!(
        "class {cname}: snapshot {} of {vol} created: {}",
        a.name,
        dmclass_engine::names::user_path(cname, &a.name).display()
    );
    Ok(ExitCode::SUCCESS)
}

fn remove(a: &SnapshotConfirmArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, snap) = (a.snapshot.class.as_str(), a.snapshot.name.as_str());
    let facts = backend.facts(None)?;
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    if dmclass_engine::cow::find(&c.meta, snap).is_none() {
        return Err(CliError::Refused(format!(
            "class {cname} has no snapshot `{snap}`"
        )));
    }
    let config = config_of(c, |class| {
        class.snapshots.retain(|s| s.name.as_str() != snap);
    })?;
    plan_and_run(backend, &config, &facts, true)?;
    println!("class {cname}: snapshot {snap} removed");
    Ok(ExitCode::SUCCESS)
}

/// Finish merges of class `c` the kernel completed; true when one finished.
///
/// Nothing to do (and nothing read) when no snapshot of the class is merging; a class
/// with a missing disk keeps its merge pending (the merged store's extents cannot all
/// be reached), which is reported rather than failing the activation.
pub(super) fn finish_merges(backend: &mut Backend, c: &ClassOnDisks) -> Result<bool, CliError> {
    let merging = dmclass_engine::cow::cow_snapshots(&c.meta)
        .iter()
        .any(|v| v.state == dmclass_engine::metadata::CowState::Merging);
    if !merging {
        return Ok(false);
    }
    if !c.missing.is_empty() {
        eprintln!(
            "warning: class {}: a snapshot merge is pending; it is finished once disk(s) {} are back",
            c.meta.name,
            c.missing.join(", ")
        );
        return Ok(false);
    }
    let facts = backend.facts(None)?;
    let config = config_of(c, |_| {})?;
    let Some(class) = config.classes.first() else {
        return Ok(false);
    };
    let bindings = plan::bind_disks(class, &facts)?;
    let p = {
        let (kernel, disks) = backend.parts();
        let actual = plan::read_actual(&bindings, &*disks, &*kernel)?;
        plan::plan_finish(class, &bindings, &actual, &*kernel)?
    };
    match p {
        Some(p) => {
            execute(backend, class, &facts, &p)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn merge(a: &SnapshotConfirmArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, snap) = (a.snapshot.class.as_str(), a.snapshot.name.as_str());
    let facts = backend.facts(None)?;
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    let Some(view) = dmclass_engine::cow::find(&c.meta, snap) else {
        return Err(CliError::Refused(format!(
            "class {cname} has no snapshot `{snap}`"
        )));
    };
    if view.state == dmclass_engine::metadata::CowState::Merging {
        if finish_merges(backend, c)? {
            println!(
                "class {cname}: snapshot {snap} merged into {} and removed",
                view.origin
            );
        } else {
            println!("class {cname}: snapshot {snap} is still merging (see `dmclass status`)");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config = config_of(c, |_| {})?;
    let Some(class) = config.classes.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let bindings = plan::bind_disks(class, &facts)?;
    let p = {
        let (kernel, disks) = backend.parts();
        let actual = plan::read_actual(&bindings, &*disks, &*kernel)?;
        plan::plan_merge(class, &bindings, &actual, snap, &PlanOptions::default())?
    };
    execute(backend, class, &facts, &p)?;
    for n in &p.notes {
        println!("note: {n}");
    }
    println!(
        "class {cname}: merge of snapshot {snap} into {} started",
        view.origin
    );
    // The kernel may already be done (small stores): finish now.
    let classes = found_classes(backend)?;
    let c = class_named(&classes, cname)?;
    if finish_merges(backend, c)? {
        println!("class {cname}: merge finished; snapshot {snap} removed");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may panic on setup failure

    use super::s3a_guard;
    use dmclass_engine::io::{Kernel, Visibility};
    use dmclass_engine::sim::{new_sim, EIO};

    const TOP: &str = "dmclass-vmimages-guest01--os";

    fn running() -> dmclass_engine::sim::SimKernel {
        let (mut k, _) = new_sim();
        k.create(TOP, "DMCLASS-test").unwrap();
        k.resume(TOP, Visibility::Public).unwrap();
        k
    }

    #[test]
    fn s3a_allows_closed_and_inactive_volumes() {
        let k = running();
        assert!(s3a_guard(&k, "vmimages", "guest01-os").is_ok());
        let (k, _) = new_sim();
        assert!(s3a_guard(&k, "vmimages", "guest01-os").is_ok());
    }

    #[test]
    fn s3a_refuses_an_open_volume() {
        let mut k = running();
        k.set_open_count(TOP, 1).unwrap();
        let e = s3a_guard(&k, "vmimages", "guest01-os")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[S3a]") && e.contains("1 opener"), "{e}");
    }

    #[test]
    fn s3a_fails_closed_when_the_open_count_query_fails() {
        let mut k = running();
        k.fail_on("info", TOP, EIO);
        let e = s3a_guard(&k, "vmimages", "guest01-os").unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let e = e.to_string();
        assert!(
            e.contains("[S3a]") && e.contains("cannot tell whether") && e.contains("injected"),
            "{e}"
        );
    }
}
