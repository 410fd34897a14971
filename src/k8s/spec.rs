//! The monitor's own checks of a resource's spec, before it acts on it: the
//! same bounds as the CRD's schema (an API server without the schema, or an
//! object written before it, must not get past them), each refusal naming the
//! field as `kubectl explain` spells it.

use super::resources::{
    EtcdClusterSpec, EtcdInspectionSpec, InspectionKind, MAX_ENDPOINTS, MAX_INTERVAL_SECONDS,
    MAX_PROBE_INTERVAL_SECONDS, MAX_PROBE_TIMEOUT_SECONDS, MAX_TAGS, MIN_INTERVAL_SECONDS,
};
use crate::check::inspect::Inspection;

/// A spec the monitor refuses: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// e.g. `spec.endpoints[2]`.
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

const MAX_URL_CHARS: usize = 2048;
const MAX_TAG_CHARS: usize = 63;
const MAX_MATCH_LABELS: usize = 16;

/// Checks an EtcdCluster's spec.
pub fn check_cluster(spec: &EtcdClusterSpec) -> Result<(), SpecError> {
    let ways = [
        !spec.endpoints.is_empty(),
        spec.service.is_some(),
        spec.pod_selector.is_some(),
    ]
    .iter()
    .filter(|w| **w)
    .count();
    if ways != 1 {
        return Err(refuse(
            "spec",
            format!("exactly one of endpoints, service and podSelector, not {ways}"),
        ));
    }
    check_urls("spec.endpoints", &spec.endpoints)?;
    check_urls("spec.metricsUrls", &spec.metrics_urls)?;
    if spec.tags.len() > MAX_TAGS {
        return Err(refuse(
            "spec.tags",
            format!("at most {MAX_TAGS}, not {}", spec.tags.len()),
        ));
    }
    for (i, tag) in spec.tags.iter().enumerate() {
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(refuse(
                format!("spec.tags[{i}]"),
                format!("1 to {MAX_TAG_CHARS} characters"),
            ));
        }
    }
    if let Some(s) = &spec.service {
        check_port("spec.service.port", s.port)?;
        if s.name.is_empty() || s.name.len() > 63 {
            return Err(refuse("spec.service.name", "1 to 63 characters"));
        }
    }
    if let Some(p) = &spec.pod_selector {
        check_port("spec.podSelector.port", p.port)?;
        if p.match_labels.is_empty() || p.match_labels.len() > MAX_MATCH_LABELS {
            return Err(refuse(
                "spec.podSelector.matchLabels",
                format!("1 to {MAX_MATCH_LABELS} labels"),
            ));
        }
    }
    if let Some(p) = &spec.probe {
        let interval = p.interval_seconds;
        if let Some(i) = interval.filter(|i| !(1..=MAX_PROBE_INTERVAL_SECONDS).contains(i)) {
            return Err(refuse(
                "spec.probe.intervalSeconds",
                format!("1 to {MAX_PROBE_INTERVAL_SECONDS}, not {i}"),
            ));
        }
        if let Some(t) = p.timeout_seconds {
            if !(1..=MAX_PROBE_TIMEOUT_SECONDS).contains(&t) {
                return Err(refuse(
                    "spec.probe.timeoutSeconds",
                    format!("1 to {MAX_PROBE_TIMEOUT_SECONDS}, not {t}"),
                ));
            }
            if interval.is_some_and(|i| t > i) {
                return Err(refuse(
                    "spec.probe.timeoutSeconds",
                    format!("at most intervalSeconds, not {t}"),
                ));
            }
        }
    }
    Ok(())
}

