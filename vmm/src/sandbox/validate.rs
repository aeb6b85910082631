//! The checks every configuration passes before a VM is made
//! ([`Config::validate`]), whether it came from the builder, a [`Config`]
//! literal or the command line, so all three refuse the same things with
//! the same words.

use std::time::Duration;

use super::Config;
use crate::arch::PAGE_SIZE;

/// The smallest `rss_limit`: below it not even a small static program's
/// stack, text and page tables fit.
pub const MIN_RSS_LIMIT: u64 = 64 * PAGE_SIZE;

/// A configuration refused before anything runs. The messages name the
/// command-line options (`--mem`, `--rss-limit`, …); each has a
/// [`SandboxBuilder`](super::SandboxBuilder) method and a [`Config`]
/// field of the same name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A syscall ring was asked for where the architecture has no ring
    /// stub (arm64, so far).
    #[error("--syscalls {0}: this architecture has no syscall ring stub yet (use exit)")]
    NoRing(super::SyscallPath),
    /// `argv` is empty: a program is always given at least `argv[0]`.
    #[error("the program has no argv[0]: give it at least its name")]
    EmptyArgv,
    /// An argument or environment string holds a NUL byte, which a C
    /// string cannot carry.
    #[error("{what} {index} contains a NUL byte: {shown}")]
    Nul {
        /// `argument` or `environment string`.
        what: &'static str,
        /// Its index in `argv` or `env`.
        index: usize,
        /// The string, made safe to print.
        shown: String,
    },
    /// An environment string is not `K=V`.
    #[error("--env {0}: expected K=V")]
    BadEnv(String),
    /// Guest RAM is zero or not whole pages.
    #[error("--mem {} is not a positive multiple of 4 KiB", shown(*.0))]
    BadMem(u64),
    /// The resident-memory cap is larger than guest RAM.
    #[error(
        "--rss-limit {} is above --mem {}: the guest cannot hold more than its RAM; raise --mem or lower --rss-limit",
        shown(*.rss_limit),
        shown(*.mem)
    )]
    RssAboveMem {
        /// The cap asked for, in bytes.
        rss_limit: u64,
        /// Guest RAM, in bytes.
        mem: u64,
    },
    /// The resident-memory cap is below [`MIN_RSS_LIMIT`].
    #[error("--rss-limit must be at least 256K")]
    RssTooSmall(u64),
    /// Swap or an RSS cap without trapped memory.
    #[error("reclaim needs trapped memory: without userfaultfd an evicted page would come back as zeroes")]
    ReclaimNeedsTrapped,
    /// More tasks than the host's KVM has vCPUs for (or none).
    #[error(
        "--max-tasks {asked} is out of range: each process and thread needs a vCPU, and this KVM allows 1 to {most}"
    )]
    MaxTasks {
        /// The cap asked for.
        asked: u32,
        /// The most this host allows.
        most: u32,
    },
    /// `fill_pages` is not a power of two from 1 to 512.
    #[error("--fill-pages {0} must be a power of two from 1 to 512")]
    FillPages(u64),
    /// Fault-around beyond one page table (2 MiB).
    #[error("--fault-around is at most 2M (one page table)")]
    FaultAround(u64),
    /// vm.overcommit_memory is not 0, 1 or 2.
    #[error("--overcommit {0}: expected 0 (heuristic), 1 (always) or 2 (strict)")]
    Overcommit(u32),
    /// A zero timeout.
    #[error("--timeout must be a positive number of seconds")]
    Timeout,
}

/// A size in the largest unit that says it exactly, as one would write
/// it for `--mem` (`256M`, `1G`, `5000`).
fn shown(bytes: u64) -> String {
    match bytes {
        0 => "0".into(),
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => b.to_string(),
    }
}

