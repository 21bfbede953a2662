//! What the commands share: the classes found on this machine's disks, asking before
//! a change, and changing a class on disk the declarative way (export it, edit it,
//! plan and run it like `apply`).

use super::change;
use crate::backend::Backend;
use crate::error::CliError;
use dmclass_engine::assemble::{self, ClassOnDisks};
use dmclass_engine::io::Kernel;
use dmclass_engine::plan::{self, Actual, DiskBinding, PlanOptions};
use dmclass_model::{Class, Config};
use dmclass_rules::Facts;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Every class whose metadata is on this machine's disks.
pub(super) fn found_classes(backend: &mut Backend) -> Result<Vec<ClassOnDisks>, CliError> {
    let facts = backend.facts(None)?;
    let paths: Vec<_> = facts.disks.iter().map(|d| d.devnode.clone()).collect();
    Ok(found_classes_on(backend, &paths))
}

/// Every class whose metadata is on `paths` (this machine's disks, probed by the
/// caller: [`found_classes`] without a second probe).
pub(super) fn found_classes_on(backend: &mut Backend, paths: &[PathBuf]) -> Vec<ClassOnDisks> {
    let (_, disks) = backend.parts();
    let scan = assemble::scan(paths, &*disks);
    for (path, why) in &scan.damaged {
        eprintln!(
            "warning: {}: its dmclass metadata was not used (unreadable or damaged; nothing is written to this disk): {why}",
            path.display()
        );
    }
    for h in &scan.hostile {
        eprintln!(
            "warning: {}: dmclass label of class {} is not trusted (DISABLE, not used, not written): {}",
            h.path.display(),
            h.area.meta.name,
            h.reason
        );
    }
    // The node a netmirror volume started here reads from (its own leg).
    let node = super::lease::node_name(backend).ok();
    let mut classes = assemble::classes_of(&scan);
    for c in &mut classes {
        c.node.clone_from(&node);
    }
    classes
}

fn not_found(name: &str, classes: &[ClassOnDisks]) -> CliError {
    let known: Vec<&str> = classes.iter().map(|c| c.meta.name.as_str()).collect();
    CliError::Refused(format!(
        "no class `{name}` on this machine's disks (found: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

/// Pick the named classes, refusing unknown names before anything is done.
pub(super) fn select<'a>(
    classes: &'a [ClassOnDisks],
    names: &[String],
) -> Result<Vec<&'a ClassOnDisks>, CliError> {
    names
        .iter()
        .map(|n| {
            classes
                .iter()
                .find(|c| &c.meta.name == n)
                .ok_or_else(|| not_found(n, classes))
        })
        .collect()
}

/// Class `name` as found on this machine's disks (see [`found_classes`]), refused
/// when there is none: the start of every command on one class.
pub(super) fn class_on_disks(backend: &mut Backend, name: &str) -> Result<ClassOnDisks, CliError> {
    let mut classes = found_classes(backend)?;
    match classes.iter().position(|c| c.meta.name == name) {
        Some(i) => Ok(classes.swap_remove(i)),
        None => Err(not_found(name, &classes)),
    }
}

/// The refusal for an object the command names but class `class` does not have
/// (`what`: volume, snapshot, proxy).
pub(super) fn no_such(class: &str, what: &str, name: &str) -> CliError {
    CliError::Refused(format!("class {class} has no {what} `{name}`"))
}

/// Ask on the terminal; without one, refuse rather than guess. `what` names the
/// change in the refusal (`apply`, `restore`).
pub(super) fn confirm(prompt: &str, what: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Refused(format!(
            "not confirmed: standard input is not a terminal; use --yes to {what} without asking; nothing was changed"
        )));
    }
    eprint!("{prompt} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Output(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES"))
}

/// `--yes`, or the admin's yes to `prompt` (see [`confirm`]); refused otherwise.
pub(super) fn confirmed(yes: bool, prompt: &str, what: &str) -> Result<(), CliError> {
    if yes || confirm(prompt, what)? {
        Ok(())
    } else {
        Err(CliError::Refused(
            "not confirmed; nothing was changed".into(),
        ))
    }
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

/// A plan for `class` against what its disks and the kernel hold now, made by `make`
/// (one of the engine's planners), with the disk bindings the executor needs to run it.
pub(super) fn plan_on_disks<P>(
    backend: &mut Backend,
    class: &Class,
    facts: &Facts,
    make: impl FnOnce(&[DiskBinding], &Actual, &dyn Kernel) -> Result<P, CliError>,
) -> Result<(P, Vec<DiskBinding>), CliError> {
    let bindings = plan::bind_disks(class, facts)?;
    let actual = actual_here(backend, &bindings)?;
    let (kernel, _) = backend.parts();
    let p = make(&bindings, &actual, &*kernel)?;
    Ok((p, bindings))
}

/// What the bound disks and the kernel hold now, and this machine's node name (a
/// netmirror volume's tables are built for the node they run on).
pub(super) fn actual_here(
    backend: &mut Backend,
    bindings: &[DiskBinding],
) -> Result<Actual, CliError> {
    let node = super::lease::node_name(backend).ok();
    let (kernel, disks) = backend.parts();
    let mut actual = plan::read_actual(bindings, &*disks, &*kernel)?;
    actual.node = node;
    Ok(actual)
}

/// Gate, plan and run the first class of `config` (a class on disk after
/// [`changed_config`]), as `apply` would.
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
    // A root class's disks carry the partition tables its conversion wrote.
    let gated = {
        let (_, disks) = backend.parts();
        crate::config::with_own_tables(config, facts, &*disks)
    };
    crate::config::gate(Path::new(&label), config, &gated)?;
    let opts = PlanOptions {
        allow_destroy,
        id_seed: None,
    };
    let (p, bindings) = plan_on_disks(backend, class, facts, |b, actual, _| {
        Ok(plan::plan(class, b, actual, &opts)?)
    })?;
    for n in &p.notes {
        println!("note: {n}");
    }
    change::execute(&p, &bindings, backend)?;
    Ok(())
}

/// Finish the completed merges of every class (the monitor's poll: the kernel raises
/// no dm event when a `snapshot-merge` completes); the classes that finished one.
/// Damaged labels are not reported here (`status` and `activate` do).
pub(super) fn finish_all_merges(backend: &mut Backend) -> Result<Vec<String>, CliError> {
    let facts = backend.facts(None)?;
    let paths: Vec<_> = facts.disks.iter().map(|d| d.devnode.clone()).collect();
    let (_, disks) = backend.parts();
    let classes = assemble::classes_of(&assemble::scan(&paths, &*disks));
    let mut done = Vec::new();
    for c in &classes {
        if finish_merges(backend, c)? {
            done.push(c.meta.name.clone());
        }
    }
    Ok(done)
}

/// Finish merges of class `c` the kernel completed; true when one finished. Run by
/// `activate` and `snapshot merge`.
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
    let config = changed_config("snapshot", c, |_| {})?;
    let Some(class) = config.classes.first() else {
        return Ok(false);
    };
    let (p, bindings) = plan_on_disks(backend, class, &facts, |b, actual, kernel| {
        Ok(plan::plan_finish(class, b, actual, kernel)?)
    })?;
    match p {
        Some(p) => {
            change::execute(&p, &bindings, backend)?;
            Ok(true)
        }
        None => Ok(false),
    }
}
