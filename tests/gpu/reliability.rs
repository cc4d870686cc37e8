//! Reliability (issue "Reliability"):
//! - corrupt packet sequences (bit flips, truncation, dropped / duplicated / reordered packets,
//!   parameter sets swapped, deleted or foreign, random packets) end in frames or errors, never
//!   a panic or a hang, and the same decoder then decodes the clean stream bit-exactly, with
//!   device memory flat (own process);
//! - 32 threads on one context (decode, sampling, colour kernels, transfers) stay bit-exact
//!   with single-threaded results and do not deadlock;
//! - a scaled soak of decode + convert + transfer keeps device memory, RSS and open file
//!   descriptors flat (own process, `NVDX_SOAK_SECONDS`, default 20);
//! - dropping decoders, file decoders, pools, transfers and readers in any state is safe.
//!
//! Device memory figures come from `cuMemGetInfo`, which is GPU-wide: other tests of the same
//! run allocate concurrently, so the checks retry for a few seconds before failing. Run
//! `reliability::` alone with `--test-threads=1` for exact figures.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use nvdx::decode::{DecodeStatus, Decoder, DecoderConfig, FileDecoder};
use nvdx::kernels::colour::{self, ColourSpace, Tensor, TensorDtype, TensorParams};
use nvdx::sample::VideoReader;
use nvdx::xfer::{LinkKind, Transfer, TransferMode, TransferPath};
use nvdx::FrameView;
use nvdx::{Codec, Context, Frame, FramePool, MemoryKind, PixelFormat, Stream};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};

use crate::common::{ctx, is_fresh_child, random_bytes, rng};

// ---------------------------------------------------------------------------------------------
// Helpers

fn fixture(name: &str) -> PathBuf {
    let dir = std::env::var_os("NVDX_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")));
    dir.join(name)
}

