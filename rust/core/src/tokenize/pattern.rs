//! HF `tokenizers` reads a `tokenizer.json`'s regex patterns (`Split` pre-tokenizers,
//! `Replace` normalizers) with Oniguruma, in its Ruby syntax; seqpack reads them with
//! `fancy-regex`, and so does the `tokenizers` crate as this project builds it. The two
//! engines agree on most of the syntax but not all of it, and where they differ the ids differ
//! silently. [`to_fancy_regex`] is the one place that knows the differences: it writes a
//! pattern that means to `fancy-regex` what the original means to Oniguruma, and refuses any
//! construct whose Oniguruma meaning it does not reproduce (tests against HF check each one).
//!
//! Rewritten:
//!
//! - `X{n,m}+` is `(?:X{n,m})+` in Oniguruma (an interval is never possessive), but possessive
//!   in `fancy-regex`; so is `X{n}?`, `(?:X{n})?` (a fixed interval is never lazy).
//!   cl100k as tiktoken writes it (`\p{N}{1,3}+`) is the case in real use.
//! - `X{,m}` is written `X{0,m}`.
//! - `^` and `$` match at line starts and ends in Ruby syntax, only at the ends of the text in
//!   `fancy-regex`: `(?m:^)`, `(?m:$)`.
//! - `\Z` is the end, or before one final `\n` (`fancy-regex`: before any number of them):
//!   `(?=\n?\z)`.
//! - `\h`/`\H` are hexadecimal digits in Oniguruma: `[0-9A-Fa-f]`.
//! - `\<` and `\>` are the characters `<` and `>` (word boundaries in `fancy-regex`).
//!
//! Refused (found in no real tokenizer, or meaning different things in ways not reproduced):
//! `\w`/`\b` and their negations (Oniguruma's `\w` leaves out the joiners U+200C/U+200D),
//! inline flags other than `i`, case-insensitive matching of anything but ASCII literals (the
//! engines fold Unicode classes differently, and Oniguruma expands `ss`, `st`, `ff`, `fi`, `fl`
//! to ligatures and `ß`), back-references, POSIX brackets, nested classes and class set
//! operations, Unicode properties other than general categories, `{` that is not an interval,
//! and adjacent quantifiers.

/// The pattern `fancy-regex` reads with Oniguruma's meaning of `pattern`, or why there is
/// none.
pub(crate) fn to_fancy_regex(pattern: &str) -> Result<String, String> {
    let mut translator = Translator {
        pattern,
        pos: 0,
        out: String::with_capacity(pattern.len() + 16),
        groups: Vec::new(),
        case_insensitive: false,
        previous_literal: None,
    };
    translator.run()?;
    Ok(translator.out)
}

/// General categories: the same Unicode tables in both engines (checked against HF on every
/// code point by the tests).
const CATEGORIES: [&str; 36] = [
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C",
    "Cc", "Cf", "Co", "Cn",
];

/// ASCII pairs that a single character folds to under Oniguruma's case-insensitive matching
/// (`ß`, `ﬅ`, `ﬀ`, `ﬁ`, `ﬂ`, ...).
const MULTI_CHARACTER_FOLDS: [&str; 5] = ["ss", "st", "ff", "fi", "fl"];

struct Group {
    /// Where the group starts in the output, for a quantifier that must wrap it.
    start: usize,
    /// The case sensitivity outside it, restored at its end.
    case_insensitive: bool,
    /// A look-around is an assertion: a quantifier after it is refused.
    assertion: bool,
    /// Opened by `(?i)`: it ends with the enclosing group (see [`Translator::open_group`]).
    implicit: bool,
}

struct Translator<'p> {
    pattern: &'p str,
    pos: usize,
    out: String,
    groups: Vec<Group>,
    case_insensitive: bool,
    /// The last literal letter of the current sequence, while case-insensitive.
    previous_literal: Option<char>,
}

/// What an item of the pattern was, for the quantifier that may follow it.
enum Item {
    /// Something a quantifier may repeat, starting at this output offset.
    Atom(usize),
    /// An assertion or nothing: a quantifier after it is refused.
    NotRepeatable,
}

