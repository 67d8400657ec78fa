//! Pictures of a workflow: Graphviz DOT text and a self-contained SVG.
//!
//! Nodes are the tasks (with their action) and the engine commands a
//! transition names explicitly; edges are transitions, labelled with their
//! `when` condition (without the `{{ }}`) and what they publish. Joins are
//! drawn with a double border and their requirement, with-items tasks say
//! so. Given a [`WorkflowState`], each task is coloured by the status of its
//! latest run.
//!
//! The SVG needs no external tool: tasks are placed in layers by longest
//! path from a start task (edges that close a loop are ignored for the
//! layering and drawn as curves), layers are ordered to reduce crossings
//! with one barycentre pass, edges are straight lines with arrowheads.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::conductor::WorkflowState;
use crate::spec::{ENGINE_COMMANDS, Join, Workflow};
use crate::status::Status;

/// How a task differs from its version in another version of the
/// workflow (`drover pack diff`'s pictures): drawn in its own colour,
/// and said in its tooltip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskMark {
    Added,
    Removed,
    Changed,
}

impl TaskMark {
    fn fill(self) -> &'static str {
        match self {
            TaskMark::Added => "#c8e6c9",
            TaskMark::Removed => "#ffcdd2",
            TaskMark::Changed => "#fff9c4",
        }
    }

    fn word(self) -> &'static str {
        match self {
            TaskMark::Added => "added",
            TaskMark::Removed => "removed",
            TaskMark::Changed => "changed",
        }
    }
}

/// A node of the picture.
#[derive(Debug, Clone)]
struct PNode {
    name: String,
    lines: Vec<String>,
    join: bool,
    engine: bool,
    status: Option<Status>,
    mark: Option<TaskMark>,
}

/// An edge of the picture.
#[derive(Debug, Clone)]
struct PEdge {
    from: usize,
    to: usize,
    label: String,
}

struct Picture {
    nodes: Vec<PNode>,
    edges: Vec<PEdge>,
}

fn strip_braces(s: &str) -> String {
    let t = s.trim();
    match t.strip_prefix("{{").and_then(|x| x.strip_suffix("}}")) {
        Some(inner) if !inner.contains("{{") => inner.trim().to_string(),
        _ => t.to_string(),
    }
}

fn picture(wf: &Workflow, state: Option<&WorkflowState>) -> Picture {
    let mut latest: HashMap<&str, Option<Status>> = HashMap::new();
    if let Some(st) = state {
        for e in st.sequence() {
            latest.insert(&e.id, e.status);
        }
    }
    let mut nodes: Vec<PNode> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for t in wf.tasks() {
        let mut lines = vec![t.name().to_string()];
        if let Some(a) = t.action() {
            lines.push(a.to_string());
        }
        match t.join() {
            Some(Join::All) => lines.push("join: all".into()),
            Some(Join::Count(n)) => lines.push(format!("join: {n}")),
            None => {}
        }
        if t.has_items() {
            lines.push("with items".into());
        }
        index.insert(t.name().to_string(), nodes.len());
        nodes.push(PNode {
            name: t.name().to_string(),
            lines,
            join: t.join().is_some(),
            engine: false,
            status: latest.get(t.name()).copied().flatten(),
            mark: None,
        });
    }
    let mut edges = Vec::new();
    for t in wf.tasks() {
        let from = index[t.name()];
        for tr in t.transitions() {
            if !tr.is_explicit() && tr.published().next().is_none() {
                continue;
            }
            let mut label = tr.when().map(strip_braces).unwrap_or_default();
            let published: Vec<&str> = tr.published().collect();
            if !published.is_empty() {
                if !label.is_empty() {
                    label.push('\n');
                }
                label.push_str(&format!("publish: {}", published.join(", ")));
            }
            for target in tr.targets() {
                let to = match index.get(target) {
                    Some(&i) => i,
                    None if ENGINE_COMMANDS.contains(&target) => {
                        // One node per use keeps the picture readable.
                        nodes.push(PNode {
                            name: format!("{target}#{}", nodes.len()),
                            lines: vec![target.to_string()],
                            join: false,
                            engine: true,
                            status: None,
                            mark: None,
                        });
                        nodes.len() - 1
                    }
                    None => continue,
                };
                edges.push(PEdge {
                    from,
                    to,
                    label: label.clone(),
                });
            }
        }
    }
    Picture { nodes, edges }
}

