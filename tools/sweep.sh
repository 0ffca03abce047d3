#!/usr/bin/env bash
# sweep.sh — hyper-parameter sweeps with sbs-train: a grid (or a list) of --set overrides
# times seeds, run as separate trainings N at a time, each in its own folder under the sweep
# folder. Finished runs are skipped, interrupted ones resumed with --resume, and every run's
# final JSON line is collected with its overrides into results.jsonl and results.csv.
# `meson install` installs it as sbs-sweep, beside sbs-train.
# Ctrl-C (or SIGTERM) is passed on to the runs, which save their state and stop; running the
# same command again continues the sweep. `tools/sweep.sh --help` tells the rest.
set -uo pipefail

usage() {
    printf 'Usage: %s --out DIR [sweep options] -- CONFIG [sbs-train options]\n' "${0##*/}"
    cat <<'EOF'

Runs sbs-train once for every combination of the --axis values (the grid), or for every line
of a --list file, times every seed; each run in its own folder DIR/NAME, where NAME comes from
the run's overrides, e.g. DIR/number_of_spikes=400,learning_rate_gamma_w=0.01,seed=1.

Sweep options:
  --out DIR             the sweep folder (required)
  --axis KEY V1 V2 ...  one axis of the grid: --set KEY=V1, --set KEY=V2, ... (repeatable; the
                        grid is the product of the axes). The values are separate words and
                        run up to the next option, so JSON lists with commas need no escaping:
                        --axis number_of_spikes [400] [1600]
  --list FILE           one run per line: KEY=VALUE overrides separated by spaces (a word
                        that does not start with KEY= continues the value before it, so
                        "number_of_spikes=[400, 100]" works); '#' starts a comment line; a
                        line "-" is a run without overrides. With --axis too, every line is
                        combined with every grid point.
  --seeds LIST          seeds, comma-separated, ranges allowed: 1,2,3 or 1-3 (default 1)
  -j N, --jobs N        N runs at a time (default 1); give sbs-train --threads to share the
                        cores, e.g. -j 4 -- CONFIG --threads 2
  --train PROG          the sbs-train to run (default: $SBS_TRAIN, else the sbs-train beside
                        this script, else build/sbs-train of its repository, else on PATH)
  --dry-run             print the runs and their commands; run nothing
  -h, --help            this text

Everything after "--" goes to every run: the config and sbs-train options (not --out,
--resume or --seed, which the sweep sets). The values are JSON as for sbs-train --set.

In each run folder: what sbs-train writes (weights, checkpoint.sbs, train.log,
metrics.jsonl), overrides.txt (the run's --set values and seed), stdout.log, stderr.log,
attempts.log (one line per start and end) and result.json (the run's final JSON line, or a
"failed" record). A run is finished when result.json says "status": "finished"; such runs
are skipped when the sweep runs again, runs with a checkpoint are continued with --resume,
the others start afresh. The values are checked first with sbs-train --dry-run.

In DIR: results.jsonl (one line per run: {"run", "seed", "overrides": {KEY: VALUE},
"result": <final JSON line>}), results.csv (run, seed, one column per KEY, then the result's
fields), sweep.log.

Exit status: 0 every run finished, 1 a run failed, 2 bad command line or overrides, 130
interrupted: the sweep by a signal, or a run by one of its own (the runs saved their state;
run the same command again to continue).
EOF
}

say() { printf 'sweep: %s\n' "$*" >&2; [ -n "${log_file:-}" ] && printf '%s %s\n' "$(date '+%F %T')" "$*" >> "$log_file"; }
die() { printf 'sweep: %s\n' "$*" >&2; exit "${2:-2}"; }

# ---------------------------------------------------------------- command line
out="" list="" seeds_arg="1" jobs=1 train="${SBS_TRAIN:-}" dry=0
axis_keys=() axis_vals=()   # axis_vals[i]: the values of axis i, one per line
train_args=()
key_re='^[A-Za-z_][A-Za-z0-9_.]*$'
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a folder"; out="$2"; shift 2 ;;
        --list) [ $# -ge 2 ] || die "--list needs a file"; list="$2"; shift 2 ;;
        --seeds) [ $# -ge 2 ] || die "--seeds needs a list, e.g. 1,2,3 or 1-3"; seeds_arg="$2"; shift 2 ;;
        -j|--jobs) [ $# -ge 2 ] || die "$1 needs a number"; jobs="$2"; shift 2 ;;
        -j[0-9]*) jobs="${1#-j}"; shift ;;
        --train) [ $# -ge 2 ] || die "--train needs a program"; train="$2"; shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --axis)
            [ $# -ge 3 ] || die "--axis needs a key and at least one value: --axis KEY V1 V2 ..."
            [[ "$2" =~ $key_re ]] || die "--axis: '$2' is not a config key (expected e.g. learning_parameters.learning_rate_gamma_w)"
            key="$2"; shift 2
            vals=""
            while [ $# -gt 0 ] && [[ "$1" != --* ]] && [ "$1" != -j ] && [ "$1" != -h ]; do
                [[ "$1" == *$'\n'* || "$1" == *$'\t'* ]] && die "--axis $key: a value holds a newline or tab"
                vals+="$1"$'\n'
                shift
            done
            [ -n "$vals" ] || die "--axis $key: no values (expected --axis $key V1 V2 ...)"
            for k in "${axis_keys[@]}"; do [ "$k" = "$key" ] && die "--axis $key given twice"; done
            axis_keys+=("$key"); axis_vals+=("$vals") ;;
        --) shift; train_args=("$@"); break ;;
        *) die "unknown option '$1' (the config and sbs-train options go after --; --help lists the options)" ;;
    esac
done
[ -n "$out" ] || die "--out DIR is required (the sweep folder; --help lists the options)"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j: expected a positive number of runs at a time, found '$jobs'"
[ ${#train_args[@]} -gt 0 ] || die "no config: give it after --, e.g. -- configs/FASHION_MNIST/SbS_Mixed_Loss --epochs 2"
for a in "${train_args[@]}"; do
    case "$a" in
        --out|--out=*|--resume|--seed|--seed=*)
            die "'$a' after --: the sweep sets --out, --resume and --seed of each run itself" ;;
    esac
done

# seeds: 1,2,5-7
seeds=()
IFS=',' read -r -a seed_parts <<<"$seeds_arg"
for p in "${seed_parts[@]}"; do
    if [[ "$p" =~ ^[0-9]+$ ]]; then
        seeds+=("$p")
    elif [[ "$p" =~ ^([0-9]+)-([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -le "${BASH_REMATCH[2]}" ]; then
        for ((s = BASH_REMATCH[1]; s <= BASH_REMATCH[2]; s++)); do seeds+=("$s"); done
    else
        die "--seeds: expected seeds like 1,2,3 or 1-3, found '$p' in '$seeds_arg'"
    fi
done

if [ -z "$train" ]; then
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    if [ -x "$here/sbs-train" ]; then train="$here/sbs-train"
    elif [ -x "$here/../build/sbs-train" ]; then train="$(cd "$here/../build" && pwd)/sbs-train"
    else train="$(command -v sbs-train || true)"
    fi
    [ -n "$train" ] || die "sbs-train not found: build it (ninja -C build) or give --train PROG" 1
fi
[ -x "$train" ] || command -v "$train" >/dev/null 2>&1 || die "--train: '$train' is not a program" 1

# ---------------------------------------------------------------- the runs
# One run's overrides: "KEY=VALUE" lines. The list file's lines (or one empty set) times the
# grid's points, in order, the first axis varying slowest; then times the seeds.
combos=("")
if [ -n "$list" ]; then
    [ -r "$list" ] || die "--list: cannot read '$list'"
    combos=()
    lineno=0
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line="${line%$'\r'}"
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        [[ "$line" == *$'\t'* ]] && die "$list:$lineno: a tab in the line (separate overrides with spaces)"
        if [[ "$line" =~ ^[[:space:]]*-[[:space:]]*$ ]]; then combos+=(""); continue; fi
        sets=""
        read -r -a words <<<"$line"
        for w in "${words[@]}"; do
            if [[ "$w" =~ ^[A-Za-z_][A-Za-z0-9_.]*= ]]; then
                sets+="${sets:+$'\n'}$w"
            elif [ -n "$sets" ]; then
                sets+=" $w"
            else
                die "$list:$lineno: expected KEY=VALUE overrides, found '$w'"
            fi
        done
        combos+=("$sets")
    done < "$list"
    [ ${#combos[@]} -gt 0 ] || die "--list: '$list' has no runs (one line of KEY=VALUE overrides per run)"
fi
for ((a = 0; a < ${#axis_keys[@]}; a++)); do
    grown=()
    for c in "${combos[@]}"; do
        while IFS= read -r v; do
            grown+=("$c${c:+$'\n'}${axis_keys[a]}=$v")
        done <<<"${axis_vals[a]%$'\n'}"
    done
    combos=("${grown[@]}")
done

# a folder name part of a value: [400, 100] -> 400_100; anything unusual -> _
name_value() {
    local v="$1"
    v="${v//[\[\]\{\}\" ]/}"
    v="${v//,/_}"
    v="${v//[^A-Za-z0-9._+-]/_}"
    printf '%s' "${v:-_}"
}

run_sets=() run_seed=() run_name=()
declare -A name_of_key
for c in "${combos[@]}"; do
    # one key twice in a run is an error: which value counts would be unclear
    name_of_key=()
    base=""
    if [ -n "$c" ]; then
        while IFS= read -r kv; do
            k="${kv%%=*}"
            [ -n "${name_of_key[$k]:-}" ] && die "the key $k is set twice in one run (--list line and --axis?)"
            name_of_key[$k]=1
            base+="${k##*.}=$(name_value "${kv#*=}"),"
        done <<<"$c"
    fi
    for s in "${seeds[@]}"; do
        run_sets+=("$c"); run_seed+=("$s"); run_name+=("${base}seed=$s")
    done
done
nruns=${#run_name[@]}

# names must be unique and short enough for a file name: else a checksum of the overrides
declare -A seen
for ((i = 0; i < nruns; i++)); do
    n="${run_name[i]}"
    if [ ${#n} -gt 200 ] || [ -n "${seen[$n]:-}" ]; then
        sum=$(printf '%s\nseed=%s' "${run_sets[i]}" "${run_seed[i]}" | cksum | cut -d' ' -f1)
        n="${n:0:180}~$sum"
        run_name[i]="$n"
    fi
    [ -n "${seen[$n]:-}" ] && die "two runs of the sweep are the same: ${run_name[i]} (a value given twice?)"
    seen[$n]=1
done

# the --set arguments of run i, into the array `sets`
sets_of() {
    sets=()
    [ -n "${run_sets[$1]}" ] || return 0
    local kv
    while IFS= read -r kv; do sets+=(--set "$kv"); done <<<"${run_sets[$1]}"
}

identity() { printf '%s\nseed=%s\n' "${run_sets[$1]}" "${run_seed[$1]}" | sed '/^$/d'; }

if [ "$dry" = 1 ]; then
    echo "$nruns runs in $out, $jobs at a time:"
    for ((i = 0; i < nruns; i++)); do
        sets_of "$i"
        printf '%s\n ' "${run_name[i]}"
        printf ' %q' "$train" "${train_args[@]}" "${sets[@]}" --seed "${run_seed[i]}" --out "$out/${run_name[i]}"
        printf '\n'
    done
    exit 0
fi

mkdir -p "$out" || die "cannot create the sweep folder '$out'" 1
exec 9> "$out/.lock"
flock -n 9 || die "another sweep is running in '$out' (it holds $out/.lock)" 1
log_file="$out/sweep.log"

finished() { [ -f "$1/result.json" ] && grep -q '"status": "finished"' "$1/result.json"; }

# check every run's overrides (and the config) before anything starts: sbs-train --dry-run
for ((i = 0; i < nruns; i++)); do
    dir="$out/${run_name[i]}"
    if [ -f "$dir/overrides.txt" ] && [ "$(cat "$dir/overrides.txt")" != "$(identity "$i")" ]; then
        die "$dir/overrides.txt differs from the run's overrides ($(identity "$i" | paste -sd' ')): another sweep's folder?"
    fi
    finished "$dir" && continue
    sets_of "$i"
    if ! err=$("$train" "${train_args[@]}" "${sets[@]}" --seed "${run_seed[i]}" --dry-run 2>&1 >/dev/null); then
        die "run ${run_name[i]}: sbs-train --dry-run: $(tail -n 1 <<<"$err")"
    fi
done

# JSON of a string
jstr() {
    local s="$1"
    s="${s//\\/\\\\}"; s="${s//\"/\\\"}"
    printf '"%s"' "$s"
}
# JSON of an override value: as it is when it is JSON (sbs-train reads it so), else a string
jval() {
    case "$1" in
        true|false|null|\[*|\{*|\"*) printf '%s' "$1" ;;
        *) if [[ "$1" =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$ ]]; then printf '%s' "$1"
           else jstr "$1"; fi ;;
    esac
}

# ---------------------------------------------------------------- running
declare -A run_of_pid   # the running runs: pid -> run index
nrunning=0
stopping=0 signals=0 n_now=0 n_before=0 n_interrupted=0 n_failed=0

on_signal() {
    signals=$((signals + 1))
    stopping=1
    if [ $signals -eq 1 ]; then
        say "$1: stopping; the $nrunning running run(s) save their state (again to kill them)"
        [ $nrunning -gt 0 ] && for p in "${!run_of_pid[@]}"; do kill -TERM "$p" 2>/dev/null; done
    else
        say "$1 again: killing the runs (they resume from their last saved update)"
        [ $nrunning -gt 0 ] && for p in "${!run_of_pid[@]}"; do kill -KILL "$p" 2>/dev/null; done
    fi
}
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM

# Start run i in the background; returns 1 (starting nothing) when a signal came meanwhile.
start_run() {
    local i=$1 dir="$out/${run_name[$1]}" mode=fresh
    mkdir -p "$dir" || die "cannot create '$dir'" 1
    identity "$i" > "$dir/overrides.txt"
    sets_of "$i"
    local cmd=("$train" "${train_args[@]}" "${sets[@]}" --seed "${run_seed[i]}" --out "$dir")
    if [ -f "$dir/checkpoint.sbs" ]; then cmd+=(--resume); mode=resume; fi
    printf '%q ' "${cmd[@]}" > "$dir/command.txt"; echo >> "$dir/command.txt"
    # a trap runs between commands: a signal during the lines above must not start a run
    [ $stopping -eq 0 ] || return 1
    printf '%s start %s\n' "$(date '+%F %T')" "$mode" >> "$dir/attempts.log"
    "${cmd[@]}" < /dev/null > "$dir/stdout.attempt" 2>> "$dir/stderr.log" &
    run_of_pid[$!]=$i
    nrunning=$((nrunning + 1))
    # ... and one between the start and the line above has not passed the signal on to it
    [ $stopping -eq 0 ] || kill -TERM $! 2>/dev/null
    say "[$((i + 1))/$nruns] start ${run_name[i]}$([ $mode = resume ] && echo ' (resume)')"
}

finish_run() {
    local i=$1 rc=$2 dir="$out/${run_name[$1]}" last status
    cat "$dir/stdout.attempt" >> "$dir/stdout.log"
    last=$(grep '^{' "$dir/stdout.attempt" | tail -n 1)
    rm -f "$dir/stdout.attempt"
    if [ $rc -eq 0 ] && [[ "$last" == *'"status": "finished"'* ]]; then
        status=finished; n_now=$((n_now + 1))
    elif [ $rc -eq 130 ] || [ $rc -eq 137 ] || [ $rc -eq 143 ]; then
        status=interrupted; n_interrupted=$((n_interrupted + 1))
        [[ "$last" == *'"status": "interrupted"'* ]] || last='{"status": "interrupted", "exit": '$rc'}'
    else
        status=failed; n_failed=$((n_failed + 1))
        last="{\"status\": \"failed\", \"exit\": $rc, \"error\": $(jstr "$(tail -n 1 "$dir/stderr.log" 2>/dev/null)")}"
    fi
    printf '%s\n' "$last" > "$dir/result.json.tmp" && mv -f "$dir/result.json.tmp" "$dir/result.json"
    printf '%s end %s (exit %s)\n' "$(date '+%F %T')" "$status" "$rc" >> "$dir/attempts.log"
    local what="$status"
    if [ $status = finished ]; then
        what="finished, test error $(sed -n 's/.*"test_error": \([^,}]*\).*/\1/p' <<<"$last") %"
    elif [ $status = failed ]; then
        what="FAILED (exit $rc): $(tail -n 1 "$dir/stderr.log" 2>/dev/null)"
    fi
    say "[$((i + 1))/$nruns] ${run_name[i]} $what"
}

say "$nruns runs in $out, $jobs at a time, with $train"
next=0
while :; do
    while [ $stopping -eq 0 ] && [ $nrunning -lt "$jobs" ] && [ $next -lt $nruns ]; do
        if finished "$out/${run_name[next]}"; then
            n_before=$((n_before + 1))
        else
            start_run "$next" || break
        fi
        next=$((next + 1))
    done
    [ $nrunning -eq 0 ] && break
    # Poll: `wait -n` misses a run that ended while the sweep was busy (bash reaps it and drops
    # it from the job table), so look at the job table every half second instead. A signal
    # (Ctrl-C reaches the sleep too) runs the trap when the sleep ends.
    sleep 0.5
    alive=" $(jobs -rp | tr '\n' ' ') "
    for p in "${!run_of_pid[@]}"; do
        [[ "$alive" == *" $p "* ]] && continue
        s0=$signals
        wait "$p"; rc=$?
        # a trap that ran during this wait made it return early: ask again (127: the first
        # answer was the run's own status after all)
        if [ "$signals" -ne "$s0" ] && [ $rc -gt 128 ]; then
            wait "$p" 2>/dev/null; r2=$?
            [ $r2 -ne 127 ] && rc=$r2
        fi
        i=${run_of_pid[$p]}
        unset "run_of_pid[$p]"
        nrunning=$((nrunning - 1))
        finish_run "$i" "$rc"
    done
done

# ---------------------------------------------------------------- results
# results.jsonl: the runs with a result, in the sweep's order; results.csv from the same
collect() {
    local i dir kv tmp="$out/results.jsonl.tmp" rows="$out/.rows.tmp"
    : > "$tmp"; : > "$rows"
    for ((i = 0; i < nruns; i++)); do
        dir="$out/${run_name[i]}"
        [ -f "$dir/result.json" ] || continue
        local ov="" sep=""
        printf 'R\t%s\t%s\n' "${run_name[i]}" "${run_seed[i]}" >> "$rows"
        if [ -n "${run_sets[i]}" ]; then
            while IFS= read -r kv; do
                ov+="$sep$(jstr "${kv%%=*}"): $(jval "${kv#*=}")"; sep=", "
                printf 'O\t%s\t%s\n' "${kv%%=*}" "${kv#*=}" >> "$rows"
            done <<<"${run_sets[i]}"
        fi
        printf 'J\t%s\n' "$(head -n 1 "$dir/result.json")" >> "$rows"
        printf '{"run": %s, "seed": %s, "overrides": {%s}, "result": %s}\n' \
            "$(jstr "${run_name[i]}")" "${run_seed[i]}" "$ov" "$(head -n 1 "$dir/result.json")" >> "$tmp"
    done
    mv -f "$tmp" "$out/results.jsonl"
    awk -F'\t' '
        function csv(s) { if (s ~ /[",\r\n]/) { gsub(/"/, "\"\"", s); return "\"" s "\"" } return s }
        # the fields of a flat JSON object (the final line of sbs-train) into rk[1..n], rv[]
        function flat(s,    i, c, n, k, v, L, q) {
            n = 0; L = length(s); i = index(s, "{") + 1
            while (i <= L) {
                c = substr(s, i, 1)
                if (c == " " || c == ",") { i++; continue }
                if (c != "\"") break
                k = ""; i++
                while (i <= L && (c = substr(s, i, 1)) != "\"") { if (c == "\\") { i++; c = substr(s, i, 1) } k = k c; i++ }
                i++
                while (substr(s, i, 1) ~ /[ :]/) i++
                v = ""
                if (substr(s, i, 1) == "\"") {
                    i++
                    while (i <= L && (c = substr(s, i, 1)) != "\"") {
                        if (c == "\\") { i++; c = substr(s, i, 1); if (c == "n") c = "\n"; else if (c == "t") c = "\t" }
                        v = v c; i++
                    }
                    i++
                } else {
                    q = i
                    while (i <= L && (c = substr(s, i, 1)) != "," && c != "}") i++
                    v = substr(s, q, i - q); gsub(/ +$/, "", v)
                }
                rk[++n] = k; rv[k] = v
            }
            return n
        }
        $1 == "R" { r++; name[r] = $2; seed[r] = $3 }
        $1 == "O" { if (!($2 in okey)) { okey[$2] = 1; oorder[++no] = $2 } ov[r, $2] = $3 }
        $1 == "J" {
            split("", rk); split("", rv)
            n = flat(substr($0, 3))
            for (j = 1; j <= n; j++) {
                if (!(rk[j] in jkey)) { jkey[rk[j]] = 1; jorder[++nj] = rk[j] }
                jv[r, rk[j]] = rv[rk[j]]
            }
        }
        END {
            line = "run,seed"
            for (j = 1; j <= no; j++) line = line "," csv(oorder[j])
            for (j = 1; j <= nj; j++) line = line "," csv(jorder[j])
            print line
            for (i = 1; i <= r; i++) {
                line = csv(name[i]) "," seed[i]
                for (j = 1; j <= no; j++) line = line "," csv(ov[i, oorder[j]])
                for (j = 1; j <= nj; j++) line = line "," csv(jv[i, jorder[j]])
                print line
            }
        }' "$rows" > "$out/results.csv.tmp" && mv -f "$out/results.csv.tmp" "$out/results.csv"
    rm -f "$rows"
}
collect

n_fin=$((n_now + n_before))
summary="$nruns runs: $n_fin finished ($n_now now, $n_before before), $n_interrupted interrupted, $n_failed failed"
left=$((nruns - n_fin - n_interrupted - n_failed))
[ $left -gt 0 ] && summary="$summary, $left not started"
say "$summary; results in $out/results.jsonl and $out/results.csv"
if [ $stopping -eq 1 ] || [ $n_interrupted -gt 0 ]; then
    say "interrupted: run the same command again to continue"
    exit 130
fi
[ $n_failed -eq 0 ] || exit 1
exit 0
