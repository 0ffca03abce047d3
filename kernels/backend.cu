/* backend.cu — the cuda backend's table (include/sbs/backend.h): device memory, the kernel
 * tables of the layer kinds it runs on the device (SbS, SbS POOLING, CONV2D, RELU, MAX and
 * AVERAGE POOLING; any other kind gets NULL, so a bound net refuses it before any work), and
 * the training operations (losses, gradient-scale measure and apply, ordered adds, Adam /
 * SGD with weight care, the finite-value check), each with the CPU backend's arithmetic
 * (cpu.c).
 *
 * The device is chosen once (--device); no device or no driver fails the creation with one
 * line (exit 2). An allocation that finds no device memory returns NULL (the bound net then
 * reports exit 3 before any work); any other failed CUDA or cuBLAS call ends the run naming
 * the call, the operation and the device. */
#include "cuda_be.h"

#ifndef SBS_CUDA_EMU
#include <dlfcn.h>
#endif

namespace SBSK_NS {

/* ---- memory ---- */

static void *be_alloc(sbs_backend *be, size_t bytes)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "alloc");
    return cb_alloc(c, bytes);
}

static void be_free(sbs_backend *be, void *p)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "free");
    cb_free(c, p);
}

static void be_upload(sbs_backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "upload");
    cb_h2d(c, dst, src, bytes);
}

static void be_download(sbs_backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "download");
    cb_d2h(c, dst, src, bytes);
}

static void be_zero(sbs_backend *be, void *p, size_t bytes)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "zero");
    cb_memset(c, p, 0, bytes);
}

/* the largest layer workspace, plus the per-image loss buffers */
static size_t be_workspace(sbs_backend *be, const sbs_net *net, int B, bool training)
{
    (void)be;
    size_t ws = 0;
    for (int l = 0; l < net->n; l++) {
        const sbs_layer *L = &net->L[l];
        size_t s = 0;
        if (L->kind == SBS_L_SBS || L->kind == SBS_L_SBS_POOLING) s = cuda_sbs_ws(L, B, training);
        else s = cuda_classic_ws(L, B, training);
        if (s > ws) ws = s;
    }
    return ws + (size_t)B * (sizeof(double) + 1) + 512;
}

static const sbs_layer_kernels *be_kernels(sbs_backend *be, sbs_layer_kind k)
{
    (void)be;
    switch (k) {
    case SBS_L_SBS:
    case SBS_L_SBS_POOLING:
        return &cuda_k_sbs;
    case SBS_L_CONV2D:
        return &cuda_k_conv2d;
    case SBS_L_RELU:
        return &cuda_k_relu;
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING:
        return &cuda_k_pool;
    default:
        return NULL;
    }
}

/* ---- training operations ---- */

/* room for B labels and B per-image losses on the device */
static void small_bufs(cuda_be *c, int B)
{
    if ((size_t)B <= c->lab_cap) return;
    cb_free(c, c->lab);
    cb_free(c, c->loss);
    c->lab = (uint8_t *)cb_alloc(c, (size_t)B);
    c->loss = (double *)cb_alloc(c, (size_t)B * sizeof(double));
    if (!c->lab || !c->loss) cb_die(c, "cudaMalloc", "out of device memory for the labels", true);
    c->lab_cap = (size_t)B;
}

static double be_loss(sbs_backend *be, const sbs_loss_args *a)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "loss");
    small_bufs(c, a->B);
    cb_h2d(c, c->lab, a->labels, (size_t)a->B);
    cb_launch(c, "k_loss", a->B,
              k_loss{a->mode, a->c_mse, a->c_kl, a->out, c->lab, a->B, a->n_out, a->gout, c->loss});
    double *per = (double *)malloc((size_t)a->B * sizeof(double));
    if (!per) cb_die(c, "malloc", "out of host memory", true);
    cb_d2h(c, per, c->loss, (size_t)a->B * sizeof(double));
    double total = 0;
    for (int b = 0; b < a->B; b++) total += per[b];
    free(per);
    return a->mode == 1 ? total / a->B : total;
}

#define ABSMAX_THREADS (1L << 16)

static float be_absmax(sbs_backend *be, const float *v, size_t n)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "absmax (gradient scale)");
    if (!n) return 0.0f;
    long th = (long)n < ABSMAX_THREADS ? (long)n : ABSMAX_THREADS;
    cb_memset(c, c->red, 0, sizeof *c->red);
    cb_launch(c, "k_absmax", th, k_absmax{v, (long)n, th, c->red});
    unsigned bits;
    cb_d2h(c, &bits, c->red, sizeof bits);
    float m;
    memcpy(&m, &bits, sizeof m);
    return m;
}

