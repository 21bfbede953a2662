//! `dmclass snapshot create|merge|remove`: copy-on-write snapshots of a volume.
//!
//! `create` and `remove` are the declarative path in imperative form: the class as it
//! is on disk (`export`) with the snapshot added or removed goes through the same
//! validation, support-matrix gate, planner and executor as `apply`. `merge` runs the
//! engine's merge plan, then finishes any merge the kernel already completed (the
//! same finishing step `activate` runs).

use super::change;
use super::context::{
    changed_config, class_on_disks, confirmed, finish_merges, no_such, plan_and_run, plan_on_disks,
};
use crate::args::snapshot::{
    SnapshotAction, SnapshotArgs, SnapshotConfirmArgs, SnapshotCreateArgs,
};
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::ClassOnDisks;
use dmclass_engine::io::Kernel;
use dmclass_engine::names::{dm_name, Layer};
use dmclass_engine::plan::{self, PlanOptions};
use dmclass_model::{Class, Config, Environment, Located, Name, Snapshot, SnapshotKind, Span};
use dmclass_rules::Facts;
use std::process::ExitCode;

/// Run a `snapshot` subcommand.
pub fn run(args: &SnapshotArgs) -> Result<ExitCode, CliError> {
    change::locked_crash_tested(|backend| match &args.action {
        SnapshotAction::Create(a) => create(a, backend),
        SnapshotAction::Merge(m) if m.cancel => cancel(&m.target, backend),
        SnapshotAction::Merge(m) => ask(
            &m.target,
            "merge",
            "Merge snapshot {} into its origin? The origin's changes since the snapshot are lost.",
        )
        .and_then(|()| merge(&m.target, backend)),
        SnapshotAction::Remove(a) => ask(a, "remove", "Remove snapshot {}? Its data is lost.")
            .and_then(|()| remove(a, backend)),
    })
}

/// `--yes`, or the admin's answer (`prompt`'s `{}` is the snapshot); refused otherwise.
fn ask(a: &SnapshotConfirmArgs, what: &str, prompt: &str) -> Result<(), CliError> {
    confirmed(a.yes, &prompt.replace("{}", &a.snapshot.to_string()), what)
}

/// The class on disk as a validated configuration, after `change`.
fn config_of(c: &ClassOnDisks, change: impl FnOnce(&mut Class)) -> Result<Config, CliError> {
    changed_config("snapshot", c, change)
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
    let c = &class_on_disks(backend, cname)?;
    if c.meta.volume(vol).is_none() {
        return Err(no_such(cname, "volume", vol));
    }
    // S3a is about guests' volumes. A root class volume is the host's own system (the
    // "host system disk snapshot" row): its file system is frozen by dm's lockfs at
    // the suspend that stacks the snapshot, so being open is expected.
    let system = c.meta.class_type == dmclass_engine::metadata::ClassTypeMeta::Root;
    if facts.environment == Environment::KvmHost && !a.force && !system {
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
    let (facts, c) = &with_snapshot(backend, a)?;
    let config = config_of(c, |class| {
        class.snapshots.retain(|s| s.name.as_str() != snap);
    })?;
    plan_and_run(backend, &config, facts, true)?;
    println!("class {cname}: snapshot {snap} removed");
    Ok(ExitCode::SUCCESS)
}

/// The machine's facts and the class on its disks, which must have the snapshot `a`
/// names.
fn with_snapshot(
    backend: &mut Backend,
    a: &SnapshotConfirmArgs,
) -> Result<(Facts, ClassOnDisks), CliError> {
    let (cname, snap) = (a.snapshot.class.as_str(), a.snapshot.name.as_str());
    let facts = backend.facts(None)?;
    let c = class_on_disks(backend, cname)?;
    if dmclass_engine::cow::find(&c.meta, snap).is_none() {
        return Err(no_such(cname, "snapshot", snap));
    }
    Ok((facts, c))
}

/// Whether a merging snapshot still has its device: the merge waits (its origin was
/// open) and has not started.
fn pending(backend: &mut Backend, cname: &str, snap: &str) -> Result<bool, CliError> {
    let dev = dm_name(cname, snap, Layer::Top)?;
    let (kernel, _) = backend.parts();
    kernel
        .info(&dev)
        .map(|i| i.is_some())
        .map_err(|e| CliError::Refused(format!("cannot read device {dev}: {e}")))
}

/// `snapshot merge --cancel`: the snapshot is `active` again when its merge has not
/// started.
fn cancel(a: &SnapshotConfirmArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, snap) = (a.snapshot.class.as_str(), a.snapshot.name.as_str());
    let (facts, c) = &with_snapshot(backend, a)?;
    let config = config_of(c, |_| {})?;
    let Some(class) = config.classes.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let (p, bindings) = plan_on_disks(backend, class, facts, |b, actual, _| {
        Ok(plan::plan_merge_cancel(class, b, actual, snap)?)
    })?;
    change::execute(&p, &bindings, backend)?;
    println!("class {cname}: merge of snapshot {snap} withdrawn; the snapshot is kept");
    Ok(ExitCode::SUCCESS)
}

fn merge(a: &SnapshotConfirmArgs, backend: &mut Backend) -> Result<ExitCode, CliError> {
    let (cname, snap) = (a.snapshot.class.as_str(), a.snapshot.name.as_str());
    let facts = backend.facts(None)?;
    let c = &class_on_disks(backend, cname)?;
    let Some(view) = dmclass_engine::cow::find(&c.meta, snap) else {
        return Err(no_such(cname, "snapshot", snap));
    };
    if view.state == dmclass_engine::metadata::CowState::Merging {
        if finish_merges(backend, c)? {
            println!(
                "class {cname}: snapshot {snap} merged into {} and removed",
                view.origin
            );
        } else if pending(backend, cname, snap)? {
            println!(
                "class {cname}: the merge of snapshot {snap} waits for the next activation of {} \
                 (the next boot for the running system); `--cancel` withdraws it",
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
    let (p, bindings) = plan_on_disks(backend, class, &facts, |b, actual, _| {
        Ok(plan::plan_merge(
            class,
            b,
            actual,
            snap,
            &PlanOptions::default(),
        )?)
    })?;
    change::execute(&p, &bindings, backend)?;
    for n in &p.notes {
        println!("note: {n}");
    }
    if pending(backend, cname, snap)? {
        println!(
            "class {cname}: merge of snapshot {snap} into {} requested",
            view.origin
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "class {cname}: merge of snapshot {snap} into {} started",
        view.origin
    );
    // The kernel may already be done (small stores): finish now.
    let c = &class_on_disks(backend, cname)?;
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
