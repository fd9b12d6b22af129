//! Report plots, each written as `<name>.svg` and `<name>.png`:
//!
//! * `spectrum` — channel covariance eigenvalues with block 0's groups and bit-widths;
//! * `rate_distortion` — SQNR vs bits/value for every method of the sweep, the
//!   Gaussian R(D) bound and the measured policy;
//! * `search_trajectory` — the dynamic bit-width search (only when recorded);
//! * `ablation` — SQNR bars of ours, its ablations and the baselines at its rate.
//!
//! Text is rendered with DejaVu Sans embedded in the binary
//! (`assets/fonts/DejaVuSans.ttf`, see `assets/fonts/LICENSE`), registered once
//! with plotters' `ab_glyph` font table, so no system font is needed.

use crate::commands::eval_sweep::Sweep;
use crate::commands::report::{Point, Report};
use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// Picture size in pixels (SVG user units).
const SIZE: (u32, u32) = (900, 600);
/// Font family every text uses (registered from the embedded font).
const FONT: &str = "sans-serif";
/// Largest bits/value shown on the rate–distortion axis.
const MAX_BPV_AXIS: f64 = 8.0;

static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
static FONT_ONCE: Once = Once::new();
static FONT_OK: AtomicBool = AtomicBool::new(false);

/// Registers the embedded font under the generic family names, once per process.
pub(crate) fn register_fonts() -> Result<()> {
    FONT_ONCE.call_once(|| {
        let ok = ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|family| plotters::style::register_font(family, FontStyle::Normal, FONT_BYTES).is_ok());
        FONT_OK.store(ok, Ordering::Release);
    });
    if FONT_OK.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err(anyhow!("the embedded plot font (assets/fonts/DejaVuSans.ttf) could not be parsed"))
    }
}

type DrawResult<DB> = std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws `$draw(&root, $r)` on an SVG and a PNG backend, presents both and
/// records the paths written.
macro_rules! render_both {
    ($dir:expr, $name:expr, $draw:ident, $r:expr, $out:expr) => {{
        let svg = $dir.join(format!("{}.svg", $name));
        {
            let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
            $draw(&root, $r).with_context(|| format!("drawing {}", svg.display()))?;
            root.present().with_context(|| format!("writing {}", svg.display()))?;
        }
        $out.push(svg);
        let png = $dir.join(format!("{}.png", $name));
        {
            let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            $draw(&root, $r).with_context(|| format!("drawing {}", png.display()))?;
            root.present().with_context(|| format!("writing {}", png.display()))?;
        }
        $out.push(png);
    }};
}

/// Writes every plot of a report into `dir`; returns the files written.
pub fn write_all(r: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    register_fonts()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = Vec::new();
    render_both!(dir, "spectrum", draw_spectrum, r, out);
    render_both!(dir, "rate_distortion", draw_rate_distortion, r, out);
    if !r.search.is_empty() {
        render_both!(dir, "search_trajectory", draw_search_trajectory, r, out);
    }
    render_both!(dir, "ablation", draw_ablation, r, out);
    Ok(out)
}

// ---------------------------------------------------------------- helpers

/// Colour-blind-friendly qualitative palette (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const OURS_COLOR: RGBColor = RGBColor(214, 39, 40);
const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);
const GRID_LIGHT: RGBColor = RGBColor(240, 240, 240);

/// The mesh style every chart shares: axis-title font, grey grid lines.
trait HouseGrid {
    /// Axis titles at 16 px, bold and light grid lines in grey, at most 4
    /// light lines between bold ones.
    fn set_house_grid(&mut self) -> &mut Self;
}

impl<X: plotters::coord::ranged1d::Ranged, Y: plotters::coord::ranged1d::Ranged, DB: DrawingBackend> HouseGrid
    for plotters::chart::MeshStyle<'_, '_, X, Y, DB>
{
    fn set_house_grid(&mut self) -> &mut Self {
        self.axis_desc_style(font(16)).bold_line_style(GRID_BOLD).light_line_style(GRID_LIGHT).max_light_lines(4)
    }
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font())
}

