//! The rule gate (docs/support-matrix.md): does this configuration fit the support matrix on this
//! machine, and are its disks safe to use? Pure: reads only the config and the facts.

mod devices;
mod n3;
mod report;
mod uses;

pub use devices::matches as disk_matches;
pub use report::{Allowance, Finding, Report};

use crate::facts::Facts;
use crate::kind::DeviceKind;
use crate::matrix::{matrix, BootRequirement, Function, Matrix, Rule, RuleClass};
use dmclass_model::{BootMode, Class, Config, Environment};
use std::collections::{BTreeMap, BTreeSet};
use uses::{class_uses, Use};

/// Checks `config` against the embedded matrix and `facts`.
pub fn gate(config: &Config, facts: &Facts) -> Report {
    match matrix() {
        Ok(m) => gate_with(m, config, facts),
        Err(e) => Report {
            denials: vec![defect(&e)],
            ..Report::default()
        },
    }
}

/// The denial when the embedded matrix does not load.
fn defect(e: &crate::RulesError) -> Finding {
    Finding {
        rule: Vec::new(),
        class: None,
        object: None,
        span: None,
        message: e.to_string(),
        hint: Some("this is a defect of the dmclass build; please report it".into()),
    }
}

/// Checks `config` against matrix `m` and `facts`.
pub fn gate_with(m: &Matrix, config: &Config, facts: &Facts) -> Report {
    let mut report = Report::default();
    let env = config.environment.unwrap_or(facts.environment);
    if env != facts.environment {
        report.denials.push(Finding {
            rule: Vec::new(),
            class: None,
            object: None,
            span: config.environment_span,
            message: format!(
                "config asserts environment {env}, detected {}",
                facts.environment
            ),
            hint: Some(
                "set `environment: auto`, or override detection with `--env` if it is wrong".into(),
            ),
        });
    }
    let resolved = devices::check_disks(config, facts, &mut report.denials);
    let ctx = Ctx {
        env,
        boot: facts.boot,
    };
    let me = facts
        .machine
        .hostname
        .as_deref()
        .and_then(|h| h.trim().split('.').next());
    for (class, disks) in config.classes.iter().zip(&resolved) {
        // A netmirror disk local to another node is reached here over the network (an
        // NVMe/TCP namespace): its kind is the partner's to judge, where it is local.
        let elsewhere = |name: &str| {
            class.disks.iter().any(|d| {
                d.name.as_str() == name && d.node.as_deref().is_some_and(|n| Some(n) != me)
            })
        };
        let kinds: BTreeMap<&str, DeviceKind> = disks
            .iter()
            .filter(|(name, _)| !elsewhere(name.as_str()))
            .map(|(name, &i)| (name.as_str(), facts.disks[i].kind))
            .collect();
        for u in class_uses(class) {
            evaluate(m, ctx, class, &u, &kinds, &mut report);
            notes_for_use(m, class, &u, &mut report);
        }
    }
    n3::n3_warnings(m, config, facts, env, &resolved, &mut report.warnings);
    report
}

/// Checks one `function` of `class` on this machine (environment and boot mode; no
/// disk): for operations asked of a machine before any configuration names them, such
/// as `dmclass bootenv`, which is denied on a KVM guest even when no root class exists
/// there. The class gives the class type and the name in the message.
pub fn gate_function(class: &Class, function: Function, facts: &Facts) -> Report {
    let mut report = Report::default();
    let m = match matrix() {
        Ok(m) => m,
        Err(e) => {
            report.denials.push(defect(&e));
            return report;
        }
    };
    let ctx = Ctx {
        env: facts.environment,
        boot: facts.boot,
    };
    let u = Use {
        function,
        disks: BTreeSet::new(),
        objects: vec![class.name.to_string()],
        span: class.span,
    };
    evaluate(m, ctx, class, &u, &BTreeMap::new(), &mut report);
    // Nothing in a file asked for it: no position to point at.
    for d in &mut report.denials {
        d.span = None;
    }
    report
}

#[derive(Debug, Clone, Copy)]
struct Ctx {
    env: Environment,
    boot: BootMode,
}

/// A condition of a row that the layout fails.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    Env(Vec<Environment>),
    Class(Vec<RuleClass>),
    Boot,
    Limited(String),
    Kinds {
        bad: Vec<(String, DeviceKind)>,
        allowed: Vec<DeviceKind>,
    },
}

fn failures(
    rule: &Rule,
    ctx: Ctx,
    class: &Class,
    u: &Use,
    kinds: &BTreeMap<&str, DeviceKind>,
) -> Vec<Failure> {
    let mut out = Vec::new();
    if !rule.environments.contains(&ctx.env) {
        out.push(Failure::Env(rule.environments.clone()));
    }
    if !rule.classes.contains(&RuleClass::from(class.class_type)) {
        out.push(Failure::Class(rule.classes.clone()));
    }
    if rule.boot == BootRequirement::Uefi && ctx.boot != BootMode::Uefi {
        out.push(Failure::Boot);
    }
    if rule.environments.contains(&ctx.env) {
        match rule.kinds_for(u.function, ctx.env) {
            None => {
                let note = rule
                    .limits
                    .iter()
                    .find(|l| l.function == u.function)
                    .map_or_else(String::new, |l| l.note.clone());
                out.push(Failure::Limited(note));
            }
            Some(allowed) => {
                let bad: Vec<(String, DeviceKind)> = u
                    .disks
                    .iter()
                    .filter_map(|d| kinds.get(d.as_str()).map(|k| (d.clone(), *k)))
                    .filter(|(_, k)| !allowed.contains(k))
                    .collect();
                if !bad.is_empty() {
                    out.push(Failure::Kinds {
                        bad,
                        allowed: allowed.to_vec(),
                    });
                }
            }
        }
    }
    out
}

