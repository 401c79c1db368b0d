//! The process-wide registry of throttles: every hook of one app (token) on one shop shares
//! one REST pacer and one GraphQL throttle, as Shopify's limits are per app and shop.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use super::graphql_throttle::GraphqlThrottle;
use super::rest_pacer::RestPacer;

/// The throttles of one app on one shop.
#[derive(Debug)]
pub(crate) struct Throttles {
    /// Paces REST requests by the call-limit bucket.
    pub(crate) rest: Arc<RestPacer>,
    /// Admits GraphQL queries by the cost bucket.
    pub(crate) graphql: GraphqlThrottle,
}

/// A registry key: the shop (lower-cased `host[:port]`) and a keyed hash of the token, so the
/// token itself is never kept (the hash's keys are random per process).
type Key = (String, u64);

static REGISTRY: LazyLock<Mutex<HashMap<Key, Weak<Throttles>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static TOKEN_HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// The throttles of the app whose token is `token` on `shop`, shared with every live hook of
/// the same pair; created when there is none.
pub(crate) fn throttles_for(shop: &str, token: &str) -> Arc<Throttles> {
    let key = (shop.to_ascii_lowercase(), TOKEN_HASHER.hash_one(token));
    // A panic while holding the lock leaves the map usable.
    let mut registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(throttles) = registry.get(&key).and_then(Weak::upgrade) {
        return throttles;
    }
    registry.retain(|_, weak| weak.strong_count() > 0);
    let throttles = Arc::new(Throttles {
        rest: Arc::new(RestPacer::new(shop)),
        graphql: GraphqlThrottle::new(shop),
    });
    registry.insert(key, Arc::downgrade(&throttles));
    throttles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pair_one_set_of_throttles() {
        let a = throttles_for("Shop-R.myshopify.com", "token-1");
        let b = throttles_for("shop-r.myshopify.com", "token-1");
        let other_app = throttles_for("shop-r.myshopify.com", "token-2");
        let other_shop = throttles_for("shop-s.myshopify.com", "token-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other_app));
        assert!(!Arc::ptr_eq(&a, &other_shop));
        // Once no hook holds them, they go.
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(weak.upgrade().is_none());
    }
}
