/**
 * The error of the file decoders (JPEG/PNG in ./image_codec.ts, WAV in ./wav.ts): the file's
 * content is malformed, truncated or in an unsupported format. It is kept apart from
 * `AmssArgumentError`, which says that a caller passed an argument outside its domain: a bad file is
 * a fact about the data, not a bug in the calling code. The dataset loaders turn it into a
 * `SampleLoadError` (a skipped sample) like any other error of a sample.
 *
 * @module
 */

/**
 * A file whose content cannot be decoded: bad magic bytes, a truncated header or body, a checksum
 * mismatch, an unsupported format or encoding, a size over the decoder's limit. The message starts
 * with the file (or other source) name and says what is wrong, e.g.
 * `frames/00001.jpg: truncated JPEG: no end-of-image marker (FF D9) after the last scan`.
 */
export class DecodeError extends Error {
  /** An error whose `message` names the source and what is wrong with its content. */
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}
