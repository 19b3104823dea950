//! The state every handler shares: the service, the panel's settings and
//! the listener's connection counts.

use std::sync::Arc;

use gatehouse_core::Gatehouse;
use gatehouse_core::alarms::Mailer;
use gatehouse_core::clients::RadiusClient;

use crate::ConnectionStats;

/// How the panel behaves.
#[derive(Clone, Default)]
pub struct PanelSettings {
    /// Shown with the license request text (`support.contact`).
    pub support_contact: Option<String>,
    /// Mark cookies `Secure` (served over TLS, directly or by a proxy).
    pub secure_cookies: bool,
    /// RADIUS clients from the configuration file (shown, not editable).
    pub configured_clients: Vec<RadiusClient>,
    /// Sends the test email (`[smtp]`); `None` when mail is not configured.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// `push.public_url`: base of enrollment links; `None`: the address
    /// the panel was reached at.
    pub push_public_url: Option<String>,
    /// `http.trusted_proxies`: peers whose `X-Forwarded-For` names the
    /// client (sign-in limits count that address).
    pub trusted_proxies: Vec<gatehouse_core::clients::Network>,
}

impl std::fmt::Debug for PanelSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PanelSettings")
            .field("support_contact", &self.support_contact)
            .field("secure_cookies", &self.secure_cookies)
            .field("configured_clients", &self.configured_clients.len())
            .field("mailer", &self.mailer.is_some())
            .finish()
    }
}

/// Shared state of the panel and API.
#[derive(Debug)]
pub struct Panel {
    pub gatehouse: Arc<Gatehouse>,
    pub settings: PanelSettings,
    /// The listener's connection counts (`/metrics`).
    pub connections: Arc<ConnectionStats>,
}

impl Panel {
    pub fn new(gatehouse: Arc<Gatehouse>, settings: PanelSettings) -> Arc<Panel> {
        Arc::new(Panel {
            gatehouse,
            settings,
            connections: Arc::default(),
        })
    }
}
