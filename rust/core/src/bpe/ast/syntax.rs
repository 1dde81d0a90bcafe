//! Syntax trees of whole documents in bytes, for byte-level AST-BPE: every node of the parse
//! is a span of bytes; a leaf token's bytes are its children, so merges inside it are free.

use std::cell::RefCell;
use std::str::FromStr;

use super::{sql, sql_tree};
use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// tree-sitter's Python grammar.
    Python,
    /// seqpack's SQL grouping parser.
    Sql,
}

pub const LANGUAGES: &[&str] = &["python", "sql"];

impl FromStr for Language {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "python" => Ok(Language::Python),
            "sql" => Ok(Language::Sql),
            _ => Err(Error::invalid_option(
                "language",
                format!("{name:?} is not one of {}", LANGUAGES.join(", ")),
            )),
        }
    }
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Sql => "sql",
        }
    }

    /// The byte spans of `text`'s syntax nodes, or `None` when it does not parse.
    pub(crate) fn spans(self, text: &str) -> Option<Vec<(u32, u32)>> {
        match self {
            Language::Python => python(text),
            Language::Sql => sql_spans(text),
        }
    }
}

thread_local! {
    static PYTHON: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
}

fn python(text: &str) -> Option<Vec<(u32, u32)>> {
    PYTHON.with_borrow_mut(|parser| {
        let parser = parser.get_or_insert_with(|| {
            let mut p = tree_sitter::Parser::new();
            p.set_language(&tree_sitter_python::LANGUAGE.into())
                .expect("the Python grammar matches the tree-sitter runtime");
            p
        });
        let tree = parser.parse(text, None)?;
        let root = tree.root_node();
        if root.has_error() {
            return None;
        }
        let mut spans = Vec::new();
        let mut cursor = root.walk();
        // Depth first over every node, named or not (keywords and punctuation are leaves too).
        'walk: loop {
            let node = cursor.node();
            spans.push((node.start_byte() as u32, node.end_byte() as u32));
            if cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
        Some(spans)
    })
}

fn sql_spans(text: &str) -> Option<Vec<(u32, u32)>> {
    let lexed = sql::lex(text);
    let parsed = sql_tree::parse(text, &lexed.tokens);
    if !lexed.balanced || !parsed.balanced {
        return None;
    }
    let t = &lexed.tokens;
    let mut spans: Vec<(u32, u32)> = t
        .iter()
        .map(|t| (t.text.start as u32, t.text.end as u32))
        .collect();
    spans.extend(parsed.spans.iter().map(|&(s, e)| {
        (
            t[s as usize].text.start as u32,
            t[e as usize - 1].text.end as u32,
        )
    }));
    Some(spans)
}
