//! "Export CSV": the full result of a read-only statement, streamed as it is read (rows are
//! never gathered in memory), under the same timeout and connection budget as a run.

use actix_web::web::Bytes;
use tokio::sync::mpsc;

use super::runner::{Cell, Failure, Finished, Sink};
use crate::engine::csvio::push_line;

/// What the statement's thread sends to the response.
pub enum Chunk {
    Data(Bytes),
    Failed(Failure),
}

/// Rows written as CSV lines, a few rows per chunk.
pub struct CsvSink {
    tx: mpsc::Sender<Chunk>,
    buffer: String,
}

const CHUNK_BYTES: usize = 32 * 1024;

impl CsvSink {
    pub fn channel() -> (CsvSink, mpsc::Receiver<Chunk>) {
        let (tx, rx) = mpsc::channel(8);
        let sink = CsvSink {
            tx,
            buffer: String::new(),
        };
        (sink, rx)
    }

    /// Send what is buffered; `false` when the client has gone.
    fn flush(&mut self) -> bool {
        if self.buffer.is_empty() {
            return true;
        }
        let data = Bytes::from(std::mem::take(&mut self.buffer));
        self.tx.blocking_send(Chunk::Data(data)).is_ok()
    }

    /// The end of the run, told from the async side once the thread has returned the sink.
    pub async fn finish(mut self, outcome: Finished) {
        if !self.buffer.is_empty() {
            let rest = Bytes::from(std::mem::take(&mut self.buffer));
            let _ = self.tx.send(Chunk::Data(rest)).await;
        }
        if let Err(failure) = outcome {
            let _ = self.tx.send(Chunk::Failed(failure)).await;
        }
    }
}

impl Sink for CsvSink {
    fn columns(&mut self, names: Vec<String>) {
        push_line(&mut self.buffer, names.iter().map(|n| Some(n.as_str())));
    }

    fn row(&mut self, cells: Vec<Cell>) -> bool {
        let texts: Vec<Option<String>> = cells.iter().map(csv_text).collect();
        push_line(&mut self.buffer, texts.iter().map(Option::as_deref));
        self.buffer.len() < CHUNK_BYTES || self.flush()
    }

    fn full_bytes(&self) -> bool {
        true
    }
}

/// Text a spreadsheet would run as a formula gets a leading `'` (as the data export does);
/// numbers stay numbers.
fn csv_text(cell: &Cell) -> Option<String> {
    let text = cell.text.as_ref()?;
    if !cell.numeric && text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Some(format!("'{text}"))
    } else {
        Some(text.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_quote_what_they_must_and_defuse_formulas() {
        let mut out = String::new();
        push_line(
            &mut out,
            [Some("a,b"), None, Some("x\"y"), Some("")].into_iter(),
        );
        assert_eq!(out, "\"a,b\",,\"x\"\"y\",\"\"\r\n");
        assert_eq!(
            csv_text(&Cell::text("=1+1".into())).as_deref(),
            Some("'=1+1")
        );
        assert_eq!(csv_text(&Cell::number("-3".into())).as_deref(), Some("-3"));
    }
}
