//! `mlx dag`: the stages in order with what each reads and writes.

use std::fmt::Write;

use crate::stage::{Context, Stage};

/// Plain text, one block per stage.
pub fn text(stages: &[&dyn Stage], ctx: &Context) -> String {
    let mut s = String::new();
    for (i, st) in stages.iter().filter(|s| s.in_pipeline()).enumerate() {
        let off = if st.enabled(&ctx.config.config) {
            ""
        } else {
            "  (disabled in config)"
        };
        let _ = writeln!(s, "{}. {}: {}{off}", i + 1, st.name(), st.about());
        let _ = writeln!(s, "   config: {}", st.sections().join(", "));
        for p in st.inputs(ctx) {
            let _ = writeln!(s, "   reads:  {}", p.display());
        }
        for p in st.outputs(ctx) {
            let _ = writeln!(s, "   writes: {}", p.display());
        }
        let _ = writeln!(
            s,
            "   record: {}",
            ctx.workdir.record_path(st.name()).display()
        );
    }
    s
}

/// A mermaid flowchart: an edge from a stage to every stage that reads a file it writes.
pub fn mermaid(stages: &[&dyn Stage], ctx: &Context) -> String {
    let stages: Vec<&dyn Stage> = stages.iter().copied().filter(|s| s.in_pipeline()).collect();
    let mut s = String::from("flowchart LR\n");
    for st in &stages {
        let _ = writeln!(s, "  {0}[{0}]", st.name());
    }
    for (i, a) in stages.iter().enumerate() {
        let outs = a.outputs(ctx);
        for b in &stages[i + 1..] {
            if b.inputs(ctx).iter().any(|p| outs.contains(p)) {
                let _ = writeln!(s, "  {} --> {}", a.name(), b.name());
            }
        }
    }
    s
}
