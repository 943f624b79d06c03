import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertLessOrEqual,
  assertThrows,
} from "@std/assert";
import { KS_SAMPLES, KS_SPEC_SHAPE } from "../src/data/kinetics_sounds.ts";
import {
  hannPeriodic,
  resample,
  RESAMPLE_FILTER,
  resampledLength,
  scipyPsd,
  spectrogramScipy,
  stft,
  stftFrameCount,
  toMono,
  tukeyPeriodic,
} from "../src/data/signal.ts";
import { AmssArgumentError } from "../src/validate.ts";
import { uniform } from "./_helpers.ts";

// ------------------------------------------------------------------------------------------------
// Channels

Deno.test("toMono averages channels and rejects bad input", () => {
  assertEquals(Array.from(toMono([Float32Array.from([1, 2]), Float32Array.from([3, -4])])), [
    2,
    -1,
  ]);
  const one = Float32Array.from([0.5]);
  const m = toMono([one]);
  assertEquals(Array.from(m), [0.5]);
  assert(m !== one, "toMono returns a new array");
  assertThrows(() => toMono([]), AmssArgumentError, "empty");
  assertThrows(() => toMono([new Float32Array(2), new Float32Array(3)]), AmssArgumentError, "3");
});

// ------------------------------------------------------------------------------------------------
// Resampling

// The filter's peak pass-band and stop-band errors are both about delta = 10^(-A/20) (Kaiser window
// method). A tone in the pass band comes out with amplitude error <= delta plus its nearest image
// (in the stop band) <= delta: tolerance 2 delta (6.3e-5 at A = 90). Measured: 4.6e-6 (16 kHz ->
// 22,050 Hz, 1 kHz) and 1.7e-6 (44.1 kHz -> 22,050 Hz); a sweep of the whole pass band peaked at
// 1.33 delta (at its edge) and the stop band at 0.82 delta.
const DELTA = 10 ** (-RESAMPLE_FILTER.attenuationDb / 20);

/** Max |y[m] - sin(2 pi f m / to + ph)| over outputs whose filter support lies inside the input. */
function toneError(from: number, to: number, f: number, ph = 0.3): number {
  const n = from; // 1 s
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * f * i) / from + ph));
  const y = resample(x, from, to);
  assertEquals(y.length, to);
  const { attenuationDb: A, passbandEdge, stopbandEdge } = RESAMPLE_FILTER;
  const transition = 0.5 * Math.min(1, to / from) * (stopbandEdge - passbandEdge);
  const half = (A - 8) / (2 * 2.285 * 2 * Math.PI * transition); // kernel half-width, input samples
  let err = 0;
  let used = 0;
  for (let m = 0; m < y.length; m++) {
    const t = (m * from) / to;
    if (t < half || t > n - 1 - half) continue;
    used++;
    err = Math.max(err, Math.abs(y[m] - Math.sin((2 * Math.PI * f * m) / to + ph)));
  }
  assert(used > to / 2, `only ${used} interior samples`);
  return err;
}

Deno.test("resample: a 1 kHz tone at 16 kHz -> 22,050 Hz matches the analytic tone within 2 delta", () => {
  assertLessOrEqual(toneError(16000, 22050, 1000), 2 * DELTA);
});

Deno.test("resample: a 1 kHz tone at 44.1 kHz -> 22,050 Hz matches the analytic tone within 2 delta", () => {
  assertLessOrEqual(toneError(44100, 22050, 1000), 2 * DELTA);
  assertLessOrEqual(toneError(22050, 16000, 3000), 2 * DELTA); // a reduced ratio 320/441 too
});

Deno.test("resample: a tone above the new Nyquist frequency is removed (stop band)", () => {
  const x = Float32Array.from(
    { length: 44100 },
    (_, i) => Math.sin((2 * Math.PI * 14000 * i) / 44100),
  );
  const y = resample(x, 44100, 22050);
  let peak = 0;
  for (let m = 200; m < y.length - 200; m++) peak = Math.max(peak, Math.abs(y[m]));
  assertLessOrEqual(peak, 2 * DELTA); // one stop-band term, <= delta by design
});

