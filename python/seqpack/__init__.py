"""seqpack: Rust-accelerated sequence packing and data pipelines for language-model training."""

from __future__ import annotations

from seqpack._core import __version__
from seqpack.ast_bpe import train_ast_bpe, train_ast_bpe_files
from seqpack.chat import ChatEncoding, apply_chat_template
from seqpack.dataset import Dataset
from seqpack.decompose import Decomposition, decompose
from seqpack.errors import (
    CorruptDatasetError,
    InvalidInputError,
    SeqpackError,
    SeqpackIOError,
    TokenizerError,
    UnsupportedTokenizerError,
)
from seqpack.mixture import Mixture, Source
from seqpack.packing import ALGORITHMS, Packing, lower_bound, pack
from seqpack.preprocess import preprocess
from seqpack.storage import fetch
from seqpack.tokenizer import Tokenizer, train_bpe, train_bpe_files

__all__ = [
    "ALGORITHMS",
    "ChatEncoding",
    "CorruptDatasetError",
    "Dataset",
    "Decomposition",
    "InvalidInputError",
    "Mixture",
    "Packing",
    "SeqpackError",
    "SeqpackIOError",
    "Source",
    "Tokenizer",
    "TokenizerError",
    "UnsupportedTokenizerError",
    "__version__",
    "apply_chat_template",
    "decompose",
    "fetch",
    "lower_bound",
    "pack",
    "preprocess",
    "train_ast_bpe",
    "train_ast_bpe_files",
    "train_bpe",
    "train_bpe_files",
]
