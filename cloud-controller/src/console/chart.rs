//! The cluster chart: the last hour's mean load average, memory and requests in flight (left
//! axis), the member count as a step line (right axis), the policy's thresholds as dashed
//! lines, and a marker per scale-up decision — drawn by plotters as SVG on the server.
//!
//! Each scale-up marker is a `<line class="scale-up-marker" data-decision-time=…>` added after
//! plotters' drawing, so pages and tests can find it.

use crate::controller::history::{ClusterLoad, LoadSample, KEPT_SECONDS};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write;

const WIDTH: u32 = 860;
const HEIGHT: u32 = 320;

const LOAD: RGBColor = RGBColor(0xd9, 0x48, 0x1c);
const MEMORY: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const REQUESTS: RGBColor = RGBColor(0x2f, 0x85, 0x5a);
const MEMBERS: RGBColor = RGBColor(0x44, 0x44, 0x44);
const SCALE_UP: RGBColor = RGBColor(0x9b, 0x2c, 0x9b);

/// Reads one metric of a sample.
type Metric = fn(&LoadSample) -> Option<f64>;

/// A scale-up decision to mark: when, and how many members it started.
pub struct ScaleUp {
    pub time: f64,
    pub started: usize,
}

/// Minutes before `now` (negative) of a time in seconds.
fn minutes_ago(time: f64, now: f64) -> f64 {
    ((time - now) / 60.0).clamp(-KEPT_SECONDS / 60.0, 0.0)
}

/// The chart as an SVG document, or a note saying why there is none.
pub fn render(load: &ClusterLoad, scale_ups: &[ScaleUp], now: f64) -> String {
    let mut svg = String::new();
    let markers = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        match draw(&root, load, scale_ups, now) {
            Ok(markers) => markers,
            Err(e) => {
                tracing::warn!(error = %e, "cluster chart not drawn");
                return String::from("<p class=\"note\">The chart could not be drawn.</p>");
            }
        }
    };
    if let Some(end) = svg.rfind("</svg>") {
        svg.insert_str(end, &markers);
    }
    svg
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    load: &ClusterLoad,
    scale_ups: &[ScaleUp],
    now: f64,
) -> Result<String, Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let samples = &load.samples;
    let thresholds = [
        load.thresholds.load_average,
        load.thresholds.memory_consumption,
        load.thresholds.requests_in_flight,
    ];
    let top = samples
        .iter()
        .flat_map(|s| [s.load_average, s.memory_consumption, s.requests_in_flight])
        .chain(thresholds)
        .flatten()
        .fold(100.0f64, f64::max)
        * 1.1;
    let most_members = samples.iter().map(|s| s.members).max().unwrap_or(0) as f64 + 1.0;
    let span = KEPT_SECONDS / 60.0;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(44)
        .right_y_label_area_size(44)
        .build_cartesian_2d(-span..0.0, 0.0..top)?
        .set_secondary_coord(-span..0.0, 0.0..most_members);
    chart
        .configure_mesh()
        .x_desc("minutes ago")
        .y_desc("load %, memory %, requests")
        .x_labels(7)
        .light_line_style(WHITE)
        .draw()?;
    chart.configure_secondary_axes().y_desc("members").draw()?;

    let metrics: [(Metric, RGBColor, &str); 3] = [
        (|s| s.load_average, LOAD, "load average"),
        (|s| s.memory_consumption, MEMORY, "memory"),
        (|s| s.requests_in_flight, REQUESTS, "requests in flight"),
    ];
    for ((value, color, label), threshold) in metrics.into_iter().zip(thresholds) {
        let points: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|s| value(s).map(|v| (minutes_ago(s.time, now), v)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        if let Some(t) = threshold {
            chart.draw_series(DashedLineSeries::new(
                vec![(-span, t), (0.0, t)],
                6,
                4,
                color.stroke_width(1),
            ))?;
        }
    }
    let mut steps = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let x = minutes_ago(s.time, now);
        if i > 0 {
            steps.push((x, samples[i - 1].members as f64));
        }
        steps.push((x, s.members as f64));
    }
    if let Some(last) = samples.last() {
        steps.push((0.0, last.members as f64));
    }
    chart
        .draw_secondary_series(LineSeries::new(steps, MEMBERS.stroke_width(2)))?
        .label("members")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], MEMBERS));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let mut markers = String::new();
    for up in scale_ups.iter().filter(|u| now - u.time <= KEPT_SECONDS) {
        let x = minutes_ago(up.time, now);
        let (px, top_px) = chart.backend_coord(&(x, top));
        let (_, bottom_px) = chart.backend_coord(&(x, 0.0));
        let _ = write!(
            markers,
            "<line class=\"scale-up-marker\" data-decision-time=\"{:.3}\" data-started=\"{}\" \
             x1=\"{px}\" y1=\"{top_px}\" x2=\"{px}\" y2=\"{bottom_px}\" stroke=\"#{:02x}{:02x}{:02x}\" \
             stroke-width=\"2\"><title>scale-up: {} started</title></line>",
            up.time, up.started, SCALE_UP.0, SCALE_UP.1, SCALE_UP.2, up.started
        );
    }
    root.present()?;
    Ok(markers)
}
