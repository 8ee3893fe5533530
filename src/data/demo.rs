//! `gatehouse demo`: a small shop (customers, products, orders, order items) with foreign
//! keys, an enumeration-like status, nullable notes, timestamps and a composite key, filled
//! with deterministic data so every newcomer sees the same thing. `--orders N` scales it.

use diesel::connection::SimpleConnection;

use crate::db::{Backend, DbConn, write_tx};
use crate::engine::sql::Sql;
use crate::engine::value::Value;

const TABLES: [&str; 4] = ["order_items", "orders", "products", "customers"];
pub const STATUSES: [&str; 4] = ["new", "paid", "shipped", "cancelled"];
const FIRST: [&str; 16] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Frances",
    "John",
    "Radia",
    "Linus",
    "Katherine",
    "Dennis",
    "Hedy",
    "Tim",
];
const LAST: [&str; 16] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "Smith",
    "Perlman",
    "Torvalds",
    "Johnson",
    "Ritchie",
    "Lamarr",
    "Berners-Lee",
];
const CITIES: [&str; 8] = [
    "London", "Paris", "Berlin", "Lisbon", "Oslo", "Madrid", "Vienna", "Dublin",
];
const PRODUCTS: [&str; 10] = [
    "Widget",
    "Gadget",
    "Sprocket",
    "Gizmo",
    "Doohickey",
    "Whatsit",
    "Thingamajig",
    "Contraption",
    "Device",
    "Apparatus",
];

/// A tiny deterministic generator (the same data on every machine).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn schema(backend: Backend) -> String {
    let (id, ts, boolean) = match backend {
        Backend::Sqlite => ("INTEGER PRIMARY KEY", "TIMESTAMP", "BOOLEAN"),
        Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMP", "BOOLEAN"),
    };
    let fk_int = match backend {
        Backend::Sqlite => "INTEGER",
        Backend::Postgres => "BIGINT",
    };
    format!(
        "CREATE TABLE customers (id {id}, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE, city TEXT, \
           notes TEXT, created_at {ts} NOT NULL);
         CREATE TABLE products (id {id}, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, \
           price NUMERIC(10, 2) NOT NULL CHECK (price >= 0), in_stock {boolean} NOT NULL DEFAULT TRUE, created_at {ts} NOT NULL);
         CREATE TABLE orders (id {id}, customer_id {fk_int} NOT NULL REFERENCES customers (id), \
           status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')), \
           total NUMERIC(10, 2) NOT NULL DEFAULT 0, notes TEXT, created_at {ts} NOT NULL);
         CREATE TABLE order_items (order_id {fk_int} NOT NULL REFERENCES orders (id), \
           product_id {fk_int} NOT NULL REFERENCES products (id), quantity INTEGER NOT NULL CHECK (quantity > 0), \
           unit_price NUMERIC(10, 2) NOT NULL, PRIMARY KEY (order_id, product_id));
         CREATE INDEX orders_created_at_idx ON orders (created_at);
         CREATE INDEX orders_status_created_at_idx ON orders (status, created_at);
         CREATE INDEX orders_customer_id_idx ON orders (customer_id);
         CREATE INDEX customers_created_at_idx ON customers (created_at);
         CREATE INDEX order_items_product_id_idx ON order_items (product_id);"
    )
}

fn timestamp(minutes: u64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(8, 0, 0))
        .unwrap_or_default();
    (base + chrono::Duration::minutes(minutes as i64))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Insert rows in multi-row statements of `batch` rows, every value bound.
fn insert_batches(
    conn: &mut DbConn,
    table: &str,
    columns: &[&str],
    rows: impl Iterator<Item = Vec<Value>>,
    casts: &[&str],
) -> Result<u64, String> {
    let backend = crate::engine::store::backend_of(conn);
    let batch = 500;
    let mut pending: Vec<Vec<Value>> = Vec::with_capacity(batch);
    let mut total = 0;
    let flush = |conn: &mut DbConn, pending: &mut Vec<Vec<Value>>| -> Result<(), String> {
        if pending.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(backend);
        sql.push("INSERT INTO ").ident(table).push(" (");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.ident(c);
        }
        sql.push(") VALUES ");
        for (r, row) in pending.drain(..).enumerate() {
            sql.push(if r > 0 { ", (" } else { "(" });
            for (i, v) in row.into_iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                match backend {
                    Backend::Postgres => {
                        sql.push("CAST(")
                            .bind(v)
                            .push(" AS ")
                            .push(casts[i])
                            .push(")");
                    }
                    Backend::Sqlite => {
                        sql.bind(v);
                    }
                }
            }
            sql.push(")");
        }
        sql.execute(conn)
            .map_err(|e| format!("inserting into {table}: {e}"))?;
        Ok(())
    };
    for row in rows {
        pending.push(row);
        total += 1;
        if pending.len() == batch {
            flush(conn, &mut pending)?;
        }
    }
    flush(conn, &mut pending)?;
    Ok(total)
}

