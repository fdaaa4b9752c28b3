// @sentry/browser with tracing: the same as sentry-errors plus browserTracingIntegration
// (page-load and navigation spans, web vitals, INP, long tasks), every trace sampled.
import { init, getClient, browserTracingIntegration } from "@sentry/browser";

export function start({ origin, path }) {
  const host = origin.replace("http://", "");
  init({
    dsn: `http://0123456789abcdef@${host}${path}/1`,
    release: "bench@1.0.0",
    environment: "bench",
    integrations: [browserTracingIntegration()],
    tracesSampleRate: 1,
  });
}

export function check() {
  const c = getClient();
  if (!c) throw new Error("no Sentry client after init");
  if (!c.getIntegrationByName("BrowserTracing")) throw new Error("browserTracingIntegration not installed");
  return "client ready, BrowserTracing on";
}
