//! A small grouping parser for SQL, in the spirit of sqlparse's groups: it never rejects a
//! token sequence, it only brackets what it recognises. Groups, innermost first:
//! parenthesis; quoted literal; alias name (`CITY alias0`); dotted identifier
//! (`CITY alias0 . NAME`); function call (`COUNT ( … )`); arithmetic operation; `x AS y`;
//! comparison (`a = b`, `a NOT IN ( … )`, `a BETWEEN b AND c`, `a IS NOT NULL`); `x DESC`; the
//! elements of a comma list and the list; `CASE … END`; clauses (`SELECT …`, `FROM …`,
//! `WHERE …`, `GROUP BY …`, …). The statement is the root.
//!
//! The result is a set of properly nested spans over token indices. Queries whose quotes or
//! parentheses do not balance are reported as not parsed.

use super::lex::{Kind, Token};

pub(crate) struct Parsed {
    pub(crate) spans: Vec<(u32, u32)>,
    pub(crate) balanced: bool,
}

/// An element at one level: a token, or a group already bracketed.
#[derive(Debug, Clone, Copy)]
struct Item {
    start: usize,
    end: usize,
    what: What,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Token(Kind),
    /// Something that can stand as a comparison's operand.
    Operand,
    /// A bracketed comparison, list element, clause: not an operand.
    Group,
}

const CLAUSES: &[&str] = &[
    "SELECT", "FROM", "WHERE", "GROUP", "ORDER", "HAVING", "LIMIT",
];
const SET_OPERATIONS: &[&str] = &["UNION", "INTERSECT", "EXCEPT"];
const COMPARATORS: &[&str] = &["LIKE", "IN", "IS", "BETWEEN"];
/// Words that are never a function's name or an operand.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "ORDER",
    "BY",
    "HAVING",
    "LIMIT",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "ALL",
    "AND",
    "OR",
    "NOT",
    "AS",
    "DISTINCT",
    "LIKE",
    "IN",
    "IS",
    "BETWEEN",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "OUTER",
    "ON",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "EXISTS",
    "ASC",
    "DESC",
];

pub(crate) fn parse(query: &str, tokens: &[Token]) -> Parsed {
    let mut p = Parser {
        query,
        tokens,
        spans: Vec::new(),
        balanced: true,
    };
    let end = tokens
        .iter()
        .rposition(|t| t.kind != Kind::Space)
        .map_or(0, |last| last + 1);
    p.body(0, end);
    Parsed {
        spans: p.spans,
        balanced: p.balanced,
    }
}

struct Parser<'a> {
    query: &'a str,
    tokens: &'a [Token],
    spans: Vec<(u32, u32)>,
    balanced: bool,
}

