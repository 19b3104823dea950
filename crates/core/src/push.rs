//! The push-approval protocol (SPEC §1, §9): what the server shows a
//! phone, and how the phone's answer is checked. Pure: no store, no clock
//! of its own, no network.
//!
//! Version 1, for any device (the web app Gatehouse serves, or a native
//! app):
//!
//! - **Enrollment.** The device makes a P-256 key pair (in a browser:
//!   WebCrypto, non-extractable) and registers its public key (SEC1,
//!   uncompressed or compressed) for one user.
//! - **A pending push** carries an id, the user, the client (NAS) name, the
//!   source address when known, when it was made and when it expires, and
//!   a random nonce. The server signs [`PendingPush::canonical`] with the
//!   installation's Ed25519 key, so the device can show it knowing it came
//!   from this installation.
//! - **A decision** is `approve` or `deny`, signed by the device with
//!   ECDSA P-256 / SHA-256 over the text `<nonce>|<decision>` (the nonce as
//!   sent, base64url), the signature as WebCrypto produces it (64 bytes,
//!   r ‖ s). [`check_decision`] accepts it only from a device of the push's
//!   user, before the push expires, once.
//! - **Number matching** (`push.number_matching`, challenge mode): the
//!   login's prompt shows a number; the push carries three `choices`
//!   (signed with it), one of them that number. The device approves by
//!   choosing one, signing `<nonce>|approve|<number>`; a wrong number is a
//!   denial. Only the server and the prompt know which choice is right.
//! - **Fetching pushes.** The device asks for its pending pushes with the
//!   current Unix time and its signature (same key and format) over
//!   `gatehouse-poll-v1|<device id>|<unix seconds>`; [`check_poll`] accepts
//!   it within [`POLL_SKEW_SECONDS`] of the server's clock.
//! - **Enrollment links.** A link carries a random secret (32 bytes); the
//!   server keeps only its SHA-256 ([`EnrollmentToken::hash`]) with the user
//!   it enrolls, its expiry and the id the device will get, and uses it
//!   once. Nothing about a link can be made without the server: not with
//!   the installation key, nor by writing a row into the database (rows are
//!   tagged under the sealing key).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::{Signature, Signer as _, SigningKey, VerifyingKey};
use p256::ecdsa::signature::Verifier as _;

use crate::identity::SeatKey;
use crate::tokens::{random_below, random_text};

/// Prefix of the text the server signs.
pub const PUSH_V1: &str = "gatehouse-push-v1";

/// Prefix of the text a device signs to fetch its pushes.
pub const POLL_V1: &str = "gatehouse-poll-v1";

/// How far a device's clock may be from the server's when it fetches.
pub const POLL_SKEW_SECONDS: i64 = 300;

/// How a RADIUS login waits for the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushMode {
    /// Hold the Access-Request open until the phone answers or the push
    /// times out, then answer once.
    #[default]
    Hold,
    /// Answer with an Access-Challenge; the follow-up request (Enter, or a
    /// TOTP code) collects the decision.
    Challenge,
}

impl PushMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PushMode::Hold => "hold",
            PushMode::Challenge => "challenge",
        }
    }

    pub fn parse(text: &str) -> Option<PushMode> {
        match text {
            "hold" => Some(PushMode::Hold),
            "challenge" => Some(PushMode::Challenge),
            _ => None,
        }
    }
}

/// A phone's Web Push subscription (RFC 8030): where its push service
/// accepts messages for it, and the keys messages are encrypted to
/// (RFC 8291).
#[derive(Clone, PartialEq, Eq)]
pub struct WebPushSubscription {
    /// The push service's URL for this phone (`https://`).
    pub endpoint: String,
    /// The phone's ECDH P-256 public key (uncompressed SEC1, 65 bytes).
    pub p256dh: Vec<u8>,
    /// The 16-byte authentication secret.
    pub auth: Vec<u8>,
}

impl fmt::Debug for WebPushSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The endpoint is a capability: whoever has it can message the
        // phone.
        f.debug_struct("WebPushSubscription")
            .finish_non_exhaustive()
    }
}

