//! Sockets: address families, types, flags, option names and the structs
//! the socket calls pass (`include/linux/socket.h`, `uapi/linux/in.h`,
//! `in6.h`, `un.h`, `tcp.h`, `asm-generic/socket.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// socket(2)'s domains faultline serves (the others are EAFNOSUPPORT).
    pub(crate) ADDRESS_FAMILIES: u16 {
        AF_UNSPEC = 0,
        AF_UNIX = 1,
        AF_INET = 2,
        AF_INET6 = 10,
        AF_NETLINK = 16,
    }

    /// socket(2)'s types; SOCK_NONBLOCK and SOCK_CLOEXEC ride in the same
    /// argument.
    pub(crate) SOCK_TYPES: u32 {
        SOCK_STREAM = 1,
        SOCK_DGRAM = 2,
        SOCK_RAW = 3,
        SOCK_RDM = 4,
        SOCK_SEQPACKET = 5,
        SOCK_PACKET = 10,
    }

    /// The send and receive flags.
    pub(crate) MSG_FLAGS: u32 {
        MSG_OOB = 1,
        MSG_PEEK = 2,
        MSG_DONTROUTE = 4,
        MSG_CTRUNC = 8,
        MSG_TRUNC = 0x20,
        MSG_DONTWAIT = 0x40,
        MSG_EOR = 0x80,
        MSG_WAITALL = 0x100,
        MSG_CONFIRM = 0x800,
        MSG_ERRQUEUE = 0x2000,
        MSG_NOSIGNAL = 0x4000,
        MSG_MORE = 0x8000,
        MSG_WAITFORONE = 0x10000,
        MSG_CMSG_CLOEXEC = 0x4000_0000,
    }

    /// Option levels.
    pub(crate) SOCKOPT_LEVELS: i32 {
        SOL_IP = 0,
        SOL_SOCKET = 1,
        SOL_TCP = 6,
        SOL_UDP = 17,
        SOL_IPV6 = 41,
    }

    /// SOL_SOCKET options.
    pub(crate) SO_OPTIONS: i32 {
        SO_DEBUG = 1,
        SO_REUSEADDR = 2,
        SO_TYPE = 3,
        SO_ERROR = 4,
        SO_DONTROUTE = 5,
        SO_BROADCAST = 6,
        SO_SNDBUF = 7,
        SO_RCVBUF = 8,
        SO_KEEPALIVE = 9,
        SO_OOBINLINE = 10,
        SO_NO_CHECK = 11,
        SO_PRIORITY = 12,
        SO_LINGER = 13,
        SO_BSDCOMPAT = 14,
        SO_REUSEPORT = 15,
        SO_PASSCRED = 16,
        SO_PEERCRED = 17,
        SO_RCVLOWAT = 18,
        SO_SNDLOWAT = 19,
        SO_RCVTIMEO_OLD = 20,
        SO_SNDTIMEO_OLD = 21,
        SO_BINDTODEVICE = 25,
        SO_TIMESTAMP_OLD = 29,
        SO_TIMESTAMPNS_OLD = 35,
        SO_TIMESTAMPING_OLD = 37,
        SO_TIMESTAMP_NEW = 63,
        SO_TIMESTAMPNS_NEW = 64,
        SO_TIMESTAMPING_NEW = 65,
        SO_ACCEPTCONN = 30,
        SO_PEERSEC = 31,
        SO_SNDBUFFORCE = 32,
        SO_RCVBUFFORCE = 33,
        SO_PASSSEC = 34,
        SO_MARK = 36,
        SO_PROTOCOL = 38,
        SO_DOMAIN = 39,
        SO_RXQ_OVFL = 40,
        SO_PEEK_OFF = 42,
        SO_BUSY_POLL = 46,
        SO_INCOMING_CPU = 49,
        SO_COOKIE = 57,
        SO_PEERGROUPS = 59,
    }

    /// SOL_TCP options.
    pub(crate) TCP_OPTIONS: i32 {
        TCP_NODELAY = 1,
        TCP_MAXSEG = 2,
        TCP_CORK = 3,
        TCP_KEEPIDLE = 4,
        TCP_KEEPINTVL = 5,
        TCP_KEEPCNT = 6,
        TCP_SYNCNT = 7,
        TCP_LINGER2 = 8,
        TCP_DEFER_ACCEPT = 9,
        TCP_WINDOW_CLAMP = 10,
        TCP_INFO = 11,
        TCP_QUICKACK = 12,
        TCP_CONGESTION = 13,
        TCP_USER_TIMEOUT = 18,
        TCP_FASTOPEN = 23,
        TCP_NOTSENT_LOWAT = 25,
    }

    /// SOL_IP and SOL_IPV6 options.
    pub(crate) IP_OPTIONS: i32 {
        IP_TOS = 1,
        IP_TTL = 2,
        IP_RECVERR = 11,
        IPV6_UNICAST_HOPS = 16,
        IPV6_V6ONLY = 26,
    }

    /// Control message types (SOL_SOCKET).
    _: i32 {
        SCM_RIGHTS = 1,
        SCM_CREDENTIALS = 2,
    }

    /// The flags socket(2) and accept4(2) take with the type.
    pub(crate) SOCK_FLAGS: u32 {
        SOCK_NONBLOCK = 0o4000,
        SOCK_CLOEXEC = 0o2000000,
    }

    /// shutdown(2)'s how.
    pub(crate) SHUT_HOW: i32 {
        SHUT_RD = 0,
        SHUT_WR = 1,
        SHUT_RDWR = 2,
    }
}

/// IPPROTO_ numbers socket(2) takes.
pub(crate) const IPPROTO_IP: u32 = 0;
pub(crate) const IPPROTO_TCP: u32 = 6;
pub(crate) const IPPROTO_UDP: u32 = 17;
pub(crate) const SOCK_TYPE_MASK: u32 = 0xf;

