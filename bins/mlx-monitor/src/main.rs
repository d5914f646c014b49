//! `mlx-monitor`: the same code as `mlx monitor`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("monitor")
}
