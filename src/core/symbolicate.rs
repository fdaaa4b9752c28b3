//! Symbolication, pure: uploaded source maps and WebAssembly name sections turn minified and
//! `wasm-function[N]` frames back into source file, line, column and function name. No I/O:
//! `src/edge/symbols.rs` stores uploads in D1 and loads them, through [`Cache`], for the queue
//! consumer, which rewrites every error record with [`apply`] before storing and forwarding.
//!
//! - **Uploads** ([`prepare_upload`]): a source map is parsed with the `sourcemap` crate
//!   (Sentry's), index maps flattened, `sourcesContent` dropped (the consumer never shows
//!   source), and stored re-serialized; a wasm module (`\0asm`) is parsed with `wasmparser` and
//!   only its function names are kept, demangled with `rustc-demangle`. Anything else is refused
//!   with a reason.
//! - **Keys**: the envelope's `release` and the file URL as it appears in stacks, without query
//!   or fragment ([`artifact_url`]); an upload may name `~/path` to match any origin
//!   ([`candidates`]). A wasm frame whose module URL is unknown (`wasm://wasm/<hash>` for modules
//!   compiled from bytes, Safari's `[wasm code]`) uses the release's only module, if it has one.
//! - **Frames**: a JS frame maps through the token at its position (same generated line only,
//!   as the `source-map` package does); its original function name is the name of the token at
//!   its caller's call site (the next frame), the heuristic Sentry's processor falls back to, or
//!   the engine's name when no caller names it. A wasm frame's function index becomes the
//!   demangled Rust name. Every frame says whether it was symbolicated and, when not, why.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{json, Value};
use sourcemap::{DecodedMap, RewriteOptions, SourceMap};

use super::stack::{self, Format};

/// The largest upload accepted (a source map with its sources, or a wasm module), bytes.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// The largest artifact stored after preparation (a map without `sourcesContent`, or a name
/// list): the consumer parses it inside a 128 MB isolate.
pub const MAX_STORED_BYTES: usize = 8 * 1024 * 1024;
/// Longest `release` and `url` of an upload, bytes (the wire's own limits).
pub const MAX_RELEASE_BYTES: usize = 64;
/// See [`MAX_RELEASE_BYTES`].
pub const MAX_URL_BYTES: usize = 2048;
/// Frames symbolicated per stack (the parser's own limit).
const MAX_FRAMES: usize = 100;

/// What an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A JavaScript source map.
    SourceMap,
    /// A WebAssembly module's function names.
    Wasm,
}

impl Kind {
    /// The name stored in D1's `artifacts.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SourceMap => "sourcemap",
            Kind::Wasm => "wasm",
        }
    }
}

/// An upload, checked and reduced to what is stored.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Source map or wasm names.
    pub kind: Kind,
    /// The stored text: the source map JSON without `sourcesContent`, or [`WasmNames::encode`].
    pub text: String,
    /// For the answer: what was found (`"3 sources, 1204 mappings"`, `"812 function names"`).
    pub summary: String,
}

/// Checks an upload and reduces it to what is stored; the error is a reason for a person.
pub fn prepare_upload(body: &[u8]) -> Result<Prepared, String> {
    if body.is_empty() {
        return Err("the body is empty: send the source map or the wasm module".into());
    }
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(format!("over {MAX_UPLOAD_BYTES} bytes"));
    }
    let prepared = if body.starts_with(b"\0asm") {
        let names = WasmNames::from_module(body)?;
        if names.is_empty() {
            return Err("the module has no function names (no `name` section): upload the build before its names are stripped (wasm-opt without -g, wasm-bindgen or wasm-strip drop them)".into());
        }
        Prepared {
            kind: Kind::Wasm,
            summary: format!("{} function names", names.len()),
            text: names.encode(),
        }
    } else {
        let map = parse_source_map(body)?;
        let mut out = Vec::new();
        map.to_writer(&mut out)
            .map_err(|e| format!("the source map cannot be written back: {e}"))?;
        Prepared {
            kind: Kind::SourceMap,
            summary: format!(
                "{} sources, {} mappings",
                map.get_source_count(),
                map.get_token_count()
            ),
            text: String::from_utf8(out).map_err(|e| e.to_string())?,
        }
    };
    if prepared.text.len() > MAX_STORED_BYTES {
        return Err(format!(
            "{} bytes once reduced, over the {MAX_STORED_BYTES} bytes kept per file",
            prepared.text.len()
        ));
    }
    Ok(prepared)
}

