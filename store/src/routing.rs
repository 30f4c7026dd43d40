//! The order in which a group's strategy tries its online members with room.

use crate::Strategy;

/// A member who could take the next buyer: (account, cap, active, last assigned at).
pub(crate) type Candidate = (i64, i64, i64, i64);

/// Candidates best first, as (account, cap).
pub(crate) fn order(strategy: Strategy, rr_last: i64, mut c: Vec<Candidate>) -> Vec<(i64, i64)> {
    match strategy {
        Strategy::Manual => return Vec::new(),
        Strategy::LeastBusy => c.sort_by(|a, b| {
            // active/cap compared without division: a.active * b.cap vs b.active * a.cap.
            (a.2 * b.1)
                .cmp(&(b.2 * a.1))
                .then(a.3.cmp(&b.3))
                .then(a.0.cmp(&b.0))
        }),
        Strategy::LongestIdle => c.sort_by(|a, b| a.3.cmp(&b.3).then(a.0.cmp(&b.0))),
        Strategy::RoundRobin => {
            c.sort_by_key(|a| a.0);
            let next = c.iter().position(|a| a.0 > rr_last).unwrap_or(0);
            c.rotate_left(next);
        }
    }
    c.into_iter().map(|(id, cap, _, _)| (id, cap)).collect()
}

/// An agent's session coming to an end: their slot is freed and the session closed.
pub(crate) struct SessionEnd<'a> {
    pub agent: Option<i64>,
    pub session: Option<i64>,
    /// `agent`, `admin`, `timeout`, `buyer_left`, `transferred`…
    pub reason: &'a str,
    /// Category ids, comma-separated.
    pub categories: &'a str,
    pub note: &'a str,
}

/// An event to record: what happened to which conversation (and session), by whom.
pub(crate) struct Milestone<'a> {
    pub conversation: i64,
    pub session: Option<i64>,
    pub kind: &'a str,
    pub actor: &'a str,
    pub detail: &'a str,
}

/// A conversation going to an agent.
pub(crate) struct HandOver<'a> {
    pub conversation: i64,
    /// The state it must be in: `queued` (routing, taking) or `assigned` (a transfer between
    /// agents). Another state means someone else moved it first.
    pub from_state: &'a str,
    pub group: Option<i64>,
    pub agent: i64,
    /// `assigned` (by routing) or `accepted` (taken by hand).
    pub kind: &'a str,
    pub actor: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_busy_compares_load_to_capacity_then_idle_time() {
        // Agent 1: 1 of 2 (50%), agent 2: 1 of 4 (25%), agent 3: 0 of 3 but busier lately.
        let c = vec![(1, 2, 1, 10), (2, 4, 1, 5), (3, 3, 0, 50), (4, 3, 0, 20)];
        let ids: Vec<i64> = order(Strategy::LeastBusy, 0, c)
            .into_iter()
            .map(|a| a.0)
            .collect();
        assert_eq!(ids, [4, 3, 2, 1]);
    }

    #[test]
    fn round_robin_continues_after_the_last_agent_and_wraps() {
        let c = vec![(5, 3, 0, 0), (2, 3, 2, 0), (9, 3, 1, 0)];
        let ids = |last| -> Vec<i64> {
            order(Strategy::RoundRobin, last, c.clone())
                .into_iter()
                .map(|a| a.0)
                .collect()
        };
        assert_eq!(ids(0), [2, 5, 9]);
        assert_eq!(ids(2), [5, 9, 2]);
        assert_eq!(ids(9), [2, 5, 9]);
        assert_eq!(ids(6), [9, 2, 5]);
    }

    #[test]
    fn longest_idle_ignores_load_and_manual_assigns_nobody() {
        let c = vec![(1, 3, 0, 30), (2, 3, 2, 10)];
        assert_eq!(order(Strategy::LongestIdle, 0, c.clone())[0].0, 2);
        assert!(order(Strategy::Manual, 0, c).is_empty());
    }
}
