//! The Rhai host: runs a workflow's scripts, sandboxed, and reads their answers.
//!
//! Scripts are guests. They get a read-only copy of the ticket (`ticket`, see [`super::view`])
//! and return a decision; they cannot touch files, the network or the store. One hardened
//! [`rhai::Engine`] is shared by every evaluation (scripts were compiled at load); each
//! evaluation gets a fresh scope. Limits on operations, call depth, string/array/map sizes and
//! wall time stop a looping, greedy or slow script with an error naming the script and line, so
//! a bad rule fails its command and never hangs a worker. Besides Rhai's own functions scripts may call the
//! helpers of [`super::helpers`] (dates, business time, text).
//!
//! Scripts run inside the single writer, so the wall-time bound is what a slow rule can cost
//! every other command queued behind it: it is tight ([`DEFAULT_RUN_TIME`], 50 ms; the
//! `script_time_limit_ms` setting), where a real rule takes well under a millisecond. And a
//! script that keeps running into its limits is suspended, failing at once for a while, so
//! that clients who keep sending commands that run it cannot keep the writer busy with it
//! (at most a twentieth of its time in the long run). `examples/bench_slow_rules.rs` measures what slow rules do to other workflows'
//! commands.
//!
//! The rule kinds and their contracts (what a script gets, what it must return):
//!
//! | kind | written as | gets | returns |
//! |---|---|---|---|
//! | routing | `[[routing]] script = ...` | `ticket` (new) | `#{ queue, role, assign }` (each optional; `assign` is `round_robin`, `least_loaded` or `manual`), or `()` to pass to the next rule |
//! | priority | `priority_rule = ...` | `ticket` (new, before routing) | a priority of the workflow's list, or `()` to keep it |
//! | validation | `[forms.X] validate = ...` | `ticket`, `form` (the values as they would be saved) | `()` or a map field → message (empty map: fine) |
//! | transition condition | `transitions = [{ when = ... }]` | `ticket` | `true`, `false`, or a text saying why not |
//! | event hook | `[[hooks]] on = ..., script = ...` | `ticket` (after the event), `event` (the change, with `kind`) | an array of actions (see [`HookAction`]), or `()` |
//!
//! Anything else returned is an error of the script, named with its path.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use rhai::{Dynamic, EvalAltResult, Scope};
use serde::Serialize;

use super::error::{EngineError, FieldProblem};
use crate::workflow::script::CompiledScript;

/// Most operations one evaluation may run: a loop that never ends stops here within a few
/// milliseconds in a release build (before the time bound; in a debug build the time bound
/// may come first). A real rule runs a few hundred.
pub const MAX_OPERATIONS: u64 = 200_000;
/// Deepest function-call nesting.
pub const MAX_CALL_LEVELS: usize = 32;
/// Longest string a script may build, in bytes.
pub const MAX_STRING_SIZE: usize = 64 * 1024;
/// Most items of an array or map a script may build.
pub const MAX_COLLECTION_SIZE: usize = 10_000;
/// Longest one evaluation may run, unless configured otherwise ([`set_run_time`]).
/// Operations are counted, but one operation may be a costly call (a search in a long text, a
/// regular expression): this bounds the wall time whatever the script calls. Checked every
/// [`CLOCK_EVERY`] operations. A rule runs inside the writer, so this is also the most one
/// evaluation holds up every other command.
pub const DEFAULT_RUN_TIME: std::time::Duration = std::time::Duration::from_millis(50);
/// How many operations pass between two looks at the clock (a look costs about 20 ns).
const CLOCK_EVERY: u64 = 128;

/// The wall-time bound in force, in microseconds.
#[allow(clippy::cast_possible_truncation)]
static RUN_TIME_MICROS: AtomicU64 = AtomicU64::new(DEFAULT_RUN_TIME.as_micros() as u64);

