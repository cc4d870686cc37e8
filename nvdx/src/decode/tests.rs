//! CPU tests of the decoder's pure logic and of the callback trampolines.

use std::ffi::c_void;

use nvdx_sys::cuvid::{
    cudaVideoChromaFormat, cudaVideoCodec, cudaVideoSurfaceFormat, CUVIDDECODECAPS, CUVIDEOFORMAT,
    CUVIDPARSERDISPINFO, CUVIDPICPARAMS,
};

use super::session::testing::Fake;
use super::session::{decode_cb, display_cb, sequence_cb};
use super::*;

#[test]
fn codec_and_chroma_mapping() {
    assert_eq!(cuda_codec(Codec::H264), cudaVideoCodec::cudaVideoCodec_H264);
    assert_eq!(cuda_codec(Codec::Hevc), cudaVideoCodec::cudaVideoCodec_HEVC);
    assert_eq!(cuda_codec(Codec::Vp9), cudaVideoCodec::cudaVideoCodec_VP9);
    assert_eq!(cuda_codec(Codec::Av1), cudaVideoCodec::cudaVideoCodec_AV1);
    assert_eq!(
        cuda_codec(Codec::Mpeg2),
        cudaVideoCodec::cudaVideoCodec_MPEG2
    );
    assert_eq!(
        cuda_codec(Codec::Mjpeg),
        cudaVideoCodec::cudaVideoCodec_JPEG
    );
    for c in [
        ChromaFormat::Monochrome,
        ChromaFormat::Yuv420,
        ChromaFormat::Yuv422,
        ChromaFormat::Yuv444,
    ] {
        assert_eq!(chroma_from_cuda(cuda_chroma(c)), c);
    }
    assert_eq!(
        cuda_chroma(ChromaFormat::Yuv444),
        cudaVideoChromaFormat::cudaVideoChromaFormat_444
    );
}

#[test]
fn output_format_by_bit_depth_and_chroma() {
    assert_eq!(
        default_output_format(ChromaFormat::Yuv420, 8),
        PixelFormat::Nv12
    );
    assert_eq!(
        default_output_format(ChromaFormat::Yuv420, 10),
        PixelFormat::P016
    );
    assert_eq!(
        default_output_format(ChromaFormat::Yuv444, 8),
        PixelFormat::Yuv444
    );
    assert_eq!(
        default_output_format(ChromaFormat::Yuv444, 12),
        PixelFormat::Yuv444_16
    );
    assert_eq!(
        default_output_format(ChromaFormat::Monochrome, 8),
        PixelFormat::Nv12
    );
    assert_eq!(
        surface_format(PixelFormat::P016),
        Some(cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_P016)
    );
    assert_eq!(
        surface_format(PixelFormat::Yuv444_16),
        Some(cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_YUV444_16Bit)
    );
    assert_eq!(surface_format(PixelFormat::Rgba), None);
}

fn fake_caps(codec: Codec, bit_depth: u8, supported: bool) -> DecoderCaps {
    let raw = CUVIDDECODECAPS {
        bIsSupported: u8::from(supported),
        nNumNVDECs: 7,
        nOutputFormatMask: 0b11, // NV12 | P016
        nMaxWidth: 4096,
        nMaxHeight: 4096,
        nMaxMBCount: 65536,
        nMinWidth: 48,
        nMinHeight: 16,
        ..Default::default()
    };
    DecoderCaps::from_raw(
        codec,
        ChromaFormat::Yuv420,
        bit_depth,
        &raw,
        "NVIDIA H100 80GB HBM3".into(),
    )
}

