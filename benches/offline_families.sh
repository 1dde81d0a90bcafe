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
# Into a directory of their own, ahead of the interpreter's packages (numpy, pyarrow, HF
# tokenizers), wherever those are installed.
site=$work/site
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
for wheel in "$dir"/wheels/*.whl; do
    # A wheel whose platform tag pip does not take here is unpacked as it is.
    python3 -m pip install --quiet --no-index --no-deps --target "$site" "$wheel" ||
        python3 -m zipfile -e "$wheel" "$site"
done
python3 -c 'import seqpack, tiktoken; print("seqpack", seqpack.__file__, "tiktoken", tiktoken.__version__)'
mkdir -p "$work/families" "$work/corpora" "$out"
tar xJf "$dir/fams.tar.xz" -C "$work/families"
xz -dc "$dir/pystdlib.jsonl.xz" >"$work/corpora/pystdlib.jsonl"
lscpu >"$out/lscpu.txt"
python3 benches/bench_tokenize.py --families "$work/families" --corpora "$work/corpora" \
    --out "$out" --work "$work/scratch" "$@"
