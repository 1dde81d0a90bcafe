"""Type stubs of the extension module (checked against it with ``mypy.stubtest``)."""

import os
from collections.abc import Callable, Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALGORITHMS",
    "AST_LANGUAGES",
    "CURRICULA",
    "DATASET_FORMAT",
    "DATASET_FORMAT_VERSION",
    "DECOMPOSITION_FORMAT",
    "DECOMPOSITION_FORMAT_VERSION",
    "DEFAULT_SPLIT_SIZE",
    "INPUT_SUFFIXES",
    "LOADER_STATE_VERSION",
    "LOSS_MASK_FORMAT_VERSION",
    "MAX_CAPACITY",
    "NNLSHP_MAX_CAPACITY",
    "RECORD_FORMATS",
    "TOKENIZER_IMPLEMENTATIONS",
    "TRAIN_ON",
    "ArrowBatch",
    "AstBpeTraining",
    "BatchStream",
    "BpeTrainer",
    "ChatTemplate",
    "ContextParallel",
    "Dataset",
    "EpochPlanner",
    "FlatStream",
    "Mixture",
    "MixtureCursor",
    "MixtureStream",
    "Packing",
    "Plan",
    "PreprocessProgress",
    "ShardStream",
    "SqlBpe",
    "StepSplit",
    "TokenBudget",
    "TokenStore",
    "Tokenizer",
    "__version__",
    "balance_partition",
    "begin_preprocess",
    "chat_template_beside",
    "checksum_file",
    "commit_splits",
    "commit_tokenized",
    "count_split",
    "curriculum_odds",
    "curriculum_schedule",
    "decompose",
    "derive_seed",
    "loader_state",
    "lower_bound",
    "pack",
    "plan_preprocess",
    "preprocess",
    "preprocess_split",
    "read_decomposition_manifest",
    "read_documents",
    "resume_loader_state",
    "split_result_name",
    "split_starts",
    "spread_order",
    "sql_parse",
    "sql_tokens",
    "syntax_crossing",
    "train_ast_bpe",
]
__version__: str

# The core's constants (rust/python/src/constants.rs); Python uses these, never copies.
ALGORITHMS: tuple[str, ...]
MAX_CAPACITY: int
NNLSHP_MAX_CAPACITY: int
DATASET_FORMAT: str
DATASET_FORMAT_VERSION: int
LOSS_MASK_FORMAT_VERSION: int
DEFAULT_SPLIT_SIZE: int
DECOMPOSITION_FORMAT: str
DECOMPOSITION_FORMAT_VERSION: int
INPUT_SUFFIXES: tuple[str, ...]
RECORD_FORMATS: tuple[str, ...]
TRAIN_ON: tuple[str, ...]

@final
class Packing:
    """A CSR list of packs: pack ``p`` holds entries ``pack_offsets[p]:pack_offsets[p + 1]``;
    entry ``e`` is tokens ``start[e]:start[e] + length[e]`` of document ``doc[e]``."""

    @property
    def pack_offsets(self) -> npt.NDArray[np.int64]: ...
    @property
    def doc(self) -> npt.NDArray[np.int64]: ...
    @property
    def start(self) -> npt.NDArray[np.int64]: ...
    @property
    def length(self) -> npt.NDArray[np.int64]: ...
    @property
    def capacity(self) -> int: ...
    @property
    def num_packs(self) -> int: ...
    @property
    def efficiency(self) -> float: ...
    @property
    def placed_tokens(self) -> int: ...
    @property
    def truncated_tokens(self) -> int: ...
    @property
    def algorithm(self) -> str: ...
    def __len__(self) -> int: ...
    def stats(self) -> dict[str, int | float | str]: ...

_BatchArrays = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.int32],
    int,
    int,
]

@final
class TokenStore:
    """The rows of a dataset's shards, memory-mapped: made by ``Dataset.token_store``."""

    def __len__(self) -> int: ...
    def lengths(self) -> npt.NDArray[np.int64]: ...

@final
class ArrowBatch:
    """One validated record batch, exported by the Arrow PyCapsule protocol."""

    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...
    def __len__(self) -> int: ...

