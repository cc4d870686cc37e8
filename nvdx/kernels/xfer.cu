// SM-driven pitched copies for nvdx::xfer. For frame-sized transfers between GPUs (and for
// every copy on one GPU) a copy kernel with 16-byte accesses from many SMs has lower latency
// than the copy engine; the Rust side picks the kernel or the copy engine per size
// (xfer::CopyMethod). The kernel runs on the source GPU's stream and pushes (remote stores
// over NVLink), so copies queued back to back never wait for the other GPU.
//
// copy2d_v16_batch: up to 16 frames of the same layout in one launch (blockIdx.y picks the
// frame). Rows of `row_vecs` 16-byte vectors, pitches that are multiples of 16, every address
// 16-byte aligned (checked on the host). Grid-stride over the frame's vectors, four
// independent loads in flight per thread before the stores.

struct CopyJob {
    const uint4* src;
    unsigned long long src_pitch_vecs;
    uint4* dst;
    unsigned long long dst_pitch_vecs;
};

struct CopyBatch {
    CopyJob job[16];
    unsigned long long row_vecs;
    unsigned long long rows;
};

extern "C" __global__ void copy2d_v16_batch(const CopyBatch b) {
    const CopyJob j = b.job[blockIdx.y];
    const unsigned long long row_vecs = b.row_vecs;
    const unsigned long long total = row_vecs * b.rows;
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < total; i += 4 * stride) {
        uint4 v[4];
        unsigned long long idx[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            unsigned long long e = i + k * stride;
            unsigned long long r = e / row_vecs, c = e - r * row_vecs;
            idx[k] = r * j.dst_pitch_vecs + c;
            v[k] = j.src[r * j.src_pitch_vecs + c];
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) j.dst[idx[k]] = v[k];
    }
    for (; i < total; i += stride) {
        unsigned long long r = i / row_vecs, c = i - r * row_vecs;
        j.dst[r * j.dst_pitch_vecs + c] = j.src[r * j.src_pitch_vecs + c];
    }
}
