//! The thin checked layer over NVDEC (`libnvcuvid`): one function per `cuvid*` call nvdx makes,
//! which binds the call's own name and maps its status with [`check_nvdec`] (so the error names
//! the call made, and carries NVDEC's capability hint), turning out-parameters into return
//! values. Outside this module no code calls the nvcuvid table directly; the CUDA driver calls
//! are in [`crate::cu`].
//!
//! Unlike the driver's handles, NVDEC's decoder, parser and lock handles are pointers to
//! library objects that are not validated: every function taking one is `unsafe` and asks for
//! a live handle. None of these bind a context: callers make the decoder's context current
//! where NVDEC needs it.

use std::ffi::c_int;

use nvdx_sys::cuda::{CUcontext, CUdeviceptr};
use nvdx_sys::cuvid::{
    CUvideoctxlock, CUvideodecoder, CUvideoparser, CUVIDDECODECAPS, CUVIDDECODECREATEINFO,
    CUVIDGETDECODESTATUS, CUVIDPARSERPARAMS, CUVIDPICPARAMS, CUVIDPROCPARAMS,
    CUVIDRECONFIGUREDECODERINFO, CUVIDSOURCEDATAPACKET,
};

use crate::error::{check_nvdec, Result};

/// `cuvidGetDecoderCaps`: fills the outputs of `caps` for the codec, chroma format and bit
/// depth set in it, on the current context's GPU.
pub(crate) fn get_decoder_caps(caps: &mut CUVIDDECODECAPS) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: `caps` is a valid, initialised CUVIDDECODECAPS that lives through the call.
    check_nvdec("cuvidGetDecoderCaps", unsafe {
        api.cuvidGetDecoderCaps(caps)
    })
}

/// `cuvidCtxLockCreate`: a lock for `ctx`, to hand to decoders. Destroy it with
/// [`ctx_lock_destroy`].
pub(crate) fn ctx_lock_create(ctx: CUcontext) -> Result<CUvideoctxlock> {
    let api = nvdx_sys::cuvid()?;
    let mut lock: CUvideoctxlock = std::ptr::null_mut();
    // SAFETY: `lock` is a valid out-parameter; the driver validates the context handle.
    check_nvdec("cuvidCtxLockCreate", unsafe {
        api.cuvidCtxLockCreate(&mut lock, ctx)
    })?;
    Ok(lock)
}

/// `cuvidCtxLockDestroy`.
///
/// # Safety
/// `lock` came from [`ctx_lock_create`], is destroyed once, and no decoder using it is alive.
pub(crate) unsafe fn ctx_lock_destroy(lock: CUvideoctxlock) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller.
    check_nvdec("cuvidCtxLockDestroy", unsafe {
        api.cuvidCtxLockDestroy(lock)
    })
}

/// `cuvidCreateVideoParser`.
///
/// # Safety
/// `params` is fully initialised, and its callbacks may be called with its `pUserData` from
/// [`parse_video_data`] until [`destroy_video_parser`]: the user data outlives the parser.
pub(crate) unsafe fn create_video_parser(params: &mut CUVIDPARSERPARAMS) -> Result<CUvideoparser> {
    let api = nvdx_sys::cuvid()?;
    let mut parser: CUvideoparser = std::ptr::null_mut();
    // SAFETY: guaranteed by the caller; `parser` is a valid out-parameter.
    check_nvdec("cuvidCreateVideoParser", unsafe {
        api.cuvidCreateVideoParser(&mut parser, params)
    })?;
    Ok(parser)
}

/// `cuvidDestroyVideoParser`.
///
/// # Safety
/// `parser` is live, owned by the caller and destroyed once.
pub(crate) unsafe fn destroy_video_parser(parser: CUvideoparser) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller.
    check_nvdec("cuvidDestroyVideoParser", unsafe {
        api.cuvidDestroyVideoParser(parser)
    })
}

/// `cuvidParseVideoData`: feeds `packet` to `parser`, which calls its callbacks from within.
///
/// # Safety
/// `parser` is live; `packet`'s payload is valid for the call; whatever the callbacks reach
/// through the parser's user data is not borrowed by the caller during the call.
pub(crate) unsafe fn parse_video_data(
    parser: CUvideoparser,
    packet: &mut CUVIDSOURCEDATAPACKET,
) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller.
    check_nvdec("cuvidParseVideoData", unsafe {
        api.cuvidParseVideoData(parser, packet)
    })
}

