//! The pure parts of the engine and the error type, tested directly rather than through
//! HTTP: the list query language (`ListQuery::parse` and the SQL it becomes), parsing what
//! an operator typed into a value, the translation of database refusals into messages, and
//! the status, title and message of each `AppError`. No server, no database.

use std::collections::BTreeMap;

use actix_web::ResponseError;
use actix_web::http::StatusCode;
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};
use gatehouse::catalog::{Column, ForeignKey, Index, Kind, RowKey, Table};
use gatehouse::db::Backend;
use gatehouse::engine::errors::{WriteError, classify};
use gatehouse::engine::query::{DEFAULT_PAGE_SIZE, ListQuery, Op};
use gatehouse::engine::sql::Sql;
use gatehouse::engine::value::{Value, display, format_timestamp, input_value, parse_input};
use gatehouse::error::AppError;

// ---------------------------------------------------------------------------------------
// A table to parse against, built by hand as the catalog would describe it.

fn column(name: &str, kind: Kind) -> Column {
    Column {
        name: name.to_string(),
        data_type: String::new(),
        cast_type: format!("{kind:?}").to_lowercase(),
        kind,
        nullable: true,
        default: None,
        primary_key: false,
        generated: false,
        enum_values: Vec::new(),
    }
}

/// `people (id, name, age, score, price, active, born, seen, status, team_id)`.
fn people() -> Table {
    let mut id = column("id", Kind::Int);
    id.primary_key = true;
    id.nullable = false;
    let mut name = column("name", Kind::Text);
    name.nullable = false;
    let mut status = column("status", Kind::Enum);
    status.enum_values = vec!["new".into(), "done".into()];
    Table {
        name: "people".into(),
        is_view: false,
        columns: vec![
            id,
            name,
            column("age", Kind::Int),
            column("score", Kind::Float),
            column("price", Kind::Decimal),
            column("active", Kind::Bool),
            column("born", Kind::Date),
            column("seen", Kind::DateTimeTz),
            status,
            column("team_id", Kind::Int),
        ],
        key: RowKey::Primary(vec!["id".into()]),
        foreign_keys: vec![ForeignKey {
            name: "people_team_id_fkey".into(),
            columns: vec!["team_id".into()],
            ref_table: "teams".into(),
            ref_columns: vec!["id".into()],
        }],
        referrers: Vec::new(),
        indexes: vec![
            Index {
                name: "people_name_key".into(),
                columns: vec!["name".into()],
                unique: true,
            },
            Index {
                name: "people_born_seen_key".into(),
                columns: vec!["born".into(), "seen".into()],
                unique: true,
            },
        ],
        estimated_rows: None,
        scopes: None,
    }
}

fn parse(query: &str) -> ListQuery {
    ListQuery::parse(query, &people()).unwrap_or_else(|e| panic!("{query:?} should parse: {e:?}"))
}

/// The message of the 400 that `query` is refused with.
fn refused(query: &str) -> String {
    match ListQuery::parse(query, &people()) {
        Err(AppError::Invalid(m)) => m,
        other => panic!("{query:?} should be refused as invalid, got {other:?}"),
    }
}

