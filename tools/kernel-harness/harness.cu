// Kernel harness (a development tool, not part of nvdx): variants of the colour kernels timed with
// CUDA events and compared byte for byte against the shipped kernels of nvdx/kernels/colour.cu,
// which it includes. Build and run on a GPU host with `bash tools/kernel-harness/run.sh`.
#include "colour.cu"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <functional>
#include <cuda_runtime.h>
#include <cuda.h>
#include <string>

#define V16_ARGS const u8* __restrict__ src_y, u32 y_pitch, const u8* __restrict__ src_uv, u32 uv_pitch, u8* __restrict__ dst, u32 dst_pitch, int width, int height, YuvToRgb k, int vec
#define V16_PASS src_y, y_pitch, src_uv, uv_pitch, dst, dst_pitch, width, height, k
extern "C" __global__ void __launch_bounds__(256, 6) rgb24_lb6(V16_ARGS) { nv12_to_rgb_v16<3, 0, 2>(V16_PASS); }
extern "C" __global__ void __launch_bounds__(256, 8) rgb24_lb8(V16_ARGS) { nv12_to_rgb_v16<3, 0, 2>(V16_PASS); }
extern "C" __global__ void __launch_bounds__(256, 6) rgba_lb6(V16_ARGS) { nv12_to_rgb_v16<4, 0, 2>(V16_PASS); }
extern "C" __global__ void __launch_bounds__(256, 8) rgba_lb8(V16_ARGS) { nv12_to_rgb_v16<4, 0, 2>(V16_PASS); }


// Rounding policies: 0 = cvt.rni.sat (shipped), 1 = clamp + magic add (bit-exact),
// 2 = fma.sat on a matrix scaled to [0, 1], then one fma by 255 plus the magic (<= 1 LSB).
static __device__ __forceinline__ float fma_sat(float a, float b, float c) {
    float d; asm("fma.rn.sat.f32 %0, %1, %2, %3;" : "=f"(d) : "f"(a), "f"(b), "f"(c)); return d; }
template <int R>
static __device__ __forceinline__ u32 rc(const YuvToRgb& k, int c, float y, float u, float v) {
    if (R == 0) return round_clamp_u8(fmaf(k.m[c][0], y, fmaf(k.m[c][1], u, fmaf(k.m[c][2], v, k.off[c]))));
    if (R == 1) return __float_as_uint(__fadd_rn(fminf(fmaxf(fmaf(k.m[c][0], y, fmaf(k.m[c][1], u, fmaf(k.m[c][2], v, k.off[c]))), 0.0f), 255.0f), 8388608.0f));
    const float s = fma_sat(k.m[c][0], y, fmaf(k.m[c][1], u, fmaf(k.m[c][2], v, k.off[c])));
    return __float_as_uint(fmaf(s, 255.0f, 8388608.0f));
}
// Staging slot of 16-byte word e of a warp's row segment. S == 2 with C == 4 swizzles the low 3
// bits by bits 3..5: the writes (word lane * 4 + q, fixed q) then hit 8 distinct 16-byte bank
// groups per quarter warp instead of 2 (ncu at b6440fa: 60 % excess shared wavefronts in
// nv12_to_rgba_v16), and the reads (word 32 q + lane) stay conflict-free. C == 3 is
// conflict-free unswizzled (3 lane mod 8 is a permutation).
template <int S, int C>
static __device__ __forceinline__ int swz(int e) { return (S == 2 && C == 4) ? (e ^ ((e >> 3) & 7)) : e; }
template <int C, int RI, int BI, int R, int S = 0>
static __device__ __forceinline__ void xv16(const u8* __restrict__ src_y, u32 y_pitch,
                                                       const u8* __restrict__ src_uv,
                                                       u32 uv_pitch, u8* __restrict__ dst,
                                                       u32 dst_pitch, int width, int height,
                                                       const YuvToRgb& k) {
    const int run = blockIdx.x * blockDim.x + threadIdx.x;
    const int cy = blockIdx.y * blockDim.y + threadIdx.y;
    const int px = run * 16, py = cy * 2;
    // S: the warp stages its rows' output in shared memory and stores it with consecutive
    // 16-byte accesses (instead of each thread's C 16-byte stores 16 C bytes apart), when all
    // 32 runs of the warp are whole (they then share one row pair).
    const bool staged = S && blockDim.x % 32 == 0 &&
                        (blockIdx.x * blockDim.x + (threadIdx.x & ~31u) + 32) * 16 <= (unsigned)width;
    if (px >= width || py >= height) return;
    const int cw = width / 2, ch = height / 2;
    if (px + 16 > width) {
        nv12_to_rgb_tail<C, RI, BI>(src_y, y_pitch, src_uv, uv_pitch, dst, dst_pitch, px, width,
                                    py, cw, ch, k);
        return;
    }
    const int cx = run * 8;  // first chroma pair of the run
    const u32 magic = 0x4B000000u;

    // Chroma rows cy - 1, cy, cy + 1 (clamped): pairs cx - 1 .. cx + 8 (clamped) as (U, V)
    // 16-bit lanes. e[j][0] is the left neighbour, e[j][1 + p] pair cx + p, e[j][9] the right.
    u32 e[3][10];
#pragma unroll
    for (int j = 0; j < 3; ++j) {
        const u8* row = src_uv + (size_t)min(max(cy + j - 1, 0), ch - 1) * uv_pitch;
        const W4 c = reinterpret_cast<const W4*>(row)[run];
        const u32 l = *reinterpret_cast<const u16*>(row + 2 * max(cx - 1, 0));
        const u32 r = *reinterpret_cast<const u16*>(row + 2 * min(cx + 8, cw - 1));
        e[j][0] = pair_lanes<0>(l);
#pragma unroll
        for (int p = 0; p < 4; ++p) {
            e[j][1 + 2 * p] = pair_lanes<0>(c.w[p]);
            e[j][2 + 2 * p] = pair_lanes<1>(c.w[p]);
        }
        e[j][9] = pair_lanes<0>(r);
    }

#pragma unroll
    for (int dy = 0; dy < 2; ++dy) {
        // 4 * the vertically interpolated chroma of this luma row: 3 * row cy + its neighbour.
        u32 vt[10];
#pragma unroll
        for (int q = 0; q < 10; ++q) vt[q] = e[1][q] * 3u + e[dy == 0 ? 0 : 2][q];
        const W4 lw = reinterpret_cast<const W4*>(src_y + (size_t)(py + dy) * y_pitch)[run];
        u32 out[4 * C];  // 16 pixels x C bytes
#pragma unroll
        for (int gi = 0; gi < 4; ++gi) {
            u32 bits[4][3];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int x = 4 * gi + i;  // pixel in the run; chroma pair x / 2
                const int q = 1 + x / 2;
                const u32 s = vt[q] * 3u + vt[(x % 2 == 0) ? q - 1 : q + 1];
                const float u = lane_u(s), v = lane_v(s);
                const float y = byte_f_dyn(lw.w[gi], i, magic);
#pragma unroll
                for (int c = 0; c < 3; ++c)
                    bits[i][c] = rc<R>(k, c, y, u, v);
            }
            if (C == 4) {
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const u32 rb = bits[i][RI == 0 ? 0 : 2], gb = bits[i][1],
                              bb = bits[i][RI == 0 ? 2 : 0];
                    // bytes: channel 0 (R or B), G, channel 2, alpha 255
                    const u32 lo = __byte_perm(rb, gb, 0x0040);
                    out[4 * gi + i] = __byte_perm(lo, bb, 0x4410) | 0xff000000u;
                }
            } else {
                // 12 bytes: pixel i channel c at byte 3 i + c of the group.
                u32 ch3[12];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    ch3[3 * i + RI] = bits[i][0];
                    ch3[3 * i + 1] = bits[i][1];
                    ch3[3 * i + BI] = bits[i][2];
                }
#pragma unroll
                for (int wi = 0; wi < 3; ++wi)
                    out[3 * gi + wi] = pack_low_bytes(ch3[4 * wi], ch3[4 * wi + 1],
                                                      ch3[4 * wi + 2], ch3[4 * wi + 3]);
            }
        }
        if (S && staged) {
            __shared__ W4 stage[8][4 * 32];
            W4* sw = stage[((threadIdx.y * blockDim.x + threadIdx.x) / 32) % 8];
            const int lane = threadIdx.x & 31;
#pragma unroll
            for (int q = 0; q < C; ++q) {
                W4 o;
#pragma unroll
                for (int i = 0; i < 4; ++i) o.w[i] = out[4 * q + i];
                sw[swz<S, C>(lane * C + q)] = o;
            }
            __syncwarp();
            W4* g = reinterpret_cast<W4*>(dst + (size_t)(py + dy) * dst_pitch + (size_t)(px - lane * 16) * C);
#pragma unroll
            for (int q = 0; q < C; ++q) g[q * 32 + lane] = sw[swz<S, C>(q * 32 + lane)];
            __syncwarp();
        } else {
            W4* d = reinterpret_cast<W4*>(dst + (size_t)(py + dy) * dst_pitch + (size_t)px * C);
#pragma unroll
            for (int q = 0; q < C; ++q) {
                W4 o;
#pragma unroll
                for (int i = 0; i < 4; ++i) o.w[i] = out[4 * q + i];
                d[q] = o;
            }
        }
    }
}


