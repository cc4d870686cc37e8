//! A pool of decoder sessions per GPU, shared by every [`super::VideoReader`] that uses it, so
//! a server creates NVDEC sessions once and reconfigures them for each new video.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::codec::{ChromaFormat, Codec};
use crate::context::Context;
use crate::decode::{capabilities, Decoder, DecoderConfig};
use crate::demux::Packet;
use crate::error::{Error, Result};
use crate::stream::{Event, Stream};

/// Settings of a [`DecoderPool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most sessions the pool keeps alive at once (busy and idle together). A request that
    /// finds none free waits for one; it never waits for more than one.
    pub max_sessions: usize,
    /// Coded width every session can switch to by reconfiguration rather than recreation
    /// (raised to the stream's own size when that is larger).
    pub max_width: u32,
    /// Coded height, see [`PoolConfig::max_width`].
    pub max_height: u32,
    /// How long a request waits for a session before [`Error::PoolExhausted`].
    pub timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_sessions: 32,
            max_width: 1920,
            max_height: 1088,
            timeout: Duration::from_secs(30),
        }
    }
}

/// One pooled session: a decoder and the stream/events its work is ordered with.
pub(crate) struct Session {
    pub(crate) decoder: Decoder,
    /// The session's own stream: maps and conversions of its pictures run there.
    pub(crate) stream: Stream,
    /// Recorded on the caller's stream before the session starts (outputs free to write).
    pub(crate) start: Event,
    /// Recorded on [`Session::stream`] when the session's work for a request is enqueued.
    pub(crate) done: Event,
    pub(crate) codec: Codec,
    /// `(width, height, bit depth)` of the last stream decoded, to prefer a session that needs
    /// no reconfiguration.
    pub(crate) last: Option<(u32, u32, u8)>,
    /// The packet being fed; its buffer is reused from packet to packet and request to request.
    pub(crate) packet: Packet,
}

struct State {
    idle: Vec<Session>,
    live: usize,
    engines: Vec<(Codec, u32)>,
}

/// Decoder sessions of one GPU, reused across videos and requests.
///
/// Sessions are created lazily (up to [`PoolConfig::max_sessions`]), handed to a request for
/// the duration of one sampling call and returned; a returned session keeps its NVDEC decoder,
/// which the next video of the same codec reuses as is (same format) or reconfigures (a size
/// within [`PoolConfig::max_width`] x [`PoolConfig::max_height`]).
pub struct DecoderPool {
    ctx: Context,
    config: PoolConfig,
    state: Mutex<State>,
    freed: Condvar,
}

impl std::fmt::Debug for DecoderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (idle, live) = self
            .state
            .lock()
            .map(|s| (s.idle.len(), s.live))
            .unwrap_or((0, 0));
        f.debug_struct("DecoderPool")
            .field("device", &self.ctx.device().ordinal())
            .field("config", &self.config)
            .field("idle", &idle)
            .field("live", &live)
            .finish()
    }
}

/// Pools by device ordinal.
type Registry = Mutex<Vec<(u32, Arc<DecoderPool>)>>;

static GLOBAL: OnceLock<Registry> = OnceLock::new();

impl DecoderPool {
    /// A new, empty pool on `ctx`.
    pub fn new(ctx: &Context, config: PoolConfig) -> Result<Arc<DecoderPool>> {
        if config.max_sessions == 0 {
            return Err(Error::InvalidArgument(
                "a decoder pool needs max_sessions >= 1".into(),
            ));
        }
        Ok(Arc::new(DecoderPool {
            ctx: ctx.clone(),
            config,
            state: Mutex::new(State {
                idle: Vec::new(),
                live: 0,
                engines: Vec::new(),
            }),
            freed: Condvar::new(),
        }))
    }

