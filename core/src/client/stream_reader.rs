// SPDX-License-Identifier: Apache-2.0
//! Reading the open sync stream: decoded frames in batches of what already arrived, the idle
//! timeout, and the end of the body.

use futures_util::StreamExt;

use super::clock::{self, Clock};
use super::lines::{Frame, LineDecoder};
use super::transport::HttpBody;
use crate::storage::sync::LINE_BATCH_MAX_BYTES;
use crate::{Error, Result};

/// The sync stream of the current iteration.
pub(crate) struct OpenStream {
    body: HttpBody,
    decoder: LineDecoder,
    /// Whether a line arrived yet (the first one triggers an upload).
    pub(crate) saw_line: bool,
    /// End of body (`Ok`) or failure seen while reading ahead, reported by the next read.
    deferred: Option<Result<()>>,
}

impl OpenStream {
    pub(crate) fn new(body: HttpBody, bson: bool) -> Self {
        Self {
            body,
            decoder: LineDecoder::new(bson),
            saw_line: false,
            deferred: None,
        }
    }
}

fn frame_len(frame: &Frame) -> usize {
    match frame {
        Frame::Text(line) => line.len(),
        Frame::Binary(bytes) => bytes.len(),
    }
}

/// Adds the frames of body chunks that are already received (without waiting) until the
/// batch reaches [`LINE_BATCH_MAX_BYTES`]. The end of the body or a broken chunk is left for
/// the next regular read, which reports it after this batch was handled.
pub(crate) fn read_ahead(open: &mut OpenStream, frames: &mut Vec<Frame>) {
    use futures_util::FutureExt as _;
    let mut bytes: usize = frames.iter().map(frame_len).sum();
    while bytes < LINE_BATCH_MAX_BYTES {
        let Some(ready) = open.body.next().now_or_never() else {
            return;
        };
        match ready {
            Some(Ok(chunk)) => match open.decoder.push(&chunk) {
                Ok(more) => {
                    bytes += more.iter().map(frame_len).sum::<usize>();
                    frames.extend(more);
                }
                Err(error) => {
                    open.deferred = Some(Err(error));
                    return;
                }
            },
            Some(Err(_)) => {
                open.deferred = Some(Err(Error::network("sync stream broke")));
                return;
            }
            None => {
                open.deferred = Some(Ok(()));
                return;
            }
        }
    }
}

/// The next decoded frames; `None` at the end of the body; pends forever without a stream.
pub(crate) async fn next_chunk(
    stream: &mut Option<OpenStream>,
    clock: &dyn Clock,
    idle_timeout: std::time::Duration,
) -> Option<Result<Vec<Frame>>> {
    let Some(open) = stream.as_mut() else {
        return std::future::pending().await;
    };
    let next = match open.deferred.take() {
        Some(Err(error)) => return Some(Err(error)),
        Some(Ok(())) => None,
        None => match clock::timeout(clock, idle_timeout, open.body.next()).await {
            Some(next) => next,
            None => {
                return Some(Err(Error::protocol(
                    "sync stream idle for too long (no data or keepalive)",
                )));
            }
        },
    };
    match next {
        None => {
            if open.decoder.has_partial() {
                Some(Err(Error::protocol(
                    "sync stream ended in the middle of a line",
                )))
            } else {
                None
            }
        }
        Some(Err(_)) => Some(Err(Error::network("sync stream broke"))),
        Some(Ok(bytes)) => Some(open.decoder.push(&bytes)),
    }
}
