//! Annex B elementary streams: NAL splitting, AVCC/HVCC conversion, access-unit grouping and a
//! push-style splitter for live sources.

use std::sync::LazyLock;

use memchr::memmem;

use super::reader::ByteReader;
use super::Packet;
use crate::codec::Codec;
use crate::{Error, Result};

/// The 4-byte Annex B start code nvdx writes in front of every NAL unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Largest access unit the splitter buffers before giving up (256 MiB).
pub const MAX_ACCESS_UNIT: usize = 256 << 20;

/// Finds the next `00 00 01` at or after `from`; returns its position.
///
/// `memchr`'s substring search (SIMD, prefiltering on two of the needle's bytes at once, so coded
/// slice data rarely stops it): every access unit the sampler keeps or drops is scanned whole,
/// and a byte loop here was a fifth of the sampler's own CPU per video.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    /// Built once: building a finder per search showed in the profile.
    static START: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(&[0, 0, 1]));
    Some(from + START.find(data.get(from..)?)?)
}

fn trim_trailing_zeros(mut nal: &[u8]) -> &[u8] {
    while let Some((&0, rest)) = nal.split_last() {
        nal = rest;
    }
    nal
}

/// Iterator over the NAL units of an Annex B byte stream, see [`split_annexb`].
#[derive(Debug, Clone)]
pub struct NalIter<'a> {
    data: &'a [u8],
    next: Option<usize>,
}

impl<'a> Iterator for NalIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let sc = self.next?;
            let start = sc + 3;
            let end_sc = find_start_code(self.data, start);
            self.next = end_sc;
            let end = end_sc.unwrap_or(self.data.len());
            let nal = trim_trailing_zeros(self.data.get(start..end)?);
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    }
}

/// Splits an Annex B byte stream into NAL units (start codes and trailing zero bytes removed;
/// bytes before the first start code are ignored; empty NAL units are skipped).
pub fn split_annexb(data: &[u8]) -> NalIter<'_> {
    NalIter {
        data,
        next: find_start_code(data, 0),
    }
}

/// NAL unit type of the first NAL header byte(s) for `codec` (H.264: 5 bits, HEVC: 6 bits).
pub fn nal_type(codec: Codec, nal: &[u8]) -> Option<u8> {
    let b = *nal.first()?;
    Some(match codec {
        Codec::Hevc => (b >> 1) & 0x3f,
        _ => b & 0x1f,
    })
}

/// Whether `nal` is a random-access picture: H.264 IDR (type 5), HEVC IRAP (16..=23).
pub fn is_keyframe_nal(codec: Codec, nal: &[u8]) -> bool {
    match (codec, nal_type(codec, nal)) {
        (Codec::Hevc, Some(t)) => (16..=23).contains(&t),
        (_, Some(t)) => t == 5,
        _ => false,
    }
}

/// Whether `nal` is a parameter set (H.264 SPS/PPS, HEVC VPS/SPS/PPS).
pub fn is_parameter_set(codec: Codec, nal: &[u8]) -> bool {
    match (codec, nal_type(codec, nal)) {
        (Codec::Hevc, Some(t)) => (32..=34).contains(&t),
        (_, Some(t)) => t == 7 || t == 8,
        _ => false,
    }
}

/// Whether `nal` is an SPS.
pub fn is_sps(codec: Codec, nal: &[u8]) -> bool {
    match codec {
        Codec::Hevc => nal_type(codec, nal) == Some(33),
        _ => nal_type(codec, nal) == Some(7),
    }
}

fn is_vcl(codec: Codec, nal: &[u8]) -> bool {
    match (codec, nal_type(codec, nal)) {
        (Codec::Hevc, Some(t)) => t < 32,
        (_, Some(t)) => (1..=5).contains(&t),
        _ => false,
    }
}