fn check_urls(field: &str, urls: &[String]) -> Result<(), SpecError> {
    if urls.len() > MAX_ENDPOINTS {
        return Err(refuse(
            field,
            format!("at most {MAX_ENDPOINTS}, not {}", urls.len()),
        ));
    }
    for (i, url) in urls.iter().enumerate() {
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.chars().count() > MAX_URL_CHARS {
            return Err(refuse(
                format!("{field}[{i}]"),
                format!("an http:// or https:// URL of at most {MAX_URL_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

fn check_port(field: &str, port: i32) -> Result<(), SpecError> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(refuse(field, format!("1 to 65535, not {port}")))
    }
}

/// An EtcdInspection's spec as the inspection to run, and its interval in
/// seconds.
pub fn inspection(spec: &EtcdInspectionSpec) -> Result<(Inspection, u32), SpecError> {
    if spec.cluster.is_empty() || spec.cluster.len() > 253 {
        return Err(refuse(
            "spec.cluster",
            "an EtcdCluster's name, 1 to 253 characters",
        ));
    }
    if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&spec.interval_seconds) {
        return Err(refuse(
            "spec.intervalSeconds",
            format!(
                "{MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS}, not {}",
                spec.interval_seconds
            ),
        ));
    }
    let interval = u32::try_from(spec.interval_seconds).unwrap_or(MIN_INTERVAL_SECONDS as u32);
    let inspection = match spec.kind {
        InspectionKind::Alarm => Inspection::Alarm,
        InspectionKind::Healthy => Inspection::Healthy,
        InspectionKind::Consistency => {
            let max_spread = spec.max_spread.unwrap_or(0);
            let max_spread = u64::try_from(max_spread)
                .map_err(|_| refuse("spec.maxSpread", format!("0 or more, not {max_spread}")))?;
            Inspection::Consistency { max_spread }
        }
        InspectionKind::Request => Inspection::Request {
            key_prefixes: spec.key_prefixes.clone(),
        },
    };
    // The prefixes' bounds are the inspection's own.
    inspection.validate().map_err(|e| {
        let e = e.to_string();
        refuse("spec.keyPrefixes", e.trim_start_matches("keyPrefixes: "))
    })?;
    Ok((inspection, interval))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::resources::{PodSelector, ProbeSettings, ServiceRef};

    fn endpoints() -> EtcdClusterSpec {
        EtcdClusterSpec {
            endpoints: vec!["https://10.0.0.1:2379".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_cluster_spec_is_refused_naming_the_field() {
        check_cluster(&endpoints()).unwrap();
        let cases: Vec<(EtcdClusterSpec, &str)> = vec![
            (EtcdClusterSpec::default(), "spec"),
            (
                EtcdClusterSpec {
                    service: Some(ServiceRef {
                        name: "etcd".into(),
                        port: 2379,
                        ..Default::default()
                    }),
                    ..endpoints()
                },
                "spec",
            ),
            (
                EtcdClusterSpec {
                    endpoints: vec!["https://a:2379".into(), "10.0.0.2:2379".into()],
                    ..Default::default()
                },
                "spec.endpoints[1]",
            ),
            (
                EtcdClusterSpec {
                    endpoints: vec!["http://a:2379".into(); MAX_ENDPOINTS + 1],
                    ..Default::default()
                },
                "spec.endpoints",
            ),
            (
                EtcdClusterSpec {
                    tags: vec!["ok".into(), String::new()],
                    ..endpoints()
                },
                "spec.tags[1]",
            ),
            (
                EtcdClusterSpec {
                    pod_selector: Some(PodSelector {
                        port: 70_000,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "spec.podSelector.port",
            ),
            (
                EtcdClusterSpec {
                    pod_selector: Some(PodSelector {
                        port: 2379,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                "spec.podSelector.matchLabels",
            ),
            (
                EtcdClusterSpec {
                    probe: Some(ProbeSettings {
                        interval_seconds: Some(0),
                        timeout_seconds: None,
                    }),
                    ..endpoints()
                },
                "spec.probe.intervalSeconds",
            ),
            (
                EtcdClusterSpec {
                    probe: Some(ProbeSettings {
                        interval_seconds: Some(5),
                        timeout_seconds: Some(10),
                    }),
                    ..endpoints()
                },
                "spec.probe.timeoutSeconds",
            ),
        ];
        for (spec, field) in cases {
            let e = check_cluster(&spec).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
    }

    #[test]
    fn an_inspection_spec_becomes_the_inspection_to_run() {
        let spec = |kind, interval, prefixes: &[&str], spread| EtcdInspectionSpec {
            cluster: "main".into(),
            kind,
            interval_seconds: interval,
            key_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            max_spread: spread,
        };
        assert_eq!(
            inspection(&spec(InspectionKind::Request, 60, &["/a/"], None)).unwrap(),
            (
                Inspection::Request {
                    key_prefixes: vec!["/a/".into()]
                },
                60
            )
        );
        assert_eq!(
            inspection(&spec(InspectionKind::Consistency, 300, &[], Some(5)))
                .unwrap()
                .0,
            Inspection::Consistency { max_spread: 5 }
        );
        for (bad, field) in [
            (
                spec(InspectionKind::Alarm, 5, &[], None),
                "spec.intervalSeconds",
            ),
            (
                spec(InspectionKind::Alarm, 86_401, &[], None),
                "spec.intervalSeconds",
            ),
            (
                spec(InspectionKind::Request, 60, &[], None),
                "spec.keyPrefixes",
            ),
            (
                spec(InspectionKind::Request, 60, &[""], None),
                "spec.keyPrefixes",
            ),
            (
                spec(InspectionKind::Consistency, 60, &[], Some(-1)),
                "spec.maxSpread",
            ),
            (
                EtcdInspectionSpec {
                    cluster: String::new(),
                    ..spec(InspectionKind::Alarm, 60, &[], None)
                },
                "spec.cluster",
            ),
        ] {
            let e = inspection(&bad).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
    }
}
