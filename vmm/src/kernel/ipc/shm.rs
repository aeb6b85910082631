//! System V shared memory (ipc/shm.c, ipc/util.c): segments made by
//! shmget, attached by shmat as shared mappings of the segment's shmem
//! object (the one MAP_SHARED|MAP_ANONYMOUS uses, [`Shmem`] in the page
//! cache), detached by shmdt, controlled by shmctl. The syscall handlers
//! (`syscalls::shm`) decode the arguments; the rules are here.
//!
//! A segment's pages are shmem frames: counted as Shmem in /proc/meminfo
//! and against `--mem` when touched, and their faults are the timeline's
//! like any shared mapping's. Its attach count is the number of VMAs that
//! map it in every address space (Linux counts each VMA's open: fork and
//! a split add one, each unmapped piece takes one), so fork inherits the
//! attaches and exit and exec drop them. A segment removed with IPC_RMID
//! while attached is destroyed by its last detach.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::now;
use crate::arch::{Perms, PAGE_SIZE};
use crate::kernel::abi::capability::{CAP_IPC_LOCK, CAP_IPC_OWNER, CAP_SYS_ADMIN};
use crate::kernel::abi::ipc::*;
use crate::kernel::abi::resource::RLIMIT_MEMLOCK;
use crate::kernel::cred::Cred;
use crate::kernel::errno::*;
use crate::kernel::mm::mmap::{mmap, MapType, Mappable, MappedFile, MmapOpts, Place, Shmem};
use crate::kernel::mm::with_space;
use crate::kernel::task::Ctx;
use crate::kernel::KernelState;
use crate::mm::{Backing, CachedFile, FileData, FileId, FileRef};

/// One segment.
pub(crate) struct Segment {
    /// Its id: index + sequence << IPCMNI_SHIFT.
    pub id: i32,
    /// Its key (IPC_PRIVATE once removed) and the one it was made with
    /// (the name its file keeps).
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// Permissions, with SHM_DEST and SHM_LOCKED.
    pub mode: u32,
    pub size: u64,
    pub file: FileRef,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
    /// SHM_NORESERVE: not charged to Committed_AS.
    pub noreserve: bool,
    /// SHM_LOCK: the user whose RLIMIT_MEMLOCK count holds its pages.
    pub locked_by: Option<u32>,
}

impl Segment {
    fn pages(&self) -> u64 {
        self.size.div_ceil(PAGE_SIZE)
    }

    /// ipcperms(): `flag`'s rwx bits against the owner's, the group's or
    /// the others' (CAP_IPC_OWNER passes).
    fn permits(&self, c: &Cred, flag: u32) -> bool {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let mut granted = self.mode;
        if c.euid == self.cuid || c.euid == self.uid {
            granted >>= 6;
        } else if c.in_group(self.cgid) || c.in_group(self.gid) {
            granted >>= 3;
        }
        requested & !granted & 0o7 == 0 || c.capable(CAP_IPC_OWNER)
    }

    /// ipcctl_obtain_check(): IPC_SET and IPC_RMID are the owner's or
    /// the creator's (or CAP_SYS_ADMIN's).
    fn owned_by(&self, c: &Cred) -> bool {
        c.euid == self.cuid || c.euid == self.uid || c.capable(CAP_SYS_ADMIN)
    }
}

/// The sandbox's segments.
#[derive(Default)]
pub(crate) struct Registry {
    by_index: BTreeMap<u32, Segment>,
    /// The next sequence number (ipc_ids.seq).
    seq: u32,
    /// Pages of every segment (ns->shm_tot).
    total_pages: u64,
    /// Pages SHM_LOCK holds, by user (their RLIMIT_MEMLOCK's count).
    locked_pages: BTreeMap<u32, u64>,
}

impl Registry {
    /// The segment with id `id` (EINVAL: none, or an older one's).
    fn by_id(&self, id: i32) -> Result<&Segment, Errno> {
        if id < 0 {
            return Err(EINVAL);
        }
        let s = self.by_index.get(&(id as u32 & ((1 << IPCMNI_SHIFT) - 1))).ok_or(EINVAL)?;
        if s.id != id {
            return Err(EINVAL);
        }
        Ok(s)
    }

    fn by_id_mut(&mut self, id: i32) -> Result<&mut Segment, Errno> {
        self.by_id(id)?;
        Ok(self.by_index.get_mut(&(id as u32 & ((1 << IPCMNI_SHIFT) - 1))).expect("found"))
    }

    /// Whether page-cache file `id` is a segment's.
    pub(crate) fn owns(&self, id: FileId) -> bool {
        self.by_index.values().any(|s| s.file.id == id)
    }

