//! A file sent with a message: shared by HTTP upload (XEP-0363) and named
//! in the message as an out-of-band URL (XEP-0066), as Conversations,
//! Monal and Dino do.

/// The file a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Where anyone with the link downloads it (HTTPS). `None` while our
    /// own upload has not finished.
    pub url: Option<String>,
    /// The file's name: ours as sent, or the last part of the URL.
    pub name: String,
    /// Its size in bytes, when known (ours always; a peer's once
    /// downloaded).
    pub size: Option<u64>,
    /// Its media type, when known (e.g. `image/jpeg`).
    pub mime_type: Option<String>,
    /// The file on this device: what we sent, or where a download put it.
    pub local_path: Option<String>,
}

/// How far a file transfer has come (`Event::Transfer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferProgress {
    /// Bytes sent or received so far.
    pub done: u64,
    /// The whole file, when known.
    pub total: Option<u64>,
}

impl Attachment {
    /// The name a downloaded file gets from its link: the URL path's last
    /// segment, percent-decoded (HTTP upload services keep the name there),
    /// with path separators and control characters replaced, so it is
    /// always a plain file name; `file` when there is none.
    pub fn name_from_url(url: &str) -> String {
        let last = url::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.path_segments()
                    .and_then(|mut s| s.next_back().map(str::to_owned))
            })
            .unwrap_or_default();
        let decoded = percent_encoding::percent_decode_str(&last).decode_utf8_lossy();
        let name: String = decoded
            .chars()
            .map(|c| match c {
                '/' | '\\' | '\0' => '_',
                c if c.is_control() => '_',
                c => c,
            })
            .collect();
        match name.trim() {
            "" | "." | ".." => "file".to_owned(),
            n => n.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Attachment;

    #[test]
    fn a_name_comes_from_the_url_path_and_is_a_plain_file_name() {
        let n = Attachment::name_from_url;
        assert_eq!(
            n("https://up.example.org/share/3f2a/holiday%20photo.jpg"),
            "holiday photo.jpg"
        );
        assert_eq!(n("https://up.example.org/a/b.pdf?x=1#f"), "b.pdf");
        assert_eq!(
            n("https://up.example.org/a/..%2F..%2Fetc%2Fpasswd"),
            ".._.._etc_passwd"
        );
        assert_eq!(n("https://up.example.org/"), "file");
        assert_eq!(n("https://up.example.org/a/%2e%2e"), "file");
        assert_eq!(n("not a url"), "file");
    }
}
