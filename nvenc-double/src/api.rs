//! The exported entry points and the function list: the NVENC contract, checked.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use nvdx_sys::cuda::{self as cu, CUcontext, CUdeviceptr, CUresult, CUstream};
use nvdx_sys::nvenc::{self as sys, _NVENCSTATUS as S, GUID, NVENCSTATUS};

use crate::gop::{Gop, Kind};
use crate::h264::{self, SeqParams};
use crate::ENGINE_NAME;

const API: u32 = 12 | (1 << 24);
const fn ver(v: u32) -> u32 {
    API | (v << 16) | (0x7 << 28)
}
const fn ver_ext(v: u32) -> u32 {
    ver(v) | (1 << 31)
}
const FUNCTION_LIST_VER: u32 = ver(2);
const OPEN_VER: u32 = ver(1);
const CAPS_VER: u32 = ver(1);
const BITSTREAM_VER: u32 = ver(1);
const RC_VER: u32 = ver(1);
const CONFIG_VER: u32 = ver_ext(8);
const INIT_VER: u32 = ver_ext(6);
const RECONF_VER: u32 = ver_ext(1);
const PRESET_VER: u32 = ver_ext(4);
const PIC_VER: u32 = ver_ext(6);
const LOCK_VER: u32 = ver_ext(1);
const MAP_VER: u32 = ver(4);
const REG_VER: u32 = ver(4);
const SEQ_VER: u32 = ver(1);

const H264: GUID = GUID {
    Data1: 0x6bc82762,
    Data2: 0x4e63,
    Data3: 0x4ca4,
    Data4: [0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf],
};
const H264_BASELINE: GUID = GUID {
    Data1: 0x0727bcaa,
    Data2: 0x78c4,
    Data3: 0x4c83,
    Data4: [0x8c, 0x2f, 0xef, 0x3d, 0xff, 0x26, 0x7c, 0x6a],
};
fn guid_eq(a: &GUID, b: &GUID) -> bool {
    a.Data1 == b.Data1 && a.Data2 == b.Data2 && a.Data3 == b.Data3 && a.Data4 == b.Data4
}

static VIOLATIONS: AtomicU64 = AtomicU64::new(0);
static SESSIONS: Mutex<Option<HashSet<usize>>> = Mutex::new(None);
thread_local! {
    static FAIL_NEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Contract violations seen in this process so far.
#[no_mangle]
pub extern "C" fn nvenc_double_violations() -> u64 {
    VIOLATIONS.load(Ordering::SeqCst)
}

/// Sessions opened and not destroyed.
#[no_mangle]
pub extern "C" fn nvenc_double_live_sessions() -> u64 {
    sessions().as_ref().map_or(0, |s| s.len() as u64)
}

/// Fault injection for error-path tests: the next call named `name` (e.g.
/// `nvEncLockBitstream`) made **on the calling thread** fails with `NV_ENC_ERR_GENERIC`.
/// A null `name` clears it.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nvenc_double_fail_next(name: *const c_char) {
    let v = if name.is_null() {
        None
    } else {
        // SAFETY: the caller passes a NUL-terminated string.
        Some(
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned(),
        )
    };
    FAIL_NEXT.with(|f| *f.borrow_mut() = v);
}

fn injected(call: &str) -> bool {
    FAIL_NEXT.with(|f| {
        let mut f = f.borrow_mut();
        if f.as_deref() == Some(call) {
            *f = None;
            true
        } else {
            false
        }
    })
}

fn sessions() -> MutexGuard<'static, Option<HashSet<usize>>> {
    SESSIONS.lock().unwrap_or_else(|e| e.into_inner())
}

fn violation(msg: &str) -> String {
    VIOLATIONS.fetch_add(1, Ordering::SeqCst);
    eprintln!("NVENC DOUBLE CONTRACT VIOLATION: {msg}");
    msg.to_owned()
}

/// `NvEncodeAPIGetMaxSupportedVersion`: API 12.1 as `(major << 4) | minor`.
///
/// # Safety
/// `version` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn NvEncodeAPIGetMaxSupportedVersion(version: *mut u32) -> NVENCSTATUS {
    if version.is_null() {
        violation("NvEncodeAPIGetMaxSupportedVersion: null pointer");
        return S::NV_ENC_ERR_INVALID_PTR;
    }
    // SAFETY: non-null and writable per the contract.
    unsafe { *version = (12 << 4) | 1 };
    S::NV_ENC_SUCCESS
}

/// `NvEncodeAPICreateInstance`: fills the function list.
///
/// # Safety
/// `list` is null or a writable `NV_ENCODE_API_FUNCTION_LIST`.
#[no_mangle]
pub unsafe extern "C" fn NvEncodeAPICreateInstance(
    list: *mut sys::NV_ENCODE_API_FUNCTION_LIST,
) -> NVENCSTATUS {
    if list.is_null() {
        violation("NvEncodeAPICreateInstance: null function list");
        return S::NV_ENC_ERR_INVALID_PTR;
    }
    // SAFETY: non-null and writable per the contract.
    let l = unsafe { &mut *list };
    if l.version != FUNCTION_LIST_VER {
        violation(&format!(
            "NvEncodeAPICreateInstance: function list version {:#x}, expected NV_ENCODE_API_FUNCTION_LIST_VER {FUNCTION_LIST_VER:#x}",
            l.version
        ));
        return S::NV_ENC_ERR_INVALID_VERSION;
    }
    l.nvEncOpenEncodeSessionEx = Some(open);
    l.nvEncGetEncodeGUIDCount = Some(guid_count);
    l.nvEncGetEncodeGUIDs = Some(guids);
    l.nvEncGetEncodeProfileGUIDCount = Some(profile_count);
    l.nvEncGetEncodeProfileGUIDs = Some(profiles);
    l.nvEncGetInputFormatCount = Some(format_count);
    l.nvEncGetInputFormats = Some(formats);
    l.nvEncGetEncodeCaps = Some(caps);
    l.nvEncGetEncodePresetConfigEx = Some(preset_config);
    l.nvEncInitializeEncoder = Some(initialize);
    l.nvEncCreateBitstreamBuffer = Some(create_bitstream);
    l.nvEncDestroyBitstreamBuffer = Some(destroy_bitstream);
    l.nvEncSetIOCudaStreams = Some(set_io_streams);
    l.nvEncRegisterResource = Some(register);
    l.nvEncUnregisterResource = Some(unregister);
    l.nvEncMapInputResource = Some(map);
    l.nvEncUnmapInputResource = Some(unmap);
    l.nvEncEncodePicture = Some(encode);
    l.nvEncLockBitstream = Some(lock);
    l.nvEncUnlockBitstream = Some(unlock);
    l.nvEncReconfigureEncoder = Some(reconfigure);
    l.nvEncGetSequenceParams = Some(sequence_params);
    l.nvEncGetLastErrorString = Some(last_error);
    l.nvEncDestroyEncoder = Some(destroy);
    S::NV_ENC_SUCCESS
}

