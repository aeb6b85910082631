//! Putting a frame's data in place: the one routine every first touch goes
//! through, whether the guest touched it (a userfaultfd fault), the VMM is
//! about to read or write it for the program, or a prefault asked for it.
//! It picks the data (zeroes, the file's bytes, the swap copy), makes room
//! under the resident budget, and fills the host page atomically with a
//! userfaultfd ioctl, which also wakes any vCPU waiting on it.

use super::backing::Backing;
use super::reclaim::{self, Evicted};
use super::uffd::UffdError;
use crate::arch::PAGE_SIZE;
use crate::mm::phys::PhysError;
use crate::mm::{Content, FileId, FrameKind, MapError, Phys, Residency};

static ZERO_PAGE: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];

/// What the access needs of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// To read it: fresh anonymous memory may map the zero page.
    Read,
    /// To write it (or to have it populated ahead of use): a page of its
    /// own.
    Write,
}

/// How the frame got its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filled {
    /// It already had it: nothing to do (a duplicate report, or the VMM
    /// touching a page that is there).
    AlreadyThere,
    /// Fresh memory: the zero page (a read) or a zeroed page.
    Zeroes,
    /// The file's bytes, read in.
    FileRead,
    /// The file's bytes, which the page cache held before the run
    /// (`PageCache::Warm` or `Host`): no read from the file.
    PreCached,
    /// Its contents from swap.
    SwappedIn,
    /// It mapped the zero page and was written: a page of its own now.
    ZeroCow,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error(transparent)]
    Uffd(#[from] UffdError),
    #[error("out of memory")]
    OutOfMemory,
    #[error("reading file data: {0}")]
    Io(#[from] std::io::Error),
    #[error("no frame at {0:#x}")]
    NoFrame(u64),
    /// The host would not give faultline memory (not the guest's budget:
    /// that is [`FaultError::OutOfMemory`]).
    #[error("the host is out of memory (a page buffer could not be allocated)")]
    HostMemory,
}

/// The frame window full is the guest's out-of-memory.
impl From<PhysError> for FaultError {
    fn from(e: PhysError) -> Self {
        match e {
            PhysError::OutOfFrames(_) => FaultError::OutOfMemory,
        }
    }
}

/// As for frames; the page-table pool full is out of memory too (tables
/// are memory).
impl From<MapError> for FaultError {
    fn from(e: MapError) -> Self {
        match e {
            MapError::Phys(e) => e.into(),
            MapError::Paging(_) => FaultError::OutOfMemory,
        }
    }
}

/// A zeroed page-sized buffer, or an error if the host has no memory for
/// it: a fault then ends the run with a message instead of aborting
/// faultline (Rust's allocation failure), summary and all.
fn page_buffer() -> Result<Box<[u8; PAGE_SIZE as usize]>, FaultError> {
    let mut v: Vec<u8> = Vec::new();
    if crate::inject::hit(crate::inject::Point::PageAlloc).is_some() || v.try_reserve_exact(PAGE_SIZE as usize).is_err()
    {
        return Err(FaultError::HostMemory);
    }
    v.resize(PAGE_SIZE as usize, 0);
    Ok(v.into_boxed_slice().try_into().expect("exactly one page"))
}

/// Page `index` of a cached file: its bytes, zero past end of file.
pub fn read_file_page(phys: &Phys, file: FileId, index: u64) -> Result<Box<[u8; PAGE_SIZE as usize]>, FaultError> {
    let mut buf = page_buffer()?;
    let Some(cached) = phys.cache.get(&file) else { return Ok(buf) };
    let mut done = 0;
    let off = index * PAGE_SIZE;
    while done < buf.len() {
        let n = cached.data.read_at(off + done as u64, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(buf)
}

/// Makes frame `gpa` hold its data on the host, for an access that needs
/// `need`. Evictions done to make room are appended to `evicted`.
pub fn populate(
    phys: &mut Phys,
    backing: &dyn Backing,
    gpa: u64,
    need: Need,
    evicted: &mut Vec<Evicted>,
) -> Result<Filled, FaultError> {
    let f = phys.frame(gpa).ok_or(FaultError::NoFrame(gpa))?;
    let host = phys.host_addr(gpa);
    match (f.residency, need) {
        (Residency::Resident, _) | (Residency::Zero, Need::Read) => {
            // Wake anyone parked on it: a fault reported twice, or raced.
            backing.wake(host, PAGE_SIZE)?;
            Ok(Filled::AlreadyThere)
        }
        (Residency::Zero, Need::Write) => {
            reclaim::make_room(phys, backing, evicted)?;
            // The host copies the zero page on the write that follows.
            backing.writeprotect(host, PAGE_SIZE, false, false)?;
            phys.update(gpa, |f| {
                f.residency = Residency::Resident;
                f.dirty = true;
            });
            reclaim::age(phys, backing);
            Ok(Filled::ZeroCow)
        }
        (Residency::Swapped(slot), _) => {
            reclaim::make_room(phys, backing, evicted)?;
            let mut data = page_buffer()?;
            data.copy_from_slice(phys.swap.get(slot).ok_or(FaultError::NoFrame(gpa))?);
            backing.copy(host, &data[..])?;
            phys.swap.free(slot);
            phys.counters.swap_ins += 1;
            // The swap copy is gone: evicting again must write it out.
            phys.update(gpa, |f| {
                f.residency = Residency::Resident;
                f.dirty = true;
            });
            reclaim::age(phys, backing);
            Ok(Filled::SwappedIn)
        }
        (Residency::Absent, _) => match f.content {
            // A read of fresh anonymous memory maps the shared zero page, as
            // the kernel does: no memory, and the first write is seen.
            Content::Zero if need == Need::Read && backing.has_wp() && f.kind == FrameKind::Anon => {
                backing.zeropage_wp(host, PAGE_SIZE)?;
                phys.update(gpa, |f| f.residency = Residency::Zero);
                Ok(Filled::Zeroes)
            }
            Content::Zero => {
                reclaim::make_room(phys, backing, evicted)?;
                backing.copy(host, &ZERO_PAGE)?;
                phys.update(gpa, |f| f.residency = Residency::Resident);
                reclaim::age(phys, backing);
                Ok(Filled::Zeroes)
            }
            Content::File { file, index } => {
                reclaim::make_room(phys, backing, evicted)?;
                let page = read_file_page(phys, file, index)?;
                backing.copy(host, &page[..])?;
                phys.update(gpa, |f| f.residency = Residency::Resident);
                reclaim::age(phys, backing);
                Ok(Filled::FileRead)
            }
        },
    }
}

/// Gives the new frame `dst` (absent) a copy of frame `src`'s data, for
/// copy-on-write: from its host page, its swap copy, or where it would
/// come from (zeroes, the file).
pub fn copy_frame(
    phys: &mut Phys,
    backing: &dyn Backing,
    src: u64,
    dst: u64,
    evicted: &mut Vec<Evicted>,
) -> Result<(), FaultError> {
    let f = phys.frame(src).ok_or(FaultError::NoFrame(src))?;
    let mut buf = page_buffer()?;
    match (f.residency, f.content) {
        (Residency::Resident, _) => {
            if !phys.read(src, 0, &mut buf[..]) {
                return Err(FaultError::NoFrame(src));
            }
        }
        (Residency::Zero, _) | (Residency::Absent, Content::Zero) => {}
        (Residency::Swapped(slot), _) => buf.copy_from_slice(phys.swap.get(slot).ok_or(FaultError::NoFrame(src))?),
        (Residency::Absent, Content::File { file, index }) => buf = read_file_page(phys, file, index)?,
    }
    reclaim::make_room(phys, backing, evicted)?;
    backing.copy(phys.host_addr(dst), &buf[..])?;
    phys.update(dst, |f| {
        f.residency = Residency::Resident;
        f.dirty = true;
    });
    reclaim::age(phys, backing);
    Ok(())
}
