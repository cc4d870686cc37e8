//! The `nvdx` Python module: [`nvdx::VideoReader`] for Python, with frames and tensors that
//! implement the DLPack protocol (`__dlpack__` / `__dlpack_device__`), so
//! `torch.from_dlpack(frame)` is a zero-copy view ordered on the consumer's stream.
//!
//! - Importing needs nothing (libcuda and libnvcuvid are opened on first use); opening a video
//!   reads its index only (no GPU); decoding without a driver raises `nvdx.NvdxError` with
//!   nvdx's message.
//! - Every decoding call releases the GIL; readers may be used from many threads at once.
//! - Frames and tensors own their GPU memory through an `Arc`; an export holds another
//!   reference until the consumer's deleter runs, so memory returns to nvdx's pool when the
//!   last Python (or torch) reference goes, after the consumer's work on its stream.

mod capsule;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyBufferError, PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use nvdx::colour::{ColourDescription, ColourMatrix, ColourRange, ColourSpace};
use nvdx::dlpack::{self, ConsumerStream, DlView, DlpackImage, FramePart};
use nvdx::kernels::colour::{rgb_to_yuv420, Tensor, TensorDtype, TensorParams};
use nvdx::sample::VideoInfo;
use nvdx::{AsDevicePtr, Context, Frame, FrameView, MemoryKind, PixelFormat, Stream};

pyo3::create_exception!(
    nvdx,
    NvdxError,
    PyRuntimeError,
    "An nvdx failure (driver, decoder, invalid or corrupt data), with nvdx's message."
);
pyo3::create_exception!(
    nvdx,
    UnsupportedError,
    NvdxError,
    "The GPU, driver or video cannot do what was asked (e.g. a codec the GPU's NVDEC lacks)."
);

/// nvdx's error as a Python exception: out-of-range indices as `IndexError`, unsupported
/// features as `nvdx.UnsupportedError`, the rest as `nvdx.NvdxError`; the message is nvdx's.
fn py_err(e: nvdx::Error) -> PyErr {
    let msg = e.to_string();
    match e {
        nvdx::Error::InvalidArgument(m) if m.contains("past the end") => PyIndexError::new_err(msg),
        nvdx::Error::Unsupported(_) => UnsupportedError::new_err(msg),
        _ => NvdxError::new_err(msg),
    }
}

// ---- per-GPU state -----------------------------------------------------------------------------

/// One GPU's context and a pool of idle streams, shared by every reader of the process.
struct Gpu {
    ctx: Context,
    streams: Mutex<Vec<Stream>>,
}

/// A stream on loan from [`Gpu`]; goes back on drop (with its work still queued: the outputs
/// track their own writes, so nothing waits).
struct LoanedStream<'a> {
    gpu: &'a Gpu,
    stream: Option<Stream>,
}

impl std::ops::Deref for LoanedStream<'_> {
    type Target = Stream;
    fn deref(&self) -> &Stream {
        self.stream.as_ref().expect("stream present until drop")
    }
}

impl Drop for LoanedStream<'_> {
    fn drop(&mut self) {
        if let (Some(s), Ok(mut pool)) = (self.stream.take(), self.gpu.streams.lock()) {
            pool.push(s);
        }
    }
}

impl Gpu {
    fn get(ordinal: u32) -> nvdx::Result<Arc<Gpu>> {
        static GPUS: Mutex<Vec<(u32, Arc<Gpu>)>> = Mutex::new(Vec::new());
        let mut gpus = GPUS
            .lock()
            .map_err(|_| nvdx::Error::InvalidState("GPU registry poisoned".into()))?;
        if let Some((_, g)) = gpus.iter().find(|(o, _)| *o == ordinal) {
            return Ok(Arc::clone(g));
        }
        let g = Arc::new(Gpu {
            ctx: Context::primary(ordinal)?,
            streams: Mutex::new(Vec::new()),
        });
        gpus.push((ordinal, Arc::clone(&g)));
        Ok(g)
    }

