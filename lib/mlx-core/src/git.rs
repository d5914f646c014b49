//! Running git: the commit a run trains at, the identity a review is recorded under,
//! what `mlx version` keeps out of the index.

use std::process::Command as Proc;

use crate::error::{Error, Result};

pub fn git(args: &[&str]) -> Result<String> {
    let out = Proc::new("git")
        .args(args)
        .output()
        .map_err(|e| Error::io("running git", e))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
