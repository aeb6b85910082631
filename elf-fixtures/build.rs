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
//!
//! The compiler is the target's: for a cross build (`--target` other than
//! the host), `CC_<target>` (as the cc crate spells it,
//! `CC_aarch64_unknown_linux_gnu`), else `TARGET_CC`, else Debian's cross
//! gcc (`aarch64-linux-gnu-gcc`); `CC` (default gcc) only for the host.
//! On aarch64 the x86-only fixtures are left out: `bare/crash.c` (x86
//! faults by instruction) and `hostile/*` but `sleeploop.c` (x86 `_start`
//! and `syscall`). The musl ones are built only when a musl compiler for
//! the target is given (`MUSL_CC_<target>`; `MUSL_CC` or musl-gcc on the
//! host), and `LIBCS` in the generated `libcs.rs` says which C libraries
//! the libc fixtures were built with.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tool `key` names for `target`, as the cc crate looks it up:
/// `KEY_<target>` (dashes as underscores, or as written), then `TARGET_KEY`
/// for a cross build or `KEY` for the host.
fn tool(key: &str, target: &str, cross: bool) -> Option<String> {
    let under = target.replace('-', "_");
    for var in [format!("{key}_{under}"), format!("{key}_{target}")] {
        println!("cargo:rerun-if-env-changed={var}");
        if let Ok(v) = env::var(&var) {
            return Some(v);
        }
    }
    let var = if cross { format!("TARGET_{key}") } else { key.to_owned() };
    println!("cargo:rerun-if-env-changed={var}");
    env::var(&var).ok()
}

struct Cc {
    cc: String,
    musl: Option<String>,
}

impl Cc {
    fn cc(&self, args: &[&str], src: &Path, out: &Path) {
        compile(&self.cc, args, src, out);
    }
}

fn compile(cc: &str, args: &[&str], src: &Path, out: &Path) {
    let mut cmd = Command::new(cc);
    cmd.args(args).arg("-o").arg(out).arg(src);
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {cc}: {e} (the fixtures need gcc and musl-gcc: run ci/setup; a cross build, ci/arm64/setup)")
    });
    assert!(status.success(), "{cmd:?} failed with {status}");
    println!("cargo:rerun-if-changed={}", src.display());
}

/// The `.c` files in `dir`, as (stem, path), in name order.
fn sources(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .map(|p| (p.file_stem().unwrap().to_str().unwrap().to_owned(), p))
        .collect();
    v.sort();
    v
}

fn main() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    let cross = target != env::var("HOST").unwrap();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let x86 = arch == "x86_64";
    let cc = match tool("CC", &target, cross) {
        Some(cc) => cc,
        None if cross => format!("{arch}-linux-gnu-gcc"),
        None => "gcc".into(),
    };
    // musl-gcc (Debian's musl-tools) targets the host; another target
    // needs its own.
    let musl = tool("MUSL_CC", &target, cross).or_else(|| (!cross).then(|| "musl-gcc".into()));
    let cc = Cc { cc, musl };

    let rt = here.join("../guest/rt");
    let inc = format!("-I{}", rt.display());
    let bare =
        ["-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-O1", "-g0", "-fno-pie", "-no-pie", &inc];
    let pie = ["-static-pie", "-nostdlib", "-ffreestanding", "-fno-stack-protector", "-O1", "-g0", "-fPIE", &inc];

    // guest/rt has the target's _start and syscalls, or the bare fixtures
    // cannot be built for it (yet).
    let rt_h = std::fs::read_to_string(rt.join("faultline_rt.h")).unwrap();
    let rt_ok = x86 || rt_h.contains(&format!("__{arch}__"));
    if !rt_ok {
        println!("cargo:warning=guest/rt/faultline_rt.h has no {arch} runtime: the bare fixtures are not built");
    }
    for (name, src) in sources(&here.join("bare")) {
        // crash.c makes x86 exceptions by instruction.
        if !rt_ok || (!x86 && name == "crash") {
            continue;
        }
        cc.cc(&bare, &src, &out.join(&name));
        // touch-pie for the tests; syscalls-pie, small, seeds the ELF fuzzer.
        if name == "touch" || name == "syscalls" {
            cc.cc(&pie, &src, &out.join(format!("{name}-pie")));
        }
    }
    cc.cc(&["-O1"], &here.join("hosted/dynamic.c"), &out.join("dynamic"));
    // Known call paths, with DWARF lines and without frame pointers (-O1
    // omits them), so stacks come from .eh_frame: a dynamic PIE (frames in
    // the program and libc.so.6) and a static build.
    let stacks = here.join("stacks/stacks.c");
    cc.cc(&["-O1", "-g"], &stacks, &out.join("stacks"));
    cc.cc(&["-static", "-O1", "-g"], &stacks, &out.join("stacks-static"));
    cc.cc(&["-O0"], &here.join("hosted/literal.c"), &out.join("literal"));

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
    for (name, src) in sources(&here.join("hostile")) {
        if name == "sleeploop" {
            cc.cc(&["-static", "-O1", "-g0"], &src, &out.join(&name));
        } else if x86 {
            // x86 reproducers (hostile.h's _start and syscall).
            cc.cc(&hostile, &src, &out.join(&name));
        }
    }

    let libc = ["-static", "-O0", "-g0", "-pthread"];
    for (name, src) in sources(&here.join("libc")) {
        cc.cc(&libc, &src, &out.join(format!("{name}-glibc")));
        if let Some(musl) = &cc.musl {
            compile(musl, &libc, &src, &out.join(format!("{name}-musl")));
        }
    }
    let libcs = if cc.musl.is_some() { r#"["glibc", "musl"]"# } else { r#"["glibc"]"# };
    std::fs::write(
        out.join("libcs.rs"),
        format!("/// The C libraries the libc fixtures were built with (`NAME-glibc`, `NAME-musl`).\npub const LIBCS: &[&str] = &{libcs};\n"),
    )
    .unwrap();
    println!("cargo:rerun-if-changed=libc");
    println!("cargo:rerun-if-changed={}", rt.join("faultline_rt.h").display());
    println!("cargo:rerun-if-changed=bare");
    println!("cargo:rerun-if-changed=hostile");
    println!("cargo:rerun-if-changed=stacks");
    println!("cargo:rerun-if-changed=hosted");
}
