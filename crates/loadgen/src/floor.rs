//! The floor: the least CPU a server that makes one `write()` per recipient
//! can spend on a delivery on this machine, measured in the same run as the
//! server so that every µs/delivery figure can be read as a multiple of it.
//!
//! One writer thread writes a frame (or several gathered into one buffer) to
//! each of N loopback TCP connections in turn, nonblocking and with
//! `TCP_NODELAY` as a server sets it; one reader thread waits on the other
//! ends with epoll (through mio) and drains them. There is no framing, no
//! queue and no allocation in the loop. The writer's own CPU time, divided by
//! the frames the kernel accepted, is the floor. On loopback the kernel
//! carries a segment to the receiving socket on the sender's thread, so that
//! figure includes the receive side's TCP work, as a server's would not;
//! the reader's reads are its own.

use crate::measure::stat_cpu;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one floor measurement does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    /// Loopback connections written to in turn.
    pub sockets: usize,
    /// Bytes per frame.
    pub frame_bytes: usize,
    /// Frames gathered into each write.
    pub frames_per_write: usize,
    /// Seconds of writing.
    pub secs: f64,
}

/// Which clock measured the writer's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuClock {
    /// `/proc/thread-self/schedstat`: nanoseconds, the scheduler's own count.
    Schedstat,
    /// `/proc/thread-self/stat`: user + system ticks (10 ms each), when the
    /// kernel keeps no schedstat.
    StatTicks,
}

/// What a floor measurement found.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Floor {
    /// Loopback connections written to in turn.
    pub sockets: usize,
    /// Bytes per frame.
    pub frame_bytes: usize,
    /// Frames gathered into each write.
    pub frames_per_write: usize,
    /// Wall seconds the writer wrote for.
    pub secs: f64,
    /// Whole frames the kernel accepted.
    pub frames: u64,
    /// Frames per second of wall time.
    pub frames_per_sec: f64,
    /// The writer thread's CPU time per frame, in µs: the floor.
    pub writer_cpu_us_per_frame: f64,
    /// Writes refused because a socket's buffer was full.
    pub would_block: u64,
    /// Bytes the kernel accepted from the writer.
    pub bytes_written: u64,
    /// Bytes the reader drained before it stopped.
    pub bytes_read: u64,
    /// How the writer's CPU time was read.
    pub cpu_clock: CpuClock,
}

impl Floor {
    /// One line for a report.
    pub fn describe(&self) -> String {
        format!(
            "{} loopback sockets × {} B, {} frame(s) per write, {:.1} s: {:.0} frames/s, \
             {:.2} µs of writer CPU per frame ({} would-block, {:.1} MB/s read)",
            self.sockets,
            self.frame_bytes,
            self.frames_per_write,
            self.secs,
            self.frames_per_sec,
            self.writer_cpu_us_per_frame,
            self.would_block,
            self.bytes_read as f64 / 1e6 / self.secs.max(1e-9),
        )
    }
}

/// Options of the `floor` subcommand.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Loopback TCP connections, written to in turn.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Bytes per frame.
    #[arg(long, default_value_t = 100)]
    pub frame_bytes: usize,
    /// Frames gathered into one buffer per write().
    #[arg(long, default_value_t = 1)]
    pub frames_per_write: usize,
    /// Seconds of writing.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
}

impl Options {
    /// The measurement these options ask for.
    pub fn setup(&self) -> Setup {
        Setup {
            sockets: self.sockets,
            frame_bytes: self.frame_bytes,
            frames_per_write: self.frames_per_write,
            secs: self.secs,
        }
    }
}

/// The floor measured at the start of a scenario that reports server CPU per
/// delivery. It uses fixed sockets and frame size rather than the room's, so
/// that the ratio means the same in every scenario and every run.
#[derive(Args, Debug, Clone)]
pub struct Beside {
    /// Seconds of the floor measured before the scenario (see the `floor`
    /// subcommand; one frame per write); 0 skips it and leaves the "× floor"
    /// columns empty.
    #[arg(long, default_value_t = 3.0)]
    pub floor_secs: f64,
    /// Loopback sockets of that floor: fixed rather than the room's size, so
    /// that "× floor" means the same in every scenario and run.
    #[arg(long, default_value_t = 1000)]
    pub floor_sockets: usize,
    /// Frame bytes of that floor.
    #[arg(long, default_value_t = 100)]
    pub floor_frame_bytes: usize,
}

impl Beside {
    /// Measures the floor on threads of its own, unless it is skipped.
    pub async fn measure(&self) -> Result<Option<Floor>> {
        if self.floor_secs <= 0.0 {
            return Ok(None);
        }
        let setup = Setup {
            sockets: self.floor_sockets,
            frame_bytes: self.floor_frame_bytes,
            frames_per_write: 1,
            secs: self.floor_secs,
        };
        eprintln!(
            "measuring the floor: {} sockets × {} B for {} s",
            setup.sockets, setup.frame_bytes, setup.secs
        );
        let floor = tokio::task::spawn_blocking(move || measure(setup))
            .await
            .context("the floor's measurement stopped")??;
        eprintln!("  floor: {}", floor.describe());
        Ok(Some(floor))
    }
}

