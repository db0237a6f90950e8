#!/usr/bin/env bash
# Packaging check (`make build-check`): build the sdist and, from it, the wheel; install the wheel
# into a fresh virtualenv (dependencies from the package registry); run the installed `smallest`
# from outside the source tree and compare its version with smallest_cli.__version__.
# Everything happens in a temporary directory that is removed afterwards. Exits non-zero on any failure.
#
# Environment: PY (python with `build` installed; default .venv/bin/python, else python3),
#              KEEP_TMP=1 (keep the temporary directory for inspection).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [[ -z "${PY:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi

fail() { echo "build-check: FAIL: $*" >&2; exit 1; }
step() { echo "build-check: $*"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/smallest-build-check.XXXXXX")
cleanup() {
  if [[ "${KEEP_TMP:-}" == 1 ]]; then echo "build-check: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

"$PY" -c 'import build' 2>/dev/null || fail "the 'build' package is missing for $PY (pip install build)"
expected=$(cd "$ROOT" && "$PY" -c 'import smallest_cli; print(smallest_cli.__version__)') \
  || fail "cannot import smallest_cli from $ROOT"

step "building sdist and wheel (smallest_cli $expected)"
"$PY" -m build --outdir "$TMP/dist" "$ROOT" >"$TMP/build.log" 2>&1 \
  || { tail -n 40 "$TMP/build.log" >&2; fail "python -m build failed"; }

shopt -s nullglob
wheels=("$TMP"/dist/*.whl)
sdists=("$TMP"/dist/*.tar.gz)
shopt -u nullglob
[[ ${#wheels[@]} -eq 1 ]] || fail "expected one wheel, found ${#wheels[@]}"
[[ ${#sdists[@]} -eq 1 ]] || fail "expected one sdist, found ${#sdists[@]}"
wheel=${wheels[0]}
case "$(basename "$wheel")" in
  smallest_cli-"$expected"-py3-none-any.whl) ;;
  *) fail "unexpected wheel name $(basename "$wheel") (want smallest_cli-$expected-py3-none-any.whl)" ;;
esac

step "checking wheel contents"
"$PY" - "$wheel" <<'EOF' || fail "wheel contents are wrong"
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
problems = []
if "smallest_cli/__init__.py" not in names:
    problems.append("smallest_cli/__init__.py missing")
if not any(n.endswith("entry_points.txt") for n in names):
    problems.append("entry_points.txt missing")
stray = sorted({n.split("/")[0] for n in names} - {"smallest_cli"} - {n.split("/")[0] for n in names if ".dist-info/" in n})
if stray:
    problems.append("unexpected top-level entries: " + ", ".join(stray))
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

step "installing the wheel into a fresh virtualenv"
"$PY" -m venv "$TMP/venv" || fail "cannot create a virtualenv"
"$TMP/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel" >"$TMP/pip.log" 2>&1 \
  || { tail -n 40 "$TMP/pip.log" >&2; fail "pip install of the wheel failed"; }

step "running the installed smallest"
# From the temporary directory, so the source tree cannot shadow the installed package.
cd "$TMP"
[[ -x "$TMP/venv/bin/smallest" ]] || fail "the console script 'smallest' was not installed"
got=$("$TMP/venv/bin/smallest" --version) || fail "smallest --version exited non-zero"
[[ "$got" == "smallest $expected" ]] || fail "smallest --version printed '$got', expected 'smallest $expected'"
got_m=$("$TMP/venv/bin/python" -m smallest_cli --version) || fail "python -m smallest_cli --version failed"
[[ "$got_m" == "smallest $expected" ]] || fail "python -m smallest_cli --version printed '$got_m'"
location=$("$TMP/venv/bin/python" -c 'import smallest_cli, os; print(os.path.dirname(smallest_cli.__file__))')
[[ "$location" == "$TMP/venv/"* ]] || fail "smallest_cli was imported from $location, not the fresh venv"
"$TMP/venv/bin/smallest" --help >/dev/null || fail "smallest --help exited non-zero"

step "OK: $(basename "$wheel") installs and runs ($got)"
