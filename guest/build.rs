//! Builds the guest-side artifacts with the system's gcc and binutils:
//! the ring-0 shim (a flat binary) and the built-in demo guest (a static ELF).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) {
    let status =
        cmd.status().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (faultline's guests need gcc and binutils)"));
    assert!(status.success(), "{cmd:?} failed with {status}");
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cc = env::var("FAULTLINE_GUEST_CC").unwrap_or_else(|_| "gcc".into());

    let shim_src = here.join("x86_64/shim.S");
    let shim_obj = out.join("shim.o");
    run(Command::new(&cc).args(["-c", "-o"]).arg(&shim_obj).arg(&shim_src));
    run(Command::new("objcopy").args(["-O", "binary", "-j", ".text"]).arg(&shim_obj).arg(out.join("shim.bin")));

    let demo_src = here.join("demo/demo.c");
    let bench_src = here.join("bench/touch.c");
    let procs_src = here.join("bench/procs.c");
    for (src, elf) in [(&demo_src, "demo.elf"), (&bench_src, "bench.elf"), (&procs_src, "bench-procs.elf")] {
        run(Command::new(&cc)
            .args([
                "-static",
                "-nostdlib",
                "-ffreestanding",
                "-fno-stack-protector",
                "-fno-pie",
                "-no-pie",
                "-O1",
                "-g0",
            ])
            .arg("-I")
            .arg(here.join("rt"))
            .arg("-o")
            .arg(out.join(elf))
            .arg(src));
    }

    for p in [&shim_src, &demo_src, &bench_src, &procs_src, &here.join("rt/faultline_rt.h")] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-env-changed=FAULTLINE_GUEST_CC");
}