#define XV16(name, C, R) extern "C" __global__ void __launch_bounds__(256) name(V16_ARGS) { xv16<C, 0, 2, R>(V16_PASS); }
XV16(rgb24_r1, 3, 1)
XV16(rgb24_r2, 3, 2)
XV16(rgba_r1, 4, 1)
XV16(rgba_r2, 4, 2)
#define XV16S(name, C) extern "C" __global__ void __launch_bounds__(256) name(V16_ARGS) { xv16<C, 0, 2, 0, 1>(V16_PASS); }
XV16S(rgb24_staged, 3)
XV16S(rgba_staged, 4)
extern "C" __global__ void __launch_bounds__(256) rgba_staged_swz(V16_ARGS) { xv16<4, 0, 2, 0, 2>(V16_PASS); }


// NV12 -> RGBA, one 4x2 block a thread (as the shipped `nv12_to_rgba`, 4x the threads of the
// 16-pixel runs) but with word accesses: one 4-byte luma load per row, three loads per chroma
// row (the pairs cx, cx + 1 as one word and the clamped neighbours as 16-bit words), the
// integer chroma interpolation of the v16 kernels, and one 16-byte store per output row. For
// 16-byte aligned planes (nvdx's Vec16 access); a row's last partial block takes the shipped path.
template <int RI, int BI>
static __device__ __forceinline__ void rgba_w4(V16_ARGS) {
    const int px = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    const int py = (blockIdx.y * blockDim.y + threadIdx.y) * 2;
    if (px >= width || py >= height) return;
    if (px + 4 > width) {
        yuv420_to_rgb<u8, 4, RI, BI>(src_y, y_pitch, src_uv, uv_pitch, dst, dst_pitch, width, height, k, 0);
        return;
    }
    const int cw = width / 2, ch = height / 2, cx = px / 2, cy = py / 2;
    const u32 magic = 0x4B000000u;
    u32 e[3][4];
#pragma unroll
    for (int j = 0; j < 3; ++j) {
        const u8* row = src_uv + (size_t)min(max(cy + j - 1, 0), ch - 1) * uv_pitch;
        const u32 m = *reinterpret_cast<const u32*>(row + 2 * cx);
        const u32 l = *reinterpret_cast<const u16*>(row + 2 * max(cx - 1, 0));
        const u32 r = *reinterpret_cast<const u16*>(row + 2 * min(cx + 2, cw - 1));
        e[j][0] = pair_lanes<0>(l);
        e[j][1] = pair_lanes<0>(m);
        e[j][2] = pair_lanes<1>(m);
        e[j][3] = pair_lanes<0>(r);
    }
#pragma unroll
    for (int dy = 0; dy < 2; ++dy) {
        u32 vt[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) vt[q] = e[1][q] * 3u + e[dy == 0 ? 0 : 2][q];
        const u32 lw = *reinterpret_cast<const u32*>(src_y + (size_t)(py + dy) * y_pitch + px);
        W4 o;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int q = 1 + i / 2;
            const u32 s = vt[q] * 3u + vt[(i % 2 == 0) ? q - 1 : q + 1];
            const float u = lane_u(s), v = lane_v(s);
            const float y = byte_f_dyn(lw, i, magic);
            u32 bits[3];
#pragma unroll
            for (int c = 0; c < 3; ++c)
                bits[c] = round_clamp_u8(fmaf(k.m[c][0], y, fmaf(k.m[c][1], u, fmaf(k.m[c][2], v, k.off[c]))));
            const u32 rb = bits[RI == 0 ? 0 : 2], gb = bits[1], bb = bits[RI == 0 ? 2 : 0];
            o.w[i] = __byte_perm(__byte_perm(rb, gb, 0x0040), bb, 0x4410) | 0xff000000u;
        }
        *reinterpret_cast<W4*>(dst + (size_t)(py + dy) * dst_pitch + (size_t)px * 4) = o;
    }
}
extern "C" __global__ void __launch_bounds__(256) rgba_w4_k(V16_ARGS) { rgba_w4<0, 2>(V16_PASS, vec); }


