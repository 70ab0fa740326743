//! gzip (codec 1): stub, filled in by the compression work.
use super::{Compression, Level};
use crate::error::{Error, Result};
pub(super) fn compress(_level: Level, _input: &[u8], _out: &mut Vec<u8>) -> Result<()> {
    Err(Error::CodecDisabled {
        codec: Compression::Gzip.name(),
    })
}
pub(super) fn decompress(_input: &[u8], _out: &mut Vec<u8>, _limit: usize) -> Result<()> {
    Err(Error::CodecDisabled {
        codec: Compression::Gzip.name(),
    })
}
