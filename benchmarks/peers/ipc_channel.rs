//! `peer-ipc-channel`: the harness's message figures measured with ipc-channel.
//!
//! ipc-channel moves messages between processes but starts none. As its documentation says,
//! a program bootstraps a child with an `IpcOneShotServer`: it starts the child (here this
//! program again, as `peer-ipc-channel --child NAME`), the child connects to the server's
//! name and sends a sender back, and from then on channels travel inside messages. Small
//! messages go through `IpcSender`/`IpcReceiver` (serde); 1 MiB payloads through its raw
//! bytes channel (`IpcBytesSender`/`IpcBytesReceiver`), as multiproc's `send_bytes` and
//! `Bytes` skip serde. It has no multi-consumer queue: the `queue.*` figures, which have one
//! producer and one consumer, use a channel.

#[allow(dead_code, reason = "shared by the peer programs, each uses a part")]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BoxError, Failure, MIB, Measured, Mode, Offer, mb_per_s, per_s, us_per};
use ipc_channel::ipc::{
    self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcReceiver, IpcSender,
};
use serde::{Deserialize, Serialize};

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--child") {
        let server = args
            .next()
            .ok_or_else(|| Failure("--child needs a name".to_owned()))?;
        return child(server).map_err(|e| Failure(format!("child: {e}")));
    }
    common::run(
        "ipc-channel",
        &[
            Offer {
                figure: "queue.small",
                measure: queue_small,
            },
            Offer {
                figure: "queue.1mib",
                measure: queue_big,
            },
            Offer {
                figure: "pipe.rtt_small",
                measure: pipe_rtt,
            },
            Offer {
                figure: "pipe.1mib",
                measure: pipe_big,
            },
        ],
        None,
    )
}

/// What a child process is asked to do.
#[derive(Serialize, Deserialize)]
enum Job {
    /// Send every request back until the parent closes.
    Echo {
        requests: IpcReceiver<i64>,
        replies: IpcSender<i64>,
    },
    /// Say it is ready, receive `n` byte messages, answer with their total size.
    Sink {
        data: IpcBytesReceiver,
        answers: IpcSender<u64>,
        n: u64,
    },
    /// Send `n` small ints, then the end marker.
    ProduceSmall {
        items: IpcSender<Option<u64>>,
        n: u64,
    },
    /// Count items until the end marker; answer with the count.
    ConsumeSmall {
        items: IpcReceiver<Option<u64>>,
        done: IpcSender<(u64, u64)>,
    },
    /// Send `n` payloads of 1 MiB, then an empty message as the end marker.
    ProduceBig { items: IpcBytesSender, n: u64 },
    /// Count payloads and bytes until the empty message; answer with both.
    ConsumeBig {
        items: IpcBytesReceiver,
        done: IpcSender<(u64, u64)>,
    },
}

/// A child process running one [`Job`].
struct Worker(Child);

impl Worker {
    /// Starts this program as a child, bootstraps a channel to it and hands it `job`.
    fn start(job: Job) -> Result<Worker, BoxError> {
        let (server, name) = IpcOneShotServer::<IpcSender<Job>>::new()?;
        let child = Command::new(std::env::current_exe()?)
            .args(["--child", &name])
            .stdin(Stdio::null())
            .spawn()?;
        let worker = Worker(child);
        let (_, jobs) = server.accept()?;
        jobs.send(job)?;
        Ok(worker)
    }

    /// Waits for the child to exit, and fails unless it succeeded.
    fn join(mut self) -> Result<(), BoxError> {
        let status = self.0.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("a child process failed: {status}").into())
        }
    }
}

