//! The raw NVENC session: the opened encoder handle with its function list, its capability
//! queries, and resource registration through it.

use std::ffi::{c_void, CStr};

use nvdx_sys::nvenc as sys;
use sys::{_NVENCSTATUS as S, NVENCSTATUS, NV_ENCODE_API_FUNCTION_LIST};

use super::registry::{Registrar, ResourceKey};
use super::version::*;
use super::{guid, status};

use super::{buffer_format, missing, EncoderCaps};
use crate::codec::Codec;
use crate::context::Context;
use crate::error::{Error, Result};

/// An open NVENC session handle with its function list; destroyed on drop.
pub(super) struct Session {
    pub(super) fns: Box<NV_ENCODE_API_FUNCTION_LIST>,
    pub(super) handle: *mut c_void,
    pub(super) ctx: Context,
    pub(super) gpu_name: String,
    /// What does the encoding: "NVENC on <GPU>", or the test double's own name.
    pub(super) engine: String,
    pub(super) api: ApiVersion,
}

/// The prefix of the NVENC double's name (its sessions start with this as their last-error
/// string, which is how nvdx tells it from NVIDIA's library).
pub(super) const DOUBLE_PREFIX: &str = "NVENC double";

/// Who answers for a session in nvdx's messages: the GPU for NVIDIA's library, or the double
/// (naming the GPU it runs on), so that nothing the double says reads as a statement about
/// NVENC hardware.
pub(super) fn subject(engine: &str, gpu_name: &str) -> String {
    if engine.starts_with(DOUBLE_PREFIX) {
        format!("{engine} on {gpu_name}")
    } else {
        gpu_name.to_owned()
    }
}

/// The error for a codec the session cannot encode; `encodes` are the codecs it offers.
pub(super) fn codec_missing(
    subject: &str,
    is_double: bool,
    codec: Codec,
    encodes: &[&str],
) -> Error {
    let list = if encodes.is_empty() {
        "nothing nvdx knows".to_owned()
    } else {
        encodes.join(", ")
    };
    let whose = if is_double { "it" } else { "its NVENC" };
    Error::Unsupported(format!(
        "{subject} cannot encode {codec}; {whose} encodes {list}"
    ))
}

/// `nvEncOpenEncodeSessionEx`; a failed open that still returned a handle is destroyed, as
/// the header requires ("the client must call nvEncDestroyEncoder ... even if the open
/// failed"). Separate from [`Session::open`] so that a fake function list can test it.
pub(super) fn open_handle(
    fns: &NV_ENCODE_API_FUNCTION_LIST,
    device: *mut c_void,
    api: ApiVersion,
    gpu_name: &str,
) -> Result<*mut c_void> {
    let mut p = sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS {
        version: NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER,
        deviceType: sys::_NV_ENC_DEVICE_TYPE::NV_ENC_DEVICE_TYPE_CUDA,
        device,
        apiVersion: api.to_api_field(),
        ..Default::default()
    };
    let mut handle: *mut c_void = std::ptr::null_mut();
    // SAFETY: `p` is a filled, versioned parameter block and `handle` a valid out-pointer;
    // the caller keeps the CUcontext retained for the session's life.
    let st = unsafe { nvcall!(fns, nvEncOpenEncodeSessionEx(&mut p, &mut handle)) };
    if st != S::NV_ENC_SUCCESS {
        if !handle.is_null() {
            if let Some(destroy) = fns.nvEncDestroyEncoder {
                // SAFETY: the handle the failed open returned, destroyed once and not used
                // afterwards.
                let _ = unsafe { destroy(handle) };
            }
        }
        return Err(status::open_session_error(st, gpu_name));
    }
    Ok(handle)
}

impl Session {
    pub(super) fn open(ctx: &Context) -> Result<Session> {
        let api = session_api_version()?;
        let lib = nvdx_sys::nvenc()?;
        let mut fns = Box::new(NV_ENCODE_API_FUNCTION_LIST {
            version: NV_ENCODE_API_FUNCTION_LIST_VER,
            ..Default::default()
        });
        // SAFETY: `fns` is a writable function list with its version set, as the call requires.
        let st = unsafe { lib.NvEncodeAPICreateInstance(&mut *fns) }?;
        if st != S::NV_ENC_SUCCESS {
            return Err(status::nvenc_error(
                "NvEncodeAPICreateInstance",
                st,
                String::new(),
            ));
        }
        let gpu_name = ctx
            .device()
            .name()
            .unwrap_or_else(|_| format!("GPU {}", ctx.device().ordinal()));
        let _g = ctx.bind()?;
        let handle = open_handle(&fns, ctx.raw().cast::<c_void>(), api, &gpu_name)?;
        let mut session = Session {
            fns,
            handle,
            ctx: ctx.clone(),
            engine: format!("NVENC on {gpu_name}"),
            gpu_name,
            api,
        };
        let first = session.last_error();
        if first.starts_with(DOUBLE_PREFIX) {
            session.engine = first;
        }
        Ok(session)
    }

