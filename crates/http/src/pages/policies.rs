//! The Policies page: the ordered list (add, edit, move, delete while they
//! are saved in the database; shown only when the configuration fixes
//! them) and the test form. Every change names the generation it edited,
//! so two administrators never overwrite each other unseen.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::policy::{PolicyText, ReplyText, ReplyValue};
use gatehouse_core::{PolicySaveError, Route, SavedPolicies};
use serde::Deserialize;

use super::{Flash, Nav, page, redirect_done, unavailable};
use crate::auth::{Admin, AdminForm};
use crate::state::Panel;
use crate::wire::{PoliciesJson, PolicyTestJson, any, factors_text};

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    nav: Option<Nav>,
    csrf: String,
    fixed: bool,
    generation: i64,
    /// "Saved … by …".
    saved: Option<String>,
    rows: Vec<PolicyRow>,
    /// The policy being edited (its name before the edit).
    editing: Option<String>,
    form: PolicyForm,
    test: TestQuery,
    /// The test's answer, as label and value.
    result: Vec<(&'static str, String)>,
    notice: Option<String>,
    error: Option<String>,
}

struct PolicyRow {
    position: usize,
    name: String,
    clients: String,
    groups: String,
    networks: String,
    access: String,
    factors: String,
    reply: Vec<String>,
    first: bool,
    last: bool,
}

impl PolicyRow {
    fn list(policies: &[PolicyText]) -> Vec<PolicyRow> {
        let count = policies.len();
        (policies.iter().enumerate())
            .map(|(index, policy)| PolicyRow {
                position: index + 1,
                name: policy.name.clone(),
                clients: any(&policy.clients, ", "),
                groups: any(&policy.groups, "; "),
                networks: any(&policy.calling_station_networks, ", "),
                access: policy.access.clone().unwrap_or_else(|| "allow".into()),
                factors: factors_text(policy.factors.as_deref()),
                reply: (policy.reply.iter())
                    .map(|reply| format!("{} = {}", reply.attribute, reply.value.text()))
                    .collect(),
                first: index == 0,
                last: index + 1 == count,
            })
            .collect()
    }
}

/// The add/edit form, as typed or as a saved policy fills it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PolicyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    clients: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    networks: String,
    #[serde(default, rename = "access", deserialize_with = "deny")]
    deny: bool,
    #[serde(default, deserialize_with = "ticked")]
    totp: bool,
    #[serde(default, deserialize_with = "ticked")]
    push: bool,
    #[serde(default, deserialize_with = "ticked")]
    none: bool,
    #[serde(default)]
    reply: String,
}

fn ticked<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    Ok(!String::deserialize(value)?.is_empty())
}

fn deny<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    Ok(String::deserialize(value)? == "deny")
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