fn anchored(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    font(size).pos(Pos::new(h, v))
}

/// A finite, non-empty axis range containing `lo..hi` (falls back to 0..1).
fn axis(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() || lo > hi {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        let d = (lo.abs() * 0.1).max(0.5);
        return (lo - d, hi + d);
    }
    (lo, hi)
}

/// Tick label without floating-point noise ("7.6", not "7.6000000000000005").
fn tick(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

fn min_max(v: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    v.into_iter().filter(|x| x.is_finite()).fold(None, |acc, x| Some(acc.map_or((x, x), |(a, b): (f64, f64)| (a.min(x), b.max(x)))))
}

/// Centered message for a plot without data.
fn no_data<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str, msg: &str) -> DrawResult<DB> {
    let (w, h) = root.dim_in_pixel();
    root.draw(&Text::new(title.to_string(), (w as i32 / 2, 30), anchored(24, HPos::Center, VPos::Center)))?;
    root.draw(&Text::new(msg.to_string(), (w as i32 / 2, h as i32 / 2), anchored(18, HPos::Center, VPos::Center).color(&BLACK.mix(0.6))))?;
    Ok(())
}

// ---------------------------------------------------------------- accuracy sweep

/// Writes `accuracy_vs_bpv.svg` and `.png`: top-1 against stored bits/value for every method
/// of an `eval --sweep`, with the uncompressed network's top-1 as a dashed line.
pub fn write_accuracy_sweep(s: &Sweep, dir: &Path) -> Result<Vec<PathBuf>> {
    register_fonts()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = Vec::new();
    render_both!(dir, "accuracy_vs_bpv", draw_accuracy_sweep, s, out);
    Ok(out)
}

