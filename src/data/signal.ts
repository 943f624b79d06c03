/**
 * The signal processing of the audio front ends, on plain float arrays, with the conventions of
 * the reference pipelines (librosa, scipy): mono mixing, band-limited resampling, a librosa-style
 * STFT and scipy.signal.spectrogram's PSD. Decoding is in ./wav.ts; the CREMA-D front end built
 * from these is in ./cremad.ts.
 *
 * - Resampling: our own Kaiser-windowed sinc ({@link RESAMPLE_FILTER}). `wave-resampler` 1.0 was
 *   not good enough: it maps output m to input m * (n - 1) / m_out instead of m * from / to (a
 *   drift of up to one input sample over the clip), low-passes with an IIR Butterworth whose
 *   cut-off is exactly the new Nyquist frequency (no transition band below it), truncates the
 *   output length and overwrites its input when downsampling. Output length here is
 *   ceil(len * to / from), librosa's convention (librosa.resample with fix=True), not round().
 * - STFT: librosa.stft semantics (periodic Hann = scipy get_window("hann", n, fftbins=True), frames
 *   centred by padding nFft/2 on each side, one-sided bins, output [bins, frames]); FFT by `fft.js`,
 *   which needs a power-of-two size: other sizes are rejected, not padded.
 * - scipy spectrogram ({@link spectrogramScipy}, the front end of the Kinetics-Sounds spectrogram
 *   pickles): scipy.signal.spectrogram's defaults, checked against scipy 1.17.1 (source read and
 *   values compared): periodic Tukey(0.25) window, each segment's mean removed (detrend
 *   "constant"), no padding, PSD scaled by 1 / (fs * sum(w^2)), one-sided with every bin except DC
 *   and Nyquist doubled. Then log(S + 1e-7) and per-clip standardisation (S - mean) / (std + 1e-9)
 *   over the whole array with the population std (np.std, ddof 0); that last step is our reading
 *   of the OGM-GE reference loaders, not checked against their code here. Frame count:
 *   1 + floor((N - nperseg) / (nperseg - noverlap)).
 *
 * @module
 */
import FFTModule from "fft.js";
import { AmssArgumentError, requireInt, requireOneOf } from "../validate.ts";

/** The part of fft.js (no bundled types) used here. */
interface FftInstance {
  realTransform(out: Float64Array, data: Float64Array): void;
}
const FFT = FFTModule as unknown as new (size: number) => FftInstance;

/** Average of the channels (librosa.to_mono: np.mean over the channel axis); a new array. */
export function toMono(channels: readonly Float32Array[]): Float32Array {
  if (channels.length === 0) throw new AmssArgumentError("toMono: channels must not be empty");
  const n = channels[0].length;
  const out = new Float64Array(n);
  for (let c = 0; c < channels.length; c++) {
    const ch = channels[c];
    if (ch.length !== n) {
      throw new AmssArgumentError(
        `toMono: channel ${c} has ${ch.length} samples, channel 0 has ${n}`,
      );
    }
    for (let i = 0; i < n; i++) out[i] += ch[i];
  }
  const res = new Float32Array(n);
  for (let i = 0; i < n; i++) res[i] = out[i] / channels.length;
  return res;
}

