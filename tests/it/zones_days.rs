//! What an operator types and counts is in their time zone too, on both backends: list
//! filters on time columns (a time alone, a date alone as that whole day, the filter
//! builder, a saved view read in its viewer's zone; `Z` or an offset keeps it), a bulk
//! "set", the chart tab's days and weeks and the dashboard's "today" and "this week". The
//! REST API keeps UTC and explicit offsets.

use reqwest::StatusCode;

use crate::common::{Backend, TestApp, location};
use crate::dashboard::{data_row, figure};
use crate::zones::{in_zone, stored};

both_backends!(
    list_filters_read_typed_times_in_the_operators_zone,
    a_bulk_set_reads_the_time_in_the_operators_zone,
    chart_days_and_weeks_are_the_operators_days,
    the_dashboards_today_and_week_are_the_operators,
    the_audit_logs_since_and_until_are_the_operators,
);

/// The meeting titles the list shows for `query` (checked against every title).
async fn titles(app: &TestApp, query: &str) -> Vec<&'static str> {
    let res = app.get(&format!("/data/meetings?{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let body = res.text().await.unwrap();
    ["kickoff", "fall back", "late", "night"]
        .into_iter()
        .filter(|t| body.contains(&format!(">{t}<")))
        .collect()
}

async fn set_zone(app: &TestApp, zone: &str) {
    let res = app
        .post_form(
            "/account",
            "/account/settings",
            &[("time_zone", zone), ("theme", "system")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn list_filters_read_typed_times_in_the_operators_zone(backend: Backend) {
    // kickoff: 12:00 UTC on 2026-01-15, 17:30 in Kolkata. fall back: 2026-11-01.
    let app = in_zone(backend, "Asia/Kolkata").await;
    for column in ["stamp", "plain"] {
        let t = |q: &str| format!("{column}__{q}");
        assert_eq!(
            titles(&app, &t("gte=2026-01-15T17:30")).await,
            ["kickoff", "fall back"]
        );
        assert_eq!(
            titles(&app, &t("gte=2026-01-15+17%3A31")).await,
            ["fall back"]
        );
        assert_eq!(
            titles(&app, &t("lt=2026-01-15T17:30")).await,
            Vec::<&str>::new()
        );
        assert_eq!(
            titles(&app, &t("eq=2026-01-15T17:30:00")).await,
            ["kickoff"]
        );
        // A date alone is the whole day in Kolkata (from 18:30 UTC the day before).
        assert_eq!(titles(&app, &t("eq=2026-01-15")).await, ["kickoff"]);
        assert_eq!(titles(&app, &t("gt=2026-01-15")).await, ["fall back"]);
        assert_eq!(titles(&app, &t("lte=2026-01-15")).await, ["kickoff"]);
        assert_eq!(titles(&app, &t("ne=2026-01-15")).await, ["fall back"]);
        // An explicit zone keeps it.
        assert_eq!(
            titles(&app, &t("lt=2026-01-15T12:00:01Z")).await,
            ["kickoff"]
        );
        assert_eq!(
            titles(&app, &t("lt=2026-01-15T17:00:00%2B05:30")).await,
            Vec::<&str>::new()
        );
        // The filter builder's fields, as the page sends them: the list's address keeps
        // what was typed.
        let res = app
            .get(&format!(
                "/data/meetings?add_column={column}&add_op=lte&add_value=2026-01-15T17%3A30"
            ))
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let to = location(&res);
        assert_eq!(
            to,
            format!("/data/meetings?{column}__lte=2026-01-15T17%3A30")
        );
        assert_eq!(
            titles(&app, &to["/data/meetings?".len()..]).await,
            ["kickoff"]
        );
    }
    let res = app.get("/data/meetings?stamp__gte=2026-01-15T25:00").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A saved view keeps what was typed and is read in its viewer's zone.
    let owner = app.scalar("SELECT id FROM gh_users").unwrap();
    app.sql(&format!(
        "INSERT INTO gh_views (id, table_name, name, owner_id, query, created_at, updated_at)
           VALUES (7, 'meetings', 'early', '{owner}', 'stamp__lt=2026-01-15T17:29',
                   CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ));
    assert_eq!(titles(&app, "view=7").await, Vec::<&str>::new());
    set_zone(&app, "America/New_York").await;
    // 17:29 in New York is 22:29 UTC: kickoff is before it.
    assert_eq!(titles(&app, "view=7").await, ["kickoff"]);
}

async fn a_bulk_set_reads_the_time_in_the_operators_zone(backend: Backend) {
    let app = in_zone(backend, "Asia/Kolkata").await;
    let form = [
        ("action", "set"),
        ("key", "1"),
        ("column", "stamp"),
        ("value", "2026-02-01T09:00"),
        ("confirm", "1"),
    ];
    let res = app
        .post_form("/data/meetings", "/data/meetings/bulk", &form)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, "stamp", 1), "2026-02-01 03:30:00");
    // Every row matching a filter typed in the zone; an offset keeps it.
    let form = [
        ("action", "set"),
        ("all", "1"),
        ("query", "stamp__lt=2026-02-01T09:01"),
        ("column", "plain"),
        ("value", "2026-03-01 10:00:00Z"),
        ("confirm", "1"),
    ];
    let res = app
        .post_form("/data/meetings", "/data/meetings/bulk", &form)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(stored(&app, "plain", 1).starts_with("2026-03-01 10:00:00"));
    assert!(stored(&app, "plain", 2).starts_with("2026-11-01 06:30:00"));
    // A time that is no time is refused, and nothing changes.
    let form = [
        ("action", "set"),
        ("key", "1"),
        ("column", "stamp"),
        ("value", "2026-02-30T09:00"),
        ("confirm", "1"),
    ];
    let res = app
        .post_form("/data/meetings", "/data/meetings/bulk", &form)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stored(&app, "stamp", 1), "2026-02-01 03:30:00");
}

async fn chart_days_and_weeks_are_the_operators_days(backend: Backend) {
    let app = in_zone(backend, "Asia/Kolkata").await;
    let stamp = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => "+00",
    };
    // late: 20:00 UTC is 01:30 the next day in Kolkata, 15:00 the same day in New York.
    // night: 04:30 UTC on Monday 2026-11-02 is 23:30 on Sunday 2026-11-01 in New York.
    app.sql(&format!(
        "INSERT INTO meetings (title, stamp, plain) VALUES
           ('late', '2026-01-15 20:00:00{stamp}', '2026-01-15 20:00:00'),
           ('night', '2026-11-02 04:30:00{stamp}', '2026-11-02 04:30:00')"
    ));
    let chart = |q: String| {
        let app = &app;
        async move {
            let res = app.get(&format!("/data/meetings/chart?{q}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.text().await.unwrap()
        }
    };
    for column in ["stamp", "plain"] {
        let page = chart(format!("by={column}&every=day")).await;
        assert_eq!(data_row(&page, "2026-01-15"), ["1"], "{column}");
        assert_eq!(data_row(&page, "2026-01-16"), ["1"], "{column}");
        assert_eq!(data_row(&page, "2026-11-02"), ["1"], "{column}");
        // A filter's date is the Kolkata day too.
        let page = chart(format!("by={column}&every=day&{column}__eq=2026-01-16")).await;
        assert_eq!(data_row(&page, "2026-01-16"), ["1"], "{column}");
        assert!(
            !page.contains("<th scope=\"row\">2026-01-15</th>"),
            "{page}"
        );
    }
    set_zone(&app, "America/New_York").await;
    for column in ["stamp", "plain"] {
        let page = chart(format!("by={column}&every=day")).await;
        assert_eq!(data_row(&page, "2026-01-15"), ["2"], "{column}");
        // The day clocks fall back has 25 hours: both times are on it.
        assert_eq!(data_row(&page, "2026-11-01"), ["2"], "{column}");
        let page = chart(format!("by={column}&every=week")).await;
        assert_eq!(data_row(&page, "2026-10-26"), ["2"], "{column}");
        assert!(
            !page.contains("<th scope=\"row\">2026-11-02</th>"),
            "{page}"
        );
        let page = chart(format!("by={column}&every=month")).await;
        assert_eq!(data_row(&page, "2026-11"), ["2"], "{column}");
    }
}

/// An audit entry for `meetings` at `at` (UTC).
fn change_at(app: &TestApp, id: &str, at: jiff::Timestamp) {
    app.sql(&format!(
        "INSERT INTO gh_audit (id, created_at, user_email, action, table_name, row_key, changes)
           VALUES ('{id}', '{}', 'test', 'record.updated', 'meetings', '1', '{{}}')",
        at.strftime("%Y-%m-%d %H:%M:%S")
    ));
}

async fn the_dashboards_today_and_week_are_the_operators(backend: Backend) {
    for (n, name) in ["Asia/Kolkata", "America/New_York"].into_iter().enumerate() {
        let app = in_zone(backend, name).await;
        let zone = jiff::tz::db().get(name).unwrap();
        let now = jiff::Timestamp::now().to_zoned(zone.clone());
        let midnight = now.start_of_day().unwrap().timestamp();
        // The first second of the operator's day, and the last one before it.
        change_at(&app, &format!("today{n}"), midnight);
        let before = midnight
            .checked_sub(jiff::SignedDuration::from_secs(1))
            .unwrap();
        change_at(&app, &format!("yesterday{n}"), before);
        let page = app.get("/").await.text().await.unwrap();
        assert_eq!(figure(&page, "card-today"), "1", "{name}: {page}");
        let week = if now.date().weekday() == jiff::civil::Weekday::Monday {
            1
        } else {
            2
        };
        assert!(
            page.contains(&format!(">{week} this week<")),
            "{name}: {page}"
        );
    }
}

async fn the_audit_logs_since_and_until_are_the_operators(backend: Backend) {
    // 18:00 UTC on 2026-03-10 is 23:30 in Kolkata; 18:45 UTC is 00:15 on the 11th there.
    let app = in_zone(backend, "Asia/Kolkata").await;
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    change_at(&app, "evening", at("2026-03-10T18:00:00Z"));
    change_at(&app, "after-midnight", at("2026-03-10T18:45:00Z"));
    let keys = |query: &'static str| {
        let app = &app;
        async move {
            let page = app.get(&format!("/audit?table=meetings&{query}")).await;
            assert_eq!(page.status(), StatusCode::OK, "{query}");
            let csv = app
                .get(&format!("/audit/export.csv?table=meetings&{query}"))
                .await
                .text()
                .await
                .unwrap();
            (page.text().await.unwrap(), csv)
        }
    };
    // A date alone is the operator's midnight: only the entry after it is since the 11th.
    let (page, csv) = keys("since=2026-03-11").await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("2026-03-10 18:45"), "{csv}");
    assert!(page.contains("2026-03-11 00:15"), "{page}");
    let (_, csv) = keys("until=2026-03-11T00:00").await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains("2026-03-10 18:00"), "{csv}");
    let res = app.get("/audit?since=yesterday").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