impl Parser<'_> {
    fn word(&self, item: &Item) -> Option<&str> {
        (item.what == What::Token(Kind::Word) && item.end == item.start + 1)
            .then(|| &self.query[self.tokens[item.start].text.clone()])
    }

    fn is(&self, item: &Item, words: &[&str]) -> bool {
        self.word(item)
            .is_some_and(|w| words.iter().any(|k| k.eq_ignore_ascii_case(w)))
    }

    fn is_operand(&self, item: &Item) -> bool {
        match item.what {
            What::Operand => true,
            What::Token(Kind::Word) => !self.is(item, KEYWORDS) || self.is(item, &["NULL"]),
            What::Token(Kind::Operator) => self.query[self.tokens[item.start].text.clone()] == *"*",
            _ => false,
        }
    }

    fn group(&mut self, items: &[Item], what: What) -> Item {
        let (start, end) = (items[0].start, items[items.len() - 1].end);
        if items.len() > 1 {
            self.spans.push((start as u32, end as u32));
        }
        Item {
            start,
            end,
            what: if items.len() > 1 { what } else { items[0].what },
        }
    }

    /// A statement or the inside of a parenthesis, tokens `[lo, hi)`.
    fn body(&mut self, lo: usize, hi: usize) {
        let items = self.atoms(lo, hi);
        let mut clause: Vec<Item> = Vec::new();
        for item in items {
            let starts_clause = self.is(&item, CLAUSES) || self.is(&item, SET_OPERATIONS);
            let ends_statement = item.what == What::Token(Kind::Semicolon);
            if starts_clause {
                self.clause(&clause);
                clause.clear();
            }
            if self.is(&item, SET_OPERATIONS) {
                continue; // a child of the statement itself
            }
            // `;` ends the last clause, as sqlparse's `Where` takes it in.
            clause.push(item);
            if ends_statement {
                self.clause(&clause);
                clause.clear();
            }
        }
        self.clause(&clause);
    }

    /// A clause: its keywords (`GROUP BY`, `SELECT DISTINCT`), its expression, and the `;` if
    /// it ends the statement.
    fn clause(&mut self, items: &[Item]) {
        if items.is_empty() {
            return;
        }
        let head = items
            .iter()
            .take_while(|i| self.is(i, CLAUSES) || self.is(i, &["BY", "DISTINCT", "ALL"]))
            .count();
        let body = items.len()
            - usize::from(
                items[head..]
                    .last()
                    .is_some_and(|i| i.what == What::Token(Kind::Semicolon)),
            );
        let mut children = items[..head].to_vec();
        children.extend(self.expression(&items[head..body]));
        children.extend_from_slice(&items[body..]);
        self.group(&children, What::Group);
    }

    /// Tokens to items: parentheses, literals and names bracketed; function calls joined.
    fn atoms(&mut self, lo: usize, hi: usize) -> Vec<Item> {
        let mut items: Vec<Item> = Vec::new();
        let mut i = lo;
        while i < hi {
            let kind = self.tokens[i].kind;
            let mut item = Item {
                start: i,
                end: i + 1,
                what: What::Token(kind),
            };
            match kind {
                Kind::Open => match self.matching(i, hi) {
                    Some(close) => {
                        self.body(i + 1, close);
                        item = self.span(i, close + 1, What::Operand);
                    }
                    None => self.balanced = false,
                },
                Kind::Close => self.balanced = false,
                Kind::QuoteOpen => {
                    let close = (i + 1..hi).find(|&x| self.tokens[x].kind == Kind::QuoteClose);
                    let end = close.map_or(hi, |c| c + 1);
                    self.balanced &= close.is_some();
                    item = self.span(i, end, What::Operand);
                }
                Kind::Word if i + 1 < hi && self.tokens[i + 1].kind == Kind::Alias => {
                    item = self.span(i, i + 2, What::Operand);
                }
                _ => {}
            }
            i = item.end;
            items.push(item);
        }
        let items = self.calls(items);
        self.dotted(items)
    }

    fn span(&mut self, start: usize, end: usize, what: What) -> Item {
        if end - start > 1 {
            self.spans.push((start as u32, end as u32));
        }
        Item { start, end, what }
    }

    fn matching(&self, open: usize, hi: usize) -> Option<usize> {
        let mut depth = 0usize;
        for x in open..hi {
            match self.tokens[x].kind {
                Kind::Open => depth += 1,
                Kind::Close => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(x);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// `name ( … )` where the name is no keyword: a function call.
    fn calls(&mut self, items: Vec<Item>) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::with_capacity(items.len());
        for item in items {
            let paren = item.what == What::Operand && self.tokens[item.start].kind == Kind::Open;
            if let Some(last) = out.last().copied() {
                if paren && self.word(&last).is_some() && !self.is(&last, KEYWORDS) {
                    out.pop();
                    out.push(self.group(&[last, item], What::Operand));
                    continue;
                }
            }
            out.push(item);
        }
        out
    }

    /// `x . y` written together: one identifier.
    fn dotted(&mut self, items: Vec<Item>) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            let mut j = i + 1;
            while j + 1 < items.len()
                && items[j].what == What::Token(Kind::Dot)
                && self.tokens[items[j].start].glued()
                && self.tokens[items[j + 1].start].glued()
            {
                j += 2;
            }
            out.push(self.group(&items[i..j], What::Operand));
            i = j;
        }
        out
    }

    /// An expression at one level: operations, aliases, comparisons, then comma lists.
    fn expression(&mut self, items: &[Item]) -> Vec<Item> {
        let items = self.cases(items);
        let items = self.operations(&items);
        let items = self.aliases(&items);
        let items = self.comparisons(&items);
        let items = self.orderings(&items);
        self.list(&items)
    }

    /// `x DESC`: one element of an `ORDER BY` (sqlparse's identifier with its ordering).
    fn orderings(&mut self, items: &[Item]) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::with_capacity(items.len());
        for &item in items {
            if let Some(last) = out.last().copied() {
                if self.is(&item, &["ASC", "DESC"]) && self.is_operand(&last) {
                    out.pop();
                    out.push(self.group(&[last, item], What::Operand));
                    continue;
                }
            }
            out.push(item);
        }
        out
    }

    fn cases(&mut self, items: &[Item]) -> Vec<Item> {
        let mut out = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            if self.is(&items[i], &["CASE"]) {
                if let Some(end) = (i + 1..items.len()).find(|&x| self.is(&items[x], &["END"])) {
                    let mut inner = vec![items[i]];
                    inner.extend(self.expression(&items[i + 1..end]));
                    inner.push(items[end]);
                    out.push(self.group(&inner, What::Operand));
                    i = end + 1;
                    continue;
                }
            }
            out.push(items[i]);
            i += 1;
        }
        out
    }

    fn is_arithmetic(&self, item: &Item) -> bool {
        item.what == What::Token(Kind::Operator)
            && matches!(
                &self.query[self.tokens[item.start].text.clone()],
                "+" | "-" | "*" | "/"
            )
    }

    /// `a + b - c`: one operand.
    fn operations(&mut self, items: &[Item]) -> Vec<Item> {
        let mut out = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            let mut j = i + 1;
            while self.is_operand(&items[i])
                && j + 1 < items.len()
                && self.is_arithmetic(&items[j])
                && self.is_operand(&items[j + 1])
            {
                j += 2;
            }
            out.push(self.group(&items[i..j], What::Operand));
            i = j;
        }
        out
    }

    /// `x AS y`.
    fn aliases(&mut self, items: &[Item]) -> Vec<Item> {
        let mut out: Vec<Item> = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            if i + 2 < items.len()
                && self.is_operand(&items[i])
                && self.is(&items[i + 1], &["AS"])
                && self.is_operand(&items[i + 2])
            {
                out.push(self.group(&items[i..i + 3], What::Operand));
                i += 3;
            } else {
                out.push(items[i]);
                i += 1;
            }
        }
        out
    }

    /// `a op b`, with `NOT` or `IS NOT` in the operator, and `a BETWEEN b AND c`.
    fn comparisons(&mut self, items: &[Item]) -> Vec<Item> {
        let mut out = Vec::with_capacity(items.len());
        let mut i = 0;
        while i < items.len() {
            if let Some(end) = self.comparison_end(items, i) {
                out.push(self.group(&items[i..end], What::Group));
                i = end;
            } else {
                out.push(items[i]);
                i += 1;
            }
        }
        out
    }

    fn comparison_end(&self, items: &[Item], i: usize) -> Option<usize> {
        if !self.is_operand(items.get(i)?) {
            return None;
        }
        let mut j = i + 1;
        let op = items.get(j)?;
        let symbolic = op.what == What::Token(Kind::Operator) && !self.is_arithmetic(op);
        if !symbolic {
            if self.is(op, &["NOT"]) {
                j += 1;
            }
            let op = items.get(j)?;
            if !self.is(op, COMPARATORS) {
                return None;
            }
            if self.is(op, &["IS"]) && items.get(j + 1).is_some_and(|n| self.is(n, &["NOT"])) {
                j += 1;
            }
            if self.is(op, &["BETWEEN"]) {
                let (low, and, high) = (items.get(j + 1)?, items.get(j + 2)?, items.get(j + 3)?);
                let ok = self.is_operand(low) && self.is(and, &["AND"]) && self.is_operand(high);
                return ok.then_some(j + 4);
            }
        }
        self.is_operand(items.get(j + 1)?).then_some(j + 2)
    }

    /// A comma list: each element bracketed, then the list.
    fn list(&mut self, items: &[Item]) -> Vec<Item> {
        if !items.iter().any(|i| i.what == What::Token(Kind::Comma)) {
            return items.to_vec();
        }
        let mut children = Vec::new();
        for element in items.split(|i| i.what == What::Token(Kind::Comma)) {
            if !element.is_empty() {
                children.push(self.group(element, What::Group));
            }
        }
        // The commas, in order between the elements.
        let mut all: Vec<Item> = children;
        all.extend(items.iter().filter(|i| i.what == What::Token(Kind::Comma)));
        all.sort_by_key(|i| i.start);
        vec![self.group(&all, What::Group)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::ast::sql::lex::lex;

    /// The groups of `query` as the texts they cover, outermost first.
    fn groups(query: &str) -> Vec<String> {
        let tokens = lex(query).tokens;
        let mut spans = parse(query, &tokens).spans;
        spans.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        spans.dedup();
        spans
            .iter()
            .map(|&(s, e)| {
                query[tokens[s as usize].text.start..tokens[e as usize - 1].text.end].to_string()
            })
            .collect()
    }

    /// Asserts that each of `expected` is one of the groups of `query`.
    fn assert_groups(query: &str, expected: &[&str]) {
        let g = groups(query);
        for expected in expected {
            assert!(
                g.iter().any(|x| x == expected),
                "{expected:?} not in {g:#?}"
            );
        }
    }

    #[test]
    fn groups_as_sqlparse_does() {
        let q = r#"SELECT COUNT( DISTINCT Talias0.A ) FROM T AS Talias0 WHERE Talias0.B = "x" AND Talias0.C NOT IN ( SELECT U.C FROM U ) ;"#;
        assert_groups(
            q,
            &[
                "SELECT COUNT( DISTINCT Talias0.A )",
                "COUNT( DISTINCT Talias0.A )",
                "( DISTINCT Talias0.A )",
                "Talias0.A",
                "Talias0",
                "FROM T AS Talias0",
                "T AS Talias0",
                r#"WHERE Talias0.B = "x" AND Talias0.C NOT IN ( SELECT U.C FROM U ) ;"#,
                r#"Talias0.B = "x""#,
                r#""x""#,
                "Talias0.C NOT IN ( SELECT U.C FROM U )",
                "( SELECT U.C FROM U )",
                "SELECT U.C",
                "FROM U",
            ],
        );
        assert!(parse(q, &lex(q).tokens).balanced);
    }

    #[test]
    fn lists_between_and_unbalanced_input() {
        let q = "SELECT A , B + 1 FROM T WHERE X BETWEEN 1 AND 2 ORDER BY A DESC ;";
        assert_groups(
            q,
            &[
                "A , B + 1",
                "B + 1",
                "X BETWEEN 1 AND 2",
                "ORDER BY A DESC ;",
                "A DESC",
            ],
        );
        for bad in ["SELECT ( A ;", "SELECT A ) ;", "SELECT \"A ;"] {
            let lexed = lex(bad);
            assert!(
                !(lexed.balanced && parse(bad, &lexed.tokens).balanced),
                "{bad}"
            );
        }
    }
}