impl Config {
    /// Checks everything that can be checked without a VM or the program:
    /// [`Sandbox::new`](super::Sandbox::new) calls it first, so a
    /// [`Config`] built by hand is held to the same rules as one from
    /// [`SandboxBuilder`](super::SandboxBuilder). What needs the host or
    /// the program (`max_tasks` against this KVM's vCPUs, a `pin` of a
    /// region the program lacks) is checked by
    /// [`Sandbox::new`](super::Sandbox::new) before anything runs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.argv.is_empty() {
            return Err(ConfigError::EmptyArgv);
        }
        if self.syscalls != super::SyscallPath::Exit && !crate::arch::ring::SUPPORTED {
            return Err(ConfigError::NoRing(self.syscalls));
        }
        let nul = |what, list: &[String]| {
            list.iter()
                .position(|s| s.contains('\0'))
                .map_or(Ok(()), |index| Err(ConfigError::Nul { what, index, shown: crate::text::tame(&list[index]) }))
        };
        nul("argument", &self.argv)?;
        nul("environment string", &self.env)?;
        if let Some(kv) = self.env.iter().find(|kv| !kv.contains('=')) {
            return Err(ConfigError::BadEnv(format!("{:?}", crate::text::tame(kv))));
        }
        if self.mem == 0 || !self.mem.is_multiple_of(PAGE_SIZE) {
            return Err(ConfigError::BadMem(self.mem));
        }
        if let Some(limit) = self.rss_limit {
            if limit > self.mem {
                return Err(ConfigError::RssAboveMem { rss_limit: limit, mem: self.mem });
            }
            if limit < MIN_RSS_LIMIT {
                return Err(ConfigError::RssTooSmall(limit));
            }
        }
        if !self.trapped && (self.swap > 0 || self.rss_limit.is_some_and(|l| l < self.mem)) {
            return Err(ConfigError::ReclaimNeedsTrapped);
        }
        if !(1..=512).contains(&self.fill_pages) || !self.fill_pages.is_power_of_two() {
            return Err(ConfigError::FillPages(self.fill_pages));
        }
        if self.fault_around > 2 << 20 {
            return Err(ConfigError::FaultAround(self.fault_around));
        }
        if self.overcommit > 2 {
            return Err(ConfigError::Overcommit(self.overcommit));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::Timeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Program, Sandbox, SandboxBuilder};

    fn refused(f: impl FnOnce(SandboxBuilder) -> SandboxBuilder) -> ConfigError {
        let (_, c) = f(Sandbox::builder(Program::demo())).into_parts();
        c.validate().expect_err("refused")
    }

    #[test]
    fn builder_defaults_pass() {
        let (_, c) = Sandbox::builder(Program::demo()).args(["a", "b"]).into_parts();
        assert_eq!(c.argv, ["demo", "a", "b"]);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert_eq!(refused(|b| b.argv(Vec::<String>::new())), ConfigError::EmptyArgv);
        assert!(matches!(refused(|b| b.arg("a\0b")), ConfigError::Nul { what: "argument", index: 1, .. }));
        assert_eq!(refused(|b| b.memory(0)), ConfigError::BadMem(0));
        assert_eq!(refused(|b| b.memory(4097)), ConfigError::BadMem(4097));
        assert_eq!(
            refused(|b| b.memory(1 << 20).rss_limit(2 << 20)),
            ConfigError::RssAboveMem { rss_limit: 2 << 20, mem: 1 << 20 }
        );
        assert_eq!(refused(|b| b.rss_limit(4096)), ConfigError::RssTooSmall(4096));
        assert_eq!(refused(|b| b.trapped(false).swap(1 << 20)), ConfigError::ReclaimNeedsTrapped);
        assert_eq!(refused(|b| b.fill_pages(3)), ConfigError::FillPages(3));
        assert_eq!(refused(|b| b.fill_pages(1024)), ConfigError::FillPages(1024));
        assert_eq!(refused(|b| b.fault_around(4 << 20)), ConfigError::FaultAround(4 << 20));
        assert_eq!(refused(|b| b.overcommit(3, 50)), ConfigError::Overcommit(3));
        assert_eq!(refused(|b| b.timeout(Duration::ZERO)), ConfigError::Timeout);
        let mut c = Sandbox::builder(Program::demo()).into_parts().1;
        c.env.push("NOEQUALS".into());
        assert_eq!(c.validate(), Err(ConfigError::BadEnv("\"NOEQUALS\"".into())));
    }
}
