//! Queue, PriorityQueue, LifoQueue, JoinableQueue, Channel: gevent-behaviours 1.H.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::queue::{
    Channel, GetError, JoinableQueue, LifoQueue, PriorityQueue, PutError, Queue,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 65: a bounded queue blocks the putter until a get.
#[test]
fn bounded_queue_blocks_the_putter() {
    let q = Rc::new(Queue::bounded(2));
    let q2 = q.clone();
    let putter = greenlet::spawn(move || {
        for c in ["a", "b", "c"] {
            q2.put(c).unwrap();
        }
    });
    greenlet::yield_now();
    assert_eq!(q.len(), 2);
    assert!(q.is_full());
    assert_eq!(q.get(), Ok("a"));
    greenlet::yield_now();
    assert_eq!(q.len(), 2);
    putter.join().unwrap();
    assert_eq!(q.iter().take(2).collect::<Vec<_>>(), ["b", "c"]);
}

/// 66: get_timeout on empty is Empty after the timeout; put_timeout on full is Full,
/// for every kind of queue.
#[test]
fn timeouts_on_every_kind() {
    fn check(
        get: impl Fn() -> Result<u32, GetError>,
        put: impl Fn(u32) -> Result<(), PutError<u32>>,
    ) {
        let t = Instant::now();
        assert_eq!(get(), Err(GetError::Empty));
        assert!(t.elapsed() >= ms(10));
        let t = Instant::now();
        assert_eq!(put(9), Err(PutError::Full(9)));
        assert!(t.elapsed() >= ms(10));
    }
    let q = Queue::bounded(1);
    check(
        || q.get_timeout(ms(10)),
        |x| q.put(x).and_then(|()| q.put_timeout(x, ms(10))),
    );
    let q = PriorityQueue::bounded(1);
    check(
        || q.get_timeout(ms(10)),
        |x| q.put(x).and_then(|()| q.put_timeout(x, ms(10))),
    );
    let q = LifoQueue::bounded(1);
    check(
        || q.get_timeout(ms(10)),
        |x| q.put(x).and_then(|()| q.put_timeout(x, ms(10))),
    );
    let c = Channel::new();
    check(|| c.get_timeout(ms(10)), |x| c.put_timeout(x, ms(10)));
}

/// 67: non-blocking operations.
#[test]
fn nowait_operations() {
    let q = Queue::bounded(1);
    assert_eq!(q.try_put(1), Ok(()));
    assert_eq!(q.try_put(2), Err(PutError::Full(2)));
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Err(GetError::Empty));
    // A try_put wakes a blocked getter.
    let q = Rc::new(Queue::new());
    let q2 = q.clone();
    let g = greenlet::spawn(move || q2.get());
    greenlet::yield_now();
    q.try_put(4).unwrap();
    assert_eq!(g.join().unwrap(), Ok(4));
}

/// 68: each put wakes exactly one getter.
#[test]
fn each_put_wakes_exactly_one_getter() {
    let q = Rc::new(Queue::new());
    let results = Rc::new(RefCell::new(Vec::new()));
    let gs: Vec<_> = (0..4)
        .map(|_| {
            let (q, r) = (q.clone(), results.clone());
            greenlet::spawn(move || {
                // Not `r.borrow_mut().push(q.get())`: that would hold the borrow
                // across the blocking get (see arch/sync.md).
                let v = q.get().unwrap();
                r.borrow_mut().push(v);
            })
        })
        .collect();
    greenlet::yield_now();
    for i in 1..=4 {
        q.put(i).unwrap();
        greenlet::yield_now();
        assert_eq!(results.borrow().len(), i);
    }
    greenlet::joinall(gs);
    assert_eq!(*results.borrow(), [1, 2, 3, 4]);
}

/// 69: a getter that times out does not eat a later item; two timed-out getters
/// leave the item in the queue; one dead and one live getter: the live one gets it.
#[test]
fn timed_out_getters_do_not_eat_items() {
    let q = Queue::new();
    assert!(greenlet::with_timeout(Duration::ZERO, || q.get()).is_err());
    q.put("hi").unwrap();
    assert_eq!(q.get(), Ok("hi"));

    let q = Rc::new(Queue::new());
    let bogus: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            greenlet::spawn(move || greenlet::with_timeout(ms(5), || q.get()).is_err())
        })
        .collect();
    assert!(greenlet::joinall(bogus).into_iter().all(|r| r.unwrap()));
    q.put("hi").unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q.get(), Ok("hi"));

    // A getter handed the item, then killed before it ran, passes it on.
    let q = Rc::new(Queue::new());
    let (qa, qb) = (q.clone(), q.clone());
    let dies = greenlet::spawn(move || qa.get());
    let lives = greenlet::spawn(move || qb.get());
    greenlet::yield_now();
    q.put("hi").unwrap(); // handed to `dies`
    dies.kill();
    assert_eq!(lives.join().unwrap(), Ok("hi"));
}

