#!/usr/bin/env bash
# The GPU check (issue #22): builds spanqa against the machine's pip torch with CUDA and NCCL,
# then proves and benchmarks it on the GPU in one run of under 10 minutes, writing everything
# under $OUT (default ./gpu-check-out): summary.md, doctor.txt, bench-*.json, serve.json,
# train/, logs/.
#
#   tests/gpu/check.sh              on a machine with an NVIDIA GPU (make gpu-check)
#   tests/gpu/check.sh --dry-run    on any machine: every step but the CUDA parts, on the CPU and
#                                   cut short, so the script does not rot between GPU runs (CI)
#   tests/gpu/check.sh --build-only build bin/spanqa, bin/gpu-parity.test and bin/gpu-loadgen
#                                   here, to carry to a GPU machine that has no Go toolchain
#
# Environment: OUT, LIBTORCH (a libtorch or pip torch folder; default: the one `python3 -c
# 'import torch'` finds), PYTHON (default python3), GO (default go), SPANQA_FIXTURES,
# GPU_CHECK_TOTAL (seconds for the whole run, default 570).
#
# Every step runs under `timeout` with its own budget, and never past the total; its output
# goes to $OUT/logs/<step>.log. summary.md is written whatever happens. The exit status is
# non-zero when a required step failed.
set -u

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO" || exit 2

MODE=gpu
for arg in "$@"; do
  case "$arg" in
    --dry-run) MODE=dry ;;
    --build-only) MODE=build ;;
    -h | --help)
      sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "check.sh: unknown argument $arg (want --dry-run, --build-only or nothing)" >&2
      exit 2
      ;;
  esac
done

START=$(date +%s)
TOTAL=${GPU_CHECK_TOTAL:-570}
DEADLINE=$((START + TOTAL))
PYTHON=${PYTHON:-python3}
GO=${GO:-go}
# A dry run leaves nothing in the repository: its default $OUT is a temporary folder.
if [ -z "${OUT:-}" ]; then
  if [ "$MODE" = dry ]; then
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/spanqa-gpu-check.XXXXXX")
  else
    OUT=./gpu-check-out
  fi
fi
mkdir -p "$OUT/logs" || exit 2
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/spanqa-gpu-work.XXXXXX")
# Binaries the check builds besides bin/spanqa: in bin/ for a GPU run (where --build-only puts
# them for carrying), in the work folder for a dry run.
if [ "$MODE" = dry ]; then BIN=$WORK/bin; else BIN=$REPO/bin; fi
mkdir -p "$BIN" "$REPO/bin"

if [ "$MODE" = dry ]; then DEVICE=cpu; else DEVICE=cuda; fi
# Go binaries carried from another machine find this machine's cbridge (rebuilt by the build
# step) here rather than at the build path baked into them.
export LD_LIBRARY_PATH="$REPO/build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# No network: the toolchain must not try to download a newer Go or a module.
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
export REPO OUT WORK BIN DEVICE MODE PYTHON GO

say() { printf '[gpu-check %s] %s\n' "$(date -u +%T)" "$*"; }

# --- step bookkeeping ---------------------------------------------------------------------------
NAMES=() STATUS=() SECS=() BUDGETS=() NOTES=()
FAILED=0
record() { # name status seconds budget note
  NAMES+=("$1") STATUS+=("$2") SECS+=("$3") BUDGETS+=("$4") NOTES+=("$5")
  [ "$2" = FAIL ] && [ "${REQUIRED:-1}" = 1 ] && FAILED=1
  say "$1: $2 (${3}s) $5"
}

# run_step NAME BUDGET REQUIRED FUNCTION: runs FUNCTION (exported) under timeout, never past
# the deadline; sets RC and STEP_SECS. The step's figures are added by the caller.
run_step() {
  local name=$1 budget=$2 fn=$4
  REQUIRED=$3
  local left=$((DEADLINE - $(date +%s)))
  if [ "$left" -lt 15 ]; then
    RC=skip STEP_SECS=0 STEP_BUDGET=$budget
    return
  fi
  [ "$budget" -gt "$left" ] && budget=$left
  STEP_BUDGET=$budget
  say "$name: running (budget ${budget}s, log $OUT/logs/$name.log)"
  local t0
  t0=$(date +%s)
  timeout -k 10 "$budget" bash -c "$fn" >"$OUT/logs/$name.log" 2>&1
  RC=$?
  STEP_SECS=$(($(date +%s) - t0))
  if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
    RC=timeout
  fi
  if [ "$RC" != 0 ]; then
    echo "----- last lines of $OUT/logs/$name.log"
    tail -n 15 "$OUT/logs/$name.log"
    echo "-----"
  fi
}

