//! Charts drawn on the server as accessible SVG with plotters (its SVG backend only): a
//! `<title>` and `<desc>` named by `aria-labelledby`, `role="img"`, text and axes in
//! `currentColor` so they follow the page's light or dark theme, and series in colours
//! readable on both. The page puts a data table beside each chart as its text alternative.

use plotters::coord::Shift;
use plotters::prelude::*;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;

/// Series colours: mid tones that read on a light and on a dark background (the legend's
/// `.series-N` classes in app.css repeat them).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x3b, 0x82, 0xf6),
    RGBColor(0xf5, 0x9e, 0x0b),
    RGBColor(0x10, 0xb9, 0x81),
    RGBColor(0xef, 0x44, 0x44),
    RGBColor(0x8b, 0x5c, 0xf6),
    RGBColor(0xec, 0x48, 0x99),
];

/// Drawn in black, then turned into `currentColor` (plotters knows only RGB).
const INK: RGBColor = RGBColor(0, 0, 0);
/// Grid lines: a grey that is quiet on either background.
const GRID: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// A bar per label.
pub fn bars(id: &str, title: &str, desc: &str, points: &[(String, i64)]) -> String {
    let labels: Vec<String> = points.iter().map(|(l, _)| short(l)).collect();
    let max = points.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    // A segmented range holds one segment per integer of the range, its end included.
    let last = points.len().max(1) as i32 - 1;
    let svg = draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(if points.len() > 8 { 70 } else { 30 })
            .y_label_area_size(56)
            .build_cartesian_2d((0..last).into_segmented(), 0..nice_max(max))?;
        let label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let style = TextStyle::from(("sans-serif", 13).into_font()).color(&INK);
        let x_style = if points.len() > 8 {
            style.transform(FontTransform::Rotate270)
        } else {
            style.clone()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(1)
            .light_line_style(GRID.mix(0.3))
            .bold_line_style(GRID.mix(0.5))
            .axis_style(INK)
            .x_labels(points.len().max(1))
            .x_label_formatter(&label)
            .x_label_style(x_style)
            .y_label_style(style)
            .draw()?;
        chart.draw_series(points.iter().enumerate().map(|(i, (_, v))| {
            let i = i as i32;
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                PALETTE[0].filled(),
            )
        }))?;
        Ok(())
    });
    accessible(svg, id, title, desc)
}

/// One line per series over the same labels (dates or hours, oldest first).
pub fn lines(
    id: &str,
    title: &str,
    desc: &str,
    labels: &[String],
    series: &[(String, Vec<i64>)],
) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = labels.len().max(2) as i32;
    let svg = draw(|root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0..n - 1, 0..nice_max(max))?;
        let label = |i: &i32| labels.get(*i as usize).cloned().unwrap_or_default();
        let style = TextStyle::from(("sans-serif", 13).into_font()).color(&INK);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(1)
            .light_line_style(GRID.mix(0.3))
            .bold_line_style(GRID.mix(0.5))
            .axis_style(INK)
            .x_labels(6)
            .x_label_formatter(&label)
            .x_label_style(style.clone())
            .y_label_style(style)
            .draw()?;
        for (i, (_, values)) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let points = values.iter().enumerate().map(|(x, y)| (x as i32, *y));
            chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            if values.len() <= 40 {
                let dots = values.iter().enumerate().map(|(x, y)| (x as i32, *y));
                chart.draw_series(dots.map(|p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        Ok(())
    });
    accessible(svg, id, title, desc)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draw on an SVG canvas. plotters is a third party's code: should it panic on some input,
/// the page goes without its chart (the data table still carries the figures).
fn draw(f: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult) -> String {
    let drawn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
            if let Err(e) = f(&root).and_then(|_| root.present().map_err(Into::into)) {
                tracing::warn!(error = %e, "chart could not be drawn");
            }
        }
        out
    }));
    drawn.unwrap_or_else(|_| {
        tracing::error!("chart drawing panicked; the page shows its data table only");
        String::new()
    })
}

/// The plotters SVG with a title and description, `role="img"`, and `currentColor` ink.
fn accessible(svg: String, id: &str, title: &str, desc: &str) -> String {
    let svg = svg.replace("\"#000000\"", "\"currentColor\"");
    let Some(open_end) = svg.find('>') else {
        return String::new();
    };
    let (open, rest) = svg.split_at(open_end);
    let open = open.replacen(
        "<svg ",
        &format!("<svg role=\"img\" class=\"chart\" aria-labelledby=\"{id}-title {id}-desc\" "),
        1,
    );
    format!(
        "{open}><title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>{}",
        escape(title),
        escape(desc),
        &rest[1..]
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A label short enough to sit under a bar.
fn short(label: &str) -> String {
    if label.chars().count() > 18 {
        format!("{}…", label.chars().take(17).collect::<String>())
    } else {
        label.to_string()
    }
}

/// The top of the y axis: a little above the largest value.
fn nice_max(max: i64) -> i64 {
    max + (max / 10).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_svg_with_its_title_and_escaped_labels() {
        let svg = bars(
            "c1",
            "Orders <by> status",
            "Rows per status",
            &[("<script>".into(), 3), ("paid".into(), 5)],
        );
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.contains("<title id=\"c1-title\">Orders &lt;by&gt; status</title>"));
        assert!(svg.contains("currentColor"));
        assert!(!svg.contains("<script>"));
        let svg = lines(
            "c2",
            "Per day",
            "",
            &["2026-11-01".into(), "2026-11-02".into()],
            &[("orders".into(), vec![1, 4])],
        );
        assert!(svg.contains("<desc id=\"c2-desc\"></desc>"));
        assert!(svg.contains("<polyline") || svg.contains("<path"), "{svg}");
    }

    #[test]
    fn edge_cases_draw_without_panicking() {
        for points in [
            vec![],
            vec![("one".to_string(), 1)],
            vec![("big".to_string(), i64::from(u32::MAX))],
        ] {
            assert!(bars("b", "t", "d", &points).contains("<svg"), "{points:?}");
        }
        let many: Vec<(String, i64)> = (0..30).map(|i| (format!("value {i}"), i)).collect();
        assert!(bars("b", "t", "d", &many).contains("<rect"));
        for labels in [vec![], vec!["2026-01".to_string()]] {
            let series = vec![("rows".to_string(), vec![5; labels.len()])];
            assert!(
                lines("l", "t", "d", &labels, &series).contains("<svg"),
                "{labels:?}"
            );
        }
        let labels: Vec<String> = (0..400).map(|i| format!("d{i}")).collect();
        let series = vec![("rows".to_string(), (0..400).collect::<Vec<i64>>())];
        assert!(lines("l", "t", "d", &labels, &series).contains("<polyline"));
    }
}
