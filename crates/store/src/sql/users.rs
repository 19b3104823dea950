//! Local users and TOTP enrollments (`LocalUserStore`,
//! `SecondFactorStore`): each row tagged, secrets sealed.

use async_trait::async_trait;
use gatehouse_core::identity::{SeatKey, Username};
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{
    GroupEdit, LocalGroup, LocalGroupName, LocalUserRecord, LocalUserStore, SecondFactorStore,
    StoreError, StoreResult, TotpRecord,
};
use gatehouse_core::totp::{TotpMode, TotpSecret};
use gatehouse_license::jiff::Timestamp;

use super::{Db, DbRow, Store, get, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{micros, timestamp, unavailable};

/// What [`Store::change_local_user`] changes; `None`: kept.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AccountChange<'a> {
    pub(crate) password_hash: Option<&'a str>,
    pub(crate) enabled: Option<bool>,
    pub(crate) second_factor_exempt: Option<bool>,
    pub(crate) groups: Option<&'a GroupEdit>,
}

/// What a change of an account reads first: password hash, enabled,
/// exempt, member_of and tag.
type AccountColumns = (String, i64, i64, String, Option<Vec<u8>>);

impl Store {
    /// Changes a local user's password hash, whether enabled, whether
    /// exempt from the second factor and its groups, tagging the row
    /// anew; `false` when there is no such user. A change of another
    /// column meanwhile (another node) is read again, so the tag always
    /// covers what the row holds. Setting a password makes an account
    /// altered outside Gatehouse good again, disabled, not exempt and in
    /// no group until set so through Gatehouse: values written in are
    /// never made authentic.
    pub(crate) async fn change_local_user(
        &self,
        username: &Username,
        change: AccountChange<'_>,
    ) -> StoreResult<bool> {
        for _ in 0..16 {
            let mut tx = self.begin_write().await?;
            if let Some(edit) = change.groups {
                touch_groups(&mut tx, edit.joined()).await?;
            }
            let row: Option<AccountColumns> = sqlx::query_as(
                "SELECT password_hash, enabled, second_factor_exempt, member_of, tag FROM local_users WHERE username = $1",
            )
            .bind(username.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
            let Some((old_hash, old_enabled, old_exempt, old_member_of, tag)) = row else {
                return Ok(false);
            };
            // Values written in outside Gatehouse are not carried into
            // the new tag: a row whose tag fails keeps only what this
            // call sets.
            let authentic = sealing::Tagged::LocalUser {
                username: username.as_str(),
                password_hash: &old_hash,
                enabled: old_enabled != 0,
                second_factor_exempt: old_exempt != 0,
                member_of: &old_member_of,
            }
            .verify(self.seal(), tag.as_deref());
            let new_hash = change.password_hash.unwrap_or(&old_hash);
            let new_enabled = change.enabled.unwrap_or(authentic && old_enabled != 0);
            let new_exempt = change
                .second_factor_exempt
                .unwrap_or(authentic && old_exempt != 0);
            let old_groups = if authentic {
                groups_of(&old_member_of)?
            } else {
                Vec::new()
            };
            let new_member_of = match change.groups {
                Some(edit) => member_of(&edit.apply(&old_groups)),
                None => member_of(&old_groups),
            };
            let changed = sqlx::query(
                "UPDATE local_users SET password_hash = $1, enabled = $2, second_factor_exempt = $3, member_of = $4, tag = $5
                 WHERE username = $6 AND password_hash = $7 AND enabled = $8 AND second_factor_exempt = $9 AND member_of = $10",
            )
            .bind(new_hash)
            .bind(i64::from(new_enabled))
            .bind(i64::from(new_exempt))
            .bind(&new_member_of)
            .bind(
                sealing::Tagged::LocalUser {
                    username: username.as_str(),
                    password_hash: new_hash,
                    enabled: new_enabled,
                    second_factor_exempt: new_exempt,
                    member_of: &new_member_of,
                }
                .tag(self.seal()),
            )
            .bind(username.as_str())
            .bind(&old_hash)
            .bind(old_enabled)
            .bind(old_exempt)
            .bind(&old_member_of)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if changed.rows_affected() == 1 {
                tx.commit().await.map_err(unavailable)?;
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(
            "the account kept changing; try again".into(),
        ))
    }
}

/// Groups as `member_of` holds them: sorted, one per line.
fn member_of(groups: &[LocalGroupName]) -> String {
    let mut names: Vec<&str> = groups.iter().map(LocalGroupName::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names.join("\n")
}

/// Marks a change of membership on each of `groups` inside `tx`, which
/// orders it with the group's deletion; [`StoreError::Missing`] names the
/// first that does not exist.
async fn touch_groups(
    tx: &mut sqlx::Transaction<'static, Db>,
    groups: &[LocalGroupName],
) -> StoreResult<()> {
    for group in groups {
        let touched = sqlx::query(
            "UPDATE local_groups SET membership_changes = membership_changes + 1 WHERE name = $1",
        )
        .bind(group.as_str())
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::Missing(format!(
                "local group {:?}",
                group.as_str()
            )));
        }
    }
    Ok(())
}

/// A local account; one whose tag fails (a password or account
/// written in outside Gatehouse) is shown disabled, with no
/// password that any text matches: it signs nobody in.
fn local_user_from_row(seal: &SealingKey, row: &DbRow) -> StoreResult<LocalUserRecord> {
    let username: String = get(row, "username")?;
    let password_hash: String = get(row, "password_hash")?;
    let enabled = get::<i64>(row, "enabled")? != 0;
    let second_factor_exempt = get::<i64>(row, "second_factor_exempt")? != 0;
    let member_of: String = get(row, "member_of")?;
    let tag: Option<Vec<u8>> = get(row, "tag")?;
    let authentic = sealing::Tagged::LocalUser {
        username: &username,
        password_hash: &password_hash,
        enabled,
        second_factor_exempt,
        member_of: &member_of,
    }
    .verify(seal, tag.as_deref());
    if !authentic {
        tracing::error!(
            username = %username,
            "local account changed outside Gatehouse (its tag does not verify): it signs nobody in; set its password again"
        );
    }
    Ok(LocalUserRecord {
        username: Username::parse(&username)
            .map_err(|e| StoreError::Corrupt(format!("username {username:?}: {e}")))?,
        display_name: get(row, "display_name")?,
        password_hash: if authentic {
            password_hash
        } else {
            ALTERED_PASSWORD.to_string()
        },
        enabled: enabled && authentic,
        second_factor_exempt: second_factor_exempt && authentic,
        groups: if authentic {
            groups_of(&member_of)?
        } else {
            Vec::new()
        },
        created_at: timestamp(get(row, "created_at")?)?,
    })
}

/// The groups `member_of` names.
fn groups_of(member_of: &str) -> StoreResult<Vec<LocalGroupName>> {
    member_of
        .split('\n')
        .filter(|name| !name.is_empty())
        .map(|name| LocalGroupName::parse(name).map_err(StoreError::Corrupt))
        .collect()
}

/// Stands for a password hash whose row was changed outside
/// Gatehouse: not a PHC string, so no password verifies.
const ALTERED_PASSWORD: &str = "!altered outside Gatehouse";

const LOCAL_USER_COLUMNS: &str = "username, display_name, password_hash, enabled, second_factor_exempt, member_of, created_at, tag";

#[async_trait]
impl LocalUserStore for Store {
    async fn local_user(&self, username: &Username) -> StoreResult<Option<LocalUserRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users WHERE username = $1"
        )))
        .bind(username.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        row.as_ref()
            .map(|row| local_user_from_row(self.seal(), row))
            .transpose()
    }

    async fn add_local_user(&self, user: &LocalUserRecord) -> StoreResult<()> {
        let member_of = member_of(&user.groups);
        let mut tx = self.begin_write().await?;
        touch_groups(&mut tx, &user.groups).await?;
        let result = sqlx::query(
            "INSERT INTO local_users (username, display_name, password_hash, enabled, second_factor_exempt, member_of, created_at, tag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.username.as_str())
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(i64::from(user.enabled))
        .bind(i64::from(user.second_factor_exempt))
        .bind(&member_of)
        .bind(micros(user.created_at))
        .bind(
            sealing::Tagged::LocalUser {
                username: user.username.as_str(),
                password_hash: &user.password_hash,
                enabled: user.enabled,
                second_factor_exempt: user.second_factor_exempt,
                member_of: &member_of,
            }
            .tag(self.seal()),
        )
        .execute(&mut *tx)
        .await;
        inserted(result)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn set_local_user_enabled(
        &self,
        username: &Username,
        enabled: bool,
    ) -> StoreResult<bool> {
        let change = AccountChange {
            enabled: Some(enabled),
            ..AccountChange::default()
        };
        self.change_local_user(username, change).await
    }

    async fn set_local_user_password(
        &self,
        username: &Username,
        password_hash: &str,
    ) -> StoreResult<bool> {
        let change = AccountChange {
            password_hash: Some(password_hash),
            ..AccountChange::default()
        };
        self.change_local_user(username, change).await
    }

    async fn set_local_user_second_factor_exempt(
        &self,
        username: &Username,
        exempt: bool,
    ) -> StoreResult<bool> {
        let change = AccountChange {
            second_factor_exempt: Some(exempt),
            ..AccountChange::default()
        };
        self.change_local_user(username, change).await
    }

    async fn delete_local_user(&self, username: &Username) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM local_users WHERE username = $1")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM totp WHERE seat_key = $1")
            .bind(SeatKey::local(username).as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn local_directory_generation(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'local_directory'")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)
    }

    async fn local_user_email(&self, username: &Username) -> StoreResult<Option<String>> {
        let email: Option<(Option<String>,)> =
            sqlx::query_as("SELECT email FROM local_users WHERE username = $1")
                .bind(username.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        Ok(email.and_then(|(email,)| email))
    }

    async fn set_local_user_email(
        &self,
        username: &Username,
        email: Option<&str>,
    ) -> StoreResult<bool> {
        let result = sqlx::query("UPDATE local_users SET email = $1 WHERE username = $2")
            .bind(email)
            .bind(username.as_str())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }

    async fn local_users(&self) -> StoreResult<Vec<LocalUserRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users ORDER BY username"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| local_user_from_row(self.seal(), row))
            .collect()
    }

    async fn add_local_group(&self, name: &LocalGroupName, at: Timestamp) -> StoreResult<()> {
        let result = sqlx::query("INSERT INTO local_groups (name, created_at) VALUES ($1, $2)")
            .bind(name.as_str())
            .bind(micros(at))
            .execute(self.writer())
            .await;
        inserted(result)
    }

    async fn delete_local_group(&self, name: &LocalGroupName) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM local_groups WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users WHERE member_of <> ''"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        for row in &rows {
            let user = local_user_from_row(self.seal(), row)?;
            // Only authentic rows list groups; an altered row stays as
            // it is (it signs nobody in until its password is set).
            if !user.groups.contains(name) {
                continue;
            }
            let old_member_of: String = get(row, "member_of")?;
            let groups: Vec<LocalGroupName> = user
                .groups
                .into_iter()
                .filter(|group| group != name)
                .collect();
            let new_member_of = member_of(&groups);
            let changed = sqlx::query(
                "UPDATE local_users SET member_of = $1, tag = $2
                 WHERE username = $3 AND password_hash = $4 AND enabled = $5 AND second_factor_exempt = $6 AND member_of = $7",
            )
            .bind(&new_member_of)
            .bind(
                sealing::Tagged::LocalUser {
                    username: user.username.as_str(),
                    password_hash: &user.password_hash,
                    enabled: user.enabled,
                    second_factor_exempt: user.second_factor_exempt,
                    member_of: &new_member_of,
                }
                .tag(self.seal()),
            )
            .bind(user.username.as_str())
            .bind(&user.password_hash)
            .bind(i64::from(user.enabled))
            .bind(i64::from(user.second_factor_exempt))
            .bind(&old_member_of)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if changed.rows_affected() != 1 {
                return Err(StoreError::Unavailable(
                    "an account in the group changed meanwhile; try again".into(),
                ));
            }
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn local_groups(&self) -> StoreResult<Vec<LocalGroup>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, created_at FROM local_groups ORDER BY name")
                .fetch_all(self.pool())
                .await
                .map_err(unavailable)?;
        rows.into_iter()
            .map(|(name, created_at)| {
                Ok(LocalGroup {
                    name: LocalGroupName::parse(&name).map_err(StoreError::Corrupt)?,
                    created_at: timestamp(created_at)?,
                })
            })
            .collect()
    }

    async fn edit_local_user_groups(
        &self,
        username: &Username,
        edit: &GroupEdit,
    ) -> StoreResult<bool> {
        let change = AccountChange {
            groups: Some(edit),
            ..AccountChange::default()
        };
        self.change_local_user(username, change).await
    }
}

