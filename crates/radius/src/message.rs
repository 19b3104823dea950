//! RADIUS requests and replies as types: what an Access-Request asks,
//! and the three answers (RFC 2865 §4).

use crate::attributes::{
    CHAP_PASSWORD, EAP_MESSAGE, PROXY_STATE, REPLY_MESSAGE, STATE, USER_NAME, USER_PASSWORD,
};
use crate::crypto::{SharedSecret, encode_reply, reveal_password};
use crate::packet::{Attribute, Code, EncodeError, MAX_ATTRIBUTE_VALUE, Packet};

/// An Access-Request, with its User-Password revealed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub user_name: String,
    /// The revealed User-Password (PAP), or the one-time code when the
    /// request answers a challenge.
    pub password: String,
    /// State from an earlier Access-Challenge.
    pub state: Option<Vec<u8>>,
    /// Proxy-State attributes, echoed unchanged and in order in the reply.
    pub proxy_states: Vec<Vec<u8>>,
}

impl std::fmt::Debug for AccessRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessRequest")
            .field("identifier", &self.identifier)
            .field("user_name", &self.user_name)
            .field("password", &"<secret>")
            .field("state", &self.state.as_ref().map(|s| s.len()))
            .field("proxy_states", &self.proxy_states.len())
            .finish()
    }
}

/// Why an Access-Request cannot be served (answered with a Reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("no User-Name")]
    NoUserName,
    #[error("User-Name is not UTF-8")]
    UserNameNotUtf8,
    #[error("no User-Password (only PAP is supported)")]
    NotPap,
    #[error("User-Password cannot be revealed (bad length)")]
    BadPassword,
    #[error("User-Password is not UTF-8 (wrong shared secret?)")]
    PasswordNotUtf8,
}

impl AccessRequest {
    /// Reads an Access-Request; `packet.code` must be Access-Request. The
    /// identifier, authenticator and Proxy-States are returned even on
    /// error, so the caller can still reply.
    pub fn from_packet(
        packet: &Packet,
        secret: &[u8],
    ) -> Result<AccessRequest, (RequestError, ReplyContext)> {
        let context = ReplyContext::of(packet);
        let fail = |error| Err((error, context.clone()));
        let Some(user_name) = packet.attribute(USER_NAME) else {
            return fail(RequestError::NoUserName);
        };
        let Ok(user_name) = std::str::from_utf8(user_name) else {
            return fail(RequestError::UserNameNotUtf8);
        };
        let state = packet.attribute(STATE);
        let password = match packet.attribute(USER_PASSWORD) {
            Some(hidden) => {
                let Ok(password) = reveal_password(hidden, secret, &packet.authenticator) else {
                    return fail(RequestError::BadPassword);
                };
                let Ok(password) = String::from_utf8(password) else {
                    return fail(RequestError::PasswordNotUtf8);
                };
                password
            }
            // Enter pressed at a challenge prompt: some NAS send no
            // User-Password at all for an empty answer.
            None if state.is_some()
                && packet.attribute(CHAP_PASSWORD).is_none()
                && packet.attribute(EAP_MESSAGE).is_none() =>
            {
                String::new()
            }
            None => return fail(RequestError::NotPap),
        };
        Ok(AccessRequest {
            identifier: packet.identifier,
            authenticator: packet.authenticator,
            user_name: user_name.to_string(),
            password,
            state: state.map(<[u8]>::to_vec),
            proxy_states: context.proxy_states,
        })
    }

    pub fn context(&self) -> ReplyContext {
        ReplyContext {
            identifier: self.identifier,
            authenticator: self.authenticator,
            proxy_states: self.proxy_states.clone(),
        }
    }
}

/// What every reply needs from its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyContext {
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub proxy_states: Vec<Vec<u8>>,
}

impl ReplyContext {
    pub fn of(packet: &Packet) -> ReplyContext {
        ReplyContext {
            identifier: packet.identifier,
            authenticator: packet.authenticator,
            proxy_states: packet
                .attributes_of(PROXY_STATE)
                .map(<[u8]>::to_vec)
                .collect(),
        }
    }
}

/// The answer to an Access-Request (or Status-Server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `attributes`: what the policy in force gives the user (Class,
    /// Filter-Id, vendor attributes), encoded.
    Accept {
        message: Option<String>,
        attributes: Vec<Attribute>,
    },
    Reject {
        message: String,
    },
    Challenge {
        state: Vec<u8>,
        message: String,
    },
}

impl Reply {
    pub fn code(&self) -> Code {
        match self {
            Reply::Accept { .. } => Code::AccessAccept,
            Reply::Reject { .. } => Code::AccessReject,
            Reply::Challenge { .. } => Code::AccessChallenge,
        }
    }