    fn stream(&self) -> nvdx::Result<LoanedStream<'_>> {
        let idle = self.streams.lock().ok().and_then(|mut p| p.pop());
        let stream = match idle {
            Some(s) => s,
            None => Stream::new(&self.ctx)?,
        };
        Ok(LoanedStream {
            gpu: self,
            stream: Some(stream),
        })
    }
}

/// The caller's stream handle (e.g. `torch.cuda.current_stream().cuda_stream`) as an nvdx
/// stream; `0` (torch's default stream) is the legacy default stream.
///
/// # Safety
/// The handle is a live stream of `ctx` for as long as the returned stream is used.
unsafe fn caller_stream(ctx: &Context, handle: u64) -> nvdx::Result<Stream> {
    let raw = if handle == 0 { 1 } else { handle };
    // SAFETY: forwarded to the caller.
    unsafe { Stream::from_raw_borrowed(ctx, raw as usize as nvdx_sys::cuda::CUstream) }
}

// ---- DLPack exports ----------------------------------------------------------------------------

/// `__dlpack__(stream=, max_version=, dl_device=, copy=)` of the array API standard.
fn dlpack_export<T: AsDevicePtr + Send + Sync + 'static>(
    py: Python<'_>,
    owner: &Arc<T>,
    view: DlView,
    stream: Option<i64>,
    max_version: Option<(u32, u32)>,
    dl_device: Option<(i32, i32)>,
    copy: Option<bool>,
) -> PyResult<Py<PyAny>> {
    if copy == Some(true) {
        return Err(PyBufferError::new_err(
            "nvdx exports its GPU memory without copies (copy=True is not supported)",
        ));
    }
    if let Some(d) = dl_device {
        if d != (view.device.device_type, view.device.device_id) {
            return Err(PyBufferError::new_err(format!(
                "the memory is on DLPack device {:?}, not {d:?} (nvdx does not copy)",
                (view.device.device_type, view.device.device_id)
            )));
        }
    }
    // torch passes its default stream as 0 when called as `__dlpack__(stream=s.cuda_stream)`:
    // read it as the legacy default stream (the spec's 1).
    let stream = stream.map(|s| if s == 0 { 1 } else { s });
    // SAFETY: the DLPack protocol's contract: a consumer that passes a stream handle passes
    // a live stream of this device that outlives its use of the tensor (the deleter call).
    let consumer = unsafe { ConsumerStream::from_protocol(stream) }.map_err(py_err)?;
    let exported = dlpack::export(Arc::clone(owner), view, consumer).map_err(py_err)?;
    let versioned = max_version.is_some_and(|(major, _)| major >= 1);
    capsule::new(py, exported, versioned)
}

fn device_tuple(view: &DlView) -> (i32, i32) {
    (view.device.device_type, view.device.device_id)
}

fn format_name(f: PixelFormat) -> &'static str {
    match f {
        PixelFormat::Nv12 => "nv12",
        PixelFormat::P016 => "p016",
        PixelFormat::Rgb24 => "rgb24",
        PixelFormat::Bgr24 => "bgr24",
        PixelFormat::Rgba => "rgba",
        PixelFormat::Bgra => "bgra",
        _ => "other",
    }
}

/// A decoded picture in GPU memory (NV12, or P016 for 10/12-bit video).
///
/// `torch.from_dlpack(frame)` gives the whole allocation as a `(H * 3/2) x W` tensor
/// (uint8, or uint16 for P016) whose row stride is the pitch: luma rows, then interleaved
/// chroma rows. `frame.y` and `frame.uv` export the planes (`H x W` and `H/2 x W/2 x 2`).
#[pyclass(frozen, name = "Frame", module = "nvdx")]
struct PyFrame {
    frame: Arc<Frame>,
    /// An imported source the frame was converted from, kept until the frame goes.
    _source: Option<Arc<DlpackImage>>,
}

