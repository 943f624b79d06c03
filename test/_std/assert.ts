/**
 * The subset of `@std/assert` (JSR) that our tests use, with the same names and semantics.
 *
 * JSR is unreachable on our machines and in CI, so `deno.json` maps the bare specifier
 * `@std/assert` to this file. Where JSR is reachable, replace that mapping with
 * `"@std/assert": "jsr:@std/assert@1"` and every test runs unchanged against the real module.
 *
 * Written here rather than vendored: @std/assert is only published on JSR, and its npm mirror
 * (`@jsr/std__assert`) is served from JSR's registry, which we cannot reach either.
 *
 * @module
 */

/** Error thrown by every assertion in this module (same name as @std/assert's). */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function fmt(v: unknown): string {
  try {
    return Deno.inspect(v, { depth: 6, colors: false, strAbbreviateSize: 200, iterableLimit: 40 });
  } catch {
    return String(v);
  }
}

function suffix(msg?: string): string {
  return msg ? `: ${msg}` : "";
}

/** Deep structural equality, as @std/assert's `equal`: NaN equals NaN, typed arrays by element. */
export function equal(a: unknown, b: unknown): boolean {
  const seen = new Map<unknown, unknown>();
  function eq(x: unknown, y: unknown): boolean {
    if (Object.is(x, y)) return true;
    if (typeof x === "number" && typeof y === "number") return x === y; // +0 === -0
    if (x === null || y === null || typeof x !== "object" || typeof y !== "object") return false;
    if (seen.get(x) === y) return true;
    seen.set(x, y);
    if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false;
    if (x instanceof Date && y instanceof Date) return x.getTime() === y.getTime();
    if (x instanceof RegExp && y instanceof RegExp) return String(x) === String(y);
    if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) {
      const xa = x as unknown as ArrayLike<unknown>;
      const ya = y as unknown as ArrayLike<unknown>;
      if (xa.length !== ya.length) return false;
      for (let i = 0; i < xa.length; i++) if (!eq(xa[i], ya[i])) return false;
      return true;
    }
    if (x instanceof Map && y instanceof Map) {
      if (x.size !== y.size) return false;
      for (const [k, v] of x) if (!y.has(k) || !eq(v, y.get(k))) return false;
      return true;
    }
    if (x instanceof Set && y instanceof Set) {
      if (x.size !== y.size) return false;
      for (const v of x) if (!y.has(v)) return false;
      return true;
    }
    const xk = Object.keys(x as object);
    const yk = Object.keys(y as object);
    if (xk.length !== yk.length) return false;
    for (const k of xk) {
      if (!Object.prototype.hasOwnProperty.call(y, k)) return false;
      if (!eq((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k])) return false;
    }
    return true;
  }
  return eq(a, b);
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected expression to be truthy");
}

/** Asserts that `expr` is falsy. */
export function assertFalse(expr: unknown, msg = ""): void {
  if (expr) throw new AssertionError(msg || "Expected expression to be falsy");
}

/** Deep equality. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) {
    throw new AssertionError(
      `Values are not equal${suffix(msg)}\n  actual:   ${fmt(actual)}\n  expected: ${
        fmt(expected)
      }`,
    );
  }
}

/** Deep inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) {
    throw new AssertionError(
      `Expected actual: ${fmt(actual)} not to be: ${fmt(expected)}${suffix(msg)}`,
    );
  }
}

/** Same value by `Object.is`. */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(
      `Values are not strictly equal${suffix(msg)}\n  actual:   ${fmt(actual)}\n  expected: ${
        fmt(expected)
      }`,
    );
  }
}

/**
 * |actual - expected| <= tolerance, default tolerance 1e-7 (as @std/assert). Infinities of the
 * same sign are equal; NaN never equals anything here.
 */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (delta <= tolerance) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to be close to "${expected}": delta "${delta}" is greater than "${tolerance}"${
      suffix(msg)
    }`,
  );
}

/** actual > expected. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual > expected)) {
    throw new AssertionError(msg || `Expect ${fmt(actual)} > ${fmt(expected)}`);
  }
}

/** actual >= expected. */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual >= expected)) {
    throw new AssertionError(msg || `Expect ${fmt(actual)} >= ${fmt(expected)}`);
  }
}

/** actual < expected. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual < expected)) {
    throw new AssertionError(msg || `Expect ${fmt(actual)} < ${fmt(expected)}`);
  }
}

/** actual <= expected. */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual <= expected)) {
    throw new AssertionError(msg || `Expect ${fmt(actual)} <= ${fmt(expected)}`);
  }
}

/** Value is neither null nor undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    throw new AssertionError(msg || `Expected actual: "${actual}" to not be null or undefined.`);
  }
}

/** `actual` includes `expected` as a substring. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(
      `Expected actual: "${actual}" to contain: "${expected}"${suffix(msg)}`,
    );
  }
}

/** `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (!expected.test(actual)) {
    throw new AssertionError(`Expected actual: "${actual}" to match: "${expected}"${suffix(msg)}`);
  }
}

/** `value` is an instance of `type`. */
// deno-lint-ignore no-explicit-any
export function assertInstanceOf<T extends abstract new (...args: any[]) => any>(
  actual: unknown,
  expectedType: T,
  msg = "",
): asserts actual is InstanceType<T> {
  if (!(actual instanceof expectedType)) {
    throw new AssertionError(
      msg || `Expected object to be an instance of "${expectedType.name}" but was ${fmt(actual)}`,
    );
  }
}

/** Always throws: marks a code path that must not be reached. */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${suffix(msg)}`);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

function checkError<E extends Error>(
  e: unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): void {
  if (ErrorClass) {
    if (!(e instanceof Error)) {
      throw new AssertionError(`A non-Error object was thrown${suffix(msg)}: ${fmt(e)}`);
    }
    if (!(e instanceof ErrorClass)) {
      throw new AssertionError(
        `Expected error to be instance of "${ErrorClass.name}", but was "${e.constructor.name}"${
          suffix(msg)
        }: ${e.message}`,
      );
    }
  }
  if (msgIncludes !== undefined) {
    const text = e instanceof Error ? e.message : String(e);
    if (!text.includes(msgIncludes)) {
      throw new AssertionError(
        `Expected error message to include ${JSON.stringify(msgIncludes)}, but got ${
          JSON.stringify(text)
        }${suffix(msg)}`,
      );
    }
  }
}

/** Asserts that `fn` throws; optionally of class `ErrorClass` with a message containing `msgIncludes`. Returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E {
  let thrown = false;
  let err: unknown;
  try {
    fn();
  } catch (e) {
    thrown = true;
    err = e;
  }
  if (!thrown) throw new AssertionError(`Expected function to throw${suffix(msg)}`);
  checkError(err, ErrorClass, msgIncludes, msg);
  return err as E;
}

/** Asserts that the promise returned by `fn` rejects, like {@link assertThrows}. Returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E> {
  let thrown = false;
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = true;
    err = e;
  }
  if (!thrown) throw new AssertionError(`Expected function to reject${suffix(msg)}`);
  checkError(err, ErrorClass, msgIncludes, msg);
  return err as E;
}
