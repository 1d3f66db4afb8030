//! Surveys: the page a customer reaches from the survey mail, and the API for answers taken by
//! other channels.
//!
//! `GET /survey/{token}` only shows the form: mail scanners and link previews follow links, so
//! a GET never records anything. `POST /survey/{token}` (the form's Submit) records the answer
//! as a `survey_answered` event on the ticket and in the customer's record. A token is signed,
//! expires, and works once.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, Caller, IfMatch};
use super::problem::{ApiError, Problem};
use crate::engine::survey::{SurveyAnswer, range};
use crate::engine::{Actor, ActorKind, Command, EngineError, FieldProblem, Ticket};
use crate::notify::survey::{SurveyToken, TokenError};
use crate::workflow::model::{Question, Survey};
use crate::writer::{CommandRequest, WriteError};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(survey_page, answer_page)).routes(routes!(record_answer))
}

/// What the survey form posts (all optional; empty means not answered).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SurveyForm {
    /// CSAT, 1 to 5.
    #[serde(default)]
    pub csat: Option<String>,
    /// NPS, 0 to 10.
    #[serde(default)]
    pub nps: Option<String>,
    /// CES, 1 to 7.
    #[serde(default)]
    pub ces: Option<String>,
    /// A comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Show the survey form (records nothing).
#[utoipa::path(get, path = "/survey/{token}", tag = "surveys",
    params(("token" = String, Path, description = "The token of the survey link")),
    responses((status = 200, description = "The form (or a note that it was answered)", content_type = "text/html", body = String),
              (status = 404, description = "Not a valid link", content_type = "text/html", body = String),
              (status = 410, description = "The link expired", content_type = "text/html", body = String)))]
async fn survey_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match open(&state, &token) {
        Ok((token, ticket, _)) if answered(&ticket, &token) => {
            page(StatusCode::OK, "Thank you", &format!("<p>{}</p>", already(&ticket)))
        }
        Ok((_, ticket, survey)) => form_page(StatusCode::OK, &ticket, &survey, &[], &SurveyForm::default()),
        Err(response) => *response,
    }
}

/// Record the answer the form posts.
#[utoipa::path(post, path = "/survey/{token}", tag = "surveys",
    params(("token" = String, Path, description = "The token of the survey link")),
    request_body(content = SurveyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Recorded", content_type = "text/html", body = String),
              (status = 400, description = "Not a form", content_type = "text/html", body = String),
              (status = 409, description = "Already answered", content_type = "text/html", body = String),
              (status = 415, description = "Not a form", content_type = "text/html", body = String),
              (status = 422, description = "The form again, with what to fix", content_type = "text/html", body = String),
              (status = 404, description = "Not a valid link", content_type = "text/html", body = String),
              (status = 410, description = "The link expired", content_type = "text/html", body = String)))]
async fn answer_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    form: Result<Form<SurveyForm>, FormRejection>,
) -> Response {
    let (token, ticket, survey) = match open(&state, &token) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let text = "<p>Please answer with the survey form.</p>";
            return page(rejection.status(), "Please use the form", text);
        }
    };
    let mut problems = Vec::new();
    let mut score = |field: &str, value: &Option<String>| -> Option<u8> {
        let text = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let parsed = text.parse().ok();
        if parsed.is_none() {
            problems.push(FieldProblem::new(field, "pick one of the numbers"));
        }
        parsed
    };
    let answer = SurveyAnswer {
        survey: token.survey.to_string(),
        csat: score("csat", &form.csat),
        nps: score("nps", &form.nps),
        ces: score("ces", &form.ces),
        comment: form.comment.clone(),
    };
    if !problems.is_empty() {
        return form_page(StatusCode::UNPROCESSABLE_ENTITY, &ticket, &survey, &problems, &form);
    }
    let actor = Actor { id: ticket.customer.to_string(), kind: ActorKind::Customer };
    let request = CommandRequest {
        ticket: ticket.id.to_string(),
        command: Command::AnswerSurvey(answer),
        actor,
        expected_revision: None,
    };
    match state.writer.command(request).await {
        Ok(_) => page(StatusCode::OK, "Thank you", "<p>Thank you: your answer was recorded.</p>"),
        Err(WriteError::Engine(EngineError::Invalid(problems))) => {
            form_page(StatusCode::UNPROCESSABLE_ENTITY, &ticket, &survey, &problems, &form)
        }
        Err(WriteError::Engine(EngineError::Finished(_))) => {
            page(StatusCode::CONFLICT, "Already answered", &format!("<p>{}</p>", already(&ticket)))
        }
        Err(error) => {
            tracing::error!(%error, ticket = %ticket.number, "a survey answer could not be recorded");
            let text = "<p>Your answer could not be saved just now. Please try again in a minute.</p>";
            page(StatusCode::SERVICE_UNAVAILABLE, "Please try again", text)
        }
    }
}

