//! The wire schema, declared once: the enums that travel by name, the envelope's schema fields
//! and every event kind with its fields.
//!
//! From these declarations come (see [`super::fields`] for how): the [`EventKind`] enum and
//! [`NavTiming`], the wire names ([`EventKind::TYPES`], also the Worker's `SAMPLE_RATES` keys),
//! the browser's encoder, the edge's decoder and validator, the OTLP attributes and their
//! inverse for the D1 projection, and the README's "Wire schema" table ([`markdown`]).
//!
//! A field is declared as
//!
//! ```text
//! /// Meaning (rustdoc and the README table).
//! rust_name: Type = "wire_name" [=> "otlp.key"], presence [, rule]* ;
//! ```
//!
//! where presence is `required`, `optional` (absent is the type's default), `default(value)`,
//! `derived(expression over earlier fields)` (the SDK does not send it; the edge computes it
//! when absent) or `edge(value)` (the SDK does not send it; the edge sets it, and takes it as
//! sent from older SDKs, absent being `value`), and the rules are `max(bytes)` (strings),
//! `non_negative` (numbers), `nonzero` (hex ids) and `min(n)` (integers). An event field's OTLP
//! key is its kind's `otlp` prefix and wire name unless given. The JSON form follows the type:
//! `String`, `f64`, `i32`, `u32`, `u64` (16 hex digits), an enum declared with `label_enum!`, or
//! the custom attributes' `Vec<(String, AttrValue)>`.
//!
//! Envelope fields (`resource`) are declared the same way, always with their OTLP resource
//! attribute key; the SDK fills them from the `Config` fields of the same name and sends them in
//! the batch header only when set (a `default(..)` field: only when not its default).

use super::event::limits::{LABEL, MESSAGE, NAME, NAV_ENTRY, SELECTOR, STACK, TEXT, URL};
use super::event::AttrValue;
use super::fields::{label_enum, wire_schema};
use super::nav::NavEntryJson;

label_enum! {
    /// How a page view started.
    pub enum ViewCause ("must be load, route, popstate or restore") {
        /// The document loaded.
        Load = "load",
        /// `history.pushState` / `replaceState` changed the route.
        Route = "route",
        /// Back/forward (`popstate`).
        Pop = "popstate",
        /// The page came back from the back/forward cache (`pageshow` with `persisted`).
        Restore = "restore",
    }
}

label_enum! {
    /// Where a captured error came from.
    pub enum ErrorSource ("must be error, unhandledrejection, panic or manual") {
        /// A `window` `error` event (uncaught exception).
        Error = "error",
        /// An `unhandledrejection` event.
        Rejection = "unhandledrejection",
        /// A Rust panic inside the SDK or the host's wasm.
        Panic = "panic",
        /// Reported by the app through the API.
        Manual = "manual",
    }
}

label_enum! {
    /// A web-vital metric.
    pub enum Metric ("must be one of LCP, INP, CLS, FCP, TTFB") {
        /// Largest Contentful Paint (ms).
        Lcp = "LCP",
        /// Interaction to Next Paint (ms).
        Inp = "INP",
        /// Cumulative Layout Shift (unitless).
        Cls = "CLS",
        /// First Contentful Paint (ms).
        Fcp = "FCP",
        /// Time to First Byte (ms).
        Ttfb = "TTFB",
    }
}

label_enum! {
    /// A web-vital rating against the web.dev thresholds.
    pub enum Rating ("must be good, needs-improvement or poor") {
        /// At or under the "good" threshold.
        Good = "good",
        /// Between the two thresholds.
        NeedsImprovement = "needs-improvement",
        /// Over the "poor" threshold.
        Poor = "poor",
    }
}

