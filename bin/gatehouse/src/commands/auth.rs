//! `gatehouse auth`: one login through the service, as a RADIUS client
//! would make it (the password from stdin).

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_core::{Authenticated, Authorization, Gatehouse, LoginStep, Route};

use crate::EXIT_NO;
use crate::commands::next_secret_line;

pub(crate) async fn auth(gatehouse: &Gatehouse, user: &str, route: &Route<'_>) -> Result<ExitCode> {
    let client = route.client;
    let mut lines = std::io::stdin().lines();
    let password = next_secret_line(&mut lines, "password")?;
    let (step, authorization) = match gatehouse.login_through(user, &password, route).await {
        Ok(Authenticated {
            step,
            authorization,
        }) => (Ok(step), authorization),
        Err(refusal) => (Err(refusal), Authorization::default()),
    };
    let outcome = match step {
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
    // The policy that decided, and what it gives, when one did.
    let decided = || {
        if let Some(policy) = route.policy() {
            println!("Policy: {policy}");
        }
    };
    match outcome {
        Ok(_) => {
            println!("Accept");
            decided();
            for (attribute, value) in &authorization.reply {
                println!("  {attribute} = {value}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            println!("Reject: {refusal}");
            decided();
            Ok(ExitCode::from(EXIT_NO))
        }
    }
}