static void be_scale(sbs_backend *be, float *v, size_t n, float mul)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "scale (gradient scale)");
    cb_launch(c, "k_scale", (long)n, k_scale{v, mul});
}

static void be_add(sbs_backend *be, float *acc, const float *v, size_t n)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "add (gradient sums)");
    cb_launch(c, "k_add", (long)n, k_add{acc, v});
}

static void be_update(sbs_backend *be, const sbs_update_args *a)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "update");
    cb_launch(c, "k_update", (long)a->n,
              k_update{a->w, a->g, a->m, a->v, a->adam, a->multiplicative, a->grad_mul, a->lr,
                       a->lr_t, a->c2});
    if (!a->care) return;
    const long KL = (long)a->K * a->ldw;
    cb_launch(c, "k_care_elem", KL, k_care_elem{a->w, a->N, a->ldw, false, 0.0f});
    cb_launch(c, "k_norm_cols", a->N, k_norm_cols{a->w, a->K, a->ldw});
    cb_launch(c, "k_care_elem", KL, k_care_elem{a->w, a->N, a->ldw, true, a->floor_w});
    cb_launch(c, "k_norm_cols", a->N, k_norm_cols{a->w, a->K, a->ldw});
}

static long be_find_nonfinite(sbs_backend *be, const float *v, size_t n)
{
    cuda_be *c = cb_of(be);
    cb_op(c, "find_nonfinite");
    if (!n) return -1;
    cb_memset(c, c->idx, 0xFF, sizeof *c->idx);
    cb_launch(c, "k_nonfinite", (long)n, k_nonfinite{v, c->idx});
    unsigned long long i;
    cb_d2h(c, &i, c->idx, sizeof i);
    return i == ~0ULL ? -1 : (long)i;
}

static const char *be_describe(sbs_backend *be) { return cb_of(be)->desc; }

/* free everything c holds, and c */
static void close_device(cuda_be *c)
{
    cb_op(c, "destroy");
    cuda_coef_free(c);
    cb_free(c, c->ws);
    cb_free(c, c->lab);
    cb_free(c, c->loss);
    cb_free(c, c->red);
    cb_free(c, c->idx);
#ifndef SBS_CUDA_EMU
    if (c->blas) c->bl->destroy(c->blas);
#endif
    free(c);
}

static void be_destroy(sbs_backend *be)
{
    if (!be) return;
    close_device(cb_of(be));
    free(be);
}

#ifndef SBS_CUDA_EMU
#define STR_(x) #x
#define STR(x) STR_(x)
#define CUBLAS_SONAME "libcublas.so." STR(CUBLAS_VER_MAJOR)

/* cuBLAS of the major version this was built with: by name (LD_LIBRARY_PATH, the loader's
 * cache), else beside the libcudart this program uses; NULL with e saying why */
static const blas_fns *load_cublas(sbs_err *e)
{
    static blas_fns f;
    static bool done;
    if (done) return &f;
    void *h = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    Dl_info di;
    if (!h && dladdr((void *)&cudaGetDeviceCount, &di) && di.dli_fname) {
        char path[4096];
        snprintf(path, sizeof path, "%s", di.dli_fname);
        char *slash = strrchr(path, '/');
        if (slash) {
            snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", CUBLAS_SONAME);
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        }
    }
    if (!h) {
        sbs_fail(e, "--backend cuda: cannot load cuBLAS (%s): %s", CUBLAS_SONAME, dlerror());
        return NULL;
    }
    const char *miss = NULL;
#define SYM(field, name)                                                                   \
    if (!(*(void **)&f.field = dlsym(h, name)) && !miss) miss = name;
    SYM(create, "cublasCreate_v2")
    SYM(destroy, "cublasDestroy_v2")
    SYM(set_math_mode, "cublasSetMathMode")
    SYM(sgemm_sb, "cublasSgemmStridedBatched")
    SYM(status_name, "cublasGetStatusName")
#undef SYM
    if (miss) {
        sbs_fail(e, "--backend cuda: %s has no %s", CUBLAS_SONAME, miss);
        dlclose(h);
        return NULL;
    }
    done = true;
    return &f;
}
#endif

/* Open the device: NULL with e saying why (no driver, no device, a bad index, no code for
 * this GPU in the build). */
