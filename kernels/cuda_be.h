/* cuda_be.h — inside the cuda backend (kernels/, the .cu files): its state, checked CUDA/cuBLAS calls
 * that name the call, the operation and the device, device memory and workspace, the launch
 * of a per-thread body over a grid, and strided batched GEMMs.
 *
 * The same sources build twice: by nvcc into the real backend (sbs_cuda_backend_create), and,
 * with SBS_CUDA_EMU defined, by the host C++ compiler into an emulation (tests/cuda/) whose
 * "device memory" is host memory, whose launches run every thread of the grid in a loop and
 * whose GEMMs are plain loops. Everything above these primitives (which kernels, which
 * arguments, which GEMM shapes) is shared, so the emulation test checks it too. */
#ifndef SBS_CUDA_BE_H
#define SBS_CUDA_BE_H

#ifdef SBS_CUDA_EMU
#define SBSK_NS sbsk_emu
#endif
#include "sbs_kernels.cuh"

extern "C" {
#include "sbs/backend.h"
}

#include <stdio.h>
#include <stdlib.h>

#ifndef SBS_CUDA_EMU
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#ifndef SBS_CUDA_EMU
/* cuBLAS, loaded when the backend starts (dlopen, backend.cu): linked at load time it would
 * cost every program start about 0.35 s (its 500 MB of libraries), also runs on the CPU */
struct blas_fns {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetMathMode) set_math_mode;
    decltype(&cublasSgemmStridedBatched) sgemm_sb;
    decltype(&cublasGetStatusName) status_name;
};
#endif

#ifdef SBS_CUDA_EMU
#define SBS_CUDA_NAME "cuda-emu"
#else
#define SBS_CUDA_NAME "cuda"
#endif

namespace SBSK_NS
{

/* per-step coefficient tables on the device, one per (eps table, fo, N) seen */
struct coef_entry {
    float *eps; /* host copy of the table it was made from */
    int T, N;
    float fo;
    float *dev; /* 3 T floats */
};

#define SBS_CUDA_COEF_CACHE 32

struct cuda_be {
    int device;
    char desc[256];
    char op[160]; /* what runs now, for error messages */
    bool sync;    /* SBS_CUDA_SYNC=1: wait after every launch (exact error places) */
#ifndef SBS_CUDA_EMU
    const blas_fns *bl;
    cublasHandle_t blas;
#endif
    unsigned char *ws; /* the workspace (grows, never shrinks) */
    size_t ws_cap;
    coef_entry coef[SBS_CUDA_COEF_CACHE];
    int n_coef;
    uint8_t *lab; /* device copies of a chunk's labels */
    double *loss; /* per-image losses */
    size_t lab_cap;
    unsigned *red;           /* absmax result */
    unsigned long long *idx; /* find_nonfinite result */
};

static inline cuda_be *cb_of(sbs_backend *be)
{
    return (cuda_be *)be->impl;
}

/* the operation of layer L that runs now ("layer 2 (SbS) forward") */
static inline void cb_layer_op(cuda_be *c, const sbs_layer *L, const char *what)
{
    snprintf(c->op, sizeof c->op, "layer %d (%s) %s", L->index, L->cfg ? L->cfg->type : "?", what);
}

static inline void cb_op(cuda_be *c, const char *what)
{
    snprintf(c->op, sizeof c->op, "%s", what);
}

/* A failed CUDA or cuBLAS call ends the program with one line (exit 3 when the device ran
 * out of memory, 1 otherwise): there is no way to carry on with the device in an unknown
 * state. */
[[noreturn]] static inline void cb_die(cuda_be *c, const char *call, const char *err, bool oom)
{
    fprintf(stderr, "sbs: " SBS_CUDA_NAME " device %d: %s: %s failed: %s\n", c->device, c->op, call,
            err);
    exit(oom ? SBS_EXIT_NOMEM : SBS_EXIT_FAILURE);
}

#ifndef SBS_CUDA_EMU
static inline void cb_check(cuda_be *c, cudaError_t err, const char *call)
{
    if (err == cudaSuccess) return;
    char msg[256];
    snprintf(msg, sizeof msg, "%s (%s)", cudaGetErrorName(err), cudaGetErrorString(err));
    cb_die(c, call, msg, err == cudaErrorMemoryAllocation);
}

static inline void cb_blas(cuda_be *c, cublasStatus_t st, const char *call)
{
    if (st == CUBLAS_STATUS_SUCCESS) return;
    cb_die(c, call, c->bl->status_name(st), st == CUBLAS_STATUS_ALLOC_FAILED);
}

#define CB_CHECK(c, call) cb_check((c), (call), #call)

/* after a kernel launch: launch errors now; with SBS_CUDA_SYNC also the kernel's own */
static inline void cb_launched(cuda_be *c, const char *kernel)
{
    cb_check(c, cudaGetLastError(), kernel);
    if (c->sync) cb_check(c, cudaDeviceSynchronize(), kernel);
}
#endif

/* ---- device memory ---- */

/* zeroed device memory, or NULL when there is none (the error is cleared) */
static inline void *cb_alloc(cuda_be *c, size_t bytes)
{
    size_t n = (bytes + 255) & ~(size_t)255;
    if (!n) n = 256;
#ifdef SBS_CUDA_EMU
    (void)c;
    void *p = NULL;
    if (posix_memalign(&p, 256, n) != 0) return NULL;
    memset(p, 0, n);
    return p;
#else
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, n);
    if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return NULL;
    }
    cb_check(c, err, "cudaMalloc");
    cb_check(c, cudaMemset(p, 0, n), "cudaMemset");
    return p;
