//! The engine's single error type. Every variant names the object it is about.

use dmclass_model::Sectors;

/// Everything that can go wrong in the pure engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Neither header copy of a private area is valid.
    #[error("disk {disk}: no valid dmclass header (copy A: {a}; copy B: {b})")]
    NoValidHeader {
        /// Disk label given by the caller.
        disk: String,
        /// Why copy A was rejected.
        a: MetaProblem,
        /// Why copy B was rejected.
        b: MetaProblem,
    },
    /// The disk carries no dmclass header at all (both copies absent).
    #[error("disk {disk}: not a dmclass member (no header magic at 4096 or 8192)")]
    NotMember {
        /// Disk label given by the caller.
        disk: String,
    },
    /// Neither configuration slot holds a valid class description.
    #[error("disk {disk}: no valid configuration slot (slot 0: {slot0}; slot 1: {slot1})")]
    NoValidSlot {
        /// Disk label given by the caller.
        disk: String,
        /// Why slot 0 was rejected.
        slot0: MetaProblem,
        /// Why slot 1 was rejected.
        slot1: MetaProblem,
    },
    /// Reading the private area failed (the I/O trait reported an error).
    #[error("disk {disk}: reading {len} bytes at offset {offset}: {reason}")]
    Read {
        /// Disk label given by the caller.
        disk: String,
        /// Byte offset in the private area.
        offset: u64,
        /// Bytes requested.
        len: usize,
        /// The reader's message.
        reason: String,
    },
    /// The class description does not fit in a slot.
    #[error("class metadata is {len} bytes, a slot holds at most {max}")]
    MetaTooLarge {
        /// Encoded body length.
        len: usize,
        /// Slot capacity.
        max: usize,
    },
    /// JSON serialisation of the class description failed.
    #[error("encoding class metadata: {0}")]
    MetaEncode(String),
    /// A write would not advance the generation.
    #[error("new metadata generation {new} is not newer than {current} already on disk")]
    StaleGeneration {
        /// Generation on disk.
        current: u64,
        /// Generation offered.
        new: u64,
    },
    /// A group (or single disk) has not enough free space for a request.
    #[error("no room on {on} for volume {volume}: {detail}")]
    NoRoom {
        /// Group or disk the volume is on.
        on: String,
        /// Volume being allocated or grown.
        volume: String,
        /// What was needed and what is free.
        detail: String,
    },
    /// A referenced disk is unknown to the allocator or class.
    #[error("unknown disk {0}")]
    UnknownDisk(String),
    /// A volume is placed on something that is neither a group nor a disk of the class.
    #[error("unknown group or disk {0}")]
    UnknownTarget(String),
    /// A layout or request is inconsistent (mirror legs of different size, bad stripe size...).
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    /// A size is out of range (zero, overflowing, below the minimum).
    #[error("invalid size {size} for {what}")]
    InvalidSize {
        /// What was being sized.
        what: String,
        /// The offending size.
        size: Sectors,
    },
    /// A generated device-mapper name is longer than the kernel allows.
    #[error("device name {name} is {len} bytes, the kernel allows at most 127")]
    NameTooLong {
        /// The generated name.
        name: String,
        /// Its length.
        len: usize,
    },
    /// A name component contains a reserved layer string.
    #[error("name {name} contains the reserved string {reserved}")]
    ReservedName {
        /// The admin's name.
        name: String,
        /// The reserved suffix it contains.
        reserved: &'static str,
    },
    /// A device reference could not be turned into `major:minor`.
    #[error("cannot resolve device {0} to major:minor")]
    Unresolved(String),
    /// Device-mapper table text does not follow the grammar of [`crate::dm`].
    #[error("device-mapper table: {0}")]
    TableSyntax(#[from] crate::dm::ParseError),
    /// A kernel status line could not be parsed.
    #[error("{target} status {input:?}: {reason}")]
    Status {
        /// Target type (`raid`, `mirror`).
        target: &'static str,
        /// What was wrong.
        reason: String,
        /// The offending text (truncated to 200 bytes).
        input: String,
    },
    /// The lock manager (sanlock) failed or answered something unexpected.
    #[error("leases: {0}")]
    Lease(String),
    /// Something the support matrix allows that this version does not build yet
    /// (`plan::unbuilt`).
    #[error("class {class}: {object}: allowed by the support matrix; not yet supported by this version: {why}; nothing was changed")]
    NotBuilt {
        /// Class name.
        class: String,
        /// What in the class (`type root`, `group g1 (type netmirror)`).
        object: String,
        /// What is missing and what would go wrong.
        why: String,
    },
    /// A change the planner will not make (or an unsafe state), with the reason.
    #[error("class {class}: {object}: {reason}")]
    Refused {
        /// Class name.
        class: String,
        /// Object refused (volume, disk, group, class).
        object: String,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// The on-disk metadata changed since the plan was made.
    #[error("class {class}: on-disk metadata is at generation {found}, the plan was made against {planned}; plan again")]
    MetadataChanged {
        /// Class name.
        class: String,
        /// Generation the plan was based on (`none` for a new class).
        planned: String,
        /// Generation found now.
        found: u64,
    },
    /// A kernel or disk operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the engine was doing.
        context: String,
        /// The failed operation.
        source: crate::io::IoError,
    },
    /// A table read back from the kernel differs from the one loaded.
    #[error("device {device}: table read back differs from the one loaded (loaded {loaded:?}, kernel has {kernel:?})")]
    TableMismatch {
        /// dm name.
        device: String,
        /// What was loaded.
        loaded: String,
        /// What the kernel reports.
        kernel: String,
    },
    /// The executor stopped at the armed failpoint (tests; the CLI exits instead).
    #[error("stopped at failpoint {name}")]
    Failpoint {
        /// The failpoint's name.
        name: String,
    },
    /// A netmirror transport step (export, connect) failed or was refused.
    #[error("{what}: {reason}")]
    Transport {
        /// What was being done, naming the disk, address or NQN.
        what: String,
        /// The reason.
        reason: String,
    },
    /// A malformed failpoint name (`DMCLASS_FAILPOINT`).
    #[error("failpoint {spec:?}: {reason}")]
    BadFailpoint {
        /// What was given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// A refusal of `object` in class `class`, saying why and what would be accepted.
    pub fn refused(
        class: impl Into<String>,
        object: impl Into<String>,
        reason: impl Into<String>,
    ) -> EngineError {
        EngineError::Refused {
            class: class.into(),
            object: object.into(),
            reason: reason.into(),
        }
    }

    /// A refusal that concerns the class as a whole (object `class NAME`).
    pub fn refused_class(class: &str, reason: impl Into<String>) -> EngineError {
        EngineError::refused(class, format!("class {class}"), reason)
    }
}

/// `Err` of [`EngineError::refused`].
pub(crate) fn refuse<T>(class: &str, object: &str, reason: impl Into<String>) -> Result<T> {
    Err(EngineError::refused(class, object, reason))
}

/// How a device held open by processes is named in refusals: `is open (N opener(s))`.
pub(crate) fn is_open(openers: impl std::fmt::Display) -> String {
    format!("is open ({openers} opener(s))")
}

/// The refusal reason for a change to a device processes hold open:
/// `WHAT is open (N opener(s)); unmount or close it first`.
pub(crate) fn busy(what: impl std::fmt::Display, openers: impl std::fmt::Display) -> String {
    format!("{what} {}; unmount or close it first", is_open(openers))
}

/// An I/O error from the kernel or a disk, with what was being done.
pub(crate) fn io_err(context: impl Into<String>, source: crate::io::IoError) -> EngineError {
    EngineError::Io {
        context: context.into(),
        source,
    }
}

/// Why one header copy or slot was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaProblem {
    /// No magic: never written (or not dmclass).
    #[error("absent (no magic)")]
    Absent,
    /// Fewer bytes than the structure needs.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Unknown layout version.
    #[error("layout version {found} is not supported (this dmclass reads {supported})")]
    Version {
        /// Version in the block.
        found: u32,
        /// The version this dmclass reads.
        supported: u32,
    },
    /// The block's own checksum does not match.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Crc {
        /// CRC in the block.
        stored: u32,
        /// CRC of the bytes read.
        computed: u32,
    },
    /// The body checksum does not match (typically a torn write).
    #[error("body checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BodyCrc {
        /// CRC in the slot header.
        stored: u32,
        /// CRC of the body read.
        computed: u32,
    },
    /// A numeric field has a value this layout does not allow.
    #[error("field {field} = {value} out of range")]
    Field {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: u64,
    },
    /// The slot belongs to another class or disk than the header.
    #[error("class or disk UUID differs from the header")]
    UuidMismatch,
    /// The body is not a valid class description.
    #[error("body is not valid class metadata: {0}")]
    Body(String),
    /// Slot header and body disagree on the generation.
    #[error("slot header says generation {header}, body says {body}")]
    Generation {
        /// Generation in the slot header.
        header: u64,
        /// Generation in the body.
        body: u64,
    },
    /// Reading the bytes failed.
    #[error("read failed: {0}")]
    Io(String),
}
