//! `cargo xtask fixtures`: regenerates the small test clips in `fixtures/` with ffmpeg.
//!
//! Every clip uses `testsrc2` content, single-threaded encoders and bit-exact muxing so that a
//! rerun on the same ffmpeg build gives the same bytes. For each decodable clip, the per-frame
//! MD5 of ffmpeg's software decode (display order, `yuv420p` or `yuv420p10le`) is written next
//! to it as `NAME.framemd5` (with `-autoscale 0`, so a resolution change keeps each frame's own size), and `fixtures/manifest.tsv` lists every clip.
//!
//! Matroska/WebM clips (`.mkv`, `.webm`) also get `NAME.framecrc`: ffmpeg's packets after a
//! stream copy (`h264_mp4toannexb` / `hevc_mp4toannexb` for H.264/HEVC), with their Adler-32,
//! in decode order, which the demuxer tests compare byte for byte. For these clips ffmpeg's own
//! stream choice is used (`-an` instead of `-map 0:v:0`), so that the two-video-track clip
//! checks which track ffmpeg picks. `h264_blockgroups.mkv` is remuxed by mkvmerge. The MPEG-2
//! elementary stream `mpeg2.m2v` gets a `.framecrc` too (the packets of ffmpeg's MPEG video
//! parser).
//!
//! Options: `--ffmpeg PATH`, `--ffprobe PATH` and `--mkvmerge PATH` (defaults: `ffmpeg`,
//! `ffprobe`, `mkvmerge` on `PATH`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One generated clip and what the manifest says about it.
struct Clip {
    file: &'static str,
    codec: &'static str,
    width: u32,
    height: u32,
    bit_depth: u8,
    notes: &'static str,
    /// `false` for the corrupt inputs: no framemd5, no frame counts.
    decodable: bool,
}

/// Entry point of `cargo xtask fixtures`.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut ffmpeg = "ffmpeg".to_string();
    let mut ffprobe = "ffprobe".to_string();
    let mut mkvmerge = "mkvmerge".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ffmpeg" => ffmpeg = it.next().ok_or("--ffmpeg needs a path")?.clone(),
            "--ffprobe" => ffprobe = it.next().ok_or("--ffprobe needs a path")?.clone(),
            "--mkvmerge" => mkvmerge = it.next().ok_or("--mkvmerge needs a path")?.clone(),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let dir = crate::workspace_root().join("fixtures");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(".tmp");
    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let g = Gen {
        ffmpeg,
        ffprobe,
        mkvmerge,
        dir: dir.clone(),
        tmp: tmp.clone(),
    };
    let clips = g.generate()?;
    let mut manifest =
        String::from("file\tcodec\twidth\theight\tframes\tbit_depth\tpackets\tnotes\n");
    for c in &clips {
        let (frames, packets) = if c.decodable {
            let path = dir.join(c.file);
            let pix = if c.bit_depth > 8 {
                "yuv420p10le"
            } else if (c.file.starts_with("colour_") && c.file.contains("_full"))
                || c.codec == "mjpeg"
            {
                // Full range: hash the decoded samples as they are (yuv420p would make swscale
                // convert them to limited range first).
                "yuvj420p"
            } else {
                "yuv420p"
            };
            let md5 = dir.join(format!("{}.framemd5", c.file));
            let mkv = c.file.ends_with(".mkv") || c.file.ends_with(".webm");
            // Matroska: ffmpeg picks the video stream itself (the two-track clip tests that).
            let pick: &[&str] = if mkv {
                &["-an"]
            } else if c.file.starts_with("two_video_tracks") {
                // Several video tracks: ffmpeg picks one itself (what the clip tests).
                &["-an", "-sn"]
            } else {
                &["-map", "0:v:0"]
            };
            // The MPEG-2 elementary stream too: ffmpeg's MPEG video parser's packets.
            if mkv || c.file.ends_with(".m2v") {
                let crc = dir.join(format!("{}.framecrc", c.file));
                let bsf: &[&str] = match c.codec {
                    "h264" => &["-bsf:v", "h264_mp4toannexb"],
                    "hevc" => &["-bsf:v", "hevc_mp4toannexb"],
                    _ => &[],
                };
                let mut a = vec!["-i", s(&path)?];
                a.extend_from_slice(pick);
                a.extend_from_slice(&["-c", "copy"]);
                a.extend_from_slice(bsf);
                a.extend_from_slice(&["-f", "framecrc", s(&crc)?]);
                g.ffmpeg(&a)?;
            }
            let mut a = vec!["-threads", "1"];
            if c.file.contains("crop_left_top") {
                // Exact left cropping: without `unaligned`, libavcodec keeps the left edge at
                // an aligned column and returns 326x168 for a 26-column left crop.
                a.extend_from_slice(&["-flags", "unaligned"]);
            }
            a.extend_from_slice(&["-i", s(&path)?]);
            a.extend_from_slice(pick);
            g.ffmpeg(
                &[
                    &a[..],
                    &[
                        "-autoscale",
                        "0",
                        "-f",
                        "framemd5",
                        "-pix_fmt",
                        pix,
                        s(&md5)?,
                    ],
                ]
                .concat(),
            )?;
            let text = fs::read_to_string(&md5)
                .map_err(|e| format!("cannot read {}: {e}", md5.display()))?;
            let frames = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .count();
            (frames.to_string(), g.count_packets(&path)?.to_string())
        } else {
            ("-".to_string(), "-".to_string())
        };
        manifest.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.file, c.codec, c.width, c.height, frames, c.bit_depth, packets, c.notes
        ));
    }
    let mpath = dir.join("manifest.tsv");
    fs::write(&mpath, manifest).map_err(|e| format!("cannot write {}: {e}", mpath.display()))?;
    fs::remove_dir_all(&tmp).map_err(|e| format!("cannot remove {}: {e}", tmp.display()))?;
    println!("fixtures written to {}", dir.display());
    Ok(())
}

