//! The shared Zoho access token: processes on one store (here: separate pools) refresh it once
//! between them, reuse it, drop it when Zoho refuses it, and cannot read it without the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use deskhand::store::{TokenKey, TokenVault};
use zoho_desk_mcp::zoho::{Mint, Secret, SharedToken, TokenShare};

fn token(value: &str) -> SharedToken {
    SharedToken {
        value: Secret::new(value),
        refresh_at: SystemTime::now() + Duration::from_secs(600),
    }
}

/// A mint that counts its calls and returns `value` once `gate` opens.
fn mint<'a>(
    calls: &'a AtomicUsize,
    gate: Option<Arc<tokio::sync::Semaphore>>,
    value: &'a str,
) -> Mint<'a> {
    Box::new(move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = gate {
                let _ = gate.acquire().await.unwrap();
            }
            Ok(token(value))
        })
    })
}

#[tokio::test]
async fn processes_on_one_store_refresh_once_and_share_the_token() {
    for backend in common::store_backends() {
        let key = TokenKey::from_bytes(&[3u8; 32]).unwrap();
        let a = TokenVault::new(backend.open().await, key.clone(), "process-a");
        let b = TokenVault::new(backend.open().await, key.clone(), "process-b");
        let share_key = common::unique_name("conn");
        let calls = AtomicUsize::new(0);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));

        // A starts refreshing and is held inside Zoho's token endpoint.
        let first = a.token(&share_key, mint(&calls, Some(gate.clone()), "tok-a"));
        tokio::pin!(first);
        let waited = tokio::time::timeout(Duration::from_millis(300), &mut first).await;
        assert!(
            waited.is_err(),
            "{}: A finished without the gate",
            backend.name
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{}", backend.name);

        // B asks meanwhile: it must wait for A's token, not mint its own.
        let second = b.token(&share_key, mint(&calls, None, "tok-b"));
        tokio::pin!(second);
        let waited = tokio::time::timeout(Duration::from_millis(300), &mut second).await;
        assert!(waited.is_err(), "{}: B did not wait for A", backend.name);
        gate.add_permits(1);
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first.unwrap().value.expose(), "tok-a", "{}", backend.name);
        assert_eq!(second.unwrap().value.expose(), "tok-a", "{}", backend.name);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{}: one refresh",
            backend.name
        );

        // Reused while live.
        let again = b
            .token(&share_key, mint(&calls, None, "tok-b"))
            .await
            .unwrap();
        assert_eq!(again.value.expose(), "tok-a");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // A token Zoho refused is dropped for everyone; the next caller mints.
        b.forget(&share_key, &Secret::new("tok-a")).await;
        let fresh = a
            .token(&share_key, mint(&calls, None, "tok-c"))
            .await
            .unwrap();
        assert_eq!(fresh.value.expose(), "tok-c");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Forgetting a token that is no longer current changes nothing.
        a.forget(&share_key, &Secret::new("tok-a")).await;
        let same = b
            .token(&share_key, mint(&calls, None, "tok-d"))
            .await
            .unwrap();
        assert_eq!(same.value.expose(), "tok-c");

        // Without the key the stored token is useless: another key cannot open it.
        let other = TokenVault::new(
            backend.open().await,
            TokenKey::from_bytes(&[4u8; 32]).unwrap(),
            "process-c",
        );
        let own = other
            .token(&share_key, mint(&calls, None, "tok-e"))
            .await
            .unwrap();
        assert_eq!(own.value.expose(), "tok-e", "{}", backend.name);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}

#[tokio::test]
async fn a_failed_refresh_frees_the_lease_at_once() {
    for backend in common::store_backends() {
        let key = TokenKey::from_bytes(&[5u8; 32]).unwrap();
        let a = TokenVault::new(backend.open().await, key.clone(), "process-a");
        let share_key = common::unique_name("conn");
        let failing: Mint<'_> = Box::new(|| {
            Box::pin(async {
                Err(zoho_desk_mcp::zoho::ZohoError::Auth {
                    code: "Access Denied".into(),
                    message: "limit".into(),
                })
            })
        });
        assert!(a.token(&share_key, failing).await.is_err());
        let b = TokenVault::new(backend.open().await, key, "process-b");
        let calls = AtomicUsize::new(0);
        let got = tokio::time::timeout(
            Duration::from_secs(5),
            b.token(&share_key, mint(&calls, None, "tok")),
        )
        .await
        .expect("the lease was released")
        .unwrap();
        assert_eq!(got.value.expose(), "tok", "{}", backend.name);
    }
}
