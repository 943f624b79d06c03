/**
 * WAV files: {@link decodeWav} to one float array per channel, and {@link encodeWav} /
 * {@link encodeWav16}, which write the test fixtures.
 *
 * The RIFF chunk table and the PCM / IEEE-float samples are parsed here, not by `wavefile`:
 * wavefile 11 silently shortens a data chunk cut off by truncation (it slices to the end of the
 * buffer), reads a WAVE_FORMAT_EXTENSIBLE float file as integers (it only looks at format tag 3) and
 * treats any 64-bit data as float. `wavefile` still decodes the G.711 codecs (mu-law, A-law) and
 * writes the test fixtures. Integers are scaled by 1 / 2^(bits-1) (8-bit WAV is unsigned, offset
 * 128), as libsndfile / soundfile (librosa.load's reader) do, so they lie in [-1, 1). Float data is
 * returned as stored (it must be finite; it is not clipped). A file whose content cannot be decoded
 * is a {@link DecodeError} naming it; a bad argument of the encoders is an `AmssArgumentError`.
 *
 * @module
 */
import wavefile from "wavefile";
import { AmssArgumentError, requireInt, requireOneOf } from "../validate.ts";
import { DecodeError } from "./decode_error.ts";

const { WaveFile } = wavefile;

/** A decoded WAV file: one Float32Array per channel, all of the same length. */
export interface DecodedWav {
  sampleRate: number;
  channels: Float32Array[];
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

const FORMAT_NAMES: Record<number, string> = {
  2: "MS ADPCM",
  0x11: "IMA ADPCM",
  0x31: "GSM 6.10",
  0x50: "MPEG",
  0x55: "MPEG layer 3",
};

/** Bytes 2..15 of the KSDATAFORMAT_SUBTYPE GUIDs {0000xxxx-0000-0010-8000-00aa00389b71}. */
const KS_GUID_TAIL = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
}

function printable(s: string): string {
  return JSON.stringify(s);
}

/**
 * Decodes a WAV file: PCM integer 8/16/24/32-bit, IEEE float 32/64-bit, mu-law and A-law (via
 * `wavefile`), plain or WAVE_FORMAT_EXTENSIBLE, any number of channels. Integers are scaled to
 * [-1, 1) by 1 / 2^(bits-1) (libsndfile's convention). A file that is not RIFF/WAVE, is truncated
 * (header or data), has an unsupported format (ADPCM, MP3, ...), zero channels, an inconsistent
 * block size, an empty data chunk or non-finite float samples throws {@link DecodeError}
 * naming `source`. Chunks after both "fmt " and "data" are not read (a damaged trailing LIST
 * chunk does not reject intact audio); a wrong RIFF size field is ignored.
 */