    /// The process-wide pool of `ctx`'s GPU (created with [`PoolConfig::default`] on first
    /// use): what [`super::VideoReader`] uses unless given a pool.
    pub fn global(ctx: &Context) -> Result<Arc<DecoderPool>> {
        let ordinal = ctx.device().ordinal();
        let reg = GLOBAL.get_or_init(|| Mutex::new(Vec::new()));
        let mut reg = reg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, p)) = reg.iter().find(|(o, _)| *o == ordinal) {
            return Ok(Arc::clone(p));
        }
        let p = DecoderPool::new(ctx, PoolConfig::default())?;
        reg.push((ordinal, Arc::clone(&p)));
        Ok(p)
    }

    /// The context the sessions run on.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Sessions alive (busy or idle).
    pub fn live(&self) -> usize {
        self.lock().live
    }

    /// Sessions idle in the pool.
    pub fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Drops every idle session (their NVDEC decoders are destroyed).
    pub fn clear(&self) {
        let idle = {
            let mut s = self.lock();
            let idle = std::mem::take(&mut s.idle);
            s.live -= idle.len();
            idle
        };
        drop(idle);
        self.freed.notify_all();
    }

    /// Number of NVDEC engines of the GPU (from the capabilities of `codec`, cached); 1 when
    /// the driver does not say.
    pub fn engines(&self, codec: Codec) -> Result<u32> {
        if let Some(&(_, n)) = self.lock().engines.iter().find(|(c, _)| *c == codec) {
            return Ok(n);
        }
        let n = capabilities(&self.ctx, codec, ChromaFormat::Yuv420, 8)?
            .num_engines
            .max(1);
        self.lock().engines.push((codec, n));
        Ok(n)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes between 1 and `want` sessions for `codec`: idle ones first (those that last
    /// decoded `shape` first), then new ones while under the cap; waits only when it got none.
    pub(crate) fn acquire(
        &self,
        codec: Codec,
        shape: (u32, u32, u8),
        want: usize,
    ) -> Result<Vec<Session>> {
        let want = want.max(1);
        let deadline = std::time::Instant::now() + self.config.timeout;
        let mut got: Vec<Session> = Vec::with_capacity(want);
        let mut create = 0usize;
        {
            let mut s = self.lock();
            loop {
                // Idle sessions of this codec, exact shape first.
                while got.len() < want {
                    let pick = s
                        .idle
                        .iter()
                        .position(|x| x.codec == codec && x.last == Some(shape))
                        .or_else(|| s.idle.iter().position(|x| x.codec == codec));
                    match pick {
                        Some(i) => got.push(s.idle.swap_remove(i)),
                        None => break,
                    }
                }
                // New sessions while under the cap; evict idle sessions of other codecs.
                while got.len() + create < want {
                    if s.live < self.config.max_sessions {
                        s.live += 1;
                        create += 1;
                    } else if let Some(i) = s.idle.iter().position(|x| x.codec != codec) {
                        let old = s.idle.swap_remove(i);
                        drop(old);
                        create += 1;
                    } else {
                        break;
                    }
                }
                if !got.is_empty() || create > 0 {
                    break;
                }
                let now = std::time::Instant::now();
                if now >= deadline {
                    return Err(Error::PoolExhausted {
                        capacity: self.config.max_sessions,
                    });
                }
                s = self
                    .freed
                    .wait_timeout(s, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        for made in 0..create {
            match self.create(codec) {
                Ok(sess) => got.push(sess),
                Err(e) => {
                    {
                        let mut s = self.lock();
                        s.live -= create - made;
                    }
                    self.release(got);
                    return Err(e);
                }
            }
        }
        Ok(got)
    }

    fn create(&self, codec: Codec) -> Result<Session> {
        let config = DecoderConfig {
            max_width: self.config.max_width,
            max_height: self.config.max_height,
            pool_size: 2,
            ..DecoderConfig::default()
        };
        Ok(Session {
            decoder: Decoder::new(&self.ctx, codec, config)?,
            stream: Stream::new(&self.ctx)?,
            start: Event::new_sync_only(&self.ctx)?,
            done: Event::new_sync_only(&self.ctx)?,
            codec,
            last: None,
            packet: Packet::default(),
        })
    }

    /// Gives sessions back.
    pub(crate) fn release(&self, sessions: Vec<Session>) {
        if sessions.is_empty() {
            return;
        }
        self.lock().idle.extend(sessions);
        self.freed.notify_all();
    }
}
