//! Syntax trees of whole documents in bytes, for byte-level AST-BPE: every node of the parse
//! is a span of bytes; a leaf token's bytes are its children, so merges inside it are free.

use std::cell::RefCell;
use std::str::FromStr;

use super::sql::{lex, tree};
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

/// A document's parse in bytes.
pub(crate) struct Parse {
    /// Every node, leaves included, properly nested.
    pub(crate) spans: Vec<(u32, u32)>,
    /// The leaf tokens, in order: merges inside them never depend on their neighbours.
    pub(crate) leaves: Vec<(u32, u32)>,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Sql => "sql",
        }
    }

    /// The parse of `text` in bytes, or `None` when it does not parse.
    pub(crate) fn parse(self, text: &str) -> Option<Parse> {
        match self {
            Language::Python => python(text),
            Language::Sql => sql(text),
        }
    }
}

thread_local! {
    static PYTHON: RefCell<Option<tree_sitter::Parser>> = const { RefCell::new(None) };
}

fn python(text: &str) -> Option<Parse> {
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
        let (mut spans, mut leaves) = (Vec::new(), Vec::new());
        let mut cursor = root.walk();
        // Depth first over every node, named or not (keywords and punctuation are leaves too),
        // so leaves come in order.
        'walk: loop {
            let node = cursor.node();
            let span = (node.start_byte() as u32, node.end_byte() as u32);
            spans.push(span);
            if node.child_count() == 0 && span.1 > span.0 {
                leaves.push(span);
            }
            if cursor.goto_first_child() {
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
        Some(Parse { spans, leaves })
    })
}

fn sql(text: &str) -> Option<Parse> {
    let lexed = lex::lex(text);
    let parsed = tree::parse(text, &lexed.tokens);
    if !lexed.balanced || !parsed.balanced {
        return None;
    }
    let t = &lexed.tokens;
    let leaves: Vec<(u32, u32)> = t
        .iter()
        .map(|t| (t.text.start as u32, t.text.end as u32))
        .collect();
    let mut spans = leaves.clone();
    spans.extend(parsed.spans.iter().map(|&(s, e)| {
        (
            t[s as usize].text.start as u32,
            t[e as usize - 1].text.end as u32,
        )
    }));
    Some(Parse { spans, leaves })
}
