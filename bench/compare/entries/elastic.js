// Elastic APM RUM: init with a service name and the local sink as APM server. Page-load and
// user-interaction (click) transactions, errors, breakdown metrics.
import { init } from "@elastic/apm-rum";

let apm = null;
export function start({ origin, path }) {
  apm = init({ serviceName: "bench", serviceVersion: "1.0.0", environment: "bench", serverUrl: `${origin}${path}` });
}

export function check() {
  if (!apm || !apm.isActive()) throw new Error("apm not active after init");
  return "active";
}
