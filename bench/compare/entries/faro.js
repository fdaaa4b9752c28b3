// Grafana Faro web SDK: initializeFaro with getWebInstrumentations() (user actions, errors, web
// vitals, session, views, navigation, performance, CSP, console), sending to the local sink.
import { initializeFaro, getWebInstrumentations, faro } from "@grafana/faro-web-sdk";

export function start({ origin, path }) {
  initializeFaro({
    url: `${origin}${path}/collect`,
    app: { name: "bench", version: "1.0.0", environment: "bench" },
    instrumentations: getWebInstrumentations(),
  });
}

export function check() {
  if (!faro.api) throw new Error("faro.api missing after initializeFaro");
  return `session ${faro.api.getSession()?.id ?? "?"}`;
}