fn ok<T>(r: nvdx::Result<T>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// One compressed packet: Annex B / raw frame bytes and its timestamp.
type Pkt = (Vec<u8>, i64);

/// Every packet of a file, in decode order, and the file's codec.
fn demux_all(name: &str) -> (Codec, Vec<Pkt>) {
    let mut d = ok(nvdx::demux::open(fixture(name)), &format!("{name}: demux"));
    let codec = d.info().codec;
    let mut v = Vec::new();
    while let Some(p) = ok(d.next_packet(), &format!("{name}: packet {}", v.len())) {
        v.push((p.data, p.pts));
    }
    (codec, v)
}

/// Every frame of a full `FileDecoder` decode: (pts, tightly packed bytes), display order.
fn decode_ref(ctx: &Context, name: &str) -> Vec<(i64, Vec<u8>)> {
    let mut d = ok(
        FileDecoder::open(ctx, fixture(name), DecoderConfig::default()),
        &format!("{name}: open"),
    );
    let mut out = Vec::new();
    while let Some(f) = ok(d.next_frame(), &format!("{name}: frame {}", out.len())) {
        ok(d.stream().synchronize(), name);
        out.push((f.frame.meta.pts, ok(f.frame.to_host_vec(), name)));
    }
    out
}

/// Number of frames a `.framemd5` lists.
fn framemd5_count(name: &str) -> usize {
    let path = fixture(&format!("{name}.framemd5"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

/// Runs `test` (a full test path) in a fresh process of this binary, printing its output; a
/// child that runs longer than `limit` is killed and fails the test (a hang).
fn run_child(test: &str, limit: Duration) {
    let exe = std::env::current_exe().expect("test executable path");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NVDX_FRESH_PROCESS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run the test binary");
    let mut out = child.stdout.take().expect("child stdout");
    let mut err = child.stderr.take().expect("child stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for the child") {
            break Some(s);
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    eprintln!("{stdout}{stderr}");
    let Some(status) = status else {
        panic!("child `{test}` ran past {limit:?} and was killed (a hang?); its output is above");
    };
    assert!(
        status.success(),
        "child `{test}` failed ({status}); its output is above"
    );
    assert!(
        stdout.contains("1 passed"),
        "child `{test}` did not run: {stdout}"
    );
}

/// Free device memory after synchronising. `cuMemGetInfo` is GPU-wide, so when `floor` is
/// given and the reading is below it, reads again for up to 5 s and returns the highest value
/// seen (other tests of the run release their memory in that time; a leak of ours does not).
fn free_memory(ctx: &Context, floor: Option<usize>) -> usize {
    ok(ctx.synchronize(), "synchronize");
    let mut best = ok(ctx.memory_info(), "memory info").0;
    if let Some(floor) = floor {
        let t0 = Instant::now();
        while best < floor && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(100));
            best = best.max(ok(ctx.memory_info(), "memory info").0);
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------
// 1. Corrupt packet sequences

/// Fixtures of the corruption test: name, parameter-set donor of the same codec, foreign
/// parameter sets (the other codec's). The donors differ from the fixtures' own parameter sets
/// (which are identical between the two H.264 and the two HEVC fixtures): sample.mp4's SPS is
/// 320x240 instead of 176x144, hevc_main10.mp4's is 10-bit instead of 8-bit.
const CORRUPT_FIXTURES: &[(&str, Option<&str>, Option<&str>)] = &[
    ("h264_bframes.mp4", Some("sample.mp4"), Some("hevc.265")),
    (
        "hevc_main_hvc1.mp4",
        Some("hevc_main10.mp4"),
        Some("h264.264"),
    ),
    ("vp9.ivf", None, None),
    ("h264.264", Some("sample.mp4"), Some("hevc_main_hvc1.mp4")),
    (
        "hevc.265",
        Some("hevc_main10.mp4"),
        Some("h264_bframes.mp4"),
    ),
];

/// Mutations per fixture (every tenth one is the clean stream, as a control).
const MUTATIONS: usize = 40;

/// No message from a fixture's worker for this long is a hang.
const CORRUPT_STALL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Clean,
    BitFlips,
    TruncateList,
    TruncatePackets,
    DropPackets,
    DuplicatePackets,
    SwapNeighbours,
    ShuffleWindow,
    RandomPacket,
    ParamSetsSwapped,
    ParamSetsDeleted,
    ParamSetsForeign,
    Combined,
}

const SIMPLE_KINDS: &[Kind] = &[
    Kind::BitFlips,
    Kind::TruncateList,
    Kind::TruncatePackets,
    Kind::DropPackets,
    Kind::DuplicatePackets,
    Kind::SwapNeighbours,
    Kind::ShuffleWindow,
    Kind::RandomPacket,
];

const PS_KINDS: &[Kind] = &[
    Kind::ParamSetsSwapped,
    Kind::ParamSetsDeleted,
    Kind::ParamSetsForeign,
];

fn nal_type(codec: Codec, nal: &[u8]) -> u8 {
    match codec {
        Codec::Hevc => (nal[0] >> 1) & 0x3f,
        _ => nal[0] & 0x1f,
    }
}

/// Parameter-set NAL types: H.264 SPS/PPS (7, 8), HEVC VPS/SPS/PPS (32, 33, 34).
fn ps_types(codec: Codec) -> &'static [u8] {
    match codec {
        Codec::H264 => &[7, 8],
        Codec::Hevc => &[32, 33, 34],
        _ => &[],
    }
}

fn is_ps(codec: Codec, nal: &[u8]) -> bool {
    !nal.is_empty() && ps_types(codec).contains(&nal_type(codec, nal))
}

fn to_annexb(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(n);
    }
    out
}

/// The parameter sets of the first packet that has any.
fn parameter_sets(codec: Codec, packets: &[Pkt]) -> Vec<Vec<u8>> {
    packets
        .iter()
        .map(|(d, _)| {
            nvdx::demux::split_annexb(d)
                .filter(|n| is_ps(codec, n))
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

/// Replaces the parameter sets (of type `only`, or all) of the packets (only the first that
/// has any when `first_only`) by `with` (of type `only` when given); returns how many packets
/// changed.
fn rewrite_ps(
    packets: &mut [Pkt],
    codec: Codec,
    only: Option<u8>,
    with: &[Vec<u8>],
    first_only: bool,
) -> usize {
    let matches = |n: &[u8]| is_ps(codec, n) && only.is_none_or(|t| nal_type(codec, n) == t);
    let with: Vec<&[u8]> = with
        .iter()
        .map(Vec::as_slice)
        .filter(|n| only.is_none_or(|t| !n.is_empty() && nal_type(codec, n) == t))
        .collect();
    let mut changed = 0;
    for (data, _) in packets.iter_mut() {
        let nals: Vec<&[u8]> = nvdx::demux::split_annexb(data).collect();
        if !nals.iter().any(|n| matches(n)) {
            continue;
        }
        let mut out: Vec<&[u8]> = Vec::new();
        let mut inserted = false;
        for n in &nals {
            if matches(n) {
                if !inserted {
                    out.extend(with.iter().copied());
                    inserted = true;
                }
            } else {
                out.push(n);
            }
        }
        let rebuilt = to_annexb(&out);
        *data = rebuilt;
        changed += 1;
        if first_only {
            break;
        }
    }
    changed
}

/// Applies one mutation of `kind` in place; returns a description.
fn apply(
    kind: Kind,
    rng: &mut StdRng,
    p: &mut Vec<Pkt>,
    codec: Codec,
    donor: &[Vec<u8>],
    foreign: &[Vec<u8>],
) -> String {
    if p.is_empty() {
        return format!("{kind:?}: no packets left");
    }
    let n = p.len();
    match kind {
        Kind::Clean => "clean stream (control)".into(),
        Kind::BitFlips => {
            let bits = rng.gen_range(1..=20);
            let mut touched = Vec::new();
            for _ in 0..bits {
                let i = rng.gen_range(0..n);
                if p[i].0.is_empty() {
                    continue;
                }
                let b = rng.gen_range(0..p[i].0.len());
                p[i].0[b] ^= 1 << rng.gen_range(0..8);
                touched.push(i);
            }
            touched.sort_unstable();
            touched.dedup();
            format!("{bits} bit flips in packets {touched:?}")
        }
        Kind::TruncateList => {
            let k = rng.gen_range(1..n.max(2)).min(n);
            p.truncate(k);
            format!("first {k} of {n} packets")
        }
        Kind::TruncatePackets => {
            let m = rng.gen_range(1..=3);
            let mut what = Vec::new();
            for _ in 0..m {
                let i = rng.gen_range(0..n);
                let len = p[i].0.len();
                let keep = rng.gen_range(0..len.max(1));
                p[i].0.truncate(keep);
                what.push(format!("#{i} {len}->{keep} B"));
            }
            format!("packets cut: {}", what.join(", "))
        }
        Kind::DropPackets => {
            let m = rng.gen_range(1..=5).min(n);
            let mut gone: Vec<usize> = rand::seq::index::sample(rng, n, m).into_vec();
            gone.sort_unstable();
            for &i in gone.iter().rev() {
                p.remove(i);
            }
            format!("dropped packets {gone:?}")
        }
        Kind::DuplicatePackets => {
            let m = rng.gen_range(1..=3);
            let mut at = Vec::new();
            for _ in 0..m {
                let i = rng.gen_range(0..p.len());
                let dup = p[i].clone();
                p.insert(i + 1, dup);
                at.push(i);
            }
            format!("duplicated packets at {at:?}")
        }
        Kind::SwapNeighbours => {
            if n < 2 {
                return "swap: one packet only".into();
            }
            let m = rng.gen_range(1..=3);
            let mut at = Vec::new();
            for _ in 0..m {
                let i = rng.gen_range(0..n - 1);
                p.swap(i, i + 1);
                at.push(i);
            }
            format!("swapped neighbours at {at:?}")
        }
        Kind::ShuffleWindow => {
            let w = rng.gen_range(3..=6).min(n);
            let s = rng.gen_range(0..=n - w);
            p[s..s + w].shuffle(rng);
            format!("shuffled packets {s}..{}", s + w)
        }
        Kind::RandomPacket => {
            let m = rng.gen_range(1..=2);
            let mut at = Vec::new();
            for _ in 0..m {
                let i = rng.gen_range(0..n);
                let len = rng.gen_range(1..=4096);
                let mut junk = random_bytes(rng, len);
                if codec != Codec::Vp9 && rng.gen_bool(0.5) {
                    // Starts like a NAL unit so the parser reads it as one.
                    junk.splice(0..0, [0, 0, 0, 1]);
                }
                p[i].0 = junk;
                at.push(i);
            }
            format!("random bytes replace packets {at:?}")
        }
        Kind::ParamSetsSwapped => {
            let only = if rng.gen_bool(0.5) {
                ps_types(codec).choose(rng).copied()
            } else {
                None
            };
            let c = rewrite_ps(p, codec, only, donor, false);
            format!("parameter sets (type {only:?}) swapped with another fixture's in {c} packets")
        }
        Kind::ParamSetsDeleted => {
            let (only, first_only) = match rng.gen_range(0..4) {
                0 => (None, false),
                1 => (None, true),
                _ => (ps_types(codec).choose(rng).copied(), false),
            };
            let c = rewrite_ps(p, codec, only, &[], first_only);
            format!(
                "parameter sets (type {only:?}) deleted from {c} packets{}",
                if first_only { " (first only)" } else { "" }
            )
        }
        Kind::ParamSetsForeign => {
            if rng.gen_bool(0.5) {
                let mut first = to_annexb(&foreign.iter().map(Vec::as_slice).collect::<Vec<_>>());
                first.extend_from_slice(&p[0].0);
                p[0].0 = first;
                "foreign codec's parameter sets prepended to packet 0".into()
            } else {
                // Raw insertion: the foreign NALs stand where our parameter sets were.
                let nals: Vec<Vec<u8>> = foreign.to_vec();
                let mut changed = 0;
                for (data, _) in p.iter_mut() {
                    let parts: Vec<&[u8]> = nvdx::demux::split_annexb(data).collect();
                    if !parts.iter().any(|x| is_ps(codec, x)) {
                        continue;
                    }
                    let mut out: Vec<&[u8]> = nals.iter().map(Vec::as_slice).collect();
                    out.extend(parts.iter().copied().filter(|x| !is_ps(codec, x)));
                    *data = to_annexb(&out);
                    changed += 1;
                }
                format!("own parameter sets replaced by the foreign codec's in {changed} packets")
            }
        }
        Kind::Combined => {
            let mut kinds: Vec<Kind> = SIMPLE_KINDS
                .iter()
                .copied()
                .filter(|k| *k != Kind::TruncateList)
                .collect();
            if codec != Codec::Vp9 {
                kinds.extend_from_slice(PS_KINDS);
            }
            let m = rng.gen_range(2..=3);
            let mut what = Vec::new();
            for _ in 0..m {
                let k = *kinds.choose(rng).expect("kinds");
                what.push(format!(
                    "{k:?}: {}",
                    apply(k, rng, p, codec, donor, foreign)
                ));
            }
            format!("combined [{}]", what.join("; "))
        }
    }
}

/// What one run of packets through the decoder gave.
#[derive(Default)]
struct Run {
    statuses: BTreeMap<DecodeStatus, usize>,
    /// (pts, status, bytes) when asked to keep the frames.
    kept: Vec<(i64, DecodeStatus, Vec<u8>)>,
    frames: usize,
    push_err: Option<String>,
    flush_err: Option<String>,
    next_err: Option<String>,
}

impl Run {
    fn errors(&self) -> impl Iterator<Item = &String> {
        self.push_err
            .iter()
            .chain(&self.flush_err)
            .chain(&self.next_err)
    }
}

fn drain(dec: &mut Decoder, stream: &Stream, keep: bool, run: &mut Run) -> nvdx::Result<()> {
    while let Some(f) = dec.next_owned(stream)? {
        run.frames += 1;
        *run.statuses.entry(f.status).or_default() += 1;
        if keep {
            stream.synchronize()?;
            run.kept
                .push((f.frame.meta.pts, f.status, f.frame.to_host_vec()?));
        }
    }
    Ok(())
}

/// Pushes every packet (taking the frames after each), flushes, takes the rest. Stops at the
/// first error; frames already decoded are still taken.
fn feed(dec: &mut Decoder, stream: &Stream, packets: &[Pkt], keep: bool) -> Run {
    let mut run = Run::default();
    for (data, pts) in packets {
        if let Err(e) = dec.push(data, Some(*pts)) {
            run.push_err = Some(e.to_string());
            break;
        }
        if let Err(e) = drain(dec, stream, keep, &mut run) {
            run.next_err = Some(e.to_string());
            break;
        }
    }
    if run.push_err.is_none() && run.next_err.is_none() {
        if let Err(e) = dec.flush() {
            run.flush_err = Some(e.to_string());
        }
    }
    if run.next_err.is_none() {
        if let Err(e) = drain(dec, stream, keep, &mut run) {
            run.next_err = Some(e.to_string());
        }
    }
    let _ = stream.synchronize();
    run
}

/// Compares a clean run with the reference: same frames, same pts, same bytes, all exact.
fn compare_clean(what: &str, run: &Run, want: &[(i64, Vec<u8>)]) -> Option<String> {
    if let Some(e) = run.errors().next() {
        return Some(format!("{what}: error {e}"));
    }
    for (i, ((pts, status, bytes), (wpts, wbytes))) in run.kept.iter().zip(want).enumerate() {
        if pts != wpts || bytes != wbytes || !status.is_ok() {
            return Some(format!(
                "{what}: frame {i} differs (pts {pts} vs {wpts}, status {status:?}, bytes {})",
                if bytes == wbytes { "equal" } else { "differ" }
            ));
        }
    }
    if run.kept.len() != want.len() {
        return Some(format!(
            "{what}: {} frames decoded, {} expected",
            run.kept.len(),
            want.len()
        ));
    }
    None
}

/// A decode-order prefix of a clean stream: every picture in it is decodable, so each frame
/// must be exact (matched by pts) and there must be one per packet.
fn compare_prefix(
    what: &str,
    run: &Run,
    packets: usize,
    want: &HashMap<i64, &Vec<u8>>,
) -> Option<String> {
    if let Some(e) = run.errors().next() {
        return Some(format!("{what}: error {e}"));
    }
    for (pts, status, bytes) in &run.kept {
        match want.get(pts) {
            Some(w) if *w == bytes && status.is_ok() => {}
            Some(_) => {
                return Some(format!(
                    "{what}: frame pts {pts} ({status:?}) differs from the full decode"
                ))
            }
            None => return Some(format!("{what}: frame with unknown pts {pts}")),
        }
    }
    if run.kept.len() != packets {
        return Some(format!(
            "{what}: {} frames from {packets} clean packets",
            run.kept.len()
        ));
    }
    None
}

#[derive(Default, Clone, Copy)]
struct Tally {
    runs: usize,
    with_frames: usize,
    empty: usize,
    frames: usize,
    success: usize,
    concealed: usize,
    error: usize,
    other: usize,
    push_err: usize,
    flush_err: usize,
    next_err: usize,
}

impl Tally {
    fn add(&mut self, r: &Run) {
        self.runs += 1;
        self.frames += r.frames;
        let errs = r.errors().count();
        if r.frames > 0 {
            self.with_frames += 1;
        } else if errs == 0 {
            self.empty += 1;
        }
        for (s, c) in &r.statuses {
            match s {
                DecodeStatus::Success => self.success += c,
                DecodeStatus::Concealed => self.concealed += c,
                DecodeStatus::Error => self.error += c,
                _ => self.other += c,
            }
        }
        self.push_err += usize::from(r.push_err.is_some());
        self.flush_err += usize::from(r.flush_err.is_some());
        self.next_err += usize::from(r.next_err.is_some());
    }

    fn merge(&mut self, o: &Tally) {
        self.runs += o.runs;
        self.with_frames += o.with_frames;
        self.empty += o.empty;
        self.frames += o.frames;
        self.success += o.success;
        self.concealed += o.concealed;
        self.error += o.error;
        self.other += o.other;
        self.push_err += o.push_err;
        self.flush_err += o.flush_err;
        self.next_err += o.next_err;
    }

    fn row(&self, label: &str) -> String {
        format!(
            "{label:<18} {:>4} {:>6} {:>5} {:>6} {:>7} {:>9} {:>5} {:>5} {:>8} {:>9} {:>8}",
            self.runs,
            self.with_frames,
            self.empty,
            self.frames,
            self.success,
            self.concealed,
            self.error,
            self.other,
            self.push_err,
            self.flush_err,
            self.next_err
        )
    }
}

const TALLY_HEADER: &str = "kind               runs frames empty frames success concealed error other push-err flush-err next-err\n                        (runs) (runs)";

struct FixtureReport {
    name: &'static str,
    seed: u64,
    tallies: BTreeMap<Kind, Tally>,
    error_messages: BTreeMap<String, usize>,
    failures: Vec<String>,
    elapsed: Duration,
    stats: String,
}

enum Msg {
    Start(usize, String),
    Done(Box<FixtureReport>),
}

struct CorruptInput {
    name: &'static str,
    codec: Codec,
    clean: Vec<Pkt>,
    reference: Vec<(i64, Vec<u8>)>,
    donor: Vec<Vec<u8>>,
    foreign: Vec<Vec<u8>>,
    seed: u64,
}

fn corrupt_worker(ctx: Context, input: CorruptInput, tx: Sender<Msg>) {
    let t0 = Instant::now();
    let CorruptInput {
        name,
        codec,
        clean,
        reference,
        donor,
        foreign,
        seed,
    } = input;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = FixtureReport {
        name,
        seed,
        tallies: BTreeMap::new(),
        error_messages: BTreeMap::new(),
        failures: Vec::new(),
        elapsed: Duration::ZERO,
        stats: String::new(),
    };
    let stream = ok(Stream::new(&ctx), "stream");
    let new_decoder = || ok(Decoder::new(&ctx, codec, DecoderConfig::default()), name);
    let mut dec = new_decoder();
    let by_pts: HashMap<i64, &Vec<u8>> = reference.iter().map(|(p, b)| (*p, b)).collect();
    let mut kinds: Vec<Kind> = SIMPLE_KINDS.to_vec();
    if !ps_types(codec).is_empty() {
        kinds.extend_from_slice(PS_KINDS);
    }
    kinds.push(Kind::Combined);
    for m in 0..MUTATIONS {
        let kind = if m % 10 == 0 {
            Kind::Clean
        } else {
            kinds[(m - 1 - m / 10) % kinds.len()]
        };
        let mut packets = clean.clone();
        let desc = apply(kind, &mut rng, &mut packets, codec, &donor, &foreign);
        let _ = tx.send(Msg::Start(m, format!("{kind:?}: {desc}")));
        let keep = matches!(kind, Kind::Clean | Kind::TruncateList);
        let run = feed(&mut dec, &stream, &packets, keep);
        report.tallies.entry(kind).or_default().add(&run);
        for e in run.errors() {
            let short: String = e.chars().take(110).collect();
            *report.error_messages.entry(short).or_default() += 1;
        }
        let what = format!("{name} mutation {m} ({kind:?}: {desc})");
        let verdict = match kind {
            Kind::Clean => compare_clean(&what, &run, &reference),
            Kind::TruncateList => compare_prefix(&what, &run, packets.len(), &by_pts),
            _ => None,
        };
        report.failures.extend(verdict);
        if let Err(e) = dec.reset() {
            report
                .failures
                .push(format!("{what}: reset() failed: {e}; decoder recreated"));
            dec = new_decoder();
        }
    }
    // The same decoder, after everything above, decodes the clean stream exactly.
    let _ = tx.send(Msg::Start(MUTATIONS, "final clean decode".into()));
    let run = feed(&mut dec, &stream, &clean, true);
    report.failures.extend(compare_clean(
        &format!("{name}: clean decode after {MUTATIONS} mutations"),
        &run,
        &reference,
    ));
    report.stats = format!("{:?}", dec.stats());
    drop(dec);
    let _ = stream.synchronize();
    report.elapsed = t0.elapsed();
    let _ = tx.send(Msg::Done(Box::new(report)));
}

fn print_report(r: &FixtureReport) {
    eprintln!(
        "\n== {}: {} mutations in {:.2} s (fixture seed {}), decoder stats {}",
        r.name,
        MUTATIONS,
        r.elapsed.as_secs_f64(),
        r.seed,
        r.stats
    );
    eprintln!("{TALLY_HEADER}");
    let mut total = Tally::default();
    for (k, t) in &r.tallies {
        eprintln!("{}", t.row(&format!("{k:?}")));
        total.merge(t);
    }
    eprintln!("{}", total.row("TOTAL"));
    if !r.error_messages.is_empty() {
        eprintln!("errors returned (count: message):");
        for (m, c) in &r.error_messages {
            eprintln!("  {c:>3}: {m}");
        }
    }
}

/// Corrupt packet sequences through one reused decoder per fixture: frames or errors, never a
/// panic or a hang; the decoder recovers with `reset()`; device memory stays flat. Runs in its
/// own process (memory accounting), killed after 5 minutes.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn corrupt_packets_never_panic_hang_or_leak() {
    run_child(
        "reliability::corrupt_packets_child",
        Duration::from_secs(300),
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn corrupt_packets_child() {
    if !is_fresh_child("corrupt_packets_never_panic_hang_or_leak") {
        return;
    }
    let ctx = ctx();
    let mut master = rng();
    let t0 = Instant::now();
    let mut ps_cache: HashMap<&str, Vec<Vec<u8>>> = HashMap::new();
    let mut ps_of = |name: &'static str| -> Vec<Vec<u8>> {
        ps_cache
            .entry(name)
            .or_insert_with(|| {
                let (codec, p) = demux_all(name);
                parameter_sets(codec, &p)
            })
            .clone()
    };
    // Reference decodes (a fresh FileDecoder each): also the warm-up before the memory reading.
    let mut inputs = Vec::new();
    for &(name, donor, foreign) in CORRUPT_FIXTURES {
        let (codec, clean) = demux_all(name);
        let reference = decode_ref(&ctx, name);
        assert_eq!(
            reference.len(),
            framemd5_count(name),
            "{name}: reference decode frame count vs its .framemd5"
        );
        inputs.push(CorruptInput {
            name,
            codec,
            clean,
            reference,
            donor: donor.map(&mut ps_of).unwrap_or_default(),
            foreign: foreign.map(&mut ps_of).unwrap_or_default(),
            seed: master.gen(),
        });
    }
    for i in &inputs {
        if i.codec != Codec::Vp9 {
            let own = parameter_sets(i.codec, &i.clean);
            assert!(
                !own.is_empty() && !i.donor.is_empty() && !i.foreign.is_empty(),
                "{}: no parameter sets found to mutate",
                i.name
            );
            assert!(
                own != i.donor,
                "{}: the donor's parameter sets are the same",
                i.name
            );
        }
    }
    let free0 = free_memory(&ctx, None);

    let mut workers = Vec::new();
    for input in inputs {
        let (tx, rx) = mpsc::channel();
        let name = input.name;
        let c = ctx.clone();
        let h = std::thread::Builder::new()
            .name(format!("corrupt {name}"))
            .spawn(move || corrupt_worker(c, input, tx))
            .expect("spawn");
        workers.push((name, rx, h));
    }
    let mut reports = Vec::new();
    for (name, rx, h) in workers {
        let mut last = (0usize, String::from("(not started)"));
        loop {
            match rx.recv_timeout(CORRUPT_STALL) {
                Ok(Msg::Start(m, what)) => last = (m, what),
                Ok(Msg::Done(r)) => {
                    reports.push(*r);
                    break;
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{name}: no progress for {CORRUPT_STALL:?} in mutation {} ({}): the decoder \
                     hangs on this input",
                    last.0, last.1
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let why = match h.join() {
                        Err(p) => panic_text(p.as_ref()),
                        Ok(()) => "worker ended without a report".into(),
                    };
                    panic!("{name}: PANIC in mutation {} ({}): {why}", last.0, last.1);
                }
            }
        }
        h.join().expect("worker thread");
    }
    let mut failures = Vec::new();
    let mut total = Tally::default();
    for r in &reports {
        print_report(r);
        for t in r.tallies.values() {
            total.merge(t);
        }
        failures.extend(r.failures.iter().cloned());
    }
    eprintln!(
        "\nall fixtures: {} runs, {} with frames, {} with neither frames nor errors, {} frames \
         ({} concealed, {} error status), {} push / {} flush / {} next_owned errors, {:.1} s",
        total.runs,
        total.with_frames,
        total.empty,
        total.frames,
        total.concealed,
        total.error,
        total.push_err,
        total.flush_err,
        total.next_err,
        t0.elapsed().as_secs_f64()
    );

    // Device memory: every session is gone, so free memory must be back where it was after
    // the warm-up decodes. Tolerance 8 MiB: the driver allocates in 2 MiB pages and may keep a
    // few pages of NVDEC/stream bookkeeping cached after sessions of sizes the warm-up did not
    // create (corrupt SPSs make decoders of other sizes); 200 leaked sessions or pool frames
    // would be far more.
    const TOLERANCE: usize = 8 << 20;
    let free1 = free_memory(&ctx, Some(free0.saturating_sub(TOLERANCE)));
    let lost = free0.saturating_sub(free1);
    eprintln!(
        "device free memory: {:.1} MiB before the mutations, {:.1} MiB after, lost {:.2} MiB \
         (tolerance {} MiB)",
        mib(free0),
        mib(free1),
        mib(lost),
        TOLERANCE >> 20
    );
    for f in &failures {
        eprintln!("FAILURE {f}");
    }
    assert!(
        failures.is_empty(),
        "{} failures (listed above); replay with the seed printed at the top",
        failures.len()
    );
    assert!(
        lost <= TOLERANCE,
        "{:.2} MiB of device memory lost over {} corrupt runs",
        mib(lost),
        total.runs
    );
    assert_eq!(total.runs, MUTATIONS * CORRUPT_FIXTURES.len());
}

// ---------------------------------------------------------------------------------------------
// 2. Concurrency

const THREADS: usize = 32;
const ROUNDS: usize = 3;
const CONC_TIMEOUT: Duration = Duration::from_secs(120);
const DECODE_FILES: &[&str] = &["sample.mp4", "hevc.265", "vp9.ivf", "h264_bframes.mp4"];
const READER_FILES: &[&str] = &[
    "h264_bframes.mp4",
    "hevc_main_hvc1.mp4",
    "sample.mp4",
    "vp9.ivf",
];
/// Display indices of sample.mp4 the colour workers convert.
const COLOUR_PICKS: [usize; 3] = [0, 17, 41];

/// Full decode hashed: sha1 over each frame's pts and bytes; (frames, hex digest).
fn decode_hash(ctx: &Context, name: &str, mapped: bool) -> nvdx::Result<(usize, String)> {
    let mut d = FileDecoder::open(ctx, fixture(name), DecoderConfig::default())?;
    let mut h = Sha1::new();
    let mut n = 0;
    if mapped {
        while let Some(m) = d.next_mapped()? {
            let v = m.to_host_vec()?;
            h.update(m.meta().pts.to_le_bytes());
            h.update(&v);
            n += 1;
        }
    } else {
        while let Some(f) = d.next_frame()? {
            d.stream().synchronize()?;
            let v = f.frame.to_host_vec()?;
            h.update(f.frame.meta.pts.to_le_bytes());
            h.update(&v);
            n += 1;
        }
    }
    Ok((n, hex(&h.finalize())))
}

/// Decodes sample.mp4 and converts the frames of [`COLOUR_PICKS`] straight from the decoder's
/// pool frames into an f32 tensor and RGB24 frames; (tensor bytes, RGB frames' bytes).
fn colour_run(ctx: &Context) -> nvdx::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut dec = FileDecoder::open(ctx, fixture("sample.mp4"), DecoderConfig::default())?;
    let mut tensor = Tensor::new(ctx, COLOUR_PICKS.len(), 224, 224, TensorDtype::F32)?;
    let params = TensorParams::imagenet();
    let mut rgbs = Vec::new();
    let last = COLOUR_PICKS.iter().copied().max().unwrap_or(0);
    let mut n = 0;
    while let Some(f) = dec.next_frame()? {
        if let Some(slot) = COLOUR_PICKS.iter().position(|&k| k == n) {
            colour::yuv420_to_tensor(&f.frame, &mut tensor, slot, &params, dec.stream())?;
            let mut rgb = Frame::new(
                ctx,
                PixelFormat::Rgb24,
                f.frame.width(),
                f.frame.height(),
                MemoryKind::Device,
            )?;
            colour::yuv420_to_rgb(&f.frame, &mut rgb, ColourSpace::BT709_LIMITED, dec.stream())?;
            rgbs.push(rgb);
        }
        if n == last {
            break;
        }
        n += 1;
    }
    dec.stream().synchronize()?;
    let mut t = vec![0u8; tensor.buffer().len()];
    tensor.buffer().copy_to_host(&mut t)?;
    let r = rgbs
        .iter()
        .map(Frame::to_host_vec)
        .collect::<nvdx::Result<Vec<_>>>()?;
    Ok((t, r))
}

struct ConcRefs {
    decode: HashMap<&'static str, (usize, String)>,
    readers: HashMap<&'static str, Arc<VideoReader>>,
    reader_frames: HashMap<&'static str, (Vec<usize>, Vec<Vec<u8>>)>,
    tensor: Vec<u8>,
    rgb: Vec<Vec<u8>>,
}

fn reader_run(
    reader: &VideoReader,
    ctx: &Context,
    indices: &[usize],
) -> nvdx::Result<Vec<(Option<u64>, Vec<u8>)>> {
    let stream = Stream::new(ctx)?;
    let frames = reader.frames(indices, &stream)?;
    stream.synchronize()?;
    frames
        .iter()
        .map(|f| Ok((f.meta.index, f.to_host_vec()?)))
        .collect()
}

/// One worker of the concurrency test; `Err` describes the first mismatch or error.
fn conc_worker(
    ctx: &Context,
    i: usize,
    refs: &ConcRefs,
    seed: u64,
    status: &Mutex<String>,
) -> Result<String, String> {
    let set = |s: String| *status.lock().unwrap_or_else(|e| e.into_inner()) = s;
    let variant = i / 4;
    let e = |what: &str| {
        let what = what.to_owned();
        move |err: nvdx::Error| format!("{what}: {err}")
    };
    match i % 4 {
        0 => {
            let name = DECODE_FILES[variant % DECODE_FILES.len()];
            let mapped = variant >= 4;
            for r in 0..ROUNDS {
                set(format!("round {r}: decoding {name} (mapped {mapped})"));
                let got = decode_hash(ctx, name, mapped).map_err(e(name))?;
                let want = &refs.decode[name];
                if &got != want {
                    return Err(format!(
                        "round {r}: {name} (mapped {mapped}) gave {} frames sha1 {}, \
                         single-threaded {} frames sha1 {}",
                        got.0, got.1, want.0, want.1
                    ));
                }
            }
            Ok(format!("decode {name} mapped={mapped}"))
        }
        1 => {
            let name = READER_FILES[variant % READER_FILES.len()];
            let shared = variant < 4;
            let own;
            let reader: &VideoReader = if shared {
                &refs.readers[name]
            } else {
                own = VideoReader::open(fixture(name)).map_err(e(name))?;
                &own
            };
            let (indices, want) = &refs.reader_frames[name];
            for r in 0..ROUNDS {
                set(format!(
                    "round {r}: sampling {name} (shared reader {shared})"
                ));
                let got = reader_run(reader, ctx, indices).map_err(e(name))?;
                for (k, ((idx, bytes), w)) in got.iter().zip(want).enumerate() {
                    if *idx != Some(indices[k] as u64) || bytes != w {
                        return Err(format!(
                            "round {r}: {name} position {k} (frame {}) differs from the \
                             single-threaded sample (meta index {idx:?})",
                            indices[k]
                        ));
                    }
                }
                if got.len() != want.len() {
                    return Err(format!("round {r}: {name}: {} frames", got.len()));
                }
            }
            Ok(format!("sample {name} shared={shared}"))
        }
        2 => {
            for r in 0..ROUNDS {
                set(format!("round {r}: decode + colour conversion"));
                let (t, rgb) = colour_run(ctx).map_err(e("colour"))?;
                if t != refs.tensor {
                    return Err(format!(
                        "round {r}: yuv420_to_tensor output differs from single-threaded"
                    ));
                }
                if rgb != refs.rgb {
                    return Err(format!(
                        "round {r}: yuv420_to_rgb output differs from single-threaded"
                    ));
                }
            }
            Ok("colour".into())
        }
        _ => {
            let mode = if variant.is_multiple_of(2) {
                TransferMode::Auto
            } else {
                TransferMode::Staged
            };
            let (w, h) = [(1920, 1080), (640, 360), (176, 144), (1918, 1078)][variant % 4];
            let mut rng = StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9));
            // On a two-GPU host half of the transfer threads send to GPU 1.
            let dst_ctx = if variant >= 4 && nvdx::Device::count().unwrap_or(0) >= 2 {
                Context::primary(1).map_err(e("GPU 1 context"))?
            } else {
                ctx.clone()
            };
            let pool = FramePool::new(&dst_ctx, PixelFormat::Nv12, w, h, 4, MemoryKind::Device)
                .map_err(e("pool"))?;
            let mut x = Transfer::new(ctx, pool, mode).map_err(e("transfer"))?;
            let same = dst_ctx.device() == ctx.device();
            let peer = same
                || ctx
                    .device()
                    .can_access_peer(&dst_ctx.device())
                    .map_err(e("peer"))?;
            let path_ok = match (mode, x.path()) {
                (TransferMode::Staged, p) => p == TransferPath::Staged,
                (_, TransferPath::Direct(LinkKind::SameDevice)) => same,
                (_, TransferPath::Direct(_)) => !same && peer,
                (_, TransferPath::Staged) => !peer,
            };
            if !path_ok {
                return Err(format!(
                    "{mode:?} GPU {} -> GPU {}: path {:?}",
                    ctx.device().ordinal(),
                    dst_ctx.device().ordinal(),
                    x.path()
                ));
            }
            let src_stream = Stream::new(ctx).map_err(e("stream"))?;
            for r in 0..ROUNDS {
                set(format!("round {r}: {mode:?} transfer {w}x{h}"));
                let mut srcs = Vec::new();
                let mut datas = Vec::new();
                for k in 0..3 {
                    let mut f = Frame::new(ctx, PixelFormat::Nv12, w, h, MemoryKind::Device)
                        .map_err(e("frame"))?;
                    let d = random_bytes(&mut rng, f.layout().tight_len());
                    f.copy_from_host(&d).map_err(e("upload"))?;
                    f.meta.pts = (r * 10 + k) as i64;
                    srcs.push(f);
                    datas.push(d);
                }
                let mut got = vec![x.send(&srcs[0], &src_stream).map_err(e("send"))?];
                got.extend(
                    x.send_batch(&[&srcs[1], &srcs[2]], &src_stream)
                        .map_err(e("send_batch"))?,
                );
                // Overwrite the sources right away on the source stream: the transfers must
                // have read them first.
                for f in &mut srcs {
                    f.memset_async(0, &src_stream).map_err(e("memset"))?;
                }
                x.dst_stream().synchronize().map_err(e("sync"))?;
                src_stream.synchronize().map_err(e("sync"))?;
                for (k, (g, d)) in got.iter().zip(&datas).enumerate() {
                    let bytes = g.to_host_vec().map_err(e("download"))?;
                    if &bytes != d || g.meta.pts != (r * 10 + k) as i64 {
                        return Err(format!(
                            "round {r}: {mode:?} {w}x{h} frame {k} arrived corrupted (pts {})",
                            g.meta.pts
                        ));
                    }
                }
            }
            Ok(format!(
                "transfer {mode:?} {w}x{h} GPU {} -> GPU {}",
                ctx.device().ordinal(),
                dst_ctx.device().ordinal()
            ))
        }
    }
}

/// 32 threads on one context: decode, sampling, colour kernels and transfers, each several
/// rounds, bit-exact with single-threaded results; no deadlock (120 s limit).
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn thirty_two_threads_share_one_context_bit_exact() {
    let ctx = ctx();
    let mut rng = rng();
    let t0 = Instant::now();
    let mut decode = HashMap::new();
    for &name in DECODE_FILES {
        let h = ok(decode_hash(&ctx, name, false), name);
        let hm = ok(decode_hash(&ctx, name, true), name);
        assert_eq!(h, hm, "{name}: owned and mapped decodes differ");
        assert_eq!(h.0, framemd5_count(name), "{name}: frame count");
        decode.insert(name, h);
    }
    let stream = ok(Stream::new(&ctx), "stream");
    let mut readers = HashMap::new();
    let mut reader_frames = HashMap::new();
    for &name in READER_FILES {
        let rd = ok(VideoReader::open(fixture(name)), name);
        let n = rd.len();
        let mut idx: Vec<usize> = (0..6).map(|_| rng.gen_range(0..n)).collect();
        idx.extend([0, n - 1, n / 2]);
        let got = ok(reader_run(&rd, &ctx, &idx), name);
        let bytes: Vec<Vec<u8>> = got.into_iter().map(|(_, b)| b).collect();
        reader_frames.insert(name, (idx, bytes));
        readers.insert(name, Arc::new(rd));
    }
    drop(stream);
    let (tensor, rgb) = ok(colour_run(&ctx), "colour reference");
    let refs = Arc::new(ConcRefs {
        decode,
        readers,
        reader_frames,
        tensor,
        rgb,
    });
    let single = t0.elapsed();
    let seed: u64 = rng.gen();

    let statuses: Arc<Vec<Mutex<String>>> =
        Arc::new((0..THREADS).map(|_| Mutex::new("start".into())).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let (tx, rx) = mpsc::channel();
    let t1 = Instant::now();
    for i in 0..THREADS {
        let (ctx, refs, statuses, barrier, tx) = (
            ctx.clone(),
            Arc::clone(&refs),
            Arc::clone(&statuses),
            Arc::clone(&barrier),
            tx.clone(),
        );
        std::thread::Builder::new()
            .name(format!("conc {i}"))
            .spawn(move || {
                barrier.wait();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    conc_worker(&ctx, i, &refs, seed, &statuses[i])
                }))
                .unwrap_or_else(|p| Err(format!("PANIC: {}", panic_text(p.as_ref()))));
                let _ = tx.send((i, r));
            })
            .expect("spawn");
    }
    drop(tx);
    let deadline = t1 + CONC_TIMEOUT;
    let mut done = [false; THREADS];
    let mut failures = Vec::new();
    let mut roles = BTreeMap::new();
    for _ in 0..THREADS {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, r)) => {
                done[i] = true;
                match r {
                    Ok(what) => *roles.entry(what).or_insert(0usize) += 1,
                    Err(e) => failures.push(format!("thread {i}: {e}")),
                }
            }
            Err(_) => {
                let stuck: Vec<String> = (0..THREADS)
                    .filter(|&i| !done[i])
                    .map(|i| {
                        format!(
                            "thread {i}: {}",
                            statuses[i].lock().unwrap_or_else(|e| e.into_inner())
                        )
                    })
                    .collect();
                panic!(
                    "deadlock or hang: {} threads unfinished after {CONC_TIMEOUT:?}:\n{}",
                    stuck.len(),
                    stuck.join("\n")
                );
            }
        }
    }
    eprintln!(
        "{THREADS} threads x {ROUNDS} rounds in {:.2} s (single-threaded references {:.2} s):",
        t1.elapsed().as_secs_f64(),
        single.as_secs_f64()
    );
    for (what, n) in &roles {
        eprintln!("  {n} x {what}");
    }
    for f in &failures {
        eprintln!("FAILURE {f}");
    }
    assert!(
        failures.is_empty(),
        "{} of {THREADS} threads failed (listed above)",
        failures.len()
    );
    ok(ctx.synchronize(), "context still healthy");
}

