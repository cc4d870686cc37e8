/* A CUDA driver stand-in for measuring nvdx's own host work (a test double: every figure it
   yields is labelled "[CUDA stub]"). Every call succeeds at once; handles are fake; device
   memory is a bump pointer nobody dereferences; host allocations are real. Counts calls per
   function and prints them at exit when NVDX_STUB_COUNTS is set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
typedef unsigned long long u64;
#define NAMES X(cuInit) X(cuDriverGetVersion) X(cuDeviceGetCount) X(cuDeviceGet) X(cuDeviceGetAttribute) X(cuDeviceGetName) \
 X(cuDeviceTotalMem_v2) X(cuDeviceGetUuid_v2) X(cuDeviceGetPCIBusId) X(cuDeviceCanAccessPeer) X(cuDeviceGetP2PAttribute) \
 X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease_v2) X(cuDevicePrimaryCtxGetState) X(cuDevicePrimaryCtxSetFlags_v2) \
 X(cuCtxPushCurrent_v2) X(cuCtxPopCurrent_v2) X(cuCtxSetCurrent) X(cuCtxGetCurrent) X(cuPointerGetAttribute) X(cuCtxGetFlags) X(cuCtxSynchronize) X(cuCtxEnablePeerAccess) \
 X(cuStreamCreate) X(cuStreamDestroy_v2) X(cuStreamQuery) X(cuStreamSynchronize) X(cuStreamWaitEvent) \
 X(cuEventCreate) X(cuEventDestroy_v2) X(cuEventRecord) X(cuEventQuery) X(cuEventSynchronize) X(cuEventElapsedTime) X(cuEventElapsedTime_v2) \
 X(cuMemAlloc_v2) X(cuMemAllocPitch_v2) X(cuMemAllocManaged) X(cuMemAllocFromPoolAsync) X(cuMemFree_v2) X(cuMemFreeAsync) \
 X(cuMemHostAlloc) X(cuMemFreeHost) X(cuMemHostGetDevicePointer_v2) X(cuMemGetInfo_v2) X(cuDeviceGetDefaultMemPool) X(cuMemPoolSetAccess) \
 X(cuMemPoolSetAttribute) X(cuMemPoolGetAttribute) X(cuMemPoolTrimTo) \
 X(cuMemcpy2DAsync_v2) X(cuMemcpy2D_v2) X(cuMemcpyAsync) X(cuMemsetD8Async) X(cuModuleLoadData) X(cuModuleUnload) X(cuModuleGetFunction) \
 X(cuLaunchKernel) X(cuGetErrorName) X(cuGetErrorString)
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
static u64 counts[N_FNS];
static u64 next_handle = 0x10000;
static u64 next_dev = 0x7f0000000000ull;
/* Handles and device addresses are unique across threads (atomic); the call counts are plain
   increments (exact single-threaded, approximate when threads race: only counts, never
   handles, can be lost). */
