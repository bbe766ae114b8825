//! A fake behind [`Sources`](super::Sources), for unit tests of what sits above it (the
//! scaler, the service): it answers from a script and records every call, so a test sees how
//! many requests reached "the broker" and for what, with no broker running.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::kafka::GroupMembers;
use super::rabbitmq::management::QueueRates;
use super::{Observation, SourceError, SourceQuery};

/// One call that reached the fake.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// An answer to a query.
    Observe(SourceQuery),
    /// A management API's rates for a query, over a window.
    Rates(SourceQuery, Duration),
    /// A Kafka group's members.
    Members(SourceQuery),
}

type Answer = Result<Observation, SourceError>;

/// Scripted answers and the calls received.
#[derive(Default)]
pub struct FakeBrokers {
    answers: Mutex<HashMap<SourceQuery, Answer>>,
    default: Mutex<Option<Answer>>,
    rates: Mutex<Option<Result<QueueRates, SourceError>>>,
    members: Mutex<Option<GroupMembers>>,
    latency: Duration,
    calls: Mutex<Vec<Call>>,
}

impl FakeBrokers {
    /// Answers every query with `answer` (until [`FakeBrokers::answer`] says otherwise).
    pub fn answering(answer: Answer) -> FakeBrokers {
        FakeBrokers {
            default: Mutex::new(Some(answer)),
            ..FakeBrokers::default()
        }
    }

    /// Every answer takes `latency` (on tokio's clock: pause it in tests).
    pub fn with_latency(mut self, latency: Duration) -> FakeBrokers {
        self.latency = latency;
        self
    }

    /// The management API answers `rates`; without it, rates requests fail.
    pub fn with_rates(self, rates: Result<QueueRates, SourceError>) -> FakeBrokers {
        *lock(&self.rates) = Some(rates);
        self
    }

    /// From now on, DescribeGroups answers `members` (without it: not spoken).
    pub fn members_are(&self, members: Option<GroupMembers>) {
        *lock(&self.members) = members;
    }

    pub(super) async fn members(
        &self,
        query: &SourceQuery,
    ) -> Result<Option<GroupMembers>, SourceError> {
        lock(&self.calls).push(Call::Members(query.clone()));
        Ok(lock(&self.members).clone())
    }

    /// From now on, answers every query not scripted one by one with `answer`.
    pub fn answer_all(&self, answer: Answer) {
        *lock(&self.default) = Some(answer);
    }

    /// From now on, answers `query` with `answer`.
    pub fn answer(&self, query: &SourceQuery, answer: Answer) {
        lock(&self.answers).insert(query.clone(), answer);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// How many answers were asked for.
    pub fn observed(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| matches!(c, Call::Observe(_)))
            .count()
    }

    pub(super) async fn observe(&self, query: &SourceQuery) -> Answer {
        lock(&self.calls).push(Call::Observe(query.clone()));
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let scripted = lock(&self.answers).get(query).cloned();
        scripted
            .or_else(|| lock(&self.default).clone())
            .unwrap_or_else(|| Err(unscripted("an answer")))
    }

    pub(super) async fn queue_rates(
        &self,
        query: &SourceQuery,
        window: Duration,
    ) -> Result<QueueRates, SourceError> {
        lock(&self.calls).push(Call::Rates(query.clone(), window));
        lock(&self.rates)
            .clone()
            .unwrap_or_else(|| Err(unscripted("rates")))
    }
}

fn unscripted(what: &str) -> SourceError {
    SourceError::Broker {
        endpoint: "the fake broker".to_owned(),
        operation: "answering",
        reason: format!("no {what} scripted"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
