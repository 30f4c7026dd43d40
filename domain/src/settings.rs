//! A tenant's service settings: what the engine does around a human conversation (timeouts,
//! ratings, categories, recovery, the buyer's choice of group).
//!
//! They are stored as one JSON document. Every field has a default, so a tenant that never
//! saved settings, or a document written before a field existed, reads as complete.

use crate::validate::Invalid;
use serde::{Deserialize, Serialize};

/// The reception timeout's default message (seed 001: 会话超时).
pub const DEFAULT_TIMEOUT_MESSAGE: &str =
    "由于您长时间未回复，本次会话已结束。如需帮助，欢迎随时联系我们。";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    /// An agent must choose at least one consultation category to end a conversation.
    pub categories_required: bool,
    /// Minutes the buyer has to answer an agent before the conversation ends (0: never).
    pub reception_timeout_minutes: i64,
    /// Sent before `src` 20 when the reception timeout ends a conversation.
    pub timeout_message: String,
    /// Send the rating card (`src` 9) when a conversation with an agent ends.
    pub ratings_enabled: bool,
    /// 1: stars, 2: numbers (the card's `type`).
    pub rating_kind: u8,
    /// How long a rating card can be answered.
    pub rating_expiry_hours: i64,
    /// Buyers may ask to rate before the end (`src` 24; flag 4 of `src` 23).
    pub rating_by_buyer: bool,
    /// When an agent's consoles have all been gone past the grace period, their conversations
    /// go back to the queue after this many minutes. `None`: they wait for the agent, marked
    /// RECOVER.
    pub requeue_after_minutes: Option<i64>,
    /// A transfer to "another group" may send the buyer a menu of the groups visible to
    /// buyers instead of picking one.
    pub buyer_group_choice: bool,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            categories_required: false,
            reception_timeout_minutes: 5,
            timeout_message: DEFAULT_TIMEOUT_MESSAGE.into(),
            ratings_enabled: true,
            rating_kind: 1,
            rating_expiry_hours: 24,
            rating_by_buyer: true,
            requeue_after_minutes: None,
            buyer_group_choice: true,
        }
    }
}

impl ServiceSettings {
    /// Refuses values the engine cannot use; the message says what is allowed.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(0..=1440).contains(&self.reception_timeout_minutes) {
            return Err(Invalid::new(
                "reception_timeout_minutes",
                "use 0 (never) to 1440 minutes",
            ));
        }
        if self.timeout_message.chars().count() > 500 {
            return Err(Invalid::new(
                "timeout_message",
                "keep it to 500 characters or fewer",
            ));
        }
        if !matches!(self.rating_kind, 1 | 2) {
            return Err(Invalid::new("rating_kind", "use 1 (stars) or 2 (numbers)"));
        }
        if !(1..=720).contains(&self.rating_expiry_hours) {
            return Err(Invalid::new(
                "rating_expiry_hours",
                "use 1 to 720 hours (30 days)",
            ));
        }
        if let Some(m) = self.requeue_after_minutes
            && !(1..=1440).contains(&m)
        {
            return Err(Invalid::new(
                "requeue_after_minutes",
                "use 1 to 1440 minutes, or leave it empty to keep conversations with their agent",
            ));
        }
        Ok(())
    }

    /// The reception timeout in milliseconds, if there is one.
    pub fn reception_timeout_ms(&self) -> Option<i64> {
        (self.reception_timeout_minutes > 0).then_some(self.reception_timeout_minutes * 60_000)
    }

    /// `src` 23's `menuSendRuleFlag`: 1 the card is sent on end, 2 agents may send it, 4
    /// buyers may ask for it.
    pub fn rating_rule_flags(&self) -> u8 {
        if !self.ratings_enabled {
            return 0;
        }
        1 | 2 | if self.rating_by_buyer { 4 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_missing_fields_reads_as_the_defaults() {
        let s: ServiceSettings = serde_json::from_str(r#"{"categories_required":true}"#).unwrap();
        assert!(s.categories_required);
        assert_eq!(s.reception_timeout_minutes, 5);
        assert_eq!(s.timeout_message, DEFAULT_TIMEOUT_MESSAGE);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let s = ServiceSettings {
            rating_kind: 3,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "rating_kind");
        let s = ServiceSettings {
            requeue_after_minutes: Some(0),
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "requeue_after_minutes");
        let s = ServiceSettings {
            reception_timeout_minutes: 0,
            ..Default::default()
        };
        assert_eq!(s.reception_timeout_ms(), None);
    }

    #[test]
    fn rating_rules_follow_the_switches() {
        assert_eq!(ServiceSettings::default().rating_rule_flags(), 7);
        let off = ServiceSettings {
            ratings_enabled: false,
            ..Default::default()
        };
        assert_eq!(off.rating_rule_flags(), 0);
    }
}
