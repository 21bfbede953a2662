//! Checks a plan must pass against the live kernel before its first action, because
//! the plan could not see them: a plan reads the metadata and the list of live
//! devices, not their status lines.

use crate::error::Result;
use crate::io::Kernel;
use crate::names::{dm_name, Layer};
use crate::plan::{ActionKind, Plan};

/// Refuse a plan that parts a proxy (it creates the proxy's own device) while the copy
/// to that proxy is unfinished: the parted copy would be torn. The executor runs this
/// before any action; `apply` also runs it for every plan before the first one runs,
/// so a refused part changes nothing in any class.
pub fn check_parts_in_sync(plan: &Plan, kernel: &dyn Kernel) -> Result<()> {
    for proxy in crate::proxy::proxies(&plan.new_meta) {
        let Ok(dev) = dm_name(&plan.class, proxy.name, Layer::Top) else {
            continue;
        };
        let parts = plan
            .actions
            .iter()
            .any(|a| a.kind == ActionKind::Create && a.object == dev);
        if parts {
            crate::proxy::check_in_sync(kernel, &plan.new_meta, proxy.name)?;
        }
    }
    Ok(())
}