    /// Destroys the encoder (once; later calls do nothing). The encoder calls it explicitly at
    /// the end of its `Drop`, after releasing everything and before any field (streams, the
    /// IO-stream storage) is dropped.
    pub(super) fn destroy(&mut self) {
        if self.handle.is_null() {
            return;
        }
        if let Some(f) = self.fns.nvEncDestroyEncoder {
            let _g = self.ctx.bind();
            // SAFETY: the handle came from a successful open and is destroyed exactly once
            // (nulled below).
            let _ = unsafe { f(self.handle) };
        }
        self.handle = std::ptr::null_mut();
    }

    /// The driver's last error text for this session.
    pub(super) fn last_error(&self) -> String {
        let Some(f) = self.fns.nvEncGetLastErrorString else {
            return String::new();
        };
        // SAFETY: the handle is a live session; the driver returns null or a NUL-terminated
        // string it owns, valid until the next call on the session.
        let p = unsafe { f(self.handle) };
        if p.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated (see above); copied out at once.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    pub(super) fn check(&self, call: &'static str, st: NVENCSTATUS) -> Result<()> {
        if st == S::NV_ENC_SUCCESS {
            Ok(())
        } else {
            Err(status::nvenc_error(call, st, self.last_error()))
        }
    }

    pub(super) fn codecs(&self) -> Result<Vec<sys::GUID>> {
        let mut n = 0u32;
        // SAFETY: live session; valid out-pointer.
        let st = unsafe { nvcall!(self.fns, nvEncGetEncodeGUIDCount(self.handle, &mut n)) };
        self.check("nvEncGetEncodeGUIDCount", st)?;
        let mut v = vec![sys::GUID::default(); n as usize];
        let mut got = 0u32;
        // SAFETY: `v` has room for `n` GUIDs, as the size argument says.
        let st = unsafe {
            nvcall!(
                self.fns,
                nvEncGetEncodeGUIDs(self.handle, v.as_mut_ptr(), n, &mut got)
            )
        };
        self.check("nvEncGetEncodeGUIDs", st)?;
        v.truncate(got as usize);
        Ok(v)
    }

    /// Fails with a specific error when the GPU cannot encode `codec`.
    pub(super) fn require_codec(&self, codec: Codec, guid: &sys::GUID) -> Result<()> {
        let have = self.codecs()?;
        if have.iter().any(|g| guid::guid_eq(g, guid)) {
            return Ok(());
        }
        let names: Vec<&str> = have
            .iter()
            .filter_map(|g| {
                [
                    (guid::CODEC_H264, "H.264"),
                    (guid::CODEC_HEVC, "HEVC"),
                    (guid::CODEC_AV1, "AV1"),
                ]
                .iter()
                .find(|(k, _)| guid::guid_eq(k, g))
                .map(|(_, n)| *n)
            })
            .collect();
        Err(codec_missing(
            &self.subject(),
            self.is_double(),
            codec,
            &names,
        ))
    }

    /// Whether the session runs on the NVENC double rather than NVIDIA's library.
    pub(super) fn is_double(&self) -> bool {
        self.engine.starts_with(DOUBLE_PREFIX)
    }

    /// Who answers for this session in messages (see [`subject`]).
    pub(super) fn subject(&self) -> String {
        subject(&self.engine, &self.gpu_name)
    }

    pub(super) fn caps(&self, codec_guid: sys::GUID) -> Result<EncoderCaps> {
        EncoderCaps::read(|c| {
            let mut p = sys::NV_ENC_CAPS_PARAM {
                version: NV_ENC_CAPS_PARAM_VER,
                capsToQuery: c,
                ..Default::default()
            };
            let mut v: i32 = 0;
            // SAFETY: live session; versioned parameter block and out-value valid for the call.
            let st = unsafe {
                nvcall!(
                    self.fns,
                    nvEncGetEncodeCaps(self.handle, codec_guid, &mut p, &mut v)
                )
            };
            // A capability this driver does not know (e.g. a newer enum value) reads as 0.
            if st == S::NV_ENC_ERR_INVALID_PARAM || st == S::NV_ENC_ERR_UNSUPPORTED_PARAM {
                return Ok(0);
            }
            self.check("nvEncGetEncodeCaps", st)?;
            Ok(v)
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// The registration parameters for `key`: a CUDA device pointer in the session's format.
/// NVENC requires the pitch of a `CUDADEVICEPTR` resource to be a multiple of 4.
pub(super) fn register_params(key: &ResourceKey) -> Result<sys::NV_ENC_REGISTER_RESOURCE> {
    let pitch = u32::try_from(key.pitch)
        .map_err(|_| Error::InvalidArgument(format!("pitch {} too large for NVENC", key.pitch)))?;
    if pitch % 4 != 0 {
        return Err(Error::InvalidArgument(format!(
            "NVENC needs a CUDA device pointer's pitch to be a multiple of 4, not {pitch}"
        )));
    }
    Ok(sys::NV_ENC_REGISTER_RESOURCE {
        version: NV_ENC_REGISTER_RESOURCE_VER,
        resourceType: sys::_NV_ENC_INPUT_RESOURCE_TYPE::NV_ENC_INPUT_RESOURCE_TYPE_CUDADEVICEPTR,
        width: key.width,
        height: key.height,
        pitch,
        resourceToRegister: key.ptr as *mut c_void,
        bufferFormat: buffer_format(key.format)?,
        bufferUsage: sys::_NV_ENC_BUFFER_USAGE::NV_ENC_INPUT_IMAGE,
        ..Default::default()
    })
}

/// NVENC registration through a session.
pub(super) struct NvRegistrar<'a> {
    pub(super) session: &'a Session,
}

impl Registrar for NvRegistrar<'_> {
    type Handle = sys::NV_ENC_REGISTERED_PTR;

    fn register(&mut self, key: &ResourceKey) -> Result<Self::Handle> {
        let mut p = register_params(key)?;
        // SAFETY: live session; the pointer is a device allocation of `pitch * rows` bytes
        // (a Frame), which the encoder keeps alive while it is registered and mapped.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncRegisterResource(self.session.handle, &mut p)
            )
        };
        self.session.check("nvEncRegisterResource", st)?;
        Ok(p.registeredResource)
    }

    fn unregister(&mut self, handle: Self::Handle) -> Result<()> {
        // SAFETY: `handle` came from nvEncRegisterResource on this session and is not mapped.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncUnregisterResource(self.session.handle, handle)
            )
        };
        self.session.check("nvEncUnregisterResource", st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn open_fails_with_handle(
        _p: *mut sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS,
        h: *mut *mut c_void,
    ) -> NVENCSTATUS {
        // SAFETY: the caller passes a valid out-pointer.
        unsafe { *h = 0x5e55 as *mut c_void };
        S::NV_ENC_ERR_OUT_OF_MEMORY
    }

    unsafe extern "C" fn destroy(h: *mut c_void) -> NVENCSTATUS {
        assert_eq!(h as usize, 0x5e55);
        DESTROYED.fetch_add(1, Ordering::SeqCst);
        S::NV_ENC_SUCCESS
    }

    /// Issue 15, defect 10: a failed open that returned a handle is destroyed.
    #[test]
    fn failed_open_with_a_handle_is_destroyed() {
        let fns = NV_ENCODE_API_FUNCTION_LIST {
            nvEncOpenEncodeSessionEx: Some(open_fails_with_handle),
            nvEncDestroyEncoder: Some(destroy),
            ..Default::default()
        };
        let e = open_handle(&fns, std::ptr::null_mut(), ApiVersion::BINDINGS, "GPU X").unwrap_err();
        assert!(
            e.to_string().contains("cannot open another encode session"),
            "{e}"
        );
        assert_eq!(DESTROYED.load(Ordering::SeqCst), 1);
    }

    /// Issue 15: what the double answers is labelled as the double's, never as the GPU's NVENC.
    #[test]
    fn messages_name_the_double_not_the_gpu() {
        let gpu = "NVIDIA H200";
        assert_eq!(subject("NVENC on NVIDIA H200", gpu), gpu);
        let d = subject("NVENC double (test stand-in)", gpu);
        assert_eq!(d, "NVENC double (test stand-in) on NVIDIA H200");
        let e = codec_missing(&d, true, Codec::Hevc, &["H.264"]).to_string();
        assert!(
            e.contains("NVENC double (test stand-in) on NVIDIA H200 cannot encode HEVC"),
            "{e}"
        );
        assert!(!e.contains("NVENC encodes"), "{e}");
        let e = codec_missing(gpu, false, Codec::Av1, &["H.264", "HEVC"]).to_string();
        assert!(
            e.contains("NVIDIA H200 cannot encode AV1; its NVENC encodes H.264, HEVC"),
            "{e}"
        );
    }

    /// Issue 15, defect 10: the registration pitch must be a multiple of 4.
    #[test]
    fn registration_pitch_must_be_a_multiple_of_four() {
        let key = |pitch| ResourceKey {
            alloc: 1,
            ptr: 0x1000,
            pitch,
            width: 64,
            height: 48,
            format: PixelFormat::Nv12,
        };
        let p = register_params(&key(512)).unwrap();
        assert_eq!((p.pitch, p.width, p.height), (512, 64, 48));
        assert_eq!(p.version, NV_ENC_REGISTER_RESOURCE_VER);
        let e = register_params(&key(66)).unwrap_err();
        assert!(e.to_string().contains("multiple of 4"), "{e}");
    }
}
