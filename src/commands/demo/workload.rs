//! One policy's workload: its pods, as KEDA and the HPA set their number, and the consumer
//! group they form. A pod becomes a member of the group (a real rdkafka consumer, see
//! `traffic.rs`) once it has started, `startup_secs` of scenario time after it was created;
//! pods are removed newest first, and a removed member leaves the group. Every join and
//! leave is a real rebalance of the group protocol.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::traffic::{self, GroupCounters, Member};
use crate::compression::Compression;

/// Where and how the members consume.
pub struct MemberSpec {
    pub bootstrap: String,
    pub topic: String,
    pub group: String,
    /// Records per wall second each member processes (messages per scenario second).
    pub rate: f64,
    /// Scenario seconds from a pod's creation until it consumes.
    pub startup_secs: u64,
    /// The scenario's rebalance pause: how long the coordinator gathers members.
    pub rebalance_pause_secs: u64,
    pub partitions: u32,
}

struct Pod {
    /// Scenario second of its creation.
    created: u64,
    member: Option<Member>,
}

pub struct Workload {
    spec: MemberSpec,
    compression: Compression,
    pub counters: Arc<GroupCounters>,
    pods: Vec<Pod>,
    /// Members started so far: the next member's number.
    started: usize,
    /// Members leaving the group, to wait for at the end.
    leaving: Vec<JoinHandle<()>>,
    /// Changes of the group's members (a member joined or left): each one a rebalance.
    pub member_changes: u64,
}

impl Workload {
    /// The workload of `spec`'s group, which starts at the beginning of the topic.
    pub fn new(spec: MemberSpec, compression: Compression) -> Result<Workload, String> {
        traffic::commit_start(&spec.bootstrap, &spec.group, &spec.topic, spec.partitions)?;
        Ok(Workload {
            compression,
            counters: Arc::new(GroupCounters::new(spec.partitions)),
            pods: Vec::new(),
            started: 0,
            leaving: Vec::new(),
            member_changes: 0,
            spec,
        })
    }

    /// Pods, started or not (the replicas KEDA and the HPA set).
    pub fn replicas(&self) -> u32 {
        self.pods.len() as u32
    }

    /// Pods that have started by scenario second `t` (the HPA's ready pods).
    pub fn ready(&self, t: u64) -> u32 {
        self.pods
            .iter()
            .filter(|p| t >= p.created + self.spec.startup_secs)
            .count() as u32
    }

    /// Members started so far.
    pub fn members_started(&self) -> usize {
        self.started
    }

    /// Sets the pods to `to` at scenario second `t`: new pods are created now, the newest are
    /// removed first.
    pub fn resize(&mut self, to: u32, t: u64) {
        let to = to as usize;
        while self.pods.len() > to {
            if let Some(member) = self.pods.pop().and_then(|p| p.member) {
                self.leaving.push(member.stop());
                self.member_changes += 1;
            }
        }
        while self.pods.len() < to {
            self.pods.push(Pod {
                created: t,
                member: None,
            });
        }
    }

    /// Starts the members of the pods that have started by scenario second `t`.
    pub fn tick(&mut self, t: u64) -> Result<(), String> {
        let spec = &self.spec;
        for pod in &mut self.pods {
            if pod.member.is_none() && t >= pod.created + spec.startup_secs {
                let at = (
                    spec.bootstrap.as_str(),
                    spec.topic.as_str(),
                    spec.group.as_str(),
                );
                let pause = Duration::from_secs(spec.rebalance_pause_secs);
                let member = Member::start(
                    at,
                    self.started,
                    (spec.rate, pause),
                    &self.compression,
                    self.counters.clone(),
                )?;
                pod.member = Some(member);
                self.started += 1;
                self.member_changes += 1;
            }
        }
        Ok(())
    }

    /// Stops every member and waits until each has left the group (at most `limit` each).
    pub fn stop(mut self, limit: Duration) {
        self.resize(0, 0);
        for thread in self.leaving.drain(..) {
            let deadline = std::time::Instant::now() + limit;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}
