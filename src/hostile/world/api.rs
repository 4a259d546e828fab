//! The Account API, as the hostile world answers it: the honest log requests (created once per
//! idempotency token, polled to their fate, their URLs renewed), and what an answer may say
//! instead: an error with its Retry-After and body, another request's status, a field quoting
//! the `Authorization` header, a state out of order, an expired URL.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use super::super::faults::{EchoField, ErrorBody, Fault, RetryAfter, StateLie};
use super::super::grammar::{Channel, Fate, Outcome};
use super::super::server::{Reply, Request};
use super::{END, LogRequest, OTHER_START, START, World};

impl World {
    /// An Account API answer: an error the plan draws instead of the honest answer, or the
    /// honest answer with what it says changed; then delivered as drawn.
    pub(super) fn api(
        &mut self,
        request: &Request,
        path: &str,
    ) -> (Reply, String, Option<Duration>) {
        self.api_calls += 1;
        let call = self.api_calls;
        if request.header("authorization") != Some(&format!("Bearer {}", self.key)) {
            self.wrongs
                .push(format!("API call #{call} without the account key"));
        }
        let (what, how) = self.draw(Channel::Api, |_| true);
        let note = format!("(api #{call}) {what:?} {how:?}");
        let max_delay = self.patience.max_delay;
        let (mut reply, mut backoff) = match what {
            Some(Fault::Unavailable {
                status,
                retry_after,
                body,
            }) => self.unavailable(status, retry_after, body),
            Some(Fault::Rejected { status, body }) => (self.error(status, body, None), None),
            Some(Fault::NotJson { body }) => {
                let mut reply = self.error(200, body, None);
                reply.headers[0].1 = "text/html".into();
                (reply, Some(max_delay))
            }
            _ => match self.honest(request, path) {
                Ok(mut status) => {
                    self.misstate(&mut status, what);
                    let reply = Reply::new(200, "application/json", status.to_string());
                    (reply, what.is_some().then_some(max_delay))
                }
                Err(reply) => (*reply, Some(max_delay)),
            },
        };
        if self.mangle(&mut reply, how) {
            backoff = backoff.or(Some(max_delay));
        }
        (reply, note, backoff)
    }

    /// A retryable error, with its Retry-After; and how long the client may wait after it.
    fn unavailable(
        &self,
        status: u16,
        retry_after: RetryAfter,
        body: ErrorBody,
    ) -> (Reply, Option<Duration>) {
        let mut reply = self.error(status, body, None);
        let wait = match retry_after {
            RetryAfter::None => self.patience.max_delay,
            RetryAfter::Seconds(s) => {
                reply.headers.push(("retry-after", s.to_string()));
                Duration::from_secs(s)
            }
            RetryAfter::Date(offset) => {
                let at = Utc::now() + TimeDelta::seconds(offset);
                reply.headers.push((
                    "retry-after",
                    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                ));
                Duration::from_secs(offset.max(0) as u64 + 1)
            }
        };
        // A longer Retry-After is not waited out: the client gives up at once.
        let patient = self.patience.max_retry_after + Duration::from_secs(1);
        let wait = if wait <= patient {
            wait.max(self.patience.max_delay)
        } else {
            self.patience.max_delay
        };
        (reply, Some(wait))
    }

    /// The honest `status` changed as `what` says.
    fn misstate(&self, status: &mut Value, what: Option<Fault>) {
        match what {
            Some(Fault::AboutAnother { same_id }) => {
                let id = status["request_id"].clone();
                *status = self.status_json(0, "Complete");
                if same_id {
                    status["request_id"] = id;
                }
            }
            Some(Fault::EchoInField(field)) => {
                let name = match field {
                    EchoField::RequestId => "request_id",
                    EchoField::Database => "database",
                    EchoField::RegionGroup => "region_group",
                    EchoField::State => "state",
                    EchoField::Extra => "debug",
                };
                let was = status[name].as_str().unwrap_or_default().to_owned();
                let echo = format!("{was} Authorization: Bearer {}", self.key);
                status[name] = Value::String(echo.trim().to_owned());
            }
            Some(Fault::StateLie(StateLie::Said(state))) => {
                let id = status["request_id"].as_str().unwrap_or_default();
                let r = self.requests.iter().position(|r| r.id == id).unwrap_or(0);
                status["state"] = state.into();
                if state == "Complete" {
                    status["presigned_url"] = self.url(r).into();
                    status["presigned_url_expiration_time"] = expires_in(TimeDelta::hours(1));
                } else if let Some(fields) = status.as_object_mut() {
                    fields.remove("presigned_url");
                    fields.remove("presigned_url_expiration_time");
                }
            }
            Some(Fault::ExpiredUrl) if status.get("presigned_url").is_some() => {
                status["presigned_url_expiration_time"] = expires_in(TimeDelta::minutes(-10));
            }
            _ => {}
        }
    }

