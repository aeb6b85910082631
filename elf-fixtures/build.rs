//! Compiles the fixture guests with the system's C compiler.
//!
//! - `bare/*.c`: freestanding, `-static -nostdlib`, with faultline's tiny
//!   runtime (guest/rt): their page touches are exactly what the source
//!   shows. `touch` and `syscalls` are also built as static PIEs
//!   (`touch-pie`, `syscalls-pie`).
//! - `libc/*.c`: ordinary C programs, built twice, statically: `NAME-glibc`
//!   with gcc and `NAME-musl` with musl-gcc (Debian's musl-tools; ci/setup
//!   installs it). `-O0`, so the compiler keeps every malloc and free the
//!   source shows; `-pthread` for the threaded ones.
//! - `hosted/*.c`: ordinary dynamically linked programs, as gcc builds
//!   them by default (`literal` writes to a string literal).
//! - `stacks/stacks.c`: known call paths for the call-stack tests, with
//!   DWARF (`-g`) and no frame pointers: `stacks` (dynamic) and
//!   `stacks-static`.
//! - `hostile/*.c`: the reproducers of a hostile-guest probe (ring-0
//!   entry, isolation probes, self-harm, resource exhaustion), kept as
//!   regression tests. Freestanding, each with its own `_start`;
//!   `sleeploop.c` uses glibc.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cc(args: &[&str], src: &Path, out: &Path) {
    let cc = env::var("CC").unwrap_or_else(|_| "gcc".into());
    compile(&cc, args, src, out);
}

fn compile(cc: &str, args: &[&str], src: &Path, out: &Path) {
    let mut cmd = Command::new(cc);
    cmd.args(args).arg("-o").arg(out).arg(src);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e} (the fixtures need gcc and musl-gcc: run ci/setup)"));
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
            // touch-pie for the tests; syscalls-pie, small, seeds the ELF fuzzer.
            if name == "touch" || name == "syscalls" {
                cc(&pie, &src, &out.join(format!("{name}-pie")));
            }
        }
    }
    cc(&["-O1"], &here.join("hosted/dynamic.c"), &out.join("dynamic"));
    // Known call paths, with DWARF lines and without frame pointers (-O1
    // omits them), so stacks come from .eh_frame: a dynamic PIE (frames in
    // the program and libc.so.6) and a static build.
    let stacks = here.join("stacks/stacks.c");
    cc(&["-O1", "-g"], &stacks, &out.join("stacks"));
    cc(&["-static", "-O1", "-g"], &stacks, &out.join("stacks-static"));
    cc(&["-O0"], &here.join("hosted/literal.c"), &out.join("literal"));

    let hostile = [
        "-static",
        "-nostdlib",
        "-ffreestanding",
        "-fno-stack-protector",
        "-O1",
        "-g0",
        "-fno-pie",
        "-no-pie",
        "-fno-builtin",
    ];
    for entry in std::fs::read_dir(here.join("hostile")).unwrap() {
        let src = entry.unwrap().path();
        if src.extension().is_some_and(|e| e == "c") {
            let name = src.file_stem().unwrap().to_str().unwrap().to_owned();
            let flags: &[&str] = if name == "sleeploop" { &["-static", "-O1", "-g0"] } else { &hostile };
            cc(flags, &src, &out.join(&name));
        }
    }

    let musl = env::var("MUSL_CC").unwrap_or_else(|_| "musl-gcc".into());
    for entry in std::fs::read_dir(here.join("libc")).unwrap() {
        let src = entry.unwrap().path();
        if src.extension().is_some_and(|e| e == "c") {
            let name = src.file_stem().unwrap().to_str().unwrap().to_owned();
            cc(&["-static", "-O0", "-g0", "-pthread"], &src, &out.join(format!("{name}-glibc")));
            compile(&musl, &["-static", "-O0", "-g0", "-pthread"], &src, &out.join(format!("{name}-musl")));
        }
    }
    println!("cargo:rerun-if-changed=libc");
    println!("cargo:rerun-if-env-changed=MUSL_CC");
    println!("cargo:rerun-if-changed={}", rt.join("faultline_rt.h").display());
    println!("cargo:rerun-if-changed=bare");
    println!("cargo:rerun-if-changed=hostile");
    println!("cargo:rerun-if-changed=stacks");
    println!("cargo:rerun-if-env-changed=CC");
}
