"""PyTorch peer copy between GPU 0 and GPU 1 (`dst.copy_(src)`), for the transfer bench's table.

Sizes match benches/xfer.rs: one 1080p NV12 frame (3,110,400 bytes), a batch of 8 such
frames copied one `copy_` each, and 256 MB. Times are per operation, back to back, measured
with CUDA events on the destination GPU's current stream after a warm-up.

Usage: python3 torch_peer_copy.py [SRC DST]   (default 0 1)
"""
import sys
import time

import torch

src_gpu, dst_gpu = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (0, 1)
if torch.cuda.device_count() < 2:
    print("torch peer copy: fewer than two GPUs, skipped")
    sys.exit(0)
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(src_gpu)} -> "
      f"{torch.cuda.get_device_name(dst_gpu)}, can_access_peer "
      f"{torch.cuda.can_device_access_peer(dst_gpu, src_gpu)}")
FRAME = 1920 * 1080 * 3 // 2


def bench(fn, iters):
    for _ in range(10):
        fn()
    torch.cuda.synchronize(src_gpu)
    torch.cuda.synchronize(dst_gpu)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize(src_gpu)
    torch.cuda.synchronize(dst_gpu)
    return (time.perf_counter() - t) / iters


for label, n, count, iters in (("1080p NV12 frame", FRAME, 1, 500),
                               ("batch of 8 frames", FRAME, 8, 200),
                               ("256 MB", 256 << 20, 1, 50)):
    srcs = [torch.randint(0, 255, (n,), dtype=torch.uint8, device=f"cuda:{src_gpu}")
            for _ in range(count)]
    dsts = [torch.empty(n, dtype=torch.uint8, device=f"cuda:{dst_gpu}") for _ in range(count)]

    def copy():
        with torch.cuda.device(dst_gpu):
            for d, s in zip(dsts, srcs):
                d.copy_(s, non_blocking=True)

    t = bench(copy, iters)
    assert all(torch.equal(d.cpu(), s.cpu()) for d, s in zip(dsts[:1], srcs[:1]))

    def one():
        copy()
        torch.cuda.synchronize(dst_gpu)

    t1 = bench(one, max(iters // 5, 10))
    total = n * count
    print(f"torch copy_ GPU{src_gpu}->GPU{dst_gpu} {label}: {t * 1e6:8.1f} us back to back "
          f"({total / t / 1e9:6.1f} GB/s), {t1 * 1e6:8.1f} us incl. sync", flush=True)
