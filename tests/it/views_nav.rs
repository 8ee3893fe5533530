//! Saved views around the list, on both backends: the "share views" right on roles, the
//! navigation's tables and views (only what the operator may read or open, the current one
//! marked, a filter box past 15 tables), and list links that keep `?view=ID`.

use reqwest::StatusCode;

use crate::common::{Backend, Session, TestApp, location, new_client};

both_backends!(
    sharing_views_takes_the_share_views_right,
    the_navigation_lists_readable_tables_and_their_visible_views,
    list_links_keep_the_open_view,
);

const PASSWORD: &str = "wobbly giraffe paints violet harbours";

fn schema(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "SERIAL PRIMARY KEY",
    };
    let mut sql = format!(
        "CREATE TABLE people (id {id}, name TEXT NOT NULL, age INTEGER);
         CREATE TABLE secrets (id {id}, code TEXT);"
    );
    for i in 1..=60 {
        sql.push_str(&format!(
            "INSERT INTO people (name, age) VALUES ('Person {i}', {i});"
        ));
    }
    sql
}

async fn operator(app: &TestApp, email: &str, role: &str) -> reqwest::Client {
    {
        let mut conn = app.db_conn();
        let hash = gatehouse::identity::password::hash(PASSWORD).unwrap();
        let new = gatehouse::identity::users::NewUser {
            email,
            display_name: email,
            password_hash: &hash,
            role,
        };
        gatehouse::identity::users::insert(&mut conn, new, gatehouse::db::now()).unwrap();
    }
    let client = new_client();
    Session::of(app, &client).sign_in(email, PASSWORD).await;
    client
}

