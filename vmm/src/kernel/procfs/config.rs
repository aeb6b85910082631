//! /proc/config.gz (CONFIG_IKCONFIG_PROC): faultline's own kernel
//! configuration, gzipped as kernel/configs.c serves it. Programs (LTP
//! among them) read it to learn what the kernel has, so it lists an option
//! only where faultline implements the feature; every other option is
//! absent, as in a kernel built without it.

use std::io::Write as _;

/// One option: its name and its value (each line says what implements
/// it).
struct Opt(&'static str, &'static str);

/// The options faultline implements.
const OPTIONS: &[Opt] = &[
    Opt("CONFIG_64BIT", "y"), // the guest ABI is 64-bit only (arch/)
    #[cfg(target_arch = "x86_64")]
    Opt("CONFIG_X86_64", "y"), // the x86-64 guest: arch/x86_64, abi/
    #[cfg(target_arch = "x86_64")]
    Opt("CONFIG_X86", "y"), // the x86-64 guest: arch/x86_64, abi/
    #[cfg(target_arch = "aarch64")]
    Opt("CONFIG_ARM64", "y"), // the arm64 guest: arch/aarch64
    Opt("CONFIG_MMU", "y"),   // page tables and faults: mm/, kernel/mm/fault.rs
    Opt("CONFIG_MULTIUSER", "y"), // uids, gids and capabilities: kernel/cred.rs
    Opt("CONFIG_FUTEX", "y"), // futex(2): kernel/futex.rs
    Opt("CONFIG_POSIX_TIMERS", "y"), // timer_create family, itimers: kernel/timers.rs
    Opt("CONFIG_TIME_NS", "y"), // time namespaces: kernel/timens.rs
    Opt("CONFIG_NET_NS", "y"), // network namespaces: kernel/net/ns.rs
    Opt("CONFIG_DNOTIFY", "y"), // F_NOTIFY: kernel/files/dnotify.rs
    Opt("CONFIG_EPOLL", "y"), // epoll: kernel/files/epoll.rs
    Opt("CONFIG_EVENTFD", "y"), // eventfd: kernel/files/eventfd.rs
    Opt("CONFIG_TIMERFD", "y"), // timerfd: kernel/files/timerfd.rs
    Opt("CONFIG_SIGNALFD", "y"), // signalfd: kernel/files/signalfd.rs
    Opt("CONFIG_ADVISE_SYSCALLS", "y"), // madvise, fadvise64: kernel/mm/madvise.rs
    Opt("CONFIG_MEMBARRIER", "y"), // membarrier: kernel/syscalls/system.rs
    Opt("CONFIG_MEMFD_CREATE", "y"), // memfd_create and seals: kernel/syscalls/memfd.rs
    Opt("CONFIG_SHMEM", "y"), // shmem pages for the layer and memfds: kernel/files/overlay.rs
    Opt("CONFIG_TMPFS", "y"), // the writable layer is a tmpfs: kernel/files/overlay.rs
    Opt("CONFIG_TRANSPARENT_HUGEPAGE", "y"), // set to never: kernel/procfs/sysfs.rs
    Opt("CONFIG_TRANSPARENT_HUGEPAGE_NEVER", "y"), // every page is 4 KiB: kernel/procfs/sysfs.rs
    Opt("CONFIG_KSM", "y"),   // ksmd stopped, MADV_MERGEABLE merges nothing: kernel/procfs/sysfs.rs
    Opt("CONFIG_SYSFS", "y"), // /sys/kernel/mm, /sys/devices/system/cpu: kernel/procfs/sysfs.rs
    Opt("CONFIG_SWAP", "y"),  // anonymous and shmem pages swapped: mm/swap.rs
    Opt("CONFIG_PROC_FS", "y"), // /proc: kernel/procfs/
    Opt("CONFIG_PROC_PAGE_MONITOR", "y"), // pagemap, smaps, clear_refs: kernel/procfs/, kernel/mm/procfs.rs
    Opt("CONFIG_PROC_SYSCTL", "y"), // /proc/sys (read-only): kernel/procfs/sys.rs
    Opt("CONFIG_IKCONFIG", "y"), // this table
    Opt("CONFIG_IKCONFIG_PROC", "y"), // /proc/config.gz: this file
    Opt("CONFIG_NET", "y"),   // sockets: kernel/net/
    Opt("CONFIG_UNIX", "y"),  // AF_UNIX: kernel/net/unix.rs
    Opt("CONFIG_INET", "y"),  // AF_INET TCP and UDP over loopback: kernel/net/
    Opt("CONFIG_IPV6", "y"),  // AF_INET6 TCP and UDP over ::1: kernel/net/
];

/// The .config text, as scripts/kconfig writes it.
fn text() -> String {
    let mut s = format!(
        "#\n# Automatically generated file; DO NOT EDIT.\n# Linux Kernel Configuration ({})\n#\n",
        super::super::syscalls::system::RELEASE
    );
    for Opt(name, value) in OPTIONS {
        s.push_str(&format!("{name}={value}\n"));
    }
    s
}

/// /proc/config.gz's bytes.
pub(super) fn config_gz() -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to memory cannot fail.
    let _ = z.write_all(text().as_bytes());
    z.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    #[test]
    fn config_gz_unzips_to_the_table_each_option_once() {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&super::config_gz()[..]).read_to_string(&mut s).unwrap();
        assert!(s.contains("\nCONFIG_EVENTFD=y\n") && s.contains("\nCONFIG_IKCONFIG_PROC=y\n"));
        assert!(s.contains("\nCONFIG_NET_NS=y\n"));
        // Nothing faultline lacks: no SysV IPC (shm alone), no
        // userfaultfd, no namespaces but time's and network's.
        for absent in ["CONFIG_SYSVIPC", "CONFIG_USERFAULTFD", "CONFIG_UTS_NS", "CONFIG_USER_NS", "CONFIG_PID_NS"] {
            assert!(!s.contains(absent), "{absent}");
        }
        let names: Vec<&str> =
            s.lines().filter(|l| !l.starts_with('#')).map(|l| l.split('=').next().unwrap()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
    }
}