@final
class Dataset:
    """A dataset directory, opened, checked and memory-mapped."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        verify: bool = True,
        tokenizer_fingerprint: str | None = None,
    ) -> Dataset: ...
    def __len__(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def num_tokens(self) -> int: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def tokenizer_fingerprint(self) -> str: ...
    @property
    def shard_paths(self) -> list[str]: ...
    @property
    def manifest(self) -> dict[str, Any]: ...
    def lengths(self) -> npt.NDArray[np.uint32]: ...
    @property
    def token_store(self) -> TokenStore: ...
    def record_batches(self) -> list[ArrowBatch]: ...

def read_decomposition_manifest(path: str | os.PathLike[str]) -> dict[str, Any]: ...

@final
class Plan:
    """The rows of one epoch in training order."""

    @property
    def num_packs(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def placed_tokens(self) -> int: ...
    @property
    def truncated_tokens(self) -> int: ...
    @property
    def align(self) -> int: ...
    @property
    def alignment_padding(self) -> int: ...
    def arrays(
        self,
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]: ...
    def write_packed(
        self,
        store: TokenStore,
        manifest: str | os.PathLike[str],
        out: str | os.PathLike[str],
        pad_id: int,
        packing: dict[str, Any],
    ) -> None: ...

@final
class BatchStream:
    """Batches of a schedule, assembled ahead on a thread (made by ``StepSplit.stream``)."""

    def __iter__(self) -> BatchStream: ...
    def __next__(self) -> _BatchArrays: ...
    def __len__(self) -> int: ...

@final
class FlatStream:
    """Flattened batches of a token budget, assembled ahead on a thread (made by
    ``TokenBudget.stream``): each item is a batch's arrays (one row of all its tokens) and
    the plan position the loader stands at once it is handed out."""

    def __iter__(self) -> FlatStream: ...
    def __next__(self) -> tuple[_BatchArrays, int]: ...
    def __len__(self) -> int: ...

_ShardArrays = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.int32],
    int,
    int,
]

@final
class ContextParallel:
    """Rank ``rank`` of a context-parallel group of ``size`` (layout ``"per-document"`` or
    ``"row"``)."""

    def __new__(cls, size: int, rank: int, layout: str) -> ContextParallel: ...
    @property
    def size(self) -> int: ...
    @property
    def rank(self) -> int: ...
    @property
    def document_align(self) -> int: ...
    def check_seq_len(self, seq_len: int) -> None: ...
    def gather_indices(self, lengths: Sequence[int]) -> list[int]: ...

@final
class ShardStream:
    """Batches of a schedule cut into one rank's context-parallel shards (made by
    ``StepSplit.shard_stream``): ``(input_ids, labels, position_ids, document_ids,
    gather_indices, cu_seqlens, cu_seqlens_padded, max_seqlen, real_tokens)``."""

    def __iter__(self) -> ShardStream: ...
    def __next__(self) -> _ShardArrays: ...
    def __len__(self) -> int: ...

# The sampler (seqpack_core::sampler): epoch plans, the rank/step split, the curriculum,
# the seed derivation and the loader state.

CURRICULA: list[str]
LOADER_STATE_VERSION: int

@final
class EpochPlanner:
    """Plans the epochs of one dataset; the last plan asked for is kept."""

    def __new__(
        cls,
        store: TokenStore,
        name: str,
        fingerprint: str,
        packed_seq_len: int | None,
        *,
        seq_len: int,
        algorithm: str,
        long_docs: str,
        max_docs_per_pack: int | None,
        shuffle: bool,
        seed: int,
        align: int,
        spread_cost: bool = False,
    ) -> EpochPlanner: ...
    def plan(self, epoch: int) -> Plan: ...
    def forget(self) -> None: ...
    def options(self) -> dict[str, Any]: ...
    @property
    def store(self) -> TokenStore: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def is_packed(self) -> bool: ...

@final
class StepSplit:
    """How an epoch's rows are cut into steps and shared out over ranks and workers."""

    def __new__(
        cls,
        *,
        batch_size: int,
        world_size: int,
        rank: int,
        drop_last: bool,
        pad_id: int,
        prefetch: int,
        balance: str = "none",
        balance_cost: tuple[float, float] | None = None,
        micro_batches: int | None = None,
    ) -> StepSplit: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def world_size(self) -> int: ...
    @property
    def rank(self) -> int: ...
    @property
    def rows_per_step(self) -> int: ...
    def steps(self, rows: int, consumed: int) -> int: ...
    def rows_left_out(self, rows: int) -> int: ...
    def stream(
        self, store: TokenStore, plan: Plan, consumed: int, worker: int, workers: int
    ) -> BatchStream: ...
    def shard_stream(
        self,
        store: TokenStore,
        plan: Plan,
        consumed: int,
        worker: int,
        workers: int,
        cp: ContextParallel,
    ) -> ShardStream: ...

