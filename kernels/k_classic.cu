/* k_classic.cu — the cuda backend's kernels of CONV2D (im2col + cuBLAS, all images of a
 * chunk in one batched GEMM), MAX and AVERAGE POOLING and RELU, forward and backward, with
 * the CPU's arithmetic (k_classic.c): pooling and RELU bit for bit (gathers add in the CPU's
 * scatter order), CONV2D to cuBLAS rounding; weight gradients per image, then summed in
 * image order. */
#include "cuda_be.h"

namespace SBSK_NS {

size_t cuda_classic_ws(const sbs_layer *L, int B, bool training)
{
    if (L->kind != SBS_L_CONV2D) return 0;
    size_t MK = (size_t)L->X * L->Y * L->g.K;
    size_t f = cb_bytes((size_t)B * MK, 4);
    size_t b = 2 * cb_bytes((size_t)B * MK, 4) + cb_bytes((size_t)B * L->n_w, 4) +
               cb_bytes((size_t)B * L->n_b, 4);
    return training && b > f ? b : f;
}

static void classic_forward(sbs_backend *be, const sbs_op_args *a)
{
    cuda_be *c = cb_of(be);
    const sbs_layer *L = a->L;
    cb_layer_op(c, L, "forward");
    const int B = a->B, M = L->X * L->Y;
    const long out_n = (long)B * L->N * M;
    switch (L->kind) {
    case SBS_L_CONV2D: {
        const int K = L->g.K, O = L->N;
        unsigned char *cur = (unsigned char *)cb_ws(c, cuda_classic_ws(L, B, false));
        float *cols = cb_carve<float>(&cur, (size_t)B * M * K);
        cb_launch(c, "k_im2col", (long)B * M * K, k_im2col{L->g, a->x, cols});
        /* per image: y (O x M, row-major) = W (O x K) cols^T */
        cb_gemm(c, true, false, M, O, K, 1.0f, cols, K, (long)M * K, a->W, K, 0, 0.0f, a->y, M,
                (long)O * M, B);
        if (a->b) cb_launch(c, "k_bias_add", out_n, k_bias_add{a->b, O, M, a->y});
        break;
    }
    case SBS_L_MAX_POOLING:
    case SBS_L_AVERAGE_POOLING:
        cb_launch(c, "k_pool_fwd", out_n,
                  k_pool_fwd{L->g, L->kind == SBS_L_MAX_POOLING, a->x, a->y});
        break;
    default: /* RELU */
        cb_launch(c, "k_relu_fwd", out_n, k_relu_fwd{a->x, a->y});
        break;
    }
}

static long classic_backward(sbs_backend *be, const sbs_op_args *a)
{
    cuda_be *c = cb_of(be);
    const sbs_layer *L = a->L;
    cb_layer_op(c, L, "backward");
    const int B = a->B, M = L->X * L->Y;
    const long in_n = (long)B * L->C * L->H * L->W;
    switch (L->kind) {
    case SBS_L_RELU:
        if (a->gx) cb_launch(c, "k_relu_bwd", in_n, k_relu_bwd{a->x, a->gy, a->gx});
        break;
    case SBS_L_AVERAGE_POOLING:
    case SBS_L_MAX_POOLING:
        if (a->gx)
            cb_launch(c, "k_pool_bwd", in_n,
                      k_pool_bwd{L->g, L->kind == SBS_L_MAX_POOLING, a->x, a->gy, a->gx});
        break;
    default: { /* CONV2D */
        const int K = L->g.K, O = L->N;
        const size_t MK = (size_t)M * K, OM = (size_t)O * M;
        unsigned char *cur = (unsigned char *)cb_ws(c, cuda_classic_ws(L, B, true));
        float *cols = cb_carve<float>(&cur, B * MK), *dcols = cb_carve<float>(&cur, B * MK);
        float *pw = cb_carve<float>(&cur, (size_t)B * L->n_w);
        float *pb = cb_carve<float>(&cur, (size_t)B * L->n_b);
        cb_launch(c, "k_im2col", (long)(B * MK), k_im2col{L->g, a->x, cols});
        if (a->gW) {
            /* per image: dW (O x K, row-major) = gy (O x M) cols (M x K) */
            cb_gemm(c, false, false, K, O, M, 1.0f, cols, K, (long)MK, a->gy, M, (long)OM, 0.0f,
                    pw, K, (long)L->n_w, B);
            cb_ordered_sum(c, a->gW, pw, L->n_w, B);
            if (a->gB && L->n_b) {
                cb_launch(c, "k_bias_grad", (long)B * O, k_bias_grad{a->gy, M, pb});
                cb_ordered_sum(c, a->gB, pb, L->n_b, B);
            }
        }
        if (a->gx) {
            /* per image: dcols (M x K, row-major) = gy^T W */
            cb_gemm(c, false, true, K, M, O, 1.0f, a->W, K, 0, a->gy, M, (long)OM, 0.0f, dcols, K,
                    (long)MK, B);
            cb_launch(c, "k_col2im", in_n, k_col2im{L->g, NULL, dcols, false, a->gx});
        }
        break;
    }
    }
    return 0;
}

const sbs_layer_kernels cuda_k_conv2d = {classic_forward, classic_backward, NULL};
const sbs_layer_kernels cuda_k_pool = {classic_forward, classic_backward, NULL};
const sbs_layer_kernels cuda_k_relu = {classic_forward, classic_backward, NULL};

} /* namespace SBSK_NS */
