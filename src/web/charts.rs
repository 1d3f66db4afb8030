//! Charts drawn on the server as inline SVG, for the dashboard: horizontal bars (one figure
//! per named thing) and grouped columns (a few figures per period).
//!
//! Each chart is an `<svg role="img">` labelled by its `<title>` and described by its `<desc>`;
//! the page puts the same figures in a table beside it, so a screen reader, a phone or a CSV
//! user loses nothing. Labels and values arrive already written in the page's language; this
//! file only draws them (escaped) and mirrors the drawing for right-to-left pages. It knows
//! nothing of reports.

use std::fmt::Write;

/// Width of every chart's drawing, in SVG units (it scales to its box).
/// Narrow enough that text stays readable when a phone scales the chart down.
const WIDTH: f64 = 480.0;
/// Height of one bar's row.
const ROW: f64 = 32.0;
/// Room for the labels beside the bars.
const LABEL: f64 = 170.0;
/// Room for the value after the longest bar.
const VALUE: f64 = 60.0;
/// Longest label drawn whole (longer ones end in `…`; the table has them whole).
const LABEL_CHARS: usize = 20;
/// Room a period's name needs under the columns (names are skipped to keep it).
const PERIOD_NAME: f64 = 80.0;

/// What a chart is about.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// A page-unique id (the `<title>` and `<desc>` ids derive from it).
    pub id: &'a str,
    /// Its title, read first by a screen reader.
    pub title: &'a str,
    /// What it shows, in a sentence.
    pub desc: &'a str,
    /// Whether the page reads right to left (bars then grow leftwards, periods run leftwards).
    pub rtl: bool,
}

/// One bar: what it is, its size, and its value as the page writes it.
#[derive(Debug, Clone)]
pub struct Bar {
    /// The thing measured (a stage, a category).
    pub label: String,
    /// Its value.
    pub value: f64,
    /// The value as shown (`42%`, `۴۲٪`).
    pub shown: String,
}

/// One series of a column chart: its name, its CSS class (its colour) and a value per period.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// `a` or `b` (the stylesheet colours `.series-a`, `.series-b`).
    pub class: &'static str,
    /// One value per period, as numbers and as shown.
    pub values: Vec<(f64, String)>,
}

/// Escapes text for SVG (XML) content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let mut cut: String = label.chars().take(LABEL_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The opening of a chart's SVG: its size, role, title and description.
fn open(chart: &Chart, height: f64, class: &str) -> String {
    let id = escape(chart.id);
    format!(
        "<svg class=\"chart {class}\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" \
         viewBox=\"0 0 {WIDTH} {height}\" preserveAspectRatio=\"xMinYMin meet\" direction=\"ltr\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(chart.title),
        escape(chart.desc)
    )
}

/// `x` (of something `width` wide) where a right-to-left page draws it.
fn place(chart: &Chart, x: f64, width: f64) -> f64 {
    if chart.rtl { WIDTH - x - width } else { x }
}

/// The anchor of text that starts at its `x` (`end` on a right-to-left page).
fn anchor(chart: &Chart, start: bool) -> &'static str {
    match (start, chart.rtl) {
        (true, false) | (false, true) => "start",
        _ => "end",
    }
}

