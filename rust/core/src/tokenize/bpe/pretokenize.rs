//! Pre-tokenization: cutting text into the pieces that BPE merges within, exactly as HF
//! `tokenizers` does for byte-level BPE. A pre-tokenizer is a chain of stages, each applied
//! to every piece the previous one produced: `Split` patterns (HF's `Split` pre-tokenizer
//! with `behavior: "Isolated"`: matches and the gaps between them both become pieces), then
//! `ByteLevel`'s optional prefix space and optional GPT-2 split.

use fancy_regex::{Regex, RegexBuilder};
use thread_local::ThreadLocal;

use super::scan::{self, PieceEnd};
use super::{gpt2, llama3, o200k};
use crate::tokenize::pattern::to_fancy_regex;
use crate::{Error, Result};

/// GPT-2's pattern (HF's `ByteLevel` with `use_regex: true`).
pub const GPT2_PATTERN: &str = gpt2::PATTERN;

/// Llama 3's pattern: case-insensitive contractions, numbers in groups of at most three
/// digits, punctuation that keeps the line breaks after it.
pub const LLAMA3_PATTERN: &str = llama3::PATTERN;

pub(crate) enum Stage {
    /// `ByteLevel`'s `add_prefix_space`: a space in front of each piece that does not start
    /// with one.
    PrefixSpace,
    /// A split on `pattern` (as written in the file).
    Split { pattern: String, splitter: Splitter },
}

/// What finds the pieces: a hand-written scanner for the common patterns, `fancy-regex` for
/// any other.
pub(crate) enum Splitter {
    Gpt2,
    /// Llama 3's, Qwen's, cl100k's, o200k's or Tekken's.
    Scanner(PieceEnd),
    Regex(Box<RegexSplitter>),
}

/// A pattern in HF's reading, compiled once and cloned for each thread that uses it: a clone
/// has its own matching caches, so threads share none.
pub(crate) struct RegexSplitter {
    compiled: Compiled,
    per_thread: ThreadLocal<Compiled>,
}

/// The look-ahead that ends most patterns in use (GPT-2's, o200k's, Tekken's, ...): a run of
/// whitespace leaves its last character to the word after it.
const WHITESPACE_TAIL: &str = r"|\s+(?!\S)|\s+";

#[derive(Clone)]
struct Compiled {
    regex: Regex,
    /// For a pattern `HEAD|\s+(?!\S)|\s+` whose `HEAD` is a plain regular expression: `regex`
    /// is `HEAD|\s+`, which the regex engine runs without its backtracking machine, and this
    /// is `HEAD` anchored, to tell which alternative a run of whitespace
    /// came from; the look-ahead is applied by hand.
    head: Option<Regex>,
}

impl Compiled {
    fn new(reading: &str) -> std::result::Result<Compiled, String> {
        if let Some(head) = reading.strip_suffix(WHITESPACE_TAIL) {
            if is_plain(head) {
                return Ok(Compiled {
                    regex: compile(&format!(r"{head}|\s+"))?,
                    head: Some(compile(&format!(r"\A(?:{head})"))?),
                });
            }
        }
        Ok(Compiled {
            regex: compile(reading)?,
            head: None,
        })
    }

    /// Calls `f` on the matches of the pattern in `text` and the gaps between them, in order.
    fn split<F>(&self, pattern: &str, text: &str, f: &mut F) -> Result<()>
    where
        F: FnMut(&str) -> Result<()>,
    {
        let failed = |e: fancy_regex::Error| Error::PatternFailed {
            pattern: pattern.to_owned(),
            message: e.to_string(),
        };
        let mut last = 0;
        let mut piece = |start: usize, end: usize, last: &mut usize| -> Result<()> {
            if start > *last {
                f(&text[*last..start])?;
            }
            if end > start {
                f(&text[start..end])?;
            }
            *last = end;
            Ok(())
        };
        match &self.head {
            None => {
                for found in self.regex.find_iter(text) {
                    let found = found.map_err(failed)?;
                    piece(found.start(), found.end(), &mut last)?;
                }
            }
            Some(head) => {
                while let Some(found) = self.regex.find_from_pos(text, last).map_err(failed)? {
                    let (start, mut end) = (found.start(), found.end());
                    // `\s+` took the whole run: `\s+(?!\S)` leaves the last character of a
                    // run that does not end the text to what follows, unless it has only one.
                    if end < text.len()
                        && text[start..end].chars().all(char::is_whitespace)
                        && !head.is_match(&text[start..]).map_err(failed)?
                    {
                        let last_char =
                            text[..end].char_indices().next_back().map_or(0, |(i, _)| i);
                        if last_char > start {
                            end = last_char;
                        }
                    }
                    piece(start, end, &mut last)?;
                    if last == text.len() {
                        break;
                    }
                }
            }
        }
        if last < text.len() {
            f(&text[last..])?;
        }
        Ok(())
    }
}

