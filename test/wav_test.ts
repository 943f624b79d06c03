import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { DecodeError } from "../src/data/decode_error.ts";
import { decodeWav, encodeWav, encodeWav16 } from "../src/data/wav.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { uniform } from "./_helpers.ts";

/** A hand-built WAV: RIFF header, optional chunks before "fmt ", "fmt ", "data" (sizes as given). */
function buildWav(o: {
  tag?: number;
  channels?: number;
  rate?: number;
  bits?: number;
  blockAlign?: number;
  data: Uint8Array;
  fmtExtra?: Uint8Array;
  before?: { id: string; body: Uint8Array }[];
}): Uint8Array {
  const channels = o.channels ?? 1;
  const bits = o.bits ?? 16;
  const blockAlign = o.blockAlign ?? channels * bits / 8;
  const fmt = new Uint8Array(16 + (o.fmtExtra?.length ?? 0));
  const fv = new DataView(fmt.buffer);
  fv.setUint16(0, o.tag ?? 1, true);
  fv.setUint16(2, channels, true);
  fv.setUint32(4, o.rate ?? 8000, true);
  fv.setUint32(8, (o.rate ?? 8000) * blockAlign, true);
  fv.setUint16(12, blockAlign, true);
  fv.setUint16(14, bits, true);
  if (o.fmtExtra) fmt.set(o.fmtExtra, 16);
  const chunks = [...(o.before ?? []), { id: "fmt ", body: fmt }, { id: "data", body: o.data }];
  const size = chunks.reduce((s, c) => s + 8 + c.body.length + (c.body.length & 1), 4);
  const out = new Uint8Array(8 + size);
  const v = new DataView(out.buffer);
  const ascii = (s: string, at: number) => out.set([...s].map((ch) => ch.charCodeAt(0)), at);
  ascii("RIFF", 0);
  v.setUint32(4, size, true);
  ascii("WAVE", 8);
  let at = 12;
  for (const c of chunks) {
    ascii(c.id, at);
    v.setUint32(at + 4, c.body.length, true);
    out.set(c.body, at + 8);
    at += 8 + c.body.length + (c.body.length & 1);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// WAV

Deno.test("WAV 16-bit mono round trip: k/32768 exactly, any value within half an LSB", () => {
  const exact = Float32Array.from([-1, -0.5, 0, 1 / 32768, 0.25, 32767 / 32768]);
  const a = decodeWav(encodeWav16(exact, 16000), "exact.wav");
  assertEquals(a.sampleRate, 16000);
  assertEquals(a.channels.length, 1);
  assertEquals(Array.from(a.channels[0]), Array.from(exact));
  const x = uniform(1000, 1);
  const b = decodeWav(encodeWav16(x, 22050), "random.wav");
  assertEquals(b.channels[0].length, 1000);
  for (let i = 0; i < x.length; i++) {
    assertAlmostEquals(b.channels[0][i], x[i], 0.5 / 32768 + 1e-9);
  }
});

Deno.test("WAV 24-bit stereo round trip keeps the channels apart, within half an LSB", () => {
  const left = uniform(300, 2);
  const right = Float32Array.from(left, (v) => -v / 2);
  const d = decodeWav(encodeWav([left, right], 44100, "24"), "stereo24.wav");
  assertEquals(d.sampleRate, 44100);
  assertEquals(d.channels.length, 2);
  for (let i = 0; i < 300; i++) {
    assertAlmostEquals(d.channels[0][i], left[i], 0.5 / 2 ** 23 + 1e-9);
    assertAlmostEquals(d.channels[1][i], right[i], 0.5 / 2 ** 23 + 1e-9);
  }
  // interleaved encodeWav16 gives the same channel split
  const inter = new Float32Array(600);
  for (let i = 0; i < 300; i++) [inter[2 * i], inter[2 * i + 1]] = [left[i], right[i]];
  const e = decodeWav(encodeWav16(inter, 8000, 2), "stereo16.wav");
  for (let i = 0; i < 300; i++) assertAlmostEquals(e.channels[1][i], right[i], 0.5 / 32768 + 1e-9);
});

Deno.test("WAV float round trip is exact: 32-bit mono, 64-bit, 3-channel", () => {
  const x = uniform(257, 3, -1.5, 1.5); // float data is not clipped
  assertEquals(Array.from(decodeWav(encodeWav([x], 8000, "32f"), "f32.wav").channels[0]), [...x]);
  assertEquals(Array.from(decodeWav(encodeWav([x], 8000, "64"), "f64.wav").channels[0]), [...x]);
  const three = [x, x.map((v) => v / 3), x.map((v) => -v)];
  const d = decodeWav(encodeWav(three, 8000, "32f"), "f32x3.wav");
  for (let c = 0; c < 3; c++) assertEquals(Array.from(d.channels[c]), [...three[c]]);
});

/** fmt extension of WAVE_FORMAT_EXTENSIBLE: cbSize 22, valid bits, channel mask, subformat GUID. */
function extensible(code: number, validBits: number): Uint8Array {
  const e = new Uint8Array(24);
  const v = new DataView(e.buffer);
  v.setUint16(0, 22, true);
  v.setUint16(2, validBits, true);
  v.setUint16(8, code, true); // {0000xxxx-0000-0010-8000-00aa00389b71}
  e.set([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71], 10);
  return e;
}

Deno.test("WAV WAVE_FORMAT_EXTENSIBLE: the subformat GUID decides float vs integer", () => {
  const f = new Uint8Array(8);
  new DataView(f.buffer).setFloat32(0, 0.75, true);
  new DataView(f.buffer).setFloat32(4, -2, true);
  const fl = buildWav({ tag: 0xfffe, bits: 32, channels: 2, data: f, fmtExtra: extensible(3, 32) });
  assertEquals(decodeWav(fl, "extf.wav").channels.map((c) => c[0]), [0.75, -2]);
  // 20 valid bits in a 24-bit container: samples are left-justified, full scale is still 2^23
  const i24 = buildWav({
    tag: 0xfffe,
    bits: 24,
    data: Uint8Array.from([0, 0, 0xc0]),
    fmtExtra: extensible(1, 20),
  });
  assertEquals(Array.from(decodeWav(i24, "ext24.wav").channels[0]), [-0.5]);
});

Deno.test("WAV 8-bit (unsigned) and 32-bit integer round trips, within half an LSB", () => {
  const x = uniform(200, 4);
  const d8 = decodeWav(encodeWav([x], 8000, "8"), "u8.wav").channels[0];
  const d32 = decodeWav(encodeWav([x], 8000, "32"), "i32.wav").channels[0];
  for (let i = 0; i < x.length; i++) {
    assertAlmostEquals(d8[i], x[i], 0.5 / 128 + 1e-9);
    // half an LSB of 32-bit PCM, plus float32 rounding of the decoded value
    assertAlmostEquals(d32[i], x[i], 2 ** -32 + 2 ** -24 * Math.abs(x[i]));
  }
});

Deno.test("WAV hand-built bytes decode to the documented scale (1 / 2^(bits-1), 8-bit offset 128)", () => {
  const i16 = buildWav({ bits: 16, data: Uint8Array.from([0x00, 0x80, 0xff, 0x7f, 0xff, 0xff]) });
  assertEquals(Array.from(decodeWav(i16, "i16").channels[0]), [-1, 32767 / 32768, -1 / 32768]);
  const i24 = buildWav({
    bits: 24,
    data: Uint8Array.from([0, 0, 0x80, 0xff, 0xff, 0x7f, 1, 0, 0]),
  });
  assertEquals(Array.from(decodeWav(i24, "i24").channels[0]), [
    -1,
    (2 ** 23 - 1) / 2 ** 23,
    2 ** -23,
  ]);
  const u8 = buildWav({ bits: 8, data: Uint8Array.from([0, 128, 255]) });
  assertEquals(Array.from(decodeWav(u8, "u8").channels[0]), [-1, 0, 127 / 128]);
  // chunks before "fmt " (one of odd size, so followed by a pad byte) are skipped
  const withList = buildWav({
    bits: 16,
    data: Uint8Array.from([0x00, 0x40]),
    before: [{ id: "LIST", body: new Uint8Array(5) }, { id: "JUNK", body: new Uint8Array(4) }],
  });
  assertEquals(Array.from(decodeWav(withList, "list").channels[0]), [0.5]);
});

Deno.test("WAV G.711: mu-law and A-law codes decode to the standard linear values", () => {
  // G.711 tables: mu-law 0xFF/0x7F -> 0, 0x80 -> +32124, 0x00 -> -32124;
  // A-law 0xD5 -> +8, 0x55 -> -8, 0xAA -> +32256, 0x2A -> -32256 (16-bit scale).
  const mu = buildWav({ tag: 7, bits: 8, data: Uint8Array.from([0xff, 0x80, 0x00, 0x7f]) });
  assertEquals(
    Array.from(decodeWav(mu, "mu.wav").channels[0], (v) => v * 32768),
    [0, 32124, -32124, 0],
  );
  const al = buildWav({ tag: 6, bits: 8, data: Uint8Array.from([0xd5, 0x55, 0xaa, 0x2a]) });
  assertEquals(
    Array.from(decodeWav(al, "a.wav").channels[0], (v) => v * 32768),
    [8, -8, 32256, -32256],
  );
});

Deno.test("WAV errors are DecodeErrors naming the source and what is wrong", () => {
  const good = encodeWav16(uniform(100, 5), 8000);
  const bad = (bytes: Uint8Array, includes: string) => {
    const e = assertThrows(() => decodeWav(bytes, "clip.wav"), DecodeError, includes);
    assert(e.message.startsWith("clip.wav: "), e.message);
    assertEquals(e.name, "DecodeError");
    assert(!(e instanceof AmssArgumentError), "a bad file is not an argument error");
  };
  bad(good.subarray(0, 8), "at least 12");
  bad(good.subarray(0, 30), `"fmt " chunk at byte 12 declares 16 bytes but only 10 remain`);
  bad(good.subarray(0, 36), `no "data" chunk`);
  bad(good.subarray(0, good.length - 3), `"data" chunk at byte 36 declares 200 bytes`);
  bad(new TextEncoder().encode("ID3\x04\x00\x00\x00\x00\x00\x00 not a wav at all"), "not a RIFF");
  bad(Uint8Array.from([...good.subarray(0, 8), ...new TextEncoder().encode("AVI "), 0, 0]), "AVI");
  const rifx = good.slice();
  rifx.set([82, 73, 70, 88]);
  bad(rifx, "RIFX");
  bad(buildWav({ data: new Uint8Array(0) }), "empty");
  bad(buildWav({ channels: 0, blockAlign: 2, data: new Uint8Array(4) }), "zero channels");
  bad(buildWav({ tag: 2, bits: 4, blockAlign: 256, data: new Uint8Array(256) }), "MS ADPCM");
  bad(buildWav({ tag: 0x55, bits: 0, blockAlign: 1, data: new Uint8Array(4) }), "0x0055");
  bad(buildWav({ bits: 12, blockAlign: 2, data: new Uint8Array(4) }), "12 bits");
  bad(buildWav({ bits: 16, blockAlign: 4, data: new Uint8Array(4) }), "block align");
  bad(buildWav({ bits: 16, data: new Uint8Array(3) }), "whole number of 2-byte frames");
  const nan = new Uint8Array(8);
  new DataView(nan.buffer).setFloat32(4, NaN, true);
  bad(buildWav({ tag: 3, bits: 32, data: nan }), "non-finite");
  const ext = new Uint8Array(24); // EXTENSIBLE with an unknown GUID
  ext[0] = 22;
  bad(buildWav({ tag: 0xfffe, bits: 16, data: new Uint8Array(2), fmtExtra: ext }), "GUID");
});

Deno.test("encodeWav / encodeWav16 reject bad input", () => {
  assertThrows(() => encodeWav16(new Float32Array(3), 8000, 2), AmssArgumentError, "multiple");
  assertThrows(() => encodeWav([Float32Array.from([NaN])], 8000), AmssArgumentError, "finite");
  assertThrows(() => encodeWav([new Float32Array(1)], 0), AmssArgumentError, "sampleRate");
});
