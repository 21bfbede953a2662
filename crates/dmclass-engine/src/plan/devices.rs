//! The device-mapper devices of a volume as the plan builds them: the activation
//! (legs in state `COPY` are rebuilt, a netmirror leg on the partner's disk is read
//! only when the local one cannot serve) and, for a proxy master, its proxy's leg.
//! `node` is this machine's node name ([`crate::plan::Actual::node`]).

use crate::error::Result;
use crate::layout::SliceState;
use crate::metadata::{ClassMeta, VolumeMeta};
use crate::tables::{volume_devices, Activation, DeviceSpec};

/// The activation a volume's devices are built with: rebuild legs in state `COPY`;
/// legs on another node's disk `write_mostly`.
pub(crate) fn activation(meta: &ClassMeta, vol: &VolumeMeta, node: Option<&str>) -> Activation {
    Activation {
        write_mostly: crate::netmirror::remote_legs(meta, vol, node),
        rebuild: vol
            .layout
            .legs
            .iter()
            .enumerate()
            .filter(|(_, l)| l.state == SliceState::Copy)
            .map(|(i, _)| i)
            .collect(),
        ..Activation::default()
    }
}

pub(crate) fn specs(
    meta: &ClassMeta,
    vol: &VolumeMeta,
    node: Option<&str>,
) -> Result<Vec<DeviceSpec>> {
    let mut specs = own_specs(meta, vol, node)?;
    crate::root::mark_copies(meta, vol, &mut specs);
    Ok(specs)
}

fn own_specs(meta: &ClassMeta, vol: &VolumeMeta, node: Option<&str>) -> Result<Vec<DeviceSpec>> {
    if crate::proxy::proxy_of(meta, &vol.name).is_none() {
        // no proxy leg to add: the volume as recorded (no copy of it)
        return volume_devices(&meta.name, meta.uuid, vol, &activation(meta, vol, node));
    }
    // A proxy master carries its proxy's leg (slot N, `- -` while parted).
    let (v, missing) = crate::proxy::master_view(meta, vol);
    let mut act = activation(meta, &v, node);
    // A slot left out (`- -`) is never rebuilt: dm-raid refuses `rebuild N` for it
    // ("Drive designated for rebuild not specified"). Seen parting a proxy whose
    // join was cut before its leg was recorded `ACTIVE`.
    act.rebuild.retain(|i| !missing.contains(i));
    act.missing = missing;
    volume_devices(&meta.name, meta.uuid, &v, &act)
}
