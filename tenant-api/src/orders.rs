//! The buyer's orders in the agent console (采购人订单): the tenant's order provider, a
//! conversation's buyer's orders page by page, and an order sent to the buyer as a card.

use crate::State;
use crate::conversations::{ConversationsApi, MessageDto};
use crate::error::{ApiError, ErrorCode};
use crate::security::Auth;
use kefu_auth::authz::{action, object};
use kefu_orders::{Order, OrderError, OrderItem, OrderPage, Provider};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// The buyer's orders, from the tenant's order provider.
    Orders,
}

/// The tenant's order provider. The secret is never shown.
#[derive(Debug, Clone, Object)]
pub struct OrderProviderDto {
    pub configured: bool,
    pub url: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct OrderProviderRequest {
    /// `https://…` (plain `http://` only for localhost).
    pub url: String,
    /// 16 to 256 characters; absent keeps the current secret.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct OrderItemDto {
    pub title: String,
    pub image: String,
    pub quantity: i64,
    /// A decimal string.
    pub price: String,
}

#[derive(Debug, Clone, Object)]
pub struct OrderDto {
    pub order_no: String,
    /// Milliseconds since the epoch.
    pub time: i64,
    pub status: String,
    /// A decimal string, e.g. `"59.90"`.
    pub amount: String,
    pub currency: String,
    pub items: Vec<OrderItemDto>,
    pub detail_url: String,
}

#[derive(Debug, Clone, Object)]
pub struct OrderPageDto {
    pub orders: Vec<OrderDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Object)]
pub struct OrderCardRequest {
    pub order: OrderDto,
}

#[derive(ApiResponse)]
enum Deleted {
    #[oai(status = 204)]
    Deleted,
}

fn dto(o: &Order) -> OrderDto {
    OrderDto {
        order_no: o.order_no.clone(),
        time: o.time,
        status: o.status.clone(),
        amount: o.amount.clone(),
        currency: o.currency.clone(),
        items: o
            .items
            .iter()
            .map(|i| OrderItemDto {
                title: i.title.clone(),
                image: i.image.clone(),
                quantity: i.quantity,
                price: i.price.clone(),
            })
            .collect(),
        detail_url: o.detail_url.clone(),
    }
}

fn page_dto(p: &OrderPage) -> OrderPageDto {
    OrderPageDto {
        orders: p.orders.iter().map(dto).collect(),
        next_cursor: p.next_cursor.clone(),
    }
}

fn from_dto(o: OrderDto) -> Order {
    Order {
        order_no: o.order_no,
        time: o.time,
        status: o.status,
        amount: o.amount,
        currency: o.currency,
        items: o
            .items
            .into_iter()
            .map(|i| OrderItem {
                title: i.title,
                image: i.image,
                quantity: i.quantity,
                price: i.price,
            })
            .collect(),
        detail_url: o.detail_url,
    }
}