fn s(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", p.display()))
}

struct Gen {
    ffmpeg: String,
    ffprobe: String,
    mkvmerge: String,
    dir: PathBuf,
    tmp: PathBuf,
}

/// Common leading arguments: quiet, overwrite, bit-exact.
const PRE: &[&str] = &["-hide_banner", "-loglevel", "error", "-y"];
/// Common output arguments: no metadata, bit-exact muxing.
const POST: &[&str] = &[
    "-map_metadata",
    "-1",
    "-fflags",
    "+bitexact",
    "-flags:v",
    "+bitexact",
];

impl Gen {
    fn ffmpeg(&self, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(PRE).args(args);
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.ffmpeg))?;
        if !out.status.success() {
            return Err(format!(
                "{} {:?} failed: {}",
                self.ffmpeg,
                args,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    fn count_packets(&self, path: &Path) -> Result<usize, String> {
        let out = Command::new(&self.ffprobe)
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-count_packets",
                "-show_entries",
                "stream=nb_read_packets",
                "-of",
                "csv=p=0",
                s(path)?,
            ])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.ffprobe))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .trim_end_matches(',')
            .parse()
            .map_err(|e| format!("ffprobe packet count of {}: {e} ({text})", path.display()))
    }

    /// Encodes `frames` frames of testsrc2 at `w`x`h`, `rate` fps, into `out` with `codec_args`.
    fn encode(
        &self,
        out: &Path,
        w: u32,
        h: u32,
        frames: u32,
        codec_args: &[&str],
    ) -> Result<(), String> {
        let src = format!("testsrc2=size={w}x{h}:rate=30");
        let n = frames.to_string();
        let mut args: Vec<&str> = vec!["-f", "lavfi", "-i", &src, "-frames:v", &n, "-threads", "1"];
        args.extend_from_slice(codec_args);
        args.extend_from_slice(POST);
        args.push(s(out)?);
        self.ffmpeg(&args)
    }

    fn generate(&self) -> Result<Vec<Clip>, String> {
        let d = &self.dir;
        let x264 = |extra: &'static str| -> Vec<String> {
            let mut v: Vec<String> = [
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-preset",
                "medium",
                "-crf",
                "30",
                "-sc_threshold",
                "0",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            v.extend(extra.split_whitespace().map(String::from));
            v
        };
        let mut clips = Vec::new();

        // sample.mp4: what the decode example plays when given no input.
        let a = x264("-profile:v high -g 15 -keyint_min 15 -bf 2");
        self.encode(&d.join("sample.mp4"), 320, 240, 60, &as_str(&a))?;
        clips.push(Clip {
            file: "sample.mp4",
            codec: "h264",
            width: 320,
            height: 240,
            bit_depth: 8,
            notes: "H.264 High, 30 fps, keyframe every 15 frames, B-frames",
            decodable: true,
        });

        let a = x264("-profile:v high -g 10 -keyint_min 10 -bf 3 -b_strategy 0");
        self.encode(&d.join("h264_bframes.mp4"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "h264_bframes.mp4",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "H.264 High, 3 B-frames, GOP 10, moov at end",
            decodable: true,
        });

        let x265 = |tag: &str, extra: &str, pix: &str, profile: &str| -> Vec<String> {
            let params = format!(
                "log-level=error:pools=none:frame-threads=1:keyint=10:min-keyint=10:bframes=2:scenecut=0{extra}"
            );
            [
                "-c:v",
                "libx265",
                "-pix_fmt",
                pix,
                "-profile:v",
                profile,
                "-preset",
                "fast",
                "-crf",
                "32",
                "-tag:v",
                tag,
                "-x265-params",
                &params,
            ]
            .iter()
            .map(|a| a.to_string())
            .collect()
        };
        let a = x265("hvc1", "", "yuv420p", "main");
        self.encode(&d.join("hevc_main_hvc1.mp4"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "hevc_main_hvc1.mp4",
            codec: "hevc",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "HEVC Main, hvc1 (parameter sets in hvcC only), GOP 10, B-frames",
            decodable: true,
        });
        let a = x265("hev1", ":repeat-headers=1", "yuv420p", "main");
        self.encode(&d.join("hevc_main_hev1.mp4"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "hevc_main_hev1.mp4",
            codec: "hevc",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "HEVC Main, hev1 (parameter sets also in-band at each keyframe), GOP 10",
            decodable: true,
        });
        let a = x265("hvc1", "", "yuv420p10le", "main10");
        self.encode(&d.join("hevc_main10.mp4"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "hevc_main10.mp4",
            codec: "hevc",
            width: 176,
            height: 144,
            bit_depth: 10,
            notes: "HEVC Main10, hvc1, GOP 10",
            decodable: true,
        });

        let mut a = x264("-profile:v high -g 10 -keyint_min 10 -bf 2");
        a.extend(["-movflags", "frag_keyframe+empty_moov"].map(String::from));
        self.encode(&d.join("h264_fragmented.mp4"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "h264_fragmented.mp4",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "fragmented MP4 (empty moov, one moof per GOP of 10)",
            decodable: true,
        });

        let vp9 = |pix: &str, profile: &str| -> Vec<String> {
            [
                "-c:v",
                "libvpx-vp9",
                "-pix_fmt",
                pix,
                "-profile:v",
                profile,
                "-b:v",
                "150k",
                "-g",
                "10",
                "-deadline",
                "good",
                "-cpu-used",
                "5",
                "-row-mt",
                "0",
                "-f",
                "ivf",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect()
        };
        let a = vp9("yuv420p", "0");
        self.encode(&d.join("vp9.ivf"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "vp9.ivf",
            codec: "vp9",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "VP9 profile 0 in IVF, keyframe every 10, may contain superframes",
            decodable: true,
        });
        let a = vp9("yuv420p10le", "2");
        self.encode(&d.join("vp9_10bit.ivf"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "vp9_10bit.ivf",
            codec: "vp9",
            width: 176,
            height: 144,
            bit_depth: 10,
            notes: "VP9 profile 2 (10-bit) in IVF",
            decodable: true,
        });

        let a: Vec<String> = [
            "-c:v",
            "libaom-av1",
            "-cpu-used",
            "8",
            "-crf",
            "45",
            "-b:v",
            "0",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "ivf",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        self.encode(&d.join("av1.ivf"), 176, 144, 10, &as_str(&a))?;
        clips.push(Clip {
            file: "av1.ivf",
            codec: "av1",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "AV1 main profile in IVF (temporal units)",
            decodable: true,
        });

        let a = x264("-profile:v high -g 10 -bf 0 -crf 45 -preset veryfast");
        self.encode(&d.join("h264_1918x1078.mp4"), 1918, 1078, 3, &as_str(&a))?;
        clips.push(Clip {
            file: "h264_1918x1078.mp4",
            codec: "h264",
            width: 1918,
            height: 1078,
            bit_depth: 8,
            notes: "odd size (SPS cropping), 3 frames, low quality",
            decodable: true,
        });

        // Resolution change: two Annex B encodes of different sizes, concatenated.
        let part1 = self.tmp.join("part1.264");
        let part2 = self.tmp.join("part2.264");
        let a = x264("-profile:v main -g 10 -bf 0 -f h264");
        self.encode(&part1, 176, 144, 10, &as_str(&a))?;
        self.encode(&part2, 320, 240, 10, &as_str(&a))?;
        let mut bytes = read(&part1)?;
        bytes.extend(read(&part2)?);
        write(&d.join("h264_res_change.264"), &bytes)?;
        clips.push(Clip {
            file: "h264_res_change.264",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "Annex B: 10 frames 176x144 then 10 frames 320x240 (new SPS at frame 10)",
            decodable: true,
        });

        // Edit list: stream copy from a non-keyframe start; the muxer writes an elst whose
        // media_time skips the pre-roll frames that precede the seek point.
        self.ffmpeg(&[
            "-ss",
            "0.4",
            "-i",
            s(&d.join("sample.mp4"))?,
            "-c",
            "copy",
            "-frames:v",
            "30",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            s(&d.join("h264_editlist.mp4"))?,
        ])?;
        clips.push(Clip {
            file: "h264_editlist.mp4",
            codec: "h264",
            width: 320,
            height: 240,
            bit_depth: 8,
            notes: "stream copy of sample.mp4 from 0.4 s: elst media_time skips pre-roll frames",
            decodable: true,
        });

        let a = x264("-profile:v high -g 10 -bf 2 -f h264");
        self.encode(&d.join("h264.264"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "h264.264",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "Annex B H.264 High, GOP 10, B-frames",
            decodable: true,
        });
        let mut a = x265("hvc1", ":repeat-headers=1", "yuv420p", "main");
        a.extend(["-f", "hevc"].map(String::from));
        self.encode(&d.join("hevc.265"), 176, 144, 30, &as_str(&a))?;
        clips.push(Clip {
            file: "hevc.265",
            codec: "hevc",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "Annex B HEVC Main, GOP 10, B-frames",
            decodable: true,
        });

        self.matroska(&mut clips)?;
        self.mp4_tracks(&mut clips)?;
        self.colour_tags(&mut clips)?;
        self.crop_windows(&mut clips)?;
        self.mpeg2_mjpeg(&mut clips)?;
        self.interlaced(&mut clips)?;
        self.h264_beyond_hopper(&mut clips)?;

        // Corrupt inputs.
        let whole = read(&d.join("h264_bframes.mp4"))?;
        write(&d.join("corrupt_truncated.mp4"), &whole[..whole.len() / 2])?;
        clips.push(Clip {
            file: "corrupt_truncated.mp4",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "first half of h264_bframes.mp4 (no moov)",
            decodable: false,
        });
        let mut es = read(&d.join("h264.264"))?;
        flip_after_first_picture(&mut es)?;
        write(&d.join("corrupt_bitflip.264"), &es)?;
        clips.push(Clip {
            file: "corrupt_bitflip.264",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "h264.264 with bytes flipped inside slice data after the first picture",
            decodable: false,
        });
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let garbage: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        write(&d.join("garbage.bin"), &garbage)?;
        clips.push(Clip {
            file: "garbage.bin",
            codec: "-",
            width: 0,
            height: 0,
            bit_depth: 0,
            notes: "4096 xorshift bytes, not any format",
            decodable: false,
        });
        Ok(clips)
    }
}

impl Gen {
    /// The Matroska/WebM clips: 128x72 so that they stay a few KB.
    fn matroska(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let d = &self.dir;
        let x264: Vec<&str> = vec![
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "medium",
            "-crf",
            "30",
            "-sc_threshold",
            "0",
            "-profile:v",
            "high",
            "-g",
            "10",
            "-keyint_min",
            "10",
            "-bf",
            "2",
        ];
        let mut a = x264.clone();
        a.extend([
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ]);
        self.encode(&d.join("h264.mkv"), 128, 72, 30, &a)?;
        clips.push(Clip {
            file: "h264.mkv",
            codec: "h264",
            width: 128,
            height: 72,
            bit_depth: 8,
            notes: "Matroska H.264 High, GOP 10, B-frames, Cues, Colour BT.709 limited range",
            decodable: true,
        });
        // `info=0`: no x265 settings SEI in hvcC, which ffmpeg's hevc_mp4toannexb would copy in
        // front of keyframes (nvdx puts only VPS/SPS/PPS there).
        let hevc = [
            "-c:v", "libx265", "-pix_fmt", "yuv420p", "-preset", "fast", "-crf", "32",
            "-x265-params",
            "log-level=error:pools=none:frame-threads=1:keyint=10:min-keyint=10:bframes=2:scenecut=0:info=0",
        ];
        self.encode(&d.join("hevc.mkv"), 128, 72, 30, &hevc)?;
        clips.push(Clip {
            file: "hevc.mkv",
            codec: "hevc",
            width: 128,
            height: 72,
            bit_depth: 8,
            notes: "Matroska HEVC Main, GOP 10, B-frames (parameter sets in hvcC only, no SEI)",
            decodable: true,
        });
        let vp9 = [
            "-c:v",
            "libvpx-vp9",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "150k",
            "-g",
            "10",
            "-deadline",
            "good",
            "-cpu-used",
            "5",
            "-row-mt",
            "0",
        ];
        self.encode(&d.join("vp9.webm"), 128, 72, 30, &vp9)?;
        clips.push(Clip {
            file: "vp9.webm",
            codec: "vp9",
            width: 128,
            height: 72,
            bit_depth: 8,
            notes: "WebM VP9 profile 0, keyframe every 10",
            decodable: true,
        });
        let av1 = [
            "-c:v",
            "libaom-av1",
            "-cpu-used",
            "8",
            "-crf",
            "45",
            "-b:v",
            "0",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
        ];
        self.encode(&d.join("av1.webm"), 128, 72, 10, &av1)?;
        clips.push(Clip {
            file: "av1.webm",
            codec: "av1",
            width: 128,
            height: 72,
            bit_depth: 8,
            notes: "WebM AV1 main profile (av1C)",
            decodable: true,
        });
        // Written to a pipe: no Cues, no SeekHead entries, a Segment of unknown size.
        let src = "testsrc2=size=128x72:rate=30";
        let mut a: Vec<&str> = vec!["-f", "lavfi", "-i", src, "-frames:v", "30", "-threads", "1"];
        a.extend_from_slice(&x264);
        a.extend_from_slice(POST);
        a.extend_from_slice(&["-f", "matroska", "pipe:1"]);
        let out = self.ffmpeg_stdout(&a)?;
        write(&d.join("h264_nocues.mkv"), &out)?;
        clips.push(Clip {
            file: "h264_nocues.mkv",
            codec: "h264",
            width: 128,
            height: 72,
            bit_depth: 8,
            notes: "Matroska H.264 written to a pipe: no Cues, Segment of unknown size",
            decodable: true,
        });
        // BlockGroups (with ReferenceBlock on non-keyframes) instead of SimpleBlocks.
        let tmp = self.tmp.join("blockgroups-src.mkv");
        self.encode(&tmp, 128, 72, 30, &x264)?;
        let out = d.join("h264_blockgroups.mkv");
        let st = Command::new(&self.mkvmerge)
            .args([
                "-q",
                "--engage",
                "no_simpleblocks",
                "--engage",
                "no_variable_data",
            ])
            .args(["-o", s(&out)?, s(&tmp)?])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.mkvmerge))?;
        if !st.status.success() {
            return Err(format!(
                "mkvmerge failed: {}",
                String::from_utf8_lossy(&st.stdout)
            ));
        }
        clips.push(Clip {
            file: "h264_blockgroups.mkv",
            codec: "h264",
            width: 128,
            height: 72,
            bit_depth: 8,
            notes: "h264 remuxed by mkvmerge --engage no_simpleblocks: BlockGroups, ReferenceBlock",
            decodable: true,
        });
        // Two video tracks: 128x72 (not default) and 64x64 flagged default, which ffmpeg picks.
        let mut a: Vec<&str> = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x72:rate=30:duration=1",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x64:rate=30:duration=1",
            "-threads",
            "1",
            "-map",
            "0:v",
            "-map",
            "1:v",
        ];
        a.extend_from_slice(&x264);
        a.extend_from_slice(&["-disposition:v:0", "0", "-disposition:v:1", "default"]);
        a.extend_from_slice(POST);
        let two = d.join("two_tracks.mkv");
        a.push(s(&two)?);
        self.ffmpeg(&a)?;
        clips.push(Clip {
            file: "two_tracks.mkv",
            codec: "h264",
            width: 64,
            height: 64,
            bit_depth: 8,
            notes: "two H.264 tracks: 128x72, then 64x64 flagged default (the one ffmpeg picks)",
            decodable: true,
        });
        Ok(())
    }

    /// MP4 with two video tracks (320x180, then 480x270), audio and subtitles: once with only
    /// the first video track enabled (ffmpeg's mov muxer default: ffmpeg then picks 320x180),
    /// once with both enabled (ffmpeg picks the larger, 480x270).
    fn mp4_tracks(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let d = &self.dir;
        let srt = self.tmp.join("subs.srt");
        write(&srt, b"1\n00:00:00,000 --> 00:00:00,900\nnvdx\n")?;
        let one = d.join("two_video_tracks.mp4");
        let mut a = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x180:rate=30",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=480x270:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-i",
            s(&srt)?,
            "-map",
            "0:v",
            "-map",
            "1:v",
            "-map",
            "2:a",
            "-map",
            "3:s",
            "-t",
            "1",
            "-threads",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "10",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-c:s",
            "mov_text",
        ];
        a.extend_from_slice(POST);
        a.push(s(&one)?);
        self.ffmpeg(&a)?;
        let both = d.join("two_video_tracks_both_enabled.mp4");
        let mut b = vec![
            "-i",
            s(&one)?,
            "-map",
            "0",
            "-c",
            "copy",
            "-disposition:v:0",
            "default",
            "-disposition:v:1",
            "default",
        ];
        b.extend_from_slice(POST);
        b.push(s(&both)?);
        self.ffmpeg(&b)?;
        clips.push(Clip {
            file: "two_video_tracks.mp4",
            codec: "h264",
            width: 320,
            height: 180,
            bit_depth: 8,
            notes: "MP4: H.264 320x180 (enabled), H.264 480x270 (not enabled), AAC, mov_text: ffmpeg picks 320x180",
            decodable: true,
        });
        clips.push(Clip {
            file: "two_video_tracks_both_enabled.mp4",
            codec: "h264",
            width: 480,
            height: 270,
            bit_depth: 8,
            notes: "the same with both video tracks enabled (default): ffmpeg picks the larger, 480x270",
            decodable: true,
        });
        Ok(())
    }

    /// `h264.264` re-tagged (bitstream filter, no re-encode) with each matrix/range combination
    /// the kernels implement, and an MP4 whose only colour description is its `colr` box.
    fn colour_tags(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let d = &self.dir;
        let src = d.join("h264.264");
        const TAGS: [(&str, &str, &str); 6] = [
            ("colour_bt601_limited.264", "video_full_range_flag=0:colour_primaries=6:transfer_characteristics=6:matrix_coefficients=6", "BT.601 (SMPTE 170M) limited range"),
            ("colour_bt601_full.264", "video_full_range_flag=1:colour_primaries=5:transfer_characteristics=6:matrix_coefficients=5", "BT.601 (BT.470BG) full range"),
            ("colour_bt709_limited.264", "video_full_range_flag=0:colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1", "BT.709 limited range"),
            ("colour_bt709_full.264", "video_full_range_flag=1:colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1", "BT.709 full range"),
            ("colour_bt2020_limited.264", "video_full_range_flag=0:colour_primaries=9:transfer_characteristics=14:matrix_coefficients=9", "BT.2020 NCL limited range"),
            ("colour_bt2020_full.264", "video_full_range_flag=1:colour_primaries=9:transfer_characteristics=14:matrix_coefficients=9", "BT.2020 NCL full range"),
        ];
        for (file, tags, notes) in TAGS {
            let out = d.join(file);
            let bsf = format!("h264_metadata={tags}");
            let mut a = vec!["-i", s(&src)?, "-c", "copy", "-bsf:v", &bsf, "-f", "h264"];
            a.push(s(&out)?);
            self.ffmpeg(&a)?;
            clips.push(Clip {
                file,
                codec: "h264",
                width: 176,
                height: 144,
                bit_depth: 8,
                notes,
                decodable: true,
            });
        }
        // HEVC: a small x265 stream (176x144, the NVDEC minimum of 144x144 on the H100/H200
        // met; 10 frames) re-tagged the same six ways with `hevc_metadata`.
        let hevc_src = self.tmp.join("colour_src.265");
        let hevc = [
            "-c:v", "libx265", "-pix_fmt", "yuv420p", "-preset", "fast", "-crf", "32",
            "-x265-params",
            "log-level=error:pools=none:frame-threads=1:keyint=10:min-keyint=10:bframes=2:scenecut=0:info=0",
            "-f", "hevc",
        ];
        self.encode(&hevc_src, 176, 144, 10, &hevc)?;
        const HEVC_TAGS: [(&str, &str, &str); 6] = [
            ("colour_hevc_bt601_limited.265", "video_full_range_flag=0:colour_primaries=6:transfer_characteristics=6:matrix_coefficients=6", "HEVC BT.601 (SMPTE 170M) limited range"),
            ("colour_hevc_bt601_full.265", "video_full_range_flag=1:colour_primaries=5:transfer_characteristics=6:matrix_coefficients=5", "HEVC BT.601 (BT.470BG) full range"),
            ("colour_hevc_bt709_limited.265", "video_full_range_flag=0:colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1", "HEVC BT.709 limited range"),
            ("colour_hevc_bt709_full.265", "video_full_range_flag=1:colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1", "HEVC BT.709 full range"),
            ("colour_hevc_bt2020_limited.265", "video_full_range_flag=0:colour_primaries=9:transfer_characteristics=14:matrix_coefficients=9", "HEVC BT.2020 NCL limited range"),
            ("colour_hevc_bt2020_full.265", "video_full_range_flag=1:colour_primaries=9:transfer_characteristics=14:matrix_coefficients=9", "HEVC BT.2020 NCL full range"),
        ];
        for (file, tags, notes) in HEVC_TAGS {
            let out = d.join(file);
            let bsf = format!("hevc_metadata={tags}");
            let mut a = vec![
                "-i",
                s(&hevc_src)?,
                "-c",
                "copy",
                "-bsf:v",
                &bsf,
                "-f",
                "hevc",
            ];
            a.push(s(&out)?);
            self.ffmpeg(&a)?;
            clips.push(Clip {
                file,
                codec: "hevc",
                width: 176,
                height: 144,
                bit_depth: 8,
                notes,
                decodable: true,
            });
        }
        // AV1: `av1.ivf` with its sequence header's color_config re-tagged (`av1_metadata`):
        // BT.709 full range.
        let av1_src = d.join("av1.ivf");
        let av1_bsf = "av1_metadata=color_primaries=1:transfer_characteristics=1:matrix_coefficients=1:color_range=pc";
        let av1_ivf = d.join("colour_av1_bt709_full.ivf");
        let a = [
            "-i",
            s(&av1_src)?,
            "-c",
            "copy",
            "-bsf:v",
            av1_bsf,
            "-f",
            "ivf",
            s(&av1_ivf)?,
        ];
        self.ffmpeg(&a)?;
        clips.push(Clip {
            file: "colour_av1_bt709_full.ivf",
            codec: "av1",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "av1.ivf with color_config BT.709 full range (av1_metadata)",
            decodable: true,
        });

        // colr only: `h264_bframes.mp4`'s SPS has no video signal type (x264 writes none by
        // default); the remux's `colr nclx` says BT.709 full range.
        let bare = d.join("h264_bframes.mp4");
        let mp4 = d.join("colour_colr_bt709_full.mp4");
        let mut a = vec![
            "-i",
            s(&bare)?,
            "-c",
            "copy",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
            "-colorspace",
            "bt709",
            "-color_range",
            "pc",
            "-movflags",
            "+write_colr",
        ];
        a.extend_from_slice(POST);
        a.push(s(&mp4)?);
        self.ffmpeg(&a)?;
        clips.push(Clip {
            file: "colour_colr_bt709_full.mp4",
            codec: "h264",
            width: 176,
            height: 144,
            bit_depth: 8,
            notes: "MP4 colr nclx BT.709 full range; the SPS VUI states no colour description",
            decodable: true,
        });
        Ok(())
    }

    /// Interlaced H.264 (x264 MBAFF/PAFF, `tff=1`) for the deinterlacing tests.
    fn interlaced(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let a = [
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-preset",
            "medium",
            "-crf",
            "30",
            "-g",
            "6",
            "-bf",
            "0",
            "-flags",
            "+ildct+ilme",
            "-x264-params",
            "interlaced=1:tff=1",
        ];
        self.encode(&self.dir.join("h264_interlaced.mp4"), 128, 96, 6, &a)?;
        clips.push(Clip {
            file: "h264_interlaced.mp4",
            codec: "h264",
            width: 128,
            height: 96,
            bit_depth: 8,
            notes: "interlaced H.264 High (x264 interlaced=1:tff=1), 6 frames, no B-frames",
            decodable: true,
        });
        Ok(())
    }

    /// 352x288 H.264 and HEVC whose SPS crops 26 luma columns left and right and 60 rows top
    /// and bottom (`h264_metadata` / `hevc_metadata`): a displayed area of 300x168 at (26, 60).
    fn crop_windows(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let d = &self.dir;
        for (codec, enc, bsf, raw, file) in [
            (
                "h264",
                "libx264",
                "h264_metadata=crop_left=26:crop_right=26:crop_top=60:crop_bottom=60",
                "crop_h264.tmp.264",
                "h264_crop_left_top.264",
            ),
            (
                "hevc",
                "libx265",
                "hevc_metadata=crop_left=26:crop_right=26:crop_top=60:crop_bottom=60",
                "crop_hevc.tmp.265",
                "hevc_crop_left_top.265",
            ),
        ] {
            let tmp = self.tmp.join(raw);
            let mut a = vec![
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=352x288:rate=30:duration=0.5",
                "-threads",
                "1",
                "-c:v",
                enc,
                "-pix_fmt",
                "yuv420p",
                "-g",
                "5",
            ];
            if enc == "libx265" {
                a.extend_from_slice(&["-x265-params", "log-level=error:info=0:pools=1"]);
            }
            a.extend_from_slice(&["-f", if codec == "h264" { "h264" } else { "hevc" }]);
            a.push(s(&tmp)?);
            self.ffmpeg(&a)?;
            let out = d.join(file);
            let fmt = if codec == "h264" { "h264" } else { "hevc" };
            self.ffmpeg(&[
                "-i",
                s(&tmp)?,
                "-c",
                "copy",
                "-bsf:v",
                bsf,
                "-f",
                fmt,
                s(&out)?,
            ])?;
            clips.push(Clip {
                file,
                codec,
                width: 300,
                height: 168,
                bit_depth: 8,
                notes:
                    "352x288 coded, cropped 26 left/right and 60 top/bottom: 300x168 at (26, 60)",
                decodable: true,
            });
        }
        Ok(())
    }

    /// H.264 that NVDEC on Hopper (H100/H200) cannot decode: High 4:4:4 Predictive (8-bit
    /// 4:4:4) and High 10 (10-bit 4:2:0), 4 frames of 96x64 each, Annex B. On those GPUs the
    /// decoder must refuse them with a clear `Unsupported` error; GPUs whose capabilities say
    /// otherwise must decode them.
    fn h264_beyond_hopper(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let d = &self.dir;
        for (file, pix, profile, depth, notes) in [
            (
                "h264_444.264",
                "yuv444p",
                "high444",
                8,
                "Annex B H.264 High 4:4:4 Predictive, 8-bit 4:4:4, 4 frames (not decodable on Hopper)",
            ),
            (
                "h264_10bit.264",
                "yuv420p10le",
                "high10",
                10,
                "Annex B H.264 High 10, 10-bit 4:2:0, 4 frames (not decodable on Hopper)",
            ),
        ] {
            self.encode(
                &d.join(file),
                96,
                64,
                4,
                &[
                    "-c:v", "libx264", "-pix_fmt", pix, "-profile:v", profile, "-f", "h264",
                ],
            )?;
            clips.push(Clip {
                file,
                codec: "h264",
                width: 96,
                height: 64,
                bit_depth: depth,
                notes,
                decodable: true,
            });
        }
        Ok(())
    }

    /// MPEG-2 video (an open-GOP stream with B-frames) in MP4, stream-copied to an elementary
    /// stream and to Matroska, and Motion JPEG in MOV stream-copied to Matroska: each family
    /// is one bitstream, so one raw reference of ffmpeg's decode (`mpeg2.yuv`, `mjpeg.yuv`:
    /// display order, `yuv420p` / `yuvj420p` planes, no header) serves all of its clips for the
    /// GPU test's PSNR bar. 96x64 keeps the references small (9216 bytes a frame).
    fn mpeg2_mjpeg(&self, clips: &mut Vec<Clip>) -> Result<(), String> {
        let d = &self.dir;
        let mp4 = d.join("mpeg2.mp4");
        self.encode(
            &mp4,
            96,
            64,
            12,
            &["-c:v", "mpeg2video", "-g", "6", "-bf", "2", "-q:v", "3"],
        )?;
        for (out, fmt) in [("mpeg2.m2v", "mpeg2video"), ("mpeg2.mkv", "matroska")] {
            let out = d.join(out);
            let mut a = vec!["-i", s(&mp4)?, "-map", "0:v:0", "-c", "copy"];
            a.extend_from_slice(POST);
            a.extend_from_slice(&["-f", fmt, s(&out)?]);
            self.ffmpeg(&a)?;
        }
        let mov = d.join("mjpeg.mov");
        self.encode(
            &mov,
            96,
            64,
            6,
            &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "3"],
        )?;
        let mut a = vec!["-i", s(&mov)?, "-map", "0:v:0", "-c", "copy"];
        a.extend_from_slice(POST);
        let mkv = d.join("mjpeg.mkv");
        a.push(s(&mkv)?);
        self.ffmpeg(&a)?;
        for (src, pix, out) in [
            ("mpeg2.m2v", "yuv420p", "mpeg2.yuv"),
            ("mjpeg.mov", "yuvj420p", "mjpeg.yuv"),
        ] {
            self.ffmpeg(&[
                "-threads",
                "1",
                "-i",
                s(&d.join(src))?,
                "-map",
                "0:v:0",
                "-f",
                "rawvideo",
                "-pix_fmt",
                pix,
                s(&d.join(out))?,
            ])?;
        }
        for (file, notes) in [
            (
                "mpeg2.m2v",
                "MPEG-2 video elementary stream, Main 4:2:0, open GOPs of 6, 2 B-frames (raw reference mpeg2.yuv)",
            ),
            (
                "mpeg2.mp4",
                "MPEG-2 in MP4 (mp4v, esds objectTypeIndication 0x61): the bitstream of mpeg2.m2v",
            ),
            (
                "mpeg2.mkv",
                "MPEG-2 in Matroska (V_MPEG2, CodecPrivate: sequence header): the bitstream of mpeg2.m2v",
            ),
        ] {
            clips.push(Clip {
                file,
                codec: "mpeg2",
                width: 96,
                height: 64,
                bit_depth: 8,
                notes,
                decodable: true,
            });
        }
        for (file, notes) in [
            (
                "mjpeg.mov",
                "Motion JPEG in MOV (jpeg sample entry), 4:2:0 full range (raw reference mjpeg.yuv)",
            ),
            (
                "mjpeg.mkv",
                "Motion JPEG in Matroska (V_MJPEG): the pictures of mjpeg.mov",
            ),
        ] {
            clips.push(Clip {
                file,
                codec: "mjpeg",
                width: 96,
                height: 64,
                bit_depth: 8,
                notes,
                decodable: true,
            });
        }
        Ok(())
    }

    fn ffmpeg_stdout(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let out = Command::new(&self.ffmpeg)
            .args(PRE)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.ffmpeg))?;
        if !out.status.success() {
            return Err(format!(
                "{} {:?} failed: {}",
                self.ffmpeg,
                args,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(out.stdout)
    }
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

fn write(p: &Path, b: &[u8]) -> Result<(), String> {
    fs::write(p, b).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

/// Flips bytes in the middle of every 4th slice NAL unit (types 1 and 5) after the first one.
fn flip_after_first_picture(es: &mut [u8]) -> Result<(), String> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= es.len() {
        if es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut slices = 0;
    for (k, &st) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(es.len(), |&n| n - 3);
        let Some(&hdr) = es.get(st) else { continue };
        let t = hdr & 0x1f;
        if t != 1 && t != 5 {
            continue;
        }
        slices += 1;
        if slices == 1 || slices % 4 != 2 || end <= st + 16 {
            continue;
        }
        let mid = st + (end - st) / 2;
        for b in &mut es[mid..mid + 4] {
            *b ^= 0x5a;
        }
    }
    if slices < 2 {
        return Err("corrupt_bitflip: fewer than 2 slices in h264.264".into());
    }
    Ok(())
}

fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
