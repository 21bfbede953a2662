//! The device-mapper devices of a volume as the plan builds them: the activation
//! (legs in state `COPY` are rebuilt) and, for a proxy master, its proxy's leg.

use crate::error::Result;
use crate::layout::SliceState;
use crate::metadata::{ClassMeta, VolumeMeta};
use crate::tables::{volume_devices, Activation, DeviceSpec};

/// The activation a volume's devices are built with: rebuild legs in state `COPY`.
pub(crate) fn activation(vol: &VolumeMeta) -> Activation {
    Activation {
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

pub(crate) fn specs(meta: &ClassMeta, vol: &VolumeMeta) -> Result<Vec<DeviceSpec>> {
    let mut specs = own_specs(meta, vol)?;
    crate::root::mark_copies(meta, vol, &mut specs);
    Ok(specs)
}

fn own_specs(meta: &ClassMeta, vol: &VolumeMeta) -> Result<Vec<DeviceSpec>> {
    if crate::proxy::proxy_of(meta, &vol.name).is_none() {
        // no proxy leg to add: the volume as recorded (no copy of it)
        return volume_devices(&meta.name, meta.uuid, vol, &activation(vol));
    }
    // A proxy master carries its proxy's leg (slot N, `- -` while parted).
    let (v, missing) = crate::proxy::master_view(meta, vol);
    let mut act = activation(&v);
    // A slot left out (`- -`) is never rebuilt: dm-raid refuses `rebuild N` for it
    // ("Drive designated for rebuild not specified"). Seen parting a proxy whose
    // join was cut before its leg was recorded `ACTIVE`.
    act.rebuild.retain(|i| !missing.contains(i));
    act.missing = missing;
    volume_devices(&meta.name, meta.uuid, &v, &act)
}