/// 70: peek on an empty queue by the only context waits; peek_timeout gives Empty;
/// a blocked peek is woken by a put and does not consume.
#[test]
fn peek() {
    let q = Rc::new(Queue::new());
    assert_eq!(q.peek_timeout(ms(5)), Err(GetError::Empty));
    let q2 = q.clone();
    let p = greenlet::spawn(move || q2.peek());
    greenlet::yield_now();
    q.put(3).unwrap();
    assert_eq!(p.join().unwrap(), Ok(3));
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_peek(), Ok(3));
    assert_eq!(q.get(), Ok(3));
}

/// 71: a channel is a rendezvous. With a receiver waiting, put hands over and
/// returns at once; with the sender first, put returns once the item is taken.
#[test]
fn channel_rendezvous_order() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let ch = Rc::new(Channel::new());
    let (c, l) = (ch.clone(), log.clone());
    let receiver = greenlet::spawn(move || {
        for _ in 0..2 {
            let v: String = c.get().unwrap();
            l.borrow_mut().push(v);
        }
    });
    greenlet::yield_now(); // the receiver waits
    for w in ["hello", "world"] {
        log.borrow_mut().push("sending".into());
        ch.put(w.to_string()).unwrap();
        log.borrow_mut().push(format!("sent {w}"));
    }
    receiver.join().unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "sending",
            "hello",
            "sent hello",
            "sending",
            "world",
            "sent world"
        ]
    );

    // Sender first: put blocks until a get takes the item.
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let (c, l) = (ch.clone(), log.clone());
    let sender = greenlet::spawn(move || {
        for w in ["hello", "world"] {
            l.borrow_mut().push(format!("sending {w}"));
            c.put(w.to_string()).unwrap();
            l.borrow_mut().push(format!("sent {w}"));
        }
    });
    log.borrow_mut().push("waiting".into());
    for _ in 0..2 {
        let v = ch.get().unwrap();
        log.borrow_mut().push(v);
    }
    assert_eq!(
        *log.borrow(),
        [
            "waiting",
            "sending hello",
            "hello",
            "sent hello",
            "sending world",
            "world"
        ]
    );
    greenlet::yield_now();
    assert!(sender.is_finished());
    assert_eq!(log.borrow().last().unwrap(), "sent world");
}

/// 72: iteration ends when the queue is closed and drained.
#[test]
fn iteration_ends_on_close() {
    let q = Rc::new(Queue::new());
    let q2 = q.clone();
    let p = greenlet::spawn(move || {
        for i in 0..3 {
            q2.put(i).unwrap();
            greenlet::yield_now();
        }
        q2.close();
    });
    let got: Vec<_> = q.iter().collect();
    assert_eq!(got, [0, 1, 2]);
    p.join().unwrap();
}

/// 73: task_done / join.
#[test]
fn joinable_queue_task_done_and_join() {
    let q = Rc::new(JoinableQueue::new());
    q.join(); // nothing put: returns at once
    q.put(1).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.unfinished_tasks(), 1);
    assert!(!q.join_timeout(ms(5)));
    let q2 = q.clone();
    let worker = greenlet::spawn(move || {
        greenlet::sleep(ms(5));
        q2.task_done();
    });
    q.join();
    assert_eq!(q.unfinished_tasks(), 0);
    worker.join().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.task_done()));
    assert!(r.is_err());
}

/// 74: after close, puts fail, items left can still be got, then gets fail; blocked
/// getters and putters are released with errors.
#[test]
fn close_semantics() {
    let q = Rc::new(Queue::bounded(1));
    q.put(1).unwrap();
    let q2 = q.clone();
    let blocked_putter = greenlet::spawn(move || q2.put(2));
    greenlet::yield_now();
    q.close();
    assert_eq!(blocked_putter.join().unwrap(), Err(PutError::Closed(2)));
    assert_eq!(q.put(3), Err(PutError::Closed(3)));
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get(), Err(GetError::Closed));
    assert_eq!(q.try_get(), Err(GetError::Closed));

    let q = Rc::new(Queue::<u32>::new());
    let q2 = q.clone();
    let blocked_getter = greenlet::spawn(move || q2.get());
    greenlet::yield_now();
    q.close();
    assert_eq!(blocked_getter.join().unwrap(), Err(GetError::Closed));
}

#[test]
fn priority_and_lifo_order() {
    let p = PriorityQueue::new();
    for x in [5, 1, 4, 2, 3] {
        p.put(x).unwrap();
    }
    assert_eq!(p.try_peek(), Ok(1));
    assert_eq!(p.iter().take(5).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let l = LifoQueue::new();
    for x in [1, 2, 3] {
        l.put(x).unwrap();
    }
    assert_eq!(l.iter().take(3).collect::<Vec<_>>(), [3, 2, 1]);
}

/// The Sender/Receiver pair: closes when the last sender goes; receivers drain.
#[test]
fn sender_receiver_pair() {
    let (tx, rx) = greenlet::queue::channel(Some(2));
    let tx2 = tx.clone();
    let g = greenlet::spawn(move || {
        for i in 0..5 {
            tx2.send(i).unwrap();
        }
    });
    drop(tx);
    let got: Vec<i32> = rx.iter().collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    g.join().unwrap();
    assert_eq!(rx.try_recv(), Err(GetError::Closed));

    let (tx, rx) = greenlet::queue::channel::<u8>(None);
    drop(rx);
    assert_eq!(tx.send(1), Err(PutError::Closed(1)));
}
