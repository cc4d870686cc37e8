//! `NVENCSTATUS` names and the specific errors nvdx builds from them.

use nvdx_sys::nvenc::{_NVENCSTATUS as S, NVENCSTATUS};

use crate::error::Error;

/// The name of an `NVENCSTATUS`, e.g. `NV_ENC_ERR_NO_ENCODE_DEVICE`.
pub fn status_name(status: NVENCSTATUS) -> &'static str {
    const NAMES: [&str; 27] = [
        "NV_ENC_SUCCESS",
        "NV_ENC_ERR_NO_ENCODE_DEVICE",
        "NV_ENC_ERR_UNSUPPORTED_DEVICE",
        "NV_ENC_ERR_INVALID_ENCODERDEVICE",
        "NV_ENC_ERR_INVALID_DEVICE",
        "NV_ENC_ERR_DEVICE_NOT_EXIST",
        "NV_ENC_ERR_INVALID_PTR",
        "NV_ENC_ERR_INVALID_EVENT",
        "NV_ENC_ERR_INVALID_PARAM",
        "NV_ENC_ERR_INVALID_CALL",
        "NV_ENC_ERR_OUT_OF_MEMORY",
        "NV_ENC_ERR_ENCODER_NOT_INITIALIZED",
        "NV_ENC_ERR_UNSUPPORTED_PARAM",
        "NV_ENC_ERR_LOCK_BUSY",
        "NV_ENC_ERR_NOT_ENOUGH_BUFFER",
        "NV_ENC_ERR_INVALID_VERSION",
        "NV_ENC_ERR_MAP_FAILED",
        "NV_ENC_ERR_NEED_MORE_INPUT",
        "NV_ENC_ERR_ENCODER_BUSY",
        "NV_ENC_ERR_EVENT_NOT_REGISTERD",
        "NV_ENC_ERR_GENERIC",
        "NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY",
        "NV_ENC_ERR_UNIMPLEMENTED",
        "NV_ENC_ERR_RESOURCE_REGISTER_FAILED",
        "NV_ENC_ERR_RESOURCE_NOT_REGISTERED",
        "NV_ENC_ERR_RESOURCE_NOT_MAPPED",
        "NV_ENC_ERR_NEED_MORE_OUTPUT",
    ];
    NAMES
        .get(status.0 as usize)
        .copied()
        .unwrap_or("NV_ENC_ERR_UNKNOWN_CODE")
}

/// A hint for statuses whose meaning nvdx can explain whatever the call.
fn generic_hint(status: NVENCSTATUS) -> &'static str {
    match status {
        // Every call goes through a session opened after API negotiation passed (the driver
        // implements 12.1 or newer), so the driver is not too old: nvdx passed the wrong
        // structure version for this call.
        S::NV_ENC_ERR_INVALID_VERSION => {
            "the driver rejected a structure version although it implements the negotiated NVENC \
             API 12.1: nvdx passed a wrong version for this call (a bug in nvdx; please report \
             it with the driver version)"
        }
        S::NV_ENC_ERR_UNSUPPORTED_PARAM => {
            "the GPU's encoder does not support this setting; compare the configuration with \
             `Encoder::capabilities`"
        }
        S::NV_ENC_ERR_INVALID_PARAM => "a parameter is out of range for this codec or GPU",
        S::NV_ENC_ERR_DEVICE_NOT_EXIST => {
            "the GPU is gone (reset or fell off the bus); destroy the session and open a new one"
        }
        _ => "",
    }
}

/// Builds [`Error::Nvenc`] for `status`, joining `detail` with nvdx's hint.
pub(crate) fn nvenc_error(call: &'static str, status: NVENCSTATUS, detail: String) -> Error {
    let hint = generic_hint(status);
    let detail = match (detail.is_empty(), hint.is_empty()) {
        (true, _) => hint.to_owned(),
        (false, true) => detail,
        (false, false) => format!("{detail}; {hint}"),
    };
    Error::Nvenc {
        call,
        code: status.0,
        name: status_name(status),
        detail,
    }
}

/// Whether an open-session status means "this GPU has no NVENC engine". Data-centre GPUs without
/// NVENC (A100, H100, H200) answer `NV_ENC_ERR_NO_ENCODE_DEVICE`; some drivers answer
/// `NV_ENC_ERR_UNSUPPORTED_DEVICE` for the same situation.
pub(crate) fn means_no_engine(status: NVENCSTATUS) -> bool {
    status == S::NV_ENC_ERR_NO_ENCODE_DEVICE || status == S::NV_ENC_ERR_UNSUPPORTED_DEVICE
}