Deno.test("resample: length is ceil(len * to / from); identity copies; bad input throws", () => {
  assertEquals(resampledLength(16000, 16000, 22050), 22050);
  assertEquals(resampledLength(1, 16000, 22050), 2); // 1.378 -> 2 (round would give 1)
  assertEquals(resampledLength(11, 44100, 22050), 6); // 5.5 -> 6
  assertEquals(resampledLength(10, 44100, 22050), 5);
  assertEquals(resampledLength(0, 8000, 22050), 0);
  for (const len of [1, 7, 320, 1001]) {
    assertEquals(
      resample(new Float32Array(len), 16000, 22050).length,
      Math.ceil(len * 22050 / 16000),
    );
    assertEquals(
      resample(new Float32Array(len), 22050, 16000).length,
      Math.ceil(len * 16000 / 22050),
    );
  }
  const x = uniform(10, 6);
  const same = resample(x, 22050, 22050);
  assertEquals(Array.from(same), Array.from(x));
  assert(same !== x, "identity returns a copy");
  // a constant well inside the input stays constant (unit DC gain, error <= delta)
  const c = resample(new Float32Array(4000).fill(0.5), 16000, 22050);
  for (let m = 200; m < c.length - 200; m++) assertAlmostEquals(c[m], 0.5, 0.5 * DELTA);
  assertThrows(() => resample(x, 0, 22050), AmssArgumentError, "from");
  assertThrows(() => resample(x, 16000, 22050.5), AmssArgumentError, "to");
  assertThrows(() => resample(Float32Array.from([0, NaN]), 16000, 22050), AmssArgumentError, "[1]");
});

// ------------------------------------------------------------------------------------------------
// STFT

Deno.test("periodic Hann: w[0] = 0, w[N/2] = 1, sum N/2, sum of squares 3N/8", () => {
  // w = 1/2 - (e^{i theta n} + e^{-i theta n}) / 4 with theta = 2 pi / N: the cosine terms sum to
  // zero over a period, so sum w = N/2 and sum w^2 = N (1/4 + 2/16) = 3N/8.
  const w = hannPeriodic(512);
  assertEquals(w[0], 0);
  assertEquals(w[256], 1);
  assertAlmostEquals(w.reduce((s, v) => s + v, 0), 256, 1e-9);
  assertAlmostEquals(w.reduce((s, v) => s + v * v, 0), 192, 1e-9);
});

Deno.test("stft frame count is 1 + floor(len / hop) centred (66,150 -> 188), 1 + floor((len - nFft) / hop) not", () => {
  assertEquals(stftFrameCount(66150, 512, 353), 188);
  for (const len of [1, 352, 353, 512, 1000, 66150]) {
    const s = stft(new Float32Array(len), { nFft: 512, hop: 353 });
    assertEquals(s.frames, 1 + Math.floor(len / 353));
    assertEquals(s.bins, 257);
    assertEquals(s.re.length, 257 * s.frames);
  }
  for (const len of [512, 864, 865, 2000]) {
    assertEquals(
      stft(new Float32Array(len), { nFft: 512, hop: 353, center: false }).frames,
      1 + Math.floor((len - 512) / 353),
    );
  }
});

Deno.test("stft: a unit tone at bin k gives N/4 e^{i phase} at k, N/8 at k +- 1, zero elsewhere", () => {
  // cos(2 pi k n / N + p) times the periodic Hann (1/2 - e^{i theta n}/4 - e^{-i theta n}/4):
  // bin k collects (1/2)(N/2) e^{ip} = N/4 e^{ip}; bins k +- 1 collect -(1/4)(N/2) e^{ip}.
  const N = 512, k = 32, hop = 128, p = 0.7;
  const x = Float32Array.from({ length: 4096 }, (_, n) => Math.cos((2 * Math.PI * k * n) / N + p));
  const s = stft(x, { nFft: N, hop });
  for (let t = 2; t < s.frames - 2; t++) { // frames entirely inside the signal
    const ph = p + (2 * Math.PI * k * (t * hop - N / 2)) / N; // phase at the frame's first sample
    for (let b = 0; b < s.bins; b++) {
      const re = s.re[b * s.frames + t];
      const im = s.im[b * s.frames + t];
      const amp = b === k ? N / 4 : Math.abs(b - k) === 1 ? -N / 8 : 0;
      assertAlmostEquals(re, amp * Math.cos(ph), 1e-3, `bin ${b} frame ${t}`);
      assertAlmostEquals(im, amp * Math.sin(ph), 1e-3, `bin ${b} frame ${t}`);
    }
  }
});

