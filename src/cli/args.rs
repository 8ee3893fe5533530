//! The command line: subcommands and their arguments. The settings shared by every
//! subcommand are `config::Settings`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run migrations, then serve the web UI (the default).
    Serve,
    /// Apply Gatehouse's own pending migrations and exit.
    Migrate,
    /// Manage operators from the command line.
    #[command(subcommand)]
    User(UserCommand),
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
