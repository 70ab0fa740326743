use crate::{args::*, CliError};
use std::io::Write;
pub fn run(_a: &PerfCommand, _o: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::fail("todo"))
}
