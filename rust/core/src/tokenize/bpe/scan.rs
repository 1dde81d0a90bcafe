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

    /// The character at byte `i` and its length in bytes, ASCII without decoding.
    #[inline]
    fn char_at(&self, i: usize) -> (char, usize) {
        let b = self.byte(i);
        if b < 0x80 {
            return (char::from(b), 1);
        }
        let c = self.text[i..]
            .chars()
            .next()
            .expect("i is below the length");
        (c, c.len_utf8())
    }

    /// The kind of the character at byte `i` and its length in bytes.
    #[inline]
    pub(crate) fn class_at(&self, i: usize) -> (Kind, usize) {
        let (c, len) = self.char_at(i);
        (self.classes.kind(c), len)
    }

    /// The case class of the character at byte `i` and its length in bytes.
    #[inline]
    pub(crate) fn case_at(&self, i: usize) -> (Case, usize) {
        let (c, len) = self.char_at(i);
        (self.classes.case(c), len)
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

    /// `\s+(?!\S)|\s+` over the whitespace run `start..end`: the run gives up its last
    /// character to the word after it, unless that would leave it empty or nothing follows.
    pub(crate) fn space_end(&self, start: usize, end: usize) -> usize {
        if end == self.len() {
            return end;
        }
        let last = self.last_char_start(end);
        if last > start { last } else { end }
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+` over the whitespace run `start..end`: up to its last line
    /// break if it has one, else as [`Text::space_end`].
    pub(crate) fn space_or_line_break_end(&self, start: usize, end: usize) -> usize {
        let text = self.text.as_bytes();
        match (start..end).rev().find(|&i| is_line_break(text[i])) {
            Some(last_break) => last_break + 1,
            None => self.space_end(start, end),
        }
    }
}

pub(crate) fn is_line_break(b: u8) -> bool {
    b == b'\r' || b == b'\n'
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
