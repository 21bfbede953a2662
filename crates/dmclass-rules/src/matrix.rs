//! The support matrix (docs/support-matrix.md) as data: `rules.yaml`, embedded and parsed on first use.

use crate::error::RulesError;
use crate::kind::DeviceKind;
use dmclass_model::{ClassType, Environment};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

/// The embedded rule table.
pub const RULES_YAML: &str = include_str!("rules.yaml");

/// A function (GDS / GDS Snapshot feature) a layout uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    /// Mirror groups in a root class.
    SystemDiskMirroring,
    /// Mirror groups (and stripe/concat under them) in a local or shared class.
    DiskMirroring,
    /// Disks without dmclass mirroring: single disks, stripe and concat groups.
    DiskManagement,
    /// Netmirror groups: one disk per node of a shared class.
    InterServerMirroring,
    /// dm-snapshot copy-on-write snapshots.
    CowSnapshot,
    /// Proxy volumes (split-mirror snapshots).
    ProxySnapshot,
    /// A proxy of a root class volume: an alternative boot environment.
    AlternativeBoot,
    /// `copy: offload` on a proxy (storage-array copy).
    CopyOffload,
}

impl Function {
    /// Every function, in display order.
    pub const ALL: [Function; 8] = [
        Function::SystemDiskMirroring,
        Function::DiskMirroring,
        Function::DiskManagement,
        Function::InterServerMirroring,
        Function::CowSnapshot,
        Function::ProxySnapshot,
        Function::AlternativeBoot,
        Function::CopyOffload,
    ];

    /// The name used in YAML, JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::SystemDiskMirroring => "system-disk-mirroring",
            Function::DiskMirroring => "disk-mirroring",
            Function::DiskManagement => "disk-management",
            Function::InterServerMirroring => "inter-server-mirroring",
            Function::CowSnapshot => "cow-snapshot",
            Function::ProxySnapshot => "proxy-snapshot",
            Function::AlternativeBoot => "alternative-boot",
            Function::CopyOffload => "copy-offload",
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Class type as the matrix spells it (the model's [`ClassType`] carries no serde).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleClass {
    /// Root class.
    Root,
    /// Local class.
    Local,
    /// Shared class.
    Shared,
}

impl From<ClassType> for RuleClass {
    fn from(t: ClassType) -> Self {
        match t {
            ClassType::Root => RuleClass::Root,
            ClassType::Local => RuleClass::Local,
            ClassType::Shared => RuleClass::Shared,
        }
    }
}

impl RuleClass {
    /// YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleClass::Root => "root",
            RuleClass::Local => "local",
            RuleClass::Shared => "shared",
        }
    }
}

impl fmt::Display for RuleClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Firmware a row requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BootRequirement {
    /// UEFI only.
    Uefi,
    /// UEFI or BIOS.
    Any,
}

/// Per-environment allowed device kinds.
pub type DeviceMap = BTreeMap<Environment, Vec<DeviceKind>>;

/// A narrower device set for one function within a row (S5/S6: copy offload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// The function limited.
    pub function: Function,
    /// Where it is allowed, and on which kinds; an environment missing here denies it.
    pub devices: DeviceMap,
    /// Why.
    pub note: String,
}

/// One row of the support matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Row id (`G1` ... `S6`, `BM`), cited by denials.
    pub id: String,
    /// What the row is for.
    pub title: String,
    /// Functions the row allows.
    pub functions: Vec<Function>,
    /// Environments the row applies to.
    pub environments: Vec<Environment>,
    /// Class types.
    pub classes: Vec<RuleClass>,
    /// Firmware requirement.
    pub boot: BootRequirement,
    /// Allowed device kinds per environment (keys equal `environments`).
    pub devices: DeviceMap,
    /// Narrower device sets for single functions.
    #[serde(default)]
    pub limits: Vec<Limit>,
    /// Remarks from the seed document.
    #[serde(default)]
    pub note: Option<String>,
}

impl Rule {
    /// Device kinds allowed for `function` in `env` by this row (limits applied); `None`
    /// when the row does not cover that environment for that function.
    pub fn kinds_for(&self, function: Function, env: Environment) -> Option<&[DeviceKind]> {
        match self.limits.iter().find(|l| l.function == function) {
            Some(limit) => limit.devices.get(&env).map(Vec::as_slice),
            None => self.devices.get(&env).map(Vec::as_slice),
        }
    }
}

/// Severity of a note's finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Refuses the layout.
    Deny,
    /// Lets it pass with a warning.
    Warn,
}

/// A note of the matrix (N1–N3): checked by the gate, text from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// Note id.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Deny or warn.
    pub severity: Severity,
    /// Advice given with each finding.
    pub text: String,
}

/// Explanation for a combination outside the matrix (root class in a KVM guest, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyHint {
    /// Hint id.
    pub id: String,
    /// Environments it applies to.
    pub environments: Vec<Environment>,
    /// Class types it applies to (empty: any).
    #[serde(default)]
    pub classes: Vec<RuleClass>,
    /// Functions it applies to (empty: any).
    #[serde(default)]
    pub functions: Vec<Function>,
    /// What is not supported.
    pub message: String,
    /// What to do instead.
    pub hint: String,
}

impl DenyHint {
    /// True when the hint explains `function` of a `class` class in `env`.
    pub fn applies(&self, function: Function, class: RuleClass, env: Environment) -> bool {
        self.environments.contains(&env)
            && (self.classes.is_empty() || self.classes.contains(&class))
            && (self.functions.is_empty() || self.functions.contains(&function))
    }
}

