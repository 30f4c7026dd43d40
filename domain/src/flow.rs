//! The service flow (会话服务流): what answers a buyer before a human, as a graph of nodes.
//!
//! A flow is a JSON document of nodes, each with an `id` and a `type`:
//! - `start`: where every conversation begins (exactly one);
//! - `message`: sends text, an image or a menu, then goes on;
//! - `branch`: sends a menu of choices and waits; a reply matching a choice's keywords (or its
//!   name, which is what a menu click sends) follows it, anything else gets the error prompt
//!   and the menu again, up to `max_retries` times, then `on_fail`;
//! - `bot`: answers from the FAQ until the buyer asks for a human, then goes to `human`;
//! - `transfer`: queues the buyer in a skill group with the flow's own queue, failure and
//!   success messages, then waits at `next` (an end) while a human serves;
//! - `end`: the buyer-reply timeout while the flow waits, its message, and the message sent
//!   when the conversation ends.
//!
//! Messages may use the variables `${WaitNo}` (buyers ahead in the queue), `${StaffNo}` and
//! `${StaffName}` (the agent), `${Buyer}` (the buyer's id).

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};

/// The variables a message may use.
pub const VARIABLES: &[&str] = &["WaitNo", "StaffNo", "StaffName", "Buyer"];

/// How many wrong answers a branch takes before `on_fail`, unless it says.
pub const DEFAULT_RETRIES: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(flatten)]
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    Start {
        next: String,
    },
    Message {
        #[serde(default)]
        text: String,
        /// An image URL sent after the text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
        /// Menu items: the text goes out as a `src` 15 menu with these.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        items: Vec<String>,
        next: String,
    },
    Branch {
        text: String,
        #[serde(default)]
        error_prompt: String,
        #[serde(default = "default_retries")]
        max_retries: u32,
        choices: Vec<Choice>,
        /// Where to go after `max_retries` wrong answers; none: the nearest end.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_fail: Option<String>,
    },
    Bot {
        /// Send the FAQ list as a menu on arriving.
        #[serde(default)]
        faq_menu: bool,
        /// Where the transfer keywords (or the bot's offer) lead.
        human: String,
    },
    Transfer {
        skill_group_id: i64,
        #[serde(default)]
        queue_message: String,
        #[serde(default)]
        failure_message: String,
        #[serde(default)]
        success_message: String,
        next: String,
    },
    End {
        /// Seconds the buyer has to answer while the flow waits (0: no limit).
        #[serde(default)]
        timeout_seconds: i64,
        #[serde(default)]
        timeout_message: String,
        #[serde(default)]
        end_message: String,
    },
}

fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub next: String,
}

impl Choice {
    /// The reply picks this choice: its name (a menu click) or one of its keywords, whole,
    /// ignoring ASCII case and surrounding space.
    pub fn matches(&self, reply: &str) -> bool {
        let r = reply.trim().to_lowercase();
        !r.is_empty()
            && (self.name.trim().to_lowercase() == r
                || self.keywords.iter().any(|k| k.trim().to_lowercase() == r))
    }
}

/// One problem found on save, next to its node (`None`: the flow as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowError {
    pub node: Option<String>,
    pub message: String,
}

impl FlowError {
    fn at(node: &str, message: impl Into<String>) -> Self {
        Self {
            node: Some(node.to_string()),
            message: message.into(),
        }
    }

