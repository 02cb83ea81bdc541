//! Uploads that stop mid-body: 200 sockets that send headers and one chunk, then nothing.

use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::spawn_app_with;
use crate::still_serving;

const SOCKETS: usize = 200;

/// Opens a chunked PUT, sends one chunk, stops; returns whether the server closed the
/// connection within `wait`.
async fn stalled_upload(address: String, authorization: Option<String>, wait: Duration) -> bool {
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!(
        "PUT /api/files/stalled.bin HTTP/1.1\r\nHost: {address}\r\n{auth}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return true;
    }
    let mut sink = Vec::new();
    tokio::time::timeout(wait, stream.read_to_end(&mut sink)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_stalled_uploads_are_cut_off_and_the_service_keeps_answering() {
    let app = spawn_app_with(|s| {
        s.http.body_timeout_seconds = 2;
        s.http.header_timeout_seconds = 2;
    })
    .await;
    let alice = app.add_user("alice").await;
    // Alice's credentials verified once (cached), so the stalled uploads are about bodies.
    assert_eq!(app.get(&alice, "/api/quota").send().await.unwrap().status(), 200);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", alice.name, alice.password))
    );
    let address = app.base.trim_start_matches("http://").to_string();
    let sockets: Vec<_> = (0..SOCKETS)
        .map(|i| {
            // Half without credentials (401 at once), half authenticated (the body stalls).
            let auth = (i % 2 == 1).then(|| basic.clone());
            tokio::spawn(stalled_upload(address.clone(), auth, Duration::from_secs(10)))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_serving(&app).await;
    let mut open = 0;
    for socket in sockets {
        if !socket.await.unwrap() {
            open += 1;
        }
    }
    assert_eq!(open, 0, "{open} of {SOCKETS} stalled connections were still open after 10 s");
    let leftovers: Vec<_> = std::fs::read_dir(app.data_dir.path().join("storage/users/alice"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "partial uploads left behind: {leftovers:?}");
    still_serving(&app).await;
}
