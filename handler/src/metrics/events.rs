//! Events that happen deep in the grant logic (a refresh token replayed, a metadata document that
//! could not be fetched), recorded where they happen and counted on the request's log line.
//!
//! A task-local, because those places return an ordinary OAuth error (`invalid_grant`,
//! `invalid_client`) and should not have to thread a recorder through every call; the request's
//! handler runs in the task of the access-log middleware that opens the scope. An event recorded
//! outside a scope (a unit test calling the logic directly) is dropped.

use std::sync::{Arc, Mutex};

/// Something the metrics count that the response alone does not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// An authorization code was issued: a person approved a client.
    Authorized,
    /// A refresh token was presented again after its rotation; its family was revoked.
    RefreshReuse,
    /// A Client ID Metadata Document could not be fetched, or was invalid.
    CimdFetchFailed,
}

/// The events of one request.
pub(crate) type Recorded = Arc<Mutex<Vec<Event>>>;

tokio::task_local! {
    static EVENTS: Recorded;
}

/// Records `event` for the request being served.
pub(crate) fn record(event: Event) {
    let _ = EVENTS.try_with(|events| {
        events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(event);
    });
}

/// Runs `future` (a request) with a fresh event record, and returns its output with the events.
pub(crate) async fn scope<F: Future>(future: F) -> (F::Output, Vec<Event>) {
    let events = Recorded::default();
    let output = EVENTS.scope(events.clone(), future).await;
    let recorded = std::mem::take(&mut *events.lock().unwrap_or_else(|p| p.into_inner()));
    (output, recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_belong_to_their_request() {
        record(Event::RefreshReuse); // outside any request: dropped
        let ((), events) = scope(async {
            record(Event::CimdFetchFailed);
            tokio::task::yield_now().await;
            record(Event::RefreshReuse);
        })
        .await;
        assert_eq!(events, [Event::CimdFetchFailed, Event::RefreshReuse]);
        let ((), events) = scope(async {}).await;
        assert!(events.is_empty());
    }
}