# finish NAME NOTE_ON_PASS: records PASS, or FAIL/SKIP with the reason, from RC.
finish() {
  local name=$1 note=$2
  case "$RC" in
    0) record "$name" PASS "$STEP_SECS" "$STEP_BUDGET" "$note" ;;
    skip)
      # Not run is not proven: a required step the time ran out for fails the run.
      record "$name" SKIP 0 "$STEP_BUDGET" "total budget of ${TOTAL}s spent$([ "$REQUIRED" = 1 ] && echo '; required, so the run fails')"
      [ "$REQUIRED" = 1 ] && FAILED=1
      ;;
    timeout) record "$name" FAIL "$STEP_SECS" "$STEP_BUDGET" "timed out after ${STEP_BUDGET}s; $note" ;;
    *) record "$name" FAIL "$STEP_SECS" "$STEP_BUDGET" "exit $RC (see logs/$name.log); $note" ;;
  esac
}

skip() { REQUIRED=$2 record "$1" SKIP 0 - "$3"; }

figures() { "$PYTHON" "$REPO/tests/gpu/figures.py" "$@" 2>/dev/null || echo "n/a (no $PYTHON)"; }

# --- the summary, written on every exit ---------------------------------------------------------
write_summary() {
  local s=$OUT/summary.md now
  now=$(date +%s)
  {
    if [ "$MODE" = dry ]; then
      echo "# spanqa GPU check: DRY RUN (CPU only; not GPU figures)"
      echo
      echo "Every step ran on the CPU and cut short, to prove the script's plumbing. The figures below"
      echo "are not GPU results and say nothing about the goals."
    elif [ "$MODE" = build ]; then
      echo "# spanqa GPU check: build only"
    else
      echo "# spanqa GPU check"
    fi
    echo
    echo "- when: $(date -u +%FT%TZ), total $((now - START)) s of a ${TOTAL} s budget"
    echo "- commit: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" status --porcelain 2>/dev/null | grep -q . && echo ' (with uncommitted changes)')"
    echo "- host: $(uname -n), $(nproc) CPUs"
    [ -n "${GPU_NAME:-}" ] && echo "- GPU: $GPU_NAME"
    echo "- result: $([ "$FAILED" = 0 ] && echo 'no required step failed' || echo 'A REQUIRED STEP FAILED')"
    echo
    echo "| step | status | seconds | budget | key figures / reason |"
    echo "| --- | --- | --- | --- | --- |"
    local i
    for i in "${!NAMES[@]}"; do
      echo "| ${NAMES[$i]} | ${STATUS[$i]} | ${SECS[$i]} | ${BUDGETS[$i]} | ${NOTES[$i]//|//} |"
    done
    local f32 bf16
    f32=$(figures bench-table "$OUT/bench-f32.json" "${GPU_NAME:-}")
    bf16=$(figures bench-table "$OUT/bench-bf16.json" "${GPU_NAME:-}")
    if [ -n "$f32$bf16" ] && [ "${f32:0:3}" != "n/a" ]; then
      echo
      echo "## spanqa bench ($DEVICE)"
      echo
      echo "seed = every window padded to 384 tokens; spanqa = dynamic padding and length buckets."
      echo "MFU (roofline) divides model FLOP/s by the GEMM rate measured on the device; MFU (peak) by the"
      echo "datasheet's dense peak (bf16 tensor cores; float32 without TF32, libtorch's default)."
      echo
      echo "| model | precision | phase | seq/s | tokens/s | MFU (roofline) | MFU (peak) |"
      echo "| --- | --- | --- | --- | --- | --- | --- |"
      [ -n "$f32" ] && echo "$f32"
      [ -n "$bf16" ] && echo "$bf16"
    fi
    if [ "$MODE" = gpu ]; then
      echo
      echo "## Goals (the issue's, for an H100)"
      echo
      figures goals "$OUT" "${GPU_NAME:-}"
    fi
    echo
    echo "## Prerequisites"
    echo
    echo '```'
    cat "$OUT/prereqs.txt" 2>/dev/null
    echo '```'
    echo
    echo "Logs: logs/<step>.log; files: $(cd "$OUT" && find . -maxdepth 2 -type f ! -path './logs/*' ! -name summary.md | sort | tr '\n' ' ')"
  } >"$s"
}

