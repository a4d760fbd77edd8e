#!/usr/bin/env bash
# The submission image's entry point, as the challenge ran containers:
# /test (images + template.csv) and /train mounted read-only, /output writable,
# /tmp scratch, no network, a non-root user, a read-only root file system.
#
#   1. read /test/template.csv (unusable: a clear message, exit 1)
#   2. use the image's model bundle, or, if it has none, train one from /train
#      (training.csv + landmarks.csv) into /tmp
#   3. ra2 predict -> /output/predictions.csv (written atomically), then ra2 validate it
#   4. if no model could be had or prediction failed: a file of zeros, said loudly
#   5. a summary: patients, images that failed (by name), time, device
#
# Exit 0 with a complete, valid /output/predictions.csv whenever the template could
# be read.  Writes nothing outside the output folder and the scratch folder.  With
# arguments, it runs them instead (a CWL step's command in this image).
#
# Paths can be moved for testing outside a container:
#   RA2_TEST_DIR (/test)  RA2_TRAIN_DIR (/train)  RA2_OUTPUT_DIR (/output)
#   RA2_BUNDLE (/opt/ra2/bundle)  RA2_SCRATCH (/tmp)
#   RA2_TRAIN_ARGS: extra options for `ra2 train` (e.g. --quick)
#   RA2_TRAIN_BUDGET: the training's time budget when the image carries no bundle, e.g. 2h, 45m, 1h30m,
#     or none for the profile's own step counts (unset: ra2 train's default, 2h where Keras sees no GPU);
#     leave it unset when RA2_TRAIN_ARGS holds --steps or --steps-from (ra2 train takes only one of them)
set -uo pipefail

