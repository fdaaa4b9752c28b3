/** Options for {@link init}. Only `endpoint` and `key` are required. */
export interface FerrotelOptions {
  /** Ingest URL: absolute `https://…/v1/batch`, or a same-origin path such as `/v1/batch`. */
  endpoint: string;
  /** Public write key of the project (1–64 of `A-Z a-z 0-9 _ -`). */
  key: string;
  /** Fraction of sessions kept, 0–1 (default 1). Errors are always kept. */
  sampleRate?: number;
  /** How often pending events are sent, in ms, 100–600000 (default 5000). */
  flushIntervalMs?: number;
  /** Largest request body in bytes, 20000–65536 (default 32000). */
  maxBatchBytes?: number;
  /** Most events per request, 1–200 (default 100). */
  maxBatchEvents?: number;
  /** Send nothing when Do-Not-Track or Global Privacy Control is on (default true). */
  respectDoNotTrack?: boolean;
  /** Hold events in memory until `setConsent(true)` (default false). */
  requireConsent?: boolean;
  /** Query parameters kept in recorded URLs (names without commas); the ingest removes all others (default none). */
  allowQuery?: string[];
  /** Record clicks (default true). */
  captureClicks?: boolean;
  /** Record visible text of clicked elements, masked by the ingest (default true). */
  captureText?: boolean;
  /** Record uncaught errors, unhandled rejections and panics (default true). */
  captureErrors?: boolean;
  /** Record page views, SPA route changes and visible time (default true). */
  capturePageViews?: boolean;
  /** Record web vitals, navigation timing and long tasks (default true). */
  capturePerformance?: boolean;
  /** Distinct errors sent per session, 1–1000 (default 50); repeats are counted, not re-sent. */
  maxErrorsPerSession?: number;
  /** Have the ingest mask e-mail-like words (`[email]`) and numbers of 7 or more digits,
   *  counting digits joined by single spaces, dashes or dots (`[number]`: cards, phones, account
   *  numbers), in error messages before storing or forwarding them (default true). Shorter
   *  numbers such as status codes and years stay. */
  maskMessages?: boolean;
  /** The app's release, e.g. a version or commit; sent with every batch, forwarded as OTLP
   *  `service.version`. Up to 64 printable ASCII characters without quotes (default none). */
  release?: string;
  /** Where the app runs, e.g. `"production"`; sent with every batch, forwarded as OTLP
   *  `deployment.environment`. Same rules as `release` (default none). */
  environment?: string;
  /** Where to load `ferrotel_bg.wasm` from, if not next to the module. */
  wasmUrl?: string | URL;
}

/** Starts ferrotel: resolves as soon as it is capturing (what happens before the module runs is
 *  kept and recorded once it does). The module loads in the background: see `ready()`. Calling it
 *  again changes nothing. */
export function init(options: FerrotelOptions): Promise<void>;
/** Resolves once the module runs with the options given to `init`; rejects with one Error naming
 *  the first invalid option (also logged with console.error), or when the module cannot load. */
export function ready(): Promise<void>;
/** Records a custom event. */
export function track(name: string, attrs?: Record<string, string | number | boolean>): void;
/** Sends pending events now. */
export function flush(): void;
/** Grants or refuses consent when `requireConsent` is set. */
export function setConsent(granted: boolean): void;
/** The current session id (32 hex digits), or undefined before the module runs (`ready()`). */
export function sessionId(): string | undefined;
/** Delivery and capture counters. */
export interface FerrotelStats {
  /** Batches handed to `sendBeacon` (the page was being hidden). */
  beacons: number;
  /** Requests made with `fetch` (first sends and retries). */
  fetches: number;
  /** Batches the ingest answered 2xx. */
  deliveredBatches: number;
  /** Batches the ingest refused for good (a 4xx other than 408/429), and their events. */
  rejectedBatches: number;
  rejectedEvents: number;
  /** Batches given up (out of attempts, or over the retry queue's bounds), and their events. */
  droppedBatches: number;
  droppedEvents: number;
  /** Distinct errors not sent because `maxErrorsPerSession` was reached. */
  errorsOverCap: number;
}
/** Delivery and capture counters, or undefined before the module runs (`ready()`). */
export function stats(): FerrotelStats | undefined;