impl PyFrame {
    fn new(frame: Frame) -> PyFrame {
        PyFrame {
            frame: Arc::new(frame),
            _source: None,
        }
    }
    fn view(&self, part: FramePart) -> PyResult<DlView> {
        DlView::of_frame(&*self.frame, part).map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

#[pymethods]
impl PyFrame {
    /// Width in pixels.
    #[getter]
    fn width(&self) -> u32 {
        self.frame.width()
    }
    /// Height in pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.frame.height()
    }
    /// Bytes between rows (both planes).
    #[getter]
    fn pitch(&self) -> usize {
        self.frame.pitch()
    }
    /// `"nv12"` or `"p016"` (or the RGB format of converted frames).
    #[getter]
    fn format(&self) -> &'static str {
        format_name(self.frame.format())
    }
    /// Display index in the video.
    #[getter]
    fn index(&self) -> Option<u64> {
        self.frame.meta.index
    }
    /// Presentation timestamp in `timescale` ticks.
    #[getter]
    fn pts(&self) -> i64 {
        self.frame.meta.pts
    }
    /// Presentation time in seconds (`None` without a timescale).
    #[getter]
    fn seconds(&self) -> Option<f64> {
        let m = self.frame.meta;
        (m.timescale > 0).then(|| m.pts as f64 / f64::from(m.timescale))
    }
    /// CUDA device ordinal.
    #[getter]
    fn gpu(&self) -> u32 {
        self.frame.context().device().ordinal()
    }
    /// Device address of the first byte.
    #[getter]
    fn device_ptr(&self) -> u64 {
        self.frame.device_ptr()
    }
    /// Shape of the whole-frame DLPack view.
    #[getter]
    fn shape(&self) -> PyResult<Vec<i64>> {
        Ok(self.view(FramePart::Whole)?.shape)
    }
    /// The luma plane, `H x W` (4:2:0 frames).
    #[getter]
    fn y(&self) -> PyResult<PyPlane> {
        self.view(FramePart::Luma)?;
        Ok(PyPlane {
            frame: Arc::clone(&self.frame),
            part: FramePart::Luma,
        })
    }
    /// The interleaved chroma plane, `H/2 x W/2 x 2` (4:2:0 frames).
    #[getter]
    fn uv(&self) -> PyResult<PyPlane> {
        self.view(FramePart::Chroma)?;
        Ok(PyPlane {
            frame: Arc::clone(&self.frame),
            part: FramePart::Chroma,
        })
    }
    /// The DLPack protocol: a capsule of the whole frame, ordered on `stream`.
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<i64>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let view = self.view(FramePart::Whole)?;
        dlpack_export(py, &self.frame, view, stream, max_version, dl_device, copy)
    }
    /// `(device_type, device_id)`: `(2, gpu)` for CUDA memory.
    fn __dlpack_device__(&self) -> PyResult<(i32, i32)> {
        Ok(device_tuple(&self.view(FramePart::Whole)?))
    }
    /// The picture downloaded to the host, tightly packed (no pitch padding): nvdx's own copy
    /// path, for checks. Ordered after the frame's last write; releases the GIL.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let f = Arc::clone(&self.frame);
        let v = py.detach(move || f.to_host_vec()).map_err(py_err)?;
        Ok(PyBytes::new(py, &v))
    }
    fn __repr__(&self) -> String {
        format!(
            "nvdx.Frame({} {}x{}, pitch {}, index {:?}, gpu {})",
            self.format(),
            self.width(),
            self.height(),
            self.pitch(),
            self.index(),
            self.gpu()
        )
    }
}

/// One plane of a 4:2:0 [`PyFrame`], exportable on its own.
#[pyclass(frozen, name = "Plane", module = "nvdx")]
struct PyPlane {
    frame: Arc<Frame>,
    part: FramePart,
}