#endif
}

static inline void cb_free(cuda_be *c, void *p)
{
    if (!p) return;
#ifdef SBS_CUDA_EMU
    (void)c;
    free(p);
#else
    cb_check(c, cudaFree(p), "cudaFree");
#endif
}

static inline void cb_memset(cuda_be *c, void *p, int v, size_t bytes)
{
    if (!bytes) return;
#ifdef SBS_CUDA_EMU
    (void)c;
    memset(p, v, bytes);
#else
    cb_check(c, cudaMemset(p, v, bytes), "cudaMemset");
#endif
}

static inline void cb_h2d(cuda_be *c, void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return;
#ifdef SBS_CUDA_EMU
    (void)c;
    memcpy(dst, src, bytes);
#else
    cb_check(c, cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (to the device)");
#endif
}

static inline void cb_d2h(cuda_be *c, void *dst, const void *src, size_t bytes)
{
    if (!bytes || dst == src) return;
#ifdef SBS_CUDA_EMU
    (void)c;
    memcpy(dst, src, bytes);
#else
    cb_check(c, cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy (to the host)");
#endif
}

/* The workspace, at least `bytes` of it (contents undefined). Running out here ends the run
 * with exit 3 and the size asked for. */
static inline void *cb_ws(cuda_be *c, size_t bytes)
{
    if (bytes <= c->ws_cap) return c->ws;
    cb_free(c, c->ws);
    c->ws = NULL;
    c->ws_cap = 0;
    c->ws = (unsigned char *)cb_alloc(c, bytes);
    if (!c->ws) {
        char msg[128];
        snprintf(msg, sizeof msg, "out of device memory for %.1f MiB of workspace",
                 bytes / 1048576.0);
        cb_die(c, "cudaMalloc", msg, true);
    }
    c->ws_cap = bytes;
    return c->ws;
}

/* carve n items of T from a workspace cursor, 256-byte aligned */
template <class T> static inline T *cb_carve(unsigned char **cur, size_t n)
{
    T *p = (T *)*cur;
    *cur += (n * sizeof(T) + 255) & ~(size_t)255;
    return p;
}
static inline size_t cb_bytes(size_t n, size_t size)
{
    return (n * size + 255) & ~(size_t)255;
}

/* ---- launches ---- */

#ifndef SBS_CUDA_EMU
template <class F> __global__ void __launch_bounds__(256) k_each(F f, long n)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) f(i);
}
#endif

/* f(i) for every i < n: one device thread each (the emulation: a loop) */
template <class F> static inline void cb_launch(cuda_be *c, const char *kernel, long n, const F &f)
{
    if (n <= 0) return;
#ifdef SBS_CUDA_EMU
    (void)c;
    (void)kernel;
    for (long i = 0; i < n; i++) f(i);
#else
    k_each<<<(unsigned)((n + 255) / 256), 256>>>(f, n);
    cb_launched(c, kernel);
#endif
}

/* C_b = alpha op(A_b) op(B_b) + beta C_b for b < batch, column-major as cuBLAS (strides in
 * floats; stride 0 shares a matrix) */
static inline void cb_gemm(cuda_be *c, bool ta, bool tb, int m, int n, int k, float alpha,
                           const float *A, int lda, long sA, const float *B, int ldb, long sB,
                           float beta, float *C, int ldc, long sC, int batch)
{
#ifdef SBS_CUDA_EMU
    (void)c;
    for (int b = 0; b < batch; b++) {
        const float *Ab = A + (size_t)b * sA, *Bb = B + (size_t)b * sB;
        float *Cb = C + (size_t)b * sC;
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                float s = 0.0f;
                for (int l = 0; l < k; l++)
                    s += (ta ? Ab[l + (size_t)i * lda] : Ab[i + (size_t)l * lda]) *
                         (tb ? Bb[j + (size_t)l * ldb] : Bb[l + (size_t)j * ldb]);
                float *o = &Cb[i + (size_t)j * ldc];
                *o = alpha * s + (beta != 0.0f ? beta * *o : 0.0f);
            }
    }
#else
    cb_blas(c,
            c->bl->sgemm_sb(c->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                            m, n, k, &alpha, A, lda, sA, B, ldb, sB, &beta, C, ldc, sC, batch),
            "cublasSgemmStridedBatched");
    if (c->sync) CB_CHECK(c, cudaDeviceSynchronize());
#endif
}

/* acc += parts[0] + ... + parts[B-1] (n floats each), in image order */
static inline void cb_ordered_sum(cuda_be *c, float *acc, const float *parts, size_t n, int B)
{
    cb_launch(c, "k_ordered_sum", (long)n, k_ordered_sum{acc, parts, (long)n, B});
}

/* ---- the layer kernels (k_sbs.cu, k_classic.cu) ---- */

extern const sbs_layer_kernels cuda_k_sbs, cuda_k_conv2d, cuda_k_pool, cuda_k_relu;
/* workspace bytes of one layer's forward and backward for B images */
size_t cuda_sbs_ws(const sbs_layer *L, int B, bool training);
size_t cuda_classic_ws(const sbs_layer *L, int B, bool training);
/* free the cached per-step coefficient tables (k_sbs.cu) */
void cuda_coef_free(cuda_be *c);

} /* namespace SBSK_NS */

#endif
