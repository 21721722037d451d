//! # The BRI engine
//!
//! Everything the archiver, the restorer and the browser inspector need to understand a BRI
//! data directory, as pure transforms of bytes (no file, clock, environment or randomness: the
//! host reads `snapshot.jss` and `wal/*.wal` and feeds their bytes in; an IV for encryption is
//! a parameter).
//!
//! * [`wal`]: incremental line splitting with BRI's global line numbers (only `\n` breaks a
//!   line; empty and corrupt lines are numbered; a segment's unterminated last line is a line),
//!   field splitting and entry decoding ([`wal::Op`]).
//! * [`chain`]: the pointer chain (`sha256(previous pointer + entry)`, first 8 hex digits) and
//!   its verification from an anchor, reporting the first broken line.
//! * [`jss`]: the part of BRI's JSON superset the engine needs (type tags, `<!P>` pointers,
//!   order-preserving re-serialisation, the canonical state form).
//! * [`crypto`]: AES-256-GCM of encrypted WAL entries (AAD `"{timestamp}|{pointer}"`) and
//!   snapshots (no AAD).
//! * [`snapshot`]: read versions 1 and 2, write version 1 (which BRI loads exactly).
//! * [`state`]: documents and collections, and how SET, DELETE, RENAME, SADD, SREM change them.
//! * [`replay`]: the streaming engine ([`replay::WalEngine`]): feed segments chunk by chunk,
//!   get the state (from line 1, or from a snapshot's `walLine`, up to a line number or a
//!   point in time), the chain report, the torn tail and the statistics BRI's own tools give.
//!
//! ## Typical use by a host
//!
//! ```
//! use bri_core::bri::{replay::{ReplayOptions, WalEngine}, state::State};
//! let wal = b"1|3a5e1b7c|{\"action\":\"SADD\",\"target\":\"T?\",\"member\":\"a\"}\n";
//! let mut engine = WalEngine::new(State::new(), ReplayOptions::default(), None);
//! engine.begin_segment("000000.wal");
//! engine.feed(wal).unwrap();            // any chunk size
//! engine.end_segment().unwrap();
//! let out = engine.finish().unwrap();
//! assert!(out.state.collections["T?"].contains("a"));
//! assert_eq!(out.stats.total_physical_lines, 1);
//! ```
//!
//! Never panics on bad input: malformed lines are counted and reported (BRI skips them),
//! lines longer than the caller's limit, a missing or wrong key, and unusable snapshots are
//! [`BriError`]s whose messages name the line.

pub mod chain;
pub mod crypto;
pub mod jss;
pub mod replay;
pub mod snapshot;
pub mod state;
pub mod wal;

pub use chain::{pointer, ChainVerifier};
pub use crypto::Key;
pub use replay::{LineBreaks, ReplayOptions, WalEngine, WalOutcome, WalStats};
pub use snapshot::{read_snapshot, write_snapshot_v1, write_snapshot_v1_encrypted, Snapshot};
pub use state::State;

use crate::error::ErrorCode;

/// Errors of the BRI engine; converted into [`crate::Error::Bri`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BriError {
    /// A WAL line that cannot be used, with its global line number.
    #[error("WAL line {line}: {message}")]
    BadLine { line: u64, message: String },

    /// A line longer than the limit the host set (bounded memory).
    #[error("WAL line {line} is longer than {limit} bytes; the file is damaged or not a BRI WAL (raise the line limit if the documents really are that large)")]
    LineTooLong { line: u64, limit: u64 },

    /// The pointer chain does not hold.
    #[error("the WAL pointer chain is broken at line {line}: expected pointer {expected}, found {found}; lines from there on were not written after the ones before")]
    ChainBroken {
        line: u64,
        expected: String,
        found: String,
    },

    /// An operation needs the encryption key and none was given.
    #[error("{what} needs the encryption key: set BRI_ENCRYPTION_KEY to the database's 64-hex-character key")]
    KeyRequired { what: String },

    /// The key given is malformed.
    #[error("{message}")]
    BadKey { message: String },

    /// Decryption failed (wrong key or damaged data).
    #[error("cannot decrypt {what}: {message}")]
    Decrypt { what: String, message: String },

    /// `snapshot.jss` cannot be used.
    #[error("{message}")]
    BadSnapshot { message: String },

    /// No state exists at the requested time.
    #[error("{message}")]
    TimestampNotFound { message: String },

    /// A caller passed an argument that cannot be used.
    #[error("{message}")]
    InvalidInput { message: String },
}

impl BriError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BriError::BadLine { .. } => ErrorCode::InvalidInput,
            BriError::LineTooLong { .. } => ErrorCode::InvalidInput,
            BriError::ChainBroken { .. } => ErrorCode::WalChainBroken,
            BriError::KeyRequired { .. } => ErrorCode::EncryptionKeyRequired,
            BriError::BadKey { .. } => ErrorCode::EncryptionKeyRequired,
            BriError::Decrypt { .. } => ErrorCode::EncryptionKeyRequired,
            BriError::BadSnapshot { .. } => ErrorCode::InvalidInput,
            BriError::TimestampNotFound { .. } => ErrorCode::TimestampNotFound,
            BriError::InvalidInput { .. } => ErrorCode::InvalidInput,
        }
    }
}