impl Translator<'_> {
    fn refuse<T>(&self, at: usize, what: &str) -> Result<T, String> {
        Err(format!(
            "{what} at byte {at} has a meaning in HF's regex engine (Oniguruma) that seqpack does not reproduce"
        ))
    }

    fn peek(&self) -> Option<char> {
        self.pattern[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.pattern[self.pos..]
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.peek() {
            let at = self.pos;
            let item = match c {
                '|' => {
                    self.pos += 1;
                    self.out.push('|');
                    self.previous_literal = None;
                    Item::NotRepeatable
                }
                '(' => self.open_group()?,
                ')' => self.close_group()?,
                '[' => {
                    let start = self.out.len();
                    self.class()?;
                    Item::Atom(start)
                }
                '\\' => self.escape()?,
                '^' | '$' => {
                    self.pos += 1;
                    self.out
                        .push_str(if c == '^' { "(?m:^)" } else { "(?m:$)" });
                    Item::NotRepeatable
                }
                '.' => {
                    if self.case_insensitive {
                        // `.` matches the same characters either way; it only ends a
                        // sequence of literals.
                        self.previous_literal = None;
                    }
                    self.pos += 1;
                    let start = self.out.len();
                    self.out.push('.');
                    Item::Atom(start)
                }
                '?' | '*' | '+' | '{' => {
                    return self.refuse(at, &format!("a {c:?} with nothing to repeat"));
                }
                _ => {
                    self.pos += c.len_utf8();
                    self.literal(c, at)?;
                    Item::Atom(self.out.len() - written_len(c))
                }
            };
            match item {
                Item::Atom(start) => self.quantifiers(start)?,
                Item::NotRepeatable => {
                    if matches!(self.peek(), Some('?' | '*' | '+' | '{')) {
                        return self.refuse(self.pos, "a quantifier after an assertion");
                    }
                }
            }
        }
        self.close_implicit_groups();
        if !self.groups.is_empty() {
            return Err("a group is not closed".into());
        }
        Ok(())
    }

    /// Closes the groups that `(?i)` opened in the group that ends here.
    fn close_implicit_groups(&mut self) {
        while let Some(group) = self.groups.last().filter(|g| g.implicit) {
            self.case_insensitive = group.case_insensitive;
            self.groups.pop();
            self.out.push(')');
        }
    }

    /// A literal character, checked against Oniguruma's case-insensitive expansions.
    fn literal(&mut self, c: char, at: usize) -> Result<(), String> {
        if self.case_insensitive {
            if !c.is_ascii() {
                return self.refuse(at, "a case-insensitive non-ASCII character");
            }
            if let Some(previous) = self.previous_literal {
                let pair: String = [previous, c].iter().map(char::to_ascii_lowercase).collect();
                if MULTI_CHARACTER_FOLDS.contains(&pair.as_str()) {
                    return self.refuse(at, &format!("the case-insensitive sequence {pair:?}"));
                }
            }
            self.previous_literal = c.is_ascii_alphabetic().then_some(c);
        }
        push_literal(&mut self.out, c);
        Ok(())
    }

    fn open_group(&mut self) -> Result<Item, String> {
        let at = self.pos;
        let start = self.out.len();
        let rest = self.rest();
        let mut assertion = false;
        let mut scoped_case = None;
        let opener_len = if let Some(flags) = rest.strip_prefix("(?") {
            let opener = ["?:", "?>", "?=", "?!", "?<=", "?<!"]
                .into_iter()
                .find(|o| rest[1..].starts_with(o));
            if let Some(opener) = opener {
                assertion = !matches!(opener, "?:" | "?>");
                1 + opener.len()
            } else if let Some(name) = flags.strip_prefix('<') {
                let end = name.find('>').filter(|&end| {
                    end > 0
                        && name[..end]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                match end {
                    Some(end) => 3 + end + 1,
                    None => return self.refuse(at, "a group name"),
                }
            } else if let Some((on, len, scoped)) = case_flag(flags) {
                if scoped {
                    scoped_case = Some(on);
                    2 + len
                } else {
                    // In Oniguruma `(?i)` opens a group that the enclosing one closes, so
                    // `a(?i)b|c` is `a(?i:b|c)`, where `fancy-regex` reads `a(?i:b)|(?i:c)`.
                    self.pos += 2 + len;
                    self.out.push_str(if on { "(?i:" } else { "(?-i:" });
                    self.groups.push(Group {
                        start,
                        case_insensitive: self.case_insensitive,
                        assertion: false,
                        implicit: true,
                    });
                    self.case_insensitive = on;
                    self.previous_literal = None;
                    return Ok(Item::NotRepeatable);
                }
            } else {
                return self.refuse(at, "this group or inline flag");
            }
        } else {
            1
        };
        self.out.push_str(&self.pattern[at..at + opener_len]);
        self.pos += opener_len;
        self.groups.push(Group {
            start,
            case_insensitive: self.case_insensitive,
            assertion,
            implicit: false,
        });
        if let Some(on) = scoped_case {
            self.case_insensitive = on;
        }
        self.previous_literal = None;
        // A group is repeated at its close, not here.
        Ok(Item::NotRepeatable)
    }

    fn close_group(&mut self) -> Result<Item, String> {
        self.close_implicit_groups();
        let Some(group) = self.groups.pop() else {
            return self.refuse(self.pos, "an unmatched ')'");
        };
        self.pos += 1;
        self.out.push(')');
        self.case_insensitive = group.case_insensitive;
        self.previous_literal = None;
        Ok(if group.assertion {
            Item::NotRepeatable
        } else {
            Item::Atom(group.start)
        })
    }

    /// An escape outside a class.
    fn escape(&mut self) -> Result<Item, String> {
        let at = self.pos;
        let Some(c) = self.pattern[at + 1..].chars().next() else {
            return self.refuse(at, "a '\\' at the end");
        };
        let start = self.out.len();
        let assertion = match c {
            'A' => Some(r"\A"),
            'z' => Some(r"\z"),
            'Z' => Some(r"(?=\n?\z)"),
            _ => None,
        };
        if let Some(assertion) = assertion {
            self.pos += 2;
            self.out.push_str(assertion);
            self.previous_literal = None;
            return Ok(Item::NotRepeatable);
        }
        match c {
            'h' | 'H' => {
                self.pos += 2;
                self.out.push_str(if c == 'h' {
                    "[0-9A-Fa-f]"
                } else {
                    "[^0-9A-Fa-f]"
                });
                self.previous_literal = None;
            }
            _ => {
                let escaped = self.class_escape(false)?;
                if let Some(literal) = escaped.literal {
                    self.literal(literal, at)?;
                } else {
                    if self.case_insensitive {
                        return self.refuse(at, "a case-insensitive character class");
                    }
                    self.out.push_str(&escaped.text);
                }
            }
        }
        Ok(Item::Atom(start))
    }

    /// An escape that may also stand inside a class (`in_class`); consumes it.
    fn class_escape(&mut self, in_class: bool) -> Result<Escape, String> {
        let at = self.pos;
        let c = self.pattern[at + 1..]
            .chars()
            .next()
            .expect("checked by the caller");
        self.pos += 1 + c.len_utf8();
        let class = |text: &str| {
            Ok(Escape {
                text: text.to_owned(),
                literal: None,
            })
        };
        match c {
            's' | 'S' | 'd' | 'D' => class(&format!("\\{c}")),
            'h' if in_class => class("0-9A-Fa-f"),
            'p' | 'P' => {
                let name = self
                    .rest()
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .map(|(name, _)| name)
                    .filter(|name| CATEGORIES.contains(name))
                    .map(str::to_owned);
                match name {
                    Some(name) => {
                        self.pos += name.len() + 2;
                        class(&format!("\\{c}{{{name}}}"))
                    }
                    None => self.refuse(at, "a Unicode property other than a general category"),
                }
            }
            't' => Ok(Escape::literal('\t')),
            'n' => Ok(Escape::literal('\n')),
            'r' => Ok(Escape::literal('\r')),
            'f' => Ok(Escape::literal('\u{c}')),
            'v' => Ok(Escape::literal('\u{b}')),
            'x' | 'u' => {
                let (digits, len) = if c == 'x' && self.rest().starts_with('{') {
                    match self.rest()[1..].split_once('}') {
                        Some((digits, _)) => (digits, digits.len() + 2),
                        None => return self.refuse(at, "an unclosed \\x{"),
                    }
                } else {
                    let want = if c == 'x' { 2 } else { 4 };
                    let digits = self.rest().get(..want).unwrap_or("");
                    (digits, want)
                };
                let value = (!digits.is_empty() && digits.chars().all(|d| d.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(digits, 16).ok())
                    .flatten()
                    .and_then(char::from_u32);
                match value {
                    Some(value) => {
                        self.pos += len;
                        Ok(Escape::literal(value))
                    }
                    None => self.refuse(at, "a hexadecimal escape"),
                }
            }
            c if c.is_ascii_punctuation() || c == ' ' => Ok(Escape::literal(c)),
            _ => self.refuse(at, &format!("the escape \\{c}")),
        }
    }

    /// A bracketed class, `self.pos` at its `[`.
    fn class(&mut self) -> Result<(), String> {
        let at = self.pos;
        self.pos += 1;
        self.out.push('[');
        if self.peek() == Some('^') {
            if self.case_insensitive {
                return self.refuse(at, "a case-insensitive negated class");
            }
            self.pos += 1;
            self.out.push('^');
        }
        if self.peek() == Some(']') {
            return self.refuse(self.pos, "a ']' first in a class");
        }
        self.previous_literal = None;
        loop {
            let Some(c) = self.peek() else {
                return self.refuse(at, "an unclosed class");
            };
            let here = self.pos;
            match c {
                ']' => {
                    self.pos += 1;
                    self.out.push(']');
                    return Ok(());
                }
                '[' => return self.refuse(here, "a nested class or POSIX bracket"),
                '&' if self.rest().starts_with("&&") => {
                    return self.refuse(here, "a class intersection");
                }
                '-' => {
                    self.pos += 1;
                    self.out.push('-');
                }
                '\\' => {
                    if self.pattern[here + 1..].is_empty() {
                        return self.refuse(here, "a '\\' at the end");
                    }
                    let escaped = self.class_escape(true)?;
                    match escaped.literal {
                        Some(literal) => self.class_literal(literal, here)?,
                        None if self.case_insensitive => {
                            return self.refuse(here, "a case-insensitive character class");
                        }
                        None => self.out.push_str(&escaped.text),
                    }
                }
                _ => {
                    self.pos += c.len_utf8();
                    self.class_literal(c, here)?;
                }
            }
        }
    }

    fn class_literal(&mut self, c: char, at: usize) -> Result<(), String> {
        if self.case_insensitive && !c.is_ascii() {
            return self.refuse(at, "a case-insensitive non-ASCII character");
        }
        // Escaped where `fancy-regex` would read class syntax (a `-` as written is handled
        // by the caller: it makes a range in both engines).
        if matches!(c, '[' | ']' | '\\' | '^' | '-' | '&' | '~') {
            self.out.push('\\');
            self.out.push(c);
        } else {
            push_literal(&mut self.out, c);
        }
        Ok(())
    }

    /// The quantifiers after an item starting at output offset `start`.
    fn quantifiers(&mut self, start: usize) -> Result<(), String> {
        loop {
            let at = self.pos;
            match self.peek() {
                Some(q @ ('?' | '*' | '+')) => {
                    self.pos += 1;
                    self.out.push(q);
                    self.previous_literal = None;
                    // Lazy and possessive modifiers mean the same in both engines.
                    if let Some(m @ ('?' | '+')) = self.peek() {
                        self.pos += 1;
                        self.out.push(m);
                    }
                    return self.no_more_quantifiers();
                }
                Some('{') => {
                    let Some((low, high, len)) = interval(self.rest()) else {
                        return self.refuse(at, "a '{' that is not an interval");
                    };
                    if high.is_some_and(|high| high < low) {
                        return self.refuse(at, "an interval with its bounds swapped");
                    }
                    self.pos += len;
                    self.previous_literal = None;
                    match high {
                        Some(high) if high == low && !self.pattern[at..at + len].contains(',') => {
                            self.out.push_str(&format!("{{{low}}}"))
                        }
                        Some(high) => self.out.push_str(&format!("{{{low},{high}}}")),
                        None => self.out.push_str(&format!("{{{low},}}")),
                    }
                    let fixed = !self.pattern[at..at + len].contains(',');
                    let next = self.peek();
                    if next == Some('+') || (fixed && next == Some('?')) {
                        // Not a modifier in Oniguruma but a second quantifier on the
                        // repetition, which is wrapped so that `fancy-regex` reads it so.
                        self.out.insert_str(start, "(?:");
                        self.out.push(')');
                        continue;
                    }
                    if next == Some('?') {
                        self.pos += 1;
                        self.out.push('?');
                    }
                    return self.no_more_quantifiers();
                }
                _ => return Ok(()),
            }
        }
    }

    fn no_more_quantifiers(&self) -> Result<(), String> {
        match self.peek() {
            Some('?' | '*' | '+' | '{') => self.refuse(self.pos, "adjacent quantifiers"),
            _ => Ok(()),
        }
    }
}

/// `c` as `fancy-regex` reads it literally: meta characters escaped, control characters
/// spelled as escapes (so that the pattern stays readable).
fn push_literal(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str(r"\t"),
        '\n' => out.push_str(r"\n"),
        '\r' => out.push_str(r"\r"),
        '\u{b}' => out.push_str(r"\v"),
        '\u{c}' => out.push_str(r"\f"),
        c => out.push_str(&regex_syntax::escape(&c.to_string())),
    }
}

fn written_len(c: char) -> usize {
    let mut out = String::new();
    push_literal(&mut out, c);
    out.len()
}

struct Escape {
    /// The class, as `fancy-regex` writes it (when not a literal).
    text: String,
    literal: Option<char>,
}

impl Escape {
    fn literal(c: char) -> Self {
        Escape {
            text: String::new(),
            literal: Some(c),
        }
    }
}

/// `(?i)`, `(?-i)`, `(?i:`, `(?-i:` after the `(?`: whether it turns case-insensitivity on,
/// the length of the flags and `)` or `:`, and whether it opens a group.
fn case_flag(flags: &str) -> Option<(bool, usize, bool)> {
    for (text, on) in [("i", true), ("-i", false)] {
        if let Some(rest) = flags.strip_prefix(text) {
            match rest.chars().next() {
                Some(')') => return Some((on, text.len() + 1, false)),
                Some(':') => return Some((on, text.len() + 1, true)),
                _ => {}
            }
        }
    }
    None
}

/// `{n}`, `{n,}`, `{n,m}` or `{,m}` at the start of `text`: the bounds and the length.
fn interval(text: &str) -> Option<(u32, Option<u32>, usize)> {
    let body = text.strip_prefix('{')?;
    let end = body.find('}')?;
    let body = &body[..end];
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (low, high) = match body.split_once(',') {
        None => {
            let n = number(body)?;
            (n, Some(n))
        }
        Some(("", high)) => (0, Some(number(high)?)),
        Some((low, "")) => (number(low)?, None),
        Some((low, high)) => (number(low)?, Some(number(high)?)),
    };
    Some((low, high, end + 2))
}

/// Every regex pattern of a `tokenizer.json` (`{"Regex": ...}` under any `pattern` key)
/// rewritten by [`to_fancy_regex`], for the `tokenizers` crate; `None` when none changes.
pub(crate) fn rewrite_document(json: &str) -> Result<Option<String>, String> {
    let mut document: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut changed = false;
    rewrite_value(&mut document, &mut changed)?;
    Ok(changed.then(|| document.to_string()))
}

fn rewrite_value(value: &mut serde_json::Value, changed: &mut bool) -> Result<(), String> {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if key == "pattern" {
                    if let Some(Value::String(regex)) = field.get_mut("Regex") {
                        let rewritten = to_fancy_regex(regex)
                            .map_err(|e| format!("the pattern {regex:?}: {e}"))?;
                        if rewritten != *regex {
                            *regex = rewritten;
                            *changed = true;
                        }
                        continue;
                    }
                }
                rewrite_value(field, changed)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_value(item, changed)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(pattern: &str) -> String {
        to_fancy_regex(pattern).unwrap_or_else(|e| panic!("{pattern:?}: {e}"))
    }

    #[test]
    fn real_patterns_translate() {
        // GPT-2, Llama 3, Qwen, o200k and Tekken need nothing.
        for pattern in [
            crate::tokenize::bpe::GPT2_PATTERN,
            crate::tokenize::bpe::LLAMA3_PATTERN,
            r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ] {
            let out = ok(pattern);
            assert_eq!(
                fancy_regex::Regex::new(&out).unwrap().as_str().len(),
                out.len()
            );
        }
        // cl100k as tiktoken writes it.
        assert_eq!(
            ok(
                r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
            ),
            r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|(?:\p{N}{1,3})+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++(?m:$)|\s*[\r\n]|\s+(?!\S)|\s"
        );
    }

    #[test]
    fn each_difference_is_rewritten() {
        assert_eq!(ok(r"a{2,}+b"), r"(?:a{2,})+b");
        assert_eq!(ok(r"(ab){2}?"), r"(?:(ab){2})?");
        assert_eq!(ok(r"a{1,3}?"), r"a{1,3}?");
        assert_eq!(ok(r"[ab]{,2}"), r"[ab]{0,2}");
        assert_eq!(ok(r"\p{N}{1,3}+?"), r"(?:\p{N}{1,3})+?");
        assert_eq!(ok(r"^a$"), r"(?m:^)a(?m:$)");
        assert_eq!(ok(r"a\Z"), r"a(?=\n?\z)");
        assert_eq!(ok(r"\h+[\h_]"), r"[0-9A-Fa-f]+[0-9A-Fa-f_]");
        assert_eq!(ok(r"\<\>"), r"<>");
        assert_eq!(ok(r"\x41\u00e9\x{1F600}"), "Aé😀");
        assert_eq!(ok(r"x(?i)k|ab"), r"x(?i:k|ab)");
        assert_eq!(ok(r"(x(?i)k|a)b(?-i)c"), r"(x(?i:k|a))b(?-i:c)");
    }

    #[test]
    fn unproven_constructs_are_refused() {
        for pattern in [
            r"\w+",
            r"\bx",
            r"(?m)a.",
            r"(?s:.)",
            r"(?x)a",
            r"(a)\1",
            r"[[:alpha:]]",
            r"[a[b]]",
            r"[a&&b]",
            r"\p{Greek}",
            r"\p{^L}",
            r"\pL",
            r"a{",
            r"a{3,2}",
            r"a**",
            r"(?i:ss)",
            r"(?i)st",
            r"(?i:é)",
            r"(?i)\p{Lu}",
            r"(?i)[^a]",
            r"\R",
            r"\K",
            r"(?=a)*",
            r"(",
            r")",
            r"*a",
            r"[a",
            r"\",
        ] {
            assert!(
                to_fancy_regex(pattern).is_err(),
                "{pattern:?} should be refused"
            );
        }
        let message = to_fancy_regex(r"ab\w").unwrap_err();
        assert!(
            message.contains("byte 2") && message.contains("\\w"),
            "{message}"
        );
    }

    #[test]
    fn documents_are_rewritten_where_a_pattern_changes() {
        let json = r#"{"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\d{1,3}+"},"behavior":"Isolated"}]},"normalizer":{"type":"Replace","pattern":{"String":"a{1,3}+"},"content":"b"}}"#;
        let rewritten = rewrite_document(json).unwrap().unwrap();
        assert!(
            rewritten.contains(r#""Regex":"(?:\\d{1,3})+""#),
            "{rewritten}"
        );
        assert!(rewritten.contains(r#""String":"a{1,3}+""#), "{rewritten}");
        assert_eq!(
            rewrite_document(r#"{"pattern":{"Regex":"a+"}}"#).unwrap(),
            None
        );
        assert!(rewrite_document(r#"{"pattern":{"Regex":"\\w"}}"#).is_err());
    }
}
