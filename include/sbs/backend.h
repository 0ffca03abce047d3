/* backend.h — what a compute backend must do. A backend owns the memory it computes on and
 * every operation of inference and training; the network plan (net.h) only describes shapes
 * and holds the host copy of the parameters, and the trainer (train.h) only sequences calls.
 * Backends are chosen by name through one factory: "cpu" (src/backend/cpu/, OpenBLAS and a
 * private pthreads pool) and, in builds with CUDA, "cuda" (kernels/).
 *
 * The shape chosen is darknet's: per (layer kind, backend) a small table of kernels
 * (forward, backward, and for last layers with their own target, loss), plus a fixed set of
 * training operations (loss, the gradient-scale measure and apply, the ordered chunk
 * reduction, the optimizer with weight care, the finite-value check). A backend returns NULL
 * from `kernels` for a kind it does not support; the bound net (exec.h) refuses such a net
 * before any work, naming the layer.
 *
 * Pointers a backend hands out (alloc) belong to its address space (host memory for "cpu",
 * device memory for "cuda"): callers pass them back to the backend and never dereference
 * them, except that host-visible arguments are marked "(host)" below. Every operation on
 * backend memory is ordered as issued; download returns when the data is on the host.
 *
 * Determinism contract (DESIGN.md "Arithmetic contract"): spikes and SbS forward outputs are
 * a pure function of the spike key and equal across backends bit for bit; a backward pass
 * sums the per-image weight gradients of a chunk in image order, so a chunk's sum does not
 * depend on threads or on how images are spread; chunk sums are added in chunk order by
 * `add`, by one process exactly as by several. */
#ifndef SBS_BACKEND_H
#define SBS_BACKEND_H

#include "sbs/net.h"
#include "sbs/sbs.h"

typedef struct sbs_backend sbs_backend;

/* The arguments of one layer operation on a chunk of B images: a narrow context, all pointers
 * in the backend's memory unless marked (host). */
typedef struct {
    const sbs_layer *L;
    int B;
    const sbs_spike_key *key; /* forward: the spike key of image 0 of the chunk */
    const float *x;           /* layer input (B, C, H, W) */
    float *y;                 /* layer output (B, N, X, Y); forward writes it */
    const float *W, *b;       /* the parameters the layer reads (RECONSTRUCTION: those of
                                   its SbS layer L->ref_layer); NULL when none */
    const sbs_layer *ref;     /* RECONSTRUCTION: its SbS layer (L->ref_layer) */
    const float *ref_x;       /* RECONSTRUCTION: the input of its SbS layer */
    /* backward and loss */
    const float *gy;       /* dL/dy (B, N, X, Y), already scaled */
    float *gx;             /* dL/dx to write (B, C, H, W); NULL when not needed */
    float *gW, *gB;        /* the chunk's weight gradient sums: the backward ADDS the
                                   chunk's per-image gradients image after image; NULL when
                                   the layer does not learn */
    const uint8_t *labels; /* (host) the chunk's labels; NULL in a test pass */
} sbs_op_args;

/* The kernels of one layer kind on one backend. */
typedef struct {
    void (*forward)(sbs_backend *be, const sbs_op_args *a);
    /* Writes a->gx (when set) and adds to a->gW/gB (when set). Returns the number of
     * (pattern, position) contributions to the weight gradient (divides the SbS update). */
    long (*backward)(sbs_backend *be, const sbs_op_args *a);
    /* Last layers with their own target (L->own_target): the chunk's summed loss; writes
     * dL/dy into gy_out (B, N, X, Y). NULL otherwise. */
    double (*loss)(sbs_backend *be, const sbs_op_args *a, float *gy_out);
} sbs_layer_kernels;

/* The supervised losses of SPEC §2 on the output (B, n_out). */
typedef struct {
    int mode; /* 0: mixed MSE + KL (summed over the batch); 1: cross-entropy
                                   (mean over the batch) */
    float c_mse, c_kl;
    const float *out;      /* (B, n_out) */
    const uint8_t *labels; /* (host) B labels < n_out */
    int B, n_out;
    float *gout; /* dL/dout to write (B, n_out); NULL: the loss only */
} sbs_loss_args;