/// Horizontal bars, one per [`Bar`], scaled so that `max` fills the width (`max` below the
/// largest value is raised to it). Empty when there are no bars.
pub fn bars(chart: &Chart, bars: &[Bar], max: f64) -> String {
    if bars.is_empty() {
        return String::new();
    }
    let max = bars.iter().map(|b| b.value).fold(max, f64::max).max(f64::MIN_POSITIVE);
    let room = WIDTH - LABEL - VALUE;
    let height = ROW * bars.len() as f64 + 8.0;
    let mut svg = open(chart, height, "bars");
    for (i, bar) in bars.iter().enumerate() {
        let y = 4.0 + ROW * i as f64;
        let length = (bar.value.max(0.0) / max * room).max(if bar.value > 0.0 { 2.0 } else { 0.0 });
        let label_x = if chart.rtl { WIDTH - LABEL + 8.0 } else { LABEL - 8.0 };
        let bar_x = place(chart, LABEL, length);
        let value_x = if chart.rtl { WIDTH - LABEL - length - 6.0 } else { LABEL + length + 6.0 };
        let _ = write!(
            svg,
            "<g><title>{label}: {shown}</title>\
             <text x=\"{label_x}\" y=\"{ty}\" text-anchor=\"{la}\">{short}</text>\
             <rect class=\"bar\" x=\"{bar_x:.1}\" y=\"{y}\" width=\"{length:.1}\" height=\"{h}\" rx=\"2\"></rect>\
             <text class=\"value\" x=\"{value_x:.1}\" y=\"{ty}\" text-anchor=\"{va}\">{shown}</text></g>",
            label = escape(&bar.label),
            shown = escape(&bar.shown),
            short = escape(&short(&bar.label)),
            ty = y + ROW / 2.0,
            h = ROW - 10.0,
            la = anchor(chart, false),
            va = anchor(chart, true),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Grouped columns: one group per period (named by `periods`, oldest first), a column per
/// [`Series`], with a legend. Empty when there are no periods.
pub fn columns(chart: &Chart, periods: &[String], series: &[Series]) -> String {
    if periods.is_empty() || series.is_empty() {
        return String::new();
    }
    let (top, bottom, side) = (34.0, 40.0, 16.0);
    let plot = 180.0;
    let height = top + plot + bottom;
    let max = series.iter().flat_map(|s| s.values.iter().map(|(v, _)| *v)).fold(1.0, f64::max);
    let group = (WIDTH - 2.0 * side) / periods.len() as f64;
    let column = (group * 0.8 / series.len() as f64).min(40.0);
    // Every how many periods a name fits, and whether values fit above their columns.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let every = ((PERIOD_NAME / group).ceil() as usize).max(1);
    let values_fit = column >= 22.0;
    let mut svg = open(chart, height, "columns");
    // The legend, on the reading side.
    for (i, s) in series.iter().enumerate() {
        let x = place(chart, side + 140.0 * i as f64, 12.0);
        let text_x = if chart.rtl { x - 6.0 } else { x + 18.0 };
        let _ = write!(
            svg,
            "<rect class=\"series-{class}\" x=\"{x:.1}\" y=\"8\" width=\"12\" height=\"12\"></rect>\
             <text x=\"{text_x:.1}\" y=\"18\" text-anchor=\"{a}\">{name}</text>",
            class = s.class,
            name = escape(&s.name),
            a = anchor(chart, true),
        );
    }
    let base = top + plot;
    let _ =
        write!(svg, "<line class=\"axis\" x1=\"{side}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\"></line>", WIDTH - side);
    for (p, name) in periods.iter().enumerate() {
        let start = side + group * p as f64 + (group - column * series.len() as f64) / 2.0;
        for (k, s) in series.iter().enumerate() {
            let Some((value, shown)) = s.values.get(p) else { continue };
            let h = (value.max(0.0) / max * (plot - 14.0)).max(if *value > 0.0 { 1.0 } else { 0.0 });
            let x = place(chart, start + column * k as f64, column);
            let label = if values_fit {
                format!(
                    "<text class=\"value\" x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{}</text>",
                    escape(shown),
                    cx = x + (column - 2.0) / 2.0,
                    ty = base - h - 3.0,
                )
            } else {
                String::new()
            };
            let _ = write!(
                svg,
                "<g><title>{period}, {series}: {shown}</title>\
                 <rect class=\"series-{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\"></rect>{label}</g>",
                period = escape(name),
                series = escape(&s.name),
                shown = escape(shown),
                class = s.class,
                y = base - h,
                w = column - 2.0,
            );
        }
        if p % every != 0 {
            continue;
        }
        let cx = place(chart, side + group * p as f64 + group / 2.0, 0.0);
        let _ = write!(
            svg,
            "<text x=\"{cx:.1}\" y=\"{y}\" text-anchor=\"middle\">{}</text>",
            escape(&short(name)),
            y = base + 18.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(rtl: bool) -> Chart<'static> {
        Chart { id: "c", title: "Breach <rate>", desc: "per stage", rtl }
    }

    #[test]
    fn a_bar_chart_is_an_accessible_image_with_escaped_labels() {
        let bars_ = [Bar { label: "Review & repair".into(), value: 0.5, shown: "50%".into() }];
        let svg = bars(&chart(false), &bars_, 1.0);
        assert!(svg.starts_with("<svg class=\"chart bars\" id=\"c\" role=\"img\" aria-labelledby=\"c-title c-desc\""));
        assert!(svg.contains("<title id=\"c-title\">Breach &lt;rate&gt;</title>"));
        assert!(svg.contains("<desc id=\"c-desc\">per stage</desc>"));
        assert!(svg.contains("Review &amp; repair"));
        assert!(!svg.contains("Review & repair"));
        // Half the room for half the maximum.
        assert!(svg.contains(&format!("width=\"{:.1}\"", (WIDTH - LABEL - VALUE) / 2.0)));
    }

    #[test]
    fn right_to_left_bars_grow_from_the_right() {
        let bars_ = [Bar { label: "بررسی".into(), value: 1.0, shown: "۱۰۰٪".into() }];
        let ltr = bars(&chart(false), &bars_, 1.0);
        let rtl = bars(&chart(true), &bars_, 1.0);
        assert!(ltr.contains(&format!("x=\"{LABEL:.1}\"")));
        assert!(rtl.contains(&format!("x=\"{:.1}\"", WIDTH - LABEL - (WIDTH - LABEL - VALUE))));
    }

    #[test]
    fn nothing_to_draw_draws_nothing() {
        assert_eq!(bars(&chart(false), &[], 1.0), "");
        assert_eq!(columns(&chart(false), &[], &[]), "");
    }

    #[test]
    fn columns_draw_one_rect_per_value_and_a_legend() {
        let series = [
            Series { name: "Opened".into(), class: "a", values: vec![(3.0, "3".into()), (0.0, "0".into())] },
            Series { name: "Resolved".into(), class: "b", values: vec![(1.0, "1".into()), (2.0, "2".into())] },
        ];
        let svg = columns(&chart(false), &["W1".into(), "W2".into()], &series);
        assert_eq!(svg.matches("<rect class=\"series-a\"").count(), 3);
        assert_eq!(svg.matches("<rect class=\"series-b\"").count(), 3);
        assert!(svg.contains("W1, Opened: 3"));
    }
}
