//! Moving frames between GPUs: peer-to-peer over NVLink/PCIe, or staged through pinned host
//! memory where P2P is impossible (DeepStream's `nvdsxfer`, as a library).
//!
//! A [`Transfer`] goes from a source context to a destination [`FramePool`]. Every transfer is
//! stream-ordered on both sides and never blocks the host:
//!
//! 1. the copy is enqueued on the caller's source stream, after the work that produced the
//!    frame there; it pushes the frame into the destination pool frame (remote stores over
//!    NVLink/PCIe, or a local copy on one GPU) with one 2D copy per frame (the pitched NV12
//!    layout is copied as it is, no packing) — by an SM kernel with 16-byte accesses where that
//!    is faster (frame-sized peer copies, every same-GPU copy; a batch is one launch), by the
//!    copy engine otherwise ([`CopyMethod`]). The caller may overwrite the source frame right
//!    after the call: its next write on the source stream runs after the copy;
//! 2. before writing a pool frame, the source stream waits for the pending uses of that frame
//!    (on any stream: every nvdx allocation tracks its work, see [`crate::memory`]); the pool
//!    hands frames out first-in first-out, so that wait has long been satisfied when frames
//!    are returned promptly;
//! 3. an event recorded after the copies is waited on by [`Transfer::dst_stream`]: work the
//!    caller enqueues there sees the frames. Consecutive transfers never wait for the other
//!    GPU, so they run back to back.
//!
//! Without peer access (or with [`TransferMode::Staged`]) the source stream copies the frame in
//! chunks to a ring of pinned staging buffers and the destination stream uploads them.
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use nvdx::{Context, FramePool, MemoryKind, PixelFormat, Stream, Frame};
//! use nvdx::xfer::{Transfer, TransferMode};
//! let (gpu0, gpu1) = (Context::primary(0)?, Context::primary(1)?);
//! let pool = FramePool::new(&gpu1, PixelFormat::Nv12, 1920, 1080, 8, MemoryKind::Device)?;
//! let mut xfer = Transfer::new(&gpu0, pool, TransferMode::Auto)?;
//! let src_stream = Stream::new(&gpu0)?;
//! let frame = Frame::new(&gpu0, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)?;
//! let on_gpu1 = xfer.send(&frame, &src_stream)?;   // ordered on xfer.dst_stream()
//! # Ok(()) }
//! ```

use nvdx_sys::cuda::CUdevice_P2PAttribute;

use crate::access::{Access, FrameSealed, MemorySealed};
use crate::context::Context;
use crate::cu;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::frame::{Frame, FramePool, FrameView, PooledFrame};
use crate::kernels::{Aligned, Cubin, Function, LaunchConfig, ModuleImage};
use crate::memory::{copy_2d_batch_tracked, copy_2d_tracked, HostBuffer, TrackedCopy};
use crate::stream::{Event, Stream};
use std::sync::Arc;

/// What the driver says about the link from one GPU to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// `cuDeviceCanAccessPeer(src → dst)`.
    pub access: bool,
    /// `CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK` (lower is better; NVLink ranks above PCIe).
    pub performance_rank: i32,
    /// `CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED`.
    pub native_atomics: bool,
    /// `CU_DEVICE_P2P_ATTRIBUTE_CUDA_ARRAY_ACCESS_SUPPORTED`.
    pub array_access: bool,
}

/// The kind of connection, as far as the driver's attributes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Same GPU: a device-to-device copy.
    SameDevice,
    /// Peer access with native atomics: NVLink (or NVSwitch).
    NvLink,
    /// Peer access without native atomics: PCIe P2P.
    Pcie,
    /// No peer access: frames go through host memory.
    None,
}

