//! The crate's error type.
//!
//! Every fallible call returns [`Result`]. Driver failures keep the raw status together with its
//! name and description, so a log line says both what went wrong and where to look; load,
//! unsupported and argument errors are separate variants whose messages say what to do.

use nvdx_sys::cuda::CUresult;

/// Shorthand for `std::result::Result<T, nvdx::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in nvdx.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A CUDA driver API call failed.
    #[error("{call} failed: {name} ({code}): {description}")]
    Cuda {
        /// The driver function that failed.
        call: &'static str,
        /// The raw `CUresult`.
        code: u32,
        /// `cuGetErrorName`, e.g. `CUDA_ERROR_OUT_OF_MEMORY`.
        name: String,
        /// `cuGetErrorString`.
        description: String,
    },
    /// An NVDEC (nvcuvid) call failed. NVDEC returns CUDA status codes.
    #[error("NVDEC {call} failed: {name} ({code}): {description}")]
    Nvdec {
        /// The nvcuvid function that failed.
        call: &'static str,
        /// The raw `CUresult`.
        code: u32,
        /// Name of the status.
        name: String,
        /// What it means, with a hint where nvdx knows one.
        description: String,
    },
    /// An NVENC call failed.
    #[error("NVENC {call} failed: {name} ({code}){}{}", if detail.is_empty() { "" } else { ": " }, detail)]
    Nvenc {
        /// The NVENC function that failed.
        call: &'static str,
        /// The raw `NVENCSTATUS`.
        code: u32,
        /// Name of the status, e.g. `NV_ENC_ERR_NO_ENCODE_DEVICE`.
        name: &'static str,
        /// `nvEncGetLastErrorString` and/or nvdx's explanation.
        detail: String,
    },
    /// A driver library could not be loaded (no driver, or a container without `video`).
    #[error(transparent)]
    Load(#[from] nvdx_sys::LoadError),
    /// The installed driver lacks a function nvdx needs.
    #[error(transparent)]
    MissingSymbol(#[from] nvdx_sys::MissingSymbol),
    /// The GPU, driver or library does not support what was asked (codec, size, feature).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An argument is out of range or inconsistent; the message names it.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Input data (a file, a packet) is malformed or truncated.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A pool had no free frame (non-blocking acquire) or a blocking acquire timed out.
    #[error("frame pool exhausted: all {capacity} frames are in use; drop frames sooner or make the pool larger (2-16)")]
    PoolExhausted {
        /// The pool's size.
        capacity: usize,
    },
    /// A decoder session hit an error earlier (e.g. in a parser callback) and must be reset.
    #[error("decoder: {0}")]
    Decode(String),
    /// An object was used after a failure left it unusable, or in the wrong state.
    #[error("invalid state: {0}")]
    InvalidState(String),
}

impl Error {
    /// Builds [`Error::Cuda`] for `status`, looking up its name and description in the driver.
    pub fn cuda(call: &'static str, status: CUresult) -> Self {
        let (name, description) = describe_cuda(status);
        Error::Cuda {
            call,
            code: status.0,
            name,
            description,
        }
    }

    /// Builds [`Error::Nvdec`] for a failing nvcuvid call.
    pub fn nvdec(call: &'static str, status: CUresult) -> Self {
        let (name, mut description) = describe_cuda(status);
        if status == CUresult::CUDA_ERROR_NO_DEVICE || status == CUresult::CUDA_ERROR_NOT_SUPPORTED
        {
            description.push_str(
                "; check the codec, bit depth, chroma format and size against `nvdx::decode::capabilities`",
            );
        }
        Error::Nvdec {
            call,
            code: status.0,
            name,
            description,
        }
    }

    /// The raw `CUresult` for CUDA and NVDEC errors.
    pub fn cuda_code(&self) -> Option<u32> {
        match self {
            Error::Cuda { code, .. } | Error::Nvdec { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Name and description of a `CUresult`, from the driver when it is loaded, else a fallback.
pub(crate) fn describe_cuda(status: CUresult) -> (String, String) {
    let from_driver = crate::cu::get_error_name(status)
        .and_then(|n| Some((n, crate::cu::get_error_string(status)?)));
    from_driver.unwrap_or_else(|| {
        (
            fallback_name(status).to_owned(),
            "no description (driver not loaded)".to_owned(),
        )
    })
}

fn fallback_name(status: CUresult) -> &'static str {
    match status {
        CUresult::CUDA_SUCCESS => "CUDA_SUCCESS",
        CUresult::CUDA_ERROR_INVALID_VALUE => "CUDA_ERROR_INVALID_VALUE",
        CUresult::CUDA_ERROR_OUT_OF_MEMORY => "CUDA_ERROR_OUT_OF_MEMORY",
        CUresult::CUDA_ERROR_NOT_INITIALIZED => "CUDA_ERROR_NOT_INITIALIZED",
        CUresult::CUDA_ERROR_NO_DEVICE => "CUDA_ERROR_NO_DEVICE",
        CUresult::CUDA_ERROR_INVALID_DEVICE => "CUDA_ERROR_INVALID_DEVICE",
        CUresult::CUDA_ERROR_INVALID_CONTEXT => "CUDA_ERROR_INVALID_CONTEXT",
        CUresult::CUDA_ERROR_NOT_SUPPORTED => "CUDA_ERROR_NOT_SUPPORTED",
        CUresult::CUDA_ERROR_NOT_READY => "CUDA_ERROR_NOT_READY",
        CUresult::CUDA_ERROR_LAUNCH_FAILED => "CUDA_ERROR_LAUNCH_FAILED",
        CUresult::CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED => {
            "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED"
        }
        CUresult::CUDA_ERROR_PEER_ACCESS_UNSUPPORTED => "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED",
        CUresult::CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE => "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
        _ => "CUDA_ERROR_UNKNOWN_CODE",
    }
}

/// Checks a `CUresult` (or a missing symbol) from a driver call.
pub(crate) fn check(
    call: &'static str,
    r: std::result::Result<CUresult, nvdx_sys::MissingSymbol>,
) -> Result<()> {
    let status = r?;
    if status == CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(Error::cuda(call, status))
    }
}

/// Like [`check`] for nvcuvid calls.
pub(crate) fn check_nvdec(
    call: &'static str,
    r: std::result::Result<CUresult, nvdx_sys::MissingSymbol>,
) -> Result<()> {
    let status = r?;
    if status == CUresult::CUDA_SUCCESS {
        Ok(())
    } else {
        Err(Error::nvdec(call, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_error_carries_code_and_name() {
        let e = Error::cuda("cuMemAlloc_v2", CUresult::CUDA_ERROR_OUT_OF_MEMORY);
        assert_eq!(e.cuda_code(), Some(2));
        let msg = e.to_string();
        assert!(msg.contains("cuMemAlloc_v2"), "{msg}");
        assert!(msg.contains("CUDA_ERROR_OUT_OF_MEMORY"), "{msg}");
    }

    #[test]
    fn check_maps_success_and_failure() {
        assert!(check("x", Ok(CUresult::CUDA_SUCCESS)).is_ok());
        let e = check("cuInit", Ok(CUresult::CUDA_ERROR_NO_DEVICE)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Cuda {
                    code: 100,
                    call: "cuInit",
                    ..
                }
            ),
            "{e:?}"
        );
        let missing = nvdx_sys::MissingSymbol {
            library: "libcuda",
            symbol: "cuFoo",
        };
        let e = check("cuFoo", Err(missing)).unwrap_err();
        assert!(e.to_string().contains("cuFoo"), "{e}");
    }

    #[test]
    fn nvdec_errors_hint_at_capabilities() {
        let e = Error::nvdec("cuvidCreateDecoder", CUresult::CUDA_ERROR_NOT_SUPPORTED);
        assert!(e.to_string().contains("capabilities"), "{e}");
    }

    #[test]
    fn nvenc_error_message() {
        let e = Error::Nvenc {
            call: "nvEncOpenEncodeSessionEx",
            code: 2,
            name: "NV_ENC_ERR_NO_ENCODE_DEVICE",
            detail: "NVIDIA H100 has no NVENC engine".into(),
        };
        assert_eq!(e.to_string(), "NVENC nvEncOpenEncodeSessionEx failed: NV_ENC_ERR_NO_ENCODE_DEVICE (2): NVIDIA H100 has no NVENC engine");
    }
}
