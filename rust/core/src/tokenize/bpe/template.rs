//! HF's `TemplateProcessing` for single sequences: the special tokens that
//! `encode(text, add_special_tokens=True)` puts around the text (Llama 3's
//! `<|begin_of_text|>`, for example). Encoding without special tokens ignores it.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// The encoded text.
    Sequence,
    /// A special token's ids.
    Special(Vec<u32>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) pieces: Vec<Piece>,
}

impl Template {
    pub(crate) fn apply(&self, ids: Vec<u32>) -> Vec<u32> {
        if self.pieces == [Piece::Sequence] {
            return ids;
        }
        let mut out = Vec::with_capacity(ids.len() + self.pieces.len());
        for piece in &self.pieces {
            match piece {
                Piece::Sequence => out.extend_from_slice(&ids),
                Piece::Special(special) => out.extend_from_slice(special),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_the_sequence() {
        let t = Template {
            pieces: vec![
                Piece::Special(vec![1]),
                Piece::Sequence,
                Piece::Special(vec![2, 3]),
            ],
        };
        assert_eq!(t.apply(vec![7, 8]), [1, 7, 8, 2, 3]);
    }
}
