//! The envelope as an SVG chart (plotters): three panels over the load, each with its own
//! axis and the bound of issue 20 where it has one: RSS; full-refresh wall time; broker
//! requests per refresh, asking one trigger per group and queue and asking all of them, next
//! to the number of triggers.

use std::path::Path;

use plotters::prelude::*;

use crate::report::{Level, Work};

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

struct Line<'a> {
    label: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

pub fn draw(path: &Path, levels: &[Level]) {
    let root = SVGBackend::new(path, (1500, 420)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let panels = root.split_evenly((1, 3));
    let at = |f: &dyn Fn(&Level) -> f64| {
        levels
            .iter()
            .map(|l| (l.percent as f64, f(l)))
            .collect::<Vec<_>>()
    };
    let flat = |v: f64| vec![(0.0, v), (100.0, v)];
    let grey = RGBColor(150, 150, 150);
    let rss = [
        Line {
            label: "after the first refresh",
            color: RGBColor(230, 140, 0),
            points: at(&|l| l.warm.rss_mib),
        },
        Line {
            label: "with the streams open",
            color: RED,
            points: at(&|l| l.streaming.rss_mib),
        },
        Line {
            label: "after 4 more refreshes",
            color: MAGENTA,
            points: at(&|l| l.stats.rss_mib),
        },
        Line {
            label: "bound: 256 MiB",
            color: grey,
            points: flat(256.0),
        },
    ];
    panel(&panels[0], "lagscale serve's resident memory", "MiB", &rss);
    let time = [
        Line {
            label: "slowest of 3",
            color: BLUE,
            points: at(&Level::slowest_ms),
        },
        Line {
            label: "median of 3",
            color: CYAN,
            points: at(&Level::median_ms),
        },
        Line {
            label: "bound: 3 s",
            color: grey,
            points: flat(3_000.0),
        },
    ];
    panel(&panels[1], "one full refresh (wall time)", "ms", &time);
    let requests = [
        Line {
            label: "triggers",
            color: grey,
            points: at(&|l| l.triggers as f64),
        },
        Line {
            label: "requests, all triggers asked (wide)",
            color: BLACK,
            points: at(&|l| l.all.iter().map(Work::requests).fold(0.0, f64::max)),
        },
        Line {
            label: "requests, one trigger per group/queue",
            color: GREEN,
            points: at(&|l| l.one.requests()),
        },
    ];
    panel(
        &panels[2],
        "broker requests per refresh",
        "requests",
        &requests,
    );
    root.present().unwrap();
}

fn panel(area: &Area<'_>, caption: &str, unit: &str, lines: &[Line<'_>]) {
    let top = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..105.0, 0.0..top * 1.15)
        .unwrap();
    chart
        .configure_mesh()
        .x_desc("load (% of 100 clusters, 1,000 groups, 10,000 triggers)")
        .y_desc(unit)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .unwrap();
    for line in lines {
        let color = line.color;
        // Wide under narrow, so two equal lines both show.
        let width = if line.color == BLACK { 5 } else { 2 };
        chart
            .draw_series(LineSeries::new(
                line.points.clone(),
                color.stroke_width(width),
            ))
            .unwrap()
            .label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart
            .draw_series(
                line.points
                    .iter()
                    .filter(|_| line.points.len() > 2) // not on the bounds
                    .map(|&p| Circle::new(p, 3, color.filled())),
            )
            .unwrap();
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .unwrap();
}