#[async_trait]
impl SecondFactorStore for Store {
    async fn totp(&self, seat: &SeatKey) -> StoreResult<Option<TotpRecord>> {
        let row = sqlx::query("SELECT secret, mode, enrolled_at FROM totp WHERE seat_key = $1")
            .bind(seat.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mode: Option<String> = get(&row, "mode")?;
        let mode = match mode {
            None => None,
            Some(text) => Some(
                TotpMode::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown TOTP mode {text:?}")))?,
            ),
        };
        let sealed: Vec<u8> = get(&row, "secret")?;
        let secret = sealing::open(
            self.seal(),
            &sealing::totp_context(seat.as_str()),
            &sealed,
            &format!("the TOTP secret of {}", seat.as_str()),
        )?;
        Ok(Some(TotpRecord {
            seat: seat.clone(),
            secret: TotpSecret::from_bytes(secret),
            mode,
            enrolled_at: timestamp(get(&row, "enrolled_at")?)?,
        }))
    }

    async fn enroll_totp(&self, record: &TotpRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO totp (seat_key, secret, mode, last_step, enrolled_at) VALUES ($1, $2, $3, -1, $4)
             ON CONFLICT (seat_key) DO UPDATE SET
                 secret = excluded.secret, mode = excluded.mode, last_step = -1, enrolled_at = excluded.enrolled_at",
        )
        .bind(record.seat.as_str())
        .bind(self.seal().seal(&sealing::totp_context(record.seat.as_str()), record.secret.as_bytes()))
        .bind(record.mode.map(TotpMode::as_str))
        .bind(micros(record.enrolled_at))
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn remove_totp(&self, seat: &SeatKey) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM totp WHERE seat_key = $1")
            .bind(seat.as_str())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn use_totp_step(&self, seat: &SeatKey, step: i64) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE totp SET last_step = $2 WHERE seat_key = $1 AND last_step < $2")
                .bind(seat.as_str())
                .bind(step)
                .execute(self.writer())
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}
