//! Network namespaces (CONFIG_NET_NS, net/core/net_namespace.c). Each
//! [`Net`] is one: its loopback (lo's state and counters, the ports bound
//! on it), its abstract unix names, its netlink ports, its sockets for
//! /proc/net and its sysctls (/proc/sys/net). Every process is in one:
//! fork shares its parent's, clone and unshare with CLONE_NEWNET make a
//! new one (copy_net_ns: CAP_SYS_ADMIN, ENOSPC past
//! user.max_net_namespaces, ENOMEM past `--mem`). A socket stays in the
//! namespace it was made in (sock_net), and keeps it alive.
//!
//! What all namespaces share ([`Shared`]): unix path names, which are
//! nodes of the file system (unix_find_bsd finds the socket by its inode,
//! whatever the caller's namespace), and sockfs's inode numbers.
//!
//! A new namespace's lo is down, as Linux makes it: IPv4 traffic is
//! ENETUNREACH, IPv6 traffic EADDRNOTAVAIL and ::1 cannot be bound (lo
//! has no IPv6 address yet), until SIOCSIFFLAGS or RTM_NEWLINK sets
//! IFF_UP. Taking lo down again is refused (EOPNOTSUPP): Linux keeps
//! 127.0.0.1 on a lo that is down and drops what is sent to it, so
//! connections time out, which the loopback here does not model.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{Net, Socket};
use crate::kernel::abi::netlink::{IFF_LOOPBACK, IFF_UP, LO_FLAGS};
use crate::kernel::abi::socket::SOMAXCONN;
use crate::kernel::cred::CAP_SYS_ADMIN;
use crate::kernel::errno::*;
use crate::kernel::task::Ctx;
use crate::kernel::KernelState;
use crate::mm::{Kmem, KmemCharge};

/// What a namespace costs: struct net (about 5 KiB), lo's net_device and
/// the per-namespace sysctl tables and /proc entries copied for it.
const NET_NS_BYTES: u64 = 16 << 10;

/// What every namespace shares.
#[derive(Default)]
pub(crate) struct Shared {
    /// Path-bound unix sockets by their node's (device, inode).
    paths: Mutex<HashMap<(u64, u64), Weak<Socket>>>,
    next_ino: AtomicU64,
    /// Live namespaces by the effective uid that made them (ucounts'
    /// UCOUNT_NET_NAMESPACES; the first namespace is nobody's).
    made: Mutex<HashMap<u32, u64>>,
}

/// One of an interface's configurations (net.ipv4.conf.*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conf {
    All,
    Default,
    Lo,
}

/// A sysctl a namespace has its own value of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sysctl {
    /// net.ipv4.conf.*.tag.
    Tag(Conf),
    /// net.core.somaxconn: the largest listen backlog.
    Somaxconn,
}

impl Sysctl {
    /// The sysctl at /proc/`path` (as syscalls::io names a written file).
    pub(crate) fn at(path: &str) -> Option<Sysctl> {
        Some(match path.strip_prefix("sys/net/")? {
            "ipv4/conf/all/tag" => Sysctl::Tag(Conf::All),
            "ipv4/conf/default/tag" => Sysctl::Tag(Conf::Default),
            "ipv4/conf/lo/tag" => Sysctl::Tag(Conf::Lo),
            "core/somaxconn" => Sysctl::Somaxconn,
            _ => return None,
        })
    }
}

/// A namespace's own state beside its tables.
pub(super) struct Own {
    lo_up: AtomicBool,
    sysctls: Mutex<Sysctls>,
    /// Who made it, counted in [`Shared::made`] while it lives.
    maker: Option<u32>,
    _kmem: Option<KmemCharge>,
}

#[derive(Clone, Copy)]
struct Sysctls {
    tag_all: i32,
    tag_default: i32,
    /// lo's own, once written; until then lo follows the default
    /// (devinet_copy_dflt_conf copies it to devices that set none).
    tag_lo: Option<i32>,
    somaxconn: i32,
}

impl Own {
    fn new(lo_up: bool, sysctls: Sysctls, maker: Option<u32>, kmem: Option<KmemCharge>) -> Self {
        Own { lo_up: AtomicBool::new(lo_up), sysctls: Mutex::new(sysctls), maker, _kmem: kmem }
    }
}

impl Net {
    fn new(shared: Arc<Shared>, own: Own) -> Net {
        Net { tables: Default::default(), lo: Default::default(), shared, own }
    }

    /// init_net: lo up, the sysctls' defaults.
    pub(crate) fn root() -> Arc<Net> {
        let sysctls = Sysctls { tag_all: 0, tag_default: 0, tag_lo: None, somaxconn: SOMAXCONN as i32 };
        Arc::new(Net::new(Arc::default(), Own::new(true, sysctls, None, None)))
    }

