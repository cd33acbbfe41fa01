//! Hashes the page's inline script and stylesheet for its
//! Content-Security-Policy (`'sha256-…'` sources), so the policy is a
//! `&'static str` built with the crate: no work per request, no runtime
//! dependency, and an edit to the script cannot forget its hash.
//!
//! `src/page.rs` reads them as `env!("SCRIPT_SHA256")` and `env!("STYLE_SHA256")`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

fn main() {
    for (var, path) in [
        ("SCRIPT_SHA256", "src/page/clock.js"),
        ("STYLE_SHA256", "src/page/style.css"),
    ] {
        println!("cargo::rerun-if-changed={path}");
        let source = std::fs::read(path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"));
        println!(
            "cargo::rustc-env={var}={}",
            STANDARD.encode(Sha256::digest(source))
        );
    }
}