/// A picture waiting in the reorder queue.
struct Job {
    nv12: Vec<u8>,
    pts: u64,
    frame_idx: u32,
    map: usize,
    headers: bool,
}

#[derive(PartialEq, Eq, Debug)]
enum BufState {
    Idle,
    /// Submitted; the engine has not produced its output yet.
    Waiting,
    /// Output ready, not locked yet.
    Ready,
    Locked,
}

struct Buf {
    state: BufState,
    data: Vec<u8>,
    pts: u64,
    frame_idx: u32,
    kind: Kind,
}

struct Reg {
    ptr: CUdeviceptr,
    pitch: u32,
    width: u32,
    height: u32,
    base: CUdeviceptr,
    size: usize,
    buffer_id: u64,
    mapped: bool,
}

struct Map {
    reg: usize,
    /// Submitted and not yet coded: unmapping now would pull the input from under the engine.
    in_flight: bool,
}

struct Init {
    width: u32,
    height: u32,
    max_width: u32,
    max_height: u32,
    rc_mode: sys::NV_ENC_PARAMS_RC_MODE,
    interval_p: u32,
}

struct Sess {
    ctx: CUcontext,
    error: CString,
    init: Option<Init>,
    io_ptr: *mut CUstream,
    io_stream: CUstream,
    bufs: HashMap<usize, Buf>,
    regs: HashMap<usize, Reg>,
    maps: HashMap<usize, Map>,
    next_id: usize,
    gop: Gop<Job>,
    /// Bitstream buffers in submission order, until locked.
    queue: VecDeque<usize>,
    /// Coded pictures written into `queue` so far (from the front).
    filled: usize,
    pictures: u64,
    eos_since_last_picture: bool,
}

const BUF_TAG: usize = 0xb000_0000;
const REG_TAG: usize = 0xc000_0000;
const MAP_TAG: usize = 0xd000_0000;

type R = Result<NVENCSTATUS, (NVENCSTATUS, String)>;

fn bad(st: NVENCSTATUS, msg: String) -> R {
    Err((st, violation(&msg)))
}

/// Runs `f` on the live session `h`, storing its error text.
fn with(h: *mut c_void, call: &str, f: impl FnOnce(&mut Sess) -> R) -> NVENCSTATUS {
    let live = sessions()
        .as_ref()
        .is_some_and(|s| s.contains(&(h as usize)));
    if !live {
        violation(&format!(
            "{call}: {h:p} is not an open session of this process"
        ));
        return S::NV_ENC_ERR_INVALID_ENCODERDEVICE;
    }
    // SAFETY: `h` is in the live set, so it is a `Box<Mutex<Sess>>` leaked by `open` and not
    // yet freed by `destroy` (which removes it from the set first).
    let m = unsafe { &*(h as *const Mutex<Sess>) };
    let mut s = m.lock().unwrap_or_else(|e| e.into_inner());
    // A lock fails after its checks (see `lock`), so that the buffer it consumes stays in order.
    if call != "nvEncLockBitstream" && injected(call) {
        s.error = CString::new(format!("{call}: injected failure (nvenc_double_fail_next)"))
            .unwrap_or_default();
        return S::NV_ENC_ERR_GENERIC;
    }
    match f(&mut s) {
        Ok(st) => st,
        Err((st, msg)) => {
            s.error = CString::new(format!("{ENGINE_NAME}: {call}: {msg}")).unwrap_or_default();
            st
        }
    }
}

fn need<'a, T>(p: *mut T, call: &str, what: &str) -> Result<&'a mut T, (NVENCSTATUS, String)> {
    if p.is_null() {
        return Err((
            S::NV_ENC_ERR_INVALID_PTR,
            violation(&format!("{call}: null {what}")),
        ));
    }
    // SAFETY: non-null; NVENC's contract makes every parameter pointer valid and writable
    // for the call.
    Ok(unsafe { &mut *p })
}

fn check_ver(call: &str, what: &str, got: u32, want: u32) -> Result<(), (NVENCSTATUS, String)> {
    if got == want {
        return Ok(());
    }
    Err((
        S::NV_ENC_ERR_INVALID_VERSION,
        violation(&format!(
            "{call}: {what}.version is {got:#x}, expected {want:#x} (API 12.1 layout)"
        )),
    ))
}

fn cuda() -> Result<&'static cu::CudaFns, (NVENCSTATUS, String)> {
    nvdx_sys::cuda().map_err(|e| (S::NV_ENC_ERR_GENERIC, format!("{e}")))
}

fn cu_ok(call: &str, r: Result<CUresult, nvdx_sys::MissingSymbol>) -> Result<(), String> {
    match r {
        Ok(cu::cudaError_enum::CUDA_SUCCESS) => Ok(()),
        Ok(e) => Err(format!("{call} failed with CUresult {}", e.0)),
        Err(e) => Err(e.to_string()),
    }
}

/// Pushes the session's context for the scope.
struct Bound;
impl Bound {
    fn new(ctx: CUcontext) -> Result<Bound, (NVENCSTATUS, String)> {
        let c = cuda()?;
        // SAFETY: `ctx` was checked to be a live context at open.
        cu_ok("cuCtxPushCurrent", unsafe { c.cuCtxPushCurrent_v2(ctx) })
            .map_err(|e| (S::NV_ENC_ERR_INVALID_DEVICE, e))?;
        Ok(Bound)
    }
}
impl Drop for Bound {
    fn drop(&mut self) {
        if let Ok(c) = nvdx_sys::cuda() {
            let mut old: CUcontext = std::ptr::null_mut();
            // SAFETY: pops what `new` pushed, on the same thread.
            let _ = unsafe { c.cuCtxPopCurrent_v2(&mut old) };
        }
    }
}

/// The allocation around `ptr`: (base, size, buffer id).
fn allocation(ptr: CUdeviceptr) -> Result<(CUdeviceptr, usize, u64), String> {
    let c = nvdx_sys::cuda().map_err(|e| e.to_string())?;
    let (mut base, mut size) = (0 as CUdeviceptr, 0usize);
    // SAFETY: valid out-pointers; the driver validates `ptr`.
    cu_ok("cuMemGetAddressRange", unsafe {
        c.cuMemGetAddressRange_v2(&mut base, &mut size, ptr)
    })?;
    let mut ty: u32 = 0;
    // SAFETY: CU_POINTER_ATTRIBUTE_MEMORY_TYPE writes an unsigned int.
    cu_ok("cuPointerGetAttribute(MEMORY_TYPE)", unsafe {
        c.cuPointerGetAttribute(
            (&mut ty as *mut u32).cast(),
            cu::CUpointer_attribute_enum::CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
            ptr,
        )
    })?;
    if ty != cu::CUmemorytype_enum::CU_MEMORYTYPE_DEVICE.0 {
        return Err(format!("{ptr:#x} is not device memory (CUmemorytype {ty})"));
    }
    let mut id: u64 = 0;
    // SAFETY: CU_POINTER_ATTRIBUTE_BUFFER_ID writes an unsigned long long.
    cu_ok("cuPointerGetAttribute(BUFFER_ID)", unsafe {
        c.cuPointerGetAttribute(
            (&mut id as *mut u64).cast(),
            cu::CUpointer_attribute_enum::CU_POINTER_ATTRIBUTE_BUFFER_ID,
            ptr,
        )
    })?;
    Ok((base, size, id))
}