fn fill(status: Option<Status>) -> &'static str {
    match status {
        None => "#ffffff",
        Some(Status::Succeeded) => "#c8e6c9",
        Some(Status::Failed | Status::Expired | Status::Abandoned) => "#ffcdd2",
        Some(Status::Canceled | Status::Canceling) => "#e0e0e0",
        Some(Status::Paused | Status::Pausing | Status::Pending) => "#fff9c4",
        Some(_) => "#bbdefb",
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The workflow as Graphviz DOT, coloured by `state` if given.
pub fn to_dot(wf: &Workflow, state: Option<&WorkflowState>) -> String {
    let p = picture(wf, state);
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(wf.file()));
    out.push_str("  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for n in &p.nodes {
        let mut attrs = vec![format!("label=\"{}\"", dot_escape(&n.lines.join("\n")))];
        if n.join {
            attrs.push("peripheries=2".into());
        }
        if n.engine {
            attrs.push("shape=ellipse".into());
            attrs.push("fontsize=10".into());
        }
        if state.is_some() {
            attrs.push(format!("fillcolor=\"{}\"", fill(n.status)));
            if let Some(s) = n.status {
                attrs.push(format!("tooltip=\"{s}\""));
            }
        }
        let _ = writeln!(out, "  \"{}\" [{}];", dot_escape(&n.name), attrs.join(", "));
    }
    for e in &p.edges {
        let from = dot_escape(&p.nodes[e.from].name);
        let to = dot_escape(&p.nodes[e.to].name);
        if e.label.is_empty() {
            let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
        } else {
            let _ = writeln!(
                out,
                "  \"{from}\" -> \"{to}\" [label=\"{}\"];",
                dot_escape(&e.label)
            );
        }
    }
    out.push_str("}\n");
    out
}

