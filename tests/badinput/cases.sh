# The bad-input table, sourced by run_badinput.sh. One case a line:
#   t NAME EXIT 'KEYWORD|KEYWORD...' 'SETUP' train|eval ARGS...
# SETUP runs in a fresh sandbox (see run_badinput.sh) before the program; the keywords must
# all appear (case-insensitively) in the one line on stderr. Helpers for SETUP:
#   put FILE TEXT        write TEXT (and a newline) to FILE
#   be32 N               the 4 bytes of N, big-endian (for IDX headers)
#   poke FILE OFF BYTES  overwrite bytes of FILE at OFF (BYTES as printf escapes)
#   keep FILE N          keep the first N bytes of FILE
put() { printf '%s\n' "$2" > "$1"; }
be32() { printf "\\\\x%02x\\\\x%02x\\\\x%02x\\\\x%02x" $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
keep() { head -c "$2" "$1" > "$1.cut" && mv "$1.cut" "$1"; }
NS='"network_structure": {"number_of_output_neurons": 10, "strides": [[1, 1], [4, 4], [1, 1]]'
NET="$NS, \"layer_type\": [\"SbS\", \"Average POOLING\", \"SbS\"]"
TR=(train cfg --epochs 1 --limit-train 24 --limit-test 12 --threads 1)
EV=(eval --weights weights --threads 1 cfg)
CK=(train cfg --resume --epochs 2 --limit-train 24 --limit-test 12 --threads 1)

# ---- configs: syntax
t cfg-syntax-unclosed      2 'def.json|syntax'            'put cfg/def.json "{\"batch_size\": 12"' "${TR[@]}"
t cfg-syntax-trailing-comma 2 'def.json:1:|trailing comma' 'put cfg/def.json "{\"batch_size\": 12,}"' "${TR[@]}"
t cfg-syntax-single-quotes 2 'dataset.json|syntax'        "put cfg/dataset.json \"{'data_path': 'data'}\"" "${TR[@]}"
t cfg-syntax-duplicate-key 2 'def.json|duplicate'         'put cfg/def.json "{\"batch_size\": 12, \"batch_size\": 24}"' "${TR[@]}"
t cfg-syntax-empty-file    2 'network.json|syntax'        ': > cfg/network.json' "${TR[@]}"
t cfg-syntax-top-list      2 'def.json|object'            'put cfg/def.json "[1, 2]"' "${TR[@]}"
t cfg-syntax-huge-number   2 'def.json|syntax'            'put cfg/def.json "{\"epsilon_0\": 1e999}"' "${TR[@]}"
t cfg-syntax-binary        2 'def.json|NUL byte'            'head -c 64 data/t10k-labels-idx1-ubyte > cfg/def.json' "${TR[@]}"
t cfg-syntax-eval          2 'def.json|syntax'            'put cfg/def.json "{\"batch_size\" 12}"' "${EV[@]}"
# ---- configs: types
t cfg-type-int-string      2 'batch_size|integer'         'put cfg/def.json "{\"batch_size\": \"12\"}"' "${TR[@]}"
t cfg-type-int-fraction    2 'number_of_spikes|integer'   'put cfg/def.json "{\"number_of_spikes\": [1.5]}"' "${TR[@]}"
t cfg-type-bool-int        2 'learning_active|boolean'    'put cfg/def.json "{\"learning_parameters\": {\"learning_active\": 1}}"' "${TR[@]}"
t cfg-type-object-list     2 'learning_parameters|object' 'put cfg/def.json "{\"learning_parameters\": []}"' "${TR[@]}"
t cfg-type-pair-three      2 'forward_kernel_size|pair'   "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-type-string-number   2 'data_path|string'           'put cfg/dataset.json "{\"data_path\": 7, \"data_mode\": \"MNIST_FASHION\"}"' "${EV[@]}"
t cfg-type-null            2 'epsilon_0|number'           'put cfg/def.json "{\"epsilon_0\": null}"' "${TR[@]}"
# ---- configs: unknown keys and values
t cfg-unknown-key          2 'def.json|batch_sise|batch_size' 'put cfg/def.json "{\"batch_sise\": 12}"' "${TR[@]}"
t cfg-unknown-key-nested   2 'learning_rate_gama_w|learning_rate_gamma_w' 'put cfg/def.json "{\"learning_parameters\": {\"learning_rate_gama_w\": 0.1}}"' "${TR[@]}"
t cfg-unknown-key-eval     2 'network.json|network_structur' "put cfg/network.json '{\"network_structur\": {}}'" "${EV[@]}"
t cfg-unknown-layer-type   2 'network.json|layer_type|Bogus' "put cfg/network.json '{$NS, \"layer_type\": [\"SbS\", \"Bogus Pool\", \"SbS\"]}}'" "${TR[@]}"
t cfg-unknown-data-mode    2 'dataset.json|data_mode|MNIST2' 'put cfg/dataset.json "{\"data_path\": \"data\", \"data_mode\": \"MNIST2\"}"' "${TR[@]}"
t cfg-unknown-optimizer    2 'optimizer_name|Adamw'       'put cfg/def.json "{\"learning_parameters\": {\"optimizer_name\": \"Adamw\"}}"' "${TR[@]}"
t cfg-missing-layer-type   2 'network.json|layer_type'    "put cfg/network.json '{}'" "${TR[@]}"
# ---- configs: impossible shapes, zero and negative sizes, absurd spike counts
t cfg-shape-in-mismatch    2 'network.json|forward_neuron_numbers[2]' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [8, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-shape-window-too-big 2 'network.json|forward_kernel_size[0]' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[30, 30], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-shape-output-size    2 'network.json|number_of_output_neurons' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [3, 3]]}}'" "${EV[@]}"
t cfg-shape-sbs-2-neurons  2 'network.json|forward_neuron_numbers[0]|2' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 2], [2, 2], [2, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-shape-too-many-entries 2 'network.json|strides|4 entries' "put cfg/network.json '{\"network_structure\": {\"layer_type\": [\"SbS\", \"Average POOLING\", \"SbS\"], \"strides\": [[1, 1], [4, 4], [1, 1], [1, 1]], \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-shape-crop-too-big   2 'crop_width_in_pixel|14'     'put cfg/def.json "{\"augmentation\": {\"crop_width_in_pixel\": 14}}"' "${TR[@]}"
t cfg-shape-crop-too-big-eval 2 'crop_width_in_pixel|14'  'put cfg/def.json "{\"augmentation\": {\"crop_width_in_pixel\": 14}}"' "${EV[@]}"
t cfg-zero-batch           2 'batch_size|>= 1|0'          'put cfg/def.json "{\"batch_size\": 0}"' "${TR[@]}"
t cfg-negative-batch       2 'batch_size|-5'              'put cfg/def.json "{\"batch_size\": -5}"' "${EV[@]}"
t cfg-zero-kernel          2 'forward_kernel_size[0][0]'  "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[0, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-negative-padding     2 'padding[0][0]|-1'           "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]], \"padding\": [[-1, 0]]}}'" "${TR[@]}"
t cfg-zero-neurons         2 'forward_neuron_numbers[0][1]' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 0], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-neurons-absurd       2 'forward_neuron_numbers[0][1]|2147483647' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 2147483647], [2147483647, 2147483647], [2147483647, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-zero-stride          2 'strides[1][0]'              "put cfg/network.json '{\"network_structure\": {\"layer_type\": [\"SbS\", \"Average POOLING\", \"SbS\"], \"strides\": [[1, 1], [0, 4], [1, 1]], \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-zero-update-window   2 'number_of_batches_for_one_update' 'put cfg/def.json "{\"learning_parameters\": {\"number_of_batches_for_one_update\": 0}}"' "${TR[@]}"
t cfg-spikes-absurd        2 'number_of_spikes|out of range' 'put cfg/def.json "{\"number_of_spikes\": [100000000000]}"' "${TR[@]}"
t cfg-spikes-too-many      2 'number_of_spikes|10000000'  'put cfg/def.json "{\"number_of_spikes\": [2000000000]}"' "${EV[@]}"
t cfg-spikes-zero          2 'number_of_spikes[0]|0'      'put cfg/def.json "{\"number_of_spikes\": [0]}"' "${TR[@]}"
t cfg-spikes-negative      2 'number_of_spikes|-100'      'put cfg/def.json "{\"number_of_spikes\": -100}"' "${EV[@]}"
t cfg-noise-range          2 'weight_noise_range|lo <= hi' 'put cfg/def.json "{\"learning_parameters\": {\"weight_noise_range\": [2.0, 1.0]}}"' "${TR[@]}"
t cfg-flip-p-range         2 'flip_p|1.5'                 'put cfg/def.json "{\"augmentation\": {\"flip_p\": 1.5}}"' "${TR[@]}"
t cfg-loss-mode            2 'loss_mode|3'                'put cfg/def.json "{\"learning_parameters\": {\"loss_mode\": 3}}"' "${TR[@]}"
# ---- configs: paths that do not exist or are folders
t cfg-path-missing         2 'nowhere/def.json'           ':' train nowhere/def.json --epochs 1
t cfg-path-missing-eval    2 'nowhere/def.json'           ':' eval nowhere/def.json
t cfg-network-missing      2 'network.json|no such file'  'rm cfg/network.json' "${TR[@]}"
t cfg-network-is-folder    2 'network.json|directory'     'rm cfg/network.json && mkdir cfg/network.json' "${TR[@]}"
t cfg-network-option-missing 2 'nope.json'                ':' train --network nope.json cfg --epochs 1
t cfg-dataset-option-folder 2 'data|directory'            ':' eval --dataset data cfg
t cfg-data-path-missing    2 'nowhere'                    'put cfg/dataset.json "{\"data_path\": \"nowhere\", \"data_mode\": \"MNIST_FASHION\"}"' "${TR[@]}"
t cfg-data-path-is-file    2 'cfg/def.json|not a folder'  'put cfg/dataset.json "{\"data_path\": \"cfg/def.json\", \"data_mode\": \"MNIST_FASHION\"}"' "${EV[@]}"
t cfg-data-option-missing  2 'nowhere'                    ':' "${EV[@]}" --data nowhere
t cfg-weights-option-missing 2 'nowhere|Weight_L0'        ':' eval --weights nowhere cfg
t cfg-weights-option-file  2 'cfg/def.json|folder'        ':' eval --weights cfg/def.json cfg
t cfg-overload-path-file   2 'cfg/network.json|folder'        'put cfg/def.json "{\"weight_path\": \"out\", \"learning_parameters\": {\"overload_path\": \"cfg/network.json\"}}"' "${TR[@]}"

# ---- weight files given to sbs-eval (--weights weights/)
t w-eval-transposed        2 'Weight_L0_S0.npy|(25, 16)|(16, 25)' 'cp npy/w0_transposed.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-flat              2 'Weight_L0_S0.npy|(400,)'    'cp npy/w0_flat.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-3d                2 'Weight_L0_S0.npy|(25, 16, 1)' 'cp npy/w0_3d.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-layer2-shape      2 'Weight_L2_S0.npy|(400, 10)' 'cp npy/w0.npy weights/Weight_L2_S0.npy' "${EV[@]}"
t w-eval-float64           2 'Weight_L0_S0.npy|<f4|<f8'   'cp npy/w0_f8.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-int32             2 'Weight_L0_S0.npy|<i4'       'cp npy/w0_int32.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-big-endian        2 'Weight_L0_S0.npy|>f4'       'cp npy/w0_bigendian.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-fortran           2 'Weight_L0_S0.npy|fortran'   'cp npy/w0_fortran.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-nan               2 'Weight_L0_S0.npy|NaN'       'cp npy/w0_nan.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-inf               2 'Weight_L0_S0.npy|Inf'       'cp npy/w0_inf.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-negative          2 'Weight_L0_S0.npy|>= 0|-0.5' 'cp npy/w0_negative.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-zero-column       2 'Weight_L0_S0.npy|neuron 3'  'cp npy/w0_zero_column.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-truncated         2 'Weight_L0_S0.npy|truncated' 'cp npy/w0_truncated.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-truncated-header  2 'Weight_L0_S0.npy|header'    'cp npy/w0_truncated_header.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-extra-data        2 'Weight_L0_S0.npy|extra'     'cp npy/w0_extra.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-version           2 'Weight_L0_S0.npy|version'   'cp npy/w0_version9.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-empty             2 'Weight_L0_S0.npy|empty'     'cp npy/w0_empty.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-not-npy           2 'Weight_L0_S0.npy|magic'     'cp npy/w0_text.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-bad-header-key    2 'Weight_L0_S0.npy|fortran_order' 'cp npy/w0_badkey.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-no-shape          2 'Weight_L0_S0.npy|shape'     'cp npy/w0_noshape.npy weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-two-matches       2 'Weight_L0_S0.npy|Weight_L0_S7.npy' 'cp npy/w0.npy weights/Weight_L0_S7.npy' "${EV[@]}"
t w-eval-missing-layer     2 'weights|Weight_L2'          'rm weights/Weight_L2_S0.npy' "${EV[@]}"
t w-eval-folder-as-file    2 'Weight_L0_S0.npy|directory' 'rm weights/Weight_L0_S0.npy && mkdir weights/Weight_L0_S0.npy' "${EV[@]}"
t w-eval-unreadable-link   2 'Weight_L0_S0.npy|No such file' 'rm weights/Weight_L0_S0.npy && ln -s /nonexistent/w.npy weights/Weight_L0_S0.npy' "${EV[@]}"
# ---- weight files in Previous/ (sbs-train's overload_path)
t w-train-transposed       2 'Previous/Weight_L0_S0.npy|(25, 16)' 'cp npy/w0_transposed.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-layer2-shape     2 'Previous/Weight_L2_S0.npy|(400, 10)' 'cp npy/w0.npy Previous/Weight_L2_S0.npy' "${TR[@]}"
t w-train-float64          2 'Previous/Weight_L0_S0.npy|<f8' 'cp npy/w0_f8.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-big-endian       2 'Previous/Weight_L0_S0.npy|>f4' 'cp npy/w0_bigendian.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-fortran          2 'Previous/Weight_L0_S0.npy|fortran' 'cp npy/w0_fortran.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-nan              2 'Previous/Weight_L0_S0.npy|NaN' 'cp npy/w0_nan.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-inf              2 'Previous/Weight_L0_S0.npy|Inf' 'cp npy/w0_inf.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-negative         2 'Previous/Weight_L0_S0.npy|>= 0' 'cp npy/w0_negative.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-truncated        2 'Previous/Weight_L0_S0.npy|truncated' 'cp npy/w0_truncated.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-empty            2 'Previous/Weight_L0_S0.npy|empty' 'cp npy/w0_empty.npy Previous/Weight_L0_S0.npy' "${TR[@]}"
t w-train-two-matches      2 'Previous|Weight_L2_S0.npy|Weight_L2_S3.npy' 'cp npy/w2.npy Previous/Weight_L2_S3.npy' "${TR[@]}"
t w-train-weights-option   2 'weights/Weight_L0_S0.npy|NaN' 'cp npy/w0_nan.npy weights/Weight_L0_S0.npy' "${TR[@]}" --weights weights

# ---- data files
t data-test-images-truncated 2 't10k-images-idx3-ubyte|truncated' 'keep data/t10k-images-idx3-ubyte 5000' "${EV[@]}"
t data-train-images-truncated 2 'train-images-idx3-ubyte|truncated' 'keep data/train-images-idx3-ubyte 20000' "${TR[@]}"
t data-header-truncated    2 't10k-labels-idx1-ubyte|truncated' 'keep data/t10k-labels-idx1-ubyte 6' "${EV[@]}"
t data-images-empty        2 't10k-images-idx3-ubyte|file has 0' ': > data/t10k-images-idx3-ubyte' "${EV[@]}"
t data-labels-empty        2 'train-labels-idx1-ubyte|file has 0' ': > data/train-labels-idx1-ubyte' "${TR[@]}"
t data-images-wrong-magic  2 't10k-images-idx3-ubyte|magic' 'poke data/t10k-images-idx3-ubyte 0 "\x00\x00\x08\x02"' "${EV[@]}"
t data-labels-are-images   2 'train-labels-idx1-ubyte|magic' 'cp data/train-images-idx3-ubyte data/train-labels-idx1-ubyte' "${TR[@]}"
t data-count-mismatch      2 't10k-labels-idx1-ubyte|12 images|11 labels' 'keep data/t10k-labels-idx1-ubyte 19 && poke data/t10k-labels-idx1-ubyte 4 "$(be32 11)"' "${EV[@]}"
t data-count-says-more     2 'train-images-idx3-ubyte|49 images' 'poke data/train-images-idx3-ubyte 4 "$(be32 49)"' "${TR[@]}"
t data-zero-images         2 'data|0 images'              'keep data/t10k-images-idx3-ubyte 16 && poke data/t10k-images-idx3-ubyte 4 "$(be32 0)" && keep data/t10k-labels-idx1-ubyte 8 && poke data/t10k-labels-idx1-ubyte 4 "$(be32 0)"' "${EV[@]}"
t data-label-out-of-range  2 't10k-labels-idx1-ubyte|label 12' 'poke data/t10k-labels-idx1-ubyte 10 "\x0c"' "${EV[@]}"
t data-wrong-image-size    2 'data|32x32|28x28'                'keep data/t10k-images-idx3-ubyte 16 && poke data/t10k-images-idx3-ubyte 4 "$(be32 1)$(be32 32)$(be32 32)" && head -c 1024 /dev/zero >> data/t10k-images-idx3-ubyte && keep data/t10k-labels-idx1-ubyte 9 && poke data/t10k-labels-idx1-ubyte 4 "$(be32 1)"' "${EV[@]}"
t data-gz-truncated        2 't10k-images-idx3-ubyte.gz|truncated' 'gzip data/t10k-images-idx3-ubyte && keep data/t10k-images-idx3-ubyte.gz 300' "${EV[@]}"
t data-gz-not-gzip         2 'train-labels-idx1-ubyte.gz|gzip' 'mv data/train-labels-idx1-ubyte data/train-labels-idx1-ubyte.gz' "${TR[@]}"
t data-gz-garbage-after    2 't10k-labels-idx1-ubyte.gz|garbage' 'gzip data/t10k-labels-idx1-ubyte && printf xyz >> data/t10k-labels-idx1-ubyte.gz' "${EV[@]}"
t data-missing-labels      2 'train-labels-idx1-ubyte|missing' 'rm data/train-labels-idx1-ubyte' "${TR[@]}"
t data-folder-empty        2 'data|no MNIST_FASHION data'  'rm data/*' "${EV[@]}"
t data-file-is-folder      2 't10k-labels-idx1-ubyte|folder' 'rm data/t10k-labels-idx1-ubyte && mkdir data/t10k-labels-idx1-ubyte' "${EV[@]}"
t data-npy-wrong-shape     2 'TestPatternStorage.npy|(N, 28, 28)' 'rm data/* && cp npy/w0.npy data/TestPatternStorage.npy && cp npy/w0_flat.npy data/TestLabelStorage.npy' "${EV[@]}"
t data-npy-bad-labels      2 'TestLabelStorage.npy|1.5'   'rm data/* && cp npy/pattern_1x28x28.npy data/TestPatternStorage.npy && cp npy/labels_fraction.npy data/TestLabelStorage.npy' "${EV[@]}"
t data-npy-count-mismatch  2 'TestLabelStorage.npy|1 images|6 labels' 'rm data/* && cp npy/pattern_1x28x28.npy data/TestPatternStorage.npy && cp npy/labels_6.npy data/TestLabelStorage.npy' "${EV[@]}"
t data-npy-negative-pixel  2 'TestPatternStorage.npy|-1'  'rm data/* && cp npy/pattern_negative.npy data/TestPatternStorage.npy && cp npy/labels_1.npy data/TestLabelStorage.npy' "${EV[@]}"

# ---- command lines
t cli-train-unknown-option 2 'frobnicate'                 ':' "${TR[@]}" --frobnicate
t cli-train-missing-value  2 'epochs|value'               ':' train cfg --epochs
t cli-train-bad-number     2 'epochs|2x'                  ':' train cfg --epochs 2x
t cli-train-zero-epochs    2 'epochs|0'                   ':' train cfg --epochs 0
t cli-train-negative-threads 2 'threads|-1'               ':' train cfg --threads -1 --epochs 1
t cli-train-huge-seed      2 'seed|99999999999999999999|integer in'  ':' train cfg --seed 99999999999999999999 --epochs 1
t cli-train-bad-simd       2 'simd|sse4'                  ':' train cfg --simd sse4 --epochs 1
t cli-train-two-configs    2 'config'                     ':' train cfg cfg --epochs 1
t cli-train-set-no-equals  2 'batch_size|KEY=VALUE'       ':' "${TR[@]}" --set batch_size
t cli-train-set-bad-value  2 'number_of_spikes'           ':' "${TR[@]}" --set 'number_of_spikes=[1,'
t cli-train-set-unknown    2 'bach_size|batch_size'       ':' "${TR[@]}" --set bach_size=3
t cli-train-set-newline    2 'bat\nch_size|unknown key'  ':' "${TR[@]}" --set $'bat\nch_size=3'
t cli-train-limit-zero     2 'limit-train|0'              ':' train cfg --limit-train 0 --epochs 1
t cli-eval-unknown-option  2 'frobnicate'                 ':' "${EV[@]}" --frobnicate
t cli-eval-short-option    2 "'-x'"                       ':' "${EV[@]}" -x
t cli-eval-missing-value   2 'spikes'                     ':' eval cfg --spikes
t cli-eval-bad-number      2 'limit|abc'                  ':' "${EV[@]}" --limit abc
t cli-eval-zero-batch      2 'batch|0'                    ':' "${EV[@]}" --batch 0
t cli-eval-spikes-huge     2 'spikes|100000000'           ':' "${EV[@]}" --spikes 100000000
t cli-eval-threads-text    2 'threads|two'                ':' "${EV[@]}" --threads two
t cli-eval-set-type        2 'epsilon_0|number'           ':' "${EV[@]}" --set epsilon_0=fast

# ---- checkpoints (--resume with out/ from the earlier run)
t ckpt-missing             2 'checkpoint.sbs'             'rm out/checkpoint.sbs' "${CK[@]}"
t ckpt-truncated           2 'checkpoint.sbs|truncated|file has 300' 'keep out/checkpoint.sbs 300' "${CK[@]}"
t ckpt-corrupt-byte        2 'checkpoint.sbs|checksum'    'poke out/checkpoint.sbs 100 "\xff\xfe"' "${CK[@]}"
t ckpt-not-a-checkpoint    2 'checkpoint.sbs|magic'       'cp npy/w0.npy out/checkpoint.sbs' "${CK[@]}"
t ckpt-empty               2 'checkpoint.sbs'             ': > out/checkpoint.sbs' "${CK[@]}"
t ckpt-other-seed          2 'checkpoint.sbs|seed'        ':' "${CK[@]}" --seed 5
t ckpt-other-batch         2 'checkpoint.sbs|batch size'  ':' "${CK[@]}" --set batch_size=6

# ---- issue 13: hostile configs and files
# every geometric key bounded (a 65536 kernel with 32768 padding wrapped the window size to 0)
t cfg-kernel-huge          2 'network.json|forward_kernel_size[0][0]|<= 1024|65536' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[65536, 65536], [4, 4], [5, 5]], \"padding\": [[32768, 32768]]}}'" "${TR[@]}"
t cfg-padding-huge         2 'network.json|padding[0][0]|<= 1024|32768' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]], \"padding\": [[32768, 32768]]}}'" "${TR[@]}"
t cfg-stride-huge          2 'network.json|strides[1][0]|<= 1024|4096' "put cfg/network.json '{\"network_structure\": {\"layer_type\": [\"SbS\", \"Average POOLING\", \"SbS\"], \"strides\": [[1, 1], [4096, 4096], [1, 1]], \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${TR[@]}"
t cfg-dilation-huge        2 'network.json|dilation[0][1]|<= 1024|100000' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]], \"dilation\": [[1, 100000]]}}'" "${EV[@]}"
t cfg-output-neurons-huge  2 'network.json|number_of_output_neurons|<= 1000000' "put cfg/network.json '{\"network_structure\": {\"number_of_output_neurons\": 2000000, \"layer_type\": [\"SbS\", \"Average POOLING\", \"SbS\"], \"strides\": [[1, 1], [4, 4], [1, 1]], \"forward_neuron_numbers\": [[1, 16], [16, 16], [16, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [5, 5]]}}'" "${EV[@]}"
t cfg-crop-huge            2 'crop_width_in_pixel|<= 1024|2147483647' 'put cfg/def.json "{\"augmentation\": {\"crop_width_in_pixel\": 2147483647}}"' "${TR[@]}"
t cfg-layer-type-long      2 'network.json|layer_type[0]|too long' "put cfg/network.json '{\"network_structure\": {\"layer_type\": [\"SbS                                                                    \", \"Average POOLING\", \"SbS\"]}}'" "${TR[@]}"
# settings that make the maths produce NaN
t cfg-epsilon-negative     2 'def.json|epsilon_0|>= 0|-1' 'put cfg/def.json "{\"epsilon_0\": -1}"' "${EV[@]}"
t cfg-reduction-cooldown-zero 2 'def.json|reduction_cooldown[0]|found 0' 'put cfg/def.json "{\"cooldown_after_number_of_spikes\": 5, \"reduction_cooldown\": [0]}"' "${TR[@]}"
t cfg-loss-coeffs-zero     2 'def.json|loss_coeffs_mse|loss_coeffs_kldiv|> 0' 'put cfg/def.json "{\"learning_parameters\": {\"loss_coeffs_mse\": 0, \"loss_coeffs_kldiv\": 0}}"' "${TR[@]}"
t cfg-forgetting-huge      2 'forgetting_offset|<= 1000000' ':' "${EV[@]}" --set forgetting_offset=1e30
t cfg-lr-factor-above-one  2 'lr_scheduler_factor_w|<= 1|2' ':' "${TR[@]}" --set learning_parameters.lr_scheduler_factor_w=2 --set learning_parameters.lr_scheduler_patience_w=1
# number_of_cpu_processes has the cap of --threads
t cfg-cpu-processes-huge   2 'def.json|number_of_cpu_processes|<= 1024|5000' 'put cfg/def.json "{\"number_of_cpu_processes\": 5000}"' "${TR[@]}"
# misleading messages: a malformed --set value, symlink loops
t cli-set-malformed-json   2 'number_of_spikes|malformed JSON|[50' ':' "${TR[@]}" --set 'number_of_spikes=[50'
t cli-set-malformed-object 2 'augmentation|malformed JSON' ':' "${EV[@]}" --set 'augmentation={"flip_p": 0'
t data-folder-loop         2 'loop|for MNIST_FASHION|symbolic links' 'ln -s loop loop && put cfg/dataset.json "{\"data_path\": \"loop\", \"data_mode\": \"MNIST_FASHION\"}"' "${EV[@]}"
t data-file-loop           2 't10k-images-idx3-ubyte|symbolic links' 'rm data/t10k-images-idx3-ubyte && ln -s t10k-images-idx3-ubyte data/t10k-images-idx3-ubyte' "${EV[@]}"
t cfg-def-loop             2 'def.json|symbolic links'    'rm cfg/def.json && ln -s def.json cfg/def.json' "${TR[@]}"
# special files are refused before an open() can block
t cfg-def-fifo             2 'def.json|not a regular file|FIFO' 'rm cfg/def.json && mkfifo cfg/def.json' "${TR[@]}"
t cfg-network-fifo-eval    2 'network.json|FIFO'          'rm cfg/network.json && mkfifo cfg/network.json' "${EV[@]}"
t cfg-network-device       2 '/dev/zero|character device' ':' train --network /dev/zero cfg --epochs 1
t w-eval-fifo              2 'Weight_L0_S0.npy|not a regular file|FIFO' 'rm weights/Weight_L0_S0.npy && mkfifo weights/Weight_L0_S0.npy' "${EV[@]}"
t w-train-fifo             2 'Previous/Weight_L2_S0.npy|FIFO' 'rm Previous/Weight_L2_S0.npy && mkfifo Previous/Weight_L2_S0.npy' "${TR[@]}"
t data-fifo                2 't10k-labels-idx1-ubyte|not a regular file|FIFO' 'rm data/t10k-labels-idx1-ubyte && mkfifo data/t10k-labels-idx1-ubyte' "${EV[@]}"
t ckpt-fifo                2 'checkpoint.sbs|not a regular file|FIFO' 'rm out/checkpoint.sbs && mkfifo out/checkpoint.sbs' "${CK[@]}"
# a .gz is inflated only as far as its IDX header says
t data-gz-past-header      2 't10k-labels-idx1-ubyte.gz|12 labels|inflates to more' 'head -c 65536 /dev/zero >> data/t10k-labels-idx1-ubyte && gzip data/t10k-labels-idx1-ubyte' "${EV[@]}"
# sizes computed from the config beyond an int are refused by the plan, naming layer and key
# (the window 4104 x 1023 x 1023 wrapped to a negative K: "out of memory allocating 1844...")
t cfg-window-overflow      2 'network.json|forward_kernel_size[2]|window 4104 x 1023 x 1023|more than 2147483647' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 4104], [4104, 4104], [4104, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [1023, 1023]], \"padding\": [[0, 0], [0, 0], [509, 509]]}}'" "${TR[@]}"
t cfg-window-overflow-conv 2 'network.json|forward_kernel_size[2]|window 4104 x 1023 x 1023|more than 2147483647' "put cfg/network.json '{$NS, \"layer_type\": [\"SbS\", \"Average POOLING\", \"CONV2D\"], \"forward_neuron_numbers\": [[1, 4104], [4104, 4104], [4104, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [1023, 1023]], \"padding\": [[0, 0], [0, 0], [509, 509]]}}'" "${EV[@]}"
t cfg-weights-overflow     2 'network.json|forward_neuron_numbers[2]|weights|more than 2147483647' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 2000], [2000, 2000], [2000, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [1023, 1023]], \"padding\": [[0, 0], [0, 0], [509, 509]]}}'" "${EV[@]}"
t cfg-activations-overflow 2 'network.json|forward_neuron_numbers[0]|1000 x 2072 x 2072|values per image' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 1000], [1000, 1000], [1000, 10]], \"forward_kernel_size\": [[1, 1], [4, 4], [5, 5]], \"padding\": [[1024, 1024]]}}'" "${TR[@]}"
# --dry-run plans shapes only: a huge but valid net (1 GiB of weights, 1 GiB of activations
# per image) is printed with its memory and exit 0, and says it would not fit (it died
# allocating the weights: exit 3)
t cli-dry-run-huge         0 '--dry-run|needs about|GiB|available|exit 3' "put cfg/network.json '{$NET, \"forward_neuron_numbers\": [[1, 64], [64, 64], [64, 10]], \"forward_kernel_size\": [[5, 5], [4, 4], [505, 505]], \"padding\": [[1000, 1000], [0, 0], [0, 0]]}}'" train cfg --dry-run --set batch_size=100000
