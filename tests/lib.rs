//! Helpers shared by the end-to-end tests: locating fixtures and the built `bri` binary.
