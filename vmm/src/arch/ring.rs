//! The syscall ring's protocol, the same on every architecture: the
//! mailbox layout and its states, the doorbell's offsets, and where the
//! stub's pages lie. The stub itself, and how the VMM reads the program's
//! registers when it finds a vCPU inside it, are the architecture's
//! (`ring_stub`; x86-64 has one, guest/x86_64/ring.S).
//!
//! A call goes IDLE → REQ (the stub published it) → TAKEN (the server
//! copied it) → DONE, DELIVER or EXIT (the server's answer). The stub, or
//! the VMM when it stops the vCPU inside the stub, may withdraw a call
//! still in REQ by moving it back to IDLE; the server takes a call only by
//! moving it from REQ to TAKEN, so each call runs at most once. Under PVM
//! the mailbox is its thread's own user page: the VMM believes its state
//! only where the server's record of what it did agrees
//! (`sandbox::ring::RingServer::taken`).

use std::sync::atomic::{AtomicU64, Ordering};

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use super::layout::{ring_code_va, RING_SLOT_GPA};
use super::PAGE_SIZE;

pub use super::imp::ring_stub::*;

pub const IDLE: u64 = 0;
pub const REQ: u64 = 1;
pub const TAKEN: u64 = 2;
pub const DONE: u64 = 4;
pub const DELIVER: u64 = 6;
pub const EXIT: u64 = 8;

/// One vCPU's mailbox, in the page after the stub's code.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Mailbox {
    pub state: u64,
    /// Non-zero while the server spins; zero: ring the doorbell.
    pub awake: u64,
    pub nr: u64,
    pub args: [u64; 6],
    pub ret: u64,
    /// The stub's countdown while it waits for the server to take the
    /// call; the VMM ignores it.
    pub spins: u64,
}

/// Where the stub writes in the doorbell page to exit to the VMM: to have
/// the VMM run the call (EXIT), or to return through it (DELIVER). The
/// doorbell's ioeventfd claims offset 0 only.
pub const DOOR_EXIT: u64 = 8;
pub const DOOR_DELIVER: u64 = 16;
/// A call the stub did not publish (the exit map has it): the same as
/// `DOOR_EXIT`, but the mailbox says nothing of it.
pub const DOOR_DIRECT: u64 = 24;

/// Byte offsets of the fields the server and the VMM touch atomically.
pub const STATE: u64 = 0;
pub const AWAKE: u64 = 8;

/// Which calls the stub sends where: bit N of `exit` sends call N straight
/// to the VMM, unpublished; bit N of `maybe` marks a call the server runs
/// only sometimes, which goes to the VMM when the server sleeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallMaps {
    pub exit: [u64; 8],
    pub maybe: [u64; 8],
}

/// Guest-virtual address of vCPU `cpu`'s mailbox and doorbell pages.
pub const fn mailbox_va(cpu: u32) -> u64 {
    ring_code_va(cpu) + PAGE_SIZE
}
pub const fn doorbell_va(cpu: u32) -> u64 {
    ring_code_va(cpu) + 2 * PAGE_SIZE
}

/// Offset of vCPU `cpu`'s mailbox in the ring slot, and its guest-physical
/// address; the stub's code is the slot's first page.
pub const fn mailbox_offset(cpu: u32) -> u64 {
    (1 + cpu as u64) * PAGE_SIZE
}
pub const fn mailbox_gpa(cpu: u32) -> u64 {
    RING_SLOT_GPA + mailbox_offset(cpu)
}
pub const CODE_GPA: u64 = RING_SLOT_GPA;

/// A mailbox in host memory, for the server and the VMM.
pub struct MailboxRef<'a> {
    pub state: &'a AtomicU64,
    pub awake: &'a AtomicU64,
    bytes: &'a [AtomicU64],
}

impl<'a> MailboxRef<'a> {
    /// `words` is the mailbox page as atomics.
    pub fn new(words: &'a [AtomicU64]) -> Option<Self> {
        if words.len() < std::mem::size_of::<Mailbox>() / 8 {
            return None;
        }
        Some(MailboxRef { state: &words[(STATE / 8) as usize], awake: &words[(AWAKE / 8) as usize], bytes: words })
    }

    /// A copy of the whole mailbox: what the server acts on, so that the
    /// guest changing it meanwhile changes nothing.
    pub fn snapshot(&self) -> Mailbox {
        let mut m = Mailbox::new_zeroed();
        for (dst, src) in m.as_mut_bytes().chunks_exact_mut(8).zip(self.bytes) {
            dst.copy_from_slice(&src.load(Ordering::Acquire).to_le_bytes());
        }
        m
    }

    /// Stores the result, then the answer.
    pub fn answer(&self, ret: u64, state: u64) {
        let ret_word = std::mem::offset_of!(Mailbox, ret) / 8;
        self.bytes[ret_word].store(ret, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    /// Moves the call from `from` to `to` if it is in `from`.
    pub fn transition(&self, from: u64, to: u64) -> bool {
        self.state.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}