static void* handle(void) { return (void*)(uintptr_t)(__atomic_add_fetch(&next_handle, 64, __ATOMIC_RELAXED)); }
#define C(n) (counts[I_##n]++)
/* NVDX_STUB_TRACE=FILE: one line a stream/event call, in order, with its handles. */
static FILE* trace_file; static int trace_init;
static void tr(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void tr(const char* fmt, ...) {
  if (!trace_init) { trace_init = 1; const char* p = getenv("NVDX_STUB_TRACE"); if (p) trace_file = fopen(p, "w"); }
  if (!trace_file) return;
  va_list ap; va_start(ap, fmt); vfprintf(trace_file, fmt, ap); va_end(ap); fputc('\n', trace_file); fflush(trace_file);
}
__attribute__((destructor)) static void dump(void) {
  if (!getenv("NVDX_STUB_COUNTS")) return;
  FILE* f = fopen(getenv("NVDX_STUB_COUNTS"), "w"); if (!f) return;
  for (int i = 0; i < N_FNS; ++i) if (counts[i]) fprintf(f, "[CUDA stub] %s %llu\n", names[i], counts[i]);
  fclose(f);
}
int cuInit(unsigned f) { C(cuInit); return 0; }
int cuDriverGetVersion(int* v) { C(cuDriverGetVersion); *v = 13000; return 0; }
int cuDeviceGetCount(int* n) { C(cuDeviceGetCount); *n = 1; return 0; }
int cuDeviceGet(int* d, int o) { C(cuDeviceGet); *d = o; return 0; }
int cuDeviceGetAttribute(int* v, int attr, int dev) { C(cuDeviceGetAttribute);
  *v = attr == 16 ? 132 : attr == 75 ? 9 : attr == 76 ? 0 : attr == 14 ? 512 : 1; return 0; }
int cuDeviceGetName(char* s, int len, int dev) { C(cuDeviceGetName); snprintf(s, len, "CUDA stub"); return 0; }
int cuDeviceTotalMem_v2(size_t* b, int d) { C(cuDeviceTotalMem_v2); *b = 140ull << 30; return 0; }
int cuDeviceGetUuid_v2(unsigned char* u, int d) { C(cuDeviceGetUuid_v2); memset(u, 0, 16); return 0; }
int cuDeviceGetPCIBusId(char* s, int len, int d) { C(cuDeviceGetPCIBusId); snprintf(s, len, "0000:00:00.0"); return 0; }
int cuDeviceCanAccessPeer(int* c, int a, int b) { C(cuDeviceCanAccessPeer); *c = 0; return 0; }
int cuDeviceGetP2PAttribute(int* v, int a, int s, int d) { C(cuDeviceGetP2PAttribute); *v = 0; return 0; }
static void* primary;
int cuDevicePrimaryCtxRetain(void** c, int d) { C(cuDevicePrimaryCtxRetain); if (!primary) primary = handle(); *c = primary; return 0; }
int cuDevicePrimaryCtxRelease_v2(int d) { C(cuDevicePrimaryCtxRelease_v2); return 0; }
int cuDevicePrimaryCtxGetState(int d, unsigned* f, int* a) { C(cuDevicePrimaryCtxGetState); *f = 0; *a = 1; return 0; }
int cuDevicePrimaryCtxSetFlags_v2(int d, unsigned f) { C(cuDevicePrimaryCtxSetFlags_v2); return 0; }
int cuCtxPushCurrent_v2(void* c) { C(cuCtxPushCurrent_v2); tr("push"); return 0; }
int cuCtxPopCurrent_v2(void** c) { C(cuCtxPopCurrent_v2); tr("pop"); if (c) *c = primary; return 0; }
int cuCtxGetFlags(unsigned* f) { C(cuCtxGetFlags); *f = 0; return 0; }
int cuCtxSynchronize(void) { C(cuCtxSynchronize); return 0; }
int cuCtxEnablePeerAccess(void* c, unsigned f) { C(cuCtxEnablePeerAccess); return 0; }
int cuStreamCreate(void** s, unsigned f) { C(cuStreamCreate); *s = handle(); return 0; }
int cuStreamDestroy_v2(void* s) { C(cuStreamDestroy_v2); return 0; }
int cuStreamQuery(void* s) { C(cuStreamQuery); return 0; }
int cuStreamSynchronize(void* s) { C(cuStreamSynchronize); tr("streamsync stream=%p", s); return 0; }
int cuStreamWaitEvent(void* s, void* e, unsigned f) { C(cuStreamWaitEvent); tr("wait stream=%p event=%p", s, e); return 0; }
int cuEventCreate(void** e, unsigned f) { C(cuEventCreate); *e = handle(); return 0; }
int cuEventDestroy_v2(void* e) { C(cuEventDestroy_v2); return 0; }
int cuEventRecord(void* e, void* s) { C(cuEventRecord); tr("record event=%p stream=%p", e, s); return 0; }
int cuEventQuery(void* e) { C(cuEventQuery); tr("query event=%p", e); return 0; }
int cuEventSynchronize(void* e) { C(cuEventSynchronize); tr("eventsync event=%p", e); return 0; }
int cuEventElapsedTime(float* ms, void* a, void* b) { C(cuEventElapsedTime); *ms = 0.001f; return 0; }
static u64 bump(size_t n) { return __atomic_fetch_add(&next_dev, (n + 0xfffff) & ~0xfffffull, __ATOMIC_RELAXED); }
int cuMemAlloc_v2(u64* p, size_t n) { C(cuMemAlloc_v2); *p = bump(n); return 0; }
int cuMemAllocPitch_v2(u64* p, size_t* pitch, size_t w, size_t h, unsigned e) { C(cuMemAllocPitch_v2); *pitch = (w + 511) & ~511ull; *p = bump(*pitch * h); return 0; }
int cuMemAllocManaged(u64* p, size_t n, unsigned f) { C(cuMemAllocManaged); void* m = aligned_alloc(4096, (n + 4095) & ~4095ull); *p = (u64)(uintptr_t)m; return m ? 0 : 2; }
int cuMemAllocFromPoolAsync(u64* p, size_t n, void* pool, void* s) { C(cuMemAllocFromPoolAsync); *p = bump(n); return 0; }
int cuMemFree_v2(u64 p) { C(cuMemFree_v2); return 0; }
int cuMemFreeAsync(u64 p, void* s) { C(cuMemFreeAsync); tr("freeasync stream=%p", s); return 0; }
int cuMemHostAlloc(void** p, size_t n, unsigned f) { C(cuMemHostAlloc); *p = aligned_alloc(4096, (n + 4095) & ~4095ull); return *p ? 0 : 2; }
int cuMemFreeHost(void* p) { C(cuMemFreeHost); free(p); return 0; }
int cuMemHostGetDevicePointer_v2(u64* d, void* p, unsigned f) { C(cuMemHostGetDevicePointer_v2); *d = (u64)(uintptr_t)p; return 0; }
int cuMemGetInfo_v2(size_t* fr, size_t* t) { C(cuMemGetInfo_v2); *fr = 100ull << 30; *t = 140ull << 30; return 0; }
int cuDeviceGetDefaultMemPool(void** p, int d) { C(cuDeviceGetDefaultMemPool); *p = handle(); return 0; }
int cuMemPoolSetAccess(void* p, const void* d, size_t n) { C(cuMemPoolSetAccess); return 0; }
int cuMemPoolSetAttribute(void* p, int a, void* v) { C(cuMemPoolSetAttribute); return 0; }
/* Every attribute reads as 0 (the stand-in reserves nothing). */
int cuMemPoolGetAttribute(void* p, int a, void* v) { C(cuMemPoolGetAttribute); *(u64*)v = 0; return 0; }
int cuMemPoolTrimTo(void* p, size_t keep) { C(cuMemPoolTrimTo); return 0; }
int cuMemcpy2DAsync_v2(const void* c, void* s) { C(cuMemcpy2DAsync_v2); tr("copy2d stream=%p", s); return 0; }
int cuMemcpy2D_v2(const void* c) { C(cuMemcpy2D_v2); return 0; }
int cuMemcpyAsync(u64 d, u64 s, size_t n, void* st) { C(cuMemcpyAsync); return 0; }
int cuMemsetD8Async(u64 d, unsigned char v, size_t n, void* s) { C(cuMemsetD8Async); return 0; }
int cuModuleLoadData(void** m, const void* img) { C(cuModuleLoadData); *m = handle(); return 0; }
int cuModuleUnload(void* m) { C(cuModuleUnload); return 0; }
int cuModuleGetFunction(void** f, void* m, const char* n) { C(cuModuleGetFunction); *f = handle(); return 0; }
int cuLaunchKernel(void* f, unsigned a, unsigned b, unsigned c, unsigned d, unsigned e, unsigned g, unsigned sh, void* s, void** p, void** x) { C(cuLaunchKernel); tr("launch stream=%p", s); return 0; }
int cuGetErrorName(int e, const char** s) { C(cuGetErrorName); *s = "CUDA_STUB_ERROR"; return 0; }
int cuGetErrorString(int e, const char** s) { C(cuGetErrorString); *s = "[CUDA stub] error"; return 0; }
int cuCtxSetCurrent(void* c) { C(cuCtxSetCurrent); tr("setcurrent %p", c); return 0; }
int cuCtxGetCurrent(void** c) { C(cuCtxGetCurrent); *c = primary; return 0; }
int cuPointerGetAttribute(void* d, int a, u64 p) { C(cuPointerGetAttribute); memset(d, 0, 8); return 0; }
int cuEventElapsedTime_v2(float* ms, void* a, void* b) { C(cuEventElapsedTime_v2); *ms = 0.001f; return 0; }
