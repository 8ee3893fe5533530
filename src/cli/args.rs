//! The command line: subcommands and their arguments. The settings shared by every
//! subcommand are `config::Settings`.

use std::path::PathBuf;

use clap::{Arg, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: an admin dashboard over an SQLite or Postgres database, in one binary",
    long_about = "Gatehouse: an admin dashboard over an SQLite or Postgres database, in one binary.\n\n\
        With no subcommand it serves the web UI. Every flag can also be set with the \
        GATEHOUSE_* environment variable shown beside it."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command line as `gatehouse` reads it: the settings apply before or after any
    /// subcommand, but a subcommand's `--help` lists only its own options (the settings are
    /// in `gatehouse --help`), and `[env: GATEHOUSE_X]` never shows a value, so an unset
    /// variable does not read as set to the empty string.
    pub fn command_line() -> clap::Command {
        let root = Cli::command().mut_args(|a| a.hide_env_values(true));
        let settings: Vec<Arg> = root
            .get_arguments()
            .filter(|a| a.is_global_set())
            .cloned()
            .collect();
        hide_settings_below(root, &settings)
    }

    /// Parse the process's arguments (exits with the usage on a mistake, as clap does).
    pub fn from_process_args() -> Cli {
        let matches = Cli::command_line().get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Give every subcommand (at every depth) a hidden copy of each setting: clap propagates a
/// global argument only to subcommands that lack one with its id, and parsed values still
/// go up to the settings by that id.
fn hide_settings_below(mut cmd: clap::Command, settings: &[Arg]) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |mut sub| {
            for a in settings {
                sub = sub.arg(a.clone().hide(true));
            }
            hide_settings_below(
                sub.after_help(
                    "The settings in `gatehouse --help` (database, data directory, …) apply here too.",
                ),
                settings,
            )
        });
    }
    cmd
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve the web UI (the default).
    Serve,
    /// Apply Gatehouse's own pending migrations and exit.
    Migrate,
    /// Manage operators from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Single sign-on, from the server (break glass).
    #[command(subcommand)]
    Sso(SsoCommand),
    /// Validate the configuration and print it, secrets masked.
    CheckConfig {
        /// Also connect to the database and say whether it answers.
        #[arg(long)]
        connect: bool,
    },
    /// Create a sample shop (customers, products, orders, order items) to explore.
    Demo {
        /// How many orders to generate (customers and items scale with it).
        #[arg(long, default_value_t = 200)]
        orders: u64,
        /// Replace the demo tables if they already exist.
        #[arg(long)]
        force: bool,
    },
    /// Import a CSV file into a table, all or nothing (the same checks as the import page).
    Import {
        /// The table to import into.
        #[arg(long)]
        table: String,
        /// The CSV file (UTF-8; comma, semicolon or tab; a header row naming the columns).
        #[arg(long)]
        file: PathBuf,
        /// insert: every row is new; upsert: rows whose key exists are updated; update:
        /// every row must exist.
        #[arg(long, default_value = "insert")]
        mode: String,
        /// The unique column rows are matched on (upsert, update) [default: the primary key].
        #[arg(long)]
        key: Option<String>,
    },
    /// SQLite: write an online, verified copy of the database. Postgres: print the pg_dump
    /// command to use instead.
    Backup {
        /// File to write (refused if it exists, unless --force).
        #[arg(long)]
        to: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Copy Gatehouse's own state (operators, roles, tokens, webhooks, settings, audit; not
    /// sessions) from one database to another, e.g. SQLite to Postgres. The target must
    /// then run with the same secret key.
    Transfer {
        /// Source database URL.
        #[arg(long)]
        from: String,
        /// Target database URL.
        #[arg(long)]
        to: String,
        /// Replace the target's state even if it has operators.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an operator (for scripted installs).
    Create {
        /// Sign-in email address (unique, case-insensitive).
        #[arg(long)]
        email: String,
        /// Display name shown in the header and the audit log.
        #[arg(long)]
        name: String,
        /// Make the operator an administrator (shorthand for --role admin).
        #[arg(long, conflicts_with = "role")]
        admin: bool,
        /// Role of the operator.
        #[arg(long, value_enum, default_value = "viewer")]
        role: RoleArg,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a new password for an operator and end all of their sessions.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SsoCommand {
    /// Lift "require SSO" so password sign-in works again (e.g. the provider is gone and no
    /// administrator can sign in); with `gatehouse user reset-password` when needed.
    AllowPasswords {
        /// Only this role [default: every role].
        #[arg(long)]
        role: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Editor,
    Viewer,
}

impl RoleArg {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleArg::Admin => "admin",
            RoleArg::Editor => "editor",
            RoleArg::Viewer => "viewer",
        }
    }
}
