//! The attempt forkserver: `vocloud attempt-server`, a small single-threaded process that forks
//! one child per attempt, so that an attempt gets a process of its own without paying for an
//! `exec` of the whole binary each time.
//!
//! Why: an `exec` of `vocloud` costs ~7–10 ms before `main` runs — the dynamic loader binds
//! ~27,000 symbols of 51 shared libraries (netCDF brings curl, GnuTLS, Kerberos, LDAP, ICU…),
//! then their initialisers run — which made a zero-duration job 10× slower than when attempts
//! ran in threads and fleet dispatch of empty jobs 6× slower. A fork of this process, which has
//! done all of that once, costs a fraction of a millisecond. This is what Python's
//! `multiprocessing` "forkserver" does, for the same reason. The master itself cannot be forked
//! safely: it is multi-threaded (tokio, actix, database pools), and a forked copy of a
//! multi-threaded process may only call async-signal-safe functions. The forkserver never starts
//! a thread, so its children may do anything, including starting their own runtime.
//!
//! Everything an attempt had as an exec'd `vocloud run-job` it still has: its own address space,
//! `RLIMIT_DATA` set before it allocates, death with its parent (the forkserver, which dies with
//! the master or worker: both `PR_SET_PDEATHSIG`), a fresh tokio runtime, stderr into a pipe the
//! parent relays. Slurm still runs `vocloud run-job` itself (its job step is a new process on
//! another host anyway).
//!
//! Protocol, over a `SOCK_SEQPACKET` Unix socket pair (one message per packet, file descriptors
//! alongside): the parent sends [`Request::Start`] with the write end of the attempt's stderr
//! pipe; the forkserver answers [`Reply::Started`] with a pidfd of the child (signals never hit a
//! recycled pid), later [`Reply::Exited`] with its raw wait status (only a parent can reap), or
//! [`Reply::Failed`] if the fork failed. The forkserver exits when the parent's end closes.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags, Shutdown, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

/// Largest message (a request carries two paths and a runner name).
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Fork a child running attempt `attempt` of the job in `job_dir`, under `memory_mb`.
    Start { id: u64, job_dir: PathBuf, attempt: i64, runner: String, memory_mb: u64 },
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Started {
        id: u64,
        pid: u32,
    },
    Failed {
        id: u64,
        error: String,
    },
    /// The raw wait status (`ExitStatus::from_raw`).
    Exited {
        id: u64,
        status: i32,
    },
}

impl Reply {
    fn id(&self) -> u64 {
        match self {
            Reply::Started { id, .. } | Reply::Failed { id, .. } | Reply::Exited { id, .. } => *id,
        }
    }
}

/// What the parent learns about one attempt's child.
pub enum Event {
    /// The child runs; the pidfd signals it.
    Started {
        pid: u32,
        pidfd: OwnedFd,
    },
    /// The fork failed.
    Failed(String),
    Exited(ExitStatus),
}

// ---------------------------------------------------------------------------------------------
// The parent's side (the master's local pool, `vocloud worker`).

/// A forkserver started on first use and restarted if it died. Shared by a launcher's clones.
#[derive(Debug)]
pub struct ForkServer {
    binary: PathBuf,
    env: Vec<(String, String)>,
    connection: Mutex<Option<Arc<Connection>>>,
}

#[derive(Debug)]
struct Connection {
    socket: Arc<OwnedFd>,
    /// One channel per attempt still waiting for news; dropped (disconnected) if the forkserver dies.
    pending: Arc<Mutex<HashMap<u64, mpsc::Sender<Event>>>>,
    next_id: AtomicU64,
}

impl Drop for Connection {
    /// Ends the forkserver (it sees the end of its socket) and the reply reader.
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(&*self.socket, Shutdown::Both);
    }
}

/// An attempt's child as the parent sees it: its events, and what keeps the forkserver alive
/// while it runs.
pub struct Forked {
    pub events: mpsc::Receiver<Event>,
    _connection: Arc<Connection>,
}

impl ForkServer {
    /// `binary` is run as `binary attempt-server` with `env` added to this process's environment.
    pub fn new(binary: PathBuf, env: Vec<(String, String)>) -> ForkServer {
        ForkServer { binary, env, connection: Mutex::new(None) }
    }

