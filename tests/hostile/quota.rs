//! Racing the storage quota: many uploads at once against what is left.

use std::io::{Read, Write};
use std::time::Duration;

use base64::Engine as _;

use crate::helpers::{TestApp, User, spawn_app_with};
use crate::still_serving;

const MB: usize = 1_000_000;

async fn app() -> TestApp {
    spawn_app_with(|s| s.limits.user_quota_bytes = 20 * MB as u64).await
}

fn basic(user: &User) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.name, user.password))
}

/// A chunked PUT of `size` bytes over a raw socket (no Content-Length); returns the status.
fn put_chunked(address: &str, user: &User, path: &str, size: usize) -> u16 {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "PUT /api/files/{path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        basic(user)
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'q'; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        let n = chunk.len().min(size - sent);
        let framed = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
        if stream.write_all(&framed).is_err() {
            break; // refused and closed mid-body
        }
        sent += n;
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

async fn used(app: &TestApp, user: &User) -> u64 {
    let usage: serde_json::Value = app.get(user, "/api/quota").send().await.unwrap().json().await.unwrap();
    usage["used"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_uploads_cannot_together_pass_the_quota() {
    let app = app().await;
    let alice = app.add_user("alice").await;
    assert_eq!(app.get(&alice, "/api/quota").send().await.unwrap().status(), 200);
    // Declared lengths: reserved at once, so seven of eight are refused before a byte is written.
    let declared: Vec<_> = (0..8)
        .map(|i| {
            let request =
                app.client.put(app.url(&format!("/api/files/d{i}.bin"))).basic_auth(&alice.name, Some(&alice.password));
            tokio::spawn(async move {
                request.body(vec![b'd'; 15 * MB]).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    let mut codes = Vec::new();
    for d in declared {
        codes.push(d.await.unwrap());
    }
    assert!(codes.iter().filter(|&&c| c == 201).count() <= 1, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 201 || c == 413 || c == 0), "{codes:?}");
    assert!(used(&app, &alice).await <= 20 * MB as u64);

    // Chunked: each chunk is counted against its reservation as it streams.
    for i in 0..8 {
        app.delete(&alice, &format!("/api/files/d{i}.bin")).send().await.unwrap();
    }
    let address = app.base.trim_start_matches("http://").to_string();
    let chunked: Vec<_> = (0..8)
        .map(|i| {
            let (address, alice) = (address.clone(), alice.clone());
            tokio::task::spawn_blocking(move || put_chunked(&address, &alice, &format!("c{i}.bin"), 15 * MB))
        })
        .collect();
    let mut codes = Vec::new();
    for c in chunked {
        codes.push(c.await.unwrap());
    }
    assert!(codes.iter().filter(|&&c| c == 201).count() <= 1, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 201 || c == 413), "{codes:?}");
    let total = used(&app, &alice).await;
    assert!(total <= 20 * MB as u64, "{total} bytes used of 20 MB");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_what_is_left_is_refused_before_any_byte() {
    let app = app().await;
    let alice = app.add_user("alice").await;
    assert_eq!(app.get(&alice, "/api/quota").send().await.unwrap().status(), 200);
    let address = app.base.trim_start_matches("http://").to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let head = format!(
            "PUT /api/files/big.bin HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic {}\r\nContent-Length: 30000000\r\n\r\n",
            basic(&alice)
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = vec![0u8; 4096];
        let n = stream.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("storage quota exceeded"), "{answer}");
    still_serving(&app).await;
}
