//! Server-side request ids of audit records.

/// A fresh server-side request id, unique per record: `req_`, the time in ms (12 hex digits),
/// then 80 random bits. Time first, so a new id sorts after the earlier ones and the unique
/// `(chain, request_id)` index grows at its end: with fully random ids every record landed on
/// its own leaf page of that index (a page read and a 4 KiB WAL frame written per record once
/// the index outgrew the cache: pread + pwrite were ~35 % of the broker's CPU per proxied call).
pub(in crate::store) fn server_request_id() -> String {
    server_request_id_at(super::super::now_ms())
}

fn server_request_id_at(ms: i64) -> String {
    let ms = u64::try_from(ms).unwrap_or(0) & 0xffff_ffff_ffff;
    format!("req_{ms:012x}{}", hex::encode(rand::random::<[u8; 10]>()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_request_ids_sort_by_time_and_stay_unique() {
        let earlier = super::server_request_id_at(1_765_000_000_000);
        let same_ms = super::server_request_id_at(1_765_000_000_000);
        let later = super::server_request_id_at(1_765_000_000_001);
        assert!(
            earlier.starts_with("req_") && earlier.len() == 36,
            "{earlier}"
        );
        assert!(earlier[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(
            earlier, same_ms,
            "80 random bits tell apart ids of one millisecond"
        );
        assert!(later > earlier && later > same_ms);
    }
}
