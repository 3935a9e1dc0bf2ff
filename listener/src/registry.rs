//! Open connections: their count per process and per client IP, and each one's state (a request
//! in flight, or idle since when), from which its closing time follows.

use super::Limits;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::time::Instant;

/// "No byte since the connection became idle."
const NONE: u64 = u64::MAX;

/// Every open connection of the process (both listeners share one registry, since they share
/// the descriptor limit).
pub struct Registry {
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    /// Oldest first (ids grow), so eviction closes the longest-open idle connection.
    all: BTreeMap<u64, Arc<Conn>>,
    by_ip: HashMap<IpAddr, BTreeMap<u64, Arc<Conn>>>,
}

impl Registry {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Open::default()),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Register a new connection from `ip`, closing an idle one when a cap is reached; `None`
    /// when the cap is reached and every connection in its scope is busy.
    pub fn admit(&self, ip: IpAddr) -> Option<Arc<Conn>> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let per_ip = self.limits.max_connections_per_ip;
        if per_ip > 0
            && open.by_ip.get(&ip).map_or(0, BTreeMap::len) >= per_ip
            && !open.evict_idle(Some(ip))
        {
            return None;
        }
        if open.all.len() >= self.limits.max_connections && !open.evict_idle(None) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            id,
            ip,
            epoch: self.epoch,
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
            evict: Notify::new(),
        });
        open.all.insert(id, conn.clone());
        open.by_ip.entry(ip).or_default().insert(id, conn.clone());
        Some(conn)
    }

    /// Forget a closed connection (an evicted one is already gone).
    pub fn release(&self, conn: &Conn) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(conn.id, conn.ip);
    }

    #[cfg(test)]
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap().all.len()
    }
}

impl Open {
    /// Close the oldest connection without a request in flight (of `ip`, or of anyone).
    fn evict_idle(&mut self, ip: Option<IpAddr>) -> bool {
        let scope = match ip {
            Some(ip) => self.by_ip.get(&ip),
            None => Some(&self.all),
        };
        let Some(victim) = scope.and_then(|conns| conns.values().find(|c| !c.in_flight())) else {
            return false;
        };
        let victim = victim.clone();
        self.remove(victim.id, victim.ip);
        victim.evict.notify_one();
        true
    }

    fn remove(&mut self, id: u64, ip: IpAddr) {
        self.all.remove(&id);
        if let Some(conns) = self.by_ip.get_mut(&ip) {
            conns.remove(&id);
            if conns.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }
}

/// One open connection.
pub struct Conn {
    id: u64,
    ip: IpAddr,
    epoch: Instant,
    accepted: Instant,
    in_flight: AtomicUsize,
    /// At least one request was read: an idle pause is now keep-alive, not a slow first request.
    served: AtomicBool,
    idle_since_ms: AtomicU64,
    first_byte_ms: AtomicU64,
    evict: Notify,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + std::time::Duration::from_millis(ms)
    }

    /// A request head was read; it is in flight until the returned guard is dropped.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Release);
        self.first_byte_ms.store(NONE, Ordering::Release);
        InFlight(self.clone())
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Bytes were read from the socket.
    pub fn bytes_arrived(&self) {
        if !self.in_flight() {
            let now = self.now_ms();
            let _ =
                self.first_byte_ms
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// When this connection is to be closed if nothing changes; `None` while a request is in
    /// flight.
    pub fn close_at(&self, limits: &Limits) -> Option<Instant> {
        if self.in_flight() {
            return None;
        }
        let first_byte = self.first_byte_ms.load(Ordering::Acquire);
        Some(if first_byte != NONE {
            self.at(first_byte) + limits.header_timeout
        } else if !self.served.load(Ordering::Acquire) {
            self.accepted + limits.header_timeout
        } else {
            self.at(self.idle_since_ms.load(Ordering::Acquire)) + limits.idle_timeout
        })
    }

    /// Resolves once the registry closed this connection to make room for a new one.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }
}

/// A request in flight on a connection.
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        conn.idle_since_ms.store(conn.now_ms(), Ordering::Release);
        conn.first_byte_ms.store(NONE, Ordering::Release);
        conn.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize) -> Limits {
        Limits {
            max_connections: max,
            max_connections_per_ip: per_ip,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn a_full_registry_makes_room_by_closing_the_oldest_idle_connection() {
        let registry = Registry::new(limits(2, 0));
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let oldest = registry.admit(ip).unwrap();
        let busy = registry.admit(ip).unwrap();
        let _request = busy.begin_request();
        let newest = registry.admit(ip).expect("the idle connection makes room");
        oldest.evicted().await; // notified (a stored permit: no wait)
        assert_eq!(registry.open_count(), 2);
        let _second = newest.begin_request();
        assert!(registry.admit(ip).is_none(), "every connection is busy");
    }

    #[tokio::test]
    async fn the_per_ip_cap_counts_one_address() {
        let registry = Registry::new(limits(100, 1));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let first = registry.admit(a).unwrap();
        let _busy = first.begin_request();
        assert!(registry.admit(a).is_none());
        assert!(
            registry.admit(b).is_some(),
            "another address is not affected"
        );
        drop(_busy);
        assert!(registry.admit(a).is_some(), "idle again: it makes room");
    }

    #[tokio::test]
    async fn closing_times_follow_the_connection_state() {
        let limits = Limits::default();
        let registry = Registry::new(limits.clone());
        let conn = registry.admit("127.0.0.1".parse().unwrap()).unwrap();
        let fresh = conn.close_at(&limits).unwrap();
        assert_eq!(fresh, conn.accepted + limits.header_timeout);
        let request = conn.begin_request();
        assert_eq!(conn.close_at(&limits), None);
        drop(request);
        let idle = conn.close_at(&limits).unwrap();
        assert!(idle > fresh, "keep-alive waits longer than a first request");
        conn.bytes_arrived();
        assert!(
            conn.close_at(&limits).unwrap() < idle,
            "the header timeout is shorter"
        );
        registry.release(&conn);
        assert_eq!(registry.open_count(), 0);
    }
}
