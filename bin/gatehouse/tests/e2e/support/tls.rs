//! A private CA and a server certificate it issued (openssl).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A private CA and a server certificate it issued for `localhost` and
/// 127.0.0.1 (openssl), in `dir`.
pub struct TestCa {
    /// The CA certificate (PEM): what clients must trust.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// `None`: openssl is missing (SKIP printed, or a failure when peers
    /// are required).
    pub fn new(dir: &Path, test: &str) -> Option<TestCa> {
        let openssl = gatehouse_testkit::peer("openssl", test)?;
        let run = |args: &[&str]| {
            let output = Command::new(&openssl)
                .current_dir(dir)
                .args(args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let split = |text: &'static str| text.split(' ').collect::<Vec<_>>();
        run(&[
            split("req -x509"),
            split(ec),
            split("-keyout ca.key -out ca.pem -days 30"),
            vec![
                "-subj",
                "/CN=Gatehouse Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat());
        run(&[
            split("req"),
            split(ec),
            split("-keyout server.key -out server.csr -subj /CN=localhost"),
        ]
        .concat());
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(&split(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile server.ext",
        ));
        Some(TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        })
    }
}
