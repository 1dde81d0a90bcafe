"""Small dataset directories written with pyarrow alone, whose tokens name their place:
token ``d * STRIDE + i`` is token ``i`` of document ``d``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from seqpack import _core

STRIDE = 1_000_000


def write_dataset(path: Path, lengths: Sequence[int]) -> Path:
    path.mkdir(parents=True)
    item = pa.field("item", pa.uint32(), nullable=False)
    tokens = [np.arange(n, dtype=np.uint32) + np.uint32(d * STRIDE) for d, n in enumerate(lengths)]
    table = pa.table(
        {
            "input_ids": pa.array(tokens, pa.large_list(item)),
            "length": pa.array(lengths, pa.uint32()),
            "doc_id": pa.array(range(len(lengths)), pa.uint64()),
            "source": pa.array(["docs.jsonl"] * len(lengths), pa.string()),
            "line": pa.array(range(1, len(lengths) + 1), pa.uint64()),
        }
    )
    shard = path / "shard-00000.arrow"
    with pa.OSFile(str(shard), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_batch(table.combine_chunks().to_batches()[0])
    manifest = {
        "format": "seqpack-dataset",
        "format_version": 1,
        "tokenizer": {"fingerprint": "synthetic", "vocab_size": 1 << 31},
        "shards": [
            {
                "file": shard.name,
                "rows": len(lengths),
                "tokens": int(sum(lengths)),
                "bytes": shard.stat().st_size,
                "checksum": _core.checksum_file(str(shard)),
            }
        ],
        "total_rows": len(lengths),
        "total_tokens": int(sum(lengths)),
        "total_text_bytes": 0,
        "length_histogram": {"counts": [], "min": 0, "max": 0},
        "skipped": {},
        "sources": ["docs.jsonl"],
        "options": {},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path
