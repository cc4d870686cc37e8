//! Moving frames between GPUs: peer-to-peer over NVLink/PCIe, or staged through pinned host
//! memory where P2P is impossible (DeepStream's `nvdsxfer`, as a library).
//!
//! A [`Transfer`] goes from a source context to a destination [`FramePool`]. Every transfer is
//! stream-ordered on both sides and never blocks the host:
//!
//! 1. an event is recorded on the caller's source stream (the frame is ready there);
//! 2. the destination stream waits for it and pulls the frame with one 2D copy per frame (the
//!    pitched NV12 layout is copied as it is, no packing), or the source stream copies it to a
//!    pinned staging buffer and the destination stream uploads it;
//! 3. an event recorded after the copy is waited on by the source stream, so the caller may
//!    overwrite the source frame right after the call: the overwrite runs after the copy.
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

use nvdx_sys::cuda::{CUdevice_P2PAttribute, CUresult};

use crate::context::Context;
use crate::device::{driver, Device};
use crate::error::{check, Error, Result};
use crate::frame::{Frame, FramePool, PooledFrame};
use crate::memory::{copy_2d_raw, HostBuffer};
use crate::stream::{Event, Stream};

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
    let api = driver()?;
    let attr = |a: CUdevice_P2PAttribute| -> Result<i32> {
        let mut v = 0;
        // SAFETY: valid out-parameter; device handles from cuDeviceGet.
        check("cuDeviceGetP2PAttribute", unsafe {
            api.cuDeviceGetP2PAttribute(&mut v, a, src.raw(), dst.raw())
        })?;
        Ok(v)
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
    let api = driver()?;
    // SAFETY: `from` is current; `to` is a live context handle.
    let status = unsafe { api.cuCtxEnablePeerAccess(to.raw(), 0) }?;
    if status == CUresult::CUDA_SUCCESS
        || status == CUresult::CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED
    {
        Ok(())
    } else {
        Err(Error::cuda("cuCtxEnablePeerAccess", status))
    }
}

/// How a [`Transfer`] moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferMode {
    /// Peer-to-peer if the GPUs can, otherwise staged.
    #[default]
    Auto,
    /// Peer-to-peer (or a device copy on one GPU); an error if impossible.
    Peer,
    /// Through pinned host memory, double-buffered.
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

struct Staging {
    buf: HostBuffer,
    /// Recorded on the destination stream after the upload out of `buf`.
    free: Event,
    used: bool,
}

