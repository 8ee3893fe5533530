//! A browser tab on the test app: one cookie jar (a `reqwest::Client`, whose clones share
//! it), and the steps every form test repeats: GET the page that shows the form, read the
//! CSRF token from its `<meta name="csrf-token">`, POST the form with it.

use reqwest::Response;

use super::{TestApp, csrf_in};

pub struct Session<'a> {
    pub app: &'a TestApp,
    /// The cookie jar of this tab (a clone of a client shares its cookies).
    pub client: reqwest::Client,
}

impl<'a> Session<'a> {
    /// A new browser: no cookies yet.
    pub fn new(app: &'a TestApp) -> Session<'a> {
        Session::of(app, &super::new_client())
    }

    /// The tab of an existing client: what it signs in to, `client` is signed in to.
    pub fn of(app: &'a TestApp, client: &reqwest::Client) -> Session<'a> {
        Session {
            app,
            client: client.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.app.url(path))
            .send()
            .await
            .expect("GET")
    }

    /// The body of the page at `path`.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    /// The CSRF token of the page at `path`, if it shows one (a redirect shows none).
    pub async fn try_csrf(&self, path: &str) -> Option<String> {
        csrf_in(&self.page(path).await)
    }

    /// The CSRF token of the page at `path`.
    pub async fn csrf(&self, path: &str) -> String {
        self.try_csrf(path)
            .await
            .unwrap_or_else(|| panic!("no csrf token on {path}"))
    }

    /// POST `fields` to `action` with a token already read.
    pub async fn post_with_token(
        &self,
        action: &str,
        token: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", token)];
        form.extend_from_slice(fields);
        self.client
            .post(self.app.url(action))
            .form(&form)
            .send()
            .await
            .expect("POST")
    }

    /// Post a form as a browser would: with the token of the page that shows it.
    pub async fn post_form(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let token = self.csrf(page).await;
        self.post_with_token(action, &token, fields).await
    }

    /// The sign-in form (the password step, when two-factor sign-in follows).
    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.post_form(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }

    /// Submit the record form at `path`: with its CSRF token and the row version it was
    /// shown with.
    pub async fn edit(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = self.page(path).await;
        let token = csrf_in(&body).expect("csrf token");
        let marker = "name=\"_version\" value=\"";
        let start = body.find(marker).expect("a version field") + marker.len();
        let version = body[start..start + body[start..].find('"').unwrap()].to_string();
        let mut form: Vec<(&str, &str)> = vec![("_version", version.as_str())];
        form.extend_from_slice(fields);
        self.post_with_token(path, &token, &form).await
    }
}
