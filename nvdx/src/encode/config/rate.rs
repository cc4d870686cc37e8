//! [`RateControl`]: the rate-control mode and its bitrates, as `NV_ENC_RC_PARAMS`.

use nvdx_sys::nvenc as sys;

use crate::error::{Error, Result};

/// Rate control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateControl {
    /// Constant QP per picture type (0-51 for H.264/HEVC, 0-255 for AV1).
    ConstQp {
        /// QP of I/IDR pictures.
        intra: u32,
        /// QP of P pictures.
        inter_p: u32,
        /// QP of B pictures.
        inter_b: u32,
    },
    /// Variable bitrate.
    Vbr {
        /// Average bitrate in bits/s.
        average_bitrate: u32,
        /// Peak bitrate in bits/s (>= the average).
        max_bitrate: u32,
        /// VBV (HRD) buffer size in bits; `None` keeps the driver's default.
        vbv_buffer_size: Option<u32>,
    },
    /// Constant bitrate.
    Cbr {
        /// Bitrate in bits/s.
        bitrate: u32,
        /// VBV (HRD) buffer size in bits; `None` keeps the driver's default. For low-latency
        /// streaming, one frame's worth (`bitrate * den / num`) caps every frame's size.
        vbv_buffer_size: Option<u32>,
    },
}

impl RateControl {
    /// All rate-control kinds with example values (used by tests and benches).
    pub const EXAMPLES: [RateControl; 3] = [
        RateControl::ConstQp {
            intra: 20,
            inter_p: 23,
            inter_b: 25,
        },
        RateControl::Vbr {
            average_bitrate: 5_000_000,
            max_bitrate: 8_000_000,
            vbv_buffer_size: Some(10_000_000),
        },
        RateControl::Cbr {
            bitrate: 4_000_000,
            vbv_buffer_size: Some(133_333),
        },
    ];

    pub(super) fn vbv(&self) -> Option<u32> {
        match *self {
            RateControl::ConstQp { .. } => None,
            RateControl::Vbr {
                vbv_buffer_size, ..
            }
            | RateControl::Cbr {
                vbv_buffer_size, ..
            } => vbv_buffer_size,
        }
    }

    /// Writes the rate control into `rc`.
    pub(crate) fn apply(&self, rc: &mut sys::NV_ENC_RC_PARAMS) {
        use sys::_NV_ENC_PARAMS_RC_MODE as M;
        match *self {
            RateControl::ConstQp {
                intra,
                inter_p,
                inter_b,
            } => {
                rc.rateControlMode = M::NV_ENC_PARAMS_RC_CONSTQP;
                rc.constQP = sys::NV_ENC_QP {
                    qpInterP: inter_p,
                    qpInterB: inter_b,
                    qpIntra: intra,
                };
            }
            RateControl::Vbr {
                average_bitrate,
                max_bitrate,
                vbv_buffer_size,
            } => {
                rc.rateControlMode = M::NV_ENC_PARAMS_RC_VBR;
                rc.averageBitRate = average_bitrate;
                rc.maxBitRate = max_bitrate;
                // None means the driver's default (0), not whatever was set before (a
                // reconfiguration starts from the running config).
                rc.vbvBufferSize = vbv_buffer_size.unwrap_or(0);
                rc.vbvInitialDelay = vbv_buffer_size.unwrap_or(0);
            }
            RateControl::Cbr {
                bitrate,
                vbv_buffer_size,
            } => {
                rc.rateControlMode = M::NV_ENC_PARAMS_RC_CBR;
                rc.averageBitRate = bitrate;
                rc.maxBitRate = bitrate;
                // None means the driver's default (0), not whatever was set before (a
                // reconfiguration starts from the running config).
                rc.vbvBufferSize = vbv_buffer_size.unwrap_or(0);
                rc.vbvInitialDelay = vbv_buffer_size.unwrap_or(0);
            }
        }
    }

    pub(super) fn check(&self) -> Result<()> {
        match *self {
            RateControl::ConstQp {
                intra,
                inter_p,
                inter_b,
            } => {
                if intra.max(inter_p).max(inter_b) > 255 {
                    return Err(Error::InvalidArgument(format!(
                        "constant QP ({intra}, {inter_p}, {inter_b}) out of range 0..=255"
                    )));
                }
            }
            RateControl::Vbr {
                average_bitrate,
                max_bitrate,
                ..
            } => {
                if average_bitrate == 0 || max_bitrate < average_bitrate {
                    return Err(Error::InvalidArgument(format!(
                        "VBR needs 0 < average bitrate ({average_bitrate}) <= max bitrate ({max_bitrate})"
                    )));
                }
            }
            RateControl::Cbr { bitrate, .. } => {
                if bitrate == 0 {
                    return Err(Error::InvalidArgument("CBR bitrate must be > 0".into()));
                }
            }
        }
        if self.vbv() == Some(0) {
            return Err(Error::InvalidArgument(
                "VBV buffer size 0: use None for the driver's default".into(),
            ));
        }
        Ok(())
    }
}
