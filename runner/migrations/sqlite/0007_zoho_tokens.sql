-- One Zoho access token per connection (per refresh token of a client on an accounts server,
-- named by a digest in `share_key`) for every process on the store. The token is sealed with a
-- key kept outside the store (AES-256-GCM: `nonce` and `sealed` are hex); `token_digest` lets a
-- process drop a token Zoho refused without decrypting it. Whoever holds the lease
-- (`lease_owner` until `lease_until`, epoch ms) is the one process asking Zoho for a new token.
CREATE TABLE zoho_tokens (
    share_key TEXT PRIMARY KEY,
    nonce TEXT,
    sealed TEXT,
    token_digest TEXT,
    refresh_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT
);
