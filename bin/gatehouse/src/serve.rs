//! `gatehouse serve`: RADIUS, the panel and the API side by side, the alarm
//! sender, the periodic upkeep, and a clean stop on a signal.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use gatehouse_core::alarms::Mailer;
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::{Gatehouse, vendor_keys};
use gatehouse_mail::SmtpMailer;
use gatehouse_radius::{RadiusServer, RadiusSettings};

use crate::config::Config;
use crate::systemd::Notifier;

pub(crate) async fn serve(gatehouse: &Arc<Gatehouse>, config: &Config) -> Result<ExitCode> {
    raise_file_limit();
    let view = gatehouse.license_view().await?;
    if vendor_keys::trusts_development_key() {
        tracing::warn!(
            "{}: this build accepts license keys signed with the published development vendor key (keys/dev-vendor.pub), which anyone can issue; production builds must not",
            vendor_keys::DEVELOPMENT_KEY_TRUSTED
        );
    }
    tracing::info!(
        app_key = %view.app_key,
        vendor_keys = %vendor_keys::summary(),
        license_type = %view.license.payload.license_type,
        user_limit = %format!("{}/{}", view.active_users, view.license.payload.user_limit),
        support_end = %view.license.payload.support_end,
        status = view.status.as_str(),
        time_zone = %view.time_zone,
        "Gatehouse is running"
    );
    // Bind everything first: a port in use stops the start before anything
    // runs.
    let radius_socket = match config.radius.listen {
        Some(listen) => Some(
            tokio::net::UdpSocket::bind(listen)
                .await
                .with_context(|| format!("radius.listen: cannot listen on {listen}"))?,
        ),
        None => None,
    };
    let http_listener = match config.http.listen {
        Some(listen) => Some(
            std::net::TcpListener::bind(listen)
                .with_context(|| format!("http.listen: cannot listen on {listen}"))?,
        ),
        None => None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mailer = mailer(config)?;
    if mailer.is_none() {
        tracing::warn!(
            "email is not configured ([smtp]): license alarms are recorded but not sent"
        );
    }
    // License alarms: catch up at start (a day missed while stopped), then
    // daily and as users are counted; queued alarms go out as they come.
    match gatehouse.check_alarms().await {
        Ok(fired) => tracing::info!(fired = fired.len(), "license alarms checked at start"),
        Err(error) => {
            tracing::error!(%error, "could not check license alarms at start; will retry");
        }
    }
    let sender = mailer.clone().map(|mailer| {
        let gatehouse = gatehouse.clone();
        let stopped = until_stopped(stopped.clone());
        tokio::spawn(async move { gatehouse.run_alarm_sender(mailer.as_ref(), stopped).await })
    });
    let mut radius = None;
    if let Some(socket) = radius_socket {
        let server = RadiusServer::new(
            gatehouse.clone(),
            config.radius.clients.clone(),
            radius_settings(config),
        );
        refresh_clients(gatehouse, &server, &config.radius.clients).await;
        tracing::info!(address = %socket.local_addr()?, clients = server.clients().len(), "RADIUS listening");
        let task = tokio::spawn(gatehouse_radius::run(
            socket,
            server.clone(),
            until_stopped(stopped.clone()),
        ));
        radius = Some((server, task));
    }
    let mut http = None;
    if let Some(listener) = http_listener {
        if let Some(password) = gatehouse.create_setup_admin().await? {
            // Shown once, on the console only: never logged, never stored.
            println!(
                "\nFirst start: sign in to the panel as \"{}\" with the one-time password\n\n    {password}\n\n\
                 (add your own administrators with `gatehouse admin add`).\n",
                gatehouse_core::admin::SETUP_ADMIN
            );
        }
        let address = listener.local_addr()?;
        let panel = gatehouse_http::Panel::new(
            gatehouse.clone(),
            gatehouse_http::PanelSettings {
                support_contact: config.support_contact.clone(),
                secure_cookies: config.http.secure_cookies,
                configured_clients: config.radius.clients.clone(),
                mailer: mailer.clone(),
                push_public_url: config.push_public_url.clone(),
                trusted_proxies: config.http.trusted_proxies.clone(),
            },
        );
        let scheme = if config.http.tls.is_some() {
            "https"
        } else {
            "http"
        };
        tracing::info!(address = %address, "panel and API listening on {scheme}://{address}/");
        http = Some(tokio::spawn(gatehouse_http::serve(
            listener,
            gatehouse_http::router(panel.clone()),
            config.http.tls.clone(),
            config.http.limits,
            panel.connections.clone(),
            until_stopped(stopped.clone()),
        )));
    }
    let notifier = Notifier::from_env();
    let watchdog = {
        let (notifier, stopped) = (notifier.clone(), until_stopped(stopped.clone()));
        tokio::spawn(async move { notifier.watchdog(stopped).await })
    };
    notifier.ready(&format!(
        "Serving: {} ({}), {} of {} users this month at start",
        view.license.payload.license_type,
        view.status.as_str(),
        view.active_users,
        view.license.payload.user_limit
    ));
    let mut ticks = tokio::time::interval(Gatehouse::TICK);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut hangups = hangup_signals();
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                gatehouse.tick().await;
                if let Some((server, _)) = &radius {
                    refresh_clients(gatehouse, server, &config.radius.clients).await;
                }
            }
            Some(()) = next_hangup(&mut hangups) => {
                tracing::warn!("SIGHUP: the configuration file is read at start only; restart to apply it (clients, policies, users and alarm settings saved with the CLI, the panel or the API apply within a second without one)");
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    notifier.stopping();
    let _ = stop.send(true);
    let _ = watchdog.await;
    if let Some(task) = http {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "panel stopped with an error"),
            Err(error) => tracing::error!(%error, "panel task failed"),
        }
    }
    if let Some((_, task)) = radius {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "RADIUS server stopped with an error"),
            Err(error) => tracing::error!(%error, "RADIUS server task failed"),
        }
    }
    if let Some(task) = sender
        && let Err(error) = task.await
    {
        tracing::error!(%error, "alarm sender task failed");
    }
    Ok(ExitCode::SUCCESS)
}

