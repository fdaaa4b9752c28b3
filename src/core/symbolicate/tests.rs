use super::*;
use sourcemap::SourceMapBuilder;

/// `app.min.js`, one line: `function a(b){throw new Error(b)}function c(){a("x")}c();`, from
/// `src/app.ts` where `a` is `explode` (lines 10-11), `c` is `handleClick` (20-21) and the
/// call `c()` is on line 30.
fn app_map() -> SourceMap {
    let mut b = SourceMapBuilder::new(Some("app.min.js"));
    let src = Some("src/app.ts");
    b.add(0, 0, 9, 0, src, None, false);
    b.add(0, 9, 9, 9, src, Some("explode"), false);
    b.add(0, 14, 10, 2, src, None, false);
    b.add(0, 33, 19, 0, src, None, false);
    b.add(0, 42, 19, 9, src, Some("handleClick"), false);
    b.add(0, 46, 20, 2, src, Some("explode"), false);
    b.add(0, 54, 29, 0, src, Some("handleClick"), false);
    b.set_source_contents(0, Some("function explode(msg) { … }"));
    b.into_sourcemap()
}

fn app_map_json() -> Vec<u8> {
    let mut out = Vec::new();
    app_map().to_writer(&mut out).unwrap();
    out
}

const APP: &str = "https://shop.example/assets/app.min.js";

fn loaded_with(needs: &[Need], found: impl Fn(&Need) -> Result<Artifact, Miss>) -> Loaded {
    let mut l = Loaded::default();
    for n in needs {
        l.insert(n.clone(), found(n).map(Rc::new));
    }
    l
}

fn app_loaded(stack: &str, release: &str) -> Loaded {
    let mut needs = Vec::new();
    stack_needs(stack, Some(release), &mut needs);
    loaded_with(&needs, |n| {
        if n.kind == "sourcemap" && n.file == APP && n.release == "1.2.3" {
            Ok(Artifact::SourceMap(
                load_source_map(&prepare_upload(&app_map_json()).unwrap().text).unwrap(),
            ))
        } else {
            Err(Miss::NotUploaded)
        }
    })
}

#[test]
fn v8_frames_map_to_the_original_position_and_name() {
    let stack = format!(
        "Error: x\n    at a ({APP}?v=3:1:15)\n    at c ({APP}:1:47)\n    at {APP}:1:55\n    at https://cdn.example/lib.js:1:10"
    );
    let mut needs = Vec::new();
    stack_needs(&stack, Some("1.2.3"), &mut needs);
    assert_eq!(
        needs.iter().map(|n| n.file.as_str()).collect::<Vec<_>>(),
        [APP, "https://cdn.example/lib.js"],
        "one need per file, query stripped"
    );
    let s = symbolicate_stack(&stack, Some("1.2.3"), &app_loaded(&stack, "1.2.3"));
    let f = &s.frames;
    assert_eq!(f.len(), 4);
    assert_eq!(
        (
            f[0].function.as_deref(),
            f[0].file.as_str(),
            f[0].line,
            f[0].column
        ),
        (Some("explode"), "src/app.ts", Some(11), Some(3))
    );
    assert_eq!(
        (f[1].function.as_deref(), f[1].line, f[1].column),
        (Some("handleClick"), Some(21), Some(3))
    );
    // The outermost frame has no caller to name it, and the engine gave no name.
    assert_eq!((f[2].function.as_deref(), f[2].line), (None, Some(30)));
    assert_eq!(f[3].status, Err(Miss::NotUploaded));
    assert_eq!(f[3].file, "https://cdn.example/lib.js");
    assert!(s.changed() && !s.complete());
    assert_eq!(
        s.text,
        "Error: x\n    at explode (src/app.ts:11:3)\n    at handleClick (src/app.ts:21:3)\n    at src/app.ts:30:1\n    at https://cdn.example/lib.js:1:10"
    );
}

