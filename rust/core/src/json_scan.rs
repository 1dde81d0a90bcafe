//! One pass over a JSONL line of the usual shape, for anything unusual answering "not
//! sure", so that serde_json decides: the text field of a plain-text record, found,
//! checked and decoded at once ([`scan`]), and the scanner the chat records' reader builds
//! template values with (`chat::value`).
//!
//! On source code, whose JSON strings have an escape every few dozen bytes, serde_json's
//! check of the line and then a decoding pass over the text took 40 % of the time preprocess
//! spends outside the tokenizer (0.2 s per 100 MB here). The scan looks for the next quote,
//! backslash or control character sixteen bytes at a time and copies the runs between
//! them.
//!
//! It gives an answer only where serde_json's would be the same: a line that is one object
//! whose keys have no escapes, whose values are well-formed and nested at most
//! [`MAX_DEPTH`] deep, and whose text field, if present, is a string without lone
//! surrogates. Everything else, malformed lines included, is left to serde_json, so that its
//! verdict and its messages stay the reference.

/// Containers nested deeper than this are left to serde_json, which has its own limit.
pub(crate) const MAX_DEPTH: usize = 32;

/// Where the scan found the text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// `line[start..end]`, which has no escapes.
    Borrowed(usize, usize),
    /// Decoded into the scratch buffer.
    Decoded,
    /// The line is a well-formed object without the field.
    Missing,
}

/// The last value of `field` in `line`, or `None` when serde_json must decide.
pub(crate) fn scan(line: &str, field: &str, scratch: &mut String) -> Option<Scanned> {
    let mut s = Scanner::new(line);
    let mut found = Scanned::Missing;
    s.skip_space();
    s.expect(b'{')?;
    s.skip_space();
    if !s.eat(b'}') {
        loop {
            let key = s.plain_string()?;
            s.skip_space();
            s.expect(b':')?;
            s.skip_space();
            if key == field.as_bytes() {
                found = s.text(line, scratch)?;
            } else {
                s.skip_value(0)?;
            }
            s.skip_space();
            if s.eat(b',') {
                s.skip_space();
                continue;
            }
            s.expect(b'}')?;
            break;
        }
    }
    s.skip_space();
    s.at_end().then_some(found)
}

pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(line: &'a str) -> Scanner<'a> {
        Scanner {
            bytes: line.as_bytes(),
            at: 0,
        }
    }

    /// Whether the whole line has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.at == self.bytes.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    pub(crate) fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    pub(crate) fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes (an object key), as its bytes.
    pub(crate) fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let end = next_special(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        Some(&self.bytes[start..end])
    }

    /// A string without escapes (an object key) of `line`, the text being scanned.
    pub(crate) fn plain_str<'l>(&mut self, line: &'l str) -> Option<&'l str> {
        let start = self.at + 1;
        let bytes = self.plain_string()?;
        // Between two quotes, which no character's bytes but the quote's own can be.
        line.get(start..start + bytes.len())
    }

    /// A string (the text field's value): borrowed from `line`, or decoded into `scratch`.
    pub(crate) fn text(&mut self, line: &str, scratch: &mut String) -> Option<Scanned> {
        self.expect(b'"')?;
        let start = self.at;
        let mut run = start;
        let mut decoded = false;
        loop {
            let end = next_special(self.bytes, run);
            match self.bytes.get(end)? {
                b'"' => {
                    self.at = end + 1;
                    if !decoded {
                        return Some(Scanned::Borrowed(start, end));
                    }
                    scratch.push_str(&line[run..end]);
                    return Some(Scanned::Decoded);
                }
                b'\\' => {
                    if !decoded {
                        scratch.clear();
                        decoded = true;
                    }
                    scratch.push_str(&line[run..end]);
                    self.at = end + 1;
                    scratch.push(self.escape()?);
                    run = self.at;
                }
                // A control character, which JSON strings may not hold.
                _ => return None,
            }
        }
    }

    /// The character of the escape after a backslash; `None` for a malformed escape or a
    /// lone surrogate.
    fn escape(&mut self) -> Option<char> {
        let kind = self.peek()?;
        self.at += 1;
        Some(match kind {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A leading surrogate, whose trailing one must follow.
                    self.expect(b'\\')?;
                    self.expect(b'u')?;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(unit)?
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.at += 4;
        Some(value)
    }

    /// Skips a string, checking its escapes as serde_json does when it skips one (the four
    /// digits of a `\u` escape, but not whether a surrogate is paired).
    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            let end = next_special(self.bytes, self.at);
            match self.bytes.get(end)? {
                b'"' => {
                    self.at = end + 1;
                    return Some(());
                }
                b'\\' => {
                    self.at = end + 1;
                    match self.peek()? {
                        b'n' | b't' | b'r' | b'"' | b'\\' | b'/' | b'b' | b'f' => self.at += 1,
                        b'u' => {
                            self.at += 1;
                            self.hex4()?;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' if depth >= MAX_DEPTH => None,
            b'{' => self.entries(b'}', |scan| {
                scan.skip_string()?;
                scan.skip_space();
                scan.expect(b':')?;
                scan.skip_space();
                scan.skip_value(depth + 1)
            }),
            b'[' => self.entries(b']', |scan| scan.skip_value(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// An object or a list, from its opening bracket to `close`: the entries `entry` reads
    /// (a key and its value, or a value), separated by commas.
    pub(crate) fn entries(
        &mut self,
        close: u8,
        mut entry: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.at += 1;
        self.skip_space();
        if self.eat(close) {
            return Some(());
        }
        loop {
            entry(self)?;
            self.skip_space();
            if !self.eat(b',') {
                return self.expect(close);
            }
            self.skip_space();
        }
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Option<()> {
        let found = self.bytes.get(self.at..self.at + word.len())? == word;
        self.at += word.len();
        found.then_some(())
    }

    /// A number, as the byte range it spans.
    pub(crate) fn number(&mut self) -> Option<(usize, usize)> {
        let start = self.at;
        self.skip_number()?;
        Some((start, self.at))
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn skip_number(&mut self) -> Option<()> {
        self.eat(b'-');
        if !self.eat(b'0') {
            if !matches!(self.peek(), Some(b'1'..=b'9')) {
                return None;
            }
            self.digits();
        }
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            self.digits()?;
        }
        Some(())
    }

    /// One digit or more.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }
}

/// The index of the first quote, backslash or control character in `bytes[from..]`, or
/// `bytes.len()`: sixteen bytes at a time with SSE2 (part of every x86-64 CPU), which made the
/// scan of source code twice as fast as eight at a time in a word; then eight at a time.
fn next_special(bytes: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of every x86-64 CPU.
    #[allow(unsafe_code)]
    let from = match unsafe { next_special_by_blocks(bytes, from) } {
        Ok(found) => return found,
        Err(rest) => rest,
    };
    next_special_by_words(bytes, from)
}

/// [`next_special`] sixteen bytes at a time: `Ok` with the index found, or `Err` with where
/// the last, shorter block starts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn next_special_by_blocks(bytes: &[u8], from: usize) -> Result<usize, usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let (quote, backslash) = (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\\' as i8));
    let control = _mm_set1_epi8(0x1F);
    let mut at = from;
    while at + 16 <= bytes.len() {
        // SAFETY: `bytes[at..at + 16]` is in bounds; the load needs no alignment.
        #[allow(unsafe_code)]
        let v = unsafe { _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>()) };
        // A byte is a control character when min(byte, 0x1F) is the byte itself.
        let special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
            _mm_cmpeq_epi8(_mm_min_epu8(v, control), v),
        );
        let mask = _mm_movemask_epi8(special) as u32;
        if mask != 0 {
            return Ok(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    Err(at)
}

/// [`next_special`] eight bytes at a time in a `u64`.
fn next_special_by_words(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(word) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // The high bit of each byte that is zero (in `quote`, `backslash`) or under 0x20
        // (in `word`). A borrow can only mark bytes above a true match, so the lowest mark
        // is the first special byte.
        let marks = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGH;
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && !matches!(bytes[at], b'"' | b'\\' | 0..=0x1F) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_finds_the_first_special_byte() {
        let mut line = vec![b'a'; 40];
        for special in [b'"', b'\\', 0, 0x1f, b'\n'] {
            for at in 0..40 {
                for later in [at, at + 1, 39] {
                    let mut bytes = line.clone();
                    bytes[later.min(39)] = b'\\';
                    bytes[at] = special;
                    assert_eq!(next_special(&bytes, 0), at, "{special} at {at}");
                }
            }
        }
        // Bytes of 0x80 and above (UTF-8) and 0x20 are not special.
        line.extend("é \u{7f} 😀".bytes());
        assert_eq!(next_special(&line, 0), line.len());
        assert_eq!(next_special(&line, 5), line.len());
    }

    proptest::proptest! {
        /// Both searches agree with a byte-by-byte one, from any start, over blocks of 16
        /// and 8 bytes and the bytes left after them.
        #[test]
        fn the_searches_agree_with_a_plain_loop(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::Just(b'"'),
                    proptest::prelude::Just(b'\\'),
                    0u8..0x20,
                    0x20u8..=0xff,
                ],
                0..80,
            ),
            from in 0usize..80,
        ) {
            // Special bytes are rare in real text: mostly plain ones, so runs are long.
            let bytes: Vec<u8> = bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| if i % 7 == 3 { b } else { b.max(0x20) | 0x40 })
                .collect();
            let from = from.min(bytes.len());
            let plain = (from..bytes.len())
                .find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1F))
                .unwrap_or(bytes.len());
            proptest::prop_assert_eq!(next_special(&bytes, from), plain);
            proptest::prop_assert_eq!(next_special_by_words(&bytes, from), plain);
        }
    }

    #[test]
    fn unusual_lines_are_left_to_serde() {
        let mut scratch = String::new();
        for line in [
            r#"{"te\u0078t": "x"}"#,
            r#"{"text": 3}"#,
            r#"{"text": "\ud800"}"#,
            r#"["text"]"#,
            r#"{"text": "x"} x"#,
            r#"{"a": 01, "text": "x"}"#,
            r#"{"a": 1., "text": "x"}"#,
            r#"{"a": -, "text": "x"}"#,
            r#"{"a": [1,], "text": "x"}"#,
            r#"{"a": "\x", "text": "x"}"#,
        ] {
            assert_eq!(scan(line, "text", &mut scratch), None, "{line}");
        }
        let deep = format!(
            "{{\"a\": {}1{}, \"text\": \"x\"}}",
            "[".repeat(40),
            "]".repeat(40)
        );
        assert_eq!(scan(&deep, "text", &mut scratch), None);
        let shallow = format!(
            "{{\"a\": {}1{}, \"text\": \"x\"}}",
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(matches!(
            scan(&shallow, "text", &mut scratch),
            Some(Scanned::Borrowed(..))
        ));
    }
}