/// A source map from its JSON: a regular map, an index map (flattened) or a Hermes map, without
/// source contents. Refuses what has no mappings.
fn parse_source_map(body: &[u8]) -> Result<SourceMap, String> {
    let map = match sourcemap::decode_slice(body) {
        Ok(DecodedMap::Regular(sm)) => sm,
        Ok(DecodedMap::Index(ix)) => ix
            .flatten()
            .map_err(|e| format!("not a usable source map: index map: {e}"))?,
        Ok(DecodedMap::Hermes(h)) => (*h).clone(),
        Err(e) => {
            return Err(format!(
                "not a source map (JSON, version 3) or a wasm module: {e}"
            ))
        }
    };
    if map.get_token_count() == 0 {
        return Err("the source map has no mappings".into());
    }
    let options = RewriteOptions {
        with_source_contents: false,
        ..RewriteOptions::default()
    };
    map.rewrite(&options)
        .map_err(|e| format!("not a usable source map: {e}"))
}

/// A stored source map, read back (see [`prepare_upload`]).
pub fn load_source_map(text: &str) -> Result<SourceMap, String> {
    SourceMap::from_slice(text.as_bytes()).map_err(|e| e.to_string())
}

/// A wasm module's function names by function index (imports included, as in
/// `wasm-function[N]`), demangled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WasmNames {
    /// Sorted by index.
    names: Vec<(u32, String)>,
}

impl WasmNames {
    /// The `name` section's function names of a module; an error when the module cannot be read.
    pub fn from_module(module: &[u8]) -> Result<WasmNames, String> {
        use wasmparser::{Name, NameSectionReader, Parser, Payload};
        let mut names = Vec::new();
        for payload in Parser::new(0).parse_all(module) {
            let payload = payload.map_err(|e| format!("not a readable wasm module: {e}"))?;
            let Payload::CustomSection(c) = payload else {
                continue;
            };
            let wasmparser::KnownCustom::Name(reader) = c.as_known() else {
                continue;
            };
            let reader: NameSectionReader<'_> = reader;
            for name in reader {
                let Ok(Name::Function(map)) = name else {
                    continue;
                };
                for n in map {
                    let n = n.map_err(|e| format!("unreadable name section: {e}"))?;
                    names.push((n.index, demangle(n.name)));
                }
            }
        }
        names.sort_by_key(|(i, _)| *i);
        names.dedup_by_key(|(i, _)| *i);
        Ok(WasmNames { names })
    }

    /// How many functions are named.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no function is named.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of function `index`.
    pub fn get(&self, index: u32) -> Option<&str> {
        self.names
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .and_then(|at| self.names.get(at))
            .map(|(_, n)| n.as_str())
    }

    /// The stored form: one `index<TAB>name` line per function (names hold no tab or newline:
    /// those are replaced by spaces).
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(self.names.iter().map(|(_, n)| n.len() + 8).sum());
        for (i, n) in &self.names {
            s.push_str(&i.to_string());
            s.push('\t');
            s.extend(
                n.chars()
                    .map(|c| if c == '\t' || c == '\n' { ' ' } else { c }),
            );
            s.push('\n');
        }
        s
    }

    /// [`encode`](Self::encode)'s text, read back.
    pub fn decode(text: &str) -> Result<WasmNames, String> {
        let mut names = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (i, n) = line
                .split_once('\t')
                .and_then(|(i, n)| Some((i.parse::<u32>().ok()?, n)))
                .ok_or("not a stored name list")?;
            names.push((i, n.to_owned()));
        }
        names.sort_by_key(|(i, _)| *i);
        Ok(WasmNames { names })
    }

    fn weight(&self) -> usize {
        self.names.iter().map(|(_, n)| n.len() + 32).sum()
    }
}

