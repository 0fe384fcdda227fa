# Sourced by the GPU scripts: unbuffered Python, $OUT, and the wheels in .whl/ (diffusers, … for a
# machine without network) installed into /tmp/site on the PYTHONPATH beside the repo.
export PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi

# "-n 4 --dist loadfile" where pytest-xdist is installed (its wheels: pytest-xdist, execnet), else nothing
parallel_tests() { python3 -c "import xdist" 2>/dev/null && echo "-n 4 --dist loadfile"; }
