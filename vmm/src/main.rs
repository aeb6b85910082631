//! The `faultline` command line: parsing, output files, signals, exit
//! statuses (in `cli/`, a file a job). Everything else is the library's.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::errors::{one_line, panics_in_one_line, usage_error, TOOL_FAILURE};

fn main() -> ExitCode {
    panics_in_one_line();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("faultline: error: {}", usage_error(&e));
            return ExitCode::from(TOOL_FAILURE);
        }
    };
    match cli::main_result(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("faultline: error: {}", one_line(&e));
            ExitCode::from(TOOL_FAILURE)
        }
    }
}
