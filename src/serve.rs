//! Starting the server: connect the services the configuration names, bootstrap the first
//! operator, serve until SIGINT/SIGTERM.

use crate::config::Config;
use kefu_auth::{Authorizer, Logins, Settings};
use kefu_domain::{Clock, Role, SystemClock};
use kefu_store::{NewAccount, Store};
use kefu_tenant_api::State;
use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, IntoResponse, Route, Server};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

pub fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEFU_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Connects everything and serves until a shutdown signal. Each start-up failure is one
/// line naming the setting.
pub async fn run(config: Config, demo: bool) -> Result<(), String> {
    tracing::info!(
        "starting kefu {}: {}",
        env!("CARGO_PKG_VERSION"),
        config.summary()
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = kefu_store::connect(&config.database_url(), config.database_max_connections)
        .await
        .map_err(|e| e.to_string())?;
    let bus = kefu_bus::connect(config.redis_url.as_ref().map(|u| u.expose_secret()))
        .await
        .map_err(|e| e.to_string())?;
    let mailer = kefu_mail::connect(
        config.smtp_url.as_ref().map(|u| u.expose_secret()),
        config.outbox_dir(),
        &config.mail_from,
    )
    .await
    .map_err(|e| e.to_string())?;
    let objects = config.media_store()?;
    objects.ping().await.map_err(|e| {
        let setting = if config.s3_bucket.is_some() {
            "KEFU_S3_BUCKET"
        } else {
            "KEFU_DATA_DIR"
        };
        format!("{setting}: {} is not usable: {e}", objects.describe())
    })?;
    // A console refreshes its presence every 30 s; a shorter grace would suspend agents whose
    // consoles are fine.
    if !(40..=3600).contains(&config.console_grace) {
        return Err("KEFU_CONSOLE_GRACE: use 40 to 3600 seconds".into());
    }
    if config.media_link_ttl < 60 {
        return Err("KEFU_MEDIA_LINK_TTL: must be at least 60 seconds".into());
    }
    let media = Arc::new(kefu_gateway::media::Media::new(
        objects,
        &config.public_url,
        config.media_link_ttl,
    ));

    let authz = Authorizer::start(store.clone(), clock.clone())
        .await
        .map_err(|e| format!("loading the authorization policy failed: {e}"))?;
    let _follower = authz
        .follow(bus.as_ref())
        .await
        .map_err(|e| e.to_string())?;

    bootstrap_operator(&store, &config, clock.now()).await?;
    if demo {
        crate::demo::seed(&store, &config, clock.now()).await?;
        authz.reload().await;
    }

    if config.metrics_listen != "off" {
        let addr: std::net::SocketAddr = config.metrics_listen.parse().map_err(|_| {
            format!(
                "KEFU_METRICS_LISTEN: `{}` is not an address like 127.0.0.1:9464",
                config.metrics_listen
            )
        })?;
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("KEFU_METRICS_LISTEN: cannot serve metrics on {addr}: {e}"))?;
    }

    let logins = Arc::new(Logins::new(
        store.clone(),
        bus.clone(),
        clock.clone(),
        Settings::default(),
    ));
    let hub = kefu_gateway::hub::Hub::new();
    let _hub_follower = hub.follow(bus.as_ref()).await.map_err(|e| e.to_string())?;
    let gateway_state = kefu_gateway::GatewayState {
        store: store.clone(),
        clock: clock.clone(),
        bus: bus.clone(),
        rate_limit: config.im_rate_limit,
        hub,
        http: kefu_gateway::callbacks::http_client(),
        media: media.clone(),
        typing_interval_ms: config.im_typing_interval_ms,
    };
    let _callbacks = kefu_gateway::callbacks::Worker {
        store: store.clone(),
        clock: clock.clone(),
        http: gateway_state.http.clone(),
        media,
    }
    .spawn();
    let _sweeper = kefu_engine::Engine::new(store.clone(), bus.clone(), clock.clone())
        .spawn_sweeper(config.console_grace * 1000);
    let gateway = kefu_gateway::routes(gateway_state.clone());
    let socket = kefu_gateway::socket_routes(gateway_state.clone());
    let media_files = kefu_gateway::media_routes(gateway_state);
    let state = State {
        store,
        bus,
        mailer,
        clock: clock.clone(),
        logins,
        authz,
        trust_forwarded_for: config.trust_forwarded_for,
        media_links: Arc::new(kefu_media::links::Links::new(
            &config.public_url,
            config.media_link_ttl,
        )),
        orders: Arc::new(kefu_orders::OrderClient::new(clock.clone())),
    };
    let mut app = Route::new()
        .nest(
            "/agent",
            crate::web::App::<crate::web::AgentConsole>::new("npm ci && npm run build"),
        )
        .nest(
            "/admin",
            crate::web::App::<crate::web::AdminConsole>::new("npm ci && npm run build"),
        )
        .nest(
            "/chat",
            crate::web::App::<crate::web::BuyerChat>::new("npm ci && npm run build"),
        )
        .nest("/v4", gateway)
        .nest("/im", socket)
        .nest("/media", media_files);
    if demo {
        // The demo tenant's sample order provider, checking signatures with its secret.
        let store = state.store.clone();
        let lookup: kefu_orders::sample::SecretLookup = Arc::new(move || {
            let store = store.clone();
            Box::pin(async move {
                let tenant = store
                    .find_tenant_by_code(crate::demo::TENANT)
                    .await
                    .ok()??;
                let (_, secret) = store.order_provider(tenant.id).await.ok()??;
                Some(secret)
            })
        });
        // The demo shop page, and the signed links it opens the chat with.
        let shop =
            kefu_orders::sample::routes(lookup, clock.clone(), &crate::demo::self_url(&config))
                .at(
                    "/",
                    crate::web::Page::<crate::web::BuyerChat>::new("shop.html"),
                )
                .at(
                    "/link",
                    poem::get(crate::demo::link)
                        .data(state.store.clone())
                        .data(clock.clone()),
                );
        app = app.nest("/demo", shop);
    }
    let app = app
        .nest("/", kefu_tenant_api::routes(state))
        // The API's nest at "/" claims the root itself, so the root is answered before
        // routing: people arrive at the agent console; integrators know `/docs`.
        .around(|ep, req| async move {
            if req.uri().path() == "/" {
                return Ok(poem::web::Redirect::see_other("/agent/").into_response());
            }
            ep.call(req).await.map(IntoResponse::into_response)
        })
        .with(poem::middleware::Tracing);

    let listener = std::net::TcpListener::bind(&config.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpAcceptor::from_std)
        .map_err(|e| format!("KEFU_LISTEN: cannot listen on {}: {e}", config.listen))?;
    tracing::info!(
        "kefu is serving on http://{}/ (API docs at /docs)",
        config.listen
    );
    Server::new_with_acceptor(NoDelay(listener))
        .run_with_graceful_shutdown(app, shutdown_signal(), Some(Duration::from_secs(10)))
        .await
        .map_err(|e| format!("KEFU_LISTEN: {e}"))
}

