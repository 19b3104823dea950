//! `gatehouse`: the server and its administration command line.
//!
//! This binary is wiring only: it reads the configuration, opens the store,
//! builds the [`Gatehouse`] service and runs one command against it. Every
//! error becomes one line on stderr and a non-zero exit.

mod config;
mod logging;
mod output;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use gatehouse_core::alarms::Mailer;
use gatehouse_core::clients::{Network, RadiusClient};
use gatehouse_core::export::{self, HistoryRow};
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{SeatOrder, SeatQuery, Store};
use gatehouse_core::{
    Gatehouse, LicenseView, LoginStep, Settings, SystemClock, TotpEnrollment, TotpMode, vendor_keys,
};
use gatehouse_license::{Month, UsagePercent, words};
use gatehouse_radius::{RadiusServer, RadiusSettings};
use gatehouse_store::{PgStore, SqliteStore};
use serde::Serialize;

use crate::config::{Config, Storage};
use crate::output::table;
use gatehouse_directory::LdapDirectories;
use gatehouse_http::forms::request_text;
use gatehouse_http::wire::{
    AlarmJson, ClientJson, DeviceJson, EnrollmentJson, LicenseJson, LocalUserJson, LockoutJson,
    PushJson, RefusedJson, USER_COLUMNS, UserJson, alarm_state, csv, enrollment_link, local_time,
};
use gatehouse_mail::SmtpMailer;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version = version_text(),
    about = "Gatehouse multi-factor authentication server"
)]
struct Cli {
    /// Where Gatehouse keeps its database and installation key.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "GATEHOUSE_DATA_DIR",
        default_value = "./gatehouse-data"
    )]
    data_dir: PathBuf,
    /// Configuration file (default: <data-dir>/gatehouse.toml when present).
    #[arg(long, global = true, value_name = "FILE", env = "GATEHOUSE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service until Ctrl-C or SIGTERM.
    Serve,
    /// License details, installation, request and audit export.
    #[command(subcommand)]
    License(LicenseCommand),
    /// The month's Users table: everyone counted against the license.
    Users(UsersArgs),
    /// Users turned away this month because the user limit was full.
    Refused(MonthFormatArgs),
    /// Unique users per month against the limit.
    Usage(FormatArgs),
    /// Local user accounts.
    #[command(subcommand)]
    LocalUser(LocalUserCommand),
    /// RADIUS clients (NAS devices allowed to ask).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Administrators of the panel and API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// License alarms: a test email, and the alarms that fired.
    #[command(subcommand)]
    Alarm(AlarmCommand),
    /// LDAP / Active Directory users: how a login resolves, TOTP enrollment.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Push approval: enrollment links, phones, per-user mode, history.
    #[command(subcommand)]
    Push(PushCommand),
    /// Users locked out after failed attempts in a row.
    #[command(subcommand)]
    Lockout(LockoutCommand),
    /// Copy an embedded installation (SQLite) into an empty PostgreSQL
    /// database, then check every table and every month's count.
    Migrate {
        /// `sqlite://PATH` of the database to copy.
        #[arg(long)]
        from: String,
        /// `postgres://USER@HOST/DATABASE` to copy into (empty; the schema
        /// is created).
        #[arg(long)]
        to: String,
    },
    /// Authenticate a user exactly as a login would (and count them).
    Auth {
        user: String,
        /// Read the password from the first line of standard input (and a
        /// one-time code from the second, when the user is challenged).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Name recorded as the user's last client.
        #[arg(long, value_name = "NAME", default_value = "cli")]
        client: String,
    },
}

