//! Web Push: waking a phone's web app when a push is waiting for it.
//!
//! - [`encrypt`]: RFC 8291 message encryption, `aes128gcm` content coding
//!   (RFC 8188), one record.
//! - [`vapid_authorization`]: the RFC 8292 `Authorization: vapid` header,
//!   an ES256 JWT for the push service's origin.
//! - [`WebPushSender`]: the [`PushNotifier`] that POSTs the message to the
//!   subscription's endpoint (RFC 8030) over HTTPS.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::push::{NotifyError, PushNotifier, WebPushSubscription};
use gatehouse_core::push_hosts::{Endpoint, HostTrust, PushServiceHosts, is_public};
use hmac::{KeyInit as _, Mac as _};
use p256::ecdsa::signature::Signer as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Record size announced in the header (one record is sent).
const RECORD_SIZE: u32 = 4096;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptError;

/// Encrypts `plaintext` for `subscription` with a fresh ephemeral key and
/// salt.
pub fn encrypt(
    plaintext: &[u8],
    subscription: &WebPushSubscription,
) -> Result<Vec<u8>, EncryptError> {
    let mut seed = [0u8; 32];
    let mut salt = [0u8; 16];
    getrandom::fill(&mut seed).map_err(|_| EncryptError)?;
    getrandom::fill(&mut salt).map_err(|_| EncryptError)?;
    let ephemeral = p256::SecretKey::from_slice(&seed).map_err(|_| EncryptError)?;
    encrypt_with(plaintext, subscription, &ephemeral, salt)
}

/// [`encrypt`] with a given ephemeral key and salt (the RFC's example).
pub fn encrypt_with(
    plaintext: &[u8],
    subscription: &WebPushSubscription,
    ephemeral: &p256::SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, EncryptError> {
    let ua_public =
        p256::PublicKey::from_sec1_bytes(&subscription.p256dh).map_err(|_| EncryptError)?;
    let as_public = sec1_uncompressed(ephemeral);
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), ua_public.as_affine());
    // RFC 8291 §3.4: the IKM binds the secret to both public keys and the
    // subscription's authentication secret.
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(&subscription.p256dh);
    key_info.extend_from_slice(&as_public);
    let prk_key = hkdf_extract(&subscription.auth, shared.raw_secret_bytes());
    let ikm = hkdf_expand(&prk_key, &key_info, 32);
    // RFC 8188 §2.2: the content key and nonce.
    let prk = hkdf_extract(&salt, &ikm);
    let cek = hkdf_expand(&prk, b"Content-Encoding: aes128gcm\0", 16);
    let nonce = hkdf_expand(&prk, b"Content-Encoding: nonce\0", 12);
    let mut record = plaintext.to_vec();
    record.push(2); // the last (and only) record's delimiter
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_128_GCM, &cek).map_err(|_| EncryptError)?,
    );
    let nonce = ring::aead::Nonce::try_assume_unique_for_key(&nonce).map_err(|_| EncryptError)?;
    key.seal_in_place_append_tag(nonce, ring::aead::Aad::empty(), &mut record)
        .map_err(|_| EncryptError)?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + as_public.len() + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&record);
    Ok(body)
}

fn sec1_uncompressed(key: &p256::SecretKey) -> Vec<u8> {
    p256::ecdsa::SigningKey::from(key)
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec()
}

fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Vec<u8> {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(salt).expect("HMAC takes keys of any length");
    mac.update(ikm);
    mac.finalize().into_bytes().to_vec()
}

/// HKDF-Expand for at most one block (every output here is ≤ 32 bytes).
fn hkdf_expand(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(prk).expect("HMAC takes keys of any length");
    mac.update(info);
    mac.update(&[1]);
    mac.finalize().into_bytes()[..len].to_vec()
}

/// The `Authorization` header for a message to `endpoint`: a VAPID JWT
/// (ES256) for the endpoint's origin, valid 12 hours from `now_unix`, with
/// `subject` (a `mailto:` or `https:` URI) to contact the sender.
pub fn vapid_authorization(
    url: &str,
    subject: &str,
    key: &p256::SecretKey,
    now_unix: i64,
) -> Result<String, NotifyError> {
    let target = endpoint(url)?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({
            "aud": target.origin(),
            "exp": now_unix + 12 * 3600,
            "sub": subject,
        })
        .to_string(),
    );
    let signing_input = format!("{header}.{claims}");
    let signature: p256::ecdsa::Signature =
        p256::ecdsa::SigningKey::from(key).sign(signing_input.as_bytes());
    Ok(format!(
        "vapid t={signing_input}.{}, k={}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        URL_SAFE_NO_PAD.encode(sec1_uncompressed(key))
    ))
}

/// An endpoint, or why it is not one.
fn endpoint(text: &str) -> Result<Endpoint, NotifyError> {
    Endpoint::parse(text).map_err(|why| NotifyError::Failed(format!("{why}: {text:?}")))
}

/// Delivers Web Push messages over HTTPS (`[push.webpush]`).
#[derive(Clone)]
pub struct WebPushSender {
    subject: String,
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    hosts: PushServiceHosts,
}

