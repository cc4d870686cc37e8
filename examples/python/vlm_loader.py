"""What a vLLM-style multimodal server does with a video per request, with nvdx:

1. the request carries the video's bytes (no temporary file);
2. sample 8-32 frames uniformly, resize to the vision encoder's size and normalise (CLIP
   mean/std), as one N x 3 x H x W float16 tensor on the GPU;
3. hand the tensor to the model on the model's torch stream without a copy or a host sync:
   `torch.from_dlpack(t.__dlpack__(stream=torch.cuda.current_stream().cuda_stream))`.

Usage: python3 examples/python/vlm_loader.py VIDEO [VIDEO...] [--frames 8 16 32] [--requests 20]
       [--size 448] [--threads 1]
Prints per-request timing (open, sample, handoff, total until the model's stream has the data).
"""

import argparse
import statistics
import threading
import time

import torch

import nvdx

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def load_video(data: bytes, num_frames: int, size: int, gpu: int = 0):
    """One request: bytes in, a normalised f16 tensor on the current torch stream out."""
    t0 = time.perf_counter()
    reader = nvdx.VideoReader(data, gpu=gpu)  # parses the container index only
    t1 = time.perf_counter()
    batch = reader.sample_tensor(num_frames, size=size, dtype="float16",
                                 mean=CLIP_MEAN, std=CLIP_STD)  # GIL released while decoding
    t2 = time.perf_counter()
    model_stream = torch.cuda.current_stream()
    # The model's stream waits (on the GPU) for nvdx's writes; nothing blocks the host here.
    pixels = torch.from_dlpack(batch.__dlpack__(stream=model_stream.cuda_stream))
    t3 = time.perf_counter()
    return pixels, batch.seconds, (t1 - t0, t2 - t1, t3 - t2)


def fake_vision_encoder(pixels: torch.Tensor) -> torch.Tensor:
    # Stands in for the ViT: any kernel on the model stream reads the frames in order.
    return pixels.float().mean(dim=(1, 2, 3))


def serve(videos, frames, size, requests, results, lock):
    stream = torch.cuda.Stream()  # each server worker has its model stream
    with torch.cuda.stream(stream):
        for r in range(requests):
            data = videos[r % len(videos)]
            k = frames[r % len(frames)]
            t0 = time.perf_counter()
            pixels, seconds, split = load_video(data, k, size)
            feats = fake_vision_encoder(pixels)
            stream.synchronize()  # only to time the request end to end
            total = time.perf_counter() - t0
            with lock:
                results.append((k, total, split, tuple(pixels.shape), feats.shape[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--size", type=int, default=448)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    videos = [open(p, "rb").read() for p in a.videos]

    # Warm-up: the first request creates the CUDA context and NVDEC sessions.
    load_video(videos[0], a.frames[0], a.size)
    torch.cuda.synchronize()

    results, lock = [], threading.Lock()
    t0 = time.perf_counter()
    ths = [threading.Thread(target=serve, args=(videos, a.frames, a.size, a.requests, results, lock))
           for _ in range(a.threads)]
    [t.start() for t in ths]
    [t.join() for t in ths]
    wall = time.perf_counter() - t0

    print(f"{len(results)} requests, {a.threads} thread(s), {wall:.2f} s, "
          f"{len(results) / wall:.1f} videos/s")
    for k in a.frames:
        rs = [r for r in results if r[0] == k]
        if not rs:
            continue
        tot = [r[1] * 1e3 for r in rs]
        op = statistics.median(r[2][0] * 1e3 for r in rs)
        sm = statistics.median(r[2][1] * 1e3 for r in rs)
        ho = statistics.median(r[2][2] * 1e3 for r in rs)
        print(f"{k:>2} frames -> {rs[0][3]}: median {statistics.median(tot):.2f} ms "
              f"(open {op:.2f}, sample {sm:.2f}, handoff {ho:.3f}), best {min(tot):.2f} ms")


if __name__ == "__main__":
    main()
