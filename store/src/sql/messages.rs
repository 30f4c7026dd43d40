//! C2C messages: append with a gap-free per-chat sequence, de-duplication, paging, recall.

/// Whether a row of `messages` belongs to a conversation of the skill group in parameter
/// `$p` (or `$p` is null): that buyer's conversation with the service account was open then,
/// or opened within 5 s after it (the buyer's first message is stored before the
/// conversation it opens).
macro_rules! in_group {
    ($p:literal) => {
        concat!(
            "(", $p, " is null or exists (select 1 from conversations c \
             where c.tenant_id = messages.tenant_id and c.skill_group_id = ", $p, " \
             and ((c.buyer = messages.from_account and c.service_account = messages.to_account) \
               or (c.buyer = messages.to_account and c.service_account = messages.from_account)) \
             and c.created_at <= messages.created_at + 5000 \
             and (c.state <> 'ended' or c.updated_at >= messages.created_at)))"
        )
    };
}
pub(crate) use in_group;

/// The filters of a message search after the text: `$4` from, `$5` to, `$6` role, `$7`
/// agent, `$8` account, `$9` skill group ([`in_group`]), `$10` before id.
macro_rules! search_filters {
    () => {
        concat!(
            " and ($4 is null or created_at >= $4) and ($5 is null or created_at < $5) \
             and ($6 is null or (case when $6 = 'agent' then sender_role = 'agent' \
                  when $6 = 'robot' then sender_role in ('robot', 'system') \
                  else sender_role not in ('agent', 'robot', 'system') end)) \
             and ($7 is null or agent_id = $7) \
             and ($8 is null or from_account = $8 or to_account = $8) and ",
            $crate::sql::messages::in_group!("$9"),
            " and ($10 is null or id < $10)"
        )
    };
}
pub(crate) use search_filters;

/// Binds the filters of [`search_filters`] in order.
macro_rules! bind_search_filters {
    ($query:expr, $s:expr) => {
        $query
            .bind($s.from)
            .bind($s.to)
            .bind($s.role.as_deref())
            .bind($s.agent.map(|a| a.0))
            .bind($s.account.as_deref())
            .bind($s.skill_group.map(|g| g.0))
            .bind($s.before_id)
    };
}
pub(crate) use bind_search_filters;