impl Drop for Worker {
    /// A worker dropped without [`Worker::join`] (the measurement failed) is killed and
    /// reaped, so that no child outlives the program.
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The child's side: connect to the parent's server, send it a job sender, run the job.
fn child(server: String) -> Result<(), BoxError> {
    let bootstrap = IpcSender::<IpcSender<Job>>::connect(server)?;
    let (jobs, job) = ipc::channel::<Job>()?;
    bootstrap.send(jobs)?;
    match job.recv()? {
        Job::Echo { requests, replies } => {
            // The loop ends when the parent closes its sender.
            while let Ok(v) = requests.recv() {
                replies.send(v)?;
            }
        }
        Job::Sink { data, answers, n } => {
            answers.send(0)?;
            let mut total = 0;
            for _ in 0..n {
                total += data.recv()?.len() as u64;
            }
            answers.send(total)?;
        }
        Job::ProduceSmall { items, n } => {
            for i in 0..n {
                items.send(Some(i))?;
            }
            items.send(None)?;
        }
        Job::ConsumeSmall { items, done } => {
            let mut count = 0;
            while items.recv()?.is_some() {
                count += 1;
            }
            done.send((count, 0))?;
        }
        Job::ProduceBig { items, n } => {
            let payload = vec![0u8; MIB];
            for _ in 0..n {
                items.send(&payload)?;
            }
            items.send(&[])?;
        }
        Job::ConsumeBig { items, done } => {
            let (mut count, mut bytes) = (0, 0);
            loop {
                let item = items.recv()?;
                if item.is_empty() {
                    break;
                }
                count += 1;
                bytes += item.len() as u64;
            }
            done.send((count, bytes))?;
        }
    }
    Ok(())
}

/// One producer and one consumer process over a channel, timed from starting both until
/// both are joined; the consumer's count is checked. Returns the bytes it saw and the time.
fn queue(
    n: u64,
    consumer: Job,
    producer: Job,
    done: IpcReceiver<(u64, u64)>,
) -> Result<(u64, Duration), BoxError> {
    let t0 = Instant::now();
    let consumer = Worker::start(consumer)?;
    let producer = Worker::start(producer)?;
    let (count, bytes) = done.recv()?;
    producer.join()?;
    consumer.join()?;
    let elapsed = t0.elapsed();
    if count != n {
        return Err(format!("the consumer saw {count} items, expected {n}").into());
    }
    Ok((bytes, elapsed))
}

/// [`queue`] with 200,000 small ints: messages per second.
fn queue_small(mode: Mode) -> Measured {
    let n: u64 = mode.pick(200_000, 50_000);
    let (items, items_rx) = ipc::channel()?;
    let (done, done_rx) = ipc::channel()?;
    let consumer = Job::ConsumeSmall {
        items: items_rx,
        done,
    };
    let (_, elapsed) = queue(n, consumer, Job::ProduceSmall { items, n }, done_rx)?;
    Ok((per_s(n, elapsed), "msg/s"))
}

/// [`queue`] with 400 payloads of 1 MiB through a bytes channel: MB/s.
fn queue_big(mode: Mode) -> Measured {
    let n: u64 = mode.pick(400, 100);
    let (items, items_rx) = ipc::bytes_channel()?;
    let (done, done_rx) = ipc::channel()?;
    let consumer = Job::ConsumeBig {
        items: items_rx,
        done,
    };
    let (bytes, elapsed) = queue(n, consumer, Job::ProduceBig { items, n }, done_rx)?;
    Ok((mb_per_s(bytes, elapsed), "MB/s"))
}

/// Round trips of an `i64` with an echoing child, over a channel each way, 20,000 after 100
/// unmeasured ones: µs per round trip.
fn pipe_rtt(mode: Mode) -> Measured {
    let n: u64 = mode.pick(20_000, 5_000);
    let (requests, requests_rx) = ipc::channel::<i64>()?;
    let (replies_tx, replies) = ipc::channel::<i64>()?;
    let child = Worker::start(Job::Echo {
        requests: requests_rx,
        replies: replies_tx,
    })?;
    for i in 0..100 {
        requests.send(i)?;
        replies.recv()?;
    }
    let t0 = Instant::now();
    for i in 0..n as i64 {
        requests.send(i)?;
        if replies.recv()? != i {
            return Err("the echo came back wrong".into());
        }
    }
    let elapsed = t0.elapsed();
    drop(requests);
    child.join()?;
    Ok((us_per(elapsed, n), "us"))
}

/// 1 MiB messages one way over a bytes channel to a child that has said it is ready, timed
/// until it answers with the byte count: MB/s.
fn pipe_big(mode: Mode) -> Measured {
    let n: u64 = mode.pick(500, 100);
    let (data, data_rx) = ipc::bytes_channel()?;
    let (answers_tx, answers) = ipc::channel::<u64>()?;
    let child = Worker::start(Job::Sink {
        data: data_rx,
        answers: answers_tx,
        n,
    })?;
    answers.recv()?;
    let payload = vec![0u8; MIB];
    let t0 = Instant::now();
    for _ in 0..n {
        data.send(&payload)?;
    }
    let total = answers.recv()?;
    let elapsed = t0.elapsed();
    child.join()?;
    if total != n * MIB as u64 {
        return Err(format!("the child received {total} bytes").into());
    }
    Ok((mb_per_s(total, elapsed), "MB/s"))
}