/// A Rust symbol demangled without its hash (`hello::main`); a name already demangled with
/// its hash (wasm-bindgen writes `hello::main::h0123456789abcdef` into the name section) without
/// the hash; other names as they are.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        return format!("{d:#}");
    }
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            path.to_owned()
        }
        _ => name.to_owned(),
    }
}

/// A loaded artifact.
#[derive(Debug)]
pub enum Artifact {
    /// A source map.
    SourceMap(SourceMap),
    /// A wasm module's names.
    Wasm(WasmNames),
}

impl Artifact {
    /// Reads a stored artifact of `kind`.
    pub fn load(kind: Kind, text: &str) -> Result<Artifact, String> {
        match kind {
            Kind::SourceMap => load_source_map(text).map(Artifact::SourceMap),
            Kind::Wasm => WasmNames::decode(text).map(Artifact::Wasm),
        }
    }

    /// Roughly the memory it holds, for [`Cache`]'s byte budget: 32 bytes a token (24 for the
    /// token, the rest for the line index), names and sources.
    pub fn weight(&self) -> usize {
        match self {
            Artifact::SourceMap(sm) => {
                sm.get_token_count() as usize * 32
                    + sm.names().map(|n| n.len() + 16).sum::<usize>()
                    + sm.sources().map(|n| n.len() + 16).sum::<usize>()
            }
            Artifact::Wasm(w) => w.weight(),
        }
    }
}

/// The key of a file in stacks and uploads: the URL without query or fragment.
pub fn artifact_url(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// The upload URLs that match a frame's file, most specific first: the URL itself, then `~`
/// and its path (any origin: `https://shop.example/assets/app.js` → `~/assets/app.js`).
pub fn candidates(file: &str) -> Vec<String> {
    let url = artifact_url(file);
    let mut out = vec![url.to_owned()];
    if let Some(i) = url.find("://") {
        let after = url.get(i + 3..).unwrap_or("");
        if let Some(j) = after.find('/') {
            out.push(format!("~{}", after.get(j..).unwrap_or("")));
        }
    }
    out
}

/// Why a frame was not symbolicated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The batch has no `release`, and uploads are keyed by release.
    NoRelease,
    /// Nothing uploaded for this release and file (or module).
    NotUploaded,
    /// Several wasm modules are uploaded for this release and the frame names none of them.
    Ambiguous,
    /// The map has no mapping on that generated line, or the module no name for that index.
    NoMapping,
    /// Engine or extension code: not the app's to map.
    NotInApp,
    /// The frame has no line and column (or no function index).
    NoPosition,
    /// The stored artifact could not be read, or storage failed.
    Unavailable,
    /// The message named more files than the consumer loads for one message
    /// ([`MAX_LOADS_PER_DOCUMENT`]).
    TooManyFiles,
}

/// Files the consumer loads from storage for one message (cached ones are free): each load is a
/// few D1 queries, and an invocation has a query budget (50 on the free plan).
pub const MAX_LOADS_PER_DOCUMENT: usize = 8;

impl Miss {
    /// The reason as recorded with the frame.
    pub fn as_str(self) -> &'static str {
        match self {
            Miss::NoRelease => "no_release",
            Miss::NotUploaded => "not_uploaded",
            Miss::Ambiguous => "ambiguous_module",
            Miss::NoMapping => "no_mapping",
            Miss::NotInApp => "not_in_app",
            Miss::NoPosition => "no_position",
            Miss::Unavailable => "unavailable",
            Miss::TooManyFiles => "too_many_files",
        }
    }
}

