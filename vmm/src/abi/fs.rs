//! The program's view of files: descriptors 0-2 (stdio) and the few
//! /proc files faultline generates. Nothing on the host file system is
//! reachable: every other path is ENOENT.

use super::errno::*;
use super::procfs;
use super::task::PATH_MAX;
use super::Task;

const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const O_ACCMODE: u64 = 3;
const O_DIRECTORY: u64 = 0o200000;

const S_IFREG: u32 = 0o100000;
const S_IFIFO: u32 = 0o010000;

/// What a descriptor refers to.
#[derive(Clone, Debug)]
pub enum OpenFile {
    /// Standard stream `n`, backed by this host descriptor (or captured).
    Stdio { n: i32, host: Option<i32> },
    /// A generated /proc file. Like Linux's seq_file, the contents are made
    /// when a read starts at offset 0, not at open(2).
    Generated { path: String, contents: Vec<u8>, pos: u64 },
}

#[derive(Clone, Debug)]
pub struct Files {
    table: Vec<Option<OpenFile>>,
}

/// Most descriptors a program may hold (RLIMIT_NOFILE is larger; nothing
/// here needs more).
const MAX_FDS: usize = 1024;

impl Files {
    pub fn new(stdin: Option<i32>, stdout: Option<i32>, stderr: Option<i32>) -> Self {
        Files {
            table: vec![
                Some(OpenFile::Stdio { n: 0, host: stdin }),
                Some(OpenFile::Stdio { n: 1, host: stdout }),
                Some(OpenFile::Stdio { n: 2, host: stderr }),
            ],
        }
    }

    pub fn get(&self, fd: i32) -> Option<&OpenFile> {
        usize::try_from(fd).ok().and_then(|i| self.table.get(i)).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, fd: i32) -> Option<&mut OpenFile> {
        usize::try_from(fd).ok().and_then(|i| self.table.get_mut(i)).and_then(Option::as_mut)
    }

    pub fn is_open(&self, fd: i32) -> bool {
        self.get(fd).is_some()
    }

    /// Lowest free descriptor, as POSIX requires.
    fn install(&mut self, f: OpenFile) -> Result<i32, Errno> {
        if let Some(i) = self.table.iter().position(Option::is_none) {
            self.table[i] = Some(f);
            return Ok(i as i32);
        }
        if self.table.len() >= MAX_FDS {
            return Err(EMFILE);
        }
        self.table.push(Some(f));
        Ok(self.table.len() as i32 - 1)
    }

    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.table.get_mut(i)).ok_or(EBADF)?;
        slot.take().map(|_| ()).ok_or(EBADF)
    }
}

fn read_path(task: &Task, addr: u64) -> Result<String, Errno> {
    let bytes = task.read_cstr(addr, PATH_MAX)?;
    String::from_utf8(bytes).map_err(|_| ENOENT)
}

/// Resolves a path relative to `dirfd`: only absolute paths exist here.
fn resolve(task: &Task, dirfd: i32, path: &str) -> Result<String, Errno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if !path.starts_with('/') && dirfd != AT_FDCWD && !task.files.is_open(dirfd) {
        return Err(EBADF);
    }
    let p = path.replace("/proc/1/", "/proc/self/").replace("/proc/thread-self/", "/proc/self/");
    Ok(p)
}

pub fn openat(task: &mut Task, dirfd: u64, path: u64, flags: u64, _mode: u64) -> SysResult {
    let path = read_path(task, path)?;
    let path = resolve(task, dirfd as i32, &path)?;
    procfs::generate(task, &path).ok_or(ENOENT)?;
    if flags & O_ACCMODE != 0 {
        return Err(EACCES);
    }
    if flags & O_DIRECTORY != 0 {
        return Err(ENOTDIR);
    }
    let fd = task.files.install(OpenFile::Generated { path, contents: Vec::new(), pos: 0 })?;
    Ok(fd as i64)
}

pub fn open(task: &mut Task, path: u64, flags: u64, mode: u64) -> SysResult {
    openat(task, AT_FDCWD as u64, path, flags, mode)
}

