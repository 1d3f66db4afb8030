//! Surveys: the page a customer reaches from the survey mail, and the API for answers taken by
//! other channels.
//!
//! `GET /survey/{token}` only shows the form: mail scanners and link previews follow links, so
//! a GET never records anything. `POST /survey/{token}` (the form's Submit) records the answer
//! as a `survey_answered` event on the ticket and in the customer's record. A token is signed,
//! expires, and works once. The page is drawn in the web pages' frame (`survey.html`), in the
//! workflow's language (or the one the visitor chose), with its texts in `[survey]`.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::{ApiJson, ApiPath, Caller, IfMatch};
use super::problem::{ApiError, Problem};
use crate::engine::survey::{SurveyAnswer, range};
use crate::engine::{Actor, ActorKind, Command, EngineError, FieldProblem, Ticket};
use crate::locale::Lang;
use crate::notify::survey::{SurveyToken, TokenError};
use crate::web::page::{Frame, PageError};
use crate::web::session::Visitor;
use crate::web::texts;
use crate::workflow::model::{Question, Survey};
use crate::writer::{CommandRequest, WriteError};

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    // The page is one of the pages: it gets their headers (scripts and styles only from here).
    OpenApiRouter::new()
        .routes(routes!(survey_page, answer_page))
        .layer(axum::middleware::from_fn(crate::web::page::security_headers))
        .routes(routes!(record_answer))
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
async fn survey_page(State(state): State<AppState>, visitor: Visitor, Path(token): Path<String>) -> Response {
    match open(&state, &visitor, &token) {
        Ok(found) if answered(&found.ticket, &found.token) => found.thanks(StatusCode::OK, "survey.already"),
        Ok(found) => found.form(StatusCode::OK, &[], &SurveyForm::default()),
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
    visitor: Visitor,
    Path(token): Path<String>,
    form: Result<Form<SurveyForm>, FormRejection>,
) -> Response {
    let found = match open(&state, &visitor, &token) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let why = texts::text(found.frame.lang, "survey.use_form").to_string();
            let mut response = found.frame.error(PageError::BadRequest(why));
            *response.status_mut() = rejection.status();
            return response;
        }
    };
    let mut problems = Vec::new();
    let mut score = |field: &str, value: &Option<String>| -> Option<u8> {
        let text = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let parsed = text.parse().ok();
        if parsed.is_none() {
            problems.push(FieldProblem::new(field, texts::text(found.frame.lang, "survey.pick_one")));
        }
        parsed
    };
    let answer = SurveyAnswer {
        survey: found.token.survey.to_string(),
        csat: score("csat", &form.csat),
        nps: score("nps", &form.nps),
        ces: score("ces", &form.ces),
        comment: form.comment.clone(),
    };
    if !problems.is_empty() {
        return found.form(StatusCode::UNPROCESSABLE_ENTITY, &problems, &form);
    }
    let actor = Actor { id: found.ticket.customer.to_string(), kind: ActorKind::Customer };
    let request = CommandRequest {
        ticket: found.ticket.id.to_string(),
        command: Command::AnswerSurvey(answer),
        actor,
        expected_revision: None,
    };
    match state.writer.command(request).await {
        Ok(_) => found.thanks(StatusCode::OK, "survey.recorded"),
        Err(WriteError::Engine(EngineError::Invalid(problems))) => {
            found.form(StatusCode::UNPROCESSABLE_ENTITY, &problems, &form)
        }
        Err(WriteError::Engine(EngineError::Finished(_))) => found.thanks(StatusCode::CONFLICT, "survey.already"),
        Err(error) => {
            tracing::error!(%error, ticket = %found.ticket.number, "a survey answer could not be recorded");
            found.thanks(StatusCode::SERVICE_UNAVAILABLE, "survey.try_again")
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

/// A survey link's ticket and survey, and the frame of its page (the workflow's language and
/// time zone, or the visitor's choice).
struct Found {
    token: SurveyToken,
    ticket: Ticket,
    survey: Survey,
    frame: Frame,
}

impl Found {
    /// A page that thanks the customer (or says why not), with text `key`.
    fn thanks(&self, status: StatusCode, key: &str) -> Response {
        noindex(self.frame.render_with(
            status,
            "survey_done.html",
            context! { key => key, number => self.ticket.number },
        ))
    }

    /// The form, with what was answered and the problems found.
    fn form(&self, status: StatusCode, problems: &[FieldProblem], form: &SurveyForm) -> Response {
        let problem_of = |name: &str| problems.iter().find(|p| p.field == name).map(|p| p.message.clone());
        let questions: Vec<Value> = self
            .survey
            .questions
            .iter()
            .map(|question| {
                let question = *question.get_ref();
                let (name, value) = match question {
                    Question::Csat => ("csat", &form.csat),
                    Question::Nps => ("nps", &form.nps),
                    Question::Ces => ("ces", &form.ces),
                    Question::Comment => ("comment", &form.comment),
                };
                let scores: Vec<u8> = range(question).map(|(low, high)| (low..=high).collect()).unwrap_or_default();
                context! {
                    name => name,
                    label_key => format!("survey.question.{name}"),
                    scale_key => format!("survey.scale.{name}"),
                    scores => scores,
                    value => value.clone().unwrap_or_default(),
                    problem => problem_of(name),
                }
            })
            .collect();
        // Problems on no question of the form (there should be none) are listed at the top.
        let known = ["csat", "nps", "ces", "comment"];
        let other: Vec<String> = problems
            .iter()
            .filter(|p| !known.contains(&p.field.as_str()))
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        let context = context! {
            number => self.ticket.number,
            subject => self.ticket.subject,
            questions => questions,
            other => other,
            invalid => !problems.is_empty(),
        };
        noindex(self.frame.render_with(status, "survey.html", context))
    }
}

/// Survey pages are nobody's search result.
fn noindex(mut response: Response) -> Response {
    response.headers_mut().insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

/// The token's ticket and survey, or the page that says why not.
fn open(state: &AppState, visitor: &Visitor, token: &str) -> Result<Found, Box<Response>> {
    let path = format!("/survey/{token}");
    let fallback = || Frame::anonymous(visitor.lang(Lang::En), chrono_tz::UTC, path.clone());
    let unavailable = |frame: Frame| Box::new(frame.error(PageError::Internal("the store failed".into())));
    let verified = SurveyToken::verify(token, state.survey_secret.as_ref(), state.clock.now());
    // The ticket first, so even a refusal speaks the workflow's language.
    let ticket_id = match &verified {
        Ok(token) => Some(token.ticket),
        Err(_) => token.split('.').next().and_then(|id| id.parse().ok()),
    };
    let ticket = match ticket_id.map(|id| state.store.ticket(id)) {
        Some(Ok(ticket)) => ticket,
        Some(Err(_)) => return Err(unavailable(fallback())),
        None => None,
    };
    let workflow = match &ticket {
        Some(ticket) => match state.registry.version(&ticket.workflow, &ticket.version) {
            Ok(workflow) => workflow,
            Err(_) => return Err(unavailable(fallback())),
        },
        None => None,
    };
    let frame = match &workflow {
        Some(w) => Frame::anonymous(visitor.lang_for(w.definition.language), w.definition.timezone(), path.clone()),
        None => fallback(),
    };
    let token = verified.map_err(|error| {
        Box::new(noindex(match error {
            TokenError::Invalid => frame.error(PageError::NotFound),
            TokenError::Expired(_) => {
                frame.error(PageError::Gone(texts::text(frame.lang, "survey.expired").to_string()))
            }
        }))
    })?;
    let Some(ticket) = ticket else { return Err(Box::new(noindex(frame.error(PageError::NotFound)))) };
    let survey = workflow.and_then(|w| w.definition.survey.clone()).unwrap_or_default();
    Ok(Found { token, ticket, survey, frame })
}

fn answered(ticket: &Ticket, token: &SurveyToken) -> bool {
    let id = token.survey.to_string();
    ticket.surveys.iter().any(|s| s.survey == id)
}
