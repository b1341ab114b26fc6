//! `greenlet::fs` over the thread pool.

use std::io::{Read, Seek, SeekFrom, Write};

#[test]
fn read_write_seek() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("greenlet-io-fs-{}", std::process::id()));
    greenlet::fs::write(&path, b"hello world").unwrap();
    assert_eq!(greenlet::fs::read(&path).unwrap(), b"hello world");
    assert_eq!(greenlet::fs::read_to_string(&path).unwrap(), "hello world");
    let mut f = greenlet::fs::File::create(&path).unwrap();
    f.write_all(b"0123456789").unwrap();
    f.seek(SeekFrom::Start(4)).unwrap();
    f.write_all(b"xy").unwrap();
    f.sync_all().unwrap();
    assert_eq!(f.metadata().unwrap().len(), 10);
    drop(f);
    let mut f = greenlet::fs::File::open(&path).unwrap();
    f.seek(SeekFrom::Start(2)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "23xy6789");
    let std_f = f.into_std();
    assert_eq!(std_f.metadata().unwrap().len(), 10);
    std::fs::remove_file(&path).unwrap();
    let e = greenlet::fs::read(&path).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}
