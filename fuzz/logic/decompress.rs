//! Fuzz logic `decompress`: [`decompress`] over arbitrary payloads.
//!
//! The first byte is a selector, the rest the payload:
//! - bits 0-2: the codec id (5..=7 wrap around to 0..=2);
//! - bit 3: `out` already holds bytes, which decompression must leave alone;
//! - bits 4-5: the limit: 1 MiB, 0, 100 bytes or 64 KiB.
//!
//! (The magic-0 LZ4 variant, `decompress_magic0`, is crate-private; the `legacy` target
//! reaches it through magic-0 wrappers.)
//!
//! Checks: no panic; on success at most `limit` bytes appended, the same output again on a
//! second call, the exact size accepted as a limit and one byte less refused with
//! [`Error::DecompressionLimit`]; on error `out` keeps its length.
//!
//! Shared by `fuzz/fuzz_targets/decompress.rs` and the main crate's corpus replay test; uses
//! tidelog's public API only.

use tidelog::compression::{decompress, Compression};
use tidelog::Error;

/// The largest limit used: 1 MiB.
pub const MAX_DECOMPRESSED: usize = 1 << 20;

const PREFIX: &[u8] = b"already here";

/// Runs the checks on one input.
pub fn run(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let codec = Compression::ALL[usize::from(selector & 0x07) % Compression::ALL.len()];
    let prefix: &[u8] = if selector & 0x08 != 0 { PREFIX } else { &[] };
    let limit = match (selector >> 4) & 0x03 {
        0 => MAX_DECOMPRESSED,
        1 => 0,
        2 => 100,
        _ => 64 << 10,
    };

    let mut out = prefix.to_vec();
    match decompress(codec, input, &mut out, limit) {
        Ok(()) => {
            assert!(out.starts_with(prefix), "{codec}: existing output changed");
            let produced = out.len() - prefix.len();
            assert!(
                produced <= limit,
                "{codec}: {produced} bytes past the limit {limit}"
            );
            let plain = &out[prefix.len()..];

            // Deterministic, and independent of what `out` held before.
            let mut again = Vec::new();
            if let Err(e) = decompress(codec, input, &mut again, limit) {
                panic!("{codec}: second decompression failed: {e}");
            }
            assert_eq!(again, plain, "{codec}: second decompression differs");

            // The limit is exact: `produced` bytes fit a limit of `produced`, not one less.
            let mut exact = Vec::new();
            if let Err(e) = decompress(codec, input, &mut exact, produced) {
                panic!("{codec}: {produced} bytes refused with a limit of {produced}: {e}");
            }
            assert_eq!(
                exact, plain,
                "{codec}: output differs under the exact limit"
            );
            if let Some(less) = produced.checked_sub(1) {
                let mut short = Vec::new();
                match decompress(codec, input, &mut short, less) {
                    Ok(()) => panic!(
                        "{codec}: {produced} bytes accepted under a limit of {less} (got {})",
                        short.len()
                    ),
                    Err(Error::DecompressionLimit { limit: l, .. }) => assert_eq!(l, less),
                    Err(e) => panic!("{codec}: limit {less} for {produced} bytes: {e}"),
                }
                assert!(short.is_empty(), "{codec}: output left behind on error");
            }
        }
        Err(e) => {
            assert_eq!(out, prefix, "{codec}: output changed on error: {e}");
            if let Error::DecompressionLimit { limit: l, .. } = e {
                assert_eq!(l, limit);
            }
            let _ = e.to_string();
        }
    }
}
