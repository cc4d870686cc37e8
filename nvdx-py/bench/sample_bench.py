"""Frame sampling from Python on the GPU host: nvdx vs PyNvVideoCodec 2.2.4 (SimpleDecoder, RGB
and native NV12) vs OpenCV (CPU), for 8, 16 and 32 uniformly spaced frames per video on the
benchmark clips, one request at a time and 16 concurrent threads, each request including the
handoff to torch (the frames/tensor usable on a torch stream). Prints a markdown table.

Usage: python3 nvdx-py/bench/sample_bench.py [--media DIR] [--frames 8 16 32] [--threads 16]
         [--per-thread 4] [--reps 5] [--methods ...] [--json OUT]
DIR defaults to $NVDX_MEDIA_DIR. Methods whose package is missing are skipped.

Methods (one "request" = open the file + sample k frames + hand them to torch + sync):
  nvdx_tensor   nvdx.VideoReader -> sample_tensor(k, 448, float16, CLIP mean/std) -> torch
  nvdx_nv12     nvdx.VideoReader -> sample_uniform(k) -> torch.from_dlpack per frame (NV12)
  pnv_rgb       SimpleDecoder(RGB) -> get_batch_frames_by_index -> torch.from_dlpack per frame
  pnv_rgb_448   pnv_rgb + the same resize/normalise to a 448 float16 NCHW tensor in torch
  pnv_native    SimpleDecoder(NATIVE, NV12) -> torch.from_dlpack per frame
  cv2           cv2.VideoCapture grab/retrieve (vLLM's OpenCV path) -> BGR2RGB -> torch .cuda()
"""

import argparse
import json
import os
import resource
import statistics
import threading
import time

import torch

CLIPS = {"h264_1080p": "h264_1080p_gop250.mp4", "hevc_1080p": "hevc_1080p.mp4",
         "h264_720p_gop60": "h264_720p_10s_gop60.mp4"}
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def uniform(n, k):
    return [int(round(i * (n - 1) / (k - 1))) for i in range(k)] if k > 1 else [0]


