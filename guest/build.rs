//! Builds the guest-side artifacts with gcc and binutils for the target
//! architecture (CARGO_CFG_TARGET_ARCH):
//! - x86-64: the ring-0 shim and the syscall ring stub (flat binaries),
//!   with the system's gcc, objcopy, objdump and nm;
//! - arm64: the EL1 vector stub (a flat binary), with aarch64-linux-gnu-gcc
//!   and the aarch64-linux-gnu- binutils (Debian's gcc-aarch64-linux-gnu;
//!   an arm64 Debian host has the same names);
//!
//! and, for either, the built-in demo guest and the benchmark guests (static
//! ELFs). FAULTLINE_GUEST_CC overrides the C compiler.
//!
//! The arm64 vector stub is also assembled on other hosts when
//! aarch64-linux-gnu-gcc is there, so that arch::aarch64's unit tests check
//! the VMM's save area against it; without it, `VECTORS_AARCH64` and
//! `VECTORS_SYMBOLS` are empty there.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) {
    let status =
        cmd.status().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (faultline's guests need gcc and binutils)"));
    assert!(status.success(), "{cmd:?} failed with {status}");
}

/// The tools of one target: its C compiler and binutils.
struct Tools {
    cc: String,
    objcopy: String,
    objdump: String,
    nm: String,
}

impl Tools {
    fn new(cc: String, binutils_prefix: &str) -> Self {
        Tools {
            cc,
            objcopy: format!("{binutils_prefix}objcopy"),
            objdump: format!("{binutils_prefix}objdump"),
            nm: format!("{binutils_prefix}nm"),
        }
    }

    fn aarch64(cc: Option<String>) -> Self {
        Tools::new(cc.unwrap_or_else(|| "aarch64-linux-gnu-gcc".into()), "aarch64-linux-gnu-")
    }

    /// Assembles `src` into `name.o` and its .text into the flat `name.bin`,
    /// which must have no relocations: the stubs are copied as flat images,
    /// never linked, so a relocation left in them (a reference to a .globl
    /// label) would read offset 0 instead. Returns the object's path.
    fn flat(&self, out: &Path, src: &Path, name: &str) -> PathBuf {
        let obj = out.join(format!("{name}.o"));
        run(Command::new(&self.cc).args(["-c", "-o"]).arg(&obj).arg(src));
        run(Command::new(&self.objcopy)
            .args(["-O", "binary", "-j", ".text"])
            .arg(&obj)
            .arg(out.join(format!("{name}.bin"))));
        let r = Command::new(&self.objdump)
            .arg("-r")
            .arg(&obj)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.objdump));
        let text = String::from_utf8_lossy(&r.stdout);
        assert!(
            r.status.success() && !text.contains("RELOCATION RECORDS"),
            "{} has relocations:\n{text}",
            obj.display()
        );
        obj
    }

    /// Writes `file`: a static `name` listing `obj`'s symbols that `keep`
    /// accepts, with their values (offsets in the image, or the assembly's
    /// absolute constants).
    fn symbols(&self, obj: &Path, out: &Path, file: &str, name: &str, doc: &str, keep: impl Fn(&str) -> bool) {
        let nm = Command::new(&self.nm).arg(obj).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", self.nm));
        assert!(nm.status.success(), "{} {} failed", self.nm, obj.display());
        let mut symbols = format!("/// {doc}\npub static {name}: &[(&str, u64)] = &[\n");
        for line in String::from_utf8_lossy(&nm.stdout).lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [addr, _, sym] = f[..] {
                if keep(sym) {
                    symbols.push_str(&format!("    (\"{sym}\", 0x{addr}),\n"));
                }
            }
        }
        symbols.push_str("];\n");
        std::fs::write(out.join(file), symbols).unwrap_or_else(|e| panic!("write {file}: {e}"));
    }

    /// A static, libc-free guest ELF from `src`, with the runtime in `rt`.
    fn guest(&self, rt: &Path, src: &Path, elf: &Path) {
        run(Command::new(&self.cc)
            .args([
                "-static",
                "-nostdlib",
                "-ffreestanding",
                "-fno-stack-protector",
                "-fno-pie",
                "-no-pie",
                "-O1",
                "-g0",
                // Code on pages of its own, as x86-64's ld does by default
                // (aarch64's would share .text's first page with the ELF
                // headers): the guests' exact fault counts are the same on
                // both.
                "-Wl,-z,separate-code",
            ])
            .arg("-I")
            .arg(rt)
            .arg("-o")
            .arg(elf)
            .arg(src));
    }
}

