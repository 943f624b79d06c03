/**
 * Atomic file writes: write to a temporary name in the destination folder, then rename over the
 * target (rename is atomic within a filesystem), so an interrupted run never leaves a half-written
 * results file.
 *
 * @module
 */

/**
 * Writes `data` to `path` atomically: the bytes go to a temporary file in the same folder
 * (`.NAME.PID.RANDOM.tmp`), are flushed to disk, and the temporary file is renamed over `path`.
 * Needs read and write permission on the folder (Deno's rename requires both).
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const tmp = `${dir}/.${path.slice(slash + 1)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** Writes `value` as pretty JSON to `path` atomically. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}