cleanup() {
  write_summary
  rm -rf "$WORK"
  say "summary: $OUT/summary.md"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites ------------------------------------------------------------------------------
# Printed first, to the console and prereqs.txt, so a run that cannot build says why at once.
CUDA_HDR_NOTE=""
prereqs() {
  echo "mode: $MODE ($([ "$MODE" = dry ] && echo 'CPU, cut short' || echo 'device cuda'))"
  echo "repo: $REPO"
  echo "out:  $OUT"
  echo "os:   $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), $(uname -m), glibc $(ldd --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+$')"
  echo "cpus: $(nproc)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -n 4 | tr '\n' ';')"
  else
    echo "nvidia-smi: not found"
  fi
  # libtorch: $LIBTORCH, else the pip torch python sees (from /, so that the repository's Go
  # folder named torch cannot be imported in its place).
  if command -v "$PYTHON" >/dev/null 2>&1; then
    echo "python: $(command -v "$PYTHON") ($("$PYTHON" --version 2>&1))"
    local info
    info=$(cd / && "$PYTHON" -c 'import torch, os; print(os.path.dirname(torch.__file__)); print("torch %s, CUDA %s, cuda.is_available %s, %d device(s)" % (torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count()))' 2>&1)
    if [ $? = 0 ]; then
      PY_TORCH=$(echo "$info" | head -n1)
      echo "python torch: $(echo "$info" | tail -n1) at $PY_TORCH"
    else
      PY_TORCH=""
      echo "python torch: not importable ($(echo "$info" | tail -n1))"
    fi
    if (cd / && "$PYTHON" -c 'import transformers' >/dev/null 2>&1); then
      HAVE_TRANSFORMERS=1
      echo "transformers: $(cd / && "$PYTHON" -c 'import transformers; print(transformers.__version__)' 2>&1) (hf_reference.py will run)"
    else
      HAVE_TRANSFORMERS=0
      echo "transformers: not importable$([ "$MODE" = gpu ] && echo ' (hf_reference.py is skipped)' || echo ' (a dry run only checks hf_reference.py --dry-run)')"
    fi
  else
    PY_TORCH="" HAVE_TRANSFORMERS=0
    echo "python: $PYTHON not found (needed for the summary's figures and hf_reference.py)"
  fi
  if [ "$MODE" = gpu ]; then
    LT=${LIBTORCH:-$PY_TORCH}
    if [ -z "$LT" ]; then
      echo "libtorch: NOT FOUND: set LIBTORCH=/path/to/site-packages/torch (or a libtorch folder)"
    elif [ ! -f "$LT/lib/libtorch_cuda.so" ]; then
      echo "libtorch: $LT has no lib/libtorch_cuda.so: not a CUDA build (the build will fail with CUDA=ON)"
    else
      echo "libtorch: $LT (CUDA build)"
    fi
  else
    LT=${LIBTORCH:-}
    echo "libtorch: ${LT:-the default build (make deps: the pinned pip torch in .venv)}, CUDA=AUTO"
  fi
  echo "cmake: $(cmake --version 2>/dev/null | head -n1 || echo 'NOT FOUND (needed to build cbridge)')"
  echo "c++: $(c++ --version 2>/dev/null | head -n1 || echo 'NOT FOUND (needed to build cbridge)')"
  echo "make: $(make --version 2>/dev/null | head -n1 || echo 'NOT FOUND')"
  [ "$MODE" = gpu ] && cuda_headers
  go_check
  # Fixtures: the HF reference models (../shared) are optional here: without them the parity
  # test compares random-weight models of the same four architectures.
  local f
  for f in "${SPANQA_FIXTURES:-}" "$REPO/../shared/fixtures" "$REPO/shared/fixtures"; do
    if [ -n "$f" ] && [ -d "$f/models/bert" ]; then
      export SPANQA_FIXTURES=$(cd "$f" && pwd)
      echo "fixtures: $SPANQA_FIXTURES (parity on the HF fixture models)"
      break
    fi
  done
  [ -z "${SPANQA_FIXTURES:-}" ] && echo "fixtures: not found (SPANQA_FIXTURES, ../shared/fixtures, ./shared/fixtures): parity runs on random-weight models of the four architectures"
  if [ -d "${SPANQA_DATA:-$REPO/../shared/data}/squad/v1.1" ]; then
    echo "SQuAD: ${SPANQA_DATA:-$REPO/../shared/data} (bench cuts real windows)"
  else
    echo "SQuAD: not found (bench uses its recorded SQuAD v1.1 length histogram)"
  fi
}

# cuda_headers: what cbridge's CUDA build will compile with. A CUDA toolkit (nvcc) is used when
# found; otherwise the headers of the nvidia-* wheels beside torch. CUDA 13 wheels keep them in
# one folder (nvidia/cu13/include, crt/ from nvidia-cuda-crt); CUDA 12 wheels spread them over
# nvidia/<lib>/include and have crt/ only in nvidia-cuda-nvcc-cu12, so every wheel's include
# folder goes on CPATH, which the compiler searches after the command line's.
cuda_headers() {
  if ! command -v nvcc >/dev/null 2>&1; then
    local tk
    for tk in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
      [ -x "$tk/nvcc" ] || continue
      if [ -n "${LT:-}" ] && ! wheel_headers_complete; then
        export PATH="$tk:$PATH"
        echo "cuda: nvcc not on PATH; using the toolkit at $tk (the nvidia wheels lack headers)"
      fi
      break
    done
  fi
  if command -v nvcc >/dev/null 2>&1; then
    echo "cuda: toolkit $(nvcc --version | grep -oE 'release [0-9.]+' | head -n1) at $(command -v nvcc) (TorchConfig finds it)"
    return
  fi
  [ -n "${LT:-}" ] || return
  local nv dirs="" d h where missing=""
  nv=$(cd "$LT/.." 2>/dev/null && pwd)/nvidia
  for d in "$nv"/*/include; do
    [ -d "$d" ] && dirs="$dirs${dirs:+:}$d"
  done
  if [ -z "$dirs" ]; then
    echo "cuda: NO nvcc and no nvidia-* wheels at $nv: the CUDA build cannot find the CUDA headers"
    CUDA_HDR_NOTE="no CUDA headers (no nvcc, no nvidia wheels)"
    return
  fi
  export CPATH="$dirs${CPATH:+:$CPATH}"
  echo "cuda: no nvcc; headers from the nvidia wheels (CPATH=$dirs)"
  for h in cuda_runtime_api.h crt/host_defines.h cublas_v2.h cublasLt.h cusparse.h cusolverDn.h nccl.h; do
    where=$(IFS=:; for d in $dirs; do [ -f "$d/$h" ] && { echo "${d#$nv/}"; break; }; done)
    if [ -n "$where" ]; then
      echo "  $h: nvidia/$where"
    else
      echo "  $h: MISSING"
      missing="$missing $h"
    fi
  done
  if [ -n "$missing" ]; then
    echo "  -> the CUDA build will fail for want of:$missing (crt/host_defines.h comes with nvidia-cuda-crt for CUDA 13,"
    echo "     nvidia-cuda-nvcc-cu12 for CUDA 12; or install a CUDA toolkit with nvcc). With no network they must be carried."
    CUDA_HDR_NOTE="missing CUDA headers:$missing"
  fi
}

wheel_headers_complete() {
  local d ok
  for h in cuda_runtime_api.h crt/host_defines.h cublas_v2.h; do
    ok=0
    for d in "$LT"/../nvidia/*/include; do [ -f "$d/$h" ] && ok=1; done
    [ "$ok" = 1 ] || return 1
  done
}

# go_check: Go builds offline only with a recent enough toolchain and a module cache that
# already holds every dependency (go mod download needs the network).
GO_MODE=none GO_NOTE=""
go_check() {
  if ! command -v "$GO" >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ] && [ "$GO" = go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  local want have
  want=$(awk '$1 == "go" { print $2; exit }' "$REPO/go.mod")
  if ! command -v "$GO" >/dev/null 2>&1; then
    GO_NOTE="Go not found ($GO): go.mod wants Go $want"
  else
    have=$("$GO" env GOVERSION 2>/dev/null | sed 's/^go//')
    if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]; then
      GO_NOTE="Go $have is older than go.mod's $want (GOTOOLCHAIN=local: no download)"
    elif ! (cd "$REPO" && "$GO" list -deps -test ./cmd/spanqa ./tests/gpu/... >/dev/null 2>"$WORK/golist.err"); then
      GO_NOTE="Go $have, but the module cache ($("$GO" env GOMODCACHE)) lacks dependencies and there is no network: $(grep -m1 -oE '[^ ]+@v[^ :]+' "$WORK/golist.err" || head -c 200 "$WORK/golist.err")"
    else
      GO_MODE=go
      echo "go: $have at $(command -v "$GO"); module cache $("$GO" env GOMODCACHE) holds every dependency"
      return
    fi
  fi
  if [ "$MODE" = gpu ] && [ -x "$REPO/bin/spanqa" ] && [ -x "$BIN/gpu-parity.test" ] && [ -x "$BIN/gpu-loadgen" ]; then
    GO_MODE=prebuilt
    echo "go: $GO_NOTE; using the Go binaries carried in bin/ (built by --build-only elsewhere), with cbridge rebuilt here"
  else
    echo "go: $GO_NOTE. Build them where Go is (tests/gpu/check.sh --build-only) and carry bin/spanqa, bin/gpu-parity.test and bin/gpu-loadgen"
  fi
}

