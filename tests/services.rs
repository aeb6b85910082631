//! The services people run, waiting in their event loops inside the
//! sandbox: node (libuv), python's asyncio, a static Go program and
//! redis-server with redis-cli. Each is run natively and under faultline
//! and must print the same, with the same exit status and nothing on
//! stderr (faultline prints "not supported" there for a call it lacks).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/services").join(name).display().to_string()
}

/// `argv` natively and under `faultline run -q` with `dir` bound
/// read-write at the same path: stdout, stderr and status of each.
fn both(dir: &Path, argv: &[&str]) -> [(String, String, i32); 2] {
    let native = Command::new(argv[0]).args(&argv[1..]).output().expect("the program runs natively");
    let d = dir.display().to_string();
    let bind = format!("{d}:{d}:rw");
    let mut args = vec!["run", "-q", "--timeout", "120", "--bind", &bind];
    args.extend_from_slice(argv);
    let guest = faultline(&args);
    [native, guest].map(|o| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.status.code().unwrap_or(-1),
        )
    })
}

fn assert_same(what: &str, dir: &Path, argv: &[&str], expected: &str) {
    let [native, guest] = both(dir, argv);
    assert_eq!(native, (expected.to_string(), String::new(), 0), "{what} natively");
    assert_eq!(guest, native, "{what} under faultline");
}

fn scratch(name: &str) -> PathBuf {
    let d = tmp(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn node_runs_its_timers_and_a_loopback_echo_server() {
    let d = scratch("node");
    assert_same("a timer", &d, &["node", "-e", "setTimeout(() => console.log(2), 10)"], "2\n");
    assert_same("an echo server", &d, &["node", &script("echo.js")], "microtask\ngot PING\ntimer after close\n");
}

#[test]
fn python_asyncio_runs_a_subprocess_and_unix_and_tcp_servers() {
    let d = scratch("asyncio");
    let dir = d.display().to_string();
    assert_same("asyncio", &d, &["python3", &script("aio.py"), &dir], "from child 0\nHELLO\nTCP\n");
}

#[test]
fn a_static_go_program_runs_goroutines_timers_and_a_tcp_echo_server() {
    let d = scratch("go");
    let bin = d.join("echo");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(script("echo.go"))
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", d.join("cache"))
        .env("GO111MODULE", "off")
        .output()
        .expect("go builds (ci/setup installs golang-go)");
    assert!(out.status.success(), "go build: {}", String::from_utf8_lossy(&out.stderr));
    let clients: String = (0..8).map(|i| format!("CLIENT {i}\n")).collect();
    let bin = bin.display().to_string();
    assert_same("go", &d, &[&bin], &format!("{clients}3 ticks, then the timer; at least 20 ms: true\n"));
}

#[test]
fn redis_server_and_redis_cli_set_and_get_a_key() {
    let d = scratch("redis");
    let dir = d.display().to_string();
    assert_same("redis", &d, &["/bin/sh", &script("redis.sh"), &dir], "OK\nhello from redis\n41\n42\nserver exited\n");
}

#[test]
fn tokio_current_thread_and_multi_thread_runtimes_serve_tcp() {
    let d = scratch("tokio");
    let manifest = script("tokio-echo/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tokio-echo");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--locked", "--manifest-path", &manifest])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building tokio-echo: {}", String::from_utf8_lossy(&out.stderr));
    let bin = target.join("release/tokio-echo").display().to_string();
    let current: String = (0..4).map(|i| format!("current-thread: TASK {i}\n")).collect();
    let multi: String = (0..6).map(|i| format!("multi-thread: TASK {i}\n")).collect();
    assert_same("tokio", &d, &[&bin], &format!("{current}{multi}"));
}