    /// Every segment, by index.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.by_index.values()
    }

    /// Pages of segments charged to Committed_AS, and their files.
    pub(crate) fn committed(&self) -> impl Iterator<Item = (FileId, u64)> + '_ {
        self.by_index.values().filter(|s| !s.noreserve).map(|s| (s.file.id, s.pages()))
    }

    /// Gives back `pages` of user `uid`'s SHM_LOCK count.
    fn unlock_pages(&mut self, uid: u32, pages: u64) {
        if let Some(h) = self.locked_pages.get_mut(&uid) {
            *h = h.saturating_sub(pages);
        }
    }

    /// The highest index in use (IPC_INFO's and SHM_INFO's result).
    fn max_index(&self) -> i64 {
        self.by_index.keys().next_back().map_or(0, |&i| i as i64)
    }
}

/// How many VMAs of every address space map `file` (shm_nattch).
pub(crate) fn attaches(k: &KernelState, file: FileId) -> u64 {
    k.mm.spaces()
        .flat_map(|m| m.vmas.iter())
        .filter(|v| matches!(&v.backing, Backing::File { file: f, .. } if f.id == file))
        .count() as u64
}

/// Resident pages of `file` in the page cache.
fn resident(k: &KernelState, file: FileId) -> u64 {
    k.phys.cache.get(&file).map_or(0, |c| c.pages.len() as u64)
}

/// newseg(): a new segment of `size` bytes. EINVAL outside SHMMIN..
/// SHMMAX; ENOSPC past SHMALL or SHMMNI; ENOMEM when overcommit refuses
/// it; SHM_HUGETLB: EINVAL for a huge page size x86_64 lacks, EPERM
/// without CAP_IPC_LOCK, ENOMEM otherwise (the sandbox has no huge pages).
fn new_segment(ctx: &mut Ctx, key: i32, size: u64, flags: u32) -> Result<i32, Errno> {
    if !(SHMMIN..=SHMMAX).contains(&size) {
        return Err(EINVAL);
    }
    let pages = size.div_ceil(PAGE_SIZE);
    let total = ctx.k.shm.total_pages;
    if total.checked_add(pages).is_none_or(|t| t > SHMALL) {
        return Err(ENOSPC);
    }
    if flags & SHM_HUGETLB != 0 {
        let log = (flags >> SHM_HUGE_SHIFT) & SHM_HUGE_MASK;
        if !matches!(log, 0 | 21 | 30) {
            return Err(EINVAL);
        }
        let c = &ctx.proc().cred;
        return Err(if c.capable(CAP_IPC_LOCK) || c.in_group(0) { ENOMEM } else { EPERM });
    }
    let noreserve = flags & SHM_NORESERVE != 0;
    if !noreserve {
        // shmem_acct_size: the whole segment is committed at once.
        ctx.k.enough_memory(ctx.mm(), pages)?;
    }
    if ctx.k.shm.by_index.len() as u64 >= SHMMNI {
        return Err(ENOSPC);
    }
    let r = &mut ctx.k.shm;
    // ipc_idr_alloc: the lowest free index.
    let index = r.by_index.keys().zip(0u32..).find(|(k, i)| *k != i).map_or(r.by_index.len() as u32, |(_, i)| i);
    let id = ((r.seq << IPCMNI_SHIFT) | index) as i32;
    r.seq = if r.seq >= IPCID_SEQ_MAX { 0 } else { r.seq + 1 };
    let fid = ctx.k.files.vfs_mut().new_id();
    let data: Arc<dyn FileData> = Arc::new(Shmem::new(size));
    ctx.k.phys.cache.insert(fid, CachedFile::new(data));
    // newseg names the file SYSV<key> and numbers its inode with the id.
    let file = FileRef { id: fid, path: format!("/SYSV{:08x} (deleted)", key as u32).into(), dev: 1, ino: id as u64 };
    let c = &ctx.proc().cred;
    let seg = Segment {
        id,
        key,
        uid: c.euid,
        gid: c.egid,
        cuid: c.euid,
        cgid: c.egid,
        mode: flags & IPC_MODE_BITS,
        size,
        file,
        atime: 0,
        dtime: 0,
        ctime: now(),
        cpid: ctx.pid as i32,
        lpid: 0,
        noreserve,
        locked_by: None,
    };
    let r = &mut ctx.k.shm;
    r.total_pages += pages;
    r.by_index.insert(index, seg);
    Ok(id)
}