impl std::fmt::Debug for WebPushSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebPushSender")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl WebPushSender {
    /// `subject`: how a push service can reach the operator (`mailto:…`);
    /// `ca_pem`: an extra CA for push services (the system's are always
    /// trusted); `hosts`: where messages may go (`push.webpush.allowed_hosts`).
    pub fn new(
        subject: &str,
        ca_pem: Option<&[u8]>,
        hosts: PushServiceHosts,
    ) -> Result<WebPushSender, String> {
        Ok(WebPushSender {
            subject: subject.to_string(),
            tls: tokio_rustls::TlsConnector::from(gatehouse_tls::client_config(ca_pem)?),
            timeout: Duration::from_secs(10),
            hosts,
        })
    }

    /// The address to connect to for `target`: resolved once, and for a
    /// host not named exactly by the administrator only a public one (the
    /// address checked is the address connected to).
    async fn address(&self, target: &Endpoint, trust: HostTrust) -> Result<SocketAddr, String> {
        let resolved: Vec<SocketAddr> =
            tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
                .collect();
        pick_address(&resolved, trust).ok_or_else(|| {
            format!(
                "{} resolves to no public address ({resolved:?}): refused",
                target.host
            )
        })
    }

    async fn post(
        &self,
        target: &Endpoint,
        trust: HostTrust,
        headers: &str,
        body: &[u8],
    ) -> Result<u16, String> {
        let address = self.address(target, trust).await?;
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", target.origin()))?;
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|e| format!("{}: {e}", target.host))?;
        let mut tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", target.origin()))?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            target.path,
            target.origin().trim_start_matches("https://"),
            body.len()
        );
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(body).await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        // Only the status line matters.
        let mut head = Vec::new();
        let mut buffer = [0u8; 512];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
            let read = tls.read(&mut buffer).await.map_err(|e| e.to_string())?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        let line = String::from_utf8_lossy(&head);
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no HTTP answer from {}", target.origin()))
    }
}

#[async_trait::async_trait]
impl PushNotifier for WebPushSender {
    async fn notify(
        &self,
        vapid: &p256::SecretKey,
        subscription: &WebPushSubscription,
        payload: &[u8],
    ) -> Result<(), NotifyError> {
        let (target, trust) = self
            .hosts
            .check(&subscription.endpoint)
            .map_err(|why| NotifyError::Failed(why.to_string()))?;
        let body = encrypt(payload, subscription)
            .map_err(|_| NotifyError::Failed("could not encrypt the message".into()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let authorization = vapid_authorization(&subscription.endpoint, &self.subject, vapid, now)?;
        // A push is useless once it expires: a short TTL, high urgency.
        let headers = format!(
            "Authorization: {authorization}\r\nContent-Encoding: aes128gcm\r\nContent-Type: application/octet-stream\r\nTTL: 60\r\nUrgency: high\r\n"
        );
        let status = tokio::time::timeout(self.timeout, self.post(&target, trust, &headers, &body))
            .await
            .map_err(|_| {
                NotifyError::Failed(format!("{} did not answer in time", target.origin()))
            })?
            .map_err(NotifyError::Failed)?;
        match status {
            200..=299 => Ok(()),
            404 | 410 => Err(NotifyError::Gone),
            other => Err(NotifyError::Failed(format!(
                "{} answered HTTP {other}",
                target.origin()
            ))),
        }
    }
}

/// The first address `trust` allows among `resolved`: any for a host the
/// administrator named, public ones only otherwise (and then none if any
/// is private: a name that mixes them is not a push service's).
fn pick_address(resolved: &[SocketAddr], trust: HostTrust) -> Option<SocketAddr> {
    match trust {
        HostTrust::Named => resolved.first().copied(),
        HostTrust::PublicOnly => {
            if resolved.iter().all(|a| is_public(a.ip())) {
                resolved.first().copied()
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_reached_for_hosts_not_named_exactly() {
        let public: SocketAddr = "142.250.74.106:443".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let metadata: SocketAddr = "169.254.169.254:443".parse().unwrap();
        assert_eq!(pick_address(&[public], HostTrust::PublicOnly), Some(public));
        assert_eq!(pick_address(&[loopback], HostTrust::PublicOnly), None);
        assert_eq!(
            pick_address(&[public, metadata], HostTrust::PublicOnly),
            None
        );
        assert_eq!(pick_address(&[loopback], HostTrust::Named), Some(loopback));
        assert_eq!(pick_address(&[], HostTrust::Named), None);
    }

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291 Appendix A, byte for byte.
    #[test]
    fn the_rfc_8291_example_encrypts_to_the_rfc_body() {
        let subscription = WebPushSubscription {
            endpoint: "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV".into(),
            p256dh: b64(
                "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            ),
            auth: b64("BTBZMqHH6r4Tts7J_aSIgg"),
        };
        let ephemeral =
            p256::SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
                .unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &subscription,
            &ephemeral,
            salt,
        )
        .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
        // Fresh keys and salt otherwise.
        let once = encrypt(b"x", &subscription).unwrap();
        let again = encrypt(b"x", &subscription).unwrap();
        assert_ne!(once[..21 + 65], again[..21 + 65]);
    }

    #[test]
    fn the_vapid_token_is_an_es256_jwt_for_the_endpoints_origin() {
        use p256::ecdsa::signature::Verifier as _;
        let key = p256::SecretKey::from_slice(&[7; 32]).unwrap();
        let header = vapid_authorization(
            "https://push.example.net:8443/wpush/v2/abc",
            "mailto:noc@example.com",
            &key,
            1_800_000_000,
        )
        .unwrap();
        let (token, k) = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(b64(k), sec1_uncompressed(&key));
        let parts: Vec<&str> = token.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&b64(parts[1])).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_800_000_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:noc@example.com");
        let signature = p256::ecdsa::Signature::from_slice(&b64(parts[2])).unwrap();
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&b64(k))
            .unwrap()
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
        for bad in [
            "http://push.example.net/x",
            "https://",
            "push.example.net/x",
        ] {
            assert!(
                vapid_authorization(bad, "mailto:x@y", &key, 0).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            endpoint("https://push.example.net/x").unwrap().origin(),
            "https://push.example.net"
        );
    }
}
