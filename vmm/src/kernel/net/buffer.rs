//! What sockets queue and how it is counted: buffer sizes (net.core's
//! and TCP's defaults), an skb's truesize, the queued message [`Msg`]
//! with its kernel memory, and a call's user buffers ([`Iov`]) that data
//! is gathered from and scattered to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::addr::SockAddr;
use super::socket::Socket;
use crate::kernel::abi::socket::{Ucred, AF_UNIX, SOCK_DGRAM};
use crate::kernel::abi::time::Timespec;
use crate::kernel::errno::*;
use crate::kernel::files::OpenFile;
use crate::kernel::task::Ctx;
use crate::mm::{Kmem, KmemCharge, KmemClass};

/// net.core.wmem_default and rmem_default: unix and UDP sockets' buffers.
pub(crate) const WMEM_DEFAULT: usize = 212_992;
/// net.core.wmem_max and rmem_max: the most SO_SNDBUF/SO_RCVBUF may ask
/// (the kernel keeps twice what is asked).
pub(crate) const WMEM_MAX: usize = 212_992;
/// net.ipv4.tcp_wmem[1] and tcp_rmem[1]: a TCP socket's defaults.
pub(crate) const TCP_WMEM_DEFAULT: usize = 16_384;
pub(crate) const TCP_RMEM_DEFAULT: usize = 131_072;
/// SOCK_MIN_SNDBUF and SOCK_MIN_RCVBUF (2 * the truesize of a small skb).
pub(crate) const SOCK_MIN_SNDBUF: usize = 4_608;
pub(crate) const SOCK_MIN_RCVBUF: usize = 2_304;
/// net.unix.max_dgram_qlen: a datagram socket's queue is full past it.
pub(crate) const MAX_DGRAM_QLEN: usize = 10;
/// What an skb costs besides its data: its sk_buff (256 bytes aligned)
/// and skb_shared_info (320), counted against the buffers as truesize.
pub(crate) const SKB_OVERHEAD: usize = 576;

/// SKB_TRUESIZE of a message of `len` bytes: a small one's head and data
/// come from one kmalloc (rounded to its size class), a large one's data
/// from pages.
pub(crate) fn truesize(len: usize) -> usize {
    let head = len.next_multiple_of(64) + 320;
    if head <= 4096 {
        256 + crate::mm::kmem::kmalloc_size(head as u64) as usize
    } else {
        SKB_OVERHEAD + len
    }
}
/// The largest piece a stream write queues at once (unix_stream_sendmsg
/// sends at most half the send buffer less 64 bytes, in skbs of at most
/// 64 KiB of pages).
pub(crate) const STREAM_CHUNK: usize = 64 * 1024;

/// A queued message: a datagram, or a piece of a stream.
pub(crate) struct Msg {
    pub data: Vec<u8>,
    /// Bytes of `data` already read (a stream's partial reads).
    pub off: usize,
    /// The sender's address (datagrams, and what recvfrom shows).
    pub from: Option<SockAddr>,
    /// SCM_RIGHTS: the open files in flight.
    pub rights: Vec<Arc<OpenFile>>,
    /// The sender's credentials (SCM_CREDENTIALS).
    pub cred: Ucred,
    /// Its kernel memory: the skb (slab) and its data (pages).
    pub _head: KmemCharge,
    pub _pages: KmemCharge,
    /// The sender's sk_wmem_alloc, which counts it until it is read.
    pub wmem: Option<Arc<AtomicUsize>>,
    /// Its truesize, as counted when it was made.
    pub size: usize,
    /// When it was queued (skb->tstamp, CLOCK_REALTIME), for
    /// SO_TIMESTAMP*.
    pub stamp: Timespec,
}

impl Drop for Msg {
    fn drop(&mut self) {
        if let Some(w) = &self.wmem {
            w.fetch_sub(self.size, Ordering::Relaxed);
        }
    }
}

impl Msg {
    /// Bytes it counts against a buffer.
    pub(crate) fn truesize(&self) -> usize {
        self.size
    }

    pub(crate) fn left(&self) -> usize {
        self.data.len() - self.off
    }
}