/// SCM_MAX_FD: descriptors one SCM_RIGHTS message may carry.
pub(crate) const SCM_MAX_FD: usize = 253;
/// net.core.somaxconn: the largest listen backlog.
pub(crate) const SOMAXCONN: u32 = 4096;
/// UNIX_PATH_MAX: sun_path's size.
pub(crate) const UNIX_PATH_MAX: usize = 108;
/// offsetof(struct sockaddr_un, sun_path): a family alone.
pub(crate) const SUN_PATH_OFFSET: usize = 2;
/// SIN6_LEN_RFC2133: the shortest sockaddr_in6 the kernel takes.
pub(crate) const SIN6_LEN_RFC2133: usize = 24;
/// The first port an unprivileged process may bind
/// (net.ipv4.ip_unprivileged_port_start).
pub(crate) const PROT_SOCK: u16 = 1024;
/// net.ipv4.ip_local_port_range's default.
pub(crate) const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;

/// struct sockaddr_in (network byte order in port and addr).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SockaddrIn {
    pub(crate) sin_family: u16,
    pub(crate) sin_port: [u8; 2],
    pub(crate) sin_addr: [u8; 4],
    pub(crate) sin_zero: [u8; 8],
}
const _: () = assert!(size_of::<SockaddrIn>() == 16);

/// struct sockaddr_in6.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SockaddrIn6 {
    pub(crate) sin6_family: u16,
    pub(crate) sin6_port: [u8; 2],
    pub(crate) sin6_flowinfo: u32,
    pub(crate) sin6_addr: [u8; 16],
    pub(crate) sin6_scope_id: u32,
}
const _: () = assert!(size_of::<SockaddrIn6>() == 28);

/// struct sockaddr_un.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SockaddrUn {
    pub(crate) sun_family: u16,
    pub(crate) sun_path: [u8; UNIX_PATH_MAX],
}
const _: () = assert!(size_of::<SockaddrUn>() == 110);

/// struct user_msghdr.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Msghdr {
    pub(crate) msg_name: u64,
    pub(crate) msg_namelen: u32,
    pub(crate) _pad1: u32,
    pub(crate) msg_iov: u64,
    pub(crate) msg_iovlen: u64,
    pub(crate) msg_control: u64,
    pub(crate) msg_controllen: u64,
    pub(crate) msg_flags: u32,
    pub(crate) _pad2: u32,
}
const _: () = assert!(size_of::<Msghdr>() == 56);

/// struct mmsghdr.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Mmsghdr {
    pub(crate) msg_hdr: Msghdr,
    pub(crate) msg_len: u32,
    pub(crate) _pad: u32,
}
const _: () = assert!(size_of::<Mmsghdr>() == 64);

/// struct cmsghdr: a control message's header, its data after it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Cmsghdr {
    pub(crate) cmsg_len: u64,
    pub(crate) cmsg_level: i32,
    pub(crate) cmsg_type: i32,
}
const _: () = assert!(size_of::<Cmsghdr>() == 16);

/// CMSG_ALIGN: control messages are aligned to a long.
pub(crate) const fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// struct ucred: SO_PEERCRED and SCM_CREDENTIALS.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Ucred {
    pub(crate) pid: i32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}
const _: () = assert!(size_of::<Ucred>() == 12);

/// struct linger.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Linger {
    pub(crate) l_onoff: i32,
    pub(crate) l_linger: i32,
}
const _: () = assert!(size_of::<Linger>() == 8);

/// IFNAMSIZ: an interface name with its NUL.
pub(crate) const IFNAMSIZ: usize = 16;
/// lo's interface index.
pub(crate) const LOOPBACK_IFINDEX: i32 = 1;

/// SO_TIMESTAMPING's flags (`uapi/linux/net_tstamp.h`): SOF_TIMESTAMPING_MASK
/// is every flag up to SOF_TIMESTAMPING_OPT_RX_FILTER's successor.
pub(crate) const SOF_TIMESTAMPING_RX_SOFTWARE: u32 = 1 << 3;
pub(crate) const SOF_TIMESTAMPING_SOFTWARE: u32 = 1 << 4;
pub(crate) const SOF_TIMESTAMPING_MASK: u32 = (1 << 19) - 1;

linux_consts! {
    /// A TCP socket's states (`include/net/tcp_states.h`): tcp_info's
    /// tcpi_state and /proc/net/tcp's st column.
    _: u8 {
        TCP_ESTABLISHED = 1,
        TCP_SYN_SENT = 2,
        TCP_FIN_WAIT2 = 5,
        TCP_CLOSE = 7,
        TCP_CLOSE_WAIT = 8,
        TCP_LISTEN = 10,
    }
}

/// struct tcp_info as Linux 6.18 has it (280 bytes, tcp_get_info); the
/// loopback fills its state and leaves the counters and timings zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct TcpInfo {
    pub tcpi_state: u8,
    pub tcpi_ca_state: u8,
    pub tcpi_retransmits: u8,
    pub tcpi_probes: u8,
    pub tcpi_backoff: u8,
    pub tcpi_options: u8,
    pub tcpi_wscale: u8,
    pub tcpi_flags: u8,
    /// tcpi_rto onwards: u32 and u64 counters, all zero here.
    pub rest: [u8; 272],
}
const _: () = assert!(size_of::<TcpInfo>() == 280);

/// struct so_timestamping: SO_TIMESTAMPING's value as getsockopt gives it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SoTimestamping {
    pub flags: u32,
    pub bind_phc: i32,
}
const _: () = assert!(size_of::<SoTimestamping>() == 8);