/// The whole support matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Format version.
    pub version: u32,
    /// The rows.
    pub rules: Vec<Rule>,
    /// Notes N1–N3.
    pub notes: Vec<Note>,
    /// Explanations for combinations outside the rows.
    pub hints: Vec<DenyHint>,
}

impl Matrix {
    /// Parses and validates a matrix document.
    pub fn from_yaml(text: &str) -> Result<Matrix, RulesError> {
        let m: Matrix = serde_yaml::from_str(text).map_err(|e| RulesError::MatrixParse {
            message: e.to_string(),
        })?;
        m.validate()?;
        Ok(m)
    }

    /// A row by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// A note by id.
    pub fn note(&self, id: &str) -> Option<&Note> {
        self.notes.iter().find(|n| n.id == id)
    }

    fn validate(&self) -> Result<(), RulesError> {
        let bad = |entry: &str, reason: String| RulesError::MatrixInvalid {
            entry: entry.to_string(),
            reason,
        };
        let mut ids = BTreeSet::new();
        let all_ids = self
            .rules
            .iter()
            .map(|r| &r.id)
            .chain(self.notes.iter().map(|n| &n.id))
            .chain(self.hints.iter().map(|h| &h.id));
        for id in all_ids {
            if !ids.insert(id.as_str()) {
                return Err(bad(id, "duplicate id".into()));
            }
        }
        for r in &self.rules {
            if r.functions.is_empty() || r.environments.is_empty() || r.classes.is_empty() {
                return Err(bad(
                    &r.id,
                    "functions, environments and classes must not be empty".into(),
                ));
            }
            let envs: BTreeSet<_> = r.environments.iter().collect();
            let keys: BTreeSet<_> = r.devices.keys().collect();
            if envs != keys {
                return Err(bad(
                    &r.id,
                    "devices must list exactly the row's environments".into(),
                ));
            }
            for l in &r.limits {
                if !r.functions.contains(&l.function) {
                    return Err(bad(
                        &r.id,
                        format!("limit on {} which the row does not allow", l.function),
                    ));
                }
                if l.devices.keys().any(|e| !envs.contains(e)) {
                    return Err(bad(
                        &r.id,
                        format!(
                            "limit on {} names an environment outside the row",
                            l.function
                        ),
                    ));
                }
            }
        }
        for f in Function::ALL {
            if !self.rules.iter().any(|r| r.functions.contains(&f)) {
                return Err(bad(f.as_str(), "no row allows this function".into()));
            }
        }
        Ok(())
    }
}

/// The embedded matrix, parsed once. A broken `rules.yaml` is an error, not a panic.
pub fn matrix() -> Result<&'static Matrix, RulesError> {
    static MATRIX: OnceLock<Result<Matrix, RulesError>> = OnceLock::new();
    MATRIX
        .get_or_init(|| Matrix::from_yaml(RULES_YAML))
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_matrix_parses_and_has_every_row() {
        let m = matrix().unwrap();
        for id in [
            "G1", "G2", "G3", "G4", "G5", "S1", "S2", "S3a", "S3b", "S4", "S5a", "S5b", "S6", "BM",
        ] {
            assert!(m.rule(id).is_some(), "row {id} missing");
        }
        for id in ["N1", "N2", "N3"] {
            assert!(m.note(id).is_some(), "note {id} missing");
        }
        let bm = m.rule("BM").unwrap();
        assert_eq!(bm.functions, Function::ALL.to_vec());
    }

    #[test]
    fn copy_offload_limit_applies() {
        let m = matrix().unwrap();
        let s5b = m.rule("S5b").unwrap();
        assert_eq!(
            s5b.kinds_for(Function::CopyOffload, Environment::KvmGuest),
            None
        );
        assert_eq!(
            s5b.kinds_for(Function::CopyOffload, Environment::VmwareGuest),
            Some(&[DeviceKind::VmwareRdm][..])
        );
        assert_eq!(
            s5b.kinds_for(Function::CowSnapshot, Environment::KvmGuest),
            Some(&[DeviceKind::VirtioBlk, DeviceKind::VirtioScsi][..])
        );
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(matches!(
            Matrix::from_yaml("version: [1"),
            Err(RulesError::MatrixParse { .. })
        ));
        assert!(matches!(
            Matrix::from_yaml("version: 1\nrules: []\nnotes: []\nhints: []\nextra: 1"),
            Err(RulesError::MatrixParse { .. })
        ));
        let dup = RULES_YAML.replacen("id: G2", "id: G1", 1);
        assert_eq!(
            Matrix::from_yaml(&dup),
            Err(RulesError::MatrixInvalid {
                entry: "G1".into(),
                reason: "duplicate id".into()
            })
        );
        let mismatch =
            RULES_YAML.replacen("environments: [kvm-host]", "environments: [bare-metal]", 1);
        assert!(matches!(
            Matrix::from_yaml(&mismatch),
            Err(RulesError::MatrixInvalid { entry, .. }) if entry == "G1"
        ));
        let uncovered = "version: 1\nrules: []\nnotes: []\nhints: []\n";
        assert!(matches!(
            Matrix::from_yaml(uncovered),
            Err(RulesError::MatrixInvalid { .. })
        ));
    }

    #[test]
    fn json_round_trip() {
        let m = matrix().unwrap();
        let json = serde_json::to_string(m).unwrap();
        let back: Matrix = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, m);
        assert!(json.contains("\"system-disk-mirroring\""));
    }
}