Deno.test("stft matches a direct DFT on one frame, and Parseval holds for it", () => {
  const N = 64;
  const x = uniform(N, 7);
  const s = stft(x, { nFft: N, hop: N, center: false });
  assertEquals(s.frames, 1);
  const w = hannPeriodic(N);
  let timeEnergy = 0;
  for (let n = 0; n < N; n++) timeEnergy += (x[n] * w[n]) ** 2;
  let freqEnergy = 0;
  for (let k = 0; k <= N / 2; k++) {
    let re = 0, im = 0;
    for (let n = 0; n < N; n++) {
      re += x[n] * w[n] * Math.cos((2 * Math.PI * k * n) / N);
      im -= x[n] * w[n] * Math.sin((2 * Math.PI * k * n) / N);
    }
    assertAlmostEquals(s.re[k], re, 1e-5, `re bin ${k}`);
    assertAlmostEquals(s.im[k], im, 1e-5, `im bin ${k}`);
    // one-sided: bins 1..N/2-1 stand for two bins of the full spectrum
    freqEnergy += (k === 0 || k === N / 2 ? 1 : 2) * (s.re[k] ** 2 + s.im[k] ** 2);
  }
  assertAlmostEquals(freqEnergy / N, timeEnergy, 1e-5 * timeEnergy); // sum |xw|^2 = sum |X|^2 / N
});

Deno.test("stft padding by hand: zeros vs numpy reflect on [1, 2, 3, 4, 5], nFft 4, hop 2", () => {
  // Hann(4) = [0, .5, 1, .5]. Zero pad: [0 0 1 2 3 4 5 0 0]; reflect: [3 2 1 2 3 4 5 4 3].
  const x = Float32Array.from([1, 2, 3, 4, 5]);
  const z = stft(x, { nFft: 4, hop: 2 });
  const r = stft(x, { nFft: 4, hop: 2, padMode: "reflect" });
  assertEquals(z.frames, 3);
  // values rounded to 1e-9 (the FFT leaves ~1e-16 where the hand computation has an exact 0)
  const r9 = (v: number) => Math.round(v * 1e9) / 1e9 + 0; // + 0 turns -0 into 0
  const col = (s: typeof z, t: number) =>
    [0, 1, 2].map((b) => [r9(s.re[b * s.frames + t]), r9(s.im[b * s.frames + t])]);
  // frame 0, zero: windowed [0, 0, 1, 1] -> X0 = 2, X1 = -1 + i, X2 = 0
  assertEquals(col(z, 0), [[2, 0], [-1, 1], [0, 0]]);
  // frame 0, reflect: windowed [0, 1, 1, 1] -> X0 = 3, X1 = -1, X2 = -1
  assertEquals(col(r, 0), [[3, 0], [-1, 0], [-1, 0]]);
  // frame 2 (samples 2..5): zero [0, 2, 5, 0] -> X0 = 7; reflect [0, 2, 5, 2] -> X0 = 9
  assertEquals(col(z, 2)[0], [7, 0]);
  assertEquals(col(r, 2)[0], [9, 0]);
});

Deno.test("stft rejects bad options and input with clear errors", () => {
  const x = new Float32Array(1000);
  assertThrows(() => stft(x, { nFft: 500, hop: 100 }), AmssArgumentError, "power of two");
  assertThrows(() => stft(x, { nFft: 512, hop: 0 }), AmssArgumentError, "hop");
  assertThrows(() => stft(new Float32Array(0), { nFft: 512, hop: 1 }), AmssArgumentError, "empty");
  assertThrows(
    () => stft(new Float32Array(100), { nFft: 512, hop: 1, center: false }),
    AmssArgumentError,
    "shorter",
  );
  assertThrows(
    // @ts-expect-error: testing a bad runtime value
    () => stft(x, { nFft: 512, hop: 1, padMode: "edge" }),
    AmssArgumentError,
    "padMode",
  );
  assertThrows(
    () => stft(Float32Array.from([0, Infinity]), { nFft: 4, hop: 1 }),
    AmssArgumentError,
    "[1]",
  );
});

// ------------------------------------------------------------------------------------------------
// Kinetics-Sounds (scipy.signal.spectrogram)

/** The signal whose scipy 1.17.1 spectrogram values are quoted below (float32, 5,000 samples). */
function scipySignal(): Float32Array {
  return Float32Array.from(
    { length: 5000 },
    (_, i) =>
      0.5 * Math.sin(0.05 * i) + 0.25 * Math.cos(0.7 * i + 1) +
      0.1 * (((i * 7919) % 101) / 101 - 0.5) +
      0.05,
  );
}

