//! `tidelog`: the command-line tool over the tidelog library.
//!
//! A thin `main`: parse the arguments, run one command, map the outcome to an exit code.
//! Exit codes: 0 success, 1 an error or corruption found, 2 bad usage. Errors are one line
//! on stderr, `tidelog: error: ...`.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

// The crate root is `src/bin/tidelog.rs`, so its modules are named by path.
#[path = "tidelog/args.rs"]
mod args;
#[path = "tidelog/consume.rs"]
mod consume;
#[path = "tidelog/dump.rs"]
mod dump;
#[path = "tidelog/output.rs"]
mod output;
#[path = "tidelog/perf.rs"]
mod perf;
#[path = "tidelog/produce.rs"]
mod produce;
#[path = "tidelog/segment_file.rs"]
mod segment_file;
#[path = "tidelog/store_open.rs"]
mod store_open;
#[path = "tidelog/topics.rs"]
mod topics;
#[path = "tidelog/verify.rs"]
mod verify;

use args::{Cli, Command, TopicsCommand};

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// Bad usage: exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }

    /// A failure: exit code 1.
    pub fn fail(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }

    /// Exit code 1 for problems already reported on stderr, one line each.
    pub fn reported() -> Self {
        CliError {
            code: 1,
            message: String::new(),
        }
    }

    /// A failed I/O call on `path`.
    pub fn io(op: &str, path: &Path, e: &io::Error) -> Self {
        Self::fail(format!("cannot {op} {}: {e}", path.display()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<tidelog::Error> for CliError {
    fn from(e: tidelog::Error) -> Self {
        let code = if matches!(e, tidelog::Error::InvalidConfig { .. }) {
            2
        } else {
            1
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            // The reader went away (`tidelog dump ... | head`): stop quietly.
            return CliError {
                code: 0,
                message: String::new(),
            };
        }
        Self::fail(format!("cannot write the output: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = run(cli.command, &mut out).and_then(|()| out.flush().map_err(CliError::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            drop(out.flush());
            if !e.message.is_empty() {
                eprintln!("tidelog: error: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

fn run(command: Command, out: &mut dyn Write) -> Result<(), CliError> {
    match command {
        Command::Dump(a) => dump::run(&a, out),
        Command::Verify(a) => verify::run(&a, out),
        Command::Topics(TopicsCommand::List(a)) => topics::list(&a, out),
        Command::Topics(TopicsCommand::Describe(a)) => topics::describe(&a, out),
        Command::Topics(TopicsCommand::Create(a)) => topics::create(&a, out),
        Command::Topics(TopicsCommand::Delete(a)) => topics::delete(&a, out),
        Command::Topics(TopicsCommand::Alter(a)) => topics::alter(&a, out),
        Command::Maintain(a) => topics::maintain(&a, out),
        Command::Produce(a) => produce::run(&a, out),
        Command::Consume(a) => consume::run(&a, out),
        Command::Perf(c) => perf::run(&c, out),
    }
}

/// Help and version go to stdout with exit 0; a usage error is one line on stderr, exit 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            drop(e.print());
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            drop(e.print());
            ExitCode::from(2)
        }
        _ => {
            // clap's message spans lines (the error, a list of missing arguments, a tip, the
            // usage); keep everything before the usage, on one line.
            let text = e.render().to_string();
            let mut message = String::new();
            for line in text.lines() {
                let line = line.trim();
                if line.starts_with("Usage:") || line.starts_with("For more information") {
                    break;
                }
                if line.is_empty() {
                    continue;
                }
                if !message.is_empty() {
                    message.push_str(if message.ends_with(':') { " " } else { "; " });
                }
                message.push_str(line.strip_prefix("error: ").unwrap_or(line));
            }
            eprintln!("tidelog: error: {message} (see 'tidelog --help')");
            ExitCode::from(2)
        }
    }
}
