//! CPU tests of the builder: every setting lands in the documented `NV_ENC_CONFIG` field.

use nvdx_sys::nvenc as sys;
use sys::NV_ENC_CONFIG;

use crate::codec::Codec;
use crate::encode::guid;
use crate::error::Error;
use crate::frame::PixelFormat;

use super::*;
use crate::encode::guid::guid_eq;
use sys::_NV_ENC_PARAMS_RC_MODE as M;

fn zeroed_preset() -> NV_ENC_CONFIG {
    NV_ENC_CONFIG::default()
}

fn h264(c: &NV_ENC_CONFIG) -> &sys::NV_ENC_CONFIG_H264 {
    // SAFETY: test configs for H.264 sessions use the h264Config member.
    unsafe { &c.encodeCodecConfig.h264Config }
}
fn hevc(c: &NV_ENC_CONFIG) -> &sys::NV_ENC_CONFIG_HEVC {
    // SAFETY: test configs for HEVC sessions use the hevcConfig member.
    unsafe { &c.encodeCodecConfig.hevcConfig }
}
fn av1(c: &NV_ENC_CONFIG) -> &sys::NV_ENC_CONFIG_AV1 {
    // SAFETY: test configs for AV1 sessions use the av1Config member.
    unsafe { &c.encodeCodecConfig.av1Config }
}