/// Measures the floor: blocks for `setup.secs` and a little more.
pub fn measure(setup: Setup) -> Result<Floor> {
    if setup.sockets == 0 || setup.frame_bytes == 0 || setup.frames_per_write == 0 {
        bail!("the floor needs at least one socket, one byte and one frame per write");
    }
    if !(setup.secs.is_finite() && setup.secs > 0.0) {
        bail!("the floor needs a positive duration, not {}", setup.secs);
    }
    let write_bytes = setup
        .frame_bytes
        .checked_mul(setup.frames_per_write)
        .ok_or_else(|| anyhow!("frame bytes × frames per write overflows"))?;
    let (ends, peers) = connect_pairs(setup.sockets)?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("floor-reader".into())
            .spawn(move || drain(peers, &stop))?
    };
    let duration = Duration::from_secs_f64(setup.secs);
    let writer = std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || write_in_turn(ends, write_bytes, setup.frame_bytes, duration));
    // Whatever became of the writer, the reader must stop.
    let written = match writer {
        Ok(handle) => handle
            .join()
            .map_err(|_| anyhow!("the floor's writer panicked")),
        Err(e) => Err(anyhow!(e).context("starting the floor's writer")),
    };
    stop.store(true, Ordering::Release);
    let bytes_read = reader
        .join()
        .map_err(|_| anyhow!("the floor's reader panicked"))??;
    let written = written??;
    if written.frames == 0 {
        bail!("the floor's writer got no frame into any socket");
    }
    let secs = written.wall.as_secs_f64();
    Ok(Floor {
        sockets: setup.sockets,
        frame_bytes: setup.frame_bytes,
        frames_per_write: setup.frames_per_write,
        secs,
        frames: written.frames,
        frames_per_sec: written.frames as f64 / secs.max(1e-9),
        writer_cpu_us_per_frame: written.cpu.as_secs_f64() * 1e6 / written.frames as f64,
        would_block: written.would_block,
        bytes_written: written.bytes,
        bytes_read,
        cpu_clock: written.clock,
    })
}

/// `n` connected loopback pairs: the ends a server would write to (with
/// `TCP_NODELAY`) and their peers, all nonblocking.
fn connect_pairs(n: usize) -> Result<(Vec<TcpStream>, Vec<mio::net::TcpStream>)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding on loopback")?;
    let address = listener.local_addr()?;
    let mut ends = Vec::with_capacity(n);
    let mut peers = Vec::with_capacity(n);
    for i in 0..n {
        let peer = TcpStream::connect(address).with_context(|| {
            format!(
                "opening loopback socket {} of {n} (each takes two files: see ulimit -n)",
                i + 1
            )
        })?;
        let (end, _) = listener.accept().context("accepting on loopback")?;
        end.set_nodelay(true)?;
        end.set_nonblocking(true)?;
        peer.set_nonblocking(true)?;
        ends.push(end);
        peers.push(mio::net::TcpStream::from_std(peer));
    }
    Ok((ends, peers))
}

/// What the writer did.
struct Written {
    frames: u64,
    bytes: u64,
    would_block: u64,
    wall: Duration,
    cpu: Duration,
    clock: CpuClock,
}

/// The writer: one write of `write_bytes` to each end in turn until
/// `duration` has passed (checked after each round), counting the whole
/// frames the kernel took and this thread's CPU time.
fn write_in_turn(
    mut ends: Vec<TcpStream>,
    write_bytes: usize,
    frame_bytes: usize,
    duration: Duration,
) -> Result<Written> {
    let payload = vec![b'x'; write_bytes];
    let (mut frames, mut bytes, mut would_block) = (0u64, 0u64, 0u64);
    let cpu_before = ThreadCpu::now();
    let start = Instant::now();
    let wall = loop {
        for end in &mut ends {
            match end.write(&payload) {
                Ok(n) => {
                    frames += (n / frame_bytes) as u64;
                    bytes += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => would_block += 1,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("writing to a loopback socket"),
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break elapsed;
        }
    };
    let (cpu, clock) = ThreadCpu::now().since(&cpu_before)?;
    Ok(Written {
        frames,
        bytes,
        would_block,
        wall,
        cpu,
        clock,
    })
}

/// The reader: drains every peer as epoll reports it readable, until `stop`;
/// the bytes it read.
fn drain(mut peers: Vec<mio::net::TcpStream>, stop: &AtomicBool) -> Result<u64> {
    let mut poll = Poll::new()?;
    for (i, peer) in peers.iter_mut().enumerate() {
        poll.registry()
            .register(peer, Token(i), Interest::READABLE)?;
    }
    let mut events = Events::with_capacity(256);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut read = 0u64;
    while !stop.load(Ordering::Acquire) {
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => other?,
        }
        for event in &events {
            let Some(peer) = peers.get_mut(event.token().0) else {
                continue;
            };
            // mio's readiness is edge-triggered: read until the kernel has
            // nothing more.
            loop {
                match peer.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => read += n as u64,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e).context("reading a loopback socket"),
                }
            }
        }
    }
    Ok(read)
}