/// `query` as a LIKE pattern matching it anywhere, with `\`, `%` and `_` taken literally.
pub(crate) fn like_pattern(query: &str) -> String {
    let escaped = query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The chat key: the two parties in a fixed order.
pub(crate) fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

macro_rules! impl_message_store {
    // $roam_from: the table a history page reads, with SQLite's index hint; $json_page:
    // whether the database returns a page as one JSON array (see roam_page).
    ($S:ty, $roam_from:literal, $json_page:literal) => {
        impl $S {
            async fn chat_id(&self, tenant: kefu_domain::TenantId, a: &str, b: &str) -> $crate::Result<Option<i64>> {
                let (a, b) = $crate::sql::messages::pair(a, b);
                Ok(sqlx::query_scalar("select id from chats where tenant_id = $1 and user_a = $2 and user_b = $3")
                    .bind(tenant.0)
                    .bind(a)
                    .bind(b)
                    .fetch_optional(&self.pool)
                    .await?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::MessageStore for $S {
            async fn find_duplicate(
                &self,
                tenant: kefu_domain::TenantId,
                m: &$crate::NewMessage,
                dedup_since: i64,
            ) -> $crate::Result<Option<$crate::StoredMessage>> {
                let (a, b) = $crate::sql::messages::pair(&m.from_account, &m.to_account);
                // The unary `+` keeps the planner on `messages_dedup` (sender, MsgRandom); SQLite
                // otherwise walks the chat's messages of the window.
                let original: Option<$crate::sql::rows::MessageRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::message_columns!(),
                    " from messages where tenant_id = $1 and from_account = $2 and msg_random = $3 \
                     and msg_seq = $4 and content_crc = $5 and +created_at >= $6 \
                     and +chat_id = (select id from chats where tenant_id = $1 and user_a = $7 and user_b = $8) \
                     order by id limit 1"
                ))
                .bind(tenant.0)
                .bind(&m.from_account)
                .bind(m.msg_random)
                .bind(m.msg_seq)
                .bind(m.content_crc)
                .bind(dedup_since)
                .bind(a)
                .bind(b)
                .fetch_optional(&self.pool)
                .await?;
                Ok(original.map(Into::into))
            }

            async fn append_message(
                &self,
                tenant: kefu_domain::TenantId,
                m: $crate::NewMessage,
                dedup_since: i64,
            ) -> $crate::Result<$crate::Appended> {
                // Written in a batch with whatever else is being appended (group commit).
                self.appends
                    .submit(self, $crate::group_commit::Pending { tenant, message: m, dedup_since, then: None })
                    .await
            }

            async fn roam_page(
                &self,
                tenant: kefu_domain::TenantId,
                q: $crate::RoamQuery<'_>,
            ) -> $crate::Result<(Option<$crate::Chat>, Vec<$crate::StoredMessage>)> {
                let Some(chat) = self.chat_between(tenant, q.a, q.b).await? else {
                    return Ok((None, Vec::new()));
                };
                let chat_id = chat.id;
                // Without a cursor, everything up to max_time; with one, strictly before it in
                // (time, MsgSeq, seq) order: a range on msg_time of the (chat_id, msg_time,
                // msg_seq, seq) index, walked backwards, with the cursor's tie-break as a filter
                // (`+msg_time` keeps it out of the index). As an index condition, with the
                // statistics of a big chat, SQLite turned the row comparison into a skip-scan
                // and a sort, and an `or` spelling into two scans and a sort (11 and 75 pages a
                // second on a million messages); SQLite is also told the index outright.
                // The range's upper end is the lower of the period's end and the cursor's
                // time, worked out here: given both as bounds, SQLite took the period's end for
                // the index and walked from there down to the cursor (6 ms a page at the far
                // end of a million messages, against 0.6 ms).
                let c = q.before.unwrap_or($crate::RoamCursor { msg_time: q.max_time, msg_seq: i64::MAX, seq: i64::MAX });
                macro_rules! page {
                    () => {
                        concat!(
                            "select ", $crate::sql::rows::message_columns!(), " from ", $roam_from,
                            " where chat_id = $1 and tenant_id = $2 and msg_time >= $3 and msg_time <= $4 \
                             and (+msg_time, msg_seq, seq) < ($5, $6, $7) \
                             order by msg_time desc, msg_seq desc, seq desc limit $8"
                        )
                    };
                }
                let query = if $json_page {
                    // SQLite builds the page as one JSON array of rows: read row by row, the
                    // driver copied every value on its worker thread for this one to free, and
                    // a page took 1.3 times as long (docs/decisions.md).
                    concat!(
                        "select json_group_array(json_array(",
                        $crate::sql::rows::message_columns!(),
                        ") order by msg_time desc, msg_seq desc, seq desc) from (",
                        page!(),
                        ") page"
                    )
                } else {
                    page!()
                };
                let query = sqlx::query(query)
                    .bind(chat_id)
                    .bind(tenant.0)
                    .bind(q.min_time)
                    .bind(q.max_time.min(c.msg_time))
                    .bind(c.msg_time)
                    .bind(c.msg_seq)
                    .bind(c.seq)
                    .bind(q.limit);
                let rows: Vec<$crate::sql::rows::MessageRow> = if $json_page {
                    use sqlx::Row as _;
                    let json: String = query.fetch_one(&self.pool).await?.try_get(0)?;
                    serde_json::from_str(&json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?
                } else {
                    use sqlx::FromRow as _;
                    query
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map($crate::sql::rows::MessageRow::from_row)
                        .collect::<Result<_, _>>()?
                };
                Ok((Some(chat), rows.into_iter().map(Into::into).collect()))
            }

            async fn find_message_by_key(
                &self,
                tenant: kefu_domain::TenantId,
                a: &str,
                b: &str,
                msg_key: &str,
            ) -> $crate::Result<Option<$crate::StoredMessage>> {
                let Some(chat_id) = self.chat_id(tenant, a, b).await? else {
                    return Ok(None);
                };
                let row: Option<$crate::sql::rows::MessageRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::message_columns!(),
                    " from messages where chat_id = $1 and tenant_id = $2 and msg_key = $3 order by seq desc limit 1"
                ))
                .bind(chat_id)
                .bind(tenant.0)
                .bind(msg_key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Into::into))
            }

            async fn recall_message(
                &self,
                tenant: kefu_domain::TenantId,
                a: &str,
                b: &str,
                msg_key: &str,
            ) -> $crate::Result<$crate::Recall> {
                let Some(found) = self.find_message_by_key(tenant, a, b, msg_key).await? else {
                    return Ok($crate::Recall::NotFound);
                };
                // Only the first recall changes the row; a concurrent second one sees 0 rows.
                let n = sqlx::query(
                    "update messages set flag_bits = flag_bits | 8 where id = $1 and tenant_id = $2 and (flag_bits & 8) = 0",
                )
                .bind(found.id)
                .bind(tenant.0)
                .execute(&self.writer)
                .await?
                .rows_affected();
                Ok(if n == 1 { $crate::Recall::Recalled } else { $crate::Recall::AlreadyRecalled })
            }

            async fn get_chat(&self, tenant: kefu_domain::TenantId, chat_id: i64) -> $crate::Result<Option<$crate::Chat>> {
                let row: Option<(i64, String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "select id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq from chats where tenant_id = $1 and id = $2",
                )
                .bind(tenant.0)
                .bind(chat_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq)| $crate::Chat { id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq }))
            }

            async fn chat_between(
                &self,
                tenant: kefu_domain::TenantId,
                a: &str,
                b: &str,
            ) -> $crate::Result<Option<$crate::Chat>> {
                let (a, b) = $crate::sql::messages::pair(a, b);
                let row: Option<(i64, String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "select id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq from chats \
                     where tenant_id = $1 and user_a = $2 and user_b = $3",
                )
                .bind(tenant.0)
                .bind(a)
                .bind(b)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq)| $crate::Chat { id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq }))
            }

            async fn mark_read(
                &self,
                tenant: kefu_domain::TenantId,
                chat_id: i64,
                reader: &str,
                seq: i64,
            ) -> $crate::Result<i64> {
                // Whichever side the reader is, its column moves to max(current, min(seq, last)).
                let row: Option<(String, i64, i64)> = sqlx::query_as(
                    "update chats set \
                     a_read_seq = case when user_a = $3 and $4 > a_read_seq then \
                         (case when $4 < last_seq then $4 else last_seq end) else a_read_seq end, \
                     b_read_seq = case when user_b = $3 and $4 > b_read_seq then \
                         (case when $4 < last_seq then $4 else last_seq end) else b_read_seq end \
                     where tenant_id = $1 and id = $2 and (user_a = $3 or user_b = $3) \
                     returning user_a, a_read_seq, b_read_seq",
                )
                .bind(tenant.0)
                .bind(chat_id)
                .bind(reader)
                .bind(seq)
                .fetch_optional(&self.writer)
                .await?;
                let (user_a, a, b) = row.ok_or($crate::StoreError::NotFound)?;
                Ok(if user_a == reader { a } else { b })
            }

            async fn chats_of(
                &self,
                tenant: kefu_domain::TenantId,
                identity: &str,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Chat>> {
                let rows: Vec<(i64, String, String, i64, i64, i64, i64)> = sqlx::query_as(
                    "select id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq from chats \
                     where tenant_id = $1 and (user_a = $2 or user_b = $2) order by updated_at desc, id desc limit $3",
                )
                .bind(tenant.0)
                .bind(identity)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq)| $crate::Chat { id, user_a, user_b, last_seq, updated_at, a_read_seq, b_read_seq })
                    .collect())
            }

            async fn messages_after(
                &self,
                tenant: kefu_domain::TenantId,
                chat_id: i64,
                after_seq: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredMessage>> {
                let rows: Vec<$crate::sql::rows::MessageRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::message_columns!(),
                    " from messages where chat_id = $1 and tenant_id = $2 and seq > $3 order by seq limit $4"
                ))
                .bind(chat_id)
                .bind(tenant.0)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn messages_before(
                &self,
                tenant: kefu_domain::TenantId,
                a: &str,
                b: &str,
                before_seq: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredMessage>> {
                let Some(chat_id) = self.chat_id(tenant, a, b).await? else {
                    return Ok(Vec::new());
                };
                let rows: Vec<$crate::sql::rows::MessageRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::message_columns!(),
                    " from messages where chat_id = $1 and tenant_id = $2 and seq < $3 order by seq desc limit $4"
                ))
                .bind(chat_id)
                .bind(tenant.0)
                .bind(before_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn messages_in_period(
                &self,
                tenant: kefu_domain::TenantId,
                a: &str,
                b: &str,
                from: i64,
                to: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::StoredMessage>> {
                let Some(chat_id) = self.chat_id(tenant, a, b).await? else {
                    return Ok(Vec::new());
                };
                let rows: Vec<$crate::sql::rows::MessageRow> = sqlx::query_as(concat!(
                    "select ",
                    $crate::sql::rows::message_columns!(),
                    " from messages where chat_id = $1 and tenant_id = $2 \
                     and created_at >= $3 and created_at < $4 order by seq limit $5"
                ))
                .bind(chat_id)
                .bind(tenant.0)
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn search_messages(
                &self,
                tenant: kefu_domain::TenantId,
                search: &$crate::MessageSearch,
            ) -> $crate::Result<Vec<$crate::StoredMessage>> {
                // Text search is dialect SQL, in the backend's own file.
                self.search_text(tenant, search).await
            }
        }
    };
}
pub(crate) use impl_message_store;
