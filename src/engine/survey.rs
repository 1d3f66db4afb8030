//! Satisfaction surveys: who is asked, and what a valid answer is.
//!
//! A survey is asked when a ticket enters the workflow's survey stage (by default its first
//! terminal stage), for a stable sample of tickets: the same ticket is in or out of the sample
//! whenever it is looked at, so a replay decides the same. The answer comes back as a command
//! ([`super::Command::AnswerSurvey`]) and is recorded as a `survey_answered` event; each survey
//! (one mail, one id) can be answered once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::FieldProblem;
use super::ticket::Ticket;
use crate::workflow::model::{Question, Survey, WorkflowFile};

/// Longest survey comment, in characters.
pub const MAX_COMMENT: usize = 5_000;

/// A customer's answer to a survey.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyAnswer {
    /// The survey answered (the id of the survey mail).
    pub survey: String,
    /// Customer satisfaction, 1 (very unhappy) to 5 (very happy).
    #[serde(default)]
    pub csat: Option<u8>,
    /// Net promoter score: how likely to recommend us, 0 to 10.
    #[serde(default)]
    pub nps: Option<u8>,
    /// Customer effort score: how easy it was, 1 (very hard) to 7 (very easy).
    #[serde(default)]
    pub ces: Option<u8>,
    /// In the customer's words.
    #[serde(default)]
    pub comment: Option<String>,
}

/// The range of a scored question.
pub fn range(question: Question) -> Option<(u8, u8)> {
    match question {
        Question::Csat => Some((1, 5)),
        Question::Nps => Some((0, 10)),
        Question::Ces => Some((1, 7)),
        Question::Comment => None,
    }
}

/// The stage whose entry asks the survey: `on_stage`, else the first terminal stage.
pub fn stage(workflow: &WorkflowFile, survey: &Survey) -> Option<String> {
    survey
        .on_stage
        .as_ref()
        .map(|s| s.get_ref().clone())
        .or_else(|| workflow.stages.iter().find(|(_, stage)| stage.terminal).map(|(id, _)| id.get_ref().clone()))
}

/// Whether `ticket` is in the survey's sample (stable: decided by the ticket's id).
pub fn sampled(survey: &Survey, ticket: &Ticket) -> bool {
    let share = survey.sample.as_ref().map_or(1.0, |s| s.get_ref().fraction());
    in_sample(ticket, share)
}

/// Whether `ticket` is among a `share` (0 to 1) of tickets, the same way every time.
pub fn in_sample(ticket: &Ticket, share: f64) -> bool {
    #[allow(clippy::cast_precision_loss)]
    let position = (ticket.id.0.random() % 10_000) as f64 / 10_000.0;
    position < share
}

/// The problems of `answer` for `survey` on `ticket`; empty when it may be recorded.
pub fn problems(survey: Option<&Survey>, answer: &SurveyAnswer) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let asked = |question: Question| survey.is_none_or(|s| s.questions.iter().any(|q| *q.get_ref() == question));
    let scores =
        [("csat", Question::Csat, answer.csat), ("nps", Question::Nps, answer.nps), ("ces", Question::Ces, answer.ces)];
    for (field, question, value) in scores {
        let Some(value) = value else { continue };
        if !asked(question) {
            problems.push(FieldProblem::new(field, "this survey does not ask it"));
        } else if let Some((low, high)) = range(question)
            && !(low..=high).contains(&value)
        {
            problems.push(FieldProblem::new(field, format!("must be from {low} to {high}")));
        }
    }
    if let Some(comment) = &answer.comment {
        if !asked(Question::Comment) && !comment.trim().is_empty() {
            problems.push(FieldProblem::new("comment", "this survey does not ask for a comment"));
        } else if comment.chars().count() > MAX_COMMENT {
            problems.push(FieldProblem::new("comment", format!("must be at most {MAX_COMMENT} characters")));
        }
    }
    let empty = answer.csat.is_none()
        && answer.nps.is_none()
        && answer.ces.is_none()
        && answer.comment.as_deref().is_none_or(|c| c.trim().is_empty());
    if empty && problems.is_empty() {
        problems.push(FieldProblem::new("csat", "answer at least one question"));
    }
    if answer.survey.trim().is_empty() {
        problems.push(FieldProblem::new("survey", "must name the survey answered"));
    }
    problems
}

/// When a survey link stops working.
pub fn expires(survey: &Survey, sent: DateTime<Utc>) -> DateTime<Utc> {
    let allowed =
        chrono::Duration::from_std(survey.expires_after.get_ref().get()).unwrap_or(chrono::Duration::days(14));
    sent + allowed
}
