//! `gatehouse-vendor`: the vendor's side of licensing.
//!
//! It makes the vendor key pair and signs license keys bound to a
//! customer's App Key. It is a separate program so that no Gatehouse server
//! ever contains the code or the key that issues licenses.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;
use gatehouse_license::key::issue;
use gatehouse_license::key_file::{format_public, format_secret, parse_secret};
use gatehouse_license::{AppKey, LicenseOptions, LicensePayload, LicenseType, SigningKey};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse-vendor",
    version,
    about = "Make vendor keys and issue Gatehouse license keys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new vendor key pair: DIR/vendor.key (secret) and DIR/vendor.pub.
    Keygen {
        /// Directory to write the key pair into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Print a license key for an installation's App Key.
    Issue(IssueArgs),
    /// Print the terms a license key grants, once its signature verifies
    /// under the vendor public key.
    Inspect {
        /// The vendor public key file written by `keygen` (`vendor.pub`).
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// The license key (GHL1.…).
        key: String,
    },
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// The vendor secret key file written by `keygen`.
    #[arg(long, value_name = "FILE")]
    signing_key: PathBuf,
    /// The customer's App Key, as shown on their License page.
    #[arg(long, value_name = "APPKEY")]
    app_key: AppKey,
    /// Organization registered with the license.
    #[arg(long, value_name = "NAME")]
    company: String,
    /// The customer's file number.
    #[arg(long, value_name = "D")]
    dossier: String,
    /// Unique users per calendar month.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    users: u32,
    /// License type.
    #[arg(long = "type", value_name = "TYPE")]
    license_type: TypeArg,
    /// Last valid day, YYYY-MM-DD (inclusive, in the installation's license time zone).
    #[arg(long, value_name = "YYYY-MM-DD")]
    support_end: Date,
    /// Include the push approval subscription.
    #[arg(long)]
    push: bool,
    /// Issue time (RFC 3339); defaults to now.
    #[arg(long, value_name = "RFC3339")]
    issued_at: Option<Timestamp>,
    /// License ID; defaults to L-<date>-<random>.
    #[arg(long, value_name = "ID")]
    license_id: Option<String>,
    /// Admit new users past the limit by this share of it (0-100).
    #[arg(long, value_name = "N", default_value_t = 0)]
    overage_percent: u32,
    /// Days after the Support End Date during which users counted that
    /// month still log in (0-90).
    #[arg(long, value_name = "N", default_value_t = 0)]
    grace_days: u32,
    /// Accounts the administrator may mark as never counted.
    #[arg(long, value_name = "N", default_value_t = 0)]
    exempt_seats: u32,
    /// Break-glass users the administrator may name (never refused for the limit).
    #[arg(long, value_name = "N", default_value_t = 0)]
    reserved_seats: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Subscription,
    Demo,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gatehouse-vendor: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen { out } => keygen(&out),
        Command::Issue(args) => {
            println!("{}", issue_key(args)?);
            Ok(())
        }
        Command::Inspect { public_key, key } => {
            print!("{}", inspect(&public_key, &key)?);
            Ok(())
        }
    }
}

/// A key's terms, one per line, when `public_key` verifies its signature.
fn inspect(public_key: &Path, key: &str) -> Result<String> {
    let text = fs::read_to_string(public_key)
        .with_context(|| format!("cannot read {}", public_key.display()))?;
    let vendor = gatehouse_license::key_file::parse_public(&text)
        .with_context(|| format!("{} is not a vendor public key", public_key.display()))?;
    let verified = gatehouse_license::key::decode_signed(key, &[vendor])
        .map_err(|refusal| anyhow::anyhow!("{refusal}"))?;
    let terms = &verified.payload;
    let yes_no = |value: bool| if value { "yes" } else { "no" };
    let mut rows: Vec<(&str, String)> = vec![
        ("License ID", terms.license_id.clone()),
        ("Issued", terms.issued_at.to_string()),
        ("App Key", terms.app_key.to_string()),
        ("Company", terms.company.clone()),
        ("Dossier", terms.dossier.clone()),
        ("User Limit", terms.user_limit.to_string()),
        (
            "License Type",
            gatehouse_license::words::license_type(terms.license_type).to_string(),
        ),
        ("Support End Date", terms.support_end.to_string()),
        (
            "Push Subscription",
            yes_no(terms.push_subscription).to_string(),
        ),
    ];
    rows.extend(gatehouse_license::words::options(
        &terms.options,
        terms.user_limit,
    ));
    rows.push(("Format Version", terms.format_version().to_string()));
    rows.push((
        "Signature",
        format!("verified with {}", public_key.display()),
    ));
    Ok(rows
        .into_iter()
        .map(|(label, value)| format!("{label:<19}{value}\n"))
        .collect())
}

fn keygen(dir: &Path) -> Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let secret_path = dir.join("vendor.key");
    let public_path = dir.join("vendor.pub");
    for path in [&secret_path, &public_path] {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite a vendor key",
                path.display()
            );
        }
    }
    write_new_file(
        &secret_path,
        &format_secret(
            &key,
            &["Gatehouse vendor signing key. Keep it secret: it issues licenses."],
        ),
        0o600,
    )?;
    write_new_file(
        &public_path,
        &format_public(
            &key.verifying_key(),
            &["Gatehouse vendor public key. Servers built to trust it accept keys it signs."],
        ),
        0o644,
    )?;
    println!(
        "wrote {} and {}",
        secret_path.display(),
        public_path.display()
    );
    // What `gatehouse --version` of a build trusting this key shows.
    println!(
        "fingerprint {}",
        gatehouse_license::key_file::fingerprint(&key.verifying_key())
    );
    Ok(())
}

fn write_new_file(path: &Path, contents: &str, mode: u32) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn issue_key(args: IssueArgs) -> Result<String> {
    let text = fs::read_to_string(&args.signing_key)
        .with_context(|| format!("cannot read {}", args.signing_key.display()))?;
    let vendor = parse_secret(&text)
        .with_context(|| format!("{} is not a vendor signing key", args.signing_key.display()))?;
    let issued_at = args.issued_at.unwrap_or_else(Timestamp::now);
    let license_id = match args.license_id {
        Some(id) => id,
        None => default_license_id(issued_at)?,
    };
    let payload = LicensePayload {
        license_id,
        issued_at,
        app_key: args.app_key,
        company: args.company,
        dossier: args.dossier,
        user_limit: args.users,
        license_type: match args.license_type {
            TypeArg::Subscription => LicenseType::Subscription,
            TypeArg::Demo => LicenseType::Demo,
        },
        support_end: args.support_end,
        push_subscription: args.push,
        options: LicenseOptions {
            overage_percent: args.overage_percent,
            grace_days: args.grace_days,
            exempt_seats: args.exempt_seats,
            reserved_seats: args.reserved_seats,
        },
    };
    Ok(issue(&payload, &vendor)?)
}

fn default_license_id(issued_at: Timestamp) -> Result<String> {
    let mut random = [0u8; 3];
    getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!(
        "L-{}-{:02X}{:02X}{:02X}",
        issued_at.strftime("%Y%m%d"),
        random[0],
        random[1],
        random[2]
    ))
}