/// Queries the P2P attributes from `src` to `dst`.
pub fn peer_info(src: &Device, dst: &Device) -> Result<PeerInfo> {
    if src == dst {
        return Ok(PeerInfo {
            access: true,
            performance_rank: 0,
            native_atomics: true,
            array_access: true,
        });
    }
    let attr = |a: CUdevice_P2PAttribute| -> Result<i32> {
        cu::device_get_p2p_attribute(a, src.raw(), dst.raw())
    };
    Ok(PeerInfo {
        access: src.can_access_peer(dst)?,
        performance_rank: attr(CUdevice_P2PAttribute::CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK)?,
        native_atomics: attr(
            CUdevice_P2PAttribute::CU_DEVICE_P2P_ATTRIBUTE_NATIVE_ATOMIC_SUPPORTED,
        )? != 0,
        array_access: attr(
            CUdevice_P2PAttribute::CU_DEVICE_P2P_ATTRIBUTE_CUDA_ARRAY_ACCESS_SUPPORTED,
        )? != 0,
    })
}

/// Peer access between two GPUs, enabled both ways.
#[derive(Debug, Clone)]
pub struct PeerLink {
    a: Context,
    b: Context,
    kind: LinkKind,
    a_to_b: PeerInfo,
    b_to_a: PeerInfo,
}

impl PeerLink {
    /// Checks and enables peer access between the contexts' GPUs in both directions.
    /// Already-enabled access is fine. Where P2P is impossible this is an
    /// [`Error::Unsupported`] naming both GPUs (use [`TransferMode::Staged`] instead).
    pub fn enable(a: &Context, b: &Context) -> Result<PeerLink> {
        let (da, db) = (a.device(), b.device());
        let a_to_b = peer_info(&da, &db)?;
        let b_to_a = peer_info(&db, &da)?;
        if da == db {
            return Ok(PeerLink {
                a: a.clone(),
                b: b.clone(),
                kind: LinkKind::SameDevice,
                a_to_b,
                b_to_a,
            });
        }
        if !a_to_b.access || !b_to_a.access {
            return Err(Error::Unsupported(format!(
                "peer-to-peer access between GPU {} ({}) and GPU {} ({}) is not possible \
                 (cuDeviceCanAccessPeer: {} / {}); use TransferMode::Staged",
                da.ordinal(),
                da.name().unwrap_or_default(),
                db.ordinal(),
                db.name().unwrap_or_default(),
                a_to_b.access,
                b_to_a.access
            )));
        }
        enable_one_way(a, b)?;
        enable_one_way(b, a)?;
        // Stream-ordered allocations (nvdx's device memory) come from each GPU's memory pool,
        // whose memory peers reach only once the pool grants them access.
        if let Some(pool) = a.mem_pool()? {
            crate::cu::mem_pool_grant_access(pool, db.ordinal() as i32)?;
        }
        if let Some(pool) = b.mem_pool()? {
            crate::cu::mem_pool_grant_access(pool, da.ordinal() as i32)?;
        }
        let kind = if a_to_b.native_atomics {
            LinkKind::NvLink
        } else {
            LinkKind::Pcie
        };
        Ok(PeerLink {
            a: a.clone(),
            b: b.clone(),
            kind,
            a_to_b,
            b_to_a,
        })
    }

    /// The kind of link.
    pub fn kind(&self) -> LinkKind {
        self.kind
    }
    /// Attributes from the first GPU to the second.
    pub fn forward(&self) -> PeerInfo {
        self.a_to_b
    }
    /// Attributes from the second GPU to the first.
    pub fn backward(&self) -> PeerInfo {
        self.b_to_a
    }
    /// The two contexts.
    pub fn contexts(&self) -> (&Context, &Context) {
        (&self.a, &self.b)
    }
}

/// Lets `from`'s context access `to`'s memory (`cuCtxEnablePeerAccess`), tolerating "already
/// enabled".
fn enable_one_way(from: &Context, to: &Context) -> Result<()> {
    let _g = from.bind()?;
    // `from` is current; `to` is a live context handle.
    cu::ctx_enable_peer_access(to.raw())?;
    Ok(())
}

/// How a [`Transfer`] moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferMode {
    /// Peer-to-peer if the GPUs can, otherwise staged.
    #[default]
    Auto,
    /// Peer-to-peer (or a device copy on one GPU); an error if impossible.
    Peer,
    /// Through pinned host memory, chunked over a ring of buffers so downloads and uploads
    /// overlap.
    Staged,
}

/// Which path a transfer ended up using.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferPath {
    /// Direct copy (peer or same device).
    Direct(LinkKind),
    /// Staged through host memory.
    Staged,
}

