//! Jinja templates as the harness renders them.
//!
//! The harness renders `doc_to_text`/`doc_to_target`/`doc_to_choice` with Jinja2
//! (`StrictUndefined`, `keep_trailing_newline=True`, a `regex_replace` filter) and
//! its task files call Python methods inside templates (`question.strip()`,
//! `choices.label.index(answerKey)`). MiniJinja renders the same syntax; the
//! Python methods the task files use are supplied by [`python_method`].

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::pyregex::PyRegex;

/// A document: one JSON object from a dataset.
pub type Doc = serde_json::Map<String, serde_json::Value>;

/// The template environment shared by all tasks.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// An environment configured like the harness's Jinja2 environment.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid");
        env.set_syntax(syntax);
        env.set_unknown_method_callback(python_method);
        env.add_filter("regex_replace", regex_replace);
        Templates { env }
    }

    /// Renders `template` with the document's fields as variables.
    pub fn render(&self, template: &str, doc: &Doc) -> Result<String, String> {
        self.env
            .render_str(template, Value::from(minijinja::value::Serde(doc)))
            .map_err(|e| describe(&e))
    }

    /// Evaluates a template to a value: `{{ expr }}` alone yields the expression's
    /// value (a list stays a list — what the harness gets back from
    /// `ast.literal_eval` of the rendered Python repr), anything else a string.
    pub fn evaluate(&self, template: &str, doc: &Doc) -> Result<serde_json::Value, String> {
        if let Some(expr) = sole_expression(template) {
            let compiled = self
                .env
                .compile_expression(expr)
                .map_err(|e| describe(&e))?;
            let value = compiled
                .eval(Value::from(minijinja::value::Serde(doc)))
                .map_err(|e| describe(&e))?;
            if value.is_undefined() {
                return Err(format!("`{expr}` is undefined"));
            }
            return serde_json::to_value(&value).map_err(|e| e.to_string());
        }
        self.render(template, doc).map(serde_json::Value::String)
    }
}

/// `{{ expr }}` with nothing around it → `expr`.
fn sole_expression(template: &str) -> Option<&str> {
    let inner = template.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

fn describe(e: &Error) -> String {
    let mut msg = e.to_string();
    if let Some(detail) = e.detail() {
        msg = format!("{msg} ({detail})");
    }
    msg
}

fn regex_replace(
    s: String,
    pattern: String,
    repl: String,
    count: Option<usize>,
) -> Result<String, Error> {
    let re = PyRegex::new(&pattern)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(re.sub(&s, &repl, count.unwrap_or(0)))
}

fn str_arg(args: &[Value], i: usize) -> Result<Option<String>, Error> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .as_str()
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "expected a string argument")),
    }
}

/// The Python `str`/`list` methods the harness's templates call.
fn python_method(
    _: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        return string_method(s, method, args);
    }
    if value.kind() == ValueKind::Seq && method == "index" {
        let needle = args
            .first()
            .ok_or_else(|| Error::new(ErrorKind::MissingArgument, "index()"))?;
        for (i, item) in value.try_iter()?.enumerate() {
            if &item == needle {
                return Ok(Value::from(i));
            }
        }
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{needle} is not in list"),
        ));
    }
    Err(Error::from(ErrorKind::UnknownMethod))
}

fn string_method(s: &str, method: &str, args: &[Value]) -> Result<Value, Error> {
    let chars = str_arg(args, 0)?;
    let strip_set = |c: char| match &chars {
        Some(set) => set.contains(c),
        None => c.is_whitespace(),
    };
    let out: Value = match method {
        "strip" => s.trim_matches(strip_set).into(),
        "lstrip" => s.trim_start_matches(strip_set).into(),
        "rstrip" => s.trim_end_matches(strip_set).into(),
        "lower" => s.to_lowercase().into(),
        "upper" => s.to_uppercase().into(),
        "split" => match chars {
            Some(sep) => s
                .split(sep.as_str())
                .map(Value::from)
                .collect::<Vec<_>>()
                .into(),
            None => s
                .split_whitespace()
                .map(Value::from)
                .collect::<Vec<_>>()
                .into(),
        },
        "replace" => {
            let to = str_arg(args, 1)?.unwrap_or_default();
            s.replace(chars.unwrap_or_default().as_str(), &to).into()
        }
        "startswith" => s.starts_with(chars.unwrap_or_default().as_str()).into(),
        "endswith" => s.ends_with(chars.unwrap_or_default().as_str()).into(),
        "index" | "find" => {
            let needle = chars.unwrap_or_default();
            match s.find(needle.as_str()) {
                Some(byte) => Value::from(s[..byte].chars().count()),
                None if method == "find" => Value::from(-1),
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "substring not found",
                    ));
                }
            }
        }
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    };
    Ok(out)
}