/// Sets how long one evaluation may run (at startup, from `script_time_limit_ms`).
pub fn set_run_time(limit: std::time::Duration) {
    RUN_TIME_MICROS.store(u64::try_from(limit.as_micros()).unwrap_or(u64::MAX).max(1), Ordering::Relaxed);
}

/// How long one evaluation may run.
pub fn run_time() -> std::time::Duration {
    std::time::Duration::from_micros(RUN_TIME_MICROS.load(Ordering::Relaxed))
}

thread_local! {
    /// When the evaluation running on this thread must stop.
    static DEADLINE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

static ENGINE: LazyLock<rhai::Engine> = LazyLock::new(|| {
    let mut engine = rhai::Engine::new();
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(MAX_STRING_SIZE);
    engine.set_max_array_size(MAX_COLLECTION_SIZE);
    engine.set_max_map_size(MAX_COLLECTION_SIZE);
    engine.set_max_variables(1_000);
    engine.disable_symbol("eval");
    engine.on_progress(|operations| {
        if operations % CLOCK_EVERY != 0 {
            return None;
        }
        let late = DEADLINE.with(|deadline| deadline.get().is_some_and(|d| std::time::Instant::now() > d));
        late.then(|| Dynamic::from("time"))
    });
    super::helpers::register(&mut engine);
    engine.on_print(|text| tracing::info!(target: "afterdesk::rules", "{text}"));
    engine.on_debug(|text, _, position| tracing::debug!(target: "afterdesk::rules", %position, "{text}"));
    engine
});

/// The name of a script for messages: its path, or `inline script`.
pub fn script_name(script: &CompiledScript) -> String {
    script.path.as_ref().map_or_else(|| "inline script".to_string(), |p| p.display().to_string())
}

/// Converts a view of the ticket (any serializable value) into what scripts see as `ticket`.
pub fn to_script_value(view: &impl Serialize) -> Dynamic {
    rhai::serde::to_dynamic(view).unwrap_or(Dynamic::UNIT)
}

/// The share of time a script that keeps running into its time or operation limit may take,
/// in the long run: one part in this many. Each script has an allowance of such time
/// ([`OVERTIME_BURST`] bounds at most), spent by every run stopped by a limit and refilled at
/// one bound per this many bounds; a script whose allowance is spent fails at once until it
/// has some again. A rule that is slow on rare tickets runs as before; one that is slow every
/// time takes at most a twentieth of the writer, however often clients send its commands.
const OVERTIME_SHARE: u32 = 20;
/// How many runs stopped by a limit a script may have in a row before its allowance is spent.
const OVERTIME_BURST: u32 = 3;

/// Scripts that ran into a limit, by the address of their compiled form (one per workflow
/// version): their allowance (in µs, negative when overspent) and when it was counted. The
/// entry keeps the compiled form alive, so its address cannot be reused by another script.
static OVERTIME: LazyLock<std::sync::Mutex<HashMap<usize, Allowance>>> =
    LazyLock::new(|| std::sync::Mutex::new(HashMap::new()));

struct Allowance {
    _script: Arc<rhai::AST>,
    micros: f64,
    at: std::time::Instant,
}

impl Allowance {
    fn full() -> f64 {
        run_time().as_secs_f64() * 1e6 * f64::from(OVERTIME_BURST)
    }

    /// The allowance at `now`, refilled since it was counted.
    fn at(&self, now: std::time::Instant) -> f64 {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * 1e6 / f64::from(OVERTIME_SHARE);
        (self.micros + refill).min(Self::full())
    }
}

/// Whether scripts that keep running into their limits are suspended (the default).
static SUSPENDING: AtomicBool = AtomicBool::new(true);

/// Switches suspending slow scripts on or off; `examples/bench_slow_rules.rs` switches it off
/// to measure what it saves.
pub fn set_suspending(on: bool) {
    SUSPENDING.store(on, Ordering::Relaxed);
}

fn script_key(script: &CompiledScript) -> usize {
    Arc::as_ptr(&script.ast).addr()
}

/// How long until `script` may run again, when it has spent its allowance.
fn suspended(script: &CompiledScript) -> Option<std::time::Duration> {
    if !SUSPENDING.load(Ordering::Relaxed) {
        return None;
    }
    let overtime = OVERTIME.lock().ok()?;
    let left = overtime.get(&script_key(script))?.at(std::time::Instant::now());
    (left <= 0.0).then(|| std::time::Duration::from_secs_f64((-left * f64::from(OVERTIME_SHARE) / 1e6).max(1e-3)))
}

/// Spends `spent` of `script`'s allowance.
fn spend(script: &CompiledScript, spent: std::time::Duration) {
    let now = std::time::Instant::now();
    let Ok(mut overtime) = OVERTIME.lock() else { return };
    overtime.retain(|_, allowance| allowance.at(now) < Allowance::full());
    let entry = overtime.entry(script_key(script)).or_insert_with(|| Allowance {
        _script: script.ast.clone(),
        micros: Allowance::full(),
        at: now,
    });
    entry.micros = entry.at(now) - spent.as_secs_f64() * 1e6;
    entry.at = now;
}

/// Runs `script` with the given variables, and returns what it returned.
///
/// Time spent in runs stopped by the time or operation limit is counted against the script
/// ([`OVERTIME_SHARE`]): a script that keeps running into its limits fails at once for a while,
/// so that a slow rule costs its own workflow's commands, not everybody's.
fn run(script: &CompiledScript, variables: &[(&str, Dynamic)]) -> Result<Dynamic, EngineError> {
    if let Some(wait) = suspended(script) {
        return Err(EngineError::Script {
            script: script_name(script),
            message: format!(
                "suspended for {} ms: it keeps running into its limits, and a rule that slow would hold up \
                 every other command",
                wait.as_millis().max(1)
            ),
        });
    }
    super::helpers::reset_budget();
    let mut scope = Scope::new();
    for (name, value) in variables {
        scope.push_constant_dynamic(*name, value.clone());
    }
    let started = std::time::Instant::now();
    DEADLINE.with(|deadline| deadline.set(Some(started + run_time())));
    let result = ENGINE.eval_ast_with_scope::<Dynamic>(&mut scope, &script.ast);
    DEADLINE.with(|deadline| deadline.set(None));
    result.map_err(|error| {
        if matches!(*error, EvalAltResult::ErrorTerminated(..) | EvalAltResult::ErrorTooManyOperations(_)) {
            spend(script, started.elapsed());
        }
        script_error(script, &error)
    })
}

fn script_error(script: &CompiledScript, error: &EvalAltResult) -> EngineError {
    let position = error.position();
    let place = match position.line() {
        Some(line) => format!(" (line {line})"),
        None => String::new(),
    };
    let message = match error {
        EvalAltResult::ErrorTooManyOperations(_) => {
            format!("stopped after {MAX_OPERATIONS} operations{place}: does it loop forever?")
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => format!("{what} too large{place}: scripts are limited in memory"),
        EvalAltResult::ErrorStackOverflow(_) => format!("calls nested too deeply{place}"),
        EvalAltResult::ErrorTerminated(..) => {
            format!("stopped after running {} ms{place}: scripts are limited in time", run_time().as_millis())
        }
        other => {
            let text = other.to_string();
            let text = text.split(" (line ").next().unwrap_or(&text).to_string();
            format!("{text}{place}")
        }
    };
    EngineError::Script { script: script_name(script), message }
}

/// A transition condition: `Ok(None)` allows, `Ok(Some(reason))` refuses.
pub fn condition(script: &CompiledScript, ticket: &Dynamic) -> Result<Option<String>, EngineError> {
    let result = run(script, &[("ticket", ticket.clone())])?;
    if let Some(allowed) = result.clone().try_cast::<bool>() {
        return Ok((!allowed).then(|| format!("the rule {} does not allow it", script_name(script))));
    }
    if result.is_string() {
        return Ok(Some(result.to_string()));
    }
    Err(EngineError::Script {
        script: script_name(script),
        message: format!("returned {} ({}); a condition returns true, false or a reason", result, result.type_name()),
    })
}

/// A form validation: the problems it found, field by field.
pub fn validate_form(
    script: &CompiledScript,
    form_id: &str,
    ticket: &Dynamic,
    values: &Dynamic,
) -> Result<Vec<FieldProblem>, EngineError> {
    let result = run(script, &[("ticket", ticket.clone()), ("form", values.clone())])?;
    if result.is_unit() {
        return Ok(Vec::new());
    }
    let Some(map) = result.clone().try_cast::<rhai::Map>() else {
        return Err(EngineError::Script {
            script: script_name(script),
            message: format!(
                "returned {} ({}); a form validation returns a map of field to message",
                result,
                result.type_name()
            ),
        });
    };
    Ok(map
        .into_iter()
        .map(|(field, message)| FieldProblem::new(format!("forms.{form_id}.{field}"), message.to_string()))
        .collect())
}

/// What a routing script decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteDecision {
    /// Queue.
    pub queue: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Assignment strategy.
    pub assign: Option<String>,
}

/// A routing rule: `Ok(None)` passes to the next rule.
pub fn route(script: &CompiledScript, ticket: &Dynamic) -> Result<Option<RouteDecision>, EngineError> {
    let result = run(script, &[("ticket", ticket.clone())])?;
    if result.is_unit() {
        return Ok(None);
    }
    let Some(map) = result.clone().try_cast::<rhai::Map>() else {
        return Err(EngineError::Script {
            script: script_name(script),
            message: format!(
                "returned {} ({}); a routing rule returns #{{ queue, role, assign }} or ()",
                result,
                result.type_name()
            ),
        });
    };
    let text = |key: &str| map.get(key).filter(|v| !v.is_unit()).map(ToString::to_string);
    let unknown: Vec<String> =
        map.keys().map(ToString::to_string).filter(|k| !["queue", "role", "assign"].contains(&k.as_str())).collect();
    if !unknown.is_empty() {
        return Err(EngineError::Script {
            script: script_name(script),
            message: format!(
                "returned unknown keys {}; a routing decision has queue, role and assign",
                unknown.join(", ")
            ),
        });
    }
    Ok(Some(RouteDecision { queue: text("queue"), role: text("role"), assign: text("assign") }))
}

/// A priority rule: `Ok(None)` keeps the ticket's priority.
pub fn priority(
    script: &CompiledScript,
    ticket: &Dynamic,
    priorities: &[crate::workflow::model::Name],
) -> Result<Option<String>, EngineError> {
    let result = run(script, &[("ticket", ticket.clone())])?;
    if result.is_unit() {
        return Ok(None);
    }
    let names: Vec<&str> = priorities.iter().map(|p| p.get_ref().as_str()).collect();
    if result.is_string() {
        let priority = result.to_string();
        if names.contains(&priority.as_str()) {
            return Ok(Some(priority));
        }
    }
    Err(EngineError::Script {
        script: script_name(script),
        message: format!(
            "returned {} ({}); a priority rule returns one of {} or ()",
            result,
            result.type_name(),
            names.join(", ")
        ),
    })
}

/// What a hook asks for. Each action is a map with an `action` key.
#[derive(Debug, Clone, PartialEq)]
pub enum HookAction {
    /// `#{ action: "set_field", form, field, value }`: save one form value.
    SetField {
        /// The form.
        form: String,
        /// The field.
        field: String,
        /// The value (`()` clears it).
        value: serde_json::Value,
    },
    /// `#{ action: "add_tag", tag }`: tag the ticket.
    AddTag(String),
    /// `#{ action: "notify", to, message }`: email people; `to` is a role, a RACI word
    /// (`responsible`, `assignee`, ...), an address, or an array of them.
    Notify {
        /// Who, as written.
        to: Vec<String>,
        /// What to tell them.
        message: String,
    },
    /// `#{ action: "open_ticket", workflow, subject, description?, category?, priority?,
    /// channel? }`: open a ticket for the same customer in another workflow, linked to this one.
    OpenTicket(Box<crate::engine::OpenTicket>),
}

/// An event hook: the actions it returned, in order.
pub fn hook(script: &CompiledScript, ticket: &Dynamic, event: &Dynamic) -> Result<Vec<HookAction>, EngineError> {
    let result = run(script, &[("ticket", ticket.clone()), ("event", event.clone())])?;
    let failed = |message: String| EngineError::Script { script: script_name(script), message };
    if result.is_unit() {
        return Ok(Vec::new());
    }
    let items: Vec<Dynamic> = match result.clone().try_cast::<rhai::Array>() {
        Some(items) => items,
        None if result.is_map() => vec![result],
        None => {
            return Err(failed(format!(
                "returned {} ({}); a hook returns an array of actions",
                result,
                result.type_name()
            )));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| hook_action(&item).map_err(|message| failed(format!("action {}: {message}", i + 1))))
        .collect()
}

fn hook_action(item: &Dynamic) -> Result<HookAction, String> {
    let Some(map) = item.clone().try_cast::<rhai::Map>() else {
        return Err(format!("{item} is not a map #{{ action: ..., ... }}"));
    };
    let text = |key: &str| map.get(key).filter(|v| !v.is_unit()).map(ToString::to_string);
    let needed = |key: &str| text(key).ok_or_else(|| format!("`{key}` is missing"));
    let action = needed("action")?;
    let allowed: &[&str] = match action.as_str() {
        "set_field" => &["form", "field", "value"],
        "add_tag" => &["tag"],
        "notify" => &["to", "message"],
        "open_ticket" => &["workflow", "subject", "description", "category", "priority", "channel"],
        other => return Err(format!("unknown action \"{other}\"; use set_field, add_tag, notify or open_ticket")),
    };
    if let Some(unknown) = map.keys().find(|k| k.as_str() != "action" && !allowed.contains(&k.as_str())) {
        return Err(format!("{action} takes {}, not `{unknown}`", allowed.join(", ")));
    }
    Ok(match action.as_str() {
        "set_field" => HookAction::SetField {
            form: needed("form")?,
            field: needed("field")?,
            value: map
                .get("value")
                .map(|v| rhai::serde::from_dynamic::<serde_json::Value>(v).map_err(|e| e.to_string()))
                .transpose()?
                .unwrap_or(serde_json::Value::Null),
        },
        "add_tag" => {
            let tag = needed("tag")?;
            if tag.trim().is_empty() || tag.chars().count() > 64 {
                return Err("a tag has 1 to 64 characters".to_string());
            }
            HookAction::AddTag(tag.trim().to_string())
        }
        "notify" => {
            let to = match map.get("to") {
                Some(list) if list.is_array() => {
                    list.clone().into_array().unwrap_or_default().iter().map(ToString::to_string).collect()
                }
                Some(one) if !one.is_unit() => vec![one.to_string()],
                _ => return Err("`to` is missing".to_string()),
            };
            HookAction::Notify { to, message: needed("message")? }
        }
        _ => HookAction::OpenTicket(Box::new(crate::engine::OpenTicket {
            workflow: needed("workflow")?,
            subject: needed("subject")?,
            description: text("description"),
            category: text("category"),
            priority: text("priority"),
            channel: text("channel"),
            ..crate::engine::OpenTicket::default()
        })),
    })
}

/// Form values as scripts see them (`form.serial`).
pub fn form_value(values: &BTreeMap<String, serde_json::Value>) -> Dynamic {
    to_script_value(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn script(source: &str) -> CompiledScript {
        let ast = rhai::Engine::new().compile(source).expect("compiles");
        CompiledScript { path: None, source: Arc::from(source), ast: Arc::new(ast) }
    }

    fn ticket() -> Dynamic {
        to_script_value(&serde_json::json!({ "priority": "high", "forms": { "f": { "cost": 10 } } }))
    }

    #[test]
    fn conditions_allow_refuse_or_explain() {
        assert_eq!(condition(&script("ticket.priority == \"high\""), &ticket()), Ok(None));
        assert!(matches!(condition(&script("false"), &ticket()), Ok(Some(_))));
        assert_eq!(condition(&script("\"too expensive\""), &ticket()), Ok(Some("too expensive".into())));
        assert!(matches!(condition(&script("42"), &ticket()), Err(EngineError::Script { .. })));
    }

    #[test]
    fn a_script_that_loops_forever_is_stopped() {
        let Err(EngineError::Script { message, .. }) = condition(&script("let x = 0;\nloop { x += 1; }"), &ticket())
        else {
            panic!("the loop must fail");
        };
        let stopped = message.contains("operations") || message.contains("limited in time");
        assert!(stopped && message.contains("line 2"), "{message}");
    }

    #[test]
    fn a_script_of_costly_calls_is_stopped_by_the_clock() {
        // Each search is one operation but walks 64 KiB: the operation limit alone would allow
        // seconds of this.
        let slow = "let s = \"x\"; for i in 0..15 { s += s; }\nloop { s.index_of(\"y\"); }";
        let started = std::time::Instant::now();
        let Err(EngineError::Script { message, .. }) = condition(&script(slow), &ticket()) else {
            panic!("the slow script must fail");
        };
        assert!(message.contains("limited") && message.contains("line 2"), "{message}");
        // Inside the writer a slow rule holds up every command: the bound is tens of ms, not 1 s.
        assert_eq!(run_time(), DEFAULT_RUN_TIME);
        assert!(message.contains("stopped after running 50 ms"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "stopped, not run to the end");
    }

    #[test]
    fn a_script_that_keeps_running_into_its_limits_is_suspended_and_then_fails_at_once() {
        let spin = script("let x = 0;\nloop { x += 1; }");
        let mut stopped = 0;
        let message = loop {
            let Err(EngineError::Script { message, .. }) = condition(&spin, &ticket()) else { panic!("fails") };
            if !message.starts_with("stopped after") {
                break message;
            }
            stopped += 1;
            // Each run spends up to one time bound (less when the operation limit comes first).
            assert!(stopped <= 100, "still running after {stopped} runs stopped by a limit");
        };
        assert!(stopped >= 1, "the first runs run: {message}");
        assert!(
            message.starts_with("suspended for ") && message.contains("keeps running into its limits"),
            "{message}"
        );
        // Only that script: another one runs as usual.
        assert_eq!(condition(&script("true"), &ticket()), Ok(None));
        // A script that fails otherwise is not suspended.
        let broken = script("let x = ();\nx.nothing()");
        for _ in 0..2 {
            let Err(EngineError::Script { message, .. }) = condition(&broken, &ticket()) else { panic!("fails") };
            assert!(!message.starts_with("suspended"), "{message}");
        }
    }

    #[test]
    fn a_script_that_grows_a_string_without_end_is_stopped() {
        let greedy = "let s = \"xxxxxxxxxxxxxxxx\";\nwhile true { s += s; }";
        let Err(EngineError::Script { message, .. }) = condition(&script(greedy), &ticket()) else {
            panic!("the greedy script must fail");
        };
        assert!(message.contains("too large"), "{message}");
    }

    #[test]
    fn scripts_cannot_change_the_ticket() {
        let result = condition(&script("ticket.priority = \"low\"; true"), &ticket());
        assert!(matches!(result, Err(EngineError::Script { .. })), "{result:?}");
    }

    #[test]
    fn routing_reads_the_decision() {
        let decision = route(&script("#{ queue: \"vip\", role: \"technician\" }"), &ticket()).expect("runs");
        assert_eq!(
            decision,
            Some(RouteDecision { queue: Some("vip".into()), role: Some("technician".into()), assign: None })
        );
        assert_eq!(route(&script("()"), &ticket()).expect("runs"), None);
    }
}
