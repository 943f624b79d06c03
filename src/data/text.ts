/**
 * BERT WordPiece tokenization for the text + image sets (Sarcasm, Twitter-15), as their PyTorch
 * reference loaders use it: bert-base-uncased tokens from a user-supplied `vocab.txt`,
 * `[CLS] ... [SEP]`, max length 128.
 *
 * The behaviour mirrors HuggingFace `BertTokenizer` (slow, Python) with `do_lower_case=True`,
 * `tokenize_chinese_chars=True`, `strip_accents=None`, which is Google's original BERT
 * `FullTokenizer` plus one HuggingFace default: the special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]`
 * written verbatim in the text stay single tokens (HuggingFace splits on them before anything
 * else and lists them in `never_split`; Google's tokenizer would give `[`, `sep`, `]`).
 *
 * Pipeline (BasicTokenizer, then WordpieceTokenizer):
 * 1. clean: drop U+0000, U+FFFD and every char of Unicode category C* except tab/LF/CR; tab, LF,
 *    CR and category Zs become a space;
 * 2. put spaces around CJK Unified / Compatibility ideographs (BERT's ranges; kana and hangul are
 *    not split);
 * 3. split on whitespace; per word: lower-case, NFD, drop category Mn (accents), then split off
 *    every punctuation char (ASCII 33-47, 58-64, 91-96, 123-126, or category P*) as its own token;
 * 4. WordPiece: greedy longest-match-first with the `##` continuation prefix; a word of more than
 *    100 code points, or one that cannot be covered completely, becomes `[UNK]`.
 *
 * Written here rather than taken from an npm package: none of the pinned packages tokenizes, and
 * the algorithm is short. Each step is done with whole-string Unicode regexes rather than a loop
 * over code points, which is what keeps it fast.
 *
 * @module
 */
import { AmssArgumentError, requireInt } from "../validate.ts";

/** Sequence length the paper's text encoder (bert-base-uncased) uses for Sarcasm and Twitter-15. */
export const TEXT_MAX_LENGTH = 128;

/** Longest word (in code points) WordPiece tries to split; longer words become `[UNK]` (BERT). */
export const WORDPIECE_MAX_INPUT_CHARS = 100;

/** The special tokens every vocabulary must contain (bert-base-uncased ids 0, 100, 101, 102, 103). */
export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

/** Upper bound accepted for `maxLength` in {@link encode}; far above any text encoder's positions. */
const MAX_ENCODE_LENGTH = 1 << 20;

/** A WordPiece vocabulary: token → id, where id is the 0-based line index in `vocab.txt`. */
export interface Vocab {
  /** Where the vocabulary came from (file path or a caller's label), used in error messages. */
  readonly source: string;
  /** Token → id. */
  readonly tokenToId: ReadonlyMap<string, number>;
  /** Id → token (the file's lines, in order). */
  readonly idToToken: readonly string[];
  /** Number of ids (lines). */
  readonly size: number;
  /** Id of `[PAD]` (0 in bert-base-uncased). */
  readonly padId: number;
  /** Id of `[UNK]` (100 in bert-base-uncased). */
  readonly unkId: number;
  /** Id of `[CLS]` (101 in bert-base-uncased). */
  readonly clsId: number;
  /** Id of `[SEP]` (102 in bert-base-uncased). */
  readonly sepId: number;
  /** Id of `[MASK]` (103 in bert-base-uncased). */
  readonly maskId: number;
  /** Longest token in UTF-16 units: an upper bound on its code points, which bounds the search. */
  readonly maxTokenLength: number;
}