/// An artifact the consumer needs for a document: what [`needs`] asks the edge to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Need {
    /// `Kind::as_str`.
    pub kind: &'static str,
    /// The batch's release.
    pub release: String,
    /// The frame's file (see [`candidates`]).
    pub file: String,
}

/// Loaded artifacts by [`Need`], or why not: what [`apply`] reads.
#[derive(Debug, Default)]
pub struct Loaded {
    found: HashMap<Need, Result<Rc<Artifact>, Miss>>,
}

impl Loaded {
    /// Records what the edge found for `need`.
    pub fn insert(&mut self, need: Need, found: Result<Rc<Artifact>, Miss>) {
        self.found.insert(need, found);
    }

    fn get(&self, kind: Kind, release: &str, file: &str) -> Result<&Artifact, Miss> {
        let need = Need {
            kind: kind.as_str(),
            release: release.to_owned(),
            file: file.to_owned(),
        };
        match self.found.get(&need) {
            Some(Ok(a)) => Ok(a),
            Some(Err(m)) => Err(*m),
            None => Err(Miss::Unavailable),
        }
    }
}

/// One frame after symbolication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymFrame {
    /// The original function name (or the engine's, when none was found).
    pub function: Option<String>,
    /// The original source file (or the frame's URL).
    pub file: String,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column (for an unmapped wasm frame: the module offset).
    pub column: Option<u32>,
    /// For wasm frames: the function index.
    pub wasm_function: Option<u32>,
    /// Whether the frame is the app's.
    pub in_app: bool,
    /// `Ok` when symbolicated, else why not.
    pub status: Result<(), Miss>,
}

/// A stack after symbolication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbolicated {
    /// The stack text in its engine's format, symbolicated frames rewritten, other lines as
    /// they were.
    pub text: String,
    /// Every frame read, innermost first.
    pub frames: Vec<SymFrame>,
}

impl Symbolicated {
    /// Whether any frame was symbolicated.
    pub fn changed(&self) -> bool {
        self.frames.iter().any(|f| f.status.is_ok())
    }

    /// Whether every in-app frame was symbolicated (and there was one).
    pub fn complete(&self) -> bool {
        let mut app = self.frames.iter().filter(|f| f.in_app).peekable();
        app.peek().is_some() && app.all(|f| f.status.is_ok())
    }
}

/// A frame line of a stack, with what is needed to map and rewrite it.
struct Line<'a> {
    frame: stack::Frame,
    /// For wasm frames: the index in `wasm-function[N]` (or the name Safari prints there).
    wasm: Option<WasmRef<'a>>,
    /// The location text as printed (after `at … (` or `@`), kept for wasm frames.
    location: &'a str,
    /// The line as printed.
    raw: &'a str,
}

enum WasmRef<'a> {
    Index(u32),
    Name(&'a str),
}

/// The frame on one line of a stack whose format is `v8` or not.
fn read_line(v8: bool, line: &str) -> Option<Line<'_>> {
    let t = line.trim();
    if v8 && !t.starts_with("at ") {
        return None;
    }
    let (_, frames) = stack::parse(t);
    let frame = frames.into_iter().next()?;
    let location = if v8 {
        let rest = t.strip_prefix("at ").unwrap_or(t);
        match rest
            .strip_suffix(')')
            .and_then(|r| r.rfind(" (").map(|i| &r[i + 2..]))
        {
            Some(loc) => loc,
            None => rest,
        }
    } else {
        t.split_once('@').map_or(t, |(_, l)| l)
    };
    let wasm = t.find("wasm-function[").and_then(|i| {
        let inner = t.get(i + "wasm-function[".len()..)?;
        let inner = inner.get(..inner.find(']')?)?;
        Some(match inner.parse::<u32>() {
            Ok(n) => WasmRef::Index(n),
            Err(_) => WasmRef::Name(inner),
        })
    });
    Some(Line {
        frame,
        wasm,
        location,
        raw: line,
    })
}

