//! Sockets between the sandbox's own processes: the `sockets` fixture's
//! unix stream (across fork, with SCM_RIGHTS and SO_PEERCRED), datagram
//! and seqpacket exchanges, TCP on the loopback (v4 and v6, blocking and
//! non-blocking with poll), UDP echo and the error cases print the same,
//! byte for byte and with the same exit status, natively and under
//! faultline; and nothing reaches the host's network.

mod support;

use support::*;

const PARTS: [&str; 7] = ["unix", "pair", "dgram", "seqpacket", "tcp", "udp", "errors"];

#[test]
fn sockets_behave_as_on_linux() {
    for libc in LIBCS {
        let name = format!("sockets-{libc}");
        for part in PARTS {
            let run = run_fixture(&name, &[part]);
            let (native, code) = run_native(&name, &[part]);
            assert_eq!(code, 0, "{name} {part} natively: {native}");
            assert_eq!((run.stdout.as_str(), run.code()), (native.as_str(), code), "{name} {part}: {}", run.stderr);
        }
    }
}

/// The `tcpedge` fixture: reads and writes after a reset, connects to a
/// full accept queue, and the cheap options (SO_DEBUG, SO_TIMESTAMP*,
/// SO_BINDTODEVICE, TCP_INFO) and the rows of /proc/net/{tcp,tcp6,udp,
/// udp6,unix,dev} for its own sockets print the same as natively.
#[test]
fn tcp_edges_behave_as_on_linux() {
    for libc in LIBCS {
        let name = format!("tcpedge-{libc}");
        for part in ["reset", "backlog", "options", "procnet"] {
            let run = run_fixture(&name, &[part]);
            let (native, code) = run_native(&name, &[part]);
            assert_eq!(code, 0, "{name} {part} natively: {native}");
            assert_eq!((run.stdout.as_str(), run.code()), (native.as_str(), code), "{name} {part}: {}", run.stderr);
        }
    }
}

#[test]
fn the_sandbox_has_no_network_but_its_loopback() {
    let run = run_fixture("sockets-glibc", &["isolation"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(
        // Netlink opens, and shows only lo (`interfaces_are_lo_alone`).
        run.stdout,
        "connect far: -1 ENETUNREACH\nudp far: -1 ENETUNREACH\nnetlink: 5\n",
        "{}",
        run.stderr
    );
}

/// getifaddrs, if_nameindex, if_nametoindex and if_indextoname (glibc's
/// and musl's: netlink and the SIOCGIF ioctls) see lo with 127.0.0.1/8 and
/// ::1/128 as natively, and a raw NETLINK_ROUTE socket answers what it
/// does not serve with Linux's errors.
#[test]
fn interfaces_are_lo_alone() {
    for libc in LIBCS {
        let name = format!("ifaddrs-{libc}");
        for part in ["addrs", "raw"] {
            let run = run_fixture(&name, &[part]);
            let (native, code) = run_native(&name, &[part]);
            assert_eq!(code, 0, "{name} {part} natively: {native}");
            assert_eq!((run.stdout.as_str(), run.code()), (native.as_str(), code), "{name} {part}: {}", run.stderr);
        }
    }
}

/// The `netns` fixture, as root: a child's new network namespace has a
/// loopback of its own, down until SIOCSIFFLAGS brings it up, where the
/// parent's ports and abstract names are not found but its path names
/// are; its sysctls are its own (LTP's clone09); without CAP_SYS_ADMIN
/// none is made. The same as natively, byte for byte.
#[test]
fn network_namespaces_behave_as_on_linux() {
    for libc in LIBCS {
        let name = format!("netns-{libc}");
        for part in ["lo", "sysctl", "perm"] {
            let run = run_fixture(&name, &[part]);
            let (native, code) = run_native(&name, &[part]);
            assert_eq!(code, 0, "{name} {part} natively: {native}");
            assert_eq!((run.stdout.as_str(), run.code()), (native.as_str(), code), "{name} {part}: {}", run.stderr);
        }
    }
}
