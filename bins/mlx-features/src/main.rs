//! `mlx-features`: the same code as `mlx features`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("features")
}
