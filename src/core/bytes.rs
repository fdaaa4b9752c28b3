//! Splitting strings at ASCII delimiters byte by byte: what `str::split_once(char)`,
//! `rsplit_once`, `split`, `contains` and `starts_with` do for one ASCII character, without
//! linking core's `char` searchers and `memchr` into the browser build (they are used on the
//! SDK's paths only for short strings: URLs, stored records). Splitting at an ASCII byte always
//! lands on a character boundary, so nothing here can panic.

/// `s.split_once(d)` for an ASCII `d`.
pub fn cut(s: &str, d: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == d)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// `s.rsplit_once(d)` for an ASCII `d`.
pub fn rcut(s: &str, d: u8) -> Option<(&str, &str)> {
    let i = s.bytes().rposition(|b| b == d)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// `s.contains(d)` for an ASCII `d`.
pub fn has(s: &str, d: u8) -> bool {
    s.bytes().any(|b| b == d)
}

/// `s.starts_with(d)` for an ASCII `d`.
pub fn first_is(s: &str, d: u8) -> bool {
    s.as_bytes().first() == Some(&d)
}

/// `s.split(d)` for an ASCII `d` (an empty string gives one empty part, as `split` does).
pub fn parts(s: &str, d: u8) -> Parts<'_> {
    Parts { rest: Some(s), d }
}

/// The iterator of [`parts`].
pub struct Parts<'a> {
    rest: Option<&'a str>,
    d: u8,
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let r = self.rest?;
        match cut(r, self.d) {
            Some((part, rest)) => {
                self.rest = Some(rest);
                Some(part)
            }
            None => {
                self.rest = None;
                Some(r)
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_as_std(s in "[a-c|&é\\n]{0,12}", d in prop::sample::select(vec![b'|', b'&', b'\n', b'a'])) {
            let c = d as char;
            prop_assert_eq!(cut(&s, d), s.split_once(c));
            prop_assert_eq!(rcut(&s, d), s.rsplit_once(c));
            prop_assert_eq!(has(&s, d), s.contains(c));
            prop_assert_eq!(first_is(&s, d), s.starts_with(c));
            prop_assert_eq!(parts(&s, d).collect::<Vec<_>>(), s.split(c).collect::<Vec<_>>());
        }
    }
}
