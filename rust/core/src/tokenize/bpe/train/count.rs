//! Counting pre-tokens: the first pass of training, the only one that reads the corpus, so
//! it runs in parallel over the documents of each batch. Special tokens are cut out first,
//! exactly as encoding cuts them, so no merge ever learns from them.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::Result;
use crate::parallel;
use crate::tokenize::bpe::added::{AddedTokens, Segment};
use crate::tokenize::bpe::pretokenize::PreTokenizer;

/// Occurrences of each distinct piece (its UTF-8 bytes).
pub(crate) type Counts = FxHashMap<Box<[u8]>, u64>;

/// Adds the pieces of `texts` to `counts`.
pub(crate) fn count<S: AsRef<str> + Sync>(
    texts: &[S],
    specials: &AddedTokens,
    pretokenizer: &PreTokenizer,
    counts: &mut Counts,
) -> Result<()> {
    let count_one = |mut counts: Counts, text: &S| -> Result<Counts> {
        specials.for_each_segment(text.as_ref(), &mut |segment| match segment {
            Segment::Token(_) => Ok(()),
            Segment::Text(text) => pretokenizer.for_each_piece(text, &mut |piece| match counts
                .get_mut(piece.as_bytes())
            {
                Some(n) => *n += 1,
                None => {
                    counts.insert(piece.as_bytes().into(), 1);
                }
            }),
        })?;
        Ok(counts)
    };
    let batch = if parallel::pool_usable() {
        texts
            .par_iter()
            .try_fold(Counts::default, count_one)
            .try_reduce(Counts::default, |a, b| Ok(add(a, b)))?
    } else {
        texts.iter().try_fold(Counts::default(), count_one)?
    };
    let total = std::mem::take(counts);
    *counts = add(total, batch);
    Ok(())
}

/// The sum of two counts, folding the smaller map into the larger.
fn add(a: Counts, b: Counts) -> Counts {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (piece, n) in small {
        *big.entry(piece).or_default() += n;
    }
    big
}
