//! System V IPC's shared memory: shmget's flags, shmctl's commands, the
//! limits (`uapi/linux/ipc.h`, `shm.h`, `asm-generic/shmbuf.h`) and the
//! structs shmctl copies (the 64-bit layouts: x86-64's and arm64's are
//! the same).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

/// The key that always makes a new segment.
pub(crate) const IPC_PRIVATE: i32 = 0;
/// shmget's flags: create, exclusively; SHM_HUGETLB's huge pages (with
/// their size's log in bits 26..31), SHM_NORESERVE's no reservation.
pub(crate) const IPC_CREAT: u32 = 0o1000;
pub(crate) const IPC_EXCL: u32 = 0o2000;
pub(crate) const SHM_HUGETLB: u32 = 0o4000;
pub(crate) const SHM_NORESERVE: u32 = 0o10000;
pub(crate) const SHM_HUGE_SHIFT: u32 = 26;
pub(crate) const SHM_HUGE_MASK: u32 = 0x3f;
/// shmat's flags.
pub(crate) const SHM_RDONLY: u32 = 0o10000;
pub(crate) const SHM_RND: u32 = 0o20000;
pub(crate) const SHM_REMAP: u32 = 0o40000;
pub(crate) const SHM_EXEC: u32 = 0o100000;
/// A segment's mode bits besides its permissions: marked for destruction
/// (IPC_RMID while attached), locked (SHM_LOCK).
pub(crate) const SHM_DEST: u32 = 0o1000;
pub(crate) const SHM_LOCKED: u32 = 0o2000;
/// The permission bits of a mode (S_IRWXUGO).
pub(crate) const IPC_MODE_BITS: u32 = 0o777;

linux_consts! {
    /// shmctl's commands.
    _: i32 {
        IPC_RMID = 0,
        IPC_SET = 1,
        IPC_STAT = 2,
        IPC_INFO = 3,
        SHM_LOCK = 11,
        SHM_UNLOCK = 12,
        SHM_STAT = 13,
        SHM_INFO = 14,
        SHM_STAT_ANY = 15,
    }
}

/// The limits' defaults (kernel.shmmax, shmall, shmmni; SHMMIN, SHMSEG):
/// a segment of 1 byte to ULONG_MAX - 2^24, as many pages in all, 4096
/// segments.
pub(crate) const SHMMIN: u64 = 1;
pub(crate) const SHMMAX: u64 = u64::MAX - (1 << 24);
pub(crate) const SHMALL: u64 = u64::MAX - (1 << 24);
pub(crate) const SHMMNI: u64 = 4096;
pub(crate) const SHMSEG: u64 = SHMMNI;
/// An id is its index plus its sequence number times IPCMNI (2^15);
/// sequence numbers wrap past IPCID_SEQ_MAX.
pub(crate) const IPCMNI_SHIFT: u32 = 15;
pub(crate) const IPCID_SEQ_MAX: u32 = (i32::MAX >> IPCMNI_SHIFT) as u32;

/// struct ipc64_perm.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Ipc64Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    pub mode: u32,
    pub seq: u16,
    pub _pad2: u16,
    /// The padding before the longs.
    pub _pad3: u32,
    pub _unused1: u64,
    pub _unused2: u64,
}
const _: () = assert!(size_of::<Ipc64Perm>() == 48);

/// struct shmid64_ds: what IPC_STAT and SHM_STAT give, IPC_SET reads.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Shmid64Ds {
    pub shm_perm: Ipc64Perm,
    pub shm_segsz: u64,
    pub shm_atime: i64,
    pub shm_dtime: i64,
    pub shm_ctime: i64,
    pub shm_cpid: i32,
    pub shm_lpid: i32,
    pub shm_nattch: u64,
    pub _unused4: u64,
    pub _unused5: u64,
}
const _: () = assert!(size_of::<Shmid64Ds>() == 112);

/// struct shminfo64: IPC_INFO's limits.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Shminfo64 {
    pub shmmax: u64,
    pub shmmin: u64,
    pub shmmni: u64,
    pub shmseg: u64,
    pub shmall: u64,
    pub _unused: [u64; 4],
}
const _: () = assert!(size_of::<Shminfo64>() == 72);

/// struct shm_info: SHM_INFO's usage.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct ShmInfo {
    pub used_ids: i32,
    pub _pad: u32,
    /// In pages.
    pub shm_tot: u64,
    pub shm_rss: u64,
    pub shm_swp: u64,
    pub swap_attempts: u64,
    pub swap_successes: u64,
}
const _: () = assert!(size_of::<ShmInfo>() == 48);
