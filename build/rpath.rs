//! The build script of every package of the workspace: when built against a prebuilt
//! XGBoost (`XGBOOST_LIB_DIR`, set from `scripts/xgboost.sh` for `--features
//! mlx/xgboost`), puts that directory on the rpath of the package's binaries and
//! tests, so they find libxgboost.so at run time without LD_LIBRARY_PATH. Without it,
//! this does nothing.
fn main() {
    println!("cargo:rerun-if-env-changed=XGBOOST_LIB_DIR");
    if let Ok(dir) = std::env::var("XGBOOST_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
