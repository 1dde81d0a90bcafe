//! Added tokens (special or not): exact strings found in the text before pre-tokenization
//! and given their own id, with HF `tokenizers`' semantics: leftmost-longest matching, first
//! over the tokens marked `normalized: false`, then, in the text left between them, over the
//! `normalized: true` ones (with no normalizer the text is the same, but the two passes can
//! still cut differently); `single_word`, `lstrip` and `rstrip` as HF applies them.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::unicode::classes;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AddedToken {
    pub(crate) id: u32,
    pub(crate) content: String,
    pub(crate) special: bool,
    pub(crate) single_word: bool,
    pub(crate) lstrip: bool,
    pub(crate) rstrip: bool,
    pub(crate) normalized: bool,
}

/// A stretch of text: ordinary text for the pre-tokenizer, or an added token's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    Text(&'a str),
    Token(u32),
}

/// One matching pass: an automaton over some of the tokens, and which token each pattern is.
struct Pass {
    automaton: AhoCorasick,
    tokens: Vec<usize>,
}

pub(crate) struct AddedTokens {
    tokens: Vec<AddedToken>,
    raw: Option<Pass>,
    normalized: Option<Pass>,
}

impl AddedTokens {
    /// The matcher for `tokens`, in HF's order (specials first, then the others).
    pub(crate) fn new(tokens: Vec<AddedToken>) -> Self {
        let pass = |normalized: bool| {
            let chosen: Vec<usize> = (0..tokens.len())
                .filter(|&i| tokens[i].normalized == normalized)
                .collect();
            if chosen.is_empty() {
                return None;
            }
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(chosen.iter().map(|&i| &tokens[i].content))
                .expect("added tokens are few and short");
            Some(Pass {
                automaton,
                tokens: chosen,
            })
        };
        let (raw, normalized) = (pass(false), pass(true));
        AddedTokens {
            tokens,
            raw,
            normalized,
        }
    }

    /// Calls `f` on the segments of `text` in order; empty text segments are left out.
    pub(crate) fn for_each_segment<'a, E>(
        &self,
        text: &'a str,
        f: &mut impl FnMut(Segment<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.split(self.raw.as_ref(), text, &mut |segment| match segment {
            Segment::Text(rest) => self.split(self.normalized.as_ref(), rest, f),
            token => f(token),
        })
    }

    fn split<'a, E>(
        &self,
        pass: Option<&Pass>,
        text: &'a str,
        f: &mut impl FnMut(Segment<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(pass) = pass else {
            return if text.is_empty() {
                Ok(())
            } else {
                f(Segment::Text(text))
            };
        };
        let mut done = 0;
        for found in pass.automaton.find_iter(text) {
            let token = &self.tokens[pass.tokens[found.pattern().as_usize()]];
            let (mut start, mut end) = (found.start(), found.end());
            if token.single_word
                && !(stands_alone_left(&text[..start]) && stands_alone_right(&text[end..]))
            {
                continue;
            }
            if token.lstrip {
                // Spaces an earlier token already took stay with it.
                start = (start - trailing_space(&text[..start])).max(done);
            }
            if token.rstrip {
                end += leading_space(&text[end..]);
            }
            if done < start {
                f(Segment::Text(&text[done..start]))?;
            }
            f(Segment::Token(token.id))?;
            done = end;
        }
        if done < text.len() {
            f(Segment::Text(&text[done..]))?;
        }
        Ok(())
    }
}

/// Whether the text before a match does not end in a word character (`\w$`).
fn stands_alone_left(before: &str) -> bool {
    !before
        .chars()
        .next_back()
        .is_some_and(|c| classes().is_word(c))
}

/// Whether the text after a match does not start with a word character (`^\w`).
fn stands_alone_right(after: &str) -> bool {
    !after.chars().next().is_some_and(|c| classes().is_word(c))
}

/// Bytes of whitespace at the end of `s`.
fn trailing_space(s: &str) -> usize {
    s.len() - s.trim_end_matches(char::is_whitespace).len()
}

/// Bytes of whitespace at the start of `s`.
fn leading_space(s: &str) -> usize {
    s.len() - s.trim_start_matches(char::is_whitespace).len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: u32, content: &str) -> AddedToken {
        AddedToken {
            id,
            content: content.to_owned(),
            special: true,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
        }
    }

    fn segments<'a>(added: &AddedTokens, text: &'a str) -> Vec<Segment<'a>> {
        let mut out = Vec::new();
        added
            .for_each_segment(text, &mut |s| {
                out.push(s);
                Ok::<_, ()>(())
            })
            .unwrap();
        out
    }

    #[test]
    fn leftmost_longest() {
        let added = AddedTokens::new(vec![
            token(7, "<|a|>"),
            token(8, "<|a|><|b|>"),
            token(9, "<|b|>"),
        ]);
        use Segment::*;
        assert_eq!(
            segments(&added, "x<|a|><|b|>y<|b|><|a|>"),
            [Text("x"), Token(8), Text("y"), Token(9), Token(7)]
        );
        assert!(segments(&added, "").is_empty());
    }

    #[test]
    fn strip_and_single_word() {
        let mut mask = token(5, "<mask>");
        mask.lstrip = true;
        mask.rstrip = true;
        let mut word = token(6, "ony");
        word.single_word = true;
        word.normalized = true;
        let added = AddedTokens::new(vec![mask, word]);
        use Segment::*;
        assert_eq!(
            segments(&added, "a  <mask>\tb Anthony ony"),
            [Text("a"), Token(5), Text("b Anthony "), Token(6)]
        );
    }
}
