//! Escaping text for the markup the simulator writes (the `--html` page
//! and the `--svg` drawing): one rule for both, since both are read by
//! browsers and XML parsers. Names in a bundle (commands, nodes, groups)
//! are the operator's text, not markup.

/// `s` as character data or an attribute value in HTML or SVG: the five
/// markup characters as entities; control characters (which XML forbids,
/// and a terminal would act on) as U+FFFD, except line feeds.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_characters_become_entities_and_controls_are_replaced() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(
            escape("a\u{1b}[31m\tb\nc\u{7f}"),
            "a\u{fffd}[31m\u{fffd}b\nc\u{fffd}"
        );
        assert_eq!(escape("ünïcode ✓"), "ünïcode ✓");
    }

    #[test]
    fn escaped_text_parses_back_to_itself_as_an_attribute() {
        // What a parser does with the entities: the text comes back.
        let s = r#"q"u'o<t>e&d"#;
        let back = escape(s)
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        assert_eq!(back, s);
    }
}
