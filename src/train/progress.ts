/**
 * What a run prints while it trains (`TrainConfig.progress`): {@link Progress} writes a live line
 * on a terminal, periodic lines otherwise, or nothing, and {@link fmtMap} / {@link fmtLog} format
 * the per-modality figures and the method's log of an epoch line. Display only: nothing here
 * changes what a run computes or records.
 *
 * @module
 */
import type { TrainConfig } from "./types.ts";

/** The run's progress output, in the mode `TrainConfig.progress` asks for. */
export class Progress {
  #mode: "tty" | "plain" | "none";
  #last = 0;
  /** `auto` (or none given): a live line on a terminal, periodic lines otherwise. */
  constructor(mode: TrainConfig["progress"]) {
    this.#mode = mode === "auto" || mode === undefined
      ? (Deno.stdout.isTerminal() ? "tty" : "plain")
      : mode;
  }
  /**
   * A step's line: rewritten in place (tty), or printed once a quarter of an epoch has passed
   * since the last one printed (plain).
   */
  step(text: string, frac: number): void {
    if (this.#mode === "tty") {
      Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${text}`));
    } else if (this.#mode === "plain" && (frac - this.#last >= 0.25 || frac < this.#last)) {
      this.#last = frac;
      console.log(text);
    }
  }
  /** A line that stays (an epoch's metrics, a skipped sample, a resume). */
  line(text: string): void {
    if (this.#mode === "none") return;
    if (this.#mode === "tty") Deno.stdout.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    console.log(text);
  }
}

/** `name value` pairs, three decimals, e.g. `audio 0.812 visual 0.455`. */
export const fmtMap = (r: Record<string, number>): string =>
  Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(" ");
/** A method's log as `key value` pairs: numbers to three decimals, arrays in brackets, nested. */
export const fmtLog = (r: Record<string, unknown>): string =>
  Object.entries(r).map(([k, v]): string =>
    `${k} ${
      typeof v === "number"
        ? v.toFixed(3)
        : Array.isArray(v)
        ? `[${v.join(",")}]`
        : v && typeof v === "object"
        ? fmtLog(v as Record<string, unknown>)
        : String(v)
    }`
  ).join(" ");