/// The calling thread's CPU time as the kernel reports it; read on the
/// thread being measured (`/proc/thread-self` is whoever reads it).
struct ThreadCpu {
    schedstat: Option<Duration>,
    ticks: Option<Duration>,
}

impl ThreadCpu {
    fn now() -> Self {
        let read = |file: &str| std::fs::read_to_string(format!("/proc/thread-self/{file}")).ok();
        ThreadCpu {
            schedstat: read("schedstat").as_deref().and_then(schedstat_cpu),
            ticks: read("stat").as_deref().and_then(stat_cpu),
        }
    }

    /// CPU used since `earlier`: schedstat's nanoseconds when the kernel
    /// keeps them (it reports zeros when it does not), else ticks.
    fn since(&self, earlier: &ThreadCpu) -> Result<(Duration, CpuClock)> {
        match (earlier.schedstat, self.schedstat) {
            (Some(before), Some(after)) if after > before => {
                Ok((after - before, CpuClock::Schedstat))
            }
            _ => match (earlier.ticks, self.ticks) {
                (Some(before), Some(after)) => {
                    Ok((after.saturating_sub(before), CpuClock::StatTicks))
                }
                _ => bail!("neither /proc/thread-self/schedstat nor stat gives this thread's CPU"),
            },
        }
    }
}

/// The CPU time in a `schedstat` line: its first field, in nanoseconds.
fn schedstat_cpu(line: &str) -> Option<Duration> {
    let ns: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schedstat_gives_nanoseconds_of_its_first_field() {
        assert_eq!(
            schedstat_cpu("290100633 88749192 73\n"),
            Some(Duration::from_nanos(290_100_633))
        );
        assert_eq!(schedstat_cpu("0 0 0\n"), Some(Duration::ZERO));
        assert_eq!(schedstat_cpu(""), None);
        assert_eq!(schedstat_cpu("-5 0 0"), None);
        assert_eq!(schedstat_cpu("x 1 2"), None);
    }

    #[test]
    fn thread_cpu_prefers_nanoseconds_and_falls_back_to_ticks() {
        let at = |ns: Option<u64>, ms: u64| ThreadCpu {
            schedstat: ns.map(Duration::from_nanos),
            ticks: Some(Duration::from_millis(ms)),
        };
        let (cpu, clock) = at(Some(3_500), 20).since(&at(Some(1_000), 10)).unwrap();
        assert_eq!(
            (cpu, clock),
            (Duration::from_nanos(2_500), CpuClock::Schedstat)
        );
        // A kernel without schedstat prints zeros: the ticks are used.
        let (cpu, clock) = at(Some(0), 30).since(&at(Some(0), 10)).unwrap();
        assert_eq!(
            (cpu, clock),
            (Duration::from_millis(20), CpuClock::StatTicks)
        );
        let (cpu, clock) = at(None, 10).since(&at(None, 10)).unwrap();
        assert_eq!((cpu, clock), (Duration::ZERO, CpuClock::StatTicks));
    }

    #[test]
    fn this_thread_cpu_moves_when_it_works() {
        let before = ThreadCpu::now();
        let start = Instant::now();
        let mut x = 1u64;
        while start.elapsed() < Duration::from_millis(60) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert_ne!(x, 0);
        let (cpu, _) = ThreadCpu::now().since(&before).unwrap();
        // Something, and no more than the wall time and some slack.
        assert!(cpu > Duration::ZERO, "{cpu:?}");
        assert!(
            cpu <= start.elapsed() + Duration::from_millis(20),
            "{cpu:?}"
        );
    }

    #[test]
    fn a_short_floor_writes_and_reads_frames_and_costs_a_finite_time_each() {
        let floor = measure(Setup {
            sockets: 8,
            frame_bytes: 100,
            frames_per_write: 2,
            secs: 0.3,
        })
        .unwrap();
        assert!(floor.frames > 0, "{floor:?}");
        assert!(floor.bytes_read > 0, "{floor:?}");
        assert!(floor.bytes_read <= floor.bytes_written, "{floor:?}");
        assert!(floor.frames * 100 <= floor.bytes_written, "{floor:?}");
        assert!(floor.secs >= 0.3, "{floor:?}");
        let us = floor.writer_cpu_us_per_frame;
        assert!(us.is_finite() && us > 0.0, "{floor:?}");
        // The writer cannot have used more CPU than the wall time it wrote for.
        assert!(
            us * floor.frames as f64 <= floor.secs * 1e6 * 1.05,
            "{floor:?}"
        );
        assert!(floor.frames_per_sec.is_finite() && floor.frames_per_sec > 0.0);
    }

    #[test]
    fn a_floor_without_sockets_or_time_is_refused() {
        let setup = Setup {
            sockets: 0,
            frame_bytes: 100,
            frames_per_write: 1,
            secs: 0.1,
        };
        assert!(measure(setup).is_err());
        assert!(measure(Setup {
            secs: 0.0,
            sockets: 1,
            ..setup
        })
        .is_err());
    }
}
