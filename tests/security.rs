//! The guest is untrusted: a hostile-guest probe's reproducers, kept as
//! regression tests (elf-fixtures/hostile). Each must end as a Linux
//! process would, with its own status, never with faultline's 125, a
//! host crash, or code of the guest's running in ring 0.

mod support;

use support::*;

/// Runs a hostile fixture; `(exit code, stdout, report)`.
fn hostile(name: &str, args: &[&str]) -> (i32, String, String) {
    let run = run_fixture(name, args);
    (run.code(), run.stdout.clone(), run.outcome.report().unwrap_or_default().to_string())
}

#[test]
fn a_32_bit_syscall_never_reaches_ring_0() {
    // Mode 0 maps its payload at CSTAR's low 32 bits (0x100000) as the
    // exploit did; mode 1 also tries to rewrite its page tables from there;
    // mode 2 maps nothing. In each, the 32-bit `syscall` returns -ENOSYS to
    // 32-bit code, as on Linux without IA32 emulation, whose next
    // instruction (`hlt`) is privileged: SIGSEGV.
    for mode in [&["0"][..], &["1", "0xffffffffff007"], &["2"]] {
        let (code, stdout, report) = hostile("ring0", mode);
        assert_eq!(code, 139, "{mode:?}: {stdout} {report}");
        assert!(report.contains("trap #GP general protection"), "{mode:?}: {report}");
        assert!(!stdout.contains("CPL0"), "{mode:?}: the payload ran: {stdout}");
    }
    // The 32-bit call itself returns to its caller, which carries on.
    let (code, stdout, _) = hostile("iso", &["compat_syscall"]);
    assert_eq!((code, stdout.as_str()), (0, "probe start\nafter\nprobe end\n"));
}

#[test]
fn isolation_probes_end_as_on_linux() {
    use std::collections::BTreeMap;
    // probe -> exit statuses Linux can give (a CPU feature may decide).
    let expect: BTreeMap<&str, &[i32]> = [
        // The VMM's structures: supervisor pages, or not mapped at all.
        ("read_shim", &[139][..]),
        ("read_gdt", &[139]),
        ("read_idt", &[139]),
        ("read_tss", &[139]),
        ("read_ist", &[139]),
        ("read_pt", &[139]),
        ("read_sysmap0", &[139]),
        ("write_shim", &[139]),
        ("write_gdt", &[139]),
        ("write_pt", &[139]),
        ("write_idt", &[139]),
        ("jump_shim", &[139]),
        ("jump_stub14", &[139]),
        ("jump_sync", &[139]),
        ("jump_lstar", &[139]),
        ("jump_lstar_regs", &[139]),
        ("noncanon_read", &[139]),
        ("noncanon_jump", &[139]),
        ("kernel_half_read", &[139]),
        // Privileged instructions: #GP.
        ("lgdt", &[139]),
        ("lidt", &[139]),
        ("movcr3", &[139]),
        ("readcr3", &[139]),
        ("wrmsr", &[139]),
        ("rdmsr", &[139]),
        ("hlt", &[139]),
        ("cli", &[139]),
        ("in", &[139]),
        ("out_e0", &[139]),
        ("out_df", &[139]),
        ("out_ee", &[139]),
        ("sysret", &[139]),
        // UMIP makes these #GP where the CPU has it; without it they run.
        ("sgdt", &[139, 0]),
        ("sidt", &[139, 0]),
        ("str", &[139, 0]),
        // Traps, with Linux's signals.
        ("int3", &[133]),
        ("int1", &[133]),
        ("into", &[132]),
        ("ud2", &[132]),
        ("int14", &[139]),
        ("int13", &[139]),
        ("int8", &[139]),
        ("int32", &[139]),
        ("int80", &[139]),
        ("int255", &[139]),
        ("far_compat", &[139]),
        ("tf", &[133]),
        ("tf_syscall", &[133]),
        ("ac_flag", &[135]),
        // SYSENTER: #UD on AMD, #GP on Intel (null SYSENTER_CS).
        ("sysenter", &[132, 139]),
        ("compat_sysenter", &[132, 139]),
        // Segments and far transfers to ring 0.
        ("iretq_ring0", &[139]),
        ("iretq_noncanon", &[139]),
        ("bad_ds", &[139]),
        ("bad_ss", &[139]),
        ("tss_ds", &[139]),
        ("null_ss", &[139]),
        ("far_kernel", &[139]),
        // Syscalls with garbage registers still work, then exit(42/43).
        ("syscall_garbage", &[42]),
        ("syscall_garbage_rsp_kernel", &[43]),
        ("syscall_at_top2", &[139]),
    ]
    .into_iter()
    .collect();
    for (probe, codes) in &expect {
        let (code, stdout, report) = hostile("iso", &[probe]);
        assert!(codes.contains(&code), "{probe}: status {code}, want {codes:?}: {stdout} {report}");
        assert!(stdout.starts_with("probe start\n"), "{probe}: {stdout}");
        if code == 139 {
            assert!(report.contains("killed by SIGSEGV"), "{probe}: {report}");
        }
    }
}