impl WebPushSubscription {
    /// Checks what a phone sent: an `https://` endpoint naming a host (see
    /// [`crate::push_hosts`] for which hosts are allowed), a P-256 point, a
    /// 16-byte secret.
    pub fn new(
        endpoint: &str,
        p256dh: Vec<u8>,
        auth: Vec<u8>,
    ) -> Result<WebPushSubscription, &'static str> {
        crate::push_hosts::Endpoint::parse(endpoint)?;
        if p256dh.len() != 65 || p256::PublicKey::from_sec1_bytes(&p256dh).is_err() {
            return Err("p256dh must be an uncompressed P-256 public key");
        }
        if auth.len() != 16 {
            return Err("auth must be 16 bytes");
        }
        Ok(WebPushSubscription {
            endpoint: endpoint.to_string(),
            p256dh,
            auth,
        })
    }
}

/// Why a Web Push message was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The push service no longer knows the subscription (404, 410): it
    /// is dropped.
    #[error("the subscription is gone")]
    Gone,
    #[error("{0}")]
    Failed(String),
}

/// Sends Web Push messages (RFC 8030), encrypted to the subscription
/// (RFC 8291) and signed with the installation's VAPID key (RFC 8292).
#[async_trait::async_trait]
pub trait PushNotifier: Send + Sync {
    async fn notify(
        &self,
        vapid: &p256::SecretKey,
        subscription: &WebPushSubscription,
        payload: &[u8],
    ) -> Result<(), NotifyError>;
}

/// The installation's VAPID key (P-256), derived from its Ed25519 key so
/// every node has the same one without storing another secret.
pub fn vapid_key(installation: &SigningKey) -> p256::SecretKey {
    use hmac::{KeyInit as _, Mac as _};
    (0u32..)
        .find_map(|counter| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&installation.to_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(b"gatehouse-vapid-v1");
            mac.update(&counter.to_be_bytes());
            p256::SecretKey::from_slice(&mac.finalize().into_bytes()).ok()
        })
        .expect("a valid scalar within a few tries")
}

/// Prefix of the text a device signs to register its Web Push
/// subscription.
pub const WEBPUSH_V1: &str = "gatehouse-webpush-v1";

/// The text a device signs to register its subscription at
/// `unix_seconds` (`p256dh` and `auth` base64url, as sent).
pub fn webpush_text(
    device: &str,
    unix_seconds: i64,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> String {
    format!("{WEBPUSH_V1}|{device}|{unix_seconds}|{endpoint}|{p256dh}|{auth}")
}

/// Accepts a device's signature of `text` made at `unix_seconds`: by its
/// key, near the server's clock.
pub fn check_device_request(
    device: &Device,
    unix_seconds: i64,
    text: &str,
    signature: &str,
    now: Timestamp,
) -> Result<(), PollRefusal> {
    // abs_diff: a time near i64::MIN must not overflow into "recent".
    if now.as_second().abs_diff(unix_seconds) > POLL_SKEW_SECONDS.unsigned_abs() {
        return Err(PollRefusal::Stale);
    }
    verify_device_signature(&device.public_key, text.as_bytes(), signature).map_err(|refusal| {
        match refusal {
            DecisionRefusal::BadDeviceKey => PollRefusal::BadDeviceKey,
            _ => PollRefusal::BadSignature,
        }
    })
}

/// Approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }

    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "approve" => Some(Decision::Approve),
            "deny" => Some(Decision::Deny),
            _ => None,
        }
    }
}

/// A login waiting for the user's phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPush {
    /// Random, base64url.
    pub id: String,
    pub seat: SeatKey,
    /// The login name shown on the phone.
    pub user: String,
    /// The RADIUS client (NAS) the login came through.
    pub client: String,
    /// The user's address, when the NAS sent one.
    pub source: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// 32 random bytes, base64url: what the device signs its decision
    /// over.
    pub nonce: String,
    /// Number matching: the number the login's prompt shows (never sent
    /// to the device), and the choices the device offers (one of them the
    /// number), in the order shown. Empty choices: no number matching.
    pub number: Option<u8>,
    pub choices: Vec<u8>,
    /// Set once a decision was accepted.
    pub decided: Option<Decision>,
}

