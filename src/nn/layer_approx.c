/* layer_approx.c — the plan of "APPROX CONV2D" (SPEC §1.5), whose kernels are in each
 * backend (src/backend/cpu/k_approx.c): a CONV2D (weight (O, C, kx, ky), bias (O,),
 * saved and loaded like CONV2D) whose products use the reduced-precision multiplier of
 * approx.h, configured per layer by approximation_setting (approximation_enable,
 * number_of_trunc_bits, number_of_frac_bits). Gradients are straight-through: exactly the
 * CONV2D backward (the layer's forward is treated as the exact convolution).
 *
 * Forward per image: the im2col columns (M x K) are gathered once; then
 *   y[o, m] = sbs_approx_dot(W[o, :], cols[m, :], K) + bias[o]
 * (products in window order i = c*kx*ky + u*ky + v, accumulated in float from +0), computed by
 * a decomposed-operand loop that is bitwise equal to that sbs_approx_dot call (k_approx.c).
 * When the settings make every product the exact IEEE product (a significand of >= 24 bits and
 * no truncation reaching the real significand bits: frac_bits >= 24 and trunc_bits <=
 * 2*(frac_bits - 24), which includes the shipped CNN_Approx configs' frac 30 / trunc 1), the
 * layer is an ordinary convolution and uses the CONV2D sgemm path (same values up to the
 * summation order). */
#include "sbs/layer.h"

static int approx_plan(sbs_net *net, sbs_layer *L, const char *nf, sbs_err *e)
{
    /* shapes, weights, bias as CONV2D; scratch: the columns (M x K floats) and their
     * decomposition (2 x M x K words) */
    if (sbs_ops_conv2d.plan(net, L, nf, e) != 0) return -1;
    L->fwd_scr = 3 * (size_t)L->g.K * L->X * L->Y;
    return 0;
}

const sbs_layer_ops sbs_ops_approx_conv2d = {.plan = approx_plan};
