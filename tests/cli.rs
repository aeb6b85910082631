//! The `faultline` command as a person uses it: exit statuses, one-line
//! errors for bad input, the CSV timeline.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use faultline::timeline::Origin;
use support::{faultline, faultline_bin, fixture_arg, run_fixture_with, tmp};

/// Asserts a one-line error naming `needle`, exit status 125, no panic.
fn assert_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("faultline: error: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    assert!(!err.contains("panicked"), "{err:?}");
}

fn patched(name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = std::fs::read(elf_fixtures::path("touch")).unwrap();
    edit(&mut bytes);
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.display().to_string()
}

fn u16_at(b: &[u8], o: usize) -> usize {
    u16::from_le_bytes([b[o], b[o + 1]]) as usize
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// Offsets of the PT_LOAD program headers.
fn load_phdrs(b: &[u8]) -> Vec<usize> {
    let (phoff, phentsize, phnum) = (u64_at(b, 0x20) as usize, u16_at(b, 0x36), u16_at(b, 0x38));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&o| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) == 1)
        .collect()
}

/// Rows of a timeline CSV, split.
fn csv_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

/// Rows of process `pid` in `region` with event `event`.
fn rows_of(rows: &[Vec<String>], pid: &str, region: &str, event: &str) -> usize {
    rows.iter().filter(|r| r[9] == pid && r[2] == region && r[6] == event).count()
}

/// `faultline demo`: every scenario, its counts expected and seen equal,
/// in seconds; and the counts, read here from each scenario's timeline,
/// are exactly what Linux would give.
#[test]
fn demo_runs_every_scenario_with_linuxs_counts() {
    let dir = tmp("demo");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("t.csv");
    let t = std::time::Instant::now();
    let out = faultline(&["demo", "--timeline", csv.to_str().unwrap()]);
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < std::time::Duration::from_secs(20), "the demo took {took:?}");
    // Only with one scenario is the summary printed.
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.ends_with("\nEvery count is what Linux would give.\n"), "{text}");
    let names = ["sections", "malloc", "mlock", "free", "fork", "file", "reclaim", "oom"];
    for name in names {
        assert!(text.contains(&format!("\n{name}: ")), "{name} missing: {text}");
        let again =
            format!("  again: faultline demo {name} --timeline {}\n", dir.join(format!("t-{name}.csv")).display());
        assert!(text.contains(&again), "{again:?} missing: {text}");
    }
    // Every row of each table: expected, saw, what.
    let (mut checks, mut in_table) = (0, false);
    for l in text.lines() {
        if l == "  expected  saw" || l.starts_with("  again: ") {
            in_table = l.ends_with("saw");
        } else if in_table {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w[0], w[1], "{l}");
            checks += 1;
        }
    }
    assert_eq!(checks, 4 + 3 + 3 + 3 + 4 + 4 + 3 + 5, "{text}");

    let rows = |name: &str| csv_rows(&dir.join(format!("t-{name}.csv")));
    let guest = |rows: &[Vec<String>], region: &str, event: &str| {
        rows.iter().filter(|r| r[9] == "1" && r[2] == region && r[6] == event && r[8] == "guest").count()
    };
    // sections: .data read from the file, .bss and stack written.
    let r = rows("sections");
    assert_eq!(
        (guest(&r, ".data", "file-copy"), guest(&r, ".bss", "zero-fill"), guest(&r, "stack", "zero-fill")),
        (4, 8, 8)
    );
    // malloc: a first write per page, every fourth of 256.
    let r = rows("malloc");
    assert_eq!(rows_of(&r, "1", "[anon:malloc]", "zero-fill"), 64);
    assert_eq!(r.iter().filter(|r| r[2] == "[anon:malloc]").count(), 64);
    // mlock: populated, then no fault at all.
    let r = rows("mlock");
    assert_eq!(rows_of(&r, "1", "[anon:mlock]", "prefault-mlock"), 32);
    assert_eq!(r.iter().filter(|r| r[2] == "[anon:mlock]").count(), 32);
    // free: written, then given back page by page, the RSS going down.
    let r = rows("free");
    assert_eq!((rows_of(&r, "1", "[anon:free]", "zero-fill"), rows_of(&r, "1", "[anon:free]", "release")), (64, 64));
    let rss: Vec<u64> = r.iter().filter(|r| r[6] == "release").map(|r| r[11].parse().unwrap()).collect();
    assert_eq!(rss.first().unwrap() - rss.last().unwrap(), 63, "{rss:?}");
    // fork: the child's 8 writes copy 8 pages, in the child alone.
    let r = rows("fork");
    assert_eq!(rows_of(&r, "1", "[anon:fork]", "zero-fill"), 32);
    assert_eq!((rows_of(&r, "1", "[anon:fork]", "cow"), rows_of(&r, "2", "[anon:fork]", "cow")), (0, 8));
    // file: 8 pages read from the file, then one from the page cache and
    // the other 7 mapped around it.
    let r = rows("file");
    let file: Vec<&str> = r.iter().filter(|r| r[2] == "demo.dat" && r[6] != "release").map(|r| r[6].as_str()).collect();
    assert_eq!(file, [&["file-copy"; 8][..], &["cache-hit"], &["fault-around"; 7]].concat());
    // reclaim: as mincore told the program.
    let r = rows("reclaim");
    // What mincore told the program, as the demo says it (words wrap).
    let block: Vec<&str> = text.split("\nreclaim: ").nth(1).unwrap().split_whitespace().collect();
    let after = |words: &[&str]| -> usize {
        let at = block.windows(words.len()).position(|w| w == words).unwrap() + words.len();
        block[at].parse().unwrap()
    };
    let out_before_read = after(&["run:", "mincore", "showed"]);
    let in_ram = after(&["reads,", "and"]);
    let (swapins, evicts) =
        (rows_of(&r, "1", "[anon:reclaim]", "swap-in"), rows_of(&r, "1", "[anon:reclaim]", "evict"));
    assert_eq!(swapins, out_before_read);
    assert_eq!(evicts, 512 - in_ram + swapins);
    // 512 pages written into 256 pages of RAM: at least half went out.
    assert!(evicts >= 256 && in_ram < 256, "{evicts} {in_ram}");
    // oom: one kill, of the child, the bigger.
    let r = rows("oom");
    let kills: Vec<&Vec<String>> = r.iter().filter(|r| r[6] == "oom-kill").collect();
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0][9], "2");
}