#[test]
fn gecko_frames_keep_their_format() {
    let stack = format!("a@{APP}:1:15\nc@{APP}:1:47\n@{APP}:1:55\n");
    let s = symbolicate_stack(&stack, Some("1.2.3"), &app_loaded(&stack, "1.2.3"));
    assert!(s.complete());
    assert_eq!(
        s.text,
        "explode@src/app.ts:11:3\nhandleClick@src/app.ts:21:3\n@src/app.ts:30:1\n".trim_end()
    );
}

#[test]
fn frames_without_a_map_stay_and_say_why() {
    let stack = format!("Error: x\n    at a ({APP}:1:15)\n    at Array.map (<anonymous>)");
    // Another release: nothing uploaded for it.
    let s = symbolicate_stack(&stack, Some("9.9.9"), &app_loaded(&stack, "9.9.9"));
    assert_eq!(s.text, stack, "the text stays as it was");
    assert_eq!(s.frames[0].status, Err(Miss::NotUploaded));
    assert_eq!(s.frames[0].function.as_deref(), Some("a"));
    assert_eq!(s.frames[1].status, Err(Miss::NotInApp));
    // No release at all.
    let s = symbolicate_stack(&stack, None, &Loaded::default());
    assert_eq!(s.frames[0].status, Err(Miss::NoRelease));
    assert!(!s.changed() && !s.complete());
    // A position on a line the map does not cover.
    let stack = format!("Error: x\n    at a ({APP}:7:15)");
    let s = symbolicate_stack(&stack, Some("1.2.3"), &app_loaded(&stack, "1.2.3"));
    assert_eq!(s.frames[0].status, Err(Miss::NoMapping));
}

#[test]
fn uploads_are_checked_and_reduced() {
    let p = prepare_upload(&app_map_json()).unwrap();
    assert_eq!(p.kind, Kind::SourceMap);
    assert_eq!(p.summary, "1 sources, 7 mappings");
    assert!(!p.text.contains("sourcesContent"), "{}", p.text);
    assert_eq!(load_source_map(&p.text).unwrap().get_token_count(), 7);
    for (body, reason) in [
        (&b""[..], "empty"),
        (
            b"{\"version\":3,\"sources\":[],\"names\":[],\"mappings\":\"\"}",
            "no mappings",
        ),
        (b"not json at all", "not a source map"),
        (b"{\"version\":3}", "no mappings"),
        (b"\0asm\x01\0\0\0\x01\x04", "not a readable wasm module"),
    ] {
        let e = prepare_upload(body).unwrap_err();
        assert!(e.contains(reason), "{body:?}: {e}");
    }
    let e = prepare_upload(&module(&[], &[])).unwrap_err();
    assert!(e.contains("no function names"), "{e}");
}

#[test]
fn index_maps_are_flattened() {
    let inner = String::from_utf8(app_map_json()).unwrap();
    let index = format!(
        "{{\"version\":3,\"sections\":[{{\"offset\":{{\"line\":0,\"column\":0}},\"map\":{inner}}}]}}"
    );
    let p = prepare_upload(index.as_bytes()).unwrap();
    let sm = load_source_map(&p.text).unwrap();
    let t = sm.lookup_token(0, 46).unwrap();
    assert_eq!((t.get_src_line(), t.get_name()), (20, Some("explode")));
}

#[test]
fn urls_and_candidates() {
    assert_eq!(artifact_url("https://a.b/x.js?v=1#f"), "https://a.b/x.js");
    assert_eq!(artifact_url("https://a.b/x.js"), "https://a.b/x.js");
    assert_eq!(
        candidates("https://a.b:8080/assets/x.js?v=1"),
        ["https://a.b:8080/assets/x.js", "~/assets/x.js"]
    );
    assert_eq!(candidates("app.js"), ["app.js"]);
}

