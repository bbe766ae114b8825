//! An SVG chart (plotters): one panel per policy; lag on the left axis; on the right, the
//! replicas running and the replicas the arrivals need (arrivals ÷ one replica's rate), so
//! the distance between the two lines is over- or under-provisioning.

use std::path::Path;

use plotters::prelude::*;

use super::outcome::Outcome;

const PANEL_HEIGHT: u32 = 260;
const WIDTH: u32 = 1000;

/// Draws `outcomes` into an SVG file at `path`.
pub fn svg(outcomes: &[Outcome], path: &Path) -> Result<(), String> {
    let height = PANEL_HEIGHT * outcomes.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let panels = root.split_evenly((outcomes.len().max(1), 1));
    for (panel, outcome) in panels.iter().zip(outcomes) {
        draw(panel, outcome).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw(panel: &Area<'_>, o: &Outcome) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let hours = |t: u64| t as f64 / 3600.0;
    let end = o
        .timeline
        .last()
        .map_or(1.0, |p| hours(p.t))
        .max(1.0 / 60.0);
    let top = o.timeline.iter().map(|p| p.lag).fold(1.0, f64::max);
    let needed = |p: &super::outcome::Point| p.arrivals / o.per_replica;
    let most = o
        .timeline
        .iter()
        .map(|p| f64::from(p.replicas).max(needed(p)))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(panel)
        .caption(
            format!(
                "{}: {:.0} replica-hours, {} changes, {} rebalances",
                o.name, o.replica_hours, o.replica_changes, o.rebalances
            ),
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .right_y_label_area_size(40)
        .build_cartesian_2d(0.0..end, 0.0..top * 1.05)
        .map_err(|e| text(&e))?
        .set_secondary_coord(0.0..end, 0.0..most * 1.1);
    chart
        .configure_mesh()
        .x_desc("hours")
        .y_desc("lag (messages)")
        .y_label_formatter(&|v| super::report::thousands(*v))
        .draw()
        .map_err(|e| text(&e))?;
    chart
        .configure_secondary_axes()
        .y_desc("replicas")
        .draw()
        .map_err(|e| text(&e))?;
    let line = |f: &dyn Fn(&super::outcome::Point) -> f64| {
        o.timeline
            .iter()
            .map(|p| (hours(p.t), f(p)))
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(LineSeries::new(line(&|p| p.lag), RED))
        .map_err(|e| text(&e))?
        .label("lag (left)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
    chart
        .draw_secondary_series(LineSeries::new(line(&needed), BLUE.mix(0.7)))
        .map_err(|e| text(&e))?
        .label("replicas the arrivals need (right)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
    chart
        .draw_secondary_series(LineSeries::new(line(&|p| f64::from(p.replicas)), BLACK))
        .map_err(|e| text(&e))?
        .label("replicas (right)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| text(&e))?;
    Ok(())
}
