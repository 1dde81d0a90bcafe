"""The pre-tokenizer patterns of the tokenizer families in real use, as their reference code
spells them, and a generated adversarial set of texts for them: shared by the pattern tests and
``scripts/real_tokenizers.py``."""

from __future__ import annotations

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")
# cl100k as tiktoken writes it, and transformers' convert_tiktoken_to_fast copies it.
CL100K = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"
    r"|\s++$|\s*[\r\n]|\s+(?!\S)|\s"
)
# o200k (GPT-4o, Llama 4).
O200K = "|".join(
    [
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
        r"\p{N}{1,3}",
        r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
        r"\s*[\r\n]+",
        r"\s+(?!\S)",
        r"\s+",
    ]
)
# Mistral's Tekken.
TEKKEN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
FAMILIES = {
    "gpt2": GPT2,
    "llama3": LLAMA3,
    "qwen": QWEN,
    "cl100k": CL100K,
    "o200k": O200K,
    "tekken": TEKKEN,
}


def digit_runs() -> list[str]:
    texts = []
    for digits in ["0123456789", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "²³¹⁴", "𝟘𝟙𝟚"]:
        for n in range(1, 21):
            run = (digits * 3)[:n]
            texts += [run, f"a{run}b", f" {run} ", f"x{run}\n{run}", f"{run}.{run}"]
    return texts


def whitespace_runs() -> list[str]:
    units = [" ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u0085", "\u2003"]
    texts = []
    for a in units:
        for b in units:
            for n in (1, 2, 3):
                run = (a + b) * n
                texts += [run, f"x{run}", f"x{run}y", f"{run}y", f"x{run}!", f"!{run}\n"]
    return texts


def contractions() -> list[str]:
    words = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'ſ", "'K", "'x", "''s", "'"]
    texts = []
    for w in words:
        for variant in {w, w.upper(), w.title(), w.swapcase()}:
            texts += [variant, f"it{variant}", f"IT{variant} x", f" {variant}", f"\n{variant}"]
    return texts


# Letters and numbers from recent Unicode versions (14, 15, 15.1, 16), marks, joiners.
RECENT = (
    "\U0001e290\U00011f04\U0002ebf0\U00010d50\U000105c0\U00031350\U0001df25\U00011f50\U0001e4d0"
)
MIXED = [
    "DON'T do it, it's WE'RE here; they'LL see",
    "emoji 😀👍🏽 family 👨\u200d👩\u200d👧 ✌️ flag 🇫🇷",
    "combining e\u0301 a\u0308 क्ष Z\u0351\u0352 \u0301start",
    "CJK 東京は大きい。中文，标点！한국어 テスト",
    "RTL שלום עולם مرحبا \u200f\u200e mixed עב123",
    "ǅungla ǈ ǋ Ⅻ ⅻ Ⓐ ʰ ˢ ー々〆 ſt ﬅ ß ẞ K",
    f"recent {RECENT} x{RECENT}1",
    "url https://example.com/a/b?c=1 path/to/file.txt // comment\n",
    "code: if (x) {\n\treturn y;\n}\r\n",
    "\x00\x01\x1b[31mcontrol\x7f\x1c\x1d\x1e\x1f",
]
GENERATED = digit_runs() + whitespace_runs() + contractions() + MIXED
