//! Reading KEDA's `scalerMetadata`: the map reader with its bounds and unknown-key
//! suggestions ([`Metadata`], [`suggest`]; it is given the known keys), the keys common to
//! every source ([`keys`]; each source owns its own), the errors a trigger can have
//! ([`TriggerError`], with [`quote`] for values in messages), the `cluster` / inline address
//! choice every source makes ([`connection`]), numbers as keys take them ([`number`]), and
//! metric names ([`MetricName`]).
//!
//! A leaf: it depends on nothing else in the crate, so the sources, the trigger parser and
//! the commands can all use it without importing one another.

mod connection;
mod error;
pub mod keys;
mod metric_name;
mod reader;
pub mod scaled_object;

pub use connection::{Connection, ConnectionKeys, connection};
pub use error::{QUOTED_CHARS, TriggerError, quote};
pub use metric_name::MetricName;
pub use reader::{
    MAX_KEY_BYTES, MAX_KEYS, MAX_METADATA_BYTES, MAX_VALUE_BYTES, Metadata, number, suggest,
};