fn draw_accuracy_sweep<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Sweep) -> DrawResult<DB> {
    const TITLE: &str = "Top-1 accuracy vs bits per value (all target tensors compressed)";
    root.fill(&WHITE)?;
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for p in s.points.iter().filter(|p| p.bpv.is_finite() && p.top1.is_finite()) {
        match series.iter_mut().find(|(m, _)| *m == p.method) {
            Some((_, pts)) => pts.push((p.bpv, p.top1)),
            None => series.push((p.method.clone(), vec![(p.bpv, p.top1)])),
        }
    }
    for (_, pts) in &mut series {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    }
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    let (Some((x_lo, x_hi)), Some((y_min, _))) = (min_max(all.iter().map(|p| p.0)), min_max(all.iter().map(|p| p.1))) else {
        return no_data(root, TITLE, "no finite sweep points");
    };
    let (x_lo, x_hi) = axis((x_lo - 0.25).max(0.0), x_hi + 0.25);
    let y_top = s.baseline_top1.max(all.iter().map(|p| p.1).fold(0.0, f64::max));
    let (y_lo, y_hi) = axis(y_min.min(y_top - 2.0).max(0.0), (y_top + 0.15 * (y_top - y_min).max(2.0)).min(100.5));
    let mut chart = ChartBuilder::on(root)
        .caption(TITLE, font(22))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .x_desc("stored bits per value (all compressed tensors)")
        .y_desc("top-1 accuracy (%)")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(font(14))
        .set_house_grid()
        .draw()?;
    let base = s.baseline_top1;
    chart
        .draw_series(DashedLineSeries::new(vec![(x_lo, base), (x_hi, base)], 10, 6, BLACK.stroke_width(2)))?
        .label(format!("uncompressed: {base:.2} %"))
        .legend(|(x, y)| {
            EmptyElement::at((x, y)) + PathElement::new(vec![(-2, 0), (5, 0)], BLACK.stroke_width(2)) + PathElement::new(vec![(10, 0), (18, 0)], BLACK.stroke_width(2))
        });
    let mut next_color = 0usize;
    for (name, pts) in &series {
        let ours = name == "ours";
        let c = if ours {
            OURS_COLOR
        } else {
            let mut c = PALETTE[next_color % PALETTE.len()];
            if c == OURS_COLOR {
                next_color += 1;
                c = PALETTE[next_color % PALETTE.len()];
            }
            next_color += 1;
            c
        };
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(if ours { 3 } else { 2 })))?.label(name.clone()).legend(move |(x, y)| {
            EmptyElement::at((x, y)) + PathElement::new(vec![(-2, 0), (18, 0)], c.stroke_width(2)) + Circle::new((8, 0), 4, c.filled())
        });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(font(14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .margin(12)
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------- spectrum

fn draw_spectrum<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    const TITLE: &str = "Channel covariance spectrum and bit allocation";
    root.fill(&WHITE)?;
    let n = r.eigenvalues.len();
    let finite: Vec<(usize, f64)> = r.eigenvalues.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).collect();
    if finite.is_empty() {
        return no_data(root, TITLE, "no eigenvalues in the report");
    }
    let positive = min_max(finite.iter().map(|&(_, v)| v).filter(|&v| v > 0.0));
    let (top, floor) = match positive {
        Some((lo, hi)) => (hi, lo.max(hi * 1e-6)),
        None => (1.0, 1e-6),
    };
    // Headroom above the largest eigenvalue for the bit-width labels.
    let (y_lo, y_hi) = (floor / 2.0, top * 12.0);
    let x_hi = n as f64 - 0.5;

    let mut chart = ChartBuilder::on(root)
        .caption(TITLE, font(24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..x_hi, (y_lo..y_hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("component (descending eigenvalue order)")
        .y_desc("eigenvalue (variance)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .label_style(font(14))
        .set_house_grid()
        .draw()?;

    // Groups of block 0: shaded spans, boundaries, bit-width labels.
    let total: usize = r.groups.iter().map(|g| g.size).sum();
    if !r.groups.is_empty() && total == n {
        let (plot_w, _) = chart.plotting_area().dim_in_pixel();
        let px_per_component = plot_w as f64 / n.max(1) as f64;
        let label_y = [top * 2.0, top * 5.5];
        let mut right_edge = [f64::NEG_INFINITY; 2];
        let mut start = 0usize;
        for (k, g) in r.groups.iter().enumerate() {
            if g.size == 0 {
                continue;
            }
            let (a, b) = (start as f64 - 0.5, (start + g.size) as f64 - 0.5);
            if k % 2 == 1 {
                chart.draw_series(std::iter::once(Rectangle::new([(a, y_lo), (b, y_hi)], BLUE.mix(0.06).filled())))?;
            }
            if start > 0 {
                // Stop below the label band so narrow groups' labels stay clear.
                chart.draw_series(DashedLineSeries::new(vec![(a, y_lo), (a, top * 1.4)], 6, 4, BLACK.mix(0.45).stroke_width(1)))?;
            }
            // Stagger labels of narrow neighbouring groups on two rows.
            let label = format!("{}b", g.bits);
            let center = (a + b) / 2.0;
            let half_w = label.len() as f64 * 8.5 / 2.0 / px_per_component + 0.3;
            let row = if center - half_w > right_edge[0] {
                0
            } else if center - half_w > right_edge[1] {
                1
            } else {
                0
            };
            right_edge[row] = center + half_w;
            let color = if g.bits == 0 { BLACK.mix(0.5) } else { PALETTE[0].to_rgba() };
            chart.draw_series(std::iter::once(Text::new(
                label,
                (center, label_y[row]),
                anchored(15, HPos::Center, VPos::Center).color(&color),
            )))?;
            start += g.size;
        }
    }

    // The spectrum; zeros and values below the floor are clamped to it.
    let shown: Vec<(f64, f64)> = finite.iter().filter(|&&(_, v)| v >= floor).map(|&(i, v)| (i as f64, v)).collect();
    let clamped: Vec<(f64, f64)> = finite.iter().filter(|&&(_, v)| v < floor).map(|&(i, _)| (i as f64, floor)).collect();
    let c = PALETTE[0];
    chart.draw_series(LineSeries::new(shown.clone(), c.stroke_width(2)))?.label("eigenvalue").legend(move |(x, y)| {
        EmptyElement::at((x, y)) + PathElement::new(vec![(-2, 0), (18, 0)], c.stroke_width(2)) + Circle::new((8, 0), 3, c.filled())
    });
    chart.draw_series(shown.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    if !clamped.is_empty() {
        let g = BLACK.mix(0.55);
        chart
            .draw_series(clamped.iter().map(|&p| Circle::new(p, 3, g.stroke_width(1))))?
            .label(format!("zero or < {:.0e} (drawn at the floor)", floor))
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, g.stroke_width(1)));
    }
    if !r.groups.is_empty() && total == n {
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("block-0 group boundary / bit-width")
            .legend(|(x, y)| PathElement::new(vec![(x - 2, y), (x + 18, y)], BLACK.mix(0.45).stroke_width(1)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font(font(14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .margin(12)
        .draw()?;

    if !r.groups.is_empty() && total != n {
        // Groups of block 0 do not span the whole spectrum: list them instead.
        let mut listing = r.groups.iter().map(|g| format!("{}×{}b", g.size, g.bits)).collect::<Vec<_>>().join(" ");
        if listing.chars().count() > 70 {
            listing = listing.chars().take(69).collect::<String>() + "…";
        }
        let text = format!("groups of block 0 (B = {total}): {listing}");
        chart
            .plotting_area()
            .draw(&(EmptyElement::at((-0.5, y_hi)) + Text::new(text, (10, 10), anchored(15, HPos::Left, VPos::Top).color(&PALETTE[0]))))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- rate–distortion

/// Sweep method name with a trailing per-rate tag ("INT4") removed, so the
/// per-tensor uniform points form one curve.
fn method_family(m: &str) -> String {
    if let Some((head, tail)) = m.rsplit_once(' ') {
        if tail.len() > 3 && tail.starts_with("INT") && tail[3..].chars().all(|c| c.is_ascii_digit()) {
            return head.to_string();
        }
    }
    m.to_string()
}

fn plottable(bpv: f64, sqnr: f64) -> bool {
    bpv.is_finite() && sqnr.is_finite() && (0.0..=MAX_BPV_AXIS + 1e-9).contains(&bpv)
}

fn draw_rate_distortion<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    const TITLE: &str = "Rate–distortion: SQNR vs bits per value";
    root.fill(&WHITE)?;
    // Curves by method family, first-seen order, points sorted by rate.
    let mut families: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for p in r.sweep.iter().filter(|p| plottable(p.bpv, p.sqnr_db)) {
        let fam = method_family(&p.method);
        match families.iter_mut().find(|(f, _)| *f == fam) {
            Some((_, pts)) => pts.push((p.bpv, p.sqnr_db)),
            None => families.push((fam, vec![(p.bpv, p.sqnr_db)])),
        }
    }
    for (_, pts) in &mut families {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut bound: Vec<(f64, f64)> = r.bound_curve.iter().copied().filter(|&(b, s)| plottable(b, s)).collect();
    bound.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ours = &r.ours.point;
    let ours_pt = plottable(ours.bpv, ours.sqnr_db).then_some((ours.bpv, ours.sqnr_db));

    let all = families.iter().flat_map(|(_, p)| p.iter().copied()).chain(bound.iter().copied()).chain(ours_pt);
    let Some((x_max, (y_min, y_max))) =
        all.clone().map(|p| p.0).fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))).zip(min_max(all.map(|p| p.1)))
    else {
        return no_data(root, TITLE, "no finite rate–distortion points in the report");
    };
    let x_hi = x_max.clamp(0.5, MAX_BPV_AXIS);
    let (y_lo, y_hi) = axis(y_min.min(0.0), y_max);
    let y_hi = y_hi + 0.08 * (y_hi - y_lo);

    let mut chart = ChartBuilder::on(root)
        .caption(TITLE, font(24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(60)
        // 2% slack on the right so markers at the last rate are not clipped.
        .build_cartesian_2d(0.0..x_hi * 1.02, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .x_desc("bits per value")
        .y_desc("SQNR (dB)")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(font(14))
        .set_house_grid()
        .draw()?;

    if !bound.is_empty() {
        chart.draw_series(DashedLineSeries::new(bound.clone(), 10, 6, BLACK.stroke_width(2)))?.label("Gaussian R(D) bound").legend(
            |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(-2, 0), (5, 0)], BLACK.stroke_width(2))
                    + PathElement::new(vec![(10, 0), (18, 0)], BLACK.stroke_width(2))
            },
        );
        chart.draw_series(bound.iter().map(|&p| Cross::new(p, 4, BLACK.stroke_width(1))))?;
    }
    let mut next_color = 0usize;
    for (name, pts) in &families {
        let c = if name == "ours" {
            OURS_COLOR
        } else {
            let mut c = PALETTE[next_color % PALETTE.len()];
            if c == OURS_COLOR {
                next_color += 1;
                c = PALETTE[next_color % PALETTE.len()];
            }
            next_color += 1;
            c
        };
        let width = if name == "ours" { 3 } else { 2 };
        chart.draw_series(LineSeries::new(pts.clone(), c.stroke_width(width)))?.label(name.clone()).legend(move |(x, y)| {
            EmptyElement::at((x, y)) + PathElement::new(vec![(-2, 0), (18, 0)], c.stroke_width(2)) + Circle::new((8, 0), 4, c.filled())
        });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))?;
    }
    if let Some(p) = ours_pt {
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(p) + Circle::new((0, 0), 10, OURS_COLOR.stroke_width(3)) + Circle::new((0, 0), 4, BLACK.filled()),
            ))?
            .label(format!("{} measured: {:.2} bpv, {:.2} dB", ours.method, p.0, p.1))
            .legend(|(x, y)| {
                EmptyElement::at((x + 8, y)) + Circle::new((0, 0), 7, OURS_COLOR.stroke_width(2)) + Circle::new((0, 0), 3, BLACK.filled())
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(font(14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .margin(12)
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------- search

fn action_color(action: &str) -> RGBColor {
    match action {
        "start" => PALETTE[2],
        "cut" => PALETTE[0],
        "trade" => PALETTE[1],
        "raise" => PALETTE[3],
        _ => PALETTE[4],
    }
}

fn draw_search_trajectory<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    const TITLE: &str = "Dynamic bit-width search";
    root.fill(&WHITE)?;
    let steps: Vec<(&str, (f64, f64))> = r
        .search
        .iter()
        .filter(|s| s.code_bpv.is_finite() && s.predicted_sqnr_db.is_finite())
        .map(|s| (s.action.as_str(), (s.code_bpv, s.predicted_sqnr_db)))
        .collect();
    let (Some((x0, x1)), Some((y0, y1))) = (min_max(steps.iter().map(|s| s.1 .0)), min_max(steps.iter().map(|s| s.1 .1))) else {
        return no_data(root, TITLE, "no finite search steps in the report");
    };
    let (x0, x1) = axis(x0, x1);
    let (y0, y1) = axis(y0, y1);
    let (dx, dy) = (0.05 * (x1 - x0), 0.1 * (y1 - y0));

    let mut chart = ChartBuilder::on(root)
        .caption(TITLE, font(24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d((x0 - dx).max(0.0)..x1 + dx, y0 - dy..y1 + dy)?;
    chart
        .configure_mesh()
        .x_desc("code bits per value")
        .y_desc("predicted SQNR on calibration data (dB)")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(font(14))
        .set_house_grid()
        .draw()?;

    let path: Vec<(f64, f64)> = steps.iter().map(|s| s.1).collect();
    chart.draw_series(LineSeries::new(path, BLACK.mix(0.45).stroke_width(2)))?;
    let mut actions: Vec<&str> = Vec::new();
    for s in &steps {
        if !actions.contains(&s.0) {
            actions.push(s.0);
        }
    }
    for a in actions {
        let c = action_color(a);
        let size = if a == "start" { 7 } else { 4 };
        chart
            .draw_series(steps.iter().filter(|s| s.0 == a).map(|s| Circle::new(s.1, size, c.filled())))?
            .label(a.to_string())
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, c.filled()));
    }
    // Annotate where the search starts and ends.
    let first = steps[0].1;
    let last = steps[steps.len() - 1].1;
    chart.draw_series(std::iter::once(
        EmptyElement::at(first)
            + Text::new(format!("start: {:.2} bpv, {:.1} dB", first.0, first.1), (-12, -10), anchored(14, HPos::Right, VPos::Bottom)),
    ))?;
    if steps.len() > 1 {
        chart.draw_series(std::iter::once(
            EmptyElement::at(last)
                + Circle::new((0, 0), 9, BLACK.stroke_width(2))
                + Text::new(format!("final: {:.2} bpv, {:.1} dB", last.0, last.1), (14, 10), anchored(14, HPos::Left, VPos::Top)),
        ))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(font(14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .margin(12)
        .draw()?;
    Ok(())
}

// ---------------------------------------------------------------- ablation

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Ours,
    Ablation,
    Baseline,
}

impl Kind {
    fn color(self) -> RGBColor {
        match self {
            Kind::Ours => OURS_COLOR,
            Kind::Ablation => PALETTE[1],
            Kind::Baseline => PALETTE[7],
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Ours => "ours (policy, measured)",
            Kind::Ablation => "ablation of ours",
            Kind::Baseline => "baseline at the same rate",
        }
    }
}

fn draw_ablation<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &Report) -> DrawResult<DB> {
    let rate = r.ours.point.bpv;
    let title = if rate.is_finite() {
        format!("SQNR at {rate:.2} bits/value: ours, ablations and baselines")
    } else {
        "SQNR: ours, ablations and baselines".to_string()
    };
    root.fill(&WHITE)?;
    let near = |p: &Point| rate.is_finite() && (p.bpv - rate).abs() <= 0.01;
    let mut bars: Vec<(&Point, Kind)> = std::iter::once((&r.ours.point, Kind::Ours))
        .chain(r.ablations.iter().map(|p| (p, Kind::Ablation)))
        .chain(r.baselines.iter().filter(|p| near(p)).map(|p| (p, Kind::Baseline)))
        .filter(|(p, _)| p.sqnr_db.is_finite())
        .collect();
    if bars.is_empty() {
        return no_data(root, &title, "no finite SQNR to compare");
    }
    // Ascending, so the best ends up on top.
    bars.sort_by(|a, b| a.0.sqnr_db.total_cmp(&b.0.sqnr_db));
    let names: Vec<String> = bars.iter().map(|(p, _)| p.method.clone()).collect();
    let n = bars.len();

    let label_style = font(15);
    let mut label_w = 0u32;
    for name in &names {
        label_w = label_w.max(root.estimate_text_size(name, &label_style)?.0);
    }
    let (lo, hi) = axis(bars.iter().map(|b| b.0.sqnr_db).fold(0.0, f64::min), bars.iter().map(|b| b.0.sqnr_db).fold(0.0, f64::max));
    let pad = 0.22 * (hi - lo);
    let x_range = (if lo < 0.0 { lo - pad } else { lo })..(if hi > 0.0 { hi + pad } else { hi });

    // Legend in a strip under the chart, so it never covers bars or values.
    let (plot_area, legend_area) = root.split_vertically(SIZE.1 as i32 - 40);
    let mut kinds: Vec<Kind> = Vec::new();
    for (_, k) in &bars {
        if !kinds.contains(k) {
            kinds.push(*k);
        }
    }
    kinds.sort_by_key(|k| *k as u8);
    legend_strip(&legend_area, &kinds.iter().map(|k| (k.label(), k.color().mix(0.85))).collect::<Vec<_>>())?;

    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title.as_str(), font(24))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size((label_w + 20).min(SIZE.0 / 2))
        .build_cartesian_2d(x_range, (0..n as i32).into_segmented())?;
    let fmt_name = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i as usize).cloned().unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("SQNR (dB)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&fmt_name)
        .y_labels(n + 1)
        .x_label_style(font(14))
        .y_label_style(label_style.clone())
        .set_house_grid()
        .draw()?;

    for (i, (p, kind)) in bars.iter().enumerate() {
        let i = i as i32;
        let mut bar =
            Rectangle::new([(0.0, SegmentValue::Exact(i)), (p.sqnr_db, SegmentValue::Exact(i + 1))], kind.color().mix(0.85).filled());
        bar.set_margin(5, 5, 0, 0);
        chart.draw_series(std::iter::once(bar))?;
        let mut text = format!("{:.2} dB", p.sqnr_db);
        if (p.bpv - rate).abs() > 5e-4 && p.bpv.is_finite() {
            text += &format!(" @ {:.3} bpv", p.bpv);
        }
        let (dx, h) = if p.sqnr_db >= 0.0 { (6, HPos::Left) } else { (-6, HPos::Right) };
        chart.draw_series(std::iter::once(
            EmptyElement::at((p.sqnr_db, SegmentValue::CenterOf(i))) + Text::new(text, (dx, 0), anchored(14, h, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// A one-line legend of filled swatches, centered in `area`.
fn legend_strip<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(&str, RGBAColor)]) -> DrawResult<DB> {
    let style = font(14);
    let (w, h) = area.dim_in_pixel();
    let mut widths = Vec::with_capacity(items.len());
    for (label, _) in items {
        widths.push(area.estimate_text_size(label, &style)?.0 as i32);
    }
    let total: i32 = widths.iter().map(|w| w + 16 + 6 + 28).sum::<i32>() - 28;
    let (mut x, y) = (((w as i32 - total) / 2).max(0), h as i32 / 2);
    for ((label, color), tw) in items.iter().zip(widths) {
        area.draw(&Rectangle::new([(x, y - 7), (x + 16, y + 7)], color.filled()))?;
        area.draw(&Text::new(label.to_string(), (x + 22, y), anchored(14, HPos::Left, VPos::Center)))?;
        x += 16 + 6 + tw + 28;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::report::{GroupInfo, Measured};
    use actcomp_golden::calibrate::SearchStep;
    use actcomp_golden::metrics::Distortion;

    fn pt(method: &str, bpv: f64, sqnr_db: f64) -> Point {
        let mse = 10f64.powf(-sqnr_db / 10.0);
        Point {
            method: method.into(),
            bpv,
            sqnr_db,
            mse,
            bound_bpv: bpv * 0.7,
            gap_bpv: bpv * 0.3,
            distortion: Distortion { values: 100, mse, sqnr_db, max_abs_error: 0.1, cosine: 0.99 },
        }
    }

    fn step(action: &str, code_bpv: f64, predicted_sqnr_db: f64) -> SearchStep {
        SearchStep {
            action: action.into(),
            block: Some(0),
            group: Some(0),
            bits_per_vector: (code_bpv * 8.0) as u64,
            code_bpv,
            predicted_sqnr_db,
        }
    }

    fn report() -> Report {
        let ours = pt("ours (policy)", 2.5, 13.8);
        Report {
            policy: "policy.json".into(),
            fingerprint: "0".into(),
            activations: "a.npy".into(),
            shape: vec![1, 8, 2, 2],
            fitted_on: vec!["a.npy".into()],
            ours: Measured { values: 32, payload_bpv: 2.5, header_bytes: 40, header_bpv: 0.1, file_bpv: 2.6, side_bpv: 0.0, point: ours },
            baselines: vec![pt("straightforward PCA + greedy bits", 2.5, 10.7), pt("per-tensor uniform INT8", 8.0, 42.0)],
            ablations: vec![pt("ours: uniform, equal groups", 2.5, 10.3), pt("ours: Lloyd levels, optimal groups", 2.5, f64::INFINITY)],
            sweep: vec![
                pt("ours", 1.0, 6.5),
                pt("ours", 2.0, 11.4),
                pt("ours", 4.0, f64::NAN),
                pt("per-tensor uniform INT2", 2.0, 12.3),
                pt("per-tensor uniform INT8", 8.0, 42.3),
                pt("per-tensor uniform INT16", 16.0, 90.0),
                pt("single point method", 3.0, 15.0),
            ],
            bound_curve: vec![(1.0, 9.1), (2.0, 15.8), (4.0, f64::INFINITY)],
            eigenvalues: vec![1.0, 0.5, 0.2, 0.1, 0.05, 0.01, 1e-20, 0.0],
            groups: vec![GroupInfo { size: 2, bits: 4 }, GroupInfo { size: 1, bits: 3 }, GroupInfo { size: 5, bits: 0 }],
            search: vec![step("start", 8.0, 40.0), step("cut", 6.0, 30.0), step("trade", 6.0, 30.5), step("cut", 2.5, 13.0)],
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        std::env::temp_dir().join(format!("actcomp-plots-{tag}-{}-{nanos}", std::process::id()))
    }

    fn check(files: &[PathBuf], names: &[&str]) {
        for name in names {
            for ext in ["svg", "png"] {
                let f = files.iter().find(|f| f.file_name().and_then(|s| s.to_str()) == Some(&format!("{name}.{ext}")));
                let f = f.unwrap_or_else(|| panic!("{name}.{ext} not returned: {files:?}"));
                let len = std::fs::metadata(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).len();
                assert!(len > 0, "{} is empty", f.display());
            }
        }
        assert_eq!(files.len(), names.len() * 2, "{files:?}");
    }

    #[test]
    fn plots_write_svg_and_png() {
        let dir = temp_dir("full");
        let files = write_all(&report(), &dir).unwrap();
        check(&files, &["spectrum", "rate_distortion", "search_trajectory", "ablation"]);
        let png = std::fs::read(dir.join("spectrum.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let svg = std::fs::read_to_string(dir.join("rate_distortion.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("Gaussian R(D) bound"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn plots_survive_degenerate_reports() {
        // Empty search (no trajectory plot), groups that do not span the
        // spectrum, non-finite and empty series, a single point.
        let mut r = report();
        r.search.clear();
        r.groups = vec![GroupInfo { size: 3, bits: 2 }];
        r.sweep = vec![pt("ours", 2.0, f64::NAN)];
        r.bound_curve.clear();
        r.ablations.clear();
        r.baselines.clear();
        let dir = temp_dir("edge");
        let files = write_all(&r, &dir).unwrap();
        check(&files, &["spectrum", "rate_distortion", "ablation"]);

        r.eigenvalues = vec![f64::NAN];
        r.ours.point.sqnr_db = f64::INFINITY;
        r.ours.point.bpv = f64::NAN;
        r.search = vec![step("start", 8.0, 40.0)];
        let files = write_all(&r, &dir).unwrap();
        check(&files, &["spectrum", "rate_distortion", "search_trajectory", "ablation"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
