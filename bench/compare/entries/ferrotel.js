// ferrotel: the npm package built into pkg/ (run.mjs resolves "ferrotel" to pkg/index.js); the
// wasm is fetched next to this bundle. Clicks, errors, page views and web vitals are on by default.
import { init, sessionId } from "ferrotel";

export async function start({ path }) {
  // ferrotel takes an https:// URL or a same-origin path.
  await init({ endpoint: `${path}/v1/batch`, key: "pk_bench" });
}

export function check() {
  const id = sessionId();
  if (!id) throw new Error("init resolved but sessionId() is empty");
  return `session ${id}`;
}
