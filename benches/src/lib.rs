//! Benchmark support: generators of realistic inputs.