/// Record a survey answer taken another way (phone, SMS, messaging gateway). Integrators and
/// administrators only: agents do not rate their own work.
#[utoipa::path(post, path = "/v1/tickets/{id}/survey", tag = "commands", request_body = SurveyAnswer,
    params(("id" = String, Path, description = "Ticket id or number"), ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "Recorded; the ticket", body = Object),
              (status = 403, body = Problem, content_type = "application/problem+json"),
              (status = 409, body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn record_answer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    if_match: IfMatch,
    ApiJson(answer): ApiJson<SurveyAnswer>,
) -> Result<Response, ApiError> {
    super::tickets::run(&state, &caller, &id, if_match, Command::AnswerSurvey(answer)).await
}

/// The token's ticket and survey, or the page that says why not.
fn open(state: &AppState, token: &str) -> Result<(SurveyToken, Ticket, Survey), Box<Response>> {
    let token = SurveyToken::verify(token, state.survey_secret.as_ref(), state.clock.now()).map_err(|error| {
        let status = match error {
            TokenError::Invalid => StatusCode::NOT_FOUND,
            TokenError::Expired(_) => StatusCode::GONE,
        };
        Box::new(page(status, "Survey link not valid", &format!("<p>{}.</p>", escape(&error.to_string()))))
    })?;
    let unavailable =
        || Box::new(page(StatusCode::SERVICE_UNAVAILABLE, "Please try again", "<p>Please try again in a minute.</p>"));
    let ticket = match state.store.ticket(token.ticket) {
        Ok(Some(ticket)) => ticket,
        Ok(None) => {
            return Err(Box::new(page(StatusCode::NOT_FOUND, "Survey link not valid", "<p>No such survey.</p>")));
        }
        Err(_) => return Err(unavailable()),
    };
    let survey = match state.registry.version(&ticket.workflow, &ticket.version) {
        Ok(workflow) => workflow.and_then(|w| w.definition.survey.clone()).unwrap_or_default(),
        Err(_) => return Err(unavailable()),
    };
    Ok((token, ticket, survey))
}

fn answered(ticket: &Ticket, token: &SurveyToken) -> bool {
    let id = token.survey.to_string();
    ticket.surveys.iter().any(|s| s.survey == id)
}

fn already(ticket: &Ticket) -> String {
    format!("This survey about request {} was already answered. Thank you!", escape(&ticket.number))
}

fn form_page(
    status: StatusCode,
    ticket: &Ticket,
    survey: &Survey,
    problems: &[FieldProblem],
    form: &SurveyForm,
) -> Response {
    let mut body = format!(
        "<p>Request <strong>{}</strong>: {}</p>\n<form method=\"post\">\n",
        escape(&ticket.number),
        escape(&ticket.subject)
    );
    if !problems.is_empty() {
        body.push_str("<div role=\"alert\" style=\"color:#b42318\"><ul>");
        for problem in problems {
            body.push_str(&format!("<li>{}: {}</li>", escape(&problem.field), escape(&problem.message)));
        }
        body.push_str("</ul></div>\n");
    }
    for question in &survey.questions {
        let question = *question.get_ref();
        let (name, label, value) = match question {
            Question::Csat => (
                "csat",
                "How satisfied are you with how we handled your request? (1 = very unhappy, 5 = very happy)",
                &form.csat,
            ),
            Question::Nps => {
                ("nps", "How likely are you to recommend us to a friend? (0 = not at all, 10 = very likely)", &form.nps)
            }
            Question::Ces => {
                ("ces", "How easy was it to get your request handled? (1 = very hard, 7 = very easy)", &form.ces)
            }
            Question::Comment => ("comment", "Anything you want to tell us?", &form.comment),
        };
        match range(question) {
            Some((low, high)) => {
                body.push_str(&format!("<fieldset><legend>{}</legend>\n", escape(label)));
                for score in low..=high {
                    let checked = if value.as_deref() == Some(score.to_string().as_str()) { " checked" } else { "" };
                    body.push_str(&format!(
                        "<label style=\"margin-right:10px\"><input type=\"radio\" name=\"{name}\" value=\"{score}\"{checked}> {score}</label>\n"
                    ));
                }
                body.push_str("</fieldset>\n");
            }
            None => body.push_str(&format!(
                "<label for=\"comment\">{}</label><br><textarea id=\"comment\" name=\"comment\" rows=\"4\" cols=\"50\" maxlength=\"5000\" dir=\"auto\">{}</textarea>\n",
                escape(label),
                escape(value.as_deref().unwrap_or_default())
            )),
        }
    }
    body.push_str("<p><button type=\"submit\">Send</button></p>\n</form>");
    page(status, "How did we do?", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:-apple-system,Segoe UI,Tahoma,Arial,sans-serif;max-width:640px;margin:0 auto;padding:16px;line-height:1.5}}\
         fieldset{{border:1px solid #d0d7de;border-radius:6px;margin:12px 0}}button{{padding:8px 18px}}</style></head>\
         <body><div dir=\"auto\"><h1>{title}</h1>\n{body}\n</div></body></html>\n",
        title = escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
    );
    response
}

/// Text made safe inside HTML (MiniJinja's escaping, as in the mail templates).
fn escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_makes_markup_inert() {
        assert_eq!(super::escape("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#x27;");
    }
}