/// A wasm module with `imports` imported functions and one empty function per `names` entry,
/// with a `name` section naming (index, name) pairs when `named` is not empty.
fn module(imports: &[&str], named: &[(u32, &str)]) -> Vec<u8> {
    fn leb(mut n: u32, o: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                o.push(b);
                break;
            }
            o.push(b | 0x80);
        }
    }
    fn name(s: &str, o: &mut Vec<u8>) {
        leb(s.len() as u32, o);
        o.extend_from_slice(s.as_bytes());
    }
    fn section(id: u8, body: Vec<u8>, o: &mut Vec<u8>) {
        o.push(id);
        leb(body.len() as u32, o);
        o.extend(body);
    }
    let defined = 3u32;
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, vec![1, 0x60, 0, 0], &mut m);
    if !imports.is_empty() {
        let mut b = Vec::new();
        leb(imports.len() as u32, &mut b);
        for i in imports {
            name("env", &mut b);
            name(i, &mut b);
            b.extend([0, 0]);
        }
        section(2, b, &mut m);
    }
    let mut funcs = Vec::new();
    leb(defined, &mut funcs);
    funcs.extend(std::iter::repeat_n(0, defined as usize));
    section(3, funcs, &mut m);
    let mut code = Vec::new();
    leb(defined, &mut code);
    for _ in 0..defined {
        code.extend([2, 0, 0x0b]);
    }
    section(10, code, &mut m);
    if !named.is_empty() {
        let mut sub = Vec::new();
        leb(named.len() as u32, &mut sub);
        for (i, n) in named {
            leb(*i, &mut sub);
            name(n, &mut sub);
        }
        let mut b = Vec::new();
        name("name", &mut b);
        b.push(1);
        leb(sub.len() as u32, &mut b);
        b.extend(sub);
        section(0, b, &mut m);
    }
    m
}

const MAIN: &str = "_ZN5hello4main17h0123456789abcdefE";
const WASM: &str = "https://shop.example/pkg/app_bg.wasm";

#[test]
fn wasm_names_are_read_and_demangled() {
    let m = module(
        &["log"],
        &[(0, "log"), (2, MAIN), (3, "_RNvCs1234_5hello6helper")],
    );
    let p = prepare_upload(&m).unwrap();
    assert_eq!(
        (p.kind, p.summary.as_str()),
        (Kind::Wasm, "3 function names")
    );
    let names = WasmNames::decode(&p.text).unwrap();
    assert_eq!(names, WasmNames::from_module(&m).unwrap());
    assert_eq!(names.get(0), Some("log"));
    assert_eq!(names.get(1), None);
    assert_eq!(names.get(2), Some("hello::main"));
    assert_eq!(names.get(3), Some("hello::helper"));
    assert_eq!(demangle("plain_c_name"), "plain_c_name");
    assert_eq!(demangle("hello::main::h0123456789abcdef"), "hello::main");
    assert_eq!(demangle("hello::h_not_a_hash"), "hello::h_not_a_hash");
}