    /// Whether lo is up.
    pub(crate) fn lo_up(&self) -> bool {
        self.own.lo_up.load(Ordering::Relaxed)
    }

    /// lo's flags (IFF_*): a lo that is down is only a loopback.
    pub(crate) fn lo_flags(&self) -> u32 {
        if self.lo_up() {
            LO_FLAGS
        } else {
            IFF_LOOPBACK
        }
    }

    /// dev_change_flags on lo: IFF_UP brings it up (see the module's doc
    /// for why it stays up); other flags are lo's own and stay.
    pub(crate) fn set_lo_flags(&self, flags: u32) -> Result<(), Errno> {
        if flags & IFF_UP != 0 {
            self.own.lo_up.store(true, Ordering::Relaxed);
            Ok(())
        } else if self.lo_up() {
            Err(EOPNOTSUPP)
        } else {
            Ok(())
        }
    }

    /// A sysctl's value in this namespace.
    pub(crate) fn sysctl(&self, which: Sysctl) -> i32 {
        let s = *self.own.sysctls.lock();
        match which {
            Sysctl::Tag(Conf::All) => s.tag_all,
            Sysctl::Tag(Conf::Default) => s.tag_default,
            Sysctl::Tag(Conf::Lo) => s.tag_lo.unwrap_or(s.tag_default),
            Sysctl::Somaxconn => s.somaxconn,
        }
    }

    /// Sets a sysctl (proc_dointvec; somaxconn's minimum is 0).
    pub(crate) fn set_sysctl(&self, which: Sysctl, v: i32) -> Result<(), Errno> {
        let mut s = self.own.sysctls.lock();
        match which {
            Sysctl::Tag(Conf::All) => s.tag_all = v,
            Sysctl::Tag(Conf::Default) => s.tag_default = v,
            Sysctl::Tag(Conf::Lo) => s.tag_lo = Some(v),
            Sysctl::Somaxconn if v < 0 => return Err(EINVAL),
            Sysctl::Somaxconn => s.somaxconn = v,
        }
        Ok(())
    }

    /// Registers `s` as the socket of the node `key` it just made.
    pub(crate) fn bind_path(&self, s: &Arc<Socket>, key: (u64, u64)) {
        self.shared.paths.lock().insert(key, Arc::downgrade(s));
    }

    /// The live socket bound to the node `key`, in any namespace.
    pub(crate) fn find_path(&self, key: (u64, u64)) -> Option<Arc<Socket>> {
        let s = self.shared.paths.lock().get(&key)?.upgrade()?;
        let dead = s.lock().dead;
        (!dead).then_some(s)
    }

    /// Gives up `s`'s path name, if it still holds `key`.
    pub(super) fn forget_path(&self, s: &Socket, key: (u64, u64)) {
        let mut paths = self.shared.paths.lock();
        if paths.get(&key).is_some_and(|w| std::ptr::eq(w.as_ptr(), s)) {
            paths.remove(&key);
        }
    }

    /// A new sockfs inode number (get_next_ino: one counter for all).
    pub(super) fn new_ino(&self) -> u64 {
        1_000_000 + self.shared.next_ino.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(uid) = self.own.maker {
            let mut made = self.shared.made.lock();
            if let Some(n) = made.get_mut(&uid) {
                *n -= 1;
                if *n == 0 {
                    made.remove(&uid);
                }
            }
        }
    }
}

impl KernelState {
    /// user.max_net_namespaces: init_user_ns's limits are half of
    /// threads-max (fork_init).
    pub(crate) fn max_net_namespaces(&self) -> u64 {
        u64::from(self.cfg.max_tasks) / 2
    }
}

