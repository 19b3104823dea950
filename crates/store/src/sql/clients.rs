//! RADIUS clients kept in the store (`ClientStore`): secrets sealed.

use async_trait::async_trait;
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{ClientStore, StoreError, StoreResult};

use super::{DbRow, Store, get, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::unavailable;

fn client_from_row(seal: &SealingKey, row: &DbRow) -> StoreResult<RadiusClient> {
    let name: String = get(row, "name")?;
    let sealed: Vec<u8> = get(row, "secret")?;
    let secret = sealing::open(
        seal,
        &sealing::client_context(&name),
        &sealed,
        &format!("the shared secret of RADIUS client {name:?}"),
    )?;
    let networks: String = get(row, "networks")?;
    let networks = networks
        .split(',')
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse()
                .map_err(|e: gatehouse_core::clients::NetworkParseError| {
                    StoreError::Corrupt(e.to_string())
                })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(RadiusClient {
        name,
        networks,
        secret,
        require_message_authenticator: get::<i64>(row, "require_message_authenticator")? != 0,
        limit_proxy_state: get::<i64>(row, "limit_proxy_state")? != 0,
    })
}

#[async_trait]
impl ClientStore for Store {
    async fn radius_clients(&self) -> StoreResult<Vec<RadiusClient>> {
        let rows = sqlx::query(
            "SELECT name, networks, secret, require_message_authenticator, limit_proxy_state
             FROM radius_clients ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| client_from_row(self.seal(), row))
            .collect()
    }

    async fn add_radius_client(&self, client: &RadiusClient) -> StoreResult<()> {
        let networks: Vec<String> = client.networks.iter().map(ToString::to_string).collect();
        let result = sqlx::query(
            "INSERT INTO radius_clients (name, networks, secret, require_message_authenticator, limit_proxy_state)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&client.name)
        .bind(networks.join(","))
        .bind(self.seal().seal(&sealing::client_context(&client.name), &client.secret))
        .bind(i64::from(client.require_message_authenticator))
        .bind(i64::from(client.limit_proxy_state))
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn delete_radius_client(&self, name: &str) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM radius_clients WHERE name = $1")
            .bind(name)
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}
