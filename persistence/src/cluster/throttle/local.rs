//! Counting on one node: the embedded default.

use super::{Class, Rules, Subject, Table, Throttle};

/// Every count in this process's memory.
pub struct LocalThrottle(Table);

impl LocalThrottle {
    pub fn new(rules: Rules) -> Self {
        LocalThrottle(Table::new(rules))
    }
}

impl Throttle for LocalThrottle {
    fn hit(&self, class: Class, subject: &Subject) -> bool {
        self.0.hit(class, subject)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn local_throttle_passes_the_conformance_cases() {
        let rules = super::super::conformance::rules();
        let t = super::LocalThrottle::new(rules);
        super::super::conformance::run_all(&t, None, std::time::Duration::ZERO).await;
    }
}
