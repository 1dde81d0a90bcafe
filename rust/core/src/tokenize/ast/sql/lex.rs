//! The SQL tokeniser of the text2sql setting: whitespace separates tokens, and parentheses,
//! commas, `;`, `.`, quotes, `%` and operators are tokens of their own even when written
//! against a word; a table alias `CITYalias0` is the two tokens `CITY` and `alias0`.
//!
//! Nothing is lost: each token keeps the whitespace written before it, so the tokens' texts
//! concatenate back to the query exactly. Any text tokenises; quotes that never close are
//! reported, so the parser can refuse the query.

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A name, keyword or number.
    Word,
    /// The `aliasN` written against a table name.
    Alias,
    Open,
    Close,
    Comma,
    Semicolon,
    Dot,
    Operator,
    QuoteOpen,
    QuoteClose,
    /// A word inside quotes.
    Text,
    /// `%` inside quotes (a LIKE wildcard).
    Percent,
    /// Any other character.
    Other,
    /// Whitespace after the last token.
    Space,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    /// The token's bytes in the query, without the whitespace before it.
    pub(crate) text: Range<usize>,
    /// Where the whitespace before it starts (the previous token's end).
    pub(crate) from: usize,
}

impl Token {
    /// Whether the token is written against the previous one.
    pub(crate) fn glued(&self) -> bool {
        self.from == self.text.start
    }
}

pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    /// False when a quote never closes.
    pub(crate) balanced: bool,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

pub(crate) fn lex(query: &str) -> Lexed {
    let q = query.as_bytes();
    let mut tokens = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    loop {
        let from = i;
        while i < q.len() && q[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == q.len() {
            if from < i {
                tokens.push(Token {
                    kind: Kind::Space,
                    text: from..i,
                    from,
                });
            }
            break;
        }
        let start = i;
        let mut push = |kind: Kind, end: usize| {
            tokens.push(Token {
                kind,
                text: start..end,
                from,
            })
        };
        let c = q[i];
        if let Some(open) = quote {
            if c == open {
                quote = None;
                push(Kind::QuoteClose, i + 1);
            } else if c == b'%' {
                push(Kind::Percent, i + 1);
            } else {
                let end = (i..q.len())
                    .find(|&x| q[x].is_ascii_whitespace() || q[x] == b'%' || q[x] == open)
                    .unwrap_or(q.len());
                push(Kind::Text, end);
            }
            i = tokens.last().map_or(i + 1, |t| t.text.end);
            continue;
        }
        let single = |kind: Kind| (kind, i + 1);
        let (kind, end) = match c {
            b'"' | b'\'' => {
                quote = Some(c);
                single(Kind::QuoteOpen)
            }
            b'(' => single(Kind::Open),
            b')' => single(Kind::Close),
            b',' => single(Kind::Comma),
            b';' => single(Kind::Semicolon),
            b'.' => single(Kind::Dot),
            b'<' | b'>' | b'!' | b'=' => {
                let two = q.get(i..i + 2);
                let pair = matches!(two, Some(b"<>" | b"<=" | b">=" | b"!=" | b"=="));
                (Kind::Operator, i + if pair { 2 } else { 1 })
            }
            b'+' | b'-' | b'*' | b'/' => single(Kind::Operator),
            c if is_word(c) => (Kind::Word, word_end(q, i)),
            _ => {
                let width = query[i..].chars().next().map_or(1, char::len_utf8);
                (Kind::Other, i + width)
            }
        };
        if kind == Kind::Word {
            if let Some(split) = alias_start(&q[start..end]) {
                push(Kind::Word, start + split);
                tokens.push(Token {
                    kind: Kind::Alias,
                    text: start + split..end,
                    from: start + split,
                });
                i = end;
                continue;
            }
        }
        push(kind, end);
        i = end;
    }
    Lexed {
        tokens,
        balanced: quote.is_none(),
    }
}

/// The end of the word at `i`; a number keeps its decimal point (`2.5`).
fn word_end(q: &[u8], i: usize) -> usize {
    let mut end = i;
    while end < q.len() && is_word(q[end]) {
        end += 1;
    }
    let numeric = q[i..end].iter().all(u8::is_ascii_digit);
    if numeric && q.get(end) == Some(&b'.') && q.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end += 1;
        while end < q.len() && q[end].is_ascii_digit() {
            end += 1;
        }
    }
    end
}

/// Where `aliasN` starts in a word such as `CITYalias0` (never at 0: `alias0` alone is a word).
fn alias_start(word: &[u8]) -> Option<usize> {
    let digits = word.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let stem = word.len() - digits;
    (digits > 0 && stem > 5 && &word[stem - 5..stem] == b"alias").then(|| stem - 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(q: &str) -> Vec<&str> {
        lex(q).tokens.iter().map(|t| &q[t.text.clone()]).collect()
    }

    #[test]
    fn splits_as_the_text2sql_tokeniser() {
        let q = r#"SELECT COUNT( CITYalias0.CITY_NAME ) FROM CITY AS CITYalias0 WHERE CITYalias0.X LIKE "%a b%" AND Y >= 2.5 ;"#;
        assert_eq!(
            texts(q),
            [
                "SELECT",
                "COUNT",
                "(",
                "CITY",
                "alias0",
                ".",
                "CITY_NAME",
                ")",
                "FROM",
                "CITY",
                "AS",
                "CITY",
                "alias0",
                "WHERE",
                "CITY",
                "alias0",
                ".",
                "X",
                "LIKE",
                "\"",
                "%",
                "a",
                "b",
                "%",
                "\"",
                "AND",
                "Y",
                ">=",
                "2.5",
                ";"
            ]
        );
    }

    #[test]
    fn loses_nothing() {
        for q in ["  a  ( b)) 'x", "", " ", "é = 'ü' ;\n", "alias0 xalias12y"] {
            let lexed = lex(q);
            let mut back = String::new();
            for t in &lexed.tokens {
                back.push_str(&q[t.from..t.text.end]);
            }
            assert_eq!(back, q);
        }
        assert!(!lex("a = 'x").balanced && lex("a = 'x'").balanced);
    }
}