def make_methods(only):
    m = {}
    try:
        import nvdx

        def nvdx_tensor(path, k, stream):
            r = nvdx.VideoReader(path)
            t = r.sample_tensor(k, size=448, dtype="float16", mean=MEAN, std=STD)
            x = torch.from_dlpack(t.__dlpack__(stream=stream.cuda_stream))
            return tuple(x.shape)

        def nvdx_nv12(path, k, stream):
            r = nvdx.VideoReader(path)
            fs = r.sample_uniform(k)
            xs = [torch.from_dlpack(f.__dlpack__(stream=stream.cuda_stream)) for f in fs]
            return (len(xs),) + tuple(xs[0].shape)

        m["nvdx_tensor"] = nvdx_tensor
        m["nvdx_nv12"] = nvdx_nv12
    except ImportError as e:
        print(f"nvdx not available: {e}")
    try:
        import PyNvVideoCodec as nvc

        def pnv(ct, resize):
            def run(path, k, stream):
                d = nvc.SimpleDecoder(path, gpu_id=0, use_device_memory=True,
                                      output_color_type=ct)
                fr = d.get_batch_frames_by_index(uniform(len(d), k))
                xs = [torch.from_dlpack(f) for f in fr]
                if resize:
                    x = torch.stack(xs).permute(0, 3, 1, 2).half().div_(255)
                    x = torch.nn.functional.interpolate(x, size=(448, 448), mode="bilinear",
                                                        align_corners=False, antialias=False)
                    mean = torch.tensor(MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
                    std = torch.tensor(STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
                    x = (x - mean) / std
                    return tuple(x.shape)
                return (len(xs),) + tuple(xs[0].shape)
            return run

        m["pnv_rgb"] = pnv(nvc.OutputColorType.RGB, False)
        m["pnv_rgb_448"] = pnv(nvc.OutputColorType.RGB, True)
        m["pnv_native"] = pnv(nvc.OutputColorType.NATIVE, False)
    except ImportError as e:
        print(f"PyNvVideoCodec not available: {e}")
    try:
        import cv2
        import numpy as np

        def cv(path, k, stream):
            cap = cv2.VideoCapture(path)
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            idx = set(uniform(total, k))
            out = []
            for i in range(max(idx) + 1):
                if not cap.grab():
                    break
                if i in idx:
                    _, f = cap.retrieve()
                    out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
            x = torch.from_numpy(np.stack(out)).to("cuda", non_blocking=False)
            return tuple(x.shape)

        m["cv2"] = cv
    except ImportError as e:
        print(f"OpenCV not available: {e}")
    if only:
        m = {k: v for k, v in m.items() if k in only}
    return m


def one_request(fn, path, k, stream):
    with torch.cuda.stream(stream):
        shape = fn(path, k, stream)
    stream.synchronize()  # the request is done when its data is ready on the torch stream
    return shape


def single(fn, path, k, reps):
    stream = torch.cuda.Stream()
    one_request(fn, path, k, stream)  # warm-up (contexts, sessions, file cache)
    lat, cpu = [], []
    for _ in range(reps):
        c0, t0 = cpu_s(), time.perf_counter()
        shape = one_request(fn, path, k, stream)
        lat.append(time.perf_counter() - t0)
        cpu.append(cpu_s() - c0)
    return dict(best_ms=min(lat) * 1e3, median_ms=statistics.median(lat) * 1e3,
                cpu_ms=statistics.median(cpu) * 1e3, shape=shape)


def threaded(fn, path, k, threads, per):
    errors = []
    barrier = threading.Barrier(threads + 1)

    def work():
        stream = torch.cuda.Stream()
        try:
            # Warm-up outside the timing, for every method alike: the first request of 16 at
            # once grows decoder-session pools, creates per-thread contexts and streams.
            one_request(fn, path, k, stream)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
        barrier.wait()
        try:
            for _ in range(per):
                one_request(fn, path, k, stream)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    ths = [threading.Thread(target=work) for _ in range(threads)]
    [t.start() for t in ths]
    barrier.wait()
    c0, t0 = cpu_s(), time.perf_counter()
    [t.join() for t in ths]
    dt, dc = time.perf_counter() - t0, cpu_s() - c0
    n = threads * per
    return dict(videos_per_s=n / dt, cpu_ms_per_video=dc / n * 1e3, s=dt, errors=errors[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", default=os.environ.get("NVDX_MEDIA_DIR", "media"))
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--per-thread", type=int, default=4)
    ap.add_argument("--cv-per-thread", type=int, default=1,
                    help="OpenCV decodes on the CPU: fewer videos per thread keep the run short")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--methods", nargs="*")
    ap.add_argument("--clips", nargs="*", default=list(CLIPS))
    ap.add_argument("--json")
    a = ap.parse_args()

    methods = make_methods(a.methods)
    dev = torch.cuda.get_device_name(0)
    print(f"device: {dev}; torch {torch.__version__}; cpus {os.cpu_count()}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    rows = []
    for clip in a.clips:
        path = os.path.join(a.media, CLIPS[clip])
        for k in a.frames:
            for name, fn in methods.items():
                s = single(fn, path, k, a.reps if name != "cv2" else min(a.reps, 3))
                per = a.cv_per_thread if name == "cv2" else a.per_thread
                t = threaded(fn, path, k, a.threads, per)
                row = dict(clip=clip, k=k, method=name, **s, **{f"t_{x}": y for x, y in t.items()})
                rows.append(row)
                print(f"{clip} k={k} {name}: {s['best_ms']:.1f} ms best, {s['median_ms']:.1f} "
                      f"median, cpu {s['cpu_ms']:.1f} ms; {a.threads} threads "
                      f"{t['videos_per_s']:.1f} videos/s cpu {t['cpu_ms_per_video']:.1f} ms/video"
                      + (f" ERRORS {t['errors']}" if t["errors"] else ""), flush=True)

    print()
    print(f"### Python sampling, {dev} ({time.strftime('%Y-%m-%d', time.gmtime())})")
    print()
    print(f"| clip | frames | method | 1 request ms (best / median) | CPU ms / request | "
          f"{a.threads} threads videos/s | CPU ms / video ({a.threads} threads) |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['clip']} | {r['k']} | {r['method']} | {r['best_ms']:.1f} / "
              f"{r['median_ms']:.1f} | {r['cpu_ms']:.1f} | {r['t_videos_per_s']:.1f} | "
              f"{r['t_cpu_ms_per_video']:.1f} |")

    # The targets, nvdx's tensor path against the like-for-like peers.
    print()
    print("| clip | frames | latency nvdx_tensor / pnv_rgb (target <= 0.2) | 16-thread "
          "throughput nvdx_tensor / pnv_rgb (target >= 2) | CPU/video nvdx_tensor / cv2 "
          "(target <= 0.05) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    by = {(r["clip"], r["k"], r["method"]): r for r in rows}
    for clip in a.clips:
        for k in a.frames:
            n, p, c = (by.get((clip, k, m)) for m in ("nvdx_tensor", "pnv_rgb", "cv2"))
            lat = f"{n['median_ms'] / p['median_ms']:.3f}" if n and p else "-"
            thr = f"{n['t_videos_per_s'] / p['t_videos_per_s']:.2f}" if n and p else "-"
            cpu = (f"{n['t_cpu_ms_per_video'] / c['t_cpu_ms_per_video']:.3f}"
                   if n and c else "-")
            print(f"| {clip} | {k} | {lat} | {thr} | {cpu} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(device=dev, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
