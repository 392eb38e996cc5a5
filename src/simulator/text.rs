//! HTML to plain text, for `display_as=plaintext`.
//!
//! Handles exactly the markup the simulator emits: paragraphs become lines,
//! `<br>` a newline, links `label (url)` (the 2.16 rule), other tags are
//! dropped and the common entities are decoded.

/// Converts a simulator HTML body to plain text.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut href: Option<String> = None;
    let mut rest = html;
    while let Some(pos) = rest.find(['<', '&']) {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if rest.starts_with('&') {
            let (text, used) = entity(rest);
            out.push_str(text);
            rest = &rest[used..];
            continue;
        }
        let Some(end) = rest.find('>') else {
            out.push_str(rest);
            rest = "";
            break;
        };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let closing = tag.starts_with('/');
        match (name.as_str(), closing) {
            ("br", _) => out.push('\n'),
            ("p", true) => out.push('\n'),
            ("a", false) => href = attr(tag, "href"),
            ("a", true) => {
                if let Some(url) = href.take() {
                    out.push_str(" (");
                    out.push_str(&url);
                    out.push(')');
                }
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out.trim_end().to_owned()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].replace("&amp;", "&"))
}

fn entity(s: &str) -> (&'static str, usize) {
    for (e, t) in [
        ("&amp;", "&"),
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&nbsp;", " "),
    ] {
        if s.starts_with(e) {
            return (t, e.len());
        }
    }
    ("&", 1)
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn converts_paragraphs_links_and_entities() {
        assert_eq!(
            html_to_text(
                "<p>Hi &amp; welcome.</p><p>See <a href=\"https://x.io/a?b=1&amp;c=2\">the guide</a>.<br>Bye</p>"
            ),
            "Hi & welcome.\nSee the guide (https://x.io/a?b=1&c=2).\nBye"
        );
        assert_eq!(html_to_text("<p>We get <code>429</code></p>"), "We get 429");
        assert_eq!(html_to_text("plain & simple"), "plain & simple");
        assert_eq!(html_to_text("broken <p"), "broken <p");
    }
}
