//! The user portal's sessions and when a user's factors were last used
//! (`PortalStore`).

use async_trait::async_trait;
use gatehouse_core::identity::{Identity, SeatKey};
use gatehouse_core::store::{
    FactorUses, PortalScope, PortalSessionRecord, PortalStore, StoreError, StoreResult,
};
use gatehouse_core::totp::TotpSecret;
use gatehouse_license::jiff::Timestamp;

use super::{Store, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{hash32, micros, source, timestamp, unavailable};

/// A portal session row as read: hash, seat, username, display name,
/// source, scope, CSRF token, created, expires, pending TOTP, tag.
type PortalRow = (
    Vec<u8>,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

#[async_trait]
impl PortalStore for Store {
    async fn factor_uses(&self, seat: &str) -> StoreResult<FactorUses> {
        let step: Option<(i64,)> = sqlx::query_as("SELECT last_step FROM totp WHERE seat_key = $1")
            .bind(seat)
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        let totp = match step {
            Some((step,)) if step >= 0 => Some(
                Timestamp::from_second(step.saturating_mul(gatehouse_core::totp::PERIOD))
                    .map_err(|_| StoreError::Corrupt(format!("TOTP time step {step}")))?,
            ),
            _ => None,
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT decided_by, MAX(decided_at) FROM pushes \
             WHERE seat_key = $1 AND decided_by IS NOT NULL AND decided_at IS NOT NULL GROUP BY decided_by",
        )
        .bind(seat)
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let phones = rows
            .into_iter()
            .map(|(device, at)| Ok((device, timestamp(at)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(FactorUses { totp, phones })
    }

    async fn add_portal_session(&self, session: &PortalSessionRecord) -> StoreResult<()> {
        let identity = &session.identity;
        let expires_at = micros(session.expires_at);
        let tag = sealing::Tagged::PortalSession {
            token_hash: &session.token_hash,
            seat: identity.seat.as_str(),
            username: &identity.username,
            source: identity.source.as_str(),
            scope: session.scope.as_str(),
            csrf: &session.csrf,
            expires_at,
        }
        .tag(self.seal());
        let pending = session.pending_totp.as_ref().map(|secret| {
            self.seal().seal(
                &sealing::pending_totp_context(&session.token_hash, identity.seat.as_str()),
                secret.as_bytes(),
            )
        });
        let result = sqlx::query(
            "INSERT INTO portal_sessions (token_hash, seat, username, display_name, source, scope, csrf, created_at, expires_at, pending_totp, tag) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(session.token_hash.to_vec())
        .bind(identity.seat.as_str())
        .bind(&*identity.username)
        .bind(&*identity.display_name)
        .bind(identity.source.as_str())
        .bind(session.scope.as_str())
        .bind(&session.csrf)
        .bind(micros(session.created_at))
        .bind(expires_at)
        .bind(pending)
        .bind(tag)
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn portal_session(
        &self,
        token_hash: &[u8; 32],
    ) -> StoreResult<Option<PortalSessionRecord>> {
        let row: Option<PortalRow> = sqlx::query_as(
            "SELECT token_hash, seat, username, display_name, source, scope, csrf, created_at, expires_at, pending_totp, tag \
             FROM portal_sessions WHERE token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        let Some((
            hash,
            seat,
            username,
            display_name,
            from,
            scope,
            csrf,
            created_at,
            expires_at,
            pending,
            tag,
        )) = row
        else {
            return Ok(None);
        };
        let authentic = sealing::Tagged::PortalSession {
            token_hash: &hash,
            seat: &seat,
            username: &username,
            source: &from,
            scope: &scope,
            csrf: &csrf,
            expires_at,
        }
        .verify(self.seal(), tag.as_deref());
        if !authentic {
            return Ok(None);
        }
        let scope = PortalScope::parse(&scope).ok_or_else(|| {
            StoreError::Corrupt(format!("unknown portal session scope {scope:?}"))
        })?;
        let pending_totp = match pending {
            None => None,
            Some(sealed) => Some(TotpSecret::from_bytes(sealing::open(
                self.seal(),
                &sealing::pending_totp_context(&hash, &seat),
                &sealed,
                "a portal session's TOTP secret",
            )?)),
        };
        Ok(Some(PortalSessionRecord {
            token_hash: hash32(hash)?,
            identity: Identity {
                seat: SeatKey::from_stored(seat),
                username: username.into(),
                display_name: display_name.into(),
                source: source(&from)?,
            },
            scope,
            csrf,
            created_at: timestamp(created_at)?,
            expires_at: timestamp(expires_at)?,
            pending_totp,
        }))
    }

    async fn set_portal_pending_totp(
        &self,
        token_hash: &[u8; 32],
        seat: &str,
        secret: Option<&TotpSecret>,
    ) -> StoreResult<bool> {
        let sealed = secret.map(|secret| {
            self.seal().seal(
                &sealing::pending_totp_context(token_hash, seat),
                secret.as_bytes(),
            )
        });
        let result = sqlx::query(
            "UPDATE portal_sessions SET pending_totp = $1 WHERE token_hash = $2 AND seat = $3",
        )
        .bind(sealed)
        .bind(token_hash.to_vec())
        .bind(seat)
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_portal_session(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_portal_sessions_of(&self, seat: &str) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM portal_sessions WHERE seat = $1")
            .bind(seat)
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn delete_expired_portal_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM portal_sessions WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
