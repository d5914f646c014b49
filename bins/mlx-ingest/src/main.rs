//! `mlx-ingest`: the same code as `mlx ingest`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("ingest")
}
