//! SQL for AST-BPE: the text2sql tokeniser ([`lex`]) and grouping parser ([`tree`]) that give
//! byte-level AST-BPE its `sql` language, and the research reproduction of "Byte-Pair Encoding
//! for Text-to-SQL Generation" (Müller & Vlachos, 2019): BPE over whole SQL tokens,
//! [`SqlBpe`]. The reproduction is kept for its benchmark; the product tokenizers are in
//! [`crate::tokenize`].

mod bpe;
pub(crate) mod lex;
pub(crate) mod tree;

pub use bpe::{SqlBpe, SqlBpeOptions, spellings as tokens, sql_parse as parse};
