//! A consumer group's members (DescribeGroups), for `replicaThroughput: auto`: who consumes,
//! and each member's partitions (its `ConsumerProtocolAssignment`), from the group's
//! coordinator. One request per group per sample; versions 0-4 (before the flexible
//! encoding), read field by field like every answer (`decode`).
//!
//! A broker that does not speak DescribeGroups (librdkafka's mock cluster) gives `None`;
//! one that leaves the assignments empty (tansu) gives members without partitions.

use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, GroupId};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use super::cluster::Cluster;
use super::connection::error_name;
use super::decode::Reader;
use crate::source::SourceError;

const DESCRIBE_GROUPS: VersionRange = VersionRange { min: 0, max: 4 };
const NOT_COORDINATOR: i16 = 16;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
/// Kafka answers an unknown group as `Dead` with no members; tansu with this code.
const GROUP_ID_NOT_FOUND: i16 = 69;

/// A member's partitions, by topic.
pub type Assignment = Vec<(String, Vec<i32>)>;

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembers {
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or `Dead`.
    pub state: String,
    /// (member id, its partitions by topic when the assignment says).
    pub members: Vec<(String, Option<Assignment>)>,
}

impl Cluster {
    /// `group`'s members, or `None` when the broker does not speak DescribeGroups.
    pub async fn members(
        self: &Arc<Self>,
        group: &str,
    ) -> Result<Option<GroupMembers>, SourceError> {
        for attempt in 0..2 {
            let coordinator = self.coordinator(group).await?;
            let connection = self.broker(coordinator).await?;
            if connection
                .versions()
                .pick(ApiKey::DescribeGroups, DESCRIBE_GROUPS)
                .is_none()
            {
                return Ok(None);
            }
            let build = |_| {
                let mut request = DescribeGroupsRequest::default();
                request.groups = vec![GroupId(StrBytes::from_string(group.to_owned()))];
                request
            };
            let (mut groups, _) = self
                .call(
                    &connection,
                    ApiKey::DescribeGroups,
                    DESCRIBE_GROUPS,
                    build,
                    describe_groups,
                )
                .await?;
            let Some((code, members)) = groups.pop() else {
                break;
            };
            match code {
                0 => return Ok(Some(members)),
                GROUP_ID_NOT_FOUND => {
                    return Ok(Some(GroupMembers {
                        state: "Dead".to_owned(),
                        members: Vec::new(),
                    }));
                }
                NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE | COORDINATOR_LOAD_IN_PROGRESS
                    if attempt == 0 =>
                {
                    self.forget_coordinator(group);
                }
                code => {
                    return Err(SourceError::Broker {
                        endpoint: self.label.clone(),
                        operation: "DescribeGroups",
                        reason: format!("group {group:?}: {}", error_name(code)),
                    });
                }
            }
        }
        Err(SourceError::Broker {
            endpoint: self.label.clone(),
            operation: "DescribeGroups",
            reason: format!("no answer for group {group:?}"),
        })
    }
}

/// DescribeGroups v0-4: per group, its error code and members.
pub fn describe_groups(r: &mut Reader, version: i16) -> Result<Vec<(i16, GroupMembers)>, String> {
    if version >= 1 {
        r.i32()?; // throttle
    }
    r.array(|r| {
        let error = r.i16()?;
        r.string()?; // group id
        let state = r.string()?;
        let protocol_type = r.string()?;
        r.string()?; // protocol data
        let members = r.array(|r| {
            let id = r.string()?;
            if version >= 4 {
                r.nullable_string()?; // group instance id
            }
            r.string()?; // client id
            r.string()?; // client host
            r.bytes()?; // metadata
            let assignment = r.bytes()?;
            let partitions = match protocol_type.as_str() {
                "consumer" if !assignment.is_empty() => Some(assigned(&assignment)?),
                _ => None,
            };
            Ok((id, partitions))
        })?;
        if version >= 3 {
            r.i32()?; // authorized operations
        }
        Ok((error, GroupMembers { state, members }))
    })
}

/// A `ConsumerProtocolAssignment` (v0-3): the partitions by topic; user data ignored.
fn assigned(bytes: &[u8]) -> Result<Assignment, String> {
    let mut r = Reader::new(bytes, false);
    r.i16()?; // version
    r.array(|r| Ok((r.string()?, r.array(|r| r.i32())?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as i16).to_be_bytes());
        out.extend(s.as_bytes());
    }

    fn bytes(out: &mut Vec<u8>, b: &[u8]) {
        out.extend((b.len() as i32).to_be_bytes());
        out.extend(b);
    }

    #[test]
    fn members_and_their_partitions() {
        let mut assignment = Vec::new();
        assignment.extend(0i16.to_be_bytes());
        assignment.extend(1i32.to_be_bytes());
        string(&mut assignment, "orders");
        assignment.extend(2i32.to_be_bytes());
        assignment.extend(0i32.to_be_bytes());
        assignment.extend(3i32.to_be_bytes());
        bytes(&mut assignment, &[]);

        let mut body = Vec::new();
        body.extend(0i32.to_be_bytes()); // throttle (v1+)
        body.extend(1i32.to_be_bytes()); // one group
        body.extend(0i16.to_be_bytes());
        for s in ["g", "Stable", "consumer", "range"] {
            string(&mut body, s);
        }
        body.extend(2i32.to_be_bytes()); // two members
        for (id, assignment) in [("m-1", assignment.as_slice()), ("m-2", &[][..])] {
            string(&mut body, id);
            string(&mut body, "client");
            string(&mut body, "/127.0.0.1");
            bytes(&mut body, &[]);
            bytes(&mut body, assignment);
        }
        let mut r = Reader::new(&body, false);
        let groups = describe_groups(&mut r, 1).unwrap();
        let orders = vec![("orders".to_owned(), vec![0, 3])];
        assert_eq!(
            groups,
            [(
                0,
                GroupMembers {
                    state: "Stable".to_owned(),
                    members: vec![("m-1".to_owned(), Some(orders)), ("m-2".to_owned(), None)],
                }
            )]
        );
        // Cut anywhere: an error, never a panic.
        for end in 0..body.len() {
            let _ = describe_groups(&mut Reader::new(&body[..end], false), 1);
        }
    }
}
