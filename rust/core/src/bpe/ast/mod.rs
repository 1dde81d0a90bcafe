//! AST-BPE: byte-pair encoding whose merges never cut across a syntax subtree ("Byte-Pair
//! Encoding for Text-to-SQL Generation", Müller & Vlachos, 2019), for SQL as in the paper
//! (whole SQL tokens as base symbols, [`SqlBpe`]) and for source code (bytes as base symbols,
//! tree-sitter's parse, [`AstTokenizer`]).
//!
//! One rule, one trainer and one encoder serve both: [`layout`] says where two adjacent
//! symbols may merge, [`train`] learns merges (with the paper's stopping criterion on
//! request), [`encode`] applies them. [`sql`] and [`sql_tree`] tokenise and parse SQL;
//! [`syntax`] gives byte spans of a document's parse.

mod encode;
mod layout;
mod sql;
mod sql_bpe;
mod sql_tree;
mod syntax;
mod tokenizer;
mod train;

pub use sql_bpe::{SqlBpe, SqlBpeOptions, spellings as sql_tokens, sql_parse};
pub use syntax::{LANGUAGES, Language};
pub use tokenizer::{AstTokenizer, AstTrainStats, crossing};
pub use train::{Step, Stopping};

#[cfg(test)]
mod tests;