say "prerequisites"
prereqs >"$OUT/prereqs.txt" 2>&1
cat "$OUT/prereqs.txt"
export LT GO_MODE
case "$GO_MODE" in
  go) GO_SUMMARY="Go $("$GO" env GOVERSION), module cache complete" ;;
  prebuilt) GO_SUMMARY="carried Go binaries ($GO_NOTE)" ;;
  *) GO_SUMMARY="NO GO BUILD: $GO_NOTE" ;;
esac
record prerequisites INFO "$(($(date +%s) - START))" - "$GO_SUMMARY; libtorch ${LT:-$([ "$MODE" = gpu ] && echo NONE || echo default)}${CUDA_HDR_NOTE:+; $CUDA_HDR_NOTE}"

# --- 1. build -----------------------------------------------------------------------------------
# make build would run make deps first, whose apt step (chromium for a browser test, cmake...)
# needs the network; the check runs the two halves of make build itself instead.
step_build() {
  set -e
  local cuda=AUTO lt=${LIBTORCH:-}
  if [ "$MODE" = gpu ]; then cuda=ON lt=$LT; fi
  if [ "$GO_MODE" = go ]; then
    # Third-party and standard packages compile while cbridge does (they do not link it).
    (cd "$REPO" && "$GO" list -deps ./cmd/spanqa ./tests/gpu/loadgen | grep -v '^github.com/spanqa/' | xargs "$GO" build) &
    pre=$!
    trap 'kill $pre 2>/dev/null || true' EXIT
  fi
  echo "+ make cbridge LIBTORCH=$lt CUDA=$cuda"
  make -C "$REPO" cbridge LIBTORCH="$lt" CUDA="$cuda"
  [ "$GO_MODE" = go ] || { echo "no Go: using the carried binaries"; exit 0; }
  wait "$pre" || true
  echo "+ go build bin/spanqa, $BIN/gpu-parity.test, $BIN/gpu-loadgen"
  # Binaries to carry are stripped (stack traces keep their names): the three fit in 64 MiB.
  local ld=()
  [ "$MODE" = build ] && ld=(-ldflags=-s\ -w)
  "$GO" build "${ld[@]}" -o "$REPO/bin/spanqa" ./cmd/spanqa
  "$GO" test -c "${ld[@]}" -o "$BIN/gpu-parity.test" ./tests/gpu
  "$GO" build "${ld[@]}" -o "$BIN/gpu-loadgen" ./tests/gpu/loadgen
}
export -f step_build

