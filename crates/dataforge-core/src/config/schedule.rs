//! `schedule_interval`: a cron expression or an Airflow preset, validated when the file loads.

use std::fmt;
use std::str::FromStr;

/// When a pipeline runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Once (`@once`).
    Once,
    /// A preset or a cron expression, with its cron form.
    Cron {
        /// What the file said (`@daily`, `0 6 * * 1-5`).
        text: String,
        /// The cron expression it stands for.
        cron: String,
    },
}

/// Airflow's presets and the cron expressions they stand for.
const PRESETS: &[(&str, &str)] = &[
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@quarterly", "0 0 1 */3 *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

impl Schedule {
    /// The cron pattern, for schedules that repeat.
    pub fn cron(&self) -> Option<&str> {
        match self {
            Schedule::Once => None,
            Schedule::Cron { cron, .. } => Some(cron),
        }
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        if text == "@once" {
            return Ok(Schedule::Once);
        }
        if text.starts_with('@') {
            return PRESETS
                .iter()
                .find(|(p, _)| *p == text)
                .map(|(p, cron)| Schedule::Cron {
                    text: (*p).to_owned(),
                    cron: (*cron).to_owned(),
                })
                .ok_or_else(|| {
                    format!(
                        "unknown preset \"{text}\", expected one of @once, {}",
                        PRESETS
                            .iter()
                            .map(|(p, _)| *p)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
        }
        croner::Cron::from_str(text)
            .map_err(|e| format!("invalid cron expression \"{text}\": {e}"))?;
        Ok(Schedule::Cron {
            text: text.to_owned(),
            cron: text.to_owned(),
        })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Once => f.write_str("@once"),
            Schedule::Cron { text, .. } => f.write_str(text),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_cron_parse_and_garbage_does_not() {
        assert_eq!("@once".parse::<Schedule>(), Ok(Schedule::Once));
        assert_eq!(
            "@daily".parse::<Schedule>().expect("preset").cron(),
            Some("0 0 * * *")
        );
        assert!("*/15 6-18 * * 1-5".parse::<Schedule>().is_ok());
        let e = "@fortnightly".parse::<Schedule>().expect_err("bad preset");
        assert!(e.contains("@daily"), "{e}");
        assert!("61 * * * *".parse::<Schedule>().is_err());
        assert!("every day".parse::<Schedule>().is_err());
    }
}
