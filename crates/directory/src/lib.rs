//! LDAP and Active Directory users for Gatehouse (SPEC §3, §9): the
//! [`Directory`] that resolves a typed login name to exactly one entry and
//! checks its password by binding as it.
//!
//! Each `[[directory]]` has its servers (tried in order; one that failed is
//! passed over for a while), a service account whose connection is kept
//! and shared by concurrent searches, and where its users live. A password
//! is checked on a connection of its own, so the service connection keeps
//! its identity: bind connections are kept per server and reused for the
//! next user's bind (a bind replaces the connection's identity, and they
//! are never searched on), at most [`BIND_CONNECTIONS`] binds at once per
//! directory, so a burst of logins costs the directory one TCP and TLS
//! handshake per kept connection instead of one per login. Every
//! operation has a timeout; when no server of a directory answers,
//! [`DirectoryUnavailable`] says which failed and why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gatehouse_core::credentials::CredentialCache;
use gatehouse_core::directory::{
    Directory, DirectoryEntry, DirectoryUnavailable, PasswordChecks, Resolution,
};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchOptions};
use rustls::ClientConfig;

pub mod entry;
pub mod plan;
pub mod settings;

pub use settings::{DirectoryKind, DirectorySettings};

use entry::Entry;
use plan::{
    LoginName, in_allowed_groups, is_disabled, nested_group_filter, normalize_dn, search_values,
};

/// The most groups read to find the groups an entry is in through others.
const MAX_NESTED_GROUPS: usize = 64;

/// Password binds running at once per directory, and connections kept
/// for them per server.
pub const BIND_CONNECTIONS: usize = 16;

/// A server that failed is tried last for this long.
const PASS_OVER: Duration = Duration::from_secs(30);

/// LDAP result codes Gatehouse tells apart.
const SUCCESS: u32 = 0;
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const INVALID_CREDENTIALS: u32 = 49;

/// Why the directories could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryConfigError {
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// Every configured directory, asked in order.
#[derive(Debug)]
pub struct LdapDirectories {
    directories: Vec<LdapDirectory>,
}

/// Where an entry's email address is read from (enrollment invitations).
const MAIL_ATTRIBUTE: &str = "mail";

impl LdapDirectories {
    /// Checks each directory's settings (errors name `directory[N].key`)
    /// and prepares its TLS settings; connects lazily.
    pub fn new(all: Vec<DirectorySettings>) -> Result<LdapDirectories, DirectoryConfigError> {
        let mut directories = Vec::with_capacity(all.len());
        for (index, settings) in all.into_iter().enumerate() {
            let invalid = |message: String| {
                let (key, message) = match message.split_once(": ") {
                    Some((key, rest)) => (format!("directory[{index}].{key}"), rest.to_string()),
                    None => (format!("directory[{index}]"), message),
                };
                DirectoryConfigError::Invalid { key, message }
            };
            settings.validate().map_err(invalid)?;
            let tls = gatehouse_tls::client_config(settings.ca_pem.as_deref())
                .map_err(|e| invalid(format!("ca_file: {e}")))?;
            let url_count = settings.urls.len();
            directories.push(LdapDirectory {
                failed_at: Mutex::new(vec![None; url_count]),
                accepted: CredentialCache::new(settings.cache),
                bound: AtomicU64::new(0),
                remembered: AtomicU64::new(0),
                settings,
                tls,
                service: tokio::sync::Mutex::new(None),
                binds: (0..url_count).map(|_| Mutex::new(Vec::new())).collect(),
                bind_permits: tokio::sync::Semaphore::new(BIND_CONNECTIONS),
            });
        }
        Ok(LdapDirectories { directories })
    }

    pub fn settings(&self) -> impl Iterator<Item = &DirectorySettings> {
        self.directories.iter().map(|d| &d.settings)
    }
}

