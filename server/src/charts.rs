//! Charts as SVG, drawn with plotters from the ledger's own aggregates: the flow from donors through NGOs
//! and clinics to spending categories, money in and out per month, and spending by category or by clinic.
//!
//! Money stays integer minor units until a pixel is computed: only positions and lengths are `f64`, and
//! every amount printed on a chart is formatted from the integer.

use std::collections::BTreeMap;

use ledger::trace::{ANONYMOUS_DONORS, FlowEdge, MonthFlows, SPENDING_PREFIX};
use ledger::words::{Language, term};
use plotters::coord::Shift;
use plotters::prelude::*;

/// How amounts of the charted asset are written.
#[derive(Clone, Debug)]
pub struct Money {
    pub asset: String,
    pub decimals: u8,
}

impl Money {
    pub fn format(&self, amount: u128) -> String {
        Language::English.money(amount, self.decimals, &self.asset)
    }

    /// A short form for axis ticks: `12.5k EUR`, `1.2M EUR` (an axis, not an amount anyone adds up).
    fn tick(&self, minor: f64) -> String {
        let units = minor / 10f64.powi(i32::from(self.decimals));
        let (value, suffix) = if units.abs() >= 1e6 {
            (units / 1e6, "M")
        } else if units.abs() >= 1e3 {
            (units / 1e3, "k")
        } else {
            (units, "")
        };
        format!("{value:.1}{suffix}")
    }
}

const WIDTH: u32 = 960;
/// The height a flow node's two-line label needs.
const LABEL_ROOM: f64 = 30.0;
const FONT: &str = "sans-serif";
const INK: RGBColor = RGBColor(27, 31, 35);
const MUTED: RGBColor = RGBColor(87, 96, 106);
const PALETTE: [RGBColor; 4] =
    [RGBColor(11, 93, 75), RGBColor(9, 105, 218), RGBColor(191, 135, 0), RGBColor(164, 14, 38)];

fn error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {error}")
}

fn finish(svg: String) -> String {
    // plotters writes the size in pixels; a viewBox lets browsers scale the chart to their width.
    svg.replacen("<svg ", "<svg role=\"img\" preserveAspectRatio=\"xMinYMin meet\" ", 1)
}

fn title(area: &DrawingArea<SVGBackend<'_>, Shift>, text: &str) -> anyhow::Result<()> {
    area.draw(&Text::new(text.to_string(), (16, 12), (FONT, 20).into_font().color(&INK))).map_err(error)
}

fn empty(area: &DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()> {
    area.draw(&Text::new("No movement of this asset yet.", (16, 56), (FONT, 15).into_font().color(&MUTED)))
        .map_err(error)
}

/// Horizontal bars, largest first; beyond `shown` bars the rest is one "others" bar.
pub fn bars(heading: &str, items: &[(String, u128)], money: &Money, shown: usize) -> anyhow::Result<String> {
    let mut items: Vec<(String, u128)> = items.iter().filter(|(_, amount)| *amount > 0).cloned().collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if items.len() > shown {
        let rest = items.split_off(shown.saturating_sub(1));
        let total = rest.iter().fold(0u128, |sum, (_, amount)| sum.saturating_add(*amount));
        items.push((format!("others ({})", rest.len()), total));
    }
    let row = 30u32;
    let top = 48u32;
    let height = top + row * (items.len().max(1) as u32) + 16;
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        area.fill(&WHITE).map_err(error)?;
        title(&area, heading)?;
        if items.is_empty() {
            empty(&area)?;
        }
        let largest = items.iter().map(|(_, amount)| *amount).max().unwrap_or(1).max(1);
        let (bar_left, bar_max) = (240i32, 520f64);
        for (position, (label, amount)) in items.iter().enumerate() {
            let y = (top + row * position as u32) as i32;
            let length = (*amount as f64 / largest as f64 * bar_max).max(1.0) as i32;
            let mut label = label.clone();
            if label.chars().count() > 32 {
                label = label.chars().take(31).collect::<String>() + "…";
            }
            area.draw(&Text::new(label, (16, y + 6), (FONT, 14).into_font().color(&INK))).map_err(error)?;
            area.draw(&Rectangle::new(
                [(bar_left, y + 3), (bar_left + length, y + row as i32 - 7)],
                PALETTE[0].mix(0.85).filled(),
            ))
            .map_err(error)?;
            area.draw(&Text::new(
                money.format(*amount),
                (bar_left + length + 8, y + 6),
                (FONT, 13).into_font().color(&MUTED),
            ))
            .map_err(error)?;
        }
        area.present().map_err(error)?;
    }
    Ok(finish(svg))
}