/**
 * Parses the text of a `vocab.txt` (one token per line, id = 0-based line index) into a
 * {@link Vocab}. Lines end in LF, CRLF or CR (Python text mode, which HuggingFace reads with, turns
 * all three into LF); one final line break does not start a new token; a leading UTF-8 BOM is
 * dropped. Tokens are otherwise kept exactly, as HuggingFace's `load_vocab` does (`rstrip("\n")`).
 *
 * Throws {@link AmssArgumentError} naming `source` when the text holds no token, when a token is
 * repeated, or when one of {@link SPECIAL_TOKENS} is missing.
 *
 * Duplicates are an error here. HuggingFace's `load_vocab` does `vocab[token] = index` line by
 * line, so a repeated token silently takes its LAST line's id (last-wins) and the earlier id can
 * never be produced; bert-base-uncased's vocab.txt has no repeats, so a repeat means a corrupt or
 * wrong file and we refuse it rather than guess.
 */
export function loadVocab(text: string, source: string): Vocab {
  if (typeof source !== "string") {
    throw new AmssArgumentError(`loadVocab: source must be a string, got ${typeof source}`);
  }
  if (typeof text !== "string") {
    throw new AmssArgumentError(`${source}: vocabulary text must be a string, got ${typeof text}`);
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\r|\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.every((l) => l.trim() === "")) {
    throw new AmssArgumentError(
      `${source}: vocabulary is empty; expected one WordPiece token per line (bert-base-uncased vocab.txt)`,
    );
  }
  const tokenToId = new Map<string, number>();
  let maxTokenLength = 0;
  for (let i = 0; i < lines.length; i++) {
    const tok = lines[i];
    const prev = tokenToId.get(tok);
    if (prev !== undefined) {
      throw new AmssArgumentError(
        `${source}: line ${i + 1} repeats token ${JSON.stringify(tok)} of line ${
          prev + 1
        }; every token must appear once (its id is its line index)`,
      );
    }
    tokenToId.set(tok, i);
    if (tok.length > maxTokenLength) maxTokenLength = tok.length;
  }
  const missing = SPECIAL_TOKENS.filter((t) => !tokenToId.has(t));
  if (missing.length > 0) {
    throw new AmssArgumentError(
      `${source}: vocabulary lacks the special token(s) ${
        missing.join(" ")
      }; a BERT vocab.txt must contain ${SPECIAL_TOKENS.join(" ")}`,
    );
  }
  const id = (t: string) => tokenToId.get(t) as number;
  return {
    source,
    tokenToId,
    idToToken: lines,
    size: lines.length,
    padId: id("[PAD]"),
    unkId: id("[UNK]"),
    clsId: id("[CLS]"),
    sepId: id("[SEP]"),
    maskId: id("[MASK]"),
    maxTokenLength,
  };
}

/**
 * Reads a `vocab.txt` (UTF-8) and parses it with {@link loadVocab}; errors name `path` (missing
 * file, invalid UTF-8, and every error of {@link loadVocab}).
 */
export async function readVocab(path: string): Promise<Vocab> {
  if (typeof path !== "string" || path === "") {
    throw new AmssArgumentError(`readVocab: path must be a non-empty string, got ${String(path)}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new AmssArgumentError(
        `${path}: vocabulary file not found (supply bert-base-uncased's vocab.txt)`,
      );
    }
    throw e;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new AmssArgumentError(`${path}: vocabulary file is not valid UTF-8`);
  }
  return loadVocab(text, path);
}

// ---------------------------------------------------------------------------------------------
// BasicTokenizer (HuggingFace transformers/models/bert/tokenization_bert.py, Google bert
// tokenization.py). Character classes are BERT's `_is_whitespace`, `_is_control`,
// `_is_punctuation`, `_is_chinese_char`.

/** Special tokens written in the text: split out first, as HuggingFace's added-token trie does. */
const SPECIAL_SPLIT_RE = /(\[(?:PAD|UNK|CLS|SEP|MASK)\])/;
const SPECIAL_SET: ReadonlySet<string> = new Set(SPECIAL_TOKENS);
/** `_is_whitespace`: tab, LF, CR, category Zs. They become a space. */
const WHITESPACE_RE = /[\t\n\r\p{Zs}]/gu;
/** `_clean_text` drops NUL, U+FFFD and `_is_control` (category C*; tab/LF/CR were handled above). */
const CONTROL_RE = /[\p{C}\uFFFD]/gu;
/** `_is_chinese_char`: CJK Unified Ideographs, Ext. A-E, Compatibility Ideographs (+ Supplement). */
const CJK_RE =
  /[\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{2F800}-\u{2FA1F}]/gu;