/// Whether a file names no module (a wasm module compiled from bytes, or Safari's frames).
fn anonymous_module(file: &str) -> bool {
    file.starts_with("wasm://") || file.contains("[wasm code]") || file == "<?>" || file.is_empty()
}

/// The artifacts a stack needs, for `release`: one [`Need`] per mapped file.
pub fn stack_needs(stack: &str, release: Option<&str>, out: &mut Vec<Need>) {
    let Some(release) = release.filter(|r| !r.is_empty()) else {
        return;
    };
    let v8 = stack::parse(stack).0 == Format::V8;
    for l in stack
        .lines()
        .filter_map(|l| read_line(v8, l))
        .take(MAX_FRAMES)
    {
        let (kind, file) = match &l.wasm {
            Some(WasmRef::Index(_)) if anonymous_module(&l.frame.file) => (Kind::Wasm, ""),
            Some(WasmRef::Index(_)) => (Kind::Wasm, artifact_url(&l.frame.file)),
            Some(WasmRef::Name(_)) => continue,
            None if l.frame.in_app && l.frame.line.is_some() => {
                (Kind::SourceMap, artifact_url(&l.frame.file))
            }
            None => continue,
        };
        let need = Need {
            kind: kind.as_str(),
            release: release.to_owned(),
            file: file.to_owned(),
        };
        if !out.contains(&need) {
            out.push(need);
        }
    }
}

