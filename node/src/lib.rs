//! Skeleton of the napi-rs binding over the native host library `bri-cli` (issue 7 builds it
//! out). It holds no logic of its own and never will: argument conversion, error mapping and
//! async bridging only.