/// shmget(): IPC_PRIVATE makes a segment; a key finds its segment or,
/// with IPC_CREAT, makes it (IPC_EXCL: EEXIST if it exists). A found one
/// must be at least `size` (EINVAL) and allow `flags`' permissions
/// (EACCES).
pub(crate) fn get(ctx: &mut Ctx, key: i32, size: u64, flags: u32) -> Result<i32, Errno> {
    if key == IPC_PRIVATE {
        return new_segment(ctx, key, size, flags);
    }
    let found = ctx.k.shm.by_index.values().find(|s| s.key == key);
    let Some(s) = found else {
        return if flags & IPC_CREAT != 0 { new_segment(ctx, key, size, flags) } else { Err(ENOENT) };
    };
    if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
        return Err(EEXIST);
    }
    if s.size < size {
        return Err(EINVAL);
    }
    if !s.permits(&ctx.proc().cred, flags) {
        return Err(EACCES);
    }
    Ok(s.id)
}

/// do_shmat(): where the segment goes (`addr` rounded down to SHMLBA
/// with SHM_RND, else page-aligned; exactly there, over nothing unless
/// SHM_REMAP), read-only or read-write (and executable) as the caller's
/// permissions allow; a shared mapping of the segment's file.
pub(crate) fn attach(ctx: &mut Ctx, id: i32, addr: u64, flags: u32) -> Result<u64, Errno> {
    let mut addr = addr;
    if id < 0 {
        return Err(EINVAL);
    }
    if addr != 0 {
        if !addr.is_multiple_of(PAGE_SIZE) {
            if flags & SHM_RND == 0 {
                return Err(EINVAL);
            }
            addr &= !(PAGE_SIZE - 1);
            if addr == 0 && flags & SHM_REMAP != 0 {
                return Err(EINVAL);
            }
        }
    } else if flags & SHM_REMAP != 0 {
        return Err(EINVAL);
    }
    let write = flags & SHM_RDONLY == 0;
    let exec = flags & SHM_EXEC != 0;
    let access = 0o444 | if write { 0o222 } else { 0 } | if exec { 0o111 } else { 0 };
    let seg = ctx.k.shm.by_id(id)?;
    if !seg.permits(&ctx.proc().cred, access) {
        return Err(EACCES);
    }
    let (size, file) = (seg.size, seg.file.clone());
    if addr != 0 && flags & SHM_REMAP == 0 {
        let end = addr.checked_add(size).ok_or(EINVAL)?;
        if ctx.k.mm.space(ctx.mm()).vmas.overlapping(addr, end).next().is_some() {
            return Err(EINVAL);
        }
    }
    // A segment keeps its object until it is destroyed.
    let data = ctx.k.phys.cache.get(&file.id).map(|c| c.data.clone()).ok_or(EINVAL)?;
    let o = MmapOpts {
        place: if addr != 0 { Place::Fixed(addr) } else { Place::Hint(0) },
        len: size.checked_next_multiple_of(PAGE_SIZE).ok_or(ENOMEM)?,
        perms: Perms::new(true, write, exec),
        map_type: MapType::Shared,
        unknown_flags: false,
        file: Some(MappedFile {
            what: Mappable::Shm { file, data },
            readable: true,
            writable: write,
            write_sealed: false,
        }),
        pgoff: 0,
        locked: false,
        populate: false,
        noreserve: false,
        growsdown: false,
    };
    let at = mmap(ctx, o)?;
    let pid = ctx.pid as i32;
    if let Ok(s) = ctx.k.shm.by_id_mut(id) {
        s.atime = now();
        s.lpid = pid;
    }
    Ok(at)
}

/// A VMA's segment file and its page offset in it.
type SegmentPiece = (FileId, u64);

/// The segment a VMA maps, if it maps one: its file's id and the VMA's
/// page offset in it.
fn segment_of(k: &KernelState, b: &Backing) -> Option<SegmentPiece> {
    match b {
        Backing::File { file, pgoff } if k.shm.owns(file.id) => Some((file.id, *pgoff)),
        _ => None,
    }
}

