//! The audit trail: who changed what, when, and from where.
//!
//! Every administrative change the service makes is appended as one entry
//! ([`Gatehouse::audit`](crate::Gatehouse)) naming the actor the surface
//! that asked declared: the panel or API sets it for each request (an
//! administrator's session, or an API token by its id, and the client's
//! address), the command line for each run (`cli`, and the local user).
//! The actor travels with the request as a task-local value, so no
//! service method can forget it and none has to pass it along.
//!
//! The application only ever appends. Each entry's tag covers its fields
//! and the previous entry's tag, so an entry edited, inserted or removed
//! in the database by hand breaks the chain where it happened
//! ([`crate::store::AuditStore::verify_audit_chain`]).

use std::cell::RefCell;

use gatehouse_license::jiff::Timestamp;

/// Who asked for a change, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `admin:NAME` (a panel session), `token:NAME/ID` (an API token),
    /// `cli`, or `system` (Gatehouse itself, or a caller that declared
    /// nobody).
    pub who: String,
    /// The client's address for the panel and API; `local user NAME` for
    /// the command line.
    pub from: String,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            who: "system".into(),
            from: "-".into(),
        }
    }
}

tokio::task_local! {
    static ACTOR: RefCell<Actor>;
}

/// Runs `work` with `actor` as the one every change it makes is recorded
/// under (until [`set_who`] names someone else).
pub async fn acting<F: Future>(actor: Actor, work: F) -> F::Output {
    ACTOR.scope(RefCell::new(actor), work).await
}

/// Names who is acting, once a request has authenticated (inside
/// [`acting`]; elsewhere it does nothing).
pub fn set_who(who: String) {
    let _ = ACTOR.try_with(|actor| actor.borrow_mut().who = who);
}

/// The actor changes are recorded under now.
pub fn current() -> Actor {
    ACTOR
        .try_with(|actor| actor.borrow().clone())
        .unwrap_or_else(|_| Actor::system())
}

/// The most entries one listing returns.
pub const MAX_LISTED: u32 = 1000;

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub source: String,
    /// `area.verb`: `local_user.add`, `license.install`, …
    pub action: String,
    /// What was changed: a user, a client, a group, … (may be empty).
    pub subject: String,
    /// Before and after where they are small, as JSON text.
    pub detail: String,
}

/// An entry as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: u64,
    pub entry: NewAuditEntry,
    /// The entry's own tag verifies: nobody edited it by hand.
    pub authentic: bool,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At or after.
    pub since: Option<Timestamp>,
    /// Exactly this actor (`admin:root`, `cli`, …).
    pub actor: Option<String>,
    /// Actions starting with this (`local_user`, `license.install`).
    pub action: Option<String>,
    /// Entries older than this id (the next page).
    pub before: Option<u64>,
    /// At most this many (capped at [`MAX_LISTED`]).
    pub limit: u32,
}

/// What a walk along the whole chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: u64,
    /// The first entry whose tag, or link to the one before, does not
    /// verify; `None`: the chain is whole.
    pub first_break: Option<u64>,
    /// The newest entry the chain ends in differs from the one recorded
    /// with the last append (entries removed from the end).
    pub head_mismatch: bool,
}

impl ChainReport {
    pub fn intact(&self) -> bool {
        self.first_break.is_none() && !self.head_mismatch
    }
}
