//! One Zoho access token per connection for every process on a store: CLI commands, approvals
//! and scheduler replicas reuse it instead of each spending one of the ten tokens Zoho issues per
//! refresh token in ten minutes. A refresh is single-flight across processes through a lease on
//! the connection's row (a conditional upsert, atomic on both backends); the others wait for the
//! leaseholder's token. Tokens are sealed with AES-256-GCM under a key that never enters the
//! store ([`TokenKey`]), so a copy of the database holds no usable credential.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest;
use zoho_desk_mcp::zoho::{Mint, Secret, SharedToken, TokenShare, ZohoError};

use super::{Store, StoreError, col};

/// How long a process may hold the refresh lease: longer than one token request can take (the
/// client's timeout is 30 s by default), short enough that a crashed holder does not stall the
/// others for long.
const LEASE: Duration = Duration::from_secs(45);
/// How often a process waiting for another's refresh looks again.
const POLL: Duration = Duration::from_millis(50);

/// The 256-bit key that seals shared tokens. It lives outside the store: in
/// `DESKHAND_TOKEN_KEY` (64 hex digits; what replicas on several machines share) or in
/// `token.key` in the user's config directory, created on first use readable by the user only.
#[derive(Clone)]
pub struct TokenKey(Arc<LessSafeKey>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(***)")
    }
}

impl TokenKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<TokenKey, StoreError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| StoreError::Invalid("the token key is not a 256-bit key".into()))?;
        Ok(TokenKey(Arc::new(LessSafeKey::new(key))))
    }

    fn from_hex(text: &str, origin: &str) -> Result<TokenKey, StoreError> {
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "{origin} must hold 64 hex digits (a 256-bit key); generate one with `openssl rand -hex 32`"
                ))
            })?;
        Self::from_bytes(&bytes)
    }

    /// `DESKHAND_TOKEN_KEY`, else the key file in `dir` (created if missing).
    pub fn load_or_create(dir: Option<&Path>) -> Result<TokenKey, StoreError> {
        if let Some(text) = std::env::var("DESKHAND_TOKEN_KEY")
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            return Self::from_hex(&text, "DESKHAND_TOKEN_KEY");
        }
        let dir = dir.ok_or_else(|| {
            StoreError::Invalid(
                "no config directory for the token key: set HOME, DESKHAND_CONFIG_DIR or DESKHAND_TOKEN_KEY".into(),
            )
        })?;
        let path = dir.join("token.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(dir, &path),
            Err(e) => Err(StoreError::Invalid(format!(
                "cannot read the token key {}: {e}",
                path.display()
            ))),
        }
    }

    fn create(dir: &Path, path: &PathBuf) -> Result<TokenKey, StoreError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| StoreError::Invalid("the system random source failed".into()))?;
        let fail = |e: std::io::Error| {
            StoreError::Invalid(format!(
                "cannot write the token key {}: {e}",
                path.display()
            ))
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        // Two processes starting at once may both create a key; the rename makes the last one
        // win, and both then read it back so they agree.
        zoho_desk_mcp::zoho::connections::write_private(path, &hex::encode(bytes)).map_err(fail)?;
        let text = std::fs::read_to_string(path).map_err(fail)?;
        Self::from_hex(&text, &path.display().to_string())
    }

    fn seal(&self, share_key: &str, token: &str) -> Result<(String, String), StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Invalid("the system random source failed".into()))?;
        let mut data = token.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(share_key.as_bytes()),
                &mut data,
            )
            .map_err(|_| StoreError::Invalid("could not seal the access token".into()))?;
        Ok((hex::encode(nonce), hex::encode(data)))
    }

    /// `None` when the row was sealed under another key (or tampered with): the token is then
    /// simply not reusable, and a fresh one replaces it.
    fn open(&self, share_key: &str, nonce: &str, sealed: &str) -> Option<String> {
        let nonce: [u8; NONCE_LEN] = hex::decode(nonce).ok()?.try_into().ok()?;
        let mut data = hex::decode(sealed).ok()?;
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(share_key.as_bytes()),
                &mut data,
            )
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

fn digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A live token row as read from the store.
struct Row {
    nonce: Option<String>,
    sealed: Option<String>,
    refresh_at: Option<i64>,
}