#[derive(Debug, Subcommand)]
enum LicenseCommand {
    /// Show the license in force.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Install a license key (`-` reads it from standard input).
    Install { key: String },
    /// Print the App Key, Dossier and a license request to send to support.
    Request,
    /// Write the signed application key file (license, users, history).
    Export {
        /// Output file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check an application key file: prints `valid` or `tampered`.
    VerifyExport { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum LocalUserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// A service account: logs in with the password alone while a
        /// second factor is required (`mfa.required`).
        #[arg(long)]
        no_second_factor: bool,
    },
    /// Whether a user must present a second factor (`--required`, the
    /// default) or logs in with the password alone (`--exempt`).
    SecondFactor {
        name: String,
        #[arg(
            long,
            conflicts_with = "required",
            required_unless_present = "required"
        )]
        exempt: bool,
        #[arg(long)]
        required: bool,
    },
    /// Create many users from a file (`-`: standard input), one per line:
    /// `username<TAB>password`. Blank lines and lines starting with `#` are
    /// skipped. Every line is checked first: one bad line, or a user that
    /// already exists, and nobody is added.
    Import {
        file: PathBuf,
        /// Service accounts: they log in with the password alone while a
        /// second factor is required.
        #[arg(long)]
        no_second_factor: bool,
    },
    /// Set a new password, read from standard input.
    Password {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Stop a user from logging in (their seat this month stays counted).
    Disable { name: String },
    /// Let a disabled user log in again.
    Enable { name: String },
    /// Delete a user (their seat this month stays counted).
    Delete { name: String },
    /// List local users.
    List(FormatArgs),
    /// Enroll a TOTP authenticator app (prints a QR code, shown once).
    Totp {
        name: String,
        /// How this user presents codes (default: the configured totp.mode).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Remove the user's TOTP enrollment instead.
        #[arg(long, conflicts_with = "mode")]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LockoutCommand {
    /// Users locked out now, and users with failures in a row.
    List(FormatArgs),
    /// End a user's lock (and forget their failures).
    Unlock {
        /// A username, or the seat key `lockout list` shows.
        user: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    /// The code is asked for after the password (Access-Challenge).
    Challenge,
    /// The code is typed right after the password.
    Append,
}

impl ModeArg {
    fn mode(self) -> TotpMode {
        match self {
            ModeArg::Challenge => TotpMode::Challenge,
            ModeArg::Append => TotpMode::Append,
        }
    }
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an administrator; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Print a new API token for an administrator (shown once).
    Token { name: String },
}

#[derive(Debug, Subcommand)]
enum DirectoryCommand {
    /// Show how a login name resolves (directory, server, entry, groups,
    /// seat key) without counting anything; with --password-stdin, also
    /// check the password (first line of standard input).
    Test {
        user: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Enroll TOTP for a directory user (keyed on the entry's stable
    /// identity, whatever spelling of the name is given).
    Totp {
        user: String,
        /// How this user presents codes (default: the configured totp.mode).
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Remove the user's TOTP enrollment instead.
        #[arg(long, conflicts_with = "mode")]
        remove: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AlarmCommand {
    /// Send a test email to the alarm recipients now (through [smtp]).
    Test,
    /// Alarms that fired, newest first, with their delivery state.
    History {
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        format: FormatArgs,
    },
}

#[derive(Debug, Subcommand)]
enum PushCommand {
    /// A one-time link (15 minutes) that enrolls one phone for USER (a
    /// local user, or a directory login).
    Enroll {
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Enrolled phones.
    Devices(FormatArgs),
    /// Revoke a phone (its id from `push devices`).
    Revoke { device: String },
    /// How USER's push logins wait: hold, challenge, or default (push.mode).
    Mode { user: String, mode: String },
    /// Pushes sent, newest first, and their outcome.
    History {
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        format: FormatArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Allow a NAS to ask; the shared secret is read from standard input.
    Add {
        name: String,
        /// Source network (CIDR or address); repeat for several.
        #[arg(long = "network", value_name = "CIDR", required = true)]
        networks: Vec<Network>,
        #[arg(long, required = true)]
        secret_stdin: bool,
        /// Accept Access-Requests without a Message-Authenticator (old NAS).
        #[arg(long)]
        no_require_message_authenticator: bool,
        /// Accept Proxy-State without a Message-Authenticator.
        #[arg(long)]
        no_limit_proxy_state: bool,
    },
    /// List clients from the configuration and from `client add`.
    List(FormatArgs),
    /// Remove a client added with `client add`.
    Delete { name: String },
}

#[derive(Debug, Args)]
struct FormatArgs {
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV.
    #[arg(long)]
    csv: bool,
}

#[derive(Debug, Args)]
struct MonthFormatArgs {
    /// Month to show, YYYY-MM (default: the current month).
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<Month>,
    #[command(flatten)]
    format: FormatArgs,
}

#[derive(Debug, Args)]
struct UsersArgs {
    #[command(flatten)]
    month: MonthFormatArgs,
    /// Only users whose username starts with TEXT (any case).
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Order of the rows.
    #[arg(long, value_enum, default_value = "username")]
    sort: SortArg,
    /// Reverse the order.
    #[arg(long)]
    desc: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SortArg {
    Username,
    FirstSeen,
    LastLogin,
}

/// Exit code of a refused authentication or a tampered file.
const EXIT_NO: u8 = 1;
/// Exit code of an error (bad input, unreadable file, database down).
const EXIT_ERROR: u8 = 2;

/// `gatehouse --version`: the version, then which vendor keys this build
/// accepts license keys from (fingerprints), and `development key trusted`
/// when the published development key is one of them.
fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| format!("{}\n{}", env!("CARGO_PKG_VERSION"), vendor_keys::summary()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            let message = format!("{error:#}").replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "gatehouse: error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = config::load(&cli.data_dir, cli.config.as_deref())?;
    let serving = matches!(cli.command, Command::Serve);
    let _flush_logs_at_exit = init_logging(&config, serving);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

/// Logs go to stderr in batches (see [`logging::BatchedStderr`]); the
/// returned guard writes what is pending when it is dropped, at exit.
fn init_logging(config: &Config, serving: bool) -> logging::FlushOnDrop {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| {
            config
                .log_level
                .as_deref()
                .and_then(|level| EnvFilter::try_new(level).ok())
        })
        .unwrap_or_else(|| EnvFilter::new(default));
    let (writer, guard) = logging::BatchedStderr::start();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .event_format(logging::LineFormat::default())
        .init();
    guard
}

async fn dispatch(command: Command, config: Config) -> Result<ExitCode> {
    // Verifying a file needs no installation: an auditor runs it anywhere.
    if let Command::License(LicenseCommand::VerifyExport { file }) = &command {
        return verify_export(file);
    }
    // Migrating works on two databases, not on the configured one.
    if let Command::Migrate { from, to } = &command {
        return migrate(from, to, &config.key_file).await;
    }
    let gatehouse = Arc::new(open(&config).await?);
    let result = match command {
        Command::Serve => serve(&gatehouse, &config).await,
        Command::License(command) => license(&gatehouse, &config, command).await,
        Command::Users(args) => users(&gatehouse, args).await,
        Command::Refused(args) => refused(&gatehouse, args).await,
        Command::Usage(args) => usage(&gatehouse, args).await,
        Command::LocalUser(command) => local_user(&gatehouse, command).await,
        Command::Client(command) => client(&gatehouse, &config, command).await,
        Command::Admin(command) => admin(&gatehouse, command).await,
        Command::Alarm(command) => alarm(&gatehouse, &config, command).await,
        Command::Directory(command) => directory(&gatehouse, command).await,
        Command::Push(command) => push(&gatehouse, &config, command).await,
        Command::Lockout(command) => lockout(&gatehouse, command).await,
        Command::Migrate { .. } => unreachable!("handled before opening"),
        Command::Auth {
            user,
            password_stdin: _,
            client,
        } => auth(&gatehouse, &user, &client).await,
    };
    // Last logins, refusals and the clock mark are written before exiting,
    // whatever the command's outcome.
    if let Err(error) = gatehouse.flush().await {
        tracing::error!(%error, "could not write pending records");
    }
    result
}

async fn open(config: &Config) -> Result<Gatehouse> {
    let store = open_store(&config.storage, &config.key_file).await?;
    let settings = Settings {
        time_zone: config.time_zone.clone(),
        password: config.password,
        totp_mode: config.totp_mode,
        mfa: config.mfa.clone(),
        lockout: config.lockout,
        push: config.push.clone(),
        push_notifier: match &config.webpush {
            Some(webpush) => Some(Arc::new(
                gatehouse_webpush::WebPushSender::new(
                    &webpush.subject,
                    webpush.ca_pem.as_deref(),
                    webpush.hosts.clone(),
                )
                .map_err(|error| anyhow::anyhow!("push.webpush: {error}"))?,
            )),
            None => None,
        },
        password_cache: config.password_cache,
        alarms: config.alarms.clone(),
        alarm_daily_at: config.alarm_daily_at,
        directory: if config.directories.is_empty() {
            None
        } else {
            Some(Arc::new(LdapDirectories::new(config.directories.clone())?))
        },
        ..Settings::new(Arc::new(SystemClock))
    };
    Ok(Gatehouse::open(store, settings).await?)
}

/// Opens the configured store under the sealing key of `key_file`, which
/// is made when it does not exist yet, for a new installation or one
/// written before databases were sealed.
async fn open_store(storage: &Storage, key_file: &Path) -> Result<Arc<dyn Store>> {
    let (seal, created) = sealing_key(key_file)?;
    Ok(match storage {
        Storage::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let opened = SqliteStore::open(path, seal.clone()).await;
            Arc::new(sealed(opened, key_file, &seal, created)?)
        }
        Storage::Postgres {
            url,
            max_connections,
        } => {
            let opened = PgStore::connect(url, *max_connections, seal.clone()).await;
            Arc::new(sealed(opened, key_file, &seal, created)?)
        }
    })
}

/// A store opened under `seal`: a database already sealed under another
/// key is refused, saying where the right key file should be, and a key
/// file made just now for it removed again.
fn sealed<T>(
    opened: Result<T, gatehouse_core::StoreError>,
    key_file: &Path,
    seal: &SealingKey,
    created: bool,
) -> Result<T> {
    match opened {
        Ok(store) => {
            if created {
                tracing::warn!(
                    key_file = %key_file.display(),
                    key_id = %seal.id_text(),
                    "sealing key created: back it up with the database, and copy it to every node; without it the database cannot be used"
                );
            }
            Ok(store)
        }
        Err(gatehouse_core::StoreError::Sealing(why)) if created => {
            let _ = std::fs::remove_file(key_file);
            bail!(
                "storage.key_file: {} does not exist, but the database is already sealed ({why}): \
                 copy the key file from the node that created this installation, or from your backup",
                key_file.display()
            )
        }
        Err(gatehouse_core::StoreError::Sealing(why)) => {
            bail!("storage.key_file: {}: {why}", key_file.display())
        }
        Err(error) => Err(error.into()),
    }
}

/// Reads the sealing key, or makes one (mode 0600) when the file does not
/// exist; `true` when it was made now.
fn sealing_key(path: &Path) -> Result<(Arc<SealingKey>, bool)> {
    let key_file = || format!("storage.key_file: {}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = SealingKey::from_file_text(&text).with_context(key_file)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                if let Ok(metadata) = std::fs::metadata(path)
                    && metadata.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        key_file = %path.display(),
                        mode = format!("{:o}", metadata.permissions().mode() & 0o777),
                        "the sealing key file can be read by other users: chmod 600 it"
                    );
                }
            }
            Ok((Arc::new(key), false))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let key = SealingKey::generate().with_context(key_file)?;
            write_private_file(path, key.to_file_text().as_bytes()).with_context(key_file)?;
            Ok((Arc::new(key), true))
        }
        Err(error) => Err(error).with_context(|| format!("{}: cannot read it", key_file())),
    }
}

/// Writes a new file readable by its owner only, on disk before this
/// returns (the file and its directory entry).
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// Raises the soft limit on open files to the hard limit, so the HTTP and
/// RADIUS caps, not the usual 1,024 descriptors, bound what a flood can
/// hold; logs what is in force.
fn raise_file_limit() {
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

async fn serve(gatehouse: &Arc<Gatehouse>, config: &Config) -> Result<ExitCode> {
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
    let mut ticks = tokio::time::interval(Gatehouse::TICK);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                gatehouse.tick().await;
                if let Some((server, _)) = &radius {
                    refresh_clients(gatehouse, server, &config.radius.clients).await;
                }
            }
            () = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
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

async fn alarm(gatehouse: &Gatehouse, config: &Config, command: AlarmCommand) -> Result<ExitCode> {
    match command {
        AlarmCommand::Test => {
            let Some(mailer) = mailer(config)? else {
                bail!("email is not configured: set [smtp] in the configuration file");
            };
            let to = gatehouse.send_test_email(mailer.as_ref()).await?;
            println!("Test email sent to {}", to.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        AlarmCommand::History { limit, format } => {
            let alarms = gatehouse.alarm_history(limit).await?;
            let zone = gatehouse.time_zone();
            let rows: Vec<AlarmJson> = alarms.iter().map(|a| AlarmJson::new(a, zone)).collect();
            let columns = Columns {
                keys: &["raised_at", "subject", "state", "attempts", "last_error"],
                titles: &["Raised", "Alarm", "Delivery", "Attempts", "Last Error"],
            };
            emit(&format, &rows, columns, |i| {
                let alarm = &alarms[i];
                vec![
                    local_time(alarm.created_at, zone),
                    alarm.subject.clone(),
                    alarm_state(alarm).to_string(),
                    alarm.attempts.to_string(),
                    alarm.last_error.clone().unwrap_or_default(),
                ]
            })?;
            if !format.json && !format.csv && alarms.is_empty() {
                eprintln!("no alarm has fired");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn push(gatehouse: &Gatehouse, config: &Config, command: PushCommand) -> Result<ExitCode> {
    let zone = gatehouse.time_zone();
    match command {
        PushCommand::Enroll { user, json } => {
            let (identity, token, text) = gatehouse.push_enrollment(&user).await?;
            let base = config.push_public_url.clone().unwrap_or_else(|| {
                let scheme = if config.http.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                match config.http.listen {
                    Some(address) if !address.ip().is_unspecified() => {
                        format!("{scheme}://{address}")
                    }
                    Some(address) => format!("{scheme}://localhost:{}", address.port()),
                    None => format!("{scheme}://localhost"),
                }
            });
            let enrollment = EnrollmentJson {
                user: identity.username.to_string(),
                link: enrollment_link(&base, &text),
                expires_at: gatehouse_http::wire::rfc3339(token.expires_at, zone),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&enrollment)?);
            } else {
                eprintln!(
                    "Open this link on {}'s phone (once, until {}):",
                    enrollment.user,
                    local_time(token.expires_at, zone)
                );
                println!("{}", enrollment.link);
                if config.push_public_url.is_none() {
                    eprintln!("(set push.public_url to the address phones reach Gatehouse at)");
                }
            }
        }
        PushCommand::Devices(format) => {
            let devices = gatehouse.push_devices().await?;
            let rows: Vec<DeviceJson> = devices.iter().map(|d| DeviceJson::new(d, zone)).collect();
            let columns = Columns {
                keys: &["id", "user", "label", "enrolled_at"],
                titles: &["Device", "User", "Phone", "Enrolled"],
            };
            emit(&format, &rows, columns, |i| {
                let device = &devices[i];
                vec![
                    device.id.clone(),
                    device.username.clone(),
                    device.label.clone(),
                    local_time(device.created_at, zone),
                ]
            })?;
            if !format.json && !format.csv && devices.is_empty() {
                eprintln!("no phone is enrolled");
            }
        }
        PushCommand::Revoke { device } => {
            let Some(removed) = gatehouse.remove_push_device(&device).await? else {
                bail!("no push device {device:?}");
            };
            println!("revoked {device}");
            warn_removal(&removed);
        }
        PushCommand::Mode { user, mode } => {
            let mode =
                match mode.as_str() {
                    "default" => None,
                    text => Some(gatehouse_core::push::PushMode::parse(text).with_context(
                        || format!("mode must be hold, challenge or default, not {text:?}"),
                    )?),
                };
            let identity = gatehouse.set_push_mode(&user, mode).await?;
            let shown = mode.map_or("default", gatehouse_core::push::PushMode::as_str);
            println!("push mode of {} set to {shown}", identity.username);
        }
        PushCommand::History { limit, format } => {
            let pushes = gatehouse.recent_pushes(limit).await?;
            let now = gatehouse.now();
            let rows: Vec<PushJson> = pushes.iter().map(|p| PushJson::new(p, now, zone)).collect();
            let columns = Columns {
                keys: &[
                    "sent_at",
                    "user",
                    "client",
                    "source",
                    "outcome",
                    "decided_at",
                ],
                titles: &["Sent", "User", "Client", "From", "Outcome", "Answered"],
            };
            emit(&format, &rows, columns, |i| {
                let (record, row) = (&pushes[i], &rows[i]);
                vec![
                    local_time(record.push.created_at, zone),
                    row.user.clone(),
                    row.client.clone(),
                    row.source.clone().unwrap_or_default(),
                    row.outcome.clone(),
                    record
                        .decided_at
                        .map(|at| local_time(at, zone))
                        .unwrap_or_default(),
                ]
            })?;
            if !format.json && !format.csv && pushes.is_empty() {
                eprintln!("no push was sent");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The SMTP mailer of `[smtp]`, if configured.
fn mailer(config: &Config) -> Result<Option<Arc<dyn Mailer>>> {
    Ok(match &config.smtp {
        Some(settings) => Some(Arc::new(SmtpMailer::new(settings)?)),
        None => None,
    })
}

/// Clients from the configuration, then those added with `client add`
/// (a stored client named like a configured one is ignored).
async fn refresh_clients(
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

async fn shutdown_signal() {
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

// ----- license ------------------------------------------------------------

async fn license(
    gatehouse: &Gatehouse,
    config: &Config,
    command: LicenseCommand,
) -> Result<ExitCode> {
    match command {
        LicenseCommand::Show { json } => {
            let view = gatehouse.license_view().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&LicenseJson::new(&view, gatehouse.time_zone()))?
                );
            } else {
                print!("{}", license_text(&view, gatehouse));
            }
        }
        LicenseCommand::Install { key } => {
            let text = if key == "-" { read_stdin()? } else { key };
            let view = gatehouse.install_license(&text).await?;
            println!("License installed and in force.");
            print!("{}", license_text(&view, gatehouse));
        }
        LicenseCommand::Request => {
            let view = gatehouse.license_view().await?;
            print!(
                "{}",
                license_request(&view, config.support_contact.as_deref())
            );
        }
        LicenseCommand::Export { output } => {
            let file = gatehouse.application_key_file().await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &file)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{file}"),
            }
        }
        LicenseCommand::VerifyExport { file } => return verify_export(&file),
    }
    Ok(ExitCode::SUCCESS)
}

fn license_text(view: &LicenseView, gatehouse: &Gatehouse) -> String {
    let payload = &view.license.payload;
    let dash = |text: &str| {
        if text.is_empty() {
            "-".to_string()
        } else {
            text.to_string()
        }
    };
    let remaining = words::remaining(view.days_remaining);
    let rows = vec![
        vec!["Company".into(), dash(&payload.company)],
        vec![
            "User Limit".into(),
            format!(
                "{}/{} ({}%)",
                view.active_users,
                payload.user_limit,
                UsagePercent::of(view.active_users, payload.user_limit)
            ),
        ],
        vec![
            "License Type".into(),
            words::license_type(payload.license_type).into(),
        ],
        vec![
            "Support End Date".into(),
            format!("{} ({remaining})", payload.support_end),
        ],
        vec![
            "Push Subscription".into(),
            words::push_subscription(payload.push_subscription).into(),
        ],
        vec!["App Key".into(), view.app_key.to_string()],
        vec!["Dossier".into(), dash(&payload.dossier)],
        vec!["License ID".into(), payload.license_id.clone()],
        vec![
            "Issued".into(),
            local_time(payload.issued_at, gatehouse.time_zone()),
        ],
        vec!["Status".into(), view.status.as_str().into()],
        vec!["Time Zone".into(), view.time_zone.clone()],
    ];
    let text = table(&["Field", "Value"], &rows);
    // Drop the header line: this is a card, not a list.
    text.split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(text)
}

fn license_request(view: &LicenseView, contact: Option<&str>) -> String {
    let dossier = &view.license.payload.dossier;
    let contact = contact.unwrap_or(
        "your Gatehouse vendor (set support.contact in the configuration to show it here)",
    );
    format!(
        "App Key: {}\nDossier: {}\nSend the request below to: {contact}\n\n{}",
        view.app_key,
        if dossier.is_empty() {
            "none yet"
        } else {
            dossier
        },
        request_text(view)
    )
}

fn verify_export(file: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match export::verify(&bytes, &vendor_keys::trusted()) {
        Ok(document) => {
            println!("valid");
            eprintln!(
                "App Key {}, exported {}, {} users in {}",
                document.app_key, document.exported_at, document.active_users, document.month
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("tampered");
            eprintln!("{reason}");
            Ok(ExitCode::from(EXIT_NO))
        }
    }
}

// ----- users and history ----------------------------------------------------

async fn users(gatehouse: &Gatehouse, args: UsersArgs) -> Result<ExitCode> {
    let month = args
        .month
        .month
        .unwrap_or_else(|| gatehouse.current_month());
    let query = SeatQuery {
        search: args.search,
        order: match args.sort {
            SortArg::Username => SeatOrder::Username,
            SortArg::FirstSeen => SeatOrder::FirstSeen,
            SortArg::LastLogin => SeatOrder::LastLogin,
        },
        descending: args.desc,
        ..SeatQuery::all(month)
    };
    let seats = gatehouse.users(&query).await?;
    let zone = gatehouse.time_zone();
    let rows: Vec<UserJson> = seats.iter().map(|seat| UserJson::new(seat, zone)).collect();
    let columns = Columns {
        keys: &USER_COLUMNS,
        titles: &[
            "Username",
            "Display Name",
            "Source",
            "First Authentication",
            "Last Login",
            "Last Client",
        ],
    };
    emit(&args.month.format, &rows, columns, |i| {
        let seat = &seats[i];
        vec![
            seat.username.clone(),
            seat.display_name.clone(),
            seat.source.as_str().to_string(),
            local_time(seat.first_seen, zone),
            local_time(seat.last_login, zone),
            seat.last_client.clone(),
        ]
    })?;
    if !args.month.format.json && !args.month.format.csv {
        let noun = if rows.len() == 1 { "user" } else { "users" };
        eprintln!("{} {noun} in {month}", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

async fn refused(gatehouse: &Gatehouse, args: MonthFormatArgs) -> Result<ExitCode> {
    let month = args.month.unwrap_or_else(|| gatehouse.current_month());
    let refused = gatehouse.refused_users(month).await?;
    let zone = gatehouse.time_zone();
    let rows: Vec<RefusedJson> = refused.iter().map(|r| RefusedJson::new(r, zone)).collect();
    let columns = Columns {
        keys: &[
            "username",
            "first_refused",
            "last_refused",
            "attempts",
            "last_client",
        ],
        titles: &[
            "Username",
            "First Refused",
            "Last Refused",
            "Attempts",
            "Last Client",
        ],
    };
    emit(&args.format, &rows, columns, |i| {
        let r = &refused[i];
        vec![
            r.username.clone(),
            local_time(r.first_refused, zone),
            local_time(r.last_refused, zone),
            r.attempts.to_string(),
            r.last_client.clone(),
        ]
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn usage(gatehouse: &Gatehouse, format: FormatArgs) -> Result<ExitCode> {
    let rows: Vec<HistoryRow> = gatehouse
        .usage()
        .await?
        .iter()
        .map(HistoryRow::from)
        .collect();
    let columns = Columns {
        keys: &["month", "users", "user_limit", "peak_percent"],
        titles: &["Month", "Users", "Limit", "Peak %"],
    };
    emit(&format, &rows, columns, |i| {
        let r = &rows[i];
        vec![
            r.month.clone(),
            r.users.to_string(),
            r.user_limit.to_string(),
            r.peak_percent.clone(),
        ]
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Column names of a report (CSV header and JSON keys) and its table titles.
struct Columns<'a> {
    keys: &'a [&'a str],
    titles: &'a [&'a str],
}

/// Prints rows as JSON (`--json`), CSV (`--csv`: the JSON fields `keys`, in
/// order) or an aligned table with the cells `human(index)` gives.
fn emit<T: Serialize>(
    format: &FormatArgs,
    rows: &[T],
    columns: Columns<'_>,
    human: impl Fn(usize) -> Vec<String>,
) -> Result<()> {
    if format.json {
        println!("{}", serde_json::to_string_pretty(rows)?);
    } else if format.csv {
        let mut cells = Vec::with_capacity(rows.len());
        for row in rows {
            let value = serde_json::to_value(row)?;
            cells.push(
                columns
                    .keys
                    .iter()
                    .map(|key| match &value[key] {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Array(items) => items
                            .iter()
                            .map(|item| {
                                item.as_str()
                                    .map_or_else(|| item.to_string(), str::to_string)
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect(),
            );
        }
        print!("{}", csv(columns.keys, &cells));
    } else {
        let cells: Vec<Vec<String>> = (0..rows.len()).map(human).collect();
        print!("{}", table(columns.titles, &cells));
    }
    Ok(())
}

// ----- local users and authentication --------------------------------------

async fn lockout(gatehouse: &Gatehouse, command: LockoutCommand) -> Result<ExitCode> {
    match command {
        LockoutCommand::List(format) => {
            let records = gatehouse.lockouts().await?;
            let (now, zone) = (gatehouse.now(), gatehouse.time_zone());
            let rows = LockoutJson::list(&records, now, zone);
            let columns = Columns {
                keys: &[
                    "username",
                    "locked",
                    "locked_until",
                    "locks",
                    "otp_failures",
                    "password_failures",
                    "seat",
                ],
                titles: &[
                    "Username",
                    "State",
                    "Locked Until",
                    "Locks",
                    "Wrong Codes",
                    "Wrong Passwords",
                    "Seat",
                ],
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                vec![
                    row.username.clone(),
                    if row.locked { "locked" } else { "failures" }.into(),
                    records[i]
                        .locked
                        .filter(|_| row.locked)
                        .map_or_else(|| "-".into(), |(_, until)| local_time(until, zone)),
                    row.locks.to_string(),
                    row.otp_failures.to_string(),
                    row.password_failures.to_string(),
                    row.seat.clone(),
                ]
            })?;
            if !format.json && !format.csv && rows.is_empty() {
                eprintln!("nobody is locked out");
            }
        }
        LockoutCommand::Unlock { user } => {
            if !gatehouse.unlock_user(&user).await? {
                bail!("{user:?} is not locked out and has no failed attempts");
            }
            println!("unlocked {user}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on standard error when a removal left its user without a second
/// factor.
fn warn_removal(removed: &gatehouse_core::Removed) {
    if let Some(warning) = removed.warning() {
        eprintln!("warning: {warning}");
    }
}

async fn local_user(gatehouse: &Gatehouse, command: LocalUserCommand) -> Result<ExitCode> {
    match command {
        LocalUserCommand::Add {
            name,
            no_second_factor,
            ..
        } => {
            let password = read_secret("password")?;
            let username = gatehouse.add_local_user(&name, &password).await?;
            if no_second_factor {
                gatehouse
                    .set_local_user_second_factor_exempt(&name, true)
                    .await?;
                println!("added local user {username} (no second factor)");
            } else {
                println!("added local user {username}");
                if gatehouse.second_factor_required() {
                    eprintln!(
                        "note: {username} must enroll a second factor before logging in (local-user totp {username}, or push enroll {username})"
                    );
                }
            }
        }
        LocalUserCommand::SecondFactor { name, exempt, .. } => {
            gatehouse
                .set_local_user_second_factor_exempt(&name, exempt)
                .await?;
            if exempt {
                println!("{name} logs in without a second factor");
            } else {
                println!("{name} must present a second factor");
            }
        }
        LocalUserCommand::Import {
            file,
            no_second_factor,
        } => {
            let text = if file.as_os_str() == "-" {
                read_stdin()?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let users = import_lines(&text)?;
            let mut problems = Vec::new();
            for (line, name, _) in &users {
                if gatehouse.local_user_exists(name).await? {
                    problems.push(format!("line {line}: local user {name:?} already exists"));
                }
            }
            if !problems.is_empty() {
                bail!("nothing imported:\n  {}", problems.join("\n  "));
            }
            for (_, name, password) in &users {
                gatehouse.add_local_user(name, password).await?;
                if no_second_factor {
                    gatehouse
                        .set_local_user_second_factor_exempt(name, true)
                        .await?;
                }
            }
            println!("imported {} local users", users.len());
        }
        LocalUserCommand::Password { name, .. } => {
            let password = read_secret("password")?;
            gatehouse.set_local_user_password(&name, &password).await?;
            println!("password changed for {name}");
        }
        LocalUserCommand::Disable { name } => {
            gatehouse.set_local_user_enabled(&name, false).await?;
            println!("disabled {name}");
        }
        LocalUserCommand::Enable { name } => {
            gatehouse.set_local_user_enabled(&name, true).await?;
            println!("enabled {name}");
        }
        LocalUserCommand::Delete { name } => {
            gatehouse.delete_local_user(&name).await?;
            println!("deleted {name}");
        }
        LocalUserCommand::Totp {
            name, remove: true, ..
        } => {
            let removed = gatehouse.remove_local_totp(&name).await?;
            println!("removed TOTP for {name}");
            warn_removal(&removed);
        }
        LocalUserCommand::Totp {
            name,
            mode,
            remove: false,
        } => {
            let enrollment = gatehouse
                .enroll_local_totp(&name, mode.map(ModeArg::mode))
                .await?;
            print_enrollment(&name, &enrollment);
        }
        LocalUserCommand::List(format) => {
            let users = gatehouse.local_users().await?;
            let zone = gatehouse.time_zone();
            let mut rows = Vec::with_capacity(users.len());
            for user in &users {
                let mode = gatehouse.local_totp_mode(&user.username).await?;
                rows.push(LocalUserJson::new(user, mode, zone));
            }
            let columns = Columns {
                keys: &[
                    "username",
                    "display_name",
                    "enabled",
                    "created_at",
                    "totp",
                    "second_factor_exempt",
                ],
                titles: &[
                    "Username",
                    "Display Name",
                    "State",
                    "Created",
                    "TOTP",
                    "Second Factor",
                ],
            };
            emit(&format, &rows, columns, |i| {
                let user = &users[i];
                vec![
                    user.username.to_string(),
                    user.display_name.clone(),
                    if user.enabled { "enabled" } else { "disabled" }.into(),
                    local_time(user.created_at, zone),
                    rows[i].totp.clone().unwrap_or_else(|| "-".into()),
                    if user.second_factor_exempt {
                        "exempt"
                    } else {
                        "required"
                    }
                    .into(),
                ]
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn client(
    gatehouse: &Gatehouse,
    config: &Config,
    command: ClientCommand,
) -> Result<ExitCode> {
    match command {
        ClientCommand::Add {
            name,
            networks,
            secret_stdin: _,
            no_require_message_authenticator,
            no_limit_proxy_state,
        } => {
            if config.radius.clients.iter().any(|c| c.name == name) {
                bail!("a RADIUS client named {name:?} is defined in the configuration file");
            }
            let secret = read_secret("shared secret")?;
            if secret.len() < 16 {
                eprintln!(
                    "warning: a shared secret shorter than 16 characters is easy to guess (RFC 2865 §3)"
                );
            }
            let client = RadiusClient {
                name,
                networks,
                secret: secret.into_bytes(),
                require_message_authenticator: !no_require_message_authenticator,
                limit_proxy_state: !no_limit_proxy_state,
            };
            gatehouse.add_radius_client(&client).await?;
            println!("added RADIUS client {}", client.name);
        }
        ClientCommand::Delete { name } => {
            if config.radius.clients.iter().any(|c| c.name == name) {
                bail!(
                    "RADIUS client {name:?} is defined in the configuration file; remove it there"
                );
            }
            if !gatehouse.delete_radius_client(&name).await? {
                bail!("no RADIUS client {name:?}");
            }
            println!("deleted RADIUS client {name}");
        }
        ClientCommand::List(format) => {
            let stored = gatehouse.radius_clients().await?;
            let rows: Vec<ClientJson> = config
                .radius
                .clients
                .iter()
                .map(|c| ClientJson::new(c, "config"))
                .chain(stored.iter().map(|c| ClientJson::new(c, "database")))
                .collect();
            let columns = Columns {
                keys: &[
                    "name",
                    "networks",
                    "require_message_authenticator",
                    "limit_proxy_state",
                    "source",
                ],
                titles: &[
                    "Name",
                    "Networks",
                    "Requires Message-Authenticator",
                    "Limits Proxy-State",
                    "Source",
                ],
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
                vec![
                    row.name.clone(),
                    row.networks.join(" "),
                    yes_no(row.require_message_authenticator),
                    yes_no(row.limit_proxy_state),
                    row.source.to_string(),
                ]
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn admin(gatehouse: &Gatehouse, command: AdminCommand) -> Result<ExitCode> {
    match command {
        AdminCommand::Add { name, .. } => {
            let password = read_secret("password")?;
            let name = gatehouse.add_admin(&name, &password).await?;
            println!("added administrator {name}");
        }
        AdminCommand::Token { name } => {
            let token = gatehouse.create_admin_token(&name).await?;
            eprintln!(
                "API token for {name} (shown once; send it as Authorization: Bearer <token>):"
            );
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How the RADIUS server behaves. A request held open for the phone is
/// remembered as in progress for the whole wait, so the NAS's
/// retransmissions of it are dropped and it is answered once.
fn radius_settings(config: &Config) -> RadiusSettings {
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

/// A secret (password, shared secret) from the first line of standard
/// input, without its line ending.
fn read_secret(what: &str) -> Result<String> {
    next_secret_line(&mut std::io::stdin().lines(), what)
}

async fn auth(gatehouse: &Gatehouse, user: &str, client: &str) -> Result<ExitCode> {
    let mut lines = std::io::stdin().lines();
    let password = next_secret_line(&mut lines, "password")?;
    let outcome = match gatehouse.login(user, &password, client).await {
        Ok(LoginStep::Accepted(admitted)) => Ok(admitted),
        Ok(LoginStep::OtpRequired(identity)) => {
            eprintln!("{}", gatehouse_radius::server::ENTER_ONE_TIME_CODE);
            let code = next_secret_line(&mut lines, "one-time code")?;
            gatehouse.complete_otp(&identity, &code, client).await
        }
        Ok(LoginStep::PushSent {
            identity,
            push,
            number,
            ..
        }) => {
            eprintln!("{}", gatehouse_core::approve_prompt(number));
            // Enter (or the end of input) waits for the phone; a TOTP code
            // does instead.
            let typed = lines.next().transpose()?.unwrap_or_default();
            gatehouse
                .complete_push(&identity, &push, &typed, client)
                .await
        }
        Err(refusal) => Err(refusal),
    };
    match outcome {
        Ok(_) => {
            println!("Accept");
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            println!("Reject: {refusal}");
            Ok(ExitCode::from(EXIT_NO))
        }
    }
}

/// `(line number, username, password)` of each user in an import file;
/// every bad line is reported at once.
fn import_lines(text: &str) -> Result<Vec<(usize, String, String)>> {
    let mut users = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, password)) = line.split_once('\t') else {
            problems.push(format!("line {number}: expected username<TAB>password"));
            continue;
        };
        match gatehouse_core::Username::parse(name) {
            Err(error) => problems.push(format!("line {number}: {error}")),
            Ok(_) if password.is_empty() => {
                problems.push(format!("line {number}: empty password for {name:?}"));
            }
            Ok(username) if !seen.insert(username.clone()) => {
                problems.push(format!("line {number}: {username} appears twice"));
            }
            Ok(_) => users.push((number, name.to_string(), password.to_string())),
        }
    }
    if !problems.is_empty() {
        bail!("nothing imported:\n  {}", problems.join("\n  "));
    }
    if users.is_empty() {
        bail!("no users in the file");
    }
    Ok(users)
}

async fn migrate(from: &str, to: &str, key_file: &Path) -> Result<ExitCode> {
    let Some(path) = from.strip_prefix("sqlite://").filter(|p| !p.is_empty()) else {
        bail!("--from: expected sqlite://PATH, got {from:?}");
    };
    let path = Path::new(path);
    if !path.is_file() {
        bail!("--from: no database at {}", path.display());
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!(
            "--to: expected postgres://USER@HOST/DATABASE, got {:?}",
            config::redact_url(to)
        );
    }
    gatehouse_store::check_postgres_url(to).map_err(|error| anyhow::anyhow!("--to: {error}"))?;
    // Both databases are sealed under the installation's one key.
    let (seal, created) = sealing_key(key_file)?;
    let source = sealed(
        SqliteStore::open(path, seal.clone()).await,
        key_file,
        &seal,
        created,
    )?;
    let destination = sealed(
        PgStore::connect(to, 4, seal.clone()).await,
        key_file,
        &seal,
        false,
    )?;
    let report = gatehouse_store::copy_sqlite_to_postgres(&source, &destination).await?;
    for (table, rows) in &report {
        println!("{table:<16} {rows:>9} rows");
    }
    println!(
        "verified: every table copied whole, every month's count equals its ledger ({})",
        config::redact_url(to)
    );
    println!("point every node's storage.url at it and start them.");
    Ok(ExitCode::SUCCESS)
}

/// Shows a new TOTP enrollment once: QR code, URI and secret.
fn print_enrollment(name: &str, enrollment: &TotpEnrollment) {
    let qr = qrcode::QrCode::new(enrollment.uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    let how = match enrollment.mode {
        TotpMode::Challenge => "enter the password, then the code when asked",
        TotpMode::Append => "type the code right after the password, in the same field",
    };
    println!("TOTP enrolled for {name} ({how}).");
    println!("Scan with an authenticator app; this is shown only once:\n");
    println!("{qr}");
    println!("{}", enrollment.uri);
    println!("Secret: {}", enrollment.secret.to_base32());
}

async fn directory(gatehouse: &Gatehouse, command: DirectoryCommand) -> Result<ExitCode> {
    match command {
        DirectoryCommand::Test {
            user,
            password_stdin,
            json,
        } => {
            let password = if password_stdin {
                Some(next_secret_line(&mut std::io::stdin().lines(), "password")?)
            } else {
                None
            };
            let entry = gatehouse.directory_user(&user).await?;
            let identity = entry.identity();
            let totp = gatehouse.directory_totp_mode(&entry).await?;
            let password_ok = match &password {
                Some(password) => Some(gatehouse.check_directory_password(&entry, password).await?),
                None => None,
            };
            let refusal = if entry.disabled {
                Some("the account is disabled in the directory")
            } else if !entry.allowed {
                Some("the account is not in an allowed group")
            } else if password_ok == Some(false) {
                Some("wrong password")
            } else {
                None
            };
            if json {
                let value = serde_json::json!({
                    "directory": entry.directory,
                    "server": entry.server,
                    "dn": entry.dn,
                    "login_name": entry.login_name,
                    "display_name": entry.display_name,
                    "seat_key": identity.seat.as_str(),
                    "groups": entry.groups,
                    "disabled": entry.disabled,
                    "allowed": entry.allowed,
                    "totp": totp.map(TotpMode::as_str),
                    "password": password_ok.map(|ok| if ok { "correct" } else { "wrong" }),
                    "refused": refusal,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let groups = if entry.groups.is_empty() {
                    "-".to_string()
                } else {
                    entry.groups.join("; ")
                };
                let rows = [
                    (
                        "Directory",
                        format!("{} ({})", entry.directory, entry.server),
                    ),
                    ("Entry", entry.dn.clone()),
                    ("Login Name", entry.login_name.clone()),
                    ("Display Name", entry.display_name.clone()),
                    ("Seat Key", identity.seat.as_str().to_string()),
                    ("Groups", groups),
                    ("Disabled", yes_no(entry.disabled).to_string()),
                    ("Allowed", yes_no(entry.allowed).to_string()),
                    (
                        "TOTP",
                        totp.map_or("not enrolled", TotpMode::as_str).to_string(),
                    ),
                    (
                        "Password",
                        match password_ok {
                            Some(true) => "correct",
                            Some(false) => "wrong",
                            None => "not checked (--password-stdin)",
                        }
                        .to_string(),
                    ),
                    (
                        "Result",
                        match refusal {
                            Some(why) => format!("refused: {why}"),
                            None => {
                                "may log in (the license decides whether a new user is counted)"
                                    .to_string()
                            }
                        },
                    ),
                ];
                for (label, value) in rows {
                    println!("{:<13} {value}", format!("{label}:"));
                }
            }
            Ok(if refusal.is_some() {
                ExitCode::from(EXIT_NO)
            } else {
                ExitCode::SUCCESS
            })
        }
        DirectoryCommand::Totp {
            user, remove: true, ..
        } => {
            if gatehouse.remove_directory_totp(&user).await? {
                println!("removed TOTP for {user}");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("{user} has no TOTP enrolled");
            }
        }
        DirectoryCommand::Totp {
            user,
            mode,
            remove: false,
        } => {
            let (entry, enrollment) = gatehouse
                .enroll_directory_totp(&user, mode.map(ModeArg::mode))
                .await?;
            print_enrollment(&entry.login_name, &enrollment);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The next line of standard input, without its line ending.
fn next_secret_line(
    lines: &mut std::io::Lines<std::io::StdinLock<'static>>,
    what: &str,
) -> Result<String> {
    let line = lines
        .next()
        .transpose()
        .with_context(|| format!("cannot read the {what} from standard input"))?
        .unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
    if line.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(line)
}

fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read standard input")?;
    Ok(text)
}
