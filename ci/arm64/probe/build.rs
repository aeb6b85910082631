//! Assembles the guest code of `probe el0` (asm/stub.S, the EL1 vector
//! stub; asm/user.S, the EL0 program) into flat binaries the probe
//! includes: GNU as and objcopy for aarch64 (Debian's
//! binutils-aarch64-linux-gnu, which ci/arm64/setup installs with
//! gcc-aarch64-linux-gnu; plain `as`/`objcopy` on an aarch64 host).
//! FL_ARM64_AS and FL_ARM64_OBJCOPY override the tools.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn run(tool: &str, args: &[&str]) {
    let status = Command::new(tool)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {tool} (binutils for aarch64): {e}"));
    assert!(status.success(), "{tool} {args:?} failed: {status}");
}

fn main() {
    println!("cargo:rerun-if-changed=asm");
    println!("cargo:rerun-if-env-changed=FL_ARM64_AS");
    println!("cargo:rerun-if-env-changed=FL_ARM64_OBJCOPY");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("aarch64") {
        return; // the probe is a stub elsewhere
    }
    let prefix = if env::var("HOST").unwrap_or_default().starts_with("aarch64-") { "" } else { "aarch64-linux-gnu-" };
    let as_ = env::var("FL_ARM64_AS").unwrap_or(format!("{prefix}as"));
    let objcopy = env::var("FL_ARM64_OBJCOPY").unwrap_or(format!("{prefix}objcopy"));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for name in ["stub", "user"] {
        let src = format!("asm/{name}.S");
        let obj = out.join(format!("{name}.o"));
        let bin = out.join(format!("{name}.bin"));
        run(&as_, &["-o", obj.to_str().unwrap(), &src]);
        run(&objcopy, &["-O", "binary", "-j", ".text", obj.to_str().unwrap(), bin.to_str().unwrap()]);
    }
}
