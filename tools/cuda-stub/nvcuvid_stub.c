/* An NVDEC (libnvcuvid) stand-in: a TEST DOUBLE, not NVIDIA's library. It decodes nothing and
   exists so that nvdx's host-side decode and sampling code (parser callbacks, session state,
   the sampler's threads and the DecoderPool) runs without a GPU, e.g. under valgrind.
   Everything it prints is labelled "[nvcuvid stub]".

   Its parser drives the callbacks the way NVIDIA's does, as far as nvdx relies on it:
   - pfnSequenceCallback before the first picture, and again when a new sequence header (an
     H.264/HEVC SPS found in a packet) gives another size. Coded size, display area and bit
     depth come from that SPS; without one (other codecs, or an SPS it cannot read) they are
     fixed: 1920x1088 coded, display area 1920x1080. 4:2:0, min_num_decode_surfaces 8, 25/1 fps.
     The callback's return value is honoured (0 stops, >1 sets the surface count).
   - one picture per packet with payload: pfnDecodePicture (CurrPicIdx cycling over the
     surfaces, ref_pic_flag 1, intra_pic_flag on the first after a sequence or discontinuity,
     the bitstream a copy owned by the parser, as NVIDIA's), then the picture goes to a display
     queue of ulMaxDisplayDelay entries (at most 4); pictures leaving it go to pfnDisplayPicture
     with {picture_index, timestamp of their packet (when CUVID_PKT_TIMESTAMP), progressive 1}.
   - CUVID_PKT_ENDOFSTREAM: the display queue is drained, then pfnDisplayPicture(NULL) once.
   - a callback returning 0 stops the packet; cuvidParseVideoData still returns success, as
     NVIDIA's does.
   Decoder, parser and lock handles are real heap objects (freed on destroy) with a magic word,
   so that memcheck reports a use of a destroyed handle at the caller. The decoder checks what
   it can: picture index in range, no decode into a surface that is mapped, at most
   ulNumOutputSurfaces mappings at once, unmap of a pointer that was mapped, destroy with no
   mapping left; each violation is printed and returns an error.
   Device pointers are fake (a bump range nobody dereferences); pitch 2048 (or the row size
   rounded up to 512 where wider). Counts calls per function and writes them at exit to the file
   named by NVDX_NVCUVID_STUB_COUNTS; NVDX_NVCUVID_STUB_TRACE=1 prints every sequence callback's
   format to stderr.

   Build (the SDK headers come from the nvidia-video-codec-sdk crate, never copied here):
     gcc -O1 -g -shared -fPIC -pthread -I$SDK/src/sys/headers -o /tmp/libnvcuvid.so.1 \
         tools/cuda-stub/nvcuvid_stub.c
   where SDK=~/.cargo/registry/src/<index>/nvidia-video-codec-sdk-<version>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <pthread.h>

/* The few CUDA driver types the NVDEC headers need, instead of cuda.h. */
#define __cuda_cuda_h__
#define CUDA_VERSION 12010
#define CUDAAPI
typedef int CUresult;
typedef struct CUctx_st* CUcontext;
typedef unsigned long long CUdeviceptr;
typedef struct CUstream_st* CUstream;
#include "cuviddec.h"
#include "nvcuvid.h"

enum { OK = 0, ERR_INVALID_VALUE = 1, ERR_INVALID_HANDLE = 400, ERR_MAP_FAILED = 205,
       ERR_NOT_MAPPED = 211, ERR_NOT_SUPPORTED = 801 };

#define NAMES X(cuvidGetDecoderCaps) X(cuvidCreateDecoder) X(cuvidDestroyDecoder) X(cuvidDecodePicture) \
 X(cuvidGetDecodeStatus) X(cuvidReconfigureDecoder) X(cuvidMapVideoFrame64) X(cuvidUnmapVideoFrame64) \
 X(cuvidCtxLockCreate) X(cuvidCtxLockDestroy) X(cuvidCtxLock) X(cuvidCtxUnlock) \
 X(cuvidCreateVideoParser) X(cuvidParseVideoData) X(cuvidDestroyVideoParser) \
 X(cuvidCreateVideoSource) X(cuvidCreateVideoSourceW) X(cuvidDestroyVideoSource) X(cuvidSetVideoSourceState) \
 X(cuvidGetVideoSourceState) X(cuvidGetSourceVideoFormat) X(cuvidGetSourceAudioFormat) \
 X(sequence_callbacks) X(decode_callbacks) X(display_callbacks) X(misuse)
