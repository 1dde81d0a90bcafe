#!/usr/bin/env bash
# The real-vocabulary encode benchmark (bench_tokenize.py --families) on a machine without
# network: seqpack and the peers come from wheels in DIR/wheels, the vocabularies from
# DIR/fams.tar.xz (`scripts/real_tokenizers.py build` output) and the corpus from
# DIR/pystdlib.jsonl.xz. Results go to OUT; extra arguments go to the benchmark.
# usage: benches/offline_families.sh DIR OUT [--rounds N] [--tool tiktoken]
set -euo pipefail
dir=$1 out=$2
shift 2
work=$(mktemp -d)
python3 -m venv --system-site-packages "$work/venv"
# shellcheck disable=SC1091
source "$work/venv/bin/activate"
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
for wheel in "$dir"/wheels/*.whl; do
    # A wheel whose platform tag pip does not take here is unpacked as it is.
    pip install --quiet --no-index --no-deps "$wheel" || python -m zipfile -e "$wheel" "$site"
done
python -c 'import seqpack, tiktoken; print("seqpack", seqpack.__file__, "tiktoken", tiktoken.__version__)'
mkdir -p "$work/families" "$work/corpora" "$out"
tar xJf "$dir/fams.tar.xz" -C "$work/families"
xz -dc "$dir/pystdlib.jsonl.xz" >"$work/corpora/pystdlib.jsonl"
lscpu >"$out/lscpu.txt"
python benches/bench_tokenize.py --families "$work/families" --corpora "$work/corpora" \
    --out "$out" --work "$work/scratch" "$@"
