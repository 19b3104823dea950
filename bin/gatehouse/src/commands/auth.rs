//! `gatehouse auth`: one login through the service, as a RADIUS client
//! would make it (the password from stdin).

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_core::{Gatehouse, LoginStep};

use crate::EXIT_NO;
use crate::commands::next_secret_line;

pub(crate) async fn auth(gatehouse: &Gatehouse, user: &str, client: &str) -> Result<ExitCode> {
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