#[test]
fn every_preset_tuning_and_rate_control_sets_the_documented_fields() {
    for codec in [Codec::H264, Codec::Hevc, Codec::Av1] {
        for preset in Preset::ALL {
            for tuning in Tuning::ALL {
                let rcs: Vec<Option<RateControl>> = if tuning == Tuning::Lossless {
                    vec![None]
                } else {
                    RateControl::EXAMPLES.iter().copied().map(Some).collect()
                };
                for rc in rcs {
                    let mut cfg = EncoderConfig::new(codec, 1280, 720)
                        .frame_rate(60, 1)
                        .preset(preset)
                        .tuning(tuning)
                        .gop_length(120)
                        .repeat_headers(true);
                    if tuning != Tuning::UltraLowLatency {
                        cfg = cfg.b_frames(2);
                    }
                    if let Some(rc) = rc {
                        cfg = cfg.rate_control(rc);
                    }
                    let what = format!("{codec} {preset:?} {tuning:?} {rc:?}");
                    let b = cfg
                        .build(&zeroed_preset())
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let (i, c) = (&b.init, &*b.config);
                    assert_eq!(i.version, 0xf106_000c, "{what}");
                    assert_eq!(c.version, 0xf108_000c, "{what}");
                    assert!(std::ptr::eq(i.encodeConfig, c), "{what}");
                    assert!(guid_eq(&i.presetGUID, &preset.guid()), "{what}");
                    assert!(guid_eq(&i.encodeGUID, &cfg.codec_guid().unwrap()), "{what}");
                    assert_eq!(i.tuningInfo, tuning.raw(), "{what}");
                    assert_eq!((i.encodeWidth, i.encodeHeight), (1280, 720));
                    assert_eq!((i.darWidth, i.darHeight), (1280, 720));
                    assert_eq!((i.maxEncodeWidth, i.maxEncodeHeight), (1280, 720));
                    assert_eq!((i.frameRateNum, i.frameRateDen), (60, 1));
                    assert_eq!(i.enablePTD, 1);
                    assert_eq!(i.enableEncodeAsync, 0);
                    assert_eq!(
                        i.bufferFormat,
                        sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12
                    );
                    assert_eq!(c.gopLength, 120, "{what}");
                    let expect_p = if tuning == Tuning::UltraLowLatency {
                        1
                    } else {
                        3
                    };
                    assert_eq!(c.frameIntervalP, expect_p, "{what}");
                    let rcp = &c.rcParams;
                    match (tuning, rc) {
                        (Tuning::Lossless, _) => {
                            assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_CONSTQP);
                            assert_eq!(
                                (
                                    rcp.constQP.qpIntra,
                                    rcp.constQP.qpInterP,
                                    rcp.constQP.qpInterB
                                ),
                                (0, 0, 0)
                            );
                        }
                        (_, Some(RateControl::ConstQp { .. })) => {
                            assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_CONSTQP);
                            assert_eq!(
                                (
                                    rcp.constQP.qpIntra,
                                    rcp.constQP.qpInterP,
                                    rcp.constQP.qpInterB
                                ),
                                (20, 23, 25)
                            );
                        }
                        (_, Some(RateControl::Vbr { .. })) => {
                            assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_VBR);
                            assert_eq!(rcp.averageBitRate, 5_000_000);
                            assert_eq!(rcp.maxBitRate, 8_000_000);
                            assert_eq!(rcp.vbvBufferSize, 10_000_000);
                        }
                        (_, Some(RateControl::Cbr { .. })) => {
                            assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_CBR);
                            assert_eq!(rcp.averageBitRate, 4_000_000);
                            assert_eq!(rcp.maxBitRate, 4_000_000);
                            assert_eq!(rcp.vbvBufferSize, 133_333);
                        }
                        (_, None) => unreachable!(),
                    }
                    match codec {
                        Codec::H264 => {
                            let h = h264(c);
                            assert_eq!(h.idrPeriod, 120);
                            assert_eq!(h.repeatSPSPPS(), 1);
                            assert_eq!(h.chromaFormatIDC, 1);
                            let vui = &h.h264VUIParameters;
                            assert_eq!(vui.colourDescriptionPresentFlag, 1);
                            assert_eq!(vui.videoSignalTypePresentFlag, 1);
                            assert_eq!(vui.colourMatrix.0, 1);
                            assert_eq!(vui.colourPrimaries.0, 1);
                            assert_eq!(vui.transferCharacteristics.0, 1);
                            assert_eq!(vui.videoFullRangeFlag, 0);
                            if tuning == Tuning::Lossless {
                                assert_eq!(h.qpPrimeYZeroTransformBypassFlag(), 1);
                                assert!(guid_eq(&c.profileGUID, &guid::H264_PROFILE_HIGH_444));
                            } else {
                                assert_eq!(h.qpPrimeYZeroTransformBypassFlag(), 0);
                            }
                        }
                        Codec::Hevc => {
                            let h = hevc(c);
                            assert_eq!(h.idrPeriod, 120);
                            assert_eq!(h.repeatSPSPPS(), 1);
                            assert_eq!(h.chromaFormatIDC(), 1);
                            assert_eq!(h.pixelBitDepthMinus8(), 0);
                            assert_eq!(h.hevcVUIParameters.colourMatrix.0, 1);
                            assert_eq!(h.hevcVUIParameters.colourDescriptionPresentFlag, 1);
                        }
                        Codec::Av1 => {
                            let a = av1(c);
                            assert_eq!(a.idrPeriod, 120);
                            assert_eq!(a.repeatSeqHdr(), 1);
                            assert_eq!(a.chromaFormatIDC(), 1);
                            assert_eq!(a.matrixCoefficients.0, 1);
                            assert_eq!(a.colorPrimaries.0, 1);
                            assert_eq!(a.colorRange, 0);
                            assert!(guid_eq(&c.profileGUID, &guid::AV1_PROFILE_MAIN));
                        }
                        _ => unreachable!(),
                    }
                }
            }
        }
    }
}

#[test]
fn settings_apply_on_top_of_the_preset_and_keep_the_rest() {
    let mut preset = zeroed_preset();
    preset.gopLength = 250;
    preset.frameIntervalP = 4;
    preset.rcParams.rateControlMode = M::NV_ENC_PARAMS_RC_VBR;
    preset.rcParams.averageBitRate = 1234;
    preset.mvPrecision = sys::NV_ENC_MV_PRECISION::NV_ENC_MV_PRECISION_QUARTER_PEL;
    // Writing a Copy union field is safe; the HEVC member is the one an HEVC session reads.
    preset.encodeCodecConfig.hevcConfig.maxNumRefFramesInDPB = 5;
    let b = EncoderConfig::new(Codec::Hevc, 640, 480)
        .build(&preset)
        .unwrap();
    let c = &*b.config;
    assert_eq!(c.gopLength, 250);
    assert_eq!(c.frameIntervalP, 4);
    assert_eq!(c.rcParams.averageBitRate, 1234);
    assert_eq!(
        c.mvPrecision,
        sys::NV_ENC_MV_PRECISION::NV_ENC_MV_PRECISION_QUARTER_PEL
    );
    assert_eq!(hevc(c).maxNumRefFramesInDPB, 5);
    assert_eq!(
        hevc(c).idrPeriod,
        0,
        "no GOP asked: the preset's IDR period stays"
    );
}

