/**
 * Sarcasm detection (2 classes) and Twitter-15 (3 classes): text + image, in the layout
 * their PyTorch reference code reads:
 *
 * ```
 * ROOT/annotations/train.tsv, test.tsv (and dev.tsv or val.tsv when present)
 *        tab-separated with a header; columns Label, String, ImageID (others ignored)
 * ROOT/images/<ImageID>                 Sarcasm
 * ROOT/twitter2015_images/<ImageID>     Twitter-15
 * ROOT/vocab.txt                        bert-base-uncased WordPiece vocabulary (or --vocab FILE)
 * ```
 *
 * - Text: WordPiece ids (./text.ts), `[CLS] ... [SEP]`, padded/truncated to 128: modality `text`,
 *   kind `tokens`, shape `[128]` (ids stored as floats; the Transformer encoder embeds them).
 *   Tokenising happens once at listing time.
 * - Image: resized to `imageSize` x `imageSize` (both train and test, as the reference transform:
 *   no augmentation), RGB, the dataset's own mean/std.
 * - A label that is not an integer class id is an error naming file and line; a row whose image is
 *   missing is skipped and counted.
 * - The paper fine-tunes pretrained BERT + ResNet50; here encoders are trained from scratch unless
 *   the user supplies weights: results say so (`meta.encoders`).
 *
 * @module
 */
import type { Dataset, LazySplit, ModalitySpec } from "./dataset.ts";
import {
  asSampleError,
  exists,
  finishDataset,
  lazySplit,
  parseDelimited,
  readSampleFile,
  readText,
  type RealDatasetOptions,
  requireUsableRows,
  SkipCounter,
} from "./files.ts";
import { prepareFrame } from "./image_transforms.ts";
import { registerSampleLoader } from "./loaders.ts";
import { encode, readVocab, TEXT_MAX_LENGTH } from "./text.ts";
import { AmssArgumentError, requireInt } from "../validate.ts";

/** The two text-image datasets. */
export type TextImageName = "sarcasm" | "twitter15";

// Frozen so that no caller can change them for everyone else; typed `number[]` so that they can be
// passed where a plain array is expected.
const frozen = (xs: number[]): number[] => Object.freeze(xs) as number[];

/** Sarcasm RGB mean (the reference loader's value). */
export const SARCASM_MEAN: number[] = frozen([0.48456, 0.49888, 0.53066]);
/** Sarcasm RGB standard deviation (the reference loader's value). */
export const SARCASM_STD: number[] = frozen([0.24399, 0.24868, 0.25736]);
/** Twitter-15 RGB mean (the reference loader's value). */
export const TWITTER15_MEAN: number[] = frozen([0.42455, 0.44051, 0.47076]);
/** Twitter-15 RGB standard deviation (the reference loader's value). */
export const TWITTER15_STD: number[] = frozen([0.24485, 0.24617, 0.25451]);

const SPECS: Record<TextImageName, {
  classes: string[];
  imageDir: string;
  mean: number[];
  std: number[];
}> = {
  sarcasm: {
    classes: ["not-sarcastic", "sarcastic"],
    imageDir: "images",
    mean: SARCASM_MEAN,
    std: SARCASM_STD,
  },
  twitter15: {
    classes: ["negative", "neutral", "positive"],
    imageDir: "twitter2015_images",
    mean: TWITTER15_MEAN,
    std: TWITTER15_STD,
  },
};

/** Options of {@link loadTextImage}. */
export interface TextImageOptions extends RealDatasetOptions {
  /** Image side. Default 224. */
  imageSize?: number;
  /** vocab.txt path; default ROOT/vocab.txt. */
  vocab?: string;
  /** Token sequence length (with [CLS] and [SEP]). Default 128. */
  maxLength?: number;
}

interface TextImageItem {
  ids: number[];
  image: string;
}

interface TextImageSampleOptions extends Record<string, unknown> {
  imageSize: number;
  mean: number[];
  std: number[];
}

async function loadTextImageSample(
  item: unknown,
  options: Record<string, unknown>,
): Promise<Record<string, Float32Array>> {
  const it = item as TextImageItem;
  const o = options as TextImageSampleOptions;
  const bytes = await readSampleFile(it.image);
  const image = await asSampleError(it.image, () =>
    prepareFrame(bytes, it.image, {
      size: o.imageSize,
      train: false,
      channels: 3,
      mean: o.mean,
      std: o.std,
    }));
  return { text: Float32Array.from(it.ids), image };
}

