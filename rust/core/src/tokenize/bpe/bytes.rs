//! GPT-2's reversible byte ↔ character mapping (`bytes_to_unicode`). Byte-level BPE works on
//! bytes, but `tokenizer.json` stores tokens as strings, so every byte is given a printable
//! character: printable Latin-1 bytes map to themselves, the others to U+0100 onwards, in
//! byte order. Tokens in a `tokenizer.json` are these characters; inside seqpack they are bytes.

use std::sync::LazyLock;

struct Table {
    char_of: [char; 256],
    /// Indexed by `char as usize`; every mapped character is below U+0144.
    byte_of: [Option<u8>; 0x144],
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut char_of = ['\0'; 256];
    let mut byte_of = [None; 0x144];
    let mut next = 0x100u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            char::from(b)
        } else {
            next += 1;
            char::from_u32(next - 1).expect("U+0100..U+0143 are characters")
        };
        char_of[usize::from(b)] = c;
        byte_of[c as usize] = Some(b);
    }
    Table { char_of, byte_of }
});

/// The character that stands for `byte` in a `tokenizer.json`.
pub(crate) fn char_of(byte: u8) -> char {
    TABLE.char_of[usize::from(byte)]
}

/// The byte a `tokenizer.json` character stands for, if it is one of the 256.
pub(crate) fn byte_of(c: char) -> Option<u8> {
    TABLE.byte_of.get(c as usize).copied().flatten()
}

/// The `tokenizer.json` spelling of a token's bytes.
pub(crate) fn to_token_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char_of(b)).collect()
}

/// The bytes a `tokenizer.json` token string stands for, or `None` when a character lies
/// outside the byte alphabet (such a token can never come out of byte-level BPE merges).
pub(crate) fn from_token_string(token: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(token.len());
    append_token_bytes(token, &mut bytes).then_some(bytes)
}

/// [`from_token_string`] appending to `out`, which is left as it was (and false returned)
/// when a character lies outside the byte alphabet.
pub(crate) fn append_token_bytes(token: &str, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    for c in token.chars() {
        match byte_of(c) {
            Some(b) => out.push(b),
            None => {
                out.truncate(start);
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_gpt2s() {
        assert_eq!(char_of(b' '), 'Ġ');
        assert_eq!(char_of(b'\n'), 'Ċ');
        assert_eq!(char_of(b'a'), 'a');
        assert_eq!(char_of(0), 'Ā');
        assert_eq!(char_of(0xAD), 'Ń');
        assert_eq!(to_token_string(" hello".as_bytes()), "Ġhello");
        assert_eq!(to_token_string("é".as_bytes()), "Ã©");
    }

    #[test]
    fn mapping_is_a_bijection() {
        for b in 0..=255u8 {
            assert_eq!(byte_of(char_of(b)), Some(b));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(from_token_string(&to_token_string(&all)), Some(all));
        assert_eq!(from_token_string("▁x"), None);
    }

    #[test]
    fn a_token_outside_the_alphabet_leaves_the_buffer_as_it_was() {
        let mut out = b"ab".to_vec();
        assert!(!append_token_bytes("Ġx▁", &mut out));
        assert_eq!(out, b"ab");
        assert!(append_token_bytes("Ġx", &mut out));
        assert_eq!(out, b"ab x");
    }
}