#[test]
fn wasm_frames_of_every_engine_read_like_rust() {
    let m = module(&["log"], &[(2, MAIN)]);
    let names = WasmNames::decode(&prepare_upload(&m).unwrap().text).unwrap();
    let stacks = [
        // Chrome and Firefox, module fetched from its URL.
        format!("Error\n    at {WASM}:wasm-function[2]:0x1a\n    at run ({APP}:1:15)"),
        format!("@{WASM}:wasm-function[2]:0x1a\nrun@{APP}:1:15"),
        // Chrome, module compiled from bytes: no URL, the release's only module is used.
        "Error\n    at wasm://wasm/0002a3fe:wasm-function[2]:0x1a".to_owned(),
        // Safari.
        "<?>.wasm-function[2]@[wasm code]".to_owned(),
    ];
    for stack in stacks {
        let mut needs = Vec::new();
        stack_needs(&stack, Some("1.2.3"), &mut needs);
        let wasm = needs
            .iter()
            .find(|n| n.kind == "wasm")
            .expect("a wasm need");
        let loaded = loaded_with(&needs, |n| {
            if n == wasm {
                Ok(Artifact::Wasm(names.clone()))
            } else {
                Err(Miss::NotUploaded)
            }
        });
        let s = symbolicate_stack(&stack, Some("1.2.3"), &loaded);
        let f = &s.frames[0];
        assert_eq!(f.function.as_deref(), Some("hello::main"), "{stack}");
        assert_eq!((f.wasm_function, f.status), (Some(2), Ok(())), "{stack}");
        assert!(s.text.contains("hello::main"), "{}", s.text);
        let kept = if stack.contains("[wasm code]") {
            "wasm-function[hello::main]@[wasm code]" // Safari's own form for a named function
        } else {
            "wasm-function[2]:0x1a"
        };
        assert!(s.text.contains(kept), "{}", s.text);
    }
    // The module's own names, printed by the engine, are demangled without an upload; an
    // index the names do not cover, and a frame of an unnamed module without upload, say why.
    let stack = format!(
        "Error\n    at app_bg.wasm.{MAIN} ({WASM}:wasm-function[2]:0x1a)\n    at {WASM}:wasm-function[9]:0x2b"
    );
    let s = symbolicate_stack(&stack, Some("1.2.3"), &app_loaded(&stack, "1.2.3"));
    assert_eq!(s.frames[0].function.as_deref(), Some("hello::main"));
    assert_eq!(s.frames[1].status, Err(Miss::NotUploaded));
    assert!(s
        .text
        .contains(&format!("at hello::main ({WASM}:wasm-function[2]:0x1a)")));
    // Safari printing a name in the brackets.
    let s = symbolicate_stack(
        &format!("app.wasm-function[{MAIN}]@[wasm code]"),
        None,
        &Loaded::default(),
    );
    assert_eq!(s.frames[0].function.as_deref(), Some("hello::main"));
}

fn otlp_doc(release: Option<&str>, stack: &str, source: &str) -> String {
    let release = release.map_or(String::new(), |r| {
        format!(",{{\"key\":\"service.version\",\"value\":{{\"stringValue\":\"{r}\"}}}}")
    });
    let stack = serde_json::to_string(stack).unwrap();
    format!(
        "{{\"resourceLogs\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"service.name\",\"value\":{{\"stringValue\":\"pk\"}}}},{{\"key\":\"session.id\",\"value\":{{\"stringValue\":\"s\"}}}}{release}]}},\
         \"scopeLogs\":[{{\"scope\":{{\"name\":\"ferrotel\"}},\"logRecords\":[\
         {{\"timeUnixNano\":\"1000000\",\"attributes\":[{{\"key\":\"event.id\",\"value\":{{\"stringValue\":\"00000000000000aa\"}}}},{{\"key\":\"event.name\",\"value\":{{\"stringValue\":\"browser.click\"}}}}]}},\
         {{\"timeUnixNano\":\"2000000\",\"attributes\":[{{\"key\":\"event.id\",\"value\":{{\"stringValue\":\"00000000000000bb\"}}}},{{\"key\":\"event.name\",\"value\":{{\"stringValue\":\"browser.error\"}}}},\
         {{\"key\":\"ferrotel.source\",\"value\":{{\"stringValue\":\"{source}\"}}}},\
         {{\"key\":\"exception.stacktrace\",\"value\":{{\"stringValue\":{stack}}}}},\
         {{\"key\":\"code.function.name\",\"value\":{{\"stringValue\":\"a\"}}}},{{\"key\":\"code.line.number\",\"value\":{{\"intValue\":\"1\"}}}}]}}]}}]}}]}}"
    )
}

fn attrs_of(doc: &str, id: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(doc).unwrap();
    v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| attr(&r["attributes"], "event.id") == Some(id))
        .unwrap()["attributes"]
        .as_array()
        .unwrap()
        .clone()
}

fn value<'a>(attrs: &'a [Value], key: &str) -> &'a Value {
    &attrs
        .iter()
        .find(|kv| kv["key"] == key)
        .unwrap_or(&Value::Null)["value"]
}

