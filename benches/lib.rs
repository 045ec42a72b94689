//! oxidex micro benchmarks live in `benches/`; run them with `cargo bench -p oxidex-benches`.
//! `cargo test -p oxidex-benches --benches` runs each once as a smoke test (what CI does).
