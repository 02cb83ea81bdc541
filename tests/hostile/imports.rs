//! Imports aimed where they must not go: reserved and documentation ranges (SSRF), and
//! directory crawls whose links climb out of the start folder.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::helpers::{element, phase, spawn_app, spawn_app_with};
use crate::still_serving;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_from_reserved_and_documentation_ranges_are_refused() {
    let app = spawn_app().await;
    let alice = app.add_user("alice").await;
    for host in ["192.0.2.1", "198.51.100.1", "203.0.113.7", "198.18.0.1", "240.0.0.1", "[2001:db8::1]"] {
        let url = format!("http://{host}/list.vot");
        let job = app.create_job(&alice, "import", &[("url", &url), ("folder", "in"), ("timeout", "5")]).await;
        let doc = app.run_to_end(&alice, &job).await;
        assert_eq!(phase(&doc), "ERROR", "{host}");
        let summary = element(&doc, "message").unwrap_or_default();
        assert!(summary.contains("refused"), "{host}: {summary}");
    }
    still_serving(&app).await;
}

/// Serves `/data/` (an index whose links try to climb out), `/data/a.fits` and `/secret/*`;
/// records every path asked for.
fn start_tree() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let (b, log) = (base.clone(), asked.clone());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).map_or(true, |n| n == 0) || header == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            log.lock().unwrap().push(path.clone());
            let body = if path == "/data/" {
                format!(
                    "<a href=\"a.fits\">a</a> <a href=\"{b}/data/../secret/key.fits\">abs</a> \
                     <a href=\"/data/%2e%2e/secret/enc.fits\">enc</a> <a href=\"../secret/rel.fits\">rel</a> \
                     <a href=\"{b}/data/sub/../../secret/deep.fits\">deep</a> <a href=\"HTTP://127.0.0.1:{}/secret/case.fits\">case</a>",
                    b.rsplit(':').next().unwrap()
                )
            } else {
                "SIMPLE  = T".to_string()
            };
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (base, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_crawl_never_follows_links_out_of_its_start() {
    let app = spawn_app_with(|s| s.import.allow_private_addresses = true).await;
    let alice = app.add_user("alice").await;
    let (base, asked) = start_tree();
    let dir = format!("{base}/data/");
    let job = app.create_job(&alice, "import", &[("directory", &dir), ("folder", "mirror")]).await;
    let doc = app.run_to_end(&alice, &job).await;
    assert_eq!(phase(&doc), "COMPLETED", "{doc}");
    let asked = asked.lock().unwrap().clone();
    assert!(asked.iter().all(|p| !p.contains("secret")), "the crawl left /data/: {asked:?}");
    assert!(asked.contains(&"/data/a.fits".to_string()), "{asked:?}");
    still_serving(&app).await;
}