#[test]
fn caps_validation_names_the_limit() {
    let caps = fake_caps(Codec::H264, 8, true);
    assert!(caps.check(1920, 1080).is_ok());
    assert_eq!(caps.num_engines, 7);
    let e = caps.check(8192, 1080).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains("nMaxWidth 4096") && m.contains("8192x1080"),
        "{m}"
    );
    assert!(m.contains("H100"), "{m}");
    let m = caps.check(1920, 5000).unwrap_err().to_string();
    assert!(m.contains("nMaxHeight 4096"), "{m}");
    let m = caps.check(32, 16).unwrap_err().to_string();
    assert!(m.contains("minimum") && m.contains("48x16"), "{m}");
    let mut small_mb = caps.clone();
    small_mb.max_mb_count = 8160;
    let m = small_mb.check(4096, 2304).unwrap_err().to_string();
    assert!(m.contains("nMaxMBCount 8160"), "{m}");

    let av1 = fake_caps(Codec::Av1, 8, false);
    let m = av1.check(176, 144).unwrap_err().to_string();
    assert!(
        m.contains("AV1") && m.contains("not supported") && m.contains("H100"),
        "{m}"
    );
}

#[test]
fn output_format_choice_respects_the_mask() {
    let caps = fake_caps(Codec::Hevc, 10, true);
    assert_eq!(
        caps.output_formats(),
        vec![PixelFormat::Nv12, PixelFormat::P016]
    );
    assert_eq!(
        choose_output_format(None, &caps).unwrap(),
        PixelFormat::P016
    );
    assert_eq!(
        choose_output_format(Some(PixelFormat::Nv12), &caps).unwrap(),
        PixelFormat::Nv12
    );
    let e = choose_output_format(Some(PixelFormat::Yuv444), &caps).unwrap_err();
    assert!(e.to_string().contains("cannot output Yuv444"), "{e}");
    let mut c444 = caps.clone();
    c444.chroma = ChromaFormat::Yuv444;
    c444.bit_depth = 8;
    // No 4:4:4 output on this GPU: fall back to NV12.
    assert_eq!(
        choose_output_format(None, &c444).unwrap(),
        PixelFormat::Nv12
    );
}

#[test]
fn display_area_is_made_even_without_scaling() {
    let r = Rect {
        left: 0,
        top: 0,
        right: 1918,
        bottom: 1078,
    };
    assert_eq!(even_display_area(r, 1920, 1088), r);
    let odd = Rect {
        left: 0,
        top: 0,
        right: 1919,
        bottom: 1079,
    };
    let e = even_display_area(odd, 1920, 1088);
    assert_eq!((e.width(), e.height()), (1920, 1080));
    let edge = Rect {
        left: 0,
        top: 0,
        right: 175,
        bottom: 143,
    };
    let e = even_display_area(edge, 175, 143);
    assert_eq!((e.width(), e.height()), (174, 142));
}

