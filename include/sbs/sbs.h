/* sbs.h — the Spike-by-Spike maths shared by every backend (SPEC §1.1–1.3), src/sbs/:
 * patch geometry, the spike sampler (alias tables fed by Philox), step-size tables, full-layer
 * routing (sbs_math.c), and the plain double-precision oracle of the SbS layer that every
 * optimised path is tested against (oracle.c).
 *
 * Spikes are a pure function of (seed, pass, layer, sample index, position, spike step):
 *   counter = {block, position, sample, SBS_RNG_SPIKES<<24 | layer<<16 | pass&0xffff},
 *   key = seed, one 32-bit word per spike: spike t (0-based) is word (t>>4)&3 of block
 *   16*(t>>6) + (t&15). The word u picks column (u*K)>>32 of an alias table and the low 32
 *   bits of u*K decide between the column and its alias. */
#ifndef SBS_SBS_H
#define SBS_SBS_H

#include "sbs/common.h"
#include "sbs/config.h"

/* Geometry of a windowed layer: input (C,H,W) -> output (N,X,Y), K = C*kx*ky. */
typedef struct {
    int C, H, W;                /* input channels, rows, columns */
    int kx, ky;                 /* kernel rows, columns */
    int sx, sy, dx, dy, px, py; /* stride, dilation, padding per axis (x = rows) */
    int X, Y;                   /* output rows, columns */
    int K;                      /* C*kx*ky */
} sbs_geom;

/* Output size per axis (SPEC §1.1); <= 0 if the window does not fit, -1 also if the size is
 * beyond INT_MAX. Computed in 64-bit. */
int sbs_out_size(int L, int k, int s, int d, int p);
/* Fill g from the input shape and kernel parameters; returns -1 if the output is empty, -2
 * if a size does not fit an int: the window K = C*kx*ky, X, Y, or a padded extent H + 2px,
 * W + 2py (all computed in 64-bit; such a g has K, X or Y 0 and must not be used). */
int sbs_geom_init(sbs_geom *g, int C, int H, int W, int kx, int ky, int sx, int sy, int dx, int dy,
                  int px, int py);

/* The K window values of output position (ox, oy) from one image img (C,H,W), in SPEC order
 * i = c*kx*ky + u*ky + v; zero outside the input (padding). */
void sbs_patch_gather(const sbs_geom *g, const float *img, int ox, int oy, float *win);

/* Alias table for sampling index i with probability x_i / sum(x) (x_i >= 0).
 * thr/alias: K entries; scratch: at least 3*K doubles. A window summing to 0 samples
 * uniformly. */
void sbs_alias_build(const float *x, int K, uint32_t *thr, uint32_t *alias, double *scratch);

/* Counter word 3 for spikes of (layer, pass). */
static inline uint32_t sbs_spike_tag(int layer, uint32_t pass)
{
    return (1u << 24) | ((uint32_t)(layer & 0xff) << 16) | (pass & 0xffffu);
}

/* Draw T spike indices for one position (portable reference version). */
void sbs_spikes_draw(const uint32_t *thr, const uint32_t *alias, int K, uint64_t seed, uint32_t tag,
                     uint32_t sample, uint32_t position, int T, int32_t *idx);

/* eps_t for t = 1..T (eps[t-1]) with the cooldown rule. */
void sbs_eps_table(float epsilon_0, int cooldown_after, float reduction_cooldown, int T,
                   float *eps);

/* Oracle: the h dynamics in double precision exactly as SPEC §1.2 writes them.
 * W is (K, N) with row stride ldw; h_out gets N values summing to 1. */
void sbs_ref_dynamics(const float *W, int N, int ldw, const int32_t *idx, int T, const float *eps,
                      float forgetting_offset, float *h_out);

/* Parameters of one SbS layer forward. */
typedef struct {
    sbs_geom g;
    int N;          /* neurons */
    const float *W; /* (K, N) row-major, stride ldw >= N */
    int ldw;
    int T;
    const float *eps; /* T entries */
    float forgetting_offset;
    int layer; /* index, for the spike key */
    /* spike_full_layer_input_distribution: T spikes per pattern from one categorical over all
     * C*H*W input values (Philox position word SBS_FULL_LAYER_POSITION), each routed to every
     * output position whose window holds the spiking pixel (padding is never a target); a
     * position runs the dynamics over its in-window spikes in draw order, with eps indexed by
     * its own spike count (eps[0] for its first spike), as the reference's sorted spike
     * tensor does. false: the ordinary T spikes per position. */
    bool full_layer;
} sbs_layer_args;

typedef struct {
    uint64_t seed;
    uint32_t pass;         /* e.g. epoch*2 + (test pass) */
    uint32_t first_sample; /* global index of batch item 0 */
} sbs_spike_key;

/* Philox position word of the full-layer spike stream (no real position uses it). */
#define SBS_FULL_LAYER_POSITION 0xFFFFFFFFu

/* Full-layer spike routing: spk holds T pixel indices c*H*W + r*W + q (draw order). For every
 * output position m = ox*Y + oy, list[start[m] .. start[m+1]) receives the window indices
 * i = c*kx*ky + u*ky + v of the spikes inside its window, in draw order. start has X*Y+1
 * entries, list room for T*kx*ky, tab sbs_full_layer_route_tab(g) ints of scratch. */
void sbs_full_layer_route(const sbs_geom *g, const int32_t *spk, int T, int32_t *start,
                          int32_t *list, int32_t *tab);
static inline size_t sbs_full_layer_route_tab(const sbs_geom *g)
{
    return (size_t)g->H * (2 * g->kx + 1) + (size_t)g->W * (2 * g->ky + 1);
}

/* Oracle layer forward (single thread): x (B,C,H,W) -> h (B,N,X,Y); a->full_layer selects
 * the full-layer spike distribution (routed by a plain scan of every window, independent of
 * sbs_full_layer_route). */
void sbs_ref_forward(const sbs_layer_args *a, const float *x, int B, const sbs_spike_key *key,
                     float *h);

/* Oracle of the SbS backward (SPEC §1.2) in double precision: x (B,C,H,W), h (B,N,X,Y),
 * gh = dL/dh (already scaled); dx (B,C,H,W) and dW (K x N compact) are overwritten. */
void sbs_ref_sbs_backward(const sbs_geom *g, int N, const float *W, int ldw, const float *x,
                          const float *h, const float *gh, int B, double *dx, double *dW);

#endif
