//! The License Analytics chart: unique users per month as bars, the limit
//! in force as a line, drawn on the server as inline SVG (readable without
//! JavaScript; the numbers are also in the table beside it).

use std::fmt::Write as _;

use gatehouse_core::store::MonthUsageRecord;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 260;
const LEFT: u32 = 48;
const RIGHT: u32 = 12;
const TOP: u32 = 16;
const BOTTOM: u32 = 36;
const GRID_STEPS: u32 = 5;

/// The last `max_months` months as an SVG document fragment.
pub fn usage_chart(months: &[MonthUsageRecord], max_months: usize) -> String {
    let months = &months[months.len().saturating_sub(max_months)..];
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let top_value = months
        .iter()
        .map(|m| m.active_users.max(m.user_limit))
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = nice_ceiling(top_value);
    let y =
        |value: u32| TOP as f64 + plot_height as f64 * (1.0 - f64::from(value) / f64::from(scale));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title"><title id="chart-title">Unique users per month against the user limit</title>"#
    );
    // Grid and axis labels.
    for step in 0..=GRID_STEPS {
        let value = scale / GRID_STEPS * step;
        let gy = y(value);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{gy:.1}" x2="{}" y2="{gy:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{value}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6,
            gy + 4.0
        );
    }
    if months.is_empty() {
        svg.push_str("</svg>");
        return svg;
    }
    let slot = f64::from(plot_width) / months.len() as f64;
    let bar = (slot * 0.6).clamp(2.0, 48.0);
    let mut limit_points = Vec::new();
    for (index, month) in months.iter().enumerate() {
        let x = f64::from(LEFT) + slot * index as f64;
        let bar_top = y(month.active_users);
        let over = month.active_users >= month.user_limit;
        let _ = write!(
            svg,
            r#"<rect class="bar{}" x="{:.1}" y="{bar_top:.1}" width="{bar:.1}" height="{:.1}"><title>{}: {} of {} users</title></rect>"#,
            if over { " full" } else { "" },
            x + (slot - bar) / 2.0,
            (f64::from(TOP + plot_height) - bar_top).max(0.0),
            month.month,
            month.active_users,
            month.user_limit
        );
        let _ = write!(
            svg,
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x + slot / 2.0,
            HEIGHT - BOTTOM + 16,
            month.month
        );
        limit_points.push((x, x + slot, y(month.user_limit)));
    }
    // The limit as a step line across each month's slot.
    let mut path = String::new();
    for (index, (start, end, ly)) in limit_points.iter().enumerate() {
        let command = if index == 0 { 'M' } else { 'L' };
        let _ = write!(path, "{command}{start:.1},{ly:.1} L{end:.1},{ly:.1} ");
    }
    let _ = write!(
        svg,
        r#"<path class="limit" d="{}"><title>user limit</title></path>"#,
        path.trim_end()
    );
    let _ = write!(
        svg,
        r#"<g class="legend"><rect class="bar" x="{LEFT}" y="{}" width="10" height="10"/><text x="{}" y="{}">users</text><line class="limit" x1="{}" y1="{}" x2="{}" y2="{}"/><text x="{}" y="{}">limit</text></g>"#,
        HEIGHT - 12,
        LEFT + 14,
        HEIGHT - 3,
        LEFT + 60,
        HEIGHT - 7,
        LEFT + 80,
        HEIGHT - 7,
        LEFT + 84,
        HEIGHT - 3
    );
    svg.push_str("</svg>");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `value` and at least the
/// number of grid steps, so every grid line has a whole-number label.
fn nice_ceiling(value: u32) -> u32 {
    let mut magnitude = 1u32;
    while magnitude.saturating_mul(10) <= value {
        magnitude = magnitude.saturating_mul(10);
    }
    for factor in [1u32, 2, 5, 10] {
        let candidate = magnitude.saturating_mul(factor);
        if candidate >= value {
            return candidate.max(GRID_STEPS);
        }
    }
    value.max(GRID_STEPS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_license::Month;

    fn month(text: &str, active: u32, limit: u32) -> MonthUsageRecord {
        MonthUsageRecord {
            month: text.parse::<Month>().unwrap(),
            active_users: active,
            user_limit: limit,
            peak_tenths: 0,
            chain_head: None,
        }
    }

    #[test]
    fn every_month_is_a_labelled_bar_under_the_limit_line() {
        let svg = usage_chart(
            &[month("2026-10", 150, 200), month("2026-11", 200, 200)],
            12,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect class=\"bar").count(),
            3,
            "two bars and the legend"
        );
        assert!(svg.contains("<title>2026-10: 150 of 200 users</title>"));
        assert!(
            svg.contains("class=\"bar full\""),
            "a full month stands out"
        );
        assert!(svg.contains("<path class=\"limit\""));
    }

    #[test]
    fn only_the_last_months_are_drawn() {
        let months: Vec<_> = (1..=12)
            .map(|m| month(&format!("2026-{m:02}"), m, 20))
            .collect();
        let svg = usage_chart(&months, 6);
        assert!(!svg.contains("2026-06:") && svg.contains("2026-07:"));
    }

    #[test]
    fn axis_maxima_are_round() {
        for (value, ceiling) in [
            (1, 5),
            (7, 10),
            (25, 50),
            (200, 200),
            (201, 500),
            (1_000_000, 1_000_000),
        ] {
            assert_eq!(nice_ceiling(value), ceiling, "{value}");
            assert_eq!(ceiling % GRID_STEPS, 0);
        }
    }
}