fn join<T: std::fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(sep)
}

fn describe(f: &Failure, ctx: Ctx, class: &Class, function: Function) -> String {
    match f {
        Failure::Env(envs) => format!("needs {}; this is {}", join(envs, " or "), ctx.env),
        Failure::Class(cls) => format!(
            "needs a {} class; `{}` is a {} class",
            join(cls, " or "),
            class.name,
            class.class_type.as_str()
        ),
        Failure::Boot => format!(
            "{} class needs UEFI; this {} booted with BIOS",
            class.class_type.as_str(),
            ctx.env
        ),
        Failure::Limited(note) if note.is_empty() => {
            format!("{function} is not available in {}", ctx.env)
        }
        Failure::Limited(note) => format!("{function} is not available in {}: {note}", ctx.env),
        Failure::Kinds { bad, allowed } => {
            let disks: Vec<String> = bad.iter().map(|(d, k)| format!("`{d}` is {k}")).collect();
            format!(
                "disk {} ({} allows {})",
                disks.join(", disk "),
                ctx.env,
                join(allowed, ", ")
            )
        }
    }
}

fn evaluate(
    m: &Matrix,
    ctx: Ctx,
    class: &Class,
    u: &Use,
    kinds: &BTreeMap<&str, DeviceKind>,
    report: &mut Report,
) {
    let candidates: Vec<(&Rule, Vec<Failure>)> = m
        .rules
        .iter()
        .filter(|r| r.functions.contains(&u.function))
        .map(|r| (r, failures(r, ctx, class, u, kinds)))
        .collect();
    let allowing: Vec<String> = candidates
        .iter()
        .filter(|(_, f)| f.is_empty())
        .map(|(r, _)| r.id.clone())
        .collect();
    if !allowing.is_empty() {
        report.allowed.push(Allowance {
            class: class.name.to_string(),
            function: u.function,
            rules: allowing,
        });
        return;
    }
    // Closest rows: fewest failed conditions; among those, prefer rows for this environment.
    let min = candidates.iter().map(|(_, f)| f.len()).min().unwrap_or(0);
    let mut closest: Vec<&(&Rule, Vec<Failure>)> =
        candidates.iter().filter(|(_, f)| f.len() == min).collect();
    if closest
        .iter()
        .any(|(r, _)| r.environments.contains(&ctx.env))
    {
        closest.retain(|(r, _)| r.environments.contains(&ctx.env));
    }
    let reasons: Vec<String> = closest
        .iter()
        .map(|(r, fs)| {
            let what: Vec<String> = fs
                .iter()
                .map(|f| describe(f, ctx, class, u.function))
                .collect();
            format!("{} (rule {})", what.join("; "), r.id)
        })
        .collect();
    let mut rule: Vec<String> = closest.iter().map(|(r, _)| r.id.clone()).collect();
    let class_kind = RuleClass::from(class.class_type);
    let hint = m
        .hints
        .iter()
        .find(|h| h.applies(u.function, class_kind, ctx.env));
    let (message, hint) = match hint {
        Some(h) => {
            rule.insert(0, h.id.clone());
            (
                format!("{}: {}", h.message, reasons.join("; ")),
                h.hint.clone(),
            )
        }
        None => (
            format!(
                "{} in {} class `{}` is not supported here: {}",
                u.function,
                class.class_type.as_str(),
                class.name,
                reasons.join("; ")
            ),
            closest
                .iter()
                .map(|(r, _)| format!("{}: {}", r.id, r.title))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    // A denial that is only about device kinds names the offending disks.
    let only_kinds: Vec<&str> = closest
        .iter()
        .flat_map(|(_, fs)| fs.iter())
        .filter_map(|f| match f {
            Failure::Kinds { bad, .. } => Some(bad.iter().map(|(d, _)| d.as_str())),
            _ => None,
        })
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let object = if only_kinds.is_empty() {
        u.objects.join(", ")
    } else {
        only_kinds.join(", ")
    };
    report.denials.push(Finding {
        rule,
        class: Some(class.name.to_string()),
        object: Some(object),
        span: Some(u.span),
        message,
        hint: Some(hint),
    });
}

fn note_text(m: &Matrix, id: &str) -> Option<String> {
    m.note(id).map(|n| n.text.clone())
}

/// N1 (vSAN disk in inter-server mirroring: denied) and N2 (vSAN disk mirrored: warning).
fn notes_for_use(m: &Matrix, class: &Class, u: &Use, report: &mut Report) {
    let vsan: Vec<&str> = class
        .disks
        .iter()
        .filter(|d| d.vsan && u.disks.contains(d.name.as_str()))
        .map(|d| d.name.as_str())
        .collect();
    if vsan.is_empty() {
        return;
    }
    let span = class
        .disks
        .iter()
        .find(|d| d.name.as_str() == vsan[0])
        .map(|d| d.span);
    let (id, message, to) = match u.function {
        Function::InterServerMirroring => (
            "N1",
            "vSAN disk in an inter-server mirror (netmirror)",
            &mut report.denials,
        ),
        Function::DiskMirroring | Function::SystemDiskMirroring => (
            "N2",
            "vSAN disk in a dmclass mirror: it is then made redundant twice",
            &mut report.warnings,
        ),
        _ => return,
    };
    to.push(Finding {
        rule: vec![id.to_string()],
        class: Some(class.name.to_string()),
        object: Some(vsan.join(", ")),
        span,
        message: format!("{message} ({})", u.objects.join(", ")),
        hint: note_text(m, id),
    });
}
