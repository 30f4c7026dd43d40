//! A tenant's service settings: what the engine does around a human conversation (timeouts,
//! ratings, categories, recovery, the buyer's choice of group).
//!
//! They are stored as one JSON document. Every field has a default, so a tenant that never
//! saved settings, or a document written before a field existed, reads as complete.

use crate::validate::Invalid;
use serde::{Deserialize, Serialize};

/// The welcome within working hours (seed 001: 工作时间企业欢迎语).
pub const DEFAULT_WELCOME: &str = "您好，欢迎咨询在线客服，请简述您的问题！";
/// The reply outside working hours (seed 001: 非工作时间自动回复).
pub const DEFAULT_OFF_HOURS: &str =
    "您好，现在是非工作时间，客服暂时无法及时回复。您可以先留言，我们会在工作时间尽快答复您！";
/// What a buyer asking for a human outside working hours is told when they cannot queue.
pub const DEFAULT_LEAVE_MESSAGE: &str =
    "人工客服现在不在线，请留下您的问题和联系方式，客服上班后会第一时间回复您。";
/// The bot's answer when nothing matches.
pub const DEFAULT_BOT_FALLBACK: &str =
    "抱歉，我没有理解您的问题。您可以换个说法，点击常见问题，或回复“人工”转人工客服。";

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
    /// Within working hours, the first message of a conversation without a service flow.
    pub welcome_enabled: bool,
    pub welcome_message: String,
    /// Send the FAQ list as a menu after the welcome.
    pub faq_after_welcome: bool,
    /// Outside working hours (holidays have their own reply in the time plan).
    pub off_hours_enabled: bool,
    pub off_hours_message: String,
    /// Send the FAQ list after the off-hours or holiday reply.
    pub faq_after_off_hours: bool,
    /// Outside working hours a buyer who asks for a human still queues; otherwise they are
    /// asked to leave a message for the next working period.
    pub off_hours_queue: bool,
    pub leave_message_reply: String,
    /// Words that hand a buyer from the bot to a human, matched on the whole message.
    pub transfer_keywords: Vec<String>,
    /// The bot's answer when no FAQ entry matches.
    pub bot_fallback_message: String,
    /// After giving the same answer this many times in a row, the bot offers a human.
    pub bot_offer_after: u32,
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
            welcome_enabled: true,
            welcome_message: DEFAULT_WELCOME.into(),
            faq_after_welcome: true,
            off_hours_enabled: true,
            off_hours_message: DEFAULT_OFF_HOURS.into(),
            faq_after_off_hours: false,
            off_hours_queue: false,
            leave_message_reply: DEFAULT_LEAVE_MESSAGE.into(),
            transfer_keywords: ["RG", "人工", "转人工", "人工客服"]
                .map(String::from)
                .to_vec(),
            bot_fallback_message: DEFAULT_BOT_FALLBACK.into(),
            bot_offer_after: 3,
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
        for (field, text) in [
            ("welcome_message", &self.welcome_message),
            ("off_hours_message", &self.off_hours_message),
            ("leave_message_reply", &self.leave_message_reply),
            ("bot_fallback_message", &self.bot_fallback_message),
        ] {
            if text.chars().count() > 1000 {
                return Err(Invalid::new(field, "keep it to 1000 characters or fewer"));
            }
        }
        if self.transfer_keywords.iter().all(|k| k.trim().is_empty())
            || self.transfer_keywords.len() > 20
            || self
                .transfer_keywords
                .iter()
                .any(|k| k.chars().count() > 20)
        {
            return Err(Invalid::new(
                "transfer_keywords",
                "give 1 to 20 keywords of up to 20 characters each (e.g. RG, 人工)",
            ));
        }
        if !(1..=10).contains(&self.bot_offer_after) {
            return Err(Invalid::new(
                "bot_offer_after",
                "use 1 to 10 repeats of the same answer",
            ));
        }
        Ok(())
    }

    /// Whether the whole message (ignoring case and surrounding space) is a transfer keyword.
    pub fn asks_for_human(&self, text: &str) -> bool {
        let t = text.trim().to_lowercase();
        !t.is_empty()
            && self
                .transfer_keywords
                .iter()
                .any(|k| k.trim().to_lowercase() == t)
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
    fn transfer_keywords_match_the_whole_message_and_can_be_changed() {
        let s = ServiceSettings::default();
        for yes in ["RG", " rg ", "人工", "转人工", "人工客服\n"] {
            assert!(s.asks_for_human(yes), "{yes:?}");
        }
        for no in ["rgb", "不要人工", "人工智能", "", "我要退货"] {
            assert!(!s.asks_for_human(no), "{no:?}");
        }
        let own = ServiceSettings {
            transfer_keywords: vec!["客服".into()],
            ..Default::default()
        };
        assert!(own.asks_for_human("客服") && !own.asks_for_human("RG"));
        let none = ServiceSettings {
            transfer_keywords: vec![" ".into()],
            ..Default::default()
        };
        assert_eq!(none.validate().unwrap_err().field, "transfer_keywords");
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