enum {
#define X(n) I_##n,
NAMES
#undef X
N_FNS };
static const char* names[] = {
#define X(n) #n,
NAMES
#undef X
};
static unsigned long long counts[N_FNS];
#define C(n) __atomic_fetch_add(&counts[I_##n], 1, __ATOMIC_RELAXED)
static unsigned long long next_dev = 0x7e0000000000ull;
static CUdeviceptr bump(size_t n) {
  return __atomic_fetch_add(&next_dev, (n + 0xfffff) & ~0xfffffull, __ATOMIC_RELAXED);
}
static int misuse(const char* fn, const char* what) {
  C(misuse);
  fprintf(stderr, "[nvcuvid stub] %s: %s\n", fn, what);
  return 1;
}
__attribute__((destructor)) static void dump(void) {
  const char* p = getenv("NVDX_NVCUVID_STUB_COUNTS");
  if (!p) return;
  FILE* f = fopen(p, "w"); if (!f) return;
  for (int i = 0; i < N_FNS; ++i) if (counts[i]) fprintf(f, "[nvcuvid stub] %s %llu\n", names[i], counts[i]);
  fclose(f);
}

/* ---------------------------------------------------------------- capabilities */
CUresult cuvidGetDecoderCaps(CUVIDDECODECAPS* c) {
  C(cuvidGetDecoderCaps);
  if (!c) return ERR_INVALID_VALUE;
  int ok = c->eChromaFormat == cudaVideoChromaFormat_420 && c->nBitDepthMinus8 <= 4;
  c->bIsSupported = ok;
  c->nNumNVDECs = ok ? 7 : 0;
  c->nOutputFormatMask = ok ? (c->nBitDepthMinus8 ? (1 << cudaVideoSurfaceFormat_P016) : (1 << cudaVideoSurfaceFormat_NV12)) : 0;
  c->nMaxWidth = ok ? 8192 : 0;
  c->nMaxHeight = ok ? 8192 : 0;
  c->nMaxMBCount = ok ? (8192 / 16) * (8192 / 16) : 0;
  c->nMinWidth = ok ? 48 : 0;
  c->nMinHeight = ok ? 48 : 0;
  c->bIsHistogramSupported = 0;
  c->nCounterBitDepth = 0;
  c->nMaxHistogramBins = 0;
  return OK;
}

/* ---------------------------------------------------------------- context locks */
#define LOCK_MAGIC 0x4c4f434bu
struct lock { unsigned magic; CUcontext ctx; pthread_mutex_t m; };
CUresult cuvidCtxLockCreate(CUvideoctxlock* out, CUcontext ctx) {
  C(cuvidCtxLockCreate);
  if (!out) return ERR_INVALID_VALUE;
  struct lock* l = calloc(1, sizeof *l);
  l->magic = LOCK_MAGIC; l->ctx = ctx; pthread_mutex_init(&l->m, NULL);
  *out = (CUvideoctxlock)l;
  return OK;
}
static struct lock* lock_of(const char* fn, CUvideoctxlock h) {
  struct lock* l = (struct lock*)h;
  if (!l || l->magic != LOCK_MAGIC) { misuse(fn, "not a live context lock"); return NULL; }
  return l;
}
CUresult cuvidCtxLockDestroy(CUvideoctxlock h) {
  C(cuvidCtxLockDestroy);
  struct lock* l = lock_of("cuvidCtxLockDestroy", h);
  if (!l) return ERR_INVALID_HANDLE;
  l->magic = 0; pthread_mutex_destroy(&l->m); free(l);
  return OK;
}
CUresult cuvidCtxLock(CUvideoctxlock h, unsigned flags) {
  C(cuvidCtxLock);
  struct lock* l = lock_of("cuvidCtxLock", h);
  if (!l) return ERR_INVALID_HANDLE;
  pthread_mutex_lock(&l->m);
  return OK;
}
CUresult cuvidCtxUnlock(CUvideoctxlock h, unsigned flags) {
  C(cuvidCtxUnlock);
  struct lock* l = lock_of("cuvidCtxUnlock", h);
  if (!l) return ERR_INVALID_HANDLE;
  pthread_mutex_unlock(&l->m);
  return OK;
}

