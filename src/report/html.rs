//! The page: one HTML document with everything inline (charts as SVG, the map as a PNG
//! data URI, no script), and a Content-Security-Policy that forbids any fetch, so that
//! opening it never touches the network.

use std::fmt::Write;

/// The page's policy: nothing from anywhere, except inline styles and `data:` images.
const CSP: &str = "default-src 'none'; img-src data:; style-src 'unsafe-inline'";

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#a33}\
#map{image-rendering:pixelated;display:block;border:0}figure{margin:8px 0}";

/// Escapes text for HTML element content and attribute values (the notice page's escaping).
pub use crate::notice::escape as esc;

/// An HTML document under construction. Text goes in escaped; only SVG from plotters
/// and the page's own markup go in as they are.
pub struct Page {
    body: String,
}

impl Page {
    pub fn new() -> Page {
        Page {
            body: String::new(),
        }
    }

    pub fn heading(&mut self, level: u8, text: &str) {
        let _ = write!(self.body, "<h{level}>{}</h{level}>", esc(text));
    }

    pub fn paragraph(&mut self, text: &str, class: Option<&str>) {
        match class {
            Some(c) => {
                let _ = write!(self.body, "<p class=\"{}\">{}</p>", esc(c), esc(text));
            }
            None => {
                let _ = write!(self.body, "<p>{}</p>", esc(text));
            }
        }
    }

    /// Name and value pairs, as they are.
    pub fn pairs(&mut self, rows: &[(String, String)]) {
        self.body.push_str("<table>");
        for (k, v) in rows {
            let _ = write!(self.body, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
        }
        self.body.push_str("</table>");
    }

    /// A table of rows; cells that are numbers are right-aligned.
    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<table><tr>");
        for h in header {
            let _ = write!(self.body, "<th>{}</th>", esc(h));
        }
        self.body.push_str("</tr>");
        for row in rows {
            self.body.push_str("<tr>");
            for cell in row {
                let numeric = !cell.is_empty()
                    && cell
                        .chars()
                        .all(|c| c.is_ascii_digit() || ".,% ".contains(c));
                let class = if numeric { " class=\"n\"" } else { "" };
                let _ = write!(self.body, "<td{class}>{}</td>", esc(cell));
            }
            self.body.push_str("</tr>");
        }
        self.body.push_str("</table>");
    }

    /// An SVG document made by plotters, inline.
    pub fn svg(&mut self, svg: &str) {
        // The XML declaration is not allowed inside HTML.
        let svg = match svg.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(svg, |(_, s)| s),
            None => svg,
        };
        let _ = write!(self.body, "<figure>{svg}</figure>");
    }

    /// A PNG image as a data URI, shown at its own size.
    pub fn png(&mut self, id: &str, png: &[u8], (w, h): (u32, u32), alt: &str) {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD.encode(png);
        let _ = write!(
            self.body,
            "<img id=\"{}\" width=\"{w}\" height=\"{h}\" alt=\"{}\" src=\"data:image/png;base64,{data}\">",
            esc(id),
            esc(alt)
        );
    }

    pub fn finish(self, title: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
             <title>{}</title><style>{STYLE}</style></head><body>{}</body></html>\n",
            esc(title),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_svg_loses_its_xml_declaration() {
        let mut p = Page::new();
        p.paragraph("<script>alert('x')</script> & \"more\"", None);
        p.svg("<?xml version=\"1.0\"?>\n<svg></svg>");
        let html = p.finish("a < b");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)"));
        assert!(html.contains("<figure>\n<svg></svg></figure>"));
        assert!(html.contains("<title>a &lt; b</title>"));
        assert!(!html.contains("<?xml"));
    }
}