/// Accepts connections with Nagle's algorithm off. A socket writes small frames back to back
/// (a pushed message, then an acknowledgement); with Nagle on, the second waits for the
/// client's delayed ACK, up to 40 ms, which the gateway benchmark showed as a 34 ms ack p50.
struct NoDelay(TcpAcceptor);

impl Acceptor for NoDelay {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        Ok((io, local, remote, scheme))
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// Creates the `operator` account on an empty database. Its password comes from
/// `KEFU_OPERATOR_PASSWORD`, or is generated and printed this once.
async fn bootstrap_operator(
    store: &Arc<dyn Store>,
    config: &Config,
    now: i64,
) -> Result<(), String> {
    if store.count_operators().await.map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let (password, generated) = match &config.operator_password {
        Some(p) => (p.expose_secret().to_string(), false),
        None => (kefu_domain::password::generate(), true),
    };
    let account = NewAccount {
        username: "operator".into(),
        display_name: "Platform operator".into(),
        real_name: String::new(),
        phone: String::new(),
        email: String::new(),
        role: Role::Operator,
        password_hash: kefu_auth::password::hash(&password),
        must_change_password: generated,
        skill_group_ids: vec![],
    };
    store
        .create_operator(account, now)
        .await
        .map_err(|e| format!("creating the operator failed: {e}"))?;
    if generated {
        tracing::warn!(
            "created the platform operator: username `operator`, password `{password}` (shown once; change it at first login)"
        );
    } else {
        tracing::info!(
            "created the platform operator `operator` with the password from KEFU_OPERATOR_PASSWORD"
        );
    }
    Ok(())
}