pub fn close(task: &mut Task, fd: u64) -> SysResult {
    task.files.close(fd as i32)?;
    Ok(0)
}

/// The kernel's struct stat (x86-64), 144 bytes.
fn stat_bytes(mode: u32, size: u64, rdev: u64) -> [u8; 144] {
    let mut b = [0u8; 144];
    b[0..8].copy_from_slice(&0x16u64.to_le_bytes()); // st_dev
    b[16..24].copy_from_slice(&1u64.to_le_bytes()); // st_nlink
    b[24..28].copy_from_slice(&mode.to_le_bytes());
    b[28..32].copy_from_slice(&1000u32.to_le_bytes()); // st_uid
    b[32..36].copy_from_slice(&1000u32.to_le_bytes()); // st_gid
    b[40..48].copy_from_slice(&rdev.to_le_bytes());
    b[48..56].copy_from_slice(&size.to_le_bytes());
    b[56..64].copy_from_slice(&4096u64.to_le_bytes()); // st_blksize
    b
}

fn stat_of(file: &OpenFile) -> [u8; 144] {
    match file {
        OpenFile::Stdio { host: Some(h), .. } => {
            // The host's struct stat has the kernel's layout on x86-64.
            let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
            // SAFETY: fstat fills the struct; on failure it stays zeroed.
            let ok = unsafe { libc::fstat(*h, st.as_mut_ptr()) } == 0;
            if ok {
                // SAFETY: initialised by fstat; libc::stat is 144 bytes here.
                let st = unsafe { st.assume_init() };
                let mut b = [0u8; 144];
                // SAFETY: copying the plain-data struct's bytes.
                let raw = unsafe {
                    std::slice::from_raw_parts(&st as *const libc::stat as *const u8, std::mem::size_of::<libc::stat>())
                };
                b.copy_from_slice(&raw[..144]);
                b
            } else {
                stat_bytes(S_IFIFO | 0o600, 0, 0)
            }
        }
        OpenFile::Stdio { host: None, .. } => stat_bytes(S_IFIFO | 0o600, 0, 0),
        // procfs files report size 0, as Linux's do.
        OpenFile::Generated { .. } => stat_bytes(S_IFREG | 0o444, 0, 0),
    }
}

pub fn fstat(task: &mut Task, fd: u64, buf: u64) -> SysResult {
    let st = stat_of(task.files.get(fd as i32).ok_or(EBADF)?);
    task.copy_to_user(buf, &st)?;
    Ok(0)
}

pub fn newfstatat(task: &mut Task, dirfd: u64, path: u64, buf: u64, flags: u64) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | 0x800) != 0 {
        return Err(EINVAL);
    }
    let p = read_path(task, path)?;
    if p.is_empty() && flags & AT_EMPTY_PATH != 0 {
        return fstat(task, dirfd, buf);
    }
    let p = resolve(task, dirfd as i32, &p)?;
    procfs::generate(task, &p).ok_or(ENOENT)?;
    task.copy_to_user(buf, &stat_bytes(S_IFREG | 0o444, 0, 0))?;
    Ok(0)
}

pub fn readlinkat(task: &mut Task, dirfd: u64, path: u64, buf: u64, size: u64) -> SysResult {
    if (size as i64) <= 0 {
        return Err(EINVAL);
    }
    let p = read_path(task, path)?;
    let p = resolve(task, dirfd as i32, &p)?;
    let target = match p.as_str() {
        "/proc/self/exe" => task.exe.clone(),
        other if procfs::generate(task, other).is_some() => return Err(EINVAL),
        _ => return Err(ENOENT),
    };
    let n = target.len().min(size as usize);
    task.copy_to_user(buf, &target.as_bytes()[..n])?;
    Ok(n as i64)
}

pub fn readlink(task: &mut Task, path: u64, buf: u64, size: u64) -> SysResult {
    readlinkat(task, AT_FDCWD as u64, path, buf, size)
}