/// Symbolicates one stack of `release` with what `loaded` holds.
pub fn symbolicate_stack(stack: &str, release: Option<&str>, loaded: &Loaded) -> Symbolicated {
    let release = release.filter(|r| !r.is_empty());
    let v8 = stack::parse(stack).0 == Format::V8;
    // Per line: the frame read, its mapping, and the name of the token at that position
    // (which names the function its callee is: see the module's doc).
    struct Mapped {
        frame: SymFrame,
        call_name: Option<String>,
    }
    let mut lines: Vec<(&str, Option<(Line<'_>, Mapped)>)> = Vec::new();
    let mut n = 0;
    for raw in stack.lines() {
        let parsed = (n < MAX_FRAMES).then(|| read_line(v8, raw)).flatten();
        let Some(l) = parsed else {
            lines.push((raw, None));
            continue;
        };
        n += 1;
        let f = &l.frame;
        let mut out = SymFrame {
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            column: f.column,
            wasm_function: None,
            in_app: f.in_app,
            status: Err(Miss::NotInApp),
        };
        let mut call_name = None;
        match (&l.wasm, release) {
            (Some(WasmRef::Name(name)), _) => {
                // Safari prints the name itself inside the brackets.
                out.function = Some(demangle(name));
                out.status = Ok(());
            }
            (Some(WasmRef::Index(i)), release) => {
                out.wasm_function = Some(*i);
                let file = if anonymous_module(&f.file) {
                    ""
                } else {
                    artifact_url(&f.file)
                };
                let from_upload = release.ok_or(Miss::NoRelease).and_then(|r| {
                    match loaded.get(Kind::Wasm, r, file)? {
                        Artifact::Wasm(names) => names.get(*i).ok_or(Miss::NoMapping),
                        Artifact::SourceMap(_) => Err(Miss::Unavailable),
                    }
                });
                match from_upload {
                    Ok(name) => {
                        out.function = Some(name.to_owned());
                        out.status = Ok(());
                    }
                    Err(m) => match f.function.as_deref().and_then(engine_rust_name) {
                        // The module shipped its names and the engine printed one: demangled,
                        // it reads as Rust.
                        Some(name) => {
                            out.function = Some(name);
                            out.status = Ok(());
                        }
                        None => out.status = Err(m),
                    },
                }
            }
            (None, _) if !f.in_app => {}
            (None, _) if f.line.is_none() || f.column.is_none() => {
                out.status = Err(Miss::NoPosition)
            }
            (None, None) => out.status = Err(Miss::NoRelease),
            (None, Some(r)) => match loaded.get(Kind::SourceMap, r, artifact_url(&f.file)) {
                Ok(Artifact::SourceMap(sm)) => {
                    let line = f.line.unwrap_or(1).saturating_sub(1);
                    let col = f.column.unwrap_or(1).saturating_sub(1);
                    match sm
                        .lookup_token(line, col)
                        .filter(|t| t.get_dst_line() == line && t.get_source().is_some())
                    {
                        Some(t) => {
                            out.file = t.get_source().unwrap_or_default().to_owned();
                            out.line = Some(t.get_src_line().saturating_add(1));
                            out.column = Some(t.get_src_col().saturating_add(1));
                            call_name = t.get_name().map(str::to_owned);
                            out.status = Ok(());
                        }
                        None => out.status = Err(Miss::NoMapping),
                    }
                }
                Ok(Artifact::Wasm(_)) => out.status = Err(Miss::Unavailable),
                Err(m) => out.status = Err(m),
            },
        }
        lines.push((
            raw,
            Some((
                l,
                Mapped {
                    frame: out,
                    call_name,
                },
            )),
        ));
    }
    // A mapped JS frame's function is named at its caller's call site (the next frame).
    let mut next_call: Option<String> = None;
    for (_, entry) in lines.iter_mut().rev() {
        let Some((l, m)) = entry else { continue };
        if l.wasm.is_none() && m.frame.status.is_ok() {
            if let Some(name) = &next_call {
                m.frame.function = Some(name.clone());
            }
        }
        next_call = m.call_name.take();
    }
    let mut text = String::with_capacity(stack.len() + 64);
    let mut frames = Vec::with_capacity(n);
    for (i, (raw, entry)) in lines.into_iter().enumerate() {
        // By position, not by `text` being empty: a stack may start with empty lines.
        if i > 0 {
            text.push('\n');
        }
        match entry {
            Some((l, m)) if m.frame.status.is_ok() => {
                let indent = &raw[..raw.len() - raw.trim_start().len()];
                text.push_str(indent);
                render(&mut text, v8, &m.frame, &l);
                frames.push(m.frame);
            }
            Some((_, m)) => {
                text.push_str(raw);
                frames.push(m.frame);
            }
            None => text.push_str(raw),
        }
    }
    Symbolicated { text, frames }
}

/// A name the engine printed for a wasm frame (`module.name` in Chrome and Firefox), if it is
/// a mangled Rust symbol: demangled.
fn engine_rust_name(printed: &str) -> Option<String> {
    let start = [
        printed.find("_ZN"),
        printed
            .find("_R")
            .filter(|&i| i == 0 || printed[..i].ends_with('.')),
    ]
    .into_iter()
    .flatten()
    .min()?;
    let sym = printed.get(start..)?;
    rustc_demangle::try_demangle(sym)
        .ok()
        .map(|d| format!("{d:#}"))
}

/// One symbolicated frame line, in the stack's own format.
fn render(o: &mut String, v8: bool, f: &SymFrame, l: &Line<'_>) {
    use std::fmt::Write as _;
    let name = f.function.as_deref().unwrap_or("");
    if let (Some(WasmRef::Index(i)), false) = (&l.wasm, l.location.contains("wasm-function[")) {
        // Safari (`<?>.wasm-function[N]@[wasm code]`): its own form for a named function.
        let t = l.raw.trim();
        o.push_str(&t.replacen(
            &format!("wasm-function[{i}]"),
            &format!("wasm-function[{name}]"),
            1,
        ));
        return;
    }
    let location = if l.wasm.is_some() {
        l.location.to_owned()
    } else {
        let mut s = f.file.clone();
        if let Some(line) = f.line {
            let _ = write!(s, ":{line}");
            if let Some(c) = f.column {
                let _ = write!(s, ":{c}");
            }
        }
        s
    };
    if v8 {
        if name.is_empty() {
            let _ = write!(o, "at {location}");
        } else {
            let _ = write!(o, "at {name} ({location})");
        }
    } else {
        let _ = write!(o, "{name}@{location}");
    }
}

/// The artifacts an OTLP document's error records need (see [`stack_needs`]).
pub fn needs(doc: &str) -> Result<Vec<Need>, String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for_each_error(&v, |release, stack, _| {
        stack_needs(stack, release, &mut out)
    });
    Ok(out)
}

/// Calls `f(release, stacktrace, is_panic)` for each error record with a stack.
fn for_each_error(v: &Value, mut f: impl FnMut(Option<&str>, &str, bool)) {
    for rl in v["resourceLogs"].as_array().into_iter().flatten() {
        let release = attr(&rl["resource"]["attributes"], "service.version");
        for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
            for r in sl["logRecords"].as_array().into_iter().flatten() {
                let attrs = &r["attributes"];
                if attr(attrs, "event.name") != Some("browser.error") {
                    continue;
                }
                if let Some(stack) = attr(attrs, "exception.stacktrace").filter(|s| !s.is_empty()) {
                    f(
                        release,
                        stack,
                        attr(attrs, "ferrotel.source") == Some("panic"),
                    );
                }
            }
        }
    }
}