impl Reg {
    /// The registered memory is still the allocation that was registered.
    fn check_alive(&self, call: &str) -> Result<(), (NVENCSTATUS, String)> {
        match allocation(self.ptr) {
            Ok((base, size, id))
                if base == self.base && size == self.size && id == self.buffer_id =>
            {
                Ok(())
            }
            Ok((base, size, id)) => Err((
                S::NV_ENC_ERR_RESOURCE_NOT_REGISTERED,
                violation(&format!(
                    "{call}: the registered memory at {:#x} was freed while registered: it is now \
                     allocation #{id} [{base:#x}, +{size}) instead of #{} [{:#x}, +{}) \
                     (unregister before freeing)",
                    self.ptr, self.buffer_id, self.base, self.size
                )),
            )),
            Err(e) => Err((
                S::NV_ENC_ERR_RESOURCE_NOT_REGISTERED,
                violation(&format!(
                    "{call}: the registered memory at {:#x} (allocation #{}) is no longer a live \
                     allocation ({e}): freed while registered (unregister before freeing)",
                    self.ptr, self.buffer_id
                )),
            )),
        }
    }
}

impl Sess {
    fn id(&mut self, tag: usize) -> usize {
        self.next_id += 1;
        tag + self.next_id
    }
    fn init(&self, call: &str) -> Result<&Init, (NVENCSTATUS, String)> {
        self.init.as_ref().ok_or_else(|| {
            (
                S::NV_ENC_ERR_ENCODER_NOT_INITIALIZED,
                violation(&format!("{call} before nvEncInitializeEncoder")),
            )
        })
    }
    fn seq(&self) -> SeqParams {
        let i = self.init.as_ref().expect("initialised");
        SeqParams {
            width: i.width,
            height: i.height,
            max_reorder: i.interval_p - 1,
        }
    }
    /// Writes coded pictures into the queued bitstream buffers, in order.
    fn emit(&mut self, coded: Vec<crate::gop::Coded<Job>>) -> Result<(), (NVENCSTATUS, String)> {
        let seq = self.seq();
        for c in coded {
            let Some(&b) = self.queue.get(self.filled) else {
                return bad(
                    S::NV_ENC_ERR_GENERIC,
                    "internal: more coded pictures than queued bitstream buffers".into(),
                )
                .map(|_| ());
            };
            self.filled += 1;
            let mut data = Vec::new();
            if c.pic.idr || c.item.headers {
                data.extend(h264::headers(&seq));
            }
            data.extend(h264::picture(&seq, &c.pic, &c.item.nv12));
            if let Some(m) = self.maps.get_mut(&c.item.map) {
                m.in_flight = false;
            }
            let buf = self.bufs.get_mut(&b).expect("queued buffers exist");
            buf.state = BufState::Ready;
            buf.data = data;
            buf.pts = c.item.pts;
            buf.frame_idx = c.item.frame_idx;
            buf.kind = c.kind;
        }
        Ok(())
    }
}

unsafe extern "C" fn open(
    p: *mut sys::NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS,
    out: *mut *mut c_void,
) -> NVENCSTATUS {
    let call = "nvEncOpenEncodeSessionEx";
    let r = (|| -> Result<*mut c_void, (NVENCSTATUS, String)> {
        let p = need(p, call, "params")?;
        let out = need(out, call, "encoder out-pointer")?;
        *out = std::ptr::null_mut();
        check_ver(
            call,
            "NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS",
            p.version,
            OPEN_VER,
        )?;
        if p.apiVersion != API {
            return Err((
                S::NV_ENC_ERR_INVALID_VERSION,
                violation(&format!(
                    "{call}: apiVersion {:#x}, the double implements 12.1 ({API:#x})",
                    p.apiVersion
                )),
            ));
        }
        if p.deviceType != sys::_NV_ENC_DEVICE_TYPE::NV_ENC_DEVICE_TYPE_CUDA || p.device.is_null() {
            return Err((
                S::NV_ENC_ERR_INVALID_DEVICE,
                violation(&format!("{call}: the double needs NV_ENC_DEVICE_TYPE_CUDA with a CUcontext (got type {}, device {:p})", p.deviceType.0, p.device)),
            ));
        }
        let ctx: CUcontext = p.device.cast();
        {
            let _b = Bound::new(ctx).map_err(|(s, e)| {
                (
                    s,
                    violation(&format!("{call}: device is not a usable CUcontext: {e}")),
                )
            })?;
            let mut dev = 0;
            // SAFETY: valid out-pointer; the context is current.
            cu_ok("cuCtxGetDevice", unsafe {
                cuda()?.cuCtxGetDevice(&mut dev)
            })
            .map_err(|e| {
                (
                    S::NV_ENC_ERR_INVALID_DEVICE,
                    violation(&format!("{call}: {e}")),
                )
            })?;
        }
        let s = Sess {
            ctx,
            error: CString::new(ENGINE_NAME).unwrap_or_default(),
            init: None,
            io_ptr: std::ptr::null_mut(),
            io_stream: std::ptr::null_mut(),
            bufs: HashMap::new(),
            regs: HashMap::new(),
            maps: HashMap::new(),
            next_id: 0,
            gop: Gop::new(1, u32::MAX, u32::MAX, 0),
            queue: VecDeque::new(),
            filled: 0,
            pictures: 0,
            eos_since_last_picture: false,
        };
        let h = Box::into_raw(Box::new(Mutex::new(s))).cast::<c_void>();
        sessions()
            .get_or_insert_with(HashSet::new)
            .insert(h as usize);
        Ok(h)
    })();
    match r {
        Ok(h) => {
            // SAFETY: checked non-null above.
            unsafe { *out = h };
            S::NV_ENC_SUCCESS
        }
        Err((st, _)) => st,
    }
}

