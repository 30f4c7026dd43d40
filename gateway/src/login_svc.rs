//! `im_open_login_svc`: importing, checking, deleting and kicking IM accounts.

use crate::envelope::ImError;
use crate::rest::Call;
use kefu_domain::event::{Event, topic};
use kefu_store::ImAccount;
use serde_json::{Value, json};

pub const COMMANDS: &[&str] = &[
    "account_import",
    "multiaccount_import",
    "account_check",
    "account_delete",
    "kick",
];

/// At most this many accounts per batch command.
const MAX_BATCH: usize = 100;

/// Tencent's text for "this account was never imported".
const NOT_EXIST: &str = "Err_TLS_PT_Open_Login_Account_Not_Exist";

pub async fn dispatch(command: &str, call: Call<'_>) -> Result<Value, ImError> {
    match command {
        "account_import" => account_import(call).await,
        "multiaccount_import" => multiaccount_import(call).await,
        "account_check" => account_check(call).await,
        "account_delete" => account_delete(call).await,
        "kick" => kick(call).await,
        other => Err(ImError::unknown_command("im_open_login_svc", other)),
    }
}

/// A UserID: a non-empty string of at most 32 bytes.
fn user_id(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 32)
        .map(str::to_string)
}

/// The account a single-account command names: `UserID`, or `Identifier` from older clients.
fn named(body: &Value) -> Result<String, ImError> {
    user_id(body.get("UserID").or_else(|| body.get("Identifier")))
        .ok_or_else(|| ImError::invalid("UserID (or Identifier) must be a string of 1 to 32 bytes"))
}

fn text(body: &Value, key: &str) -> String {
    body.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(500)
        .collect()
}

/// Whether `id` exists in the app: imported, or built in.
pub(crate) async fn exists(call: &Call<'_>, id: &str) -> Result<bool, ImError> {
    Ok(call.app.is_built_in(id)
        || kefu_engine::cache::im_account_exists(&call.state.store, call.app.tenant_id, id).await?)
}

async fn import(call: &Call<'_>, entry: &Value, user: String) -> Result<(), ImError> {
    let account = ImAccount {
        user_id: user,
        nick: text(entry, "Nick"),
        face_url: text(entry, "FaceUrl"),
        kind: entry
            .get("Type")
            .and_then(Value::as_i64)
            .filter(|t| *t == 1)
            .unwrap_or(0),
        created_at: call.state.clock.now(),
        kicked_at: None,
    };
    call.state
        .store
        .import_im_account(call.app.tenant_id, &account)
        .await?;
    Ok(())
}

async fn account_import(call: Call<'_>) -> Result<Value, ImError> {
    let user = named(&call.body)?;
    import(&call, &call.body, user).await?;
    Ok(json!({}))
}

async fn multiaccount_import(call: Call<'_>) -> Result<Value, ImError> {
    // Classic: {"Accounts": ["a", "b"]}; newer: {"AccountList": [{"UserID": "a", "Nick": …}]}.
    let entries: Vec<(Option<String>, Value, String)> =
        if let Some(list) = call.body.get("Accounts").and_then(Value::as_array) {
            list.iter()
                .map(|v| {
                    (
                        user_id(Some(v)),
                        json!({}),
                        v.as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        } else if let Some(list) = call.body.get("AccountList").and_then(Value::as_array) {
            list.iter()
                .map(|v| {
                    (
                        user_id(v.get("UserID")),
                        v.clone(),
                        v.get("UserID")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        } else {
            return Err(ImError::invalid(
                "Accounts (or AccountList) must be an array",
            ));
        };
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Err(ImError::invalid(format!(
            "import 1 to {MAX_BATCH} accounts per request"
        )));
    }
    let mut failed = Vec::new();
    for (user, entry, raw) in entries {
        match user {
            Some(user) => import(&call, &entry, user).await?,
            None => failed.push(raw),
        }
    }
    Ok(json!({ "FailAccounts": failed }))
}

/// The `UserID`s of a batch `[{"UserID": …}, …]` under `key`.
fn batch<'a>(body: &'a Value, key: &str) -> Result<&'a Vec<Value>, ImError> {
    let list = body
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| ImError::invalid(format!("{key} must be an array of {{\"UserID\": …}}")))?;
    if list.is_empty() || list.len() > MAX_BATCH {
        return Err(ImError::invalid(format!(
            "{key} takes 1 to {MAX_BATCH} items"
        )));
    }
    Ok(list)
}

async fn account_check(call: Call<'_>) -> Result<Value, ImError> {
    let mut results = Vec::new();
    for item in batch(&call.body, "CheckItem")? {
        let raw = item
            .get("UserID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(user) = user_id(item.get("UserID")) else {
            results.push(json!({ "UserID": raw, "ResultCode": 70402, "ResultInfo": "UserID must be 1 to 32 bytes", "AccountStatus": "NotImported" }));
            continue;
        };
        let imported = call.app.is_built_in(&user)
            || call
                .state
                .store
                .get_im_account(call.app.tenant_id, &user)
                .await?
                .is_some();
        let status = if imported { "Imported" } else { "NotImported" };
        results.push(
            json!({ "UserID": user, "ResultCode": 0, "ResultInfo": "", "AccountStatus": status }),
        );
    }
    Ok(json!({ "ResultItem": results }))
}

async fn account_delete(call: Call<'_>) -> Result<Value, ImError> {
    let mut results = Vec::new();
    for item in batch(&call.body, "DeleteItem")? {
        let raw = item
            .get("UserID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let result = match user_id(item.get("UserID")) {
            None => (70402, "UserID must be 1 to 32 bytes".to_string()),
            Some(user) if call.app.is_built_in(&user) => (
                70402,
                "admin and customer-service accounts are managed in the admin console".to_string(),
            ),
            Some(user) => {
                let deleted = call
                    .state
                    .store
                    .delete_im_account(call.app.tenant_id, &user)
                    .await?;
                kefu_engine::cache::forget_im_account(&call.state.store, call.app.tenant_id, &user);
                if deleted {
                    (0, String::new())
                } else {
                    (70107, NOT_EXIST.to_string())
                }
            }
        };
        results.push(json!({ "UserID": raw, "ResultCode": result.0, "ResultInfo": result.1 }));
    }
    Ok(json!({ "ResultItem": results }))
}

async fn kick(call: Call<'_>) -> Result<Value, ImError> {
    let user = named(&call.body)?;
    let now = call.state.clock.now();
    if !call
        .state
        .store
        .kick_im_account(call.app.tenant_id, &user, now)
        .await?
    {
        return Err(ImError::new(70107, NOT_EXIST));
    }
    // Live sockets of the account close at once, on every node.
    let event = Event::ImKicked {
        tenant_id: call.app.tenant_id,
        user_id: user,
        at: now,
    };
    if let Err(e) = call.state.bus.publish(topic::SESSIONS, &event).await {
        tracing::warn!(error = %e, "could not announce a kick; sockets close at their next login check");
    }
    Ok(json!({}))
}
