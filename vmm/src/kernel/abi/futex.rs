//! Futexes: the operations and their flags, FUTEX_WAKE_OP's encoding, the
//! robust-futex word's bits and struct robust_list_head
//! (`include/uapi/linux/futex.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::linux_consts;

linux_consts! {
    /// The operations, the values of `op & FUTEX_CMD_MASK`.
    pub(crate) FUTEX_OPS: u64 {
        FUTEX_WAIT = 0,
        FUTEX_WAKE = 1,
        FUTEX_FD = 2,
        FUTEX_REQUEUE = 3,
        FUTEX_CMP_REQUEUE = 4,
        FUTEX_WAKE_OP = 5,
        FUTEX_LOCK_PI = 6,
        FUTEX_UNLOCK_PI = 7,
        FUTEX_TRYLOCK_PI = 8,
        FUTEX_WAIT_BITSET = 9,
        FUTEX_WAKE_BITSET = 10,
    }

    /// The flags beside the operation.
    _: u64 {
        FUTEX_PRIVATE_FLAG = 128,
        FUTEX_CLOCK_REALTIME = 256,
    }

    /// FUTEX_WAKE_OP's operations on the second word.
    _: u32 {
        FUTEX_OP_SET = 0,
        FUTEX_OP_ADD = 1,
        FUTEX_OP_OR = 2,
        FUTEX_OP_ANDN = 3,
        FUTEX_OP_XOR = 4,
    }

    /// FUTEX_WAKE_OP's comparisons of its old value.
    _: u32 {
        FUTEX_OP_CMP_EQ = 0,
        FUTEX_OP_CMP_NE = 1,
        FUTEX_OP_CMP_LT = 2,
        FUTEX_OP_CMP_LE = 3,
        FUTEX_OP_CMP_GT = 4,
        FUTEX_OP_CMP_GE = 5,
    }

    /// struct futex_waitv's flags (futex2): the word's size (only 32 bits
    /// here, as in Linux), NUMA and private.
    _: u32 {
        FUTEX2_SIZE_U32 = 0x02,
        FUTEX2_SIZE_MASK = 0x03,
        FUTEX2_NUMA = 0x04,
        FUTEX2_PRIVATE = 128,
    }

    /// A robust futex word's bits besides the owner's tid.
    _: u32 {
        FUTEX_WAITERS = 0x8000_0000,
        FUTEX_OWNER_DIED = 0x4000_0000,
    }
}

/// FUTEX_WAKE_OP's operation flag: the argument is a shift count.
pub(crate) const FUTEX_OP_OPARG_SHIFT: u32 = 8;
/// Every waiter's bitset matches it.
pub(crate) const FUTEX_BITSET_MATCH_ANY: u32 = u32::MAX;
/// The bits of a robust futex word that hold the owner's tid.
pub(crate) const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// struct robust_list_head: the list, the offset of the futex word in
/// each entry, and the entry being (un)locked.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct RobustListHead {
    pub(crate) next: u64,
    pub(crate) futex_offset: i64,
    pub(crate) list_op_pending: u64,
}
const _: () = assert!(size_of::<RobustListHead>() == 24);

/// The most waiters one futex_waitv takes.
pub(crate) const FUTEX_WAITV_MAX: u32 = 128;

/// struct futex_waitv.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct FutexWaitv {
    pub(crate) val: u64,
    pub(crate) uaddr: u64,
    pub(crate) flags: u32,
    pub(crate) reserved: u32,
}
