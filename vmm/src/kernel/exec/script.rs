//! `#!` scripts, as binfmt_script runs them: the interpreter named on the
//! first line runs with the script's path as an argument.

use crate::kernel::errno::*;

/// How much of a program file exec looks at for `#!` (BINPRM_BUF_SIZE).
pub(crate) const BINPRM_BUF_SIZE: usize = 256;

/// Nested `#!` interpreters allowed (BINPRM_MAX_RECURSION).
pub(crate) const MAX_SCRIPT_DEPTH: u32 = 4;

/// What a `#!` line asks for, as binfmt_script reads it: the interpreter
/// and its one optional argument (the rest of the line, trimmed). `None`
/// if `bytes` is not a script; ENOEXEC if the line names no interpreter.
pub(crate) fn shebang(bytes: &[u8]) -> Option<Result<(String, Option<String>), Errno>> {
    if !bytes.starts_with(b"#!") {
        return None;
    }
    // The kernel looks at the first BINPRM_BUF_SIZE bytes only.
    let line_end =
        bytes.iter().take(BINPRM_BUF_SIZE).position(|&b| b == b'\n').unwrap_or(bytes.len().min(BINPRM_BUF_SIZE));
    let line = String::from_utf8_lossy(&bytes[2..line_end]).trim().to_string();
    let mut parts = line.splitn(2, [' ', '\t']);
    let Some(interp) = parts.next().filter(|s| !s.is_empty()).map(str::to_string) else { return Some(Err(ENOEXEC)) };
    let arg = parts.next().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Some(Ok((interp, arg)))
}

/// The interpreter's argv for script `filename` run with `argv`:
/// `[interp, optional arg, filename, argv[1..]]`, as binfmt_script makes it.
pub(crate) fn script_argv(interp: &str, arg: Option<String>, filename: &str, argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut new = vec![interp.as_bytes().to_vec()];
    new.extend(arg.map(String::into_bytes));
    new.push(filename.as_bytes().to_vec());
    new.extend(argv.iter().skip(1).cloned());
    new
}
