//! A [`Client`] that passes everything through to the real one and notes
//! the head of the response in a [`Record`]: whatever answers the request
//! (a script, a static file, one of rcgi's own pages), the inspector sees
//! the status and header fields that went out.

use std::fs::File;
use std::os::fd::BorrowedFd;
use std::process::ChildStdin;
use std::time::{Duration, Instant};

use super::Record;
use crate::client::{Body, BodyError, Client, Fed, Gone, Hangup, Head, Served, Sink};
use crate::status::Refusal;

pub struct Tap<'a> {
    inner: &'a mut dyn Client,
    record: &'a Record,
}

impl<'a> Tap<'a> {
    pub fn new(inner: &'a mut dyn Client, record: &'a Record) -> Tap<'a> {
        Tap { inner, record }
    }
}

impl Body for Tap<'_> {
    fn length(&self) -> Option<u64> {
        self.inner.length()
    }
    fn check_length(&self) -> Result<(), Refusal> {
        self.inner.check_length()
    }
    fn begin(&mut self) -> Result<(), Gone> {
        self.inner.begin()
    }
    fn spool(&mut self, file: &File) -> Result<u64, BodyError> {
        let n = self.inner.spool(file)?;
        self.record.body(Some(n), false);
        Ok(n)
    }
    fn wants_input(&self) -> bool {
        self.inner.wants_input()
    }
    fn has_data(&self) -> bool {
        self.inner.has_data()
    }
    fn complete(&self) -> bool {
        self.inner.complete()
    }
    fn feed(&mut self, stdin: &mut Option<ChildStdin>, readable: bool) -> Result<Fed, BodyError> {
        self.inner.feed(stdin, readable)
    }
    fn deadline(&self) -> Option<Instant> {
        self.inner.deadline()
    }
    fn discard(&mut self) {
        self.inner.discard();
    }
    fn abandon(&mut self) {
        self.inner.abandon();
    }
}

impl Sink for Tap<'_> {
    fn start(&mut self, head: &Head) {
        self.record.response(head.status, head.fields);
        self.inner.start(head);
    }
    fn start_raw(&mut self, status: u16) {
        self.record.response(status, &[]);
        self.inner.start_raw(status);
    }
    fn started(&self) -> bool {
        self.inner.started()
    }
    fn write(&mut self, data: &[u8]) -> usize {
        self.inner.write(data)
    }
    fn room(&self) -> Option<u64> {
        self.inner.room()
    }
    fn splices(&self) -> bool {
        self.inner.splices()
    }
    fn can_splice(&self) -> bool {
        self.inner.can_splice()
    }
    fn splice_from(&mut self, source: BorrowedFd<'_>, max: usize) -> nix::Result<usize> {
        self.inner.splice_from(source, max)
    }
    fn finish(&mut self) -> Result<(), u64> {
        self.inner.finish()
    }
    fn backlog(&self) -> usize {
        self.inner.backlog()
    }
    fn pending(&self) -> bool {
        self.inner.pending()
    }
    fn send_now(&mut self) -> Result<bool, Gone> {
        self.inner.send_now()
    }
    fn send_all(&mut self) -> Result<(), Gone> {
        self.inner.send_all()
    }
    fn send_file(&mut self, file: &File, offset: u64, len: u64) -> Result<u64, Gone> {
        self.inner.send_file(file, offset, len)
    }
    fn delivered(&self) -> bool {
        self.inner.delivered()
    }
    fn close_after(&mut self) {
        self.inner.close_after();
    }
    fn served(&self) -> Served {
        self.inner.served()
    }
}

impl Client for Tap<'_> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }
    fn hangup(&mut self) -> Hangup {
        self.inner.hangup()
    }
    fn stall_limit(&self) -> Duration {
        self.inner.stall_limit()
    }
}
