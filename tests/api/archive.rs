//! A small HTTP/1.1 server the import tests start on 127.0.0.1: an SSAP-like endpoint, spectra
//! files, a broken link, a flaky link (500 twice, then fine), a slow link, a huge file, a DataLink
//! service, a directory tree with index pages, an area behind HTTP Basic auth, and blobs of a
//! given size. It records
//! every request so tests can check what was fetched and which headers were sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vocloud_workers::votable::{Datatype, Field, Table, Value};

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub authorization: Option<String>,
}

pub struct Archive {
    pub base: String,
    /// Where the SSAP result points for the password-protected spectrum (another archive).
    pub vault: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

/// What a spectrum file holds: its own name, so tests can check the right bytes arrived.
pub fn spectrum(name: &str) -> Vec<u8> {
    format!("SIMPLE  = T / fake spectrum {name}\n").into_bytes()
}

pub const HUGE_BYTES: u64 = 20_000_000;

impl Archive {
    pub fn start() -> Archive {
        Archive::start_with_vault(None)
    }

    pub fn start_with_vault(vault: Option<&str>) -> Archive {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let vault = vault.unwrap_or(&base).to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (b, v, r) = (base.clone(), vault.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, v, r) = (b.clone(), v.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &b, &v, &r);
                });
            }
        });
        Archive { base, vault, requests }
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|r| r.path == path).count()
    }

    /// The SSAP-like result: every kind of link this archive has.
    pub fn ssap_table(&self) -> Table {
        let b = &self.base;
        let mut t = Table::new(
            "results",
            vec![
                Field::new("title", Datatype::Char).utype("ssa:DataID.Title"),
                Field::new("acref", Datatype::Char).ucd("meta.ref.url").utype("ssa:Access.Reference"),
                Field::new("format", Datatype::Char).utype("ssa:Access.Format"),
            ],
        );
        t.infos.push(("QUERY_STATUS".into(), "OK".into()));
        let rows = [
            ("a", format!("{b}/spectra/a.fits"), "application/fits"),
            ("b", format!("{b}/spectra/b.fits"), "application/fits"),
            ("missing", format!("{b}/spectra/missing.fits"), "application/fits"),
            ("flaky", format!("{b}/flaky/f.fits"), "application/fits"),
            ("slow", format!("{b}/slow/s.fits"), "application/fits"),
            ("huge", format!("{b}/huge/h.fits"), "application/fits"),
            ("dl", format!("{b}/datalink?ID=c"), "application/x-votable+xml;content=datalink"),
            ("private", format!("{}/protected/p.fits", self.vault), "application/fits"),
        ];
        for (title, url, format) in rows {
            t.push(vec![Value::Text(title.into()), Value::Text(url), Value::Text(format.into())]);
        }
        t
    }
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)
}

fn serve(mut stream: TcpStream, base: &str, vault: &str, requests: &Mutex<Vec<Request>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_string());
        }
    }
    let flaky_seen = {
        let mut log = requests.lock().unwrap();
        log.push(Request { path: path.clone(), authorization: authorization.clone() });
        log.iter().filter(|r| r.path == path).count()
    };
    let (route, query) = path.split_once('?').unwrap_or((&path, ""));
    match route {
        "/ssap" => {
            if !query.contains("REQUEST=queryData") || !query.contains("POS=") {
                let mut t = Table::new("error", vec![]);
                t.infos.push(("QUERY_STATUS".into(), "ERROR".into()));
                return respond(&mut stream, "200 OK", "application/x-votable+xml", &t.to_bytes());
            }
            let archive = Archive {
                base: base.to_string(),
                vault: vault.to_string(),
                requests: Arc::new(Mutex::new(Vec::new())),
            };
            respond(&mut stream, "200 OK", "application/x-votable+xml", &archive.ssap_table().to_bytes())
        }
        "/spectra/a.fits" | "/spectra/b.fits" | "/spectra/c.fits" | "/dir/a.fits" | "/dir/sub/e.fits"
        | "/dir/notes.txt" => respond(&mut stream, "200 OK", "application/fits", &spectrum(route)),
        "/flaky/f.fits" if flaky_seen <= 2 => {
            respond(&mut stream, "500 Internal Server Error", "text/plain", b"try again")
        }
        "/flaky/f.fits" => respond(&mut stream, "200 OK", "application/fits", &spectrum(route)),
        "/slow/s.fits" => {
            // Headers at once, then nothing for far longer than the import's timeout.
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/fits\r\nContent-Length: 100\r\n\r\npartial")?;
            let hold = query.strip_prefix("hold=").and_then(|h| h.parse().ok()).unwrap_or(20);
            std::thread::sleep(Duration::from_secs(hold));
            Ok(())
        }
        // `/blob/<name>?size=N`: N bytes, with a Content-Length unless `&nolength` (quota tests).
        blob if blob.starts_with("/blob/") => {
            let size: usize = query.split('&').find_map(|kv| kv.strip_prefix("size=")?.parse().ok()).unwrap_or(1000);
            let body = vec![b'x'; size];
            if query.contains("nolength") {
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/fits\r\nConnection: close\r\n\r\n")?;
                stream.write_all(&body)
            } else {
                respond(&mut stream, "200 OK", "application/fits", &body)
            }
        }
        "/huge/h.fits" => {
            // No Content-Length: the client only finds out while reading.
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/fits\r\nConnection: close\r\n\r\n")?;
            let chunk = vec![0u8; 1 << 16];
            let mut sent = 0u64;
            while sent < HUGE_BYTES {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
            Ok(())
        }
        "/datalink" => {
            let mut t = Table::new(
                "links",
                vec![
                    Field::new("ID", Datatype::Char),
                    Field::new("access_url", Datatype::Char).ucd("meta.ref.url"),
                    Field::new("semantics", Datatype::Char),
                    Field::new("error_message", Datatype::Char),
                ],
            );
            t.push(vec![
                Value::Text("c".into()),
                Value::Text(format!("{base}/preview.png")),
                Value::Text("#preview".into()),
                Value::Null,
            ]);
            t.push(vec![
                Value::Text("c".into()),
                Value::Text(format!("{base}/spectra/c.fits")),
                Value::Text("#this".into()),
                Value::Null,
            ]);
            respond(&mut stream, "200 OK", "application/x-votable+xml;content=datalink", &t.to_bytes())
        }
        "/protected/p.fits" => {
            // alice:s3cret
            if authorization.as_deref() == Some("Basic YWxpY2U6czNjcmV0") {
                respond(&mut stream, "200 OK", "application/fits", &spectrum(route))
            } else {
                write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"archive\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            }
        }
        "/dir/" => respond(
            &mut stream,
            "200 OK",
            "text/html",
            b"<html><body><h1>Index of /dir</h1><a href=\"?C=N;O=D\">Name</a>\n<a href=\"../\">Parent</a>\n\
              <a href=\"a.fits\">a.fits</a>\n<a href=\"sub/\">sub/</a>\n<a href=\"notes.txt\">notes</a>\n\
              <a href=\"broken.fits\">broken</a>\n<a href=\"/elsewhere/x.fits\">outside</a></body></html>",
        ),
        "/dir/sub/" => respond(&mut stream, "200 OK", "text/html", b"<a href='../'>up</a> <a href='e.fits'>e.fits</a>"),
        _ => {
            let mut sink = Vec::new();
            let _ = reader.take(0).read_to_end(&mut sink);
            respond(&mut stream, "404 Not Found", "text/plain", b"no such file")
        }
    }
}
