//! A thread's FPU/SSE/AVX state as faultline keeps it between runs on a
//! vCPU, and what the VM's CPU makes of it (the XSAVE image's size and
//! XCR0, which signal frames and core dumps carry).

use kvm_bindings::kvm_xsave;
use zerocopy::IntoBytes;

/// The state, as KVM_GET_XSAVE gives it (the legacy 4 KiB area;
/// components needing KVM_GET_XSAVE2 are not offered to the guest).
#[derive(Default)]
pub struct FpuState(Box<kvm_xsave>);

impl Clone for FpuState {
    fn clone(&self) -> Self {
        // The fixed region is all the state: no flexible tail is used.
        FpuState(Box::new(kvm_xsave { region: self.0.region, ..Default::default() }))
    }
}

/// The XSAVE region: what a frame saves and a core dump writes.
pub type FpuRegion = [u32; 1024];

impl FpuState {
    pub fn from_kvm(x: kvm_xsave) -> Self {
        FpuState(Box::new(x))
    }

    pub fn kvm(&self) -> &kvm_xsave {
        &self.0
    }

    pub fn from_region(region: &FpuRegion) -> Self {
        let mut x = FpuState::default();
        x.0.region = *region;
        x
    }

    pub fn region(&self) -> &FpuRegion {
        &self.0.region
    }

    /// The bytes a core dump's NT_X86_XSTATE (and NT_PRFPREG, their first
    /// 512) holds.
    pub fn image(&self, cfg: &FpuConfig) -> Vec<u8> {
        self.0.region.as_bytes()[..cfg.xstate_size as usize].to_vec()
    }
}

/// What the VM's CPU offers: the XSAVE image's size for the states XCR0
/// enables, and XCR0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpuConfig {
    pub xstate_size: u32,
    pub xcr0: u64,
}

impl Default for FpuConfig {
    /// x87 and SSE only: FXSAVE's 512 bytes.
    fn default() -> Self {
        FpuConfig { xstate_size: 512, xcr0: 3 }
    }
}