/// Whether `head` is a regular expression without look-around or anchors that cannot match
/// the empty string: then `HEAD|\s+` finds what `HEAD|\s+(?!\S)|\s+` finds, up to the
/// look-ahead, and `HEAD` matches the same at any offset of a text as at the start of the
/// rest of it.
fn is_plain(head: &str) -> bool {
    regex_syntax::Parser::new().parse(head).is_ok_and(|hir| {
        hir.properties().look_set().is_empty()
            && hir.properties().minimum_len().is_some_and(|len| len > 0)
    })
}

fn compile(pattern: &str) -> std::result::Result<Regex, String> {
    // The patterns in use backtrack a bounded amount per match, but the bound grows with runs
    // of whitespace; fancy-regex's default limit would reject long runs that HF (Oniguruma)
    // splits fine.
    RegexBuilder::new(pattern)
        .backtrack_limit(usize::MAX)
        .build()
        .map_err(|e| e.to_string())
}

impl Stage {
    /// A split on `pattern`, read as HF reads it: a scanner if one implements it, else the
    /// regex engine on the pattern rewritten to HF's meaning; refused where the pattern has a
    /// construct whose meaning cannot be reproduced.
    pub(crate) fn split(pattern: &str) -> std::result::Result<Stage, String> {
        let splitter = if pattern == GPT2_PATTERN {
            Splitter::Gpt2
        } else if let Some(piece_end) = llama3::scanner(pattern).or_else(|| o200k::scanner(pattern))
        {
            Splitter::Scanner(piece_end)
        } else {
            Splitter::Regex(Box::new(RegexSplitter {
                compiled: Compiled::new(&to_fancy_regex(pattern)?)?,
                per_thread: ThreadLocal::new(),
            }))
        };
        Ok(Stage::Split {
            pattern: pattern.to_owned(),
            splitter,
        })
    }
}

pub(crate) struct PreTokenizer {
    stages: Vec<Stage>,
}

impl PreTokenizer {
    pub(crate) fn new(stages: Vec<Stage>) -> Self {
        PreTokenizer { stages }
    }

    /// Calls `f` on each non-empty piece of `text`, in order.
    pub(crate) fn for_each_piece<F: FnMut(&str)>(&self, text: &str, f: &mut F) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        run(&self.stages, text, f)
    }

    /// A canonical description of `stages`, for the fingerprint.
    pub(crate) fn describe_stages(stages: &[Stage]) -> Vec<String> {
        stages
            .iter()
            .map(|stage| match stage {
                Stage::PrefixSpace => "prefix-space".to_owned(),
                // A pattern whose reading differs from its text gave other ids before HF's
                // reading was reproduced: its description (so the fingerprint) differs too.
                Stage::Split { pattern, .. } => match to_fancy_regex(pattern) {
                    Ok(reading) if reading != *pattern => {
                        format!("split:{pattern}:read-as:{reading}")
                    }
                    _ => format!("split:{pattern}"),
                },
            })
            .collect()
    }
}