    /// Encodes the reply: Message-Authenticator first, then Reply-Message
    /// (split across attributes if long), an accept's attributes, State,
    /// and the request's Proxy-States unchanged and in order.
    pub fn encode(
        &self,
        context: &ReplyContext,
        secret: &SharedSecret,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut packet = Packet::new(self.code(), context.identifier, [0; 16]);
        let message = match self {
            Reply::Accept { message, .. } => message.as_deref(),
            Reply::Reject { message } | Reply::Challenge { message, .. } => Some(message.as_str()),
        };
        if let Some(message) = message {
            for chunk in message.as_bytes().chunks(MAX_ATTRIBUTE_VALUE) {
                packet.push(REPLY_MESSAGE, chunk.to_vec());
            }
        }
        if let Reply::Accept { attributes, .. } = self {
            packet.attributes.extend(attributes.iter().cloned());
        }
        if let Reply::Challenge { state, .. } = self {
            packet.push(STATE, state.clone());
        }
        for proxy_state in &context.proxy_states {
            packet.push(PROXY_STATE, proxy_state.clone());
        }
        encode_reply(&packet, &context.authenticator, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::MESSAGE_AUTHENTICATOR;
    use crate::crypto::{
        MessageAuthenticator, check_message_authenticator, hide_password, verify_reply,
    };
    use crate::packet::Attribute;

    fn request(password: &[u8]) -> Packet {
        let authenticator = [4u8; 16];
        let mut packet = Packet::new(Code::AccessRequest, 17, authenticator);
        packet.push(USER_NAME, b"alice".to_vec());
        packet.push(
            USER_PASSWORD,
            hide_password(password, b"secret", &authenticator).unwrap(),
        );
        packet.push(PROXY_STATE, b"first".to_vec());
        packet.push(PROXY_STATE, b"second".to_vec());
        packet
    }

    #[test]
    fn an_access_request_reveals_its_password() {
        let parsed = AccessRequest::from_packet(&request(b"pa55word"), b"secret").unwrap();
        assert_eq!(parsed.user_name, "alice");
        assert_eq!(parsed.password, "pa55word");
        assert_eq!(
            parsed.proxy_states,
            vec![b"first".to_vec(), b"second".to_vec()]
        );
        assert!(!format!("{parsed:?}").contains("pa55word"));
    }

    #[test]
    fn requests_that_cannot_be_served_say_why() {
        let mut no_name = request(b"x");
        no_name.attributes.retain(|a| a.kind != USER_NAME);
        assert_eq!(
            AccessRequest::from_packet(&no_name, b"secret")
                .unwrap_err()
                .0,
            RequestError::NoUserName
        );
        let mut chap = request(b"x");
        chap.attributes.retain(|a| a.kind != USER_PASSWORD);
        let (error, context) = AccessRequest::from_packet(&chap, b"secret").unwrap_err();
        assert_eq!(error, RequestError::NotPap);
        // The answer to a challenge may come without User-Password (Enter
        // pressed): an empty answer, unless it is CHAP or EAP.
        let mut enter = chap.clone();
        enter.attributes.push(Attribute {
            kind: STATE,
            value: vec![7; 16],
        });
        let answered = AccessRequest::from_packet(&enter, b"secret").unwrap();
        assert_eq!(
            (answered.password.as_str(), answered.state),
            ("", Some(vec![7; 16]))
        );
        let mut chap_answer = enter.clone();
        chap_answer.attributes.push(Attribute {
            kind: CHAP_PASSWORD,
            value: vec![1; 17],
        });
        assert_eq!(
            AccessRequest::from_packet(&chap_answer, b"secret")
                .unwrap_err()
                .0,
            RequestError::NotPap
        );
        assert_eq!(
            context.proxy_states.len(),
            2,
            "a reject still echoes Proxy-State"
        );
        let mut garbled = request(b"x");
        garbled.attributes[1].value.truncate(15);
        assert_eq!(
            AccessRequest::from_packet(&garbled, b"secret")
                .unwrap_err()
                .0,
            RequestError::BadPassword
        );
    }

    #[test]
    fn replies_put_the_message_authenticator_first_and_echo_proxy_state() {
        let parsed = AccessRequest::from_packet(&request(b"x"), b"secret").unwrap();
        let reply = Reply::Challenge {
            state: vec![9; 16],
            message: "Enter your one-time code".into(),
        };
        let bytes = reply
            .encode(&parsed.context(), &SharedSecret::new(b"secret"))
            .unwrap();
        assert!(verify_reply(&bytes, &parsed.authenticator, b"secret"));
        let packet = Packet::parse(&bytes).unwrap();
        assert_eq!(packet.code, Code::AccessChallenge);
        assert_eq!(packet.identifier, 17);
        let kinds: Vec<u8> = packet.attributes.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            [
                MESSAGE_AUTHENTICATOR,
                REPLY_MESSAGE,
                STATE,
                PROXY_STATE,
                PROXY_STATE
            ]
        );
        assert_eq!(
            packet.attribute(REPLY_MESSAGE),
            Some(&b"Enter your one-time code"[..])
        );
        assert_eq!(
            packet.attributes_of(PROXY_STATE).collect::<Vec<_>>(),
            [&b"first"[..], &b"second"[..]]
        );
        let mut as_signed = bytes.clone();
        as_signed[4..20].copy_from_slice(&parsed.authenticator);
        assert_eq!(
            check_message_authenticator(&as_signed, &SharedSecret::new(b"secret")),
            MessageAuthenticator::Valid
        );
    }

    proptest::proptest! {
        /// Whatever arrives, reading it as an Access-Request never panics.
        #[test]
        fn arbitrary_access_requests_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut bytes = vec![1, 7];
            bytes.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
            bytes.extend_from_slice(&[3; 16]);
            bytes.extend_from_slice(&body);
            if let Ok(packet) = Packet::parse(&bytes) {
                let _ = AccessRequest::from_packet(&packet, b"secret");
            }
        }
    }

    #[test]
    fn long_reply_messages_are_split() {
        let context = ReplyContext {
            identifier: 1,
            authenticator: [0; 16],
            proxy_states: vec![],
        };
        let bytes = Reply::Reject {
            message: "x".repeat(300),
        }
        .encode(&context, &SharedSecret::new(b"s"))
        .unwrap();
        let packet = Packet::parse(&bytes).unwrap();
        let parts: Vec<usize> = packet
            .attributes_of(REPLY_MESSAGE)
            .map(<[u8]>::len)
            .collect();
        assert_eq!(parts, [253, 47]);
    }
}
