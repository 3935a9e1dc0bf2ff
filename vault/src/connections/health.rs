//! Connection health: what each refresh outcome does to a connection's `health`, and which
//! event it emits.
//!
//! One event per outage, not per failure: `ok → failing` emits `connection.refresh_failed`
//! (later failures only count on), a rejected grant emits `connection.needs_reauth` once, and
//! the first success after either emits `connection.recovered` once. [`transition`] is the
//! whole rule (pure, unit-tested); [`record`] applies it inside the refresh transaction.

use crate::events;
use crate::store::connections::ConnectionRow;
use crate::store::events::HealthWrite;
use crate::store::{Store, StoreError, now_ms};
use nexus_protocol::webhooks::{
    ConnectionEventKind, ConnectionHealth, EventError, RefreshErrorCode,
};
use sqlx::AnyConnection;

/// How a refresh (or a re-authorization) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// New tokens were stored.
    Success,
    /// The provider could not be reached or answered 5xx/429/garbage; the grant may be fine.
    Transient(EventError),
    /// The provider rejected the grant.
    Rejected(EventError),
}

/// The health after an outcome, and the event to emit (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub health: ConnectionHealth,
    pub consecutive_failures: i64,
    pub event: Option<ConnectionEventKind>,
}

/// The rule: from `(health, consecutive_failures)` and an outcome to the next state.
pub fn transition(health: ConnectionHealth, failures: i64, outcome: &Outcome) -> Transition {
    use ConnectionEventKind as E;
    use ConnectionHealth as H;
    match (outcome, health) {
        (Outcome::Success, H::Ok) => Transition {
            health: H::Ok,
            consecutive_failures: 0,
            event: None,
        },
        (Outcome::Success, H::Failing | H::NeedsReauth) => Transition {
            health: H::Ok,
            consecutive_failures: 0,
            event: Some(E::Recovered),
        },
        (Outcome::Transient(_), H::Ok) => Transition {
            health: H::Failing,
            consecutive_failures: failures + 1,
            event: Some(E::RefreshFailed),
        },
        (Outcome::Transient(_), H::Failing) => Transition {
            health: H::Failing,
            consecutive_failures: failures + 1,
            event: None,
        },
        // A transient failure cannot make a rejected grant good again (nor worse).
        (Outcome::Transient(_), H::NeedsReauth) => Transition {
            health: H::NeedsReauth,
            consecutive_failures: failures + 1,
            event: None,
        },
        (Outcome::Rejected(_), H::Ok | H::Failing) => Transition {
            health: H::NeedsReauth,
            consecutive_failures: failures + 1,
            event: Some(E::NeedsReauth),
        },
        (Outcome::Rejected(_), H::NeedsReauth) => Transition {
            health: H::NeedsReauth,
            consecutive_failures: failures + 1,
            event: None,
        },
    }
}

/// Apply `outcome` to `row` (as read under the lock) inside the caller's transaction: write the
/// health columns and emit the event the transition calls for.
pub(crate) async fn record(
    store: &Store,
    conn: &mut AnyConnection,
    row: &ConnectionRow,
    outcome: Outcome,
) -> Result<Transition, StoreError> {
    let next = transition(row.health, row.consecutive_failures, &outcome);
    let now = now_ms();
    let (error, success_at) = match &outcome {
        Outcome::Success => (None, Some(now)),
        Outcome::Transient(e) | Outcome::Rejected(e) => (Some((e.code.as_str(), now)), None),
    };
    store
        .write_health(
            conn,
            &row.workspace_id,
            &row.id,
            HealthWrite {
                health: next.health,
                consecutive_failures: next.consecutive_failures,
                error,
                success_at,
            },
        )
        .await?;
    if let Some(kind) = next.event {
        let error = match outcome {
            Outcome::Success => None,
            Outcome::Transient(e) | Outcome::Rejected(e) => Some(e),
        };
        events::emit(store, conn, &row.workspace_id, &row.id, kind, error).await?;
    }
    Ok(next)
}