pub struct DemoSummary {
    pub customers: u64,
    pub products: u64,
    pub orders: u64,
    pub items: u64,
}

pub fn load(
    conn: &mut DbConn,
    orders: u64,
    force: bool,
    existing: &[String],
) -> Result<DemoSummary, String> {
    let present: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|t| existing.iter().any(|e| e == t))
        .collect();
    if !present.is_empty() && !force {
        return Err(format!(
            "the database already has {}: the demo never touches existing tables; pass --force to replace them",
            present.join(", ")
        ));
    }
    let backend = crate::engine::store::backend_of(conn);
    let customers = (orders / 10).max(50);
    let products = 40;
    let mut rng = Lcg(0x5eed);
    let mut items = 0;
    write_tx(conn, |conn| -> Result<(), DemoError> {
        for t in &present {
            conn.batch_execute(&format!("DROP TABLE {}", crate::engine::sql::quote(t)))
                .map_err(|e| e.to_string())?;
        }
        conn.batch_execute(&schema(backend))
            .map_err(|e| format!("creating the demo tables: {e}"))?;
        let text = "TEXT";
        insert_batches(
            conn,
            "customers",
            &["name", "email", "city", "notes", "created_at"],
            (0..customers).map(|i| {
                let first = FIRST[(i % 16) as usize];
                let last = LAST[((i / 16) % 16) as usize];
                vec![
                    Value::Text(format!("{first} {last}")),
                    Value::Text(format!(
                        "{}.{}{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        i
                    )),
                    Value::Text(CITIES[(i % 8) as usize].to_string()),
                    if i % 5 == 0 {
                        Value::Text("Prefers email contact".into())
                    } else {
                        Value::Null
                    },
                    Value::Text(timestamp(i * 7)),
                ]
            }),
            &[text, text, text, text, "TIMESTAMP"],
        )?;
        insert_batches(
            conn,
            "products",
            &["sku", "name", "price", "in_stock", "created_at"],
            (0..products).map(|i| {
                vec![
                    Value::Text(format!("SKU-{:04}", i + 1)),
                    Value::Text(format!(
                        "{} {}",
                        PRODUCTS[(i % 10) as usize],
                        ["Mini", "Pro", "Max", "Classic"][(i / 10) as usize % 4]
                    )),
                    Value::Text(format!("{}.{:02}", 5 + (i * 37) % 200, (i * 13) % 100)),
                    Value::Bool(i % 7 != 0),
                    Value::Text(timestamp(i * 60)),
                ]
            }),
            &[text, text, "NUMERIC", "BOOLEAN", "TIMESTAMP"],
        )?;
        let mut order_rng = Lcg(0xfeed);
        insert_batches(
            conn,
            "orders",
            &["customer_id", "status", "total", "notes", "created_at"],
            (0..orders).map(|i| {
                vec![
                    Value::Int(1 + order_rng.below(customers) as i64),
                    Value::Text(STATUSES[order_rng.below(4) as usize].to_string()),
                    Value::Text(format!(
                        "{}.{:02}",
                        10 + order_rng.below(500),
                        order_rng.below(100)
                    )),
                    if i % 9 == 0 {
                        Value::Text("Gift wrap, please".into())
                    } else {
                        Value::Null
                    },
                    Value::Text(timestamp(i)),
                ]
            }),
            &["BIGINT", text, "NUMERIC", text, "TIMESTAMP"],
        )?;
        items = insert_batches(
            conn,
            "order_items",
            &["order_id", "product_id", "quantity", "unit_price"],
            (0..orders).flat_map(|o| {
                let n = 1 + rng.below(3);
                let start = rng.below(products);
                (0..n)
                    .map(|k| {
                        let product = (start + k * 7) % products;
                        vec![
                            Value::Int(o as i64 + 1),
                            Value::Int(product as i64 + 1),
                            Value::Int(1 + ((o + k) % 4) as i64),
                            Value::Text(format!(
                                "{}.{:02}",
                                5 + (product * 37) % 200,
                                (product * 13) % 100
                            )),
                        ]
                    })
                    .collect::<Vec<_>>()
            }),
            &["BIGINT", "BIGINT", "INTEGER", "NUMERIC"],
        )?;
        Ok(())
    })
    .map_err(|e| e.0)?;
    if backend == Backend::Postgres {
        // Fresh statistics, so the planner (and the row estimates Gatehouse shows) are right.
        conn.batch_execute(
            "ANALYZE customers; ANALYZE products; ANALYZE orders; ANALYZE order_items;",
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(DemoSummary {
        customers,
        products,
        orders,
        items,
    })
}

impl From<diesel::result::Error> for DemoError {
    fn from(e: diesel::result::Error) -> Self {
        DemoError(e.to_string())
    }
}

/// `write_tx` needs an error type that a diesel error converts into.
#[derive(Debug)]
pub struct DemoError(pub String);

impl From<String> for DemoError {
    fn from(e: String) -> Self {
        DemoError(e)
    }
}
