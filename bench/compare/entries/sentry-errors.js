// @sentry/browser, errors only: Sentry.init with a DSN and its default integrations (global
// error/rejection handlers, click and console breadcrumbs, wrapped browser APIs, dedupe, session).
import { init, getClient } from "@sentry/browser";

export function start({ origin, path }) {
  const host = origin.replace("http://", "");
  // DSN http://KEY@HOST/PATH/PROJECT -> events go to http://HOST/PATH/api/PROJECT/envelope/
  init({ dsn: `http://0123456789abcdef@${host}${path}/1`, release: "bench@1.0.0", environment: "bench" });
}

export function check() {
  if (!getClient()) throw new Error("no Sentry client after init");
  return "client ready";
}
