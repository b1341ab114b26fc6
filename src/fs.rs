//! Regular-file IO on the thread pool (gevent's `FileObjectThread`).
//!
//! epoll cannot wait on regular files, and reading one may block on the disk, so
//! these calls run on a [`threadpool`](crate::threadpool) worker while the caller
//! parks. Each call copies its buffer to the worker and back.
//!
//! ```
//! let path = std::env::temp_dir().join(format!("greenlet-fs-doc-{}", std::process::id()));
//! greenlet::fs::write(&path, b"hello").unwrap();
//! assert_eq!(greenlet::fs::read(&path).unwrap(), b"hello");
//! std::fs::remove_file(&path).unwrap();
//! ```

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use crate::threadpool::apply;

/// Reads a whole file (std's `fs::read`).
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    apply(move || std::fs::read(path))
}

/// Reads a whole file as UTF-8 (std's `fs::read_to_string`).
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    apply(move || std::fs::read_to_string(path))
}

/// Writes a whole file, creating or truncating it (std's `fs::write`).
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_vec();
    apply(move || std::fs::write(path, contents))
}

/// An open file whose operations run on the thread pool.
#[derive(Debug)]
pub struct File {
    inner: Arc<std::fs::File>,
}

impl File {
    /// Opens a file for reading (std's `File::open`).
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        apply(move || std::fs::File::open(path)).map(File::from)
    }

    /// Creates or truncates a file for writing (std's `File::create`).
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        apply(move || std::fs::File::create(path)).map(File::from)
    }

    /// Flushes data and metadata to the disk.
    pub fn sync_all(&self) -> io::Result<()> {
        self.run(|f| f.sync_all())
    }

    /// Truncates or extends the file.
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.run(move |f| f.set_len(size))
    }

    /// The file's metadata.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.run(|f| f.metadata())
    }

    /// The std file, for calls that may block the thread.
    pub fn into_std(self) -> std::fs::File {
        Arc::try_unwrap(self.inner).unwrap_or_else(|shared| {
            // A job of ours that was abandoned (its caller killed) may still hold it.
            shared.try_clone().expect("duplicating a file descriptor")
        })
    }

    fn run<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let f = self.inner.clone();
        apply(move || op(&f))
    }
}

impl From<std::fs::File> for File {
    fn from(f: std::fs::File) -> File {
        File { inner: Arc::new(f) }
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        let data = self.run(move |mut f| {
            let mut v = vec![0; len];
            let n = f.read(&mut v)?;
            v.truncate(n);
            Ok(v)
        })?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let data = buf.to_vec();
        self.run(move |mut f| f.write(&data))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.run(move |mut f| f.seek(pos))
    }
}
