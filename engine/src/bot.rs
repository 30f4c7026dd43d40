//! The bot: answers buyer text from the tenant's FAQ, best match first, and offers a human
//! after giving the same answer too many times in a row (seed 000: three times).
//!
//! Matching works on characters, so it needs no word segmentation for Chinese: an exact
//! title or keyword wins; then keywords found in the text (longer ones weigh more); then the
//! title inside the text or the text inside the title; then shared character pairs between
//! text and title.

use kefu_domain::SkillGroupId;
use kefu_domain::cs;
use kefu_store::KnowledgeEntry;

/// Below this, nothing matched.
const THRESHOLD: u32 = 10;

/// Most items shown in one FAQ menu.
pub const MENU_ITEMS: usize = 10;

/// The FAQ menu's header.
pub const MENU_HEADER: &str = "常见问题（点击查看答案）：";

/// Lower-case, without spaces and punctuation.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !c.is_ascii_punctuation() && !is_cjk_punctuation(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_cjk_punctuation(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303f}' | '\u{ff01}'..='\u{ff0f}' | '\u{ff1a}'..='\u{ff20}' | '\u{2018}'..='\u{201f}' | '…')
}

fn pairs(s: &str) -> Vec<(char, char)> {
    let chars: Vec<char> = s.chars().collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// How well `text` asks for `entry` (0: not at all).
pub fn score(entry: &KnowledgeEntry, text: &str) -> u32 {
    let t = normalize(text);
    if t.is_empty() {
        return 0;
    }
    let title = normalize(&entry.title);
    if t == title {
        return 1000;
    }
    let keywords: Vec<String> = entry
        .keywords
        .iter()
        .map(|k| normalize(k))
        .filter(|k| !k.is_empty())
        .collect();
    if keywords.contains(&t) {
        return 900;
    }
    let mut score = 0;
    for k in &keywords {
        let n = k.chars().count() as u32;
        if n >= 2 && t.contains(k.as_str()) {
            score += 10 * n;
        }
    }
    let title_len = title.chars().count() as u32;
    let text_len = t.chars().count() as u32;
    if title_len >= 2 && t.contains(title.as_str()) {
        score += 50 + title_len;
    } else if text_len >= 2 && title.contains(t.as_str()) {
        score += 30 + 2 * text_len;
    }
    let title_pairs = pairs(&title);
    let shared = pairs(&t).iter().filter(|p| title_pairs.contains(p)).count() as u32;
    score + 5 * shared
}

/// Whether a group sees an entry: the nearest entry up its chain (itself included) assigned
/// to any group decides; none assigned anywhere up the chain: every group sees it.
pub fn visible(
    all: &[KnowledgeEntry],
    entry: &KnowledgeEntry,
    group: Option<SkillGroupId>,
) -> bool {
    let mut at = Some(entry);
    let mut hops = 0;
    while let Some(e) = at {
        if !e.skill_group_ids.is_empty() {
            return group.is_some_and(|g| e.skill_group_ids.contains(&g));
        }
        hops += 1;
        if hops > 64 {
            break;
        }
        at = e.parent_id.and_then(|p| all.iter().find(|x| x.id == p));
    }
    true
}

/// The entries a buyer of `group` may be answered with at `now`.
pub fn usable(
    all: &[KnowledgeEntry],
    group: Option<SkillGroupId>,
    now: i64,
) -> Vec<&KnowledgeEntry> {
    all.iter()
        .filter(|e| e.live(now) && visible(all, e, group))
        .collect()
}

/// The best entry for `text`, if any scores enough. Ties go to the entry used most.
pub fn best<'a>(usable: &[&'a KnowledgeEntry], text: &str) -> Option<&'a KnowledgeEntry> {
    usable
        .iter()
        .map(|e| (score(e, text), *e))
        .filter(|(s, _)| *s >= THRESHOLD)
        .max_by(|(a, x), (b, y)| a.cmp(b).then(x.uses.cmp(&y.uses)).then(y.id.cmp(&x.id)))
        .map(|(_, e)| e)
}

