use std::sync::atomic::AtomicUsize;
use std::sync::{Mutex, MutexGuard};

use crate::Credentials;
use crate::accounts::TokenStore;
use crate::clock::Clock;
use crate::faults::FaultState;
use crate::limits::Limits;
use crate::seed::SeedData;
use crate::stats::Stats;
use crate::store::Store;

/// Everything a request can touch. Locks are never held across an await.
pub(crate) struct App {
    pub store: Mutex<Store>,
    pub initial: SeedData,
    pub credentials: Credentials,
    pub clock: Clock,
    pub tokens: Mutex<TokenStore>,
    pub limits: Mutex<Limits>,
    pub in_flight: AtomicUsize,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<Stats>,
}

/// A poisoned lock only means another request panicked mid-update; the sandbox keeps serving.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
