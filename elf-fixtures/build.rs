//! Compiles the fixture guests with the system's C compiler.
//!
//! - `bare/*.c`: freestanding, `-static -nostdlib`, with faultline's tiny
//!   runtime (guest/rt): their page touches are exactly what the source
//!   shows. `touch` is also built as a static PIE (`touch-pie`).
//! - `hosted/dynamic.c`: an ordinary dynamically linked program, to be
//!   refused.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cc(args: &[&str], src: &Path, out: &Path) {
    let cc = env::var("CC").unwrap_or_else(|_| "gcc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(args).arg("-o").arg(out).arg(src);
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run {cc}: {e} (the fixtures need gcc)"));
    assert!(status.success(), "{cmd:?} failed with {status}");
    println!("cargo:rerun-if-changed={}", src.display());
}

fn main() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let rt = here.join("../guest/rt");
    let inc = format!("-I{}", rt.display());
    let bare =
        ["-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-O1", "-g0", "-fno-pie", "-no-pie", &inc];
    let pie = ["-static-pie", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-O1", "-g0", "-fPIE", &inc];

    for entry in std::fs::read_dir(here.join("bare")).unwrap() {
        let src = entry.unwrap().path();
        if src.extension().is_some_and(|e| e == "c") {
            let name = src.file_stem().unwrap().to_str().unwrap().to_owned();
            cc(&bare, &src, &out.join(&name));
            if name == "touch" {
                cc(&pie, &src, &out.join("touch-pie"));
            }
        }
    }
    cc(&["-O1"], &here.join("hosted/dynamic.c"), &out.join("dynamic"));
    println!("cargo:rerun-if-changed={}", rt.join("faultline_rt.h").display());
    println!("cargo:rerun-if-changed=bare");
    println!("cargo:rerun-if-env-changed=CC");
}