    /// Asks for a child running `attempt` of `job_dir` with its stderr into `stderr`.
    pub fn start(
        &self,
        job_dir: &Path,
        attempt: i64,
        runner: &str,
        memory_mb: u64,
        stderr: BorrowedFd<'_>,
    ) -> std::io::Result<Forked> {
        let connection = self.connection()?;
        let id = connection.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, events) = mpsc::channel();
        connection.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        let request = Request::Start { id, job_dir: job_dir.to_path_buf(), attempt, runner: runner.into(), memory_mb };
        if let Err(e) = send(&connection.socket, &request, Some(stderr)) {
            connection.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            // A dead forkserver is replaced on the next attempt (unless another attempt has
            // already replaced it).
            let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &connection)) {
                *slot = None;
            }
            return Err(e);
        }
        Ok(Forked { events, _connection: connection })
    }

    fn connection(&self) -> std::io::Result<Arc<Connection>> {
        let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(connection) = slot.as_ref().filter(|c| Arc::strong_count(&c.socket) > 1) {
            return Ok(connection.clone());
        }
        let connection = Arc::new(self.spawn()?);
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Starts the forkserver from a thread that lives exactly as long as it does: the child's
    /// `PR_SET_PDEATHSIG` follows the thread that forked it, not the process.
    fn spawn(&self) -> std::io::Result<Connection> {
        let (ours, theirs) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?;
        let mut command = Command::new(&self.binary);
        command.arg("attempt-server").stdin(Stdio::from(theirs)).stdout(Stdio::null()).stderr(Stdio::inherit());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the parent exited while the forkserver started"));
                }
                Ok(())
            });
        }
        let (started_tx, started_rx) = mpsc::channel();
        std::thread::Builder::new().name("attempt-forkserver".into()).spawn(move || {
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            let _ = started_tx.send(Ok(()));
            drop(command); // our copy of the forkserver's end of the socket
            match child.wait() {
                Ok(status) if status.success() => {}
                status => tracing::warn!(?status, "the attempt forkserver exited; the next attempt starts a new one"),
            }
        })?;
        started_rx.recv().map_err(|_| std::io::Error::other("the forkserver's thread died"))??;

        let socket = Arc::new(ours);
        let pending: Arc<Mutex<HashMap<u64, mpsc::Sender<Event>>>> = Arc::default();
        let (reader_socket, reader_pending) = (socket.clone(), pending.clone());
        std::thread::Builder::new().name("attempt-forkserver-replies".into()).spawn(move || {
            read_replies(&reader_socket, &reader_pending);
            // Every attempt still waiting learns that nobody will report on it.
            reader_pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
        })?;
        Ok(Connection { socket, pending, next_id: AtomicU64::new(1) })
    }
}

/// Hands each reply to its attempt until the forkserver's end closes.
fn read_replies(socket: &OwnedFd, pending: &Mutex<HashMap<u64, mpsc::Sender<Event>>>) {
    while let Ok(Some((reply, fd))) = receive::<Reply>(socket) {
        let id = reply.id();
        let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
        let (event, last) = match (reply, fd) {
            (Reply::Started { pid, .. }, Some(pidfd)) => (Event::Started { pid, pidfd }, false),
            (Reply::Started { .. }, None) => (Event::Failed("the forkserver sent no pidfd".into()), false),
            (Reply::Failed { error, .. }, _) => (Event::Failed(error), true),
            (Reply::Exited { status, .. }, _) => (Event::Exited(ExitStatus::from_raw(status)), true),
        };
        let tx = if last { pending.remove(&id) } else { pending.get(&id).cloned() };
        if let Some(tx) = tx {
            let _ = tx.send(event);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The forkserver's side (`vocloud attempt-server`), single-threaded.

/// A running child of the forkserver.
struct Child {
    id: u64,
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

/// Serves the parent on standard input (the socket) until it goes away; `run` runs one attempt in
/// a forked child and returns its exit code. Never returns in a child.
pub fn serve(run: &dyn Fn(&Path, i64, String) -> i32) -> std::io::Result<()> {
    match serve_until_closed(run) {
        // A parent that exits while a child's exit is being reported closes the socket under the
        // send: that is the parent going away, not an error of ours.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset) => Ok(()),
        result => result,
    }
}

fn serve_until_closed(run: &dyn Fn(&Path, i64, String) -> i32) -> std::io::Result<()> {
    // SAFETY: fd 0 is the socket the parent gave us; we own it from here on.
    let socket = unsafe { OwnedFd::from_raw_fd(0) };
    let mut children: Vec<Child> = Vec::new();
    loop {
        let mut fds: Vec<rustix::event::PollFd<'_>> = std::iter::once(&socket)
            .chain(children.iter().map(|c| &c.pidfd))
            .map(|fd| rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN))
            .collect();
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        drop(fds);
        // Children first: their pidfds say they have exited.
        let mut index = children.len();
        while index > 0 {
            index -= 1;
            if ready[index + 1] {
                let child = children.swap_remove(index);
                let mut status = 0;
                // SAFETY: waiting for our own child, which has exited (its pidfd is readable).
                unsafe { libc::waitpid(child.pid, &mut status, 0) };
                send(&socket, &Reply::Exited { id: child.id, status }, None)?;
            }
        }
        if ready[0] {
            let Some((Request::Start { id, job_dir, attempt, runner, memory_mb }, stderr)) =
                receive::<Request>(&socket)?
            else {
                return Ok(()); // the parent closed its end
            };
            let Some(stderr) = stderr else {
                send(&socket, &Reply::Failed { id, error: "no stderr descriptor with the request".into() }, None)?;
                continue;
            };
            let name = process_name(&job_dir);
            match fork_attempt(&socket, &stderr, memory_mb, &name, || run(&job_dir, attempt, runner)) {
                Ok((pid, pidfd)) => {
                    send(&socket, &Reply::Started { id, pid: pid as u32 }, Some(pidfd.as_fd()))?;
                    children.push(Child { id, pid, pidfd });
                }
                Err(e) => send(&socket, &Reply::Failed { id, error: e.to_string() }, None)?,
            }
        }
    }
}

/// Forks a child that runs `attempt` with its stderr into `stderr` and exits with its code.
fn fork_attempt(
    socket: &OwnedFd,
    stderr: &OwnedFd,
    memory_mb: u64,
    name: &std::ffi::CStr,
    attempt: impl FnOnce() -> i32,
) -> std::io::Result<(libc::pid_t, OwnedFd)> {
    let server = std::process::id() as libc::pid_t;
    // SAFETY: this process is single-threaded (see the module comment), so the child may run
    // any code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid == 0 {
        let code = match enter_child(socket.as_raw_fd(), stderr.as_raw_fd(), server, memory_mb, name) {
            Ok(()) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(attempt)).unwrap_or(101),
            Err(e) => {
                eprintln!("vocloud: preparing the attempt's process: {e}");
                1
            }
        };
        // `_exit`, not `exit`: the attempt's files are written and closed, its stdout is
        // /dev/null and its stderr unbuffered, so there is nothing for the exit handlers and the
        // 51 shared libraries' destructors to do but cost time: they resolved symbols lazily and
        // freed memory shared copy-on-write with the forkserver (perf stat over 100 zero-duration
        // attempts: 1.58 → 1.01 ms of CPU and 450 → 186 page faults per attempt).
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // SAFETY: ends this process at once; nothing in it is left to run.
        unsafe { libc::_exit(code) };
    }
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).ok_or_else(|| std::io::Error::other("fork returned pid 0"))?,
        rustix::process::PidfdFlags::empty(),
    )?;
    Ok((pid, pidfd))
}

