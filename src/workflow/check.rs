//! Semantic validation of a workflow: everything a well-formed file can still get wrong.
//!
//! References (stages, roles, forms, calendars, priorities, categories, channels, recipients),
//! names (format, duplicates, reserved words), the stage graph (start, reachability, terminal
//! stages, ways out), SLA settings, routing, notifications, the survey and jobs. Every problem is
//! reported, each at the line and column of the offending value with a one-line hint.
//!
//! Input is the model `parse` produced; this module reads no files and compiles no scripts.
//!
//! The checks are near-linear in the size of the file: names are looked up in sets made once,
//! and a kind of problem found more than [`MAX_OF_A_KIND`](super::diagnostic::MAX_OF_A_KIND) times is only counted (its hint, with
//! a search for the closest name, is worded for the first few), then told in one summary line.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use super::diagnostic::{Diagnostic, Severity, Tally, thousands};
use super::model::{Calendar, EventKind, FieldType, Form, JobAction, Name, Sla, Stage, WorkflowFile};
use super::values::closest;
use crate::engine::notices::Audience;
use crate::notify::templates::{FUEL, MAX_DEPTH, MAX_OUTPUT, Purpose, TemplateError, Templates, part_of};

/// The calendar every workflow has without declaring it.
pub const ALWAYS_OPEN: &str = "24x7";
/// RACI words usable as recipients; they resolve to the stage's roles at send time.
pub const RACI_WORDS: [&str; 5] = ["responsible", "accountable", "consulted", "informed", "assignee"];
/// The built-in party standing for the ticket's customer.
pub const CUSTOMER: &str = "customer";

/// Checks `workflow` (from `file`, whose text is `source`). Names in `dropped` were removed by
/// the parser because of an earlier problem: references to them are not reported again.
///
/// When the file had structure problems (`structure_ok` false), parts of it were dropped: the
/// stage graph is not checked and warnings are left out, since both would mostly echo what was
/// dropped.
pub fn check(
    file: &Path,
    source: &Arc<str>,
    workflow: &WorkflowFile,
    dropped: &HashSet<String>,
    structure_ok: bool,
) -> Vec<Diagnostic> {
    let known = Known::new(workflow);
    let mut checker = Checker {
        file,
        source,
        workflow,
        dropped,
        known: &known,
        lines: Lines::new(source),
        found: Vec::new(),
        tally: Tally::default(),
    };
    checker.identity();
    checker.lists();
    checker.calendars();
    checker.roles();
    checker.forms();
    checker.stages();
    if structure_ok {
        checker.graph();
    }
    checker.ticket_slas();
    checker.routing();
    checker.notifications();
    checker.survey();
    checker.jobs();
    checker.hooks();
    checker.templates();
    checker.webhooks();
    if !structure_ok {
        checker.found.retain(Diagnostic::is_error);
    }
    let summaries = checker.tally.summaries(&checker.found);
    checker.found.sort_by_key(|d| (d.span.start, d.span.end));
    // After the problems they follow (the sort is stable).
    checker.found.extend(summaries);
    checker.found.sort_by_key(|d| (d.span.start, d.span.end));
    checker.found
}

/// The names references may use, each kind in a set made once (and in file order for hints).
struct Known<'a> {
    stages: Names<'a>,
    roles: Names<'a>,
    roles_or_customer: Names<'a>,
    forms: Names<'a>,
    calendars: Names<'a>,
    priorities: Names<'a>,
    categories: Names<'a>,
    channels: Names<'a>,
    templates: Names<'a>,
}

impl<'a> Known<'a> {
    fn new(wf: &'a WorkflowFile) -> Self {
        let mut templates = Names::of(keys(&wf.templates));
        for name in crate::notify::templates::built_in() {
            templates.add(name);
        }
        Self {
            stages: Names::of(keys(&wf.stages)),
            roles: Names::of(keys(&wf.roles)),
            roles_or_customer: Names::of(std::iter::once(CUSTOMER).chain(keys(&wf.roles))),
            forms: Names::of(keys(&wf.forms)),
            calendars: Names::of(std::iter::once(ALWAYS_OPEN).chain(keys(&wf.calendars))),
            priorities: Names::of(strs(&wf.priorities)),
            categories: Names::of(strs(&wf.categories)),
            channels: Names::of(strs(&wf.channels)),
            templates,
        }
    }
}

/// Names of one kind: a set to look up, and the order to list them in.
struct Names<'a> {
    set: HashSet<&'a str>,
    order: Vec<&'a str>,
}

impl<'a> Names<'a> {
    fn of(names: impl Iterator<Item = &'a str>) -> Self {
        let mut out = Self { set: HashSet::new(), order: Vec::new() };
        for name in names {
            out.add(name);
        }
        out
    }

    fn add(&mut self, name: &'a str) {
        if self.set.insert(name) {
            self.order.push(name);
        }
    }
}

/// Where each line of the file starts, to turn an offset into a line number in O(log n).
struct Lines(Vec<usize>);

impl Lines {
    fn new(source: &str) -> Self {
        Self(std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|start| *start <= offset)
    }
}

struct Checker<'a> {
    file: &'a Path,
    source: &'a Arc<str>,
    workflow: &'a WorkflowFile,
    dropped: &'a HashSet<String>,
    known: &'a Known<'a>,
    lines: Lines,
    found: Vec<Diagnostic>,
    tally: Tally,
}

fn is_id(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn plural(word: &str) -> String {
    match word.strip_suffix('y') {
        Some(stem) => format!("{stem}ies"),
        None => format!("{word}s"),
    }
}

/// Most names a hint lists.
const MAX_LISTED: usize = 20;

fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let mut names = names.into_iter();
    let shown: Vec<String> = names.by_ref().take(MAX_LISTED).map(|n| n.as_ref().to_string()).collect();
    let more = names.count();
    match (shown.is_empty(), more) {
        (true, _) => "none are defined".to_string(),
        (false, 0) => shown.join(", "),
        (false, more) => format!("{}, ... ({} in all)", shown.join(", "), thousands(shown.len() + more)),
    }
}

