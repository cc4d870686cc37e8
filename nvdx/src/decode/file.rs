//! Demuxer + decoder: frames from a file or from bytes in memory.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{DecodedFrame, Decoder, DecoderConfig, MappedFrame};
use crate::context::Context;
use crate::demux::{self, Container, Demux, Packet, StreamInfo};
use crate::error::Result;
use crate::stream::Stream;

/// Pictures [`FileDecoder`] keeps queued ahead of the one it hands out (see
/// [`FileDecoder::set_decode_ahead`]).
pub const DEFAULT_DECODE_AHEAD: usize = 3;

/// Decodes a whole file or buffer: a [`demux`] demuxer feeding a [`Decoder`], with its own
/// stream. Frames come out in display order; pictures an MP4 edit list marks as pre-roll
/// (negative timestamps) are decoded but not returned.
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// let ctx = nvdx::Context::primary(0)?;
/// for f in nvdx::decode::decode_file(&ctx, "fixtures/sample.mp4")? {
///     let f = f?;
///     println!("pts {}", f.frame.meta.pts);
/// }
/// # Ok(()) }
/// ```
pub struct FileDecoder {
    demux: Box<dyn Demux>,
    /// The packet being fed (its buffer is reused from packet to packet).
    packet: Packet,
    decoder: Decoder,
    stream: Stream,
    eos: bool,
    skip_preroll: bool,
    decode_ahead: usize,
    demux_time: Duration,
    decode_time: Duration,
}

impl std::fmt::Debug for FileDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDecoder")
            .field("info", self.demux.info())
            .field("decoder", &self.decoder)
            .finish_non_exhaustive()
    }
}

/// Opens `path` for decoding on `ctx` with default settings.
pub fn decode_file(ctx: &Context, path: impl AsRef<Path>) -> Result<FileDecoder> {
    FileDecoder::open(ctx, path, DecoderConfig::default())
}

impl FileDecoder {
    /// Opens a file (MP4, IVF or Annex B, detected from its content).
    pub fn open(
        ctx: &Context,
        path: impl AsRef<Path>,
        config: DecoderConfig,
    ) -> Result<FileDecoder> {
        FileDecoder::from_demuxer(ctx, demux::open(path)?, config)
    }

    /// Opens a file reading the video track `number` (MP4 track id, Matroska `TrackNumber`;
    /// see [`FileDecoder::video_tracks`]) instead of the default choice, which is ffmpeg's:
    /// the largest picture, a default/enabled track first (see [`demux::Demux::video_tracks`]).
    pub fn open_track(
        ctx: &Context,
        path: impl AsRef<Path>,
        number: u64,
        config: DecoderConfig,
    ) -> Result<FileDecoder> {
        FileDecoder::from_demuxer(
            ctx,
            Box::new(demux::Demuxer::open_track(path, number)?),
            config,
        )
    }

    /// The container's video tracks when it has several (empty otherwise), the one being
    /// decoded marked `selected`.
    pub fn video_tracks(&self) -> &[demux::VideoTrack] {
        self.demux.video_tracks()
    }

    /// Decodes a file held in memory.
    pub fn from_bytes(ctx: &Context, bytes: Vec<u8>, config: DecoderConfig) -> Result<FileDecoder> {
        FileDecoder::from_demuxer(ctx, demux::from_bytes(bytes)?, config)
    }

    /// Decodes what a demuxer yields.
    pub fn from_demuxer(
        ctx: &Context,
        demux: Box<dyn Demux>,
        mut config: DecoderConfig,
    ) -> Result<FileDecoder> {
        let info = demux.info();
        if config.timescale == 0 {
            config.timescale = info.timescale;
        }
        if config.max_width == 0 && config.max_height == 0 {
            config.max_width = info.width;
            config.max_height = info.height;
        }
        let skip_preroll = info.container == Container::Mp4;
        let decoder = Decoder::new(ctx, info.codec, config)?;
        let stream = Stream::new(ctx)?;
        Ok(FileDecoder {
            demux,
            packet: Packet::default(),
            decoder,
            stream,
            eos: false,
            skip_preroll,
            decode_ahead: DEFAULT_DECODE_AHEAD,
            demux_time: Duration::ZERO,
            decode_time: Duration::ZERO,
        })
    }

    /// How many displayable pictures to keep queued before handing one out (default
    /// [`DEFAULT_DECODE_AHEAD`]). Mapping a picture waits for NVDEC to finish it; staying a few
    /// pictures behind the decoder means the picture handed out is done, so the CPU does not
    /// wait for the engine. 0 hands pictures out as soon as the parser displays them (lowest
    /// latency). Values are capped by the decoder's spare surfaces.
    pub fn set_decode_ahead(&mut self, pictures: usize) {
        self.decode_ahead = pictures.min(8);
    }

    /// The stream's description from the container.
    pub fn info(&self) -> &StreamInfo {
        self.demux.info()
    }

    /// The decoder session (for its stats, format, or to reset it after a seek).
    pub fn decoder(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// The demuxer (to seek: `demuxer().seek(k)`, then `decoder().reset()`).
    pub fn demuxer(&mut self) -> &mut dyn Demux {
        self.demux.as_mut()
    }

    /// The stream the owned frames are copied on; synchronise it before reading frames on the
    /// host.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Time spent reading packets and in the parser/decoder calls so far.
    pub fn timings(&self) -> (Duration, Duration) {
        (self.demux_time, self.decode_time)
    }

    /// Whether every packet was read and the decoder flushed.
    pub fn at_end(&self) -> bool {
        self.eos && self.decoder.pending() == 0
    }

    /// Feeds packets until a picture to return is queued or the input ends.
    fn fill(&mut self) -> Result<bool> {
        loop {
            while self.skip_preroll && self.decoder.peek_meta().is_some_and(|m| m.pts < 0) {
                self.decoder.skip_next();
            }
            let pending = self.decoder.pending();
            if pending > self.decode_ahead || (self.eos && pending > 0) {
                return Ok(true);
            }
            if self.eos {
                return Ok(false);
            }
            let t0 = Instant::now();
            let more = self.demux.next_packet_into(&mut self.packet);
            let t1 = Instant::now();
            self.demux_time += t1 - t0;
            let r = match more? {
                true => self.decoder.push(&self.packet.data, Some(self.packet.pts)),
                false => {
                    self.eos = true;
                    self.decoder.flush()
                }
            };
            self.decode_time += t1.elapsed();
            r?;
        }
    }

    /// The next frame, copied into a pool frame on [`FileDecoder::stream`]; `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>> {
        if !self.fill()? {
            return Ok(None);
        }
        let t0 = Instant::now();
        let r = self.decoder.next_owned(&self.stream);
        self.decode_time += t0.elapsed();
        r
    }

    /// The next frame mapped in place (zero-copy) on [`FileDecoder::stream`]; `None` at the
    /// end.
    pub fn next_mapped(&mut self) -> Result<Option<MappedFrame<'_>>> {
        if !self.fill()? {
            return Ok(None);
        }
        self.decoder.map_next(&self.stream)
    }
}

impl Iterator for FileDecoder {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_frame() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => None,
            Err(e) => {
                // Stop after an error: the caller sees it once.
                self.eos = true;
                while self.decoder.skip_next().is_some() {}
                Some(Err(e))
            }
        }
    }
}
