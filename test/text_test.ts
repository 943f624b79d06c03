/**
 * Tests for the BERT WordPiece tokenizer (src/data/text.ts). Expected tokens are worked out by hand
 * from the documented algorithm of HuggingFace `BertTokenizer` (uncased), which cannot run here;
 * several cases are HuggingFace's own unit-test cases, and three sentences use the ids that
 * bert-base-uncased is widely published to give.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import fc from "fast-check";
import { AmssArgumentError } from "../src/validate.ts";
import {
  basicTokenize,
  encode,
  loadVocab,
  readVocab,
  SPECIAL_TOKENS,
  TEXT_MAX_LENGTH,
  tokenize,
  type Vocab,
} from "../src/data/text.ts";

// Hand-written vocabulary; a token's id is its line index.
const TOKENS = [
  "[PAD]", // 0
  "[UNK]", // 1
  "[CLS]", // 2
  "[SEP]", // 3
  "[MASK]", // 4
  "hello", // 5
  "world", // 6
  ",", // 7
  "!", // 8
  "?", // 9
  ".", // 10
  "un", // 11
  "##aff", // 12
  "##able", // 13
  "cafe", // 14
  "naive", // 15
  "中", // 16
  "文", // 17
  "ok", // 18
  "i", // 19
  "love", // 20
  "it", // 21
  "❤", // 22
  "a", // 23
  "##a", // 24
  "😀", // 25
  "##😀", // 26
  "want", // 27
  "##want", // 28
  "##ed", // 29
  "wa", // 30
  "runn", // 31
  "##ing", // 32
  "how", // 33
  "are", // 34
  "you", // 35
  "pizza", // 36
  "sep", // 37
  "[", // 38
  "]", // 39
  "$", // 40
  "^", // 41
  "b", // 42
];
const VOCAB: Vocab = loadVocab(TOKENS.join("\n") + "\n", "test-vocab");
const UNK = "[UNK]";

Deno.test("TEXT_MAX_LENGTH is BERT's 128, the reference max length", () => {
  assertEquals(TEXT_MAX_LENGTH, 128);
});

// ------------------------------------------------------------------------------------ vocab

Deno.test("loadVocab: id = line index, special ids, size", () => {
  assertEquals(VOCAB.size, TOKENS.length);
  TOKENS.forEach((t, i) => assertEquals(VOCAB.tokenToId.get(t), i, t));
  assertEquals(VOCAB.idToToken, TOKENS);
  assertEquals(
    [VOCAB.padId, VOCAB.unkId, VOCAB.clsId, VOCAB.sepId, VOCAB.maskId],
    [0, 1, 2, 3, 4],
  );
  assertEquals(VOCAB.source, "test-vocab");
});

Deno.test("loadVocab: CRLF, CR, BOM, trailing newline and blank lines match Python's readlines", () => {
  const lf = loadVocab(TOKENS.join("\n"), "lf"); // no final newline: same tokens
  const crlf = loadVocab("\uFEFF" + TOKENS.join("\r\n") + "\r\n", "crlf");
  const cr = loadVocab(TOKENS.join("\r"), "cr");
  for (const v of [lf, crlf, cr]) {
    assertEquals(v.idToToken, TOKENS);
    assertEquals(v.tokenToId.get("[MASK]"), 4);
  }
  // A blank line in the middle is a token "" that still takes an id (HuggingFace does the same).
  const gap = loadVocab("[PAD]\n\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", "gap");
  assertEquals(gap.unkId, 2);
  assertEquals(gap.size, 6);
  // Only one final line break is dropped: "x\n\n" is two tokens, "x" and "".
  assertEquals(loadVocab(SPECIAL_TOKENS.join("\n") + "\n\n", "two").size, 6);
});

Deno.test("loadVocab: empty file is an error naming the source", () => {
  for (const text of ["", "\n", "\n\n  \n", "\uFEFF"]) {
    const e = assertThrows(() => loadVocab(text, "my/vocab.txt"), AmssArgumentError);
    assertStringIncludes(e.message, "my/vocab.txt");
    assertStringIncludes(e.message, "empty");
  }
});

Deno.test("loadVocab: missing special tokens are listed by name", () => {
  const noMask = TOKENS.filter((t) => t !== "[MASK]").join("\n");
  const e = assertThrows(() => loadVocab(noMask, "v.txt"), AmssArgumentError);
  assertStringIncludes(e.message, "v.txt");
  assertStringIncludes(e.message, "[MASK]");
  const e2 = assertThrows(() => loadVocab("hello\nworld\n[UNK]", "w.txt"), AmssArgumentError);
  assertStringIncludes(e2.message, "[PAD] [CLS] [SEP] [MASK]");
  // Case matters: "[pad]" is not "[PAD]".
  assertThrows(
    () => loadVocab("[pad]\n[UNK]\n[CLS]\n[SEP]\n[MASK]", "lc"),
    AmssArgumentError,
    "[PAD]",
  );
});

Deno.test("loadVocab: a repeated token is an error naming both lines (HF would keep the last id)", () => {
  const dup = [...TOKENS, "hello"].join("\n");
  const e = assertThrows(() => loadVocab(dup, "dup.txt"), AmssArgumentError);
  assertStringIncludes(e.message, "dup.txt");
  assertStringIncludes(e.message, `line ${TOKENS.length + 1} repeats token "hello" of line 6`);
  assertThrows(() => loadVocab(SPECIAL_TOKENS.join("\n") + "\n\n\n", "blank2"), AmssArgumentError);
});

Deno.test("loadVocab: non-string arguments are errors", () => {
  assertThrows(() => loadVocab(42 as unknown as string, "n"), AmssArgumentError, "n:");
  assertThrows(() => loadVocab("x", undefined as unknown as string), AmssArgumentError, "source");
});

Deno.test("readVocab: reads a file, names the path on errors", async () => {
  const path = await Deno.makeTempFile({ dir: "/tmp", suffix: "-vocab.txt" });
  try {
    await Deno.writeTextFile(path, TOKENS.join("\n") + "\n");
    const v = await readVocab(path);
    assertEquals(v.idToToken, TOKENS);
    assertEquals(v.source, path);
    assertEquals(encode("Hello, World!", v, { maxLength: 6 }).ids, Int32Array.of(2, 5, 7, 6, 8, 3));

    await Deno.writeFile(path, Uint8Array.of(0x5b, 0x50, 0xff, 0x0a)); // 0xff: never valid UTF-8
    const bad = await readVocab(path).then(() => null, (e) => e);
    assertEquals(bad instanceof AmssArgumentError, true);
    assertStringIncludes(bad.message, path);
    assertStringIncludes(bad.message, "UTF-8");

    await Deno.writeTextFile(path, "hello\n");
    const miss = await readVocab(path).then(() => null, (e) => e);
    assertStringIncludes(miss.message, path);
    assertStringIncludes(miss.message, "[PAD]");
  } finally {
    await Deno.remove(path);
  }
  const gone = await readVocab("/tmp/does-not-exist/vocab.txt").then(() => null, (e) => e);
  assertEquals(gone instanceof AmssArgumentError, true);
  assertStringIncludes(gone.message, "/tmp/does-not-exist/vocab.txt");
  assertStringIncludes(gone.message, "not found");
});

// ------------------------------------------------------------------------------ basic tokenizer

Deno.test("basicTokenize: HuggingFace's own BasicTokenizer test cases (lower, accents, CJK)", () => {
  // transformers tests/models/bert: test_basic_tokenizer_lower, _lower_strip_accents_default,
  // test_chinese.
  assertEquals(basicTokenize(" \tHeLLo!how  \n Are yoU?  "), [
    "hello",
    "!",
    "how",
    "are",
    "you",
    "?",
  ]);
  assertEquals(basicTokenize("H\u00E9llo"), ["hello"]);
  assertEquals(basicTokenize(" \tHäLLo!how  \n Are yoU?  "), [
    "hallo",
    "!",
    "how",
    "are",
    "you",
    "?",
  ]);
  assertEquals(basicTokenize("ah\u535A\u63A8zz"), ["ah", "\u535A", "\u63A8", "zz"]);
});

Deno.test("basicTokenize: punctuation is BERT's (ASCII symbol ranges + Unicode P*), not S*", () => {
  // $ + < = > ^ ` | ~ are category S* but inside BERT's ASCII ranges: split.
  assertEquals(basicTokenize("1+1=2 a^b$ x`y|z~"), [
    "1",
    "+",
    "1",
    "=",
    "2",
    "a",
    "^",
    "b",
    "$",
    "x",
    "`",
    "y",
    "|",
    "z",
    "~",
  ]);
  // Unicode P* (« Pi, » Pf, ¿ Po, — Pd) split; non-ASCII symbols (€ Sc, © So, emoji So) do not.
  assertEquals(basicTokenize("«hi»¿x—y"), ["«", "hi", "»", "¿", "x", "—", "y"]);
  assertEquals(basicTokenize("a€ ©b pizza🍕"), ["a€", "©b", "pizza🍕"]);
  // Runs of punctuation: every char its own token.
  assertEquals(basicTokenize("wow!!?..."), ["wow", "!", "!", "?", ".", ".", "."]);
});

Deno.test("basicTokenize: control chars dropped (joining their neighbours), whitespace splits", () => {
  assertEquals(basicTokenize("hel\u0000lo\uFFFD"), ["hello"]);
  assertEquals(basicTokenize("a\u0005b"), ["ab"]); // Cc
  assertEquals(basicTokenize("a\u000Bb a\u000Cb a\u0085b"), ["ab", "ab", "ab"]); // VT FF NEL: Cc
  assertEquals(basicTokenize("a\u200Bb a\u00ADb a\uFEFFb"), ["ab", "ab", "ab"]); // Cf
  assertEquals(basicTokenize("a\uE000b"), ["ab"]); // Co (private use)
  // Tab, LF, CR, Zs (NBSP, ideographic space), and Zl / Zp separate words.
  assertEquals(basicTokenize("a\tb\nc\rd\u00A0e\u3000f\u2028g\u2029h"), [
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
  ]);
  assertEquals(basicTokenize(""), []);
  assertEquals(basicTokenize(" \t\r\n\u0000 "), []);
});

Deno.test("basicTokenize: accents, CJK ranges, kana/hangul not split", () => {
  assertEquals(basicTokenize("Café naïve"), ["cafe", "naive"]);
  assertEquals(basicTokenize("Cafe\u0301 NAI\u0308VE"), ["cafe", "naive"]); // already decomposed
  assertEquals(basicTokenize("ÅNGSTRÖM Ça"), ["angstrom", "ca"]);
  assertEquals(basicTokenize("x \u0301 y"), ["x", "y"]); // a lone combining mark vanishes
  assertEquals(basicTokenize("日本語のテキスト"), ["日", "本", "語", "のテキスト"]);
  // Compatibility ideograph U+F900 is spaced, then NFD maps it to U+8C48.
  assertEquals(basicTokenize("a\uF900b"), ["a", "\u8C48", "b"]);
  assertEquals(basicTokenize("x\u{20000}y"), ["x", "\u{20000}", "y"]); // Extension B
  // Hangul is not split, and NFD turns a syllable into conjoining jamo (Lo, not stripped).
  assertEquals(basicTokenize("한"), ["\u1112\u1161\u11AB"]);
});

Deno.test("basicTokenize: special tokens in the text stay whole (HF default); lower-case ones do not", () => {
  assertEquals(basicTokenize("Hello [SEP] World"), ["hello", "[SEP]", "world"]);
  assertEquals(basicTokenize("a[MASK]b"), ["a", "[MASK]", "b"]);
  assertEquals(basicTokenize("[sep] [Sep]"), ["[", "sep", "]", "[", "sep", "]"]);
  // Cleaned into "[SEP]" then kept whole by never_split, as HuggingFace does.
  assertEquals(basicTokenize("[SE\u0000P]"), ["[SEP]"]);
});

// ------------------------------------------------------------------------------------ WordPiece

Deno.test("tokenize: the task's hand-worked cases", () => {
  assertEquals(tokenize("Hello, World!", VOCAB), ["hello", ",", "world", "!"]);
  assertEquals(tokenize("unaffable", VOCAB), ["un", "##aff", "##able"]);
  assertEquals(tokenize("xyz", VOCAB), [UNK]);
  assertEquals(tokenize("hello xyz!", VOCAB), ["hello", UNK, "!"]);
  assertEquals(tokenize("Café naïve", VOCAB), ["cafe", "naive"]);
  assertEquals(tokenize("中文ok", VOCAB), ["中", "文", "ok"]);
  assertEquals(tokenize("hel\u0000lo\u0007, wor\u200Bld", VOCAB), ["hello", ",", "world"]);
  assertEquals(tokenize("", VOCAB), []);
});

Deno.test("tokenize: HuggingFace's test_wordpiece_tokenizer cases", () => {
  // Greedy longest match: "unwanted" -> un + ##want + ##ed (not "wa"); one unmatched char -> [UNK].
  assertEquals(tokenize("unwanted running", VOCAB), ["un", "##want", "##ed", "runn", "##ing"]);
  assertEquals(tokenize("unwantedX running", VOCAB), [UNK, "runn", "##ing"]);
  // Partly matched words are wholly [UNK], not a prefix plus [UNK].
  assertEquals(tokenize("hellox", VOCAB), [UNK]);
});

Deno.test("tokenize: emoji and punctuation missing from the vocabulary", () => {
  assertEquals(tokenize("I ❤️ it", VOCAB), ["i", "❤", "it"]); // U+FE0F is Mn: stripped
  assertEquals(tokenize("😀😀😀", VOCAB), ["😀", "##😀", "##😀"]);
  assertEquals(tokenize("😀\u200D😀", VOCAB), ["😀", "##😀"]); // ZWJ (Cf) dropped
  assertEquals(tokenize("pizza🍕", VOCAB), [UNK]); // 🍕 is So: glued to the word, no ##🍕
  assertEquals(tokenize("🍕!", VOCAB), [UNK, "!"]);
  assertEquals(tokenize("«hello»", VOCAB), [UNK, "hello", UNK]);
  assertEquals(tokenize("a^b$", VOCAB), ["a", "^", "b", "$"]);
});

Deno.test("tokenize: words over 100 code points become [UNK] (surrogate pairs count once)", () => {
  const a100 = tokenize("a".repeat(100), VOCAB);
  assertEquals(a100.length, 100);
  assertEquals(a100[0], "a");
  assertEquals(a100[99], "##a");
  assertEquals(tokenize("a".repeat(101), VOCAB), [UNK]);
  assertEquals(tokenize("a".repeat(101) + " b", VOCAB), [UNK, "b"]);
  // 100 emoji = 200 UTF-16 units but 100 characters: still split.
  const e100 = tokenize("😀".repeat(100), VOCAB);
  assertEquals(e100.length, 100);
  assertEquals(e100[1], "##😀");
  assertEquals(tokenize("😀".repeat(101), VOCAB), [UNK]);
});

Deno.test("tokenize: special tokens written in the text map to their ids", () => {
  assertEquals(tokenize("hello [SEP] world [sep]", VOCAB), [
    "hello",
    "[SEP]",
    "world",
    "[",
    "sep",
    "]",
  ]);
  assertEquals(encode("a[MASK]", VOCAB, { maxLength: 5 }).ids, Int32Array.of(2, 23, 4, 3, 0));
});

Deno.test("tokenize / basicTokenize: argument errors", () => {
  assertThrows(() => tokenize(undefined as unknown as string, VOCAB), AmssArgumentError, "text");
  assertThrows(() => basicTokenize(7 as unknown as string), AmssArgumentError, "text");
  assertThrows(() => tokenize("x", {} as Vocab), AmssArgumentError, "vocab");
  assertThrows(() => tokenize("x", null as unknown as Vocab), AmssArgumentError, "vocab");
});

// ------------------------------------------------------------------------------------ encode

Deno.test("encode: [CLS] pieces [SEP] then [PAD] to maxLength, mask counts real tokens", () => {
  const r = encode("Hello, World!", VOCAB, { maxLength: 8 });
  assertEquals(r.ids, Int32Array.of(2, 5, 7, 6, 8, 3, 0, 0));
  assertEquals(r.mask, Int32Array.of(1, 1, 1, 1, 1, 1, 0, 0));
  assertEquals(r.length, 6);
  const exact = encode("Hello, World!", VOCAB, { maxLength: 6 });
  assertEquals(exact.ids, Int32Array.of(2, 5, 7, 6, 8, 3));
  assertEquals(exact.mask, Int32Array.of(1, 1, 1, 1, 1, 1));
  const empty = encode("", VOCAB, { maxLength: 4 });
  assertEquals(empty.ids, Int32Array.of(2, 3, 0, 0));
  assertEquals(empty.length, 2);
});

Deno.test("encode: truncation keeps [CLS] first and [SEP] last", () => {
  const r = encode("Hello, World!", VOCAB, { maxLength: 4 });
  assertEquals(r.ids, Int32Array.of(2, 5, 7, 3));
  assertEquals(r.mask, Int32Array.of(1, 1, 1, 1));
  assertEquals(r.length, 4);
  assertEquals(encode("Hello, World!", VOCAB, { maxLength: 2 }).ids, Int32Array.of(2, 3));
  // Default length 128: 200 pieces are cut to 126 between [CLS] and [SEP].
  const long = encode("hello ".repeat(200), VOCAB);
  assertEquals(long.ids.length, TEXT_MAX_LENGTH);
  assertEquals(long.length, 128);
  assertEquals(long.ids[0], 2);
  assertEquals(long.ids[127], 3);
  assertEquals(long.ids.subarray(1, 127), new Int32Array(126).fill(5));
});

Deno.test("encode: pads with the [PAD] id when it is not 0", () => {
  const v = loadVocab("[UNK]\n[CLS]\n[PAD]\n[SEP]\n[MASK]\nhi", "pad2");
  const r = encode("hi", v, { maxLength: 5 });
  assertEquals(r.ids, Int32Array.of(1, 5, 3, 2, 2));
  assertEquals(r.mask, Int32Array.of(1, 1, 1, 0, 0));
  assertEquals(encode("bye", v, { maxLength: 3 }).ids, Int32Array.of(1, 0, 3)); // [UNK] = 0
});

Deno.test("encode: bad maxLength / options are errors naming maxLength", () => {
  for (const maxLength of [1, 0, -3, 2.5, NaN, Infinity, "8" as unknown as number]) {
    assertThrows(() => encode("hi", VOCAB, { maxLength }), AmssArgumentError, "maxLength");
  }
  assertThrows(() => encode("hi", VOCAB, null as unknown as object), AmssArgumentError, "options");
});

Deno.test("bert-base-uncased published ids: same pieces and ids under a vocab with those lines", () => {
  // Ids printed by HuggingFace for bert-base-uncased in its docs/examples. The real vocab.txt
  // cannot be downloaded here, so we place each token on its real line of a 30,522-line file
  // (other lines are fillers that can never match: "<" and ">" are punctuation).
  const known: Record<string, number> = {
    "[PAD]": 0,
    "[UNK]": 100,
    "[CLS]": 101,
    "[SEP]": 102,
    "[MASK]": 103,
    ",": 1010,
    ".": 1012,
    "the": 1996,
    "in": 1999,
    "is": 2003,
    "my": 2026,
    "a": 1037,
    "there": 2045,
    "over": 2058,
    "ground": 2598,
    "brown": 2829,
    "lived": 2973,
    "dog": 3899,
    "##it": 4183,
    "quick": 4248,
    "fox": 4419,
    "hole": 4920,
    "ho": 7570,
    "hello": 7592,
    "cute": 10140,
    "##bb": 10322,
    "lazy": 13971,
    "jumps": 14523,
  };
  const lines = Array.from({ length: 30522 }, (_, i) => `<filler${i}>`);
  for (const [tok, id] of Object.entries(known)) lines[id] = tok;
  const bert = loadVocab(lines.join("\n") + "\n", "bert-like");
  const cases: [string, number[]][] = [
    ["Hello, my dog is cute", [101, 7592, 1010, 2026, 3899, 2003, 10140, 102]],
    [
      "The quick brown fox jumps over the lazy dog.",
      [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102],
    ],
    [
      "In a hole in the ground there lived a hobbit.", // hobbit -> ho ##bb ##it
      [101, 1999, 1037, 4920, 1999, 1996, 2598, 2045, 2973, 1037, 7570, 10322, 4183, 1012, 102],
    ],
  ];
  for (const [text, ids] of cases) {
    const r = encode(text, bert, { maxLength: ids.length + 3 });
    assertEquals(r.ids, Int32Array.from([...ids, 0, 0, 0]), text);
    assertEquals(r.length, ids.length, text);
  }
});

Deno.test("property: pieces are vocabulary tokens; encode's layout invariants hold", () => {
  const alphabet = [
    ..."helowrdunafbctiz",
    ..." ,!?.[]$^\t\n",
    "\u0000",
    "\u200B",
    "é",
    "\u0301",
    "中",
    "文",
    "😀",
    "🍕",
    "❤",
    "\uFE0F",
    "«",
    "[SEP]",
    "\uD800", // lone surrogate (category Cs): dropped
  ];
  const text = fc.array(fc.constantFrom(...alphabet), { maxLength: 60 }).map((a) => a.join(""));
  fc.assert(
    fc.property(text, fc.integer({ min: 2, max: 40 }), (s, maxLength) => {
      const pieces = tokenize(s, VOCAB);
      for (const p of pieces) if (!VOCAB.tokenToId.has(p)) return false;
      const r = encode(s, VOCAB, { maxLength });
      const n = Math.min(pieces.length, maxLength - 2);
      if (r.length !== n + 2 || r.ids.length !== maxLength || r.mask.length !== maxLength) {
        return false;
      }
      if (r.ids[0] !== VOCAB.clsId || r.ids[n + 1] !== VOCAB.sepId) return false;
      for (let i = 0; i < maxLength; i++) {
        if (r.mask[i] !== (i < r.length ? 1 : 0)) return false;
        if (i >= r.length && r.ids[i] !== VOCAB.padId) return false;
        if (i >= 1 && i <= n && r.ids[i] !== VOCAB.tokenToId.get(pieces[i - 1])) return false;
      }
      return true;
    }),
    { seed: 20261127, numRuns: 300 },
  );
});