/// A string attribute of an OTLP attribute list.
fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a str> {
    attrs
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)?
        .pointer("/value/stringValue")?
        .as_str()
}

/// Rewrites every error record of an OTLP document with its symbolicated stack; `None` when
/// the document has no error with a stack (nothing to change).
///
/// Per record: `exception.stacktrace` becomes the symbolicated text and the original is kept
/// in `ferrotel.raw_stacktrace` (when some frame was symbolicated); `ferrotel.stack_frames`
/// lists every frame (`function`, `file`, `line`, `column`, `wasm_function`, `in_app`,
/// `symbolicated` and, when false, `reason`); `ferrotel.symbolicated` is true when every in-app
/// frame was; and the `code.*` attributes name the top in-app frame after symbolication
/// (not for panics, whose top frames are the panic hook's).
pub fn apply(doc: &str, loaded: &Loaded) -> Result<Option<String>, String> {
    let mut v: Value = serde_json::from_str(doc).map_err(|e| e.to_string())?;
    let mut touched = false;
    for rl in v["resourceLogs"].as_array_mut().into_iter().flatten() {
        let release = attr(&rl["resource"]["attributes"], "service.version").map(str::to_owned);
        for sl in rl["scopeLogs"].as_array_mut().into_iter().flatten() {
            for r in sl["logRecords"].as_array_mut().into_iter().flatten() {
                let attrs = &mut r["attributes"];
                if attr(attrs, "event.name") != Some("browser.error") {
                    continue;
                }
                let Some(raw) = attr(attrs, "exception.stacktrace")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                else {
                    continue;
                };
                let panic = attr(attrs, "ferrotel.source") == Some("panic");
                let s = symbolicate_stack(&raw, release.as_deref(), loaded);
                let Some(list) = attrs.as_array_mut() else {
                    continue;
                };
                touched = true;
                rewrite_record(list, &raw, &s, panic);
            }
        }
    }
    if !touched {
        return Ok(None);
    }
    serde_json::to_string(&v)
        .map(Some)
        .map_err(|e| e.to_string())
}