pub struct OrdersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Orders")]
impl OrdersApi {
    /// Get the order provider
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/order-provider",
        method = "get",
        operation_id = "getOrderProvider"
    )]
    async fn provider(
        &self,
        state: Data<&State>,
        auth: Auth,
    ) -> Result<Json<OrderProviderDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::READ)
            .await?;
        let p = state.store.order_provider(tenant).await?;
        Ok(Json(OrderProviderDto {
            configured: p.is_some(),
            url: p.map(|(url, _)| url),
        }))
    }

    /// Set the order provider
    ///
    /// Kefu signs each request to it with the secret (see docs/orders.md).
    ///
    /// Errors: 400 `validation_failed`; 403 `forbidden`.
    #[oai(
        path = "/order-provider",
        method = "put",
        operation_id = "setOrderProvider"
    )]
    async fn set_provider(
        &self,
        state: Data<&State>,
        auth: Auth,
        body: Json<OrderProviderRequest>,
    ) -> Result<Json<OrderProviderDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::WRITE)
            .await?;
        let url = body.0.url.trim().to_string();
        kefu_orders::check_url(&url)
            .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, format!("url: {e}")))?;
        let current = state.store.order_provider(tenant).await?;
        let secret = match (body.0.secret, current) {
            (Some(s), _) => {
                if !(16..=256).contains(&s.chars().count()) {
                    return Err(ApiError::new(
                        ErrorCode::ValidationFailed,
                        "secret: use 16 to 256 characters, shared with the order service",
                    ));
                }
                s
            }
            (None, Some((_, s))) => s,
            (None, None) => {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    "secret: required when setting the provider for the first time",
                ));
            }
        };
        state
            .store
            .save_order_provider(tenant, Some((&url, &secret)), state.clock.now())
            .await?;
        state.audit(&auth.0, "order_provider_set", &url, "").await;
        Ok(Json(OrderProviderDto {
            configured: true,
            url: Some(url),
        }))
    }

    /// Remove the order provider
    ///
    /// Errors: 403 `forbidden`.
    #[oai(
        path = "/order-provider",
        method = "delete",
        operation_id = "deleteOrderProvider"
    )]
    async fn delete_provider(&self, state: Data<&State>, auth: Auth) -> Result<Deleted, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::IM_APP, action::WRITE)
            .await?;
        state
            .store
            .save_order_provider(tenant, None, state.clock.now())
            .await?;
        state
            .audit(&auth.0, "order_provider_removed", "order_provider", "")
            .await;
        Ok(Deleted::Deleted)
    }

    /// The buyer's orders
    ///
    /// One page of the conversation's buyer's orders, newest first, from the tenant's order
    /// provider (kept 60 s; `fresh=true` asks again, for the console's retry and refresh).
    ///
    /// Errors: 403 `forbidden`; 404 `not_found`, `order_provider_missing` (the tenant has
    /// none); 502 `order_provider_failed` (timed out, unreachable, an error status or a
    /// malformed answer; the message says which; retrying may help).
    #[oai(
        path = "/conversations/:id/orders",
        method = "get",
        operation_id = "listBuyerOrders"
    )]
    async fn orders(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        cursor: Query<Option<String>>,
        fresh: Query<Option<bool>>,
    ) -> Result<Json<OrderPageDto>, ApiError> {
        let (tenant, c) = ConversationsApi::load(&state, &auth, id.0, action::READ).await?;
        let Some((url, secret)) = state.store.order_provider(tenant).await? else {
            return Err(ApiError::new(
                ErrorCode::OrderProviderMissing,
                "this shop has not connected an order service; an administrator sets it under the order provider settings",
            ));
        };
        let provider = Provider { url, secret };
        match state
            .orders
            .orders(
                tenant,
                &provider,
                &c.buyer,
                cursor.0.as_deref(),
                fresh.0.unwrap_or(false),
            )
            .await
        {
            Ok(page) => Ok(Json(page_dto(&page))),
            Err(
                e @ (OrderError::Timeout
                | OrderError::Unreachable(_)
                | OrderError::Status(_)
                | OrderError::Malformed(_)),
            ) => Err(ApiError::new(ErrorCode::OrderProviderFailed, e.to_string())),
        }
    }

    /// Send an order to the buyer as a card
    ///
    /// The serving agent sends the order (as listed by `GET /conversations/{id}/orders`) as a
    /// `src` 22 card: the order number, items, amount and status, the first item's picture
    /// and the detail link.
    ///
    /// Errors: 400 `validation_failed`, `blocked_word`; 403 `forbidden`; 404 `not_found`;
    /// 409 `state_conflict` (not the caller's conversation).
    #[oai(
        path = "/conversations/:id/order-card",
        method = "post",
        operation_id = "sendOrderCard"
    )]
    async fn send_card(
        &self,
        state: Data<&State>,
        auth: Auth,
        id: Path<i64>,
        body: Json<OrderCardRequest>,
    ) -> Result<Json<MessageDto>, ApiError> {
        let tenant = state
            .require_tenant(&auth.0, object::CONVERSATIONS, action::WRITE)
            .await?;
        let order = from_dto(body.0.order);
        if order.order_no.trim().is_empty()
            || !(order.detail_url.starts_with("https://")
                || order.detail_url.starts_with("http://"))
        {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "order: give the order_no and its http(s) detail_url, as the order list returned them",
            ));
        }
        ConversationsApi::send_as_agent(&state, &auth, tenant, id.0, kefu_orders::card(&order))
            .await
    }
}
