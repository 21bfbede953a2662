//! One function checked on a machine without a configuration (`dmclass bootenv`).
mod support;

use dmclass_model::ClassType;
use dmclass_rules::{gate_function, BootMode, Environment, Function};
use support::{class, facts};

fn check(env: Environment, boot: BootMode) -> dmclass_rules::Report {
    let c = class("sys", ClassType::Root, Vec::new());
    gate_function(&c, Function::AlternativeBoot, &facts(env, boot, &[]))
}

#[test]
fn boot_environments_only_where_the_matrix_lists_them() {
    let r = check(Environment::KvmHost, BootMode::Uefi);
    assert!(r.denials.is_empty(), "{r:?}");
    assert_eq!(r.allowed[0].rules, vec!["S1".to_owned()]);
    let r = check(Environment::VmwareGuest, BootMode::Uefi);
    assert!(r.denials.is_empty(), "{r:?}");
    assert_eq!(r.allowed[0].rules, vec!["S4".to_owned()]);
    let r = check(Environment::KvmHost, BootMode::Bios);
    assert_eq!(r.denials.len(), 1, "{r:?}");
    let d = &r.denials[0];
    assert!(d.rule.contains(&"S1".to_owned()), "{d:?}");
    assert!(d.message.contains("booted with BIOS"), "{d:?}");
    let r = check(Environment::KvmGuest, BootMode::Uefi);
    assert_eq!(r.denials.len(), 1, "{r:?}");
    let d = &r.denials[0];
    assert!(d.rule.iter().any(|x| x == "S1" || x == "S4"), "{d:?}");
    assert!(d.message.contains("kvm-guest"), "{d:?}");
}
