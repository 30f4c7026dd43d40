//! The browser apps: the agent console at `/agent/` (`agent-console/dist`), the admin console
//! at `/admin/` (`admin-console/dist`) and the buyer chat at `/chat/` (`gateway/widget/dist`:
//! the hosted page, `widget.js`, the demo shop).
//!
//! Release builds carry the files inside the binary; debug builds read them from the folder
//! at each request, so `npm run build` shows up without recompiling. A path the app does not
//! have a file for answers `index.html`, for the app's own router (history mode).

use poem::http::{StatusCode, header};
use poem::{Endpoint, Request, Response, Result};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "$CARGO_MANIFEST_DIR/agent-console/dist/"]
#[allow_missing = true]
pub struct AgentConsole;

#[derive(Embed)]
#[folder = "$CARGO_MANIFEST_DIR/admin-console/dist/"]
#[allow_missing = true]
pub struct AdminConsole;

#[derive(Embed)]
#[folder = "$CARGO_MANIFEST_DIR/gateway/widget/dist/"]
#[allow_missing = true]
pub struct BuyerChat;

/// Serves one file of an app, whatever the path (the demo shop's page at `/demo/`).
pub struct Page<E> {
    name: &'static str,
    _files: std::marker::PhantomData<fn() -> E>,
}

impl<E: Embed + Send + Sync> Page<E> {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            _files: std::marker::PhantomData,
        }
    }
}

impl<E: Embed + Send + Sync> Endpoint for Page<E> {
    type Output = Response;

    async fn call(&self, _req: Request) -> Result<Self::Output> {
        Ok(match E::get(self.name) {
            Some(file) => Response::builder()
                .header(header::CONTENT_TYPE, file.metadata.mimetype())
                .header(header::CACHE_CONTROL, "no-cache")
                .body(file.data.into_owned()),
            None => missing("npm ci && npm run build"),
        })
    }
}

fn missing(build_hint: &str) -> Response {
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "This page is not built into this server. Build it with `{build_hint}` (cargo xtask run does it for you), then reload."
        ))
}

/// Serves an app built into `E` under the path it is nested at.
pub struct App<E> {
    /// How to build it, said when the build is missing.
    build_hint: &'static str,
    _files: std::marker::PhantomData<fn() -> E>,
}

impl<E: Embed + Send + Sync> App<E> {
    pub fn new(build_hint: &'static str) -> Self {
        Self {
            build_hint,
            _files: std::marker::PhantomData,
        }
    }
}

impl<E: Embed + Send + Sync> Endpoint for App<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let path = req.uri().path().trim_start_matches('/');
        let (file, name) = match E::get(path) {
            Some(f) if !path.is_empty() => (f, path),
            _ => match E::get("index.html") {
                Some(f) => (f, "index.html"),
                None => return Ok(missing(self.build_hint)),
            },
        };
        // Vite names built assets by content, so they never change; the page itself must
        // be fetched again to pick up a new build.
        let cache = if name.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        Ok(Response::builder()
            .header(header::CONTENT_TYPE, file.metadata.mimetype())
            .header(header::CACHE_CONTROL, cache)
            .header("X-Content-Type-Options", "nosniff")
            .body(file.data.into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::test::TestClient;

    #[derive(Embed)]
    #[folder = "$CARGO_MANIFEST_DIR/src/testdata/app/"]
    struct Sample;

    #[derive(Embed)]
    #[folder = "$CARGO_MANIFEST_DIR/src/testdata/missing/"]
    #[allow_missing = true]
    struct Missing;

    #[tokio::test]
    async fn files_are_served_and_unknown_paths_fall_back_to_the_page() {
        let app = poem::Route::new().nest("/agent", App::<Sample>::new("npm run build"));
        let cli = TestClient::new(app);
        let page = cli.get("/agent/").send().await;
        page.assert_status_is_ok();
        page.assert_header(header::CACHE_CONTROL, "no-cache");
        page.assert_text("<!doctype html><title>sample</title>\n")
            .await;
        let deep = cli.get("/agent/login").send().await;
        deep.assert_text("<!doctype html><title>sample</title>\n")
            .await;
        let asset = cli.get("/agent/assets/app-1a2b.js").send().await;
        asset.assert_status_is_ok();
        asset.assert_header(header::CONTENT_TYPE, "text/javascript");
        asset.assert_header(header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    }

    #[tokio::test]
    async fn a_page_is_one_file_at_any_path() {
        let app = poem::Route::new().nest("/demo", Page::<Sample>::new("index.html"));
        let resp = TestClient::new(app).get("/demo/").send().await;
        resp.assert_status_is_ok();
        resp.assert_text("<!doctype html><title>sample</title>\n")
            .await;
    }

    #[tokio::test]
    async fn a_missing_build_says_how_to_make_it() {
        let app = poem::Route::new().nest("/agent", App::<Missing>::new("npm run build"));
        let resp = TestClient::new(app).get("/agent/").send().await;
        resp.assert_status(StatusCode::SERVICE_UNAVAILABLE);
        let text = resp.0.into_body().into_string().await.unwrap();
        assert!(text.contains("npm run build"), "{text}");
    }
}
