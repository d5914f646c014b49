//! `mlx-eval`: the same code as `mlx eval`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("eval")
}