fn keys<V>(map: &IndexMap<Name, V>) -> impl Iterator<Item = &str> + Clone {
    map.keys().map(|k| k.get_ref().as_str())
}

fn strs(names: &[Name]) -> impl Iterator<Item = &str> + Clone {
    names.iter().map(|n| n.get_ref().as_str())
}

impl<'a> Checker<'a> {
    fn report(&mut self, severity: Severity, span: Range<usize>, message: String, hint: Option<String>) {
        if !self.tally.admit(&message) {
            return;
        }
        let mut diagnostic = Diagnostic::new(severity, self.file, self.source, span, message);
        diagnostic.hint = hint;
        self.found.push(diagnostic);
    }

    fn error(&mut self, span: Range<usize>, message: String, hint: impl Into<Option<String>>) {
        self.report(Severity::Error, span, message, hint.into());
    }

    fn warning(&mut self, span: Range<usize>, message: String, hint: impl Into<Option<String>>) {
        self.report(Severity::Warning, span, message, hint.into());
    }

    /// Reports `name` unless it is one of `known` (or was dropped by the parser).
    fn reference(&mut self, name: &Name, what: &str, known: &Names<'_>, context: &str) -> bool {
        let text = name.get_ref().as_str();
        if known.set.contains(text) || self.dropped.contains(text) {
            return true;
        }
        let message = format!("unknown {what} `{text}` {context}");
        if self.tally.is_full(&message) {
            // Only counted: no search for the closest name.
            self.tally.admit(&message);
            return false;
        }
        let plural = plural(what);
        let names = known.order.iter().copied();
        let hint = match closest(text, names.clone()) {
            Some(best) => format!("did you mean `{best}`? {plural}: {}", list(names)),
            None => format!("{plural}: {}", list(names)),
        };
        self.error(name.span(), message, hint);
        false
    }

