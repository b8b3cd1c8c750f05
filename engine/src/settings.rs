//! Serde helpers for the settings types of every crate: a `Duration` written in the
//! configuration as whole milliseconds (`ms`) or whole seconds (`secs`), e.g.
//! `#[serde(rename = "typing_ttl_ms", with = "switchboard_engine::settings::ms")]`.

/// A `Duration` as a whole number of milliseconds.
pub mod ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        // Saturates: no setting comes near 2^64 ms.
        u64::try_from(d.as_millis())
            .unwrap_or(u64::MAX)
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A `Duration` as a whole number of seconds (a fraction is dropped when written).
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        d.as_secs().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Timing {
        #[serde(rename = "wait_ms", with = "super::ms")]
        wait: Duration,
        #[serde(rename = "idle_secs", with = "super::secs")]
        idle: Duration,
    }

    #[test]
    fn durations_are_whole_units_under_the_suffixed_name() {
        let t = Timing {
            wait: Duration::from_millis(1500),
            idle: Duration::from_secs(60),
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, r#"{"wait_ms":1500,"idle_secs":60}"#);
        assert_eq!(serde_json::from_str::<Timing>(&json).unwrap(), t);
    }
}
