//! What a click records about its element: a selector path, the tag and masked text. Only DOM
//! tree reads (no layout, no storage), bounded in depth and siblings so a click on a huge list
//! costs the same as a click on a button.

use web_sys::{Element, Node};

use crate::core::event::limits;
use crate::core::scrub::{mask_text, truncate_in_place};

/// Ancestors walked for the selector: enough to tell elements apart, cheap on deep trees.
const MAX_DEPTH: usize = 5;
/// Siblings scanned for `:nth-of-type`; beyond this the index is left out.
const MAX_SIBLINGS: usize = 32;
/// Classes kept per element (the rest are usually state or generated names).
const MAX_CLASSES: usize = 2;

/// The selector path of `el`, e.g. `main > ul.items > li:nth-of-type(3) > button.buy`.
pub fn selector(el: &Element) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(MAX_DEPTH);
    let mut cur = Some(el.clone());
    while let Some(e) = cur {
        if parts.len() == MAX_DEPTH {
            break;
        }
        let tag = e.local_name();
        if tag == "html" || tag == "body" {
            break;
        }
        let id = e.id();
        if !id.is_empty() && id.len() <= 64 {
            let mut p = String::with_capacity(id.len() + 1);
            p.push('#');
            p.push_str(&id);
            parts.push(p);
            break;
        }
        let mut p = tag;
        // getAttribute works for SVG too, where `className` is an object.
        if let Some(class) = e.get_attribute("class") {
            for c in class.split_ascii_whitespace().filter(|c| !looks_generated(c)).take(MAX_CLASSES) {
                p.push('.');
                p.push_str(c);
            }
        }
        if let Some(n) = nth_of_type(&e, &p) {
            p.push_str(":nth-of-type(");
            crate::core::json::push_u64(&mut p, n as u64);
            p.push(')');
        }
        parts.push(p);
        cur = e.parent_element();
    }
    let mut out = String::with_capacity(64);
    for (i, p) in parts.iter().rev().enumerate() {
        if i > 0 {
            out.push_str(" > ");
        }
        out.push_str(p);
    }
    truncate_in_place(&mut out, limits::SELECTOR);
    out
}

/// CSS-in-JS hashes and utility soup (`css-1x2y3z`, `sc-AxjAm`) make selectors unstable.
fn looks_generated(class: &str) -> bool {
    class.len() > 32 || class.bytes().filter(u8::is_ascii_digit).count() >= 3
}

/// The 1-based index among same-tag siblings, when there are such siblings within reach.
fn nth_of_type(el: &Element, selector_part: &str) -> Option<usize> {
    let tag_len = selector_part.find(['.', ':']).unwrap_or(selector_part.len());
    let tag = &selector_part[..tag_len];
    let mut index = 1;
    let mut seen = 0;
    let mut s = el.previous_element_sibling();
    while let Some(e) = s {
        seen += 1;
        if seen > MAX_SIBLINGS {
            return None;
        }
        if e.local_name() == tag {
            index += 1;
        }
        s = e.previous_element_sibling();
    }
    if index > 1 {
        return Some(index);
    }
    let mut s = el.next_element_sibling();
    let mut seen = 0;
    while let Some(e) = s {
        seen += 1;
        if seen > MAX_SIBLINGS {
            return None;
        }
        if e.local_name() == tag {
            return Some(1);
        }
        s = e.next_element_sibling();
    }
    None
}

/// Masked visible text of the element itself (its own text nodes, not the subtree: reading a
/// container's whole `textContent` could cost milliseconds). Never anything of form fields.
pub fn text(el: &Element, tag: &str) -> String {
    if matches!(tag, "input" | "textarea" | "select" | "option")
        || el.has_attribute("contenteditable")
        || el.closest("[data-ferrotel-mask]").ok().flatten().is_some()
    {
        return String::new();
    }
    let mut raw = String::new();
    let mut child = el.first_child();
    let mut n = 0;
    while let Some(c) = child {
        n += 1;
        if n > 8 || raw.len() > limits::TEXT {
            break;
        }
        if c.node_type() == Node::TEXT_NODE {
            if let Some(t) = c.node_value() {
                raw.push_str(&t);
                raw.push(' ');
            }
        }
        child = c.next_sibling();
    }
    let mut masked = mask_text(&raw);
    truncate_in_place(&mut masked, limits::TEXT);
    masked
}
