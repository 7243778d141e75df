//! `es-bench plot OUT.png RUN.json…`: the growth curve as a PNG, from the
//! JSON of one or more `--only growth --json` runs. For each figure, its
//! cost relative to the first size (`details.cost_curve` of the
//! `growth_*_vs_*` figures: a time over the first time, or the first rate
//! over a rate) against the log's size on a logarithmic axis, one line per
//! run, and the target (1.2×) as a dashed line.
//!
//! Text is drawn with `plotters`' `ab_glyph` feature from a font file read
//! at run time (`ES_BENCH_FONT`, default DejaVu Sans), so building needs no
//! system font library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The font file used when `ES_BENCH_FONT` is not set.
const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// The figures' colours (red is the target's).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
];

/// One run's curve of one figure: (events in the log, relative cost).
type Curve = Vec<(f64, f64)>;

/// The cost curves of one run's JSON, by figure name.
fn curves(path: &Path) -> Result<BTreeMap<String, Curve>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut out: BTreeMap<String, Curve> = BTreeMap::new();
    for w in json["workloads"].as_array().into_iter().flatten() {
        let (Some(name), Some(points)) = (
            w["details"]["measure"].as_str(),
            w["details"]["cost_curve"].as_array(),
        ) else {
            continue;
        };
        let curve: Curve = points
            .iter()
            .filter_map(|p| Some((p["events"].as_f64()?, p["cost"].as_f64()?)))
            .collect();
        // Every `_vs_` figure of a measure carries the whole curve.
        let slot = out.entry(name.to_owned()).or_default();
        if curve.len() > slot.len() {
            *slot = curve;
        }
    }
    Ok(out)
}

/// An x-axis label: only at 1, 2, 3 and 5 times a power of ten (the log
/// axis offers every integer multiple, whose labels run into each other).
fn tick(x: f64) -> String {
    let v = x.round() as u64;
    let mag = 10u64.pow(v.max(1).ilog10());
    if v.is_multiple_of(mag) && [1, 2, 3, 5].contains(&(v / mag)) {
        crate::workload::label(v)
    } else {
        String::new()
    }
}

/// Draws the curves of `runs` into `png`.
pub(crate) fn plot(png: &Path, runs: &[PathBuf]) -> Result<()> {
    if runs.is_empty() {
        bail!("no JSON file to plot");
    }
    let font_path = std::env::var("ES_BENCH_FONT").unwrap_or_else(|_| DEFAULT_FONT.to_owned());
    let font = std::fs::read(&font_path)
        .with_context(|| format!("reading the font {font_path} (set ES_BENCH_FONT)"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .map_err(|_| anyhow::anyhow!("{font_path} is not a font plotters can read"))?;
    let runs: Vec<BTreeMap<String, Curve>> =
        runs.iter().map(|p| curves(p)).collect::<Result<_>>()?;
    let all = runs.iter().flat_map(|r| r.values()).flatten();
    let (mut x_lo, mut x_hi, mut y_hi) = (f64::MAX, 0.0f64, 1.5f64);
    for &(x, y) in all {
        x_lo = x_lo.min(x);
        x_hi = x_hi.max(x);
        y_hi = y_hi.max(y * 1.1);
    }
    if x_hi <= 0.0 {
        bail!("the JSON holds no growth curve (run `es-bench --only growth --json`)");
    }
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(png, (1000, 620)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Cost as the log grows (framework, relative to the first size; {} run{})",
                    runs.len(),
                    if runs.len() == 1 { "" } else { "s" }
                ),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((x_lo / 1.5..x_hi * 1.5).log_scale(), 0.0..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("events in the log")
            .y_desc("cost relative to the first size")
            .x_label_formatter(&|x| tick(*x))
            .label_style(("sans-serif", 15))
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new(
                [(x_lo / 1.5, 1.2), (x_hi * 1.5, 1.2)],
                8,
                6,
                RED.stroke_width(2),
            ))?
            .label("target: 1.2x at 10x the size")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
        let names: Vec<&String> = runs[0].keys().collect();
        for (i, name) in names.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            for (r, run) in runs.iter().enumerate() {
                let Some(curve) = run.get(*name) else {
                    continue;
                };
                let line = chart.draw_series(LineSeries::new(
                    curve.iter().copied(),
                    color.stroke_width(2),
                ))?;
                if r == 0 {
                    line.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
                chart.draw_series(curve.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", png.display()))
}