#[test]
fn otlp_records_are_rewritten_and_stay_valid() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    let stack = format!("Error: x\n    at a ({APP}:1:15)\n    at c ({APP}:1:47)");
    let doc = otlp_doc(Some("1.2.3"), &stack, "error");
    assert_eq!(needs(&doc).unwrap().len(), 1);
    let out = apply(&doc, &app_loaded(&stack, "1.2.3")).unwrap().unwrap();
    serde_json::from_str::<ExportLogsServiceRequest>(&out).expect("a valid OTLP request");
    let a = attrs_of(&out, "00000000000000bb");
    assert_eq!(
        value(&a, "exception.stacktrace")["stringValue"],
        // The outermost frame has no caller to name it: the engine's name stays.
        "Error: x\n    at explode (src/app.ts:11:3)\n    at c (src/app.ts:21:3)"
    );
    assert_eq!(
        value(&a, "ferrotel.raw_stacktrace")["stringValue"],
        stack.as_str()
    );
    assert_eq!(value(&a, "code.function.name")["stringValue"], "explode");
    assert_eq!(value(&a, "code.file.path")["stringValue"], "src/app.ts");
    assert_eq!(value(&a, "code.line.number")["intValue"], "11");
    assert_eq!(value(&a, "code.column.number")["intValue"], "3");
    assert_eq!(value(&a, "ferrotel.symbolicated")["boolValue"], true);
    let frames = value(&a, "ferrotel.stack_frames")["arrayValue"]["values"]
        .as_array()
        .unwrap();
    assert_eq!(frames.len(), 2);
    // The click is untouched.
    assert_eq!(
        attrs_of(&out, "00000000000000aa"),
        attrs_of(&doc, "00000000000000aa")
    );

    // Projected into a D1 row: the frames as a JSON array.
    let rows = crate::core::otlp::project(out.as_bytes()).unwrap();
    let data: Value = serde_json::from_str(&rows[1].data).unwrap();
    assert_eq!(data["stack_frames"][0]["function"], "explode");
    assert_eq!(data["stack_frames"][0]["line"], 11);
    assert_eq!(data["stack_frames"][1]["symbolicated"], true);
    assert_eq!(data["symbolicated"], true);

    // Without a release: nothing mapped, the frames say why, code.* as the edge wrote them.
    let doc = otlp_doc(None, &stack, "error");
    assert!(needs(&doc).unwrap().is_empty());
    let out = apply(&doc, &Loaded::default()).unwrap().unwrap();
    serde_json::from_str::<ExportLogsServiceRequest>(&out).expect("a valid OTLP request");
    let a = attrs_of(&out, "00000000000000bb");
    assert_eq!(
        value(&a, "exception.stacktrace")["stringValue"],
        stack.as_str()
    );
    assert_eq!(value(&a, "ferrotel.raw_stacktrace"), &Value::Null);
    assert_eq!(value(&a, "code.function.name")["stringValue"], "a");
    assert_eq!(value(&a, "ferrotel.symbolicated")["boolValue"], false);
    let f0 =
        &value(&a, "ferrotel.stack_frames")["arrayValue"]["values"][0]["kvlistValue"]["values"];
    assert!(f0
        .as_array()
        .unwrap()
        .iter()
        .any(|kv| kv["key"] == "reason" && kv["value"]["stringValue"] == "no_release"));

    // A document without errors is left alone.
    let clicks = doc.replace("browser.error", "browser.custom");
    assert_eq!(apply(&clicks, &Loaded::default()).unwrap(), None);
    // Applying twice gives the same attributes (a redelivery rewrites the stored original).
    let once = apply(
        &otlp_doc(Some("1.2.3"), &stack, "panic"),
        &app_loaded(&stack, "1.2.3"),
    )
    .unwrap()
    .unwrap();
    let a = attrs_of(&once, "00000000000000bb");
    assert_eq!(
        value(&a, "code.function.name")["stringValue"],
        "a",
        "panics keep code.* as they were"
    );
}

