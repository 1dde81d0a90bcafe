//! Pre-tokenization: cutting text into the pieces that BPE merges within, exactly as HF
//! `tokenizers` does for byte-level BPE. A pre-tokenizer is a chain of stages, each applied
//! to every piece the previous one produced: `Split` patterns (HF's `Split` pre-tokenizer
//! with `behavior: "Isolated"`: matches and the gaps between them both become pieces), then
//! `ByteLevel`'s optional prefix space and optional GPT-2 split.

use fancy_regex::{Regex, RegexBuilder};
use thread_local::ThreadLocal;

use super::{gpt2, llama3};
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
    /// Llama 3's, Qwen's or cl100k's.
    Llama3(llama3::PieceEnd),
    Regex(RegexSplitter),
}

/// A pattern in HF's reading, compiled once and cloned for each thread that uses it: a clone
/// has its own matching caches, where one regex shared by all threads makes them wait on
/// each other.
pub(crate) struct RegexSplitter {
    regex: Regex,
    per_thread: ThreadLocal<Regex>,
}

impl Stage {
    /// A split on `pattern`, read as HF reads it: a scanner if one implements it, else the
    /// regex engine on the pattern rewritten to HF's meaning; refused where the pattern has a
    /// construct whose meaning cannot be reproduced.
    pub(crate) fn split(pattern: &str) -> std::result::Result<Stage, String> {
        let splitter = if pattern == GPT2_PATTERN {
            Splitter::Gpt2
        } else if let Some(piece_end) = llama3::scanner(pattern) {
            Splitter::Llama3(piece_end)
        } else {
            let reading = to_fancy_regex(pattern)?;
            // The patterns in use backtrack a bounded amount per match, but the bound grows
            // with runs of whitespace; fancy-regex's default limit would reject long runs
            // that HF (Oniguruma) splits fine.
            let regex = RegexBuilder::new(&reading)
                .backtrack_limit(usize::MAX)
                .build()
                .map_err(|e| e.to_string())?;
            Splitter::Regex(RegexSplitter {
                regex,
                per_thread: ThreadLocal::new(),
            })
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
            splitter: Splitter::Llama3(piece_end),
            ..
        } => llama3::pieces(piece, *piece_end).try_for_each(|sub| run(rest, sub, f)),
        Stage::Split {
            splitter: Splitter::Regex(splitter),
            pattern,
        } => {
            let regex = splitter.per_thread.get_or(|| splitter.regex.clone());
            let mut last = 0;
            for found in regex.find_iter(piece) {
                let found = found.map_err(|e| Error::PatternFailed {
                    pattern: pattern.clone(),
                    message: e.to_string(),
                })?;
                if found.start() > last {
                    run(rest, &piece[last..found.start()], f)?;
                }
                if !found.as_str().is_empty() {
                    run(rest, found.as_str(), f)?;
                }
                last = found.end();
            }
            if last < piece.len() {
                run(rest, &piece[last..], f)?;
            }
            Ok(())
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

    #[test]
    fn bad_patterns_are_reported() {
        assert!(Stage::split("(unclosed").is_err());
    }
}
