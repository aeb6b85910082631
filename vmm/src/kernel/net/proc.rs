//! /proc/net's tables of the sandbox's own sockets, in Linux's formats:
//! unix (unix_seq_show), tcp and tcp6 (tcp4_seq_show, tcp6_seq_show:
//! listening sockets, then connections), udp and udp6 (udp4_format_sock,
//! __ip6_dgram_sock_show: bound sockets), and dev (lo's counters). Kernel
//! pointers show as zeros (kptr_restrict); timers as idle.

use std::fmt::Write as _;
use std::sync::Arc;

use super::addr::{Ip, SockAddr, UnixName};
use super::{tcp, Net, Phase, Socket};
use crate::kernel::abi::socket::*;

/// __SO_ACCEPTCON: a listening unix socket's flag.
const SO_ACCEPTCON: u32 = 1 << 16;
/// socket_state's SS_UNCONNECTED and SS_CONNECTED.
const SS_UNCONNECTED: u8 = 1;
const SS_CONNECTED: u8 = 3;

/// /proc/net/unix.
pub(crate) fn unix(net: &Net) -> String {
    let mut out = String::from("Num       RefCount Protocol Flags    Type St Inode Path\n");
    for s in net.sockets().iter().filter(|s| s.domain == AF_UNIX) {
        let st = s.lock();
        let connected = st.phase == Phase::Connected;
        let listening = st.phase == Phase::Listening;
        let _ = write!(
            out,
            "{:016x}: {:08X} {:08X} {:08X} {:04X} {:02X} {:5}",
            0,
            if connected { 3 } else { 2 },
            0,
            if listening { SO_ACCEPTCON } else { 0 },
            s.ty,
            if connected { SS_CONNECTED } else { SS_UNCONNECTED },
            s.ino
        );
        match &st.local {
            Some(SockAddr::Unix(UnixName::Path(p))) => {
                let _ = write!(out, " {}", String::from_utf8_lossy(p));
            }
            Some(SockAddr::Unix(UnixName::Abstract(a))) => {
                let name: Vec<u8> = a.iter().map(|&b| if b == 0 { b'@' } else { b }).collect();
                let _ = write!(out, " @{}", String::from_utf8_lossy(&name));
            }
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// An address as /proc/net prints it: each 32-bit word in host order.
fn hex_ip(ip: Option<Ip>, v6: bool) -> String {
    let bytes: Vec<u8> = match (ip, v6) {
        (Some(Ip::V4(a)), false) => a.to_vec(),
        (Some(Ip::V6(a)), true) => a.to_vec(),
        (Some(Ip::V4(a)), true) => Ip::mapped(a).to_vec(),
        (_, v6) => vec![0; if v6 { 16 } else { 4 }],
    };
    bytes.chunks(4).map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))).collect()
}

fn ends(s: &Socket, v6: bool) -> (String, String) {
    let st = s.lock();
    let addr = |a: &Option<SockAddr>| {
        let (ip, port) = a.as_ref().map_or((None, 0), |a| (a.ip(), a.port()));
        format!("{}:{:04X}", hex_ip(ip, v6), port)
    };
    (addr(&st.local), addr(&st.remote))
}

/// The inode /proc/net shows: 0 for a connection still in its listener's
/// queue (it has no file yet).
fn shown_ino(s: &Arc<Socket>, queued: &[Arc<Socket>]) -> u64 {
    if queued.iter().any(|q| Arc::ptr_eq(q, s)) {
        0
    } else {
        s.ino
    }
}

/// /proc/net/tcp (`v6` false) or tcp6.
pub(crate) fn tcp(net: &Net, v6: bool) -> String {
    let family = if v6 { AF_INET6 } else { AF_INET };
    let mut out = if v6 {
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n".to_string()
    } else {
        format!(
            "{:<149}\n",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
        )
    };
    let all = net.sockets();
    let tcps: Vec<&Arc<Socket>> = all.iter().filter(|s| s.is_tcp() && s.domain == family).collect();
    let queued: Vec<Arc<Socket>> =
        tcps.iter().flat_map(|s| s.lock().pending.iter().cloned().collect::<Vec<_>>()).collect();
    let listening = tcps.iter().filter(|s| s.lock().phase == Phase::Listening);
    let connected = tcps.iter().filter(|s| matches!(s.lock().phase, Phase::Connected | Phase::Connecting));
    for (i, s) in listening.chain(connected).enumerate() {
        let state = tcp::state(s);
        let (local, remote) = ends(s, v6);
        let (rx, tail) = if state == TCP_LISTEN {
            (s.lock().pending.len(), "2 0000000000000000 100 0 0 10 0")
        } else {
            (s.inq(), "2 0000000000000000 20 4 30 10 -1")
        };
        let row = format!(
            "{i:4}: {local} {remote} {state:02X} {:08X}:{rx:08X} 00:00000000 00000000 {:5} {:8} {} {tail}",
            0,
            s.cred.uid,
            0,
            shown_ino(s, &queued)
        );
        let _ = if v6 { writeln!(out, "{row}") } else { writeln!(out, "{row:<149}") };
    }
    out
}

/// /proc/net/udp (`v6` false) or udp6.
pub(crate) fn udp(net: &Net, v6: bool) -> String {
    let family = if v6 { AF_INET6 } else { AF_INET };
    let mut out = if v6 {
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n".to_string()
    } else {
        format!("{:<127}\n", "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops")
    };
    let all = net.sockets();
    let bound = all.iter().filter(|s| s.domain == family && s.ty == SOCK_DGRAM && s.lock().local.is_some());
    for (i, s) in bound.enumerate() {
        let (local, remote) = ends(s, v6);
        let (state, rx) = {
            let st = s.lock();
            (if st.phase == Phase::Connected { TCP_ESTABLISHED } else { TCP_CLOSE }, st.rx_bytes)
        };
        let row = format!(
            "{i:5}: {local} {remote} {state:02X} {:08X}:{rx:08X} 00:00000000 00000000 {:5} {:8} {} 2 0000000000000000 0",
            s.wmem(),
            s.cred.uid,
            0,
            s.ino
        );
        let _ = if v6 { writeln!(out, "{row}") } else { writeln!(out, "{row:<127}") };
    }
    out
}

/// /proc/net/dev: lo alone.
pub(crate) fn dev(net: &Net) -> String {
    let (packets, bytes) = net.lo_stats();
    let mut out = String::from(
        "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    let _ = writeln!(
        out,
        "{:>6}:{bytes:8} {packets:7} {:4} {:4} {:4} {:5} {:10} {:9} {bytes:8} {packets:7} {:4} {:4} {:4} {:5} {:7} {:10}",
        "lo", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    );
    out
}
