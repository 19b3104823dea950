//! The JSON API against its own OpenAPI document, checked by an independent
//! fuzzer: Schemathesis (from `.venv-peers`) reads `/api/v1/openapi.json`
//! from the real `gatehouse serve` and sends thousands of generated
//! requests, valid and invalid, with an API token. The run fails on any
//! server error (5xx), on a status code, content type or response body the
//! document does not declare, on invalid input that is accepted, and on a
//! route that answers without authentication.

use std::process::Command;

use crate::support::{Installation, Server};
use gatehouse_http::api::OPENAPI;
use gatehouse_testkit::python_with;

/// What Schemathesis checks on every response.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance,negative_data_rejection,ignored_auth,unsupported_method";

#[test]
fn the_api_survives_schemathesis_and_matches_its_document() {
    let Some(python) = python_with("schemathesis", "api_schema") else {
        return;
    };
    let st = python.with_file_name("st");
    let gh = Installation::new("Europe/Istanbul");
    gh.add_admin("root", "schema-admin-password");
    let token = gh.api_token("root");
    // A local user and a client, so the routes that name one reach their
    // real work instead of only answering 404.
    gh.add_user("alice");
    gh.add_client("vpn", "10.0.0.0/8", "schema-client-secret");
    let server = Server::start(gh, "");
    let output = Command::new(&st)
        .current_dir(server.gh.data_dir())
        .args(["run", &format!("{}/api/v1/openapi.json", server.base_url())])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        // One worker: Python 3.11's parser is not thread-safe, and Hypothesis
        // parses source while generating (an intermittent SystemError with
        // two workers).
        .args(["--max-examples", "40", "--workers", "1"])
        .args(["--request-timeout", "10"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "Schemathesis found failures:\n{report}"
    );
    let operations: usize = serde_json::from_str::<serde_json::Value>(OPENAPI).unwrap()["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|methods| methods.as_object().unwrap().len())
        .sum();
    // Schemathesis leaves out the operation it loaded the document from.
    let fuzzed = operations - 1;
    assert!(
        report.contains(&format!("Tested: {fuzzed}")),
        "all {fuzzed} other operations of the document were exercised:\n{report}"
    );
    assert_eq!(
        server.log_count_now(&["ERROR"]),
        0,
        "the server logged no error under the fuzzer"
    );
}
