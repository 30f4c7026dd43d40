//! Bulk seat import from the `.xlsx` template: one result per row, good rows are created
//! even when others fail, and the seat cap holds throughout.

use crate::State;
use crate::accounts::{CreateAccountRequest, create_account};
use crate::dto::{AccountDto, ApiRole};
use crate::error::{ApiError, ErrorCode};
use calamine::{Data, Reader};
use kefu_auth::Principal;
use kefu_domain::TenantId;
use poem_openapi::{Enum, Object};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use std::io::Cursor;

pub const MAX_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_ROWS: usize = 1000;

/// Column headers, in order. The English key in each header is what the import checks.
const HEADERS: [&str; 7] = [
    "用户名 username*",
    "显示名 display_name*",
    "姓名 real_name",
    "手机 phone",
    "邮箱 email",
    "角色 role (agent/admin)",
    "技能组 skill_groups (名称, 逗号分隔)",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum RowStatus {
    Created,
    Failed,
}

#[derive(Debug, Object)]
pub struct ImportRow {
    /// The row number as Excel shows it (the header is row 1).
    pub row: i64,
    pub username: String,
    pub status: RowStatus,
    pub account: Option<AccountDto>,
    /// The initial password of a created seat, shown this once.
    pub initial_password: Option<String>,
    pub password_mailed: Option<bool>,
    pub error: Option<crate::error::ErrorBody>,
}

#[derive(Debug, Object)]
pub struct ImportReport {
    pub created: i64,
    pub failed: i64,
    pub rows: Vec<ImportRow>,
}

/// The empty template with a header row and an instructions sheet.
pub fn template() -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = wb.add_worksheet().set_name("accounts")?;
    for (col, header) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *header, &bold)?;
        sheet.set_column_width(col as u16, 24)?;
    }
    let help = wb.add_worksheet().set_name("说明 help")?;
    let lines = [
        "从第 2 行起每行一个坐席；带 * 的列必填。 One seat per row from row 2; columns with * are required.",
        "用户名: 2–32 位字母、数字或 . _ - @。 username: 2–32 letters, digits or . _ - @.",
        "角色: agent(坐席) 或 admin(管理员)，留空为 agent。 role: agent or admin; empty means agent.",
        "技能组: 已有技能组的名称，多个用逗号分隔。 skill_groups: names of existing groups, comma-separated.",
        "初始密码随机生成，在导入结果中显示一次，并发送到邮箱（如填写）。",
        "Initial passwords are random, shown once in the result and mailed if an email is given.",
    ];
    for (row, line) in lines.iter().enumerate() {
        help.write_string(row as u32, 0, *line)?;
    }
    help.set_column_width(0, 100)?;
    wb.save_to_buffer()
}

fn cell(row: &[Data], col: usize) -> String {
    match row.get(col) {
        Some(Data::String(s)) => s.trim().to_string(),
        // Phone numbers typed into Excel arrive as numbers.
        Some(Data::Float(f)) if f.fract() == 0.0 => format!("{}", *f as i64),
        Some(Data::Float(f)) => f.to_string(),
        Some(Data::Int(i)) => i.to_string(),
        Some(Data::Bool(b)) => b.to_string(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => other.to_string().trim().to_string(),
    }
}

fn parse_role(s: &str) -> Option<ApiRole> {
    match s.trim().to_lowercase().as_str() {
        "" | "agent" | "坐席" | "客服" => Some(ApiRole::Agent),
        "admin" | "管理员" => Some(ApiRole::Admin),
        "super_admin" | "超级管理员" => Some(ApiRole::SuperAdmin),
        _ => None,
    }
}

fn failed(row: i64, username: String, code: ErrorCode, message: impl Into<String>) -> ImportRow {
    ImportRow {
        row,
        username,
        status: RowStatus::Failed,
        account: None,
        initial_password: None,
        password_mailed: None,
        error: Some(crate::error::ErrorBody {
            code,
            message: message.into(),
        }),
    }
}

pub async fn run(
    state: &State,
    who: &Principal,
    tenant: TenantId,
    bytes: &[u8],
) -> Result<ImportReport, ApiError> {
    if bytes.len() > MAX_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the file is larger than 2 MB; split it into smaller files",
        ));
    }
    let not_template = || {
        ApiError::new(
            ErrorCode::BadRequest,
            "this is not the seat template; download it from GET /api/v1/accounts/import-template",
        )
    };
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|_| not_template())?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(not_template)?
        .map_err(|_| not_template())?;
    let mut rows = range.rows();
    let header = rows.next().ok_or_else(not_template)?;
    if !cell(header, 0).contains("username") || !cell(header, 1).contains("display_name") {
        return Err(not_template());
    }
    let data: Vec<(usize, &[Data])> = rows
        .enumerate()
        .filter(|(_, r)| (0..HEADERS.len()).any(|c| !cell(r, c).is_empty()))
        .collect();
    if data.len() > MAX_ROWS {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("at most {MAX_ROWS} rows per file; split it"),
        ));
    }
    let groups = state.store.list_skill_groups(tenant).await?;

    let mut report = ImportReport {
        created: 0,
        failed: 0,
        rows: Vec::new(),
    };
    for (i, r) in data {
        let row_no = i as i64 + 2;
        let username = cell(r, 0);
        let Some(role) = parse_role(&cell(r, 5)) else {
            report.rows.push(failed(
                row_no,
                username,
                ErrorCode::ValidationFailed,
                "role: use agent or admin",
            ));
            continue;
        };
        let mut group_ids = Vec::new();
        let mut unknown = None;
        for name in cell(r, 6)
            .split([',', '，', '、'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match groups.iter().find(|g| g.name == name) {
                Some(g) => group_ids.push(g.id.0),
                None => unknown = Some(name.to_string()),
            }
        }
        if let Some(name) = unknown {
            report.rows.push(failed(
                row_no,
                username,
                ErrorCode::UnknownSkillGroup,
                format!("skill group `{name}` does not exist"),
            ));
            continue;
        }
        let req = CreateAccountRequest {
            username: username.clone(),
            display_name: cell(r, 1),
            real_name: cell(r, 2),
            phone: cell(r, 3),
            email: cell(r, 4),
            role,
            skill_group_ids: group_ids,
        };
        match create_account(state, who, tenant, req).await {
            Ok(created) => report.rows.push(ImportRow {
                row: row_no,
                username,
                status: RowStatus::Created,
                account: Some(created.account),
                initial_password: Some(created.initial_password),
                password_mailed: Some(created.password_mailed),
                error: None,
            }),
            Err(e) => {
                let body = e.body();
                report
                    .rows
                    .push(failed(row_no, username, body.code, body.message));
            }
        }
    }
    report.created = report
        .rows
        .iter()
        .filter(|r| r.status == RowStatus::Created)
        .count() as i64;
    report.failed = report.rows.len() as i64 - report.created;
    state
        .logins
        .audit(
            Some(tenant),
            Some(&who.account),
            "account_import",
            "",
            &format!("{} created, {} failed", report.created, report.failed),
            &who.ip,
        )
        .await;
    Ok(report)
}
