/**
 * Runs before every test module (deno.json's "test" task passes `--preload test/_preload.ts`; each
 * test module runs in its own isolate and the preload runs in each): turns off tfjs's "Hi, looks
 * like you are running TensorFlow.js in Node.js..." banner, which the `cpu` backend would otherwise
 * print once per test module. Only that banner: other tfjs warnings stay on, and the `IS_TEST`
 * flag (which would also switch on tfjs's kernel memory-leak checks) stays off.
 */
import { silenceTfjsNodeBanner } from "../src/backend/hygiene.ts";

silenceTfjsNodeBanner();