fn run<F: FnMut(&str)>(stages: &[Stage], piece: &str, f: &mut F) -> Result<()> {
    let Some((stage, rest)) = stages.split_first() else {
        f(piece);
        return Ok(());
    };
    match stage {
        Stage::PrefixSpace if !piece.starts_with(' ') => run(rest, &format!(" {piece}"), f),
        Stage::PrefixSpace => run(rest, piece, f),
        Stage::Split {
            splitter: Splitter::Gpt2,
            ..
        } => gpt2::pieces(piece).try_for_each(|sub| run(rest, sub, f)),
        Stage::Split {
            splitter: Splitter::Scanner(piece_end),
            ..
        } => scan::pieces(piece, *piece_end).try_for_each(|sub| run(rest, sub, f)),
        Stage::Split {
            splitter: Splitter::Regex(splitter),
            pattern,
        } => {
            let compiled = splitter.per_thread.get_or(|| splitter.compiled.clone());
            compiled.split(pattern, piece, &mut |sub| run(rest, sub, f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(stages: Vec<Stage>, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        PreTokenizer::new(stages)
            .for_each_piece(text, &mut |p| out.push(p.to_owned()))
            .unwrap();
        out
    }

    #[test]
    fn llama3_pattern() {
        let stage = Stage::split(LLAMA3_PATTERN).unwrap();
        assert_eq!(
            pieces(vec![stage], "DON'T count 12345 ok.\n\nx"),
            ["DON", "'T", " count", " ", "123", "45", " ok", ".\n\n", "x"]
        );
    }

    #[test]
    fn prefix_space_applies_to_every_piece_of_the_stage_before() {
        let stages = vec![
            Stage::split(r"\d").unwrap(),
            Stage::PrefixSpace,
            Stage::split(GPT2_PATTERN).unwrap(),
        ];
        assert_eq!(pieces(stages, "ab1 cd"), [" ab", " 1", " cd"]);
    }

    #[test]
    fn gaps_between_matches_are_pieces() {
        assert_eq!(
            pieces(vec![Stage::split("b+").unwrap()], "abbcb"),
            ["a", "bb", "c", "b"]
        );
    }

    /// o200k's, Tekken's, GPT-2's (here through the regex engine), one whose whitespace
    /// alternatives see line breaks, and one whose head can match whitespace.
    const WHITESPACE_TAIL_PATTERNS: [&str; 5] = [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        GPT2_PATTERN,
        r" ?\p{L}+|\n\n|\s+(?!\S)|\s+",
        r"\t\t|[ \t]x|\s+(?!\S)|\s+",
    ];

    fn by_pattern(pattern: &str, head: bool, text: &str) -> Vec<String> {
        let compiled = Compiled::new(pattern).unwrap();
        assert_eq!(compiled.head.is_some(), head, "{pattern}");
        let plain = Compiled {
            regex: compile(pattern).unwrap(),
            head: None,
        };
        let mut pieces = [Vec::new(), Vec::new()];
        for (compiled, pieces) in [compiled, plain].iter().zip(&mut pieces) {
            compiled
                .split(pattern, text, &mut |p| {
                    pieces.push(p.to_owned());
                    Ok(())
                })
                .unwrap();
        }
        let [fast, reference] = pieces;
        assert_eq!(fast, reference, "{pattern} on {text:?}");
        fast
    }

    #[test]
    fn whitespace_tail_is_split_as_by_the_look_ahead() {
        assert_eq!(
            by_pattern(WHITESPACE_TAIL_PATTERNS[0], true, "Hello   World\n\n  x \t"),
            ["Hello", "  ", " World", "\n\n", " ", " x", " \t"]
        );
        for pattern in WHITESPACE_TAIL_PATTERNS {
            for text in [
                "",
                " ",
                "  ",
                " x",
                "  x",
                "x  ",
                "\n\n x",
                "\t\t x",
                "\t\tx",
                " \u{a0}x",
                "a \u{3000}\u{3000}b",
            ] {
                by_pattern(pattern, true, text);
            }
        }
        // A head with a look-around keeps the regex engine's own look-ahead.
        by_pattern(r"(?<=a)b|\s+(?!\S)|\s+", false, "ab  b");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        #[test]
        fn whitespace_tail_equals_the_look_ahead(
            chars in proptest::collection::vec(proptest::prop_oneof![
                3 => proptest::sample::select(vec![
                    ' ', ' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}', 'a', 'B', 'ǅ', 'ʰ', '\u{301}',
                    '1', '.', '/', '\'', 's', 'x',
                ]),
                1 => proptest::prelude::any::<char>(),
            ], 0..30)
        ) {
            let text: String = chars.into_iter().collect();
            for pattern in WHITESPACE_TAIL_PATTERNS {
                by_pattern(pattern, true, &text);
            }
        }
    }

    #[test]
    fn bad_patterns_are_reported() {
        assert!(Stage::split("(unclosed").is_err());
    }
}
