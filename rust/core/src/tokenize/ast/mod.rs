//! AST-BPE: byte-pair encoding whose merges never cut across a syntax subtree ("Byte-Pair
//! Encoding for Text-to-SQL Generation", Müller & Vlachos, 2019): byte-level for source code
//! ([`AstTokenizer`], with tree-sitter's or seqpack's SQL parse), and over whole SQL tokens as
//! in the paper ([`sql::SqlBpe`], a research reproduction).
//!
//! One rule, one trainer and one encoder serve both: [`layout`] says where two adjacent
//! symbols may merge, [`train`] learns merges (with the paper's stopping criterion on
//! request), [`encode`] applies them. [`sql`] tokenises and parses SQL; [`syntax`] gives byte
//! spans of a document's parse.

mod encode;
mod layout;
pub mod sql;
mod syntax;
mod tokenizer;
mod train;

pub use syntax::{LANGUAGES, Language};
pub use tokenizer::{AstTokenizer, AstTrainStats, crossing};
pub use train::{Step, Stopping};

#[cfg(test)]
mod tests;