# Given a command (`docker run IMAGE ra2 validate ...`), run it instead: the CWL runners (cwltool, Toil) name
# each step's command (workflows/*.cwl), and Docker hands it to the entry point as arguments. With none,
# this script is the submission, as the challenge ran it.
if [ $# -gt 0 ]; then exec "$@"; fi

TEST_DIR=${RA2_TEST_DIR:-/test}
TRAIN_DIR=${RA2_TRAIN_DIR:-/train}
OUTPUT_DIR=${RA2_OUTPUT_DIR:-/output}
BUNDLE=${RA2_BUNDLE:-/opt/ra2/bundle}
SCRATCH=${RA2_SCRATCH:-/tmp}
TEMPLATE=$TEST_DIR/template.csv
OUT=$OUTPUT_DIR/predictions.csv
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RUNINFO=$HERE/container/runinfo.py
START=$(date +%s)

exec 2>&1          # one ordered log on stdout
log() { printf '%s run.sh: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

# --- signals: the challenge's scheduler ends an over-time job with SIGTERM. Each long step runs in the
# background so that the signal reaches this script at once; it is passed on to the step as SIGTERM
# (a background job of a script ignores SIGINT, so Ctrl-C is passed on as SIGTERM too), the step is
# waited for, a temporary file it could not finish is removed, and the script ends 143 (TERM) or 130 (INT):
# /output holds a complete file or none, never a partial one.
CHILD=""
on_signal() {
    trap '' TERM INT
    log "received SIG$1: stopping${CHILD:+ (passing SIGTERM on to the running step, pid $CHILD)}"
    if [ -n "$CHILD" ]; then
        kill -TERM "$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    rm -f "$OUTPUT_DIR"/.predictions.csv.* 2>/dev/null
    if [ -f "$OUT" ]; then log "stopped by SIG$1; $OUT is the last complete file written"
    else log "stopped by SIG$1; $OUT was not written"; fi
    exit "$2"
}
trap 'on_signal TERM 143' TERM
trap 'on_signal INT 130' INT
# run a step in the background and wait for it, so that a signal is handled while it runs
step() { "$@" & CHILD=$!; wait "$CHILD"; local rc=$?; CHILD=""; return "$rc"; }

# --- everything the libraries would write to $HOME goes to scratch (the root fs is read-only)
WORK=$(mktemp -d "$SCRATCH/ra2-run.XXXXXX") || die "cannot write to the scratch folder $SCRATCH"
trap 'rm -rf "$WORK"' EXIT
export TMPDIR=$WORK/tmp HOME=$WORK/home
export MPLCONFIGDIR=$HOME/matplotlib KERAS_HOME=$HOME/keras XDG_CACHE_HOME=$HOME/cache \
       XDG_CONFIG_HOME=$HOME/config NUMBA_CACHE_DIR=$HOME/numba PYTHONDONTWRITEBYTECODE=1
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-30}   # progress bars: a line every 30 s, not a flood
mkdir -p "$TMPDIR" "$MPLCONFIGDIR" "$KERAS_HOME" "$XDG_CACHE_HOME" "$XDG_CONFIG_HOME" "$NUMBA_CACHE_DIR"

# --- 1. the template: without it there is nothing to fill
log "test folder $TEST_DIR, output $OUT, user $(id -u):$(id -g), keras backend $KERAS_BACKEND"
[ -r "$TEMPLATE" ] || die "cannot read the template $TEMPLATE (is the test folder mounted at $TEST_DIR?)"
python3 "$RUNINFO" check "$TEST_DIR" "$TEMPLATE" | while IFS= read -r line; do log "$line"; done
[ "${PIPESTATUS[0]}" = 0 ] || die "the template $TEMPLATE cannot be used (see above)"
if [ ! -d "$OUTPUT_DIR" ] || [ ! -w "$OUTPUT_DIR" ]; then
    die "the output folder $OUTPUT_DIR is not a writable folder"
fi

# --- 4. (called below) the last resort: a complete, valid file all the same
fallback() {
    log "ERROR: $1"
    log "writing the fallback: every score 0 for every template patient"
    step python3 "$RUNINFO" fallback "$TEMPLATE" "$OUT" || die "could not write even the fallback $OUT"
    step ra2 validate --quiet --template "$TEMPLATE" "$OUT" || die "the fallback $OUT does not validate"
}

# --- 2. a model: the image's bundle, else one trained now from /train
model=""
if [ -f "$BUNDLE/bundle.json" ]; then
    model=$BUNDLE
    log "model bundle $BUNDLE"
elif [ -f "$TRAIN_DIR/training.csv" ] && [ -f "$TRAIN_DIR/landmarks.csv" ]; then
    log "the image carries no model bundle: training one from $TRAIN_DIR into $WORK/bundle"
    # shellcheck disable=SC2086  # RA2_TRAIN_ARGS is a list of options
    if step ra2 train --data "$TRAIN_DIR" --out "$WORK/bundle" ${RA2_TRAIN_BUDGET:+--budget "$RA2_TRAIN_BUDGET"} \
            ${RA2_TRAIN_ARGS:-}; then
        model=$WORK/bundle
        log "training done after $(( $(date +%s) - START )) s"
    else
        log "training failed (see above)"
    fi
else
    log "the image carries no model bundle ($BUNDLE/bundle.json) and $TRAIN_DIR has no training.csv + landmarks.csv"
fi

# --- 3. predict, and check what was written
summary_json=$WORK/summary.json
if [ -z "$model" ]; then
    fallback "no model to predict with"
elif ! step ra2 predict --bundle "$model" --images "$TEST_DIR" --template "$TEMPLATE" --out "$OUT" \
        --summary "$summary_json"; then
    rm -f "$summary_json"
    fallback "ra2 predict failed (see above)"
elif ! step ra2 validate --quiet --template "$TEMPLATE" "$OUT"; then
    rm -f "$summary_json"
    fallback "ra2 predict wrote a file that does not validate (see above)"
fi

# --- 5. summary
seconds=$(( $(date +%s) - START ))
log "summary:"
if [ -f "$summary_json" ]; then
    python3 "$RUNINFO" summary "$summary_json" "$seconds" | while IFS= read -r line; do log "  $line"; done
else
    log "  no predictions from the model (fallback file); time: $seconds s"
fi
log "wrote $OUT"
exit 0
