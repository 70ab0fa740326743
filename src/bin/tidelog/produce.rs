//! `tidelog produce`: waits for the library's producer.

use std::io::Write;

use crate::args::ProduceArgs;
use crate::CliError;

pub fn run(_args: &ProduceArgs, _out: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::fail(
        "produce is not available yet: it needs the library's Producer",
    ))
}
