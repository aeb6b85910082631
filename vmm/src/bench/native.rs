//! Runs the bench guest as an ordinary host process: it is a static Linux
//! program, so the same code measures the native side.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use super::BenchError;

pub fn run(args: &[String]) -> Result<String, BenchError> {
    run_elf("touch", faultline_guest::BENCH_ELF, args)
}

/// Runs the static guest `elf` (saved as `name`) natively with `args`.
pub fn run_elf(name: &str, elf: &[u8], args: &[String]) -> Result<String, BenchError> {
    let dir = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(BenchError::Native)?;
    let path = dir.join(name);
    if !path.exists() {
        let mut f = std::fs::File::create(&path).map_err(BenchError::Native)?;
        f.write_all(elf).map_err(BenchError::Native)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o755)).map_err(BenchError::Native)?;
    }
    let out = Command::new(&path).args(args).output().map_err(BenchError::Native)?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(BenchError::NativeFailed(text));
    }
    Ok(text)
}

/// Removes the copy of the guest.
pub fn cleanup() {
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id())));
}