@final
class TokenBudget:
    """Token-budget steps: one flattened batch of at most ``batch_tokens`` tokens per rank
    and step, the same steps planned on every rank."""

    def __new__(
        cls,
        *,
        batch_tokens: int,
        seq_len: int,
        world_size: int,
        rank: int,
        drop_last: bool,
        pad_id: int,
        prefetch: int,
        balance: str = "none",
        balance_cost: tuple[float, float] | None = None,
    ) -> TokenBudget: ...
    @property
    def batch_tokens(self) -> int: ...
    @property
    def world_size(self) -> int: ...
    @property
    def rank(self) -> int: ...
    def steps(self, plan: Plan, consumed: int) -> int: ...
    def rows_left_out(self, plan: Plan) -> int: ...
    def stream(
        self, store: TokenStore, plan: Plan, consumed: int, worker: int, workers: int
    ) -> FlatStream: ...

def balance_partition(costs: Sequence[float], groups: int, method: str = "kk") -> list[int]: ...
def spread_order(work: Sequence[int], offset: int) -> list[int]: ...
def derive_seed(dataset: str, options: dict[str, Any], epoch: int, purpose: str) -> int: ...
def curriculum_odds(curriculum: str | Sequence[float], num_buckets: int) -> list[float]: ...
def curriculum_schedule(
    steps_per_bucket: Sequence[int], odds: Sequence[float], cycles: int, seed: int
) -> npt.NDArray[np.int64]: ...
def loader_state(
    loader: str, dataset: str, options: dict[str, Any], epoch: int, consumed: int
) -> dict[str, Any]: ...
def resume_loader_state(
    state: object,
    loader: str,
    dataset: str,
    options: dict[str, Any],
    epoch_size: Callable[[int], int],
) -> tuple[int, int]: ...
def pack(
    lengths: npt.NDArray[np.int64],
    capacity: int,
    *,
    algorithm: str = "obfd",
    max_docs_per_pack: int | None = None,
    long_docs: str = "split",
    seed: int | None = None,
) -> Packing: ...
def lower_bound(
    lengths: npt.NDArray[np.int64], capacity: int, *, long_docs: str = "split"
) -> tuple[int, int]: ...

@final
class Tokenizer:
    """A tokenizer of any implementation (the typed API is ``seqpack.Tokenizer``)."""

    @staticmethod
    def from_file(
        path: str | os.PathLike[str], *, implementation: str | None = None
    ) -> Tokenizer: ...
    @staticmethod
    def from_str(json: str, *, implementation: str | None = None) -> Tokenizer: ...
    def encode(self, text: str, *, add_special_tokens: bool = False) -> npt.NDArray[np.uint32]: ...
    def encode_batch(
        self, texts: Sequence[str], *, add_special_tokens: bool = False
    ) -> list[npt.NDArray[np.uint32]]: ...
    def decode_bytes(self, ids: npt.NDArray[np.uint32]) -> bytes: ...
    def decode(self, ids: npt.NDArray[np.uint32]) -> str: ...
    @property
    def implementation(self) -> str: ...
    @property
    def native(self) -> bool: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def fallbacks(self) -> int | None: ...
    def token_to_id(self, token: str) -> int | None: ...
    def id_to_token(self, id: int) -> str | None: ...
    def to_str(self) -> str: ...
    def save(self, path: str | os.PathLike[str]) -> None: ...

