//! The command line as clap reads it: commands, their arguments and help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use gatehouse_core::TotpMode;
use gatehouse_core::clients::Network;
use gatehouse_core::vendor_keys;
use gatehouse_license::Month;

/// The data directory when none is given: `./gatehouse-data`, or where a
/// package puts it (`GATEHOUSE_PACKAGE_DATA_DIR` at build time, e.g.
/// `/var/lib/gatehouse`), so an administrator's `gatehouse users` reads
/// the installation the service runs.
const DEFAULT_DATA_DIR: &str = match option_env!("GATEHOUSE_PACKAGE_DATA_DIR") {
    Some(dir) => dir,
    None => "./gatehouse-data",
};

/// The configuration file a package installs (`GATEHOUSE_PACKAGE_CONFIG`
/// at build time, e.g. `/etc/gatehouse/gatehouse.toml`), read when
/// neither `--config` nor `GATEHOUSE_CONFIG` names one.
pub(crate) const PACKAGE_CONFIG: Option<&str> = option_env!("GATEHOUSE_PACKAGE_CONFIG");

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version = version_text(),
    about = "Gatehouse multi-factor authentication server"
)]
pub(crate) struct Cli {
    /// Where Gatehouse keeps its database and installation key.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "GATEHOUSE_DATA_DIR",
        default_value = DEFAULT_DATA_DIR
    )]
    pub(crate) data_dir: PathBuf,
    /// Configuration file (default: <data-dir>/gatehouse.toml when present;
    /// a packaged build names its own, e.g. /etc/gatehouse/gatehouse.toml).
    #[arg(long, global = true, value_name = "FILE", env = "GATEHOUSE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Local groups, which policies match on (`local:NAME`).
    #[command(subcommand)]
    Group(GroupCommand),
    /// Enrollment windows: while one is open, a user without a second
    /// factor is told where to enroll one instead of only being refused.
    #[command(subcommand)]
    Enroll(EnrollCommand),
    /// Exempt accounts (never counted) and break-glass users (never
    /// refused for the limit), as many as the license grants.
    #[command(subcommand)]
    Seats(SeatsCommand),
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
    /// Policies: who may log in through which client, with which factors,
    /// and the attributes the client is sent.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// The audit trail: administrative changes, newest first.
    Audit(AuditArgs),
    /// Check the installation: every month's count against its ledger, and
    /// the audit trail's chain (exit 1 on any difference).
    Verify,
    /// Write a consistent snapshot of the installation (SQLite or
    /// PostgreSQL, while `serve` runs) to FILE, one SQLite file; everything
    /// but the sealing key file.
    Backup { file: PathBuf },
    /// Restore a backup into this configuration's database, which must
    /// hold no installation; the sealing key file must be in place.
    Restore { file: PathBuf },
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
        /// Name recorded as the user's last client (and the client
        /// policies match).
        #[arg(long, value_name = "NAME", default_value = "cli")]
        client: String,
        /// The user's address, as a RADIUS client would send it.
        #[arg(long, value_name = "IP")]
        calling_station_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LicenseCommand {
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
    /// Check an application key file: prints `valid` or `tampered`, then
    /// whether each usage chain it carries verifies (exit 1 if not).
    VerifyExport {
        file: PathBuf,
        /// An earlier file of the same installation: every month it
        /// reported must be unchanged (a month then in progress may only
        /// have grown).
        #[arg(long, value_name = "FILE")]
        previous: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LocalUserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        /// A service account: logs in with the password alone while a
        /// second factor is required (`mfa.required`).
        #[arg(long)]
        no_second_factor: bool,
        /// A local group the user is in (repeat for several); it must
        /// exist (`gatehouse group add`).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
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
    /// Show, set or clear a user's email address (where an enrollment
    /// invitation goes).
    Email {
        name: String,
        address: Option<String>,
        /// Remove the address instead.
        #[arg(long, conflicts_with = "address")]
        clear: bool,
    },
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
pub(crate) enum PolicyCommand {
    /// The policies in force, in order (the first that matches decides);
    /// `--json` prints what `policy save` reads.
    List(FormatArgs),
    /// Replace the saved policies with a JSON list (`-`: standard input):
    /// checked whole, nothing saved on an error. Not while the
    /// configuration fixes them ([[policy]]).
    Save { file: PathBuf },
    /// Which policy a user gets through a client: the factors it accepts
    /// and the reply attributes, without a password and without counting.
    Test {
        user: String,
        /// The RADIUS client's name.
        #[arg(long, value_name = "NAME")]
        client: String,
        /// The user's address, as the client sends it.
        #[arg(long, value_name = "IP")]
        calling_station_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Make an empty group: 1 to 64 letters, digits, `-`, `_` or `.`.
    Add { name: String },
    /// Delete a group; its members stay, in their other groups.
    Delete { name: String },
    /// The groups, with how many members each has.
    List(FormatArgs),
    /// The members of a group.
    Members {
        name: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Put a local user in a group.
    AddMember { group: String, user: String },
    /// Take a local user out of a group.
    RemoveMember { group: String, user: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EnrollCommand {
    /// Open a window for a user, a group or everyone (replacing one open
    /// for the same).
    Open {
        #[command(flatten)]
        scope: WindowScopeArgs,
        /// How long it stays open, in days (1 to 90).
        #[arg(long, value_name = "N", default_value_t = 7)]
        days: u32,
        /// Email each user it covers who has no factor yet where to enroll
        /// (local users' addresses from `local-user email`, directory
        /// users' `mail`; through `[smtp]`, retried like the alarms).
        #[arg(long)]
        email: bool,
    },
    /// Close the window open for a user, a group or everyone.
    Close {
        #[command(flatten)]
        scope: WindowScopeArgs,
    },
    /// The windows open now.
    List(FormatArgs),
}

/// Whom an enrollment window is for: one of a user, `--group` or `--all`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct WindowScopeArgs {
    /// A user (local or directory).
    pub(crate) user: Option<String>,
    /// A group as policies name one (`local:staff`, `corp:CN=…`).
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: Option<String>,
    /// Everyone.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SeatsCommand {
    /// The marked users, in the order they were marked.
    List(FormatArgs),
    /// Never count USER (a service or monitoring account).
    Exempt { user: String },
    /// Never refuse USER for the limit (break-glass; still counted).
    Reserve { user: String },
    /// Make USER an ordinary user again.
    Unmark { user: String },
    /// The seat budgets, in the order logins are matched against them,
    /// with their users this month.
    Budgets(FormatArgs),
    /// Add a seat budget, or replace the one named NAME: new users in one
    /// of the groups (any, when none is given) logging in through one of
    /// the clients (any, when none is given) count against it.
    Budget {
        name: String,
        /// Users the budget may hold in a month.
        #[arg(long, value_name = "N")]
        size: u32,
        /// A group as policies name one (`local:contractors`,
        /// `corp:CN=Contractors,DC=example,DC=com`); repeatable.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// A RADIUS client's name; repeatable.
        #[arg(long = "client", value_name = "NAME")]
        clients: Vec<String>,
        /// Alarm when this share of the budget is used; repeatable.
        #[arg(long = "alarm-percent", value_name = "P")]
        alarm_percent: Vec<u32>,
    },
    /// Delete a seat budget (its users stay counted).
    DeleteBudget { name: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LockoutCommand {
    /// Users locked out now, and users with failures in a row.
    List(FormatArgs),
    /// End a user's lock (and forget their failures).
    Unlock {
        /// A username, or the seat key `lockout list` shows.
        user: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ModeArg {
    /// The code is asked for after the password (Access-Challenge).
    Challenge,
    /// The code is typed right after the password.
    Append,
}

impl ModeArg {
    pub(crate) fn mode(self) -> TotpMode {
        match self {
            ModeArg::Challenge => TotpMode::Challenge,
            ModeArg::Append => TotpMode::Append,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create an administrator; the password is read from standard input.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Print a new API token for an administrator (shown once).
    Token {
        name: String,
        /// Expire the token after this long: 90d, 12h, 30m (default: until
        /// revoked).
        #[arg(long, value_name = "LIFETIME")]
        expires_in: Option<String>,
        /// What the token is for (shown by `admin tokens`).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Administrators, their tokens and panel sessions.
    List(FormatArgs),
    /// Set an administrator's password (read from standard input); ends
    /// their panel sessions.
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Delete an administrator with their tokens and sessions (never the
    /// last one).
    Delete { name: String },
    /// An administrator's API tokens: id, label, created, expires.
    Tokens {
        name: String,
        #[command(flatten)]
        format: FormatArgs,
    },
    /// Revoke one of an administrator's API tokens, by the id `admin
    /// tokens` shows; refused at once by every node.
    Revoke { name: String, id: String },
    /// End every panel session of an administrator.
    Logout { name: String },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DirectoryCommand {
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
pub(crate) enum AlarmCommand {
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
pub(crate) enum PushCommand {
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
pub(crate) enum ClientCommand {
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
pub(crate) struct AuditArgs {
    /// From this day (2026-11-01, license time zone) or time (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    /// Only this actor: admin:NAME, token:NAME/ID, cli, system.
    #[arg(long)]
    pub(crate) actor: Option<String>,
    /// Only actions starting with this: local_user, license.install, …
    #[arg(long)]
    pub(crate) action: Option<String>,
    /// At most this many entries (1–1000).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: u32,
    /// Walk the whole trail instead, checking every entry's tag and its
    /// link to the one before (exit 1 when it was changed by hand).
    #[arg(long, conflicts_with_all = ["since", "actor", "action"])]
    pub(crate) verify: bool,
    #[command(flatten)]
    pub(crate) format: FormatArgs,
}

#[derive(Debug, Args)]
pub(crate) struct FormatArgs {
    /// Print JSON.
    #[arg(long, conflicts_with = "csv")]
    pub(crate) json: bool,
    /// Print CSV.
    #[arg(long)]
    pub(crate) csv: bool,
}

#[derive(Debug, Args)]
pub(crate) struct MonthFormatArgs {
    /// Month to show, YYYY-MM (default: the current month).
    #[arg(long, value_name = "YYYY-MM")]
    pub(crate) month: Option<Month>,
    #[command(flatten)]
    pub(crate) format: FormatArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UsersArgs {
    #[command(flatten)]
    pub(crate) month: MonthFormatArgs,
    /// Only users whose username starts with TEXT (any case).
    #[arg(long, value_name = "TEXT")]
    pub(crate) search: Option<String>,
    /// Order of the rows.
    #[arg(long, value_enum, default_value = "username")]
    pub(crate) sort: SortArg,
    /// Reverse the order.
    #[arg(long)]
    pub(crate) desc: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SortArg {
    Username,
    FirstSeen,
    LastLogin,
}

/// `gatehouse --version`: the version, then which vendor keys this build
/// accepts license keys from (fingerprints), and `development key trusted`
/// when the published development key is one of them.
pub(crate) fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| format!("{}\n{}", env!("CARGO_PKG_VERSION"), vendor_keys::summary()))
}
