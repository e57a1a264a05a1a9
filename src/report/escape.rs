//! Escaping text that came from the project (dependency names, file names, tool output) for
//! each output: a terminal must not execute escape sequences it contains, markdown must not
//! render HTML, links or mentions it contains, a code span or fence must not be closed by it.

use std::fmt::Write as _;

/// `text` as one POSIX shell word: unchanged when it holds only characters no shell treats
/// specially, otherwise in single quotes (an embedded `'` becomes `'\''`). Used where a
/// suggested command names a project path, which may hold spaces, `$` or quotes.
pub(crate) fn shell_word(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+/,:@%".contains(c))
    {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(format!("'{}'", text.replace('\'', "'\\''")))
    }
}

/// Characters a terminal or a text view acts on instead of showing: C0 controls (but newline
/// and tab), DEL, C1 controls, and the bidirectional overrides that reorder what is shown
/// ("Trojan Source").
fn is_hidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\t'))
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\u{1b}' => out.push_str("\\e"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Text for a terminal: control characters and escape sequences shown as `\e[31m`, `\x07`…
pub(crate) fn terminal(text: &str) -> String {
    if !text.chars().any(is_hidden) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for markdown prose (and table cells): `<`, `>`, `&` as entities, the characters that
/// start links, code, emphasis, cells and mentions backslash-escaped, line breaks as spaces, controls escaped. A
/// dependency called `<img src=x onerror=…>` or `[click](https://evil.example)` renders as
/// that text.
pub(crate) fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            // Enough to stop links, images, code spans, emphasis, table cells and mentions;
            // `_` (in every identifier) is left alone: inside a word it is not emphasis.
            '\\' | '`' | '*' | '[' | ']' | '|' | '@' => {
                out.push('\\');
                out.push(c);
            }
            c if is_hidden(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML (element content and quoted attribute values): `& < > " '` as entities,
/// controls and bidirectional overrides shown escaped, as in a terminal.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A markdown code span holding `text` literally, whatever backticks it contains.
pub(crate) fn code(text: &str) -> String {
    let one_line: String = terminal(&text.replace(['\n', '\r'], " "));
    let fence = "`".repeat(longest_run(&one_line, '`') + 1);
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{one_line}{pad}{fence}")
}

/// A fence for a code block holding `text`: longer than any backtick run inside it.
pub(crate) fn fence(text: &str) -> String {
    "`".repeat(longest_run(text, '`').max(2) + 1)
}

fn longest_run(text: &str, c: char) -> usize {
    let mut best = 0;
    let mut run = 0;
    for ch in text.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_are_shown_not_executed() {
        assert_eq!(terminal("a\u{1b}[2Jb\u{7}\r"), "a\\e[2Jb\\x07\\r");
        assert_eq!(terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(terminal("plain\ttext\n"), "plain\ttext\n");
    }

    #[test]
    fn html_text_cannot_open_a_tag_or_leave_an_attribute() {
        assert_eq!(
            html("<img src=x onerror=\"a('1')\">&\u{1b}[31m"),
            "&lt;img src=x onerror=&quot;a(&#39;1&#39;)&quot;&gt;&amp;\\e[31m"
        );
    }

    #[test]
    fn markdown_renders_html_and_links_as_text() {
        assert_eq!(
            markdown("<img src=x onerror=alert(1)> [a](http://e) @team"),
            "&lt;img src=x onerror=alert(1)&gt; \\[a\\](http://e) \\@team"
        );
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(fence("```"), "````");
    }
}

/// The markdown helpers read back by a real `CommonMark` parser: what a reader sees is the text.
#[cfg(test)]
mod commonmark {
    use pulldown_cmark::{Event, Parser, Tag};

    use super::*;

    fn events(markdown: &str) -> Vec<Event<'_>> {
        Parser::new(markdown).collect()
    }

    #[test]
    fn a_code_span_shows_its_text_whatever_backticks_it_holds() {
        for text in [
            "npm ci",
            "run `npm ci` first",
            "``double`` and `single`",
            "`starts with one",
            "ends with one`",
            "```",
            "a ` b `` c ``` d",
        ] {
            let md = format!("* fix: {}", code(text));
            let spans: Vec<String> = events(&md)
                .into_iter()
                .filter_map(|e| match e {
                    Event::Code(c) => Some(c.into_string()),
                    _ => None,
                })
                .collect();
            assert_eq!(spans, [text], "{md}");
        }
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, Parser::new(&code("run `npm ci` first")));
        assert_eq!(html, "<p><code>run `npm ci` first</code></p>\n");
    }

    #[test]
    fn prose_renders_as_text_never_as_html_links_or_code() {
        let hostile =
            "<img src=x onerror=alert(1)> [click](https://evil.example) `x` *b* @team | y";
        let md = markdown(hostile);
        let mut text = String::new();
        for event in events(&md) {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::Start(Tag::Paragraph) | Event::End(_) => {}
                other => panic!("{other:?} in {md}"),
            }
        }
        assert_eq!(text, hostile);
    }
}
