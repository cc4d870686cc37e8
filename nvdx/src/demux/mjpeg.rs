//! Motion JPEG: every sample is one JPEG picture (and a keyframe). MOV/MP4 (`jpeg`, `mjpa`
//! sample entries; `mp4v` with objectTypeIndication 0x6C) and Matroska (`V_MJPEG`) store the
//! pictures as they are, so the packets are the stored bytes. The start-of-frame header of
//! the first picture gives the size, bit depth and chroma subsampling.
//!
//! MJPEG format B (`mjpb`) has no JPEG markers in its bitstream and is rejected with
//! [`crate::Error::Unsupported`].

use crate::codec::ChromaFormat;

/// What a JPEG start-of-frame (SOFn) header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JpegInfo {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    pub chroma: ChromaFormat,
}

/// The colour description nvdx assumes for JPEG (JFIF): BT.601 matrix, full range, as
/// ffmpeg's decoder reports it (`yuvj420p`, `bt470bg`).
pub(crate) fn jfif_colour() -> super::ColourInfo {
    super::ColourInfo {
        primaries: None,
        transfer: None,
        matrix: Some(5),
        full_range: Some(true),
    }
}

/// Reads the SOFn header of a JPEG picture (`None` if `data` has none in its segments).
pub(crate) fn jpeg_info(data: &[u8]) -> Option<JpegInfo> {
    if data.get(..2) != Some(&[0xFF, 0xD8][..]) {
        return None;
    }
    let mut i = 2usize;
    loop {
        // Markers may be padded with 0xFF fill bytes.
        while data.get(i) == Some(&0xFF) && data.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if data.get(i) != Some(&0xFF) {
            return None;
        }
        let marker = *data.get(i + 1)?;
        i += 2;
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            continue; // no length
        }
        if marker == 0xD9 || marker == 0xDA {
            return None; // end of image or start of scan before any SOF
        }
        let len = usize::from(u16::from_be_bytes([*data.get(i)?, *data.get(i + 1)?]));
        let body = data.get(i + 2..i.checked_add(len)?)?;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let bit_depth = *body.first()?;
            let height = u32::from(u16::from_be_bytes([*body.get(1)?, *body.get(2)?]));
            let width = u32::from(u16::from_be_bytes([*body.get(3)?, *body.get(4)?]));
            let n = *body.get(5)?;
            let sampling = |k: usize| body.get(6 + 3 * k + 1).map(|s| (s >> 4, s & 15));
            let chroma = match n {
                1 => ChromaFormat::Monochrome,
                3 => {
                    let (yh, yv) = sampling(0)?;
                    let (ch, cv) = sampling(1)?;
                    match (yh.checked_div(ch)?, yv.checked_div(cv)?) {
                        (2, 2) => ChromaFormat::Yuv420,
                        (2, 1) => ChromaFormat::Yuv422,
                        _ => ChromaFormat::Yuv444,
                    }
                }
                _ => return None,
            };
            return Some(JpegInfo {
                width,
                height,
                bit_depth,
                chroma,
            });
        }
        i = i.checked_add(len)?;
    }
}

/// Fills in size, bit depth and chroma from the first picture's SOFn header (what the
/// decoder sees wins over the container's size) and marks every sample as a keyframe.
pub(crate) fn fill_info(
    source: &mut super::Source,
    parsed: &mut super::Parsed,
) -> crate::Result<()> {
    for s in &mut parsed.samples {
        s.keyframe = true;
    }
    // The container's colour description first, JFIF's for what it leaves out.
    parsed.info.colour = super::merge_colour(parsed.info.colour, Some(jfif_colour()));
    if let Some(s) = parsed.samples.first() {
        let head = source.read_clamped(s.offset, u64::from(s.size).min(64 << 10))?;
        if let Some(j) = jpeg_info(&head) {
            let info = &mut parsed.info;
            if j.width > 0 && j.height > 0 {
                (info.width, info.height) = (j.width, j.height);
            }
            info.bit_depth = j.bit_depth;
            info.chroma = j.chroma;
        }
    }
    Ok(())
}