impl PolicyForm {
    fn of(policy: &PolicyText) -> PolicyForm {
        let factors = policy.factors.clone().unwrap_or_default();
        let has = |name: &str| factors.iter().any(|factor| factor == name);
        PolicyForm {
            name: policy.name.clone(),
            clients: policy.clients.join(" "),
            groups: policy.groups.join("\n"),
            networks: policy.calling_station_networks.join(" "),
            deny: policy.access.as_deref() == Some("deny"),
            totp: has("totp"),
            push: has("push"),
            none: has("none"),
            reply: (policy.reply.iter())
                .map(|reply| format!("{} = {}", reply.attribute, reply.value.text()))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The policy typed; `Err`: a reply line that is not `Attribute = value`.
    fn policy(&self) -> Result<PolicyText, String> {
        let mut reply = Vec::new();
        for (number, line) in lines(&self.reply).iter().enumerate() {
            let Some((attribute, value)) = line.split_once('=') else {
                return Err(format!(
                    "reply attributes, line {}: {line:?} is not Attribute = value",
                    number + 1
                ));
            };
            reply.push(ReplyText {
                attribute: attribute.trim().to_string(),
                value: ReplyValue::Text(value.trim().to_string()),
            });
        }
        let factors: Vec<String> = [
            (self.totp, "totp"),
            (self.push, "push"),
            (self.none, "none"),
        ]
        .into_iter()
        .filter(|(ticked, _)| *ticked)
        .map(|(_, name)| name.to_string())
        .collect();
        Ok(PolicyText {
            name: self.name.trim().to_string(),
            clients: words(&self.clients),
            groups: lines(&self.groups),
            calling_station_networks: words(&self.networks),
            access: Some(if self.deny { "deny" } else { "allow" }.into()),
            factors: (!factors.is_empty()).then_some(factors),
            reply,
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TestQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    calling_station_id: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct PoliciesQuery {
    done: Option<String>,
    edit: Option<String>,
    #[serde(flatten)]
    test: TestQuery,
}

/// What the page shows besides the list (default: the list alone).
#[derive(Default)]
struct View {
    editing: Option<String>,
    form: Option<PolicyForm>,
    test: TestQuery,
}

async fn render(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
    view: View,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let (shown, mut flash, mut status) = match PoliciesJson::read(gatehouse).await {
        Ok(shown) => (shown, flash, status),
        Err(PolicySaveError::Store(error)) => return unavailable(error),
        // Changed outside Gatehouse (or unreadable): the list cannot be
        // trusted; say why, and let a new policy replace it.
        Err(why) => {
            let generation = match why {
                PolicySaveError::Altered(generation) => generation,
                _ => 0,
            };
            let empty = PoliciesJson {
                fixed: false,
                generation,
                saved_at: None,
                saved_by: None,
                policies: Vec::new(),
            };
            (empty, Flash::Error(why.to_string()), StatusCode::CONFLICT)
        }
    };
    let editing = view
        .editing
        .filter(|name| shown.policies.iter().any(|p| &p.name == name));
    let form = match (view.form, &editing) {
        (Some(form), _) => form,
        (None, Some(name)) => shown
            .policies
            .iter()
            .find(|p| &p.name == name)
            .map(PolicyForm::of)
            .unwrap_or_default(),
        (None, None) => PolicyForm::default(),
    };
    let mut result = Vec::new();
    if !view.test.user.trim().is_empty() {
        let calling = Some(view.test.calling_station_id.trim()).filter(|s| !s.is_empty());
        let route = Route::new(view.test.client.trim(), calling);
        match gatehouse.policy_test(view.test.user.trim(), &route).await {
            Ok(test) => result = PolicyTestJson::new(&test).rows(),
            Err(why) => {
                flash = Flash::Error(why.to_string());
                status = StatusCode::BAD_REQUEST;
            }
        }
    }
    let saved = match (&shown.saved_at, &shown.saved_by) {
        (Some(at), Some(by)) => Some(format!("Saved {at} by {by}.")),
        _ => None,
    };
    page(
        status,
        &PoliciesPage {
            nav: Nav::new(panel, admin, "policies"),
            csrf: admin.csrf().to_string(),
            fixed: shown.fixed,
            generation: shown.generation,
            saved,
            rows: PolicyRow::list(&shown.policies),
            editing,
            form,
            test: view.test,
            result,
            notice: flash.notice(),
            error: flash.error(),
        },
    )
}

pub(super) async fn policies_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<PoliciesQuery>,
) -> Response {
    let view = View {
        editing: query.edit,
        form: None,
        test: query.test,
    };
    render(
        &panel,
        &admin,
        StatusCode::OK,
        Flash::done(query.done),
        view,
    )
    .await
}

/// Applies `change` to the saved list of generation `generation` and
/// saves it; back to the page saying what was done, or why not (the form
/// as typed kept in `view`).
async fn edit(
    panel: &Panel,
    admin: &Admin,
    generation: i64,
    view: View,
    change: impl FnOnce(&mut Vec<PolicyText>) -> Result<String, String>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let saved = match gatehouse.saved_policies().await {
        // Policies changed outside Gatehouse are not edited: an edit of
        // their generation starts from none (a new policy replaces them).
        Err(PolicySaveError::Altered(altered)) => Ok(SavedPolicies {
            generation: altered,
            policies: Vec::new(),
            saved: None,
        }),
        other => other,
    };
    let outcome = match saved {
        Ok(saved) if saved.generation != generation => Err(PolicySaveError::Stale.to_string()),
        Ok(saved) => {
            let mut policies = saved.policies;
            match change(&mut policies) {
                Ok(done) => match gatehouse
                    .save_policies(generation, &policies, admin.name.as_str())
                    .await
                {
                    Ok(_) => Ok(done),
                    Err(PolicySaveError::Store(error)) => return unavailable(error),
                    Err(why) => Err(why.to_string()),
                },
                Err(why) => Err(why),
            }
        }
        Err(PolicySaveError::Store(error)) => return unavailable(error),
        Err(why) => Err(why.to_string()),
    };
    match outcome {
        Ok(done) => redirect_done("/policies", &done),
        Err(why) => {
            render(
                panel,
                admin,
                StatusCode::BAD_REQUEST,
                Flash::Error(why),
                view,
            )
            .await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct SaveForm {
    generation: i64,
    #[serde(default)]
    original: String,
    #[serde(flatten)]
    policy: PolicyForm,
}

pub(super) async fn save_policy(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<SaveForm>,
) -> Response {
    let typed = form.policy.policy();
    let original = Some(form.original.trim().to_string()).filter(|name| !name.is_empty());
    let view = View {
        editing: original.clone(),
        form: Some(form.policy),
        ..View::default()
    };
    edit(&panel, &admin, form.generation, view, |policies| {
        let policy = typed?;
        let done = format!("Saved {}.", policy.name);
        match original {
            None => policies.push(policy),
            Some(original) => {
                let Some(slot) = policies.iter_mut().find(|p| p.name == original) else {
                    return Err(format!("no policy is named {original:?} any more"));
                };
                *slot = policy;
            }
        }
        Ok(done)
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct MoveForm {
    generation: i64,
    name: String,
    direction: String,
}

pub(super) async fn move_policy(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<MoveForm>,
) -> Response {
    edit(
        &panel,
        &admin,
        form.generation,
        View::default(),
        |policies| {
            let Some(index) = policies.iter().position(|p| p.name == form.name) else {
                return Err(format!("no policy is named {:?}", form.name));
            };
            let other = match form.direction.as_str() {
                "up" => index.checked_sub(1),
                "down" => Some(index + 1).filter(|&other| other < policies.len()),
                _ => return Err("direction must be up or down".into()),
            };
            let Some(other) = other else {
                return Err(format!("{} cannot move {}", form.name, form.direction));
            };
            policies.swap(index, other);
            Ok(format!("Moved {} {}.", form.name, form.direction))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct DeleteForm {
    generation: i64,
    name: String,
}

pub(super) async fn delete_policy(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<DeleteForm>,
) -> Response {
    edit(
        &panel,
        &admin,
        form.generation,
        View::default(),
        |policies| {
            let before = policies.len();
            policies.retain(|p| p.name != form.name);
            if policies.len() == before {
                return Err(format!("no policy is named {:?}", form.name));
            }
            Ok(format!("Deleted {}.", form.name))
        },
    )
    .await
}