/// Whether `nal`, arriving after a picture's VCL NAL units, begins a new access unit
/// (ITU-T H.264 7.4.1.2.3 and H.265 7.4.2.4.4, assuming slices in order).
fn starts_access_unit(codec: Codec, nal: &[u8]) -> bool {
    let Some(t) = nal_type(codec, nal) else {
        return false;
    };
    match codec {
        Codec::Hevc => {
            if t < 32 {
                // first_slice_segment_in_pic_flag is the first bit after the 2-byte header.
                nal.get(2).is_some_and(|b| b & 0x80 != 0)
            } else {
                matches!(t, 32..=35 | 39 | 41..=44 | 48..=55)
            }
        }
        _ => match t {
            // first_mb_in_slice == 0 is the exp-Golomb code `1`.
            1..=5 => nal.get(1).is_some_and(|b| b & 0x80 != 0),
            6..=9 | 14..=18 => true,
            _ => false,
        },
    }
}

/// Converts length-prefixed NAL units (AVCC/HVCC sample data, `length_size` 1, 2 or 4 bytes)
/// to Annex B with 4-byte start codes, appending to `out`.
pub fn avcc_to_annexb_into(data: &[u8], length_size: u8, out: &mut Vec<u8>) -> Result<()> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(Error::InvalidData(format!(
            "NAL length size {length_size} is not 1, 2 or 4 (corrupt avcC/hvcC)"
        )));
    }
    let mut r = ByteReader::new(data, "length-prefixed NAL unit");
    while r.remaining() > 0 {
        let len = match length_size {
            1 => usize::from(r.u8()?),
            2 => usize::from(r.u16()?),
            _ => r.u32()? as usize,
        };
        if len > r.remaining() {
            return Err(Error::InvalidData(format!(
                "NAL unit length {len} at offset {} exceeds the {} bytes left in the sample; \
                 the sample is truncated or the NAL length size is wrong",
                r.pos(),
                r.remaining()
            )));
        }
        let nal = r.bytes(len)?;
        if nal.is_empty() {
            continue;
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
    Ok(())
}

/// Converts length-prefixed NAL units (AVCC/HVCC) to Annex B, see [`avcc_to_annexb_into`].
pub fn avcc_to_annexb(data: &[u8], length_size: u8) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len().saturating_add(16));
    avcc_to_annexb_into(data, length_size, &mut out)?;
    Ok(out)
}

