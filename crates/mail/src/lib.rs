//! Email over SMTP for Gatehouse's license alarms: the [`Mailer`] that
//! `gatehouse serve` hands to the alarm sender, built with lettre on rustls.
//!
//! Three transport modes ([`Security`]): STARTTLS (required; the connection
//! fails rather than continue in clear), implicit TLS (SMTPS, usually port
//! 465), and plain SMTP, which is allowed only to a loopback host. Server
//! certificates are checked against the system's CA store, plus an optional
//! CA file (`smtp.ca_file`) for a private CA.

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::alarms::{Mail, MailError, Mailer};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only to a loopback host.
    None,
}

impl Security {
    /// `starttls`, `tls` or `none`.
    pub fn parse(text: &str) -> Option<Security> {
        match text {
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            "none" => Some(Security::None),
            _ => None,
        }
    }

    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// What [`SmtpMailer::new`] needs (the `[smtp]` section).
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Username and password for SMTP AUTH, if the server wants them.
    pub credentials: Option<(String, String)>,
    /// A PEM file of extra CA certificates trusted for the server.
    pub ca_pem: Option<Vec<u8>>,
    /// The sender, e.g. `Gatehouse <gatehouse@example.com>`.
    pub from: String,
    /// Longest wait for the server at any step.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .field("ca_file", &self.ca_pem.is_some())
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Why the `[smtp]` settings cannot be used; each message names its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpSettingsError {
    #[error("smtp.host is empty")]
    NoHost,
    #[error(
        "smtp.from: {0:?} is not an email address (e.g. \"Gatehouse <gatehouse@example.com>\")"
    )]
    From(String),
    #[error(
        "smtp.security = \"none\" sends mail (and any password) in clear text; it is only allowed to a loopback host, not {0:?}"
    )]
    PlainToRemoteHost(String),
    #[error("smtp.ca_file: {0}")]
    CaFile(String),
    #[error("smtp.host {0:?}: {1}")]
    Tls(String, String),
}

/// Sends mail through one SMTP server. A connection per message: alarms
/// are rare and a long-lived connection would only time out.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of the sender, for Message-IDs.
    domain: String,
    /// The longest a whole delivery may take (lettre's own timeout covers
    /// connecting, not a server that stops answering mid-conversation).
    timeout: Duration,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, SmtpSettingsError> {
        let host = settings.host.trim();
        if host.is_empty() {
            return Err(SmtpSettingsError::NoHost);
        }
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| SmtpSettingsError::From(settings.from.clone()))?;
        let domain = from.email.domain().to_string();
        let tls = match settings.security {
            Security::None => {
                if !gatehouse_tls::is_loopback_host(host) {
                    return Err(SmtpSettingsError::PlainToRemoteHost(host.to_string()));
                }
                Tls::None
            }
            Security::StartTls => Tls::Required(tls_parameters(host, settings)?),
            Security::Tls => Tls::Wrapper(tls_parameters(host, settings)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((username, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
            domain,
            timeout: settings.timeout,
        })
    }
}

fn tls_parameters(host: &str, settings: &SmtpSettings) -> Result<TlsParameters, SmtpSettingsError> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(pem) = &settings.ca_pem {
        let certificate = Certificate::from_pem(pem)
            .map_err(|e| SmtpSettingsError::CaFile(format!("not a PEM certificate: {e}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| SmtpSettingsError::Tls(host.to_string(), e.to_string()))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .message_id(Some(format!("<{}@{}>", mail.id, self.domain)))
            .header(ContentType::TEXT_PLAIN);
        for to in &mail.to {
            let mailbox: Mailbox = to
                .parse()
                .map_err(|e| MailError(format!("recipient {to:?}: {e}")))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(mail.body.clone())
            .map_err(|e| MailError(format!("could not build the message: {e}")))?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| MailError(describe(&e))),
            Err(_) => Err(MailError(format!(
                "the mail server did not finish within {} s",
                self.timeout.as_secs()
            ))),
        }
    }
}

/// The error and its causes on one line (lettre keeps the useful part,
/// e.g. "Connection refused", in the source chain).
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // lettre repeats its kind at several levels ("Connection error:
    // Connection error: …"): say it once.
    let mut parts: Vec<&str> = text.split(": ").collect();
    parts.dedup();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(host: &str, security: Security) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: security.default_port(),
            security,
            credentials: None,
            ca_pem: None,
            from: "Gatehouse <gatehouse@example.com>".into(),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn plain_smtp_only_to_loopback() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(
                SmtpMailer::new(&settings(host, Security::None)).is_ok(),
                "{host}"
            );
        }
        for host in ["mail.example.com", "10.0.0.5", "192.0.2.1"] {
            assert_eq!(
                SmtpMailer::new(&settings(host, Security::None)).unwrap_err(),
                SmtpSettingsError::PlainToRemoteHost(host.into())
            );
        }
    }

    #[test]
    fn bad_settings_name_their_key() {
        let mut bad_from = settings("mail.example.com", Security::StartTls);
        bad_from.from = "not an address".into();
        let mut bad_ca = settings("mail.example.com", Security::Tls);
        bad_ca.ca_pem =
            Some(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_vec());
        for (settings, key) in [
            (settings(" ", Security::StartTls), "smtp.host"),
            (bad_from, "smtp.from"),
            (bad_ca, "smtp.ca_file"),
        ] {
            let error = SmtpMailer::new(&settings).unwrap_err().to_string();
            assert!(error.starts_with(key), "{error}");
        }
        assert!(SmtpMailer::new(&settings("mail.example.com", Security::StartTls)).is_ok());
    }

    #[test]
    fn security_modes_and_their_ports() {
        assert_eq!(Security::parse("starttls"), Some(Security::StartTls));
        assert_eq!(Security::parse("tls"), Some(Security::Tls));
        assert_eq!(Security::parse("none"), Some(Security::None));
        assert_eq!(Security::parse("ssl"), None);
        assert_eq!(Security::StartTls.default_port(), 587);
        assert_eq!(Security::Tls.default_port(), 465);
    }

    /// A server that greets, answers EHLO and then says nothing more (a
    /// hung or black-holed mail server): the delivery gives up after the
    /// configured timeout instead of waiting forever.
    #[tokio::test]
    async fn a_server_that_stops_answering_is_a_failure_after_the_timeout() {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"220 mail.example.com ESMTP\r\n").unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            stream.write_all(b"250 mail.example.com\r\n").unwrap();
            // Read whatever comes, never answer.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {}
        });
        let mailer = SmtpMailer::new(&SmtpSettings {
            port,
            timeout: Duration::from_secs(1),
            ..settings("127.0.0.1", Security::None)
        })
        .unwrap();
        let mail = Mail {
            to: vec!["ops@example.com".into()],
            subject: "User limit reached 85.5% (171/200)".into(),
            body: "body".into(),
            id: "alarm-1-0.TEST".into(),
        };
        let result = tokio::time::timeout(Duration::from_secs(30), mailer.send(&mail))
            .await
            .expect("the mailer gave up by itself");
        assert_eq!(
            result,
            Err(MailError(
                "the mail server did not finish within 1 s".into()
            ))
        );
    }
}
