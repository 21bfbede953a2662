//! Where dmclass runs: environment and boot mode (docs/support-matrix.md).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The virtualization scenario a machine is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Environment {
    /// No hypervisor.
    BareMetal,
    /// Runs KVM guests (has `/dev/kvm`) and is not itself a guest.
    KvmHost,
    /// A KVM or QEMU/TCG guest.
    KvmGuest,
    /// A VMware guest.
    VmwareGuest,
    /// Any other hypervisor's guest.
    OtherGuest,
}

impl Environment {
    /// Every environment, in display order.
    pub const ALL: [Environment; 5] = [
        Environment::BareMetal,
        Environment::KvmHost,
        Environment::KvmGuest,
        Environment::VmwareGuest,
        Environment::OtherGuest,
    ];

    /// The name used in YAML, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::BareMetal => "bare-metal",
            Environment::KvmHost => "kvm-host",
            Environment::KvmGuest => "kvm-guest",
            Environment::VmwareGuest => "vmware-guest",
            Environment::OtherGuest => "other-guest",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown environment or boot-mode name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{given}`; accepted: {accepted}")]
pub struct UnknownName {
    /// What was being parsed.
    pub what: &'static str,
    /// The text given.
    pub given: String,
    /// The accepted values, comma separated.
    pub accepted: String,
}

impl FromStr for Environment {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "environment",
                given: s.to_string(),
                accepted: Environment::ALL.map(Environment::as_str).join(", "),
            })
    }
}

/// Firmware the machine booted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootMode {
    /// UEFI (`/sys/firmware/efi` exists).
    Uefi,
    /// Legacy BIOS.
    Bios,
}

impl BootMode {
    /// The name used in YAML, JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BootMode::Uefi => "uefi",
            BootMode::Bios => "bios",
        }
    }
}

impl fmt::Display for BootMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BootMode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "uefi" => Ok(BootMode::Uefi),
            "bios" => Ok(BootMode::Bios),
            _ => Err(UnknownName {
                what: "boot mode",
                given: s.to_string(),
                accepted: "uefi, bios".to_string(),
            }),
        }
    }
}
