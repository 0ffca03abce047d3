/* fuzz_set.c — --set KEY=VALUE overrides on top of a valid config (the tiny test net).
 * Input: overrides, one per line (at most 16). */
#include "fuzz_util.h"
#include "sbs/config.h"

static const char net_json[] = "{\"network_structure\": {\"number_of_output_neurons\": 10,\n"
                               " \"layer_type\": [\"SbS\", \"Average POOLING\", \"SbS\"],\n"
                               " \"strides\": [[1, 1], [4, 4], [1, 1]],\n"
                               " \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]],\n"
                               " \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}\n";
static const char ds_json[] =
    "{\"data_path\": \"/nonexistent\", // a comment\n \"data_mode\": \"MNIST_FASHION\"}\n";
static const char def_json[] =
    "{\"epoch_id_max\": 100, \"batch_size\": 24, \"number_of_spikes\": [100],\n"
    " \"forgetting_offset\": 0.0,\n"
    " \"learning_parameters\": {\"learning_rate_threshold_w\": 0.001,\n"
    "   \"number_of_batches_for_one_update\": 2, \"learning_rate_gamma_w\": 0.02,\n"
    "   \"adapt_learning_rate_after_minibatch\": false, \"w_trainable\": [true]}}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char pn[512], pd[512], pf[512];
    if (!pn[0]) {
        fuzz_write("network.json", net_json, sizeof net_json - 1, pn, sizeof pn);
        fuzz_write("dataset.json", ds_json, sizeof ds_json - 1, pd, sizeof pd);
        fuzz_write("def.json", def_json, sizeof def_json - 1, pf, sizeof pf);
    }
    if (size > 8192) return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *ov[16];
    int n = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l && n < 16; l = strtok_r(NULL, "\n", &save))
        ov[n++] = l;
    static sbs_config cfg;
    sbs_err e = {{0}};
    int r = sbs_config_load(&cfg, pn, pd, pf, ov, n, &e);
    fuzz_note("set", r, e.msg);
    if (r != 0) {
        fuzz_check_msg(e.msg);
    } else {
        FILE *f = fopen("/dev/null", "w");
        sbs_config_dump(&cfg, f);
        fclose(f);
    }
    free(buf);
    return 0;
}
