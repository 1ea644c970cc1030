//! Shared inputs for the benchmarks: seeded synthetic leaves shaped like crates.io's index.