/// Decides the path for a mode and what the hardware allows (pure; CPU-tested).
pub fn plan_path(
    mode: TransferMode,
    same_device: bool,
    peer_possible: bool,
) -> Result<TransferPath> {
    match (mode, same_device, peer_possible) {
        (TransferMode::Staged, _, _) => Ok(TransferPath::Staged),
        (_, true, _) => Ok(TransferPath::Direct(LinkKind::SameDevice)),
        (_, false, true) => Ok(TransferPath::Direct(LinkKind::NvLink)),
        (TransferMode::Auto, false, false) => Ok(TransferPath::Staged),
        (TransferMode::Peer, false, false) => Err(Error::Unsupported(
            "peer-to-peer transfer requested but the GPUs cannot access each other; use TransferMode::Staged or Auto".into(),
        )),
    }
}

/// The SM copy kernels (`nvdx/kernels/xfer.cu`), with their sm_90 cubin.
pub static XFER_MODULE: ModuleImage = ModuleImage {
    name: "xfer",
    image: concat!(include_str!("../kernels/ptx/xfer.ptx"), "\0").as_bytes(),
    cubins: &[Cubin {
        compute_capability: (9, 0),
        image: &XFER_SM90.0,
    }],
};

/// `nvdx/kernels/cubin/xfer.sm_90.cubin` (ptxas 12.1 of the PTX above).
static XFER_SM90: &Aligned<[u8]> = &Aligned(*include_bytes!("../kernels/cubin/xfer.sm_90.cubin"));

/// Frames per launch of the batched copy kernel (the largest pool).
const MAX_BATCH: usize = 16;
// The copy engine's share of a batch goes through one tracked batch of copies.
const _: () = assert!(MAX_BATCH <= crate::memory::MAX_TRACKED_COPIES);

/// One frame of a kernel batch (`CopyJob` in `nvdx/kernels/xfer.cu`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct CopyJob {
    src: u64,
    src_pitch_vecs: u64,
    dst: u64,
    dst_pitch_vecs: u64,
}

/// The kernel's by-value parameter (`CopyBatch` in `nvdx/kernels/xfer.cu`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct CopyBatch {
    job: [CopyJob; MAX_BATCH],
    row_vecs: u64,
    rows: u64,
}

/// How a direct (peer or same-GPU) frame copy is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyMethod {
    /// The SM kernel for sizes where it wins, the copy engine otherwise
    /// (see [`choose_sm_kernel`]).
    #[default]
    Auto,
    /// Always the copy engine (`cuMemcpy2DAsync`): leaves the SMs free.
    CopyEngine,
    /// The SM copy kernel with 16-byte accesses whenever the layout allows (16-byte aligned
    /// addresses, pitches and rows), else the copy engine.
    SmKernel,
}

/// Largest frame of a peer batch that [`CopyMethod::Auto`] gives to the SM kernel: above it
/// the copy engine reaches the link's peak without taking SMs from the caller's kernels.
pub const SM_COPY_MAX_PEER_BYTES: usize = 32 << 20;

/// Whether the SM kernel can copy this region: every address, pitch and the row length must be
/// multiples of 16 bytes.
pub fn sm_copy_eligible(
    dst: u64,
    dst_pitch: usize,
    src: u64,
    src_pitch: usize,
    row_bytes: usize,
) -> bool {
    dst % 16 == 0
        && src % 16 == 0
        && dst_pitch % 16 == 0
        && src_pitch % 16 == 0
        && row_bytes % 16 == 0
        && row_bytes > 0
}

/// The per-copy choice (pure; CPU-tested) for a frame of `bytes` in a call of `batch_len`
/// frames. Measured on two NVLink-connected H100s (1080p NV12 frames, pushed from the source
/// GPU): a single frame goes faster by the copy engine (11.0 µs vs 13.4 µs back to back); a
/// batch of 8 faster by one kernel launch for all frames (82 µs vs 91 µs); on one GPU the
/// kernel copies at HBM speed where the copy engine does not, so it takes every eligible copy.
pub fn choose_sm_kernel(
    method: CopyMethod,
    eligible: bool,
    same_device: bool,
    bytes: usize,
    batch_len: usize,
) -> bool {
    match method {
        CopyMethod::CopyEngine => false,
        CopyMethod::SmKernel => eligible,
        CopyMethod::Auto => {
            eligible && (same_device || (batch_len >= 2 && bytes <= SM_COPY_MAX_PEER_BYTES))
        }
    }
}