impl Store {
    async fn token_row(&self, share_key: &str) -> Result<Option<Row>, StoreError> {
        let row =
            sqlx::query("SELECT nonce, sealed, refresh_at FROM zoho_tokens WHERE share_key = $1")
                .bind(share_key)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            Ok(Row {
                nonce: col(&r, "nonce")?,
                sealed: col(&r, "sealed")?,
                refresh_at: col(&r, "refresh_at")?,
            })
        })
        .transpose()
    }

    /// Takes the refresh lease if nobody holds a live one; `true` when this process got it.
    async fn claim_token_lease(&self, share_key: &str, owner: &str) -> Result<bool, StoreError> {
        let now = self.now();
        let done = sqlx::query(
            "INSERT INTO zoho_tokens (share_key, lease_owner, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (share_key) DO UPDATE SET lease_owner = $2, lease_until = $3 \
             WHERE zoho_tokens.lease_until IS NULL OR zoho_tokens.lease_until < $4",
        )
        .bind(share_key)
        .bind(owner)
        .bind(now + LEASE.as_millis() as i64)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_token_lease(&self, share_key: &str, owner: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE zoho_tokens SET lease_owner = NULL, lease_until = NULL \
             WHERE share_key = $1 AND lease_owner = $2",
        )
        .bind(share_key)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn put_token(
        &self,
        share_key: &str,
        owner: &str,
        sealed: (String, String),
        token_digest: &str,
        refresh_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE zoho_tokens SET nonce = $3, sealed = $4, token_digest = $5, refresh_at = $6, \
             lease_owner = NULL, lease_until = NULL WHERE share_key = $1 AND lease_owner = $2",
        )
        .bind(share_key)
        .bind(owner)
        .bind(sealed.0)
        .bind(sealed.1)
        .bind(token_digest)
        .bind(refresh_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn drop_token(&self, share_key: &str, token_digest: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE zoho_tokens SET nonce = NULL, sealed = NULL, token_digest = NULL, \
             refresh_at = NULL WHERE share_key = $1 AND token_digest = $2",
        )
        .bind(share_key)
        .bind(token_digest)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// How many connections have a token in the store (for `doctor` and tests).
    pub async fn shared_token_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM zoho_tokens WHERE sealed IS NOT NULL")
            .fetch_one(self.pool())
            .await?;
        col(&row, "n")
    }
}

/// The store as a [`TokenShare`] for the Zoho client.
#[derive(Clone, Debug)]
pub struct TokenVault {
    store: Store,
    key: TokenKey,
    owner: String,
}

impl TokenVault {
    /// `owner` names this process in the lease (it must differ between processes).
    pub fn new(store: Store, key: TokenKey, owner: impl Into<String>) -> TokenVault {
        TokenVault {
            store,
            key,
            owner: owner.into(),
        }
    }

    fn live(&self, share_key: &str, row: &Row) -> Option<SharedToken> {
        let refresh_at = row.refresh_at?;
        if refresh_at <= epoch_ms(SystemTime::now()) {
            return None;
        }
        let value = self
            .key
            .open(share_key, row.nonce.as_deref()?, row.sealed.as_deref()?)?;
        Some(SharedToken {
            value: Secret::new(value),
            refresh_at: UNIX_EPOCH + Duration::from_millis(refresh_at as u64),
        })
    }

    async fn token_inner(&self, share_key: &str, mint: Mint<'_>) -> Result<SharedToken, ZohoError> {
        let store_error = |e: StoreError| {
            ZohoError::Transport(format!("the shared Zoho token in the run store: {e}"))
        };
        let deadline = tokio::time::Instant::now() + LEASE + LEASE;
        loop {
            let row = self.store.token_row(share_key).await.map_err(store_error)?;
            if let Some(token) = row.as_ref().and_then(|r| self.live(share_key, r)) {
                return Ok(token);
            }
            if self
                .store
                .claim_token_lease(share_key, &self.owner)
                .await
                .map_err(store_error)?
            {
                // Another process may have stored its token between the read and the claim.
                let row = self.store.token_row(share_key).await.map_err(store_error)?;
                if let Some(token) = row.as_ref().and_then(|r| self.live(share_key, r)) {
                    let _ = self.store.release_token_lease(share_key, &self.owner).await;
                    return Ok(token);
                }
                return match mint().await {
                    Ok(token) => {
                        let sealed = self
                            .key
                            .seal(share_key, token.value.expose())
                            .map_err(store_error)?;
                        self.store
                            .put_token(
                                share_key,
                                &self.owner,
                                sealed,
                                &digest(token.value.expose()),
                                epoch_ms(token.refresh_at),
                            )
                            .await
                            .map_err(store_error)?;
                        tracing::debug!("shared a new Zoho access token through the store");
                        Ok(token)
                    }
                    Err(e) => {
                        let _ = self.store.release_token_lease(share_key, &self.owner).await;
                        Err(e)
                    }
                };
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ZohoError::Transport(
                    "another deskhand process has held the Zoho token refresh for too long".into(),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl TokenShare for TokenVault {
    fn token<'a>(
        &'a self,
        key: &'a str,
        mint: Mint<'a>,
    ) -> BoxFuture<'a, Result<SharedToken, ZohoError>> {
        Box::pin(self.token_inner(key, mint))
    }

    fn forget<'a>(&'a self, key: &'a str, failed: &'a Secret) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.store.drop_token(key, &digest(failed.expose())).await {
                tracing::warn!(error = %e, "could not drop a refused Zoho token from the store");
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_under_their_key_and_row() {
        let key = TokenKey::from_bytes(&[7u8; 32]).unwrap();
        let (nonce, sealed) = key.seal("conn-a", "1000.secret-token").unwrap();
        assert!(!sealed.contains(&hex::encode("secret-token")));
        assert_eq!(
            key.open("conn-a", &nonce, &sealed).as_deref(),
            Some("1000.secret-token")
        );
        assert_eq!(key.open("conn-b", &nonce, &sealed), None);
        let other = TokenKey::from_bytes(&[8u8; 32]).unwrap();
        assert_eq!(other.open("conn-a", &nonce, &sealed), None);
    }
}
