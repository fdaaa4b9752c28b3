// ferrotel: the npm package built into pkg/ (run.mjs resolves "ferrotel" to pkg/index.js); the
// wasm is fetched next to this bundle. Clicks, errors, page views and web vitals are on by default.
import { init, ready, sessionId } from "ferrotel";

export async function start({ path }) {
  // ferrotel takes an https:// URL or a same-origin path. `init` resolves once it captures; the
  // module loads in the background (check() waits for it, outside the timed part).
  await init({ endpoint: `${path}/v1/batch`, key: "pk_bench" });
}

export async function check() {
  await ready();
  const id = sessionId();
  if (!id) throw new Error("init resolved but sessionId() is empty");
  return `session ${id}`;
}