#[async_trait]
impl Directory for LdapDirectories {
    async fn resolve(&self, login: &str) -> Result<Resolution, DirectoryUnavailable> {
        let name = LoginName::parse(login);
        let mut found: Vec<DirectoryEntry> = Vec::new();
        let mut down: Vec<String> = Vec::new();
        for directory in &self.directories {
            let Some(values) = search_values(&directory.settings, &name) else {
                continue;
            };
            match directory.find(&values).await {
                Ok(entries) => found.extend(entries),
                Err(error) => down.push(error.0),
            }
        }
        // A directory that did not answer could hold a second match: never
        // guess which entry was meant.
        if !down.is_empty() {
            return Err(DirectoryUnavailable(down.join("; ")));
        }
        match found.len() {
            0 => Ok(Resolution::NotFound),
            1 => {
                let mut entry = found.remove(0);
                let directory = self
                    .directories
                    .iter()
                    .find(|d| d.settings.name == entry.directory)
                    .expect("entries come from a configured directory");
                entry.allowed = directory.allowed(&entry).await?;
                Ok(Resolution::Found(Box::new(entry)))
            }
            _ => Ok(Resolution::Ambiguous(
                found.into_iter().map(|entry| entry.dn).collect(),
            )),
        }
    }

    async fn check_password(
        &self,
        entry: &DirectoryEntry,
        password: &str,
    ) -> Result<bool, DirectoryUnavailable> {
        let Some(directory) = self
            .directories
            .iter()
            .find(|d| d.settings.name == entry.directory)
        else {
            return Err(DirectoryUnavailable(format!(
                "no directory named {:?}",
                entry.directory
            )));
        };
        directory.check_password(entry, password).await
    }

    async fn nested_groups(
        &self,
        entry: &DirectoryEntry,
    ) -> Result<Vec<String>, DirectoryUnavailable> {
        match self
            .directories
            .iter()
            .find(|d| d.settings.name == entry.directory)
        {
            Some(directory) if directory.settings.nested_groups => {
                directory.nested_groups(entry).await
            }
            _ => Ok(Vec::new()),
        }
    }

    fn password_checks(&self) -> PasswordChecks {
        let mut checks = PasswordChecks::default();
        for directory in &self.directories {
            checks.binds += directory.bound.load(Ordering::Relaxed);
            checks.remembered += directory.remembered.load(Ordering::Relaxed);
        }
        checks
    }
}

/// One `[[directory]]`.
struct LdapDirectory {
    settings: DirectorySettings,
    tls: Arc<ClientConfig>,
    /// The service account's connection: which URL, and the handle (shared
    /// by concurrent operations).
    service: tokio::sync::Mutex<Option<(usize, Ldap)>>,
    /// When each URL last failed.
    failed_at: Mutex<Vec<Option<Instant>>>,
    /// Connections kept for password binds, per URL.
    binds: Vec<Mutex<Vec<Ldap>>>,
    /// Password binds running at once.
    bind_permits: tokio::sync::Semaphore,
    /// Passwords the directory accepted, by stable identity, bound to the
    /// server, DN and revision of the entry (`cache_seconds`; off: empty).
    accepted: CredentialCache<String>,
    /// Password checks answered by a bind, and from `accepted`.
    bound: AtomicU64,
    remembered: AtomicU64,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    fn name(&self) -> &str {
        &self.settings.name
    }

    /// URL indexes to try: in configured order, those that failed in the
    /// last [`PASS_OVER`] at the end (still tried when all have failed).
    fn url_order(&self, first: Option<usize>) -> Vec<usize> {
        let failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        let recent = |i: usize| failed_at[i].is_some_and(|at| at.elapsed() < PASS_OVER);
        let mut order: Vec<usize> = (0..self.settings.urls.len()).collect();
        order.sort_by_key(|&i| (recent(i), Some(i) != first, i));
        order
    }

    fn mark(&self, url: usize, failed: bool) {
        let mut failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        failed_at[url] = failed.then(Instant::now);
    }

    /// A new connection to URL `url`, TLS set up (ldaps:// or StartTLS).
    async fn connect(&self, url: usize) -> Result<Ldap, String> {
        let address = &self.settings.urls[url];
        let timeout = self.settings.timeout;
        let starttls = address.starts_with("ldap://") && self.settings.starttls;
        let settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(starttls)
            .set_config(self.tls.clone());
        match tokio::time::timeout(timeout, LdapConnAsync::with_settings(settings, address)).await {
            Ok(Ok((connection, ldap))) => {
                ldap3::drive!(connection);
                Ok(ldap)
            }
            Ok(Err(error)) => Err(describe(&error)),
            Err(_) => Err(format!("no connection within {} ms", timeout.as_millis())),
        }
    }

