//! TODO
pub const DEFAULT_FRAME_SIZE: usize = 4 << 20;
