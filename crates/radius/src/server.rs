//! The RADIUS authentication server: UDP in, the Gatehouse service, UDP out.
//!
//! Per datagram: find the client by source address (unknown sources are
//! dropped silently), parse, check the Message-Authenticator rules, detect
//! duplicates, then answer at once, or on a task of its own when the login
//! has to wait (argon2, a database write), so it never holds up the next
//! request.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use gatehouse_core::clients::RadiusClient;
use gatehouse_core::{
    Authenticated, Authorization, Gatehouse, Identity, LoginStep, Refusal, Route, approve_prompt,
    is_approve_prompt,
};
use tokio::net::UdpSocket;

use crate::attributes::{CALLING_STATION_ID, NAS_IDENTIFIER, PROXY_STATE};
use crate::crypto::{MessageAuthenticator, SharedSecret, check_message_authenticator, random_16};
use crate::dedup::{ResponseCache, Seen, digest};
use crate::message::{AccessRequest, Reply, ReplyContext};
use crate::packet::{Attribute, Code, Packet};
use gatehouse_core::ratelimit::RateLimitedLog;

/// Reply-Message of an Access-Challenge for a one-time code.
pub const ENTER_ONE_TIME_CODE: &str = "Enter your one-time code";

/// Reply-Message when a challenge's State is unknown, expired or used.
pub const LOGIN_EXPIRED: &str = "Login attempt expired, please log in again";

/// Reply-Message for requests Gatehouse cannot serve (CHAP, EAP).
pub const ONLY_PAP: &str = "Only PAP authentication is supported";

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct RadiusSettings {
    /// How long a challenge's State stays valid.
    pub challenge_timeout: Duration,
    /// How long replies are kept for retransmissions.
    pub response_cache_ttl: Duration,
    /// Most replies kept (about 200 bytes each).
    pub response_cache_capacity: usize,
    /// Requests being worked on at once (`radius.max_in_flight`), and
    /// from one client (`radius.max_in_flight_per_client`): beyond them a
    /// request is dropped before any work (the NAS retries).
    pub max_in_flight: usize,
    pub max_in_flight_per_client: usize,
}

impl Default for RadiusSettings {
    fn default() -> RadiusSettings {
        RadiusSettings {
            challenge_timeout: Duration::from_secs(60),
            response_cache_ttl: Duration::from_secs(30),
            response_cache_capacity: 250_000,
            max_in_flight: 4096,
            max_in_flight_per_client: 2048,
        }
    }
}

/// Challenges may not pile up without bound; beyond this many the oldest
/// expired ones are swept on every insert.
const CHALLENGE_SWEEP_THRESHOLD: usize = 1024;

/// A login waiting on a challenge.
#[derive(Debug)]
struct Pending {
    identity: Identity,
    owed: Owed,
    /// What the policy in force gives the login when it is accepted.
    authorization: Authorization,
}

/// What the follow-up to a challenge must bring.
#[derive(Debug)]
enum Owed {
    /// A one-time code.
    Code,
    /// Nothing (Enter) once the phone approved push `push`, or a TOTP code.
    Push { push: String },
}

#[derive(Debug)]
struct PendingChallenge {
    login: Pending,
    /// The User-Name as first sent, canonical: the follow-up must carry
    /// the same (a directory user may log in as `EXAMPLE\john` while the
    /// identity is shown as `john`).
    user_name: String,
    client: String,
    expires: Instant,
}