/// shmdt(): unmaps the attach at `addr`: the first segment VMA from
/// `addr` on whose offset matches its distance from `addr`, then the
/// other pieces of the same segment within its size (mprotect or munmap
/// may have split it). EINVAL if `addr` is unaligned or no attach starts
/// there.
pub(crate) fn detach(ctx: &mut Ctx, addr: u64) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let k = &*ctx.k;
    let vmas: Vec<(u64, u64, Option<SegmentPiece>)> =
        k.mm.space(ctx.mm())
            .vmas
            .iter()
            .filter(|v| v.end > addr)
            .map(|v| (v.start, v.end, segment_of(k, &v.backing)))
            .collect();
    let piece = |start: u64, pgoff: u64| start >= addr && (start - addr) / PAGE_SIZE == pgoff;
    let first = vmas.iter().position(|&(s, _, seg)| seg.is_some_and(|(_, off)| piece(s, off))).ok_or(EINVAL)?;
    let (file, _) = vmas[first].2.expect("a segment");
    let size = k.shm.segments().find(|s| s.file.id == file).map_or(0, |s| s.pages() * PAGE_SIZE);
    let mut gone = vec![(vmas[first].0, vmas[first].1)];
    for &(s, e, seg) in &vmas[first + 1..] {
        if e - addr > size {
            break;
        }
        if seg.is_some_and(|(f, off)| f == file && piece(s, off)) {
            gone.push((s, e));
        }
    }
    for (s, e) in gone {
        with_space(ctx, |sp, p| sp.unmap(p, s, e));
    }
    let pid = ctx.pid as i32;
    if let Some(s) = ctx.k.shm.by_index.values_mut().find(|s| s.file.id == file) {
        s.dtime = now();
        s.lpid = pid;
    }
    ctx.k.shm_reap();
    Ok(())
}

/// A segment as IPC_STAT shows it.
fn stat_of(k: &KernelState, s: &Segment) -> Shmid64Ds {
    Shmid64Ds {
        shm_perm: Ipc64Perm {
            key: s.key,
            uid: s.uid,
            gid: s.gid,
            cuid: s.cuid,
            cgid: s.cgid,
            mode: s.mode,
            seq: (s.id as u32 >> IPCMNI_SHIFT) as u16,
            ..Default::default()
        },
        shm_segsz: s.size,
        shm_atime: s.atime,
        shm_dtime: s.dtime,
        shm_ctime: s.ctime,
        shm_cpid: s.cpid,
        shm_lpid: s.lpid,
        shm_nattch: attaches(k, s.file.id),
        ..Default::default()
    }
}

/// What a shmctl command gives back: its result and the struct it copies
/// out, if any.
pub(crate) enum CtlOut {
    Done(i64),
    Stat(i64, Shmid64Ds),
    Info(i64, Shminfo64),
    ShmInfo(i64, ShmInfo),
}

/// IPC_STAT, SHM_STAT (`id` an index; its full id returned) and
/// SHM_STAT_ANY (no read permission needed).
pub(crate) fn stat(ctx: &mut Ctx, id: i32, cmd: i32) -> Result<CtlOut, Errno> {
    ctx.k.shm_reap();
    let k = &*ctx.k;
    let s = if cmd == IPC_STAT { k.shm.by_id(id)? } else { k.shm.by_index.get(&(id as u32)).ok_or(EINVAL)? };
    if cmd != SHM_STAT_ANY && !s.permits(&ctx.proc().cred, 0o444) {
        return Err(EACCES);
    }
    let r = if cmd == IPC_STAT { 0 } else { s.id as i64 };
    Ok(CtlOut::Stat(r, stat_of(k, s)))
}

/// IPC_INFO's limits and SHM_INFO's usage; both return the highest index
/// in use.
pub(crate) fn info(ctx: &mut Ctx, cmd: i32) -> CtlOut {
    ctx.k.shm_reap();
    let k = &*ctx.k;
    let max = k.shm.max_index();
    if cmd == IPC_INFO {
        let i = Shminfo64 {
            shmmax: SHMMAX,
            shmmin: SHMMIN,
            shmmni: SHMMNI,
            shmseg: SHMSEG,
            shmall: SHMALL,
            _unused: [0; 4],
        };
        return CtlOut::Info(max, i);
    }
    let rss = k.shm.segments().map(|s| resident(k, s.file.id)).sum();
    let i = ShmInfo {
        used_ids: k.shm.by_index.len() as i32,
        shm_tot: k.shm.total_pages,
        shm_rss: rss,
        ..Default::default()
    };
    CtlOut::ShmInfo(max, i)
}

/// IPC_SET: the owner's uid, gid and permission bits from `new`.
pub(crate) fn set(ctx: &mut Ctx, id: i32, new: &Shmid64Ds) -> Result<CtlOut, Errno> {
    let cred = ctx.proc().cred.clone();
    let s = ctx.k.shm.by_id_mut(id)?;
    if !s.owned_by(&cred) {
        return Err(EPERM);
    }
    s.uid = new.shm_perm.uid;
    s.gid = new.shm_perm.gid;
    s.mode = (s.mode & !IPC_MODE_BITS) | (new.shm_perm.mode & IPC_MODE_BITS);
    s.ctime = now();
    Ok(CtlOut::Done(0))
}