registerSampleLoader("text-image", loadTextImageSample);

/** Reads Sarcasm or Twitter-15 from `root` (layout in the module comment). */
export async function loadTextImage(
  name: TextImageName,
  root: string,
  opts: TextImageOptions = {},
): Promise<Dataset> {
  const spec = SPECS[name];
  if (!spec) throw new AmssArgumentError(`text-image dataset must be sarcasm or twitter15`);
  const log = opts.log ?? console.log;
  const imageSize = requireInt("imageSize", opts.imageSize ?? 224, 8);
  const maxLength = requireInt("maxLength", opts.maxLength ?? TEXT_MAX_LENGTH, 2);
  const vocabPath = opts.vocab ?? `${root}/vocab.txt`;
  if (!(await exists(vocabPath))) {
    throw new AmssArgumentError(
      `${vocabPath}: vocabulary not found; put bert-base-uncased's vocab.txt there or pass --vocab FILE`,
    );
  }
  const vocab = await readVocab(vocabPath);
  const options: TextImageSampleOptions = { imageSize, mean: spec.mean, std: spec.std };
  const C = spec.classes.length;
  const splits: Record<string, LazySplit> = {};
  const skipped: Record<string, Record<string, number>> = {};
  // list file of each split: errors about an empty split name it
  const lists: Record<string, string> = {};
  const valName = (await exists(`${root}/annotations/dev.tsv`))
    ? "dev"
    : (await exists(`${root}/annotations/val.tsv`))
    ? "val"
    : null;
  for (const split of ["train", "test", ...(valName ? [valName] : [])]) {
    const list = `${root}/annotations/${split}.tsv`;
    const rows = parseDelimited(await readText(list, `${name} ${split} list`), "\t", list);
    if (rows.length < 2) throw new AmssArgumentError(`${list}: no rows after the header`);
    const header = rows[0].fields.map((f) => f.trim());
    const col = (c: string) => {
      const i = header.indexOf(c);
      if (i < 0) {
        throw new AmssArgumentError(
          `${list}: the header must name columns Label, String, ImageID; got ${header.join(", ")}`,
        );
      }
      return i;
    };
    const [lc, sc, ic] = [col("Label"), col("String"), col("ImageID")];
    const skips = new SkipCounter();
    const items: TextImageItem[] = [];
    const labels: number[] = [];
    for (const { fields, line } of rows.slice(1)) {
      const raw = fields[lc]?.trim() ?? "";
      const y = Number(raw);
      if (raw === "" || !Number.isInteger(y) || y < 0 || y >= C) {
        throw new AmssArgumentError(
          `${list}:${line}: Label ${JSON.stringify(raw)} is not a class id in 0..${C - 1}`,
        );
      }
      const image = `${root}/${spec.imageDir}/${(fields[ic] ?? "").trim()}`;
      if (!(fields[ic] ?? "").trim() || !(await exists(image))) {
        skips.add("image missing", image);
        continue;
      }
      const enc = encode(fields[sc] ?? "", vocab, { maxLength });
      items.push({ ids: Array.from(enc.ids), image });
      labels.push(y);
    }
    for (const l of skips.summary(list)) log(l);
    requireUsableRows(list, items.length, skips);
    lists[split] = list;
    skipped[split] = skips.counts();
    splits[split] = lazySplit("text-image", items, labels, options);
  }
  const modalities: ModalitySpec[] = [
    { name: "text", kind: "tokens", shape: [maxLength] },
    { name: "image", kind: "image", shape: [imageSize, imageSize, 3] },
  ];
  return finishDataset(
    name,
    modalities,
    spec.classes,
    { train: splits.train, test: splits.test, val: valName ? splits[valName] : undefined },
    opts,
    {
      root,
      vocab: vocabPath,
      vocabSize: vocab.size,
      padId: vocab.padId,
      skipped,
      imageSize,
      maxLength,
      encoders: "trained from scratch",
    },
    { train: lists.train, test: lists.test, val: valName ? lists[valName] : undefined },
  );
}
