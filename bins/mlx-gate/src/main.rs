//! `mlx-gate`: the same code as `mlx gate`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("gate")
}