BUILD_OK=0
if [ "$GO_MODE" = none ]; then
  # A run that cannot build fails, loudly: nothing was proven.
  REQUIRED=1 record build FAIL 0 - "cannot build the Go side: $GO_NOTE"
elif [ "$MODE" = gpu ] && [ -z "$LT" ]; then
  REQUIRED=1 record build FAIL 0 - "no libtorch: python's torch is not importable and LIBTORCH is not set"
else
  run_step build 240 1 step_build
  finish build "$([ "$MODE" = gpu ] && echo "CUDA=ON against ${LT}" || echo "CUDA=AUTO against ${LIBTORCH:-the default libtorch}")$([ "$GO_MODE" = prebuilt ] && echo '; Go binaries carried, not built here')"
  [ "$RC" = 0 ] && BUILD_OK=1
fi
[ "$MODE" = build ] && exit "$FAILED"

# --- 2. doctor ----------------------------------------------------------------------------------
step_doctor() { "$REPO/bin/spanqa" doctor | tee "$OUT/doctor.txt"; }
export -f step_doctor
CUDA_OK=0
if [ "$BUILD_OK" = 1 ]; then
  run_step doctor 30 1 step_doctor
  GPU_NAME=$(figures gpu-name "$OUT/doctor.txt")
  [ "${GPU_NAME:0:3}" = "n/a" ] && GPU_NAME=""
  if [ "$RC" = 0 ] && [ "$MODE" = gpu ] && ! grep -q '^CUDA: *available' "$OUT/doctor.txt"; then
    record doctor FAIL "$STEP_SECS" "$STEP_BUDGET" "CUDA NOT AVAILABLE to spanqa: $(figures doctor "$OUT/doctor.txt")"
  else
    [ "$RC" = 0 ] && CUDA_OK=1
    finish doctor "$(figures doctor "$OUT/doctor.txt")"
  fi
