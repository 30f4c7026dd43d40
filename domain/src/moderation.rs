//! Sensitive words (敏感词): each either blocks a message or masks itself as `***`.
//!
//! A tenant may list thousands of words and every message is checked, so the words are
//! compiled into Aho–Corasick automata once and each text is scanned in one pass, whatever
//! the number of words. Matching ignores ASCII case; Chinese needs no word boundaries, so a
//! word matches anywhere in the text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordAction {
    /// The message is refused; the sender is told which word.
    Block,
    /// The word is replaced by `***` and the message goes through.
    Mask,
}

impl WordAction {
    pub fn as_str(self) -> &'static str {
        match self {
            WordAction::Block => "block",
            WordAction::Mask => "mask",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "block" => Some(WordAction::Block),
            "mask" => Some(WordAction::Mask),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Word {
    pub word: String,
    pub action: WordAction,
}

/// The longest word accepted, in characters.
pub const MAX_WORD_CHARS: usize = 64;

/// What a text may become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    /// Refused because of this word (the first blocking word found).
    Blocked(String),
    /// Delivered as this text, masked.
    Masked(String),
}

/// A tenant's words, compiled.
#[derive(Debug, Clone)]
pub struct Filter {
    block: Option<(AhoCorasick, Vec<String>)>,
    mask: Option<AhoCorasick>,
}

impl Filter {
    pub fn new(words: &[Word]) -> Self {
        let pick = |action: WordAction| -> Vec<String> {
            words
                .iter()
                .filter(|w| w.action == action && !w.word.trim().is_empty())
                .map(|w| w.word.trim().to_string())
                .collect()
        };
        let block = pick(WordAction::Block);
        let mask = pick(WordAction::Mask);
        let build = |kind: MatchKind, patterns: &[String]| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(kind)
                .build(patterns)
                .expect("words of at most 64 characters always compile")
        };
        Self {
            block: (!block.is_empty()).then(|| (build(MatchKind::Standard, &block), block)),
            mask: (!mask.is_empty()).then(|| build(MatchKind::LeftmostLongest, &mask)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.block.is_none() && self.mask.is_none()
    }

    /// Checks one text: a blocking word anywhere refuses it; otherwise masking words become
    /// `***` (the longest word wins where they overlap).
    pub fn check(&self, text: &str) -> Verdict {
        if let Some((ac, words)) = &self.block
            && let Some(m) = ac.find(text)
        {
            return Verdict::Blocked(words[m.pattern().as_usize()].clone());
        }
        if let Some(ac) = &self.mask
            && ac.is_match(text)
        {
            let mut out = String::with_capacity(text.len());
            ac.replace_all_with(text, &mut out, |_, _, dst| {
                dst.push_str("***");
                true
            });
            return Verdict::Masked(out);
        }
        Verdict::Clean
    }

    /// Checks every text element of an IM `MsgBody` and masks in place. `Err(word)`: blocked.
    /// Returns whether anything was masked.
    pub fn check_body(&self, body: &mut serde_json::Value) -> Result<bool, String> {
        if self.is_empty() {
            return Ok(false);
        }
        let mut changed = false;
        let Some(elements) = body.as_array_mut() else {
            return Ok(false);
        };
        for e in elements {
            if e.get("MsgType").and_then(|t| t.as_str()) != Some("TIMTextElem") {
                continue;
            }
            let Some(text) = e.pointer_mut("/MsgContent/Text") else {
                continue;
            };
            let Some(s) = text.as_str() else { continue };
            match self.check(s) {
                Verdict::Clean => {}
                Verdict::Blocked(w) => return Err(w),
                Verdict::Masked(m) => {
                    *text = serde_json::Value::String(m);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(word: &str, action: WordAction) -> Word {
        Word {
            word: word.into(),
            action,
        }
    }

    #[test]
    fn blocking_wins_and_names_the_word() {
        let f = Filter::new(&[w("傻瓜", WordAction::Mask), w("加微信", WordAction::Block)]);
        assert_eq!(
            f.check("你这个傻瓜，加微信聊"),
            Verdict::Blocked("加微信".into())
        );
    }

    #[test]
    fn masking_replaces_every_occurrence_ignoring_ascii_case() {
        let f = Filter::new(&[w("fool", WordAction::Mask), w("傻瓜", WordAction::Mask)]);
        assert_eq!(
            f.check("FOOL! 傻瓜傻瓜 fool"),
            Verdict::Masked("***! ****** ***".into())
        );
        assert_eq!(f.check("你好"), Verdict::Clean);
    }

    #[test]
    fn the_longest_overlapping_word_is_masked() {
        let f = Filter::new(&[w("退款", WordAction::Mask), w("退款骗局", WordAction::Mask)]);
        assert_eq!(
            f.check("这是退款骗局吗"),
            Verdict::Masked("这是***吗".into())
        );
    }

    #[test]
    fn a_block_word_inside_a_mask_word_still_blocks() {
        let f = Filter::new(&[w("abc", WordAction::Mask), w("bc", WordAction::Block)]);
        assert_eq!(f.check("xabcx"), Verdict::Blocked("bc".into()));
    }

    #[test]
    fn bodies_are_checked_element_by_element() {
        let f = Filter::new(&[w("sb", WordAction::Mask), w("qq号", WordAction::Block)]);
        let mut body = serde_json::json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "you SB"}},
            {"MsgType": "TIMFaceElem", "MsgContent": {"Index": 1, "Data": "sb"}}
        ]);
        assert_eq!(f.check_body(&mut body), Ok(true));
        assert_eq!(body[0]["MsgContent"]["Text"], "you ***");
        assert_eq!(body[1]["MsgContent"]["Data"], "sb", "only text is checked");
        let mut blocked = serde_json::json!([
            {"MsgType": "TIMTextElem", "MsgContent": {"Text": "我的QQ号是"}}
        ]);
        assert_eq!(f.check_body(&mut blocked), Err("qq号".into()));
    }

    #[test]
    fn thousands_of_words_compile_into_one_scan() {
        let words: Vec<Word> = (0..5000)
            .map(|i| w(&format!("词{i}语"), WordAction::Mask))
            .collect();
        let f = Filter::new(&words);
        assert_eq!(f.check("前词4999语后"), Verdict::Masked("前***后".into()));
        assert_eq!(f.check("词语"), Verdict::Clean);
    }
}
