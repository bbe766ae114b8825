//! Frames on the wire: encoding a request, reading and writing length-prefixed frames, and the
//! reader task that hands each answer to the request waiting for it.

use super::*;

/// Length-prefixed request frame: size, header, body.
pub(super) fn encode<R: Encodable>(
    key: ApiKey,
    request: &R,
    version: i16,
    correlation: i32,
    client_id: &StrBytes,
) -> Result<Bytes, String> {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = version;
    header.correlation_id = correlation;
    header.client_id = Some(client_id.clone());
    let mut frame = BytesMut::with_capacity(64);
    frame.put_i32(0);
    header
        .encode(&mut frame, key.request_header_version(version))
        .and_then(|()| request.encode(&mut frame, version))
        .map_err(|e| format!("cannot encode {} v{version}: {e}", api_name(key)))?;
    let size = i32::try_from(frame.len() - 4).map_err(|_| "request too large".to_owned())?;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Ok(frame.freeze())
}

/// The correlation id at the start of an answer frame.
pub(super) fn correlation_of(frame: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(frame.get(..4)?.try_into().ok()?))
}

pub(super) enum FrameError {
    Io(std::io::Error),
    TooLarge(usize),
}

pub(super) async fn read_frame<R: AsyncRead + Unpin>(read: &mut R) -> Result<Bytes, FrameError> {
    let size = read.read_i32().await.map_err(FrameError::Io)?;
    let size = usize::try_from(size).map_err(|_| FrameError::TooLarge(0))?;
    if size > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(size));
    }
    let mut frame = vec![0; size];
    read.read_exact(&mut frame).await.map_err(FrameError::Io)?;
    Ok(Bytes::from(frame))
}

pub(super) async fn write_frames<W: AsyncWrite + Unpin>(
    mut write: W,
    mut outgoing: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
) {
    while let Some(request) = outgoing.recv().await {
        if let Err(e) = write.write_all(&request.frame).await {
            close(&shared, format!("write failed: {e}"));
            return;
        }
        if outgoing.is_empty()
            && let Err(e) = write.flush().await
        {
            close(&shared, format!("write failed: {e}"));
            return;
        }
    }
    let _ = write.shutdown().await;
}

pub(super) async fn read_frames<R: AsyncRead + Unpin>(mut read: R, shared: Arc<Shared>) {
    loop {
        let frame = match read_frame(&mut read).await {
            Ok(frame) => frame,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return close(&shared, "the broker closed the connection".to_owned());
            }
            Err(FrameError::Io(e)) => return close(&shared, format!("read failed: {e}")),
            Err(FrameError::TooLarge(n)) => {
                return close(&shared, format!("the broker sent a frame of {n} bytes"));
            }
        };
        let Some(correlation) = correlation_of(&frame) else {
            return close(
                &shared,
                "the broker sent a frame without a header".to_owned(),
            );
        };
        let waiter = shared
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&correlation);
        match waiter {
            Some(waiter) => {
                let _ = waiter.reply.send(Ok(frame));
            }
            None => {
                return close(
                    &shared,
                    format!("the broker answered request {correlation}, which was never sent"),
                );
            }
        }
    }
}

/// Marks the connection closed and fails every request still waiting.
pub(super) fn close(shared: &Shared, reason: String) {
    shared.closed.store(true, Ordering::SeqCst);
    *shared.reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
    let waiting: Vec<Waiter> = shared
        .waiting
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain()
        .map(|(_, w)| w)
        .collect();
    for waiter in waiting {
        let _ = waiter.reply.send(Err(WireError::Closed {
            addr: shared.addr.clone(),
            reason: reason.clone(),
        }));
    }
}
