//! Reed-Solomon parity over the archive's data region (erasure coding, verify, repair).

use crate::error::ErrorCode;

/// Errors of the parity layer; converted into [`crate::Error::Parity`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParityError {
    /// More shards of a stripe are damaged than its parity can rebuild.
    #[error("stripe {stripe}: {damaged} shards damaged, only {parity} can be rebuilt")]
    BeyondRepair {
        stripe: u64,
        damaged: usize,
        parity: usize,
    },
}

impl ParityError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ParityError::BeyondRepair { .. } => ErrorCode::RepairImpossible,
        }
    }
}
