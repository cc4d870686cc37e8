// SM-driven pitched copies for nvdx::xfer. Over NVLink a copy kernel that pulls with 16-byte
// loads from many SMs has lower latency than the copy engine for frame-sized transfers; the
// Rust side picks the kernel or the copy engine per size (xfer::CopyMethod).
//
// copy2d_v16: rows of `row_vecs` 16-byte vectors, any pitches that are multiples of 16, source
// and destination 16-byte aligned (checked on the host). Grid-stride over all vectors, four
// independent loads in flight per thread before the stores.



extern "C" __global__ void copy2d_v16(const uint4* __restrict__ src, unsigned long long src_pitch_vecs,
                                      uint4* __restrict__ dst, unsigned long long dst_pitch_vecs,
                                      unsigned long long row_vecs, unsigned long long rows) {
    const unsigned long long total = row_vecs * rows;
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < total; i += 4 * stride) {
        uint4 v[4];
        unsigned long long idx[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
            unsigned long long j = i + k * stride;
            unsigned long long r = j / row_vecs, c = j - r * row_vecs;
            idx[k] = r * dst_pitch_vecs + c;
            v[k] = src[r * src_pitch_vecs + c];
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) dst[idx[k]] = v[k];
    }
    for (; i < total; i += stride) {
        unsigned long long r = i / row_vecs, c = i - r * row_vecs;
        dst[r * dst_pitch_vecs + c] = src[r * src_pitch_vecs + c];
    }
}