else
  skip doctor 1 "build failed"
fi
# In a dry run the CUDA steps run on the CPU, whenever the build worked.
[ "$MODE" = dry ] && [ "$BUILD_OK" = 1 ] && CUDA_OK=1
why_not() { [ "$BUILD_OK" = 1 ] && echo "CUDA not available to spanqa (see doctor)" || echo "build failed"; }

# --- 3. CUDA parity -----------------------------------------------------------------------------
step_parity() {
  cd "$REPO/tests/gpu"
  if [ "$MODE" = dry ]; then
    export SPANQA_GPU_DEVICE=cpu
  else
    export SPANQA_GPU_REQUIRE=1
  fi
  "$BIN/gpu-parity.test" -test.v -test.count=1 -test.timeout=110s
}
export -f step_parity
if [ "$CUDA_OK" = 1 ]; then
  run_step parity 120 1 step_parity
  finish parity "$(figures parity "$OUT/logs/parity.log")$([ "$MODE" = dry ] && echo ' (CPU against CPU: plumbing only)')"
else
  skip parity 1 "$(why_not)"
fi

# --- 4. the embedded default, trained on the device ---------------------------------------------
step_train() {
  set -e
  local extra=()
  [ "$MODE" = dry ] && extra=(--max-steps 10 --max-eval-samples 40 --no-plot)
  local t0
  t0=$(date +%s.%N)
  # The wall time counts everything the command does: data generation, CUDA start-up, eval.
  "$REPO/bin/spanqa" train --use-recipe --output-dir "$WORK/train" --device "$DEVICE" "${extra[@]}"
  mkdir -p "$OUT/train"
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$OUT/train/wall_seconds"
  local f
  for f in eval_results.json trainer_state.json train_log.jsonl training_plot.png config.json; do
    [ -f "$WORK/train/output/$f" ] && cp "$WORK/train/output/$f" "$OUT/train/"
  done
  if [ "$MODE" = gpu ]; then
    "$PYTHON" -c 'import json, sys; f1 = json.load(open(sys.argv[1]))["eval_f1"]; print("eval F1", f1); sys.exit(0 if f1 >= 90 else "F1 %.2f < 90" % f1)' "$OUT/train/eval_results.json"
  fi
}
export -f step_train
if [ "$CUDA_OK" = 1 ]; then
  run_step train 120 1 step_train
  finish train "$(figures train "$OUT/train/eval_results.json" "$OUT/train/wall_seconds" $([ "$MODE" = gpu ] && echo 90))$([ "$MODE" = dry ] && echo ' (DRY: 10 steps on the CPU, no F1 bar)')"
else
  skip train 1 "$(why_not)"