/// (column, op, raw) of each filter.
fn filters(lq: &ListQuery) -> Vec<(String, Op, String)> {
    lq.filters
        .iter()
        .map(|f| (f.column.clone(), f.op, f.raw.clone()))
        .collect()
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// ListQuery::parse

#[test]
fn an_empty_query_is_the_first_page_of_everything_in_key_order() {
    let lq = parse("");
    assert_eq!(lq.q, "");
    assert_eq!(lq.sort, None);
    assert_eq!(lq.page, 1);
    assert_eq!(lq.per_page, DEFAULT_PAGE_SIZE);
    assert!(lq.filters.is_empty());
    assert!(lq.hidden.is_empty() && lq.shown.is_empty());
    assert!(!lq.exact_count);
    assert!(!lq.is_filtered());
    assert_eq!(lq.offset(), 0);
}

#[test]
fn the_search_text_is_trimmed_and_narrows_the_view() {
    let lq = parse("q=+Ada+Lovelace+");
    assert_eq!(lq.q, "Ada Lovelace");
    assert!(lq.is_filtered());
}

#[test]
fn sort_takes_a_column_with_an_optional_minus_for_descending() {
    assert_eq!(parse("sort=name").sort, Some(("name".to_string(), false)));
    assert_eq!(parse("sort=-age").sort, Some(("age".to_string(), true)));
    assert_eq!(parse("sort=").sort, None);
}

#[test]
fn sorting_by_an_unknown_column_is_refused_by_name() {
    assert_eq!(
        refused("sort=-salary"),
        "Cannot sort by 'salary': people has no such column."
    );
    // `rowid` is a column only of tables addressed by it.
    assert_eq!(
        refused("sort=rowid"),
        "Cannot sort by 'rowid': people has no such column."
    );
    let mut keyless = people();
    keyless.key = RowKey::RowId;
    let lq = ListQuery::parse("sort=-rowid", &keyless).expect("rowid sorts a rowid table");
    assert_eq!(lq.sort, Some(("rowid".to_string(), true)));
}

#[test]
fn paging_takes_a_page_number_and_one_of_the_offered_page_sizes() {
    let lq = parse("page=3&per_page=100");
    assert_eq!((lq.page, lq.per_page), (3, 100));
    assert_eq!(lq.offset(), 200);
    for size in [25, 50, 100, 500] {
        assert_eq!(parse(&format!("per_page={size}")).per_page, size);
    }
    assert_eq!(parse("page=10000000").page, 10_000_000);
}

#[test]
fn bad_page_numbers_and_page_sizes_are_refused() {
    for bad in ["0", "-1", "two", "", "10000001", "1.5"] {
        assert_eq!(
            refused(&format!("page={bad}")),
            format!("'{bad}' is not a page number."),
            "page={bad}"
        );
    }
    for bad in ["30", "0", "1000", "many"] {
        assert_eq!(
            refused(&format!("per_page={bad}")),
            format!("Rows per page must be one of 25, 50, 100 or 500, not '{bad}'."),
            "per_page={bad}"
        );
    }
}

#[test]
fn cols_shows_the_chosen_columns_and_hides_the_rest() {
    let lq = parse("cols=name%2Cage");
    assert_eq!(lq.shown, owned(&["name", "age"]));
    assert_eq!(
        lq.hidden,
        owned(&[
            "id", "score", "price", "active", "born", "seen", "status", "team_id"
        ])
    );
    assert!(parse("cols=").shown.is_empty());
    assert!(parse("cols=").hidden.is_empty());
    assert_eq!(refused("cols=name%2Cwage"), "people has no column 'wage'.");
}

#[test]
fn repeated_col_parameters_choose_the_columns_as_the_picker_sends_them() {
    let lq = parse("col=status&col=id");
    assert_eq!(lq.shown, owned(&["status", "id"]));
    assert_eq!(
        lq.hidden,
        owned(&[
            "name", "age", "score", "price", "active", "born", "seen", "team_id"
        ])
    );
    assert_eq!(refused("col=id&col=nope"), "people has no column 'nope'.");
}

#[test]
fn count_exact_asks_for_an_exact_count() {
    assert!(parse("count=exact").exact_count);
    assert!(!parse("count=estimate").exact_count);
}

#[test]
fn every_filter_operator_is_parsed_by_its_name() {
    let value_for = |op: Op| match op {
        Op::In => "1,2,3",
        Op::IsNull => "true",
        _ => "30",
    };
    for (name, op) in Op::ALL {
        assert_eq!(Op::parse(name), Some(op));
        assert_eq!(op.name(), name);
        let lq = parse(&format!("age__{name}={}", value_for(op)));
        assert_eq!(
            filters(&lq),
            vec![("age".to_string(), op, value_for(op).to_string())],
            "age__{name}"
        );
        assert!(lq.is_filtered());
    }
    assert_eq!(Op::parse("between"), None);
}

#[test]
fn several_filters_are_kept_in_order() {
    let lq = parse("name__startswith=A&age__gte=18&status__in=new%2Cdone");
    assert_eq!(
        filters(&lq),
        vec![
            ("name".to_string(), Op::StartsWith, "A".to_string()),
            ("age".to_string(), Op::Gte, "18".to_string()),
            ("status".to_string(), Op::In, "new,done".to_string()),
        ]
    );
}

#[test]
fn filters_on_unknown_columns_or_with_unknown_operators_are_refused() {
    assert_eq!(
        refused("salary__gt=10"),
        "Cannot filter on 'salary': people has no such column."
    );
    assert_eq!(
        refused("age__between=1"),
        "'between' is not a filter; use one of eq, ne, lt, lte, gt, gte, contains, startswith, in, isnull."
    );
}

#[test]
fn parameters_that_are_not_filters_are_ignored() {
    // htmx and cache-busting parameters have no `__`.
    let lq = parse("_=1712345678&hx-request=true");
    assert!(lq.filters.is_empty());
    assert!(!lq.is_filtered());
}

#[test]
fn empty_filter_boxes_filter_nothing_except_equality_on_text() {
    for empty in [
        "age__gt=",
        "age__eq=",
        "age__ne=",
        "name__contains=",
        "age__in=",
    ] {
        assert!(parse(empty).filters.is_empty(), "{empty}");
    }
    assert_eq!(
        filters(&parse("name__eq=")),
        vec![("name".to_string(), Op::Eq, String::new())]
    );
    assert_eq!(
        filters(&parse("status__ne=")),
        vec![("status".to_string(), Op::Ne, String::new())]
    );
}

#[test]
fn filter_values_are_checked_against_the_column_kind() {
    assert_eq!(
        refused("age__eq=old"),
        "Filter age__eq: Enter a whole number, such as 42."
    );
    assert_eq!(
        refused("born__lt=yesterday"),
        "Filter born__lt: Enter a date as YYYY-MM-DD."
    );
    assert_eq!(
        refused("age__in=1%2Ctwo"),
        "Filter age__in: Enter a whole number, such as 42."
    );
    assert_eq!(
        refused("status__eq=lost"),
        "Filter status__eq: Choose one of: new, done."
    );
    // `contains` and `startswith` compare text, so any value will do.
    assert_eq!(parse("age__contains=4x").filters.len(), 1);
}

#[test]
fn list_and_null_filters_refuse_what_they_cannot_use() {
    assert_eq!(
        refused("age__in=%2C+%2C"),
        "Filter age__in needs a comma-separated list."
    );
    let many = (0..1001)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        refused(&format!("age__in={many}")),
        "A list filter takes at most 1000 values."
    );
    let thousand = (0..1000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(parse(&format!("age__in={thousand}")).filters.len(), 1);
    for yes_or_no in ["true", "1", "yes", "false", "0", "no"] {
        assert_eq!(parse(&format!("age__isnull={yes_or_no}")).filters.len(), 1);
    }
    assert_eq!(
        refused("age__isnull=maybe"),
        "Filter age__isnull takes true or false, not 'maybe'."
    );
}

#[test]
fn the_filter_builder_fields_become_one_filter() {
    let lq = parse("add_column=age&add_op=gte&add_value=18");
    assert_eq!(
        filters(&lq),
        vec![("age".to_string(), Op::Gte, "18".to_string())]
    );
    // An unfinished builder adds nothing.
    assert!(
        parse("add_column=&add_op=eq&add_value=1")
            .filters
            .is_empty()
    );
    assert!(
        parse("add_column=age&add_op=eq&add_value=")
            .filters
            .is_empty()
    );
    // Its value is checked like any filter's.
    assert_eq!(
        refused("add_column=age&add_op=gte&add_value=adult"),
        "Filter age__gte: Enter a whole number, such as 42."
    );
    assert_eq!(
        refused("add_column=wage&add_op=gte&add_value=1"),
        "Cannot filter on 'wage': people has no such column."
    );
}

#[test]
fn a_parsed_query_is_written_back_as_the_same_query_string() {
    let query =
        "q=ada&sort=-age&name__contains=a%26b&age__in=1%2C2&per_page=100&cols=name%2Cage&page=2";
    let lq = parse(query);
    assert_eq!(lq.to_query(None, None), query);
    // Links replace the page or the sort.
    assert_eq!(
        lq.to_query(Some(1), Some("name")),
        "q=ada&sort=name&name__contains=a%26b&age__in=1%2C2&per_page=100&cols=name%2Cage"
    );
    assert_eq!(parse("").to_query(None, None), "");
}

#[test]
fn filters_become_a_where_clause_with_bound_values() {
    let table = people();
    let lq = parse("age__gte=18&name__startswith=A_");
    let mut sql = Sql::new(Backend::Sqlite);
    lq.push_where(&mut sql, &table).unwrap();
    assert_eq!(
        sql.text(),
        " WHERE \"age\" >= ? AND \"name\" LIKE ? ESCAPE '\\'"
    );
    // The values are parameters (LIKE's wildcards escaped), never SQL text.
    assert!(
        sql.cache_key().ends_with("[Int(18), Text(\"A\\\\_%\")]"),
        "{}",
        sql.cache_key()
    );

    let mut sql = Sql::new(Backend::Postgres);
    lq.push_where(&mut sql, &table).unwrap();
    assert_eq!(
        sql.text(),
        " WHERE \"age\" >= CAST($1 AS int) AND \"name\" ILIKE $2 ESCAPE '\\'"
    );

    let mut sql = Sql::new(Backend::Sqlite);
    parse("age__isnull=no&status__in=new%2Cdone")
        .push_where(&mut sql, &table)
        .unwrap();
    assert_eq!(
        sql.text(),
        " WHERE \"age\" IS NOT NULL AND \"status\" IN (?, ?)"
    );

    let mut sql = Sql::new(Backend::Sqlite);
    parse("").push_where(&mut sql, &table).unwrap();
    assert_eq!(sql.text(), "");
}

#[test]
fn the_search_box_looks_through_text_and_enum_columns() {
    let mut sql = Sql::new(Backend::Sqlite);
    parse("q=50%25").push_where(&mut sql, &people()).unwrap();
    assert_eq!(
        sql.text(),
        " WHERE (\"name\" LIKE ? ESCAPE '\\' OR \"status\" LIKE ? ESCAPE '\\')"
    );
    assert!(
        sql.cache_key().contains("Text(\"%50\\\\%%\")"),
        "{}",
        sql.cache_key()
    );
}

#[test]
fn ordering_ends_with_the_key_so_pages_are_stable() {
    let table = people();
    let mut sql = Sql::new(Backend::Sqlite);
    parse("sort=-age").push_order(&mut sql, &table);
    assert_eq!(
        sql.text(),
        " ORDER BY \"people\".\"age\" DESC NULLS FIRST, \"people\".\"id\" DESC"
    );
    let mut sql = Sql::new(Backend::Postgres);
    parse("sort=age").push_order(&mut sql, &table);
    assert_eq!(
        sql.text(),
        " ORDER BY \"people\".\"age\" ASC, \"people\".\"id\" ASC"
    );
    let mut sql = Sql::new(Backend::Sqlite);
    parse("").push_order(&mut sql, &table);
    assert_eq!(sql.text(), " ORDER BY \"people\".\"id\" ASC");
}

// ---------------------------------------------------------------------------------------
// parse_input and the other value helpers

fn input(kind: Kind, raw: &str) -> Result<Value, String> {
    parse_input(&column("c", kind), raw)
}

fn text(s: &str) -> Result<Value, String> {
    Ok(Value::Text(s.to_string()))
}

#[test]
fn whole_numbers_are_parsed_trimmed_and_within_range() {
    assert_eq!(input(Kind::Int, " 42 "), Ok(Value::Int(42)));
    assert_eq!(input(Kind::Int, "-7"), Ok(Value::Int(-7)));
    assert_eq!(
        input(Kind::Int, "9223372036854775807"),
        Ok(Value::Int(i64::MAX))
    );
    for bad in ["4.2", "", "forty", "9223372036854775808", "1e3"] {
        assert_eq!(
            input(Kind::Int, bad),
            Err("Enter a whole number, such as 42.".to_string()),
            "{bad:?}"
        );
    }
}

#[test]
fn floating_point_numbers_must_be_finite() {
    assert_eq!(input(Kind::Float, "2.5"), Ok(Value::Float(2.5)));
    assert_eq!(input(Kind::Float, " 1e3 "), Ok(Value::Float(1000.0)));
    for bad in ["NaN", "inf", "-infinity", "1e999", "three", ""] {
        assert_eq!(
            input(Kind::Float, bad),
            Err("Enter a number, such as 3.14.".to_string()),
            "{bad:?}"
        );
    }
}

#[test]
fn decimals_are_kept_as_typed_digits() {
    for good in ["12.50", "-0.5", "+3", ".5", "5.", "0"] {
        assert_eq!(input(Kind::Decimal, good), text(good), "{good:?}");
    }
    assert_eq!(input(Kind::Decimal, " 12.50 "), text("12.50"));
    for bad in [".", "", "-", "1e3", "1.2.3", "12,50", "- 1", "0x10"] {
        assert_eq!(
            input(Kind::Decimal, bad),
            Err("Enter a decimal number, such as 12.50.".to_string()),
            "{bad:?}"
        );
    }
}

#[test]
fn booleans_take_what_checkboxes_and_people_send() {
    for yes in ["on", "true", "1", "yes", " yes "] {
        assert_eq!(input(Kind::Bool, yes), Ok(Value::Bool(true)), "{yes:?}");
    }
    for no in ["", "off", "false", "0", "no"] {
        assert_eq!(input(Kind::Bool, no), Ok(Value::Bool(false)), "{no:?}");
    }
    assert_eq!(
        input(Kind::Bool, "maybe"),
        Err("Choose yes or no.".to_string())
    );
}

#[test]
fn dates_and_times_are_checked_and_written_in_one_format() {
    assert_eq!(input(Kind::Date, "2024-02-29"), text("2024-02-29"));
    for bad in ["2023-02-29", "29/02/2024", "2024-13-01", ""] {
        assert_eq!(
            input(Kind::Date, bad),
            Err("Enter a date as YYYY-MM-DD.".to_string()),
            "{bad:?}"
        );
    }
    assert_eq!(input(Kind::Time, "09:30"), text("09:30:00"));
    assert_eq!(input(Kind::Time, "09:30:15.250"), text("09:30:15"));
    assert_eq!(
        input(Kind::Time, "25:00"),
        Err("Enter a time as HH:MM or HH:MM:SS.".to_string())
    );
}

#[test]
fn timestamps_take_the_browser_and_the_sql_forms_and_zoned_ones_are_utc() {
    assert_eq!(
        input(Kind::DateTime, "2024-01-02T03:04"),
        text("2024-01-02 03:04:00")
    );
    assert_eq!(
        input(Kind::DateTime, "2024-01-02 03:04:05.999"),
        text("2024-01-02 03:04:05")
    );
    assert_eq!(
        input(Kind::DateTimeTz, "2024-01-02T03:04:05"),
        text("2024-01-02 03:04:05+00")
    );
    for bad in ["yesterday", "2024-01-02", "2024-01-02T25:00"] {
        assert_eq!(
            input(Kind::DateTime, bad),
            Err("Enter a date and time as YYYY-MM-DD HH:MM.".to_string()),
            "{bad:?}"
        );
    }
}

#[test]
fn uuids_json_enums_and_text_are_parsed_by_their_own_rules() {
    assert_eq!(
        input(Kind::Uuid, "0190B5A27C1E7D2A9F3B5C8D2E1F4A6B"),
        text("0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b")
    );
    assert_eq!(
        input(Kind::Uuid, "not-a-uuid"),
        Err("Enter a UUID such as 0190b5a2-7c1e-7d2a-9f3b-5c8d2e1f4a6b.".to_string())
    );

    assert_eq!(input(Kind::Json, " {\"a\": [1]} "), text(" {\"a\": [1]} "));
    let bad_json = input(Kind::Json, "{\"a\":").unwrap_err();
    assert!(
        bad_json.starts_with("This is not valid JSON: "),
        "{bad_json}"
    );

    let mut status = column("status", Kind::Enum);
    status.enum_values = vec!["new".into(), "done".into()];
    assert_eq!(parse_input(&status, "done"), text("done"));
    assert_eq!(
        parse_input(&status, "lost"),
        Err("Choose one of: new, done.".to_string())
    );

    // Text is kept exactly as typed, spaces included.
    assert_eq!(input(Kind::Text, "  two  spaces "), text("  two  spaces "));
    for kind in [Kind::Bytes, Kind::Unknown] {
        assert_eq!(
            input(kind, "x"),
            Err("This column cannot be edited here.".to_string())
        );
    }
}

#[test]
fn values_read_as_text_json_and_booleans_by_their_column() {
    assert_eq!(Value::Null.as_text(), None);
    assert_eq!(Value::Bool(true).as_text().as_deref(), Some("true"));
    assert_eq!(
        Value::Bytes(vec![0xde, 0xad]).as_text().as_deref(),
        Some("\\xdead")
    );

    use serde_json::json;
    assert_eq!(Value::Int(1).to_json(Kind::Bool), json!(true));
    assert_eq!(Value::Int(7).to_json(Kind::Int), json!(7));
    assert_eq!(
        Value::Text("{\"a\":1}".into()).to_json(Kind::Json),
        json!({"a": 1})
    );
    assert_eq!(
        Value::Text("not json".into()).to_json(Kind::Json),
        json!("not json")
    );
    assert_eq!(Value::Text("12".into()).to_json(Kind::Int), json!(12));
    assert_eq!(Value::Text("t".into()).to_json(Kind::Bool), json!(true));
    assert_eq!(Value::Float(f64::NAN).to_json(Kind::Float), json!(null));
    assert_eq!(Value::Null.to_json(Kind::Text), json!(null));

    assert_eq!(Value::Text("f".into()).as_bool(), Some(false));
    assert_eq!(Value::Int(0).as_bool(), Some(false));
    assert_eq!(Value::Text("maybe".into()).as_bool(), None);
}

#[test]
fn values_are_shown_and_put_back_into_inputs_in_one_format() {
    let flag = column("active", Kind::Bool);
    assert_eq!(display(&Value::Int(1), &flag), "✓");
    assert_eq!(display(&Value::Bool(false), &flag), "✗");
    assert_eq!(display(&Value::Null, &flag), "");
    assert_eq!(input_value(&Value::Int(1), &flag), "on");
    assert_eq!(input_value(&Value::Int(0), &flag), "");

    let blob = column("blob", Kind::Bytes);
    assert_eq!(display(&Value::Bytes(vec![1, 2, 3]), &blob), "3 bytes");

    let seen = column("seen", Kind::DateTimeTz);
    let stamp = Value::Text("2024-01-02 03:04:05+00".into());
    assert_eq!(display(&stamp, &seen), "2024-01-02 03:04:05 UTC");
    assert_eq!(input_value(&stamp, &seen), "2024-01-02T03:04:05");
    // Other offsets are converted to UTC.
    assert_eq!(
        format_timestamp("2024-01-02 03:04:05-05"),
        "2024-01-02 08:04:05 UTC"
    );
    assert_eq!(
        format_timestamp("2024-01-02 03:04:05.123456"),
        "2024-01-02 03:04:05"
    );
    assert_eq!(format_timestamp("2024-01-02 03:04"), "2024-01-02 03:04:00");
    assert_eq!(format_timestamp("not a time"), "not a time");
}

// ---------------------------------------------------------------------------------------
// classify: database refusals in terms the form can show

/// A database refusal as a driver reports it.
#[derive(Default)]
struct Refusal {
    message: &'static str,
    column: Option<&'static str>,
    constraint: Option<&'static str>,
}

impl DatabaseErrorInformation for Refusal {
    fn message(&self) -> &str {
        self.message
    }
    fn details(&self) -> Option<&str> {
        None
    }
    fn hint(&self) -> Option<&str> {
        None
    }
    fn table_name(&self) -> Option<&str> {
        None
    }
    fn column_name(&self) -> Option<&str> {
        self.column
    }
    fn constraint_name(&self) -> Option<&str> {
        self.constraint
    }
    fn statement_position(&self) -> Option<i32> {
        None
    }
}

fn refusal(kind: DatabaseErrorKind, refusal: Refusal) -> WriteError {
    classify(
        DieselError::DatabaseError(kind, Box::new(refusal)),
        &people(),
        None,
    )
}

/// Field messages and the form message of an `Invalid`.
fn invalid(e: WriteError) -> (BTreeMap<String, String>, Option<String>) {
    match e {
        WriteError::Invalid(fields, form) => (fields, form),
        other => panic!("expected field or form messages, got {other:?}"),
    }
}

fn field(column: &str, message: &str) -> (BTreeMap<String, String>, Option<String>) {
    (
        BTreeMap::from([(column.to_string(), message.to_string())]),
        None,
    )
}

fn form(message: &str) -> (BTreeMap<String, String>, Option<String>) {
    (BTreeMap::new(), Some(message.to_string()))
}

#[test]
fn a_missing_value_is_reported_next_to_its_field() {
    // Postgres names the column; SQLite names it in the message.
    let pg = Refusal {
        message: "null value in column \"name\" violates not-null constraint",
        column: Some("name"),
        ..Refusal::default()
    };
    let sqlite = Refusal {
        message: "NOT NULL constraint failed: people.name",
        ..Refusal::default()
    };
    for r in [pg, sqlite] {
        assert_eq!(
            invalid(refusal(DatabaseErrorKind::NotNullViolation, r)),
            field("name", "This field is required.")
        );
    }
    let anonymous = Refusal {
        message: "a value is missing",
        ..Refusal::default()
    };
    assert_eq!(
        invalid(refusal(DatabaseErrorKind::NotNullViolation, anonymous)),
        form("A required field is empty.")
    );
}

#[test]
fn a_duplicate_is_reported_on_its_column_or_on_the_form_for_several() {
    let sqlite = Refusal {
        message: "UNIQUE constraint failed: people.name",
        ..Refusal::default()
    };
    let pg = Refusal {
        message: "duplicate key value violates unique constraint \"people_name_key\"",
        constraint: Some("people_name_key"),
        ..Refusal::default()
    };
    for r in [sqlite, pg] {
        assert_eq!(
            invalid(refusal(DatabaseErrorKind::UniqueViolation, r)),
            field(
                "name",
                "Another row already has this value; it must be unique."
            )
        );
    }
    let sqlite = Refusal {
        message: "UNIQUE constraint failed: people.born, people.seen",
        ..Refusal::default()
    };
    let pg = Refusal {
        message: "duplicate key value violates unique constraint \"people_born_seen_key\"",
        constraint: Some("people_born_seen_key"),
        ..Refusal::default()
    };
    for r in [sqlite, pg] {
        assert_eq!(
            invalid(refusal(DatabaseErrorKind::UniqueViolation, r)),
            form("Another row already has the same born, seen; together they must be unique.")
        );
    }
}

#[test]
fn a_foreign_key_refusal_names_the_referenced_table_or_the_referencing_rows() {
    let pg_insert = Refusal {
        message: "insert or update on table \"people\" violates foreign key constraint \"people_team_id_fkey\"",
        constraint: Some("people_team_id_fkey"),
        ..Refusal::default()
    };
    assert_eq!(
        invalid(refusal(DatabaseErrorKind::ForeignKeyViolation, pg_insert)),
        field("team_id", "No row of teams has this value.")
    );
    // A refusal that says the row is still referenced is about a delete: kept whole.
    let still = "update or delete on table \"people\" violates foreign key constraint \"people_team_id_fkey\": Key (id)=(1) is still referenced";
    let pg_delete = Refusal {
        message: still,
        constraint: Some("people_team_id_fkey"),
        ..Refusal::default()
    };
    match refusal(DatabaseErrorKind::ForeignKeyViolation, pg_delete) {
        WriteError::ForeignKey(m) => assert_eq!(m, still),
        other => panic!("expected a foreign-key error, got {other:?}"),
    }
    // SQLite says only that some foreign key failed.
    let sqlite = Refusal {
        message: "FOREIGN KEY constraint failed",
        ..Refusal::default()
    };
    match refusal(DatabaseErrorKind::ForeignKeyViolation, sqlite) {
        WriteError::ForeignKey(m) => assert_eq!(
            m,
            "A value refers to a row that does not exist (a foreign key), or other rows still refer to this one."
        ),
        other => panic!("expected a foreign-key error, got {other:?}"),
    }
}

#[test]
fn a_check_refusal_names_the_rule_or_quotes_the_database() {
    let pg = Refusal {
        message: "new row for relation \"people\" violates check constraint \"age_positive\"",
        constraint: Some("age_positive"),
        ..Refusal::default()
    };
    assert_eq!(
        invalid(refusal(DatabaseErrorKind::CheckViolation, pg)),
        form("The database refused these values: they break the rule \"age_positive\".")
    );
    let sqlite = Refusal {
        message: "CHECK constraint failed: age > 0",
        ..Refusal::default()
    };
    assert_eq!(
        invalid(refusal(DatabaseErrorKind::CheckViolation, sqlite)),
        form("The database refused these values: CHECK constraint failed: age > 0.")
    );
}

#[test]
fn a_value_the_database_cannot_use_is_shown_by_its_first_line() {
    let r = Refusal {
        message: "value too long for type character varying(5)\nCONTEXT: the rest of the story",
        ..Refusal::default()
    };
    assert_eq!(
        invalid(refusal(DatabaseErrorKind::Unknown, r)),
        form("The database could not use a value: value too long for type character varying(5).")
    );
    let r = Refusal {
        message: "invalid input syntax for type integer: \"x\"",
        ..Refusal::default()
    };
    assert_eq!(
        invalid(refusal(DatabaseErrorKind::Unknown, r)),
        form("The database could not use a value: invalid input syntax for type integer: \"x\".")
    );
}

#[test]
fn other_failures_stay_errors_of_the_application() {
    let r = Refusal {
        message: "could not serialize access due to concurrent update",
        ..Refusal::default()
    };
    assert!(matches!(
        refusal(DatabaseErrorKind::SerializationFailure, r),
        WriteError::App(AppError::Internal(_))
    ));
    assert!(matches!(
        classify(DieselError::NotFound, &people(), None),
        WriteError::App(AppError::NotFound)
    ));
    assert!(matches!(
        classify(DieselError::RollbackTransaction, &people(), None),
        WriteError::App(AppError::Internal(_))
    ));
}

// ---------------------------------------------------------------------------------------
// AppError: status, title and the message that may be shown

#[test]
fn each_error_has_its_status_and_title() {
    let cases: Vec<(AppError, StatusCode, &str)> = vec![
        (AppError::NotFound, StatusCode::NOT_FOUND, "Not found"),
        (
            AppError::Unauthorized,
            StatusCode::UNAUTHORIZED,
            "Sign-in required",
        ),
        (
            AppError::Forbidden("no".into()),
            StatusCode::FORBIDDEN,
            "Forbidden",
        ),
        (
            AppError::Conflict("stale".into()),
            StatusCode::CONFLICT,
            "Conflict",
        ),
        (
            AppError::Invalid("bad".into()),
            StatusCode::BAD_REQUEST,
            "Bad request",
        ),
        (
            AppError::PayloadTooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
        ),
        (
            AppError::TooManyRequests("slow down".into()),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
        ),
        (
            AppError::RateLimited(7),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
        ),
        (
            AppError::Unavailable("pool timed out".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
        ),
        (
            AppError::internal("boom"),
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
        ),
    ];
    for (error, status, title) in cases {
        let info = error.info();
        assert_eq!(info.status, status, "{error:?}");
        assert_eq!(error.status_code(), status, "{error:?}");
        assert_eq!(info.title, title, "{error:?}");
    }
}

#[derive(Debug)]
struct Inner;

impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the disk is full")
    }
}

