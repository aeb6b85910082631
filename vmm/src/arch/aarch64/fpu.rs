//! A thread's FP/SIMD state (V0-V31, FPSR, FPCR) as faultline keeps it
//! between runs on a vCPU. The vCPU offers no SVE or SME, so this is all
//! of it, and a signal frame and a core dump carry it whole.

use zerocopy::IntoBytes;

use super::regs::UserFpsimdState;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FpuState(pub UserFpsimdState);

impl FpuState {
    /// NT_PRFPREG's bytes: user_fpsimd_state.
    pub fn image(&self, _cfg: &FpuConfig) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
}

/// Nothing about FP/SIMD varies between arm64 CPUs without SVE/SME.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FpuConfig {}
