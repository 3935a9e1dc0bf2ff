//! `nexus keys`: the broker's master keys (rotation and re-encryption).

use crate::args::KeysCommand;
use crate::error::CliResult;
use crate::http::{ApiClient, Body, parse_answer};
use crate::output::{outln, print_json};
use nexus_protocol::admin::{self, RotateKeysRequest, RotateResponse};

pub async fn keys(client: &ApiClient, command: KeysCommand, json: bool) -> CliResult<()> {
    match command {
        KeysCommand::Rotate => {
            let result = client
                .post(
                    admin::KEYS_ROTATE_PATH,
                    &[],
                    Body::json(&RotateKeysRequest::default())?,
                )
                .await?;
            if json {
                print_json(&result);
            } else {
                let rotated: RotateResponse = parse_answer(&result, "broker")?;
                outln!(
                    "active key {}; {} secrets re-encrypted",
                    rotated.active_key_id,
                    rotated.reencrypted
                );
            }
        }
    }
    Ok(())
}
