"""GPU tests (the GPU host: torch with CUDA, numpy, pytest). Skipped without a CUDA device.

- `torch.from_dlpack` of nvdx frames is bit-exact: against nvdx's own host download and
  against the fixtures' ffmpeg framemd5 hashes;
- tensors match the CPU reference (a port of nvdx::kernels::reference::yuv420_to_planar)
  within the Rust tests' tolerance (FLOAT_REL_TOL = FLOAT_ABS_TOL = 1e-3);
- 16 Python threads at once give exact results;
- 1000 requests leave GPU memory flat (torch.cuda.mem_get_info, after warm-up);
- consumption on a torch stream is ordered after a slow producer (no stale reads), in both
  directions (nvdx -> torch export, torch -> nvdx import).
"""

import hashlib
import threading

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import nvdx  # noqa: E402
from conftest import FIXTURES  # noqa: E402

DEV = torch.device("cuda:0")
REL_TOL = 1e-3
ABS_TOL = 1e-3


def framemd5(name):
    lines = (FIXTURES / f"{name}.framemd5").read_text().splitlines()
    return [l.rsplit(",", 1)[1].strip() for l in lines if l and not l.startswith("#")]


def nv12_to_i420(tight, w, h, out_w, out_h, bps):
    """nvdx's tight NV12/P016 bytes to ffmpeg's planar yuv420p(10le), cropped to out_w x out_h."""
    dt = np.uint8 if bps == 1 else np.dtype("<u2")
    a = np.frombuffer(tight, dtype=dt)
    y = a[: w * h].reshape(h, w)[:out_h, :out_w]
    uv = a[w * h:].reshape(h // 2, w // 2, 2)[: (out_h + 1) // 2, : (out_w + 1) // 2]
    planes = [y, uv[..., 0], uv[..., 1]]
    if bps == 2:
        planes = [p >> 6 for p in planes]
    return b"".join(np.ascontiguousarray(p).astype(dt).tobytes() for p in planes)


def torch_bytes(frame):
    """The frame through torch.from_dlpack, downloaded by torch, pitch removed."""
    t = torch.from_dlpack(frame)
    assert t.device == DEV
    rows = frame.height * 3 // 2
    assert tuple(t.shape) == (rows, frame.width)
    bps = 2 if frame.format == "p016" else 1
    assert t.stride() == (frame.pitch // bps, 1)
    if bps == 2:
        t = t.view(torch.int16)  # same bits; uint16 has few CPU ops in torch
    return t.cpu().contiguous().numpy().tobytes()


@pytest.mark.parametrize("name", ["sample.mp4", "h264_bframes.mp4", "hevc_main10.mp4"])
def test_from_dlpack_is_bit_exact(name):
    r = nvdx.VideoReader(FIXTURES / name)
    want = framemd5(name)
    idx = sorted({0, len(r) // 3, len(r) // 2, len(r) - 1, 7 % len(r)})
    frames = r.get_frames(idx)
    for i, f in zip(idx, frames):
        assert f.index == i
        got = torch_bytes(f)
        assert got == f.to_bytes(), f"{name} frame {i}: torch view differs from nvdx's download"
        bps = 2 if f.format == "p016" else 1
        i420 = nv12_to_i420(got, f.width, f.height, r.width, r.height, bps)
        assert hashlib.md5(i420).hexdigest() == want[i], f"{name} frame {i}"


def test_planes_and_versioned_capsules():
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    f = r.get_frame(3)
    whole = torch.from_dlpack(f)
    y = torch.from_dlpack(f.y)
    uv = torch.from_dlpack(f.uv)
    assert tuple(y.shape) == (240, 320) and tuple(uv.shape) == (120, 160, 2)
    assert torch.equal(y, whole[:240])
    assert torch.equal(uv.reshape(120, 320), whole[240:])
    assert y.data_ptr() == f.device_ptr
    # Both capsule flavours, and the protocol's device.
    assert f.__dlpack_device__() == (2, 0)
    legacy = f.__dlpack__(stream=1)
    versioned = f.__dlpack__(stream=1, max_version=(1, 0))
    assert "dltensor" in repr(legacy) and "dltensor_versioned" in repr(versioned)
    assert torch.equal(torch.from_dlpack(legacy), whole)
    del versioned  # an unconsumed capsule frees its export
    with pytest.raises(BufferError):
        f.__dlpack__(copy=True)


def bilinear(plane, px, py):
    ny, nx = plane.shape
    px = np.clip(px, 0, nx - 1)
    py = np.clip(py, 0, ny - 1)
    x0 = np.floor(px).astype(np.int64)
    y0 = np.floor(py).astype(np.int64)
    x1 = np.minimum(x0 + 1, nx - 1)
    y1 = np.minimum(y0 + 1, ny - 1)
    fx = (px - x0)[None, :]
    fy = (py - y0)[:, None]
    top = plane[y0][:, x0] * (1 - fx) + plane[y0][:, x1] * fx
    bot = plane[y1][:, x0] * (1 - fx) + plane[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}


def reference_planar(tight, sw, sh, dw, dh, bits, matrix, mean, std):
    """Port of nvdx::kernels::reference::yuv420_to_planar (limited range)."""
    dt = np.uint8 if bits == 8 else np.dtype("<u2")
    a = np.frombuffer(tight, dtype=dt).astype(np.float64)
    y = a[: sw * sh].reshape(sh, sw)
    uv = a[sw * sh:].reshape(sh // 2, sw // 2, 2)
    xs, ys = np.arange(dw), np.arange(dh)
    lx = ((2 * xs + 1) * sw - dw) / (2 * dw)
    ly = ((2 * ys + 1) * sh - dh) / (2 * dh)
    cx = ((2 * xs + 1) * sw - 2 * dw) / (4 * dw)
    cy = ((2 * ys + 1) * sh - 2 * dh) / (4 * dh)
    yv = bilinear(y, lx, ly)
    u = bilinear(uv[..., 0], cx, cy)
    v = bilinear(uv[..., 1], cx, cy)
    kr, kb = KR_KB[matrix]
    s = float(1 << (bits - 8))
    yy = (yv - 16 * s) / (219 * s)
    pb = (u - 128 * s) / (224 * s)
    pr = (v - 128 * s) / (224 * s)
    r = yy + 2 * (1 - kr) * pr
    b = yy + 2 * (1 - kb) * pb
    g = (yy - kr * r - kb * b) / (1 - kr - kb)
    out = np.stack([r, g, b]).clip(0, 1)
    return (out - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


@pytest.mark.parametrize("name,bits", [("sample.mp4", 8), ("hevc_main10.mp4", 16)])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_tensor_matches_cpu_reference(name, bits, dtype):
    r = nvdx.VideoReader(FIXTURES / name)
    idx = [len(r) - 1, 0, 7 % len(r), 7 % len(r)]
    t = r.get_tensor(idx, size=(40, 56), dtype=dtype, mean=CLIP_MEAN, std=CLIP_STD,
                     colour="bt709")
    assert t.shape == (4, 3, 40, 56) and t.indices == idx
    got = torch.from_dlpack(t.__dlpack__(stream=torch.cuda.current_stream().cuda_stream))
    assert got.dtype == (torch.float16 if dtype == "float16" else torch.float32)
    got = got.float().cpu().numpy()
    for k, i in enumerate(idx):
        f = r.get_frame(i)
        want = reference_planar(f.to_bytes(), f.width, f.height, 56, 40, bits, "bt709",
                                CLIP_MEAN, CLIP_STD)
        d = np.abs(got[k] - want)
        tol = np.maximum(REL_TOL * np.abs(want), ABS_TOL)
        assert (d <= tol).all(), f"{name} {dtype} slot {k}: worst {d.max():.3e}"


def test_sixteen_threads_are_exact():
    r = nvdx.VideoReader(FIXTURES / "h264_bframes.mp4")
    want = framemd5("h264_bframes.mp4")
    n = len(r)
    errors = []

    def work(seed):
        try:
            for rep in range(4):
                idx = [(seed * 7 + rep * 13 + k * 5) % n for k in range(6)]
                frames = r.get_frames(idx)
                for i, f in zip(idx, frames):
                    i420 = nv12_to_i420(torch_bytes(f), f.width, f.height, r.width, r.height, 1)
                    if hashlib.md5(i420).hexdigest() != want[i]:
                        errors.append((seed, i))
                t = r.sample_tensor(4, size=64)
                if not torch.isfinite(torch.from_dlpack(t).float()).all():
                    errors.append((seed, "tensor"))
        except Exception as e:  # noqa: BLE001
            errors.append((seed, repr(e)))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:5]


def test_thousand_requests_leave_memory_flat():
    data = (FIXTURES / "sample.mp4").read_bytes()

    def request():
        r = nvdx.VideoReader(data)
        t = r.sample_tensor(8, size=224)
        x = torch.from_dlpack(t.__dlpack__(stream=torch.cuda.current_stream().cuda_stream))
        frames = r.sample_uniform(4)
        s = x.float().sum() + sum(torch.from_dlpack(f).float().sum() for f in frames)
        return s

    for _ in range(50):
        request()
    torch.cuda.synchronize()
    free0, _ = torch.cuda.mem_get_info()
    for _ in range(1000):
        request()
    torch.cuda.synchronize()
    free1, _ = torch.cuda.mem_get_info()
    grown = (free0 - free1) / 2**20
    print(f"device memory grown by {grown:.1f} MiB over 1000 requests")
    assert grown < 64, f"GPU memory grew by {grown:.1f} MiB over 1000 requests"


def test_export_is_ordered_after_a_slow_producer():
    """A request on the caller's busy stream (`stream=`): a torch consumer on another stream
    reads the finished values (its stream waits on the event recorded after the request)."""
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    want = torch.from_dlpack(r.get_tensor([40, 50], size=128)).clone()
    torch.cuda.synchronize()
    producer = torch.cuda.Stream()
    consumer = torch.cuda.Stream()
    for _ in range(3):
        # Poison: leave a tensor of other frames in the pool for the next request to reuse.
        stale = r.get_tensor([0, 1], size=128)
        torch.from_dlpack(stale).float().sum().item()
        del stale
        with torch.cuda.stream(producer):
            torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU time before nvdx's writes
        t = r.get_tensor([40, 50], size=128, stream=producer.cuda_stream)
        with torch.cuda.stream(consumer):
            got = torch.from_dlpack(t.__dlpack__(stream=consumer.cuda_stream)).clone()
        consumer.synchronize()
        assert torch.equal(got, want)


def test_import_is_ordered_after_a_slow_producer():
    """torch writes an RGB image on a slow stream; nvdx's import (rgb_to_nv12) must wait for
    it through the DLPack stream handshake, and torch's read of the NV12 result on its own
    stream must wait for nvdx's conversion (export handshake), all without a host sync."""
    h, w = 64, 96
    g = torch.Generator(device="cpu").manual_seed(1)
    ref_img = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=g).to(DEV)
    want = torch.from_dlpack(nvdx.rgb_to_nv12(ref_img)).clone()
    # Poison the pool: the memory freed last holds another picture, so a read that overtook
    # the conversion would see it.
    poison = nvdx.rgb_to_nv12(torch.zeros((h, w, 3), dtype=torch.uint8, device=DEV))
    assert not torch.equal(torch.from_dlpack(poison), want)
    del poison
    torch.cuda.synchronize()
    slow = torch.cuda.Stream()
    with torch.cuda.stream(slow):
        img = torch.zeros((h, w, 3), dtype=torch.uint8, device=DEV)
        torch.cuda._sleep(200_000_000)
        img.copy_(ref_img)
        # torch.from_dlpack-style consumers pass their stream; nvdx passes its own, and torch
        # (the producer) makes it wait for `slow`.
        frame = nvdx.rgb_to_nv12(img)
    got = torch.from_dlpack(frame).clone()
    torch.cuda.synchronize()
    assert torch.equal(got, want)
    assert frame.width == w and frame.height == h and frame.format == "nv12"


def test_errors_on_the_gpu():
    # Index past the end: IndexError with nvdx's message.
    r = nvdx.VideoReader(FIXTURES / "sample.mp4")
    with pytest.raises(IndexError, match="past the end"):
        r.get_frames([len(r) + 3])
    # A truncated file: an NvdxError (at open or at decode) or the decodable frames, never a
    # crash; the process decodes clean files afterwards.
    try:
        rr = nvdx.VideoReader(FIXTURES / "corrupt_truncated.mp4")
        rr.get_frames(list(range(len(rr))))
    except nvdx.NvdxError as e:
        assert str(e)
    assert len(r.get_frames([0, 1])) == 2
    # A codec the GPU cannot decode names the GPU (VP9 is decodable on H100/H200; skip if so).
    try:
        nvdx.VideoReader(FIXTURES / "vp9.ivf").get_frames([0])
    except nvdx.UnsupportedError as e:
        assert "GPU" in str(e) or "NVIDIA" in str(e), str(e)