/// A connection got working credentials from a person (callback, static form, import): a
/// connection that never had any (`pending`, or `failed` after a refused first authorization)
/// is `created`; one that was failing has `recovered`. `before` is the row as read in the same
/// transaction, before the write.
pub(crate) async fn record_activation(
    store: &Store,
    conn: &mut AnyConnection,
    before: &ConnectionRow,
) -> Result<(), StoreError> {
    use nexus_protocol::ConnectionStatus as S;
    if matches!(before.status, S::Pending | S::Failed) {
        record_created(store, conn, &before.workspace_id, &before.id).await
    } else {
        record(store, conn, before, Outcome::Success)
            .await
            .map(drop)
    }
}

/// The one writer of `connection.created`: connection `id` of `workspace_id` has working credentials for the
/// first time (activated above, or inserted `active` by `ConnectionService::create_connection`).
/// Health starts `ok`, in the caller's transaction.
pub(crate) async fn record_created(
    store: &Store,
    conn: &mut AnyConnection,
    workspace_id: &str,
    id: &str,
) -> Result<(), StoreError> {
    store
        .write_health(
            conn,
            workspace_id,
            id,
            HealthWrite {
                health: ConnectionHealth::Ok,
                consecutive_failures: 0,
                error: None,
                success_at: Some(now_ms()),
            },
        )
        .await?;
    events::emit(
        store,
        conn,
        workspace_id,
        id,
        ConnectionEventKind::Created,
        None,
    )
    .await?;
    Ok(())
}

/// The typed error of a transient refresh failure (the message names no secret: it is the
/// OAuth client's description of the failure, which never includes tokens).
pub fn transient(message: String, protocol: bool) -> EventError {
    EventError {
        code: if protocol {
            RefreshErrorCode::ProtocolError
        } else {
            RefreshErrorCode::UpstreamUnavailable
        },
        message: truncate(message),
    }
}

pub fn rejected(message: String) -> EventError {
    EventError {
        code: RefreshErrorCode::ReauthRequired,
        message: truncate(message),
    }
}

/// At most 200 characters: an event carries a hint, not a provider's whole answer.
fn truncate(mut message: String) -> String {
    if let Some((at, _)) = message.char_indices().nth(200) {
        message.truncate(at);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionHealth as H;

    fn fail() -> Outcome {
        Outcome::Transient(transient("503".into(), false))
    }

    /// Walk a sequence of outcomes from a healthy connection; the events it emitted.
    fn events_of(outcomes: &[Outcome]) -> Vec<ConnectionEventKind> {
        let (mut health, mut failures) = (H::Ok, 0);
        let mut out = vec![];
        for o in outcomes {
            let t = transition(health, failures, o);
            (health, failures) = (t.health, t.consecutive_failures);
            out.extend(t.event);
        }
        out
    }

    #[test]
    fn one_refresh_failed_and_one_recovered_per_outage() {
        use ConnectionEventKind as E;
        let outage = [fail(), fail(), fail(), Outcome::Success, Outcome::Success];
        assert_eq!(events_of(&outage), [E::RefreshFailed, E::Recovered]);
        let two = [fail(), Outcome::Success, fail(), fail(), Outcome::Success];
        assert_eq!(
            events_of(&two),
            [
                E::RefreshFailed,
                E::Recovered,
                E::RefreshFailed,
                E::Recovered
            ]
        );
    }

    #[test]
    fn a_rejected_grant_needs_reauth_once_and_recovers_on_the_next_success() {
        use ConnectionEventKind as E;
        let rej = || Outcome::Rejected(rejected("invalid_grant".into()));
        let seq = [fail(), rej(), rej(), fail(), Outcome::Success];
        assert_eq!(
            events_of(&seq),
            [E::RefreshFailed, E::NeedsReauth, E::Recovered]
        );
    }

    #[test]
    fn failures_count_on_and_reset_on_success() {
        let t = transition(H::Failing, 4, &fail());
        assert_eq!((t.health, t.consecutive_failures), (H::Failing, 5));
        let t = transition(H::Failing, 5, &Outcome::Success);
        assert_eq!((t.health, t.consecutive_failures), (H::Ok, 0));
    }

    #[test]
    fn messages_are_capped() {
        assert_eq!(
            transient("é".repeat(500), true).message.chars().count(),
            200
        );
    }
}
