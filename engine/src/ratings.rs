//! Ratings: the card (`src` 9) sent when an agent's conversation ends or the buyer asks
//! (`src` 24), and the buyer's answer (`src` 10), stored once against the session and its
//! agent.

use crate::{Engine, Refusal, Result};
use kefu_domain::TenantId;
use kefu_domain::cs::{self, RatingOption};
use kefu_domain::settings::ServiceSettings;
use kefu_store::{Conversation, RateOutcome};

/// The five options, as the IM clients expect them: ids "101".."105", worst first.
pub fn options() -> Vec<RatingOption> {
    ["非常不满意", "不满意", "一般", "满意", "非常满意"]
        .iter()
        .enumerate()
        .map(|(i, label)| RatingOption {
            id: (101 + i).to_string(),
            content: (*label).to_string(),
        })
        .collect()
}

/// The score of an option id, as the iOS client reads it: `id < 100 ? id : id - 100`.
pub fn score(option_id: &str) -> Option<i64> {
    let id: i64 = option_id.trim().parse().ok()?;
    let score = if id < 100 { id } else { id - 100 };
    (1..=5).contains(&score).then_some(score)
}

impl Engine {
    /// Sends the rating card for `session` and records until when it can be answered.
    pub(crate) async fn send_rating_card(
        &self,
        c: &Conversation,
        session: i64,
        settings: &ServiceSettings,
    ) {
        let now = self.clock.now();
        let expires_at = now + settings.rating_expiry_hours * 3_600_000;
        if let Err(e) = self
            .store
            .rating_requested(c.tenant_id, session, expires_at)
            .await
        {
            tracing::warn!(error = %e, conversation = c.id, "the rating card was not recorded, so it is not sent");
            return;
        }
        let card = cs::rating_request(
            &session.to_string(),
            "请对本次服务进行评价",
            "感谢您的评价！",
            &options(),
            settings.rating_kind,
            settings.rating_expiry_hours,
            expires_at / 1000,
        );
        self.notify_buyer(c, card).await;
    }

    /// `src` 10: the buyer picked a rating. Refused (and not stored) when the session is not
    /// theirs, its card expired or was never sent, or it was rated already.
    pub(crate) async fn rate(
        &self,
        tenant: TenantId,
        buyer: &str,
        option_id: &str,
        label: &str,
        session_id: &str,
    ) -> std::result::Result<(), Refusal> {
        let Some(score) = score(option_id) else {
            return Err(Refusal::new(
                10150,
                format!("rating option `{option_id}` is not one of 101 to 105"),
            ));
        };
        let Ok(session) = session_id.trim().parse::<i64>() else {
            return Err(Refusal::new(
                10150,
                "the rating names no session; answer the rating card that was sent",
            ));
        };
        let now = self.clock.now();
        let outcome = self
            .store
            .rate_session(tenant, buyer, session, score, label, now)
            .await
            .map_err(Refusal::internal)?;
        match outcome {
            RateOutcome::Rated(_) => Ok(()),
            RateOutcome::Unknown => Err(Refusal::new(
                10154,
                "no agent served this buyer in that session; there is nothing to rate",
            )),
            RateOutcome::Expired => Err(Refusal::new(
                10150,
                "this rating card has expired; ratings are taken only until the card's expiry",
            )),
            RateOutcome::AlreadyRated => Err(Refusal::new(
                10152,
                "this session has already been rated; a rating cannot be changed",
            )),
        }
    }

    /// `src` 24: the buyer asks to rate now. Sends the card for their latest session with an
    /// agent, if the tenant lets buyers ask and it is not rated yet.
    pub(crate) async fn rate_now(
        &self,
        tenant: TenantId,
        buyer: &str,
        service_account: &str,
    ) -> std::result::Result<(), Refusal> {
        let settings = crate::cache::service_settings(&self.store, tenant)
            .await
            .map_err(Refusal::internal)?;
        if !settings.ratings_enabled || !settings.rating_by_buyer {
            return Err(Refusal::new(
                10150,
                "this shop does not take ratings asked for by buyers",
            ));
        }
        let session = self
            .store
            .latest_session_of(tenant, buyer, service_account)
            .await
            .map_err(Refusal::internal)?;
        let Some(session) = session else {
            return Err(Refusal::new(
                10154,
                "no agent has served you yet; ratings open once an agent has",
            ));
        };
        if session.rating.is_some() {
            return Err(Refusal::new(10152, "you have already rated this service"));
        }
        let c = self
            .store
            .get_conversation(tenant, session.conversation_id)
            .await
            .map_err(Refusal::internal)?
            .ok_or_else(|| Refusal::internal("the session's conversation vanished"))?;
        self.send_rating_card(&c, session.id, &settings).await;
        Ok(())
    }

    /// The rules card (`src` 23), in answer to the client opening the conversation (`src` 7).
    pub(crate) async fn rating_rules(&self, c: &Conversation) -> Result<()> {
        let settings = crate::cache::service_settings(&self.store, c.tenant_id).await?;
        self.notify_buyer(c, cs::rating_rules(settings.rating_rule_flags()))
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_ids_map_to_scores_one_to_five() {
        assert_eq!(score("101"), Some(1));
        assert_eq!(score(" 105 "), Some(5));
        assert_eq!(score("3"), Some(3));
        for bad in ["100", "106", "0", "x", ""] {
            assert_eq!(score(bad), None, "{bad:?}");
        }
        let ids: Vec<String> = options().into_iter().map(|o| o.id).collect();
        assert_eq!(ids, ["101", "102", "103", "104", "105"]);
    }
}