/**
 * Whitespace that Python's `str.split()` splits on and that survives cleaning: space, U+2028,
 * U+2029 (category Zl / Zp, neither Zs nor C*). JS `\s` is exactly that set after cleaning.
 */
const SPLIT_RE = /\s+/u;
/** Any char outside printable ASCII (control chars are already gone when this is used). */
const NON_ASCII_RE = /[^\x20-\x7E]/;
/** Category Mn, dropped after NFD (`_run_strip_accents`). */
const MN_RE = /\p{Mn}/gu;
/** One punctuation char (`_is_punctuation`), or a run of non-punctuation (`_run_split_on_punc`). */
const PIECE_RE =
  /[\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E\p{P}]|[^\s\x21-\x2F\x3A-\x40\x5B-\x60\x7B-\x7E\p{P}]+/gu;

function requireText(text: unknown): string {
  if (typeof text !== "string") {
    throw new AmssArgumentError(
      `text must be a string, got ${text === null ? "null" : typeof text}`,
    );
  }
  return text;
}

function requireVocab(vocab: unknown): Vocab {
  const v = vocab as Vocab | null | undefined;
  if (!v || !(v.tokenToId instanceof Map) || typeof v.unkId !== "number") {
    throw new AmssArgumentError("vocab must be a Vocab from loadVocab() or readVocab()");
  }
  return v;
}

function basicSegment(segment: string, out: string[]): void {
  const cleaned = segment.replace(WHITESPACE_RE, " ").replace(CONTROL_RE, "").replace(
    CJK_RE,
    " $& ",
  );
  for (const word of cleaned.split(SPLIT_RE)) {
    if (word === "") continue;
    // never_split: a special token kept whole, not lower-cased (HuggingFace BasicTokenizer).
    if (SPECIAL_SET.has(word)) {
      out.push(word);
      continue;
    }
    let w = word.toLowerCase();
    // Strip accents: NFD, then drop category Mn (BERT `_run_strip_accents`). NFD is the identity on
    // ASCII, so it is skipped there. Stripping may leave nothing (a lone combining mark).
    if (NON_ASCII_RE.test(w)) w = w.normalize("NFD").replace(MN_RE, "");
    const pieces = w.match(PIECE_RE);
    if (pieces !== null) { for (const p of pieces) out.push(p); }
  }
}

/**
 * BERT's BasicTokenizer for uncased models: cleans, spaces CJK ideographs, lower-cases, strips
 * accents and splits on whitespace and punctuation (see the module comment). Special tokens written
 * verbatim (`[SEP]`, ...) stay whole, as in HuggingFace. No vocabulary involved.
 */