/// Pinned buffers in the staging ring.
pub const STAGING_SLOTS: usize = 4;
/// Bytes per staging chunk: large enough to keep per-copy overhead small, small enough that a
/// 1080p frame's download and upload overlap across the ring.
pub const STAGING_CHUNK_BYTES: usize = 4 << 20;

/// How a staged copy splits a frame's rows into chunks (pure; CPU-tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    /// Total rows of the frame.
    pub rows: usize,
    /// Rows per chunk (at least 1).
    pub rows_per_chunk: usize,
}

impl ChunkPlan {
    /// Chunks of at most `chunk_bytes` (but at least one row) for rows of `row_bytes`.
    pub fn new(rows: usize, row_bytes: usize, chunk_bytes: usize) -> ChunkPlan {
        let rows_per_chunk = (chunk_bytes / row_bytes.max(1)).clamp(1, rows.max(1));
        ChunkPlan {
            rows,
            rows_per_chunk,
        }
    }

    /// `(first_row, row_count)` of each chunk, in order.
    pub fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.rows)
            .step_by(self.rows_per_chunk)
            .map(move |r| (r, self.rows_per_chunk.min(self.rows - r)))
    }
}

struct Staging {
    /// Its tracking orders the download into it (source stream) before the upload out of it
    /// (destination stream), and that upload before the next download into it.
    buf: HostBuffer,
}

/// Moves frames from one GPU into frames of a destination pool.
///
/// `Send` but not `Sync`: one thread drives a transfer at a time (it owns the staging ring).
pub struct Transfer {
    src: Context,
    pool: FramePool,
    dst_stream: Arc<Stream>,
    path: TransferPath,
    copied: Event,
    staging: Vec<Staging>,
    next_staging: usize,
    bytes_moved: u64,
    _link: Option<PeerLink>,
    method: CopyMethod,
    sm_copy: Option<(Function, u32)>,
    /// Placeholder tracking for unused entries of fixed-size arrays (never recorded).
    idle: Access,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("src_gpu", &self.src.device().ordinal())
            .field("dst_gpu", &self.pool_context().device().ordinal())
            .field("path", &self.path)
            .field("pool", &self.pool)
            .finish()
    }
}

impl Transfer {
    /// A transfer from `src`'s GPU into frames of `pool` (which lives on the destination GPU,
    /// in any memory kind). Enables peer access when the mode allows and the GPUs can.
    pub fn new(src: &Context, pool: FramePool, mode: TransferMode) -> Result<Transfer> {
        let dst = pool.context().clone();
        let same = src.device() == dst.device();
        let peer_possible = !same
            && src.device().can_access_peer(&dst.device())?
            && dst.device().can_access_peer(&src.device())?;
        let path = plan_path(mode, same, peer_possible)?;
        let link = match path {
            TransferPath::Direct(LinkKind::SameDevice) | TransferPath::Staged => None,
            TransferPath::Direct(_) => Some(PeerLink::enable(src, &dst)?),
        };
        let path = match (&link, path) {
            (Some(l), TransferPath::Direct(_)) => TransferPath::Direct(l.kind()),
            (_, p) => p,
        };
        Ok(Transfer {
            src: src.clone(),
            dst_stream: Arc::new(Stream::new(&dst)?),
            copied: Event::new_sync_only(src)?,
            pool,
            path,
            staging: Vec::new(),
            next_staging: 0,
            bytes_moved: 0,
            _link: link,
            method: CopyMethod::Auto,
            sm_copy: None,
            idle: Access::new(),
        })
    }

    /// Chooses how direct (peer or same-GPU) copies are made; [`CopyMethod::Auto`] by default.
    pub fn set_copy_method(&mut self, method: CopyMethod) {
        self.method = method;
    }

