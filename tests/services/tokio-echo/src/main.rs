//! tokio's two runtimes, each with timers, spawned tasks and a loopback TCP
//! echo server with its clients: epoll, eventfd and threads underneath.
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn echo_round(clients: usize) -> Vec<String> {
    let ln = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = ln.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = ln.accept().await else { return };
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut line = String::new();
                BufReader::new(r).read_line(&mut line).await.expect("read");
                w.write_all(line.to_uppercase().as_bytes()).await.expect("write");
            });
        }
    });
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i as u64)).await;
                let s = TcpStream::connect(addr).await.expect("connect");
                let (r, mut w) = s.into_split();
                w.write_all(format!("task {i}\n").as_bytes()).await.expect("send");
                let mut line = String::new();
                BufReader::new(r).read_line(&mut line).await.expect("reply");
                line
            })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.expect("task"));
    }
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    for _ in 0..3 {
        tick.tick().await;
    }
    replies
}

fn main() {
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for line in current.block_on(echo_round(4)) {
        print!("current-thread: {line}");
    }
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for line in multi.block_on(echo_round(6)) {
        print!("multi-thread: {line}");
    }
}
