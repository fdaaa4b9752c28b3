//! A coarse user-agent classification for the edge: device class, browser family and whether
//! the client announces itself as a bot. Coarse on purpose: the raw user agent is never stored.

/// What the edge keeps of a user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UaClass {
    /// `desktop`, `mobile`, `tablet`, `bot` or `unknown`.
    pub device: &'static str,
    /// `chrome`, `edge`, `firefox`, `safari`, `opera`, `samsung`, `other`.
    pub browser: &'static str,
    /// Crawlers, monitors, headless automation and HTTP libraries.
    pub bot: bool,
}

const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "lighthouse",
    "pingdom",
    "monitor",
    "curl/",
    "wget/",
    "python-",
    "python/",
    "go-http-client",
    "java/",
    "okhttp",
    "axios/",
    "node-fetch",
    "phantomjs",
    "facebookexternalhit",
    "preview",
];

/// Classifies a `User-Agent` header value.
pub fn classify(ua: &str) -> UaClass {
    if ua.trim().is_empty() {
        return UaClass {
            device: "unknown",
            browser: "other",
            bot: false,
        };
    }
    let l = ua.to_ascii_lowercase();
    let has = |s: &str| contains(l.as_bytes(), s.as_bytes());
    let bot = BOT_MARKERS.iter().any(|m| has(m));
    let browser = if has("edg/") || has("edge/") {
        "edge"
    } else if has("opr/") || has("opera") {
        "opera"
    } else if has("samsungbrowser") {
        "samsung"
    } else if has("firefox/") || has("fxios/") {
        "firefox"
    } else if has("chrome/") || has("crios/") || has("chromium/") {
        "chrome"
    } else if has("safari/") && has("version/") {
        "safari"
    } else {
        "other"
    };
    let device = if bot {
        "bot"
    } else if has("ipad") || has("tablet") || (has("android") && !has("mobile")) {
        "tablet"
    } else if has("mobi") || has("iphone") || has("ipod") || has("android") {
        "mobile"
    } else if has("windows") || has("macintosh") || has("x11") || has("linux") || has("cros") {
        "desktop"
    } else {
        "unknown"
    };
    UaClass {
        device,
        browser,
        bot,
    }
}

/// `needle` occurs in `hay` (the ~35 markers are short and a user agent is ~100 bytes: a
/// memchr on the first byte and a compare, without `str::contains`'s per-call searcher setup).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut at = 0;
    while let Some(i) = hay.get(at..).and_then(|h| memchr::memchr(first, h)) {
        let start = at + i + 1;
        if hay.get(start..start + rest.len()) == Some(rest) {
            return true;
        }
        at = start;
    }
    false
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn common_agents() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "desktop", "chrome", false),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "desktop", "edge", false),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "mobile", "safari", false),
            ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "tablet", "safari", false),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "mobile", "chrome", false),
            ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "tablet", "chrome", false),
            ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "desktop", "firefox", false),
            ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "other", true),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "bot", "chrome", true),
            ("curl/8.5.0", "bot", "other", true),
            ("", "unknown", "other", false),
        ];
        for (h, n) in [("abcabd", "abd"), ("abc", "c"), ("abc", ""), ("", "")] {
            assert!(contains(h.as_bytes(), n.as_bytes()), "{h} {n}");
        }
        for (h, n) in [("abcab", "abd"), ("ab", "abc"), ("", "a")] {
            assert!(!contains(h.as_bytes(), n.as_bytes()), "{h} {n}");
        }
        for (ua, device, browser, bot) in cases {
            assert_eq!(
                classify(ua),
                UaClass {
                    device,
                    browser,
                    bot
                },
                "{ua}"
            );
        }
    }
}