/// A User-Name compared without case or Unicode form differences.
fn canonical_user_name(name: &str) -> String {
    gatehouse_core::Username::parse(name)
        .map(|name| name.as_str().to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// A client as the server uses it: its definition, and its shared secret
/// prepared for HMAC.
#[derive(Debug)]
pub struct ServedClient {
    pub definition: RadiusClient,
    pub secret: SharedSecret,
    /// Its requests being worked on now.
    in_flight: AtomicUsize,
}

impl ServedClient {
    fn new(definition: RadiusClient) -> Arc<ServedClient> {
        Arc::new(ServedClient {
            secret: SharedSecret::new(&definition.secret),
            in_flight: AtomicUsize::new(0),
            definition,
        })
    }
}

impl std::ops::Deref for ServedClient {
    type Target = RadiusClient;

    fn deref(&self) -> &RadiusClient {
        &self.definition
    }
}

/// Shared state of a running server.
#[derive(Debug)]
pub struct RadiusServer {
    gatehouse: Arc<Gatehouse>,
    settings: RadiusSettings,
    clients: RwLock<Arc<Vec<Arc<ServedClient>>>>,
    challenges: Mutex<HashMap<[u8; 16], PendingChallenge>>,
    cache: Mutex<ResponseCache>,
    dropped: RateLimitedLog,
}

impl RadiusServer {
    pub fn new(
        gatehouse: Arc<Gatehouse>,
        clients: Vec<RadiusClient>,
        settings: RadiusSettings,
    ) -> Arc<RadiusServer> {
        Arc::new(RadiusServer {
            gatehouse,
            cache: Mutex::new(ResponseCache::new(
                settings.response_cache_ttl,
                settings.response_cache_capacity,
            )),
            settings,
            clients: RwLock::new(Arc::new(
                clients.into_iter().map(ServedClient::new).collect(),
            )),
            challenges: Mutex::new(HashMap::new()),
            dropped: RateLimitedLog::new(Duration::from_secs(10), 20),
        })
    }

    /// Replaces the client table (configuration plus `gatehouse client add`).
    pub fn set_clients(&self, clients: Vec<RadiusClient>) {
        *self.clients.write().unwrap_or_else(|e| e.into_inner()) =
            Arc::new(clients.into_iter().map(ServedClient::new).collect());
    }

    pub fn clients(&self) -> Arc<Vec<Arc<ServedClient>>> {
        self.clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The client with the most specific network containing `from`.
    fn client_for(&self, from: SocketAddr) -> Option<Arc<ServedClient>> {
        let clients = self.clients();
        clients
            .iter()
            .filter_map(|client| {
                client
                    .matching_prefix(from.ip())
                    .map(|prefix| (prefix, client))
            })
            .max_by_key(|(prefix, _)| *prefix)
            .map(|(_, client)| client.clone())
    }

    fn drop_packet(&self, from: SocketAddr, reason: &str) {
        if let Some(suppressed) = self.dropped.allow() {
            tracing::warn!(%from, reason, suppressed, "RADIUS packet dropped");
        }
    }

    /// Decides what to do with one datagram: `None` to drop it, or a
    /// request to answer.
    fn triage(&self, datagram: &[u8], from: SocketAddr) -> Option<Triage> {
        let Some(client) = self.client_for(from) else {
            // Unknown sources get no answer; the log is rate-limited.
            self.drop_packet(from, "unknown client address");
            return None;
        };
        let packet = match Packet::parse(datagram) {
            Ok(packet) => packet,
            Err(error) => {
                self.drop_packet(
                    from,
                    &format!("malformed packet from client {}: {error}", client.name),
                );
                return None;
            }
        };
        let authenticator = check_message_authenticator(datagram, &client.secret);
        match (packet.code, authenticator) {
            (_, MessageAuthenticator::Invalid) => {
                self.drop_packet(
                    from,
                    &format!(
                        "invalid Message-Authenticator from client {} (wrong shared secret?)",
                        client.name
                    ),
                );
                None
            }
            (Code::StatusServer, MessageAuthenticator::Valid) => {
                Some(Triage::StatusServer { client, packet })
            }
            (Code::StatusServer, MessageAuthenticator::Absent) => {
                self.drop_packet(
                    from,
                    &format!(
                        "Status-Server without Message-Authenticator from client {}",
                        client.name
                    ),
                );
                None
            }
            (Code::AccessRequest, MessageAuthenticator::Absent)
                if client.require_message_authenticator =>
            {
                self.drop_packet(from, &format!("Access-Request without Message-Authenticator from client {}, which requires it", client.name));
                None
            }
            (Code::AccessRequest, MessageAuthenticator::Absent)
                if client.limit_proxy_state && packet.attribute(PROXY_STATE).is_some() =>
            {
                self.drop_packet(
                    from,
                    &format!(
                        "Proxy-State without Message-Authenticator from client {}",
                        client.name
                    ),
                );
                None
            }
            (Code::AccessRequest, _) => Some(Triage::AccessRequest { client, packet }),
            (code, _) => {
                self.drop_packet(
                    from,
                    &format!("{code} from client {} is not served here", client.name),
                );
                None
            }
        }
    }

    /// Answers an Access-Request.
    async fn access_request(
        &self,
        packet: &Packet,
        client: &ServedClient,
        from: SocketAddr,
    ) -> Option<(Reply, ReplyContext)> {
        let nas = packet
            .attribute(NAS_IDENTIFIER)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let request = match AccessRequest::from_packet(packet, client.secret.as_bytes()) {
            Ok(request) => request,
            Err((error, context)) => {
                let message = match error {
                    crate::message::RequestError::NotPap => ONLY_PAP,
                    _ => Refusal::InvalidCredentials.message(),
                };
                let reason = error.to_string();
                let decision = Decision {
                    user: "-",
                    result: "reject",
                    reason: &reason,
                    policy: None,
                };
                decision_log(&client.name, &nas, from, &decision);
                return Some((
                    Reply::Reject {
                        message: message.to_string(),
                    },
                    context,
                ));
            }
        };
        let context = request.context();
        let (reply, policy) = match &request.state {
            Some(state) => self.answer_challenge(&request, state, client).await,
            None => {
                let source = packet.attribute(CALLING_STATION_ID).map(shown_source);
                self.start_login(&request, client, source.as_deref()).await
            }
        };
        // Dropped for overload (SPEC §12): no answer, the NAS retries; the
        // service logged it, rate-limited.
        if matches!(&reply, Reply::Reject { message } if message == Refusal::Overloaded.message()) {
            self.gatehouse.count_radius_drop();
            return None;
        }
        let (result, reason) = match &reply {
            Reply::Accept { .. } => ("accept", "all factors passed"),
            Reply::Reject { message } => ("reject", message.as_str()),
            Reply::Challenge { message, .. } if is_approve_prompt(message) => {
                ("challenge", "push sent")
            }
            Reply::Challenge { .. } => ("challenge", "one-time code required"),
        };
        let decision = Decision {
            user: &request.user_name,
            result,
            reason,
            policy: policy.as_deref(),
        };
        decision_log(&client.name, &nas, from, &decision);
        Some((reply, context))
    }

    /// The first request of a login: its reply, and the policy that
    /// decided it (when one matched).
    async fn start_login(
        &self,
        request: &AccessRequest,
        client: &ServedClient,
        source: Option<&str>,
    ) -> (Reply, Option<Arc<str>>) {
        let route = Route::new(&client.name, source);
        let Authenticated {
            step,
            authorization,
        } = match self
            .gatehouse
            .login_through(&request.user_name, &request.password, &route)
            .await
        {
            Ok(authenticated) => authenticated,
            Err(refusal) => return (reject(refusal), route.policy().map(Arc::from)),
        };
        let policy = authorization.policy.clone();
        let reply = match step {
            LoginStep::Accepted(_) => self.accept(&authorization),
            LoginStep::OtpRequired(identity) => self.challenge(
                request,
                client,
                Pending {
                    identity,
                    owed: Owed::Code,
                    authorization,
                },
                ENTER_ONE_TIME_CODE,
            ),
            LoginStep::PushSent {
                identity,
                push,
                number,
                ..
            } => self.challenge(
                request,
                client,
                Pending {
                    identity,
                    owed: Owed::Push { push },
                    authorization,
                },
                &approve_prompt(number),
            ),
        };
        (reply, policy)
    }

    /// An Access-Accept with the attributes the policy gives, encoded by
    /// the service before the user was counted.
    fn accept(&self, authorization: &Authorization) -> Reply {
        let attributes = (authorization.encoded.iter())
            .map(|(kind, value)| Attribute::new(*kind, value.clone()))
            .collect();
        Reply::Accept {
            message: None,
            attributes,
        }
    }

    /// An Access-Challenge with a fresh single-use State for what is owed.
    fn challenge(
        &self,
        request: &AccessRequest,
        client: &ServedClient,
        pending: Pending,
        message: &str,
    ) -> Reply {
        let state = random_16();
        let mut challenges = self.challenges.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if challenges.len() >= CHALLENGE_SWEEP_THRESHOLD {
            challenges.retain(|_, pending| pending.expires > now);
        }
        challenges.insert(
            state,
            PendingChallenge {
                login: pending,
                user_name: canonical_user_name(&request.user_name),
                client: client.name.clone(),
                expires: now + self.settings.challenge_timeout,
            },
        );
        Reply::Challenge {
            state: state.to_vec(),
            message: message.to_string(),
        }
    }

    /// The follow-up to a challenge: the State must be one this server
    /// issued, unexpired, unused, for the same client and user.
    async fn answer_challenge(
        &self,
        request: &AccessRequest,
        state: &[u8],
        client: &ServedClient,
    ) -> (Reply, Option<Arc<str>>) {
        let pending = <[u8; 16]>::try_from(state).ok().and_then(|key| {
            self.challenges
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key)
        });
        let expired = || {
            let reply = Reply::Reject {
                message: LOGIN_EXPIRED.to_string(),
            };
            (reply, None)
        };
        let Some(pending) = pending else {
            return expired();
        };
        let same_user = canonical_user_name(&request.user_name) == pending.user_name;
        if pending.expires <= Instant::now() || pending.client != client.name || !same_user {
            return expired();
        }
        let outcome = match &pending.login.owed {
            Owed::Code => {
                self.gatehouse
                    .complete_otp(&pending.login.identity, &request.password, &client.name)
                    .await
            }
            Owed::Push { push } => {
                self.gatehouse
                    .complete_push(
                        &pending.login.identity,
                        push,
                        &request.password,
                        &client.name,
                    )
                    .await
            }
        };
        let policy = pending.login.authorization.policy.clone();
        match outcome {
            Ok(_) => (self.accept(&pending.login.authorization), policy),
            Err(refusal) => (reject(refusal), policy),
        }
    }

    /// Challenges waiting for a code (for tests and diagnostics).
    pub fn pending_challenges(&self) -> usize {
        self.challenges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

#[derive(Debug)]
enum Triage {
    AccessRequest {
        client: Arc<ServedClient>,
        packet: Packet,
    },
    StatusServer {
        client: Arc<ServedClient>,
        packet: Packet,
    },
}

/// Calling-Station-Id as shown on the phone: printable, at most 64
/// characters.
fn shown_source(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect()
}

/// One structured line per decision.
/// `client` (a validated name), `result` and `reason` (Gatehouse's own
/// texts) are Display fields; `user` and `nas` come from the packet and are
/// text fields, which the log writer quotes and escapes, so a crafted name
/// cannot forge a log line.
/// What the decision log line says of one request.
struct Decision<'a> {
    user: &'a str,
    result: &'a str,
    reason: &'a str,
    /// The policy that decided; `-` when none matched.
    policy: Option<&'a str>,
}

fn decision_log(client: &str, nas: &str, from: SocketAddr, decision: &Decision<'_>) {
    tracing::info!(
        target: "gatehouse::radius",
        client = %client,
        nas,
        %from,
        user = decision.user,
        result = %decision.result,
        reason = %decision.reason,
        policy = decision.policy.unwrap_or("-"),
        "RADIUS decision"
    );
}

/// A refusal's Access-Reject.
fn reject(refusal: Refusal) -> Reply {
    Reply::Reject {
        message: refusal.message().to_string(),
    }
}

/// Answers one Access-Request and remembers the reply for retransmissions.
async fn answer(
    server: Arc<RadiusServer>,
    socket: Arc<std::net::UdpSocket>,
    client: Arc<ServedClient>,
    packet: Packet,
    from: SocketAddr,
) {
    let Some((reply, context)) = server.access_request(&packet, &client, from).await else {
        server
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(from, packet.identifier, packet.authenticator);
        return;
    };
    match reply.encode(&context, &client.secret) {
        Ok(bytes) => {
            // Cached before it is sent: a retransmission that follows the
            // reply at once must find it.
            server
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .answered(from, packet.identifier, packet.authenticator, bytes.clone());
            if let Err(error) = socket.send_to(&bytes, from) {
                tracing::warn!(%from, %error, "could not send RADIUS reply");
            }
        }
        Err(error) => {
            tracing::error!(%from, %error, "could not encode RADIUS reply");
            server
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(from, packet.identifier, packet.authenticator);
        }
    }
}

/// Serves RADIUS on `socket` until `shutdown` completes, then waits (up to
/// five seconds) for requests in progress to be answered.
///
/// Datagrams are received on a thread of their own with blocking calls:
/// under load that costs one system call per packet instead of a readiness
/// poll plus a read. Requests that can be answered at once (returning
/// users, and everything refused or dropped) are answered on that thread;
/// requests that must wait (a new user's durable count, argon2, the
/// database) continue as tasks on the Tokio runtime.
pub async fn run(
    socket: UdpSocket,
    server: Arc<RadiusServer>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let socket = socket.into_std()?;
    widen_receive_buffer(&socket);
    socket.set_nonblocking(false)?;
    // The receiving thread looks at the stop flag at least this often.
    socket.set_read_timeout(Some(Duration::from_millis(200)))?;
    let socket = Arc::new(socket);
    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(InFlight::default());
    let receiver = {
        let (socket, server, stop, in_flight) = (
            socket.clone(),
            server.clone(),
            stop.clone(),
            in_flight.clone(),
        );
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("gatehouse-radius".into())
            .spawn(move || receive(&socket, &server, &runtime, &stop, &in_flight))?
    };
    shutdown.await;
    stop.store(true, Ordering::Release);
    let _ = tokio::task::spawn_blocking(move || receiver.join()).await;
    let drained = tokio::time::timeout(Duration::from_secs(5), in_flight.idle()).await;
    if drained.is_err() {
        tracing::warn!(
            abandoned = in_flight.count(),
            "RADIUS requests still in progress at shutdown"
        );
    }
    Ok(())
}

/// Receive buffer asked for: a burst of requests (a thousand users logging
/// in at once after an outage, each held open for their phone) must not
/// overflow the socket while the receiving thread catches up. The kernel
/// caps it (Linux: `net.core.rmem_max`).
const RECEIVE_BUFFER: usize = 8 << 20;

fn widen_receive_buffer(socket: &std::net::UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    let before = socket.recv_buffer_size().unwrap_or(0);
    if let Err(error) = socket.set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::warn!(%error, "could not enlarge the RADIUS receive buffer");
        return;
    }
    let now = socket.recv_buffer_size().unwrap_or(0);
    if now < RECEIVE_BUFFER {
        tracing::info!(
            bytes = now,
            was = before,
            "RADIUS receive buffer (raise net.core.rmem_max for more)"
        );
    } else {
        tracing::info!(bytes = now, was = before, "RADIUS receive buffer");
    }
}

/// Requests answered by tasks, so shutdown can wait for them.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    done: tokio::sync::Notify,
}

impl InFlight {
    fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    async fn idle(&self) {
        loop {
            let notified = self.done.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

fn receive(
    socket: &Arc<std::net::UdpSocket>,
    server: &Arc<RadiusServer>,
    runtime: &tokio::runtime::Handle,
    stop: &AtomicBool,
    in_flight: &Arc<InFlight>,
) {
    // Requests finished here may still use Tokio (a channel, a timer).
    let _runtime = runtime.enter();
    let mut buffer = vec![0u8; 65_536];
    while !stop.load(Ordering::Acquire) {
        let (len, from) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(error) => {
                // ICMP errors from earlier sends surface here on some
                // systems; they concern one peer, not the server.
                tracing::debug!(%error, "RADIUS receive error");
                continue;
            }
        };
        let datagram = &buffer[..len];
        let Some(triage) = server.triage(datagram, from) else {
            continue;
        };
        match triage {
            Triage::StatusServer { client, packet } => {
                // RFC 5997: answer directly, never from the cache.
                let reply = Reply::Accept {
                    message: None,
                    attributes: Vec::new(),
                };
                if let Ok(bytes) = reply.encode(&ReplyContext::of(&packet), &client.secret) {
                    let _ = socket.send_to(&bytes, from);
                }
            }
            Triage::AccessRequest { client, packet } => {
                let seen = server
                    .cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .check(
                        from,
                        packet.identifier,
                        packet.authenticator,
                        digest(datagram),
                        Instant::now(),
                    );
                match seen {
                    Seen::InProgress => continue,
                    Seen::Conflict => {
                        server.drop_packet(
                            from,
                            "another request reuses the source, Identifier and Request Authenticator of one still remembered",
                        );
                        continue;
                    }
                    Seen::Answered(reply) => {
                        let _ = socket.send_to(&reply, from);
                        continue;
                    }
                    Seen::New => {}
                }
                // Bounded work (SPEC §12): at the caps a request is
                // dropped before any work is done for it.
                if in_flight.count() >= server.settings.max_in_flight
                    || client.in_flight.load(Ordering::Acquire)
                        >= server.settings.max_in_flight_per_client
                {
                    server
                        .cache
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .forget(from, packet.identifier, packet.authenticator);
                    server.gatehouse.count_radius_drop();
                    server.drop_packet(from, "too many requests in progress (radius.max_in_flight, radius.max_in_flight_per_client)");
                    continue;
                }
                let served = client.clone();
                let mut answer =
                    Box::pin(answer(server.clone(), socket.clone(), client, packet, from));
                // The first poll finishes everything that need not wait. A
                // request that has to wait continues as a task, polled again
                // at once with a real waker.
                if answer
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
                {
                    in_flight.count.fetch_add(1, Ordering::AcqRel);
                    served.in_flight.fetch_add(1, Ordering::AcqRel);
                    server.gatehouse.radius_work(true);
                    let (in_flight, server) = (in_flight.clone(), server.clone());
                    runtime.spawn(async move {
                        answer.await;
                        served.in_flight.fetch_sub(1, Ordering::AcqRel);
                        server.gatehouse.radius_work(false);
                        in_flight.count.fetch_sub(1, Ordering::AcqRel);
                        in_flight.done.notify_waiters();
                    });
                }
            }
        }
    }
}