/// The SMTP mailer of `[smtp]`, if configured.
pub(crate) fn mailer(config: &Config) -> Result<Option<Arc<dyn Mailer>>> {
    Ok(match &config.smtp {
        Some(settings) => Some(Arc::new(SmtpMailer::new(settings)?)),
        None => None,
    })
}

/// Clients from the configuration, then those added with `client add`
/// (a stored client named like a configured one is ignored).
pub(crate) async fn refresh_clients(
    gatehouse: &Gatehouse,
    server: &RadiusServer,
    configured: &[RadiusClient],
) {
    match gatehouse.radius_clients().await {
        Ok(stored) => {
            let mut clients = configured.to_vec();
            for client in stored {
                if clients.iter().any(|c| c.name == client.name) {
                    tracing::debug!(client = %client.name, "stored RADIUS client shadowed by the configuration");
                } else {
                    clients.push(client);
                }
            }
            if !server
                .clients()
                .iter()
                .map(|c| &c.definition)
                .eq(clients.iter())
            {
                tracing::info!(clients = clients.len(), "RADIUS clients loaded");
                server.set_clients(clients);
            }
        }
        Err(error) => {
            tracing::error!(%error, "could not load RADIUS clients; keeping the current ones")
        }
    }
}

/// SIGHUP, which would otherwise end the process (its default action):
/// `systemctl kill -s HUP` or a habit from other daemons must not stop
/// authentication.
#[cfg(unix)]
fn hangup_signals() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(hangups) => Some(hangups),
        Err(error) => {
            tracing::warn!(%error, "cannot catch SIGHUP");
            None
        }
    }
}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match hangups {
        Some(hangups) => hangups.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn hangup_signals() -> Option<()> {
    None
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Option<()>) -> Option<()> {
    std::future::pending().await
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Raises the soft limit on open files to the hard limit, so the HTTP and
/// RADIUS caps, not the usual 1,024 descriptors, bound what a flood can
/// hold; logs what is in force.
pub(crate) fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(error) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(%error, current = ?limit.current, "could not raise the open-file limit");
            return;
        }
    }
    let limit = getrlimit(Resource::Nofile);
    tracing::info!(open_files = ?limit.current, "open-file limit");
}

/// How the RADIUS server behaves. A request held open for the phone is
/// remembered as in progress for the whole wait, so the NAS's
/// retransmissions of it are dropped and it is answered once.
pub(crate) fn radius_settings(config: &Config) -> RadiusSettings {
    let defaults = RadiusSettings::default();
    RadiusSettings {
        challenge_timeout: config.radius.challenge_timeout,
        max_in_flight: config.radius.max_in_flight,
        max_in_flight_per_client: config.radius.max_in_flight_per_client,
        response_cache_ttl: defaults
            .response_cache_ttl
            .max(config.push.timeout + std::time::Duration::from_secs(10)),
        ..defaults
    }
}
