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

    // The syscall ring stub, and the offsets of its labels, which the VMM
    // needs to tell where in the stub a vCPU stopped.
    let ring_src = here.join("x86_64/ring.S");
    let ring_obj = out.join("ring.o");
    run(Command::new(&cc).args(["-c", "-o"]).arg(&ring_obj).arg(&ring_src));
    run(Command::new("objcopy").args(["-O", "binary", "-j", ".text"]).arg(&ring_obj).arg(out.join("ring.bin")));
    // The stubs are copied as flat images, never linked: a relocation left
    // in them (a reference to a .globl label) would read offset 0 instead.
    for obj in [&shim_obj, &ring_obj] {
        let r =
            Command::new("objdump").arg("-r").arg(obj).output().unwrap_or_else(|e| panic!("cannot run objdump: {e}"));
        let text = String::from_utf8_lossy(&r.stdout);
        assert!(
            r.status.success() && !text.contains("RELOCATION RECORDS"),
            "{} has relocations:\n{text}",
            obj.display()
        );
    }
    let nm = Command::new("nm").arg(&ring_obj).output().unwrap_or_else(|e| panic!("cannot run nm: {e}"));
    assert!(nm.status.success(), "nm {} failed", ring_obj.display());
    let mut symbols = String::from("/// The ring stub's labels and their offsets in the stub's image.\npub static RING_SYMBOLS: &[(&str, u64)] = &[\n");
    for line in String::from_utf8_lossy(&nm.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [addr, _, name] = f[..] {
            if name.starts_with("ring_") || name.starts_with("mb_") || name == "doorbell" || name == "mailbox" {
                symbols.push_str(&format!("    (\"{name}\", 0x{addr}),\n"));
            }
        }
    }
    symbols.push_str("];\n");
    std::fs::write(out.join("ring_symbols.rs"), symbols).expect("write ring_symbols.rs");

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

    for p in [&shim_src, &ring_src, &demo_src, &bench_src, &procs_src, &here.join("rt/faultline_rt.h")] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-env-changed=FAULTLINE_GUEST_CC");
}
