//! `mlx-train`: the same code as `mlx train`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("train")
}