    /// The service account's connection, made (with failover) if there is
    /// none or it closed.
    async fn service(&self) -> Result<(usize, Ldap), DirectoryUnavailable> {
        let mut service = self.service.lock().await;
        if let Some((url, ldap)) = service.as_mut()
            && !ldap.is_closed()
        {
            return Ok((*url, ldap.clone()));
        }
        *service = None;
        let mut errors = Vec::new();
        for url in self.url_order(None) {
            match self.connect_service(url).await {
                Ok(ldap) => {
                    self.mark(url, false);
                    *service = Some((url, ldap.clone()));
                    return Ok((url, ldap));
                }
                Err(error) => {
                    self.mark(url, true);
                    tracing::warn!(directory = self.name(), url = %self.settings.urls[url], %error, "directory server failed; trying the next");
                    errors.push(format!("{}: {error}", self.settings.urls[url]));
                }
            }
        }
        Err(DirectoryUnavailable(format!(
            "{}: {}",
            self.name(),
            errors.join("; ")
        )))
    }

    async fn connect_service(&self, url: usize) -> Result<Ldap, String> {
        let mut ldap = self.connect(url).await?;
        let bound = ldap
            .with_timeout(self.settings.timeout)
            .simple_bind(&self.settings.bind_dn, &self.settings.bind_password)
            .await
            .map_err(|e| describe(&e))?;
        if bound.rc != SUCCESS {
            let _ = ldap.unbind().await;
            return Err(format!(
                "the service account {} was refused (result {}{})",
                self.settings.bind_dn,
                bound.rc,
                if bound.text.is_empty() {
                    String::new()
                } else {
                    format!(": {}", bound.text)
                }
            ));
        }
        Ok(ldap)
    }

    /// Forgets the service connection after it failed.
    async fn drop_service(&self, url: usize) {
        let mut service = self.service.lock().await;
        if service.as_ref().is_some_and(|(u, _)| *u == url) {
            *service = None;
        }
        self.mark(url, true);
    }