fi

# --- 5. spanqa bench: bert-base and deberta-v3-base, f32 and bf16 -------------------------------
step_bench() { # $1 = f32 or bf16
  local prec=$1 args=()
  [ "$prec" = bf16 ] && args+=(--bf16)
  if [ "$MODE" = dry ]; then
    # One timed step of the dynamic phases of bert-base at batch 2: the plumbing, in a minute.
    args+=(--quick --steps 1 --models bert --train-batch-size 2 --eval-batch-size 2 --no-profile)
    if [ "$prec" = bf16 ]; then args+=(--phases train/spanqa); else args+=(--phases infer/spanqa,train/spanqa); fi
  else
    args+=(--models bert,deberta)
  fi
  "$REPO/bin/spanqa" bench --device "$DEVICE" "${args[@]}" --output "$OUT/bench-$prec.json"
}
export -f step_bench
for prec in f32 bf16; do
  if [ "$CUDA_OK" = 1 ]; then
    eval "step_bench_$prec() { step_bench $prec; }"
    export -f "step_bench_$prec"
    run_step "bench-$prec" "$([ $prec = f32 ] && echo 120 || echo 100)" 1 "step_bench_$prec"
    finish "bench-$prec" "$(figures bench "$OUT/bench-$prec.json" "${GPU_NAME:-}")"
  else
    skip "bench-$prec" 1 "$(why_not)"
  fi
done

# --- 6. serve throughput ------------------------------------------------------------------------
step_serve() {
  if [ "$MODE" = dry ]; then
    "$BIN/gpu-loadgen" --spanqa "$REPO/bin/spanqa" --size tiny --device cpu --clients 1,8,32 --requests 40 --duration 5s \
      --output "$OUT/serve.json" --server-log "$OUT/logs/serve-server.log" --workdir "$WORK/serve-model"
  else
    "$BIN/gpu-loadgen" --spanqa "$REPO/bin/spanqa" --size base --device "$DEVICE" --clients 1,8,32 --requests 4000 --duration 8s \
      --output "$OUT/serve.json" --server-log "$OUT/logs/serve-server.log" --workdir "$WORK/serve-model"
  fi
}
export -f step_serve
if [ "$CUDA_OK" = 1 ]; then
  run_step serve 75 1 step_serve
  finish serve "$(figures serve "$OUT/serve.json")"
else
  skip serve 1 "$(why_not)"
fi

# --- 7. Hugging Face on the same batches (optional) ---------------------------------------------
step_hf() {
  cd /tmp # hf_reference.py drops the repository from sys.path itself; this is belt and braces
  local prec args
  for prec in f32 bf16; do
    [ -f "$OUT/bench-$prec.json" ] || continue
    args=()
    [ "$prec" = bf16 ] && args+=(--bf16)
    if [ "$MODE" = dry ]; then
      "$PYTHON" "$REPO/tests/bench/hf_reference.py" --spanqa "$OUT/bench-$prec.json" --dry-run
    else
      "$PYTHON" "$REPO/tests/bench/hf_reference.py" --spanqa "$OUT/bench-$prec.json" --output "$OUT/hf-bench-$prec.json" "${args[@]}"
      "$REPO/bin/spanqa" bench --from "$OUT/bench-$prec.json" --compare "$OUT/hf-bench-$prec.json" --output ""
    fi
  done
}
export -f step_hf
if [ ! -f "$OUT/bench-f32.json" ] && [ ! -f "$OUT/bench-bf16.json" ]; then
  skip hf-reference 0 "no bench.json to take the batches from"
elif [ "$MODE" = gpu ] && [ "$HAVE_TRANSFORMERS" != 1 ]; then
  skip hf-reference 0 "transformers is not importable by $PYTHON here: no HF figures"
else
  run_step hf-reference 150 0 step_hf
  if [ "$MODE" = dry ]; then
    finish hf-reference "hf_reference.py --dry-run: the plan rebuilt from bench.json (no torch)"
  else
    REQUIRED=0 finish hf-reference "$(figures hf "$OUT/bench-f32.json" "$OUT/hf-bench-f32.json") | bf16 $(figures hf "$OUT/bench-bf16.json" "$OUT/hf-bench-bf16.json")"
  fi
fi

exit "$FAILED"