const VECTORS_DOC: &str = "The arm64 vector stub's labels and save-area constants, and their values.";

/// The arm64 vector stub and its symbols (every label and constant of
/// vectors.S: the VMM needs the labels to tell where in the stub a vCPU
/// stopped, and checks its save area against the constants).
fn vectors(tools: &Tools, out: &Path, src: &Path) {
    let obj = tools.flat(out, src, "vectors");
    tools.symbols(&obj, out, "vectors_symbols.rs", "VECTORS_SYMBOLS", VECTORS_DOC, |_| true);
}

/// No vector stub (a host without an aarch64 assembler): empty image and symbols.
fn no_vectors(out: &Path) {
    std::fs::write(out.join("vectors.bin"), b"").expect("write vectors.bin");
    let symbols = format!("/// {VECTORS_DOC}\npub static VECTORS_SYMBOLS: &[(&str, u64)] = &[];\n");
    std::fs::write(out.join("vectors_symbols.rs"), symbols).expect("write vectors_symbols.rs");
}

/// Whether `cc` runs at all.
fn runs(cc: &str) -> bool {
    Command::new(cc).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guest_cc = env::var("FAULTLINE_GUEST_CC").ok();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let vectors_src = here.join("aarch64/vectors.S");
    let shim_src = here.join("x86_64/shim.S");
    let ring_src = here.join("x86_64/ring.S");

    let tools = match arch.as_str() {
        "x86_64" => {
            let tools = Tools::new(guest_cc.unwrap_or_else(|| "gcc".into()), "");
            tools.flat(&out, &shim_src, "shim");
            // The syscall ring stub, and the offsets of its labels, which the
            // VMM needs to tell where in the stub a vCPU stopped.
            let ring_obj = tools.flat(&out, &ring_src, "ring");
            tools.symbols(
                &ring_obj,
                &out,
                "ring_symbols.rs",
                "RING_SYMBOLS",
                "The ring stub's labels and their offsets in the stub's image.",
                |name| name.starts_with("ring_") || name.starts_with("mb_") || name == "doorbell" || name == "mailbox",
            );
            // Optional here: for arch::aarch64's unit tests.
            let arm = Tools::aarch64(None);
            if runs(&arm.cc) {
                vectors(&arm, &out, &vectors_src);
            } else {
                no_vectors(&out);
            }
            tools
        }
        "aarch64" => {
            let tools = Tools::aarch64(guest_cc);
            vectors(&tools, &out, &vectors_src);
            tools
        }
        other => panic!("faultline's guests are built for x86_64 and aarch64, not {other}"),
    };

    let rt = here.join("rt");
    let demo_src = here.join("demo/demo.c");
    let bench_src = here.join("bench/touch.c");
    let procs_src = here.join("bench/procs.c");
    for (src, elf) in [(&demo_src, "demo.elf"), (&bench_src, "bench.elf"), (&procs_src, "bench-procs.elf")] {
        tools.guest(&rt, src, &out.join(elf));
    }

    for p in [&shim_src, &ring_src, &vectors_src, &demo_src, &bench_src, &procs_src, &rt.join("faultline_rt.h")] {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rerun-if-env-changed=FAULTLINE_GUEST_CC");
}
