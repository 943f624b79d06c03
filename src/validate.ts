/**
 * Argument checks shared by the library. Every check throws an error that names the argument and
 * says what was expected, so bad input never turns into a silent NaN further down.
 *
 * @module
 */

/** Error for an argument outside its allowed domain (wrong value, right type). */
export class AmssArgumentError extends RangeError {
  /** An error whose `message` names the argument, its value and what was expected. */
  constructor(message: string) {
    super(message);
    this.name = "AmssArgumentError";
  }
}

/** Throws unless `x` is a finite number. */
export function requireFinite(name: string, x: number): number {
  if (typeof x !== "number" || !Number.isFinite(x)) {
    throw new AmssArgumentError(`${name} must be a finite number, got ${x}`);
  }
  return x;
}

/** Throws unless `x` is a finite number > 0. */
export function requirePositive(name: string, x: number): number {
  requireFinite(name, x);
  if (!(x > 0)) throw new AmssArgumentError(`${name} must be > 0, got ${x}`);
  return x;
}

/** Throws unless `x` is a finite number in [lo, hi] (closed) or (lo, hi] when `openLow`. */
export function requireInRange(
  name: string,
  x: number,
  lo: number,
  hi: number,
  openLow = false,
): number {
  requireFinite(name, x);
  if (openLow ? !(x > lo && x <= hi) : !(x >= lo && x <= hi)) {
    throw new AmssArgumentError(
      `${name} must be in ${openLow ? "(" : "["}${lo}, ${hi}], got ${x}`,
    );
  }
  return x;
}

/** Throws unless `x` is an integer in [lo, hi]. */
export function requireInt(
  name: string,
  x: number,
  lo: number,
  hi = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isInteger(x) || x < lo || x > hi) {
    throw new AmssArgumentError(`${name} must be an integer in [${lo}, ${hi}], got ${x}`);
  }
  return x;
}

/** Throws unless every entry of `xs` is finite and >= 0; returns their sum. */
export function requireNonNegativeVector(name: string, xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new AmssArgumentError(`${name} must not be empty`);
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (!Number.isFinite(v) || v < 0) {
      throw new AmssArgumentError(`${name}[${i}] must be finite and >= 0, got ${v}`);
    }
    s += v;
  }
  return s;
}

/** Throws unless `value` is one of `allowed`. */
export function requireOneOf<T extends string>(
  name: string,
  value: string,
  allowed: readonly T[],
): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new AmssArgumentError(
      `${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value as T;
}

/** Lists names for an error message (the first 12, then how many more). */
export function listNames(names: readonly string[]): string {
  if (names.length === 0) return "(none)";
  const head = names.slice(0, 12).join(", ");
  return names.length > 12 ? `${head}, ... (${names.length - 12} more)` : head;
}

/** A short description of a value for an error message. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") {
    const shape = (v as { shape?: unknown }).shape;
    if (Array.isArray(shape) && "dtype" in v) return `a tensor of shape [${shape}]`;
    return `an object with keys ${listNames(Object.keys(v))}`;
  }
  return `${typeof v} ${String(v)}`;
}