#[pymethods]
impl PyPlane {
    /// Shape of the plane's DLPack view.
    #[getter]
    fn shape(&self) -> PyResult<Vec<i64>> {
        Ok(DlView::of_frame(&*self.frame, self.part)
            .map_err(py_err)?
            .shape)
    }
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<i64>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let view = DlView::of_frame(&*self.frame, self.part).map_err(py_err)?;
        dlpack_export(py, &self.frame, view, stream, max_version, dl_device, copy)
    }
    fn __dlpack_device__(&self) -> PyResult<(i32, i32)> {
        Ok(device_tuple(
            &DlView::of_frame(&*self.frame, self.part).map_err(py_err)?,
        ))
    }
}

/// An `N x 3 x H x W` float16/float32 batch, resized and normalised, in GPU memory.
#[pyclass(frozen, name = "Tensor", module = "nvdx")]
struct PyTensor {
    tensor: Arc<Tensor>,
    indices: Vec<usize>,
    seconds: Vec<f64>,
}

#[pymethods]
impl PyTensor {
    /// `(N, 3, H, W)`.
    #[getter]
    fn shape(&self) -> (usize, usize, usize, usize) {
        let [n, c, h, w] = self.tensor.shape();
        (n, c, h, w)
    }
    /// `"float16"` or `"float32"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.tensor.dtype() {
            TensorDtype::F16 => "float16",
            TensorDtype::F32 => "float32",
        }
    }
    /// Display index of each slot.
    #[getter]
    fn indices(&self) -> Vec<usize> {
        self.indices.clone()
    }
    /// Presentation time of each slot in seconds.
    #[getter]
    fn seconds(&self) -> Vec<f64> {
        self.seconds.clone()
    }
    /// CUDA device ordinal.
    #[getter]
    fn gpu(&self) -> u32 {
        self.tensor.buffer().context().device().ordinal()
    }
    /// Device address of element (0, 0, 0, 0).
    #[getter]
    fn device_ptr(&self) -> u64 {
        self.tensor.device_ptr()
    }
    fn __len__(&self) -> usize {
        self.tensor.batch()
    }
    #[pyo3(signature = (*, stream=None, max_version=None, dl_device=None, copy=None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<i64>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let view = DlView::of_tensor(&self.tensor);
        dlpack_export(py, &self.tensor, view, stream, max_version, dl_device, copy)
    }
    fn __dlpack_device__(&self) -> (i32, i32) {
        device_tuple(&DlView::of_tensor(&self.tensor))
    }
    /// The elements downloaded to the host (little-endian float16/float32 bytes); releases
    /// the GIL.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let t = Arc::clone(&self.tensor);
        let v = py
            .detach(move || {
                let mut v = vec![0u8; t.buffer().len()];
                t.buffer().copy_to_host(&mut v).map(|()| v)
            })
            .map_err(py_err)?;
        Ok(PyBytes::new(py, &v))
    }
    fn __repr__(&self) -> String {
        let (n, c, h, w) = self.shape();
        format!(
            "nvdx.Tensor([{n}, {c}, {h}, {w}], {}, gpu {})",
            self.dtype(),
            self.gpu()
        )
    }
}

// ---- the reader --------------------------------------------------------------------------------

/// Opens a video (a path, or the file's bytes) for frame-accurate random access on GPU `gpu`.
///
/// Opening reads the container's index only: metadata needs no GPU. Decoding methods release
/// the GIL; one reader may be used from many threads at once.
#[pyclass(frozen, name = "VideoReader", module = "nvdx")]
struct PyVideoReader {
    reader: nvdx::VideoReader,
    gpu: u32,
}

fn parse_space(colour: &str, info: &VideoInfo) -> PyResult<ColourSpace> {
    let (matrix, range) = match colour.split_once('-') {
        Some((m, r)) => (m, r),
        None => (colour, "limited"),
    };
    if matrix == "auto" {
        return Ok(ColourDescription::UNSPECIFIED.conversion_space(info.width, info.height));
    }
    let matrix = match matrix {
        "bt601" => ColourMatrix::Bt601,
        "bt709" => ColourMatrix::Bt709,
        "bt2020" => ColourMatrix::Bt2020,
        _ => {
            return Err(PyValueError::new_err(format!(
                "colour {colour:?}: use \"auto\", or bt601/bt709/bt2020 with an optional \
                 -limited/-full suffix"
            )))
        }
    };
    let range = match range {
        "limited" => ColourRange::Limited,
        "full" => ColourRange::Full,
        _ => return Err(PyValueError::new_err(format!("colour range {range:?}"))),
    };
    Ok(ColourSpace::new(matrix, range))
}

