//! The ELF loader under a seeded mutational fuzzer (see FUZZING.md).
//!
//! Valid static, static-PIE and dynamic fixtures are mutated where a
//! loader is most likely wrong: header and program-header fields at their
//! extremes, truncations, overlapping and wrapping segments, PT_INTERP and
//! PT_DYNAMIC garbage, random bytes. Every input goes through
//! `Program::inspect`; a sample of those it accepts runs in a real
//! sandbox for a second. Each outcome is classified; a panic (on any
//! thread), a hang, or a message that is not one tame line fails the test
//! and leaves the input in `target/fuzz-failures/`.
//!
//! `FAULTLINE_FUZZ_INPUTS`, `FAULTLINE_FUZZ_SEED` and
//! `FAULTLINE_FUZZ_RUN_SECS` (time given to sandbox runs) size a run; the
//! defaults fit well inside a minute.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline::{Config, ExitStatus, Input, Output, Program, Sandbox, Stop};

/// splitmix64: tiny, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Values a field is most likely mishandled at.
fn extreme(r: &mut Rng, width: u32) -> u64 {
    let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
    let v = match r.below(16) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => u64::MAX - r.below(0x2000),
        4 => 1 << r.below(64),
        5 => (1 << r.below(64)) - 1,
        6 => 0x7fff_ffff_f000 + r.below(0x2000), // USER_TOP
        7 => 0x8000_0000_0000,                   // non-canonical
        8 => 0xffff_8000_0000_0000 + r.below(1 << 20),
        9 => 0x5555_5555_4000u64.wrapping_neg().wrapping_add(r.below(0x3000)), // wraps with the PIE bias
        10 => 0x1_0000 - r.below(0x2000),                                      // mmap_min_addr
        11 => 0x7fff_f800_0000 - r.below(0x2000),                              // the stack area
        12 => r.below(0x1000),
        13 => i32::MAX as u64 + r.below(3),
        _ => r.next(),
    };
    v & mask
}

fn put(b: &mut [u8], at: u64, width: u32, v: u64) {
    let n = (width / 8) as usize;
    let Ok(at) = usize::try_from(at) else { return };
    if let Some(dst) = at.checked_add(n).and_then(|end| b.get_mut(at..end)) {
        dst.copy_from_slice(&v.to_le_bytes()[..n]);
    }
}

fn get(b: &[u8], at: u64, width: u32) -> u64 {
    let n = (width / 8) as usize;
    let mut v = [0u8; 8];
    if let Some(src) = usize::try_from(at).ok().and_then(|a| b.get(a..a.checked_add(n)?)) {
        v[..n].copy_from_slice(src);
    }
    u64::from_le_bytes(v)
}

/// ELF64 header fields: (offset, width).
const EHDR: &[(u64, u32)] = &[
    (4, 8),   // EI_CLASS
    (5, 8),   // EI_DATA
    (16, 16), // e_type
    (18, 16), // e_machine
    (24, 64), // e_entry
    (32, 64), // e_phoff
    (40, 64), // e_shoff
    (54, 16), // e_phentsize
    (56, 16), // e_phnum
    (58, 16), // e_shentsize
    (60, 16), // e_shnum
    (62, 16), // e_shstrndx
];
/// Program-header fields.
const PHDR: &[(u64, u32)] = &[(0, 32), (4, 32), (8, 64), (16, 64), (32, 64), (40, 64), (48, 64)];
const PT_LOAD: u64 = 1;
const PT_DYNAMIC: u64 = 2;
const PT_INTERP: u64 = 3;

/// Where program header `i` of the seed is (None past the table).
fn phdr_at(b: &[u8], i: u64) -> Option<u64> {
    let (off, n) = (get(b, 32, 64), get(b, 56, 16));
    (i < n).then(|| off.wrapping_add(i * 56))
}

/// Bytes that make a bad message: control characters, a long run, no NUL.
fn garbage(r: &mut Rng, len: usize) -> Vec<u8> {
    let alphabet: &[u8] = b"\x1b[2J\r\n\x07\t\x00\x7f/lib64/ld-\xc2\x85\xe2\x80\xa8\xff";
    (0..len).map(|_| if r.below(2) == 0 { r.pick(alphabet) } else { r.next() as u8 }).collect()
}

