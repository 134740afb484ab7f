//! `coldstart`: time from spawning a server process to the first answered, authenticated
//! `tools/list`, repeated N times.
//!
//! Usage:
//! `coldstart --runs N --port P --token-file F --server-core C --client-core C --stderr FILE
//!  [--header "Name: value"] -- CMD [ARGS...]`
//!
//! The timer starts just before `fork`/`exec` of CMD (pinned to the server core with
//! `sched_setaffinity` in the child, so no `taskset` exec is counted) and stops when the whole
//! HTTP response to `POST /mcp` `tools/list` (status 200, a JSON-RPC result listing `echo`) has
//! been read. The client spins on `connect()` on its own core until the listener exists, so
//! polling adds no sleep granularity. The server is then stopped with SIGTERM and reaped.
//! Prints one line per run (`run N: X.XXX ms, VmHWM K kB`) on stderr and a JSON summary on stdout.

use std::{
    fs::OpenOptions,
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

struct Args {
    runs: usize,
    port: u16,
    token: String,
    server_core: usize,
    client_core: usize,
    stderr: Option<String>,
    extra_header: Option<String>,
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut runs = 20;
    let mut port = None;
    let mut token = None;
    let mut server_core = 0;
    let mut client_core = 1;
    let mut stderr = None;
    let mut extra_header = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--port" => port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--token-file" => {
                let file = value()?;
                token = Some(
                    std::fs::read_to_string(&file)
                        .map_err(|e| format!("{file}: {e}"))?
                        .trim()
                        .to_owned(),
                );
            }
            "--server-core" => server_core = value()?.parse().map_err(|e| format!("{e}"))?,
            "--client-core" => client_core = value()?.parse().map_err(|e| format!("{e}"))?,
            "--stderr" => stderr = Some(value()?),
            "--header" => extra_header = Some(value()?),
            "--" => break,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let command: Vec<String> = it.collect();
    if command.is_empty() {
        return Err("missing -- CMD [ARGS...]".into());
    }
    Ok(Args {
        runs,
        port: port.ok_or("--port is required")?,
        token: token.ok_or("--token-file is required")?,
        server_core,
        client_core,
        stderr,
        extra_header,
        command,
    })
}

fn pin(pid: libc::pid_t, core: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn request(port: u16, token: &str, extra_header: Option<&str>) -> Vec<u8> {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let extra = extra_header.map_or(String::new(), |h| format!("{h}\r\n"));
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-11-25\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns (status, body).
fn read_response(stream: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or_else(|| std::io::Error::other(format!("no content-length: {head}")))?;
        let body_start = end + 4;
        while buf.len() < body_start + length {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "short body"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Ok((status, buf[body_start..body_start + length].to_vec()));
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn one_run(args: &Args, request: &[u8]) -> Result<(Duration, Option<u64>), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let stderr = match &args.stderr {
        Some(file) => Stdio::from(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .map_err(|e| format!("{file}: {e}"))?,
        ),
        None => Stdio::null(),
    };
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let core = args.server_core;
    // SAFETY: the closure only makes the sched_setaffinity syscall, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || pin(0, core));
    }

    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", args.command[0]))?;
    let deadline = start + Duration::from_secs(10);
    let outcome = loop {
        if Instant::now() > deadline {
            break Err("no answer within 10 s".to_owned());
        }
        let mut stream = match TcpStream::connect(addr) {
            Ok(stream) => stream,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("the server exited early: {status}"));
                }
                std::hint::spin_loop();
                continue;
            }
            Err(e) => break Err(format!("connect: {e}")),
        };
        let _ = stream.set_nodelay(true);
        if stream.write_all(request).is_err() {
            continue;
        }
        match read_response(&mut stream) {
            Ok((200, body)) => {
                let elapsed = start.elapsed();
                let text = String::from_utf8_lossy(&body);
                if !text.contains(r#""result""#) || !text.contains(r#""name":"echo""#) {
                    break Err(format!("unexpected tools/list answer: {text}"));
                }
                break Ok(elapsed);
            }
            Ok((status, body)) => {
                break Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            // Accepted by the kernel before the process was ready and then dropped: retry.
            Err(_) => continue,
        }
    };
    let hwm = vm_hwm_kb(child.id());
    // SIGTERM: the servers shut down gracefully on it.
    #[allow(clippy::cast_possible_wrap)]
    let pid = child.id() as libc::pid_t;
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let waited = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if waited.elapsed() > Duration::from_secs(5) => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(_) => break,
        }
    }
    outcome.map(|d| (d, hwm))
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("coldstart: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = pin(0, args.client_core) {
        eprintln!("coldstart: cannot pin to core {}: {e}", args.client_core);
    }
    let request = request(args.port, &args.token, args.extra_header.as_deref());
    let mut samples = Vec::with_capacity(args.runs);
    let mut hwms = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        match one_run(&args, &request) {
            Ok((elapsed, hwm)) => {
                eprintln!(
                    "  run {run:>2}: {:7.3} ms, VmHWM {} kB",
                    elapsed.as_secs_f64() * 1e3,
                    hwm.map_or("?".into(), |h| h.to_string())
                );
                samples.push(elapsed.as_secs_f64() * 1e3);
                hwms.extend(hwm);
            }
            Err(e) => {
                eprintln!("coldstart: run {run}: {e}");
                std::process::exit(1);
            }
        }
        // Let the previous process's sockets and memory go before the next spawn.
        std::thread::sleep(Duration::from_millis(50));
    }
    let raw = samples.clone();
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    };
    let median = if samples.len() % 2 == 1 {
        samples[samples.len() / 2]
    } else {
        (samples[samples.len() / 2 - 1] + samples[samples.len() / 2]) / 2.0
    };
    println!(
        "{}",
        serde_json::json!({
            "runs": samples.len(),
            "median_ms": median,
            "min_ms": samples[0],
            "p90_ms": pct(90.0),
            "max_ms": samples[samples.len() - 1],
            "max_vmhwm_kb": hwms.iter().max(),
            "samples_ms": raw,
        })
    );
}