#[test]
fn config_validation() {
    assert!(DecoderConfig::default().validate().is_ok());
    let bad = DecoderConfig {
        pool_size: 1,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    let bad = DecoderConfig {
        resize: Some((641, 480)),
        ..Default::default()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("even"));
    let bad = DecoderConfig {
        output_format: Some(PixelFormat::Rgba),
        ..Default::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn nv12_to_i420_deinterleaves_chroma() {
    // 4x2 picture: Y = 0..8, UV row = U0 V0 U1 V1.
    let nv12 = [0u8, 1, 2, 3, 4, 5, 6, 7, 10, 20, 11, 21];
    let mut out = Vec::new();
    nv12_to_i420(&nv12, 4, 2, 1, &mut out).unwrap();
    assert_eq!(out, vec![0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 20, 21]);
    // 16-bit samples keep their byte pairs.
    let p016 = [1u8, 0, 2, 0, 3, 0, 4, 0, 0xA, 0xB, 0xC, 0xD];
    let mut out = Vec::new();
    nv12_to_i420(&p016, 2, 2, 2, &mut out).unwrap();
    assert_eq!(out, vec![1, 0, 2, 0, 3, 0, 4, 0, 0xA, 0xB, 0xC, 0xD]);
    assert!(nv12_to_i420(&nv12[..5], 4, 2, 1, &mut out).is_err());
}

#[test]
fn nv12_crop_to_odd_size() {
    // 4x2 frame cropped to 3x1: chroma keeps 2 samples per plane.
    let nv12 = [0u8, 1, 2, 3, 4, 5, 6, 7, 10, 20, 11, 21];
    let mut out = Vec::new();
    nv12_crop_to_i420(&nv12, 4, 2, 3, 1, 1, &mut out).unwrap();
    assert_eq!(out, vec![0, 1, 2, 10, 11, 20, 21]);
}

#[test]
fn decode_status_mapping() {
    use nvdx_sys::cuvid::cuvidDecodeStatus as S;
    assert_eq!(
        DecodeStatus::from_raw(S::cuvidDecodeStatus_Success),
        DecodeStatus::Success
    );
    assert_eq!(
        DecodeStatus::from_raw(S::cuvidDecodeStatus_Error_Concealed),
        DecodeStatus::Concealed
    );
    assert_eq!(
        DecodeStatus::from_raw(S::cuvidDecodeStatus_Error),
        DecodeStatus::Error
    );
    assert_eq!(
        DecodeStatus::from_raw(S::cuvidDecodeStatus_Invalid),
        DecodeStatus::Unknown
    );
    assert!(DecodeStatus::Unknown.is_ok());
    assert!(!DecodeStatus::Concealed.is_ok());
}

#[test]
fn trampolines_catch_panics_and_store_the_error() {
    let mut fake = Fake {
        panic_in_sequence: true,
        ..Default::default()
    };
    let user = (&mut fake as *mut Fake).cast::<c_void>();
    let mut fmt = CUVIDEOFORMAT::default();
    // SAFETY: `user` points to a live Fake not otherwise borrowed during the call.
    let r = unsafe { sequence_cb::<Fake>(user, &mut fmt) };
    assert_eq!(r, 0);
    assert_eq!(fake.sequences, 1);
    let msg = fake
        .error
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        msg.contains("panic in the sequence callback") && msg.contains("boom in sequence"),
        "{msg}"
    );
    // Once failed, every callback refuses without calling the handler.
    let mut info = CUVIDPARSERDISPINFO::default();
    // SAFETY: as above.
    let r = unsafe { display_cb::<Fake>(user, &mut info) };
    assert_eq!(r, 0);
    assert_eq!(fake.displays, 0);
}

#[test]
fn trampolines_pass_values_and_errors() {
    let mut fake = Fake::default();
    let user = (&mut fake as *mut Fake).cast::<c_void>();
    let mut fmt = CUVIDEOFORMAT::default();
    let mut info = CUVIDPARSERDISPINFO::default();
    // SAFETY: `user` points to a live Fake not otherwise borrowed during the calls.
    unsafe {
        assert_eq!(sequence_cb::<Fake>(user, &mut fmt), 5);
        assert_eq!(display_cb::<Fake>(user, &mut info), 1);
        // End of stream: a null display info is fine.
        assert_eq!(display_cb::<Fake>(user, std::ptr::null_mut()), 1);
        // Null state: refuse, don't crash.
        assert_eq!(sequence_cb::<Fake>(std::ptr::null_mut(), &mut fmt), 0);
    }
    assert_eq!(fake.displays, 1);
    fake.fail_in_decode = true;
    let user = (&mut fake as *mut Fake).cast::<c_void>();
    let mut pic = CUVIDPICPARAMS::default();
    // SAFETY: as above.
    let r = unsafe { decode_cb::<Fake>(user, &mut pic) };
    assert_eq!(r, 0);
    assert!(matches!(fake.error, Some(Error::InvalidData(_))));
}

#[test]
fn nominal_frame_ticks_for_the_second_field() {
    use super::nominal_frame_ticks;
    assert_eq!(nominal_frame_ticks(Some((30, 1)), 15360), Some(512));
    assert_eq!(nominal_frame_ticks(Some((25, 1)), 1000), Some(40));
    // 29.97 in a 90 kHz timescale: 3003 ticks.
    assert_eq!(nominal_frame_ticks(Some((30000, 1001)), 90000), Some(3003));
    assert_eq!(nominal_frame_ticks(Some((30, 1)), 0), None);
    assert_eq!(nominal_frame_ticks(Some((0, 1)), 90000), None);
    assert_eq!(nominal_frame_ticks(None, 90000), None);
}