/// Moves frames from one GPU into frames of a destination pool.
///
/// `Send` but not `Sync`: one thread drives a transfer at a time (it owns the staging ring).
pub struct Transfer {
    src: Context,
    pool: FramePool,
    dst_stream: Stream,
    path: TransferPath,
    ready: Event,
    copied: Event,
    staging: Vec<Staging>,
    next_staging: usize,
    bytes_moved: u64,
    _link: Option<PeerLink>,
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
            dst_stream: Stream::new(&dst)?,
            ready: Event::new_sync_only(src)?,
            copied: Event::new_sync_only(&dst)?,
            pool,
            path,
            staging: Vec::new(),
            next_staging: 0,
            bytes_moved: 0,
            _link: link,
        })
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
    pub fn send(&mut self, frame: &Frame, src_stream: &Stream) -> Result<PooledFrame> {
        let dst = self.pool.acquire()?;
        self.send_into(&[frame], vec![dst], src_stream)
            .map(|mut v| v.remove(0))
    }

    /// Like [`Transfer::send`], but returns [`Error::PoolExhausted`] instead of blocking.
    pub fn try_send(&mut self, frame: &Frame, src_stream: &Stream) -> Result<PooledFrame> {
        let dst = self.pool.try_acquire().ok_or(Error::PoolExhausted {
            capacity: self.pool.capacity(),
        })?;
        self.send_into(&[frame], vec![dst], src_stream)
            .map(|mut v| v.remove(0))
    }

    /// Sends a batch as one operation: one event pair for the whole batch.
    pub fn send_batch(
        &mut self,
        frames: &[&Frame],
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
        let dsts = (0..frames.len())
            .map(|_| self.pool.acquire())
            .collect::<Result<Vec<_>>>()?;
        self.send_into(frames, dsts, src_stream)
    }

    fn send_into(
        &mut self,
        frames: &[&Frame],
        mut dsts: Vec<PooledFrame>,
        src_stream: &Stream,
    ) -> Result<Vec<PooledFrame>> {
        for f in frames {
            self.check_frame(f, src_stream)?;
        }
        match self.path {
            TransferPath::Direct(_) => {
                self.ready.record(src_stream)?;
                self.dst_stream.wait_event(&self.ready)?;
                for (src, dst) in frames.iter().zip(dsts.iter_mut()) {
                    dst.copy_from_async(src, &self.dst_stream)?;
                }
                self.copied.record(&self.dst_stream)?;
                // Later writes to the sources on the source stream run after the copies.
                src_stream.wait_event(&self.copied)?;
            }
            TransferPath::Staged => {
                for (src, dst) in frames.iter().zip(dsts.iter_mut()) {
                    self.staged_one(src, dst, src_stream)?;
                }
            }
        }
        for (src, dst) in frames.iter().zip(dsts.iter_mut()) {
            dst.meta = src.meta;
            self.bytes_moved += dst.layout().tight_len() as u64;
        }
        Ok(dsts)
    }

    /// Device → pinned (source stream), pinned → destination (destination stream), alternating
    /// between two staging buffers so one frame's upload overlaps the next one's download.
    fn staged_one(&mut self, src: &Frame, dst: &mut Frame, src_stream: &Stream) -> Result<()> {
        let layout = *src.layout();
        let need = layout.byte_len();
        if self.staging.len() < 2 || self.staging.iter().any(|s| s.buf.len() < need) {
            // Grows once per frame size; steady state allocates nothing.
            self.staging.clear();
            for _ in 0..2 {
                self.staging.push(Staging {
                    buf: HostBuffer::new(&self.src, need)?,
                    free: Event::new_sync_only(self.dst_stream.context())?,
                    used: false,
                });
            }
        }
        let i = self.next_staging;
        self.next_staging = (i + 1) % self.staging.len();
        let st = &mut self.staging[i];
        if st.used {
            // The previous upload out of this buffer must finish before we overwrite it.
            src_stream.wait_event(&st.free)?;
        }
        let rows = layout.rows();
        let row = layout.row_bytes();
        // SAFETY: the staging buffer holds `need` = pitch * rows bytes; the source frame holds
        // `rows` rows at its pitch; both stay alive (self and the borrow) and the events below
        // order every later use.
        unsafe {
            copy_2d_raw(
                st.buf.device_ptr(),
                layout.pitch,
                src.device_ptr(),
                layout.pitch,
                row,
                rows,
                src_stream,
            )?
        };
        self.ready.record(src_stream)?;
        self.dst_stream.wait_event(&self.ready)?;
        // SAFETY: as above; the destination frame has the same format and size (checked).
        unsafe {
            copy_2d_raw(
                dst.device_ptr(),
                dst.pitch(),
                st.buf.device_ptr(),
                layout.pitch,
                row,
                rows,
                &self.dst_stream,
            )?
        };
        st.free.record(&self.dst_stream)?;
        st.used = true;
        Ok(())
    }

    fn check_frame(&self, f: &Frame, src_stream: &Stream) -> Result<()> {
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

impl Drop for Transfer {
    fn drop(&mut self) {
        // Copies out of the staging buffers (and into pool frames) may still be queued on the
        // destination stream; wait for them before the buffers are freed. One host wait per
        // dropped transfer, none per frame.
        let _ = self.dst_stream.synchronize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
