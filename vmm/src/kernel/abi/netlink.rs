//! Netlink's route family as getifaddrs and if_nameindex use it
//! (`uapi/linux/netlink.h`, `rtnetlink.h`, `if_link.h`, `if_addr.h`,
//! `if_arp.h`, `if.h`): message headers and flags, the link and address
//! messages and their attributes.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

/// The one netlink protocol served.
pub(crate) const NETLINK_ROUTE: u32 = 0;

linux_consts! {
    /// nlmsg_type: the control messages and rtnetlink's link and address
    /// requests and answers.
    _: u16 {
        NLMSG_ERROR = 2,
        NLMSG_DONE = 3,
        RTM_NEWLINK = 16,
        RTM_GETLINK = 18,
        RTM_SETLINK = 19,
        RTM_NEWADDR = 20,
        RTM_GETADDR = 22,
    }
}

/// The first type that is a request (below it: control messages).
pub(crate) const NLMSG_MIN_TYPE: u16 = 0x10;
/// nlmsg_flags.
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_MULTI: u16 = 0x2;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_ROOT: u16 = 0x100;
pub(crate) const NLM_F_MATCH: u16 = 0x200;
pub(crate) const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// An ack's flag: the request is not echoed after the error code.
pub(crate) const NLM_F_CAPPED: u16 = 0x100;

/// struct sockaddr_nl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SockaddrNl {
    pub nl_family: u16,
    pub nl_pad: u16,
    pub nl_pid: u32,
    pub nl_groups: u32,
}
const _: () = assert!(size_of::<SockaddrNl>() == 12);

/// struct nlmsghdr.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Nlmsghdr {
    pub nlmsg_len: u32,
    pub nlmsg_type: u16,
    pub nlmsg_flags: u16,
    pub nlmsg_seq: u32,
    pub nlmsg_pid: u32,
}
const _: () = assert!(size_of::<Nlmsghdr>() == 16);

/// NLMSG_ALIGN and RTA_ALIGN: messages and attributes are 4-aligned.
pub(crate) const fn nl_align(n: usize) -> usize {
    (n + 3) & !3
}

/// struct rtattr: an attribute's header, its payload after it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Rtattr {
    pub rta_len: u16,
    pub rta_type: u16,
}

/// struct ifinfomsg: RTM_NEWLINK's body.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Ifinfomsg {
    pub ifi_family: u8,
    pub _pad: u8,
    pub ifi_type: u16,
    pub ifi_index: i32,
    pub ifi_flags: u32,
    pub ifi_change: u32,
}
const _: () = assert!(size_of::<Ifinfomsg>() == 16);

/// struct ifaddrmsg: RTM_NEWADDR's body.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Ifaddrmsg {
    pub ifa_family: u8,
    pub ifa_prefixlen: u8,
    pub ifa_flags: u8,
    pub ifa_scope: u8,
    pub ifa_index: u32,
}
const _: () = assert!(size_of::<Ifaddrmsg>() == 8);

/// struct ifa_cacheinfo.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct IfaCacheinfo {
    pub ifa_prefered: u32,
    pub ifa_valid: u32,
    pub cstamp: u32,
    pub tstamp: u32,
}

/// Link attributes (IFLA_*).
pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_BROADCAST: u16 = 2;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MTU: u16 = 4;
pub(crate) const IFLA_STATS: u16 = 7;
pub(crate) const IFLA_TXQLEN: u16 = 13;
pub(crate) const IFLA_OPERSTATE: u16 = 16;
/// IFLA_OPERSTATE's values (RFC 2863's, as if_link.h has them).
pub(crate) const IF_OPER_UNKNOWN: u8 = 0;
pub(crate) const IF_OPER_DOWN: u8 = 2;
pub(crate) const IFLA_STATS64: u16 = 23;
/// struct rtnl_link_stats (24 u32) and rtnl_link_stats64 (25 u64).
pub(crate) const RTNL_LINK_STATS_LEN: usize = 24 * 4;
pub(crate) const RTNL_LINK_STATS64_LEN: usize = 25 * 8;
/// Address attributes (IFA_*).
pub(crate) const IFA_ADDRESS: u16 = 1;
pub(crate) const IFA_LOCAL: u16 = 2;
pub(crate) const IFA_LABEL: u16 = 3;
pub(crate) const IFA_CACHEINFO: u16 = 6;
pub(crate) const IFA_FLAGS: u16 = 8;
/// IFA_F_PERMANENT; RT_SCOPE_HOST.
pub(crate) const IFA_F_PERMANENT: u8 = 0x80;
pub(crate) const RT_SCOPE_HOST: u8 = 254;
/// lo's type and flags when up: ARPHRD_LOOPBACK; IFF_UP | IFF_LOOPBACK |
/// IFF_RUNNING | IFF_LOWER_UP.
pub(crate) const ARPHRD_LOOPBACK: u16 = 772;
pub(crate) const IFF_UP: u32 = 0x1;
pub(crate) const IFF_LOOPBACK: u32 = 0x8;
pub(crate) const LO_FLAGS: u32 = IFF_UP | IFF_LOOPBACK | 0x40 | 0x1_0000;
/// lo's MTU and queue length.
pub(crate) const LO_MTU: u32 = 65_536;
pub(crate) const LO_TXQLEN: u32 = 1000;