unsafe extern "C" fn guid_count(h: *mut c_void, n: *mut u32) -> NVENCSTATUS {
    with(h, "nvEncGetEncodeGUIDCount", |_| {
        *need(n, "nvEncGetEncodeGUIDCount", "count")? = 1;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn guids(h: *mut c_void, g: *mut GUID, size: u32, n: *mut u32) -> NVENCSTATUS {
    with(h, "nvEncGetEncodeGUIDs", |_| {
        let n = need(n, "nvEncGetEncodeGUIDs", "count")?;
        if size < 1 {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                "nvEncGetEncodeGUIDs: array too small".into(),
            );
        }
        *need(g, "nvEncGetEncodeGUIDs", "array")? = H264;
        *n = 1;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn profile_count(h: *mut c_void, _c: GUID, n: *mut u32) -> NVENCSTATUS {
    with(h, "nvEncGetEncodeProfileGUIDCount", |_| {
        *need(n, "nvEncGetEncodeProfileGUIDCount", "count")? = 1;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn profiles(
    h: *mut c_void,
    _c: GUID,
    g: *mut GUID,
    size: u32,
    n: *mut u32,
) -> NVENCSTATUS {
    with(h, "nvEncGetEncodeProfileGUIDs", |_| {
        let n = need(n, "nvEncGetEncodeProfileGUIDs", "count")?;
        if size >= 1 {
            *need(g, "nvEncGetEncodeProfileGUIDs", "array")? = H264_BASELINE;
        }
        *n = size.min(1);
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn format_count(h: *mut c_void, _c: GUID, n: *mut u32) -> NVENCSTATUS {
    with(h, "nvEncGetInputFormatCount", |_| {
        *need(n, "nvEncGetInputFormatCount", "count")? = 1;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn formats(
    h: *mut c_void,
    _c: GUID,
    f: *mut sys::NV_ENC_BUFFER_FORMAT,
    size: u32,
    n: *mut u32,
) -> NVENCSTATUS {
    with(h, "nvEncGetInputFormats", |_| {
        let n = need(n, "nvEncGetInputFormats", "count")?;
        if size >= 1 {
            *need(f, "nvEncGetInputFormats", "array")? =
                sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12;
        }
        *n = size.min(1);
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn caps(
    h: *mut c_void,
    codec: GUID,
    p: *mut sys::NV_ENC_CAPS_PARAM,
    v: *mut c_int,
) -> NVENCSTATUS {
    let call = "nvEncGetEncodeCaps";
    with(h, call, |_| {
        let p = need(p, call, "caps param")?;
        let v = need(v, call, "value")?;
        check_ver(call, "NV_ENC_CAPS_PARAM", p.version, CAPS_VER)?;
        if !guid_eq(&codec, &H264) {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!("{ENGINE_NAME} encodes only H.264"),
            ));
        }
        use sys::_NV_ENC_CAPS as C;
        *v = match p.capsToQuery {
            C::NV_ENC_CAPS_WIDTH_MAX | C::NV_ENC_CAPS_HEIGHT_MAX => 4096,
            C::NV_ENC_CAPS_WIDTH_MIN | C::NV_ENC_CAPS_HEIGHT_MIN => 16,
            C::NV_ENC_CAPS_NUM_MAX_BFRAMES => 4,
            C::NV_ENC_CAPS_SUPPORT_LOSSLESS_ENCODE
            | C::NV_ENC_CAPS_SUPPORT_LOOKAHEAD
            | C::NV_ENC_CAPS_SUPPORT_CUSTOM_VBV_BUF_SIZE
            | C::NV_ENC_CAPS_SUPPORT_DYN_RES_CHANGE
            | C::NV_ENC_CAPS_SUPPORT_DYN_BITRATE_CHANGE
            | C::NV_ENC_CAPS_NUM_ENCODER_ENGINES => 1,
            // Deliberately 0, so that nvdx's checks of these capabilities are exercised.
            C::NV_ENC_CAPS_SUPPORT_DYN_RCMODE_CHANGE | C::NV_ENC_CAPS_SUPPORT_DYN_FORCE_CONSTQP => {
                0
            }
            C::NV_ENC_CAPS_LEVEL_MAX => 52,
            C::NV_ENC_CAPS_LEVEL_MIN => 10,
            c if c.0 < C::NV_ENC_CAPS_EXPOSED_COUNT.0 => 0,
            _ => return Err((S::NV_ENC_ERR_INVALID_PARAM, "unknown capability".into())),
        };
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn preset_config(
    h: *mut c_void,
    codec: GUID,
    _preset: GUID,
    _tuning: sys::NV_ENC_TUNING_INFO,
    p: *mut sys::NV_ENC_PRESET_CONFIG,
) -> NVENCSTATUS {
    let call = "nvEncGetEncodePresetConfigEx";
    with(h, call, |_| {
        let p = need(p, call, "preset config")?;
        check_ver(call, "NV_ENC_PRESET_CONFIG", p.version, PRESET_VER)?;
        check_ver(
            call,
            "NV_ENC_PRESET_CONFIG.presetCfg",
            p.presetCfg.version,
            CONFIG_VER,
        )?;
        if !guid_eq(&codec, &H264) {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!("{ENGINE_NAME} encodes only H.264"),
            ));
        }
        let c = &mut p.presetCfg;
        c.profileGUID = H264_BASELINE;
        c.gopLength = 250;
        c.frameIntervalP = 1;
        c.rcParams.version = RC_VER;
        c.rcParams.rateControlMode = sys::_NV_ENC_PARAMS_RC_MODE::NV_ENC_PARAMS_RC_VBR;
        c.rcParams.averageBitRate = 5_000_000;
        // Writing a Copy field of a union member is safe.
        c.encodeCodecConfig.h264Config.idrPeriod = 250;
        Ok(S::NV_ENC_SUCCESS)
    })
}

fn check_config<'a>(
    call: &str,
    init: &'a sys::NV_ENC_INITIALIZE_PARAMS,
) -> Result<(&'a sys::NV_ENC_CONFIG, u32), (NVENCSTATUS, String)> {
    if !guid_eq(&init.encodeGUID, &H264) {
        return Err((
            S::NV_ENC_ERR_UNSUPPORTED_PARAM,
            format!("{call}: {ENGINE_NAME} encodes only H.264 (NV_ENC_CODEC_H264_GUID)"),
        ));
    }
    if init.encodeConfig.is_null() {
        return bad(
            S::NV_ENC_ERR_INVALID_PTR,
            format!("{call}: encodeConfig is null (nvdx always passes its config)"),
        )
        .map(|_| unreachable!());
    }
    // SAFETY: non-null; the caller keeps the config alive for the call.
    let c = unsafe { &*init.encodeConfig };
    check_ver(call, "NV_ENC_CONFIG", c.version, CONFIG_VER)?;
    check_ver(call, "NV_ENC_RC_PARAMS", c.rcParams.version, RC_VER)?;
    let p = c.frameIntervalP.max(1) as u32;
    if c.gopLength == sys::NVENC_INFINITE_GOPLENGTH && p > 1 {
        return bad(
            S::NV_ENC_ERR_INVALID_PARAM,
            format!("{call}: frameIntervalP {p} with an infinite GOP; the header says frameIntervalP must be 1 with NVENC_INFINITE_GOPLENGTH"),
        )
        .map(|_| unreachable!());
    }
    if init.encodeWidth % 2 != 0
        || init.encodeHeight % 2 != 0
        || init.encodeWidth == 0
        || init.encodeHeight == 0
    {
        return Err((
            S::NV_ENC_ERR_INVALID_PARAM,
            format!("{call}: NV12 needs an even, non-zero size"),
        ));
    }
    Ok((c, p))
}

unsafe extern "C" fn initialize(
    h: *mut c_void,
    p: *mut sys::NV_ENC_INITIALIZE_PARAMS,
) -> NVENCSTATUS {
    let call = "nvEncInitializeEncoder";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_INITIALIZE_PARAMS", p.version, INIT_VER)?;
        if s.init.is_some() {
            return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: called twice"));
        }
        if p.enableEncodeAsync != 0 {
            return bad(
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!(
                    "{call}: enableEncodeAsync on a CUDA session (Linux NVENC has no async mode)"
                ),
            );
        }
        if p.enablePTD != 1 {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!("{call}: {ENGINE_NAME} needs enablePTD = 1"),
            ));
        }
        if p.bufferFormat.0 != 0
            && p.bufferFormat != sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12
        {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!("{call}: {ENGINE_NAME} reads only NV12"),
            ));
        }
        let (c, ip) = check_config(call, p)?;
        // SAFETY: the H.264 member of the union, as the codec GUID says.
        let idr = unsafe { c.encodeCodecConfig.h264Config.idrPeriod };
        let gop = if c.gopLength == 0 { 250 } else { c.gopLength };
        let idr = if idr == 0 { gop } else { idr };
        let lookahead = if c.rcParams.enableLookahead() != 0 {
            u32::from(c.rcParams.lookaheadDepth)
        } else {
            0
        };
        s.gop = Gop::new(ip, gop, idr, lookahead);
        let (mw, mh) = (
            p.maxEncodeWidth.max(p.encodeWidth),
            p.maxEncodeHeight.max(p.encodeHeight),
        );
        s.init = Some(Init {
            width: p.encodeWidth,
            height: p.encodeHeight,
            max_width: mw,
            max_height: mh,
            rc_mode: c.rcParams.rateControlMode,
            interval_p: ip,
        });
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn create_bitstream(
    h: *mut c_void,
    p: *mut sys::NV_ENC_CREATE_BITSTREAM_BUFFER,
) -> NVENCSTATUS {
    let call = "nvEncCreateBitstreamBuffer";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(
            call,
            "NV_ENC_CREATE_BITSTREAM_BUFFER",
            p.version,
            BITSTREAM_VER,
        )?;
        s.init(call)?;
        let id = s.id(BUF_TAG);
        s.bufs.insert(
            id,
            Buf {
                state: BufState::Idle,
                data: Vec::new(),
                pts: 0,
                frame_idx: 0,
                kind: Kind::P,
            },
        );
        p.bitstreamBuffer = id as *mut c_void;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn destroy_bitstream(h: *mut c_void, b: sys::NV_ENC_OUTPUT_PTR) -> NVENCSTATUS {
    let call = "nvEncDestroyBitstreamBuffer";
    with(h, call, |s| {
        let Some(buf) = s.bufs.get(&(b as usize)) else {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!("{call}: {b:p} is not a bitstream buffer of this session"),
            );
        };
        if buf.state != BufState::Idle {
            return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: buffer {b:p} is {:?} (a submitted picture not locked and unlocked yet)", buf.state));
        }
        s.bufs.remove(&(b as usize));
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn set_io_streams(
    h: *mut c_void,
    input: sys::NV_ENC_CUSTREAM_PTR,
    output: sys::NV_ENC_CUSTREAM_PTR,
) -> NVENCSTATUS {
    let call = "nvEncSetIOCudaStreams";
    with(h, call, |s| {
        let inp = need(input.cast::<CUstream>(), call, "input stream pointer")?;
        need(output.cast::<CUstream>(), call, "output stream pointer")?;
        if inp.is_null() {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!("{call}: the legacy default stream (null); nvdx uses its own streams"),
            );
        }
        let _b = Bound::new(s.ctx)?;
        // SAFETY: a stream handle the caller says is live; the driver validates it.
        let q = unsafe { cuda()?.cuStreamQuery(*inp) };
        if !matches!(
            q,
            Ok(cu::cudaError_enum::CUDA_SUCCESS | cu::cudaError_enum::CUDA_ERROR_NOT_READY)
        ) {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!("{call}: the input stream is not a live stream ({q:?})"),
            );
        }
        s.io_stream = *inp;
        s.io_ptr = input.cast();
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn register(
    h: *mut c_void,
    p: *mut sys::NV_ENC_REGISTER_RESOURCE,
) -> NVENCSTATUS {
    let call = "nvEncRegisterResource";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_REGISTER_RESOURCE", p.version, REG_VER)?;
        s.init(call)?;
        if p.resourceType
            != sys::_NV_ENC_INPUT_RESOURCE_TYPE::NV_ENC_INPUT_RESOURCE_TYPE_CUDADEVICEPTR
        {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!("{call}: {ENGINE_NAME} registers only CUDADEVICEPTR resources"),
            ));
        }
        if p.bufferFormat != sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12 {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!(
                    "{call}: {ENGINE_NAME} reads only NV12 (format {})",
                    p.bufferFormat.0
                ),
            ));
        }
        if p.bufferUsage != sys::_NV_ENC_BUFFER_USAGE::NV_ENC_INPUT_IMAGE {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: bufferUsage {} is not NV_ENC_INPUT_IMAGE",
                    p.bufferUsage.0
                ),
            );
        }
        if p.pitch % 4 != 0 || p.pitch < p.width {
            return bad(S::NV_ENC_ERR_INVALID_PARAM, format!("{call}: pitch {} (width {}): CUDADEVICEPTR pitch must be a multiple of 4 and at least the width", p.pitch, p.width));
        }
        let ptr = p.resourceToRegister as CUdeviceptr;
        let extent = p.pitch as usize * (p.height as usize * 3 / 2);
        let _b = Bound::new(s.ctx)?;
        let (base, size, id) = allocation(ptr).map_err(|e| {
            (
                S::NV_ENC_ERR_RESOURCE_REGISTER_FAILED,
                violation(&format!(
                    "{call}: {ptr:#x} is not a live device allocation: {e}"
                )),
            )
        })?;
        if ptr + extent as u64 > base + size as u64 {
            return bad(S::NV_ENC_ERR_RESOURCE_REGISTER_FAILED, format!("{call}: NV12 {}x{} at pitch {} needs {extent} bytes from {ptr:#x}, but the allocation [{base:#x}, +{size}) ends first", p.width, p.height, p.pitch));
        }
        let rid = s.id(REG_TAG);
        s.regs.insert(
            rid,
            Reg {
                ptr,
                pitch: p.pitch,
                width: p.width,
                height: p.height,
                base,
                size,
                buffer_id: id,
                mapped: false,
            },
        );
        p.registeredResource = rid as *mut c_void;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn unregister(h: *mut c_void, r: sys::NV_ENC_REGISTERED_PTR) -> NVENCSTATUS {
    let call = "nvEncUnregisterResource";
    with(h, call, |s| {
        let Some(reg) = s.regs.get(&(r as usize)) else {
            return bad(
                S::NV_ENC_ERR_RESOURCE_NOT_REGISTERED,
                format!("{call}: {r:p} is not registered on this session"),
            );
        };
        if reg.mapped {
            return bad(
                S::NV_ENC_ERR_INVALID_CALL,
                format!("{call}: {r:p} is still mapped (unmap first)"),
            );
        }
        let _b = Bound::new(s.ctx)?;
        let alive = reg.check_alive(call);
        s.regs.remove(&(r as usize));
        alive.map(|()| S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn map(h: *mut c_void, p: *mut sys::NV_ENC_MAP_INPUT_RESOURCE) -> NVENCSTATUS {
    let call = "nvEncMapInputResource";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_MAP_INPUT_RESOURCE", p.version, MAP_VER)?;
        let rid = p.registeredResource as usize;
        let ctx = s.ctx;
        let Some(reg) = s.regs.get_mut(&rid) else {
            return bad(
                S::NV_ENC_ERR_RESOURCE_NOT_REGISTERED,
                format!(
                    "{call}: {:p} is not registered on this session",
                    p.registeredResource
                ),
            );
        };
        if reg.mapped {
            return bad(
                S::NV_ENC_ERR_INVALID_CALL,
                format!("{call}: {:p} is already mapped", p.registeredResource),
            );
        }
        let _b = Bound::new(ctx)?;
        reg.check_alive(call)?;
        reg.mapped = true;
        let mid = s.id(MAP_TAG);
        s.maps.insert(
            mid,
            Map {
                reg: rid,
                in_flight: false,
            },
        );
        p.mappedResource = mid as *mut c_void;
        p.mappedBufferFmt = sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn unmap(h: *mut c_void, m: sys::NV_ENC_INPUT_PTR) -> NVENCSTATUS {
    let call = "nvEncUnmapInputResource";
    with(h, call, |s| {
        let Some(mp) = s.maps.get(&(m as usize)) else {
            return bad(
                S::NV_ENC_ERR_RESOURCE_NOT_MAPPED,
                format!("{call}: {m:p} is not mapped on this session (unmapped twice?)"),
            );
        };
        if mp.in_flight {
            return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: {m:p} is the input of a picture the engine has not encoded yet (NEED_MORE_INPUT); unmap after its output is locked"));
        }
        let rid = mp.reg;
        s.maps.remove(&(m as usize));
        let ctx = s.ctx;
        if let Some(reg) = s.regs.get_mut(&rid) {
            reg.mapped = false;
            let _b = Bound::new(ctx)?;
            reg.check_alive(call)?;
        }
        Ok(S::NV_ENC_SUCCESS)
    })
}

/// Reads the mapped input on the IO stream into tight NV12.
fn read_input(s: &Sess, reg: &Reg, w: u32, h: u32) -> Result<Vec<u8>, (NVENCSTATUS, String)> {
    let c = cuda()?;
    let rows = h as usize * 3 / 2;
    let mut out = vec![0u8; w as usize * rows];
    let copy = cu::CUDA_MEMCPY2D {
        srcMemoryType: cu::CUmemorytype_enum::CU_MEMORYTYPE_DEVICE,
        srcDevice: reg.ptr,
        srcPitch: reg.pitch as usize,
        dstMemoryType: cu::CUmemorytype_enum::CU_MEMORYTYPE_HOST,
        dstHost: out.as_mut_ptr().cast(),
        dstPitch: w as usize,
        WidthInBytes: w as usize,
        Height: rows,
        ..Default::default()
    };
    // SAFETY: the source is the live registered allocation (checked), `pitch * rows` bytes;
    // the destination is `out`, `w * rows` bytes, alive until the sync below.
    cu_ok("cuMemcpy2DAsync", unsafe {
        c.cuMemcpy2DAsync_v2(&copy, s.io_stream)
    })
    .map_err(|e| (S::NV_ENC_ERR_GENERIC, e))?;
    // SAFETY: a live stream (checked when set).
    cu_ok("cuStreamSynchronize", unsafe {
        c.cuStreamSynchronize(s.io_stream)
    })
    .map_err(|e| (S::NV_ENC_ERR_GENERIC, e))?;
    Ok(out)
}

unsafe extern "C" fn encode(h: *mut c_void, p: *mut sys::NV_ENC_PIC_PARAMS) -> NVENCSTATUS {
    let call = "nvEncEncodePicture";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_PIC_PARAMS", p.version, PIC_VER)?;
        s.init(call)?;
        let flags = p.encodePicFlags;
        if flags & sys::_NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_EOS.0 != 0 {
            let coded = s.gop.flush();
            s.emit(coded)?;
            s.eos_since_last_picture = true;
            return Ok(S::NV_ENC_SUCCESS);
        }
        if s.io_ptr.is_null() {
            return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: no nvEncSetIOCudaStreams before the first picture (nvdx always sets its stream)"));
        }
        // SAFETY: the storage nvEncSetIOCudaStreams was given must stay valid for the session
        // (NVENC keeps the pointer); a changed value means it was freed or overwritten.
        let now = unsafe { std::ptr::read_volatile(s.io_ptr) };
        if now != s.io_stream {
            return bad(S::NV_ENC_ERR_INVALID_PARAM, format!("{call}: the CUstream storage passed to nvEncSetIOCudaStreams now holds {now:p}, not {:p}: freed or reused while the session lives", s.io_stream));
        }
        let Some(mp) = s.maps.get(&(p.inputBuffer as usize)) else {
            return bad(
                S::NV_ENC_ERR_RESOURCE_NOT_MAPPED,
                format!(
                    "{call}: inputBuffer {:p} is not a mapped resource of this session",
                    p.inputBuffer
                ),
            );
        };
        if mp.in_flight {
            return bad(
                S::NV_ENC_ERR_INVALID_CALL,
                format!(
                    "{call}: inputBuffer {:p} is already submitted",
                    p.inputBuffer
                ),
            );
        }
        let b = p.outputBitstream as usize;
        match s.bufs.get(&b) {
            None => return bad(S::NV_ENC_ERR_INVALID_PARAM, format!("{call}: outputBitstream {:p} is not a bitstream buffer of this session", p.outputBitstream)),
            Some(buf) if buf.state != BufState::Idle => return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: outputBitstream {:p} still holds a picture that was not locked and unlocked ({:?})", p.outputBitstream, buf.state)),
            _ => {}
        }
        let reg = &s.regs[&mp.reg];
        let init = s.init(call)?;
        if (p.inputWidth, p.inputHeight) != (init.width, init.height) {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: input {}x{} but the session encodes {}x{}",
                    p.inputWidth, p.inputHeight, init.width, init.height
                ),
            );
        }
        if (reg.width, reg.height) != (init.width, init.height) {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: the resource was registered as {}x{}, the session encodes {}x{}",
                    reg.width, reg.height, init.width, init.height
                ),
            );
        }
        if p.inputPitch != reg.pitch {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: inputPitch {} but the resource was registered with pitch {}",
                    p.inputPitch, reg.pitch
                ),
            );
        }
        if p.bufferFmt != sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12 {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!("{call}: bufferFmt {} is not the mapped NV12", p.bufferFmt.0),
            );
        }
        if p.pictureStruct != sys::_NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: pictureStruct {} (the double encodes frames)",
                    p.pictureStruct.0
                ),
            );
        }
        if !p.completionEvent.is_null() {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!("{call}: a completionEvent on a synchronous CUDA session"),
            );
        }
        let _bound = Bound::new(s.ctx)?;
        reg.check_alive(call)?;
        let (w, hh) = (init.width, init.height);
        let nv12 = read_input(s, reg, w, hh)?;
        let force_idr = flags & sys::_NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_FORCEIDR.0 != 0;
        let headers = flags & sys::_NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_OUTPUT_SPSPPS.0 != 0;
        let map_id = p.inputBuffer as usize;
        s.maps.get_mut(&map_id).expect("checked").in_flight = true;
        s.bufs.get_mut(&b).expect("checked").state = BufState::Waiting;
        s.queue.push_back(b);
        s.pictures += 1;
        s.eos_since_last_picture = false;
        let job = Job {
            nv12,
            pts: p.inputTimeStamp,
            frame_idx: p.frameIdx,
            map: map_id,
            headers,
        };
        let coded = s.gop.push(job, force_idr);
        if coded.is_empty() {
            return Ok(S::NV_ENC_ERR_NEED_MORE_INPUT);
        }
        s.emit(coded)?;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn lock(h: *mut c_void, p: *mut sys::NV_ENC_LOCK_BITSTREAM) -> NVENCSTATUS {
    let call = "nvEncLockBitstream";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_LOCK_BITSTREAM", p.version, LOCK_VER)?;
        let b = p.outputBitstream as usize;
        let Some(state) = s.bufs.get(&b).map(|x| &x.state) else {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: {:p} is not a bitstream buffer of this session",
                    p.outputBitstream
                ),
            );
        };
        match state {
            BufState::Ready => {}
            BufState::Waiting => return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: {:p} has no output yet: lock only after the encode call that completes it returned NV_ENC_SUCCESS", p.outputBitstream)),
            BufState::Locked => return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: {:p} is already locked", p.outputBitstream)),
            BufState::Idle => return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: {:p} holds no submitted picture", p.outputBitstream)),
        }
        if s.queue.front() != Some(&b) {
            return bad(S::NV_ENC_ERR_INVALID_CALL, format!("{call}: {:p} locked out of submission order (the oldest unlocked buffer is {:#x})", p.outputBitstream, s.queue.front().copied().unwrap_or(0)));
        }
        s.queue.pop_front();
        s.filled -= 1;
        let buf = s.bufs.get_mut(&b).expect("checked");
        if injected(call) {
            // The picture's output is lost; the buffer is free again.
            buf.state = BufState::Idle;
            buf.data = Vec::new();
            return Err((
                S::NV_ENC_ERR_GENERIC,
                "injected failure (nvenc_double_fail_next)".into(),
            ));
        }
        buf.state = BufState::Locked;
        p.bitstreamBufferPtr = buf.data.as_mut_ptr().cast();
        p.bitstreamSizeInBytes = buf.data.len() as u32;
        p.outputTimeStamp = buf.pts;
        p.outputDuration = 0;
        p.frameIdx = buf.frame_idx;
        p.numSlices = 1;
        p.hwEncodeStatus = 0;
        p.pictureStruct = sys::_NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME;
        use sys::_NV_ENC_PIC_TYPE as T;
        p.pictureType = match buf.kind {
            Kind::Idr => T::NV_ENC_PIC_TYPE_IDR,
            Kind::I => T::NV_ENC_PIC_TYPE_I,
            Kind::P => T::NV_ENC_PIC_TYPE_P,
            Kind::B => T::NV_ENC_PIC_TYPE_B,
        };
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn unlock(h: *mut c_void, b: sys::NV_ENC_OUTPUT_PTR) -> NVENCSTATUS {
    let call = "nvEncUnlockBitstream";
    with(h, call, |s| match s.bufs.get_mut(&(b as usize)) {
        Some(buf) if buf.state == BufState::Locked => {
            buf.state = BufState::Idle;
            buf.data = Vec::new();
            Ok(S::NV_ENC_SUCCESS)
        }
        Some(_) => bad(
            S::NV_ENC_ERR_INVALID_CALL,
            format!("{call}: {b:p} is not locked"),
        ),
        None => bad(
            S::NV_ENC_ERR_INVALID_PARAM,
            format!("{call}: {b:p} is not a bitstream buffer of this session"),
        ),
    })
}

unsafe extern "C" fn reconfigure(
    h: *mut c_void,
    p: *mut sys::NV_ENC_RECONFIGURE_PARAMS,
) -> NVENCSTATUS {
    let call = "nvEncReconfigureEncoder";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_RECONFIGURE_PARAMS", p.version, RECONF_VER)?;
        check_ver(
            call,
            "reInitEncodeParams",
            p.reInitEncodeParams.version,
            INIT_VER,
        )?;
        let (c, ip) = check_config(call, &p.reInitEncodeParams)?;
        let rc = c.rcParams.rateControlMode;
        let ri = &p.reInitEncodeParams;
        let init = s.init(call)?;
        if ip != init.interval_p {
            return Err((
                S::NV_ENC_ERR_UNSUPPORTED_PARAM,
                format!("{call}: frameIntervalP cannot change in a running session"),
            ));
        }
        if rc != init.rc_mode {
            return bad(S::NV_ENC_ERR_UNSUPPORTED_PARAM, format!("{call}: rate-control mode {} -> {}, but NV_ENC_CAPS_SUPPORT_DYN_RCMODE_CHANGE is 0 (check the capability first)", init.rc_mode.0, rc.0));
        }
        let (w, hh) = (ri.encodeWidth, ri.encodeHeight);
        if w > init.max_width || hh > init.max_height {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!(
                    "{call}: {w}x{hh} exceeds the session's max {}x{}",
                    init.max_width, init.max_height
                ),
            );
        }
        let resize = (w, hh) != (init.width, init.height);
        if resize && (p.resetEncoder() == 0 || p.forceIDR() == 0) {
            return bad(
                S::NV_ENC_ERR_INVALID_PARAM,
                format!("{call}: a resolution change needs resetEncoder and forceIDR"),
            );
        }
        if resize && s.gop.waiting() > 0 {
            return bad(
                S::NV_ENC_ERR_INVALID_CALL,
                format!(
                    "{call}: resolution change with {} pictures still waiting in the engine",
                    s.gop.waiting()
                ),
            );
        }
        if resize && (!s.regs.values().all(|r| !r.mapped)) {
            return bad(
                S::NV_ENC_ERR_INVALID_CALL,
                format!("{call}: resolution change with inputs still mapped"),
            );
        }
        if p.forceIDR() != 0 || p.resetEncoder() != 0 {
            let coded = s.gop.restart();
            s.emit(coded)?;
        }
        let i = s.init.as_mut().expect("checked");
        i.width = w;
        i.height = hh;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn sequence_params(
    h: *mut c_void,
    p: *mut sys::NV_ENC_SEQUENCE_PARAM_PAYLOAD,
) -> NVENCSTATUS {
    let call = "nvEncGetSequenceParams";
    with(h, call, |s| {
        let p = need(p, call, "params")?;
        check_ver(call, "NV_ENC_SEQUENCE_PARAM_PAYLOAD", p.version, SEQ_VER)?;
        s.init(call)?;
        let hdr = h264::headers(&s.seq());
        if (p.inBufferSize as usize) < hdr.len() || p.spsppsBuffer.is_null() {
            return Err((
                S::NV_ENC_ERR_NOT_ENOUGH_BUFFER,
                format!("{call}: needs {} bytes", hdr.len()),
            ));
        }
        let size = need(p.outSPSPPSPayloadSize, call, "outSPSPPSPayloadSize")?;
        // SAFETY: the buffer holds `inBufferSize >= hdr.len()` bytes (checked).
        unsafe {
            std::ptr::copy_nonoverlapping(hdr.as_ptr(), p.spsppsBuffer.cast::<u8>(), hdr.len())
        };
        *size = hdr.len() as u32;
        Ok(S::NV_ENC_SUCCESS)
    })
}

unsafe extern "C" fn last_error(h: *mut c_void) -> *const c_char {
    let live = sessions()
        .as_ref()
        .is_some_and(|s| s.contains(&(h as usize)));
    if !live {
        return c"not an open session of the NVENC double".as_ptr();
    }
    // SAFETY: live (see `with`); the string stays valid until the next call on the session.
    let m = unsafe { &*(h as *const Mutex<Sess>) };
    m.lock().unwrap_or_else(|e| e.into_inner()).error.as_ptr()
}

unsafe extern "C" fn destroy(h: *mut c_void) -> NVENCSTATUS {
    let call = "nvEncDestroyEncoder";
    let st = with(h, call, |s| {
        let mut problems = Vec::new();
        if !s.maps.is_empty() {
            problems.push(format!("{} inputs still mapped", s.maps.len()));
        }
        if !s.regs.is_empty() {
            problems.push(format!("{} resources still registered", s.regs.len()));
        }
        let live_bufs = s
            .bufs
            .values()
            .filter(|b| b.state != BufState::Idle)
            .count();
        if live_bufs > 0 {
            problems.push(format!(
                "{live_bufs} bitstream buffers hold pictures not locked/unlocked"
            ));
        }
        if s.init.is_some() && !s.eos_since_last_picture {
            problems.push(format!(
                "no EOS (NV_ENC_PIC_FLAG_EOS) after the last of {} pictures",
                s.pictures
            ));
        }
        if !s.io_ptr.is_null() {
            // SAFETY: see `encode`: the storage must stay valid until destroy.
            let now = unsafe { std::ptr::read_volatile(s.io_ptr) };
            if now != s.io_stream {
                problems.push("the CUstream storage given to nvEncSetIOCudaStreams was freed or overwritten before nvEncDestroyEncoder".into());
            } else if let Ok(_b) = Bound::new(s.ctx) {
                // SAFETY: the driver validates the handle.
                let q = unsafe { cuda()?.cuStreamQuery(s.io_stream) };
                if !matches!(
                    q,
                    Ok(cu::cudaError_enum::CUDA_SUCCESS | cu::cudaError_enum::CUDA_ERROR_NOT_READY)
                ) {
                    problems.push(format!(
                        "the IO stream was destroyed before nvEncDestroyEncoder ({q:?})"
                    ));
                }
            }
        }
        // Registrations left over: were they freed first?
        if let Ok(_b) = Bound::new(s.ctx) {
            for r in s.regs.values() {
                if let Err((_, m)) = r.check_alive(call) {
                    problems.push(m);
                }
            }
        }
        if problems.is_empty() {
            Ok(S::NV_ENC_SUCCESS)
        } else {
            bad(
                S::NV_ENC_ERR_INVALID_CALL,
                format!("{call}: {}", problems.join("; ")),
            )
        }
    });
    if sessions()
        .as_mut()
        .is_some_and(|set| set.remove(&(h as usize)))
    {
        // SAFETY: removed from the live set just now, so freed exactly once; made by `open`.
        drop(unsafe { Box::from_raw(h.cast::<Mutex<Sess>>()) });
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_list_version_is_checked_and_the_list_filled() {
        let before = nvenc_double_violations();
        let mut l = sys::NV_ENCODE_API_FUNCTION_LIST {
            version: ver(1),
            ..Default::default()
        };
        // SAFETY: a writable function list.
        let st = unsafe { NvEncodeAPICreateInstance(&mut l) };
        assert_eq!(st, S::NV_ENC_ERR_INVALID_VERSION);
        assert!(l.nvEncOpenEncodeSessionEx.is_none());
        assert_eq!(nvenc_double_violations(), before + 1);
        l.version = FUNCTION_LIST_VER;
        // SAFETY: as above.
        let st = unsafe { NvEncodeAPICreateInstance(&mut l) };
        assert_eq!(st, S::NV_ENC_SUCCESS);
        assert!(l.nvEncOpenEncodeSessionEx.is_some() && l.nvEncDestroyEncoder.is_some());
        let mut v = 0;
        // SAFETY: valid out-pointer.
        let st = unsafe { NvEncodeAPIGetMaxSupportedVersion(&mut v) };
        assert_eq!(st, S::NV_ENC_SUCCESS);
        assert_eq!(v, (12 << 4) | 1);
        // A handle that is not a session is refused, not dereferenced.
        let mut n = 0;
        // SAFETY: the double validates the handle before use.
        let st = unsafe { guid_count(0x1234 as *mut c_void, &mut n) };
        assert_eq!(st, S::NV_ENC_ERR_INVALID_ENCODERDEVICE);
    }
}