/* ---------------------------------------------------------------- decoder */
#define DEC_MAGIC 0x4445434fu
#define MAX_SURF 64
#define MAX_OUT 8
struct decoder {
  unsigned magic;
  unsigned surfaces, outputs, width, height, target_w, target_h, max_w, max_h, bytes;
  struct lock* lock;
  CUdeviceptr base; /* fake: output surfaces at base + slot * slot_size */
  size_t slot_size;
  unsigned pitch;
  CUdeviceptr mapped[MAX_OUT]; /* 0: free */
  int mapped_idx[MAX_OUT];
  unsigned long long decoded;
  unsigned char checksum; /* of the bitstreams read, so that the reads are not optimised out */
};
static struct decoder* dec_of(const char* fn, CUvideodecoder h) {
  struct decoder* d = (struct decoder*)h;
  if (!d || d->magic != DEC_MAGIC) { misuse(fn, "not a live decoder"); return NULL; }
  return d;
}
static void layout(struct decoder* d) {
  unsigned row = d->target_w * d->bytes;
  d->pitch = row <= 2048 ? 2048 : (row + 511) & ~511u;
  d->slot_size = (size_t)d->pitch * d->target_h * 3 / 2;
  d->base = bump(d->slot_size * MAX_OUT);
}
CUresult cuvidCreateDecoder(CUvideodecoder* out, CUVIDDECODECREATEINFO* ci) {
  C(cuvidCreateDecoder);
  if (!out || !ci) return ERR_INVALID_VALUE;
  if (ci->ulNumDecodeSurfaces < 1 || ci->ulNumDecodeSurfaces > MAX_SURF) {
    misuse("cuvidCreateDecoder", "ulNumDecodeSurfaces outside 1..64"); return ERR_INVALID_VALUE; }
  if (ci->ulNumOutputSurfaces < 1 || ci->ulNumOutputSurfaces > MAX_OUT) {
    misuse("cuvidCreateDecoder", "ulNumOutputSurfaces outside 1..8"); return ERR_INVALID_VALUE; }
  if (ci->ulWidth < 48 || ci->ulHeight < 48 || ci->ulWidth > 8192 || ci->ulHeight > 8192) {
    misuse("cuvidCreateDecoder", "size outside 48..8192"); return ERR_NOT_SUPPORTED; }
  if (ci->vidLock && !lock_of("cuvidCreateDecoder", ci->vidLock)) return ERR_INVALID_HANDLE;
  struct decoder* d = calloc(1, sizeof *d);
  d->magic = DEC_MAGIC;
  d->surfaces = ci->ulNumDecodeSurfaces; d->outputs = ci->ulNumOutputSurfaces;
  d->width = ci->ulWidth; d->height = ci->ulHeight;
  d->target_w = ci->ulTargetWidth ? ci->ulTargetWidth : ci->ulWidth;
  d->target_h = ci->ulTargetHeight ? ci->ulTargetHeight : ci->ulHeight;
  d->max_w = ci->ulMaxWidth > d->width ? ci->ulMaxWidth : d->width;
  d->max_h = ci->ulMaxHeight > d->height ? ci->ulMaxHeight : d->height;
  d->bytes = ci->OutputFormat == cudaVideoSurfaceFormat_P016 || ci->OutputFormat == cudaVideoSurfaceFormat_YUV444_16Bit ? 2 : 1;
  d->lock = (struct lock*)ci->vidLock;
  layout(d);
  *out = d;
  return OK;
}
static int mapped_count(struct decoder* d) {
  int n = 0; for (int i = 0; i < MAX_OUT; ++i) n += d->mapped[i] != 0; return n;
}
CUresult cuvidDestroyDecoder(CUvideodecoder h) {
  C(cuvidDestroyDecoder);
  struct decoder* d = dec_of("cuvidDestroyDecoder", h);
  if (!d) return ERR_INVALID_HANDLE;
  if (mapped_count(d)) misuse("cuvidDestroyDecoder", "a frame of the decoder is still mapped");
  d->magic = 0;
  free(d);
  return OK;
}
CUresult cuvidReconfigureDecoder(CUvideodecoder h, CUVIDRECONFIGUREDECODERINFO* r) {
  C(cuvidReconfigureDecoder);
  struct decoder* d = dec_of("cuvidReconfigureDecoder", h);
  if (!d) return ERR_INVALID_HANDLE;
  if (!r) return ERR_INVALID_VALUE;
  if (mapped_count(d)) { misuse("cuvidReconfigureDecoder", "a frame is mapped"); return ERR_INVALID_VALUE; }
  if (r->ulWidth > d->max_w || r->ulHeight > d->max_h) {
    misuse("cuvidReconfigureDecoder", "size above ulMaxWidth x ulMaxHeight"); return ERR_INVALID_VALUE; }
  if (r->ulNumDecodeSurfaces > d->surfaces) {
    misuse("cuvidReconfigureDecoder", "more decode surfaces than at creation"); return ERR_INVALID_VALUE; }
  d->width = r->ulWidth; d->height = r->ulHeight;
  d->target_w = r->ulTargetWidth ? r->ulTargetWidth : r->ulWidth;
  d->target_h = r->ulTargetHeight ? r->ulTargetHeight : r->ulHeight;
  if (r->ulNumDecodeSurfaces) d->surfaces = r->ulNumDecodeSurfaces;
  layout(d);
  return OK;
}
CUresult cuvidDecodePicture(CUvideodecoder h, CUVIDPICPARAMS* p) {
  C(cuvidDecodePicture);
  struct decoder* d = dec_of("cuvidDecodePicture", h);
  if (!d) return ERR_INVALID_HANDLE;
  if (!p) return ERR_INVALID_VALUE;
  if (p->CurrPicIdx < 0 || (unsigned)p->CurrPicIdx >= d->surfaces) {
    misuse("cuvidDecodePicture", "CurrPicIdx outside the decode surfaces"); return ERR_INVALID_VALUE; }
  for (int i = 0; i < MAX_OUT; ++i)
    if (d->mapped[i] && d->mapped_idx[i] == p->CurrPicIdx)
      misuse("cuvidDecodePicture", "decoding into a surface that is mapped");
  /* The real library copies the bitstream to the GPU: read it all. */
  unsigned char s = d->checksum;
  for (unsigned i = 0; i < p->nBitstreamDataLen; ++i) s ^= p->pBitstreamData[i];
  for (unsigned i = 0; i < p->nNumSlices; ++i) s ^= (unsigned char)p->pSliceDataOffsets[i];
  d->checksum = s;
  d->decoded++;
  return OK;
}
CUresult cuvidGetDecodeStatus(CUvideodecoder h, int idx, CUVIDGETDECODESTATUS* st) {
  C(cuvidGetDecodeStatus);
  struct decoder* d = dec_of("cuvidGetDecodeStatus", h);
  if (!d) return ERR_INVALID_HANDLE;
  if (!st) return ERR_INVALID_VALUE;
  if (idx < 0 || (unsigned)idx >= d->surfaces) {
    misuse("cuvidGetDecodeStatus", "index outside the decode surfaces"); return ERR_INVALID_VALUE; }
  memset(st, 0, sizeof *st);
  st->decodeStatus = cuvidDecodeStatus_Success;
  return OK;
}
CUresult cuvidMapVideoFrame64(CUvideodecoder h, int idx, unsigned long long* ptr, unsigned* pitch, CUVIDPROCPARAMS* vpp) {
  C(cuvidMapVideoFrame64);
  struct decoder* d = dec_of("cuvidMapVideoFrame64", h);
  if (!d) return ERR_INVALID_HANDLE;
  if (!ptr || !pitch || !vpp) return ERR_INVALID_VALUE;
  if (idx < 0 || (unsigned)idx >= d->surfaces) {
    misuse("cuvidMapVideoFrame64", "index outside the decode surfaces"); return ERR_INVALID_VALUE; }
  /* Read the parameters the real library reads. */
  volatile int sink = vpp->progressive_frame + vpp->second_field + vpp->top_field_first + vpp->unpaired_field;
  volatile CUstream st = vpp->output_stream; (void)sink; (void)st;
  if (mapped_count(d) >= (int)d->outputs) {
    misuse("cuvidMapVideoFrame64", "more frames mapped at once than ulNumOutputSurfaces"); return ERR_MAP_FAILED; }
  for (int i = 0; i < MAX_OUT; ++i)
    if (!d->mapped[i]) {
      d->mapped[i] = d->base + i * d->slot_size;
      d->mapped_idx[i] = idx;
      *ptr = d->mapped[i]; *pitch = d->pitch;
      return OK;
    }
  return ERR_MAP_FAILED;
}
CUresult cuvidUnmapVideoFrame64(CUvideodecoder h, unsigned long long ptr) {
  C(cuvidUnmapVideoFrame64);
  struct decoder* d = dec_of("cuvidUnmapVideoFrame64", h);
  if (!d) return ERR_INVALID_HANDLE;
  for (int i = 0; i < MAX_OUT; ++i)
    if (ptr && d->mapped[i] == ptr) { d->mapped[i] = 0; return OK; }
  misuse("cuvidUnmapVideoFrame64", "pointer is not mapped from this decoder");
  return ERR_NOT_MAPPED;
}