    fn names_are_ids<'n>(&mut self, names: impl Iterator<Item = &'n Name>, what: &str) {
        for name in names {
            if !is_id(name.get_ref()) {
                self.error(
                    name.span(),
                    format!("invalid {what} id `{}`", name.get_ref()),
                    format!("{what} ids are lower-case letters, digits, `_` and `-`, starting with a letter"),
                );
            }
        }
    }

    fn no_duplicates(&mut self, names: &[Name], what: &str) {
        let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
        for name in names {
            let text = name.get_ref().trim();
            if text.is_empty() {
                self.error(name.span(), format!("empty {what}"), format!("give the {what} a name or remove it"));
            } else if let Some(first) = seen.get(text) {
                let line = self.lines.line(first.start);
                self.error(
                    name.span(),
                    format!("duplicate {what} `{text}`"),
                    format!("it is already listed on line {line}"),
                );
            } else {
                seen.insert(text, name.span());
            }
        }
    }

    fn identity(&mut self) {
        let wf = self.workflow;
        let id = wf.id.get_ref();
        if id.is_empty() {
            self.error(
                wf.id.span(),
                "the workflow has no `id`".into(),
                "add `id = \"after-sales\"` at the top: the API names the workflow by it".to_string(),
            );
        }
        let valid = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid && !id.is_empty() {
            self.error(
                wf.id.span(),
                format!("invalid workflow id `{id}`"),
                "use lower-case letters, digits and `-`, like \"after-sales\"".to_string(),
            );
        }
        if wf.name.trim().is_empty() {
            self.error(
                wf.id.span(),
                "the workflow has no `name`".into(),
                "add `name = \"...\"`, the name people see".to_string(),
            );
        }
        if let Some(prefix) = &wf.ticket_prefix {
            let text = prefix.get_ref();
            let valid = text.len() <= 10
                && text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if !valid {
                self.error(
                    prefix.span(),
                    format!("invalid ticket prefix `{text}`"),
                    "use 1 to 10 upper-case letters or digits, starting with a letter, like \"AS\"".to_string(),
                );
            }
        }
        if wf.stages.is_empty() && self.dropped.is_empty() {
            self.error(
                wf.id.span(),
                "the workflow has no stages".into(),
                "add at least a start stage and a terminal stage: [stages.intake] ... [stages.closed] terminal = true"
                    .to_string(),
            );
        }
    }

    fn lists(&mut self) {
        let wf = self.workflow;
        if wf.priorities.is_empty() {
            self.error(
                wf.id.span(),
                "`priorities` is empty".into(),
                "list at least one priority, lowest first".to_string(),
            );
        }
        self.no_duplicates(&wf.priorities, "priority");
        self.no_duplicates(&wf.categories, "category");
        self.no_duplicates(&wf.channels, "channel");
        if let Some(default) = &wf.default_priority {
            self.reference(default, "priority", &self.known.priorities, "in `default_priority`");
        }
        if let Some(calendar) = &wf.calendar {
            self.calendar_ref(calendar, "in `calendar`");
        }
        if wf.repeat_window.as_secs() == 0 {
            self.warning(wf.id.span(), "`repeat_window` is zero: no request will ever count as a repeat".into(), None);
        }
    }

    fn calendar_ref(&mut self, name: &Name, context: &str) {
        self.reference(name, "calendar", &self.known.calendars, context);
    }

    fn calendars(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.calendars.keys(), "calendar");
        for (name, calendar) in &wf.calendars {
            if name.get_ref() == ALWAYS_OPEN {
                self.error(
                    name.span(),
                    "`24x7` is the built-in always-open calendar".into(),
                    "give this calendar another name".to_string(),
                );
            }
            self.calendar(name, calendar);
        }
    }

    fn calendar(&mut self, name: &Name, calendar: &Calendar) {
        let mut day_line: HashMap<chrono::Weekday, Range<usize>> = HashMap::new();
        let mut working = false;
        for (days, shifts) in &calendar.hours {
            working |= !shifts.0.is_empty();
            for day in &days.get_ref().0 {
                if let Some(first) = day_line.get(day) {
                    let line = self.lines.line(first.start);
                    self.error(
                        days.span(),
                        format!("{day} is given hours twice in calendar `{}`", name.get_ref()),
                        format!("it already has hours on line {line}; list split shifts in one value: \"08:00-12:00, 13:00-17:00\""),
                    );
                } else {
                    day_line.insert(*day, days.span());
                }
            }
            let mut periods: Vec<(u32, u32)> = shifts
                .0
                .iter()
                .map(|s| {
                    let minutes = |t: chrono::NaiveTime| chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t);
                    let end = s.end.map_or(1440, minutes);
                    let start = minutes(s.start);
                    (start, if end <= start { 1440 } else { end })
                })
                .collect();
            periods.sort_unstable();
            if periods.windows(2).any(|w| w[1].0 < w[0].1) {
                self.error(
                    days.span(),
                    format!("overlapping shifts on {}", days.get_ref()),
                    "make the shifts of a day follow each other".to_string(),
                );
            }
        }
        if !working {
            self.error(
                name.span(),
                format!("calendar `{}` has no working hours", name.get_ref()),
                "add hours like `hours = { mon-fri = \"08:00-17:00\" }`; SLA clocks on it would never run".to_string(),
            );
        }
        let mut seen = HashSet::new();
        for holiday in &calendar.holidays {
            if !seen.insert(*holiday.get_ref()) {
                self.warning(holiday.span(), format!("holiday {} is listed twice", holiday.get_ref()), None);
            }
        }
    }

    fn roles(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.roles.keys(), "role");
        for (name, members) in &wf.roles {
            let text = name.get_ref().as_str();
            if text == CUSTOMER || RACI_WORDS.contains(&text) {
                self.error(
                    name.span(),
                    format!("`{text}` is a built-in word and cannot name a role"),
                    "rename the role, e.g. `technician` or `service_manager`".to_string(),
                );
            }
            if members.is_empty() {
                self.warning(
                    name.span(),
                    format!("role `{text}` has no members"),
                    "nobody can act in this role or receive its mail; add people by email".to_string(),
                );
            }
            for member in members {
                let person = member.get_ref();
                if person.trim().is_empty() || person.chars().any(char::is_whitespace) {
                    self.error(
                        member.span(),
                        format!("invalid member `{person}` of role `{text}`"),
                        "write a person's email or id, without spaces".to_string(),
                    );
                }
            }
            self.no_duplicates(members, "member");
        }
    }

    fn forms(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.forms.keys(), "form");
        for (name, form) in &wf.forms {
            self.form(name, form);
        }
    }

    fn form(&mut self, name: &Name, form: &Form) {
        if form.fields.is_empty() {
            self.warning(name.span(), format!("form `{}` has no fields", name.get_ref()), None);
        }
        let names: Vec<Name> = form.fields.iter().map(|f| f.name.clone()).collect();
        self.no_duplicates(&names, "field");
        for field in &form.fields {
            let kind = *field.kind.get_ref();
            let field_name = field.name.get_ref();
            if !is_id(field_name) {
                self.error(
                    field.name.span(),
                    format!("invalid field name `{field_name}`"),
                    "field names are lower-case letters, digits and `_`, starting with a letter".to_string(),
                );
            }
            match (&field.options, kind.has_options()) {
                (None, true) => self.error(
                    field.kind.span(),
                    format!("field `{field_name}` is a choice but has no `options`"),
                    "add `options = [\"...\", \"...\"]`".to_string(),
                ),
                (Some(options), true) => {
                    if options.get_ref().is_empty() {
                        self.error(
                            options.span(),
                            format!("field `{field_name}` has an empty choice list"),
                            "list at least one option".to_string(),
                        );
                    }
                    self.no_duplicates(options.get_ref(), "option");
                }
                (Some(options), false) => self.error(
                    options.span(),
                    format!("field `{field_name}` has `options` but is not a choice"),
                    "use type \"choice\" or \"multi_choice\", or remove `options`".to_string(),
                ),
                (None, false) => {}
            }
            if let Some(pattern) = &field.pattern {
                if !kind.has_pattern() {
                    self.error(
                        pattern.span(),
                        format!("`pattern` does not apply to field `{field_name}`"),
                        "patterns apply to text, long_text, email and phone fields".to_string(),
                    );
                } else if let Err(e) = regex::Regex::new(pattern.get_ref()) {
                    let text = e.to_string();
                    let reason =
                        text.lines().last().unwrap_or_default().trim().trim_start_matches("error:").trim().to_string();
                    self.error(
                        pattern.span(),
                        format!("invalid pattern for field `{field_name}`: {reason}"),
                        "write a regular expression like \"^[A-Z0-9]{8}$\"".to_string(),
                    );
                }
            }
            for bound in [&field.min, &field.max].into_iter().flatten() {
                if !kind.has_bounds() {
                    self.error(
                        bound.span(),
                        format!("`min`/`max` do not apply to field `{field_name}`"),
                        "they bound integer and number values, and text lengths".to_string(),
                    );
                }
            }
            if let (Some(min), Some(max)) = (&field.min, &field.max)
                && min.get_ref() > max.get_ref()
            {
                self.error(
                    min.span(),
                    format!("field `{field_name}` has `min` greater than `max`"),
                    "swap them".to_string(),
                );
            }
        }
    }

    fn stages(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.stages.keys(), "stage");
        if let Some(start) = &wf.start {
            self.reference(start, "stage", &self.known.stages, "in `start`");
        }
        for (name, stage) in &wf.stages {
            self.stage(name, stage);
        }
    }

    fn role_ref(&mut self, name: &Name, context: &str) {
        self.reference(name, "role", &self.known.roles, context);
    }

    fn stage(&mut self, name: &Name, stage: &Stage) {
        let stage_name = name.get_ref();
        let context = format!("in stage `{stage_name}`");
        for form in &stage.forms {
            self.reference(form, "form", &self.known.forms, &context);
        }
        self.no_duplicates(&stage.forms, "form");
        let items: Vec<Name> = stage.checklist.iter().chain(&stage.optional_checklist).cloned().collect();
        self.no_duplicates(&items, "checklist item");
        let raci = &stage.raci;
        for role in raci.responsible.iter().chain(&raci.accountable).chain(&raci.consulted) {
            self.role_ref(role, &format!("in the RACI of stage `{stage_name}`"));
        }
        for party in &raci.informed {
            if party.get_ref() != CUSTOMER {
                let known = &self.known.roles_or_customer;
                self.reference(party, "role", known, &format!("in `informed` of stage `{stage_name}`"));
            }
        }
        if !stage.terminal && raci.responsible.is_none() {
            self.warning(
                name.span(),
                format!("stage `{stage_name}` has no responsible role"),
                "set `raci = { responsible = \"...\" }` so somebody owns tickets here".to_string(),
            );
        }
        if let Some(sla) = &stage.sla {
            self.sla(sla, &format!("stage `{stage_name}`"), false);
        }
        let mut transition_names: Vec<Name> = Vec::new();
        for transition in &stage.transitions {
            transition_names.push(transition.name.clone());
            let t = transition.name.get_ref();
            if !is_id(t) {
                self.error(
                    transition.name.span(),
                    format!("invalid transition name `{t}`"),
                    "transition names are lower-case letters, digits, `_` and `-`".to_string(),
                );
            }
            self.reference(
                &transition.to,
                "stage",
                &self.known.stages,
                &format!("in transition `{t}` of stage `{stage_name}`"),
            );
            if transition.requires_approval && raci.accountable.is_none() {
                self.error(
                    transition.name.span(),
                    format!("transition `{t}` requires approval but stage `{stage_name}` has no accountable role"),
                    "set `raci.accountable` to the role that approves".to_string(),
                );
            }
        }
        self.no_duplicates(&transition_names, "transition");
        if let Some(target) = &stage.on_customer_reply {
            let to = target.get_ref();
            if !stage.transitions.iter().any(|t| t.to.get_ref() == to) {
                let targets: Vec<&str> = stage.transitions.iter().map(|t| t.to.get_ref().as_str()).collect();
                self.error(
                    target.span(),
                    format!("`on_customer_reply` of stage `{stage_name}` names `{to}`, which no transition of the stage leads to"),
                    if targets.is_empty() {
                        "add a transition to that stage".to_string()
                    } else {
                        format!("name the stage one of its transitions leads to: {}", targets.join(", "))
                    },
                );
            }
        }
        if stage.terminal && !stage.transitions.is_empty() {
            self.warning(
                name.span(),
                format!("terminal stage `{stage_name}` has transitions"),
                "a terminal stage ends the ticket; reopening is done with the reopen command".to_string(),
            );
        }
        if stage.terminal && stage.pauses_sla {
            self.warning(
                name.span(),
                format!("terminal stage `{stage_name}` pauses SLA clocks"),
                "clocks stop at a terminal stage anyway; remove `pauses_sla`".to_string(),
            );
        }
        if !stage.terminal && stage.transitions.is_empty() {
            self.error(
                name.span(),
                format!("stage `{stage_name}` has no way out"),
                "add `transitions = [{ name = \"...\", to = \"...\" }]`, or mark it `terminal = true`".to_string(),
            );
        }
    }

    fn recipients(&mut self, recipients: &[Name], context: &str) {
        let wf = self.workflow;
        for recipient in recipients {
            let text = recipient.get_ref().as_str();
            if text.contains('@')
                || text == CUSTOMER
                || RACI_WORDS.contains(&text)
                || wf.roles.contains_key(text)
                || self.dropped.contains(text)
            {
                continue;
            }
            let known = RACI_WORDS.iter().copied().chain(std::iter::once(CUSTOMER)).chain(keys(&wf.roles));
            let hint = match closest(text, known.clone()) {
                Some(best) => format!(
                    "did you mean `{best}`? use a role, a RACI word ({}), `customer` or an email address",
                    RACI_WORDS.join(", ")
                ),
                None => format!(
                    "use a role ({}), a RACI word ({}), `customer` or an email address",
                    list(keys(&wf.roles)),
                    RACI_WORDS.join(", ")
                ),
            };
            self.error(recipient.span(), format!("unknown recipient `{text}` {context}"), hint);
        }
    }

    fn sla(&mut self, sla: &Sla, owner: &str, ticket_level: bool) {
        let context = format!("in the SLA of {owner}");
        if sla.within.get_ref().as_secs() == 0 {
            self.error(
                sla.within.span(),
                format!("the SLA of {owner} allows no time"),
                "give it a duration like \"2h\"".to_string(),
            );
        }
        for (priority, within) in &sla.by_priority {
            self.reference(priority, "priority", &self.known.priorities, &format!("in `by_priority` {context}"));
            if within.get_ref().as_secs() == 0 {
                self.error(within.span(), format!("the `{}` SLA of {owner} allows no time", priority.get_ref()), None);
            }
        }
        if let Some(calendar) = &sla.calendar {
            self.calendar_ref(calendar, &context);
        }
        if let Some(warn_at) = &sla.warn_at {
            let value = warn_at.get_ref().value();
            if value <= 0.0 || value >= 100.0 {
                self.error(
                    warn_at.span(),
                    format!("`warn_at` must be between 0% and 100% (exclusive) {context}"),
                    "100% is the breach itself; use the `escalate` levels for it".to_string(),
                );
            }
        }
        self.recipients(&sla.warn, &context);
        let mut previous = None;
        for level in &sla.escalate {
            if level.notify.is_empty() && !level.raise_priority && level.reassign_to.is_none() {
                self.warning(
                    level.after.span(),
                    format!("an escalation level {context} does nothing"),
                    "give it `notify`, `raise_priority` or `reassign_to`".to_string(),
                );
            }
            self.recipients(&level.notify, &context);
            if let Some(role) = &level.reassign_to {
                self.role_ref(role, &format!("in `reassign_to` {context}"));
            }
            let after = *level.after.get_ref();
            if previous.is_some_and(|p| after < p) {
                self.warning(
                    level.after.span(),
                    format!("escalation levels {context} are not in time order"),
                    "list them from the earliest to the latest".to_string(),
                );
            }
            previous = Some(after);
        }
        if let Some(every) = &sla.remind_every
            && every.get_ref().as_secs() < 60
        {
            self.error(
                every.span(),
                format!("`remind_every` {context} is shorter than a minute"),
                "reminders that often would flood inboxes; use e.g. \"4h\"".to_string(),
            );
        }
        if let (Some(met_by), false) = (&sla.met_by, ticket_level) {
            self.error(
                met_by.span(),
                format!("`met_by` applies only to ticket-level SLAs, not to {owner}"),
                "a stage SLA is met when the ticket leaves the stage; remove `met_by`".to_string(),
            );
        }
    }

    fn ticket_slas(&mut self) {
        let slas = &self.workflow.sla;
        if let Some(sla) = &slas.first_response {
            self.sla(sla, "`sla.first_response`", true);
        }
        if let Some(sla) = &slas.resolution {
            self.sla(sla, "`sla.resolution`", true);
        }
    }

    /// Start stage, reachability, terminal stages, and stages that can never finish.
    fn graph(&mut self) {
        let wf = self.workflow;
        let (Some((first, _)), Some(start)) = (wf.stages.first(), wf.start_stage()) else { return };
        if !wf.stages.contains_key(start) {
            return;
        }
        // Transitions to unknown stages were reported already; leave them out of the graph, and
        // do not report stages as unreachable then (the typo most likely meant one of them).
        let known = |to: &&str| wf.stages.contains_key(*to);
        let edges: HashMap<&str, Vec<&str>> = wf
            .stages
            .iter()
            .map(|(name, stage)| {
                (
                    name.get_ref().as_str(),
                    stage.transitions.iter().map(|t| t.to.get_ref().as_str()).filter(known).collect(),
                )
            })
            .collect();
        let dangling =
            wf.stages.values().flat_map(|s| &s.transitions).any(|t| !wf.stages.contains_key(t.to.get_ref().as_str()));
        let reachable = reach([start], &edges);
        if !wf.stages.values().any(|stage| stage.terminal) {
            self.error(
                first.span(),
                "no stage is terminal: tickets could never be closed".into(),
                "mark the final stage(s) with `terminal = true`".to_string(),
            );
            return;
        }
        for name in wf.stages.keys() {
            if !dangling && !reachable.contains(name.get_ref().as_str()) {
                self.error(
                    name.span(),
                    format!("stage `{}` is unreachable from the start stage `{start}`", name.get_ref()),
                    "add a transition to it, or remove it".to_string(),
                );
            }
        }
        // A stage is stuck if no terminal stage can be reached from it.
        let mut reverse: HashMap<&str, Vec<&str>> = HashMap::new();
        for (from, targets) in &edges {
            for to in targets {
                reverse.entry(to).or_default().push(from);
            }
        }
        let terminals = wf.stages.iter().filter(|(_, s)| s.terminal).map(|(n, _)| n.get_ref().as_str());
        let can_finish = reach(terminals, &reverse);
        for (name, stage) in &wf.stages {
            let text = name.get_ref().as_str();
            let all_known = stage.transitions.iter().all(|t| wf.stages.contains_key(t.to.get_ref().as_str()));
            if reachable.contains(text)
                && !can_finish.contains(text)
                && !stage.transitions.is_empty()
                && all_known
                && !dangling
            {
                self.error(
                    name.span(),
                    format!("tickets in stage `{text}` can never reach a terminal stage"),
                    "its transitions only lead in circles; add a way to a terminal stage".to_string(),
                );
            }
        }
    }

    fn routing(&mut self) {
        let wf = self.workflow;
        let mut catch_all_seen = false;
        for rule in &wf.routing {
            let context = "in a routing rule";
            for category in &rule.category {
                self.reference(category, "category", &self.known.categories, context);
            }
            for priority in &rule.priority {
                self.reference(priority, "priority", &self.known.priorities, context);
            }
            for channel in &rule.channel {
                self.reference(channel, "channel", &self.known.channels, context);
            }
            if let Some(role) = &rule.role {
                self.role_ref(role, context);
            }
            let span = rule
                .queue
                .as_ref()
                .or(rule.role.as_ref())
                .or(rule.script.as_ref())
                .map(|n| n.span())
                .or_else(|| rule.assign.as_ref().map(|a| a.span()))
                .unwrap_or(0..0);
            if let (Some(assign), None) = (&rule.assign, &rule.role) {
                self.error(
                    assign.span(),
                    "a routing rule with `assign` needs a `role` to assign within".into(),
                    "add `role = \"...\"`".to_string(),
                );
            }
            if rule.queue.is_none() && rule.role.is_none() && rule.script.is_none() {
                self.error(
                    span.clone(),
                    "a routing rule routes nowhere".into(),
                    "give it a `queue`, a `role` or a `script`".to_string(),
                );
            }
            if catch_all_seen {
                self.warning(
                    span,
                    "this routing rule is never used".into(),
                    "an earlier rule without conditions matches every ticket; move this one above it".to_string(),
                );
            }
            if rule.category.is_empty() && rule.priority.is_empty() && rule.channel.is_empty() && rule.script.is_none()
            {
                catch_all_seen = true;
            }
        }
    }

    fn notifications(&mut self) {
        let wf = self.workflow;
        for notification in &wf.notifications {
            let event = *notification.on.get_ref();
            let context = "in a notification";
            if let Some(stage) = &notification.stage {
                self.reference(stage, "stage", &self.known.stages, context);
                if !matches!(event, EventKind::StageEntered | EventKind::StageLeft) {
                    self.error(
                        stage.span(),
                        "`stage` only applies to `stage_entered` and `stage_left` notifications".into(),
                        "remove `stage` or change `on`".to_string(),
                    );
                }
            }
            if notification.notify.is_empty() {
                self.error(
                    notification.on.span(),
                    "a notification without recipients".into(),
                    "add `notify = [\"...\"]`".to_string(),
                );
            }
            self.recipients(&notification.notify, context);
            for path in &notification.attach {
                self.attached_field(path);
            }
        }
    }

    /// An `attach` entry of a notification: `form.field` naming a `file` or `files` field.
    fn attached_field(&mut self, path: &Name) {
        let text = path.get_ref();
        let field = text.split_once('.').and_then(|(form, field)| {
            self.workflow.forms.get(form).map(|f| f.fields.iter().find(|x| x.name.get_ref() == field))
        });
        match field {
            Some(Some(field)) if matches!(field.kind.get_ref(), FieldType::File | FieldType::Files) => {}
            Some(Some(_)) => self.error(
                path.span(),
                format!("`attach` names `{text}`, which is not a file field"),
                "attach names fields of type \"file\" or \"files\"".to_string(),
            ),
            _ => self.error(
                path.span(),
                format!("`attach` names `{text}`, which is no field of a form"),
                "write `form.field`, naming a field of type \"file\" or \"files\"".to_string(),
            ),
        }
    }

    fn survey(&mut self) {
        let wf = self.workflow;
        let Some(survey) = &wf.survey else { return };
        if let Some(stage) = &survey.on_stage {
            self.reference(stage, "stage", &self.known.stages, "in `survey.on_stage`");
        }
        if survey.questions.is_empty() {
            self.error(0..0, "the survey asks no questions".into(), "list some of csat, nps, ces, comment".to_string());
        }
        let mut seen = HashSet::new();
        for question in &survey.questions {
            if !seen.insert(*question.get_ref()) {
                self.error(question.span(), "a survey question is listed twice".into(), None);
            }
        }
        if let Some(sample) = &survey.sample
            && sample.get_ref().value() == 0.0
        {
            self.warning(sample.span(), "the survey sample is 0%: no survey will be sent".into(), None);
        }
        if survey.expires_after.get_ref().as_secs() < 3600 {
            self.error(
                survey.expires_after.span(),
                "survey links would expire in under an hour".into(),
                "give customers days, e.g. \"14d\"".to_string(),
            );
        }
    }

    fn jobs(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.jobs.keys(), "job");
        for (name, job) in &wf.jobs {
            let context = format!("in job `{}`", name.get_ref());
            self.recipients(&job.notify, &context);
            let action = *job.action.get_ref();
            match action {
                JobAction::Digest if job.notify.is_empty() => {
                    self.error(
                        job.action.span(),
                        format!("the digest job `{}` has nobody to send to", name.get_ref()),
                        "add `notify = [\"service_manager\"]`".to_string(),
                    );
                }
                JobAction::FollowUp if job.after_closed.is_none() => {
                    self.error(
                        job.action.span(),
                        format!("the follow-up job `{}` needs `after_closed`", name.get_ref()),
                        "say how long after closure, e.g. `after_closed = \"7d\"`".to_string(),
                    );
                }
                JobAction::KpiReport if job.notify.is_empty() && wf.managers().is_empty() => {
                    self.error(
                        job.action.span(),
                        format!(
                            "the KPI report job `{}` has nobody to send to: no stage has an accountable role with members",
                            name.get_ref()
                        ),
                        "add `notify = [\"service_manager\"]`, or an `accountable` role to a stage".to_string(),
                    );
                }
                JobAction::SurveySample if job.sample.is_none() => {
                    self.error(
                        job.action.span(),
                        format!("the survey job `{}` needs `sample`", name.get_ref()),
                        "say which share of closed tickets, e.g. `sample = \"20%\"`".to_string(),
                    );
                }
                _ => {}
            }
            if action != JobAction::FollowUp
                && let Some(after) = &job.after_closed
            {
                self.warning(after.span(), format!("`after_closed` is only used by follow_up jobs {context}"), None);
            }
            if action != JobAction::KpiReport
                && let Some(period) = &job.period
            {
                self.warning(period.span(), format!("`period` is only used by kpi_report jobs {context}"), None);
            }
            if action != JobAction::SurveySample
                && let Some(sample) = &job.sample
            {
                self.warning(sample.span(), format!("`sample` is only used by survey_sample jobs {context}"), None);
            }
        }
    }

    fn templates(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.templates.keys(), "template");
        let mut renderable = true;
        for (name, template) in &wf.templates {
            if template.text.is_none() && !crate::notify::templates::is_built_in(name.get_ref()) {
                renderable = false;
                self.error(
                    name.span(),
                    format!("template `{}` is not a built-in one, so it needs a `text`", name.get_ref()),
                    "add `text = '''...'''` (subject and html are optional)".to_string(),
                );
            }
            for (part, source) in template.parts() {
                if let Some((line, message)) = crate::notify::templates::syntax_error(source.get_ref()) {
                    renderable = false;
                    let span = line_in_string(self.source, source.span(), line);
                    self.error(
                        span,
                        format!("template `{}` ({part}): {message}", name.get_ref()),
                        "templates are MiniJinja: {{ value }}, {% if ... %}...{% endif %}".to_string(),
                    );
                }
            }
        }
        let mut references: Vec<(&Name, String, Purpose)> = Vec::new();
        for rule in &wf.notifications {
            references.extend(rule.template.iter().map(|t| (t, "in a notification".into(), Purpose::Notification)));
            references.extend(
                rule.customer_template
                    .iter()
                    .map(|t| (t, "in a notification's `customer_template`".into(), Purpose::CustomerNotification)),
            );
            self.staff_template_to_the_customer(rule);
        }
        references.extend(
            wf.survey.iter().filter_map(|s| s.template.as_ref()).map(|t| (t, "in `survey`".into(), Purpose::Survey)),
        );
        for (name, job) in &wf.jobs {
            // Only a follow-up job mails with its own template (a digest is `digest`, a survey
            // job sends the survey's).
            let purpose = match job.action.get_ref() {
                JobAction::Digest => Purpose::Digest,
                JobAction::SurveySample => Purpose::Survey,
                JobAction::FollowUp => Purpose::FollowUp,
                JobAction::KpiReport => Purpose::KpiReport,
            };
            references.extend(job.template.iter().map(|t| (t, format!("in job `{}`", name.get_ref()), purpose)));
        }
        let slas = wf
            .stages
            .values()
            .filter_map(|s| s.sla.as_ref())
            .chain(wf.sla.first_response.iter())
            .chain(wf.sla.resolution.iter());
        for sla in slas {
            references.extend(
                sla.escalate
                    .iter()
                    .filter_map(|e| e.template.as_ref())
                    .map(|t| (t, "in an escalation".into(), Purpose::Escalation)),
            );
        }
        let mut purposes: BTreeMap<&str, BTreeSet<Purpose>> = BTreeMap::new();
        for (name, context, purpose) in references {
            if self.reference(name, "template", &self.known.templates, &context) {
                self.audience_of_built_in(name, purpose, &context);
                purposes.entry(name.get_ref().as_str()).or_default().insert(purpose);
            }
        }
        if renderable {
            self.trial_renders(purposes);
        }
    }

    /// Renders every template (the built-in ones too: a workflow may override the layout they
    /// extend) in every language as each kind of message that uses it, with sample values, and reports those
    /// that fail: one that loops without end or grows without bound fails here, not in the
    /// delivery worker.
    fn trial_renders(&mut self, mut purposes: BTreeMap<&'a str, BTreeSet<Purpose>>) {
        let wf = self.workflow;
        // In every language: a customer's own language may be any of them.
        let in_languages: Result<Vec<Templates>, _> = crate::locale::Lang::ALL
            .into_iter()
            .map(|lang| Templates::new(&wf.templates, wf.timezone(), lang))
            .collect();
        let Ok(in_languages) = in_languages else { return };
        let built_in = crate::notify::templates::built_in().map(|name| -> &'a str { name });
        for name in built_in.chain(keys(&wf.templates)) {
            let of_name = purposes.entry(name).or_default();
            match Purpose::of_built_in(name) {
                Some(own) => {
                    of_name.insert(own);
                }
                // A template of the workflow's own that nothing names yet: taken for a notification.
                None if of_name.is_empty() => {
                    of_name.insert(Purpose::Notification);
                }
                None => {}
            }
        }
        self.values_of_templates(&purposes);
        let mut failed: HashSet<String> = HashSet::new();
        for (name, purposes) in &purposes {
            let purposes: Vec<Purpose> = purposes.iter().copied().collect();
            let trial = in_languages.iter().map(|templates| templates.trial(name, &purposes)).find(Result::is_err);
            let Some(Err(TemplateError::Render { name: file, line, message })) = trial else {
                continue;
            };
            // A layout override that fails, fails every template that extends it: once.
            if !failed.insert(file.clone()) {
                continue;
            }
            let (template, part) = part_of(&file).unwrap_or((name, "text"));
            let source = wf.templates.get(template).and_then(|t| t.parts().find(|(p, _)| *p == part).map(|(_, s)| s));
            let span = match source {
                Some(source) => line_in_string(self.source, source.span(), line.unwrap_or(1)),
                None => wf.templates.get_key_value(*name).map_or(wf.id.span(), |(key, _)| key.span()),
            };
            let as_what = purposes.iter().map(|p| p.label()).collect::<Vec<_>>().join(" and as ");
            self.error(
                span,
                format!("template `{template}` ({part}) cannot be rendered: {message}"),
                format!(
                    "it was rendered as {as_what} with sample values; each part of a mail may take {} steps, \
                     {} KiB of output and {MAX_DEPTH} levels of nesting",
                    thousands(FUEL),
                    MAX_OUTPUT / 1024
                ),
            );
        }
    }

    /// A rule naming a template for staff when it mails nobody but the customer: the customer
    /// would get the default customer template, not that one.
    fn staff_template_to_the_customer(&mut self, rule: &crate::workflow::model::Notification) {
        let only_customer = !rule.notify.is_empty() && rule.notify.iter().all(|n| n.get_ref() == "customer");
        if let (true, Some(template), None) = (only_customer, &rule.template, &rule.customer_template) {
            self.error(
                template.span(),
                format!(
                    "this notification mails only the customer, but `template` is for staff: `{}` would never be sent",
                    template.get_ref()
                ),
                format!("write `customer_template = \"{}\"` (customer-facing mail)", template.get_ref()),
            );
        }
    }

    /// A built-in template named where mail for the other audience goes: a staff template to
    /// the customer, or a customer one to staff.
    fn audience_of_built_in(&mut self, name: &Name, purpose: Purpose, context: &str) {
        let Some(own) = Purpose::of_built_in(name.get_ref()) else { return };
        if own.audience() == purpose.audience() {
            return;
        }
        let (is, key) = match own.audience() {
            Audience::Customer => ("customer-facing", "customer_template"),
            Audience::Staff => ("staff-facing", "template"),
        };
        let hint = if purpose == Purpose::Notification || purpose == Purpose::CustomerNotification {
            format!("name it as `{key}` of the notification, or write a template of your own")
        } else {
            "write a template of your own for this audience".to_string()
        };
        self.error(
            name.span(),
            format!(
                "template `{}` {context} is {is} mail, but here it goes to {}",
                name.get_ref(),
                audience_words(purpose)
            ),
            hint,
        );
    }

    /// Each part a workflow writes uses only the values its mail has: a customer template
    /// asking for `ticket_url` or `assignee` would print nothing, or worse, was meant for staff.
    fn values_of_templates(&mut self, purposes: &BTreeMap<&'a str, BTreeSet<Purpose>>) {
        let wf = self.workflow;
        for (name, template) in &wf.templates {
            let Some(uses) = purposes.get(name.get_ref().as_str()) else { continue };
            for (part, source) in template.parts() {
                for purpose in uses {
                    let missing = crate::notify::templates::values_missing(source.get_ref(), *purpose);
                    let Some(first) = missing.first() else { continue };
                    let line = first_line_using(source.get_ref(), first);
                    let mail = match purpose.audience() {
                        Audience::Customer => format!("customer-facing mail ({})", purpose.label()),
                        Audience::Staff => purpose.label().to_string(),
                    };
                    let used = missing.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ");
                    self.error(
                        line_in_string(self.source, source.span(), line),
                        format!("templates.{}.{part} uses {used}, which {mail} does not have", name.get_ref()),
                        format!("it has: {}", purpose.values().join(", ")),
                    );
                }
            }
        }
    }

    fn webhooks(&mut self) {
        let wf = self.workflow;
        self.names_are_ids(wf.webhooks.keys(), "webhook");
        for (name, webhook) in &wf.webhooks {
            let url = webhook.url.get_ref();
            let parsed = reqwest::Url::parse(url);
            let web = parsed.as_ref().is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !web {
                self.error(
                    webhook.url.span(),
                    format!("webhook `{}`: \"{url}\" is not an http(s) URL", name.get_ref()),
                    "write the full address, e.g. \"https://sms.example.com/afterdesk\"".to_string(),
                );
            }
            if webhook.on.is_empty() {
                self.error(
                    webhook.url.span(),
                    format!("webhook `{}` listens to no event", name.get_ref()),
                    "add e.g. `on = [\"ticket_opened\", \"resolved\"]`".to_string(),
                );
            }
            for stage in &webhook.stages {
                self.reference(stage, "stage", &self.known.stages, &format!("in webhook `{}`", name.get_ref()));
            }
        }
    }

    fn hooks(&mut self) {
        let wf = self.workflow;
        for hook in &wf.hooks {
            if let Some(stage) = &hook.stage {
                self.reference(stage, "stage", &self.known.stages, "in a hook");
                if !matches!(hook.on.get_ref(), EventKind::StageEntered | EventKind::StageLeft) {
                    self.error(
                        stage.span(),
                        "`stage` only applies to `stage_entered` and `stage_left` hooks".into(),
                        "remove `stage`, or use `on = \"stage_entered\"` or `on = \"stage_left\"`".to_string(),
                    );
                }
            }
        }
    }
}

