//! `pfid`: the identity provider's server and its operator command line (SPEC.md).
//!
//! Every command takes `--config FILE`; a command that reports takes `--json` and then
//! prints one JSON object on stdout and nothing else there. Failures exit non-zero with
//! one line on stderr.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "pfid",
    version,
    about = "Patient Fusion identity provider (OpenID Connect)"
)]
pub struct Cli {
    /// A TOML file layered over the built-in defaults (config/default.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply pending schema migrations, then serve (the default).
    Serve,
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Register and review client apps.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Patients' records, as a provider's office keeps them.
    Patient {
        #[command(subcommand)]
        command: PatientCommand,
    },
    /// Logins.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Invitations to the portal for a patient's record.
    Invite {
        #[command(subcommand)]
        command: InviteCommand,
    },
    /// Initial access tokens for dynamic client registration (RFC 7591).
    #[command(name = "registration-token")]
    RegistrationToken {
        #[command(subcommand)]
        command: RegistrationTokenCommand,
    },
    /// Token-signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Moving the old portal's logins in (docs/migration.md).
    Legacy {
        #[command(subcommand)]
        command: LegacyCommand,
    },
}

#[derive(Args, Debug, Clone, Copy)]
pub struct JsonFlag {
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply pending schema migrations.
    Migrate {
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client app (approved at once).
    Create(Box<commands::ClientCreate>),
    /// List apps, optionally in one review state.
    List {
        #[arg(long, value_parser = ["review", "approved", "rejected", "suspended"])]
        status: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Approve an app in review.
    Approve {
        /// The app's client id (an older id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Reject an app, with the reason its developer will read.
    Reject {
        /// The app's client id (an older id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Suspend an app: its tokens stop working at once.
    Suspend {
        /// The app's client id (an older id may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum PatientCommand {
    /// Create a patient record.
    Create(commands::PatientCreate),
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an active login.
    Create(commands::AccountCreate),
}

#[derive(Subcommand, Debug)]
pub enum InviteCommand {
    /// Email an invitation link for a record (valid `lifetimes.invitation`); prints the
    /// link and the PIN the office reads to the patient.
    Create(commands::InviteCreate),
    /// End portal access to a record: logins no longer see it, open invitations stop.
    Revoke(commands::InviteRevoke),
}

#[derive(Subcommand, Debug)]
pub enum RegistrationTokenCommand {
    /// A new initial access token for `POST /register`, shown once. Apps registered
    /// with it belong to no developer and wait in review like the others.
    Create {
        /// How long it works (90s, 10m, 48h, 90d); without it, until the database forgets it.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// New signing keys sign from now on; old public keys stay published until every
    /// token they signed has expired.
    Rotate {
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum LegacyCommand {
    /// Import a JSON Lines export of legacy logins (idempotent: safe to run again).
    Import {
        /// The export file, one account a line.
        file: PathBuf,
        /// Check every line and report what would happen, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// Lines per transaction.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch_size: u32,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Count legacy logins by migration status.
    Report {
        #[command(flatten)]
        out: JsonFlag,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}
