"""PyNvVideoCodec sampling throughput with many concurrent requests: THREADS threads, each opening
VIDEOS_PER_THREAD videos with SimpleDecoder and taking 8 uniform frames (the same work as nvdx's
`sample` bench). Usage: python3 pnv_sample_threads.py MEDIA_DIR OUT.json [THREADS] [VIDEOS_PER_THREAD]"""
import json, os, sys, threading, time
import PyNvVideoCodec as nvc

media, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 16
per = int(sys.argv[4]) if len(sys.argv) > 4 else 4
videos = {"h264_1080p": "h264_1080p_gop250.mp4", "hevc_1080p": "hevc_1080p.mp4",
          "h264_720p_gop60": "h264_720p_10s_gop60.mp4"}
res = json.load(open(out)) if os.path.exists(out) else {}

def uniform(n, k=8):
    return [int(round(i * (n - 1) / (k - 1))) for i in range(k)]

def one(path):
    d = nvc.SimpleDecoder(path, gpu_id=0, use_device_memory=True,
                          output_color_type=nvc.OutputColorType.RGB)
    return len(d.get_batch_frames_by_index(uniform(len(d))))

for name, f in videos.items():
    path = os.path.join(media, f)
    one(path)
    errors = []
    def work():
        try:
            for _ in range(per):
                one(path)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    ths = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    [t.start() for t in ths]
    [t.join() for t in ths]
    dt = time.perf_counter() - t0
    vps = threads * per / dt
    res[f"pnv_sample8_threads{threads}_{name}"] = dict(fps=vps, s=dt, videos=threads * per, errors=errors[:3])
    print(f"PyNvVideoCodec {threads} threads x {per} videos open+sample 8 (RGB) {name}: {vps:.1f} videos/s"
          + (f" ({len(errors)} errors: {errors[:1]})" if errors else ""), flush=True)
json.dump(res, open(out, "w"), indent=1)