/* ---------------------------------------------------------------- sequence headers */
struct bits { const unsigned char* p; size_t n, pos; int bad; };
static unsigned u(struct bits* b, int k) {
  unsigned v = 0;
  while (k--) {
    if (b->pos >= b->n * 8) { b->bad = 1; return v << (k + 1); }
    v = (v << 1) | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1); b->pos++;
  }
  return v;
}
static unsigned ue(struct bits* b) {
  int z = 0;
  while (!u(b, 1)) { if (b->bad || ++z > 31) { b->bad = 1; return 0; } }
  return z ? ((1u << z) - 1 + u(b, z)) : 0;
}
static int se(struct bits* b) { unsigned k = ue(b); return k & 1 ? (int)((k + 1) / 2) : -(int)(k / 2); }
struct seq { unsigned cw, ch, left, top, right, bottom, depth; };
/* Unescapes (drops emulation-prevention bytes) at most cap bytes of a NAL. */
static size_t unescape(const unsigned char* s, size_t n, unsigned char* o, size_t cap) {
  size_t k = 0, zeros = 0;
  for (size_t i = 0; i < n && k < cap; ++i) {
    if (zeros >= 2 && s[i] == 3) { zeros = 0; continue; }
    zeros = s[i] == 0 ? zeros + 1 : 0;
    o[k++] = s[i];
  }
  return k;
}
static void skip_scaling_list(struct bits* b, int size) {
  int last = 8, next = 8;
  for (int j = 0; j < size; ++j) {
    if (next) next = (last + se(b) + 256) % 256;
    last = next ? next : last;
  }
}
static int h264_sps(const unsigned char* rbsp, size_t n, struct seq* q) {
  struct bits b = { rbsp, n, 8, 0 }; /* after the NAL header byte */
  unsigned profile = u(&b, 8); u(&b, 16); ue(&b);
  unsigned chroma = 1, depth = 8;
  if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 || profile == 83 ||
      profile == 86 || profile == 118 || profile == 128 || profile == 138 || profile == 139 || profile == 134 || profile == 135) {
    chroma = ue(&b); if (chroma == 3) u(&b, 1);
    depth = 8 + ue(&b); ue(&b); u(&b, 1);
    if (u(&b, 1)) for (int i = 0; i < (chroma != 3 ? 8 : 12); ++i) if (u(&b, 1)) skip_scaling_list(&b, i < 6 ? 16 : 64);
  }
  ue(&b);
  unsigned poc = ue(&b);
  if (poc == 0) ue(&b);
  else if (poc == 1) { u(&b, 1); se(&b); se(&b); unsigned k = ue(&b); for (unsigned i = 0; i < k && !b.bad; ++i) se(&b); }
  ue(&b); u(&b, 1);
  unsigned wmb = ue(&b) + 1, hmu = ue(&b) + 1, fmo = u(&b, 1);
  if (!fmo) u(&b, 1);
  u(&b, 1);
  unsigned l = 0, r = 0, t = 0, bo = 0;
  if (u(&b, 1)) { l = ue(&b); r = ue(&b); t = ue(&b); bo = ue(&b); }
  if (b.bad || chroma != 1) return 0;
  q->cw = wmb * 16; q->ch = (2 - fmo) * hmu * 16;
  unsigned cx = 2, cy = 2 * (2 - fmo);
  if ((l + r) * cx >= q->cw || (t + bo) * cy >= q->ch) return 0;
  q->left = l * cx; q->right = q->cw - r * cx; q->top = t * cy; q->bottom = q->ch - bo * cy;
  q->depth = depth;
  return 1;
}
static int hevc_sps(const unsigned char* rbsp, size_t n, struct seq* q) {
  struct bits b = { rbsp, n, 16, 0 }; /* after the 2-byte NAL header */
  u(&b, 4); unsigned msl = u(&b, 3); u(&b, 1);
  u(&b, 32); u(&b, 32); u(&b, 24); u(&b, 8); /* general profile (88 bits) and level */
  unsigned pp[8] = {0}, lp[8] = {0};
  for (unsigned i = 0; i < msl; ++i) { pp[i] = u(&b, 1); lp[i] = u(&b, 1); }
  if (msl > 0) for (unsigned i = msl; i < 8; ++i) u(&b, 2);
  for (unsigned i = 0; i < msl; ++i) { if (pp[i]) { u(&b, 32); u(&b, 32); u(&b, 24); } if (lp[i]) u(&b, 8); }
  ue(&b);
  unsigned chroma = ue(&b); if (chroma == 3) u(&b, 1);
  unsigned w = ue(&b), h = ue(&b);
  unsigned l = 0, r = 0, t = 0, bo = 0;
  if (u(&b, 1)) { l = ue(&b); r = ue(&b); t = ue(&b); bo = ue(&b); }
  unsigned depth = 8 + ue(&b);
  if (b.bad || chroma != 1 || w < 16 || h < 16 || (l + r) * 2 >= w || (t + bo) * 2 >= h) return 0;
  q->cw = w; q->ch = h;
  q->left = l * 2; q->right = w - r * 2; q->top = t * 2; q->bottom = h - bo * 2;
  q->depth = depth;
  return 1;
}
/* The first SPS in the packet, read into q; 0 when none (or none it can read). */
static int find_sps(cudaVideoCodec codec, const unsigned char* p, size_t n, struct seq* q) {
  if (codec != cudaVideoCodec_H264 && codec != cudaVideoCodec_HEVC) return 0;
  for (size_t i = 0; i + 3 < n; ++i) {
    if (p[i] || p[i + 1] || p[i + 2] != 1) continue;
    const unsigned char* nal = p + i + 3;
    size_t left = n - i - 3, end = 0;
    int type = codec == cudaVideoCodec_H264 ? (nal[0] & 0x1f) : ((nal[0] >> 1) & 0x3f);
    /* Parameter sets precede the picture's slices: stop at the first slice, so that the
       stand-in's own cost per packet stays small beside nvdx's (it is profiled with it). */
    if (codec == cudaVideoCodec_H264 ? (type >= 1 && type <= 5) : type <= 31) return 0;
    int sps = codec == cudaVideoCodec_H264 ? type == 7 : type == 33;
    if (sps) {
      while (end + 2 < left && !(nal[end] == 0 && nal[end + 1] == 0 && nal[end + 2] <= 1)) end++;
      if (end + 2 >= left) end = left;
      unsigned char buf[512];
      size_t k = unescape(nal, end, buf, sizeof buf);
      return codec == cudaVideoCodec_H264 ? h264_sps(buf, k, q) : hevc_sps(buf, k, q);
    }
    i += 2;
  }
  return 0;
}

