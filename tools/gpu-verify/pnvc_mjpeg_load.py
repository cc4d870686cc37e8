"""Does NVIDIA's own binding (PyNvVideoCodec) decode MJPEG the same under GPU load and with two
decoders at once? Per-frame SHA-1s of each clip decoded alone (the reference), then N times with a
torch memset loop on another stream, then N times from two threads at once. Tells an nvdx defect
from NVDEC behaviour for decode::single_picture_decodes_under_gpu_load_match_the_sequential_decode.
Usage: python3 pnvc_mjpeg_load.py N FILE..."""
import hashlib, sys, threading
import torch
import PyNvVideoCodec as nvc


def frames(path):
    dmx = nvc.CreateDemuxer(filename=path)
    dec = nvc.CreateDecoder(gpuid=0, codec=dmx.GetNvCodecId(), usedevicememory=True)
    out = []
    for pkt in dmx:
        for f in dec.Decode(pkt):
            out.append(hashlib.sha1(torch.from_dlpack(f).cpu().numpy().tobytes()).hexdigest())
    return out


def differ(ref, got):
    return sum(a != b for a, b in zip(ref, got)) + abs(len(ref) - len(got))


n, paths = int(sys.argv[1]), sys.argv[2:]
for path in paths:
    ref = frames(path)
    stop = threading.Event()

    def load():
        s = torch.cuda.Stream()
        big = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
        with torch.cuda.stream(s):
            while not stop.is_set():
                for k in range(8):
                    big.fill_(k)
                s.synchronize()

    t = threading.Thread(target=load); t.start()
    bad = sum(differ(ref, frames(path)) for _ in range(n))
    stop.set(); t.join()
    print(f"{path}\tpnvc\tone decoder, memset load\t{bad} of {n * len(ref)} frames differ", flush=True)
    res = []

    def worker():
        res.append(sum(differ(ref, frames(path)) for _ in range(n)))

    ws = [threading.Thread(target=worker) for _ in range(2)]
    [w.start() for w in ws]; [w.join() for w in ws]
    print(f"{path}\tpnvc\ttwo decoders at once\t{sum(res)} of {2 * n * len(ref)} frames differ", flush=True)
