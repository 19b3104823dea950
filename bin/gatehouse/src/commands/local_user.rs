//! `gatehouse local-user`, `gatehouse group` and `gatehouse lockout`:
//! accounts, passwords, TOTP, second-factor exemptions, imports, local
//! groups and their members, and locked-out users.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use gatehouse_core::store::{GroupEdit, LocalGroupName};
use gatehouse_core::{Gatehouse, TotpEnrollment, TotpMode};
use gatehouse_http::wire::{LocalGroupJson, LocalUserJson, LockoutJson, local_time};

use crate::cli::{GroupCommand, LocalUserCommand, LockoutCommand, ModeArg};
use crate::commands::{Columns, emit, read_secret, read_stdin};

pub(crate) async fn local_user(
    gatehouse: &Gatehouse,
    command: LocalUserCommand,
) -> Result<ExitCode> {
    match command {
        LocalUserCommand::Add {
            name,
            no_second_factor,
            groups,
            ..
        } => {
            let password = read_secret("password")?;
            let username = gatehouse
                .add_local_user_with(&name, &password, no_second_factor, &groups)
                .await?;
            let in_groups = if groups.is_empty() {
                String::new()
            } else {
                format!(" in {}", groups.join(", "))
            };
            if no_second_factor {
                println!("added local user {username}{in_groups} (no second factor)");
            } else {
                println!("added local user {username}{in_groups}");
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
                gatehouse
                    .add_local_user_with(name, password, no_second_factor, &[] as &[&str])
                    .await?;
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
        LocalUserCommand::Email {
            name,
            address,
            clear,
        } => {
            if clear || address.is_some() {
                gatehouse
                    .set_local_user_email(&name, address.as_deref())
                    .await?;
            }
            match gatehouse.local_user_email(&name).await? {
                Some(address) => println!("{address}"),
                None => eprintln!("{name} has no email address"),
            }
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
                    "groups",
                ],
                titles: &[
                    "Username",
                    "Display Name",
                    "State",
                    "Created",
                    "TOTP",
                    "Second Factor",
                    "Groups",
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
                    dash_if_empty(rows[i].groups.join(", ")),
                ]
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn group(gatehouse: &Gatehouse, command: GroupCommand) -> Result<ExitCode> {
    match command {
        GroupCommand::Add { name } => {
            let name = gatehouse.add_local_group(&name).await?;
            println!("added local group {name} (local:{name} in a policy)");
        }
        GroupCommand::Delete { name } => {
            gatehouse.delete_local_group(&name).await?;
            println!("deleted local group {name}");
        }
        GroupCommand::List(format) => {
            let groups = gatehouse.local_groups().await?;
            let zone = gatehouse.time_zone();
            let rows: Vec<LocalGroupJson> = groups
                .iter()
                .map(|(group, members)| LocalGroupJson::new(group, members, zone))
                .collect();
            let columns = Columns {
                keys: &["name", "members", "created_at"],
                titles: &["Group", "Members", "Created"],
            };
            emit(&format, &rows, columns, |i| {
                vec![
                    rows[i].name.clone(),
                    rows[i].members.len().to_string(),
                    local_time(groups[i].0.created_at, zone),
                ]
            })?;
            if !format.json && !format.csv && rows.is_empty() {
                eprintln!("no local groups (add one with: gatehouse group add NAME)");
            }
        }
        GroupCommand::Members { name, format } => {
            let members: Vec<String> = gatehouse
                .local_group_members(&name)
                .await?
                .iter()
                .map(ToString::to_string)
                .collect();
            if format.json {
                println!("{}", serde_json::to_string_pretty(&members)?);
            } else {
                for member in &members {
                    println!("{member}");
                }
                if members.is_empty() && !format.csv {
                    eprintln!("{name} has no members");
                }
            }
        }
        GroupCommand::AddMember { group, user } => {
            let group = LocalGroupName::parse(&group).map_err(anyhow::Error::msg)?;
            gatehouse
                .edit_local_user_groups(&user, &GroupEdit::Join(group.clone()))
                .await?;
            println!("{user} is in {group}");
        }
        GroupCommand::RemoveMember { group, user } => {
            let group = LocalGroupName::parse(&group).map_err(anyhow::Error::msg)?;
            gatehouse
                .edit_local_user_groups(&user, &GroupEdit::Leave(group.clone()))
                .await?;
            println!("{user} is not in {group}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn dash_if_empty(text: String) -> String {
    if text.is_empty() { "-".into() } else { text }
}

pub(crate) async fn lockout(gatehouse: &Gatehouse, command: LockoutCommand) -> Result<ExitCode> {
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
pub(crate) fn warn_removal(removed: &gatehouse_core::Removed) {
    if let Some(warning) = removed.warning() {
        eprintln!("warning: {warning}");
    }
}

/// Shows a new TOTP enrollment once: QR code, URI and secret.
pub(crate) fn print_enrollment(name: &str, enrollment: &TotpEnrollment) {
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

/// `(line number, username, password)` of each user in an import file;
/// every bad line is reported at once.
pub(crate) fn import_lines(text: &str) -> Result<Vec<(usize, String, String)>> {
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
