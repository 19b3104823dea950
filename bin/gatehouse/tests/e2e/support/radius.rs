//! radclient, the RADIUS client of FreeRADIUS, and what it printed.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::run_with_input;

/// What radclient printed about the reply.
#[derive(Debug, Default)]
pub struct RadReply {
    pub code: Option<String>,
    pub reply_message: Option<String>,
    pub state: Option<String>,
    /// Every attribute of the reply as radclient printed it: (name, value).
    pub attributes: Vec<(String, String)>,
    pub output: String,
}

impl RadReply {
    /// Asserts the reply's code (radclient's output shown if it differs).
    #[track_caller]
    pub fn assert_code(&self, code: &str) {
        assert_eq!(self.code.as_deref(), Some(code), "{}", self.output);
    }

    /// Asserts the reply's code and its Reply-Message.
    #[track_caller]
    pub fn assert_reply(&self, code: &str, message: &str) {
        assert_eq!(
            (self.code.as_deref(), self.reply_message.as_deref()),
            (Some(code), Some(message)),
            "{}",
            self.output
        );
    }
}

/// One request with `radclient -x` (one try, 1 s timeout) to
/// 127.0.0.1:`port`; `attributes` in radclient's syntax.
pub fn radclient(program: &Path, port: u16, attributes: &str, secret: &str) -> RadReply {
    radclient_with(program, port, attributes, secret, 1, 1)
}

/// [`radclient`] waiting `timeout` seconds per try, `tries` tries (the
/// same request retransmitted).
pub fn radclient_with(
    program: &Path,
    port: u16,
    attributes: &str,
    secret: &str,
    timeout: u32,
    tries: u32,
) -> RadReply {
    let output = run_with_input(
        Command::new(program).args([
            "-x",
            "-t",
            &timeout.to_string(),
            "-r",
            &tries.to_string(),
            &format!("127.0.0.1:{port}"),
            "auth",
            secret,
        ]),
        format!("{attributes}\n").as_bytes(),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    parse_radclient(&text)
}

fn parse_radclient(text: &str) -> RadReply {
    let mut reply = RadReply {
        output: text.to_string(),
        ..RadReply::default()
    };
    let mut in_reply = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Received ") {
            reply.code = rest.split_whitespace().next().map(str::to_string);
            in_reply = true;
        } else if line.starts_with("Sent ") {
            in_reply = false;
        } else if in_reply {
            let line = line.trim();
            if let Some((name, value)) = line.split_once(" = ") {
                reply.attributes.push((name.to_string(), value.to_string()));
            }
            if let Some(value) = line.strip_prefix("Reply-Message = ") {
                reply.reply_message = Some(value.trim_matches('"').to_string());
            } else if let Some(value) = line.strip_prefix("State = 0x") {
                reply.state = Some(value.to_string());
            }
        }
    }
    reply
}

/// PAP attributes for radclient, with a Message-Authenticator.
pub fn pap(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\", User-Password = \"{password}\", Message-Authenticator = 0x00")
}

/// A plain HTTP/1.1 request to the local server (loopback: the device
/// protocol answers without TLS); returns the status and the JSON body.
pub fn http_json(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> (u16, Value) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let json = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, json)
}

/// Runs `statements` on the SQLite database at `path` (plain SQL, as
/// someone who can write to the file would).
pub fn sqlite_sql(path: &Path, statements: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_string()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        });
}