/// copy_net_ns: a new namespace for the caller (EPERM without
/// CAP_SYS_ADMIN; ENOSPC when its euid has user.max_net_namespaces; ENOMEM
/// past the kernel's memory). Its lo is down; its interface settings are
/// init_net's (net.core.devconf_inherit_init_net is 0), the rest the
/// compiled defaults.
pub(crate) fn new_ns(ctx: &mut Ctx) -> Result<Arc<Net>, Errno> {
    let cred = &ctx.proc().cred;
    if !cred.capable(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    let uid = cred.euid;
    let init = ctx.k.net.clone();
    let shared = init.shared.clone();
    {
        let made = shared.made.lock();
        if made.get(&uid).copied().unwrap_or(0) >= ctx.k.max_net_namespaces() {
            return Err(ENOSPC);
        }
    }
    let kmem = ctx.k.kmem_charge(Kmem::Kmalloc(NET_NS_BYTES), 1)?;
    let i = *init.own.sysctls.lock();
    let sysctls = Sysctls { tag_all: i.tag_all, tag_default: i.tag_default, tag_lo: None, somaxconn: SOMAXCONN as i32 };
    *shared.made.lock().entry(uid).or_default() += 1;
    Ok(Arc::new(Net::new(shared, Own::new(false, sysctls, Some(uid), Some(kmem)))))
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::ioctl::SIOCSIFFLAGS;
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::abi::netlink::IFF_UP;
    use crate::kernel::abi::sched::{CLONE_NEWNET, CLONE_THREAD, CLONE_VM};
    use crate::kernel::abi::socket::{AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM};
    use crate::kernel::errno::*;
    use crate::kernel::testing::{err, TestConfig, TestKernel};

    const SIGCHLD: u64 = 17;

    fn root() -> TestKernel {
        TestKernel::with(TestConfig { uid: 0, ..TestConfig::default() })
    }

    /// A scratch page for addresses.
    fn scratch(t: &TestKernel) -> u64 {
        t.mmap_anon(4096, PROT_READ | PROT_WRITE)
    }

    /// sockaddr_in 127.0.0.1:`port`, or sockaddr_in6 [::1]:`port`.
    fn inet(family: u16, port: u16) -> Vec<u8> {
        let mut a = family.to_ne_bytes().to_vec();
        a.extend_from_slice(&port.to_be_bytes());
        if family == AF_INET {
            a.extend_from_slice(&[127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        } else {
            a.extend_from_slice(&[0; 4]);
            a.extend_from_slice(&[0; 15]);
            a.extend_from_slice(&[1, 0, 0, 0, 0]);
        }
        a
    }

    /// sockaddr_un with `path` (abstract if it starts with a NUL).
    fn unix(path: &[u8]) -> Vec<u8> {
        let mut a = AF_UNIX.to_ne_bytes().to_vec();
        a.extend_from_slice(path);
        a
    }

    /// A new stream socket of `family`.
    fn stream(t: &TestKernel, family: u16) -> u64 {
        let fd = t.sys("socket", &[family as u64, SOCK_STREAM as u64, 0]);
        assert!(fd >= 0, "socket: {fd}");
        fd as u64
    }

    /// bind, connect: the call's answer.
    fn call(t: &TestKernel, name: &str, fd: u64, addr: &[u8]) -> i64 {
        let buf = scratch(t);
        t.poke(buf, addr);
        t.sys(name, &[fd, buf, addr.len() as u64])
    }

    /// A listener of `family` on lo's address, port `port`.
    fn listener(t: &TestKernel, family: u16, addr: &[u8]) -> u64 {
        let fd = if family == AF_UNIX {
            t.sys("socket", &[AF_UNIX as u64, SOCK_STREAM as u64, 0]) as u64
        } else {
            stream(t, family)
        };
        assert_eq!(call(t, "bind", fd, addr), 0);
        assert_eq!(t.sys("listen", &[fd, 8]), 0);
        fd
    }

    /// SIOCSIFFLAGS on lo with `flags`.
    fn set_lo(t: &TestKernel, flags: u32) -> i64 {
        let fd = stream(t, AF_INET);
        let buf = scratch(t);
        let mut ifr = [0u8; 40];
        ifr[..2].copy_from_slice(b"lo");
        ifr[16..18].copy_from_slice(&(flags as u16).to_ne_bytes());
        t.poke(buf, &ifr);
        let r = t.sys("ioctl", &[fd, SIOCSIFFLAGS, buf]);
        t.sys("close", &[fd]);
        r
    }

    fn write_file(t: &TestKernel, path: &str, text: &str) -> i64 {
        let fd = t.open(path, 1);
        if fd < 0 {
            return fd;
        }
        let buf = scratch(t);
        t.poke(buf, text.as_bytes());
        let r = t.sys("write", &[fd as u64, buf, text.len() as u64]);
        t.sys("close", &[fd as u64]);
        r
    }

    #[test]
    fn making_a_namespace_needs_cap_sys_admin() {
        let t = TestKernel::new();
        assert_eq!(t.sys("unshare", &[CLONE_NEWNET]), err(EPERM));
        assert_eq!(t.sys("clone", &[CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0]), err(EPERM));
        let t = root();
        // One namespace per process here: not one per thread.
        let flags = CLONE_NEWNET | CLONE_THREAD | CLONE_VM | crate::kernel::abi::sched::CLONE_SIGHAND;
        assert_eq!(t.sys("clone", &[flags, 0, 0, 0, 0]), err(EINVAL));
        assert_eq!(t.sys("unshare", &[CLONE_NEWNET]), 0);
    }

    #[test]
    fn a_new_namespace_has_a_loopback_of_its_own_that_starts_down() {
        let t = root();
        let old = listener(&t, AF_INET, &inet(AF_INET, 5000));
        let abs = listener(&t, AF_UNIX, &unix(b"\0fl-netns"));
        let path = listener(&t, AF_UNIX, &unix(b"/tmp/fl-netns.sock\0"));
        let made_before = stream(&t, AF_INET);
        assert_eq!(t.sys("unshare", &[CLONE_NEWNET]), 0);

        // lo is down: no route for IPv4, no address for IPv6.
        let c = stream(&t, AF_INET);
        assert_eq!(call(&t, "connect", c, &inet(AF_INET, 5000)), err(ENETUNREACH));
        let c6 = stream(&t, AF_INET6);
        assert_eq!(call(&t, "bind", c6, &inet(AF_INET6, 0)), err(EADDRNOTAVAIL));
        assert_eq!(call(&t, "connect", c6, &inet(AF_INET6, 5000)), err(EADDRNOTAVAIL));
        assert_eq!(t.read_file("/proc/sys/net/ipv4/conf/lo/tag").unwrap(), b"0\n");

        // Up, it still does not reach the first namespace's listener...
        assert_eq!(set_lo(&t, IFF_UP), 0);
        assert_eq!(set_lo(&t, 0), err(EOPNOTSUPP), "not taken down again");
        assert_eq!(call(&t, "connect", c, &inet(AF_INET, 5000)), err(ECONNREFUSED));
        // ...and the port is free here.
        let new = listener(&t, AF_INET, &inet(AF_INET, 5000));
        assert_eq!(call(&t, "connect", c, &inet(AF_INET, 5000)), 0);
        assert!(t.sys("accept", &[new, 0, 0]) >= 0);

        // A socket made before stays in the first namespace.
        assert_eq!(call(&t, "connect", made_before, &inet(AF_INET, 5000)), 0);
        assert!(t.sys("accept", &[old, 0, 0]) >= 0);

        // Abstract names are per namespace; path names are files.
        let u = t.sys("socket", &[AF_UNIX as u64, SOCK_STREAM as u64, 0]) as u64;
        assert_eq!(call(&t, "connect", u, &unix(b"\0fl-netns")), err(ECONNREFUSED));
        assert_eq!(call(&t, "connect", u, &unix(b"/tmp/fl-netns.sock\0")), 0);
        assert!(t.sys("accept", &[path, 0, 0]) >= 0);
        listener(&t, AF_UNIX, &unix(b"\0fl-netns"));
        t.sys("close", &[abs]);
    }

    #[test]
    fn sysctls_are_per_namespace() {
        let mut t = root();
        let tag = "/proc/sys/net/ipv4/conf/lo/tag";
        assert_eq!(t.read_file(tag).unwrap(), b"0\n");
        assert_eq!(write_file(&t, tag, "7\n"), 2);
        assert_eq!(write_file(&t, "/proc/sys/net/core/somaxconn", "16"), 2);
        assert_eq!(t.read_file(tag).unwrap(), b"7\n");
        // clone09's child: a new namespace, the memory shared.
        let parent = t.pid;
        let child = t.sys("clone", &[CLONE_NEWNET | CLONE_VM | SIGCHLD, 0, 0, 0, 0]);
        assert!(child > 0, "{child}");
        t.become_process(child as u32);
        assert_eq!(t.read_file(tag).unwrap(), b"0\n", "lo's follows the new default");
        assert_eq!(t.read_file("/proc/sys/net/ipv4/conf/default/tag").unwrap(), b"0\n");
        assert_eq!(t.read_file("/proc/sys/net/core/somaxconn").unwrap(), b"4096\n");
        assert_eq!(write_file(&t, "/proc/sys/net/ipv4/conf/default/tag", "3"), 1);
        assert_eq!(t.read_file(tag).unwrap(), b"3\n");
        // /proc/net is the reader's namespace's.
        let buf = scratch(&t);
        assert_eq!(t.sys("readlink", &[t.put_str("/proc/net"), buf, 64]), 8);
        assert_eq!(t.peek(buf, 8), b"self/net");
        t.become_process(parent);
        assert_eq!(t.read_file(tag).unwrap(), b"7\n");
        assert_eq!(t.read_file("/proc/sys/net/ipv4/conf/default/tag").unwrap(), b"0\n");
        assert_eq!(t.read_file("/proc/sys/net/core/somaxconn").unwrap(), b"16\n");

        let user = TestKernel::new();
        assert_eq!(user.read_file(tag).unwrap(), b"0\n");
        assert_eq!(user.open(tag, 1), err(EACCES), "root's to write");
    }
}
