import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  CREMAD_SAMPLE_RATE,
  CREMAD_SAMPLES,
  CREMAD_SPEC_SHAPE,
  cremadSpectrogram,
  cremadWaveform,
} from "../src/data/cremad.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { uniform } from "./_helpers.ts";

Deno.test("cremad: constants and a 257 x 188 finite spectrogram from a 16 kHz clip", () => {
  assertEquals([CREMAD_SAMPLE_RATE, CREMAD_SAMPLES, [...CREMAD_SPEC_SHAPE]], [22050, 66150, [
    257,
    188,
  ]]);
  const spec = cremadSpectrogram(uniform(40000, 8, -0.5, 0.5), 16000);
  assertEquals(spec.length, 257 * 188);
  assert(spec.every(Number.isFinite));
});

Deno.test("cremad: a 1 s clip is tiled to 66,150 samples and clipped to [-1, 1]", () => {
  const clip = uniform(22050, 9, -1.5, 1.5);
  const y = cremadWaveform(clip, 22050);
  assertEquals(y.length, 66150);
  for (let i = 0; i < 66150; i++) assertEquals(y[i], Math.max(-1, Math.min(1, clip[i % 22050])));
  // a clip longer than 3 s is cut
  const long = uniform(70000, 10, -0.9, 0.9);
  assertEquals(Array.from(cremadWaveform(long, 22050)), Array.from(long.subarray(0, 66150)));
});

Deno.test("cremad: columns repeat with the clip's period once the clip is tiled", () => {
  // A clip of 63 hops (22,239 samples): frame t and t + 63 see the same samples whenever both lie
  // inside the 66,150 tiled samples (t >= 1 and (t + 63) * 353 + 256 <= 66150, i.e. t <= 123).
  const spec = cremadSpectrogram(uniform(63 * 353, 11), 22050);
  const [bins, frames] = CREMAD_SPEC_SHAPE;
  for (let t = 1; t <= 123; t++) {
    for (let b = 0; b < bins; b++) assertEquals(spec[b * frames + t + 63], spec[b * frames + t]);
  }
  assert(spec[5 * frames] !== spec[5 * frames + 63]); // frame 0 sees the zero padding
});

Deno.test("cremad: a tone at bin 32 gives log(A N / 4); silence gives log(1e-7) everywhere", () => {
  // bin 32 of 512 at 22,050 Hz is 1378.125 Hz, period 16 samples; 22,048 = 16 * 1378 samples tile
  // without a phase jump. Amplitude 0.5: |X| = 0.5 * 512 / 4 = 64 in frames inside the signal.
  const tone = Float32Array.from(
    { length: 22048 },
    (_, n) => 0.5 * Math.cos((2 * Math.PI * n) / 16),
  );
  const spec = cremadSpectrogram(tone, 22050);
  for (let t = 1; t < 187; t++) assertAlmostEquals(spec[32 * 188 + t], Math.log(64 + 1e-7), 1e-5);
  const silent = cremadSpectrogram(new Float32Array(5000), 22050);
  const floor = Math.fround(Math.log(1e-7));
  assert(silent.every((v) => v === floor));
});

Deno.test("cremad: empty or non-finite clips and bad rates throw", () => {
  assertThrows(() => cremadSpectrogram(new Float32Array(0), 22050), AmssArgumentError, "empty");
  assertThrows(() => cremadSpectrogram(new Float32Array(10), 0), AmssArgumentError, "sampleRate");
  assertThrows(() => cremadSpectrogram(Float32Array.from([NaN]), 22050), AmssArgumentError, "[0]");
});