/* ---------------------------------------------------------------- parser */
#define PARSER_MAGIC 0x50415253u
#define MAX_DELAY 4
struct parser {
  unsigned magic;
  CUVIDPARSERPARAMS params;
  int have_seq;
  struct seq seq;
  unsigned surfaces, next_idx;
  int intra_next;
  struct { int idx; long long ts; } disp[MAX_DELAY];
  unsigned ndisp, delay;
  unsigned char* bits; size_t bits_cap; /* the picture's bitstream, the parser's own copy */
  unsigned slice_offset[1];
  CUVIDPICPARAMS pic;
  CUVIDEOFORMAT fmt;
  CUVIDPARSERDISPINFO info;
};
CUresult cuvidCreateVideoParser(CUvideoparser* out, CUVIDPARSERPARAMS* p) {
  C(cuvidCreateVideoParser);
  if (!out || !p) return ERR_INVALID_VALUE;
  if (!p->pfnSequenceCallback || !p->pfnDecodePicture) {
    misuse("cuvidCreateVideoParser", "no sequence or decode callback"); return ERR_INVALID_VALUE; }
  struct parser* q = calloc(1, sizeof *q);
  q->magic = PARSER_MAGIC;
  q->params = *p;
  q->delay = p->ulMaxDisplayDelay > MAX_DELAY ? MAX_DELAY : p->ulMaxDisplayDelay;
  q->intra_next = 1;
  *out = q;
  return OK;
}
static struct parser* parser_of(const char* fn, CUvideoparser h) {
  struct parser* q = (struct parser*)h;
  if (!q || q->magic != PARSER_MAGIC) { misuse(fn, "not a live parser"); return NULL; }
  return q;
}
CUresult cuvidDestroyVideoParser(CUvideoparser h) {
  C(cuvidDestroyVideoParser);
  struct parser* q = parser_of("cuvidDestroyVideoParser", h);
  if (!q) return ERR_INVALID_HANDLE;
  q->magic = 0;
  free(q->bits);
  free(q);
  return OK;
}
/* Hands the oldest queued picture to the display callback; 0 when it said stop. */
static int display_one(struct parser* q) {
  if (!q->ndisp) return 1;
  memset(&q->info, 0, sizeof q->info);
  q->info.picture_index = q->disp[0].idx;
  q->info.timestamp = q->disp[0].ts;
  q->info.progressive_frame = 1;
  q->info.top_field_first = 0;
  q->info.repeat_first_field = 0;
  memmove(q->disp, q->disp + 1, (q->ndisp - 1) * sizeof q->disp[0]);
  q->ndisp--;
  if (!q->params.pfnDisplayPicture) return 1;
  C(display_callbacks);
  return q->params.pfnDisplayPicture(q->params.pUserData, &q->info) != 0;
}
static int sequence(struct parser* q, const struct seq* s) {
  memset(&q->fmt, 0, sizeof q->fmt);
  q->fmt.codec = q->params.CodecType;
  q->fmt.frame_rate.numerator = 25; q->fmt.frame_rate.denominator = 1;
  q->fmt.progressive_sequence = 1;
  q->fmt.bit_depth_luma_minus8 = q->fmt.bit_depth_chroma_minus8 = s->depth - 8;
  q->fmt.min_num_decode_surfaces = 8;
  q->fmt.coded_width = s->cw; q->fmt.coded_height = s->ch;
  q->fmt.display_area.left = 0; /* NVIDIA's parser leaves left/top at 0 (nvdx relies on it) */
  q->fmt.display_area.top = 0;
  q->fmt.display_area.right = s->right; q->fmt.display_area.bottom = s->bottom;
  q->fmt.chroma_format = cudaVideoChromaFormat_420;
  q->fmt.display_aspect_ratio.x = 16; q->fmt.display_aspect_ratio.y = 9;
  q->fmt.video_signal_description.video_format = 5;
  q->fmt.video_signal_description.color_primaries = 1;
  q->fmt.video_signal_description.transfer_characteristics = 1;
  q->fmt.video_signal_description.matrix_coefficients = 1;
  C(sequence_callbacks);
  if (getenv("NVDX_NVCUVID_STUB_TRACE"))
    fprintf(stderr, "[nvcuvid stub] sequence: codec %d, coded %ux%u, display (%u,%u)-(%u,%u), %u-bit\n",
            (int)q->fmt.codec, s->cw, s->ch, s->left, s->top, s->right, s->bottom, s->depth);
  int r = q->params.pfnSequenceCallback(q->params.pUserData, &q->fmt);
  if (!r) return 0;
  unsigned n = r > 1 ? (unsigned)r : q->params.ulMaxNumDecodeSurfaces;
  if (n < q->fmt.min_num_decode_surfaces) n = q->fmt.min_num_decode_surfaces;
  q->surfaces = n > MAX_SURF ? MAX_SURF : n;
  q->seq = *s; q->have_seq = 1;
  q->next_idx = 0; q->intra_next = 1;
  return 1;
}
CUresult cuvidParseVideoData(CUvideoparser h, CUVIDSOURCEDATAPACKET* pkt) {
  C(cuvidParseVideoData);
  struct parser* q = parser_of("cuvidParseVideoData", h);
  if (!q) return ERR_INVALID_HANDLE;
  if (!pkt) return ERR_INVALID_VALUE;
  if (pkt->flags & CUVID_PKT_DISCONTINUITY) q->intra_next = 1;
  if (pkt->payload_size && pkt->payload) {
    /* The real parser copies the packet into its own buffer: read it all. */
    if (q->bits_cap < pkt->payload_size) {
      free(q->bits); q->bits_cap = pkt->payload_size; q->bits = malloc(q->bits_cap); }
    memcpy(q->bits, pkt->payload, pkt->payload_size);
    struct seq s;
    int found = find_sps(q->params.CodecType, q->bits, pkt->payload_size, &s);
    if (!found && !q->have_seq) {
      s.cw = 1920; s.ch = 1088; s.left = 0; s.top = 0; s.right = 1920; s.bottom = 1080; s.depth = 8; found = 1; }
    if (found && (!q->have_seq || memcmp(&s, &q->seq, sizeof s))) {
      /* NVIDIA's parser displays what it holds before a new sequence. */
      while (q->ndisp) if (!display_one(q)) return OK;
      if (!sequence(q, &s)) return OK;
    }
    memset(&q->pic, 0, sizeof q->pic);
    q->pic.PicWidthInMbs = (q->seq.cw + 15) / 16;
    q->pic.FrameHeightInMbs = (q->seq.ch + 15) / 16;
    q->pic.CurrPicIdx = (int)q->next_idx;
    q->next_idx = (q->next_idx + 1) % q->surfaces;
    q->pic.ref_pic_flag = 1;
    q->pic.intra_pic_flag = q->intra_next;
    q->intra_next = 0;
    q->pic.nBitstreamDataLen = (unsigned)pkt->payload_size;
    q->pic.pBitstreamData = q->bits;
    q->pic.nNumSlices = 1;
    q->slice_offset[0] = 0;
    q->pic.pSliceDataOffsets = q->slice_offset;
    C(decode_callbacks);
    if (!q->params.pfnDecodePicture(q->params.pUserData, &q->pic)) return OK;
    q->disp[q->ndisp].idx = q->pic.CurrPicIdx;
    q->disp[q->ndisp].ts = pkt->flags & CUVID_PKT_TIMESTAMP ? pkt->timestamp : 0;
    q->ndisp++;
    while (q->ndisp > q->delay) if (!display_one(q)) return OK;
  }
  if (pkt->flags & CUVID_PKT_ENDOFSTREAM) {
    while (q->ndisp) if (!display_one(q)) return OK;
    if (q->params.pfnDisplayPicture) { C(display_callbacks); q->params.pfnDisplayPicture(q->params.pUserData, NULL); }
    q->intra_next = 1;
  }
  return OK;
}