// Tensor, two horizontally adjacent output pixels per thread (f16 pairs stored as one 32-bit
// word, f32 pairs as one 64-bit word): half the threads, half the row-tap reads and stores.
// Same arithmetic per pixel as the shipped kernel; needs an even output width.
static __device__ __forceinline__ u32 f16x2_bits(float lo, float hi) {
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
template <typename T, bool F16>
static __device__ __forceinline__ void planar_x2(const Yuv420Src& s, u8* __restrict__ dst, int dw,
                                                 int dh, const YuvToRgb& k, const Norm& nm) {
    __shared__ Tap col_taps[2][64];
    __shared__ Tap row_taps[2][8];
    const int x0 = 2 * (blockIdx.x * blockDim.x + threadIdx.x);
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    const int sw = (int)s.width, sh = (int)s.height;
    const int t = threadIdx.y * 32 + threadIdx.x;
    if (t < 128) {
        const int c = t & 63, xx = blockIdx.x * 64 + c;
        col_taps[t >> 6][c] = (t >> 6) == 0 ? tap(xx, sw, dw, 1, sw) : tap(xx, sw, dw, 2, sw / 2);
    } else if (t < 144) {
        const int r = (t - 128) & 7, yy = blockIdx.y * 8 + r;
        row_taps[(t - 128) >> 3][r] = ((t - 128) >> 3) == 0 ? tap(yy, sh, dh, 1, sh) : tap(yy, sh, dh, 2, sh / 2);
    }
    __syncthreads();
    if (x0 >= dw || y >= dh) return;
    const Tap ly = row_taps[0][threadIdx.y], cy = row_taps[1][threadIdx.y];
    const bool pair = ((s.chroma | (u64)s.chroma_pitch) & (2 * sizeof(T) - 1)) == 0;
    const u8* luma = reinterpret_cast<const u8*>(s.luma);
    const u8* chroma = reinterpret_cast<const u8*>(s.chroma);
    const u8* l0 = luma + (size_t)ly.i0 * s.luma_pitch;
    const u8* l1 = luma + (size_t)ly.i1 * s.luma_pitch;
    const u8* c0 = chroma + (size_t)cy.i0 * s.chroma_pitch;
    const u8* c1 = chroma + (size_t)cy.i1 * s.chroma_pitch;
    float val[2][3];
#pragma unroll
    for (int e = 0; e < 2; ++e) {
        const Tap lx = col_taps[0][2 * threadIdx.x + e], cx = col_taps[1][2 * threadIdx.x + e];
        const float yv = lerp2(int_f(ld<T>(l0, lx.i0)), int_f(ld<T>(l0, lx.i1)),
                               int_f(ld<T>(l1, lx.i0)), int_f(ld<T>(l1, lx.i1)), lx.f, ly.f);
        float u00, v00, u01, v01, u10, v10, u11, v11;
        ld_uv<T>(c0, cx.i0, pair, u00, v00);
        ld_uv<T>(c0, cx.i1, pair, u01, v01);
        ld_uv<T>(c1, cx.i0, pair, u10, v10);
        ld_uv<T>(c1, cx.i1, pair, u11, v11);
        const float uv = lerp2(u00, u01, u10, u11, cx.f, cy.f);
        const float vv = lerp2(v00, v01, v10, v11, cx.f, cy.f);
#pragma unroll
        for (int c = 0; c < 3; ++c) {
            float v = fmaf(k.m[c][0], yv, fmaf(k.m[c][1], uv, fmaf(k.m[c][2], vv, k.off[c])));
            v = fminf(fmaxf(v, 0.0f), k.maxv);
            val[e][c] = fmaf(v, nm.scale[c], nm.bias[c]);
        }
    }
    const size_t plane = (size_t)dw * dh;
    const size_t frame = (size_t)blockIdx.z * 3 * plane;
    const size_t at = (size_t)y * dw + x0;
#pragma unroll
    for (int c = 0; c < 3; ++c) {
        if (F16) {
            reinterpret_cast<u32*>(dst)[(frame + c * plane + at) / 2] = f16x2_bits(val[0][c], val[1][c]);
        } else {
            reinterpret_cast<float2*>(dst)[(frame + c * plane + at) / 2] = make_float2(val[0][c], val[1][c]);
        }
    }
}
extern "C" __global__ void __launch_bounds__(256) planar_f16_batch_x2(Yuv420Batch b, u8* __restrict__ dst, int dw, int dh, YuvToRgb k, Norm nm) { planar_x2<u8, true>(b.f[blockIdx.z], dst, dw, dh, k, nm); }
extern "C" __global__ void __launch_bounds__(256) planar_f32_batch_x2(Yuv420Batch b, u8* __restrict__ dst, int dw, int dh, YuvToRgb k, Norm nm) { planar_x2<u8, false>(b.f[blockIdx.z], dst, dw, dh, k, nm); }

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)
static cudaStream_t gst;
static float time_us(std::function<void()> f, int iters = 200) {
    cudaEvent_t a, b; cudaEventCreate(&a); cudaEventCreate(&b);
    f(); CK(cudaStreamSynchronize(gst));
    float best = 1e30f;
    for (int r = 0; r < 5; ++r) {
        cudaEventRecord(a, gst);
        for (int i = 0; i < iters; ++i) f();
        cudaEventRecord(b, gst); CK(cudaEventSynchronize(b));
        float ms; cudaEventElapsedTime(&ms, a, b); best = fminf(best, ms * 1000.f / iters);
    }
    CK(cudaGetLastError());
    return best;
}
static std::vector<u8> down(void* p, size_t n) { std::vector<u8> v(n); CK(cudaMemcpy(v.data(), p, n, cudaMemcpyDeviceToHost)); return v; }