    fn flow(message: impl Into<String>) -> Self {
        Self {
            node: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(n) => write!(f, "node `{n}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl NodeKind {
    /// Where this node can go next.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            NodeKind::Start { next } | NodeKind::Message { next, .. } => vec![next],
            NodeKind::Transfer { next, .. } => vec![next],
            NodeKind::Branch {
                choices, on_fail, ..
            } => choices
                .iter()
                .map(|c| c.next.as_str())
                .chain(on_fail.as_deref())
                .collect(),
            NodeKind::Bot { human, .. } => vec![human],
            NodeKind::End { .. } => vec![],
        }
    }

    /// The buyer answers here: the flow stops until they do.
    pub fn waits(&self) -> bool {
        matches!(
            self,
            NodeKind::Branch { .. } | NodeKind::Bot { .. } | NodeKind::Transfer { .. }
        )
    }

    fn texts(&self) -> Vec<&str> {
        match self {
            NodeKind::Start { .. } | NodeKind::Bot { .. } => vec![],
            NodeKind::Message { text, items, .. } => std::iter::once(text.as_str())
                .chain(items.iter().map(String::as_str))
                .collect(),
            NodeKind::Branch {
                text, error_prompt, ..
            } => vec![text, error_prompt],
            NodeKind::Transfer {
                queue_message,
                failure_message,
                success_message,
                ..
            } => vec![queue_message, failure_message, success_message],
            NodeKind::End {
                timeout_message,
                end_message,
                ..
            } => vec![timeout_message, end_message],
        }
    }
}

/// Parses and validates a flow document. `groups`: the tenant's skill group ids.
pub fn parse(doc: &serde_json::Value, groups: &[i64]) -> Result<Flow, Vec<FlowError>> {
    let flow: Flow = serde_json::from_value(doc.clone()).map_err(|e| {
        vec![FlowError::flow(format!(
            "the flow is not a valid document: {e}; each node needs an `id` and a `type` \
             (start, message, branch, bot, transfer or end) with that type's fields"
        ))]
    })?;
    let errors = flow.validate(groups);
    if errors.is_empty() {
        Ok(flow)
    } else {
        Err(errors)
    }
}

impl Flow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn start(&self) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| matches!(n.kind, NodeKind::Start { .. }))
    }

    /// The first node of `pred` found going forward from `from` (itself included), nearest
    /// first, ties in the order the node lists its targets.
    pub fn nearest(&self, from: &str, pred: impl Fn(&NodeKind) -> bool) -> Option<&Node> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([from]);
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            let Some(node) = self.node(id) else { continue };
            if pred(&node.kind) {
                return Some(node);
            }
            queue.extend(node.kind.targets());
        }
        None
    }

    /// The end that applies while the buyer is at `node`.
    pub fn end_for(&self, node: &str) -> Option<&Node> {
        self.nearest(node, |k| matches!(k, NodeKind::End { .. }))
    }

    /// Every problem, each next to its node; empty when the flow can run.
    pub fn validate(&self, groups: &[i64]) -> Vec<FlowError> {
        let mut errors = Vec::new();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for n in &self.nodes {
            if n.id.trim().is_empty() || n.id.chars().count() > 64 {
                errors.push(FlowError::flow(
                    "every node needs an id of 1 to 64 characters",
                ));
            }
            *ids.entry(n.id.as_str()).or_default() += 1;
        }
        for (id, count) in &ids {
            if *count > 1 {
                errors.push(FlowError::at(
                    id,
                    format!("{count} nodes share this id; give each its own"),
                ));
            }
        }
        let starts = self
            .nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Start { .. }))
            .count();
        if starts != 1 {
            errors.push(FlowError::flow(format!(
                "a flow has exactly one start node; this one has {starts}"
            )));
        }
        if !self
            .nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::End { .. }))
        {
            errors.push(FlowError::flow(
                "the flow has no end node; every path must finish at an end",
            ));
        }
        for n in &self.nodes {
            for t in n.kind.targets() {
                if !ids.contains_key(t) {
                    errors.push(FlowError::at(
                        &n.id,
                        format!("it leads to `{t}`, which is not a node of this flow"),
                    ));
                } else if self
                    .node(t)
                    .is_some_and(|m| matches!(m.kind, NodeKind::Start { .. }))
                {
                    errors.push(FlowError::at(
                        &n.id,
                        "it leads back to the start; lead to the node after the start instead",
                    ));
                }
            }
            self.check_node(n, groups, &mut errors);
        }
        if !errors.is_empty() {
            return errors;
        }
        let start = self.start().expect("checked above");
        let mut reachable = HashSet::new();
        let mut stack = vec![start.id.as_str()];
        while let Some(id) = stack.pop() {
            if reachable.insert(id)
                && let Some(n) = self.node(id)
            {
                stack.extend(n.kind.targets());
            }
        }
        for n in &self.nodes {
            if !reachable.contains(n.id.as_str()) {
                errors.push(FlowError::at(
                    &n.id,
                    "no path from the start reaches this node; connect it or delete it",
                ));
            } else if self.end_for(&n.id).is_none() {
                errors.push(FlowError::at(
                    &n.id,
                    "no path from this node reaches an end; connect it to an end node",
                ));
            }
        }
        // A loop of nodes that never wait would send messages forever.
        for n in &self.nodes {
            if !n.kind.waits() && self.loops_without_waiting(&n.id) {
                errors.push(FlowError::at(
                    &n.id,
                    "this node is on a loop with no branch, bot or transfer to wait at; break the loop",
                ));
            }
        }
        errors
    }

    fn loops_without_waiting(&self, from: &str) -> bool {
        let mut seen = HashSet::new();
        let mut stack: Vec<&str> = self
            .node(from)
            .map(|n| n.kind.targets())
            .unwrap_or_default();
        while let Some(id) = stack.pop() {
            if id == from {
                return true;
            }
            if !seen.insert(id) {
                continue;
            }
            if let Some(n) = self.node(id)
                && !n.kind.waits()
            {
                stack.extend(n.kind.targets());
            }
        }
        false
    }

    fn check_node(&self, n: &Node, groups: &[i64], errors: &mut Vec<FlowError>) {
        for text in n.kind.texts() {
            if text.chars().count() > 2000 {
                errors.push(FlowError::at(
                    &n.id,
                    "a message is longer than 2000 characters; shorten it",
                ));
            }
            for var in variables_in(text) {
                if !VARIABLES.contains(&var) {
                    errors.push(FlowError::at(
                        &n.id,
                        format!(
                            "`${{{var}}}` is not a variable; use ${{WaitNo}}, ${{StaffNo}}, ${{StaffName}} or ${{Buyer}}"
                        ),
                    ));
                }
            }
        }
        match &n.kind {
            NodeKind::Message {
                text, image, items, ..
            } => {
                if text.trim().is_empty() && image.is_none() {
                    errors.push(FlowError::at(
                        &n.id,
                        "a message node needs a text or an image",
                    ));
                }
                if items.iter().any(|i| i.trim().is_empty()) {
                    errors.push(FlowError::at(&n.id, "a menu item is empty"));
                }
                if let Some(url) = image
                    && !(url.starts_with("https://")
                        || url.starts_with("http://")
                        || url.starts_with('/'))
                {
                    errors.push(FlowError::at(
                        &n.id,
                        "the image must be a URL (https://… or a path on this server)",
                    ));
                }
            }
            NodeKind::Branch {
                text,
                choices,
                max_retries,
                ..
            } => {
                if text.trim().is_empty() {
                    errors.push(FlowError::at(
                        &n.id,
                        "a branch needs the text that asks the buyer to choose",
                    ));
                }
                if choices.is_empty() {
                    errors.push(FlowError::at(&n.id, "a branch needs at least one choice"));
                }
                if !(1..=10).contains(max_retries) {
                    errors.push(FlowError::at(&n.id, "max_retries must be 1 to 10"));
                }
                let mut words: HashMap<String, &str> = HashMap::new();
                for c in choices {
                    if c.name.trim().is_empty() {
                        errors.push(FlowError::at(&n.id, "every choice needs a name"));
                    }
                    for k in std::iter::once(&c.name).chain(&c.keywords) {
                        let k = k.trim().to_lowercase();
                        if k.is_empty() {
                            continue;
                        }
                        if let Some(other) = words.insert(k.clone(), &c.name)
                            && other != c.name
                        {
                            errors.push(FlowError::at(
                                &n.id,
                                format!(
                                    "`{k}` picks both `{other}` and `{}`; keep it on one choice",
                                    c.name
                                ),
                            ));
                        }
                    }
                }
            }
            NodeKind::Transfer {
                skill_group_id,
                next,
                ..
            } => {
                if !groups.contains(skill_group_id) {
                    errors.push(FlowError::at(
                        &n.id,
                        format!(
                            "skill group {skill_group_id} does not exist; pick one of the tenant's skill groups"
                        ),
                    ));
                }
                if self
                    .node(next)
                    .is_some_and(|m| !matches!(m.kind, NodeKind::End { .. }))
                {
                    errors.push(FlowError::at(
                        &n.id,
                        "a transfer leads to an end node, whose end message closes the conversation",
                    ));
                }
            }
            NodeKind::End {
                timeout_seconds, ..
            } => {
                if !(0..=86_400).contains(timeout_seconds) {
                    errors.push(FlowError::at(
                        &n.id,
                        "timeout_seconds must be 0 (no limit) to 86400 (a day)",
                    ));
                }
            }
            NodeKind::Start { .. } | NodeKind::Bot { .. } => {}
        }
    }
}