    /// Runs a search as the service account (on a fresh connection once
    /// more if the kept one fails). At most two entries are asked for:
    /// two already means ambiguous.
    async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
    ) -> Result<(usize, Vec<Entry>), DirectoryUnavailable> {
        let mut last_error = String::new();
        for _ in 0..2 {
            let (url, mut ldap) = self.service().await?;
            let result = ldap
                .with_timeout(self.settings.timeout)
                .with_search_options(SearchOptions::new().sizelimit(2))
                .search(base, scope, filter, attributes.to_vec())
                .await;
            match result {
                Ok(result) if matches!(result.1.rc, SUCCESS | SIZE_LIMIT_EXCEEDED) => {
                    return entry::entries(result.0)
                        .map(|entries| (url, entries))
                        .map_err(|error| {
                            DirectoryUnavailable(format!(
                                "{}: {} sent {error}",
                                self.name(),
                                self.settings.urls[url]
                            ))
                        });
                }
                Ok(result) => {
                    // The server answered but refused the search: a setting
                    // (base DN, filter, rights) is wrong. Another server of
                    // the same directory would say the same.
                    return Err(DirectoryUnavailable(format!(
                        "{}: search under {base:?} failed at {} (result {}: {})",
                        self.name(),
                        self.settings.urls[url],
                        result.1.rc,
                        result.1.text
                    )));
                }
                Err(error) => {
                    last_error = format!("{}: {}", self.settings.urls[url], describe(&error));
                    tracing::warn!(directory = self.name(), error = %last_error, "directory search failed; reconnecting");
                    self.drop_service(url).await;
                }
            }
        }
        Err(DirectoryUnavailable(format!(
            "{}: {last_error}",
            self.name()
        )))
    }

    /// The entries whose login attributes hold one of `values`.
    async fn find(&self, values: &[String]) -> Result<Vec<DirectoryEntry>, DirectoryUnavailable> {
        let settings = &self.settings;
        let filter = plan::user_search_filter(settings, values);
        let mut attributes: Vec<&str> = settings
            .login_attributes
            .iter()
            .map(String::as_str)
            .collect();
        attributes.extend([
            settings.identity_attribute.as_str(),
            settings.display_name_attribute.as_str(),
            MAIL_ATTRIBUTE,
            "memberOf",
            "userAccountControl",
        ]);
        if self.accepted.enabled() {
            attributes.extend(settings.revision_attributes());
        }
        let (url, entries) = self
            .search(&settings.base_dn, Scope::Subtree, &filter, &attributes)
            .await?;
        entries
            .into_iter()
            .map(|entry| self.entry(url, entry))
            .collect()
    }

    fn entry(&self, url: usize, entry: Entry) -> Result<DirectoryEntry, DirectoryUnavailable> {
        let settings = &self.settings;
        let Some(identity) = entry.values(&settings.identity_attribute).next() else {
            return Err(DirectoryUnavailable(format!(
                "{}: entry {} has no {} (identity_attribute)",
                self.name(),
                entry.dn,
                settings.identity_attribute
            )));
        };
        let text = |name: &str| -> Option<String> {
            entry
                .values(name)
                .find_map(|v| std::str::from_utf8(v).ok())
                .map(str::to_string)
                .filter(|v| !v.trim().is_empty())
        };
        let login_name = settings
            .login_attributes
            .iter()
            .find_map(|attribute| text(attribute))
            .unwrap_or_else(|| entry.dn.clone());
        let display_name =
            text(&settings.display_name_attribute).unwrap_or_else(|| login_name.clone());
        let mail = text(MAIL_ATTRIBUTE).map(|mail| mail.trim().to_string());
        let groups: Vec<String> = entry
            .values("memberOf")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(str::to_string)
            .collect();
        let disabled = text("userAccountControl").is_some_and(|uac| is_disabled(&uac));
        let revision =
            (settings.revision_attributes().iter()).find_map(|attribute| text(attribute));
        let aliases = (settings.group_aliases.iter())
            .filter(|(_, dn)| in_allowed_groups(&groups, std::slice::from_ref(dn)))
            .map(|(alias, _)| alias.clone())
            .collect();
        Ok(DirectoryEntry {
            aliases,
            directory: self.name().to_string(),
            server: settings.urls[url].clone(),
            stable_id: plan::stable_id(&settings.identity_attribute, identity),
            dn: entry.dn,
            login_name,
            display_name,
            mail,
            groups,
            disabled,
            allowed: false,
            revision,
        })
    }

    /// The groups `entry` is in through its groups, read group by group
    /// (each group's `memberOf`), breadth first, at most
    /// [`MAX_NESTED_GROUPS`] reads; then the aliases of the groups found.
    async fn nested_groups(
        &self,
        entry: &DirectoryEntry,
    ) -> Result<Vec<String>, DirectoryUnavailable> {
        let mut seen: std::collections::HashSet<String> =
            entry.groups.iter().map(|dn| normalize_dn(dn)).collect();
        let mut queue: std::collections::VecDeque<String> = entry.groups.iter().cloned().collect();
        let mut found = Vec::new();
        let mut reads = 0;
        while let Some(group) = queue.pop_front() {
            if reads == MAX_NESTED_GROUPS {
                tracing::warn!(directory = %self.name(), dn = %entry.dn, "nested groups: stopped after {MAX_NESTED_GROUPS} groups");
                break;
            }
            reads += 1;
            let (_, entries) = self
                .search(&group, Scope::Base, "(objectClass=*)", &["memberOf"])
                .await?;
            for parent in entries.iter().flat_map(|e| e.values("memberOf")) {
                let Ok(parent) = std::str::from_utf8(parent) else {
                    continue;
                };
                if seen.insert(normalize_dn(parent)) {
                    found.push(parent.to_string());
                    queue.push_back(parent.to_string());
                }
            }
        }
        let aliases: Vec<String> = (self.settings.group_aliases.iter())
            .filter(|(_, dn)| in_allowed_groups(&found, std::slice::from_ref(dn)))
            .map(|(alias, _)| alias.clone())
            .collect();
        found.extend(aliases);
        Ok(found)
    }

    /// Whether the entry is in an allowed group: its `memberOf`, and with
    /// nested groups the directory's in-chain rule.
    async fn allowed(&self, entry: &DirectoryEntry) -> Result<bool, DirectoryUnavailable> {
        let allowed = &self.settings.allowed_groups;
        if allowed.is_empty() || in_allowed_groups(&entry.groups, allowed) {
            return Ok(true);
        }
        if !self.settings.nested_groups {
            return Ok(false);
        }
        let (_, entries) = self
            .search(
                &entry.dn,
                Scope::Base,
                &nested_group_filter(allowed),
                &["1.1"],
            )
            .await?;
        Ok(!entries.is_empty())
    }

    /// Whether `password` is the entry's: remembered from an earlier bind
    /// of the same entry at the same revision (`cache_seconds`), or else a
    /// bind as the entry on a bind connection (kept from an earlier bind, or
    /// new), trying the server that found it first. A kept connection that
    /// fails is dropped and the bind tried once more, on a new connection,
    /// before the server counts as failed. A refused password forgets what
    /// was remembered.
    async fn check_password(
        &self,
        entry: &DirectoryEntry,
        password: &str,
    ) -> Result<bool, DirectoryUnavailable> {
        let bound_to = entry
            .revision
            .as_ref()
            .filter(|_| self.accepted.enabled())
            .map(|revision| format!("{}\n{}\n{revision}", entry.server, entry.dn));
        if let Some(bound_to) = &bound_to
            && self.accepted.matches(&entry.stable_id, bound_to, password)
        {
            self.remembered.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        self.bound.fetch_add(1, Ordering::Relaxed);
        let accepted = self.bind(entry, password).await?;
        if let Some(bound_to) = &bound_to {
            if accepted {
                self.accepted.remember(&entry.stable_id, bound_to, password);
            } else {
                self.accepted.forget(&entry.stable_id);
            }
        }
        Ok(accepted)
    }

    /// Binds as the entry with `password` (see [`Self::check_password`]).
    async fn bind(
        &self,
        entry: &DirectoryEntry,
        password: &str,
    ) -> Result<bool, DirectoryUnavailable> {
        let unavailable = |errors: Vec<String>| {
            DirectoryUnavailable(format!("{}: {}", self.name(), errors.join("; ")))
        };
        let timeout = self.settings.timeout;
        let Ok(Ok(_permit)) = tokio::time::timeout(timeout, self.bind_permits.acquire()).await
        else {
            return Err(unavailable(vec![format!(
                "all {BIND_CONNECTIONS} password binds stayed busy for {} ms",
                timeout.as_millis()
            )]));
        };
        let first = self.settings.urls.iter().position(|u| *u == entry.server);
        let mut errors = Vec::new();
        for url in self.url_order(first) {
            let mut may_reuse = true;
            loop {
                let kept = if may_reuse { self.kept_bind(url) } else { None };
                let (mut ldap, kept) = match kept {
                    Some(ldap) => (ldap, true),
                    None => match self.connect(url).await {
                        Ok(ldap) => (ldap, false),
                        Err(error) => {
                            self.mark(url, true);
                            errors.push(format!("{}: {error}", self.settings.urls[url]));
                            break;
                        }
                    },
                };
                let bound = ldap
                    .with_timeout(timeout)
                    .simple_bind(&entry.dn, password)
                    .await;
                let result = match bound {
                    Ok(result) => result,
                    Err(_) if kept => {
                        may_reuse = false;
                        continue;
                    }
                    Err(error) => {
                        self.mark(url, true);
                        errors.push(format!("{}: {}", self.settings.urls[url], describe(&error)));
                        break;
                    }
                };
                self.keep_bind(url, ldap);
                return Ok(match result.rc {
                    SUCCESS => true,
                    INVALID_CREDENTIALS => false,
                    _ => {
                        // Locked, expired, must change… the directory
                        // refuses the login; say why in the log.
                        tracing::info!(directory = self.name(), dn = %entry.dn, rc = result.rc, text = %result.text, "the directory refused the bind");
                        false
                    }
                });
            }
        }
        Err(unavailable(errors))
    }

    /// A kept bind connection to `url` that is still open.
    fn kept_bind(&self, url: usize) -> Option<Ldap> {
        let mut kept = self.binds[url].lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut ldap) = kept.pop() {
            if !ldap.is_closed() {
                return Some(ldap);
            }
        }
        None
    }

    /// Keeps a bind connection for the next bind (at most
    /// [`BIND_CONNECTIONS`] per server; beyond that it is closed).
    fn keep_bind(&self, url: usize, ldap: Ldap) {
        let mut kept = self.binds[url].lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < BIND_CONNECTIONS {
            kept.push(ldap);
        }
    }
}