Deno.test("periodic Tukey(0.25) matches scipy get_window(('tukey', 0.25), n)", () => {
  // n = 16 by hand: symmetric length 17, taper width floor(0.25 * 16 / 2) = 2 samples each side.
  assertEquals(Array.from(tukeyPeriodic(16, 0.25), (v) => Math.round(v * 1e12) / 1e12), [
    0,
    0.5,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    0.5,
  ]);
  const w = tukeyPeriodic(512, 0.25);
  const scipy = [
    0,
    0.029227967408489652,
    0.1134947733186315,
    0.24294862790338917,
    0.4024548389919359,
  ];
  scipy.forEach((v, i) => assertAlmostEquals(w[7 * i], v, 1e-12));
});

Deno.test("scipy-style PSD and log-standardised spectrogram match scipy 1.17.1 values", () => {
  const x = scipySignal();
  const opts = { nperseg: 512, noverlap: 353, fs: 16000 };
  const psd = scipyPsd(x, opts);
  assertEquals([psd.bins, psd.frames], [257, 29]); // 1 + floor((5000 - 512) / 159)
  // scipy.signal.spectrogram(x.astype(float64), fs=16000, nperseg=512, noverlap=353)[2][k, t]
  const ref: [number, number, number][] = [
    [0, 0, 2.703408032205557e-06],
    [10, 3, 1.8094873233946717e-06],
    [256, 5, 5.215347187540888e-10],
    [100, 20, 1.3251716355562646e-08],
  ];
  for (const [k, t, v] of ref) assertAlmostEquals(psd.data[k * psd.frames + t], v, 1e-5 * v);
  // Z = (log(S + 1e-7) - mean) / (std + 1e-9), numpy on the same float64 S
  const z = spectrogramScipy(x, opts);
  const zRef = [1.6547511546521947, 1.414990615205739, -0.4233046988428827, -0.3488536719377351];
  ref.forEach(([k, t], i) => assertAlmostEquals(z.data[k * z.frames + t], zRef[i], 1e-5));
  let mean = 0, sq = 0;
  for (const v of z.data) [mean, sq] = [mean + v, sq + v * v];
  assertAlmostEquals(mean / z.data.length, 0, 1e-6);
  assertAlmostEquals(sq / z.data.length, 1, 1e-5);
});

Deno.test("scipy-style spectrogram: 160,000 samples give 257 x 1004, 220,500 give 257 x 1384", () => {
  // frames = 1 + floor((N - 512) / 159): 1004 for N in [159989, 160147] (10 s at 16 kHz).
  const ks = spectrogramScipy(new Float32Array(KS_SAMPLES), {
    nperseg: 512,
    noverlap: 353,
    fs: 16000,
  });
  assertEquals([ks.bins, ks.frames], [...KS_SPEC_SHAPE]);
  assert(ks.data.every((v) => v === 0)); // silence: std 0, (S - mean) = 0, no NaN
  const at22k = scipyPsd(new Float32Array(220500), { nperseg: 512, noverlap: 353, fs: 22050 });
  assertEquals([at22k.bins, at22k.frames], [257, 1384]);
  assertEquals(
    scipyPsd(new Float32Array(159988), { nperseg: 512, noverlap: 353, fs: 1 }).frames,
    1003,
  );
  assertEquals(
    scipyPsd(new Float32Array(160148), { nperseg: 512, noverlap: 353, fs: 1 }).frames,
    1005,
  );
});

Deno.test("scipy-style spectrogram rejects bad options", () => {
  const x = new Float32Array(1000);
  assertThrows(
    () => scipyPsd(x, { nperseg: 512, noverlap: 512, fs: 1 }),
    AmssArgumentError,
    "noverlap",
  );
  assertThrows(
    () => scipyPsd(x, { nperseg: 500, noverlap: 1, fs: 1 }),
    AmssArgumentError,
    "power of two",
  );
  assertThrows(() => scipyPsd(x, { nperseg: 512, noverlap: 1, fs: 0 }), AmssArgumentError, "fs");
  assertThrows(
    () => scipyPsd(x, { nperseg: 2048, noverlap: 1, fs: 1 }),
    AmssArgumentError,
    "shorter",
  );
});
