#!/usr/bin/env bash
# Every config of the reference (datasets/reference/configs) and every config in configs/
# (the ready-to-run copies and configs/examples) loads, trains for at least one update and
# evaluates its weights. Synthetic data of the right format stands in for the data sets
# (MNIST and CIFAR-10 cannot be downloaded here), and spikes/iterations are cut to keep it fast.
set -u
TRAIN="$1"; EVAL="$2"; GEN="$3"
SRC="${SBS_SOURCE_ROOT:-.}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/mnist" "$T/cifar"
"$GEN" mnist "$T/mnist" 600 && "$GEN" cifar "$T/cifar" 120 || { echo "FAIL gen_data"; exit 1; }
fail=0; n=0
cfgs=$(ls "$SRC"/configs/{MNIST,FASHION_MNIST,CIFAR10}/*/def.json "$SRC"/configs/examples/*/def.json 2>/dev/null)
[ -d "$SRC/datasets/reference/configs" ] && cfgs="$cfgs $(ls "$SRC"/datasets/reference/configs/*/*/def.json)"
for def in $cfgs; do
    n=$((n + 1))
    name=${def#"$SRC"/}
    dir=$(dirname "$def")
    case "$(grep -o '"data_mode"[^,}]*' "$dir/dataset.json")" in
        *CIFAR10*) data="$T/cifar" ;;
        *) data="$T/mnist" ;;
    esac
    out="$T/run$n"
    # one update: batch_size x number_of_batches_for_one_update training images
    if ! res=$("$TRAIN" "$def" --data "$data" --out "$out" --epochs 1 --quiet --limit-test 24 \
               --set 'number_of_spikes=[8]' --set batch_size=8 \
               --set learning_parameters.number_of_batches_for_one_update=1 \
               --limit-train 16 --weights "$T/none" 2>"$T/err"); then
        echo "FAIL $name: sbs-train: $(tail -n 1 "$T/err")"; fail=1; continue
    fi
    steps=$(tail -n 1 <<<"$res" | sed -n 's/.*"steps": \([0-9]*\).*/\1/p')
    if [ "${steps:-0}" -lt 1 ]; then echo "FAIL $name: no update ($res)"; fail=1; continue; fi
    if ! ev=$("$EVAL" "$def" --data "$data" --weights "$out" --limit 24 --json --set 'number_of_spikes=[8]' 2>"$T/err"); then
        echo "FAIL $name: sbs-eval: $(tail -n 1 "$T/err")"; fail=1; continue
    fi
    echo "ok   $name ($steps updates; eval: $(cut -c1-40 <<<"$ev"))"
done
echo "$n configs"
[ $n -ge 20 ] || { echo "FAIL expected at least 20 configs, found $n"; fail=1; }
exit $fail
