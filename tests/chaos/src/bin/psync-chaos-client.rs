// SPDX-License-Identifier: Apache-2.0
//! One client of a chaos run (started by the orchestrator, see `psync_chaos::client`):
//! `psync-chaos-client DB URL ADMIN_URL NAME USER LOG SEED MAX_ROWS`.

use psync_chaos::client::{ClientArgs, run, say};

fn parse() -> Option<ClientArgs> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, url, admin_url, name, user, log, seed, max_rows] = args.as_slice() else {
        return None;
    };
    Some(ClientArgs {
        db: db.into(),
        url: url.clone(),
        admin_url: admin_url.clone(),
        name: name.clone(),
        user: user.clone(),
        log: log.into(),
        seed: seed.parse().ok()?,
        max_rows: max_rows.parse().ok()?,
    })
}

#[tokio::main]
async fn main() {
    let Some(args) = parse() else {
        eprintln!("usage: psync-chaos-client DB URL ADMIN_URL NAME USER LOG SEED MAX_ROWS");
        std::process::exit(2);
    };
    if let Err(e) = run(args).await {
        say(&format!("failed {e}"));
        std::process::exit(1);
    }
}
