//! The owner id a scheduler claims runs under: `hostname:pid:suffix`.

/// A new owner id: the host's name, the process id and a random suffix (two schedulers in one
/// process, or a pid reused after a restart, still differ).
pub(super) fn new_owner_id() -> String {
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    // A UUIDv7's last characters are random (its first ones are the time).
    let suffix = &suffix[suffix.len() - 8..];
    format!("{}:{}:{suffix}", hostname(), std::process::id())
}

/// The host's name: the kernel's on Linux, else `$HOSTNAME`, else `localhost`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_name_the_process_and_differ() {
        let (a, b) = (new_owner_id(), new_owner_id());
        assert_ne!(a, b);
        let pid = std::process::id().to_string();
        assert_eq!(a.split(':').nth(1), Some(pid.as_str()), "{a}");
    }
}
