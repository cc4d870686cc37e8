//! Library loading without a GPU: missing libraries and missing symbols are errors, not panics.

use nvdx_sys::cuda::CUresult;
use nvdx_sys::{open_cuda, open_cuvid, open_nvenc, Library};

#[test]
fn missing_library_names_the_path_and_says_what_to_do() {
    let e = open_cuda(Some("/nonexistent/libcuda.so.1")).unwrap_err();
    assert_eq!(e.library, Library::Cuda);
    let msg = e.to_string();
    assert!(msg.contains("/nonexistent/libcuda.so.1"), "{msg}");
    assert!(msg.contains("install the NVIDIA driver"), "{msg}");

    let msg = open_cuvid(Some("/nonexistent/libnvcuvid.so.1"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("libnvcuvid.so.1") && msg.contains("NVIDIA_DRIVER_CAPABILITIES"),
        "{msg}"
    );
    let msg = open_nvenc(Some("/nonexistent/libnvidia-encode.so.1"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("libnvidia-encode.so.1") && msg.contains("video"),
        "{msg}"
    );
}

#[test]
fn override_variables_are_distinct() {
    assert_eq!(Library::Cuda.override_var(), "NVDX_LIBCUDA_PATH");
    assert_eq!(Library::Nvcuvid.override_var(), "NVDX_LIBNVCUVID_PATH");
    assert_eq!(
        Library::NvidiaEncode.override_var(),
        "NVDX_LIBNVIDIA_ENCODE_PATH"
    );
}

/// A real shared library that is not libcuda loads, and every call into it reports the missing
/// symbol by name instead of crashing.
#[test]
fn missing_symbol_is_an_error_naming_it() {
    let libc = ["libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"]
        .into_iter()
        .find_map(|p| open_cuda(Some(p)).ok());
    let Some(fake) = libc else {
        panic!("libc.so.6 should be loadable on any Linux test machine");
    };
    assert!(!fake.has_cuInit());
    // SAFETY: the call is never made: the symbol is absent and the wrapper returns early.
    let e = unsafe { fake.cuInit(0) }.unwrap_err();
    assert_eq!(e.symbol, "cuInit");
    assert!(e.to_string().contains("does not export `cuInit`"), "{e}");
    // SAFETY: as above.
    let e = unsafe { fake.cuMemAlloc_v2(std::ptr::null_mut(), 16) }.unwrap_err();
    assert_eq!(e.symbol, "cuMemAlloc_v2");
}

#[test]
fn generated_constants_and_layouts() {
    assert_eq!(CUresult::CUDA_SUCCESS.0, 0);
    assert_eq!(CUresult::CUDA_ERROR_OUT_OF_MEMORY.0, 2);
    assert_eq!(
        nvdx_sys::nvenc::_NVENCSTATUS::NV_ENC_ERR_NO_ENCODE_DEVICE.0,
        1
    );
    // Spot checks of struct layouts the safe layer depends on (bindgen's own layout assertions
    // are compiled into the generated modules and fail the build if the ABI drifts).
    assert_eq!(std::mem::size_of::<nvdx_sys::cuda::CUDA_MEMCPY2D>(), 128);
    assert_eq!(
        std::mem::size_of::<nvdx_sys::cuvid::CUVIDPARSERDISPINFO>(),
        24
    );
    assert_eq!(std::mem::size_of::<nvdx_sys::cuda::CUuuid>(), 16);
}