// ---------------------------------------------------------------------------------------------
// 3. Soak

const SOAK_FILES: &[&str] = &["h264.264", "hevc.265", "vp9.ivf"];

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn soak_seconds() -> f64 {
    std::env::var("NVDX_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(20.0)
}

/// Decode + convert + transfer in a loop for `NVDX_SOAK_SECONDS` (default 20) in a process of
/// its own: device memory, RSS and open file descriptors stay flat after a warm-up.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn soak_decode_convert_transfer_stays_flat() {
    let limit = Duration::from_secs_f64(soak_seconds() * 2.0 + 120.0);
    run_child("reliability::soak_child", limit);
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn soak_child() {
    if !is_fresh_child("soak_decode_convert_transfer_stays_flat") {
        return;
    }
    let secs = soak_seconds();
    let warm = (secs / 10.0).max(2.0).min(secs / 2.0);
    let ctx = ctx();
    // On a two-GPU host the frames go to GPU 1 (peer-to-peer where the GPUs can, else staged),
    // and GPU 1's memory is watched as well.
    let peer =
        (nvdx::Device::count().unwrap_or(0) >= 2).then(|| ok(Context::primary(1), "GPU 1 context"));
    let dst_ctx = peer.clone().unwrap_or_else(|| ctx.clone());
    let (w, h) = (176, 144);
    let params = TensorParams::imagenet();
    let pool = ok(
        FramePool::new(&dst_ctx, PixelFormat::Nv12, w, h, 4, MemoryKind::Device),
        "pool",
    );
    let mut auto = ok(Transfer::new(&ctx, pool, TransferMode::Auto), "transfer");
    eprintln!(
        "soak: transfers GPU {} -> GPU {} ({:?}) and staged on GPU {}",
        ctx.device().ordinal(),
        dst_ctx.device().ordinal(),
        auto.path(),
        dst_ctx.device().ordinal()
    );
    let mut tensor = ok(Tensor::new(&ctx, 8, 112, 112, TensorDtype::F16), "tensor");
    let mut rgb = ok(
        Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device),
        "rgb",
    );
    let mut iteration = |it: usize| -> usize {
        let name = SOAK_FILES[it % SOAK_FILES.len()];
        let what = format!("soak iteration {it} ({name})");
        let mut dec = ok(
            FileDecoder::open(&ctx, fixture(name), DecoderConfig::default()),
            &what,
        );
        // Every fourth iteration also a short-lived staged transfer (pinned staging buffers).
        let mut staged = (it % 4 == 3).then(|| {
            let p = ok(
                FramePool::new(&dst_ctx, PixelFormat::Nv12, w, h, 2, MemoryKind::Device),
                &what,
            );
            ok(Transfer::new(&ctx, p, TransferMode::Staged), &what)
        });
        // Every eighth iteration (one with a staged transfer) checks the bytes that arrived.
        let check = it % 8 == 3;
        let mut n = 0;
        while let Some(f) = ok(dec.next_frame(), &what) {
            let s = dec.stream();
            ok(
                colour::yuv420_to_tensor(&f.frame, &mut tensor, n % 8, &params, s),
                &what,
            );
            ok(
                colour::yuv420_to_rgb(&f.frame, &mut rgb, ColourSpace::BT709_LIMITED, s),
                &what,
            );
            let got = ok(auto.send(&f.frame, s), &what);
            let got2 = staged.as_mut().map(|x| ok(x.send(&f.frame, s), &what));
            if check && n == 0 {
                ok(s.synchronize(), &what);
                ok(auto.dst_stream().synchronize(), &what);
                let want = ok(f.frame.to_host_vec(), &what);
                assert!(
                    ok(got.to_host_vec(), &what) == want,
                    "{what}: auto transfer corrupted the frame"
                );
                if let (Some(g), Some(x)) = (&got2, &staged) {
                    ok(x.dst_stream().synchronize(), &what);
                    assert!(
                        ok(g.to_host_vec(), &what) == want,
                        "{what}: staged transfer corrupted the frame"
                    );
                }
            }
            n += 1;
        }
        ok(dec.stream().synchronize(), &what);
        ok(auto.dst_stream().synchronize(), &what);
        if let Some(x) = &staged {
            ok(x.dst_stream().synchronize(), &what);
        }
        assert_eq!(n, 30, "{what}: frames");
        n
    };
    let t0 = Instant::now();
    let mut it = 0;
    let mut frames = 0;
    while it < 6 || t0.elapsed().as_secs_f64() < warm {
        frames += iteration(it);
        it += 1;
    }
    let warm_its = it;
    let warm_s = t0.elapsed().as_secs_f64();
    let free0 = free_memory(&ctx, None);
    let peer_free0 = peer.as_ref().map(|p| free_memory(p, None));
    let (rss0, fds0) = (rss_kib(), open_fds());
    while t0.elapsed().as_secs_f64() < secs || it < warm_its * 2 {
        frames += iteration(it);
        it += 1;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    const DEVICE_TOL: usize = 4 << 20;
    const RSS_TOL_KIB: u64 = 32 << 10;
    let free1 = free_memory(&ctx, Some(free0.saturating_sub(DEVICE_TOL)));
    let peer_free1 = peer
        .as_ref()
        .zip(peer_free0)
        .map(|(p, f0)| free_memory(p, Some(f0.saturating_sub(DEVICE_TOL))));
    let (rss1, fds1) = (rss_kib(), open_fds());
    let lost = free0.saturating_sub(free1);
    if let (Some(f0), Some(f1)) = (peer_free0, peer_free1) {
        let peer_lost = f0.saturating_sub(f1);
        eprintln!(
            "  GPU 1 device free {:.1} -> {:.1} MiB (lost {:.2}, tolerance {} MiB)",
            mib(f0),
            mib(f1),
            mib(peer_lost),
            DEVICE_TOL >> 20
        );
        assert!(
            peer_lost <= DEVICE_TOL,
            "GPU 1 memory shrank by {:.2} MiB over {} iterations after warm-up",
            mib(peer_lost),
            it - warm_its
        );
    }
    eprintln!(
        "soak: {it} iterations ({warm_its} warm-up in {warm_s:.1} s), {frames} frames decoded, \
         converted twice and transferred, {elapsed:.1} s ({:.0} frames/s)\n  \
         device free {:.1} -> {:.1} MiB (lost {:.2}, tolerance {} MiB)\n  \
         RSS {:.1} -> {:.1} MiB (tolerance {} MiB)\n  open fds {fds0} -> {fds1}",
        frames as f64 / elapsed,
        mib(free0),
        mib(free1),
        mib(lost),
        DEVICE_TOL >> 20,
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        RSS_TOL_KIB >> 10,
    );
    assert!(
        lost <= DEVICE_TOL,
        "device memory shrank by {:.2} MiB over {} iterations after warm-up",
        mib(lost),
        it - warm_its
    );
    assert!(
        rss1 <= rss0 + RSS_TOL_KIB,
        "RSS grew by {} KiB over {} iterations after warm-up",
        rss1 - rss0,
        it - warm_its
    );
    assert_eq!(fds1, fds0, "open file descriptors changed during the soak");
}

// ---------------------------------------------------------------------------------------------
// 4. Drop in any state

/// Dropping every object in awkward states (pictures queued, a frame just unmapped, pool frames
/// out, a transfer in flight, a reader in use on another thread) neither crashes nor corrupts
/// frames that are still held; the context keeps working.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn drop_in_any_state_is_safe() {
    let ctx = ctx();
    let mut rng = rng();
    let h264 = decode_ref(&ctx, "h264.264");
    let bframes = decode_ref(&ctx, "h264_bframes.mp4");
    let by_pts: HashMap<i64, &Vec<u8>> = h264.iter().map(|(p, b)| (*p, b)).collect();
    let (codec, packets) = demux_all("h264.264");
    let stream = ok(Stream::new(&ctx), "stream");

    // a. A Decoder dropped mid-stream with pictures queued, while one of its pool frames is
    //    still held: the held frame stays valid.
    let mut dec = ok(
        Decoder::new(&ctx, codec, DecoderConfig::default()),
        "decoder",
    );
    let mut held = None;
    for (data, pts) in &packets[..20] {
        ok(dec.push(data, Some(*pts)), "push");
        if held.is_none() {
            held = ok(dec.next_owned(&stream), "next_owned");
        }
    }
    let pending = dec.pending();
    assert!(pending > 0, "no pictures queued after 20 packets");
    let held = held.expect("a picture after 20 packets");
    drop(dec);
    ok(stream.synchronize(), "sync");
    let pts = held.frame.meta.pts;
    assert!(
        by_pts.get(&pts) == Some(&&ok(held.frame.to_host_vec(), "held")),
        "a: frame pts {pts} held past its decoder's drop is corrupted"
    );
    drop(held);
    eprintln!("a: decoder dropped with {pending} pictures queued and one frame held");
    //    ... and one dropped right after a flush, nothing taken, nothing synchronised.
    let mut dec = ok(
        Decoder::new(&ctx, codec, DecoderConfig::default()),
        "decoder",
    );
    for (data, pts) in &packets {
        ok(dec.push(data, Some(*pts)), "push");
    }
    ok(dec.flush(), "flush");
    let first = ok(dec.next_owned(&stream), "next_owned").expect("a frame");
    drop(dec);
    drop(first);

    // b. A FileDecoder dropped right after a MappedFrame was dropped: once after reading it,
    //    once with the mapping's post-processing possibly still in flight.
    let mut fd = ok(
        FileDecoder::open(&ctx, fixture("h264_bframes.mp4"), DecoderConfig::default()),
        "open",
    );
    for k in 0..5 {
        let m = ok(fd.next_mapped(), "map").expect("mapped frame");
        if k == 4 {
            let v = ok(m.to_host_vec(), "mapped download");
            assert!(v == bframes[4].1, "b: mapped frame 4 differs");
        }
        drop(m);
    }
    drop(fd);
    let mut fd = ok(
        FileDecoder::open(&ctx, fixture("h264_bframes.mp4"), DecoderConfig::default()),
        "open",
    );
    let m = ok(fd.next_mapped(), "map").expect("mapped frame");
    drop(m);
    drop(fd);
    eprintln!("b: file decoders dropped right after unmapping");

    // c. A FramePool dropped while two of its frames are out: they stay valid until dropped.
    let pool = ok(
        FramePool::new(&ctx, PixelFormat::Nv12, 64, 64, 3, MemoryKind::Device),
        "pool",
    );
    let mut a = ok(pool.acquire(), "acquire");
    let mut b = ok(pool.acquire(), "acquire");
    let da = random_bytes(&mut rng, a.layout().tight_len());
    let db = random_bytes(&mut rng, b.layout().tight_len());
    ok(a.copy_from_host(&da), "upload");
    ok(b.copy_from_host(&db), "upload");
    drop(pool);
    assert!(ok(a.to_host_vec(), "a") == da, "c: frame a changed");
    let db2 = random_bytes(&mut rng, db.len());
    ok(b.copy_from_host(&db2), "rewrite");
    assert!(ok(b.to_host_vec(), "b") == db2, "c: frame b not writable");
    drop(a);
    drop(b);
    eprintln!("c: pool dropped with frames out");

    // d. A Transfer dropped with transfers in flight (no synchronisation before the drop), the
    //    destination pool dropped too; after a context synchronise the frames are intact.
    let src_stream = ok(Stream::new(&ctx), "stream");
    for mode in [TransferMode::Auto, TransferMode::Staged] {
        let (w, h) = (1920, 1080);
        let mut srcs = Vec::new();
        let mut datas = Vec::new();
        for _ in 0..4 {
            let mut f = ok(
                Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device),
                "frame",
            );
            let d = random_bytes(&mut rng, f.layout().tight_len());
            ok(f.copy_from_host(&d), "upload");
            srcs.push(f);
            datas.push(d);
        }
        let pool = ok(
            FramePool::new(&ctx, PixelFormat::Nv12, w, h, 4, MemoryKind::Device),
            "pool",
        );
        let mut x = ok(Transfer::new(&ctx, pool, mode), "transfer");
        let refs: Vec<&Frame> = srcs.iter().collect();
        let got = ok(x.send_batch(&refs, &src_stream), "send_batch");
        drop(x);
        ok(
            ctx.synchronize(),
            "synchronize after dropping a transfer in flight",
        );
        for (k, (g, d)) in got.iter().zip(&datas).enumerate() {
            assert!(
                ok(g.to_host_vec(), "download") == *d,
                "d: {mode:?} frame {k} corrupted after the transfer was dropped in flight"
            );
        }
    }
    eprintln!("d: transfers dropped in flight (Auto, Staged)");

    // e. A VideoReader dropped while another thread is sampling from it (that thread holds
    //    the last reference), and one dropped before the caller's stream has run its work.
    let indices = [3usize, 29, 0, 17, 11];
    let check_frames = |what: &str, frames: &[Frame]| {
        assert_eq!(frames.len(), indices.len(), "{what}");
        for (k, (f, &i)) in frames.iter().zip(&indices).enumerate() {
            assert_eq!(f.meta.index, Some(i as u64), "{what}: position {k}");
            assert!(
                ok(f.to_host_vec(), what) == bframes[i].1,
                "{what}: position {k} (frame {i}) differs from the sequential decode"
            );
        }
    };
    let reader = Arc::new(ok(VideoReader::open(fixture("h264_bframes.mp4")), "reader"));
    let (r2, c2) = (Arc::clone(&reader), ctx.clone());
    let t = std::thread::spawn(move || {
        let s = Stream::new(&c2)?;
        let frames = r2.frames(&indices, &s)?;
        drop(r2);
        s.synchronize()?;
        Ok::<_, nvdx::Error>(frames)
    });
    drop(reader);
    let frames = ok(t.join().expect("sampling thread panicked"), "sample");
    check_frames("e: reader dropped by another thread", &frames);
    let reader = ok(VideoReader::open(fixture("h264_bframes.mp4")), "reader");
    let frames = ok(reader.frames(&indices, &stream), "sample");
    drop(reader);
    ok(stream.synchronize(), "sync");
    check_frames("e: reader dropped before the stream ran", &frames);
    eprintln!("e: readers dropped mid-use");

    // f. The context still works: a fresh decode is bit-exact.
    ok(ctx.synchronize(), "context synchronize");
    let again = decode_ref(&ctx, "h264.264");
    assert!(again == h264, "f: decode after the drops is not bit-exact");
    eprintln!("f: fresh decode bit-exact ({} frames)", again.len());
}
