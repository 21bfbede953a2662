//! `dmclass probe`: what this machine is and what its disks are.

use crate::args::probe::ProbeArgs;
use crate::error::CliError;
use crate::output::{human, print_json, Schema, Table};
use dmclass_rules::{DiskFacts, Facts};
use std::fmt::Write as _;
use std::process::ExitCode;

/// Run `probe`.
pub fn run(args: &ProbeArgs) -> Result<ExitCode, CliError> {
    let facts = dmclass_linux::probe()?;
    if args.json {
        print_json(Schema::Probe, &facts)?;
    } else {
        print!("{}", render(&facts));
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable form of a facts document.
pub fn render(facts: &Facts) -> String {
    let m = &facts.machine;
    let mut out = format!(
        "environment: {}\nboot:        {}\n",
        facts.environment, facts.boot
    );
    let evidence: Vec<String> = [
        m.cpuid_hypervisor.as_ref().map(|v| format!("cpuid={v}")),
        m.dmi_sys_vendor.as_ref().map(|v| format!("dmi-vendor={v}")),
        m.dmi_product_name
            .as_ref()
            .map(|v| format!("dmi-product={v}")),
        m.dev_kvm.then(|| "/dev/kvm".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !evidence.is_empty() {
        let _ = writeln!(out, "evidence:    {}", evidence.join(", "));
    }
    out.push('\n');
    let mut t = Table::new(&[
        "DISK",
        "KIND",
        "SIZE",
        "ID",
        "SIGNATURES",
        "IN USE",
        "DMCLASS",
    ]);
    for d in &facts.disks {
        t.row(vec![
            d.devnode.display().to_string(),
            d.kind.to_string(),
            human(d.size),
            stable_id(d),
            signatures(d),
            in_use(d),
            d.dmclass
                .as_ref()
                .map_or_else(|| "-".to_string(), |l| format!("{}/{}", l.class, l.disk)),
        ]);
    }
    out.push_str(&t.render());
    out
}

/// The most stable identifier to put in a config: a by-id link, else serial or WWN.
fn stable_id(d: &DiskFacts) -> String {
    d.links
        .iter()
        .find(|l| l.starts_with("/dev/disk/by-id/"))
        .map(|l| l.display().to_string())
        .or_else(|| d.serial.as_ref().map(|s| format!("serial:{s}")))
        .or_else(|| d.wwn.as_ref().map(|w| format!("wwn:{w}")))
        .unwrap_or_else(|| "-".to_string())
}

fn signatures(d: &DiskFacts) -> String {
    if d.signatures.is_empty() {
        return "-".to_string();
    }
    d.signatures
        .iter()
        .map(|s| s.sig_type.clone())
        .collect::<Vec<_>>()
        .join(",")
}

fn in_use(d: &DiskFacts) -> String {
    let u = &d.in_use;
    let mut why: Vec<String> = u
        .mounted
        .iter()
        .map(|m| format!("mounted {}", m.display()))
        .collect();
    why.extend(u.holders.iter().map(|h| format!("held by {h}")));
    if u.exclusive {
        why.push("open exclusively".to_string());
    }
    if why.is_empty() {
        "no".to_string()
    } else {
        why.join("; ")
    }
}