#[test]
fn ten_bit_colour_zero_latency_level_lookahead() {
    let cfg = EncoderConfig::new(Codec::Hevc, 3840, 2160)
        .format(PixelFormat::P016)
        .colour(Some(ColourDescription {
            matrix: ColourMatrix::Bt2020,
            full_range: true,
        }))
        .level(153)
        .zero_latency(true)
        .adaptive_quantization(true)
        .max_size(4096, 2304);
    let b = cfg.build(&zeroed_preset()).unwrap();
    let c = &*b.config;
    let h = hevc(c);
    assert_eq!(h.pixelBitDepthMinus8(), 2);
    assert!(guid_eq(&c.profileGUID, &guid::HEVC_PROFILE_MAIN10));
    assert_eq!(h.level, 153);
    assert_eq!(h.hevcVUIParameters.colourMatrix.0, 9);
    assert_eq!(h.hevcVUIParameters.colourPrimaries.0, 9);
    assert_eq!(h.hevcVUIParameters.transferCharacteristics.0, 14);
    assert_eq!(h.hevcVUIParameters.videoFullRangeFlag, 1);
    assert_eq!(c.rcParams.zeroReorderDelay(), 1);
    assert_eq!(c.rcParams.enableAQ(), 1);
    assert_eq!(c.frameIntervalP, 1);
    assert_eq!(
        b.init.bufferFormat,
        sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_YUV420_10BIT
    );
    assert_eq!(
        (b.init.maxEncodeWidth, b.init.maxEncodeHeight),
        (4096, 2304)
    );

    let a = EncoderConfig::new(Codec::Av1, 1920, 1080)
        .format(PixelFormat::P016)
        .colour(Some(ColourDescription {
            matrix: ColourMatrix::Bt601,
            full_range: false,
        }))
        .lookahead(8)
        .b_frames(3)
        .build(&zeroed_preset())
        .unwrap();
    let av = av1(&a.config);
    assert_eq!(
        (av.pixelBitDepthMinus8(), av.inputPixelBitDepthMinus8()),
        (2, 2)
    );
    assert_eq!(av.matrixCoefficients.0, 6);
    assert_eq!(a.config.rcParams.enableLookahead(), 1);
    assert_eq!(a.config.rcParams.lookaheadDepth, 8);

    let none = EncoderConfig::new(Codec::H264, 1280, 720)
        .colour(None)
        .build(&zeroed_preset())
        .unwrap();
    assert_eq!(
        h264(&none.config)
            .h264VUIParameters
            .colourDescriptionPresentFlag,
        0
    );
}

#[test]
fn duplicate_relinks_the_config_pointer() {
    let b = EncoderConfig::new(Codec::H264, 1280, 720)
        .build(&zeroed_preset())
        .unwrap();
    let d = b.duplicate();
    assert!(std::ptr::eq(d.init.encodeConfig, &*d.config));
    assert!(!std::ptr::eq(d.init.encodeConfig, &*b.config));
    let moved = b;
    assert!(std::ptr::eq(moved.init.encodeConfig, &*moved.config));
}