// 8 random 1080p-sized NV12 frames in one allocation (*frames, freed by the caller), as a
// tensor launch's descriptor batch; and ImageNet's normalisation.
static Yuv420Batch random_batch8(int fw, int fh, u8** frames) {
    const size_t fy = (size_t)fw * fh, fsz = fy * 3 / 2;
    CK(cudaMalloc(frames, fsz * 8));
    std::vector<u8> hf(fsz * 8); for (auto& b : hf) b = (u8)(rand() >> 7);
    CK(cudaMemcpy(*frames, hf.data(), hf.size(), cudaMemcpyHostToDevice));
    Yuv420Batch bt; memset(&bt, 0, sizeof bt);
    for (int i = 0; i < 8; ++i) { bt.f[i].luma = (u64)(*frames + i * fsz); bt.f[i].chroma = (u64)(*frames + i * fsz + fy);
        bt.f[i].luma_pitch = fw; bt.f[i].chroma_pitch = fw; bt.f[i].width = fw; bt.f[i].height = fh; }
    return bt;
}
static Norm imagenet_norm() {
    Norm nm; const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; ++c) { nm.scale[c] = 1.f / sd[c]; nm.bias[c] = -mean[c] / sd[c]; }
    return nm;
}

// The committed images as nvdx loads them: the sm_90 cubin (ptxas 12.1) against the driver's JIT
// of the committed PTX, per kernel, same launches, same bytes expected.
static std::string slurp(const std::string& path) {
    FILE* f = fopen(path.c_str(), "rb");
    if (!f) return std::string();
    std::string s; char buf[65536]; size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    fclose(f);
    return s;
}
#define CU(x) do { CUresult r = (x); if (r != CUDA_SUCCESS) { const char* m = nullptr; cuGetErrorName(r, &m); printf("%s: %s\n", #x, m ? m : "?"); return; } } while (0)
static void cubin_vs_ptx(const std::string& root, const std::vector<std::string>& extra) {
    std::string cubin = slurp(root + "/nvdx/kernels/cubin/colour.sm_90.cubin");
    std::string ptx = slurp(root + "/nvdx/kernels/ptx/colour.ptx");
    if (cubin.empty() || ptx.empty()) { printf("cubin/PTX not found under %s: skipped\n", root.c_str()); return; }
    ptx.push_back('\0');
    // Images: the committed cubin (ptxas 12.1), the driver's JIT of the committed PTX, and (when
    // run.sh could build it) the committed PTX through this host's ptxas.
    // Further images (paths on the command line: cubins, or PTX, which the driver JITs) are
    // timed beside them, named by their file names.
    enum { MAXM = 8 };
    CUmodule mods[MAXM]; int nmods = 2;
    std::string mname[MAXM] = {"cubin", "PTX (driver JIT)"};
    CU(cuModuleLoadData(&mods[0], cubin.data()));
    CU(cuModuleLoadData(&mods[1], ptx.data()));
    for (const std::string& path : extra) {
        if (nmods == MAXM) break;
        std::string img = slurp(path); if (img.empty()) continue;
        if (img.compare(0, 4, "\x7f" "ELF") != 0) img.push_back('\0');
        if (cuModuleLoadData(&mods[nmods], img.data()) != CUDA_SUCCESS) { printf("%s: failed to load\n", path.c_str()); continue; }
        mname[nmods++] = path.substr(path.find_last_of('/') + 1);
    }
    CUmodule mc = mods[0];
    const int W = 3840, H = 2160;
    const size_t ysz = (size_t)W * H, nvsz = ysz * 3 / 2, rgbsz = ysz * 4;
    u8 *nv, *rgb, *o1, *o2;
    CK(cudaMalloc(&nv, nvsz)); CK(cudaMalloc(&rgb, rgbsz)); CK(cudaMalloc(&o1, rgbsz)); CK(cudaMalloc(&o2, rgbsz));
    { std::vector<u8> hb(rgbsz); for (auto& b : hb) b = (u8)(rand() >> 7);
      CK(cudaMemcpy(nv, hb.data(), nvsz, cudaMemcpyHostToDevice)); CK(cudaMemcpy(rgb, hb.data(), rgbsz, cudaMemcpyHostToDevice)); }
    YuvToRgb ky; memset(&ky, 0, sizeof ky); ky.m[0][0] = ky.m[1][0] = ky.m[2][0] = 1.164f; ky.m[0][2] = 1.793f; ky.m[1][1] = -0.213f; ky.m[1][2] = -0.533f; ky.m[2][1] = 2.112f; ky.off[0] = -248.1f; ky.off[1] = 76.9f; ky.off[2] = -289.0f; ky.maxv = 255.0f;
    RgbToYuv kr; memset(&kr, 0, sizeof kr); kr.m[0][0] = 0.183f; kr.m[0][1] = 0.614f; kr.m[0][2] = 0.062f; kr.m[1][0] = -0.101f; kr.m[1][1] = -0.339f; kr.m[1][2] = 0.439f; kr.m[2][0] = 0.439f; kr.m[2][1] = -0.399f; kr.m[2][2] = -0.040f; kr.off[0] = 16; kr.off[1] = kr.off[2] = 128; kr.maxv = 255;
    struct K { const char* name; int dir; int C; int run; };  // dir 0: NV12 -> packed, 1: packed -> NV12
    const K ks[] = {{"nv12_to_rgb24_v16", 0, 3, 16}, {"nv12_to_rgba", 0, 4, 4}, {"nv12_to_rgba_v16", 0, 4, 16}, {"nv12_to_rgb24", 0, 3, 4},
                    {"rgb24_to_nv12_v16", 1, 3, 16}, {"rgba_to_nv12_v16", 1, 4, 16}};
    for (const K& k : ks) {
        u32 yp = W, uvp = W, pp = (u32)(W * k.C); int w = W, h = H, vec = 1;
        u8* y = nv; u8* uv = nv + ysz;
        float t[MAXM]; bool same = true; std::vector<u8> outs[MAXM];
        for (int which = 0; which < nmods; ++which) {
            CUfunction f; CU(cuModuleGetFunction(&f, mods[which], k.name));
            u8* out = which == 0 ? o1 : o2;
            u8* ouv = out + ysz;
            void* a0[] = {&y, &yp, &uv, &uvp, &out, &pp, &w, &h, &ky, &vec};
            void* a1[] = {&rgb, &pp, &out, &yp, &ouv, &uvp, &w, &h, &kr, &vec};
            void** args = k.dir == 0 ? a0 : a1;
            const unsigned gx = (unsigned)((W / k.run + 31) / 32), gy = (unsigned)((H / 2 + 7) / 8);
            auto launch = [&] { cuLaunchKernel(f, gx, gy, 1, 32, 8, 1, 0, (CUstream)gst, args, nullptr); };
            CK(cudaMemsetAsync(out, 0x11, rgbsz, gst));
            CU(cuLaunchKernel(f, gx, gy, 1, 32, 8, 1, 0, (CUstream)gst, args, nullptr));
            outs[which] = down(out, k.dir == 0 ? (size_t)pp * H : nvsz);
            t[which] = time_us(launch);
        }
        for (int i = 1; i < nmods; ++i) same = same && outs[0] == outs[i];
        printf("%s 4K:", k.name);
        for (int i = 0; i < nmods; ++i) printf(" %s %.2f us,", mname[i].c_str(), t[i]);
        printf(" same bytes: %s\n", same ? "yes" : "NO");
    }
    // The shipped tensor kernels as nvdx launches them: 8 frames 1080p -> 448x448 (grid z = frame).
    {
        const int d = 448;
        u8* frames; Yuv420Batch bt = random_batch8(1920, 1080, &frames);
        YuvToRgb k1 = ky; for (int i = 0; i < 3; ++i) { for (int j = 0; j < 3; ++j) k1.m[i][j] /= 255.0f; k1.off[i] /= 255.0f; } k1.maxv = 1.0f;
        Norm nm = imagenet_norm();
        const size_t n = (size_t)8 * 3 * d * d * 4;
        u8 *t1, *t2; CK(cudaMalloc(&t1, n)); CK(cudaMalloc(&t2, n));
        int dw = d, dh = d;
        const char* tk[] = {"nv12_to_planar_f16_batch_x2", "nv12_to_planar_f16_batch", "nv12_to_planar_f32_batch_x2"};
        for (const char* name : tk) {
            const bool x2 = strstr(name, "_x2") != nullptr, f16 = strstr(name, "f16") != nullptr;
            const size_t bytes = (size_t)8 * 3 * d * d * (f16 ? 2 : 4);
            const unsigned gx = (unsigned)(((x2 ? d / 2 : d) + 31) / 32), gy = (unsigned)((d + 7) / 8);
            float t[MAXM]; std::vector<u8> outs[MAXM];
            for (int which = 0; which < nmods; ++which) {
                CUfunction f; CU(cuModuleGetFunction(&f, mods[which], name));
                u8* out = which == 0 ? t1 : t2;
                void* args[] = {&bt, &out, &dw, &dh, &k1, &nm};
                CK(cudaMemsetAsync(out, 0x11, n, gst));
                CU(cuLaunchKernel(f, gx, gy, 8, 32, 8, 1, 0, (CUstream)gst, args, nullptr));
                outs[which] = down(out, bytes);
                t[which] = time_us([&] { cuLaunchKernel(f, gx, gy, 8, 32, 8, 1, 0, (CUstream)gst, args, nullptr); });
            }
            bool same = true; for (int i = 1; i < nmods; ++i) same = same && outs[0] == outs[i];
            // The same source as built into this harness by the host's nvcc (-arch=sm_90), and
            // the harness's own two-pixel variant, same arguments.
            {
                dim3 grid(gx, gy, 8), blk(32, 8);
                auto own = [&](u8* o) {
                    if (!strcmp(name, "nv12_to_planar_f16_batch_x2")) nv12_to_planar_f16_batch_x2<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm);
                    else if (!strcmp(name, "nv12_to_planar_f16_batch")) nv12_to_planar_f16_batch<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm);
                    else nv12_to_planar_f32_batch_x2<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm); };
                CK(cudaMemsetAsync(t2, 0x11, n, gst)); own(t2);
                printf("%s x8: harness nvcc build %.2f us (same bytes: %s)", name, time_us([&] { own(t2); }), down(t2, bytes) == outs[0] ? "yes" : "NO");
                if (x2) {
                    auto var = [&](u8* o) { if (f16) planar_f16_batch_x2<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm); else planar_f32_batch_x2<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm); };
                    CK(cudaMemsetAsync(t2, 0x11, n, gst)); var(t2);
                    printf(", harness variant %.2f us (same bytes: %s)", time_us([&] { var(t2); }), down(t2, bytes) == outs[0] ? "yes" : "NO");
                }
                printf("\n");
            }
            printf("%s x8:", name);
            for (int i = 0; i < nmods; ++i) printf(" %s %.2f us,", mname[i].c_str(), t[i]);
            printf(" same bytes: %s\n", same ? "yes" : "NO");
        }
        cudaFree(frames); cudaFree(t1); cudaFree(t2);
    }
    // The 4x2-block kernels against the 16-pixel runs at smaller sizes (committed cubin), where
    // the runs give fewer threads than the GPU has lanes (720p: 28,800 runs).
    const char* pairs[][2] = {{"rgb24_to_nv12", "rgb24_to_nv12_v16"}, {"rgba_to_nv12", "rgba_to_nv12_v16"},
                              {"nv12_to_rgb24", "nv12_to_rgb24_v16"}, {"bgra_to_nv12", "bgra_to_nv12_v16"}};
    const int sizes[][2] = {{1280, 720}, {1920, 1080}, {2560, 1440}, {3840, 2160}};
    for (auto& pr : pairs) for (auto& sz : sizes) {
        const int dir = pr[0][0] == 'n' ? 0 : 1, C = strstr(pr[0], "rgba") || strstr(pr[0], "bgra") ? 4 : 3;
        int w = sz[0], h = sz[1], vec = 1; u32 yp = w, uvp = w, pp = (u32)(w * C);
        u8* y = nv; u8* uv = nv + (size_t)w * h;
        float t[2]; std::vector<u8> outs[2];
        for (int which = 0; which < 2; ++which) {
            CUfunction f; CU(cuModuleGetFunction(&f, mc, pr[which]));
            u8* out = which == 0 ? o1 : o2; u8* ouv = out + (size_t)w * h;
            void* a0[] = {&y, &yp, &uv, &uvp, &out, &pp, &w, &h, &ky, &vec};
            void* a1[] = {&rgb, &pp, &out, &yp, &ouv, &uvp, &w, &h, &kr, &vec};
            void** args = dir == 0 ? a0 : a1;
            const int run = which == 0 ? 4 : 16;
            const unsigned gx = (unsigned)((w / run + 31) / 32), gy = (unsigned)((h / 2 + 7) / 8);
            CK(cudaMemsetAsync(out, 0x11, rgbsz, gst));
            CU(cuLaunchKernel(f, gx, gy, 1, 32, 8, 1, 0, (CUstream)gst, args, nullptr));
            outs[which] = down(out, dir == 0 ? (size_t)pp * h : (size_t)w * h * 3 / 2);
            t[which] = time_us([&] { cuLaunchKernel(f, gx, gy, 1, 32, 8, 1, 0, (CUstream)gst, args, nullptr); });
        }
        printf("size sweep %s %dx%d: 4x2 %.2f us, v16 %.2f us, same bytes: %s\n", pr[0], w, h, t[0], t[1], outs[0] == outs[1] ? "yes" : "NO");
    }
    cudaFree(nv); cudaFree(rgb); cudaFree(o1); cudaFree(o2);
}

