// Writes the corpus files that are large or binary, deterministically (no randomness, no clock):
// the static cases are committed as they are; these are rebuilt on demand by the replay tests
// (tests/corpus.rs and worker/test/corpus.test.mjs). Files over 100 KB are listed in .gitignore.
//
//   node tests/corpus/generate.mjs            # writes any missing file
//   node tests/corpus/generate.mjs --force    # rewrites all of them
import { existsSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const DIR = path.dirname(fileURLToPath(import.meta.url));

const SESSION = "0123456789abcdef0123456789abcdef";

/** A valid click event (the same one tests/core_wire.rs uses), with id `n` and extra fields. */
export function click(n = 0xaa, extra = "") {
  const id = n.toString(16).padStart(16, "0");
  return `{"id":"${id}","t":1764000000000,"type":"click","url":"https://x.test/","selector":"#buy","tag":"button","text":"Buy","x":1,"y":2${extra}}`;
}

/** A valid envelope around already-encoded events. */
export function body(events) {
  return `{"v":1,"key":"pk_demo","sdk":{"name":"ferrotel","version":"0.1.0"},"session":"${SESSION}","sent_at":1764000000000,"events":[${events}]}`;
}

const range = (n) => Array.from({ length: n }, (_, i) => i + 1);

function utf16(s, littleEndian) {
  const b = Buffer.alloc(2 + s.length * 2);
  b.writeUInt16BE(littleEndian ? 0xfffe : 0xfeff, 0); // FF FE (LE) or FE FF (BE)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (littleEndian) b.writeUInt16LE(c, 2 + i * 2);
    else b.writeUInt16BE(c, 2 + i * 2);
  }
  return b;
}

/** `text` with the first occurrence of `marker` replaced by raw `bytes`. */
function splice(text, marker, bytes) {
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`marker ${marker} not found`);
  return Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at + marker.length))]);
}

/** Every generated file: name -> () => Buffer | string. */
export const FILES = {
  // 10 MiB of "a" in one string (the URL): refused on size before any parsing.
  "string-10mb.json": () => body(click(0xaa).replace('"https://x.test/"', `"https://x.test/${"a".repeat(10 * 1024 * 1024)}"`)),
  // 10,000 valid events (about 1.5 MB).
  "events-10000.json": () => body(range(10000).map((i) => click(i)).join(",")),
  // One event over the limit of 200 (about 30 KB, under the byte limit).
  "events-201.json": () => body(range(201).map((i) => click(i)).join(",")),
  // 10,000 levels of `[` and nothing else.
  "deep-10000-brackets.json": () => "[".repeat(10000),
  // 100 valid events with 600-byte URLs: about 76 KB, valid apart from its size.
  "over-64k-valid.json": () =>
    body(range(100).map((i) => click(i).replace('"https://x.test/"', `"https://x.test/${"p".repeat(600)}"`)).join(",")),
  // A lone 0xFF byte (never valid UTF-8) inside the click text.
  "invalid-utf8-ff.bin": () => splice(body(click()), "Buy", [0x42, 0xff, 0x79]),
  // CESU/WTF-8 surrogate half U+D800 (ED A0 80) inside the click text.
  "invalid-utf8-surrogate.bin": () => splice(body(click()), "Buy", [0xed, 0xa0, 0x80]),
  // An overlong encoding of "/" (C0 AF) inside the URL.
  "invalid-utf8-overlong.bin": () => splice(body(click()), "x.test/", [0x78, 0x2e, 0x74, 0x65, 0x73, 0x74, 0xc0, 0xaf]),
  // A UTF-8 sequence cut short (E2 82 without its last byte) at the end of the click text.
  "invalid-utf8-truncated-seq.bin": () => splice(body(click()), "Buy", [0x42, 0x75, 0x79, 0xe2, 0x82]),
  // A raw NUL byte (an unescaped control character) inside the click text.
  "raw-nul-in-string.bin": () => splice(body(click()), "Buy", [0x42, 0x00, 0x79]),
  // A valid body behind a UTF-8 byte order mark (EF BB BF).
  "bom-utf8.bin": () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body(click()))]),
  // A valid body encoded as UTF-16 with a byte order mark, little and big endian.
  "bom-utf16le.bin": () => utf16(body(click()), true),
  "bom-utf16be.bin": () => utf16(body(click()), false),
};

/** Writes the missing generated files (all of them with `force`); returns the names written. */
export function generate({ force = false, dir = DIR } = {}) {
  const written = [];
  for (const [name, make] of Object.entries(FILES)) {
    const file = path.join(dir, name);
    if (!force && existsSync(file)) continue;
    // Write then rename, so a concurrent reader (the Rust and the Worker replay) never sees half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, make());
    renameSync(tmp, file);
    written.push(name);
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const written = generate({ force: process.argv.includes("--force") });
  console.log(written.length ? `wrote ${written.join(", ")}` : "all generated corpus files present");
}
