// Datadog RUM: datadogRum.init with user interactions (clicks), resources and long tasks, every
// session kept, no session replay; `proxy` sends all intake requests to the local sink.
import { datadogRum } from "@datadog/browser-rum";

export function start({ origin, path }) {
  datadogRum.init({
    applicationId: "00000000-0000-4000-8000-000000000000",
    clientToken: "pub00000000000000000000000000000000",
    site: "datadoghq.com",
    service: "bench",
    env: "bench",
    version: "1.0.0",
    proxy: `${origin}${path}`,
    sessionSampleRate: 100,
    sessionReplaySampleRate: 0,
    trackUserInteractions: true,
    trackResources: true,
    trackLongTasks: true,
    defaultPrivacyLevel: "mask-user-input",
  });
}

export function check() {
  if (!datadogRum.getInitConfiguration()) throw new Error("no init configuration after init");
  // The session is resolved asynchronously (session store lock): it may not exist yet.
  const ctx = datadogRum.getInternalContext();
  return ctx && ctx.session_id ? `session ${ctx.session_id}` : "initialised, session pending";
}
