// plausible-tracker: automatic page views (initial and History API), the floor for page views
// alone. No clicks (outbound-link tracking is off), no errors.
import Plausible from "plausible-tracker";

let cleanup = null;
export function start({ origin, path }) {
  const p = Plausible({ domain: "bench.example", apiHost: `${origin}${path}`, trackLocalhost: true });
  cleanup = p.enableAutoPageviews();
}

export function check() {
  if (typeof cleanup !== "function") throw new Error("enableAutoPageviews did not start");
  return "auto page views on";
}
