//! `mlx-shap`: the same code as `mlx shap`.

fn main() -> std::process::ExitCode {
    mlx_cli::stage_main("shap")
}