    /// The direct path: each pair by the copy engine or the SM kernel (the kernel's share of
    /// the batch in one launch), all on the source stream, after the destination frames'
    /// release events.
    fn copy_direct(
        &mut self,
        frames: &[&dyn FrameView],
        dsts: &mut [PooledFrame],
        src_stream: &Stream,
    ) -> Result<()> {
        let same = matches!(self.path, TransferPath::Direct(LinkKind::SameDevice));
        let mut batch = CopyBatch::default();
        let mut count = 0usize;
        let (mut row, mut rows) = (0usize, 0usize);
        let mut kernel_srcs: [Option<&dyn FrameView>; MAX_BATCH] = [None; MAX_BATCH];
        let mut kernel_dsts: [Option<&Access>; MAX_BATCH] = [None; MAX_BATCH];
        let mut kernel_pairs = [0usize; MAX_BATCH];
        // Which pairs the kernel takes; the copy engine's are enqueued after the loop as one
        // tracked operation (one set of waits and marks for the batch: per-pair operations
        // would record two events a pair, as each pair's frames are not used by the next).
        let mut by_kernel = [false; MAX_BATCH];
        for (pair, (src, dst)) in frames.iter().zip(dsts.iter()).enumerate() {
            row = src.layout().row_bytes();
            rows = src.layout().rows();
            let eligible = sm_copy_eligible(
                dst.device_ptr(),
                dst.pitch(),
                src.device_ptr(),
                src.pitch(),
                row,
            );
            let kernel = choose_sm_kernel(self.method, eligible, same, row * rows, frames.len());
            if count < MAX_BATCH && kernel {
                batch.job[count] = CopyJob {
                    src: src.device_ptr(),
                    src_pitch_vecs: (src.pitch() / 16) as u64,
                    dst: dst.device_ptr(),
                    dst_pitch_vecs: (dst.pitch() / 16) as u64,
                };
                kernel_srcs[count] = Some(*src);
                kernel_pairs[count] = pair;
                count += 1;
                if let Some(k) = by_kernel.get_mut(pair) {
                    *k = true;
                }
            }
        }
        // One tracked operation, ordered after the sources' last writes and the pool frames'
        // uses; nothing when every pair went to the kernel. The destination is writable from
        // the source GPU (same device, or peer access granted by PeerLink).
        let ce_pairs = frames
            .iter()
            .zip(dsts.iter())
            .zip(by_kernel.iter().chain(std::iter::repeat(&false)))
            .filter(|(_, kernel)| !**kernel)
            .map(|((src, dst), _)| {
                let layout = src.layout();
                TrackedCopy {
                    dst: dst.frame_parts().mem,
                    dst_offset: 0,
                    dst_pitch: dst.pitch(),
                    src: src.frame_parts().mem,
                    src_offset: 0,
                    src_pitch: src.pitch(),
                    width_bytes: layout.row_bytes(),
                    height: layout.rows(),
                }
            });
        copy_2d_batch_tracked(ce_pairs, src_stream)?;
        if count == 0 {
            return Ok(());
        }
        for (slot, &pair) in kernel_dsts.iter_mut().zip(kernel_pairs.iter()).take(count) {
            *slot = dsts.get(pair).map(|d| d.frame_parts().mem.access);
        }
        if self.sm_copy.is_none() {
            let ctx = src_stream.context();
            let f = ctx.module(&XFER_MODULE)?.function(c"copy2d_v16_batch")?;
            let sms = ctx.device().multiprocessor_count()?;
            self.sm_copy = Some((f, sms));
        }
        let Some((f, sms)) = &self.sm_copy else {
            return Err(Error::InvalidState("copy kernel not loaded".into()));
        };
        batch.row_vecs = (row / 16) as u64;
        batch.rows = rows as u64;
        let total = batch.row_vecs * batch.rows;
        let blocks = (total.div_ceil(256 * 4)).clamp(1, u64::from(*sms) * 8) as u32;
        let cfg = LaunchConfig {
            grid: (blocks, count as u32, 1),
            block: (256, 1, 1),
            shared_bytes: 0,
        };
        let reads: [&Access; MAX_BATCH] = std::array::from_fn(|i| match kernel_srcs[i] {
            Some(f) => f.frame_parts().mem.access,
            None => &self.idle,
        });
        let writes: [&Access; MAX_BATCH] =
            std::array::from_fn(|i| kernel_dsts[i].unwrap_or(&self.idle));
        crate::access::ordered(
            src_stream.tracking_ref(),
            &reads[..count],
            &writes[..count],
            || {
                let mut params = [(&mut batch as *mut CopyBatch).cast::<std::ffi::c_void>()];
                // SAFETY: the one parameter is a `CopyBatch`, laid out as the kernel's struct
                // (repr(C), checked by a unit test against the PTX parameter size); `count`
                // jobs are filled and the grid's y extent is `count`. Every job's frames hold
                // `rows` rows of `row` bytes at their pitches (same format and size, checked by
                // `check_frame`; all frames of a call share the pool's layout), every address
                // and pitch is a 16-byte multiple (checked by `sm_copy_eligible`), the
                // destination is writable from the source GPU (same device, or peer access and
                // pool access granted by PeerLink), and the tracking orders the launch after
                // the sources' last writes and the destinations' pending uses and keeps all of
                // them alive until it has run.
                unsafe { f.launch(cfg, src_stream, &mut params) }
            },
        )
    }