#[test]
fn pointers_at_the_vmm_or_across_the_top_of_user_space_are_efault() {
    const EFAULT: &str = "0xfffffffffffffff2";
    const EINVAL: &str = "0xffffffffffffffea";
    let (code, out, _) = hostile("iso", &["write_kernel"]);
    assert_eq!(code, 0);
    for what in ["shim", "pt", "gdt", "gpa-like", "noncanon-cross"] {
        assert!(out.contains(&format!("{what} r={EFAULT}\n")), "{what}: {out}");
    }
    let (_, out, _) = hostile("iso", &["write_top"]);
    // 64 bytes below the top of user space go out; nothing beyond.
    assert!(out.contains("write_top r=0x40\n") && out.contains("write_top huge r=0x40\n"), "{out}");
    assert!(out.contains(&format!("at USER_TOP r={EFAULT}")) && out.contains(&format!("wrap r={EFAULT}")), "{out}");
    let (_, out, _) = hostile("iso", &["readv_huge"]);
    for line in ["readv 1025", "readv 2^40", "readv -1", "readv 1024x2^62", "writev 1024x2^62"] {
        assert!(out.contains(&format!("{line} r={EINVAL}\n")), "{line}: {out}");
    }
    assert!(out.contains(&format!("readv iov crossing top r={EFAULT}")), "{out}");
    assert!(out.contains(&format!("writev iov in page tables r={EFAULT}")), "{out}");
    let (_, out, _) = hostile("iso", &["mincore_pt"]);
    // Nothing the VMM writes for the program lands in read-only memory.
    assert_eq!(out.matches("RODATA-ORIGINAL").count(), 4, "{out}");
    assert_eq!(out.matches(&format!("r={EFAULT}")).count(), 8, "{out}");
    let (_, out, _) = hostile("iso", &["write_mmap_edge"]);
    assert!(out.contains("edge r=0xa\n"), "{out}");
    assert!(out.contains(&format!("unmapped r={EFAULT}")) && out.contains(&format!("protnone r={EFAULT}")), "{out}");
    let (_, out, _) = hostile("iso", &["syscall_nr_huge"]);
    assert_eq!(out.matches("=0xffffffffffffffda\n").count(), 3, "{out}");
}

#[test]
fn a_guest_that_damages_its_own_memory_dies_or_carries_on_as_on_linux() {
    // variant -> exit status: TAIL(n) exits n after writing "still alive".
    let cases: &[(&str, i32)] = &[
        ("munmap_stack", 10),
        ("mprotect_stack_none", 11),
        ("mprotect_stack_ro_push", 139),
        ("madvise_stack_dontneed", 13),
        ("munmap_text", 139),
        ("mprotect_text_rw", 139),
        ("mprotect_text_none", 139),
        ("munmap_all", 139),
        ("munmap_all_but_text", 18),
        ("madvise_all_dontneed", 19),
        ("mprotect_all_rwx", 20),
        ("mremap_text", 139),
        ("mremap_stack_away", 22),
        ("munmap_kernel", 23),
    ];
    for (variant, want) in cases {
        let (code, out, report) = hostile("selfharm", &[variant]);
        assert_eq!(code, *want, "{variant}: {out} {report}");
        if *want != 139 {
            assert!(out.ends_with("still alive\n"), "{variant}: {out}");
        }
    }
    // Every attempt on the kernel half fails with an error, not a crash.
    let (_, out, _) = hostile("selfharm", &["munmap_kernel"]);
    assert_eq!(out, "11111\nstill alive\n");
}