/// Converts Annex B to length-prefixed NAL units with 4-byte lengths (the inverse conversion).
pub fn annexb_to_avcc(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    for nal in split_annexb(data) {
        let len = u32::try_from(nal.len()).map_err(|_| {
            Error::InvalidData("NAL unit larger than 4 GiB cannot be length-prefixed".into())
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(out)
}

/// A decoder configuration record (`avcC` or `hvcC`) in the form the demuxer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Size of the NAL length prefix in samples (1, 2 or 4).
    pub length_size: u8,
    /// The parameter sets (SPS, PPS, and for HEVC VPS) as Annex B with 4-byte start codes.
    pub parameter_sets: Vec<u8>,
    /// `chroma_format_idc` / `bitDepthLumaMinus8 + 8` when the record carries them.
    pub bit_depth: Option<u8>,
}

fn push_nal(out: &mut Vec<u8>, nal: &[u8]) {
    if !nal.is_empty() {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
}

/// Parses an `avcC` box payload (AVCDecoderConfigurationRecord).
pub fn parse_avcc(record: &[u8]) -> Result<DecoderConfig> {
    let mut r = ByteReader::new(record, "avcC record");
    let version = r.u8()?;
    if version != 1 {
        return Err(Error::InvalidData(format!(
            "avcC configurationVersion {version} is not 1"
        )));
    }
    let profile = r.u8()?;
    r.skip(2)?;
    let length_size = (r.u8()? & 3) + 1;
    if length_size == 3 {
        return Err(Error::InvalidData(
            "avcC lengthSizeMinusOne is 2 (3-byte NAL lengths are not allowed)".into(),
        ));
    }
    let mut ps = Vec::new();
    let n_sps = r.u8()? & 0x1f;
    for _ in 0..n_sps {
        let len = usize::from(r.u16()?);
        push_nal(&mut ps, r.bytes(len)?);
    }
    let n_pps = r.u8()?;
    for _ in 0..n_pps {
        let len = usize::from(r.u16()?);
        push_nal(&mut ps, r.bytes(len)?);
    }
    let mut bit_depth = None;
    if matches!(profile, 100 | 110 | 122 | 144) && r.remaining() >= 4 {
        r.skip(1)?;
        bit_depth = Some((r.u8()? & 7) + 8);
    }
    Ok(DecoderConfig {
        length_size,
        parameter_sets: ps,
        bit_depth,
    })
}

/// Parses an `hvcC` box payload (HEVCDecoderConfigurationRecord).
pub fn parse_hvcc(record: &[u8]) -> Result<DecoderConfig> {
    let mut r = ByteReader::new(record, "hvcC record");
    r.skip(17)?; // version .. chromaFormat
    let bit_depth = (r.u8()? & 7) + 8;
    r.skip(3)?; // bitDepthChroma, avgFrameRate
    let length_size = (r.u8()? & 3) + 1;
    if length_size == 3 {
        return Err(Error::InvalidData(
            "hvcC lengthSizeMinusOne is 2 (3-byte NAL lengths are not allowed)".into(),
        ));
    }
    let arrays = r.u8()?;
    let mut ps = Vec::new();
    for _ in 0..arrays {
        let t = r.u8()? & 0x3f;
        let n = r.u16()?;
        for _ in 0..n {
            let len = usize::from(r.u16()?);
            let nal = r.bytes(len)?;
            if (32..=34).contains(&t) {
                push_nal(&mut ps, nal);
            }
        }
    }
    Ok(DecoderConfig {
        length_size,
        parameter_sets: ps,
        bit_depth: Some(bit_depth),
    })
}

/// One access unit found by the splitter: where it lies in the input and whether it is a
/// random-access point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuSpan {
    pub offset: u64,
    pub size: u32,
    pub keyframe: bool,
}

/// Push-style Annex B splitter: feed arbitrary chunks of an H.264 or HEVC byte stream, get one
/// [`Packet`] per access unit (picture). Suitable for live sources (pipes, sockets).
///
/// Packets carry the access unit's bytes unchanged (Annex B), `keyframe` for IDR/IRAP
/// pictures, `index` counting from 0 in decode order, and `pts = dts = index * duration`
/// (an elementary stream has no timestamps). Unlike the indexed demuxer ([`super::open`]),
/// which derives the display order from the picture order count of the whole stream, the
/// splitter emits each packet at once, so with B-frames its `pts` are in decode order.
#[derive(Debug)]
pub struct AnnexBSplitter {
    codec: Codec,
    duration: i64,
    buf: Vec<u8>,
    /// Absolute stream offset of `buf[0]`.
    base: u64,
    /// Where the next start-code search begins (relative to `buf`).
    scan: usize,
    /// Start of the current (incomplete) NAL's start code, relative.
    cur_nal: Option<usize>,
    /// Start of the current access unit, relative.
    au_start: Option<usize>,
    au_has_vcl: bool,
    au_key: bool,
    count: usize,
}

impl AnnexBSplitter {
    /// A splitter for `codec` (H.264 or HEVC); packets get `duration` ticks each.
    pub fn new(codec: Codec, duration: i64) -> Result<Self> {
        if !matches!(codec, Codec::H264 | Codec::Hevc) {
            return Err(Error::Unsupported(format!(
                "Annex B splitting is for H.264 and HEVC, not {codec}"
            )));
        }
        Ok(AnnexBSplitter {
            codec,
            duration,
            buf: Vec::new(),
            base: 0,
            scan: 0,
            cur_nal: None,
            au_start: None,
            au_has_vcl: false,
            au_key: false,
            count: 0,
        })
    }

    /// The codec this splitter groups NAL units for.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Adds `data` and returns the access units it completed.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Packet>> {
        let mut out = Vec::new();
        self.push_inner(data, &mut |span, bytes| out.push((span, bytes.to_vec())))?;
        Ok(self.packets(out))
    }

    /// Ends the stream: returns the last access unit, if it holds a picture.
    pub fn flush(&mut self) -> Result<Vec<Packet>> {
        let mut out = Vec::new();
        self.flush_inner(&mut |span, bytes| out.push((span, bytes.to_vec())))?;
        Ok(self.packets(out))
    }

    fn packets(&mut self, aus: Vec<(AuSpan, Vec<u8>)>) -> Vec<Packet> {
        aus.into_iter()
            .map(|(span, data)| {
                let index = self.count;
                self.count += 1;
                let t = (index as i64).saturating_mul(self.duration);
                Packet {
                    data,
                    pts: t,
                    dts: t,
                    duration: self.duration,
                    keyframe: span.keyframe,
                    index,
                }
            })
            .collect()
    }

    pub(crate) fn push_inner(
        &mut self,
        data: &[u8],
        emit: &mut dyn FnMut(AuSpan, &[u8]),
    ) -> Result<()> {
        self.buf.extend_from_slice(data);
        while let Some(sc) = find_start_code(&self.buf, self.scan) {
            if let Some(prev) = self.cur_nal {
                self.nal_done(prev, sc, emit)?;
            }
            self.cur_nal = Some(sc);
            self.scan = sc + 3;
        }
        self.scan = self.scan.max(self.buf.len().saturating_sub(2));
        self.compact();
        let pending = self.buf.len();
        if pending > MAX_ACCESS_UNIT {
            return Err(Error::InvalidData(format!(
                "Annex B stream has {pending} bytes without completing an access unit \
                 (limit {MAX_ACCESS_UNIT}); this is not an H.264/HEVC elementary stream"
            )));
        }
        Ok(())
    }

    pub(crate) fn flush_inner(&mut self, emit: &mut dyn FnMut(AuSpan, &[u8])) -> Result<()> {
        if let Some(prev) = self.cur_nal.take() {
            let end = self.buf.len();
            self.nal_done(prev, end, emit)?;
        }
        if let Some(start) = self.au_start.take() {
            if self.au_has_vcl {
                self.emit_au(start, self.buf.len(), emit)?;
            }
        }
        self.base = self.base.saturating_add(self.buf.len() as u64);
        self.buf.clear();
        self.scan = 0;
        self.au_has_vcl = false;
        self.au_key = false;
        Ok(())
    }

    /// Handles the NAL whose start code begins at `sc` and which ends before `end`.
    fn nal_done(
        &mut self,
        sc: usize,
        end: usize,
        emit: &mut dyn FnMut(AuSpan, &[u8]),
    ) -> Result<()> {
        let nal = trim_trailing_zeros(self.buf.get(sc + 3..end).unwrap_or(&[]));
        if nal.is_empty() {
            return Ok(());
        }
        let codec = self.codec;
        let new_au = self.au_has_vcl && starts_access_unit(codec, nal);
        let vcl = is_vcl(codec, nal);
        let key = is_keyframe_nal(codec, nal);
        // A leading zero byte before `00 00 01` belongs to this NAL's start code.
        let start = if sc > 0 && self.buf.get(sc - 1) == Some(&0) {
            sc - 1
        } else {
            sc
        };
        if new_au {
            if let Some(s) = self.au_start {
                self.emit_au(s, start, emit)?;
            }
            self.au_start = Some(start);
            self.au_has_vcl = false;
            self.au_key = false;
        } else if self.au_start.is_none() {
            self.au_start = Some(start);
        }
        self.au_has_vcl |= vcl;
        self.au_key |= key;
        Ok(())
    }

    fn emit_au(&self, start: usize, end: usize, emit: &mut dyn FnMut(AuSpan, &[u8])) -> Result<()> {
        let bytes = trim_trailing_zeros(self.buf.get(start..end).unwrap_or(&[]));
        let size = u32::try_from(bytes.len()).map_err(|_| {
            Error::InvalidData("access unit larger than 4 GiB; the stream is corrupt".into())
        })?;
        emit(
            AuSpan {
                offset: self.base.saturating_add(start as u64),
                size,
                keyframe: self.au_key,
            },
            bytes,
        );
        Ok(())
    }

    /// Drops bytes nobody refers to any more.
    fn compact(&mut self) {
        let keep_from = match (self.au_start, self.cur_nal) {
            (Some(a), Some(c)) => a.min(c.saturating_sub(1)),
            (Some(a), None) => a,
            (None, Some(c)) => c.saturating_sub(1),
            (None, None) => self.scan.saturating_sub(1),
        };
        let keep_from = keep_from.min(self.buf.len());
        if keep_from == 0 {
            return;
        }
        self.buf.drain(..keep_from);
        self.base = self.base.saturating_add(keep_from as u64);
        self.scan = self.scan.saturating_sub(keep_from);
        self.cur_nal = self.cur_nal.map(|c| c - keep_from);
        self.au_start = self.au_start.map(|a| a - keep_from);
    }
}

/// Guesses whether an Annex B stream is H.264 or HEVC from its NAL headers: counts NAL units
/// that make sense only under one reading (e.g. H.264 SPS `0x67`, HEVC VPS `0x40 0x01`).
pub fn guess_codec(data: &[u8]) -> Option<Codec> {
    let (mut h264, mut hevc) = (0u32, 0u32);
    for nal in split_annexb(data).take(64) {
        let Some(&b0) = nal.first() else { continue };
        if b0 & 0x80 != 0 {
            continue; // forbidden_zero_bit
        }
        let t264 = b0 & 0x1f;
        let ok264 =
            matches!(t264, 1 | 5 | 6 | 7 | 8 | 9) && (t264 == 6 || t264 == 9 || b0 & 0x60 != 0);
        let t265 = (b0 >> 1) & 0x3f;
        let tid = nal.get(1).map_or(0, |b| b & 7);
        let ok265 = tid != 0 && b0 & 1 == 0 && matches!(t265, 0..=9 | 16..=21 | 32..=40);
        if ok264 && matches!(t264, 7 | 8 | 5) {
            h264 += 2;
        } else if ok264 {
            h264 += 1;
        }
        if ok265 && matches!(t265, 32..=34 | 19 | 20) {
            hevc += 2;
        } else if ok265 {
            hevc += 1;
        }
    }
    if h264 == 0 && hevc == 0 {
        None
    } else if hevc > h264 {
        Some(Codec::Hevc)
    } else {
        Some(Codec::H264)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain byte loop `find_start_code` replaced: the reference it must agree with.
    fn find_start_code_reference(data: &[u8], from: usize) -> Option<usize> {
        (from..data.len().saturating_sub(2)).find(|&i| data[i..i + 3] == [0, 0, 1])
    }

    #[test]
    fn start_code_search_agrees_with_the_byte_loop_on_random_streams() {
        // xorshift64*: bytes biased towards 0 and 1 so that start codes, near misses (`00 01`,
        // `00 00 00 01`, `00 00 02`) and runs of zeros are frequent.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut checked = 0usize;
        for _ in 0..2000 {
            let len = (next() % 200) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| match next() % 8 {
                    0..=3 => 0,
                    4 | 5 => 1,
                    _ => (next() % 256) as u8,
                })
                .collect();
            for from in 0..=len + 3 {
                assert_eq!(
                    find_start_code(&data, from),
                    find_start_code_reference(&data, from),
                    "data {data:?} from {from}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100_000);
        assert_eq!(find_start_code(&[0, 0, 1], usize::MAX), None);
    }

    #[test]
    fn split_handles_3_and_4_byte_start_codes() {
        let data = [
            9, 9, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 5, 0, 0,
        ];
        let nals: Vec<&[u8]> = split_annexb(&data).collect();
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]
        );
        assert_eq!(split_annexb(&[1, 2, 3]).count(), 0);
        assert_eq!(split_annexb(&[0, 0, 1]).count(), 0);
        assert_eq!(split_annexb(&[0, 0, 1, 0, 0, 1, 7]).count(), 1);
    }

    #[test]
    fn avcc_round_trip_all_length_sizes() {
        let nals: [&[u8]; 3] = [&[0x67, 1, 2, 3], &[0x68, 4], &[0x65, 5, 6, 7, 8]];
        for ls in [1u8, 2, 4] {
            let mut avcc = Vec::new();
            for n in nals {
                let len = n.len() as u32;
                avcc.extend_from_slice(&len.to_be_bytes()[4 - ls as usize..]);
                avcc.extend_from_slice(n);
            }
            let annexb = avcc_to_annexb(&avcc, ls).unwrap();
            let back: Vec<&[u8]> = split_annexb(&annexb).collect();
            assert_eq!(back, nals.to_vec(), "length size {ls}");
            assert_eq!(&annexb[..4], &START_CODE);
            if ls == 4 {
                assert_eq!(annexb_to_avcc(&annexb).unwrap(), avcc);
            }
        }
    }

    #[test]
    fn avcc_rejects_bad_lengths() {
        assert!(avcc_to_annexb(&[0, 0, 0, 9, 1, 2], 4).is_err());
        assert!(avcc_to_annexb(&[0, 0], 4).is_err());
        assert!(avcc_to_annexb(&[0, 1, 5], 3).is_err());
        assert!(avcc_to_annexb(&[0xff, 0xff, 0xff, 0xff], 4).is_err());
        assert_eq!(avcc_to_annexb(&[], 4).unwrap(), Vec::<u8>::new());
    }

    fn h264_stream() -> Vec<u8> {
        let mut s = Vec::new();
        for nal in [
            &[0x09, 0xf0][..],          // AUD
            &[0x67, 0x42, 0, 0x1e][..], // SPS
            &[0x68, 0xce][..],          // PPS
            &[0x65, 0x88, 1][..],       // IDR, first_mb = 0
            &[0x65, 0x20, 2][..],       // IDR, second slice
            &[0x41, 0x9a, 3][..],       // P, first_mb = 0: new AU
            &[0x41, 0x9a, 4][..],       // P: new AU
            &[0x06, 5][..],             // SEI: new AU
            &[0x41, 0x9a, 5][..],
        ] {
            s.extend_from_slice(&START_CODE);
            s.extend_from_slice(nal);
        }
        s
    }

    #[test]
    fn access_units_grouped_in_any_chunking() {
        let s = h264_stream();
        for chunk in [1usize, 2, 3, 5, 7, 1000] {
            let mut sp = AnnexBSplitter::new(Codec::H264, 3000).unwrap();
            let mut pk = Vec::new();
            for c in s.chunks(chunk) {
                pk.extend(sp.push(c).unwrap());
            }
            pk.extend(sp.flush().unwrap());
            assert_eq!(pk.len(), 4, "chunk {chunk}");
            assert!(pk[0].keyframe);
            assert!(!pk[1].keyframe && !pk[2].keyframe && !pk[3].keyframe);
            assert_eq!(split_annexb(&pk[0].data).count(), 5);
            assert_eq!(split_annexb(&pk[3].data).count(), 2);
            assert_eq!(pk[2].data, [0, 0, 0, 1, 0x41, 0x9a, 4]);
            assert_eq!(pk[3].pts, 9000);
            assert_eq!(pk.iter().map(|p| p.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
            let total: usize = pk.iter().map(|p| p.data.len()).sum();
            assert_eq!(total, s.len());
        }
    }

    #[test]
    fn guesses_codec() {
        assert_eq!(guess_codec(&h264_stream()), Some(Codec::H264));
        let hevc = [
            0, 0, 0, 1, 0x40, 0x01, 0xc, 0, 0, 0, 1, 0x42, 0x01, 1, 0, 0, 1, 0x26, 1, 0xaf,
        ];
        assert_eq!(guess_codec(&hevc), Some(Codec::Hevc));
        assert_eq!(guess_codec(&[1, 2, 3, 4]), None);
    }
}
