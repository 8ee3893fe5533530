//! `gatehouse sso allow-passwords`: the break-glass path when "require SSO" keeps every
//! administrator out (the provider is gone or broken) — password sign-in allowed again,
//! audited as the operator `cli`.

use crate::audit::Actor;
use crate::cli::args::SsoCommand;
use crate::config::Config;
use crate::db::{self, Db};
use crate::signin::sso::providers;

pub fn run(config: Config, cmd: SsoCommand) -> Result<(), String> {
    db::migrate::run(&config.database)?;
    let db = Db::open(&config.database, 1, config.sqlite_max_pages)?;
    let mut conn = db.conn().map_err(|e| e.to_string())?;
    let SsoCommand::AllowPasswords { role } = cmd;
    let actor = Actor {
        user_id: None,
        email: "cli".into(),
        via: "cli".into(),
    };
    let changed = providers::allow_passwords(&mut conn, role.as_deref(), &actor)
        .map_err(|e| format!("database: {e}"))?;
    if changed.is_empty() {
        println!("no role requires single sign-on; nothing changed");
    } else {
        println!(
            "password sign-in allowed again for: {} (set a password with `gatehouse user reset-password` if needed)",
            changed.join(", ")
        );
    }
    Ok(())
}
