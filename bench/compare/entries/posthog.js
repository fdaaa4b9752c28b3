// posthog-js: page views and autocapture (clicks) on, exception autocapture on; everything goes
// to the local sink (api_host) and lazily loaded extensions come from the package's own dist/
// through the local server (asset_host). Session recording, surveys, web experiments and
// conversations are off: they would load more code.
import posthog from "posthog-js";

export function start({ origin, path, assets }) {
  posthog.init("phc_bench0000000000000000000000000000000000", {
    api_host: `${origin}${path}`,
    asset_host: `${origin}${assets}`,
    autocapture: true,
    capture_pageview: true,
    capture_exceptions: true,
    disable_session_recording: true,
    disable_surveys: true,
    disable_web_experiments: true,
    disable_conversations: true,
    disable_product_tours: true,
    person_profiles: "identified_only",
    // Automated Chromium sets navigator.webdriver, which PostHog treats as a bot and drops every
    // event of; this is the option PostHog names for end-to-end tests.
    opt_out_useragent_filter: true,
  });
}

export function check() {
  if (!posthog.__loaded) throw new Error("posthog.__loaded is false after init");
  return `distinct id ${posthog.get_distinct_id()}`;
}
