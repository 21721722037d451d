//! The CLI's one error type, and the one place where errors become exit codes.

use bri_core::ErrorCode;

/// Every failure of the native host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// An error from the sans-IO core.
    #[error(transparent)]
    Core(#[from] bri_core::Error),

    /// A file-system operation failed; `context` says which and on what path.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A command-line argument or combination that cannot be used.
    #[error("{0}")]
    Usage(String),

    /// A file or archive that was asked for does not exist.
    #[error("{0}")]
    NotFound(String),

    /// Something the caller must fix in the configuration.
    #[error("{0}")]
    Config(String),

    /// A data directory that does not continue the archived history (WAL_CHAIN_BROKEN).
    #[error("{0}")]
    History(String),

    /// An encrypted database and no key (ENCRYPTION_KEY_REQUIRED).
    #[error("{0}")]
    KeyRequired(String),

    /// A restore step that failed (RESTORE_ERROR).
    #[error("{0}")]
    Restore(String),
}

impl CliError {
    /// Wrap an I/O error with what was being done (`"reading /x/y"`).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// The stable code of this error (DESIGN.md §2).
    pub fn code(&self) -> ErrorCode {
        match self {
            CliError::Core(e) => e.code(),
            CliError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::ArchiveNotFound
            }
            CliError::Io { .. } => ErrorCode::IoError,
            CliError::Usage(_) => ErrorCode::InvalidInput,
            CliError::NotFound(_) => ErrorCode::ArchiveNotFound,
            CliError::Config(_) => ErrorCode::ConfigError,
            CliError::History(_) => ErrorCode::WalChainBroken,
            CliError::KeyRequired(_) => ErrorCode::EncryptionKeyRequired,
            CliError::Restore(_) => ErrorCode::RestoreError,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        exit_code_for(self.code())
    }
}

/// Exit codes, documented in the README. 0 is success; verify-style commands also use
/// [`EXIT_DAMAGED`] and [`EXIT_BEYOND_REPAIR`] when they ran fine but found damage.
pub fn exit_code_for(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::InvalidInput | ErrorCode::ConfigError => 2,
        ErrorCode::ArchiveCorrupted => EXIT_DAMAGED,
        ErrorCode::RepairImpossible => EXIT_BEYOND_REPAIR,
        ErrorCode::ArchiveNotFound => 5,
        ErrorCode::TimestampNotFound => 6,
        ErrorCode::WalChainBroken => 7,
        ErrorCode::RemoteError => 8,
        ErrorCode::RestoreError => 9,
        ErrorCode::EncryptionKeyRequired => 10,
        _ => 1,
    }
}

/// Exit code of `verify` when the archive is damaged (and, with parity, repairable).
pub const EXIT_DAMAGED: u8 = 3;
/// Exit code of `verify` when damage is beyond what parity can repair.
pub const EXIT_BEYOND_REPAIR: u8 = 4;

/// Result of a command: the exit code to return when the command itself ran to its end.
pub type CmdResult = Result<u8, CliError>;