#[test]
fn inconsistent_settings_are_rejected_before_the_driver() {
    let base = || EncoderConfig::new(Codec::H264, 1920, 1080);
    let bad: Vec<(EncoderConfig, &str)> = vec![
        (EncoderConfig::new(Codec::H264, 1921, 1080), "even"),
        (EncoderConfig::new(Codec::Hevc, 1920, 1081), "even"),
        (EncoderConfig::new(Codec::H264, 0, 1080), "empty"),
        (EncoderConfig::new(Codec::Vp9, 1920, 1080), "VP9"),
        (base().format(PixelFormat::Yuv444), "NV12, P016"),
        (base().format(PixelFormat::P016), "10-bit H.264"),
        (
            EncoderConfig::new(Codec::Hevc, 64, 64)
                .format(PixelFormat::P016)
                .profile(Profile::HevcMain),
            "Main10",
        ),
        (base().profile(Profile::HevcMain), "not a H.264 profile"),
        (base().frame_rate(0, 1), "frame rate"),
        (base().zero_latency(true).b_frames(2), "zero latency"),
        (base().zero_latency(true).lookahead(4), "zero latency"),
        (
            base().tuning(Tuning::UltraLowLatency).b_frames(1),
            "ultra-low",
        ),
        (
            base()
                .tuning(Tuning::Lossless)
                .rate_control(RateControl::EXAMPLES[1]),
            "lossless",
        ),
        (
            base().tuning(Tuning::Lossless).profile(Profile::H264High),
            "High 4:4:4",
        ),
        (
            base().rate_control(RateControl::Vbr {
                average_bitrate: 5,
                max_bitrate: 4,
                vbv_buffer_size: None,
            }),
            "VBR",
        ),
        (
            base().rate_control(RateControl::Cbr {
                bitrate: 0,
                vbv_buffer_size: None,
            }),
            "CBR",
        ),
        (
            base().rate_control(RateControl::Cbr {
                bitrate: 1,
                vbv_buffer_size: Some(0),
            }),
            "VBV",
        ),
        (
            base().rate_control(RateControl::ConstQp {
                intra: 300,
                inter_p: 1,
                inter_b: 1,
            }),
            "QP",
        ),
        (base().lookahead(30).b_frames(3), "lookahead"),
        (base().gop_length(0), "GOP"),
        (base().gop_length(3).b_frames(3), "GOP"),
        (base().max_size(1280, 720), "max size"),
    ];
    for (cfg, needle) in bad {
        let e = cfg
            .build(&zeroed_preset())
            .err()
            .unwrap_or_else(|| panic!("{cfg:?} accepted"));
        assert!(
            matches!(e, Error::InvalidArgument(_) | Error::Unsupported(_)),
            "{e:?}"
        );
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    assert!(base().tuning(Tuning::Lossless).check().is_ok());
    // nvEncodeAPI.h: frameIntervalP must be 1 with an infinite GOP (issue 15, defect 4).
    let e = base().gop_length(u32::MAX).b_frames(3).check().unwrap_err();
    assert!(e.to_string().contains("infinite GOP"), "{e}");
    assert!(base().gop_length(u32::MAX).b_frames(0).check().is_ok());
    let mut preset = zeroed_preset();
    preset.frameIntervalP = 3; // a preset with B-frames
    let c = base().gop_length(u32::MAX).apply(&preset).unwrap();
    assert_eq!((c.gopLength, c.frameIntervalP), (u32::MAX, 1));
}

/// Issue 15, defect 7: `None` VBV fields mean the driver default, also when applied on top of
/// a config that had a custom VBV (reconfiguration starts from the running config).
#[test]
fn none_vbv_resets_to_the_default() {
    let mut rc = nvdx_sys::nvenc::NV_ENC_RC_PARAMS::default();
    RateControl::Cbr {
        bitrate: 4_000_000,
        vbv_buffer_size: Some(1_000_000),
    }
    .apply(&mut rc);
    assert_eq!(
        (rc.vbvBufferSize, rc.vbvInitialDelay),
        (1_000_000, 1_000_000)
    );
    RateControl::Vbr {
        average_bitrate: 2_000_000,
        max_bitrate: 3_000_000,
        vbv_buffer_size: None,
    }
    .apply(&mut rc);
    assert_eq!((rc.vbvBufferSize, rc.vbvInitialDelay), (0, 0));
    assert_eq!((rc.averageBitRate, rc.maxBitRate), (2_000_000, 3_000_000));
}
