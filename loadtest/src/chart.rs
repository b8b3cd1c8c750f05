//! The report's chart: send → deliver p50/p99, throughput and node CPU per second, one panel
//! each, drawn with plotters' bitmap backend. Text uses a TrueType font found on the system
//! (ab_glyph, no fontconfig); without one the chart is drawn without its labels.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::report::{Sample, Summary};

/// Fonts tried, in order (Debian's fonts-liberation, fonts-dejavu-core).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
];

/// Whether a font was registered as "sans-serif".
fn have_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        FONTS.iter().any(|path| {
            std::fs::read(path).is_ok_and(|bytes| {
                // Registered once for the process's life, as plotters requires.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

/// A named, coloured series of `(seconds, value)`.
type Line = (String, RGBColor, Vec<(f64, f64)>);

pub fn draw(path: &Path, run: &Summary, floor: Option<&Summary>) -> anyhow::Result<()> {
    let text = have_font();
    let root = BitMapBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let series = |s: &Summary, f: &dyn Fn(&Sample) -> f64| -> Vec<(f64, f64)> {
        s.timeline.iter().map(|x| (x.t, f(x))).collect()
    };
    let runs: Vec<&Summary> = std::iter::once(run).chain(floor).collect();
    // Strong colours for the run, the floor's beside them; lighter ones for p50.
    let colour = |i: usize| if i == 0 { BLUE } else { RED };
    let light = |i: usize| if i == 0 { CYAN } else { MAGENTA };
    let panel = |area: &DrawingArea<BitMapBackend<'_>, _>,
                 title: &str,
                 lines: Vec<Line>|
     -> anyhow::Result<()> {
        let x_max = lines
            .iter()
            .flat_map(|l| l.2.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let y_max = lines
            .iter()
            .flat_map(|l| l.2.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(1e-3, f64::max)
            * 1.1;
        let mut b = ChartBuilder::on(area);
        b.margin(10);
        if text {
            b.caption(title, ("sans-serif", 20))
                .x_label_area_size(30)
                .y_label_area_size(70);
        }
        let mut chart = b.build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        let mut mesh = chart.configure_mesh();
        if !text {
            mesh.disable_x_mesh().x_labels(0).y_labels(0);
        } else {
            mesh.x_desc("seconds");
        }
        mesh.draw()?;
        for (name, colour, points) in lines {
            let s = chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
            if text {
                s.label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
            }
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    };
    let mut latency = Vec::new();
    let mut rates = Vec::new();
    let mut cpu = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let k = format!("{:?}", r.kind).to_lowercase();
        let c = colour(i);
        latency.push((format!("{k} p99 ms"), c, series(r, &|x| x.p99_ms)));
        latency.push((format!("{k} p50 ms"), light(i), series(r, &|x| x.p50_ms)));
        rates.push((
            format!("{k} deliveries/s"),
            c,
            series(r, &|x| x.delivered_per_sec),
        ));
        rates.push((
            format!("{k} connected"),
            GREEN,
            series(r, &|x| x.connected as f64),
        ));
        cpu.push((
            format!("{k} node CPU % (all nodes)"),
            c,
            series(r, &|x| x.node_cpu_pct.iter().sum()),
        ));
        cpu.push((
            format!("{k} workers CPU %"),
            BLACK,
            series(r, &|x| x.worker_cpu_pct),
        ));
    }
    panel(&panels[0], "send → deliver latency per second", latency)?;
    panel(&panels[1], "throughput", rates)?;
    panel(&panels[2], "CPU (100 = one core)", cpu)?;
    root.present()?;
    Ok(())
}
