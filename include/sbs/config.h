/* config.h — the three JSON config files of the reference (network.json, dataset.json,
 * def.json), merged in that order, plus command-line overrides, resolved into one struct
 * with every default applied and every per-layer list expanded (SPEC §3).
 *
 * The loader strips // comments (keeping line/column positions), rejects duplicate keys,
 * unknown keys (suggesting the nearest known key), wrong types and values out of range
 * (every size bounded, settings that would make the maths divide by zero refused), and
 * reports the file and key path in one line. Products of sizes (a window C*kx*ky, a layer's
 * weights) are the plan's to check, in size_t (sbs_mul_size, common.h). Shape consistency
 * between layers is checked later by the network plan (net.h), which knows the input size. */
#ifndef SBS_CONFIG_H
#define SBS_CONFIG_H

#include "sbs/common.h"
#include <limits.h>
#include <stdio.h>

typedef enum {
    SBS_L_SBS = 0,     /* "SbS" */
    SBS_L_SBS_POOLING, /* "SbS POOLING" */
    SBS_L_SBS_LOCAL,   /* "SbS LOCAL" */
    SBS_L_RECONSTRUCTION,
    SBS_L_ONOFF,
    SBS_L_CONV2D,
    SBS_L_RELU,
    SBS_L_MAX_POOLING,
    SBS_L_AVERAGE_POOLING,
    SBS_L_APPROX_CONV2D,
    SBS_L_INPUT_SPIKE_IMAGE,
    SBS_L_NNMF,
    SBS_L_BP_SBS_NNMF,
    SBS_L_POISSON,
    SBS_L_COUNT
} sbs_layer_kind;

/* Canonical upper-case name of a kind ("SBS", "AVERAGE POOLING", ...). */
const char *sbs_layer_kind_name(sbs_layer_kind k);
/* Match a reference layer_type string (case-insensitive, SPEC §3). Returns -1 if unknown. */
int sbs_layer_kind_parse(const char *s);

#define SBS_MAX_LAYERS 64
/* Upper bound of every geometric key: kernel size, stride, dilation, padding (each axis) and
 * crop_width_in_pixel. Neuron counts are bounded by 1e6, spikes by 1e7 (see config.c). */
#define SBS_MAX_GEOM 1024

typedef struct {
    sbs_layer_kind kind;
    char type[64]; /* the string as written in layer_type */
    int in, out;   /* forward_neuron_numbers[l]; -1 where given as [] / absent */
    int kernel[2], stride[2], dilation[2], padding[2]; /* defaults [1,1],[1,1],[1,1],[0,0] */
    int spikes;                                        /* number_of_spikes (per layer) */
    float epsilon_0;                                   /* [1.0] */
    float forgetting_offset;                           /* [-1.0]; active only if > 0 */
    int cooldown_after_number_of_spikes;               /* [-1] */
    float reduction_cooldown;                          /* [25.0] */
    bool spike_full_layer_input_distribution;          /* [false] */
    bool sbs_skip_gradient_calculation;                /* [false] */
    bool w_trainable;                                  /* [true] (reference default list [True]) */
    bool approximation_enable;                         /* [false] */
    int number_of_trunc_bits;                          /* [-1] */
    int number_of_frac_bits;                           /* [-1] */
} sbs_layer_cfg;

typedef struct {
    /* top level */
    int batch_size;     /* [500] */
    char data_mode[32]; /* "MNIST", "MNIST_FASHION", "CIFAR10" */
    char data_path[PATH_MAX];
    int epoch_id;                        /* [0] */
    int epoch_id_max;                    /* [10000] */
    int number_of_cpu_processes;         /* [-1] */
    char weight_path[PATH_MAX];          /* ["Parameters"] */
    char log_path[PATH_MAX];             /* ["Log"] */
    int simulation_id, stage_id;         /* [0] */
    bool enable_cpu_thread_balacing;     /* accepted, no effect on the maths */
    bool force_forward_h_dynamic_on_cpu; /* accepted, no effect */
    bool extract_noisy_pictures; /* [false]: test passes write noisy_picture_data (noisy.h) */

    /* network_structure */
    int n_layers;
    sbs_layer_cfg layers[SBS_MAX_LAYERS];
    int number_of_output_neurons; /* [10] */

    struct {
        bool learning_active;                     /* [true] */
        int loss_mode;                            /* [0] */
        float loss_coeffs_mse;                    /* [0.5] */
        float loss_coeffs_kldiv;                  /* [1.0] */
        char optimizer_name[32];                  /* ["Adam"] */
        float learning_rate_gamma_w;              /* [-1] */
        float learning_rate_threshold_w;          /* [1e-5] */
        char lr_schedule_name[32];                /* ["ReduceLROnPlateau"] */
        bool lr_scheduler_use_performance;        /* [false] */
        float lr_scheduler_factor_w;              /* [0.75] */
        int lr_scheduler_patience_w;              /* [-1] */
        float lr_scheduler_tau_w;                 /* [10] */
        int number_of_batches_for_one_update;     /* [1] */
        char overload_path[PATH_MAX];             /* ["Previous"] */
        float weight_noise_range[2];              /* [[1.0, 1.1]] */
        float eps_xy_intitial;                    /* [1.0] */
        bool disable_scale_grade;                 /* [false] */
        bool kepp_last_grad_scale;                /* [true] */
        bool adapt_learning_rate_after_minibatch; /* [true] */
    } learn;

    struct {
        int crop_width_in_pixel; /* [2] */
        float flip_p;            /* [0.5] */
        float jitter_brightness; /* [0.5] */
        float jitter_contrast;   /* [0.1] */
        float jitter_saturation; /* [0.1] */
        float jitter_hue;        /* [0.15] */
    } aug;

    struct {
        int n_mean;
        float mean[16];
        int n_size;
        int the_size[4];
    } image_statistics;

    /* where each part came from (for messages) */
    char network_file[PATH_MAX], dataset_file[PATH_MAX], def_file[PATH_MAX];
} sbs_config;

/* Load and merge the three files (any may be NULL to skip it), then apply overrides of the
 * form "key.path=value" (value is JSON, or a bare string), in order. On failure e holds one
 * line naming the file (or "--set") and key. */
int sbs_config_load(sbs_config *cfg, const char *network_json, const char *dataset_json,
                    const char *def_json, const char *const *overrides, int n_overrides,
                    sbs_err *e);

/* Resolve the three file names from a def.json path (or a folder holding the three files):
 * network.json and dataset.json beside it unless given explicitly (non-NULL). */
int sbs_config_paths(const char *def_or_dir, const char *network_opt, const char *dataset_opt,
                     char net[PATH_MAX], char ds[PATH_MAX], char def[PATH_MAX], sbs_err *e);

/* Print the resolved config as JSON (for logs and --dry-run). */
void sbs_config_dump(const sbs_config *cfg, FILE *f);

#endif
