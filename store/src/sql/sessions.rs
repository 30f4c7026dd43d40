//! Login sessions and failed-login throttling.

macro_rules! impl_session_store {
    ($S:ty) => {
        #[async_trait::async_trait]
        impl $crate::SessionStore for $S {
            async fn open_session(
                &self,
                new: $crate::NewSession,
                live_since: i64,
            ) -> $crate::Result<$crate::Session> {
                let mut tx = self.writer.begin().await?;
                // Lock the account so that two logins at the same moment see each other.
                sqlx::query("update accounts set updated_at = updated_at where id = $1")
                    .bind(new.account_id.0)
                    .execute(&mut *tx)
                    .await?;
                let live: i64 = sqlx::query_scalar(
                    "select count(*) from login_sessions where account_id = $1 \
                     and revoked_at is null and last_seen_at >= $2",
                )
                .bind(new.account_id.0)
                .bind(live_since)
                .fetch_one(&mut *tx)
                .await?;
                if live > 0 {
                    return Err($crate::StoreError::AlreadyLoggedIn);
                }
                sqlx::query(
                    "update login_sessions set revoked_at = $2, revoked_reason = 'replaced' \
                     where account_id = $1 and revoked_at is null",
                )
                .bind(new.account_id.0)
                .bind(new.now)
                .execute(&mut *tx)
                .await?;
                let row: $crate::sql::rows::SessionRow = sqlx::query_as(concat!(
                    "insert into login_sessions (tenant_id, account_id, token_hash, ip, user_agent, \
                     created_at, last_seen_at) values ($1, $2, $3, $4, $5, $6, $6) returning ",
                    $crate::sql::rows::session_columns!()
                ))
                .bind(new.tenant_id.map(|t| t.0))
                .bind(new.account_id.0)
                .bind(&new.token_hash)
                .bind(&new.ip)
                .bind(&new.user_agent)
                .bind(new.now)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn authenticate(
                &self,
                token_hash: &str,
                valid_since: i64,
                now: i64,
            ) -> $crate::Result<Option<($crate::Session, $crate::Account)>> {
                let row: Option<$crate::sql::rows::SessionRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::session_columns!(),
                    " from login_sessions where token_hash = $1 and revoked_at is null and last_seen_at >= $2"
                ))
                .bind(token_hash)
                .bind(valid_since)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let account = match row.tenant_id {
                    Some(t) => {
                        $crate::AccountStore::get_account(
                            self,
                            kefu_domain::TenantId(t),
                            kefu_domain::AccountId(row.account_id),
                        )
                        .await?
                    }
                    None => $crate::AccountStore::get_operator(self, kefu_domain::AccountId(row.account_id)).await?,
                };
                let Some(account) = account else { return Ok(None) };
                let mut session: $crate::Session = row.into();
                // Mark use at most every 10 s: enough for the 2-minute liveness window and the
                // 24-hour expiry, without a write on every request.
                if now - session.last_seen_at >= 10_000 {
                    sqlx::query("update login_sessions set last_seen_at = $2 where id = $1")
                        .bind(session.id)
                        .bind(now)
                        .execute(&self.writer)
                        .await?;
                    session.last_seen_at = now;
                }
                Ok(Some((session, account)))
            }

            async fn revoke_session(&self, id: i64, reason: &str, now: i64) -> $crate::Result<()> {
                sqlx::query(
                    "update login_sessions set revoked_at = $2, revoked_reason = $3 \
                     where id = $1 and revoked_at is null",
                )
                .bind(id)
                .bind(now)
                .bind(reason)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn revoke_account_sessions(
                &self,
                tenant: Option<kefu_domain::TenantId>,
                account: kefu_domain::AccountId,
                reason: &str,
                now: i64,
            ) -> $crate::Result<Vec<i64>> {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "update login_sessions set revoked_at = $3, revoked_reason = $4 \
                     where account_id = $2 and revoked_at is null \
                     and (tenant_id = $1 or (tenant_id is null and $1 = 0)) returning id",
                )
                .bind(tenant.map(|t| t.0).unwrap_or(0))
                .bind(account.0)
                .bind(now)
                .bind(reason)
                .fetch_all(&self.writer)
                .await?;
                Ok(ids)
            }

            async fn list_live_sessions(
                &self,
                tenant: kefu_domain::TenantId,
                live_since: i64,
            ) -> $crate::Result<Vec<$crate::LiveLogin>> {
                let rows: Vec<$crate::sql::rows::LiveLoginRow> = sqlx::query_as(
                    "select s.id, s.tenant_id, s.account_id, s.ip, s.user_agent, s.created_at, \
                     s.last_seen_at, a.username, a.display_name, a.role \
                     from login_sessions s join accounts a on a.id = s.account_id \
                     where s.tenant_id = $1 and s.revoked_at is null and s.last_seen_at >= $2 \
                     order by a.username",
                )
                .bind(tenant.0)
                .bind(live_since)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| $crate::LiveLogin {
                        role: r.role.parse().unwrap_or(kefu_domain::Role::Agent),
                        session: r.session.into(),
                        username: r.username,
                        display_name: r.display_name,
                    })
                    .collect())
            }
        }

        #[async_trait::async_trait]
        impl $crate::ThrottleStore for $S {
            async fn throttle_locked_until(&self, key: &str, now: i64) -> $crate::Result<Option<i64>> {
                let until: Option<i64> =
                    sqlx::query_scalar("select locked_until from login_throttle where key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(until.filter(|u| *u > now))
            }

            async fn throttle_fail(
                &self,
                key: &str,
                max_failures: i64,
                lock_for: i64,
                now: i64,
            ) -> $crate::Result<Option<i64>> {
                // Failures older than 15 minutes are forgotten: the count is a burst detector.
                let failures: i64 = sqlx::query_scalar(
                    "insert into login_throttle (key, failures, locked_until, updated_at) values ($1, 1, 0, $2) \
                     on conflict (key) do update set \
                     failures = case when login_throttle.updated_at < $3 then 1 else login_throttle.failures + 1 end, \
                     updated_at = $2 returning failures",
                )
                .bind(key)
                .bind(now)
                .bind(now - 15 * 60_000)
                .fetch_one(&self.writer)
                .await?;
                if failures < max_failures {
                    return Ok(None);
                }
                let until = now + lock_for;
                sqlx::query("update login_throttle set failures = 0, locked_until = $2 where key = $1")
                    .bind(key)
                    .bind(until)
                    .execute(&self.writer)
                    .await?;
                Ok(Some(until))
            }

            async fn throttle_clear(&self, key: &str) -> $crate::Result<()> {
                sqlx::query("delete from login_throttle where key = $1")
                    .bind(key)
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_session_store;
