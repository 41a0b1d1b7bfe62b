# Sourced by the scripts beside it: defines kdaug_bench, which runs `kdaug bench "$@"` from the
# checkout (PYTHONPATH=$PWD), whether or not the package is installed. PY names the Python to
# use (default python3).
PY=${PY:-${PYTHON:-python3}}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
kdaug_bench() {
  $PY -m kdaug.cli bench "$@"
}