fn mutate(r: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    let phnum = get(&b, 56, 16);
    for _ in 0..=r.below(4) {
        let ph = phdr_at(&b, r.below(phnum.max(1)));
        match r.below(12) {
            0 | 1 => {
                let (at, w) = r.pick(EHDR);
                let v = extreme(r, w);
                put(&mut b, at, w, v);
            }
            2..=4 => {
                if let Some(ph) = ph {
                    let (at, w) = r.pick(PHDR);
                    let v = extreme(r, w);
                    put(&mut b, ph.wrapping_add(at), w, v);
                }
            }
            5 => {
                // Truncated anywhere, most often inside the headers.
                let len = if r.below(2) == 0 { r.below(0x1000) } else { r.below(b.len() as u64) };
                b.truncate(len as usize);
            }
            6 => {
                // Two PT_LOADs over each other, or one wrapping the top.
                if let (Some(a), Some(c)) = (ph, phdr_at(&b, r.below(phnum.max(1)))) {
                    put(&mut b, a, 32, PT_LOAD);
                    let v = get(&b, c.wrapping_add(16), 64).wrapping_add(r.below(3) * 0x1000);
                    put(&mut b, a.wrapping_add(16), 64, v);
                    let off = get(&b, c.wrapping_add(8), 64);
                    put(&mut b, a.wrapping_add(8), 64, off);
                    if r.below(2) == 0 {
                        put(&mut b, a.wrapping_add(40), 64, (u64::MAX - v).wrapping_add(r.below(0x3000)));
                    }
                }
            }
            7 | 8 => {
                // A PT_INTERP (or PT_DYNAMIC) over garbage of any size.
                if let Some(ph) = ph {
                    let kind = if r.below(3) == 0 { PT_DYNAMIC } else { PT_INTERP };
                    put(&mut b, ph, 32, kind);
                    let any = r.below(8192);
                    let len = r.pick(&[0u64, 1, 2, 16, 4095, 4096, 4097, 1 << 20, any]);
                    let off = r.below(b.len() as u64);
                    put(&mut b, ph.wrapping_add(8), 64, off);
                    put(&mut b, ph.wrapping_add(32), 64, len);
                    let g = garbage(r, (len as usize).min(b.len() - off as usize));
                    let end = off as usize + g.len();
                    b[off as usize..end].copy_from_slice(&g);
                    if r.below(2) == 0 && end > off as usize {
                        b[end - 1] = 0;
                    }
                }
            }
            9 => {
                // The section names (they become region names).
                let (shoff, shstr) = (get(&b, 40, 64), get(&b, 62, 16));
                let names = get(&b, shoff.wrapping_add(shstr * 64 + 24), 64);
                if names < b.len() as u64 {
                    let n = (r.below(64) as usize).min(b.len() - names as usize);
                    let g = garbage(r, n);
                    b[names as usize..names as usize + n].copy_from_slice(&g);
                }
            }
            _ => {
                for _ in 0..=r.below(16) {
                    let i = r.below(b.len().min(0x2000) as u64 + 1) as usize;
                    if let Some(x) = b.get_mut(i) {
                        *x ^= 1 << r.below(8);
                    }
                }
            }
        }
    }
    b
}