    /// The path in use.
    pub fn path(&self) -> TransferPath {
        self.path
    }

    /// The destination stream: work on received frames should run on it (or wait for an event
    /// recorded on it).
    pub fn dst_stream(&self) -> &Stream {
        &self.dst_stream
    }

    /// The destination pool.
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    fn pool_context(&self) -> &Context {
        self.dst_stream.context()
    }

    /// Bytes of pixel data moved so far.
    pub fn bytes_moved(&self) -> u64 {
        self.bytes_moved
    }

    /// Sends one frame; blocks only if the destination pool is exhausted (see
    /// [`Transfer::try_send`]). The returned frame is ready in [`Transfer::dst_stream`] order and
    /// carries the source's metadata.
    pub fn send(&mut self, frame: &impl FrameView, src_stream: &Stream) -> Result<PooledFrame> {
        let mut dst = self.pool.acquire()?;
        self.send_into(
            &[frame as &dyn FrameView],
            std::slice::from_mut(&mut dst),
            src_stream,
        )?;
        Ok(dst)
    }

    /// Like [`Transfer::send`], but returns [`Error::PoolExhausted`] instead of blocking.
    pub fn try_send(&mut self, frame: &impl FrameView, src_stream: &Stream) -> Result<PooledFrame> {
        let mut dst = self.pool.try_acquire().ok_or(Error::PoolExhausted {
            capacity: self.pool.capacity(),
        })?;
        self.send_into(
            &[frame as &dyn FrameView],
            std::slice::from_mut(&mut dst),
            src_stream,
        )?;
        Ok(dst)
    }

