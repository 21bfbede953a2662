//! `copy_rate`: a changed rate on a live raid1 volume is a reload of the top device
//! only (load, suspend, resume, verify) between metadata writes; inactive volumes and
//! single-leg volumes change metadata only; the rate is exported and stored in the
//! metadata only when set.
#![allow(clippy::unwrap_used)]

use super::tests::{apply, plan_for, world, yaml, MIRROR};
use super::{ActionKind, Plan};
use crate::export::export;
use crate::io::Kernel as _;
use crate::metadata::VolumeMeta;
use dmclass_model::Bytes;

const TOP: &str = "dmclass-data-v1";

fn with_rate(rate: Option<&str>) -> dmclass_model::Class {
    let rate = rate
        .map(|r| format!(", copy_rate: {r}"))
        .unwrap_or_default();
    yaml(
        &["d1", "d2"],
        &format!("{MIRROR}    volumes:\n      - {{name: v1, on: m, size: 16MiB{rate}}}\n"),
    )
}

fn kernel_steps(p: &Plan) -> Vec<(String, ActionKind)> {
    p.actions
        .iter()
        .filter(|a| !matches!(a.kind, ActionKind::WriteMetadata))
        .map(|a| (a.object.to_string(), a.kind))
        .collect()
}

#[test]
fn changing_copy_rate_reloads_exactly_the_top_device() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &with_rate(None), false).unwrap();
    let before = w.k.table(TOP).unwrap()[0].params.clone();
    assert!(!before.contains("recovery"), "{before}");

    let p = plan_for(&w, &with_rate(Some("50MiB")), false).unwrap();
    let reload = [
        ActionKind::Load,
        ActionKind::Suspend,
        ActionKind::Resume,
        ActionKind::Verify,
    ];
    let want: Vec<(String, ActionKind)> = reload.iter().map(|k| (TOP.to_owned(), *k)).collect();
    assert_eq!(kernel_steps(&p), want);
    assert_eq!(
        p.actions[0].kind,
        ActionKind::WriteMetadata,
        "metadata first"
    );
    assert!(p.new_meta.intent.is_some());
    assert_eq!(p.new_meta.volumes[0].copy_rate, Some(Bytes(50 << 20)));

    apply(&mut w, &with_rate(Some("50MiB")), false).unwrap();
    let live = w.k.table(TOP).unwrap()[0].params.clone();
    assert!(
        live.starts_with("raid1 5 0 max_recovery_rate 51200 region_size 128 2 "),
        "{live}"
    );
    // Applied: nothing left to do; the rate is exported for a round trip.
    let again = plan_for(&w, &with_rate(Some("50MiB")), false).unwrap();
    assert!(again.actions.is_empty(), "{:?}", kernel_steps(&again));
    let cfg = export(&again.new_meta).unwrap();
    assert_eq!(cfg.classes[0].volumes[0].copy_rate, Some(Bytes(50 << 20)));
    assert!(dmclass_model::to_yaml(&cfg).contains("copy_rate: 50MiB"));

    // Back to the kernel default: another top-only reload.
    let p = apply(&mut w, &with_rate(None), false).unwrap();
    assert_eq!(kernel_steps(&p), want);
    assert_eq!(w.k.table(TOP).unwrap()[0].params, before);
}

#[test]
fn copy_rate_of_an_inactive_volume_is_metadata_only() {
    let mut w = world(&["d1", "d2"], 128);
    apply(&mut w, &with_rate(None), false).unwrap();
    w.k.remove(TOP).unwrap();
    let p = plan_for(&w, &with_rate(Some("1MiB")), false).unwrap();
    assert!(kernel_steps(&p).is_empty(), "{:?}", kernel_steps(&p));
    assert_eq!(p.new_meta.volumes[0].copy_rate, Some(Bytes(1 << 20)));
}

#[test]
fn an_unset_rate_is_not_written_and_old_metadata_reads_as_unset() {
    let mut w = world(&["d1", "d2"], 128);
    let p = apply(&mut w, &with_rate(None), false).unwrap();
    let v = &p.new_meta.volumes[0];
    let mut json = serde_json::to_value(v).unwrap();
    assert!(json.get("copy_rate").is_none(), "{json}");
    let back: VolumeMeta = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.copy_rate, None);
    json["copy_rate"] = serde_json::json!(1_048_576);
    let back: VolumeMeta = serde_json::from_value(json).unwrap();
    assert_eq!(back.copy_rate, Some(Bytes(1 << 20)));
}
