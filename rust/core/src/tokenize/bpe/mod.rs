//! Byte-level BPE, the tokenizer family of GPT-2 and Llama 3: read a HuggingFace
//! `tokenizer.json` and encode exactly as HF `tokenizers` does, only faster; decode; train
//! new vocabularies that HF reads back.
//!
//! Encoding a text: added tokens (special or not) are cut out first (`added`); the rest is
//! pre-tokenized into pieces (`pretokenize`; the patterns of GPT-2, Llama 3, Qwen, cl100k,
//! o200k and Tekken by hand-written scanners, `gpt2`, `llama3` and `o200k`, any other by
//! `fancy-regex` in HF's reading of it, `crate::tokenize::pattern`); each piece is merged into
//! tokens (`model`), remembered per thread (`cache`). Tokens are bytes inside seqpack and
//! GPT-2's printable characters in the file (`bytes`).

mod added;
pub(crate) mod bytes;
mod cache;
mod document;
mod fingerprint;
mod gpt2;
mod llama3;
mod load;
mod model;
mod o200k;
mod pretokenize;
mod scan;
#[cfg(test)]
mod scanner_testing;
mod template;
mod tokenizer;
mod train;
mod unicode;
mod vocab;

pub use pretokenize::{GPT2_PATTERN, LLAMA3_PATTERN};
pub use tokenizer::BpeTokenizer;
pub use train::{BpeTrainer, MAX_VOCAB_SIZE, Pattern, TrainerOptions, read_documents};

#[cfg(test)]
mod tests;