fn triple(v: Option<&Bound<'_, PyAny>>, default: [f32; 3], what: &str) -> PyResult<[f32; 3]> {
    let Some(v) = v else { return Ok(default) };
    if let Ok(x) = v.extract::<f32>() {
        return Ok([x; 3]);
    }
    let xs: Vec<f32> = v.extract()?;
    match xs.as_slice() {
        [a, b, c] => Ok([*a, *b, *c]),
        [a] => Ok([*a; 3]),
        _ => Err(PyValueError::new_err(format!(
            "{what} needs 1 or 3 values, got {}",
            xs.len()
        ))),
    }
}

impl PyVideoReader {
    fn index(&self, i: i64) -> PyResult<usize> {
        let n = self.reader.len() as i64;
        let j = if i < 0 { i + n } else { i };
        if j < 0 {
            return Err(PyIndexError::new_err(format!(
                "frame index {i} is before the start: the video has {n} frames"
            )));
        }
        // nvdx's own message for indices past the end.
        self.reader.time_of(j as usize).map_err(py_err)?;
        Ok(j as usize)
    }

    fn indices(&self, indices: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
        let raw: Vec<i64> = indices.extract()?;
        raw.into_iter().map(|i| self.index(i)).collect()
    }

    fn decode(&self, py: Python<'_>, indices: Vec<usize>) -> PyResult<Vec<PyFrame>> {
        let frames = py
            .detach(|| {
                let gpu = Gpu::get(self.gpu)?;
                let stream = gpu.stream()?;
                self.reader.frames(&indices, &stream)
            })
            .map_err(py_err)?;
        Ok(frames.into_iter().map(PyFrame::new).collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn tensor(
        &self,
        py: Python<'_>,
        indices: Vec<usize>,
        size: &Bound<'_, PyAny>,
        dtype: &str,
        mean: Option<&Bound<'_, PyAny>>,
        std: Option<&Bound<'_, PyAny>>,
        stream: Option<u64>,
        colour: &str,
    ) -> PyResult<PyTensor> {
        let (h, w) = match size.extract::<u32>() {
            Ok(s) => (s, s),
            Err(_) => size
                .extract::<(u32, u32)>()
                .map_err(|_| PyTypeError::new_err("size is an int or a (height, width) tuple"))?,
        };
        let dtype = match dtype {
            "float16" | "f16" | "half" => TensorDtype::F16,
            "float32" | "f32" | "float" => TensorDtype::F32,
            d => {
                return Err(PyValueError::new_err(format!(
                    "dtype {d:?}: use \"float16\" or \"float32\""
                )))
            }
        };
        let params = TensorParams {
            space: parse_space(colour, self.reader.info())?,
            mean: triple(mean, [0.0; 3], "mean")?,
            std: triple(std, [1.0; 3], "std")?,
        };
        let (tensor, result) = py
            .detach(|| {
                let gpu = Gpu::get(self.gpu)?;
                let loaned;
                let borrowed;
                let s: &Stream = match stream {
                    Some(handle) => {
                        // SAFETY: the caller passes a live stream of this GPU (documented in
                        // `sample_tensor`); it outlives this call, the only use here.
                        borrowed = unsafe { caller_stream(&gpu.ctx, handle) }?;
                        &borrowed
                    }
                    None => {
                        loaned = gpu.stream()?;
                        &loaned
                    }
                };
                let mut t = Tensor::new(&gpu.ctx, indices.len(), h, w, dtype)?;
                let r = self.reader.tensor(&indices, &mut t, 0, &params, s)?;
                Ok((t, r))
            })
            .map_err(py_err)?;
        Ok(PyTensor {
            tensor: Arc::new(tensor),
            seconds: result.seconds(),
            indices: result.indices,
        })
    }
}

#[pymethods]
impl PyVideoReader {
    #[new]
    #[pyo3(signature = (source, gpu=0))]
    fn new(py: Python<'_>, source: &Bound<'_, PyAny>, gpu: u32) -> PyResult<PyVideoReader> {
        let reader = if let Ok(b) = source.cast::<PyBytes>() {
            let bytes = b.as_bytes().to_vec();
            py.detach(move || nvdx::VideoReader::from_bytes(bytes))
        } else {
            let path: PathBuf = source.extract().map_err(|_| {
                PyTypeError::new_err("VideoReader takes a path (str or os.PathLike) or bytes")
            })?;
            py.detach(move || nvdx::VideoReader::open(path))
        }
        .map_err(py_err)?;
        Ok(PyVideoReader { reader, gpu })
    }

    fn __len__(&self) -> usize {
        self.reader.len()
    }
    /// Displayed width.
    #[getter]
    fn width(&self) -> u32 {
        self.reader.info().width
    }
    /// Displayed height.
    #[getter]
    fn height(&self) -> u32 {
        self.reader.info().height
    }
    /// Nominal frame rate in frames per second, if the container says.
    #[getter]
    fn fps(&self) -> Option<f64> {
        self.reader
            .info()
            .frame_rate
            .filter(|&(_, d)| d > 0)
            .map(|(n, d)| f64::from(n) / f64::from(d))
    }
    /// Nominal frame rate as `(numerator, denominator)`.
    #[getter]
    fn frame_rate(&self) -> Option<(u32, u32)> {
        self.reader.info().frame_rate
    }
    /// Duration in seconds, if the container says.
    #[getter]
    fn duration(&self) -> Option<f64> {
        self.reader.info().duration_seconds
    }
    /// `"h264"`, `"hevc"`, `"av1"`, ...
    #[getter]
    fn codec(&self) -> String {
        format!("{:?}", self.reader.info().codec).to_lowercase()
    }
    /// `"mp4"`, `"ivf"`, `"annexb"`, ...
    #[getter]
    fn container(&self) -> String {
        format!("{:?}", self.reader.info().container).to_lowercase()
    }
    /// Luma bit depth.
    #[getter]
    fn bit_depth(&self) -> u8 {
        self.reader.info().bit_depth
    }
    /// Chroma subsampling, e.g. `"yuv420"`.
    #[getter]
    fn chroma(&self) -> String {
        format!("{:?}", self.reader.info().chroma).to_lowercase()
    }
    /// Display indices of the keyframes.
    #[getter]
    fn keyframes(&self) -> Vec<usize> {
        self.reader.info().keyframes.clone()
    }
    /// Clockwise display rotation from the container (not applied).
    #[getter]
    fn rotation(&self) -> i32 {
        self.reader.info().rotation_degrees
    }
    /// The colour conversion `colour="auto"` uses, e.g. `"bt709-limited"`: BT.709 for HD,
    /// BT.601 for SD (the stream's signalled matrix is not read yet).
    #[getter]
    fn colour_space(&self) -> String {
        let i = self.reader.info();
        let s = ColourDescription::UNSPECIFIED.conversion_space(i.width, i.height);
        format!("{:?}-{:?}", s.matrix, s.range).to_lowercase()
    }
    /// Pixel format of decoded frames: `"nv12"` (8-bit) or `"p016"`.
    #[getter]
    fn output_format(&self) -> &'static str {
        format_name(self.reader.output_format())
    }
    /// Presentation time of frame `index` in seconds.
    fn time_of(&self, index: i64) -> PyResult<f64> {
        let i = self.index(index)?;
        self.reader.time_of(i).map_err(py_err)
    }
    /// The frame shown at `seconds`.
    fn index_at(&self, seconds: f64) -> PyResult<usize> {
        self.reader.index_at_time(seconds).map_err(py_err)
    }
    /// `n` uniformly spaced frame indices.
    fn uniform_indices(&self, n: usize) -> PyResult<Vec<usize>> {
        self.reader.uniform_indices(n).map_err(py_err)
    }
    /// The frames at display `indices` (any order, repeats allowed, negative from the end).
    fn get_frames(&self, py: Python<'_>, indices: &Bound<'_, PyAny>) -> PyResult<Vec<PyFrame>> {
        let idx = self.indices(indices)?;
        self.decode(py, idx)
    }
    /// One frame.
    fn get_frame(&self, py: Python<'_>, index: i64) -> PyResult<PyFrame> {
        let i = self.index(index)?;
        let mut v = self.decode(py, vec![i])?;
        v.pop()
            .ok_or_else(|| NvdxError::new_err("no frame decoded"))
    }
    /// The frames shown at each of `seconds`.
    fn get_frames_at(&self, py: Python<'_>, seconds: Vec<f64>) -> PyResult<Vec<PyFrame>> {
        let idx = seconds
            .iter()
            .map(|&s| self.reader.index_at_time(s).map_err(py_err))
            .collect::<PyResult<Vec<_>>>()?;
        self.decode(py, idx)
    }
    /// `n` uniformly spaced frames.
    fn sample_uniform(&self, py: Python<'_>, n: usize) -> PyResult<Vec<PyFrame>> {
        let idx = self.reader.uniform_indices(n).map_err(py_err)?;
        self.decode(py, idx)
    }
    /// `n` uniformly spaced frames as an `n x 3 x H x W` tensor: bilinear resize to `size`
    /// (an int or `(height, width)`), RGB in [0, 1], then `(rgb - mean) / std`.
    ///
    /// `stream`: a CUDA stream handle of this GPU (e.g. `torch.cuda.current_stream().
    /// cuda_stream`) to run the request on, so the tensor is ready in that stream's order;
    /// by default nvdx uses its own stream and `__dlpack__(stream=...)` orders the consumer.
    #[pyo3(signature = (n, size=None, dtype="float16", mean=None, std=None, stream=None, colour="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn sample_tensor(
        &self,
        py: Python<'_>,
        n: usize,
        size: Option<&Bound<'_, PyAny>>,
        dtype: &str,
        mean: Option<&Bound<'_, PyAny>>,
        std: Option<&Bound<'_, PyAny>>,
        stream: Option<u64>,
        colour: &str,
    ) -> PyResult<PyTensor> {
        let idx = self.reader.uniform_indices(n).map_err(py_err)?;
        let default = 448u32.into_pyobject(py)?.into_any();
        let size = size.unwrap_or(&default);
        self.tensor(py, idx, size, dtype, mean, std, stream, colour)
    }
    /// The frames at `indices` as a tensor (see `sample_tensor`).
    #[pyo3(signature = (indices, size=None, dtype="float16", mean=None, std=None, stream=None, colour="auto"))]
    #[allow(clippy::too_many_arguments)]
    fn get_tensor(
        &self,
        py: Python<'_>,
        indices: &Bound<'_, PyAny>,
        size: Option<&Bound<'_, PyAny>>,
        dtype: &str,
        mean: Option<&Bound<'_, PyAny>>,
        std: Option<&Bound<'_, PyAny>>,
        stream: Option<u64>,
        colour: &str,
    ) -> PyResult<PyTensor> {
        let idx = self.indices(indices)?;
        let default = 448u32.into_pyobject(py)?.into_any();
        let size = size.unwrap_or(&default);
        self.tensor(py, idx, size, dtype, mean, std, stream, colour)
    }
    fn __repr__(&self) -> String {
        let i = self.reader.info();
        format!(
            "nvdx.VideoReader({} {}x{}, {} frames, gpu {})",
            self.codec(),
            i.width,
            i.height,
            self.reader.len(),
            self.gpu
        )
    }
}