/// Who mail of `purpose` goes to, in words.
fn audience_words(purpose: Purpose) -> &'static str {
    match purpose.audience() {
        Audience::Customer => "the customer",
        Audience::Staff => "staff",
    }
}

/// The first line (from 1) of a template that names `value` as a word (1 if none does).
fn first_line_using(template: &str, value: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    template
        .lines()
        .position(|line| {
            line.match_indices(value).any(|(at, _)| {
                let before = line[..at].chars().next_back().is_none_or(|c| !is_word(c));
                let after = line[at + value.len()..].chars().next().is_none_or(|c| !is_word(c));
                before && after
            })
        })
        .map_or(1, |at| at + 1)
}

/// The span of line `line` (from 1) of the string value at `span` of `source`.
fn line_in_string(source: &str, span: Range<usize>, line: usize) -> Range<usize> {
    let text = source.get(span.clone()).unwrap_or_default();
    let quotes = ["\"\"\"", "'''", "\"", "'"].into_iter().find(|q| text.starts_with(q)).map_or(0, str::len);
    let mut start = span.start + quotes;
    // A newline right after a multi-line string's opening quotes is not part of the string.
    if quotes == 3 && source[start..].starts_with('\n') {
        start += 1;
    }
    for _ in 1..line {
        match source[start..span.end.min(source.len())].find('\n') {
            Some(at) => start += at + 1,
            None => break,
        }
    }
    let end = source[start..span.end.min(source.len())].find('\n').map_or(span.end, |at| start + at);
    start..end.max(start)
}

fn reach<'a>(from: impl IntoIterator<Item = &'a str>, edges: &HashMap<&'a str, Vec<&'a str>>) -> HashSet<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut queue: VecDeque<&str> = from.into_iter().collect();
    while let Some(node) = queue.pop_front() {
        if seen.insert(node) {
            queue.extend(edges.get(node).into_iter().flatten().copied());
        }
    }
    seen
}
