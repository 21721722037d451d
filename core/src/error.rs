//! The one public error type of `bri-core` and the stable error-code vocabulary shared by every
//! host (CLI exit messages, Node `.code`, wasm rejections).

use std::fmt;

/// Stable, host-independent error codes (DESIGN.md §2 "One error vocabulary").
///
/// The string form (`as_str`) is part of the public interface: scripts match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    ArchiveNotFound,
    ArchiveCorrupted,
    RepairImpossible,
    RestoreError,
    TimestampNotFound,
    WalChainBroken,
    InvalidInput,
    RemoteError,
    ConfigError,
    /// An operation needs `BRI_ENCRYPTION_KEY` (or the key given is wrong).
    EncryptionKeyRequired,
    /// A host-side I/O failure (never produced by core itself, which does no I/O).
    IoError,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ArchiveNotFound => "ARCHIVE_NOT_FOUND",
            ErrorCode::ArchiveCorrupted => "ARCHIVE_CORRUPTED",
            ErrorCode::RepairImpossible => "REPAIR_IMPOSSIBLE",
            ErrorCode::RestoreError => "RESTORE_ERROR",
            ErrorCode::TimestampNotFound => "TIMESTAMP_NOT_FOUND",
            ErrorCode::WalChainBroken => "WAL_CHAIN_BROKEN",
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::RemoteError => "REMOTE_ERROR",
            ErrorCode::ConfigError => "CONFIG_ERROR",
            ErrorCode::EncryptionKeyRequired => "ENCRYPTION_KEY_REQUIRED",
            ErrorCode::IoError => "IO_ERROR",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type of every fallible operation in `bri-core`.
///
/// Each variant maps to one [`ErrorCode`] through [`Error::code`]; the `Display` text is a
/// sentence a person can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a bri archive at all (wrong magic, too short, ...).
    #[error("not a bri archive: {reason}")]
    NotAnArchive { reason: String },

    /// The bytes claim to be an archive but fail an integrity check.
    #[error("archive is corrupted: {what}")]
    Corrupted { what: String },

    /// The archive holds something this reader refuses to materialise (path traversal,
    /// links, device files, ...).
    #[error("archive member {path:?} is refused: {reason}")]
    UnsafeMember { path: String, reason: String },

    /// A size or count in the input exceeds a safety limit.
    #[error("{what} is {value}, more than the limit of {limit}; the input is damaged or hostile")]
    LimitExceeded {
        what: String,
        value: u64,
        limit: u64,
    },

    /// A caller passed an argument that cannot be used.
    #[error("invalid input: {message}")]
    InvalidInput { message: String },

    /// A member or archive that was asked for does not exist.
    #[error("not found: {what}")]
    NotFound { what: String },

    /// Errors of the erasure-coding layer.
    #[error(transparent)]
    Parity(#[from] crate::parity::ParityError),

    /// Errors of the BRI engine (WAL, JSS, snapshot, replay).
    #[error(transparent)]
    Bri(#[from] crate::bri::BriError),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotAnArchive { .. } => ErrorCode::InvalidInput,
            Error::Corrupted { .. } => ErrorCode::ArchiveCorrupted,
            Error::UnsafeMember { .. } => ErrorCode::InvalidInput,
            Error::LimitExceeded { .. } => ErrorCode::InvalidInput,
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::NotFound { .. } => ErrorCode::ArchiveNotFound,
            Error::Parity(e) => e.code(),
            Error::Bri(e) => e.code(),
        }
    }

    pub(crate) fn corrupted(what: impl Into<String>) -> Self {
        Error::Corrupted { what: what.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    pub(crate) fn not_archive(reason: impl Into<String>) -> Self {
        Error::NotAnArchive {
            reason: reason.into(),
        }
    }

    pub(crate) fn unsafe_member(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::UnsafeMember {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(what: impl Into<String>, value: u64, limit: u64) -> Self {
        Error::LimitExceeded {
            what: what.into(),
            value,
            limit,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
