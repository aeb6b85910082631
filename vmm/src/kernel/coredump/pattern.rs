//! A core file's name from kernel.core_pattern, as format_corename()
//! expands it (core(5)): `%` specifiers, names that cannot climb out of
//! their directory, and kernel.core_uses_pid's `.PID`.

use std::fmt::Write as _;

/// What the specifiers name: the dumping process and its signal.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts<'a> {
    /// Its pid (%p, %P) and the dumping thread's (%i, %I): one namespace.
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    /// Real ids (%u, %g).
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// The signal (%s).
    pub(crate) signo: i32,
    /// Seconds since the epoch (%t).
    pub(crate) time: u64,
    pub(crate) hostname: &'a str,
    pub(crate) comm: &'a str,
    /// The program's path (%E).
    pub(crate) exe: &'a str,
    /// RLIMIT_CORE (%c).
    pub(crate) limit: u64,
    /// The dump mode (%d): 1, SUID_DUMP_USER, for any process that dumps.
    pub(crate) dumpable: u32,
}

/// The file name `pattern` gives (not a pipe's: the caller has checked);
/// `.PID` follows if `uses_pid` and no `%p` is there. An unknown specifier
/// and a lone trailing `%` give nothing, as in Linux.
pub(crate) fn corename(pattern: &str, uses_pid: bool, f: &Facts) -> String {
    let mut out = String::new();
    let mut pid_in_pattern = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let _ = match chars.next() {
            None => break,
            Some('%') => write!(out, "%"),
            Some('p') => {
                pid_in_pattern = true;
                write!(out, "{}", f.pid)
            }
            Some('P') => write!(out, "{}", f.pid),
            Some('i' | 'I') => write!(out, "{}", f.tid),
            Some('u') => write!(out, "{}", f.uid),
            Some('g') => write!(out, "{}", f.gid),
            Some('d') => write!(out, "{}", f.dumpable),
            Some('s') => write!(out, "{}", f.signo),
            Some('t') => write!(out, "{}", f.time),
            Some('c') => write!(out, "{}", f.limit),
            Some('h') => write!(out, "{}", component(f.hostname)),
            Some('e') => write!(out, "{}", component(f.comm)),
            Some('E') => write!(out, "{}", component(f.exe)),
            // %C (a cgroup), %F (a pidfd, for pipes): none here.
            Some(_) => Ok(()),
        };
    }
    if uses_pid && !pid_in_pattern {
        let _ = write!(out, ".{}", f.pid);
    }
    out
}

/// cn_esc_printf(): text from the process (its name, its path, the host
/// name) as one path component: '/' becomes '!', and so does the first
/// dot of "." or "..", and an empty one is "!".
fn component(s: &str) -> String {
    let mut c: String = s.chars().map(|ch| if ch == '/' { '!' } else { ch }).collect();
    if c.is_empty() || c == "." || c == ".." {
        c.replace_range(0..c.len().min(1), "!");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts<'static> {
        Facts {
            pid: 42,
            tid: 43,
            uid: 1000,
            gid: 100,
            signo: 6,
            time: 1_700_000_000,
            hostname: "faultline",
            comm: "a/b",
            exe: "/usr/bin/prog",
            limit: u64::MAX,
            dumpable: 1,
        }
    }

    #[test]
    fn specifiers_expand_as_core5_says() {
        let f = facts();
        assert_eq!(corename("core", false, &f), "core");
        assert_eq!(corename("core", true, &f), "core.42");
        assert_eq!(corename("/tmp/dump-%p", true, &f), "/tmp/dump-42");
        // Only %p counts as the pid for core_uses_pid.
        assert_eq!(corename("c-%P", true, &f), "c-42.42");
        assert_eq!(corename("%i.%I.%u.%g.%s.%t.%d", false, &f), "43.43.1000.100.6.1700000000.1");
        assert_eq!(corename("%h-%e-%E", false, &f), "faultline-a!b-!usr!bin!prog");
        assert_eq!(corename("%c", false, &f), "18446744073709551615");
        assert_eq!(corename("100%%-%", false, &f), "100%-");
        // Unknown specifiers vanish whole.
        assert_eq!(corename("a%Cb%Fc%zd", false, &f), "abcd");
    }

    #[test]
    fn a_component_never_climbs_or_vanishes() {
        for (comm, want) in [("", "!"), (".", "!"), ("..", "!."), ("...", "..."), ("x/..", "x!..")] {
            let f = Facts { comm, ..facts() };
            assert_eq!(corename("d/%e/core", false, &f), format!("d/{want}/core"), "{comm:?}");
        }
    }
}