impl std::error::Error for Inner {}

#[derive(Debug)]
struct Outer(Inner);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cannot save the upload")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn messages_the_caller_wrote_are_shown_and_causes_are_never_shown() {
    let info = AppError::Invalid("Cannot sort by 'x'.".into()).info();
    assert_eq!(info.message, "Cannot sort by 'x'.");
    assert_eq!(info.cause, None);
    assert_eq!(
        AppError::RateLimited(7).info().message,
        "This token has made too many requests. Try again in 7 seconds."
    );

    let info = AppError::internal("the disk is on fire").info();
    assert_eq!(
        info.message,
        "An unexpected error occurred. It has been logged."
    );
    assert_eq!(info.cause.as_deref(), Some("the disk is on fire"));

    // The whole chain of causes reaches the log.
    let info = AppError::caused_by(Outer(Inner)).info();
    assert!(!info.message.contains("disk"));
    assert_eq!(
        info.cause.as_deref(),
        Some("cannot save the upload: the disk is full")
    );

    let info = AppError::Unavailable("pool timed out".into()).info();
    assert_eq!(
        info.message,
        "The database is not answering right now. Try again in a moment."
    );
    assert_eq!(info.cause.as_deref(), Some("pool timed out"));
}

#[test]
fn database_errors_become_not_found_or_internal() {
    assert!(matches!(
        AppError::from(DieselError::NotFound),
        AppError::NotFound
    ));
    let e = AppError::from(DieselError::RollbackTransaction);
    assert!(matches!(e, AppError::Internal(_)));
    assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn rate_limits_and_sign_in_prompts_carry_their_headers() {
    let res = AppError::RateLimited(42).error_response();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers().get("retry-after").unwrap(), "42");

    let res = AppError::Unauthorized.error_response();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers().get("www-authenticate").unwrap(), "Bearer");

    let res = AppError::NotFound.error_response();
    assert!(res.headers().get("retry-after").is_none());
    assert!(res.headers().get("www-authenticate").is_none());
}