static cuda_be *open_device(int dev, sbs_err *e)
{
    cuda_be *c = (cuda_be *)calloc(1, sizeof *c);
    if (!c) {
        sbs_fail(e, "--backend " SBS_CUDA_NAME ": out of host memory");
        return NULL;
    }
    c->device = dev;
    const char *sync = getenv("SBS_CUDA_SYNC");
    c->sync = sync && *sync && strcmp(sync, "0");
    cb_op(c, "start");
#ifdef SBS_CUDA_EMU
    snprintf(c->desc, sizeof c->desc,
             SBS_CUDA_NAME " (host emulation of the CUDA kernels, one thread)");
    return c;
#else
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        sbs_fail(e, "--backend cuda: no usable CUDA device: cudaGetDeviceCount says %s (%s)%s",
                 err == cudaSuccess ? "0 devices" : cudaGetErrorName(err),
                 err == cudaSuccess ? "no GPU visible" : cudaGetErrorString(err),
                 err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice
                     ? "; is the NVIDIA driver installed and a GPU visible "
                       "(CUDA_VISIBLE_DEVICES)?"
                     : "");
        free(c);
        return NULL;
    }
    if (dev < 0 || dev >= count) {
        sbs_fail(e, "--device: expected a CUDA device index from 0 to %d, found %d", count - 1,
                 dev);
        free(c);
        return NULL;
    }
    cudaDeviceProp p;
    const char *call = "cudaSetDevice";
    err = cudaSetDevice(dev);
    if (err == cudaSuccess) {
        call = "cudaGetDeviceProperties";
        err = cudaGetDeviceProperties(&p, dev);
    }
    if (err == cudaSuccess) {
        call = "cudaFree(NULL) (context creation)";
        err = cudaFree(0);
    }
    if (err == cudaSuccess) {
        /* does this build carry code this GPU can run? */
        cudaFuncAttributes fa;
        call = "cudaFuncGetAttributes";
        err = cudaFuncGetAttributes(&fa, k_each<k_scale>);
    }
    if (err != cudaSuccess) {
        sbs_fail(e, "--backend cuda: device %d: %s failed: %s (%s)%s", dev, call,
                 cudaGetErrorName(err), cudaGetErrorString(err),
                 err == cudaErrorNoKernelImageForDevice || err == cudaErrorInvalidDeviceFunction
                     ? "; rebuild with -Dgpu_arch=<this GPU's compute capability>"
                     : "");
        free(c);
        return NULL;
    }
    c->bl = load_cublas(e);
    if (!c->bl) {
        free(c);
        return NULL;
    }
    cublasStatus_t st = c->bl->create(&c->blas);
    if (st == CUBLAS_STATUS_SUCCESS) st = c->bl->set_math_mode(c->blas, CUBLAS_DEFAULT_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) {
        sbs_fail(e, "--backend cuda: device %d: cublasCreate failed: %s", dev,
                 c->bl->status_name(st));
        free(c);
        return NULL;
    }
    size_t fr = 0, tot = 0;
    cb_check(c, cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo");
    snprintf(c->desc, sizeof c->desc,
             "cuda (%.120s, device %d, sm_%d%d, %.1f GiB, %.1f GiB free)", p.name, dev, p.major,
             p.minor, tot / 1073741824.0, fr / 1073741824.0);
    return c;
#endif
}

} /* namespace SBSK_NS */

using namespace SBSK_NS;

#ifdef SBS_CUDA_EMU
extern "C" sbs_backend *sbs_cuda_emu_backend_create(const sbs_backend_opts *o, sbs_err *e)
#else
extern "C" sbs_backend *sbs_cuda_backend_create(const sbs_backend_opts *o, sbs_err *e)
#endif
{
    cuda_be *c = open_device(o ? o->device : 0, e);
    if (!c) return NULL;
    c->red = (unsigned *)cb_alloc(c, sizeof *c->red);
    c->idx = (unsigned long long *)cb_alloc(c, sizeof *c->idx);
    sbs_backend *be = (sbs_backend *)calloc(1, sizeof *be);
    if (!c->red || !c->idx || !be) {
        sbs_fail(e, "--backend " SBS_CUDA_NAME ": out of memory while starting");
        free(be);
        close_device(c);
        return NULL;
    }
    be->name = SBS_CUDA_NAME;
    be->impl = c;
    be->describe = be_describe;
    be->alloc = be_alloc;
    be->free = be_free;
    be->upload = be_upload;
    be->download = be_download;
    be->zero = be_zero;
    be->workspace = be_workspace;
    be->kernels = be_kernels;
    be->loss = be_loss;
    be->absmax = be_absmax;
    be->scale = be_scale;
    be->add = be_add;
    be->update = be_update;
    be->find_nonfinite = be_find_nonfinite;
    be->destroy = be_destroy;
    return be;
}