/// A message of faultline's is one line, without control characters, of
/// bounded length.
fn bad_message(m: &str) -> Option<&'static str> {
    if m.contains('\n') || m.contains('\r') {
        Some("more than one line")
    } else if !faultline::text::is_tame(m) {
        Some("control characters")
    } else if m.chars().count() > 1000 {
        Some("longer than 1000 characters")
    } else {
        None
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One sandbox run of an accepted input: its class.
fn run_sample(bytes: Arc<[u8]>, failures: &mut Vec<String>) -> &'static str {
    let diag = Output::capture();
    let config = Config {
        mem: 64 << 20,
        argv: vec!["fuzz".into()],
        stdin: Input::Empty,
        stdout: Output::capture(),
        stderr: Output::capture(),
        diag: diag.clone(),
        timeout: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let program = Program::Bytes { name: "fuzz".into(), bytes };
    let class = match Sandbox::new(program, config) {
        Err(e) => {
            if let Some(why) = bad_message(&e.to_string()) {
                failures.push(format!("sandbox refusal {why}: {e:?}"));
            }
            "refused by the sandbox"
        }
        Ok(sb) => match sb.run() {
            Err(e) => {
                failures.push(format!("faultline failed: {e}"));
                "faultline failed"
            }
            Ok(o) => {
                for r in &o.reports {
                    if let Some(why) = bad_message(r) {
                        failures.push(format!("report {why}: {r:?}"));
                    }
                }
                match (o.stopped, o.status) {
                    (Some(Stop::Timeout(_)), _) => "ran until the timeout",
                    (_, ExitStatus::Exited(_)) => "ran and exited",
                    (_, ExitStatus::Killed(_) | ExitStatus::Dumped(_)) => "crashed (killed by a signal)",
                }
            }
        },
    };
    for line in diag.captured().lines() {
        if let Some(why) = bad_message(line) {
            failures.push(format!("diagnostic {why}: {line:?}"));
        }
    }
    class
}

#[test]
fn mutated_elfs_are_refused_in_one_line_or_run_cleanly() {
    let inputs = env_num("FAULTLINE_FUZZ_INPUTS", 40_000);
    let seed = env_num("FAULTLINE_FUZZ_SEED", 16);
    let run_budget = Duration::from_secs(env_num("FAULTLINE_FUZZ_RUN_SECS", 20));
    let seeds: Vec<(&str, Vec<u8>)> = ["bigwrite", "syscalls-pie", "dynamic", "memory1-musl"]
        .iter()
        .map(|n| (*n, std::fs::read(elf_fixtures::path(n)).unwrap()))
        .collect();
    // Each seed loads as it is: the mutations start from valid files.
    for (name, b) in &seeds {
        Program::bytes(*name, b.clone()).inspect().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    // A watchdog: an input that takes a minute is a hang; keep it and stop.
    let current: Arc<Mutex<(Instant, Vec<u8>)>> = Arc::new(Mutex::new((Instant::now(), Vec::new())));
    let done = Arc::new(AtomicU64::new(0));
    {
        let (current, done) = (current.clone(), done.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            if done.load(Ordering::Acquire) == 1 {
                return;
            }
            let c = current.lock().unwrap();
            if c.0.elapsed() > Duration::from_secs(60) {
                let path = save_failure("hang", &c.1);
                eprintln!("an input hung for a minute: {}", path.display());
                std::process::abort();
            }
        });
    }

    let start = Instant::now();
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut run_time = Duration::ZERO;
    let mut slowest = Duration::ZERO;
    for i in 0..inputs {
        let mut r = Rng(seed.wrapping_mul(0x1_0000_0001).wrapping_add(i));
        let (name, base) = &seeds[r.below(seeds.len() as u64) as usize];
        let bytes: Arc<[u8]> = mutate(&mut r, base).into();
        *current.lock().unwrap() = (Instant::now(), bytes.to_vec());
        let panics = PANICS.load(Ordering::SeqCst);
        let t = Instant::now();
        let loaded = std::panic::catch_unwind(AssertUnwindSafe(|| Program::bytes("fuzz", bytes.clone()).inspect()));
        slowest = slowest.max(t.elapsed());
        let mut found = Vec::new();
        let class = match loaded {
            Err(_) => {
                found.push("the loader panicked".to_string());
                "loader panic".to_string()
            }
            Ok(Err(e)) => {
                let m = e.to_string();
                if let Some(why) = bad_message(&m) {
                    found.push(format!("loader message {why}: {m:?}"));
                }
                // The kind of refusal: the error's variant.
                format!("refused: {}", format!("{e:?}").split([' ', '(', '{']).next().unwrap_or(""))
            }
            Ok(Ok(_)) if run_time < run_budget && r.below(4) == 0 => {
                let t = Instant::now();
                let class = std::panic::catch_unwind(AssertUnwindSafe(|| run_sample(bytes.clone(), &mut found)))
                    .unwrap_or_else(|_| {
                        found.push("the sandbox panicked".into());
                        "sandbox panic"
                    });
                run_time += t.elapsed();
                if t.elapsed() > Duration::from_secs(10) {
                    found.push(format!("a 1 s run took {:?}", t.elapsed()));
                }
                format!("accepted, {class}")
            }
            Ok(Ok(_)) => "accepted (not run)".to_string(),
        };
        if t.elapsed() > Duration::from_secs(1) && !class.starts_with("accepted, ") {
            found.push(format!("the loader took {:?}", t.elapsed()));
        }
        if PANICS.load(Ordering::SeqCst) != panics {
            found.push("a thread panicked".into());
        }
        if !found.is_empty() {
            let path = save_failure(&format!("{seed}-{i}"), &bytes);
            failures.push(format!("input {i} (from {name}, kept at {}): {}", path.display(), found.join("; ")));
        }
        *classes.entry(class).or_default() += 1;
    }
    done.store(1, Ordering::Release);
    eprintln!(
        "fuzz: {inputs} inputs, seed {seed}, {:.1} s ({:.1} s in sandbox runs), slowest load {:?}, VmHWM {} MiB",
        start.elapsed().as_secs_f64(),
        run_time.as_secs_f64(),
        slowest,
        vm_hwm_kib() / 1024
    );
    for (class, n) in &classes {
        eprintln!("fuzz: {n:>9}  {class}");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    // The run exercised both sides: refusals and runs.
    assert!(classes.keys().any(|c| c.starts_with("refused")), "{classes:?}");
    assert!(classes.keys().any(|c| c.starts_with("accepted, ran")), "{classes:?}");
}

fn save_failure(tag: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("elf-{tag}"));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Inputs the fuzzer found faultline mishandling, kept in
/// tests/fuzz-regressions/ with the outcome Linux gives them.
#[test]
fn inputs_the_fuzzer_found_end_as_on_linux() {
    let cases = [
        // A writable PT_LOAD with no file bytes at an unaligned address
        // (filesz 0, memsz 4 MiB): the VMM computed the tail to clear
        // backwards and panicked. Linux maps it as bss; the entry point
        // (0x80000000) is unmapped: SIGSEGV.
        ("bss-only-unaligned.elf", "crashed (killed by a signal)"),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz-regressions");
    for (file, want) in cases {
        let bytes: Arc<[u8]> = std::fs::read(dir.join(file)).unwrap().into();
        let mut found = Vec::new();
        let class = match Program::bytes(file, bytes.clone()).inspect() {
            Err(e) => {
                assert_eq!(bad_message(&e.to_string()), None, "{file}: {e}");
                "refused by the loader"
            }
            Ok(_) => run_sample(bytes, &mut found),
        };
        assert_eq!((class, found), (want, vec![]), "{file}");
    }
}
