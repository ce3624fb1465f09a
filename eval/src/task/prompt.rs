//! Prompt layout: the harness's `Message` turns (system, few-shot user and
//! assistant turns, the question), joined as plain text or rendered through a
//! chat template (`--apply_chat_template`, `--fewshot_as_multiturn`).

use std::sync::Arc;

use crate::chat::{ChatMessage, ChatTemplate};
use crate::error::Result;

/// How prompts are laid out: plain text by default.
#[derive(Clone, Debug, Default)]
pub struct PromptStyle {
    /// `--system_instruction`: put before the task's description, in the system turn.
    pub system_instruction: Option<String>,
    /// `--apply_chat_template`: the model's template.
    pub chat_template: Option<Arc<ChatTemplate>>,
    /// `--fewshot_as_multiturn`: each few-shot example is a user and an
    /// assistant turn; otherwise everything but the system turn is one user turn.
    pub fewshot_as_multiturn: bool,
}

/// One turn; `delimiter` follows the content in plain text only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
    /// Appended when the turns are joined as plain text.
    pub delimiter: String,
}

impl Turn {
    /// A turn.
    pub fn new(role: &'static str, content: String, delimiter: &str) -> Self {
        Turn {
            role,
            content,
            delimiter: delimiter.into(),
        }
    }

    fn text(&self) -> String {
        format!("{}{}", self.content, self.delimiter)
    }
}

/// The harness's `maybe_delimit`: join with `delimiter` unless either side
/// already has whitespace at the join; an empty side gives the other.
pub fn maybe_delimit(prefix: &str, suffix: &str, delimiter: &str) -> String {
    match (prefix.chars().last(), suffix.chars().next()) {
        (None, _) => suffix.into(),
        (_, None) => prefix.into(),
        (Some(a), Some(b)) if a.is_whitespace() || b.is_whitespace() => format!("{prefix}{suffix}"),
        _ => format!("{prefix}{delimiter}{suffix}"),
    }
}

/// The harness's `requires_delimiter`: neither side has whitespace at the join.
pub fn requires_delimiter(prefix: &str, suffix: &str) -> bool {
    match (prefix.chars().last(), suffix.chars().next()) {
        (None, _) => false,
        (Some(a), b) => !(a.is_whitespace() || b.is_some_and(char::is_whitespace)),
    }
}

/// The harness's `build_qa_turn`: the question as a user turn, then the answer
/// (after `gen_prefix`) or the bare `gen_prefix` as an assistant turn.
pub fn qa_turns(
    q: String,
    answer: Option<String>,
    gen_prefix: Option<&str>,
    target_delimiter: &str,
    fewshot_delimiter: &str,
) -> Vec<Turn> {
    let prefix = gen_prefix.filter(|p| !p.is_empty());
    let user_delim = match (&answer, prefix) {
        (Some(_), None) => target_delimiter,
        (_, Some(p)) if requires_delimiter(&q, p) => target_delimiter,
        _ => "",
    };
    let mut turns = vec![Turn::new("user", q, user_delim)];
    match (answer, prefix) {
        (Some(a), p) => turns.push(Turn::new(
            "assistant",
            maybe_delimit(p.unwrap_or(""), &a, " "),
            fewshot_delimiter,
        )),
        (None, Some(p)) => turns.push(Turn::new("assistant", p.to_string(), "")),
        (None, None) => {}
    }
    turns
}

impl PromptStyle {
    /// Whether a chat template is applied.
    pub fn is_chat(&self) -> bool {
        self.chat_template.is_some()
    }

    /// The prompt for `turns` (the last one is the question, or a `gen_prefix`
    /// assistant turn the model continues). A template that fails with system
    /// turns is retried without them, as the harness's HF model does.
    pub fn render(&self, turns: &[Turn]) -> Result<String> {
        let Some(template) = &self.chat_template else {
            return Ok(turns.iter().map(Turn::text).collect());
        };
        let messages = if self.fewshot_as_multiturn {
            turns
                .iter()
                .map(|t| ChatMessage::new(t.role, &t.content))
                .collect()
        } else {
            single_turn(turns)
        };
        let render = |messages: &[ChatMessage]| {
            // A final assistant turn is a gen_prefix: continue it instead of
            // opening a new turn (the harness's add_generation_prompt=not gen_prefix).
            if messages.last().is_some_and(|m| m.role == "assistant") {
                template.render_continuing(messages)
            } else {
                template.render(messages, true)
            }
        };
        render(&messages).or_else(|first| {
            // As the harness's HF model: a template that rejects the system
            // turn (Gemma's raises) is retried without it.
            let without: Vec<ChatMessage> = messages
                .iter()
                .filter(|m| m.role != "system")
                .cloned()
                .collect();
            if without.len() == messages.len() {
                return Err(first);
            }
            render(&without)
        })
    }
}

/// `multiturn_to_singleturn`: the system turn stays, the rest becomes one user
/// turn of the plain-text join (without the last turn's delimiter).
fn single_turn(turns: &[Turn]) -> Vec<ChatMessage> {
    let (system, rest) = match turns.split_first() {
        Some((first, rest)) if first.role == "system" => (Some(first), rest),
        _ => (None, turns),
    };
    // A trailing assistant turn (gen_prefix) stays its own message.
    let (user_turns, prefix) = match rest.split_last() {
        Some((last, init)) if last.role == "assistant" => (init, Some(last)),
        _ => (rest, None),
    };
    let mut user: String = user_turns.iter().map(Turn::text).collect();
    if let Some(last) = user_turns.last() {
        user.truncate(user.len() - last.delimiter.len());
    }
    let mut out: Vec<ChatMessage> = system
        .map(|s| ChatMessage::new("system", &s.content))
        .into_iter()
        .collect();
    out.push(ChatMessage::new("user", &user));
    if let Some(p) = prefix {
        out.push(ChatMessage::new("assistant", &p.content));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimits_only_between_non_whitespace() {
        assert_eq!(
            maybe_delimit("Be brief.", "Math:", "\n\n"),
            "Be brief.\n\nMath:"
        );
        assert_eq!(
            maybe_delimit("Be brief.\n", "Math:", "\n\n"),
            "Be brief.\nMath:"
        );
        assert_eq!(maybe_delimit("", "Math:", " "), "Math:");
        assert_eq!(maybe_delimit("x", "", " "), "x");
    }
}