/* ---------------------------------------------------------------- video source (unused by nvdx) */
CUresult cuvidCreateVideoSource(CUvideosource* o, const char* f, CUVIDSOURCEPARAMS* p) { C(cuvidCreateVideoSource); return ERR_NOT_SUPPORTED; }
CUresult cuvidCreateVideoSourceW(CUvideosource* o, const wchar_t* f, CUVIDSOURCEPARAMS* p) { C(cuvidCreateVideoSourceW); return ERR_NOT_SUPPORTED; }
CUresult cuvidDestroyVideoSource(CUvideosource o) { C(cuvidDestroyVideoSource); return ERR_NOT_SUPPORTED; }
CUresult cuvidSetVideoSourceState(CUvideosource o, cudaVideoState s) { C(cuvidSetVideoSourceState); return ERR_NOT_SUPPORTED; }
cudaVideoState cuvidGetVideoSourceState(CUvideosource o) { C(cuvidGetVideoSourceState); return cudaVideoState_Error; }
CUresult cuvidGetSourceVideoFormat(CUvideosource o, CUVIDEOFORMAT* f, unsigned flags) { C(cuvidGetSourceVideoFormat); return ERR_NOT_SUPPORTED; }
CUresult cuvidGetSourceAudioFormat(CUvideosource o, CUAUDIOFORMAT* f, unsigned flags) { C(cuvidGetSourceAudioFormat); return ERR_NOT_SUPPORTED; }