wire_schema! {
    resource {
        /// The app's release (`init({ release })`), e.g. a version or commit.
        release: String = "release" => "service.version", optional, max(LABEL);
        /// Where the app runs (`init({ environment })`), e.g. `production` or `staging`.
        environment: String = "environment" => "deployment.environment", optional, max(LABEL);
        /// `false` when the app turned masking off (`init({ maskMessages: false })`): the edge
        /// then keeps error messages as sent (it still scrubs URLs in them). Sent only when
        /// `false`.
        mask_messages: bool = "mask_messages" => "ferrotel.mask_messages", default(true);
        /// The query parameters kept in page URLs and referrers (`init({ allowQuery })`): the
        /// edge scrubs every event's `url` and a page view's `referrer` with it before anything
        /// is stored or forwarded. Sent only when set.
        allow_query: Vec<String> = "allow_query" => "ferrotel.allow_query", optional, max(URL);
    }
    events {
        /// A page or SPA screen became current.
        PageView = "page_view", otlp "ferrotel." {
            /// The referrer (empty when none), scrubbed at the edge like `url`.
            referrer: String = "referrer", optional, max(URL);
            /// Why the view started.
            cause: ViewCause = "cause", default(ViewCause::Load);
        }
        /// Visible time spent on a screen since the last report for it (summed downstream).
        ScreenTime = "screen_time", otlp "ferrotel." {
            /// The id of the `page_view` event this time belongs to.
            view: u64 = "view", required, nonzero;
            /// Milliseconds the screen was visible.
            visible_ms: f64 = "visible_ms", required, non_negative;
        }
        /// A click anywhere in the document.
        Click = "click", otlp "ferrotel." {
            /// A CSS selector path to the element (id / classes / nth-of-type).
            selector: String = "selector", optional, max(SELECTOR);
            /// Lower-case tag name.
            tag: String = "tag", optional, max(NAME);
            /// Visible text (never an input value), truncated; masked at the edge (digits become
            /// `*`, words with an `@` `***`, whitespace runs one space) before it is stored or
            /// forwarded.
            text: String = "text", optional, max(TEXT);
            /// Viewport x coordinate in CSS pixels.
            x: i32 = "x", optional;
            /// Viewport y coordinate in CSS pixels.
            y: i32 = "y", optional;
        }
        /// A Core Web Vital (`browser.web_vital`).
        WebVital = "web_vital", otlp "browser.web_vital." {
            /// Which metric.
            name: Metric = "name", required;
            /// The metric value (ms, or unitless for CLS).
            value: f64 = "value", required, non_negative;
            /// Change since the last report of this metric id.
            delta: f64 = "delta", required;
            /// Unique per metric instance (per page load or bfcache restore).
            metric_id: String = "metric_id" => "browser.web_vital.id", optional, max(NAME);
            /// The value against the metric's thresholds (rated from `value` when absent).
            rating: Rating = "rating", derived(name.rating(value));
            /// How the page was reached.
            navigation_type: String = "navigation_type", optional, max(NAME);
        }
        /// Navigation timing of the document, in milliseconds (phase durations, not timestamps).
        NavTiming(NavTiming) = "nav_timing", otlp "ferrotel." {
            /// DNS lookup.
            dns: f64 = "dns", optional, non_negative;
            /// TCP connect (including TLS).
            tcp: f64 = "tcp", optional, non_negative;
            /// TLS handshake alone.
            tls: f64 = "tls", optional, non_negative;
            /// Request start to first response byte.
            ttfb: f64 = "ttfb", optional, non_negative;
            /// First to last response byte.
            download: f64 = "download", optional, non_negative;
            /// Navigation start to `domInteractive`.
            dom_interactive: f64 = "dom_interactive", optional, non_negative;
            /// Navigation start to `domContentLoadedEventEnd`.
            dom_content_loaded: f64 = "dom_content_loaded", optional, non_negative;
            /// Navigation start to `loadEventEnd` (0 if the page was left before load).
            load: f64 = "load", optional, non_negative;
            /// Bytes over the wire (0 when cached or cross-origin without Timing-Allow-Origin).
            transfer_size: f64 = "transfer_size", optional, non_negative;
            /// `navigate`, `reload`, `back-forward` or `prerender`.
            navigation_type: String = "navigation_type", optional, max(NAME);
        }
        /// The navigation timing entry as the browser read it: the edge's decoder turns it into
        /// the `nav_timing` event it stands for (`core::nav`), so it is never stored or forwarded.
        NavEntry = "nav_entry", otlp "ferrotel." {
            /// The `PerformanceNavigationTiming` entry's numbers and `type`, as JSON text.
            entry: NavEntryJson = "entry", required, max(NAV_ENTRY);
        }
        /// A main-thread task longer than 50 ms.
        LongTask = "long_task", otlp "ferrotel." {
            /// Start, ms since navigation start.
            start: f64 = "start", required, non_negative;
            /// Duration in ms.
            duration: f64 = "duration", required, non_negative;
        }
        /// An uncaught error, unhandled rejection or panic.
        Error = "error", otlp "ferrotel." {
            /// Where it came from.
            source: ErrorSource = "source", default(ErrorSource::Error);
            /// The exception's type, e.g. `TypeError`.
            kind: String = "exception.type" => "exception.type", optional, max(NAME);
            /// The exception's message, as thrown; the edge scrubs URLs in it and masks it
            /// (unless the envelope's `mask_messages` is `false`) before it is stored or
            /// forwarded.
            message: String = "exception.message" => "exception.message", required, max(MESSAGE);
            /// The raw stack trace; the edge scrubs URLs in it, masks its copy of the message
            /// (V8) and parses its frames. Repeats carry it again.
            stack: String = "exception.stacktrace" => "exception.stacktrace", optional, max(STACK);
            /// Groups errors: computed at the edge from the type, the masked message and the
            /// first frame's location (`stack::fingerprint`); older SDKs sent it themselves.
            fingerprint: u64 = "fingerprint", edge(0);
            /// How many occurrences this event stands for.
            count: u32 = "count", default(1), min(1);
        }
        /// An app-defined event from `track(name, attrs)`.
        Custom = "custom", otlp "ferrotel." {
            /// Event name.
            name: String = "name", required, max(NAME);
            /// Flat attributes.
            attrs: Vec<(String, AttrValue)> = "attrs" => "ferrotel.attr.", optional;
        }
        /// A browser report (the Reporting API's `csp-violation`, `deprecation`, `intervention`,
        /// `crash` or `network-error`, or a legacy CSP `report-uri` report), made by the Worker
        /// from `POST /v1/reports` with every URL scrubbed; the SDK never sends one, and a batch
        /// that does has it dropped. The event's `url` is the report's (the page, or for
        /// `network-error` the failed request), `t` is receipt minus the report's `age`.
        #[cfg(any(feature = "edge", not(target_arch = "wasm32")))]
        Report = "report", otlp "browser.report." {
            /// The report's type: `csp-violation` (legacy `report-uri` reports too),
            /// `deprecation`, `intervention`, `crash` or `network-error`.
            report_type: String = "report_type" => "browser.report.type", required, max(NAME);
            /// CSP: the directive that was violated, e.g. `script-src-elem`.
            directive: Option<String> = "effective_directive", optional, max(NAME);
            /// CSP: `enforce`, or `report` for a report-only policy.
            disposition: Option<String> = "disposition", optional, max(NAME);
            /// CSP: the blocked resource, scrubbed like every URL (or a keyword such as
            /// `inline` or `eval`).
            blocked_url: Option<String> = "blocked_url", optional, max(URL);
            /// CSP, deprecation, intervention: the script where it happened (scrubbed).
            source_file: Option<String> = "code.file.path" => "code.file.path", optional, max(URL);
            /// Line in `code.file.path`.
            line: Option<u32> = "code.line.number" => "code.line.number", optional;
            /// Column in `code.file.path`.
            column: Option<u32> = "code.column.number" => "code.column.number", optional;
            /// CSP, network-error: the referrer (scrubbed).
            referrer: Option<String> = "referrer", optional, max(URL);
            /// Deprecation, intervention: the feature's id.
            feature: Option<String> = "feature", optional, max(NAME);
            /// Deprecation, intervention: the browser's message (URLs in it scrubbed).
            message: Option<String> = "message", optional, max(MESSAGE);
            /// Crash: why (`oom`, `unresponsive`).
            reason: Option<String> = "reason", optional, max(NAME);
            /// CSP: the document's HTTP status; network-error: the response's (0: none).
            status_code: Option<u32> = "http.response.status_code" => "http.response.status_code", optional;
            /// Network-error: the phase that failed (`dns`, `connection`, `application`).
            phase: Option<String> = "phase", optional, max(NAME);
            /// Network-error: what happened, e.g. `tcp.timed_out`, `http.error`, `ok`.
            error_type: Option<String> = "error.type" => "error.type", optional, max(NAME);
            /// Network-error: milliseconds from the request's start to the failure or response.
            elapsed_ms: Option<f64> = "elapsed_ms", optional, non_negative;
            /// Network-error: the request method.
            method: Option<String> = "http.request.method" => "http.request.method", optional, max(NAME);
            /// Network-error: the protocol, e.g. `h2`, `http/1.1`.
            protocol: Option<String> = "network.protocol.name" => "network.protocol.name", optional, max(NAME);
            /// Network-error: the server's address (the site's server, not the visitor's).
            server_ip: Option<String> = "server.address" => "server.address", optional, max(NAME);
            /// Network-error: the NEL policy's sampling fraction this report was kept at.
            sampling_fraction: Option<f64> = "sampling_fraction", optional, non_negative;
        }
    }
}
