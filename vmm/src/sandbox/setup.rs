//! Building the guest: memory slots, the shim and its tables, the image,
//! the stack and the process, ready to run.

use super::*;

impl Sandbox {
    /// Builds the VM and loads `image` into it; nothing runs yet.
    pub fn new(image: &Image, config: Config) -> Result<Self, Error> {
        if config.mem == 0 || !config.mem.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadMem(config.mem));
        }
        // The image must fit in RAM: counted from the segment headers, before
        // anything is built for it.
        let image_pages = image.mapped_pages();
        if image_pages > config.mem / PAGE_SIZE {
            return Err(Error::TooBig {
                path: image.path.clone(),
                needed: image_pages,
                needed_kib: image_pages.saturating_mul(4),
                available: config.mem / PAGE_SIZE,
            });
        }
        let mut vm = Vm::new()?;
        let sys = Arc::new(HostMapping::new("system structures", SYS_SLOT_SIZE)?);
        let window = phys_window(config.mem, config.swap);
        let ram = Arc::new(HostMapping::new("RAM", window)?);
        vm.add_slot(0, &sys)?;
        vm.add_slot(RAM_GPA_BASE, &ram)?;
        let budget = Budget {
            resident_pages: config.rss_limit.unwrap_or(config.mem).min(config.mem) / PAGE_SIZE,
            swap_pages: config.swap / PAGE_SIZE,
        };
        let backing =
            Arc::new(Backing::new(ram, RAM_GPA_BASE, sys.clone(), image.bytes.clone(), config.backing, budget)?);

        // The shim and its tables.
        sys_write(&sys, SYS_SHIM_GPA, faultline_guest::SHIM_X86_64)?;
        let gdt: Vec<u8> = tables::gdt().iter().flat_map(|d| d.to_le_bytes()).collect();
        sys_write(&sys, SYS_GDT_GPA, &gdt)?;
        sys_write(&sys, SYS_IDT_GPA, &tables::idt())?;
        sys_write(&sys, SYS_TSS_GPA, &tables::tss())?;
        // [SYS_TABLES_GPA, end) of the system slot holds nothing but tables.
        let mut pt = PageTables::new(sys.clone(), 0, SYS_TABLES_GPA, SYS_SLOT_SIZE)?;
        // Ring 0 sees the shim (read-only), its descriptor tables (read-only:
        // accessed and busy bits are preset, so the CPU never writes them)
        // and the IST stack. Nothing else of the VMM's is mapped, the page
        // tables included.
        pt.map_kernel(SHIM_VA, SYS_SHIM_GPA, false, true)?;
        pt.map_kernel(GDT_VA, SYS_GDT_GPA, false, false)?;
        pt.map_kernel(IDT_VA, SYS_IDT_GPA, false, false)?;
        pt.map_kernel(TSS_VA, SYS_TSS_GPA, false, false)?;
        for i in 0..IST_PAGES {
            pt.map_kernel(IST_BASE_VA + i * PAGE_SIZE, SYS_IST_GPA + i * PAGE_SIZE, true, false)?;
        }

        // The program: every page mapped now, none backed until touched.
        let mut space = AddressSpace::new(pt, FrameAllocator::new(RAM_GPA_BASE, window), backing);
        let plan = plan_pages(image);
        let stack_pages = config.stack_size.div_ceil(PAGE_SIZE);
        for page in plan {
            let region = space.region(&page.region, RegionKind::Image);
            space.map_image_page(page.gva, page.perms, region, page.source)?;
        }
        let anchor = space.region("heap", RegionKind::Heap);
        for seg in &image.segments {
            let start = crate::arch::page_floor(seg.vaddr);
            let end = crate::arch::page_ceil(seg.end()).expect("validated below USER_TOP");
            let kind = VmaKind::Image { offset: crate::arch::page_floor(seg.offset) };
            space.add_image_vma(Vma::new(start, end, seg.perms, kind, anchor));
        }
        space.set_sections(image.sections.clone());
        let heap = anchor;
        let mmap_region = space.region("mmap", RegionKind::Mmap);
        let image_end = image.segments.iter().map(|s| s.end()).max().unwrap_or(0);
        let mut brk_start = crate::arch::page_ceil(image_end).expect("validated below USER_TOP");

        let mut argv = config.argv.clone();
        if argv.is_empty() {
            argv.push(image.path.clone());
        }
        let cpuid = vm
            .kvm()
            .get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)
            .map_err(crate::vm::kvm_err("get supported CPUID"))?;
        let hwcap = cpuid.as_slice().iter().find(|e| e.function == 1).map(|e| e.edx as u64).unwrap_or(0);
        let info = ExecInfo {
            execfn: argv[0].clone(),
            argv,
            envp: config.env.clone(),
            phdr: image.phdr,
            phent: image.phent,
            phnum: image.phnum,
            entry: image.entry,
            uid: 1000,
            gid: 1000,
            hwcap,
            random: random_bytes(),
        };
        let st = initial_stack(STACK_TOP, &info);
        if st.bytes.len() as u64 > config.stack_size / 4 {
            return Err(Error::Load(LoadError::Malformed {
                path: image.path.clone(),
                detail: "arguments and environment take more than a quarter of the stack".into(),
            }));
        }
        // The stack VMA starts as Linux's setup_arg_pages leaves it: the
        // argument pages plus 128 KiB; it grows down on faults up to
        // RLIMIT_STACK (Sandbox::grow_stack).
        let stack = space.region("stack", RegionKind::Stack);
        let initial =
            (crate::arch::page_ceil(st.bytes.len() as u64).expect("small") + STACK_EXPAND).min(stack_pages * PAGE_SIZE);
        let rw = crate::arch::Perms::new(true, true, false);
        space
            .map_anon(Vma { growsdown: true, ..Vma::new(STACK_TOP - initial, STACK_TOP, rw, VmaKind::Stack, stack) })?;

        let limits = Limits::new(config.stack_size, config.memlock_limit);
        let mut mmap_base = abi::mm::mmap_base(config.stack_size);
        if config.aslr {
            // arch_randomize_brk: within 32 MiB; mmap_rnd_bits = 28 pages.
            let r = u64::from_le_bytes(random_bytes()[..8].try_into().expect("8 bytes"));
            brk_start += (r % (32 << 20 >> 12)) << 12;
            mmap_base -= ((r >> 16) % (1 << 28)) << 12;
        }
        // /proc/self/exe is absolute (glibc asserts it).
        let exe = config.exe.clone().unwrap_or_else(|| match std::fs::canonicalize(&image.path) {
            Ok(p) => p.display().to_string(),
            Err(_) => format!("/{}", image.path.trim_start_matches('/')),
        });
        let mut task = Task::new(
            image.comm(),
            exe,
            space,
            config.stdin.clone(),
            config.stdout.clone(),
            config.stderr.clone(),
            brk_start,
            mmap_base,
            heap,
            mmap_region,
            limits,
        );
        task.strace = config.strace.clone();
        if let Some(out) = config.status.clone() {
            task.space.backing().set_reclaim_sink(Box::new(move |line| {
                let _ = out.write_all(format!("faultline: {line}\n").as_bytes());
            }));
        }
        for name in &config.pin {
            if !crate::abi::pin_region(&mut task, name) {
                return Err(Error::BadPin(name.clone()));
            }
        }
        if task.space.backing().oom().is_some() {
            return Err(Error::PinTooBig(config.pin.join(" ")));
        }

        let vcpu = vm.create_vcpu()?;
        vcpu.setup(vm.kvm(), &cpuid, task.space.tables().root_gpa(), image.entry, st.sp)?;
        let sb = Sandbox { vcpu, _vm: vm, task, sys, config };
        // Timeline times count from exec: the stack is the first thing built.
        sb.task.space.backing().set_start(Instant::now());
        sb.task
            .copy_to_user(st.sp, &st.bytes)
            .map_err(|e| Error::Shim(format!("cannot write the initial stack (errno {})", e.0)))?;
        Ok(sb)
    }
}
