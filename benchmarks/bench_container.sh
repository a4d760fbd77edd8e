#!/usr/bin/env bash
# Measure the submission image: cold build, rebuild after a code-only change, image size,
# and the time of a contract run (--network none --read-only --user 1000:1000).
#
#   benchmarks/bench_container.sh [TEST_PATIENTS] [SIZE_SCALE]     (defaults 20, 1.0)
#
# Works on a copy of the build context in a scratch folder (the repository is not touched).
# Needs an engine (container/engine.sh start; DOCKER_HOST set or printed by it) and a base
# image: $RA2_BASE (default ra2-base:bookworm, see container/make-base.sh).  CPU TensorFlow
# pinned to this virtual environment's versions, as the container test builds it.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
BASE=${RA2_BASE:-ra2-base:bookworm}
TAG=ra2-submission:bench
N_TEST=${1:-20}
SCALE=${2:-1.0}
if [ -z "${DOCKER_HOST:-}" ] && status=$("$REPO/container/engine.sh" status 2>/dev/null); then
    export DOCKER_HOST=${status#DOCKER_HOST=}
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ra2-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CTX=$WORK/context
mkdir -p "$CTX"
(cd "$REPO" && git ls-files -z -co --exclude-standard | tar --null -T - -c) | tar -x -C "$CTX"

# t LABEL COMMAND...: run COMMAND (its output in $WORK/last.log) and print "LABEL: N s"
t() {
    local label=$1 start end
    shift
    start=$(date +%s.%N)
    if ! "$@" >"$WORK/last.log" 2>&1; then
        echo "$label: FAILED"; tail -n 30 "$WORK/last.log"; exit 1
    fi
    end=$(date +%s.%N)
    echo "$label: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"
}

echo "phantom cohort: 6 training, $N_TEST test patients (size scale $SCALE); quick bundle"
"$PY" -m ra2 synth --out "$WORK/phantom" --train 6 --test "$N_TEST" --seed 11 --size-scale "$SCALE" -q >/dev/null
"$PY" -m ra2 synth --out "$WORK/small" --train 6 --test 1 --seed 11 --size-scale 0.5 -q >/dev/null
t "ra2 train --quick (host, 6 patients)" "$PY" -m ra2 train --data "$WORK/small/train" --out "$CTX/bundles/bench" --quick

PINS=$("$PY" -c "
from importlib.metadata import version, PackageNotFoundError
names = ['tensorflow-cpu','keras','numpy','scipy','scikit-learn','pillow','pandas','h5py','ml-dtypes']
out = []
for n in names:
    try: out.append(f'{n}=={version(n)}')
    except PackageNotFoundError: pass
print(' '.join(out))")
build() { docker build --network host -t "$TAG" --build-arg "BASE=$BASE" --build-arg TF_PACKAGE=tensorflow-cpu \
          --build-arg "PINS=$PINS" --build-arg BUNDLE=bundles/bench \
          --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt "$@" "$CTX"; }

t "cold build (--no-cache, downloads every wheel)" build --no-cache
echo "# a code-only change" >> "$CTX/challenge/__init__.py"
t "rebuild after a code-only change" build
t "rebuild with nothing changed" build
docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "image size: %.2f GB (%.0f MiB)\n", $1/1e9, $1/1048576}'

chmod -R a+rX "$WORK/phantom/test"
mkdir -m 777 "$WORK/out"
run() { docker run --rm --network none --read-only --tmpfs /tmp --user 1000:1000 \
        -v "$WORK/phantom/test:/test:ro" -v "$WORK/out:/output" "$TAG"; }
t "contract run, $N_TEST patients ($((N_TEST * 4)) images)" run
grep -E "summary|patients:|images|time:|device:" "$WORK/last.log" | sed 's/^/  /'
docker rmi "$TAG" >/dev/null