    /// The honest answer of the Account API: a status, or an error reply.
    fn honest(&mut self, request: &Request, path: &str) -> Result<Value, Box<Reply>> {
        let not_found = |id: &str| {
            Box::new(Reply::new(
                404,
                "application/json",
                json!({"code": "not_found", "reason": format!("no log request {id}")}).to_string(),
            ))
        };
        if path == "/api/v1/logs" && request.method == "POST" {
            return Ok(self.create(request));
        }
        let Some(rest) = path.strip_prefix("/api/v1/logs/") else {
            return Err(not_found(path));
        };
        let (id, renew) = match rest.strip_suffix("/url") {
            Some(id) if request.method == "POST" => (id, true),
            _ => (rest, false),
        };
        let Some(r) = self.requests.iter().position(|r| r.id == id) else {
            return Err(not_found(id));
        };
        if renew {
            let req = &self.requests[r];
            if req.polls_left > 0 || req.outcome != Outcome::Complete {
                return Err(Box::new(Reply::new(
                    400,
                    "application/json",
                    json!({"code": "bad_request", "reason": "the request is not Complete"})
                        .to_string(),
                )));
            }
            self.mint(r);
            let state = if self.rng.u32(0..10) < 3 {
                "CreatingNewUrl"
            } else {
                "Complete"
            };
            let mut status = self.status_json(r, "Complete");
            status["state"] = state.into();
            return Ok(status);
        }
        let req = &mut self.requests[r];
        if req.polls_left > 0 {
            req.polls_left -= 1;
            let state = if req.polls_left.is_multiple_of(2) {
                "Pending"
            } else {
                "Requested"
            };
            return Ok(self.status_json(r, state));
        }
        let state = outcome_state(self.requests[r].outcome);
        Ok(self.status_json(r, state))
    }

    /// `POST /api/v1/logs`: a new request, or the one its idempotency token made.
    fn create(&mut self, request: &Request) -> Value {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let token = body["idempotency_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(&r) = self.tokens.get(&token) {
            let state = if self.requests[r].polls_left > 0 {
                "Pending"
            } else {
                outcome_state(self.requests[r].outcome)
            };
            return self.status_json(r, state);
        }
        let n = self.requests.len();
        let fate = self.plan.fates.get(n - 1).copied().unwrap_or(Fate {
            polls: 1,
            outcome: Outcome::Complete,
        });
        let version = self.new_version(
            self.plan.file.shape,
            true,
            "the file of a request of this window",
        );
        self.requests.push(LogRequest {
            id: format!("req-{}-{n}", self.plan.seed),
            ours: true,
            polls_left: fate.polls,
            outcome: fate.outcome,
            urls: Vec::new(),
            version,
        });
        self.mint(n);
        self.tokens.insert(token, n);
        let state = if fate.polls == 0 {
            outcome_state(fate.outcome)
        } else {
            "Pending"
        };
        self.status_json(n, state)
    }

    fn status_json(&self, r: usize, state: &str) -> Value {
        let req = &self.requests[r];
        let (start, end) = if req.ours {
            (START, END)
        } else {
            (OTHER_START, START)
        };
        let mut status = json!({
            "request_id": req.id,
            "state": state,
            "time_start": start,
            "time_end": end,
            "region_group": "us-std",
            "updated_at": "2026-01-11T01:02:03.456789Z",
            "version": req.urls.len(),
        });
        if !self.plan.region_group_scope {
            status["database"] = "us-std/ECommerce".into();
        }
        if state == "Complete" {
            status["presigned_url"] = self.url(r).into();
            status["presigned_url_expiration_time"] = expires_in(TimeDelta::hours(1));
        }
        status
    }

    /// An error answer of `status` with `body`; `url`, the presigned URL it may quote.
    pub(super) fn error(&self, status: u16, body: ErrorBody, url: Option<&str>) -> Reply {
        let fallback = self
            .requests
            .iter()
            .rposition(|r| r.ours)
            .map_or_else(|| self.url(0), |r| self.url(r));
        let url = url.map_or(fallback, str::to_owned);
        let bearer = format!("Bearer {}", self.key);
        let code = match status {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "permission_denied",
            404 => "not_found",
            429 => "limit_exceeded",
            _ => "internal_error",
        };
        let (content_type, text) = match body {
            ErrorBody::Json => ("application/json", json!({"code": code, "reason": "try again"}).to_string()),
            ErrorBody::EchoKeyInReason => (
                "application/json",
                json!({"code": code, "reason": format!("invalid header Authorization: {bearer} (is it an account key?)")}).to_string(),
            ),
            ErrorBody::EchoUrlInReason => (
                "application/json",
                json!({"code": code, "reason": format!("cannot sign {url}")}).to_string(),
            ),
            ErrorBody::HtmlEchoingKey => ("text/html", format!(
                "<html><body><h1>{status}</h1><pre>GET /api/v1/logs HTTP/1.1\nhost: account.fauna.com\nauthorization: {bearer}\n</pre></body></html>"
            )),
            ErrorBody::HtmlEchoingUrl => ("text/html", format!(
                "<html><body><h1>{status}</h1><p>The URL <a href=\"{url}\">{url}</a> failed.</p></body></html>"
            )),
            ErrorBody::XmlEchoingUrl => ("application/xml", format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message><CanonicalRequest>GET {url}</CanonicalRequest><RequestId>4442587FB7D0A2F9</RequestId></Error>"
            )),
            ErrorBody::Empty => ("text/plain", String::new()),
            ErrorBody::Huge { bytes, chunked } => {
                let mut reply = Reply::new(status, "text/html", "<html><body>");
                reply.filler = bytes;
                reply.filler_unit = b"<p>upstream connect error or disconnect/reset before headers</p>\n";
                reply.chunked = chunked;
                return reply;
            }
        };
        Reply::new(status, content_type, text)
    }
}

fn outcome_state(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Complete => "Complete",
        Outcome::DoesNotExist => "DoesNotExist",
        Outcome::Failed => "Failed",
        Outcome::TimedOut => "TimedOut",
    }
}

fn expires_in(delta: TimeDelta) -> Value {
    (Utc::now() + delta)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .into()
}
