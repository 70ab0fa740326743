//! Fuzz target `ops`: the body is [`tidelog_fuzz::ops::run`], shared with the corpus replay
//! test (`tests/fuzz_corpus_replay.rs` in the main crate).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tidelog_fuzz::ops::run(data));