/** Throws {@link AmssArgumentError} naming `name[i]` unless every sample of `x` is finite. */
export function requireFiniteSamples(name: string, x: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new AmssArgumentError(`${name}[${i}] is ${x[i]}, expected a finite sample`);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Resampling

/**
 * Design of {@link resample}'s anti-aliasing / anti-imaging low-pass, relative to the lower of the
 * two Nyquist frequencies: pass band up to `passbandEdge`, stop band from `stopbandEdge` (so
 * nothing aliases into the pass band), Kaiser window method with about `attenuationDb` of ripple
 * suppression: peak pass-band and stop-band error delta = 10^(-attenuationDb / 20) (Kaiser 1974;
 * Oppenheim & Schafer, Discrete-Time Signal Processing, sec. 7.6: beta = 0.1102 (A - 8.7),
 * length = (A - 8) / (2.285 * transition width in rad/sample)).
 */
export const RESAMPLE_FILTER: Readonly<{
  attenuationDb: number;
  passbandEdge: number;
  stopbandEdge: number;
}> = Object.freeze({ attenuationDb: 90, passbandEdge: 0.9, stopbandEdge: 1 });

/** Modified Bessel function of the first kind, order 0 (power series; converges for all x). */
function besselI0(x: number): number {
  const q = (x / 2) * (x / 2);
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 500; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Output length of {@link resample}: ceil(len * to / from), exact in integers (librosa's rule). */
export function resampledLength(len: number, from: number, to: number): number {
  requireInt("len", len, 0);
  requireInt("from", from, 1);
  requireInt("to", to, 1);
  const g = gcd(from, to);
  const L = to / g;
  const M = from / g;
  return Math.floor((len * L + M - 1) / M);
}

/**
 * Resamples `x` from `from` Hz to `to` Hz (positive integers) with a Kaiser-windowed sinc
 * ({@link RESAMPLE_FILTER}), evaluated exactly at each output instant t = m * from / to (in input
 * samples; output sample 0 is input sample 0, as librosa/resampy/soxr align). Samples outside the
 * input count as zero. Output length: ceil(len * to / from) ({@link resampledLength}). Returns a
 * copy when `from === to`. Non-finite input is an error.
 */
export function resample(x: Float32Array, from: number, to: number): Float32Array {
  requireInt("from", from, 1);
  requireInt("to", to, 1);
  requireFiniteSamples("resample: x", x);
  if (from === to) return x.slice();
  const g = gcd(from, to);
  const L = to / g; // output instant m sits at input time m * M / L
  const M = from / g;
  const n = x.length;
  const outLen = resampledLength(n, from, to);
  const out = new Float32Array(outLen);

  // Cut-off (cycles per input sample) in the middle of the transition band, scaled to the lower
  // Nyquist frequency; Kaiser parameters from the window-method formulas cited at RESAMPLE_FILTER.
  const ratio = Math.min(1, to / from);
  const A = RESAMPLE_FILTER.attenuationDb;
  const fPass = 0.5 * ratio * RESAMPLE_FILTER.passbandEdge;
  const fStop = 0.5 * ratio * RESAMPLE_FILTER.stopbandEdge;
  const fc = (fPass + fStop) / 2;
  // Kaiser's beta for A > 50 dB (A is fixed at 90 here).
  const beta = 0.1102 * (A - 8.7);
  const taps = (A - 8) / (2.285 * 2 * Math.PI * (fStop - fPass));
  const half = taps / 2; // window half-width, in input samples
  const i0Beta = besselI0(beta);
  const jLo = -Math.floor(half);
  const width = 2 * Math.floor(half) + 2; // taps j in [jLo, jLo + width) cover |frac - j| <= half

  // h(u) = 2 fc sinc(2 fc u) * kaiser(u / half): unit DC gain, for u in input samples.
  const fillRow = (frac: number, row: Float64Array): void => {
    for (let k = 0; k < width; k++) {
      const u = frac - (jLo + k);
      const r = u / half;
      if (r * r > 1) {
        row[k] = 0;
        continue;
      }
      const a = 2 * Math.PI * fc * u;
      const sinc = a === 0 ? 1 : Math.sin(a) / a;
      row[k] = 2 * fc * sinc * besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
    }
  };
  // One row per phase (m * M mod L) when there are few phases; otherwise each output has its own.
  const table = L <= 4096 && L <= outLen ? new Float64Array(L * width) : null;
  if (table) {
    for (let p = 0; p < L; p++) fillRow(p / L, table.subarray(p * width, (p + 1) * width));
  }
  const scratch = new Float64Array(width);

  for (let m = 0; m < outLen; m++) {
    const num = m * M;
    const q = Math.floor(num / L);
    const p = num - q * L;
    let row: Float64Array;
    if (table) row = table.subarray(p * width, (p + 1) * width);
    else {
      fillRow(p / L, scratch);
      row = scratch;
    }
    const base = q + jLo;
    const k0 = Math.max(0, -base);
    const k1 = Math.min(width, n - base);
    let acc = 0;
    for (let k = k0; k < k1; k++) acc += row[k] * x[base + k];
    out[m] = acc;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// STFT

/** Options of {@link stft}; defaults: window "hann", center true, padMode "constant". */
export interface StftOptions {
  nFft: number;
  hop: number;
  window?: "hann";
  center?: boolean;
  padMode?: "constant" | "reflect";
}

/** A one-sided complex STFT laid out [bins, frames] (bin-major, like librosa's output). */
export interface StftResult {
  frames: number;
  bins: number;
  /** Real parts, `re[k * frames + t]` for bin k and frame t. */
  re: Float32Array;
  /** Imaginary parts, same layout. */
  im: Float32Array;
}

/** Periodic Hann window of length n: scipy get_window("hann", n, fftbins=True). */
export function hannPeriodic(n: number): Float64Array {
  requireInt("n", n, 1);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/**
 * Periodic Tukey window: scipy.signal.windows.tukey(n, alpha, sym=False), i.e. the symmetric
 * window of length n + 1 without its last point (scipy's _extend/_truncate).
 */
export function tukeyPeriodic(n: number, alpha: number): Float64Array {
  requireInt("n", n, 1);
  if (!(alpha >= 0 && alpha <= 1)) {
    throw new AmssArgumentError(`alpha must be in [0, 1], got ${alpha}`);
  }
  const w = new Float64Array(n).fill(1);
  if (n === 1 || alpha === 0) return w;
  const M = n + 1; // symmetric length before truncation
  if (alpha === 1) {
    for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (M - 1));
    return w;
  }
  const width = Math.floor((alpha * (M - 1)) / 2);
  for (let i = 0; i < n; i++) {
    if (i <= width) {
      w[i] = 0.5 * (1 + Math.cos(Math.PI * (-1 + (2 * i) / alpha / (M - 1))));
    } else if (i >= M - width - 1) {
      w[i] = 0.5 * (1 + Math.cos(Math.PI * (-2 / alpha + 1 + (2 * i) / alpha / (M - 1))));
    }
  }
  return w;
}

function requirePowerOfTwo(name: string, n: number): void {
  requireInt(name, n, 2);
  if ((n & (n - 1)) !== 0) {
    throw new AmssArgumentError(
      `${name} must be a power of two (the fft.js FFT needs one), got ${n}`,
    );
  }
}

/** numpy's "reflect" padding index (mirror without repeating the edge), any distance. */
function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const r = ((i % period) + period) % period;
  return r < n ? r : period - r;
}

/** Number of frames {@link stft} gives: 1 + floor(len / hop) centred, else 1 + floor((len - nFft) / hop). */
export function stftFrameCount(len: number, nFft: number, hop: number, center = true): number {
  requireInt("len", len, 1);
  requireInt("nFft", nFft, 1);
  requireInt("hop", hop, 1);
  const padded = center ? len + 2 * Math.floor(nFft / 2) : len;
  if (padded < nFft) {
    throw new AmssArgumentError(`stft: ${len} samples is shorter than nFft ${nFft} (center off)`);
  }
  return 1 + Math.floor((padded - nFft) / hop);
}

/**
 * Short-time Fourier transform with librosa.stft's conventions: X[k, t] = sum_n w[n] x[t*hop + n
 * - nFft/2] e^{-2 pi i k n / nFft} with a periodic Hann window, frames centred (the signal padded
 * by nFft/2 on both sides with zeros or numpy-"reflect") or, with `center: false`, starting at
 * t*hop. One-sided: nFft/2 + 1 bins. `nFft` must be a power of two (fft.js).
 */
export function stft(x: Float32Array, opts: StftOptions): StftResult {
  const { nFft, hop } = opts;
  requirePowerOfTwo("nFft", nFft);
  requireInt("hop", hop, 1);
  requireOneOf("window", opts.window ?? "hann", ["hann"] as const);
  const padMode = requireOneOf("padMode", opts.padMode ?? "constant", ["constant", "reflect"]);
  const center = opts.center ?? true;
  if (x.length === 0) throw new AmssArgumentError("stft: x must not be empty");
  requireFiniteSamples("stft: x", x);
  const n = x.length;
  const frames = stftFrameCount(n, nFft, hop, center);
  const bins = nFft / 2 + 1;
  const offset = center ? nFft / 2 : 0;
  const win = hannPeriodic(nFft);
  const fft = new FFT(nFft);
  const frame = new Float64Array(nFft);
  const spec = new Float64Array(2 * nFft);
  const re = new Float32Array(bins * frames);
  const im = new Float32Array(bins * frames);
  for (let t = 0; t < frames; t++) {
    const start = t * hop - offset;
    for (let i = 0; i < nFft; i++) {
      let j = start + i;
      if (j < 0 || j >= n) {
        if (padMode === "constant") {
          frame[i] = 0;
          continue;
        }
        j = reflectIndex(j, n);
      }
      frame[i] = x[j] * win[i];
    }
    fftFrame(fft, frame, spec, nFft);
    for (let k = 0; k < bins; k++) {
      re[k * frames + t] = spec[2 * k];
      im[k * frames + t] = spec[2 * k + 1];
    }
  }
  return { frames, bins, re, im };
}

/** Real FFT of `frame` into interleaved `spec`; bins 0..n/2 are valid afterwards. */
function fftFrame(fft: FftInstance, frame: Float64Array, spec: Float64Array, n: number): void {
  fft.realTransform(spec, frame);
  // fft.js fills the left half of the spectrum; set the Nyquist bin explicitly (its real part is
  // the alternating sum, imaginary part zero) so we do not depend on whether that slot is filled.
  let nyq = 0;
  for (let i = 0; i < n; i += 2) nyq += frame[i] - frame[i + 1];
  spec[n] = nyq;
  spec[n + 1] = 0;
}

// ------------------------------------------------------------------------------------------------
// scipy.signal.spectrogram

const LOG_EPS = 1e-7;

/** Options of {@link scipyPsd} / {@link spectrogramScipy}. */
export interface ScipySpectrogramOptions {
  nperseg: number;
  noverlap: number;
  fs: number;
}

/** A real spectrogram laid out [bins, frames]: `data[k * frames + t]`. */
export interface Spectrogram {
  bins: number;
  frames: number;
  data: Float32Array;
}

/**
 * scipy.signal.spectrogram(x, fs, nperseg, noverlap) with its defaults: periodic Tukey(0.25)
 * window, detrend "constant" (segment mean removed), no boundary padding, nfft = nperseg,
 * scaling "density" (|X|^2 / (fs * sum w^2)), mode "psd", one-sided with bins 1..nfft/2-1
 * doubled. `nperseg` must be a power of two (fft.js). Returns the PSD, [bins, frames].
 */
export function scipyPsd(x: Float32Array, opts: ScipySpectrogramOptions): Spectrogram {
  const { nperseg, noverlap, fs } = opts;
  requirePowerOfTwo("nperseg", nperseg);
  requireInt("noverlap", noverlap, 0, nperseg - 1);
  if (!(Number.isFinite(fs) && fs > 0)) {
    throw new AmssArgumentError(`fs must be a finite number > 0, got ${fs}`);
  }
  requireFiniteSamples("spectrogram: x", x);
  const step = nperseg - noverlap;
  if (x.length < nperseg) {
    throw new AmssArgumentError(
      `spectrogram: ${x.length} samples is shorter than nperseg ${nperseg}`,
    );
  }
  const frames = 1 + Math.floor((x.length - nperseg) / step);
  const bins = nperseg / 2 + 1;
  const win = tukeyPeriodic(nperseg, 0.25);
  let wss = 0;
  for (let i = 0; i < nperseg; i++) wss += win[i] * win[i];
  const scale = 1 / (fs * wss);
  const fft = new FFT(nperseg);
  const frame = new Float64Array(nperseg);
  const spec = new Float64Array(2 * nperseg);
  const data = new Float32Array(bins * frames);
  for (let t = 0; t < frames; t++) {
    const start = t * step;
    let mean = 0;
    for (let i = 0; i < nperseg; i++) mean += x[start + i];
    mean /= nperseg;
    for (let i = 0; i < nperseg; i++) frame[i] = (x[start + i] - mean) * win[i];
    fftFrame(fft, frame, spec, nperseg);
    for (let k = 0; k < bins; k++) {
      const p = (spec[2 * k] ** 2 + spec[2 * k + 1] ** 2) * scale;
      data[k * frames + t] = k === 0 || k === bins - 1 ? p : 2 * p;
    }
  }
  return { bins, frames, data };
}

/**
 * The Kinetics-Sounds front end: {@link scipyPsd}, then log(S + 1e-7), then per-clip
 * standardisation (S - mean) / (std + 1e-9) over all bins and frames (population std). With
 * nperseg 512 / noverlap 353, 160,000 samples give 257 x 1004 (`KS_SPEC_SHAPE` of
 * ./kinetics_sounds.ts).
 */
export function spectrogramScipy(x: Float32Array, opts: ScipySpectrogramOptions): Spectrogram {
  const psd = scipyPsd(x, opts);
  const v = new Float64Array(psd.data.length);
  let mean = 0;
  for (let i = 0; i < v.length; i++) {
    v[i] = Math.log(psd.data[i] + LOG_EPS);
    mean += v[i];
  }
  mean /= v.length;
  // second-pass correction of the mean (exact for a constant array, e.g. a silent clip)
  let corr = 0;
  for (let i = 0; i < v.length; i++) corr += v[i] - mean;
  mean += corr / v.length;
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += (v[i] - mean) ** 2;
  const std = Math.sqrt(ss / v.length);
  const data = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) data[i] = (v[i] - mean) / (std + 1e-9);
  return { bins: psd.bins, frames: psd.frames, data };
}