const CHAR_W: f64 = 7.2;
const LINE_H: f64 = 15.0;
const PAD: f64 = 10.0;
const GAP_X: f64 = 40.0;
const GAP_Y: f64 = 70.0;
const MARGIN: f64 = 20.0;
/// The width reserved for an edge crossing a layer.
const BEND_W: f64 = 12.0;

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Layers by longest path from the start nodes, ignoring edges that close a
/// loop (found by depth-first search).
fn layers(n: usize, edges: &[PEdge]) -> (Vec<usize>, Vec<bool>) {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        out[e.from].push(i);
    }
    let mut back = vec![false; edges.len()];
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut indeg = vec![0usize; n];
    for e in edges {
        indeg[e.to] += 1;
    }
    let mut roots: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    roots.extend(0..n);
    for r in roots {
        if state[r] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(r, 0)];
        state[r] = 1;
        while let Some(&mut (v, ref mut pos)) = stack.last_mut() {
            if let Some(&ei) = out[v].get(*pos) {
                *pos += 1;
                let w = edges[ei].to;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[ei] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    // Longest path over the remaining DAG (Kahn's order).
    let mut layer = vec![0usize; n];
    let mut indeg = vec![0usize; n];
    for (i, e) in edges.iter().enumerate() {
        if !back[i] {
            indeg[e.to] += 1;
        }
    }
    let mut queue: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    while let Some(v) = queue.pop() {
        for &ei in &out[v] {
            if back[ei] {
                continue;
            }
            let w = edges[ei].to;
            layer[w] = layer[w].max(layer[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push(w);
            }
        }
    }
    (layer, back)
}

/// The workflow as a standalone SVG document, coloured by `state` if given.
pub fn to_svg(wf: &Workflow, state: Option<&WorkflowState>) -> String {
    to_svg_linked(wf, state, &|_| None)
}

/// [`to_svg`], each task whose name `link` maps to an address drawn as a
/// link to it (the web UI: a task to its latest execution). The address
/// is escaped here; engine commands (`fail`, `noop`) are never links.
pub fn to_svg_linked(
    wf: &Workflow,
    state: Option<&WorkflowState>,
    link: &dyn Fn(&str) -> Option<String>,
) -> String {
    svg(wf, picture(wf, state), link)
}

/// The workflow as SVG, each task `mark` names drawn in the colour of how
/// it differs in the version it is compared with (added green, removed
/// red, changed yellow; its tooltip says which).
pub fn to_svg_marked(wf: &Workflow, mark: &dyn Fn(&str) -> Option<TaskMark>) -> String {
    let mut p = picture(wf, None);
    for nd in p.nodes.iter_mut().filter(|nd| !nd.engine) {
        nd.mark = mark(&nd.name);
    }
    svg(wf, p, &|_| None)
}

fn svg(wf: &Workflow, p: Picture, link: &dyn Fn(&str) -> Option<String>) -> String {
    let n = p.nodes.len();
    let (mut layer, back) = layers(n, &p.edges);
    let forward =
        |i: usize, layer: &[usize]| !back[i] && layer[p.edges[i].to] > layer[p.edges[i].from];
    let mut size: Vec<(f64, f64)> = p
        .nodes
        .iter()
        .map(|nd| {
            let chars = nd
                .lines
                .iter()
                .map(|l| l.chars().count())
                .max()
                .unwrap_or(1);
            let w = chars as f64 * CHAR_W + 2.0 * PAD;
            (
                w.max(60.0),
                nd.lines.len() as f64 * LINE_H + 2.0 * PAD - 4.0,
            )
        })
        .collect();
    // An edge that spans several layers gets a point in each layer it
    // crosses, placed like a (thin) node, so it is routed around the tasks.
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut bends: Vec<Vec<usize>> = vec![Vec::new(); p.edges.len()];
    for (i, e) in p.edges.iter().enumerate() {
        if !forward(i, &layer) {
            continue;
        }
        let mut prev = e.from;
        for l in layer[e.from] + 1..layer[e.to] {
            let id = layer.len();
            layer.push(l);
            size.push((BEND_W, 0.0));
            parents.push(vec![prev]);
            bends[i].push(id);
            prev = id;
        }
        parents[e.to].push(prev);
    }
    let total = layer.len();
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (v, &l) in layer.iter().enumerate() {
        rows[l].push(v);
    }
    // One barycentre pass, top to bottom.
    let mut pos = vec![0.0f64; total];
    for row in &rows {
        for (k, &v) in row.iter().enumerate() {
            pos[v] = k as f64;
        }
    }
    for row in rows.iter_mut().skip(1) {
        let mut keyed: Vec<(f64, usize)> = row
            .iter()
            .map(|&v| {
                let ps = &parents[v];
                let key = if ps.is_empty() {
                    pos[v]
                } else {
                    ps.iter().map(|&u| pos[u]).sum::<f64>() / ps.len() as f64
                };
                (key, v)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
        *row = keyed.iter().map(|(_, v)| *v).collect();
        for (k, &v) in row.iter().enumerate() {
            pos[v] = k as f64;
        }
    }
    let row_h: Vec<f64> = rows
        .iter()
        .map(|r| r.iter().map(|&v| size[v].1).fold(0.0, f64::max))
        .collect();
    let row_w: Vec<f64> = rows
        .iter()
        .map(|r| {
            r.iter().map(|&v| size[v].0).sum::<f64>() + GAP_X * r.len().saturating_sub(1) as f64
        })
        .collect();
    let width = row_w.iter().copied().fold(0.0, f64::max) + 2.0 * MARGIN + 120.0;
    let mut xy = vec![(0.0f64, 0.0f64); total];
    let mut y = MARGIN;
    for (l, row) in rows.iter().enumerate() {
        let mut x = (width - row_w[l]) / 2.0;
        for &v in row {
            xy[v] = (x, y + (row_h[l] - size[v].1) / 2.0);
            x += size[v].0 + GAP_X;
        }
        y += row_h[l] + GAP_Y;
    }
    let height = y - GAP_Y + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(out, "<title>{}</title>", xml(wf.file()));
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
    for (i, e) in p.edges.iter().enumerate() {
        let (fx, fy) = xy[e.from];
        let (fw, fh) = size[e.from];
        let (tx, ty) = xy[e.to];
        let (tw, th) = size[e.to];
        let (lx, ly, anchor) = if !forward(i, &layer) {
            let (x1, y1, x2, y2) = (fx + fw, fy + fh / 2.0, tx + tw, ty + th / 2.0);
            let bulge = x1.max(x2) + 60.0;
            let _ = writeln!(
                out,
                "<path d=\"M {x1:.1} {y1:.1} C {bulge:.1} {y1:.1}, {bulge:.1} {y2:.1}, {x2:.1} {y2:.1}\" fill=\"none\" stroke=\"#555\" stroke-dasharray=\"4 3\" marker-end=\"url(#arrow)\"/>"
            );
            (bulge - 10.0, (y1 + y2) / 2.0, "start")
        } else {
            let mut points = vec![(fx + fw / 2.0, fy + fh)];
            points.extend(bends[i].iter().map(|&b| (xy[b].0 + BEND_W / 2.0, xy[b].1)));
            points.push((tx + tw / 2.0, ty));
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
                path.join(" ")
            );
            // Label the first segment on its outer side.
            let ((x1, y1), (x2, y2)) = (points[0], points[1]);
            // Siblings from one task are staggered along their lines.
            let k = p.edges[..i].iter().filter(|o| o.from == e.from).count();
            let t = 0.3 + 0.17 * (k % 3) as f64;
            let (lx, ly) = (x1 + (x2 - x1) * t, y1 + (y2 - y1) * t);
            if x2 < x1 - 1.0 {
                (lx - 5.0, ly, "end")
            } else {
                (lx + 5.0, ly, "start")
            }
        };
        for (k, line) in e.label.lines().enumerate() {
            let _ = writeln!(
                out,
                "<text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#333\" text-anchor=\"{anchor}\">{}</text>",
                ly + k as f64 * 12.0,
                xml(line)
            );
        }
    }
    for (v, nd) in p.nodes.iter().enumerate() {
        let (x, y) = xy[v];
        let (w, h) = size[v];
        let (color, status) = match nd.mark {
            Some(m) => (m.fill(), format!(" ({})", m.word())),
            None => (
                fill(nd.status),
                nd.status.map_or(String::new(), |s| format!(" ({s})")),
            ),
        };
        let href = if nd.engine { None } else { link(&nd.name) };
        if let Some(href) = &href {
            let _ = writeln!(
                out,
                "<a href=\"{}\" class=\"task-link\" aria-label=\"task {}{}: its execution\">",
                xml(href),
                xml(&nd.name),
                xml(&status)
            );
        }
        let _ = writeln!(
            out,
            "<g><title>{}{}</title>",
            xml(&nd.lines[0]),
            xml(&status)
        );
        if nd.engine {
            let _ = writeln!(
                out,
                "<ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" fill=\"#f5f5f5\" stroke=\"#777\"/>",
                x + w / 2.0,
                y + h / 2.0,
                w / 2.0,
                h / 2.0
            );
        } else {
            let _ = writeln!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"6\" fill=\"{color}\" stroke=\"#333\"/>"
            );
            if nd.join {
                let _ = writeln!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"8\" fill=\"none\" stroke=\"#333\"/>",
                    x - 3.0,
                    y - 3.0,
                    w + 6.0,
                    h + 6.0
                );
            }
        }
        for (k, line) in nd.lines.iter().enumerate() {
            let weight = if k == 0 { " font-weight=\"bold\"" } else { "" };
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\"{weight}>{}</text>",
                x + w / 2.0,
                y + PAD + 8.0 + k as f64 * LINE_H,
                xml(line)
            );
        }
        out.push_str("</g>\n");
        if href.is_some() {
            out.push_str("</a>\n");
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const WF: &str = "version: 1.0\ntasks:\n  a:\n    action: core.noop\n    next:\n      - when: '{{ succeeded() }}'\n        publish: x=1\n        do: b, c\n      - when: '{{ failed() }}'\n        do: fail\n  b:\n    action: core.noop\n    next: [{do: d}]\n  c:\n    action: core.noop\n    next: [{do: d}]\n  d:\n    join: all\n    action: core.echo message='done'\n";

    #[test]
    fn dot_has_nodes_labelled_edges_and_joins() {
        let wf = Workflow::parse("wf.yaml", WF, None).unwrap();
        let dot = to_dot(&wf, None);
        assert!(dot.starts_with("digraph \"wf.yaml\" {"), "{dot}");
        assert!(
            dot.contains("\"a\" -> \"b\" [label=\"succeeded()\\npublish: x\"];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"d\" [label=\"d\\ncore.echo\\njoin: all\", peripheries=2];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"fail#4\" [label=\"fail\", shape=ellipse, fontsize=10];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"a\" -> \"fail#4\" [label=\"failed()\"];"),
            "{dot}"
        );
        assert!(dot.contains("\"b\" -> \"d\";"), "{dot}");
    }

    #[test]
    fn a_marked_svg_colours_and_names_each_difference_and_only_those() {
        let wf = Workflow::parse("wf.yaml", WF, None).unwrap();
        let svg = to_svg_marked(&wf, &|task| match task {
            "b" => Some(TaskMark::Added),
            "d" => Some(TaskMark::Changed),
            // Engine commands are never marked, whatever is asked.
            t if t.starts_with("fail") => Some(TaskMark::Removed),
            _ => None,
        });
        assert!(svg.contains("<title>b (added)</title>"), "{svg}");
        assert!(svg.contains("<title>d (changed)</title>"), "{svg}");
        assert!(svg.contains("<title>a</title>"), "{svg}");
        assert!(!svg.contains("(removed)"), "{svg}");
        assert_eq!(svg.matches("fill=\"#c8e6c9\"").count(), 1, "{svg}");
        assert!(!svg.contains("<a href"), "no links: {svg}");
    }

    #[test]
    fn svg_is_layered_and_coloured() {
        let wf = Workflow::parse("wf.yaml", WF, None).unwrap();
        let mut c = crate::Conductor::new(&wf, Default::default());
        c.request_status(Status::Running).unwrap();
        c.on_action_event("a", 0, crate::ActionEvent::status(Status::Running))
            .unwrap();
        let svg = to_svg(&wf, Some(c.state()));
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains("<title>a (running)</title>"), "{svg}");
        assert!(svg.contains("fill=\"#bbdefb\""), "{svg}");
        assert_eq!(svg.matches("<g>").count(), 5);
        assert!(!svg.contains("<a "), "no links unless asked");
        let linked = to_svg_linked(&wf, Some(c.state()), &|t| {
            (t == "a").then(|| "/ui/executions/X?a=1&b=\"".to_owned())
        });
        assert_eq!(linked.matches("<a ").count(), 1, "{linked}");
        assert!(
            linked.contains("<a href=\"/ui/executions/X?a=1&amp;b=&quot;\" class=\"task-link\""),
            "{linked}"
        );
        let (layer, back) = layers(
            4,
            &[
                PEdge {
                    from: 0,
                    to: 1,
                    label: String::new(),
                },
                PEdge {
                    from: 1,
                    to: 2,
                    label: String::new(),
                },
                PEdge {
                    from: 2,
                    to: 1,
                    label: String::new(),
                },
                PEdge {
                    from: 0,
                    to: 3,
                    label: String::new(),
                },
            ],
        );
        assert_eq!(layer, [0, 1, 2, 1]);
        assert_eq!(back, [false, false, true, false]);
    }
}