/// CLOCK_REALTIME now, as the host has it (the guest's clock is the
/// host's).
fn now_realtime() -> Timespec {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timespec { tv_sec: d.as_secs() as i64, tv_nsec: d.subsec_nanos() as i64 }
}

/// A call's buffers: (base, len) pairs in the caller's memory, and their
/// total (import_iovec has checked and capped them).
pub(crate) struct Iov {
    v: Vec<(u64, u64)>,
    pub total: usize,
}

impl Iov {
    /// Buffers whose lengths are already capped to MAX_RW_COUNT in all.
    pub(crate) fn new(v: Vec<(u64, u64)>) -> Iov {
        let total = v.iter().map(|&(_, l)| l as usize).sum();
        Iov { v, total }
    }

    /// `n` bytes from offset `at` of the buffers.
    pub(crate) fn gather(&self, ctx: &mut Ctx, mut at: usize, n: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::with_capacity(n);
        for &(base, len) in &self.v {
            let len = len as usize;
            if at >= len {
                at -= len;
                continue;
            }
            let take = (len - at).min(n - out.len());
            let start = out.len();
            out.resize(start + take, 0);
            ctx.read_user(base + at as u64, &mut out[start..])?;
            at = 0;
            if out.len() == n {
                break;
            }
        }
        Ok(out)
    }

    /// Puts `data` at offset `at` of the buffers.
    pub(crate) fn scatter(&self, ctx: &mut Ctx, mut at: usize, data: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        for &(base, len) in &self.v {
            let len = len as usize;
            if at >= len {
                at -= len;
                continue;
            }
            let take = (len - at).min(data.len() - done);
            ctx.write_user(base + at as u64, &data[done..done + take])?;
            done += take;
            at = 0;
            if done == data.len() {
                break;
            }
        }
        Ok(())
    }
}

/// What sendmsg's control data carries (decoded by __scm_send).
#[derive(Default)]
pub(crate) struct Control {
    pub rights: Vec<Arc<OpenFile>>,
    pub cred: Option<Ucred>,
}

/// What a send carries: its data, the address bytes the caller passed
/// (each family reads its own), its control data and its flags.
pub(crate) struct Outgoing<'a> {
    pub iov: &'a Iov,
    pub dest: Option<Vec<u8>>,
    pub control: Control,
    pub flags: u32,
}

/// What a receive got.
#[derive(Default)]
pub(crate) struct Got {
    /// What the call returns.
    pub n: usize,
    pub from: Option<SockAddr>,
    pub rights: Vec<Arc<OpenFile>>,
    pub cred: Option<Ucred>,
    /// msg_flags: MSG_TRUNC, MSG_CTRUNC.
    pub flags: u32,
    /// The first message's receive time.
    pub stamp: Option<Timespec>,
}

/// A message of `data` from `s`, its memory charged (ENOBUFS past the
/// budget) and counted in the sender's sk_wmem_alloc until read.
pub(crate) fn new_msg(
    ctx: &mut Ctx,
    s: &Socket,
    data: Vec<u8>,
    from: Option<SockAddr>,
    c: &mut Control,
    cred: Ucred,
) -> Result<Msg, Errno> {
    let head = ctx.k.kmem_charge(Kmem::Kmalloc(SKB_OVERHEAD as u64), 1).map_err(|_| ENOBUFS)?;
    let pages = if data.is_empty() {
        KmemCharge::empty(&ctx.k.phys.kmem, KmemClass::Pages)
    } else {
        ctx.k.kmem_charge(Kmem::Page, data.len().div_ceil(4096) as u64).map_err(|_| ENOBUFS)?
    };
    // UDP's loopback hands the datagram over at once (skb_orphan): only
    // unix and TCP senders keep counting it until it is read.
    let udp = s.domain != AF_UNIX && s.ty == SOCK_DGRAM;
    if !udp {
        s.wmem.fetch_add(truesize(data.len()), Ordering::Relaxed);
    }
    Ok(Msg {
        size: truesize(data.len()),
        wmem: (!udp).then(|| s.wmem.clone()),
        data,
        off: 0,
        from,
        rights: std::mem::take(&mut c.rights),
        cred: c.cred.unwrap_or(cred),
        _head: head,
        _pages: pages,
        stamp: now_realtime(),
    })
}
