#!/bin/bash
# The reference's own test suite (its in-scope part) against scoring.compat, only its imports changed.
#
#   tools/reference_suite/run.sh REFERENCE [pytest args...]
#
# REFERENCE: a checkout of github.com/interpretml/interpret-community, or its bare git directory
# (then HEAD's tests/ is exported). Everything is written under $WORKDIR (default /tmp/ic-run),
# never into this repository: the reference's code is read and run there, not copied here.
# ml-wrappers (the reference's data wrapper, used by its tests) is installed there on first use.
# Environment: SRC, the scoring.compat to test (default: this checkout); PYTHON (default: the
# venv of this checkout); SEL, a pytest -k filter to add; OUTFILE, where pytest's report goes
# (default $WORKDIR/report.txt).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REF=${1:?usage: run.sh REFERENCE [pytest args...]}
shift
WORK=${WORKDIR:-/tmp/ic-run}
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$WORK"
rm -rf "$WORK/suite" && mkdir -p "$WORK/suite"
if [ -d "$REF/tests" ]; then
  cp -r "$REF/tests" "$WORK/suite/"
else
  git --git-dir="$REF" archive HEAD tests | tar -x -C "$WORK/suite"
fi
[ -d "$WORK/site/ml_wrappers" ] || "$PY" -m pip install -q --no-deps --target "$WORK/site" ml-wrappers==0.6.4
# the only change to the reference's files: their imports
find "$WORK/suite/tests" -name '*.py' -print0 |
  xargs -0 perl -0pi -e 's/from interpret_community(\.[A-Za-z_.]+)? import/from ic_imports import/g'
FILES="tests/test_explain_model.py tests/test_mimic_explainer.py tests/test_pfi_explainer.py
  tests/test_serialize_explanation.py tests/test_validate_explanations.py tests/raw_explain/test_raw_explanation.py"
# out of scope: DNN (keras, pytorch, tensorflow), sparse and text data, GPU, private internals
OUT="dnn or keras or pytorch or tf_ or tensorflow or sparse or npz or hashing or text or vectoriz
  or newsgroups or gpu or cuml or get_explainers or batch_dataset or summarize_data"
REPORT=${OUTFILE:-$WORK/report.txt}
cd "$WORK/suite"
# ic_offline: the data sets the suite downloads, as offline stand-ins (no network here)
PYTHONPATH="${SRC:-$ROOT}:$WORK/site:$HERE:$WORK/suite/tests" timeout 3000 \
  "$PY" -m pytest -p ic_offline -q -p no:cacheprovider -o addopts="" -W ignore $FILES \
  -k "${SEL:+($SEL) and }not ($(echo $OUT))" -rA --tb=line "$@" > "$REPORT" 2>&1 || true
grep '^FAILED' "$REPORT" || true
tail -1 "$REPORT"