/// IPC_RMID: the key is given up at once (SHM_DEST, key IPC_PRIVATE);
/// the segment goes with its last attach.
pub(crate) fn remove(ctx: &mut Ctx, id: i32) -> Result<CtlOut, Errno> {
    let cred = ctx.proc().cred.clone();
    let s = ctx.k.shm.by_id_mut(id)?;
    if !s.owned_by(&cred) {
        return Err(EPERM);
    }
    s.mode |= SHM_DEST;
    s.key = IPC_PRIVATE;
    ctx.k.shm_reap();
    Ok(CtlOut::Done(0))
}

/// SHM_LOCK and SHM_UNLOCK: the owner's or the creator's (or with
/// CAP_IPC_LOCK); locking counts the segment against the user's
/// RLIMIT_MEMLOCK (ENOMEM past it; EPERM if the limit is 0).
pub(crate) fn lock(ctx: &mut Ctx, id: i32, on: bool) -> Result<CtlOut, Errno> {
    let cred = ctx.proc().cred.clone();
    let limit = ctx.proc().limits.cur(RLIMIT_MEMLOCK);
    let cap = cred.capable(CAP_IPC_LOCK);
    let s = ctx.k.shm.by_id(id)?;
    if !cap {
        if cred.euid != s.uid && cred.euid != s.cuid {
            return Err(EPERM);
        }
        if on && limit == 0 {
            return Err(EPERM);
        }
    }
    let (locked_by, pages, uid) = (s.locked_by, s.pages(), cred.uid);
    let r = &mut ctx.k.shm;
    match (on, locked_by) {
        (true, None) => {
            let held = r.locked_pages.get(&uid).copied().unwrap_or(0);
            if !cap && limit != u64::MAX && (held + pages) * PAGE_SIZE > limit {
                return Err(ENOMEM);
            }
            *r.locked_pages.entry(uid).or_default() += pages;
            let s = r.by_id_mut(id)?;
            s.mode |= SHM_LOCKED;
            s.locked_by = Some(uid);
        }
        (false, Some(by)) => {
            r.unlock_pages(by, pages);
            let s = r.by_id_mut(id)?;
            s.mode &= !SHM_LOCKED;
            s.locked_by = None;
        }
        _ => {}
    }
    Ok(CtlOut::Done(0))
}

impl KernelState {
    /// A mapping of segment file `id` went (munmap, exit, exec: shm_close):
    /// its detach time is now, and it may be destroyed. (Linux also makes
    /// the exiting process its lpid; here lpid is the last shmat's or
    /// shmdt's caller.)
    pub(crate) fn shm_detached(&mut self, id: FileId) {
        if let Some(s) = self.shm.by_index.values_mut().find(|s| s.file.id == id) {
            s.dtime = now();
        }
        self.shm_reap();
    }

    /// Destroys the segments marked for it that nothing maps any more
    /// (shm_destroy): their pages leave the page cache.
    pub(crate) fn shm_reap(&mut self) {
        let dead: Vec<u32> = self
            .shm
            .by_index
            .iter()
            .filter(|(_, s)| s.mode & SHM_DEST != 0 && attaches(self, s.file.id) == 0)
            .map(|(&i, _)| i)
            .collect();
        for i in dead {
            let s = self.shm.by_index.remove(&i).expect("listed");
            self.shm.total_pages -= s.pages();
            if let Some(by) = s.locked_by {
                self.shm.unlock_pages(by, s.pages());
            }
            self.drop_pages_from(s.file.id, 0);
            self.phys.cache.remove(&s.file.id);
        }
    }
}

/// /proc/sysvipc/shm: a header, then a row per segment (sysvipc_shm_proc_show).
pub(crate) fn proc_table(k: &KernelState) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n",
    );
    for s in k.shm.segments() {
        let _ = writeln!(
            out,
            "{:>10} {:>10}  {:>4o} {:>21} {:>5} {:>5}  {:>5} {:>5} {:>5} {:>5} {:>5} {:>10} {:>10} {:>10} {:>21} {:>21}",
            s.key,
            s.id,
            s.mode,
            s.size,
            s.cpid,
            s.lpid,
            attaches(k, s.file.id),
            s.uid,
            s.gid,
            s.cuid,
            s.cgid,
            s.atime,
            s.dtime,
            s.ctime,
            resident(k, s.file.id) * PAGE_SIZE,
            0
        );
    }
    out
}