impl PendingPush {
    /// A new push for `seat`/`user`, valid for `lifetime` from `now`.
    pub fn new(
        seat: SeatKey,
        user: &str,
        client: &str,
        source: Option<&str>,
        now: Timestamp,
        lifetime: std::time::Duration,
    ) -> PendingPush {
        let expires_at = later(now, lifetime);
        PendingPush {
            id: random_text(16),
            seat,
            user: user.to_string(),
            client: client.to_string(),
            source: source.map(str::to_string),
            created_at: now,
            expires_at,
            nonce: random_text(32),
            number: None,
            choices: Vec::new(),
            decided: None,
        }
    }

    /// The same push with number matching: a random number from 10 to 99
    /// and two other choices, in random order.
    pub fn with_number(mut self) -> PendingPush {
        let mut choices: Vec<u8> = Vec::with_capacity(3);
        while choices.len() < 3 {
            let candidate = 10 + random_below(90);
            if !choices.contains(&candidate) {
                choices.push(candidate);
            }
        }
        self.number = Some(choices[random_below(3) as usize]);
        self.choices = choices;
        self
    }

    /// The text the server signs: one `key=value` line per field, in this
    /// order, after the version line. Values never contain a line break
    /// (they are replaced by spaces).
    pub fn canonical(&self) -> String {
        let clean = |text: &str| text.replace(['\n', '\r'], " ");
        let mut text = format!(
            "{PUSH_V1}\nid={}\nuser={}\nclient={}\nsource={}\ncreated_at={}\nexpires_at={}\nnonce={}\n",
            clean(&self.id),
            clean(&self.user),
            clean(&self.client),
            clean(self.source.as_deref().unwrap_or("")),
            self.created_at,
            self.expires_at,
            clean(&self.nonce),
        );
        if !self.choices.is_empty() {
            let choices: Vec<String> = self.choices.iter().map(u8::to_string).collect();
            text.push_str(&format!("choices={}\n", choices.join(",")));
        }
        text
    }

    /// The server's Ed25519 signature of [`PendingPush::canonical`],
    /// base64url.
    pub fn sign(&self, key: &SigningKey) -> String {
        URL_SAFE_NO_PAD.encode(key.sign(self.canonical().as_bytes()).to_bytes())
    }

    /// Whether `signature` (base64url) is the server's over this push.
    pub fn verify(&self, key: &VerifyingKey, signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .is_some_and(|signature| {
                key.verify_strict(self.canonical().as_bytes(), &signature)
                    .is_ok()
            })
    }
}

/// A phone enrolled for a user.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub seat: SeatKey,
    /// SEC1-encoded P-256 public key.
    pub public_key: Vec<u8>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("seat", &self.seat)
            .finish_non_exhaustive()
    }
}

/// What a device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDecision {
    pub push_id: String,
    pub decision: Decision,
    /// The number chosen (number matching; approvals only).
    pub number: Option<u8>,
    /// base64url of the 64-byte P1363 signature (r ‖ s).
    pub signature: String,
}

/// Why a decision was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecisionRefusal {
    #[error("the decision is for another push")]
    OtherPush,
    #[error("the device belongs to another user")]
    OtherUser,
    #[error("the push has expired")]
    Expired,
    #[error("the push was already decided")]
    AlreadyDecided,
    #[error("the device's key is not a P-256 public key")]
    BadDeviceKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the push asks for a number: approve by choosing it")]
    NumberMissing,
    #[error("the wrong number was chosen: the login is denied")]
    WrongNumber,
}

/// The text a device signs for `decision` on a push with `nonce` (and,
/// approving with number matching, the number chosen).
pub fn decision_text(nonce: &str, decision: Decision, number: Option<u8>) -> String {
    match number {
        Some(number) => format!("{nonce}|{}|{number}", decision.as_str()),
        None => format!("{nonce}|{}", decision.as_str()),
    }
}