int main(int argc, char** argv) {
    CK(cudaStreamCreateWithFlags(&gst, cudaStreamNonBlocking));
    cudaDeviceProp prop; cudaGetDeviceProperties(&prop, 0); printf("device %s\n", prop.name);
    const int W = 3840, H = 2160;
    const size_t yp = W, uvp = W, ysz = (size_t)yp * H, uvsz = (size_t)uvp * H / 2;
    std::vector<u8> host(ysz + uvsz); srand(7); for (auto& b : host) b = (u8)(rand() >> 7);
    u8 *nv; CK(cudaMalloc(&nv, ysz + uvsz)); CK(cudaMemcpy(nv, host.data(), ysz + uvsz, cudaMemcpyHostToDevice));
    u8* uv = nv + ysz;
    // BT.709 limited, 8-bit
    const double kr = 0.2126, kb = 0.0722, kg = 1 - kr - kb;
    auto yuv2rgb = [&](double out_max) { YuvToRgb k; double a = out_max / 219.0, c = out_max / 224.0;
        double m[3][3] = {{a, 0, 2 * (1 - kr) * c}, {a, -2 * kb * (1 - kb) / kg * c, -2 * kr * (1 - kr) / kg * c}, {a, 2 * (1 - kb) * c, 0}};
        for (int i = 0; i < 3; ++i) { for (int j = 0; j < 3; ++j) k.m[i][j] = (float)m[i][j]; k.off[i] = (float)-(m[i][0] * 16 + m[i][1] * 128 + m[i][2] * 128); }
        k.maxv = (float)out_max; return k; };
    YuvToRgb k8 = yuv2rgb(255.0);
    for (int C : {3, 4}) {
        const size_t dp = (size_t)W * C; u8* out; CK(cudaMalloc(&out, dp * H));
        u8* out2; CK(cudaMalloc(&out2, dp * H));
        const char* base4x2 = C == 3 ? "nv12_to_rgb24" : "nv12_to_rgba";
        auto run_v16 = [&](void (*kern)(V16_ARGS), u8* o, dim3 blk) {
            dim3 grid((W / 16 + blk.x - 1) / blk.x, (H / 2 + blk.y - 1) / blk.y);
            kern<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, o, dp, W, H, k8, 1); };
        auto run_4x2 = [&](u8* o) { dim3 blk(32, 8); dim3 grid((W / 4 + 31) / 32, (H / 2 + 7) / 8);
            if (C == 3) nv12_to_rgb24<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, o, dp, W, H, k8, 1);
            else nv12_to_rgba<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, o, dp, W, H, k8, 1); };
        auto v16 = C == 3 ? nv12_to_rgb24_v16 : nv12_to_rgba_v16;
        auto lb6 = C == 3 ? rgb24_lb6 : rgba_lb6; auto lb8 = C == 3 ? rgb24_lb8 : rgba_lb8;
        CK(cudaMemsetAsync(out, 0xEE, dp * H, gst)); run_v16(v16, out, dim3(32, 8)); auto ref = down(out, dp * H);
        double floor_us = 0; { u8* a; u8* b2; size_t n = (ysz + uvsz + dp * H) / 2; CK(cudaMalloc(&a, n)); CK(cudaMalloc(&b2, n));
            floor_us = time_us([&] { cudaMemcpyAsync(b2, a, n, cudaMemcpyDeviceToDevice, gst); }); cudaFree(a); cudaFree(b2); }
        printf("C=%d 4K: copy floor %.2f us\n", C, floor_us);
        printf("C=%d 4x2 (%s): %.2f us, same bytes as v16: %s\n", C, base4x2, time_us([&] { run_4x2(out2); }),
               (cudaMemsetAsync(out2, 0x11, dp * H, gst), run_4x2(out2), down(out2, dp * H) == ref) ? "yes" : "NO");
        (void)lb6; (void)lb8;
        YuvToRgb k8s = k8; for (int i = 0; i < 3; ++i) { for (int j = 0; j < 3; ++j) k8s.m[i][j] = (float)(k8.m[i][j] / 255.0); k8s.off[i] = (float)(k8.off[i] / 255.0); } k8s.maxv = 1.0f;
        auto r1 = C == 3 ? rgb24_r1 : rgba_r1; auto r2 = C == 3 ? rgb24_r2 : rgba_r2;
        for (int pol = 1; pol <= 2; ++pol) {
            YuvToRgb kk = pol == 2 ? k8s : k8; auto kern = pol == 2 ? r2 : r1;
            dim3 blk(32, 8), grid((W / 16 + 31) / 32, (H / 2 + 7) / 8);
            CK(cudaMemsetAsync(out2, 0x11, dp * H, gst)); kern<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, kk, 1);
            auto got = down(out2, dp * H); size_t diff = 0; int maxd = 0;
            for (size_t i = 0; i < got.size(); ++i) { int dd = abs((int)got[i] - (int)ref[i]); if (dd) { ++diff; if (dd > maxd) maxd = dd; } }
            float t = time_us([&] { kern<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, kk, 1); });
            printf("C=%d v16 rounding policy %d: %.2f us (%.0f%% of floor), bytes differing from shipped %zu of %zu, max diff %d\n", C, pol, t, 100 * floor_us / t, diff, got.size(), maxd);
        }
        {
            auto ks = C == 3 ? rgb24_staged : rgba_staged;
            for (dim3 blk : {dim3(32, 8), dim3(64, 4)}) {
                dim3 grid((W / 16 + blk.x - 1) / blk.x, (H / 2 + blk.y - 1) / blk.y);
                CK(cudaMemsetAsync(out2, 0x11, dp * H, gst)); ks<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, k8, 1);
                bool same = down(out2, dp * H) == ref;
                float t = time_us([&] { ks<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, k8, 1); });
                printf("C=%d v16 staged stores block %ux%u: %.2f us (%.0f%% of floor) same: %s\n", C, blk.x, blk.y, t, 100 * floor_us / t, same ? "yes" : "NO");
            }
            // An odd width: the staged kernel's partial warps take the direct path.
            const int W2 = W - 16 * 5;
            dim3 blk(32, 8), grid((W2 / 16 + 31) / 32, (H / 2 + 7) / 8);
            CK(cudaMemsetAsync(out, 0x22, dp * H, gst)); v16<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out, dp, W2, H, k8, 1);
            auto r2 = down(out, dp * H);
            CK(cudaMemsetAsync(out2, 0x22, dp * H, gst)); ks<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W2, H, k8, 1);
            printf("C=%d v16 staged stores at width %d: same bytes as v16: %s\n", C, W2, down(out2, dp * H) == r2 ? "yes" : "NO");
            if (C == 4) {
                // Swizzled staging (no shared-memory bank conflicts on the writes).
                CK(cudaMemsetAsync(out2, 0x22, dp * H, gst)); rgba_staged_swz<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W2, H, k8, 1);
                printf("C=4 v16 staged swizzled at width %d: same bytes as v16: %s\n", W2, down(out2, dp * H) == r2 ? "yes" : "NO");
                dim3 g4((W / 16 + 31) / 32, (H / 2 + 7) / 8);
                CK(cudaMemsetAsync(out, 0xEE, dp * H, gst)); run_v16(v16, out, dim3(32, 8)); auto rf = down(out, dp * H);
                CK(cudaMemsetAsync(out2, 0x11, dp * H, gst)); rgba_staged_swz<<<g4, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, k8, 1);
                const bool same = down(out2, dp * H) == rf;
                const float t = time_us([&] { rgba_staged_swz<<<g4, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, k8, 1); });
                printf("C=4 v16 staged swizzled block 32x8: %.2f us (%.0f%% of floor) same: %s\n", t, 100 * floor_us / t, same ? "yes" : "NO");
            }
            CK(cudaMemsetAsync(out, 0xEE, dp * H, gst)); run_v16(v16, out, dim3(32, 8)); // restore ref layout
        }
        if (C == 4) {
            dim3 blk(32, 8), grid((W / 4 + 31) / 32, (H / 2 + 7) / 8);
            CK(cudaMemsetAsync(out2, 0x11, dp * H, gst)); rgba_w4_k<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, k8, 1);
            bool same = down(out2, dp * H) == ref;
            float t = time_us([&] { rgba_w4_k<<<grid, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W, H, k8, 1); });
            printf("C=4 4x2 word accesses (rgba_w4): %.2f us (%.0f%% of floor) same: %s\n", t, 100 * floor_us / t, same ? "yes" : "NO");
            const int W2 = W - 6;  // a partial last block (2 pixels) per row
            dim3 g2(((W2 + 3) / 4 + 31) / 32, (H / 2 + 7) / 8);
            CK(cudaMemsetAsync(out, 0x22, dp * H, gst)); run_v16(v16, out, dim3(32, 8));
            CK(cudaMemsetAsync(out, 0x22, dp * H, gst)); { dim3 gv(((W2 + 15) / 16 + 31) / 32, (H / 2 + 7) / 8); v16<<<gv, blk, 0, gst>>>(nv, yp, uv, uvp, out, dp, W2, H, k8, 1); }
            auto rw = down(out, dp * H);
            CK(cudaMemsetAsync(out2, 0x22, dp * H, gst)); rgba_w4_k<<<g2, blk, 0, gst>>>(nv, yp, uv, uvp, out2, dp, W2, H, k8, 1);
            printf("C=4 rgba_w4 at width %d: same bytes as v16: %s\n", W2, down(out2, dp * H) == rw ? "yes" : "NO");
            CK(cudaMemsetAsync(out, 0xEE, dp * H, gst)); run_v16(v16, out, dim3(32, 8));
        }
        struct V { const char* name; void (*k)(V16_ARGS); } vs[] = {{"v16", v16}};
        dim3 blks[] = {dim3(32, 8)};
        for (auto& v : vs) for (auto b : blks) {
            CK(cudaMemsetAsync(out2, 0x11, dp * H, gst)); run_v16(v.k, out2, b); bool same = down(out2, dp * H) == ref;
            float t = time_us([&] { run_v16(v.k, out2, b); });
            printf("C=%d %s block %ux%u: %.2f us (%.0f%% of floor) same: %s\n", C, v.name, b.x, b.y, t, 100 * floor_us / t, same ? "yes" : "NO");
        }
        cudaFree(out); cudaFree(out2);
    }
    // Tensor: 8 frames 1080p -> 448x448, f16 and f32
    {
        const int d = 448;
        u8* frames; Yuv420Batch bt = random_batch8(1920, 1080, &frames);
        YuvToRgb k1 = yuv2rgb(1.0); Norm nm = imagenet_norm();
        for (int es : {2, 4}) {
            const size_t n = (size_t)8 * 3 * d * d * es; u8 *o1, *o2; CK(cudaMalloc(&o1, n)); CK(cudaMalloc(&o2, n));
            dim3 blk(32, 8), grid((d + 31) / 32, (d + 7) / 8, 8);
            auto base = [&](u8* o) { if (es == 2) nv12_to_planar_f16_batch<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm); else nv12_to_planar_f32_batch<<<grid, blk, 0, gst>>>(bt, o, d, d, k1, nm); };
            CK(cudaMemsetAsync(o1, 0xEE, n, gst)); base(o1);
            printf("tensor x8 %s (shipped): %.2f us\n", es == 2 ? "f16" : "f32", time_us([&] { base(o1); }));
            {
                auto ref = down(o1, n);
                dim3 g2((d / 2 + 31) / 32, (d + 7) / 8, 8);
                auto x2 = [&](u8* o) { if (es == 2) planar_f16_batch_x2<<<g2, blk, 0, gst>>>(bt, o, d, d, k1, nm); else planar_f32_batch_x2<<<g2, blk, 0, gst>>>(bt, o, d, d, k1, nm); };
                CK(cudaMemsetAsync(o2, 0x11, n, gst)); x2(o2); bool same = down(o2, n) == ref;
                printf("tensor x8 %s, two pixels a thread: %.2f us, same bytes: %s\n", es == 2 ? "f16" : "f32", time_us([&] { x2(o2); }), same ? "yes" : "NO");
            }
            dim3 g1((d + 31) / 32, (d + 7) / 8, 1);
            if (es == 2) printf("tensor x1 f16 (shipped): %.2f us\n", time_us([&] { nv12_to_planar_f16_batch<<<g1, blk, 0, gst>>>(bt, o1, d, d, k1, nm); }));
            cudaFree(o1); cudaFree(o2);
        }
    }
    cubin_vs_ptx(argc > 1 ? argv[1] : ".", std::vector<std::string>(argv + (argc > 2 ? 2 : argc), argv + argc));
    printf("done\n");
}
