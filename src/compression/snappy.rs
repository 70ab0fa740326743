//! snappy (codec 2): stub, filled in by the compression work.
use super::Compression;
use crate::error::{Error, Result};
pub(super) fn compress(_input: &[u8], _out: &mut Vec<u8>) -> Result<()> {
    Err(Error::CodecDisabled {
        codec: Compression::Snappy.name(),
    })
}
pub(super) fn decompress(_input: &[u8], _out: &mut Vec<u8>, _limit: usize) -> Result<()> {
    Err(Error::CodecDisabled {
        codec: Compression::Snappy.name(),
    })
}
