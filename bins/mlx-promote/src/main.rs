//! `mlx-promote`: the same code as `mlx promote`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("promote")
}
