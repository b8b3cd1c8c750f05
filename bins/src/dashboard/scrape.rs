//! Reads the node's own `/metrics` text back: each metric summed over its labels, and each
//! histogram's bucket counts summed over its labels. The dashboard snapshot is built from it,
//! so the dashboard and Prometheus always show the same numbers.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Scrape {
    sums: HashMap<String, f64>,
    /// Cumulative counts by upper bound (`le`), ascending, `+Inf` last.
    buckets: HashMap<String, Vec<(f64, f64)>>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        for line in text.lines() {
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            match name.strip_suffix("_bucket").zip(le(labels)) {
                Some((base, le)) => {
                    let b = s.buckets.entry(base.to_owned()).or_default();
                    match b.iter_mut().find(|(bound, _)| *bound == le) {
                        Some((_, count)) => *count += value,
                        None => b.push((le, value)),
                    }
                }
                None => *s.sums.entry(name.to_owned()).or_default() += value,
            }
        }
        for b in s.buckets.values_mut() {
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
        }
        s
    }

    /// A counter or gauge, summed over its labels (0 when absent).
    pub fn sum(&self, name: &str) -> f64 {
        self.sums.get(name).copied().unwrap_or(0.0)
    }

    /// A histogram's count in each bucket (not cumulative), by upper bound.
    pub fn histogram(&self, name: &str) -> Vec<(f64, f64)> {
        let mut below = 0.0;
        self.buckets
            .get(name)
            .map(|b| {
                b.iter()
                    .map(|&(le, cumulative)| {
                        let n = cumulative - below;
                        below = cumulative;
                        (le, n)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn le(labels: &str) -> Option<f64> {
    let start = labels.find("le=\"")? + 4;
    let end = start + labels[start..].find('"')?;
    match &labels[start..end] {
        "+Inf" => Some(f64::INFINITY),
        v => v.parse().ok(),
    }
}

/// The `q` quantile (0..1) of a histogram given as (upper bound, count) per bucket: linear
/// within its bucket, as Prometheus's `histogram_quantile` does. None when it holds nothing.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total: f64 = buckets.iter().map(|b| b.1).sum();
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut seen, mut lower) = (0.0, 0.0);
    for &(upper, n) in buckets {
        if seen + n >= rank && n > 0.0 {
            if upper.is_infinite() {
                return Some(lower);
            }
            return Some(lower + (upper - lower) * (rank - seen) / n);
        }
        seen += n;
        if upper.is_finite() {
            lower = upper;
        }
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP a_total things
# TYPE a_total counter
a_total{class=\"x\"} 3
a_total{class=\"y\"} 4
g 2.5
h_bucket{op=\"p\",le=\"0.1\"} 1
h_bucket{op=\"p\",le=\"1\"} 3
h_bucket{op=\"p\",le=\"+Inf\"} 4
h_bucket{op=\"q\",le=\"0.1\"} 1
h_bucket{op=\"q\",le=\"1\"} 1
h_bucket{op=\"q\",le=\"+Inf\"} 1
h_sum 9
h_count 5
";

    #[test]
    fn sums_over_labels_and_splits_buckets() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.sum("a_total"), 7.0);
        assert_eq!(s.sum("g"), 2.5);
        assert_eq!(s.sum("h_count"), 5.0);
        assert_eq!(s.sum("missing"), 0.0);
        assert_eq!(
            s.histogram("h"),
            vec![(0.1, 2.0), (1.0, 2.0), (f64::INFINITY, 1.0)]
        );
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket() {
        let b = [(0.1, 2.0), (1.0, 2.0), (f64::INFINITY, 0.0)];
        assert_eq!(quantile(&b, 0.5), Some(0.1));
        assert!((quantile(&b, 0.75).unwrap() - 0.55).abs() < 1e-9);
        assert_eq!(quantile(&[(0.1, 0.0)], 0.5), None);
        assert_eq!(
            quantile(&[(0.1, 0.0), (f64::INFINITY, 3.0)], 0.99),
            Some(0.1)
        );
    }
}