    /// Sends a batch as one operation: one event pair for the whole batch.
    pub fn send_batch<F: FrameView>(
        &mut self,
        frames: &[&F],
        src_stream: &Stream,
    ) -> Result<Vec<PooledFrame>> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        if frames.len() > self.pool.capacity() {
            return Err(Error::InvalidArgument(format!(
                "batch of {} frames exceeds the destination pool of {}",
                frames.len(),
                self.pool.capacity()
            )));
        }
        if frames.len() > MAX_BATCH {
            return Err(Error::InvalidArgument(format!(
                "batch of {} frames exceeds the maximum of {MAX_BATCH} per call",
                frames.len()
            )));
        }
        let mut dsts = (0..frames.len())
            .map(|_| self.pool.acquire())
            .collect::<Result<Vec<_>>>()?;
        let views: [Option<&dyn FrameView>; MAX_BATCH] =
            std::array::from_fn(|i| frames.get(i).map(|f| *f as &dyn FrameView));
        let mut list: [&dyn FrameView; MAX_BATCH] = [frames[0] as &dyn FrameView; MAX_BATCH];
        for (d, v) in list.iter_mut().zip(views.iter()) {
            if let Some(v) = v {
                *d = *v;
            }
        }
        self.send_into(&list[..frames.len()], &mut dsts, src_stream)?;
        Ok(dsts)
    }

    /// Enqueues the copies of `frames` into `dsts` (same length) and the events around them.
    fn send_into(
        &mut self,
        frames: &[&dyn FrameView],
        dsts: &mut [PooledFrame],
        src_stream: &Stream,
    ) -> Result<()> {
        for f in frames {
            self.check_frame(*f, src_stream)?;
        }
        match self.path {
            TransferPath::Direct(_) => {
                // On the source stream: later writes to the sources there run after the copies.
                self.copy_direct(frames, dsts, src_stream)?;
                self.copied.record(src_stream)?;
                self.dst_stream.wait_event(&self.copied)?;
            }
            TransferPath::Staged => {
                for (src, dst) in frames.iter().zip(dsts.iter_mut()) {
                    self.staged_one(*src, dst, src_stream)?;
                }
            }
        }
        for (src, dst) in frames.iter().zip(dsts.iter_mut()) {
            dst.meta = src.meta();
            self.bytes_moved += dst.layout().tight_len() as u64;
        }
        Ok(())
    }

    /// Device → pinned (source stream), pinned → destination (destination stream), in chunks of
    /// rows through a ring of [`STAGING_SLOTS`] pinned buffers, so the download of one chunk
    /// overlaps the upload of the previous one (also within a large frame).
    fn staged_one(
        &mut self,
        src: &dyn FrameView,
        dst: &mut Frame,
        src_stream: &Stream,
    ) -> Result<()> {
        let layout = *src.layout();
        let row = layout.row_bytes();
        let plan = ChunkPlan::new(layout.rows(), row, STAGING_CHUNK_BYTES);
        let need = plan.rows_per_chunk * row;
        if self.staging.len() < STAGING_SLOTS || self.staging.iter().any(|s| s.buf.len() < need) {
            // Grows once per row size; steady state allocates nothing. Dropping the old
            // buffers waits for the copies still queued on them (their own events).
            self.staging.clear();
            for _ in 0..STAGING_SLOTS {
                self.staging.push(Staging {
                    buf: HostBuffer::new(&self.src, need.max(STAGING_CHUNK_BYTES))?,
                });
            }
            self.next_staging = 0;
        }
        let dst_pitch = dst.pitch();
        for (first_row, rows) in plan.chunks() {
            let i = self.next_staging;
            self.next_staging = (i + 1) % self.staging.len();
            let st = &mut self.staging[i];
            // Both copies are tracked: the download waits for the previous upload out of this
            // buffer (on the destination stream), the upload for this download.
            copy_2d_tracked(
                st.buf.mem(),
                0,
                row,
                src.frame_parts().mem,
                first_row * layout.pitch,
                layout.pitch,
                row,
                rows,
                src_stream,
            )?;
            copy_2d_tracked(
                dst.mem(),
                first_row * dst_pitch,
                dst_pitch,
                st.buf.mem(),
                0,
                row,
                row,
                rows,
                &self.dst_stream,
            )?;
        }
        Ok(())
    }

    fn check_frame(&self, f: &dyn FrameView, src_stream: &Stream) -> Result<()> {
        let (w, h) = self.pool.size();
        if f.format() != self.pool.format() || f.width() != w || f.height() != h {
            return Err(Error::InvalidArgument(format!(
                "frame {:?} {}x{} does not match the destination pool ({:?} {w}x{h})",
                f.format(),
                f.width(),
                f.height(),
                self.pool.format()
            )));
        }
        if f.context().device() != self.src.device()
            || src_stream.context().device() != self.src.device()
        {
            return Err(Error::InvalidArgument(format!(
                "frame/stream on GPU {} but the transfer's source is GPU {}",
                f.context().device().ordinal(),
                self.src.device().ordinal()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_plans_cover_every_row_once() {
        for (rows, row, chunk) in [
            (1620, 1920, 4 << 20),
            (1, 10, 4),
            (7, 3, 6),
            (16384, 1 << 23, 4 << 20),
            (5, 1, 100),
        ] {
            let p = ChunkPlan::new(rows, row, chunk);
            assert!(p.rows_per_chunk >= 1);
            assert!(p.rows_per_chunk * row <= chunk.max(row));
            let mut next = 0;
            for (first, n) in p.chunks() {
                assert_eq!(first, next);
                assert!(n >= 1 && n <= p.rows_per_chunk);
                next += n;
            }
            assert_eq!(next, rows, "{rows} rows of {row} in chunks of {chunk}");
        }
        // A 1080p NV12 frame (1620 rows of 1920 bytes) fits one 4 MiB chunk.
        assert_eq!(ChunkPlan::new(1620, 1920, 4 << 20).chunks().count(), 1);
        assert_eq!(ChunkPlan::new(16384, 16384, 4 << 20).chunks().count(), 64);
    }

    #[test]
    fn copy_method_choice() {
        assert!(sm_copy_eligible(0x1000, 2048, 0x2000, 2048, 1920));
        assert!(!sm_copy_eligible(0x1008, 2048, 0x2000, 2048, 1920));
        assert!(!sm_copy_eligible(0x1000, 2050, 0x2000, 2048, 1920));
        assert!(!sm_copy_eligible(0x1000, 2048, 0x2000, 2048, 1918));
        // One GPU: the kernel for every eligible copy.
        assert!(choose_sm_kernel(CopyMethod::Auto, true, true, 1 << 30, 1));
        assert!(!choose_sm_kernel(CopyMethod::Auto, false, true, 100, 1));
        // Between GPUs: the copy engine for a single frame, the kernel for a batch of
        // frame-sized copies, the copy engine for large ones.
        assert!(!choose_sm_kernel(
            CopyMethod::Auto,
            true,
            false,
            3_110_400,
            1
        ));
        assert!(choose_sm_kernel(
            CopyMethod::Auto,
            true,
            false,
            3_110_400,
            8
        ));
        assert!(!choose_sm_kernel(
            CopyMethod::Auto,
            true,
            false,
            256 << 20,
            2
        ));
        assert!(!choose_sm_kernel(
            CopyMethod::Auto,
            false,
            false,
            3_110_400,
            8
        ));
        assert!(!choose_sm_kernel(
            CopyMethod::CopyEngine,
            true,
            true,
            100,
            8
        ));
        assert!(choose_sm_kernel(
            CopyMethod::SmKernel,
            true,
            false,
            256 << 20,
            1
        ));
        assert!(!choose_sm_kernel(
            CopyMethod::SmKernel,
            false,
            false,
            100,
            1
        ));
    }

    #[test]
    fn xfer_ptx_is_embedded_for_the_driver_floor() {
        let text = std::str::from_utf8(XFER_MODULE.image).unwrap_or("");
        assert_eq!(XFER_MODULE.image.last(), Some(&0));
        assert!(
            text.contains(".version 8.1"),
            "PTX ISA must stay at 8.1 (driver >= 530)"
        );
        assert!(text.contains(".target sm_70"));
        assert!(text.contains(".entry copy2d_v16_batch("));
        // The by-value parameter must match the Rust struct byte for byte.
        let size = std::mem::size_of::<CopyBatch>();
        assert_eq!(size, 528);
        assert!(
            text.contains(&format!("copy2d_v16_batch_param_0[{size}]")),
            "PTX parameter size differs from CopyBatch ({size} bytes)"
        );
    }

    #[test]
    fn path_planning() {
        assert_eq!(
            plan_path(TransferMode::Auto, true, false).unwrap(),
            TransferPath::Direct(LinkKind::SameDevice)
        );
        assert_eq!(
            plan_path(TransferMode::Peer, true, false).unwrap(),
            TransferPath::Direct(LinkKind::SameDevice)
        );
        assert_eq!(
            plan_path(TransferMode::Auto, false, true).unwrap(),
            TransferPath::Direct(LinkKind::NvLink)
        );
        assert_eq!(
            plan_path(TransferMode::Auto, false, false).unwrap(),
            TransferPath::Staged
        );
        assert_eq!(
            plan_path(TransferMode::Staged, false, true).unwrap(),
            TransferPath::Staged
        );
        assert_eq!(
            plan_path(TransferMode::Staged, true, true).unwrap(),
            TransferPath::Staged
        );
        let e = plan_path(TransferMode::Peer, false, false).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)));
        assert!(e.to_string().contains("Staged"), "{e}");
    }
}