export function decodeWav(bytes: Uint8Array, source: string): DecodedWav {
  const fail = (what: string): never => {
    throw new DecodeError(`${source}: ${what}`);
  };
  if (bytes.length < 12) {
    fail(`truncated WAV: ${bytes.length} bytes, a RIFF/WAVE header needs at least 12`);
  }
  const magic = fourcc(bytes, 0);
  if (magic === "RIFX" || magic === "RF64") {
    fail(`${magic} container (big-endian or 64-bit WAV) is not supported; expected RIFF`);
  }
  if (magic !== "RIFF") fail(`not a RIFF/WAVE file (starts with ${printable(magic)})`);
  if (fourcc(bytes, 8) !== "WAVE") {
    fail(`RIFF file of type ${printable(fourcc(bytes, 8))}, expected "WAVE"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // Walk the chunk table (RIFF: 4-byte id, little-endian u32 size, data padded to an even size)
  // until both "fmt " and "data" are found; a chunk that runs past the end means truncation.
  let fmt: { at: number; size: number } | undefined;
  let data: { at: number; size: number } | undefined;
  let off = 12;
  while ((fmt === undefined || data === undefined) && off + 8 <= bytes.length) {
    const id = fourcc(bytes, off);
    const size = view.getUint32(off + 4, true);
    const remain = bytes.length - off - 8;
    if (size > remain) {
      const what = `the ${printable(id)} chunk at byte ${off} declares ${size} bytes`;
      fail(`truncated WAV: ${what} but only ${remain} remain`);
    }
    if (id === "fmt " && fmt === undefined) fmt = { at: off + 8, size };
    if (id === "data" && data === undefined) data = { at: off + 8, size };
    off += 8 + size + (size & 1);
  }
  if (fmt === undefined) {
    return fail(`no "fmt " chunk before the end of the file (truncated or not a WAV file)`);
  }
  if (data === undefined) {
    return fail(`no "data" chunk before the end of the file (truncated WAV?)`);
  }
  if (fmt.size < 16) fail(`"fmt " chunk has ${fmt.size} bytes, expected at least 16`);

  let format = view.getUint16(fmt.at, true);
  const numChannels = view.getUint16(fmt.at + 2, true);
  const sampleRate = view.getUint32(fmt.at + 4, true);
  const blockAlign = view.getUint16(fmt.at + 12, true);
  const bits = view.getUint16(fmt.at + 14, true);
  if (format === FORMAT_EXTENSIBLE) {
    // WAVEFORMATEXTENSIBLE: cbSize >= 22, then validBits, channelMask, 16-byte subformat GUID
    // whose first two bytes are the ordinary format tag (Microsoft, "WAVEFORMATEXTENSIBLE").
    if (fmt.size < 40) {
      fail(`WAVE_FORMAT_EXTENSIBLE "fmt " chunk has ${fmt.size} bytes, expected 40`);
    }
    format = view.getUint16(fmt.at + 24, true);
    for (let i = 0; i < KS_GUID_TAIL.length; i++) {
      if (bytes[fmt.at + 26 + i] !== KS_GUID_TAIL[i]) {
        fail(`WAVE_FORMAT_EXTENSIBLE with an unknown subformat GUID`);
      }
    }
  }
  if (numChannels === 0) fail(`the "fmt " chunk declares zero channels`);
  if (sampleRate === 0) fail(`the "fmt " chunk declares a sample rate of 0 Hz`);

  const supported = "supported: PCM 8/16/24/32-bit, IEEE float 32/64-bit, mu-law, A-law";
  let kind: "int" | "float" | "g711";
  if (format === FORMAT_PCM) {
    if (![8, 16, 24, 32].includes(bits)) fail(`PCM with ${bits} bits per sample; ${supported}`);
    kind = "int";
  } else if (format === FORMAT_FLOAT) {
    if (bits !== 32 && bits !== 64) fail(`IEEE float with ${bits} bits per sample; ${supported}`);
    kind = "float";
  } else if (format === FORMAT_ALAW || format === FORMAT_MULAW) {
    if (bits !== 8) fail(`G.711 (mu-law/A-law) with ${bits} bits per sample, expected 8`);
    kind = "g711";
  } else {
    const hex = `0x${format.toString(16).padStart(4, "0")}`;
    const name = FORMAT_NAMES[format] ? ` (${FORMAT_NAMES[format]})` : "";
    return fail(`unsupported WAV format tag ${hex}${name}; ${supported}`);
  }
  const bytesPerSample = bits / 8;
  if (blockAlign !== numChannels * bytesPerSample) {
    fail(
      `block align ${blockAlign} does not match ${numChannels} channels x ${bytesPerSample} bytes`,
    );
  }
  if (data.size === 0) fail(`empty "data" chunk (no samples)`);
  if (data.size % blockAlign !== 0) {
    fail(
      `truncated data: ${data.size} bytes is not a whole number of ${blockAlign}-byte frames`,
    );
  }
  const frames = data.size / blockAlign;
  const channels = Array.from({ length: numChannels }, () => new Float32Array(frames));

  if (kind === "g711") {
    let pcm: Float64Array;
    try {
      const wav = new WaveFile(bytes);
      if (format === FORMAT_MULAW) wav.fromMuLaw("16");
      else wav.fromALaw("16");
      pcm = wav.getSamples(true, Float64Array) as unknown as Float64Array;
    } catch (e) {
      return fail(`G.711 decoding failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (pcm.length !== frames * numChannels) {
      fail(`G.711 decoding gave ${pcm.length} samples, expected ${frames * numChannels}`);
    }
    for (let i = 0; i < pcm.length; i++) {
      channels[i % numChannels][Math.floor(i / numChannels)] = pcm[i] / 32768;
    }
    return { sampleRate, channels };
  }

  let at = data.at;
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < numChannels; c++, at += bytesPerSample) {
      let v: number;
      if (kind === "float") {
        v = bits === 32 ? view.getFloat32(at, true) : view.getFloat64(at, true);
        if (!Number.isFinite(v)) fail(`non-finite float sample ${v} at frame ${f}, channel ${c}`);
      } else if (bits === 8) {
        v = (bytes[at] - 128) / 128; // 8-bit WAV is unsigned with 128 as zero
      } else if (bits === 16) {
        v = view.getInt16(at, true) / 32768;
      } else if (bits === 24) {
        const u = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
        v = ((u << 8) >> 8) / 8388608; // sign-extend the 24-bit value
      } else {
        v = view.getInt32(at, true) / 2147483648;
      }
      channels[c][f] = v;
    }
  }
  return { sampleRate, channels };
}

