//! Folders and selections downloaded as one zip, streamed: the archive is written on a blocking
//! thread by the `zip` crate's stream writer (no seeking: sizes and checksums go in data
//! descriptors after each file) into a bounded channel that feeds the response, so a 20 GB
//! folder costs a few 64 KiB buffers, the first bytes leave at once, and a download the browser
//! cancels stops the writer at its next chunk.
//!
//! Files are stored, not deflated: spectra and images barely compress, and deflating gigabytes
//! would keep a core busy per download on a small server. Files of 4 GiB and more get zip64
//! headers. Hidden entries (partial uploads) and symbolic links are left out — a link could
//! point outside the user's folder.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use actix_web::web::Bytes;
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;

/// Files one archive holds at most (checked before the download starts).
pub const MAX_FILES: usize = 200_000;
const CHUNK: usize = 64 * 1024;

/// An entry of the archive: its name inside the zip and where it is.
pub struct Item {
    pub name: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

/// The files and folders under `path`, named from `name` down; errors past [`MAX_FILES`].
pub fn expand(name: &str, path: &Path, out: &mut Vec<Item>) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|_| format!("'{name}' does not exist"))?;
    if meta.is_file() {
        out.push(Item { name: name.to_string(), path: path.to_path_buf(), is_dir: false });
    } else if meta.is_dir() {
        out.push(Item { name: format!("{name}/"), path: path.to_path_buf(), is_dir: true });
        let mut children: Vec<_> =
            std::fs::read_dir(path).map_err(|e| format!("cannot read '{name}': {e}"))?.flatten().collect();
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let child_name = child.file_name().to_string_lossy().into_owned();
            if child_name.starts_with('.') {
                continue;
            }
            expand(&format!("{name}/{child_name}"), &child.path(), out)?;
            if out.len() > MAX_FILES {
                return Err(format!("more than {MAX_FILES} files; download smaller folders"));
            }
        }
    }
    Ok(())
}

/// A `Write` that hands 64 KiB chunks to the response; fails once the response is dropped.
struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "download cancelled"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn modified(path: &Path) -> Option<zip::DateTime> {
    use chrono::{Datelike, Timelike};
    let time: chrono::DateTime<chrono::Utc> = std::fs::metadata(path).ok()?.modified().ok()?.into();
    zip::DateTime::from_date_and_time(
        u16::try_from(time.year()).ok()?,
        time.month() as u8,
        time.day() as u8,
        time.hour() as u8,
        time.minute() as u8,
        time.second() as u8,
    )
    .ok()
}

fn write(items: &[Item], out: ChannelWriter) -> zip::result::ZipResult<()> {
    let mut zip = zip::ZipWriter::new_stream(out);
    for item in items {
        let mut options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        if let Some(time) = modified(&item.path) {
            options = options.last_modified_time(time);
        }
        if item.is_dir {
            zip.add_directory(item.name.as_str(), options)?;
            continue;
        }
        let mut file = std::fs::File::open(&item.path)?;
        let size = file.metadata()?.len();
        zip.start_file(item.name.as_str(), options.large_file(size >= u64::from(u32::MAX)))?;
        io::copy(&mut file, &mut zip)?;
    }
    zip.finish()?.into_inner().flush()?;
    Ok(())
}

/// The archive of `items` as a stream of chunks for an HTTP response body.
pub fn stream(items: Vec<Item>) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(4);
    actix_web::rt::task::spawn_blocking(move || {
        let out = ChannelWriter { tx, buffer: Vec::with_capacity(CHUNK) };
        if let Err(e) = write(&items, out) {
            // A cancelled download is normal; anything else leaves a truncated archive, which
            // zip tools report as damaged.
            tracing::info!(error.message = %e, "zip download ended early");
        }
    });
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|chunk| chunk.map(Ok)))
}
