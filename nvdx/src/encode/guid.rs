//! The GUIDs of `nvEncodeAPI.h` (SDK 12.1). They are `static const GUID` in C, which bindgen
//! does not emit, so they are copied here from the header.

use nvdx_sys::nvenc::GUID;

const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> GUID {
    GUID {
        Data1: d1,
        Data2: d2,
        Data3: d3,
        Data4: d4,
    }
}

/// Whether two GUIDs are equal (bindgen's `GUID` has no `PartialEq`).
pub(crate) fn guid_eq(a: &GUID, b: &GUID) -> bool {
    a.Data1 == b.Data1 && a.Data2 == b.Data2 && a.Data3 == b.Data3 && a.Data4 == b.Data4
}

pub(crate) const CODEC_H264: GUID = guid(
    0x6bc82762,
    0x4e63,
    0x4ca4,
    [0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf],
);
pub(crate) const CODEC_HEVC: GUID = guid(
    0x790cdc88,
    0x4522,
    0x4d7b,
    [0x94, 0x25, 0xbd, 0xa9, 0x97, 0x5f, 0x76, 0x03],
);
pub(crate) const CODEC_AV1: GUID = guid(
    0x0a352289,
    0x0aa7,
    0x4759,
    [0x86, 0x2d, 0x5d, 0x15, 0xcd, 0x16, 0xd2, 0x54],
);

pub(crate) const PROFILE_AUTOSELECT: GUID = guid(
    0xbfd6f8e7,
    0x233c,
    0x4341,
    [0x8b, 0x3e, 0x48, 0x18, 0x52, 0x38, 0x03, 0xf4],
);
pub(crate) const H264_PROFILE_BASELINE: GUID = guid(
    0x0727bcaa,
    0x78c4,
    0x4c83,
    [0x8c, 0x2f, 0xef, 0x3d, 0xff, 0x26, 0x7c, 0x6a],
);
pub(crate) const H264_PROFILE_MAIN: GUID = guid(
    0x60b5c1d4,
    0x67fe,
    0x4790,
    [0x94, 0xd5, 0xc4, 0x72, 0x6d, 0x7b, 0x6e, 0x6d],
);
pub(crate) const H264_PROFILE_HIGH: GUID = guid(
    0xe7cbc309,
    0x4f7a,
    0x4b89,
    [0xaf, 0x2a, 0xd5, 0x37, 0xc9, 0x2b, 0xe3, 0x10],
);
pub(crate) const H264_PROFILE_HIGH_444: GUID = guid(
    0x7ac663cb,
    0xa598,
    0x4960,
    [0xb8, 0x44, 0x33, 0x9b, 0x26, 0x1a, 0x7d, 0x52],
);
pub(crate) const HEVC_PROFILE_MAIN: GUID = guid(
    0xb514c39a,
    0xb55b,
    0x40fa,
    [0x87, 0x8f, 0xf1, 0x25, 0x3b, 0x4d, 0xfd, 0xec],
);
pub(crate) const HEVC_PROFILE_MAIN10: GUID = guid(
    0xfa4d2b6c,
    0x3a5b,
    0x411a,
    [0x80, 0x18, 0x0a, 0x3f, 0x5e, 0x3c, 0x9b, 0xe5],
);
pub(crate) const HEVC_PROFILE_FREXT: GUID = guid(
    0x51ec32b5,
    0x1b4c,
    0x453c,
    [0x9c, 0xbd, 0xb6, 0x16, 0xbd, 0x62, 0x13, 0x41],
);
pub(crate) const AV1_PROFILE_MAIN: GUID = guid(
    0x5f2a39f5,
    0xf14e,
    0x4f95,
    [0x9a, 0x9e, 0xb7, 0x6d, 0x56, 0x8f, 0xcf, 0x97],
);

pub(crate) const PRESET_P1: GUID = guid(
    0xfc0a8d3e,
    0x45f8,
    0x4cf8,
    [0x80, 0xc7, 0x29, 0x88, 0x71, 0x59, 0x0e, 0xbf],
);
pub(crate) const PRESET_P2: GUID = guid(
    0xf581cfb8,
    0x88d6,
    0x4381,
    [0x93, 0xf0, 0xdf, 0x13, 0xf9, 0xc2, 0x7d, 0xab],
);
pub(crate) const PRESET_P3: GUID = guid(
    0x36850110,
    0x3a07,
    0x441f,
    [0x94, 0xd5, 0x36, 0x70, 0x63, 0x1f, 0x91, 0xf6],
);
pub(crate) const PRESET_P4: GUID = guid(
    0x90a7b826,
    0xdf06,
    0x4862,
    [0xb9, 0xd2, 0xcd, 0x6d, 0x73, 0xa0, 0x86, 0x81],
);
pub(crate) const PRESET_P5: GUID = guid(
    0x21c6e6b4,
    0x297a,
    0x4cba,
    [0x99, 0x8f, 0xb6, 0xcb, 0xde, 0x72, 0xad, 0xe3],
);
pub(crate) const PRESET_P6: GUID = guid(
    0x8e75c279,
    0x6299,
    0x4ab6,
    [0x83, 0x02, 0x0b, 0x21, 0x5a, 0x33, 0x5c, 0xf5],
);
pub(crate) const PRESET_P7: GUID = guid(
    0x84848c12,
    0x6f71,
    0x4c13,
    [0x93, 0x1b, 0x53, 0xe2, 0x83, 0xf5, 0x79, 0x74],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_distinct_and_compare() {
        let all = [
            CODEC_H264,
            CODEC_HEVC,
            CODEC_AV1,
            PROFILE_AUTOSELECT,
            H264_PROFILE_BASELINE,
            H264_PROFILE_MAIN,
            H264_PROFILE_HIGH,
            H264_PROFILE_HIGH_444,
            HEVC_PROFILE_MAIN,
            HEVC_PROFILE_MAIN10,
            HEVC_PROFILE_FREXT,
            AV1_PROFILE_MAIN,
            PRESET_P1,
            PRESET_P2,
            PRESET_P3,
            PRESET_P4,
            PRESET_P5,
            PRESET_P6,
            PRESET_P7,
        ];
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                assert_eq!(guid_eq(a, b), i == j, "{i} vs {j}");
            }
        }
        // Spot-check against the header text: { 0x6bc82762, 0x4e63, 0x4ca4, { 0xaa, ... 0xbf } }.
        assert_eq!(CODEC_H264.Data1, 0x6bc82762);
        assert_eq!(CODEC_H264.Data4[7], 0xbf);
        assert_eq!(H264_PROFILE_BASELINE.Data1, 0x727bcaa);
    }
}