/// Converts a CUDA RGB image from another library (anything with `__dlpack__`, e.g. an
/// `H x W x 3` uint8 torch tensor) to an NV12 frame, without copying the input: the input is
/// imported through DLPack on nvdx's stream (the producer orders its work before it) and kept
/// until the returned frame goes.
#[pyfunction]
#[pyo3(signature = (image, format="rgb", colour="bt709"))]
fn rgb_to_nv12(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    format: &str,
    colour: &str,
) -> PyResult<PyFrame> {
    let fmt = match format {
        "rgb" => PixelFormat::Rgb24,
        "bgr" => PixelFormat::Bgr24,
        "rgba" => PixelFormat::Rgba,
        "bgra" => PixelFormat::Bgra,
        f => {
            return Err(PyValueError::new_err(format!(
                "format {f:?}: rgb, bgr, rgba or bgra"
            )))
        }
    };
    let (dev_type, dev_id): (i32, i32) = image.call_method0("__dlpack_device__")?.extract()?;
    if dev_type != dlpack::ffi::KDL_CUDA || dev_id < 0 {
        return Err(PyValueError::new_err(format!(
            "the image is on DLPack device ({dev_type}, {dev_id}), not CUDA memory: move it to \
             the GPU first"
        )));
    }
    let gpu = Gpu::get(dev_id as u32).map_err(py_err)?;
    let stream = gpu.stream().map_err(py_err)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("stream", stream.raw() as usize as u64)?;
    kwargs.set_item("max_version", (1u32, 1u32))?;
    let cap = match image.call_method("__dlpack__", (), Some(&kwargs)) {
        Ok(c) => c,
        Err(e) if e.is_instance_of::<PyTypeError>(py) => {
            kwargs.del_item("max_version")?;
            image.call_method("__dlpack__", (), Some(&kwargs))?
        }
        Err(e) => return Err(e),
    };
    let space = match colour {
        "bt601" => ColourSpace::BT601_LIMITED,
        "bt709" => ColourSpace::BT709_LIMITED,
        "bt2020" => ColourSpace::BT2020_LIMITED,
        "bt601-full" => ColourSpace::BT601_FULL,
        "bt709-full" => ColourSpace::BT709_FULL,
        "bt2020-full" => ColourSpace::BT2020_FULL,
        c => return Err(PyValueError::new_err(format!("colour {c:?}"))),
    };
    let img = capsule::import(&cap, &gpu.ctx, fmt, &stream)?;
    let img = Arc::new(img);
    let frame = {
        let img: &DlpackImage = &img;
        let s: &Stream = &stream;
        let ctx = &gpu.ctx;
        py.detach(|| {
            let mut f = Frame::new(
                ctx,
                PixelFormat::Nv12,
                img.width() & !1,
                img.height() & !1,
                MemoryKind::Device,
            )?;
            if f.width() != img.width() || f.height() != img.height() {
                return Err(nvdx::Error::InvalidArgument(format!(
                    "NV12 needs an even size, the image is {}x{}",
                    img.width(),
                    img.height()
                )));
            }
            rgb_to_yuv420(img, &mut f, space, s)?;
            // The producer (torch) may write its tensor on its own stream as soon as this
            // returns, unordered with nvdx's read: finish the read first (this stream only).
            s.synchronize()?;
            Ok(f)
        })
        .map_err(py_err)?
    };
    Ok(PyFrame {
        frame: Arc::new(frame),
        _source: Some(img),
    })
}

/// The nvdx version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
#[pyo3(name = "nvdx")]
fn nvdx_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyVideoReader>()?;
    m.add_class::<PyFrame>()?;
    m.add_class::<PyPlane>()?;
    m.add_class::<PyTensor>()?;
    m.add_function(wrap_pyfunction!(rgb_to_nv12, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add("NvdxError", m.py().get_type::<NvdxError>())?;
    m.add("UnsupportedError", m.py().get_type::<UnsupportedError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