/// Money in and out per month, as two lines.
pub fn months(heading: &str, rows: &[MonthFlows], money: &Money) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        area.fill(&WHITE).map_err(error)?;
        if rows.is_empty() {
            title(&area, heading)?;
            empty(&area)?;
            area.present().map_err(error)?;
            drop(area);
            return Ok(finish(svg));
        }
        let highest = rows.iter().map(|row| row.money_in.max(row.money_out)).max().unwrap_or(0).max(1) as f64;
        let last = (rows.len() - 1).max(1) as f64;
        let mut chart = ChartBuilder::on(&area)
            .caption(heading, (FONT, 20).into_font().color(&INK))
            .margin(16)
            .margin_right(40)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..last, 0f64..highest * 1.08)
            .map_err(error)?;
        let labels: Vec<String> = rows.iter().map(|row| row.month.clone()).collect();
        chart
            .configure_mesh()
            .x_labels(rows.len().min(12))
            .x_label_formatter(&|x| labels.get(x.round() as usize).cloned().unwrap_or_default())
            .y_label_formatter(&|y| money.tick(*y))
            .y_desc(money.asset.clone())
            .light_line_style(RGBColor(234, 238, 242))
            .draw()
            .map_err(error)?;
        let money_in: fn(&MonthFlows) -> u128 = |row| row.money_in;
        let money_out: fn(&MonthFlows) -> u128 = |row| row.money_out;
        let series = [("money in", 0usize, money_in), ("money out", 3, money_out)];
        for (name, colour, pick) in series {
            let colour = PALETTE[colour];
            let points: Vec<(f64, f64)> =
                rows.iter().enumerate().map(|(index, row)| (index as f64, pick(row) as f64)).collect();
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(3)))
                .map_err(error)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(208, 215, 222))
            .label_font((FONT, 14))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(error)?;
        area.present().map_err(error)?;
    }
    Ok(finish(svg))
}

/// A flow node: a party in one column.
struct Node {
    label: String,
    column: usize,
    inflow: u128,
    outflow: u128,
    /// Filled while drawing: the top of the node and where the next band leaves and arrives.
    top: f64,
    out_cursor: f64,
    in_cursor: f64,
}

impl Node {
    fn value(&self) -> u128 {
        self.inflow.max(self.outflow)
    }
}

/// The column of a party: donors, NGOs, clinics (and other organisations), final use.
pub fn column_of(party: &str, role: Option<ledger::Role>) -> Option<usize> {
    if party == ANONYMOUS_DONORS {
        return Some(0);
    }
    if party.starts_with(SPENDING_PREFIX) {
        return Some(3);
    }
    match role? {
        ledger::Role::Donor => Some(0),
        ledger::Role::Ngo => Some(1),
        ledger::Role::Clinic => Some(2),
        ledger::Role::Supplier | ledger::Role::Auditor => None,
    }
}

