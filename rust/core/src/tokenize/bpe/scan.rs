//! What the hand-written pre-tokenizers (`gpt2`, `llama3`, `o200k`) share: classifying the character
//! at a byte offset and finding where a run of one class ends, ASCII in one table load.

use super::unicode::{Case, Classes, Kind, classes};

/// Where the piece that starts at a byte offset ends: a hand-written scanner.
pub(crate) type PieceEnd = for<'a> fn(&Text<'a>, usize) -> usize;

pub(crate) struct Text<'a> {
    pub(crate) text: &'a str,
    classes: &'static Classes,
}

impl<'a> Text<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Text {
            text,
            classes: classes(),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    #[inline]
    pub(crate) fn byte(&self, i: usize) -> u8 {
        self.text.as_bytes()[i]
    }

    /// The kind of the character at byte `i` and its length in bytes.
    #[inline]
    pub(crate) fn class_at(&self, i: usize) -> (Kind, usize) {
        let b = self.byte(i);
        if b < 0x80 {
            return (self.classes.kind(char::from(b)), 1);
        }
        let c = self.text[i..]
            .chars()
            .next()
            .expect("i is below the length");
        (self.classes.kind(c), c.len_utf8())
    }

    /// The case class of the character at byte `i` and its length in bytes.
    #[inline]
    pub(crate) fn case_at(&self, i: usize) -> (Case, usize) {
        let b = self.byte(i);
        if b < 0x80 {
            return (self.classes.case(char::from(b)), 1);
        }
        let c = self.text[i..]
            .chars()
            .next()
            .expect("i is below the length");
        (self.classes.case(c), c.len_utf8())
    }

    /// Where the run of characters whose case class is in `set` starting at byte `i` ends.
    #[inline]
    pub(crate) fn case_run_end(&self, mut i: usize, set: fn(Case) -> bool) -> usize {
        while i < self.len() {
            let (case, len) = self.case_at(i);
            if !set(case) {
                break;
            }
            i += len;
        }
        i
    }

    /// The kind of the character at byte `i`, or `None` at the end.
    #[inline]
    pub(crate) fn kind_at(&self, i: usize) -> Option<Kind> {
        (i < self.len()).then(|| self.class_at(i).0)
    }

    /// Where the run of `kind` characters starting at byte `i` ends.
    #[inline]
    pub(crate) fn run_end(&self, mut i: usize, kind: Kind) -> usize {
        while i < self.len() {
            let (k, len) = self.class_at(i);
            if k != kind {
                break;
            }
            i += len;
        }
        i
    }

    /// Where the last character before byte `end` starts.
    pub(crate) fn last_char_start(&self, end: usize) -> usize {
        self.text[..end]
            .char_indices()
            .next_back()
            .map_or(0, |(i, _)| i)
    }
}

/// The pieces of `text` that `piece_end` cuts, in order; they cover it exactly.
pub(crate) fn pieces(text: &str, piece_end: PieceEnd) -> impl Iterator<Item = &str> {
    let text = Text::new(text);
    let mut start = 0;
    std::iter::from_fn(move || {
        if start == text.len() {
            return None;
        }
        let end = piece_end(&text, start);
        let piece = &text.text[start..end];
        start = end;
        Some(piece)
    })
}