/** Sample formats {@link encodeWav} writes (wavefile's bit-depth codes; "32f"/"64" are float). */
export type WavBitDepth = "8" | "16" | "24" | "32" | "32f" | "64";

/**
 * Writes a WAV file (via `wavefile`) from one array per channel, for test fixtures. Integer formats
 * quantise x to round(x * 2^(bits-1)) clamped to the format's range (the inverse of
 * {@link decodeWav}'s scaling); float formats store the values as they are. Samples must be finite
 * and all channels of the same, non-zero length.
 */
export function encodeWav(
  channels: readonly Float32Array[],
  sampleRate: number,
  bitDepth: WavBitDepth = "16",
): Uint8Array {
  requireInt("sampleRate", sampleRate, 1, 0xffffffff);
  requireOneOf("bitDepth", bitDepth, ["8", "16", "24", "32", "32f", "64"] as const);
  const nc = channels.length;
  requireInt("channels.length", nc, 1, 0xffff);
  const n = channels[0].length;
  if (n === 0) throw new AmssArgumentError("encodeWav: channels must not be empty");
  const isFloat = bitDepth === "32f" || bitDepth === "64";
  const bits = isFloat ? 0 : Number(bitDepth);
  const full = 2 ** (bits - 1);
  const inter = new Float64Array(n * nc);
  for (let c = 0; c < nc; c++) {
    const ch = channels[c];
    if (ch.length !== n) {
      throw new AmssArgumentError(
        `encodeWav: channel ${c} has ${ch.length} samples, channel 0 has ${n}`,
      );
    }
    for (let i = 0; i < n; i++) {
      const x = ch[i];
      if (!Number.isFinite(x)) {
        throw new AmssArgumentError(`encodeWav: channel ${c} sample ${i} is ${x}, expected finite`);
      }
      if (isFloat) inter[i * nc + c] = x;
      else {
        const q = Math.min(full - 1, Math.max(-full, Math.round(x * full)));
        inter[i * nc + c] = bits === 8 ? q + 128 : q; // wavefile takes 8-bit data unsigned
      }
    }
  }
  const wav = new WaveFile();
  wav.fromScratch(nc, sampleRate, bitDepth, inter);
  return wav.toBuffer();
}

/**
 * Writes a 16-bit PCM WAV file from `samples`, interleaved when `channels` > 1 (for test
 * fixtures; see {@link encodeWav}).
 */
export function encodeWav16(samples: Float32Array, sampleRate: number, channels = 1): Uint8Array {
  requireInt("channels", channels, 1, 0xffff);
  if (samples.length % channels !== 0) {
    throw new AmssArgumentError(
      `encodeWav16: ${samples.length} samples is not a multiple of ${channels} channels`,
    );
  }
  const n = samples.length / channels;
  const chans = Array.from({ length: channels }, (_, c) => {
    const ch = new Float32Array(n);
    for (let i = 0; i < n; i++) ch[i] = samples[i * channels + c];
    return ch;
  });
  return encodeWav(chans, sampleRate, "16");
}