/// The children of `parent` (`None`: the top level) a buyer can use, in order.
pub fn children<'a>(usable: &[&'a KnowledgeEntry], parent: Option<i64>) -> Vec<&'a KnowledgeEntry> {
    let mut out: Vec<&KnowledgeEntry> = usable
        .iter()
        .copied()
        .filter(|e| e.parent_id == parent)
        .collect();
    out.sort_by_key(|e| (e.position, e.id));
    out
}

/// The `src` 15 menu of entries: clicking one sends its title.
pub fn menu(header: &str, entries: &[&KnowledgeEntry]) -> Option<serde_json::Value> {
    if entries.is_empty() {
        return None;
    }
    let items: Vec<(&str, &str)> = entries
        .iter()
        .take(MENU_ITEMS)
        .map(|e| (e.title.as_str(), ""))
        .collect();
    Some(cs::branch(header, &items, ""))
}

/// An entry's answer as an IM message body.
pub fn answer(entry: &KnowledgeEntry) -> serde_json::Value {
    if entry.answer_kind == "image" {
        crate::notices::image(&entry.answer)
    } else {
        crate::notices::text(&entry.answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, title: &str, keywords: &[&str]) -> KnowledgeEntry {
        KnowledgeEntry {
            id,
            kind: kefu_store::KnowledgeKind::Faq,
            parent_id: None,
            title: title.into(),
            answer_kind: "text".into(),
            answer: format!("answer {id}"),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            enabled: true,
            is_new: false,
            valid_from: None,
            valid_to: None,
            uses: 0,
            position: id,
            skill_group_ids: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn chinese_questions_find_their_answer_best_first() {
        let all = [
            entry(1, "如何收费？", &["收费", "价格"]),
            entry(2, "如何交易最安全？", &["担保交易"]),
            entry(3, "举报商家", &["投诉", "举报"]),
        ];
        let usable: Vec<&KnowledgeEntry> = all.iter().collect();
        let pick = |t: &str| best(&usable, t).map(|e| e.id);
        assert_eq!(pick("如何收费"), Some(1), "the title without punctuation");
        assert_eq!(pick("价格"), Some(1), "a keyword alone");
        assert_eq!(
            pick("请问你们的收费标准是什么"),
            Some(1),
            "a keyword inside"
        );
        assert_eq!(pick("交易安全吗"), Some(2), "shared character pairs");
        assert_eq!(pick("我要投诉这个卖家"), Some(3));
        assert_eq!(pick("今天天气不错"), None);
        assert_eq!(pick("  "), None);
    }

    #[test]
    fn groups_see_only_their_subtrees() {
        let mut root = entry(1, "售后", &[]);
        root.skill_group_ids = vec![SkillGroupId(7)];
        let mut child = entry(2, "退货", &[]);
        child.parent_id = Some(1);
        let open = entry(3, "营业时间", &[]);
        let all = [root, child, open];
        assert!(visible(&all, &all[1], Some(SkillGroupId(7))));
        assert!(!visible(&all, &all[1], Some(SkillGroupId(8))));
        assert!(!visible(&all, &all[1], None));
        assert!(visible(&all, &all[2], Some(SkillGroupId(8))));
    }

    #[test]
    fn disabled_and_expired_entries_are_not_used() {
        let mut off = entry(1, "a", &[]);
        off.enabled = false;
        let mut expired = entry(2, "b", &[]);
        expired.valid_to = Some(100);
        let mut later = entry(3, "c", &[]);
        later.valid_from = Some(500);
        let all = [off, expired, later, entry(4, "d", &[])];
        let ids: Vec<i64> = usable(&all, None, 200).iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![4]);
        let ids: Vec<i64> = usable(&all, None, 600).iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![3, 4]);
    }
}