/// An LDAP error and its causes on one line.
fn describe(error: &ldap3::LdapError) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory(urls: &[&str]) -> LdapDirectories {
        LdapDirectories::new(vec![DirectorySettings {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            bind_dn: "cn=gatehouse,dc=example,dc=com".into(),
            bind_password: "secret".into(),
            base_dn: "dc=example,dc=com".into(),
            ..DirectorySettings::defaults(DirectoryKind::ActiveDirectory)
        }])
        .unwrap()
    }

    #[test]
    fn servers_are_tried_in_order_and_a_failed_one_last() {
        let all = directory(&["ldaps://dc1", "ldaps://dc2", "ldaps://dc3"]);
        let d = &all.directories[0];
        assert_eq!(d.url_order(None), [0, 1, 2]);
        d.mark(0, true);
        assert_eq!(d.url_order(None), [1, 2, 0], "passed over after a failure");
        d.mark(1, true);
        assert_eq!(d.url_order(None), [2, 0, 1]);
        // The server that found an entry is asked first for its password.
        assert_eq!(d.url_order(Some(2)), [2, 0, 1]);
        assert_eq!(d.url_order(Some(1)), [2, 1, 0]);
        d.mark(0, false);
        assert_eq!(
            d.url_order(None),
            [0, 2, 1],
            "back in order once it answered"
        );
    }

    /// A directory that accepts connections and never answers: counts
    /// the connections made to it.
    fn silent_directory() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::Read as _;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ldap://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 1024];
                    while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
                });
            }
        });
        (url, seen)
    }

    /// A flood of password checks against a directory that hangs opens
    /// [`BIND_CONNECTIONS`] binds and no more while they wait (no bind has
    /// timed out yet); the checks beyond them wait their timeout and are
    /// refused as an outage.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn binds_at_once_are_bounded_when_the_directory_hangs() {
        let (url, accepted) = silent_directory();
        let timeout = Duration::from_secs(2);
        let all = LdapDirectories::new(vec![DirectorySettings {
            urls: vec![url.clone()],
            starttls: false,
            bind_dn: "cn=gatehouse,dc=example,dc=com".into(),
            bind_password: "secret".into(),
            base_dn: "dc=example,dc=com".into(),
            timeout,
            ..DirectorySettings::defaults(DirectoryKind::OpenLdap)
        }])
        .unwrap();
        let all = Arc::new(all);
        let entry = DirectoryEntry {
            directory: "directory".into(),
            server: url,
            dn: "uid=someone,dc=example,dc=com".into(),
            stable_id: "1".into(),
            login_name: "someone".into(),
            display_name: "Someone".into(),
            mail: None,
            groups: Vec::new(),
            aliases: Vec::new(),
            disabled: false,
            allowed: true,
            revision: None,
        };
        let checks: Vec<_> = (0..3 * BIND_CONNECTIONS)
            .map(|_| {
                let (all, entry) = (all.clone(), entry.clone());
                tokio::spawn(async move { all.check_password(&entry, "password").await })
            })
            .collect();
        tokio::time::sleep(timeout / 2).await;
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            BIND_CONNECTIONS,
            "connections while every bind waits"
        );
        let mut busy = 0;
        for check in checks {
            let error = check
                .await
                .unwrap()
                .expect_err("the directory never answers");
            busy += usize::from(error.0.contains("password binds stayed busy"));
        }
        assert!(busy > 0, "checks beyond the bound were refused as busy");
    }

    #[test]
    fn a_bad_directory_is_refused_with_its_key() {
        let error = LdapDirectories::new(vec![DirectorySettings {
            urls: vec!["ldaps://dc1".into()],
            ..DirectorySettings::defaults(DirectoryKind::OpenLdap)
        }])
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("directory[0].base_dn: "), "{error}");
        let error = LdapDirectories::new(vec![DirectorySettings {
            ca_pem: Some(b"not a certificate".to_vec()),
            ..directory(&["ldaps://dc1"]).directories[0].settings.clone()
        }])
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("directory[0].ca_file: "), "{error}");
    }
}
