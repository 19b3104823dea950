//! `gatehouse`: the server and its administration command line.
//!
//! This binary is wiring only: it reads the configuration, opens the store,
//! builds the [`Gatehouse`] service and runs one command against it. Every
//! error becomes one line on stderr and a non-zero exit.

mod cli;
mod commands;
mod config;
mod logging;
mod output;
mod owner;
mod serve;
mod setup;
mod syslog;
mod systemd;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Parser;
use gatehouse_core::Gatehouse;

use crate::cli::{Cli, Command, LicenseCommand};
use crate::commands::{
    admin, alarm, audit, auth, backup, client, directory, license, local_user, migrate, policy,
    push, users,
};
use crate::config::Config;

/// Exit code of a refused authentication or a tampered file.
pub(crate) const EXIT_NO: u8 = 1;
/// Exit code of an error (bad input, unreadable file, database down).
pub(crate) const EXIT_ERROR: u8 = 2;

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
    // Checking an exported file reads no data directory.
    if !matches!(
        cli.command,
        Command::License(LicenseCommand::VerifyExport { .. })
    ) {
        owner::check(&cli.data_dir)?;
    }
    let explicit = (cli.config.clone()).or_else(|| cli::PACKAGE_CONFIG.map(Into::into));
    let config = config::load(&cli.data_dir, explicit.as_deref())?;
    let serving = matches!(cli.command, Command::Serve);
    let _flush_logs_at_exit = init_logging(&config, serving);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let configured = std::env::var_os("TOKIO_WORKER_THREADS").is_some();
    if let Some(workers) = runtime_workers(cores, configured) {
        runtime.worker_threads(workers);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(cli.command, config))
}

/// The async runtime's worker threads: one fewer than the cores (at least
/// one), since the busiest work runs on threads of its own beside them —
/// the RADIUS receiving thread, SQLite's connection threads and password
/// hashing's blocking threads. On a small machine a worker fewer also
/// means fewer wake-ups between workers handing tasks to each other: on 2
/// cores, one worker makes a directory login with a remembered password
/// cost Gatehouse and the directory together about a quarter less
/// (bench/README.md). When `TOKIO_WORKER_THREADS` is set in the
/// environment (`configured`), it decides instead (`None`).
fn runtime_workers(cores: usize, configured: bool) -> Option<usize> {
    (!configured).then(|| cores.saturating_sub(1).max(1))
}

/// Logs go to stderr in batches (see [`logging::BatchedStderr`]), as text
/// or JSON lines, and from `serve` to syslog when configured; the returned
/// guard writes what is pending when it is dropped, at exit.
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
    let (stderr, guard) = logging::BatchedStderr::start();
    // Only `serve` forwards to syslog: one-shot commands print to the
    // terminal that ran them.
    let syslog = (config.syslog.clone())
        .filter(|_| serving)
        .map(syslog::SyslogSink::start);
    let format = if config.log_json {
        logging::Format::Json(logging::JsonFormat::default())
    } else {
        logging::Format::Text(logging::LineFormat::default())
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(logging::Outputs { stderr, syslog })
        .event_format(format)
        .init();
    guard
}

async fn dispatch(command: Command, config: Config) -> Result<ExitCode> {
    // Verifying a file needs no installation: an auditor runs it anywhere.
    if let Command::License(LicenseCommand::VerifyExport { file, previous }) = &command {
        return license::verify_export(file, previous.as_deref());
    }
    // Migrating works on two databases, not on the configured one.
    if let Command::Migrate { from, to } = &command {
        return migrate::migrate(from, to, &config.key_file).await;
    }
    // Backups read the database under the service; a restore fills an
    // empty one (opening the service would make a new installation).
    if let Command::Backup { file } = &command {
        return backup::backup(&config, file).await;
    }
    if let Command::Restore { file } = &command {
        return backup::restore(&config, file).await;
    }
    let gatehouse = Arc::new(setup::open(&config).await?);
    if matches!(command, Command::Serve) {
        // Requests name their own actors (the panel and API).
        return run_command(command, &gatehouse, &config).await;
    }
    // Changes made by a command are recorded in the audit trail as the
    // command line's, with the local user who ran it.
    let actor = gatehouse_core::audit::Actor {
        who: "cli".into(),
        from: owner::local_user(),
    };
    gatehouse_core::audit::acting(actor, run_command(command, &gatehouse, &config)).await
}

async fn run_command(
    command: Command,
    gatehouse: &Arc<Gatehouse>,
    config: &Config,
) -> Result<ExitCode> {
    let result = match command {
        Command::Serve => serve::serve(gatehouse, config).await,
        Command::License(command) => license::license(gatehouse, config, command).await,
        Command::Users(args) => users::users(gatehouse, args).await,
        Command::Refused(args) => users::refused(gatehouse, args).await,
        Command::Usage(args) => users::usage(gatehouse, args).await,
        Command::LocalUser(command) => local_user::local_user(gatehouse, command).await,
        Command::Group(command) => local_user::group(gatehouse, command).await,
        Command::Seats(command) => users::seats(gatehouse, command).await,
        Command::Enroll(command) => users::enroll(gatehouse, command).await,
        Command::Client(command) => client::client(gatehouse, config, command).await,
        Command::Admin(command) => admin::admin(gatehouse, command).await,
        Command::Audit(args) => audit::audit(gatehouse, args).await,
        Command::Verify => audit::verify(gatehouse).await,
        Command::Alarm(command) => alarm::alarm(gatehouse, config, command).await,
        Command::Directory(command) => directory::directory(gatehouse, command).await,
        Command::Push(command) => push::push(gatehouse, config, command).await,
        Command::Lockout(command) => local_user::lockout(gatehouse, command).await,
        Command::Policy(command) => policy::policy(gatehouse, command).await,
        Command::Migrate { .. } | Command::Backup { .. } | Command::Restore { .. } => {
            unreachable!("handled before opening")
        }
        Command::Auth {
            user,
            password_stdin: _,
            client,
            calling_station_id,
        } => {
            let route = gatehouse_core::Route::new(&client, calling_station_id.as_deref());
            auth::auth(gatehouse, &user, &route).await
        }
    };
    // Last logins, refusals and the clock mark are written before exiting,
    // whatever the command's outcome.
    if let Err(error) = gatehouse.flush().await {
        tracing::error!(%error, "could not write pending records");
    }
    result
}

// ----- license ------------------------------------------------------------

// ----- users and history ----------------------------------------------------

// ----- local users and authentication --------------------------------------

#[cfg(test)]
mod tests {
    use super::runtime_workers;

    #[test]
    fn the_runtime_leaves_a_core_to_the_threads_beside_it() {
        assert_eq!(runtime_workers(1, false), Some(1));
        assert_eq!(runtime_workers(2, false), Some(1));
        assert_eq!(runtime_workers(8, false), Some(7));
        // The environment's setting is left to the runtime.
        assert_eq!(runtime_workers(8, true), None);
    }
}