#[test]
fn cache_is_bounded_by_count_and_bytes_and_evicts_the_least_recent() {
    let mut c: Cache<u32> = Cache::new(3, 100);
    c.insert("a".into(), 1, 10, 1000);
    c.insert("b".into(), 2, 10, 1000);
    c.insert("c".into(), 3, 10, 1000);
    assert_eq!(c.get("a", 0), Some(1)); // a is now the most recent
    c.insert("d".into(), 4, 10, 1000);
    assert_eq!(
        (c.len(), c.get("b", 0)),
        (3, None),
        "b was the least recent"
    );
    assert_eq!(c.get("a", 0), Some(1));
    // Bytes: a 75-byte entry pushes out older ones until 100 bytes hold.
    c.insert("e".into(), 5, 75, 1000);
    assert!(c.bytes() <= 100, "{}", c.bytes());
    assert_eq!(c.get("e", 0), Some(5));
    assert_eq!(c.get("c", 0), None);
    // Over the whole budget: not kept, nothing evicted for it.
    let before = c.len();
    c.insert("huge".into(), 6, 101, 1000);
    assert_eq!((c.get("huge", 0), c.len()), (None, before));
    // Expiry.
    assert_eq!(c.get("e", 999), Some(5));
    assert_eq!(c.get("e", 1000), None);
    assert!(c.bytes() <= 25);
    // Replacing a key does not count it twice.
    c.insert("x".into(), 7, 20, 5000);
    c.insert("x".into(), 8, 20, 5000);
    assert_eq!(c.get("x", 0), Some(8));
    let mut many: Cache<u32> = Cache::new(8, 1 << 20);
    for i in 0..10_000u32 {
        many.insert(i.to_string(), i, 100, u64::MAX);
        assert!(many.len() <= 8 && many.bytes() <= 800);
    }
}

#[test]
fn a_stack_starting_with_empty_lines_keeps_them() {
    // Found by `never_panics::any_stack_text` (minimal input "\n@").
    for stack in [
        "\n@",
        "\n\nError: x\n    at f (https://shop.example/a.js:1:2)",
    ] {
        let mut needs = Vec::new();
        stack_needs(stack, Some("r"), &mut needs);
        let loaded = loaded_with(&needs, |_| Err(Miss::NotUploaded));
        assert_eq!(symbolicate_stack(stack, Some("r"), &loaded).text, stack);
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn uploads_of_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = prepare_upload(&body);
            let mut wasm = b"\0asm\x01\0\0\0".to_vec();
            wasm.extend_from_slice(&body);
            let _ = prepare_upload(&wasm);
        }

        #[test]
        fn maps_with_any_mappings(
            mappings in "[A-Za-z0-9+/,;]{0,80}",
            sources in 0usize..3,
            names in 0usize..3,
        ) {
            let list = |n: usize, p: &str| (0..n).map(|i| format!("\"{p}{i}\"")).collect::<Vec<_>>().join(",");
            let body = format!(
                "{{\"version\":3,\"sources\":[{}],\"names\":[{}],\"mappings\":\"{mappings}\"}}",
                list(sources, "s"),
                list(names, "n")
            );
            if let Ok(p) = prepare_upload(body.as_bytes()) {
                let sm = load_source_map(&p.text).unwrap();
                let mut loaded = Loaded::default();
                let stack = format!("Error\n    at a ({APP}:1:3)\n    at b ({APP}:2:1)\n    at c ({APP}:1:4294967295)");
                let mut needs = Vec::new();
                stack_needs(&stack, Some("r"), &mut needs);
                loaded.insert(needs[0].clone(), Ok(Rc::new(Artifact::SourceMap(sm))));
                let s = symbolicate_stack(&stack, Some("r"), &loaded);
                prop_assert_eq!(s.frames.len(), 3);
            }
        }

        #[test]
        fn any_stack_text(stack in "(\\PC{0,30}(@|at |\\(|\\)|:|wasm-function\\[|\\]|0x|\n)){0,20}") {
            let mut needs = Vec::new();
            stack_needs(&stack, Some("r"), &mut needs);
            let loaded = loaded_with(&needs, |_| Err(Miss::NotUploaded));
            let s = symbolicate_stack(&stack, Some("r"), &loaded);
            // Nothing mapped: the text is the stack as it came.
            if !s.changed() {
                prop_assert_eq!(s.text, stack.lines().collect::<Vec<_>>().join("\n"));
            }
        }
    }
}