export function basicTokenize(text: string): string[] {
  requireText(text);
  const out: string[] = [];
  if (text.indexOf("[") < 0) {
    basicSegment(text, out);
    return out;
  }
  // split() with a capture group alternates plain text (even indices) and special tokens (odd).
  const parts = text.split(SPECIAL_SPLIT_RE);
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 1) out.push(parts[i]);
    else if (parts[i] !== "") basicSegment(parts[i], out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// WordpieceTokenizer (BERT): greedy longest-match-first, "##" continuation, max 100 chars.

const UNK = "[UNK]";

function wordPiece(word: string, vocab: Vocab, out: string[]): void {
  const map = vocab.tokenToId;
  // Code-point boundaries (BERT counts Python characters = code points, not UTF-16 units).
  let bounds: number[] | null = null;
  let n = word.length;
  if (/[\uD800-\uDFFF]/.test(word)) {
    bounds = [0];
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < word.length) {
        const d = word.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i++;
      }
      bounds.push(i + 1);
    }
    n = bounds.length - 1;
  }
  if (n > WORDPIECE_MAX_INPUT_CHARS) {
    out.push(UNK);
    return;
  }
  const at = (k: number) => (bounds === null ? k : bounds[k]);
  const firstOut = out.length;
  let start = 0;
  while (start < n) {
    const prefix = start > 0 ? 2 : 0;
    const s = at(start);
    let end = n;
    // Skip candidates longer than any vocabulary token: they cannot match (pure speed-up).
    while (end > start && at(end) - s + prefix > vocab.maxTokenLength) end--;
    let found: string | null = null;
    for (; end > start; end--) {
      const sub = word.slice(s, at(end));
      const cand = start > 0 ? "##" + sub : sub;
      if (map.has(cand)) {
        found = cand;
        break;
      }
    }
    if (found === null) {
      out.length = firstOut;
      out.push(UNK);
      return;
    }
    out.push(found);
    start = end;
  }
}

/**
 * Word pieces of `text` under `vocab` (HuggingFace `BertTokenizer.tokenize` for an uncased vocab):
 * {@link basicTokenize}, then WordPiece on each word. Every returned string is a vocabulary token;
 * words that cannot be covered give `[UNK]`. No `[CLS]`/`[SEP]` are added.
 */
export function tokenize(text: string, vocab: Vocab): string[] {
  requireText(text);
  const v = requireVocab(vocab);
  const out: string[] = [];
  for (const word of basicTokenize(text)) {
    // Fast path: a whole word in the vocabulary is what the greedy search would return first.
    if (word.length <= WORDPIECE_MAX_INPUT_CHARS && v.tokenToId.has(word)) out.push(word);
    else wordPiece(word, v, out);
  }
  return out;
}

/** Options for {@link encode}. */
export interface EncodeOptions {
  /** Output length including `[CLS]` and `[SEP]`; an integer >= 2. Default {@link TEXT_MAX_LENGTH}. */
  maxLength?: number;
}

/** One encoded text: `ids` and `mask` have exactly `maxLength` entries. */
export interface Encoded {
  /** `[CLS]`, word-piece ids, `[SEP]`, then `[PAD]` ids. */
  ids: Int32Array;
  /** 1 for the real tokens (including `[CLS]` and `[SEP]`), 0 for padding. */
  mask: Int32Array;
  /** Number of real tokens (the number of 1s in `mask`). */
  length: number;
}

/**
 * Encodes `text` as BERT input ids: `[CLS] pieces [SEP]`, the pieces truncated to `maxLength - 2`
 * so that `[SEP]` is always last, then padded with the `[PAD]` id to exactly `maxLength`. Same as
 * HuggingFace `tokenizer(text, max_length=maxLength, truncation=True, padding="max_length")`
 * (`input_ids`, `attention_mask`).
 */
export function encode(text: string, vocab: Vocab, options: EncodeOptions = {}): Encoded {
  requireText(text);
  const v = requireVocab(vocab);
  if (options === null || typeof options !== "object") {
    throw new AmssArgumentError(`encode options must be an object, got ${String(options)}`);
  }
  const maxLength = options.maxLength ?? TEXT_MAX_LENGTH;
  requireInt("maxLength", maxLength, 2, MAX_ENCODE_LENGTH);
  const pieces = tokenize(text, v);
  const n = Math.min(pieces.length, maxLength - 2);
  const ids = new Int32Array(maxLength);
  const mask = new Int32Array(maxLength);
  ids[0] = v.clsId;
  for (let i = 0; i < n; i++) ids[i + 1] = v.tokenToId.get(pieces[i]) as number;
  ids[n + 1] = v.sepId;
  const length = n + 2;
  if (v.padId !== 0) ids.fill(v.padId, length);
  mask.fill(1, 0, length);
  return { ids, mask, length };
}
