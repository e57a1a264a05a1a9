//! A few SVG elements for the HTML report's charts, written by hand.
//!
//! Why not a plotting crate: the charts are a handful of `rect`, `line`, `circle` and `text`
//! elements each, and what matters is around them — every chart must carry an accessible
//! `<title>`/`<desc>` and `role="img"`, every mark its own `<title>` (the hover text and what a
//! screen reader says), and every colour must come from the page's CSS classes so the one file
//! follows `prefers-color-scheme` and prints. `plotters`' SVG backend writes fixed colours and
//! no titles, so its output would have to be rewritten after the fact; a short writer is
//! simpler and keeps the report free of a dependency.
//!
//! The SVG is inline in the page (no `xmlns` needed there). Every piece of text goes through
//! [`escape::html`]; coordinates are rounded to 0.1 px.

use std::fmt::Write as _;

use super::escape;

/// Horizontal anchoring of a text label.
#[derive(Debug, Clone, Copy)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// One SVG document being written.
pub(super) struct Svg {
    out: String,
}

/// A coordinate, rounded for a compact file.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

impl Svg {
    /// Start a chart `width`×`height` (it scales to its container), announced by `title` and
    /// described by `desc`; `id` must be unique in the page (it links the two to the chart).
    pub(super) fn new(id: &str, width: f64, height: f64, title: &str, desc: &str) -> Svg {
        let id = escape::html(id);
        let mut out = String::new();
        let _ = write!(
            out,
            "<svg class=\"chart\" viewBox=\"0 0 {} {}\" \
             width=\"{}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\">\
             <title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
            n(width),
            n(height),
            n(width),
            escape::html(title),
            escape::html(desc)
        );
        Svg { out }
    }

    /// A rectangle with its own hover text.
    pub(super) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, class: &str, tip: &str) {
        let _ = write!(
            self.out,
            "<rect class=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
            escape::html(class),
            n(x),
            n(y),
            n(w.max(0.0)),
            n(h.max(0.0)),
            escape::html(tip)
        );
    }

    /// A dot with its own hover text.
    pub(super) fn circle(&mut self, cx: f64, cy: f64, r: f64, class: &str, tip: &str) {
        let _ = write!(
            self.out,
            "<circle class=\"{}\" cx=\"{}\" cy=\"{}\" r=\"{}\"><title>{}</title></circle>",
            escape::html(class),
            n(cx),
            n(cy),
            n(r),
            escape::html(tip)
        );
    }

    /// A line (axes, grid, thresholds, markers).
    pub(super) fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, class: &str) {
        let _ = write!(
            self.out,
            "<line class=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            escape::html(class),
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        );
    }

    /// A polyline through `points` (a trend).
    pub(super) fn polyline(&mut self, points: &[(f64, f64)], class: &str) {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
            .collect();
        let _ = write!(
            self.out,
            "<polyline class=\"{}\" points=\"{}\"/>",
            escape::html(class),
            path.join(" ")
        );
    }

    /// A text label.
    pub(super) fn text(&mut self, x: f64, y: f64, anchor: Anchor, class: &str, text: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{}\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>",
            escape::html(class),
            n(x),
            n(y),
            anchor.as_str(),
            escape::html(text)
        );
    }

    /// Open a group; `attrs` are extra `name="value"` pairs (values escaped), e.g. the data
    /// attributes tests and scripts find marks by.
    pub(super) fn group(&mut self, class: &str, attrs: &[(&str, &str)]) {
        let _ = write!(self.out, "<g class=\"{}\"", escape::html(class));
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"{}\"", escape::html(value));
        }
        self.out.push('>');
    }

    pub(super) fn end_group(&mut self) {
        self.out.push_str("</g>");
    }

    /// The finished `<svg>` element.
    pub(super) fn finish(mut self) -> String {
        self.out.push_str("</svg>");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_the_chart_is_labelled() {
        let mut svg = Svg::new("c1", 100.0, 20.0, "a <b>", "d & e");
        svg.rect(0.0, 0.0, 10.04, 5.0, "bar", "</title><script>");
        svg.text(1.0, 2.0, Anchor::End, "label", "x\"y");
        let out = svg.finish();
        assert!(out.contains("aria-labelledby=\"c1-t c1-d\""), "{out}");
        assert!(
            out.contains("<title id=\"c1-t\">a &lt;b&gt;</title>"),
            "{out}"
        );
        assert!(out.contains("width=\"10\""), "{out}");
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("x&quot;y"), "{out}");
        assert!(out.ends_with("</svg>"));
    }
}