async fn role(app: &TestApp, name: &str, extra: &[(&str, &str)]) {
    let mut fields = vec![("name", name), ("t.people.r", "on")];
    fields.extend_from_slice(extra);
    let res = app.post_form("/roles/new", "/roles", &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn save(s: &Session<'_>, name: &str, query: &str, roles: &[&str]) -> Result<i64, StatusCode> {
    let mut fields = vec![("name", name), ("query", query)];
    fields.extend(roles.iter().map(|r| ("role", *r)));
    let res = s
        .post_form("/data/people", "/data/people/views", &fields)
        .await;
    if res.status() != StatusCode::SEE_OTHER {
        return Err(res.status());
    }
    Ok(location(&res)
        .strip_prefix("/data/people?view=")
        .unwrap()
        .parse()
        .unwrap())
}

/// The navigation's list of tables (and their views) in a page.
fn nav(page: &str) -> &str {
    let start = page
        .find("id=\"nav-tables\"")
        .expect("the navigation lists tables");
    &page[start..start + page[start..].find("</nav>").unwrap()]
}

async fn sharing_views_takes_the_share_views_right(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    role(&app, "lead", &[("share_views", "on")]).await;
    // Managing operators is not sharing views: the right is its own.
    role(&app, "manager", &[("admin_areas", "on")]).await;
    let edit = app.session().page("/roles/lead").await;
    assert!(
        edit.contains("name=\"share_views\" checked"),
        "the form shows the right"
    );
    assert!(
        app.session()
            .page("/roles/manager")
            .await
            .contains("name=\"share_views\">")
    );
    assert!(
        app.session()
            .page("/roles/admin")
            .await
            .contains("May share saved views"),
        "administrators always may"
    );
    // Saving the role form again without the box takes the right away.
    let res = app
        .post_form("/roles/lead", "/roles/lead", &[("t.people.r", "on")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM gh_roles WHERE name = 'lead' AND share_views = FALSE"),
        Some("1".into())
    );
    let res = app
        .post_form(
            "/roles/lead",
            "/roles/lead",
            &[("t.people.r", "on"), ("share_views", "on")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let lead_client = operator(&app, "lead@example.com", "lead").await;
    let lead = Session::of(&app, &lead_client);
    let list = lead.page("/data/people").await;
    assert!(
        list.contains("name=\"role\""),
        "the save panel offers sharing"
    );
    let id = save(&lead, "Teens", "age__lte=19", &["viewer"])
        .await
        .unwrap();
    assert_eq!(
        app.scalar(&format!(
            "SELECT role_name FROM gh_view_roles WHERE view_id = {id}"
        )),
        Some("viewer".into())
    );
    let manager_client = operator(&app, "manager@example.com", "manager").await;
    let manager = Session::of(&app, &manager_client);
    assert!(!manager.page("/data/people").await.contains("name=\"role\""));
    let before = app.scalar("SELECT COUNT(*) FROM gh_views");
    assert_eq!(
        save(&manager, "Ours", "", &["viewer"]).await,
        Err(StatusCode::FORBIDDEN)
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM gh_views"), before);
    // A personal view needs no right.
    assert!(save(&manager, "Mine", "", &[]).await.is_ok());
}

async fn the_navigation_lists_readable_tables_and_their_visible_views(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    role(&app, "clerk", &[]).await;
    let admin = app.session();
    let shared = save(&admin, "Shared with clerks", "age__gte=50", &["clerk"])
        .await
        .unwrap();
    // Listed at once on this instance (the directory is read again after a change).
    let page = admin.page("/data/people").await;
    let admin_nav = nav(&page);
    assert!(admin_nav.contains("href=\"/data/secrets\""));
    assert!(admin_nav.contains(&format!("href=\"/data/people?view={shared}\"")));
    assert!(
        admin_nav.contains("<a href=\"/data/people\" class=\"current\" aria-current=\"page\">"),
        "{admin_nav}"
    );
    assert!(
        !page.contains("id=\"nav-filter\""),
        "no filter box for two tables"
    );

    let clerk_client = operator(&app, "clerk@example.com", "clerk").await;
    let clerk = Session::of(&app, &clerk_client);
    let personal = save(&clerk, "Clerk's own", "age__lte=5", &[])
        .await
        .unwrap();
    let page = clerk.page(&format!("/data/people?view={shared}")).await;
    let clerk_nav = nav(&page);
    assert!(
        !clerk_nav.contains("secrets"),
        "a table the role cannot read is not listed"
    );
    assert!(clerk_nav.contains(&format!(
        "<a href=\"/data/people?view={shared}\" class=\"current\" aria-current=\"page\">Shared with clerks</a>"
    )));
    assert!(clerk_nav.contains(&format!("href=\"/data/people?view={personal}\"")));
    assert!(
        clerk_nav.contains("<a href=\"/data/people\" class=\"current\" aria-current=\"true\">"),
        "the table stays marked under its open view"
    );
    // A record page marks its table too; another's personal view is never listed.
    let page = admin.page("/data/people/1").await;
    assert!(
        nav(&page).contains("<a href=\"/data/people\" class=\"current\" aria-current=\"true\">")
    );
    assert!(!nav(&page).contains(&format!("?view={personal}")));
    let viewer_client = operator(&app, "viewer@example.com", "viewer").await;
    let viewer = Session::of(&app, &viewer_client);
    let page = viewer.page("/").await;
    assert!(nav(&page).contains("href=\"/data/secrets\""));
    assert!(!nav(&page).contains("?view="), "no view is the viewer's");

    // Past 15 tables the navigation offers a filter box.
    for i in 0..15 {
        app.sql(&format!(
            "CREATE TABLE extra_{i:02} (id INTEGER PRIMARY KEY)"
        ));
    }
    let res = admin.post_form("/data", "/data/refresh", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = admin.page("/data").await;
    assert!(page.contains("id=\"nav-filter\""));
    assert!(
        page.contains("<label class=\"visually-hidden\" for=\"nav-filter\">Filter tables</label>")
    );
    assert!(nav(&page).contains("href=\"/data/extra_14\""));
}

async fn list_links_keep_the_open_view(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    app.sql(&schema(backend));
    let admin = app.session();
    let id = save(&admin, "Over ten", "age__gte=11&sort=-age&per_page=25", &[])
        .await
        .unwrap();
    let page = admin.page(&format!("/data/people?view={id}")).await;
    let marked = "aria-current=\"page\" title=\"personal\">Over ten</a>";
    assert!(page.contains(marked));
    // Sort headers, paging, rows per page and the forms all carry the view.
    let prefix = format!("href=\"/data/people?view={id}&#38;");
    assert!(
        page.contains(&format!("{prefix}sort=age")),
        "sort header keeps the view"
    );
    let next = page
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .unwrap()
        .trim_end_matches("\" ")
        .replace("&#38;", "&");
    assert!(
        next.starts_with(&format!("/data/people?view={id}&")),
        "{next}"
    );
    assert!(
        page.contains(&format!("{prefix}per_page=50")),
        "rows per page keeps the view"
    );
    assert!(page.contains(&format!(
        "<input type=\"hidden\" name=\"view\" value=\"{id}\">"
    )));

    // Following Next: the view is still the open tab, its filter and sort still apply.
    let page2 = admin.page(&next).await;
    assert!(
        page2.contains(marked),
        "the view's tab stays marked on page 2"
    );
    assert!(page2.contains("Person 35<") && !page2.contains("Person 10<"));
    // The address overrides the view: ascending, still filtered.
    let up = admin
        .page(&format!("/data/people?view={id}&sort=age"))
        .await;
    assert!(up.contains(marked));
    assert!(up.find("Person 11<").unwrap() < up.find("Person 12<").unwrap());
    assert!(!up.contains("Person 10<"));
    // The column form's choice replaces the view's columns; the search box keeps the view.
    let cols = admin
        .page(&format!("/data/people?view={id}&col=id&col=name"))
        .await;
    assert!(cols.contains(marked) && !cols.contains(">age</a>"));
    let all = admin
        .page(&format!("/data/people?view={id}&per_page=50&q="))
        .await;
    assert!(all.contains("Person 11<") && all.contains("Person 60<"));
    // Removing one of the view's own filters leaves the view (it is no longer that view).
    let chip = page
        .split("aria-label=\"Remove filter age")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .unwrap()
        .trim_end_matches("\" ")
        .replace("&#38;", "&");
    assert!(!chip.contains("view="), "{chip}");
}

/// Several instances on one Postgres: a view saved, renamed or deleted on one reaches the
/// navigation of the others by notification (`gh_views`), not after a timeout.
#[actix_web::test]
async fn a_view_change_reaches_the_other_instances_navigation_by_notification() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use gatehouse::db::notify::Notifier;
    use gatehouse::engine::saved::{VIEWS_CHANNEL, ViewDirectory};

    let db = crate::common::TestDb::create(Backend::Postgres);
    let url = gatehouse::db::DatabaseUrl::parse(db.url()).unwrap();
    gatehouse::db::migrate::run(&url).unwrap();
    let (here, there) = (Notifier::new(), Notifier::new());
    let (mine, theirs) = (
        Arc::new(ViewDirectory::default()),
        Arc::new(ViewDirectory::default()),
    );
    mine.peers.join(&here, VIEWS_CHANNEL);
    let t = theirs.clone();
    there.subscribe(VIEWS_CHANNEL, move |_| t.forget_here());
    here.listen(&url);
    there.listen(&url);
    // The other instance's navigation has read the views and holds them as fresh.
    let mut conn = url.connect().unwrap();
    let generation = theirs.claim().expect("a first read");
    theirs.refresh(&mut conn, generation).unwrap();
    assert!(theirs.claim().is_none(), "fresh after reading");
    // Let both listeners connect and LISTEN before anything is sent.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;

    mine.forget();
    let started = Instant::now();
    loop {
        if theirs.claim().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the other instance was not told"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}
