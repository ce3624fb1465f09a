//! Any OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, TGI, OpenAI).
//!
//! Log-likelihoods come from `/v1/completions` with `echo: true, logprobs: 1`
//! (`max_tokens: 1`, as the harness's `local-completions` sends): the server
//! returns the log-probability of every prompt token, and the continuation's
//! score is the sum over the tokens that cover it (located by `text_offset`).
//! An endpoint that does not return prompt log-probabilities is an error — never
//! chance-level scores. Generation uses `/v1/completions` or
//! `/v1/chat/completions` (the server applies its chat template), greedy.
//!
//! Unlike the harness, vibee sends text, not token ids: the context/continuation
//! boundary is found in the server's own tokenization, so a token spanning the
//! boundary is counted with the continuation.
//!
//! Perplexity (`loglikelihood_rolling`) needs the model's tokenizer and context
//! length ([`OpenAiCompatible::with_tokenizer`]): as the harness's
//! `TemplateAPI.loglikelihood_rolling`, the text is cut into rolling windows of
//! `max_length - 1` tokens conditioned first on the end-of-text token, each window
//! is sent as token ids with `echo`, and the log-probabilities after the window's
//! context are summed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::rolling::rolling_windows;
use super::tokenizer::Tokenizer;
use super::{LanguageModel, split_context};
use crate::error::{EvalError, Result};
use crate::request::{Request, Response, Sampling, truncate_at_stops};

/// Which endpoint generation requests go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerationApi {
    /// `/v1/completions` with the prompt as is.
    Completions,
    /// `/v1/chat/completions` with the prompt as one user message.
    Chat,
}

/// An OpenAI-compatible client with bounded concurrency.
#[derive(Debug)]
pub struct OpenAiCompatible {
    base_url: String,
    model: String,
    api_key: Option<String>,
    concurrency: usize,
    generation: GenerationApi,
    agent: ureq::Agent,
    /// For perplexity: the model's tokenizer and context length in tokens.
    rolling: Option<(Tokenizer, usize)>,
}

