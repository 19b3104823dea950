//! Headless Chromium driven by playwright-core (`tests/browser/panel.mjs`),
//! one phase per run, against a running server's panel.

use std::path::PathBuf;
use std::process::Command;

use gatehouse_testkit::{installed, peer, workspace_root};

use super::Server;

/// The administrator every browser phase signs in as.
pub const BROWSER_ADMIN: &str = "root";
pub const BROWSER_ADMIN_PASSWORD: &str = "panel-admin-password";

pub struct Browser {
    node: PathBuf,
    chromium: PathBuf,
    script: PathBuf,
    /// Where the phases' screenshots land.
    pub shots: PathBuf,
}

impl Browser {
    /// Node, Chromium and playwright-core (`None`: one is missing; SKIP
    /// printed, or a failure when peers are required). Screenshots go to
    /// `target/tmp/<shots>/`.
    pub fn new(test: &str, shots: &str) -> Option<Browser> {
        let node = peer("node", test)?;
        let chromium = peer("chromium", test)?;
        let browser_dir = workspace_root().join("bin/gatehouse/tests/browser");
        installed(
            &browser_dir.join("node_modules/playwright-core"),
            "playwright-core (npm ci)",
            test,
        )?;
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(shots);
        let _ = std::fs::remove_dir_all(&shots);
        Some(Browser {
            node,
            chromium,
            script: browser_dir.join("panel.mjs"),
            shots,
        })
    }

    /// Runs `phase` against `server`'s panel, with `extra` environment;
    /// a failed expectation fails the test with the browser's output.
    pub fn run(&self, server: &Server, phase: &str, extra: &[(&str, String)]) {
        let mut command = Command::new(&self.node);
        command
            .arg(&self.script)
            .arg(phase)
            .env("CHROMIUM", &self.chromium)
            .env("BASE_URL", server.base_url())
            .env("ADMIN_USER", BROWSER_ADMIN)
            .env("ADMIN_PASSWORD", BROWSER_ADMIN_PASSWORD)
            .env("APP_KEY", server.gh.app_key())
            .env("SHOTS", &self.shots);
        for (name, value) in extra {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "browser phase {phase} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