TOKENIZER_IMPLEMENTATIONS: list[str]

@final
class ChatTemplate:
    """A chat template, its variables and what to train on (see
    ``seqpack.apply_chat_template``)."""

    def __new__(
        cls,
        text: str,
        *,
        origin: str = "template",
        tokenizer_path: str | os.PathLike[str] | None = None,
        train_on: str = "assistant",
        variables: dict[str, Any] | None = None,
    ) -> ChatTemplate: ...
    def apply(
        self,
        tokenizer: Tokenizer,
        messages: Any,
        *,
        tools: Any | None = None,
        add_generation_prompt: bool = False,
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_], str, int]: ...
    @property
    def source(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def has_generation(self) -> bool: ...
    @property
    def fingerprint(self) -> str: ...

def chat_template_beside(
    tokenizer_path: str | os.PathLike[str], *, name: str | None = None, with_tools: bool = False
) -> tuple[str, str]: ...

@final
class BpeTrainer:
    """Counts pieces of the text it is fed, then learns merges (see ``seqpack.train_bpe``)."""

    def __new__(
        cls, *, vocab_size: int, special_tokens: Sequence[str], pattern: str, min_frequency: int
    ) -> BpeTrainer: ...
    def feed(self, texts: Sequence[str]) -> None: ...
    def feed_file(
        self, path: str | os.PathLike[str], progress: Callable[[int], object] | None
    ) -> None: ...
    @property
    def documents(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    def train(self) -> Tokenizer: ...

def preprocess(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    tokenizer: Tokenizer,
    *,
    text_field: str = "text",
    lines: bool = False,
    prepend: int | None = None,
    append: int | None = None,
    shard_size: int = 33554432,
    on_error: str = "fail",
    resume: bool = False,
    workers: int = 0,
    split_size: int = 268435456,
    source_names: Sequence[str] | None = None,
    progress: Callable[[PreprocessProgress], object] | None = None,
    format: str | None = None,
    train_on: str | None = None,
    chat_template: str | os.PathLike[str] | None = None,
    template_vars: dict[str, Any] | None = None,
    tokenizer_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]: ...

# A run taken apart (seqpack.ray): plans, counts, starts and results are JSON-shaped data;
# options are the keyword dict of `seqpack.preprocess`'s core options.
def plan_preprocess(
    inputs: Sequence[str | os.PathLike[str]], tokenizer: Tokenizer, options: dict[str, Any]
) -> dict[str, Any]: ...
def begin_preprocess(
    plan: dict[str, Any],
    out: str | os.PathLike[str],
    tokenizer: Tokenizer,
    options: dict[str, Any],
) -> dict[str, Any] | None: ...
def count_split(
    plan: dict[str, Any], split: int, tokenizer: Tokenizer, options: dict[str, Any]
) -> dict[str, Any]: ...
def split_starts(
    plan: dict[str, Any], counts: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]: ...
def preprocess_split(
    plan: dict[str, Any],
    split: int,
    start: dict[str, Any],
    out: str | os.PathLike[str],
    tokenizer: Tokenizer,
    options: dict[str, Any],
    *,
    progress: Callable[[PreprocessProgress], object] | None = None,
) -> dict[str, Any]: ...
def commit_splits(
    plan: dict[str, Any],
    results: Sequence[dict[str, Any] | None],
    out: str | os.PathLike[str],
    tokenizer: Tokenizer,
    options: dict[str, Any],
) -> dict[str, Any]: ...
def commit_tokenized(
    files: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    source: str,
    tokenizer: Tokenizer,
    options: dict[str, Any],
) -> dict[str, Any]: ...
def split_result_name(split: int) -> str: ...

@final
class PreprocessProgress:
    """How far a preprocess run has come (handed to its ``progress`` callback)."""

    @property
    def documents(self) -> int: ...
    @property
    def tokens(self) -> int: ...
    @property
    def text_bytes(self) -> int: ...
    @property
    def input_bytes_read(self) -> int: ...
    @property
    def input_bytes_total(self) -> int: ...
    @property
    def shards(self) -> int: ...
    @property
    def seconds(self) -> float: ...

def checksum_file(path: str) -> str: ...
def read_documents(path: str | os.PathLike[str]) -> list[str]: ...
def decompose(
    input: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    min_log2: int = 8,
    max_log2: int = 13,
    remainder: str = "pack",
    seed: int | None = None,
    shifted_targets: bool = False,
    shard_size: int = 33554432,
) -> dict[str, Any]: ...

AST_LANGUAGES: list[str]

@final
class AstBpeTraining:
    """What AST-BPE training made and saw (see ``seqpack.train_ast_bpe``)."""

    @property
    def tokenizer(self) -> Tokenizer: ...
    @property
    def documents(self) -> int: ...
    @property
    def unparsed(self) -> int: ...

def train_ast_bpe(
    texts: Sequence[str],
    *,
    language: str,
    vocab_size: int,
    special_tokens: Sequence[str],
    min_frequency: int,
) -> AstBpeTraining: ...

@final
class SqlBpe:
    """BPE over whole SQL tokens, plain or along the parse (see ``seqpack.SqlBpe``)."""

    @staticmethod
    def train(
        train: Sequence[str],
        valid: Sequence[str],
        *,
        syntax: bool,
        max_merges: int | None,
        max_rejections: int | None,
        rare_below: int,
    ) -> SqlBpe: ...
    def encode(self, query: str, limit: int | None = None) -> npt.NDArray[np.uint32]: ...
    def encode_batch(self, queries: Sequence[str]) -> list[npt.NDArray[np.uint32]]: ...
    def decode(self, ids: npt.NDArray[np.uint32]) -> str: ...
    def crossing(self, query: str) -> tuple[int, int]: ...
    def spelling(self, id: int) -> bytes | None: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def base_size(self) -> int: ...
    @property
    def merges(self) -> list[tuple[int, int]]: ...
    @property
    def steps(self) -> list[tuple[int, int, int, bool, int]]: ...
    @property
    def rare_types_before(self) -> int: ...
    @property
    def unparsed(self) -> int: ...
    @property
    def syntax(self) -> bool: ...

def sql_tokens(query: str) -> list[str]: ...
def sql_parse(query: str) -> tuple[list[tuple[int, int]], bool]: ...
def syntax_crossing(language: str, text: str, lengths: npt.NDArray[np.uint32]) -> int | None: ...

# Mixtures (seqpack_core::sampler::mixture): several datasets in token-exact shares.

@final
class Mixture:
    """Several datasets in scheduled, token-exact shares."""

    def __new__(
        cls,
        planners: Sequence[EpochPlanner],
        names: Sequence[str],
        tokenizers: Sequence[str],
        max_epochs: Sequence[int | None],
        spec: dict[str, Any],
    ) -> Mixture: ...
    def start(self) -> MixtureCursor: ...
    def state(self, cursor: MixtureCursor) -> dict[str, Any]: ...
    def read_state(self, state: Any) -> MixtureCursor: ...
    def advance(
        self, cursor: MixtureCursor, steps: int, rows_per_step: int, drop_last: bool
    ) -> tuple[MixtureCursor, int]: ...
    def report(self, cursor: MixtureCursor) -> dict[str, Any]: ...
    def plan(self, source: int, epoch: int) -> Plan: ...
    def stream(
        self,
        cursor: MixtureCursor,
        split: StepSplit | TokenBudget,
        worker: int,
        workers: int,
        cp: ContextParallel | None = None,
    ) -> MixtureStream: ...
    @property
    def identity(self) -> str: ...
    @property
    def names(self) -> list[str]: ...
    @property
    def seq_len(self) -> int: ...

@final
class MixtureCursor:
    """Where a run of a mixture stands (``Mixture.state`` gives its resumable state)."""

    @property
    def step(self) -> int: ...

@final
class MixtureStream:
    """One rank's (and worker's) batches of a mixture, assembled ahead on a thread, with
    the source of each row (of each document in a flattened batch) and the cursor after
    each step."""

    def __iter__(self) -> MixtureStream: ...
    def __next__(
        self,
    ) -> tuple[_BatchArrays | _ShardArrays, npt.NDArray[np.int64], MixtureCursor]: ...
