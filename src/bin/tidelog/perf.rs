//! `tidelog perf`: waits for the library's producer.

use std::io::Write;

use crate::args::PerfCommand;
use crate::CliError;

pub fn run(_command: &PerfCommand, _out: &mut dyn Write) -> Result<(), CliError> {
    Err(CliError::fail(
        "perf is not available yet: it needs the library's Producer",
    ))
}
