use crate::{args::*, CliError};
use std::io::Write;
pub fn run(_a: &ConsumeArgs, _o: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::fail("todo"))
}
