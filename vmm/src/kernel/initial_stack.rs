//! The initial stack as Linux's binfmt_elf leaves it: argv, envp and auxv,
//! RSP 16-byte aligned at argc.

use zerocopy::IntoBytes;

use super::abi::auxvec::*;

/// What the loader knows that auxv reports.
#[derive(Clone, Debug)]
pub(crate) struct ExecInfo {
    pub(crate) argv: Vec<String>,
    pub(crate) envp: Vec<String>,
    pub(crate) execfn: String,
    pub(crate) phdr: u64,
    pub(crate) phent: u64,
    pub(crate) phnum: u64,
    pub(crate) entry: u64,
    /// Where the interpreter was loaded (AT_BASE); 0 for a static program.
    pub(crate) base: u64,
    /// Real and effective ids (AT_UID, AT_EUID, AT_GID, AT_EGID).
    pub(crate) uid: u32,
    pub(crate) euid: u32,
    pub(crate) gid: u32,
    pub(crate) egid: u32,
    pub(crate) hwcaps: (u64, u64),
    pub(crate) random: [u8; 16],
    /// Where the vDSO's ELF image is mapped (AT_SYSINFO_EHDR), if one is.
    pub(crate) vdso: Option<u64>,
}

/// The initial stack image: `bytes` go at `sp`, which is where RSP starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InitialStack {
    pub(crate) sp: u64,
    pub(crate) bytes: Vec<u8>,
    /// The auxiliary vector's words, AT_NULL's pair last: what the kernel
    /// keeps of it (mm->saved_auxv) for a core's NT_AUXV.
    pub(crate) auxv: Vec<u64>,
}

/// Lays out the initial stack below `top`.
pub(crate) fn initial_stack(top: u64, info: &ExecInfo) -> InitialStack {
    // Strings and AT_RANDOM go at the top, as Linux does: an 8-byte end
    // marker, then execfn, envp and argv strings, platform, random bytes.
    let mut blob: Vec<u8> = Vec::new();
    let mut push = |b: &[u8]| -> u64 {
        blob.splice(0..0, b.iter().copied());
        blob.len() as u64 // distance from the top to the start of b
    };
    push(&[0u8; 8]);
    let execfn = push(&nul(&info.execfn));
    let env: Vec<u64> = info.envp.iter().rev().map(|s| push(&nul(s))).collect::<Vec<_>>().into_iter().rev().collect();
    let args: Vec<u64> = info.argv.iter().rev().map(|s| push(&nul(s))).collect::<Vec<_>>().into_iter().rev().collect();
    let platform = push(ELF_PLATFORM);
    let random = push(&info.random);
    let strings_bottom = top - blob.len() as u64;
    let at = |dist: u64| top - dist;

    let vdso = info.vdso.map(|at| (AT_SYSINFO_EHDR, at));
    let auxv = [
        (AT_PHDR, info.phdr),
        (AT_PHENT, info.phent),
        (AT_PHNUM, info.phnum),
        (AT_PAGESZ, 4096),
        (AT_BASE, info.base),
        (AT_FLAGS, 0),
        (AT_ENTRY, info.entry),
        (AT_UID, info.uid as u64),
        (AT_EUID, info.euid as u64),
        (AT_GID, info.gid as u64),
        (AT_EGID, info.egid as u64),
        (AT_SECURE, 0),
        (AT_RANDOM, at(random)),
        (AT_HWCAP, info.hwcaps.0),
        (AT_HWCAP2, info.hwcaps.1),
        (AT_CLKTCK, 100),
        (AT_PLATFORM, at(platform)),
        (AT_EXECFN, at(execfn)),
    ];
    let auxv = auxv.iter().chain(&vdso).chain(&[(AT_MINSIGSTKSZ, super::abi::signal::AT_MINSIGSTKSZ), (AT_NULL, 0)]);
    let mut words: Vec<u64> = vec![info.argv.len() as u64];
    words.extend(args.iter().map(|&d| at(d)));
    words.push(0);
    words.extend(env.iter().map(|&d| at(d)));
    words.push(0);
    let auxv: Vec<u64> = auxv.flat_map(|&(k, v)| [k, v]).collect();
    words.extend_from_slice(&auxv);
    let sp = (strings_bottom - words.len() as u64 * 8) & !15;
    let mut bytes: Vec<u8> = words.as_bytes().to_vec();
    bytes.resize((strings_bottom - sp) as usize, 0);
    bytes.extend_from_slice(&blob);
    InitialStack { sp, bytes, auxv }
}

fn nul(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromBytes;

    fn word(st: &InitialStack, addr: u64) -> u64 {
        let o = (addr - st.sp) as usize;
        u64::read_from_bytes(&st.bytes[o..o + 8]).unwrap()
    }

    fn cstr(st: &InitialStack, addr: u64) -> String {
        let o = (addr - st.sp) as usize;
        let end = st.bytes[o..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8(st.bytes[o..o + end].to_vec()).unwrap()
    }

    #[test]
    fn argv_envp_auxv_as_linux_lays_them_out() {
        let info = ExecInfo {
            argv: vec!["prog".into(), "a b".into()],
            envp: vec!["K=V".into()],
            execfn: "/bin/prog".into(),
            phdr: 0x400040,
            phent: 56,
            phnum: 9,
            entry: 0x401000,
            base: 0,
            uid: 1000,
            euid: 1000,
            gid: 1000,
            egid: 1000,
            hwcaps: (0x178bfbff, 0),
            random: [7; 16],
            vdso: Some(0x7fff_f7ff_d000),
        };
        let top = 0x7fff_ffff_f000;
        let st = initial_stack(top, &info);
        assert_eq!(st.sp % 16, 0);
        assert_eq!(st.sp + st.bytes.len() as u64, top);
        assert_eq!(word(&st, st.sp), 2);
        assert_eq!(cstr(&st, word(&st, st.sp + 8)), "prog");
        assert_eq!(cstr(&st, word(&st, st.sp + 16)), "a b");
        assert_eq!(word(&st, st.sp + 24), 0);
        assert_eq!(cstr(&st, word(&st, st.sp + 32)), "K=V");
        assert_eq!(word(&st, st.sp + 40), 0);
        let mut aux = std::collections::HashMap::new();
        let mut a = st.sp + 48;
        loop {
            let (k, v) = (word(&st, a), word(&st, a + 8));
            aux.insert(k, v);
            if k == AT_NULL {
                break;
            }
            a += 16;
        }
        assert_eq!(aux[&AT_ENTRY], 0x401000);
        assert_eq!(aux[&AT_PAGESZ], 4096);
        assert_eq!(aux[&AT_SYSINFO_EHDR], 0x7fff_f7ff_d000);
        assert_eq!(cstr(&st, aux[&AT_EXECFN]), "/bin/prog");
        assert_eq!(cstr(&st, aux[&AT_PLATFORM]).as_bytes(), &ELF_PLATFORM[..ELF_PLATFORM.len() - 1]);
        let r = (aux[&AT_RANDOM] - st.sp) as usize;
        assert_eq!(&st.bytes[r..r + 16], &[7; 16]);
    }
}