fn kv(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

fn string(s: &str) -> Value {
    json!({ "stringValue": s })
}

fn int(n: u32) -> Value {
    json!({ "intValue": n.to_string() })
}

fn boolean(b: bool) -> Value {
    json!({ "boolValue": b })
}

fn rewrite_record(list: &mut Vec<Value>, raw: &str, s: &Symbolicated, panic: bool) {
    const OURS: [&str; 3] = [
        "ferrotel.stack_frames",
        "ferrotel.symbolicated",
        "ferrotel.raw_stacktrace",
    ];
    list.retain(|kv| !kv["key"].as_str().is_some_and(|k| OURS.contains(&k)));
    if s.changed() {
        for kv in list.iter_mut() {
            if kv["key"] == "exception.stacktrace" {
                kv["value"] = string(&s.text);
            }
        }
        list.push(kv("ferrotel.raw_stacktrace", string(raw)));
        let top = s
            .frames
            .iter()
            .find(|f| f.in_app)
            .or_else(|| s.frames.first());
        if let (Some(top), false) = (top, panic) {
            const CODE: [&str; 4] = [
                "code.function.name",
                "code.file.path",
                "code.line.number",
                "code.column.number",
            ];
            list.retain(|kv| !kv["key"].as_str().is_some_and(|k| CODE.contains(&k)));
            let cut = |t: &str| super::scrub::truncate(t, super::event::limits::URL).to_owned();
            if let Some(f) = &top.function {
                list.push(kv("code.function.name", string(&cut(f))));
            }
            list.push(kv("code.file.path", string(&cut(&top.file))));
            if let Some(l) = top.line {
                list.push(kv("code.line.number", int(l)));
            }
            if let Some(c) = top.column {
                list.push(kv("code.column.number", int(c)));
            }
        }
    }
    let frames: Vec<Value> = s
        .frames
        .iter()
        .map(|f| {
            let mut values = Vec::with_capacity(8);
            if let Some(name) = &f.function {
                values.push(kv("function", string(name)));
            }
            values.push(kv("file", string(&f.file)));
            if let Some(l) = f.line {
                values.push(kv("line", int(l)));
            }
            if let Some(c) = f.column {
                values.push(kv("column", int(c)));
            }
            if let Some(i) = f.wasm_function {
                values.push(kv("wasm_function", int(i)));
            }
            values.push(kv("in_app", boolean(f.in_app)));
            values.push(kv("symbolicated", boolean(f.status.is_ok())));
            if let Err(m) = f.status {
                values.push(kv("reason", string(m.as_str())));
            }
            json!({ "kvlistValue": { "values": values } })
        })
        .collect();
    list.push(kv(
        "ferrotel.stack_frames",
        json!({ "arrayValue": { "values": frames } }),
    ));
    list.push(kv("ferrotel.symbolicated", boolean(s.complete())));
}

/// A bounded least-recently-used cache of loaded artifacts (and of misses, so an error storm
/// from a release without uploads does not read D1 for every message), by entry count and by
/// [`Artifact::weight`]; every entry expires, so a re-upload is seen within the TTL.
pub struct Cache<V> {
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    tick: u64,
    entries: HashMap<String, CacheEntry<V>>,
}

struct CacheEntry<V> {
    value: V,
    bytes: usize,
    used: u64,
    expires_ms: u64,
}

impl<V: Clone> Cache<V> {
    /// An empty cache holding at most `max_entries` entries and `max_bytes` bytes.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Cache {
            max_entries,
            max_bytes,
            bytes: 0,
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// The value under `key`, unless absent or expired at `now_ms`.
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<V> {
        let expired = self
            .entries
            .get(key)
            .is_some_and(|e| e.expires_ms <= now_ms);
        if expired {
            self.remove(key);
            return None;
        }
        self.tick += 1;
        let e = self.entries.get_mut(key)?;
        e.used = self.tick;
        Some(e.value.clone())
    }

    /// Keeps `value` (weighing `bytes`) until `expires_ms`, evicting the least recently used
    /// entries to stay within both limits; a value over the whole byte budget is not kept.
    pub fn insert(&mut self, key: String, value: V, bytes: usize, expires_ms: u64) {
        self.remove(&key);
        if bytes > self.max_bytes || self.max_entries == 0 {
            return;
        }
        while self.entries.len() >= self.max_entries || self.bytes + bytes > self.max_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.tick += 1;
        self.bytes += bytes;
        self.entries.insert(
            key,
            CacheEntry {
                value,
                bytes,
                used: self.tick,
                expires_ms,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.bytes;
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held (by the weights given).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