/* One parameter tensor's update (SPEC §2): Adam (multiplicative for SbS weights:
 * w *= 1 + 0.5 tanh(-lr_t m / den); additive otherwise) or plain SGD, with the gradient
 * multiplied by grad_mul first; then, for SbS weights, zero padding columns and weight care
 * (normalise columns, clamp at threshold / C, normalise again). */
typedef struct {
    float *w, *g, *m, *v; /* n values each; m, v unused by SGD */
    size_t n;
    bool adam, multiplicative;
    double grad_mul, lr, lr_t, c2; /* lr for SGD; lr_t = lr / (1 - 0.9^t), c2 = sqrt(1 - 0.999^t) */
    /* weight care of SbS weights (multiplicative): (K, ldw) rows, N real columns */
    bool care;
    int K, N, ldw;
    float floor_w; /* threshold / C */
} sbs_update_args;

struct sbs_backend {
    const char *name; /* "cpu", "cuda" */
    /* One line for logs, e.g. "cpu (avx512, 2 threads)". */
    const char *(*describe)(sbs_backend *be);

    /* memory: alloc returns zeroed memory, aligned to 64 bytes, or NULL when there is none */
    void *(*alloc)(sbs_backend *be, size_t bytes);
    void (*free)(sbs_backend *be, void *p);
    void (*upload)(sbs_backend *be, void *dst, const void *src_host, size_t bytes);
    void (*download)(sbs_backend *be, void *dst_host, const void *src, size_t bytes);
    void (*zero)(sbs_backend *be, void *p, size_t bytes);
    /* Bytes of working memory the backend needs besides the bound net's buffers for a net
     * in batches of B images (scratch of every worker). */
    size_t (*workspace)(sbs_backend *be, const sbs_net *net, int B, bool training);
    /* Address space the backend's threads map besides its allocations and workspace, mostly
     * untouched (the CPU backend's: OpenBLAS's buffer and a malloc arena per thread). It
     * counts against an address-space limit (ulimit -v), not against free memory. */
    size_t reserve;

    /* layer kinds: NULL for a kind this backend does not support */
    const sbs_layer_kernels *(*kernels)(sbs_backend *be, sbs_layer_kind kind);

    /* training operations */
    double (*loss)(sbs_backend *be, const sbs_loss_args *a); /* summed as SPEC §2 says */
    /* max |v_i| over n values (0 for n == 0): the gradient-scale measurement */
    float (*absmax)(sbs_backend *be, const float *v, size_t n);
    /* v_i *= mul: the gradient-scale application */
    void (*scale)(sbs_backend *be, float *v, size_t n, float mul);
    /* acc_i += v_i: the ordered reduction of chunk sums */
    void (*add)(sbs_backend *be, float *acc, const float *v, size_t n);
    void (*update)(sbs_backend *be, const sbs_update_args *a);
    /* index of the first value that is NaN or infinite, or -1 */
    long (*find_nonfinite)(sbs_backend *be, const float *v, size_t n);

    void (*destroy)(sbs_backend *be);
    void *impl;
};

typedef struct {
    int threads;      /* CPU workers; <= 0: the cores this process may use */
    const char *simd; /* CPU: "auto", "avx512", "avx2", "scalar"; NULL = "auto" */
    int device;       /* CUDA device index */
} sbs_backend_opts;

/* The backend of that name, or NULL with e saying why (unknown name, not built in this
 * build, no device). */
sbs_backend *sbs_backend_create(const char *name, const sbs_backend_opts *o, sbs_err *e);
/* The names of the backends this build has, comma separated ("cpu" or "cpu, cuda"). */
const char *sbs_backend_names(void);
static inline void sbs_backend_destroy(sbs_backend *be)
{
    if (be) be->destroy(be);
}

#endif
