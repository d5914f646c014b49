//! `mlx-version`: the same code as `mlx version`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("version")
}