/// `cuvidCreateDecoder`, in the current context. Destroy it with [`destroy_decoder`].
///
/// # Safety
/// `info` is fully initialised and its lock (`vidLock`), if any, is live and outlives the
/// decoder.
pub(crate) unsafe fn create_decoder(info: &mut CUVIDDECODECREATEINFO) -> Result<CUvideodecoder> {
    let api = nvdx_sys::cuvid()?;
    let mut dec: CUvideodecoder = std::ptr::null_mut();
    // SAFETY: guaranteed by the caller; `dec` is a valid out-parameter.
    check_nvdec("cuvidCreateDecoder", unsafe {
        api.cuvidCreateDecoder(&mut dec, info)
    })?;
    Ok(dec)
}

/// `cuvidReconfigureDecoder`.
///
/// # Safety
/// `decoder` is live and owned by the caller, and none of its surfaces is mapped.
pub(crate) unsafe fn reconfigure_decoder(
    decoder: CUvideodecoder,
    info: &mut CUVIDRECONFIGUREDECODERINFO,
) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller; `info` lives through the call.
    check_nvdec("cuvidReconfigureDecoder", unsafe {
        api.cuvidReconfigureDecoder(decoder, info)
    })
}

/// `cuvidDestroyDecoder`.
///
/// # Safety
/// `decoder` is live, owned by the caller, destroyed once, and none of its surfaces is mapped.
pub(crate) unsafe fn destroy_decoder(decoder: CUvideodecoder) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller.
    check_nvdec("cuvidDestroyDecoder", unsafe {
        api.cuvidDestroyDecoder(decoder)
    })
}

/// `cuvidDecodePicture`.
///
/// # Safety
/// `decoder` is live, and `pic` is a valid picture description (as the parser hands out)
/// whose bitstream pointers are valid for the call.
pub(crate) unsafe fn decode_picture(
    decoder: CUvideodecoder,
    pic: &mut CUVIDPICPARAMS,
) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller.
    check_nvdec("cuvidDecodePicture", unsafe {
        api.cuvidDecodePicture(decoder, pic)
    })
}

/// `cuvidGetDecodeStatus` of decode surface `index`.
///
/// # Safety
/// `decoder` is live.
pub(crate) unsafe fn get_decode_status(
    decoder: CUvideodecoder,
    index: c_int,
) -> Result<CUVIDGETDECODESTATUS> {
    let api = nvdx_sys::cuvid()?;
    let mut st = CUVIDGETDECODESTATUS::default();
    // SAFETY: guaranteed by the caller; `st` is a valid out-parameter.
    check_nvdec("cuvidGetDecodeStatus", unsafe {
        api.cuvidGetDecodeStatus(decoder, index, &mut st)
    })?;
    Ok(st)
}

/// `cuvidMapVideoFrame64`: maps decode surface `index` (post-processed as `vpp` says, on
/// `vpp.output_stream`); returns the mapped address and its pitch. Unmap it with
/// [`unmap_video_frame`].
///
/// # Safety
/// `decoder` is live and its context current.
pub(crate) unsafe fn map_video_frame(
    decoder: CUvideodecoder,
    index: c_int,
    vpp: &mut CUVIDPROCPARAMS,
) -> Result<(CUdeviceptr, u32)> {
    let api = nvdx_sys::cuvid()?;
    let mut ptr: u64 = 0;
    let mut pitch: u32 = 0;
    // SAFETY: guaranteed by the caller; all out-parameters are valid.
    check_nvdec("cuvidMapVideoFrame64", unsafe {
        api.cuvidMapVideoFrame64(decoder, index, &mut ptr, &mut pitch, vpp)
    })?;
    Ok((ptr, pitch))
}

/// `cuvidUnmapVideoFrame64`.
///
/// # Safety
/// `ptr` was mapped from the live `decoder` by [`map_video_frame`], is unmapped once, and is
/// not used (by the host or by work not yet ordered before the unmap) afterwards.
pub(crate) unsafe fn unmap_video_frame(decoder: CUvideodecoder, ptr: CUdeviceptr) -> Result<()> {
    let api = nvdx_sys::cuvid()?;
    // SAFETY: guaranteed by the caller.
    check_nvdec("cuvidUnmapVideoFrame64", unsafe {
        api.cuvidUnmapVideoFrame64(decoder, ptr)
    })
}

#[cfg(test)]
mod tests {
    use nvdx_sys::cuda::CUresult;

    use crate::error::{check_nvdec, Error};

    #[test]
    fn nvdec_failures_name_the_call_and_carry_the_capability_hint() {
        let e =
            check_nvdec("cuvidCreateDecoder", Ok(CUresult::CUDA_ERROR_NOT_SUPPORTED)).unwrap_err();
        match e {
            Error::Nvdec {
                call, description, ..
            } => {
                assert_eq!(call, "cuvidCreateDecoder");
                assert!(description.contains("nvdx::decode::capabilities"));
            }
            other => panic!("expected an NVDEC error, got {other:?}"),
        }
    }
}