/// One scenario: its block on stdout, its summary on stderr, its files
/// under the names given; unknown names and --list.
#[test]
fn demo_runs_one_scenario_and_lists_them() {
    let html = tmp("fork.html");
    let out = faultline(&["demo", "fork", "--report", html.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("fork: fork shares pages until a write copies them\n"), "{text}");
    assert!(text.ends_with(&format!("  again: faultline demo fork --report {}\n", html.display())), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("process  region") && err.contains("[anon:fork]"), "{err}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("<h2>Resident memory per process</h2>"));
    let out = faultline(&["demo", "--list"]);
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(names, ["sections", "malloc", "mlock", "free", "fork", "file", "reclaim", "oom"]);
    assert_error(&faultline(&["demo", "nosuch"]), "no scenario \"nosuch\": sections, malloc");
    // The program's own pages, as before: a banner and its summary.
    let out = faultline(&["demo", "sections"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\nsandbox: "));
}

#[test]
fn run_writes_the_timeline_csv() {
    let csv = tmp("touch.csv");
    let out =
        faultline(&["run", "-q", "--timeline", csv.to_str().unwrap(), &fixture_arg("touch"), "bss", "write", "12"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "seq,time_ns,region,gva,gpa,access,event,latency_ns,origin,pid,tid,rss,ip,symbol,mapping,signo,si_code,\
             stack,parent,comm,sandbox_rss,swap"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let bss: Vec<_> = rows.iter().filter(|r| r[2] == ".bss").collect();
    assert_eq!(bss.len(), 12);
    for r in &bss {
        assert_eq!((r[5], r[6], r[8]), ("write", "zero-fill", "guest"));
        assert!(r[3].starts_with("0x") && r[4].starts_with("0x"));
        assert!(r[1].parse::<u64>().is_ok() && r[7].parse::<u64>().is_ok());
    }
}

/// A SIGSEGV a handler mends: its own row, with the signal and si_code,
/// then the retry's fault (the page was never touched).
#[test]
fn the_timeline_shows_a_handled_signal_and_the_retry() {
    let csv = tmp("barrier.csv");
    let out = faultline(&[
        "run",
        "-q",
        "--timeline",
        csv.to_str().unwrap(),
        &fixture_arg("signals-glibc"),
        "barrier-fresh",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "barrier: pages=2 hits=2 each_once=1 sum=10\n");
    let err = String::from_utf8_lossy(&out.stderr);
    let at = err.find("region=0x").unwrap() + 9;
    let base = u64::from_str_radix(err[at..].split_whitespace().next().unwrap(), 16).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| {
            let gva = u64::from_str_radix(r[3].trim_start_matches("0x"), 16).unwrap();
            (base..base + 2 * 4096).contains(&gva)
        })
        .map(|r| (r[3].to_string(), r[6], r[8], r[9], r[10], r[15], r[16]))
        .collect();
    let page = |i: u64| format!("{:#x}", base + i * 4096);
    let want = vec![
        (page(0), "signal", "guest", "1", "1", "11", "2"),
        (page(0), "zero-fill", "guest", "1", "1", "", ""),
        (page(1), "signal", "guest", "1", "1", "11", "2"),
        (page(1), "zero-fill", "guest", "1", "1", "", ""),
    ];
    assert_eq!(mine, want);
}

#[test]
fn exit_status_is_the_programs() {
    let out = faultline(&["run", "-q", &fixture_arg("bigwrite"), "10", "42"]);
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(out.stdout.len(), 10);
    let out = faultline(&["run", "-q", &fixture_arg("crash"), "null-read"]);
    assert_eq!(out.status.code(), Some(139));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("segfault at 0 ip"), "{err}");
}

#[test]
fn missing_file() {
    assert_error(&faultline(&["run", "/nonexistent/prog"]), "cannot read /nonexistent/prog");
}

fn executable(name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = tmp(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn not_an_elf() {
    let empty = executable("empty", "");
    assert_error(&faultline(&["run", empty.to_str().unwrap()]), "not an ELF file");
    let text = executable("text", "echo hi\n");
    assert_error(&faultline(&["run", text.to_str().unwrap()]), "not an ELF file");
    // Not executable: EACCES, as execve says.
    let p = tmp("plain.sh");
    std::fs::write(&p, "#!/bin/sh\necho hi\n").unwrap();
    assert_error(&faultline(&["run", p.to_str().unwrap()]), "plain.sh: permission denied");
}

/// PROGRAM is found as execvp finds it: a bare name in the program's PATH
/// (the default one, or `--env PATH=`), a path as it is.
#[test]
fn a_bare_name_is_looked_up_in_path() {
    same_as_native(&["echo", "found", "in", "PATH"]);
    same_as_native(&["head", "-c", "5", "/etc/passwd"]);
    let dir = tmp("bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture_arg("bigwrite"), dir.join("mywrite")).unwrap();
    let path = format!("PATH=/nonexistent:{}:/usr/bin", dir.display());
    let out = faultline(&["run", "-q", "--env", &path, "mywrite", "4", "7"]);
    assert_eq!((out.status.code(), out.stdout.len()), (Some(7), 4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_error(&faultline(&["run", "mywrite"]), "mywrite: not found in PATH (/usr/local/bin:/usr/bin:/bin)");
    assert_error(&faultline(&["run", "--env", "PATH=/nowhere", "echo"]), "echo: not found in PATH (/nowhere)");
    // Found only as a file nobody may execute.
    let plain = dir.join("plain");
    std::fs::write(&plain, "data").unwrap();
    let path = format!("PATH={}", dir.display());
    assert_error(&faultline(&["run", "--env", &path, "plain"]), "plain: found in PATH");
}

/// A `#!` script runs its interpreter as binfmt_script does: the
/// interpreter, its one argument, the script's name as given, then the
/// script's arguments; an interpreter may itself be a script.
#[test]
fn scripts_run_their_interpreter() {
    let sh = executable("greet.sh", "#!/bin/sh\necho \"$0 has $# arguments: $*\"\nexit 3\n");
    let out = same_as_native(&[sh.to_str().unwrap(), "a", "b c"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{} has 2 arguments: a b c\n", sh.display()));
    // The interpreter's one argument, and env finding it in PATH.
    let awk = executable("count.awk", "#!/usr/bin/awk -f\nEND { print NR }\n");
    same_as_native(&[awk.to_str().unwrap(), "/etc/passwd"]);
    let env = executable("env.sh", "#!/usr/bin/env sh\necho \"via env: $1\"\n");
    same_as_native(&[env.to_str().unwrap(), "x"]);
    // A script as the interpreter of another.
    let inner = executable("inner", "#!/bin/sh\necho \"inner: $*\"\n");
    let outer = executable("outer", &format!("#!{}\n", inner.display()));
    same_as_native(&[outer.to_str().unwrap(), "z"]);
    let missing = executable("missing.sh", "#!/no/such/shell\n");
    assert_error(&faultline(&["run", missing.to_str().unwrap()]), "cannot run its #! interpreter /no/such/shell");
}

/// A process is named by the name exec saw, cut to 15 bytes as Linux
/// does: a symlink's own name, not its target's.
#[test]
fn a_process_is_named_as_exec_saw_it() {
    let dir = tmp("links");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["mycat", "a-cat-with-a-very-long-name"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/bin/cat", &link).unwrap();
        let out = same_as_native(&[link.to_str().unwrap(), "/proc/self/comm"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", &name[..name.len().min(15)]));
    }
}

#[test]
fn truncated_elf() {
    let p = patched("truncated", |b| b.truncate(3000));
    assert_error(&faultline(&["run", &p]), "truncated or malformed ELF");
    let p = patched("header-only", |b| b.truncate(40));
    assert_error(&faultline(&["run", &p]), "truncated or malformed ELF");
}

#[test]
fn thirty_two_bit_elf() {
    let p = patched("elf32", |b| b[4] = 1);
    assert_error(&faultline(&["run", &p]), "32-bit ELF");
}

/// An ELF for another machine than the host's: AArch64 (183) on x86-64,
/// x86-64 (62) on aarch64.
#[test]
fn foreign_architecture() {
    #[cfg(target_arch = "x86_64")]
    let (machine, name) = (183u16, "AArch64");
    #[cfg(target_arch = "aarch64")]
    let (machine, name) = (62u16, "x86-64");
    let p = patched("foreign", |b| b[0x12..0x14].copy_from_slice(&machine.to_le_bytes()));
    assert_error(&faultline(&["run", &p]), &format!("ELF for {name}"));
}

#[test]
fn dynamically_linked_programs_run_through_their_interpreter() {
    let out = faultline(&["run", "-q", &fixture_arg("dynamic")]);
    let native = Command::new(fixture_arg("dynamic")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, native.stdout);
}

#[test]
fn overlapping_segments() {
    let p = patched("overlap", |b| {
        let loads = load_phdrs(b);
        // Move the second PT_LOAD onto the first (keeping offset congruence).
        let (a, c) = (loads[0], loads[1]);
        let va = u64_at(b, a + 0x10);
        let off = u64_at(b, c + 0x08);
        let new = va + (off % 4096);
        b[c + 0x10..c + 0x18].copy_from_slice(&new.to_le_bytes());
    });
    assert_error(&faultline(&["run", &p]), "overlap");
}

#[test]
fn wrapping_segment() {
    let p = patched("wrap", |b| {
        let c = load_phdrs(b)[1];
        let off = u64_at(b, c + 0x08);
        let va = 0xffff_ffff_ffff_f000u64 + (off % 4096);
        b[c + 0x10..c + 0x18].copy_from_slice(&va.to_le_bytes());
    });
    assert_error(&faultline(&["run", &p]), "segment");
}

#[test]
fn segments_that_do_not_fit_in_mem() {
    assert_error(&faultline(&["run", "--mem", "2M", &fixture_arg("touch")]), "raise --mem");
}

#[test]
fn bad_options() {
    assert_error(&faultline(&["run", "--timeout", "0", &fixture_arg("touch")]), "--timeout");
    assert_error(&faultline(&["run", "--env", "NOEQUALS", &fixture_arg("touch")]), "K=V");
    // Usage errors exit 125 too (as env(1) and timeout(1) do), naming the
    // option, so a script can tell faultline's failures from the program's.
    // Clap's own messages are paragraphs with the usage: each is one line
    // here, naming what was wrong and where help is.
    for (args, needle) in [
        (&["run", "--mem", "lots", "x"][..], "invalid value 'lots' for '--mem <SIZE>'"),
        (&["run", "--mem", "12Q", "x"], "--mem"),
        (&["run", "--wake", "sometimes", "x"], "unknown wake mode \"sometimes\""),
        (&["run", "--no-such-flag", "x"], "unexpected argument '--no-such-flag' found (see faultline run --help)"),
        (&["run", "--timelin", "t.csv", "x"], "a similar argument exists: '--timeline'"),
        (&["run"], "<PROGRAM [ARGS]>"),
        (&["run", "--timeline"], "a value is required for '--timeline <FILE.csv>'"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate' (see faultline --help)"),
        (&[], "a command is needed: run, demo, report, diff or bench"),
        (&["diff", "a.csv"], "<B>"),
    ] {
        assert_error(&faultline(args), needle);
    }
    assert_eq!(faultline(&["--help"]).status.code(), Some(0));
    assert_eq!(faultline(&["--version"]).status.code(), Some(0));
    // Values accepted by the parser that would do nothing useful; sizes
    // are said as they were written.
    assert_error(
        &faultline(&["run", "--rss-limit", "1G", "--mem", "256M", &fixture_arg("touch")]),
        "--rss-limit 1G is above --mem 256M",
    );
    assert_error(
        &faultline(&["run", "--rss-limit", "2048M", "--mem", "1G", &fixture_arg("touch")]),
        "--rss-limit 2048M is above --mem 1G",
    );
    assert_error(
        &faultline(&["run", "--mem", "5000", &fixture_arg("touch")]),
        "--mem 5000 is not a positive multiple of 4 KiB",
    );
    assert_error(&faultline(&["run", "--rss-limit", "100k", &fixture_arg("touch")]), "--rss-limit 100k is below 256K");
    assert_error(&faultline(&["bench", "--repeat", "0"]), "--repeat");
    assert_error(&faultline(&["run", "--pin", "nowhere", &fixture_arg("touch")]), "--pin nowhere");
    assert_error(
        &faultline(&["run", "--max-tasks", "100000", &fixture_arg("touch")]),
        "--max-tasks 100000 is out of range",
    );
}

#[test]
fn program_paths_are_not_taken_for_options() {
    // Arguments after the program belong to it, even ones that look like ours.
    let out = faultline(&["run", "-q", &fixture_arg("bigwrite"), "3", "5", "--mem"]);
    assert_eq!(out.status.code(), Some(5));
}

/// Runs `args` natively and under `faultline run -q`: same status, same
/// bytes on stdout.
fn same_as_native(args: &[&str]) -> Output {
    let native = Command::new(args[0]).args(&args[1..]).output().expect("runs natively");
    let mut ours = vec!["run", "-q"];
    ours.extend_from_slice(args);
    let out = faultline(&ours);
    assert_eq!(out.status.code(), native.status.code(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&native.stdout), "{args:?}");
    out
}

/// Everything after PROGRAM is the program's, as with timeout(1), env(1)
/// and strace: options faultline also has (`-q`, `--timeline`, `--help`)
/// reach the program untouched, and `--` before PROGRAM is accepted.
#[test]
fn the_programs_options_are_the_programs() {
    let late = tmp("late.csv");
    let _ = std::fs::remove_file(&late);
    let out = faultline(&["run", "-q", "/bin/echo", "--timeline", late.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("--timeline {}\n", late.display()));
    assert!(!late.exists(), "faultline took the program's --timeline");
    let f = tmp("lines.txt");
    std::fs::write(&f, "first\nsecond\n").unwrap();
    same_as_native(&["/usr/bin/head", "-q", "-n1", f.to_str().unwrap()]);
    let help = same_as_native(&["/bin/echo", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("echo"), "not echo's help");
    same_as_native(&["/bin/echo", "-q", "--", "-n"]);
    let out = faultline(&["run", "-q", "--", "/bin/echo", "-q"]);
    assert_eq!((out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()), (Some(0), "-q\n"));
}

/// --timeout takes what timeout(1) takes: seconds, or a number with s,
/// m, h or d.
#[test]
fn timeouts_read_as_timeout_reads_them() {
    for t in ["1s", "0.5", "2m", "1h", "1.5d", "30"] {
        let out = faultline(&["run", "-q", "--timeout", t, &fixture_arg("bigwrite"), "1", "0"]);
        assert_eq!(out.status.code(), Some(0), "--timeout {t}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = faultline(&["run", "-q", "--timeout", "0.3s", &fixture_arg("sleeploop")]);
    assert_eq!(out.status.code(), Some(137), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("killed after the 0.3 s timeout"));
    for t in ["0", "-1", "1x", "s", "inf", "1e400"] {
        assert_error(&faultline(&["run", &format!("--timeout={t}"), &fixture_arg("touch")]), "'--timeout <DURATION>'");
    }
}

#[test]
fn entry_point_outside_user_space() {
    let p = patched("entry", |b| b[0x18..0x20].copy_from_slice(&0xffff_8000_0000_0000u64.to_le_bytes()));
    assert_error(&faultline(&["run", &p]), "entry point");
}

#[test]
fn segment_in_the_stack_area() {
    let p = patched("stackseg", |b| {
        let c = load_phdrs(b)[1];
        let off = u64_at(b, c + 0x08);
        let va = 0x7fff_fffe_0000u64 + (off % 4096);
        b[c + 0x10..c + 0x18].copy_from_slice(&va.to_le_bytes());
    });
    assert_error(&faultline(&["run", &p]), "stack area");
}

#[test]
fn a_huge_segment_is_refused_before_anything_is_built() {
    let p = patched("huge", |b| {
        let c = *load_phdrs(b).last().unwrap();
        b[c + 0x28..c + 0x30].copy_from_slice(&(1u64 << 40).to_le_bytes()); // p_memsz: 1 TiB
    });
    let t = std::time::Instant::now();
    assert_error(&faultline(&["run", &p]), "raise --mem");
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_closed_pipe_raises_sigpipe() {
    use std::process::Stdio;
    let mut child = std::process::Command::new(faultline_bin())
        .args(["run", "-q", &fixture_arg("bigwrite"), "1000000", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGPIPE"));
}

#[test]
fn status_reports_each_reclaim_pass() {
    let out = faultline(&[
        "run",
        "-q",
        "--status",
        "--rss-limit",
        "512K",
        "--swap",
        "8M",
        &fixture_arg("touch"),
        "bss",
        "write",
        "256",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().filter(|l| l.starts_with("faultline: reclaim: evicted ")).count() >= 1, "{err}");
    assert!(err.contains("VmRSS") && err.contains("SwapFree"), "{err}");
}

/// Runs `script` with faultline's path as $1 in a private mount namespace
/// (root only: these tests change what /dev shows). The binary is copied
/// where an unprivileged user may run it. None when not root.
fn in_namespace(name: &str, script: &str) -> Option<Output> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for a private mount namespace");
        return None;
    }
    let dir = tmp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("faultline");
    std::fs::copy(faultline_bin(), &bin).unwrap();
    for d in [&dir, dir.parent().unwrap()] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    Some(Command::new("unshare").args(["--mount", "sh", "-ec", script, "sh"]).arg(&bin).output().expect("unshare runs"))
}

#[test]
fn no_kvm_device() {
    if let Some(out) = in_namespace("nokvm", "mount -t tmpfs none /dev; \"$1\" demo") {
        assert_error(&out, "cannot open /dev/kvm: No such file or directory");
    }
}

#[test]
fn no_permission_for_kvm() {
    if let Some(out) = in_namespace("noperm", "setpriv --reuid=65534 --regid=65534 --clear-groups \"$1\" demo") {
        assert_error(&out, "cannot open /dev/kvm: Permission denied");
    }
}

#[test]
fn userfaultfd_unavailable() {
    // KVM open to everyone in this namespace; /dev/userfaultfd and the
    // syscall still refuse an unprivileged user.
    let script = "d=$(mktemp -d); mount -t tmpfs none \"$d\"; mknod \"$d/kvm\" c 10 232; chmod 666 \"$d/kvm\"; \
                  mount --bind \"$d/kvm\" /dev/kvm; \
                  setpriv --reuid=65534 --regid=65534 --clear-groups \"$1\" demo";
    if let Some(out) = in_namespace("nouffd", script) {
        if std::fs::read_to_string("/proc/sys/vm/unprivileged_userfaultfd").is_ok_and(|v| v.trim() == "1") {
            eprintln!("skipped: vm.unprivileged_userfaultfd=1 lets anyone use userfaultfd");
            return;
        }
        assert_error(&out, "userfaultfd is unavailable");
        assert!(String::from_utf8_lossy(&out.stderr).contains("vm.unprivileged_userfaultfd=1"));
    }
}

#[test]
fn strace_goes_to_a_file() {
    let log = tmp("strace.log");
    let arg = format!("--strace={}", log.display());
    let out = faultline(&["run", "-q", &arg, &fixture_arg("bigwrite"), "5", "3"]);
    assert_eq!(out.status.code(), Some(3));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("write(1, \"\\0\\7\\16\\25\\34\", 5) = 5")), "{text}");
    assert_eq!(lines[lines.len() - 2], "exit_group(3) = ?");
    assert_eq!(lines[lines.len() - 1], "+++ exited with 3 +++");
}

#[test]
fn the_readme_shows_what_the_demo_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("From `faultline demo sections`").expect("the README's summary section");
    let block = &readme[start..];
    let block = &block[block.find("```\n").unwrap() + 4..];
    let block = &block[..block.find("```").unwrap()];
    let out = faultline(&["demo", "sections"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Times and latencies change from run to run; nothing else may.
    let stable = |l: &str| -> String {
        let words: Vec<&str> = l.split_whitespace().collect();
        if words.len() == 16 && words[1].contains("-0x") {
            words[..13].join(" ")
        } else {
            words.join(" ")
        }
    };
    let want: Vec<String> = block.lines().filter(|l| !l.is_empty()).map(stable).collect();
    let got: Vec<String> = stderr.lines().filter(|l| !l.is_empty()).map(stable).collect();
    assert_eq!(got, want, "update the README's demo output");
}

/// The README's first screen is `faultline demo` as a user sees it.
#[test]
fn the_readme_opens_with_the_demo() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme.find("$ cargo run --release -- demo\n").expect("the demo in the README") + 30;
    let block = &readme[start..readme[start..].find("```").unwrap() + start];
    assert!(readme[..start].lines().count() < 25, "the demo is not on the first screen");
    let out = faultline(&["demo"]);
    assert_eq!(out.status.code(), Some(0));
    // The guest runs as whoever runs the demo: the README shows uid 1000.
    let me = format!("UID:{}", support::my_uid());
    let got = String::from_utf8_lossy(&out.stdout).replace(&me, "UID:1000");
    assert_eq!(got, block, "update the README's first screen");
}

/// The section readelf -S puts `addr` in (an address of the loaded
/// program, PIE base applied).
fn readelf_section(file: &str, addr: u64) -> String {
    let out = Command::new("readelf").args(["-SW", file]).output().expect("readelf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let off = addr - faultline::PIE_BASE;
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start().strip_prefix('[')?;
            let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
            let (start, size) = (u64::from_str_radix(f[2], 16).ok()?, u64::from_str_radix(f[4], 16).ok()?);
            (start != 0 && (start..start + size).contains(&off)).then(|| f[0].to_string())
        })
        .next()
        .unwrap_or_default()
}

/// A write to a string literal, in a program gcc built as it does by
/// default: .rodata holds 10 bytes at the start of a page filled by
/// .eh_frame; the report names the section the address is in.
#[test]
fn a_crash_names_the_section_readelf_names() {
    let prog = fixture_arg("literal");
    let out = faultline(&["run", "-q", &prog]);
    assert_eq!(out.status.code(), Some(139));
    let err = String::from_utf8_lossy(&out.stderr);
    let at = err.find("segfault at ").expect("a segfault report") + 12;
    let addr = u64::from_str_radix(err[at..].split_whitespace().next().unwrap(), 16).unwrap();
    assert_eq!(readelf_section(&prog, addr), ".rodata", "{err}");
    assert!(err.contains("write to a read-only page, address in .rodata; killed by SIGSEGV"), "{err}");
    let ip = err.find(" ip ").unwrap() + 4;
    let ip = u64::from_str_radix(err[ip..].split_whitespace().next().unwrap(), 16).unwrap();
    assert_eq!(readelf_section(&prog, ip), ".text");
}

/// The summary of several processes: each region row and each process
/// named by pid and comm, a release column, each process's peak and end,
/// the sandbox's peak and end (never above MemTotal, unlike a sum of
/// peaks), pid 1's status named so, and no region's range over another's.
#[test]
fn the_summary_names_processes_and_adds_up() {
    let dir = tmp("names");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("mycat");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("/bin/cat", &link).unwrap();
    let script = format!("/bin/echo hi | {}; /bin/true", link.display());
    let out = faultline(&["run", "--mem", "64M", "/bin/sh", "-c", &script]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let head = lines.iter().position(|l| l.starts_with("process  region")).expect("the region table");
    let header: Vec<&str> = lines[head].split("  ").map(str::trim).filter(|w| !w.is_empty()).collect();
    assert_eq!(
        header,
        [
            "process", "region", "range", "perm", "mapped", "faults", "read", "write", "cow", "prefault", "swapin",
            "evict", "release", "resident", "first ms", "last ms", "held µs"
        ]
    );
    // Region rows: "PID COMM REGION RANGE [+N] PERM …".
    let mut ranges: Vec<(String, u64, u64, String)> = Vec::new();
    let mut named = std::collections::BTreeSet::new();
    for l in lines[head + 1..].iter().take_while(|l| !l.is_empty()) {
        let w: Vec<&str> = l.split_whitespace().collect();
        named.insert((w[0].to_string(), w[1].to_string()));
        if let Some((a, b)) = w[3].split_once('-').filter(|(a, _)| !a.is_empty()) {
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
            ranges.push((w[0].to_string(), hex(a), hex(b), w[2].to_string()));
        }
    }
    let want: std::collections::BTreeSet<(String, String)> =
        [("1", "sh"), ("2", "echo"), ("3", "mycat"), ("4", "true")].map(|(p, c)| (p.into(), c.into())).into();
    assert_eq!(named, want, "{err}");
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            assert!(a.0 != b.0 || a.2 <= b.1 || b.2 <= a.1, "{a:?} overlaps {b:?}");
        }
    }
    // The process table: pid, name, …, peak KiB, end KiB.
    let at = lines.iter().position(|l| l.starts_with("pid  process")).expect("the process table");
    let procs: Vec<Vec<&str>> = lines[at + 1..].iter().take(4).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        procs.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>(),
        [("1", "sh"), ("2", "echo"), ("3", "mycat"), ("4", "true")]
    );
    let kib = |s: &str| s.parse::<u64>().unwrap();
    let peaks: Vec<u64> = procs.iter().map(|p| kib(p[8])).collect();
    for p in &procs {
        assert!(kib(p[9]) <= kib(p[8]), "end above peak: {p:?}");
    }
    let sandbox = lines.iter().find(|l| l.starts_with("sandbox: ")).expect("the sandbox line");
    let w: Vec<&str> = sandbox.split_whitespace().collect();
    let (peak, end) = (kib(w[1]), kib(w[6]));
    let mem_total = 65536;
    assert!(peak <= mem_total && end <= peak, "{sandbox}");
    assert!(peak >= *peaks.iter().max().unwrap(), "{sandbox}: {peaks:?}");
    assert!(peak < peaks.iter().sum::<u64>(), "the peak is the sandbox's, not a sum: {sandbox}: {peaks:?}");
    assert!(lines.iter().any(|l| l.starts_with("status of pid 1 (sh): VmPeak ")), "{err}");
    assert!(lines.iter().any(|l| l.starts_with("meminfo: MemTotal 65536 kB")), "{err}");
}

/// `--stat`: one line of Linux's own counters instead of the summary, in
/// /usr/bin/time's words; the faults are the timeline's (the program's
/// and those the VMM took for it), and a native run prints the same shape
/// with the format the README gives.
#[test]
fn stat_prints_linuxs_counters_in_one_line() {
    let json = tmp("stat.json");
    let out =
        faultline(&["run", "--stat", "--summary", json.to_str().unwrap(), &fixture_arg("touch"), "bss", "write", "12"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let line = lines[0].strip_prefix("faultline: ").expect("one faultline line");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let total = |k: &str| summary["total"][k].as_u64().unwrap();
    // "0:00.05 elapsed, 0.00 user, 0.01 system; 92 KiB maxresident; 3 major + 21 minor pagefaults; 2
    // voluntary + 0 involuntary context switches"
    let w: Vec<&str> = line.split_whitespace().collect();
    let words = [1, 3, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 21];
    assert_eq!(
        words.map(|i| w[i]),
        [
            "elapsed,",
            "user,",
            "system;",
            "KiB",
            "maxresident;",
            "major",
            "+",
            "minor",
            "pagefaults;",
            "voluntary",
            "+",
            "involuntary",
            "context",
            "switches"
        ],
        "{line}"
    );
    let n = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{s:?} in {line}"));
    let (major, minor) = (n(w[9]), n(w[12]));
    assert_eq!(major + minor, total("faults") + total("vmm"), "{line}");
    assert_eq!(n(w[6]), summary["status"]["VmHWM"].as_u64().unwrap(), "{line}");
    assert!(w[0].contains(':') && w[2].contains('.') && w[4].contains('.'), "{line}");
    // The same format natively, from /usr/bin/time, where it is installed.
    if std::path::Path::new("/usr/bin/time").exists() {
        let fmt = "%E elapsed, %U user, %S system; %M KiB maxresident; %F major + %R minor pagefaults; \
                   %w voluntary + %c involuntary context switches";
        let native = Command::new("/usr/bin/time")
            .args(["-f", fmt, &fixture_arg("touch"), "bss", "write", "12"])
            .output()
            .unwrap();
        let native = String::from_utf8_lossy(&native.stderr);
        let nw: Vec<&str> = native.split_whitespace().collect();
        assert_eq!(nw.len(), w.len(), "{native} vs {line}");
        assert_eq!(words.map(|i| nw[i]), words.map(|i| w[i]), "{native} vs {line}");
    }
}

/// The progress line on a terminal is erased before the program's output
/// reaches it, and before faultline's own last words.
#[test]
fn the_progress_line_gives_way_to_the_programs_output() {
    // SAFETY: openpty fills two descriptors; we own both.
    let (master, slave) = unsafe {
        let (mut m, mut s) = (0, 0);
        assert_eq!(libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()), 0);
        (m, s)
    };
    use std::os::fd::FromRawFd;
    // SAFETY: `slave` is ours; each Stdio takes its own duplicate.
    let tty = |fd: i32| unsafe { std::process::Stdio::from_raw_fd(libc::dup(fd)) };
    let mut child = Command::new(faultline_bin())
        .args(["run", "/bin/sh", "-c", "sleep 1.5; echo hello; sleep 1.3; echo world"])
        .stdin(std::process::Stdio::null())
        .stdout(tty(slave))
        .stderr(tty(slave))
        .spawn()
        .unwrap();
    // SAFETY: closing our copy of the slave.
    unsafe { libc::close(slave) };
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a buffer of that length.
        let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n as usize]);
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // SAFETY: the master is ours and read to its end.
    unsafe { libc::close(master) };
    let text = String::from_utf8_lossy(&seen);
    // The line was drawn, and erased before each of the program's lines.
    assert!(text.contains("[faultline 1s: "), "{text:?}");
    for word in ["hello", "world"] {
        let at = text.find(word).unwrap();
        assert!(text[..at].ends_with("]\r\x1b[K"), "{word} not after an erased progress line: {text:?}");
    }
}

/// `bench --program` counts what a run of the same program counts (its
/// faults and its syscalls, with strace -c as both count them), says how
/// each side ended, and its floor model is the sum it shows.
#[test]
fn bench_program_counts_what_a_run_counts() {
    let prog = fixture_arg("mallocexp-glibc");
    let out = faultline(&["bench", "--program", "--repeat", "1", "--json", "--", &prog, "small"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one line of JSON");

    let trace = Arc::new(Mutex::new(Vec::new()));
    let mut strace = faultline::strace::Strace::new(faultline::strace::Sink::Capture(trace));
    strace.count = true;
    let table = strace.clone();
    // `bench --program` runs as `faultline run` does: the host's page cache.
    let run = run_fixture_with("mallocexp-glibc", &["small"], |c| {
        c.strace = Some(strace);
        c.page_cache = faultline::PageCache::Host;
    });
    let calls: u64 = table
        .table()
        .lines()
        .find(|l| l.ends_with(" total"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .expect("strace -c's total");
    let faults = run.outcome.events.iter().filter(|e| e.origin == Origin::Guest && e.kind.is_fault()).count();
    assert_eq!(j["syscalls"], calls, "{j}");
    assert_eq!(j["fault_count"], faults as u64, "{j}");
    let by_kind: u64 = j["faults"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(by_kind, faults as u64);
    // Faults whose instruction is known came through the guest's page
    // fault (an exit); the rest through userfaultfd.
    let exit_faults =
        run.outcome.events.iter().filter(|e| e.origin == Origin::Guest && e.kind.is_fault() && e.ip != 0).count();
    assert_eq!(j["exit_faults"], exit_faults as u64, "{j}");
    assert!(exit_faults > 0 && exit_faults < faults, "{exit_faults} of {faults}");
    assert_eq!((j["native_status"].as_str(), j["faultline_status"].as_str()), (Some("exit 0"), Some("exit 0")));

    let f = |k: &str| j[k].as_f64().unwrap_or_else(|| panic!("{k} in {j}"));
    let fl = |k: &str| j["floors"][k].as_f64().unwrap();
    for k in ["trap_ns", "kernel_touch_ns", "stub_call_ns", "ring_call_ns", "exit_call_ns"] {
        assert!(fl(k) > 0.0, "{k}: {j}");
    }
    // The floor of a syscall is the ring stub's own answer.
    let model = f("native_ms") + (faults as f64 * fl("trap_ns") + calls as f64 * fl("stub_call_ns")) / 1e6;
    assert!((f("floor_ms") - model).abs() < 1e-6 * model, "{j}");
    assert!((f("over_floor") - f("faultline_ms") / model).abs() < 1e-6, "{j}");
    let ring = j["ring_calls"].as_u64().unwrap();
    let exits = exit_faults as u64 + calls - ring;
    let tr = ((faults - exit_faults) as f64 * fl("trap_ns")
        + exits as f64 * fl("exit_call_ns")
        + ring as f64 * fl("ring_call_ns"))
        / 1e6;
    assert!((f("transitions_ms") - tr).abs() < 1e-6 * tr, "{j}");

    // The table says the same in words.
    let text = faultline(&["bench", "--program", "--repeat", "1", "--", &prog, "small"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("+ {faults} faults × trapped touch")), "{text}");
    assert!(text.contains(&format!("+ {calls} syscalls × stub round trip")), "{text}");
    // A command needs --program, and --program a command.
    assert_error(&faultline(&["bench", "--", &prog]), "needs --program");
    assert!(!faultline(&["bench", "--program"]).status.success());
}
