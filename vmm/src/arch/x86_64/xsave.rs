//! The FPU state's memory image as a signal frame holds it
//! (`arch/x86/include/asm/fpu/types.h`, `uapi/asm/sigcontext.h`): the
//! legacy FXSAVE area, the software-reserved bytes the kernel leaves in it
//! to say an XSAVE image follows, and the XSAVE header after it.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `_fpx_sw_bytes.magic1`: an XSAVE image follows the legacy area.
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// The word after the XSAVE image that confirms its size.
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;

/// struct _fpx_sw_bytes: the FXSAVE area's software-reserved bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FpxSwBytes {
    pub magic1: u32,
    /// The image's size with FP_XSTATE_MAGIC2 after it.
    pub extended_size: u32,
    /// The features the image holds (XCR0).
    pub xfeatures: u64,
    pub xstate_size: u32,
    pub padding: [u32; 7],
}
const _: () = assert!(size_of::<FpxSwBytes>() == 48);

/// struct fxregs_state: the legacy (FXSAVE) area.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FxRegs {
    pub cwd: u16,
    pub swd: u16,
    pub twd: u16,
    pub fop: u16,
    pub rip: u64,
    pub rdp: u64,
    pub mxcsr: u32,
    pub mxcsr_mask: u32,
    pub st_space: [u32; 32],
    pub xmm_space: [u32; 64],
    pub padding: [u32; 12],
    pub sw_reserved: FpxSwBytes,
}
const _: () = assert!(size_of::<FxRegs>() == 512);

/// struct xstate_header: which components the image holds, and in what
/// format.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XstateHeader {
    pub xfeatures: u64,
    /// Non-zero for the compacted format (XSAVES), which no frame holds.
    pub xcomp_bv: u64,
    pub reserved: [u64; 6],
}
const _: () = assert!(size_of::<XstateHeader>() == 64);

/// The start of an XSAVE image: the legacy area and the header (the
/// extended components follow).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct XregsStart {
    pub i387: FxRegs,
    pub header: XstateHeader,
}
const _: () = assert!(size_of::<XregsStart>() == 576);