/// The error for a failed `nvEncOpenEncodeSessionEx` on GPU `gpu_name`.
pub(crate) fn open_session_error(status: NVENCSTATUS, gpu_name: &str) -> Error {
    let name = status_name(status);
    let detail = if means_no_engine(status) {
        format!(
            "{gpu_name} has no NVENC engine ({name}); use an L4, L40S, A10 or RTX GPU for encoding"
        )
    } else if status == S::NV_ENC_ERR_OUT_OF_MEMORY
        || status == S::NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY
    {
        format!(
            "{gpu_name} cannot open another encode session ({name}): too many concurrent NVENC \
             sessions (GeForce and some workstation GPUs limit them per system), or the GPU is out \
             of memory; close other encoders (ffmpeg, OBS, other processes) or use a data-centre \
             GPU with NVENC (L4, L40S, A10)"
        )
    } else if status == S::NV_ENC_ERR_INVALID_VERSION {
        // Negotiation already checked that the driver implements 12.1 or newer.
        format!(
            "the NVIDIA driver on {gpu_name} reports NVENC API 12.1 or newer but rejected the \
             session parameters' version ({name}): a bug in nvdx's structure versions (please \
             report it with the driver version)"
        )
    } else {
        format!("opening an NVENC session on {gpu_name} failed ({name})")
    };
    Error::Nvenc {
        call: "nvEncOpenEncodeSessionEx",
        code: status.0,
        name,
        detail,
    }
}

/// Whether `err` is the "this GPU has no NVENC engine" error of [`super::Encoder::new`] (or of
/// a capability query). Tests and applications use it to skip or fall back to software encoding.
pub fn is_no_encoder(err: &Error) -> bool {
    matches!(
        err,
        Error::Nvenc { call: "nvEncOpenEncodeSessionEx", code, .. }
            if means_no_engine(NVENCSTATUS(*code))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_enum() {
        assert_eq!(status_name(S::NV_ENC_SUCCESS), "NV_ENC_SUCCESS");
        assert_eq!(
            status_name(S::NV_ENC_ERR_NO_ENCODE_DEVICE),
            "NV_ENC_ERR_NO_ENCODE_DEVICE"
        );
        assert_eq!(
            status_name(S::NV_ENC_ERR_UNSUPPORTED_DEVICE),
            "NV_ENC_ERR_UNSUPPORTED_DEVICE"
        );
        assert_eq!(
            status_name(S::NV_ENC_ERR_OUT_OF_MEMORY),
            "NV_ENC_ERR_OUT_OF_MEMORY"
        );
        assert_eq!(
            status_name(S::NV_ENC_ERR_NEED_MORE_INPUT),
            "NV_ENC_ERR_NEED_MORE_INPUT"
        );
        assert_eq!(
            status_name(S::NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY),
            "NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY"
        );
        assert_eq!(
            status_name(S::NV_ENC_ERR_NEED_MORE_OUTPUT),
            "NV_ENC_ERR_NEED_MORE_OUTPUT"
        );
        assert_eq!(status_name(NVENCSTATUS(999)), "NV_ENC_ERR_UNKNOWN_CODE");
    }

    #[test]
    fn no_engine_error_names_the_gpu_and_what_to_use() {
        let e = open_session_error(S::NV_ENC_ERR_NO_ENCODE_DEVICE, "NVIDIA H100 80GB HBM3");
        assert!(is_no_encoder(&e));
        assert_eq!(
            e.to_string(),
            "NVENC nvEncOpenEncodeSessionEx failed: NV_ENC_ERR_NO_ENCODE_DEVICE (1): NVIDIA H100 \
             80GB HBM3 has no NVENC engine (NV_ENC_ERR_NO_ENCODE_DEVICE); use an L4, L40S, A10 or \
             RTX GPU for encoding"
        );
        let e = open_session_error(S::NV_ENC_ERR_UNSUPPORTED_DEVICE, "NVIDIA H200");
        assert!(is_no_encoder(&e));
        assert!(
            e.to_string().contains("NVIDIA H200 has no NVENC engine"),
            "{e}"
        );
    }

    #[test]
    fn session_limit_and_version_errors_are_specific() {
        for s in [
            S::NV_ENC_ERR_OUT_OF_MEMORY,
            S::NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY,
        ] {
            let e = open_session_error(s, "NVIDIA GeForce RTX 4090");
            assert!(!is_no_encoder(&e));
            assert!(
                e.to_string().contains("too many concurrent NVENC sessions"),
                "{e}"
            );
        }
        // Issue 15, defect 10: after negotiation passed, a version error is nvdx's, not the
        // driver's age.
        let e = open_session_error(S::NV_ENC_ERR_INVALID_VERSION, "NVIDIA L4");
        assert!(!e.to_string().contains("update the driver"), "{e}");
        assert!(e.to_string().contains("bug in nvdx"), "{e}");
        let e = nvenc_error(
            "nvEncLockBitstream",
            S::NV_ENC_ERR_INVALID_VERSION,
            String::new(),
        );
        assert!(!e.to_string().contains("update the driver"), "{e}");
        assert!(e.to_string().contains("bug in nvdx"), "{e}");
        let e = nvenc_error(
            "nvEncInitializeEncoder",
            S::NV_ENC_ERR_UNSUPPORTED_PARAM,
            String::new(),
        );
        assert!(e.to_string().contains("capabilities"), "{e}");
        assert!(!is_no_encoder(&e));
    }
}