impl OpenAiCompatible {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8000/v1`).
    pub fn new(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        concurrency: usize,
        generation: GenerationApi,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        OpenAiCompatible {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key,
            concurrency: concurrency.max(1),
            generation,
            agent,
            rolling: None,
        }
    }

    /// Enables perplexity tasks: `tokenizer` must be the served model's, and
    /// `max_length` its context in tokens (the harness's default is 2048).
    pub fn with_tokenizer(mut self, tokenizer: Tokenizer, max_length: usize) -> Self {
        self.rolling = Some((tokenizer, max_length.max(2)));
        self
    }

    /// Sum of the log-probabilities of `text`'s tokens over the harness's windows.
    fn loglikelihood_rolling(&self, text: &str) -> Result<f64> {
        let Some((tokenizer, max_length)) = &self.rolling else {
            return Err(EvalError::Model(
                "perplexity (loglikelihood_rolling) tasks over an endpoint need the model's tokenizer: pass --tokenizer <tokenizer.json> (and --max-length)".into(),
            ));
        };
        let tokens = tokenizer.encode(text)?;
        let mut total = 0.0;
        for w in rolling_windows(&tokens, tokenizer.prefix_token(), max_length - 1) {
            let ctxlen = w.context.len();
            let prompt: Vec<u32> = w.context.into_iter().chain(w.predicted).collect();
            let body = json!({
                "model": self.model, "prompt": prompt,
                "max_tokens": 1, "temperature": 0, "logprobs": 1, "echo": true,
            });
            total += sum_prompt_logprobs(&self.post("completions", &body)?, ctxlen)?;
        }
        Ok(total)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let url = format!("{}/{path}", self.base_url);
        let mut last = String::new();
        for attempt in 0..3 {
            let mut req = self.agent.post(&url);
            if let Some(key) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {key}"));
            }
            match req.send_json(body) {
                Ok(mut resp) => {
                    return resp
                        .body_mut()
                        .read_json::<Value>()
                        .map_err(|e| EvalError::Model(format!("{url}: {e}")));
                }
                // Client errors will not improve on retry.
                Err(ureq::Error::StatusCode(code)) if (400..500).contains(&code) && code != 429 => {
                    return Err(EvalError::Model(format!("{url}: http status {code}")));
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(500 << attempt));
        }
        Err(EvalError::Model(format!("{url}: {last}")))
    }

    fn loglikelihood(&self, context: &str, continuation: &str) -> Result<(f64, bool)> {
        let (context, continuation) = split_context(context, continuation);
        let body = json!({
            "model": self.model, "prompt": format!("{context}{continuation}"),
            "max_tokens": 1, "temperature": 0, "logprobs": 1, "echo": true,
        });
        let resp = self.post("completions", &body)?;
        parse_echo_logprobs(&resp, context.chars().count())
    }

    fn generate(
        &self,
        context: &str,
        until: &[String],
        max_tokens: usize,
        sampling: Option<&Sampling>,
    ) -> Result<String> {
        // OpenAI accepts at most 4 stop sequences; the rest are applied locally.
        let stop: Vec<&String> = until.iter().filter(|s| !s.is_empty()).take(4).collect();
        // Sample i of a prompt is seeded with i, so a rerun asks the same question.
        let (temperature, top_p, seed) = sampling.map_or((0.0, 1.0, None), |s| {
            (s.temperature, s.top_p, Some(s.sample))
        });
        let text = match self.generation {
            GenerationApi::Completions => {
                let body = json!({"model": self.model, "prompt": context, "max_tokens": max_tokens,
                                  "temperature": temperature, "top_p": top_p, "seed": seed, "stop": stop});
                let resp = self.post("completions", &body)?;
                resp.pointer("/choices/0/text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
            GenerationApi::Chat => {
                let body = json!({"model": self.model, "messages": [{"role": "user", "content": context}],
                                  "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed, "stop": stop});
                let resp = self.post("chat/completions", &body)?;
                resp.pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }
        };
        let text = text.ok_or_else(|| EvalError::Model("response has no generated text".into()))?;
        Ok(truncate_at_stops(&text, until))
    }

    fn answer_one(&self, request: &Request) -> Result<Response> {
        match request {
            Request::Loglikelihood {
                context,
                continuation,
            } => self
                .loglikelihood(context, continuation)
                .map(|(ll, g)| Response::Loglikelihood(ll, g)),
            Request::GenerateUntil {
                context,
                until,
                max_gen_toks,
                sampling,
            } => self
                .generate(context, until, *max_gen_toks, sampling.as_ref())
                .map(Response::Text),
            Request::LoglikelihoodRolling { text } => self
                .loglikelihood_rolling(text)
                .map(|ll| Response::Loglikelihood(ll, false)),
        }
    }
}

/// Sums the echoed log-probabilities of the prompt tokens from index `ctxlen` on
/// (the harness's `token_logprobs[ctxlen:-1]`: the last entry is the generated token).
pub fn sum_prompt_logprobs(resp: &Value, ctxlen: usize) -> Result<f64> {
    let logprobs = resp
        .pointer("/choices/0/logprobs/token_logprobs")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            EvalError::Model(
                "the endpoint returned no prompt log-probabilities (it must support `echo` with `logprobs` on /v1/completions); refusing to score".into(),
            )
        })?;
    let end = logprobs.len().saturating_sub(1);
    if ctxlen >= end {
        return Err(EvalError::Model(format!(
            "{} echoed log-probabilities for a window whose context is {ctxlen} tokens",
            logprobs.len()
        )));
    }
    logprobs[ctxlen..end]
        .iter()
        .map(|v| {
            v.as_f64().ok_or_else(|| {
                EvalError::Model(format!("token log-probability {v} is not a number"))
            })
        })
        .sum()
}

/// Sums the echoed log-probabilities of the tokens covering characters at or
/// after `context_chars`; greedy when each such token was the top-1 token.
pub fn parse_echo_logprobs(resp: &Value, context_chars: usize) -> Result<(f64, bool)> {
    let missing = || {
        EvalError::Model(
            "the endpoint returned no prompt log-probabilities (it must support `echo` with `logprobs` on /v1/completions); refusing to score".into(),
        )
    };
    let lp = resp
        .pointer("/choices/0/logprobs")
        .filter(|v| !v.is_null())
        .ok_or_else(missing)?;
    let tokens = lp
        .get("tokens")
        .and_then(Value::as_array)
        .ok_or_else(missing)?;
    let logprobs = lp
        .get("token_logprobs")
        .and_then(Value::as_array)
        .ok_or_else(missing)?;
    let offsets = lp
        .get("text_offset")
        .and_then(Value::as_array)
        .ok_or_else(missing)?;
    let top = lp.get("top_logprobs").and_then(Value::as_array);
    // The last token is the one generated by max_tokens=1; the rest is the echo.
    let echoed = tokens.len().saturating_sub(1);
    let (mut total, mut greedy, mut counted) = (0.0, true, 0);
    for i in 0..echoed {
        let end = offsets
            .get(i + 1)
            .and_then(Value::as_u64)
            .map_or(usize::MAX, |e| e as usize);
        if end <= context_chars {
            continue;
        }
        let ll = logprobs
            .get(i)
            .and_then(Value::as_f64)
            .ok_or_else(missing)?;
        total += ll;
        counted += 1;
        let token = tokens.get(i).and_then(Value::as_str).unwrap_or_default();
        if let Some(alts) = top.and_then(|t| t.get(i)).and_then(Value::as_object) {
            let best = alts.iter().max_by(|a, b| {
                a.1.as_f64()
                    .unwrap_or(f64::MIN)
                    .total_cmp(&b.1.as_f64().unwrap_or(f64::MIN))
            });
            greedy &= best.is_some_and(|(t, _)| t == token);
        } else {
            greedy = false;
        }
    }
    if counted == 0 {
        return Err(EvalError::Model(
            "no echoed token covers the continuation".into(),
        ));
    }
    Ok((total, greedy))
}

impl LanguageModel for OpenAiCompatible {
    fn name(&self) -> String {
        format!("openai-compatible:{}@{}", self.model, self.base_url)
    }

    fn answer(&self, requests: &[Request]) -> Result<Vec<Response>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Response>>>> =
            Mutex::new((0..requests.len()).map(|_| None).collect());
        std::thread::scope(|s| {
            for _ in 0..self.concurrency.min(requests.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(req) = requests.get(i) else { break };
                        let r = self.answer_one(req);
                        let failed = r.is_err();
                        if let Ok(mut out) = results.lock() {
                            out[i] = Some(r);
                        }
                        if failed {
                            // Stop handing out work; the first error is reported.
                            next.store(requests.len(), Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .map_err(|_| EvalError::Model("worker panicked".into()))?;
        let mut out = Vec::with_capacity(requests.len());
        for r in results {
            out.push(r.ok_or_else(|| {
                EvalError::Model("request not answered after an earlier failure".into())
            })??);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_logprobs_sum_over_the_continuation() {
        let resp = json!({"choices": [{"logprobs": {
            "tokens": ["Answer", ":", " B", "\n"],
            "token_logprobs": [null, -1.0, -0.5, -2.0],
            "text_offset": [0, 6, 7, 9],
            "top_logprobs": [null, {":": -1.0}, {" B": -0.5, " A": -1.5}, {"\n": -2.0}],
        }}]});
        let (ll, greedy) = parse_echo_logprobs(&resp, 7).expect("has logprobs");
        assert_eq!(ll, -0.5);
        assert!(greedy);
    }

    #[test]
    fn window_logprobs_skip_the_context_and_the_generated_token() {
        let resp = json!({"choices": [{"logprobs": {
            "token_logprobs": [null, -1.0, -0.5, -2.0, -9.0],
        }}]});
        assert_eq!(sum_prompt_logprobs(&resp, 2).expect("sums"), -2.5);
        assert!(sum_prompt_logprobs(&resp, 4).is_err());
        let bad = json!({"choices": [{"logprobs": {"token_logprobs": [null, null, 1]}}]});
        assert!(sum_prompt_logprobs(&bad, 1).is_err());
    }

    #[test]
    fn missing_prompt_logprobs_is_an_error() {
        let resp = json!({"choices": [{"text": " B", "logprobs": null}]});
        let err = parse_echo_logprobs(&resp, 7)
            .expect_err("no logprobs")
            .to_string();
        assert!(err.contains("no prompt log-probabilities"), "{err}");
    }
}
