#!/usr/bin/env bash
# compare_train.sh — speed and accuracy of `liftlab-cli train` vs the plain
# PyTorch reference (bench/reference_train.py), same settings for both.
#
# Runs each trainer RUNS times (default 3), alternating liftlab / python so
# that slow drifts of the machine hit both alike, with
#     --split seen --iterations N --threads 2 --seed 0  [extra flags]
# (liftlab-cli additionally gets --dataset fashion-mnist --out <tmpdir>), and
# prints the median images/s of each, the ratio liftlab / python, and each
# one's Recall@1.
#
# Where the numbers come from:
#   liftlab: <run>/summary.json  {"images_per_sec": ..., "train_seconds": ...}
#            <run>/eval.jsonl    last line's "recall_at_1" (final evaluation)
#            <run> is the --out folder, or if summary.json is not directly in
#            it, the newest folder below it that holds a summary.json.
#   python:  the JSON line reference_train.py prints on stdout.
#
# Extra flags (after the options, or after `--`) go to both trainers, e.g.
#     bench/compare_train.sh -n 500 -- --normalize --schedule cosine
# so use only flags both understand.

set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/compare_train.sh [-n N] [-r RUNS] [-c CLI] [-p PYTHON] [-k] [--] [EXTRA_FLAGS...]

Compare `liftlab-cli train` with bench/reference_train.py on Fashion-MNIST
(split seen, --threads 2, --seed 0): median images/s, ratio liftlab/python,
and Recall@1 of each.

options:
  -n N        training iterations for both (default 1000)
  -r RUNS     runs of each trainer, alternating (default 3)
  -c CLI      path to liftlab-cli (default build/release/app/liftlab-cli)
  -p PYTHON   Python with torch for the reference (default /usr/bin/python3)
  -k          keep the run folders and logs (their location is printed)
  -h          show this help
EXTRA_FLAGS   passed unchanged to both trainers (e.g. --normalize)
EOF
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
iterations=1000
runs=3
cli="build/release/app/liftlab-cli"
python=/usr/bin/python3
keep=0

while getopts ":n:r:c:p:kh" opt; do
  case "$opt" in
    n) iterations="$OPTARG" ;;
    r) runs="$OPTARG" ;;
    c) cli="$OPTARG" ;;
    p) python="$OPTARG" ;;
    k) keep=1 ;;
    h) usage; exit 0 ;;
    :) echo "error: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "error: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ "${1:-}" == "--" ]] && shift
extra=("$@")

if [[ ! -x "$cli" ]]; then
  echo "error: $cli is not an executable file (build liftlab-cli or pass -c)" >&2
  exit 2
fi
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "error: $python cannot import torch (pass -p)" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/liftlab-compare.XXXXXX")"
if [[ $keep == 1 ]]; then
  echo "run folders and logs kept in $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi

common=(--split seen --iterations "$iterations" --threads 2 --seed 0)

# json_get FILE KEY [last]: print KEY of the JSON object in FILE; with
# `last`, FILE is JSON lines and the last non-empty line is used.
json_get() {
  "$python" - "$@" <<'PY'
import json, sys
path, key = sys.argv[1], sys.argv[2]
last = len(sys.argv) > 3 and sys.argv[3] == "last"
with open(path) as f:
    text = f.read()
if last:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        sys.exit(f"{path}: empty")
    obj = json.loads(lines[-1])
else:
    obj = json.loads(text)
print(obj[key])
PY
}

# Folder of a liftlab run inside OUT (see the header).
find_run_dir() {
  local out="$1"
  if [[ -f "$out/summary.json" ]]; then
    echo "$out"
    return
  fi
  local newest
  newest="$(find "$out" -name summary.json -printf '%T@ %h\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)"
  if [[ -z "$newest" ]]; then
    echo "error: no summary.json under $out" >&2
    return 1
  fi
  echo "$newest"
}

lift_ips=(); lift_r1=(); py_ips=(); py_r1=()

for ((i = 1; i <= runs; i++)); do
  # --- liftlab-cli -----------------------------------------------------------
  out="$work/liftlab-$i"
  mkdir -p "$out"
  echo "[$i/$runs] liftlab-cli train ${common[*]} ${extra[*]}" >&2
  if ! "$cli" train --dataset fashion-mnist "${common[@]}" --out "$out" "${extra[@]}" \
      >"$work/liftlab-$i.log" 2>&1; then
    echo "error: liftlab-cli train failed; last lines of its output:" >&2
    tail -20 "$work/liftlab-$i.log" >&2
    exit 1
  fi
  run="$(find_run_dir "$out")"
  ips="$(json_get "$run/summary.json" images_per_sec)"
  if [[ -s "$run/eval.jsonl" ]]; then
    r1="$(json_get "$run/eval.jsonl" recall_at_1 last)"
  else
    r1="nan"
    echo "warning: $run/eval.jsonl missing or empty; Recall@1 unknown" >&2
  fi
  lift_ips+=("$ips"); lift_r1+=("$r1")
  echo "    liftlab: images/s $ips  Recall@1 $r1" >&2

  # --- PyTorch reference ---------------------------------------------------
  echo "[$i/$runs] reference_train.py ${common[*]} ${extra[*]}" >&2
  if ! "$python" "$here/reference_train.py" "${common[@]}" "${extra[@]}" \
      >"$work/python-$i.json" 2>"$work/python-$i.log"; then
    echo "error: reference_train.py failed; last lines of its output:" >&2
    tail -20 "$work/python-$i.log" >&2
    exit 1
  fi
  ips="$(json_get "$work/python-$i.json" images_per_sec last)"
  r1="$(json_get "$work/python-$i.json" recall_at_1 last)"
  py_ips+=("$ips"); py_r1+=("$r1")
  echo "    python:  images/s $ips  Recall@1 $r1" >&2
done

# Summary: medians, ratio, Recall@1 (median over runs plus every run's value).
"$python" - "$iterations" "${extra[*]:-}" \
  "${lift_ips[*]}" "${py_ips[*]}" "${lift_r1[*]}" "${py_r1[*]}" <<'PY'
import json, math, statistics, sys
iterations, extra = sys.argv[1], sys.argv[2]
lift_ips, py_ips, lift_r1, py_r1 = ([float(v) for v in s.split()] for s in sys.argv[3:7])

def med(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return statistics.median(xs) if xs else float("nan")

def fmt(xs, digits):
    return ", ".join(f"{x:.{digits}f}" for x in xs)

lm, pm = med(lift_ips), med(py_ips)
ratio = lm / pm if pm > 0 else float("nan")
print(f"settings: --split seen --iterations {iterations} --threads 2 --seed 0 {extra}".rstrip())
print(f"liftlab-cli : median {lm:10.1f} images/s  (runs: {fmt(lift_ips, 1)})")
print(f"python ref  : median {pm:10.1f} images/s  (runs: {fmt(py_ips, 1)})")
print(f"ratio liftlab / python: {ratio:.3f}")
print(f"Recall@1 liftlab-cli : {med(lift_r1):.4f}  (runs: {fmt(lift_r1, 4)})")
print(f"Recall@1 python ref  : {med(py_r1):.4f}  (runs: {fmt(py_r1, 4)})")
print(json.dumps({"liftlab_images_per_sec": lm, "python_images_per_sec": pm, "ratio": ratio,
                  "liftlab_recall_at_1": med(lift_r1), "python_recall_at_1": med(py_r1),
                  "iterations": int(iterations), "runs": len(lift_ips)}))
PY