/// The `${Name}` variables a text uses.
fn variables_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(j) = after.find('}') else { break };
        out.push(&after[..j]);
        rest = &after[j + 1..];
    }
    out
}

/// Replaces each `${Name}` with its value; variables without one are left as written.
pub fn expand(text: &str, vars: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

/// Whether a stored flow document has a transfer to skill group `group`.
pub fn transfers_to(doc: &str, group: i64) -> bool {
    serde_json::from_str::<Flow>(doc).is_ok_and(|f| {
        f.nodes.iter().any(|n| {
            matches!(n.kind, NodeKind::Transfer { skill_group_id, .. } if skill_group_id == group)
        })
    })
}

/// The demo tenant's flow: welcome → FAQ menu with the bot → "人工" or "RG" → a human.
pub fn demo(skill_group_id: i64) -> serde_json::Value {
    serde_json::json!({
        "nodes": [
            {"id": "start", "type": "start", "next": "welcome"},
            {"id": "welcome", "type": "message",
             "text": "您好，欢迎光临！我是智能客服小K。请点击下方常见问题，或直接输入您的问题；需要人工服务请回复“人工”或“RG”。",
             "next": "faq"},
            {"id": "faq", "type": "bot", "faq_menu": true, "human": "human"},
            {"id": "human", "type": "transfer", "skill_group_id": skill_group_id,
             "queue_message": "正在为您转接人工客服，当前排队人数为${WaitNo}，请耐心等待。",
             "failure_message": "当前无客服在线，请稍后咨询，或留下您的问题，客服上线后会尽快回复。",
             "success_message": "转人工客服成功，${StaffNo}号客服${StaffName}为您服务。",
             "next": "end"},
            {"id": "end", "type": "end", "timeout_seconds": 600,
             "timeout_message": "超时未回复，本次会话将自动退出。",
             "end_message": "本次会话已经结束，感谢您的咨询。"}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(doc: serde_json::Value) -> Vec<String> {
        match parse(&doc, &[1, 2]) {
            Ok(_) => vec![],
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_demo_flow_is_valid() {
        let flow = parse(&demo(1), &[1]).expect("valid");
        assert_eq!(flow.start().unwrap().id, "start");
        assert_eq!(flow.end_for("faq").unwrap().id, "end");
    }

    #[test]
    fn unknown_targets_unreachable_nodes_and_missing_ends_are_named() {
        let e = errors(json!({"nodes": [
            {"id": "start", "type": "start", "next": "hello"},
            {"id": "hello", "type": "message", "text": "hi", "next": "nowhere"}
        ]}));
        assert!(e.iter().any(|m| m.contains("no end node")), "{e:?}");
        assert!(
            e.iter()
                .any(|m| m.contains("node `hello`") && m.contains("`nowhere`")),
            "{e:?}"
        );
        let e = errors(json!({"nodes": [
            {"id": "start", "type": "start", "next": "end"},
            {"id": "orphan", "type": "message", "text": "hi", "next": "end"},
            {"id": "end", "type": "end"}
        ]}));
        assert_eq!(
            e,
            vec![
                "node `orphan`: no path from the start reaches this node; connect it or delete it"
            ]
        );
    }

    #[test]
    fn unknown_skill_groups_and_variables_are_refused() {
        let e = errors(json!({"nodes": [
            {"id": "start", "type": "start", "next": "t"},
            {"id": "t", "type": "transfer", "skill_group_id": 9,
             "queue_message": "前面 ${WaitNum} 位", "next": "end"},
            {"id": "end", "type": "end"}
        ]}));
        assert!(e.iter().any(|m| m.contains("skill group 9")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("${WaitNum}")), "{e:?}");
    }

    #[test]
    fn a_loop_that_never_waits_is_refused_but_one_through_a_branch_is_not() {
        let e = errors(json!({"nodes": [
            {"id": "start", "type": "start", "next": "a"},
            {"id": "a", "type": "message", "text": "a", "next": "b"},
            {"id": "b", "type": "message", "text": "b", "next": "a"},
            {"id": "end", "type": "end"}
        ]}));
        assert!(e.iter().any(|m| m.contains("loop")), "{e:?}");
        let ok = errors(json!({"nodes": [
            {"id": "start", "type": "start", "next": "menu"},
            {"id": "menu", "type": "branch", "text": "1 或 2", "choices": [
                {"name": "再来", "keywords": ["1"], "next": "again"},
                {"name": "结束", "keywords": ["2"], "next": "end"}]},
            {"id": "again", "type": "message", "text": "好的", "next": "menu"},
            {"id": "end", "type": "end"}
        ]}));
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn a_keyword_on_two_choices_and_a_bad_document_are_explained() {
        let e = errors(json!({"nodes": [
            {"id": "start", "type": "start", "next": "b"},
            {"id": "b", "type": "branch", "text": "?", "choices": [
                {"name": "咨询", "keywords": ["1"], "next": "end"},
                {"name": "合作", "keywords": ["1"], "next": "end"}]},
            {"id": "end", "type": "end"}
        ]}));
        assert!(e.iter().any(|m| m.contains("`1` picks both")), "{e:?}");
        let e = errors(json!({"nodes": [{"id": "x", "type": "teleport"}]}));
        assert!(e[0].contains("not a valid document"), "{e:?}");
    }

    #[test]
    fn a_flow_knows_which_groups_it_transfers_to() {
        let doc = demo(4).to_string();
        assert!(transfers_to(&doc, 4));
        assert!(!transfers_to(&doc, 5));
        assert!(!transfers_to("not json", 4));
    }

    #[test]
    fn choices_match_names_and_keywords_whole() {
        let c = Choice {
            name: "产品咨询".into(),
            keywords: vec!["1".into(), "咨询".into()],
            next: "x".into(),
        };
        assert!(c.matches(" 1 ") && c.matches("咨询") && c.matches("产品咨询"));
        assert!(!c.matches("11") && !c.matches("我要咨询") && !c.matches(""));
    }

    #[test]
    fn variables_expand_and_unknown_text_is_kept() {
        let out = expand(
            "前面还有${WaitNo}位，${StaffNo}号 ${Other}",
            &[("WaitNo", "2".into()), ("StaffNo", "7".into())],
        );
        assert_eq!(out, "前面还有2位，7号 ${Other}");
    }
}