/// The child's first steps: stderr into the parent's pipe, no socket to the parent, death with
/// the forkserver, the memory limit.
fn enter_child(
    socket: RawFd,
    stderr: RawFd,
    server: libc::pid_t,
    memory_mb: u64,
    name: &std::ffi::CStr,
) -> std::io::Result<()> {
    let check = |r: libc::c_int| if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) };
    // SAFETY: plain syscalls on descriptors this process owns.
    unsafe {
        check(libc::dup2(stderr, 2))?;
        check(libc::close(stderr))?;
        // The attempt must not hold the forkserver's socket (fd 0, replaced by /dev/null here):
        // the parent would not see the forkserver end while an attempt lives, and an attempt
        // could forge replies.
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        check(null)?;
        if socket != 0 {
            check(libc::close(socket))?;
        }
        check(libc::dup2(null, 0))?;
        check(libc::dup2(null, 1))?;
        check(libc::close(null))?;
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
        check(libc::prctl(libc::PR_SET_NAME, name.as_ptr()))?;
        if libc::getppid() != server {
            return Err(std::io::Error::other("the forkserver exited while the attempt started"));
        }
        let limit = memory_mb.saturating_mul(1 << 20) as libc::rlim_t;
        check(libc::setrlimit(libc::RLIMIT_DATA, &libc::rlimit { rlim_cur: limit, rlim_max: limit }))?;
    }
    Ok(())
}

/// The attempt process's name (`ps -o comm`, `/proc/PID/comm`): its job's id, which is the job
/// folder's name, cut to the kernel's 15 bytes. A forked child keeps the forkserver's command
/// line, so this is how an operator tells attempts apart.
fn process_name(job_dir: &Path) -> std::ffi::CString {
    let id = job_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let id: String = id.chars().filter(|c| c.is_ascii_graphic()).take(15).collect();
    std::ffi::CString::new(id).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Messages: JSON in one packet, at most one descriptor alongside.

fn send<T: Serialize>(socket: &OwnedFd, message: &T, fd: Option<BorrowedFd<'_>>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    loop {
        match rustix::net::sendmsg(socket, &[IoSlice::new(&bytes)], &mut control, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The next message and its descriptor; `None` when the other end has closed.
fn receive<T: for<'de> Deserialize<'de>>(socket: &OwnedFd) -> std::io::Result<Option<(T, Option<OwnedFd>)>> {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = loop {
        match rustix::net::recvmsg(socket, &mut [IoSliceMut::new(&mut buffer)], &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(received) => break received,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if received.bytes == 0 {
        return Ok(None);
    }
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            // Keep the first; any other descriptor is closed as it drops.
            for received in fds {
                fd.get_or_insert(received);
            }
        }
    }
    let message = serde_json::from_slice(&buffer[..received.bytes.min(MAX_MESSAGE)]).map_err(std::io::Error::other)?;
    Ok(Some((message, fd)))
}