/// Accepts `signed` for `push` from `device` at `now`, or says why not.
/// (The store then records it only if the push is still undecided, so two
/// decisions racing are accepted once.)
pub fn check_decision(
    push: &PendingPush,
    device: &Device,
    signed: &SignedDecision,
    now: Timestamp,
) -> Result<Decision, DecisionRefusal> {
    if signed.push_id != push.id {
        return Err(DecisionRefusal::OtherPush);
    }
    if device.seat != push.seat {
        return Err(DecisionRefusal::OtherUser);
    }
    if now >= push.expires_at {
        return Err(DecisionRefusal::Expired);
    }
    if push.decided.is_some() {
        return Err(DecisionRefusal::AlreadyDecided);
    }
    let asks_number = push.number.is_some() && signed.decision == Decision::Approve;
    if asks_number && signed.number.is_none() {
        return Err(DecisionRefusal::NumberMissing);
    }
    let number = if asks_number { signed.number } else { None };
    verify_device_signature(
        &device.public_key,
        decision_text(&push.nonce, signed.decision, number).as_bytes(),
        &signed.signature,
    )?;
    if asks_number && number != push.number {
        return Err(DecisionRefusal::WrongNumber);
    }
    Ok(signed.decision)
}

/// Why a device's request to fetch its pushes was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PollRefusal {
    #[error("the request's time is too far from the server's clock")]
    Stale,
    #[error("the device's key is not a P-256 public key")]
    BadDeviceKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// The text a device signs to fetch its pushes at `unix_seconds`.
pub fn poll_text(device: &str, unix_seconds: i64) -> String {
    format!("{POLL_V1}|{device}|{unix_seconds}")
}

/// Accepts a fetch by `device` signed at `unix_seconds` (base64url P1363
/// `signature`), or says why not.
pub fn check_poll(
    device: &Device,
    unix_seconds: i64,
    signature: &str,
    now: Timestamp,
) -> Result<(), PollRefusal> {
    check_device_request(
        device,
        unix_seconds,
        &poll_text(&device.id, unix_seconds),
        signature,
        now,
    )
}

/// Checks a device's ECDSA P-256 / SHA-256 signature (base64url, r ‖ s).
fn verify_device_signature(
    public_key: &[u8],
    message: &[u8],
    signature: &str,
) -> Result<(), DecisionRefusal> {
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
        .map_err(|_| DecisionRefusal::BadDeviceKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| p256::ecdsa::Signature::from_slice(&bytes).ok())
        .ok_or(DecisionRefusal::BadSignature)?;
    key.verify(message, &signature)
        .map_err(|_| DecisionRefusal::BadSignature)
}

/// A one-time enrollment link: who may enroll a phone, until when, and the
/// id the phone will get. The link's secret is not part of it; the server
/// keeps only the secret's SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    /// Random, base64url: the enrolled device's id.
    pub id: String,
    pub seat: SeatKey,
    /// The login name shown while enrolling.
    pub user: String,
    pub expires_at: Timestamp,
}

/// Why an enrollment link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentRefusal {
    /// Not a link this installation made (or one forgotten long ago).
    #[error("the enrollment link is not valid")]
    Malformed,
    #[error("the enrollment link has expired")]
    Expired,
    /// Used before: a link enrolls one phone.
    #[error("this enrollment link was already used; ask for a new one")]
    Used,
}

impl EnrollmentToken {
    /// A new link for `seat`/`user`, valid for `lifetime` from `now`, and
    /// its secret (the text of the link, given once).
    pub fn new(
        seat: SeatKey,
        user: &str,
        now: Timestamp,
        lifetime: std::time::Duration,
    ) -> (EnrollmentToken, String) {
        let token = EnrollmentToken {
            id: random_text(16),
            seat,
            user: user.replace(['\n', '\r'], " "),
            expires_at: later(now, lifetime),
        };
        (token, random_text(32))
    }

    /// What is stored of a link's secret: its SHA-256. `None` for text
    /// that cannot be a link's secret (43 base64url characters).
    pub fn hash(secret: &str) -> Option<[u8; 32]> {
        use sha2::Digest as _;
        let secret = secret.trim();
        let valid = secret.len() == 43
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| sha2::Sha256::digest(secret.as_bytes()).into())
    }
}

fn later(now: Timestamp, lifetime: std::time::Duration) -> Timestamp {
    gatehouse_license::jiff::SignedDuration::try_from(lifetime)
        .ok()
        .and_then(|lifetime| now.checked_add(lifetime).ok())
        .unwrap_or(now)
}

#[cfg(test)]
mod tests;