/// The flow chart: bands from donors to NGOs, clinics and spending categories, widths proportional to the
/// money. `party` names a party and gives its column (`None`: not drawn). Flows that do not move right
/// (between two NGOs, say) are not drawn and are counted in a footnote; at most `per_column` nodes per
/// column, the rest grouped.
pub fn flows(
    heading: &str,
    edges: &[FlowEdge],
    money: &Money,
    party: impl Fn(&str) -> Option<(String, usize)>,
    per_column: usize,
) -> anyhow::Result<String> {
    // Group small parties per column into "others".
    let mut totals: BTreeMap<String, (String, usize, u128)> = BTreeMap::new();
    for edge in edges {
        for (id, amount) in [(&edge.from, edge.amount), (&edge.to, edge.amount)] {
            if let Some((label, column)) = party(id) {
                let slot = totals.entry(id.clone()).or_insert((label, column, 0));
                slot.2 = slot.2.saturating_add(amount);
            }
        }
    }
    let mut key_of: BTreeMap<String, String> = BTreeMap::new();
    for column in 0..4 {
        let mut in_column: Vec<(&String, &(String, usize, u128))> =
            totals.iter().filter(|(_, (_, c, _))| *c == column).collect();
        in_column.sort_by(|a, b| b.1.2.cmp(&a.1.2).then_with(|| a.0.cmp(b.0)));
        let grouped = in_column.len() > per_column;
        for (rank, (id, _)) in in_column.iter().enumerate() {
            let key = if grouped && rank + 1 >= per_column { format!("others:{column}") } else { (*id).clone() };
            key_of.insert((*id).clone(), key);
        }
    }
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut bands: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut not_drawn = 0usize;
    for edge in edges {
        let (Some((from_label, from_column)), Some((to_label, to_column))) = (party(&edge.from), party(&edge.to))
        else {
            not_drawn += 1;
            continue;
        };
        if to_column <= from_column {
            not_drawn += 1;
            continue;
        }
        let from_key = key_of[&edge.from].clone();
        let to_key = key_of[&edge.to].clone();
        for (key, label, column) in [(&from_key, from_label, from_column), (&to_key, to_label, to_column)] {
            nodes.entry(key.clone()).or_insert_with(|| Node {
                label: if key.starts_with("others:") { "others".to_string() } else { label },
                column,
                inflow: 0,
                outflow: 0,
                top: 0.0,
                out_cursor: 0.0,
                in_cursor: 0.0,
            });
        }
        nodes.get_mut(&from_key).expect("inserted").outflow += edge.amount;
        nodes.get_mut(&to_key).expect("inserted").inflow += edge.amount;
        *bands.entry((from_key, to_key)).or_default() += edge.amount;
    }

    let (height, top, bottom, gap, node_width) = (680u32, 56.0, 36.0, 18.0, 14.0);
    let column_x = [170.0, 380.0, 560.0, 770.0];
    // One scale for all columns: the fullest column fills the height.
    let mut column_totals = [0u128; 4];
    let mut column_counts = [0usize; 4];
    for node in nodes.values() {
        column_totals[node.column] = column_totals[node.column].saturating_add(node.value());
        column_counts[node.column] += 1;
    }
    let usable =
        |column: usize| f64::from(height) - top - bottom - gap * column_counts[column].saturating_sub(1) as f64;
    let scale = (0..4)
        .filter(|&column| column_totals[column] > 0)
        .map(|column| usable(column) / column_totals[column] as f64)
        .fold(f64::INFINITY, f64::min);
    let scale = if scale.is_finite() { scale } else { 0.0 };
    // Place nodes: largest first within each column.
    let mut order: Vec<String> = nodes.keys().cloned().collect();
    order.sort_by(|a, b| {
        let (a_node, b_node) = (&nodes[a], &nodes[b]);
        let (a_others, b_others) = (a.starts_with("others:"), b.starts_with("others:"));
        a_node
            .column
            .cmp(&b_node.column)
            .then(a_others.cmp(&b_others))
            .then(b_node.value().cmp(&a_node.value()))
            .then(a.cmp(b))
    });
    let mut next_top = [top; 4];
    for key in &order {
        let node = nodes.get_mut(key).expect("a node");
        node.top = next_top[node.column];
        node.out_cursor = node.top;
        node.in_cursor = node.top;
        // Room for the two-line label even beside a thin node (the node itself stays to scale).
        next_top[node.column] += (node.value() as f64 * scale).max(LABEL_ROOM) + gap;
    }
    let height = height.max((next_top.iter().copied().fold(0.0, f64::max) + bottom) as u32);

    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        area.fill(&WHITE).map_err(error)?;
        title(&area, heading)?;
        if nodes.is_empty() {
            empty(&area)?;
        }
        // Bands, widest first so that thin ones stay visible on top.
        let mut band_list: Vec<((String, String), u128)> = bands.into_iter().collect();
        band_list.sort_by(|a, b| {
            let (a_from, b_from) = (&nodes[&a.0.0], &nodes[&b.0.0]);
            a_from.top.total_cmp(&b_from.top).then(nodes[&a.0.1].top.total_cmp(&nodes[&b.0.1].top))
        });
        for ((from_key, to_key), amount) in band_list {
            let thickness = amount as f64 * scale;
            let (x0, y0) = {
                let from = nodes.get_mut(&from_key).expect("a node");
                let y = from.out_cursor;
                from.out_cursor += thickness;
                (column_x[from.column] + node_width, y)
            };
            let (x1, y1, colour) = {
                let to = nodes.get_mut(&to_key).expect("a node");
                let y = to.in_cursor;
                to.in_cursor += thickness;
                (column_x[to.column], y, PALETTE[nodes[&from_key].column.min(3)])
            };
            let steps = 24;
            let curve = |t: f64, a: f64, b: f64| a + (b - a) * (t * t * (3.0 - 2.0 * t));
            let mut outline: Vec<(i32, i32)> = Vec::with_capacity(2 * steps + 2);
            for step in 0..=steps {
                let t = step as f64 / steps as f64;
                outline.push(((x0 + (x1 - x0) * t) as i32, curve(t, y0, y1) as i32));
            }
            for step in (0..=steps).rev() {
                let t = step as f64 / steps as f64;
                outline.push(((x0 + (x1 - x0) * t) as i32, (curve(t, y0, y1) + thickness.max(1.0)) as i32));
            }
            area.draw(&Polygon::new(outline, colour.mix(0.35).filled())).map_err(error)?;
        }
        for node in nodes.values() {
            let x = column_x[node.column];
            let node_height = (node.value() as f64 * scale).max(1.0);
            area.draw(&Rectangle::new(
                [(x as i32, node.top as i32), ((x + node_width) as i32, (node.top + node_height) as i32)],
                PALETTE[node.column.min(3)].filled(),
            ))
            .map_err(error)?;
            let mut label = node.label.clone();
            if label.chars().count() > 30 {
                label = label.chars().take(29).collect::<String>() + "…";
            }
            // Two lines beside the node: the name, then the amount; on the left of the first column.
            let (text_x, anchor) = if node.column == 0 {
                (x - 6.0, plotters::style::text_anchor::HPos::Right)
            } else {
                (x + node_width + 6.0, plotters::style::text_anchor::HPos::Left)
            };
            let middle = node.top + node_height / 2.0;
            for (line, offset, colour) in [(label, -7.0, INK), (money.format(node.value()), 7.0, MUTED)] {
                let style = (FONT, 12)
                    .into_font()
                    .color(&colour)
                    .pos(plotters::style::text_anchor::Pos::new(anchor, plotters::style::text_anchor::VPos::Center));
                area.draw(&Text::new(line, (text_x as i32, (middle + offset) as i32), style)).map_err(error)?;
            }
        }
        if not_drawn > 0 {
            area.draw(&Text::new(
                format!("{not_drawn} flows between organisations of the same kind are not drawn."),
                (16, height as i32 - 24),
                (FONT, 12).into_font().color(&MUTED),
            ))
            .map_err(error)?;
        }
        area.present().map_err(error)?;
    }
    Ok(finish(svg))
}

/// A spending category's words for chart labels.
pub fn category_label(party: &str) -> String {
    let code = party.strip_prefix(SPENDING_PREFIX).unwrap_or(party);
    term(Language::English, code).map_or_else(|| code.to_string(), str::to_string)
}
