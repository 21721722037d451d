//! The BRI engine: WAL lines, pointer chain, JSS, snapshots and replay, as pure byte transforms.

use crate::error::ErrorCode;

/// Errors of the BRI engine; converted into [`crate::Error::Bri`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BriError {
    /// A WAL line that cannot be used, with its global line number.
    #[error("WAL line {line}: {message}")]
    BadLine { line: u64, message: String },
}

impl BriError {
    pub fn code(&self) -> ErrorCode {
        match self {
            BriError::BadLine { .. } => ErrorCode::InvalidInput,
        }
    }
}
